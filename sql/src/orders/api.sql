-- sql/src/orders/api.sql: an order's contact (masked unless allowed), and the
-- payment and platform callbacks, for HTTP clients.

CREATE FUNCTION commerce_api.order_contact(order_id bigint)
RETURNS TABLE (receiver_name text, receiver_phone text, receiver_region text, receiver_city text,
               receiver_address text, masked boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.order_contact', '{customer,operator,service}');
        v_customer text; v_channel text; v_found boolean;
BEGIN
    SELECT true, cu.code, ch.code INTO v_found, v_customer, v_channel
      FROM commerce.orders o
      JOIN commerce.channel ch ON ch.tenant_id = o.tenant_id AND ch.channel_id = o.channel_id
      LEFT JOIN commerce.customer cu ON cu.tenant_id = o.tenant_id AND cu.customer_id = o.customer_id
     WHERE o.tenant_id = a.tenant_id AND o.order_id = order_contact.order_id;
    IF v_found AND a.kind = 'customer' AND v_customer IS DISTINCT FROM a.subject THEN
        PERFORM commerce._not_found('order', order_contact.order_id::text, a.tenant_id);   -- not its order
    END IF;
    IF v_found THEN
        PERFORM commerce._actor_scope(a, NULL, v_channel);
    END IF;
    RETURN QUERY SELECT * FROM commerce.order_contact(a.tenant_id, order_contact.order_id);
END $$;
REVOKE ALL ON FUNCTION commerce_api.order_contact(bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.order_contact(bigint) IS
  'The receiver of an order, masked (138****1234) unless the caller may see personal data. A customer reads its own orders only (another''s is PT404); an operator those of its channels (42501 otherwise); a service any. An unmasked read is audited (POST /rpc/order_contact).';

CREATE FUNCTION commerce_api.record_payment(order_id bigint, payment_id text, amount_fen bigint)
RETURNS commerce.order_result LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.record_payment', '{service}') a,
           LATERAL commerce.pay_order(a.tenant_id, order_id, payment_id, amount_fen) r;
$$;
REVOKE ALL ON FUNCTION commerce_api.record_payment(bigint, text, bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.record_payment(bigint, text, bigint) IS
  'The payment provider''s callback (service only): an order was paid with payment_id for amount_fen. Marks it paid and sells its reservation; a payment that does not match (amount, a cancelled order) becomes a payment exception for refund. Idempotent by payment_id.';

CREATE FUNCTION commerce_api.ingest_platform_order(channel text, payload jsonb)
RETURNS commerce.order_result LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.ingest_platform_order', '{service}') a,
           LATERAL commerce.ingest_platform_order(a.tenant_id, channel, payload) r;
$$;
REVOKE ALL ON FUNCTION commerce_api.ingest_platform_order(text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.ingest_platform_order(text, jsonb) IS
  'The platform adapter''s call (service only): an order of a platform (Taobao, Douyin, ...) as the platform sent it; created or updated once per platform order and modification time.';

CREATE FUNCTION commerce_api.export_orders(from_date date, to_date date, key text)
RETURNS TABLE (order_id bigint, channel text, external_order_id text, status text, payable_fen bigint,
               created_at timestamptz, receiver_region text, receiver_city text, receiver_name bytea,
               receiver_phone bytea, receiver_address bytea)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.export_orders', '{operator,finance,service}');
BEGIN
    RETURN QUERY SELECT * FROM commerce.export_orders(a.tenant_id, from_date, to_date, key, a.channels);
END $$;
REVOKE ALL ON FUNCTION commerce_api.export_orders(date, date, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.export_orders(date, date, text) IS
  'POST /rpc/export_orders: the orders of a period with the receiver''s name, phone and address encrypted (AES-256, pgcrypto) under the key the caller supplies; an operator gets the orders of its channels only. Open to operators, finance and services; audited.';
