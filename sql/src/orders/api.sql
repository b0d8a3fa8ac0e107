-- sql/src/orders/api.sql: orders for HTTP clients: the storefront's orders,
-- an order's contact (masked unless allowed), exports, and the payment and
-- platform callbacks.

-- An order the actor may see: a customer its own (another's is PT404), staff of their channels (42501).
CREATE FUNCTION commerce._api_order(a commerce.actor, p_order bigint) RETURNS commerce.orders_row
LANGUAGE plpgsql STABLE AS $$
DECLARE o commerce.orders_row; r record;
BEGIN
    PERFORM commerce._require(p_order, 'order_id');
    SELECT ROW(x.*)::commerce.orders_row AS ord, cu.code AS customer, ch.code AS channel INTO r
      FROM commerce.orders x
      JOIN commerce.channel ch ON ch.tenant_id = x.tenant_id AND ch.channel_id = x.channel_id
      LEFT JOIN commerce.customer cu ON cu.tenant_id = x.tenant_id AND cu.customer_id = x.customer_id
     WHERE x.tenant_id = a.tenant_id AND x.order_id = p_order;
    IF NOT FOUND OR (a.kind = 'customer' AND r.customer IS DISTINCT FROM a.subject) THEN
        PERFORM commerce._not_found('order', p_order::text, a.tenant_id);   -- another's order does not exist for it
    END IF;
    PERFORM commerce._actor_scope(a, NULL, r.channel);
    o := r.ord;
    RETURN o;
END $$;

-- The shape of an order's receiver (an API row type: selects nothing itself).
CREATE VIEW commerce_api.order_receiver AS
SELECT NULL::text AS receiver_name, NULL::text AS receiver_phone, NULL::text AS receiver_region,
       NULL::text AS receiver_city, NULL::text AS receiver_address, NULL::boolean AS masked
 WHERE false;
COMMENT ON VIEW commerce_api.order_receiver IS
  E'@omit all\nThe receiver of an order: name, phone, region, city and address, masked (138****1234) unless the caller may see personal data (masked says which).';

CREATE FUNCTION commerce_api.order_contact(order_id bigint)
RETURNS SETOF commerce_api.order_receiver
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.order_contact', '{customer,operator,service}');
        o commerce.orders_row := commerce._api_order(a, order_contact.order_id);   -- its own, its channels (PT404, 42501)
BEGIN
    RETURN QUERY SELECT * FROM commerce.order_contact(a.tenant_id, o.order_id);
END $$;
REVOKE ALL ON FUNCTION commerce_api.order_contact(bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.order_contact(bigint) IS
  'The receiver of an order, masked (138****1234) unless the caller may see personal data. A customer reads its own orders only (another''s is PT404); an operator those of its channels (42501 otherwise); a service any. An unmasked read is audited (POST /rpc/order_contact).';

-- The shape of an order call's outcome.
CREATE VIEW commerce_api.order_outcome AS
SELECT NULL::bigint AS order_id, NULL::text AS status, NULL::bigint AS payable_fen, NULL::timestamptz AS pay_deadline,
       NULL::text AS outcome
 WHERE false;
COMMENT ON VIEW commerce_api.order_outcome IS
  E'@omit all\nThe outcome of a call that places, pays or ingests an order: the order, its status (pending_payment, paid, ...), the payable amount in fen, the pay deadline of an unpaid order, and what the call did (placed, existing (a repeat), paid, already_paid, exception, created, updated, ...). The whole order is read with orders.';

CREATE FUNCTION commerce_api.record_payment(order_id bigint, payment_id text, amount_fen bigint)
RETURNS SETOF commerce_api.order_outcome LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.record_payment', '{service}') a,
           LATERAL commerce.pay_order(a.tenant_id, order_id, payment_id, amount_fen) r;
$$;
REVOKE ALL ON FUNCTION commerce_api.record_payment(bigint, text, bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.record_payment(bigint, text, bigint) IS
  'The payment provider''s callback (service only): an order was paid with payment_id for amount_fen. Marks it paid and sells its reservation; a payment that does not match (amount, a cancelled order) becomes a payment exception for refund. Idempotent by payment_id.';

CREATE FUNCTION commerce_api.ingest_platform_order(channel text, payload jsonb)
RETURNS SETOF commerce_api.order_outcome LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.ingest_platform_order', '{service}') a,
           LATERAL commerce.ingest_platform_order(a.tenant_id, channel, payload) r;
$$;
REVOKE ALL ON FUNCTION commerce_api.ingest_platform_order(text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.ingest_platform_order(text, jsonb) IS
  'The platform adapter''s call (service only): an order of a platform (Taobao, Douyin, ...) as the platform sent it; created or updated once per platform order and modification time.';

-- The shape of an exported order.
CREATE VIEW commerce_api.order_export AS
SELECT NULL::bigint AS order_id, NULL::text AS channel, NULL::text AS external_order_id, NULL::text AS status,
       NULL::bigint AS payable_fen, NULL::timestamptz AS created_at, NULL::text AS receiver_region,
       NULL::text AS receiver_city, NULL::bytea AS receiver_name, NULL::bytea AS receiver_phone,
       NULL::bytea AS receiver_address
 WHERE false;
COMMENT ON VIEW commerce_api.order_export IS
  E'@omit all\nAn order as exported: id, channel, the platform''s order number, status, payable fen, when it was placed, the receiver''s region and city in clear and name, phone and address encrypted (pgcrypto pgp_sym_encrypt, AES-256) under the caller''s key.';

CREATE FUNCTION commerce_api.export_orders(from_date date, to_date date, key text)
RETURNS SETOF commerce_api.order_export
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.export_orders', '{operator,finance,service}');
BEGIN
    RETURN QUERY SELECT * FROM commerce.export_orders(a.tenant_id, from_date, to_date, key, a.channels);
END $$;
REVOKE ALL ON FUNCTION commerce_api.export_orders(date, date, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.export_orders(date, date, text) IS
  'POST /rpc/export_orders: the orders of a period with the receiver''s name, phone and address encrypted (AES-256, pgcrypto) under the key the caller supplies; an operator gets the orders of its channels only. Open to operators, finance and services; audited.';

-- The shape of an order as the API lists it (an API row type: selects nothing itself).
CREATE VIEW commerce_api.order_summary AS
SELECT NULL::bigint AS order_id, NULL::text AS channel, NULL::text AS external_order_id, NULL::text AS customer,
       NULL::commerce.order_status AS status, NULL::bigint AS goods_fen, NULL::bigint AS discount_fen,
       NULL::bigint AS shipping_fen, NULL::bigint AS payable_fen, NULL::text AS payable_yuan, NULL::bigint AS paid_fen,
       NULL::bigint AS refunded_fen, NULL::timestamptz AS pay_deadline, NULL::text AS activity, NULL::bigint AS group_id,
       NULL::jsonb AS lines, NULL::timestamptz AS created_at, NULL::timestamptz AS paid_at,
       NULL::timestamptz AS shipped_at, NULL::timestamptz AS completed_at, NULL::timestamptz AS cancelled_at,
       NULL::timestamptz AS ship_by
 WHERE false;
COMMENT ON VIEW commerce_api.order_summary IS
  E'@omit all\nAn order as the API shows it: id, channel, the platform''s order number, the customer''s code, status (order_status: pending_payment, paid, shipped, completed, cancelled, after_sale, refunded), amounts in fen (payable_yuan the exact yuan string), the pay deadline of an unpaid order, the play activity and group it came from, its lines ([{sku, name, qty, unit_price_fen, price_source, amount_fen, coupon_fen}]: coupon_fen is what its coupons took off the line) and when it was placed, paid, shipped, completed or cancelled; ship_by, for a paid member''s priority shipping, when it must be shipped. The receiver is read with order_contact.';

-- The orders of a tenant as order_summary rows (the API's one projection of an order).
CREATE FUNCTION commerce._order_summary(p_tenant bigint, p_orders bigint[]) RETURNS SETOF commerce_api.order_summary
LANGUAGE sql STABLE AS $$
    SELECT o.order_id, ch.code, o.external_order_id, cu.code, o.status, o.goods_fen, o.discount_fen, o.shipping_fen,
           o.payable_fen, commerce.yuan(o.payable_fen), o.paid_fen, o.refunded_fen,
           CASE WHEN o.status = 'pending_payment' THEN o.pay_deadline END, o.source_activity, o.source_instance_id,
           (SELECT jsonb_agg(jsonb_build_object('sku', s.code, 'name', s.name, 'qty', l.qty,
                                                'unit_price_fen', l.unit_price_fen, 'price_source', l.price_source,
                                                'amount_fen', l.amount_fen,
                                                'coupon_fen', (SELECT coalesce(sum(d.amount_fen), 0) FROM commerce.order_discount d
                                                                WHERE d.tenant_id = l.tenant_id AND d.order_id = l.order_id
                                                                  AND d.line_no = l.line_no))
                             ORDER BY l.line_no)
              FROM commerce.order_line l JOIN commerce.sku s ON s.tenant_id = l.tenant_id AND s.sku_id = l.sku_id
             WHERE l.tenant_id = o.tenant_id AND l.order_id = o.order_id),
           o.created_at, o.paid_at, o.shipped_at, o.completed_at, o.cancelled_at, o.ship_by
      FROM commerce.orders o
      JOIN commerce.channel ch ON ch.tenant_id = o.tenant_id AND ch.channel_id = o.channel_id
      LEFT JOIN commerce.customer cu ON cu.tenant_id = o.tenant_id AND cu.customer_id = o.customer_id
     WHERE o.tenant_id = p_tenant AND o.order_id = ANY (p_orders)
     ORDER BY o.order_id DESC;
$$;

CREATE FUNCTION commerce_api.place_order(request_id text, channel text, lines jsonb, receiver jsonb DEFAULT NULL,
                                         customer text DEFAULT NULL, coupons bigint[] DEFAULT NULL)
RETURNS SETOF commerce_api.order_summary LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.place_order', '{customer,service}');
        r commerce.order_result;
BEGIN
    r := commerce.place_order(a.tenant_id, place_order.request_id, place_order.channel,
                              jsonb_strip_nulls(jsonb_build_object('lines', place_order.lines, 'receiver', place_order.receiver,
                                                                   'coupons', to_jsonb(place_order.coupons))),
                              commerce._actor_subject(a, place_order.customer, 'customer'));
    RETURN QUERY SELECT * FROM commerce._order_summary(a.tenant_id, ARRAY[r.order_id]);
END $$;
REVOKE ALL ON FUNCTION commerce_api.place_order(text, text, jsonb, jsonb, text, bigint[]) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.place_order(text, text, jsonb, jsonb, text, bigint[]) IS
  'Place an order on a self-operated channel (wechat_mp, alipay_mp, h5): lines [{"sku":"HOODIE-L","qty":1}], receiver {"name","phone","region","city","address"}. Prices are resolved for the customer (its member tier, flash prices now); the stock is held until the pay deadline (15 minutes) and the order awaits payment (pay with pay_intent; the provider''s callback is record_payment). A customer orders as itself (customer left out); a service names the customer. coupons: the ids of the customer''s coupons to use (my_coupons), each split over the lines it applies to, never taking a line below its floor price, and held by the order until it is paid (used) or cancelled (released); PT404 for a coupon that is not the customer''s, PT409 for one that cannot be used (locked by another order, expired, another channel, below its threshold, not combinable), and then nothing is held. Shipping is charged by the products'' freight templates (freight_quote tells it beforehand; PT409 when a template does not deliver to the receiver''s region); no other discount or shipping fee can be set here. Idempotent by request_id. Returns the order (order_summary).';

-- The shape of a payment intent.
CREATE VIEW commerce_api.payment_intent AS
SELECT NULL::bigint AS order_id, NULL::text AS channel, NULL::bigint AS amount_fen, NULL::text AS amount_yuan,
       NULL::timestamptz AS pay_deadline, NULL::bigint AS message_id, NULL::text AS outcome
 WHERE false;
COMMENT ON VIEW commerce_api.payment_intent IS
  E'@omit all\nA request to the payment provider to collect an order''s payable amount (amount_fen, amount_yuan the exact string) before its pay deadline, queued in the outbox as payment.intent (message_id; the provider adapter creates the provider''s prepay order and answers the client). outcome: queued, or repeated when it was already asked for.';

CREATE FUNCTION commerce_api.pay_intent(order_id bigint)
RETURNS SETOF commerce_api.payment_intent LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.pay_intent', '{customer,service}');
        o commerce.orders_row := commerce._api_order(a, pay_intent.order_id); v_channel text; v_msg bigint; v_outcome text;
BEGIN
    SELECT ch.code INTO v_channel FROM commerce.channel ch WHERE ch.tenant_id = o.tenant_id AND ch.channel_id = o.channel_id;
    IF o.status <> 'pending_payment' OR o.pay_deadline <= commerce.now() THEN
        RAISE EXCEPTION USING ERRCODE = CASE WHEN o.status = 'pending_payment' THEN 'PT410' ELSE 'PT409' END,
            MESSAGE = format('order %s cannot be paid: it is %s', o.order_id,
                             CASE WHEN o.status = 'pending_payment' THEN 'past its pay deadline' ELSE o.status::text END),
            DETAIL  = format('Pay deadline %s.', coalesce(o.pay_deadline::text, 'none')),
            HINT    = 'Only an order awaiting payment before its deadline is paid; place a new order.';
    END IF;
    SELECT m.message_id INTO v_msg FROM commerce.outbox m
     WHERE m.tenant_id = o.tenant_id AND m.topic = 'payment.intent' AND m.dedupe_key = 'pay-intent:' || o.order_id;
    v_outcome := CASE WHEN FOUND THEN 'repeated' ELSE 'queued' END;
    IF v_msg IS NULL THEN
        v_msg := commerce.enqueue(o.tenant_id, 'payment.intent',
            jsonb_build_object('order_id', o.order_id, 'channel', v_channel, 'amount_fen', o.payable_fen,
                               'pay_deadline', o.pay_deadline,
                               'customer', (SELECT cu.code FROM commerce.customer cu
                                             WHERE cu.tenant_id = o.tenant_id AND cu.customer_id = o.customer_id)),
            'pay-intent:' || o.order_id);
    END IF;
    RETURN QUERY SELECT o.order_id, v_channel, o.payable_fen, commerce.yuan(o.payable_fen), o.pay_deadline, v_msg, v_outcome;
END $$;
REVOKE ALL ON FUNCTION commerce_api.pay_intent(bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.pay_intent(bigint) IS
  'Ask the payment provider to collect an unpaid order (payment_intent): queued once per order in the outbox (payment.intent); asking again returns the same intent. PT409 when the order is not awaiting payment, PT410 past its pay deadline. A customer for its own orders (another''s is PT404); a service for any.';

CREATE FUNCTION commerce_api.cancel_order(order_id bigint, reason text DEFAULT NULL)
RETURNS SETOF commerce_api.order_summary LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.cancel_order', '{customer,operator,service}');
        o commerce.orders_row := commerce._api_order(a, cancel_order.order_id);
BEGIN
    PERFORM commerce.cancel_order(a.tenant_id, o.order_id,
                                  left(coalesce(cancel_order.reason, 'cancelled by ' || a.kind), 200));
    RETURN QUERY SELECT * FROM commerce._order_summary(a.tenant_id, ARRAY[o.order_id]);
END $$;
REVOKE ALL ON FUNCTION commerce_api.cancel_order(bigint, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.cancel_order(bigint, text) IS
  'Cancel an unpaid order (its stock goes back; a group place it held is given back): a customer its own (another''s is PT404), an operator those of its channels, a service any. A paid order is PT409 (open an after-sale request instead); cancelling again is a no-op. Returns the order (order_summary).';

CREATE FUNCTION commerce_api.orders(status commerce.order_status DEFAULT NULL, customer text DEFAULT NULL,
                                    before_id bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.order_summary LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.orders', '{customer,operator,finance,service}');
        v_customer text := commerce._actor_subject(a, orders.customer, 'customer');
        v_ids bigint[];
BEGIN
    PERFORM commerce._api_page(orders.page_size);
    IF a.kind IN ('operator', 'finance') THEN
        v_customer := orders.customer;          -- staff may look up one customer or list all
    END IF;
    SELECT array_agg(x.order_id) INTO v_ids FROM (
        SELECT o.order_id FROM commerce.orders o
          LEFT JOIN commerce.customer cu ON cu.tenant_id = o.tenant_id AND cu.customer_id = o.customer_id
          JOIN commerce.channel ch ON ch.tenant_id = o.tenant_id AND ch.channel_id = o.channel_id
         WHERE o.tenant_id = a.tenant_id
           AND (v_customer IS NULL OR cu.code = v_customer)
           AND (orders.status IS NULL OR o.status = orders.status)
           AND (orders.before_id IS NULL OR o.order_id < orders.before_id)
           AND (a.channels IS NULL OR ch.code = ANY (a.channels))
         ORDER BY o.order_id DESC LIMIT orders.page_size) x;
    RETURN QUERY SELECT * FROM commerce._order_summary(a.tenant_id, coalesce(v_ids, '{}'));
END $$;
REVOKE ALL ON FUNCTION commerce_api.orders(commerce.order_status, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.orders(commerce.order_status, text, bigint, integer) IS
  'Orders newest first (order_summary), optionally of one status: a customer its own (customer left out or its own); operators and finance any customer''s (customer filters; operators limited to their channels); services any. Paged by cursor: before_id is the last order_id of the previous page, page_size 1 to 100 (default 20).';

-- The shape of one change of an order's status.
CREATE VIEW commerce_api.order_status_change AS
SELECT NULL::bigint AS order_id, NULL::commerce.order_status AS from_status, NULL::commerce.order_status AS to_status,
       NULL::timestamptz AS changed_at, NULL::text AS reason
 WHERE false;
COMMENT ON VIEW commerce_api.order_status_change IS
  E'@omit all\nOne status an order took: from and to (order_status), when, and why (placed, paid, unpaid at the deadline, an after-sale decision, ...).';

CREATE FUNCTION commerce_api.order_history(order_id bigint)
RETURNS SETOF commerce_api.order_status_change LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.order_history', '{customer,operator,finance,service}');
        o commerce.orders_row := commerce._api_order(a, order_history.order_id);
BEGIN
    RETURN QUERY SELECT h.order_id, h.from_status, h.to_status, h.changed_at, h.reason
                   FROM commerce.order_status_history h
                  WHERE h.tenant_id = o.tenant_id AND h.order_id = o.order_id
                  ORDER BY h.history_id;
END $$;
REVOKE ALL ON FUNCTION commerce_api.order_history(bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.order_history(bigint) IS
  'Every status an order took, oldest first (order_status_change): a customer for its own orders (another''s is PT404), staff of their channels, services any.';

-- The shape of a parcel.
CREATE VIEW commerce_api.order_shipment AS
SELECT NULL::bigint AS order_id, NULL::bigint AS shipment_id, NULL::text AS carrier, NULL::text AS tracking_no,
       NULL::timestamptz AS shipped_at
 WHERE false;
COMMENT ON VIEW commerce_api.order_shipment IS
  E'@omit all\nA parcel of an order: carrier, tracking number and when it was shipped.';

CREATE FUNCTION commerce_api.order_shipments(order_id bigint)
RETURNS SETOF commerce_api.order_shipment LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.order_shipments', '{customer,operator,finance,service}');
        o commerce.orders_row := commerce._api_order(a, order_shipments.order_id);
BEGIN
    RETURN QUERY SELECT s.order_id, s.shipment_id, s.carrier, s.tracking_no, s.shipped_at
                   FROM commerce.shipment s
                  WHERE s.tenant_id = o.tenant_id AND s.order_id = o.order_id
                  ORDER BY s.shipment_id;
END $$;
REVOKE ALL ON FUNCTION commerce_api.order_shipments(bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.order_shipments(bigint) IS
  'The parcels of an order (order_shipment): a customer for its own orders (another''s is PT404), staff of their channels, services any.';

-- The shape of an after-sale request.
CREATE VIEW commerce_api.after_sale_request AS
SELECT NULL::bigint AS after_sale_id, NULL::bigint AS order_id, NULL::commerce.after_sale_kind AS kind,
       NULL::text AS status, NULL::bigint AS refund_fen, NULL::text AS refund_yuan, NULL::text AS reason,
       NULL::text AS decision_note, NULL::timestamptz AS created_at, NULL::timestamptz AS decided_at,
       NULL::timestamptz AS completed_at
 WHERE false;
COMMENT ON VIEW commerce_api.after_sale_request IS
  E'@omit all\nAn after-sale request: kind (refund_only, return_refund, exchange), status (requested, approved, rejected, goods_returned, refunded, exchanged), the refund in fen (refund_yuan the exact string), the customer''s reason, the decision note and when it was made, decided and completed.';

CREATE FUNCTION commerce_api.request_after_sale(request_id text, order_id bigint, kind commerce.after_sale_kind,
                                                refund_fen bigint DEFAULT 0, reason text DEFAULT NULL)
RETURNS SETOF commerce_api.after_sale_request LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.request_after_sale', '{customer,service}');
        o commerce.orders_row := commerce._api_order(a, request_after_sale.order_id);
        r commerce.after_sale_row;
BEGIN
    PERFORM commerce._require(request_after_sale.kind, 'kind');
    r := commerce.request_after_sale(a.tenant_id, request_after_sale.request_id, o.order_id, request_after_sale.kind::text,
                                     request_after_sale.refund_fen, left(request_after_sale.reason, 500));
    RETURN QUERY SELECT r.after_sale_id, r.order_id, r.kind, r.status, r.refund_fen, commerce.yuan(r.refund_fen), r.reason,
                        r.decision_note, r.created_at, r.decided_at, r.completed_at;
END $$;
REVOKE ALL ON FUNCTION commerce_api.request_after_sale(text, bigint, commerce.after_sale_kind, bigint, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.request_after_sale(text, bigint, commerce.after_sale_kind, bigint, text) IS
  'Open an after-sale request on a paid, shipped or completed order: refund_only, return_refund or exchange, with the refund asked in fen (at most what was paid) and a reason (up to 500 characters). A customer for its own orders (another''s is PT404); a service for any. One open request per order; idempotent by request_id. Returns the request (after_sale_request).';

-- Hasura's variants of the reads above (commerce_hasura: the session passed as hasura_session).

CREATE FUNCTION commerce_hasura.orders(hasura_session json, status commerce.order_status DEFAULT NULL, customer text DEFAULT NULL, before_id bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.order_summary LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.orders(orders.status, orders.customer, orders.before_id, orders.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.orders(json, commerce.order_status, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.orders(json, commerce.order_status, text, bigint, integer) IS
  'Hasura: commerce_api.orders for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

CREATE FUNCTION commerce_hasura.order_history(hasura_session json, order_id bigint)
RETURNS SETOF commerce_api.order_status_change LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.order_history(order_history.order_id);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.order_history(json, bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.order_history(json, bigint) IS
  'Hasura: commerce_api.order_history for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

CREATE FUNCTION commerce_hasura.order_shipments(hasura_session json, order_id bigint)
RETURNS SETOF commerce_api.order_shipment LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.order_shipments(order_shipments.order_id);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.order_shipments(json, bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.order_shipments(json, bigint) IS
  'Hasura: commerce_api.order_shipments for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

-- The hourly missing-order check (H3.2.1): the adapter answers, HQ reads.
CREATE FUNCTION commerce_api.record_platform_listing(check_id bigint, ids text[])
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.record_platform_listing', '{service}');
BEGIN
    RETURN commerce.record_platform_listing(a.tenant_id, record_platform_listing.check_id, record_platform_listing.ids);
END $$;
REVOKE ALL ON FUNCTION commerce_api.record_platform_listing(bigint, text[]) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.record_platform_listing(bigint, text[]) IS
  'The platform adapter (service) answers an hourly missing-order check (platform.list_orders) with the ids of the platform''s orders for the hour: the ids commerce lacks go back to it as platform.fetch_orders and to operators as alert.missing_orders. Once per check (the same list again: repeat; another: PT409).';

CREATE FUNCTION commerce_api.platform_checks(from_at timestamptz, to_at timestamptz, channel text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.platform_checks', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.platform_checks(a.tenant_id, platform_checks.from_at, platform_checks.to_at, platform_checks.channel);
END $$;
REVOKE ALL ON FUNCTION commerce_api.platform_checks(timestamptz, timestamptz, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.platform_checks(timestamptz, timestamptz, text) IS
  'HQ operators read the hourly missing-order checks of a span (up to 31 days), of one platform channel or all: listed, missing, still missing, late.';

-- Custom e-waybill templates (H3.3.1): HQ operators.
CREATE FUNCTION commerce_api.set_waybill_template(channel text, carrier text, logo_url text, message text DEFAULT NULL,
                                                  sender_name text DEFAULT NULL, sender_phone text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.set_waybill_template', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.set_waybill_template(a.tenant_id, set_waybill_template.channel, set_waybill_template.carrier,
                                         set_waybill_template.logo_url, set_waybill_template.message,
                                         set_waybill_template.sender_name, set_waybill_template.sender_phone, commerce._api_by(a));
END $$;
REVOKE ALL ON FUNCTION commerce_api.set_waybill_template(text, text, text, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.set_waybill_template(text, text, text, text, text, text) IS
  'HQ operators save what the e-waybills of a channel and a carrier print (NULL: any): a logo URL (https), a line of copy (message), the sender''s name and phone; the most specific template goes into each new shipment''s waybill.print job.';

CREATE FUNCTION commerce_api.remove_waybill_template(channel text, carrier text)
RETURNS boolean LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.remove_waybill_template', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.remove_waybill_template(a.tenant_id, remove_waybill_template.channel, remove_waybill_template.carrier);
END $$;
REVOKE ALL ON FUNCTION commerce_api.remove_waybill_template(text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.remove_waybill_template(text, text) IS
  'HQ operators remove the e-waybill template of a channel and a carrier (NULL: any); false when there was none.';

CREATE FUNCTION commerce_api.waybill_templates()
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.waybill_templates', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.waybill_templates(a.tenant_id);
END $$;
REVOKE ALL ON FUNCTION commerce_api.waybill_templates() FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.waybill_templates() IS
  'HQ operators list the e-waybill templates, the most specific first.';

-- Freight templates (H3.1.1): HQ operators keep them; shoppers get quotes.
CREATE FUNCTION commerce_api.set_freight_template(code text, name text, basis text, rates jsonb, free_over_fen bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.set_freight_template', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.set_freight_template(a.tenant_id, set_freight_template.code, set_freight_template.name,
                                         set_freight_template.basis, set_freight_template.rates,
                                         set_freight_template.free_over_fen, commerce._api_by(a));
END $$;
REVOKE ALL ON FUNCTION commerce_api.set_freight_template(text, text, text, jsonb, bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.set_freight_template(text, text, text, jsonb, bigint) IS
  'HQ operators save a freight template by code: basis (weight in grams, or piece), rates [{"regions":["浙江省"],"first":1000,"first_fen":600,"step":1000,"step_fen":200}, {"regions":["西藏自治区"],"ships":false}, {"first":1000,"first_fen":1000,"step":1000,"step_fen":500}] with exactly one rate for everywhere else, and the goods amount from which its goods ship free. Orders placed afterwards are charged by it; placed orders keep their shipping. Returns the template id.';

CREATE FUNCTION commerce_api.set_product_freight(product text, template text)
RETURNS boolean LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.set_product_freight', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.set_product_freight(a.tenant_id, set_product_freight.product, set_product_freight.template);
END $$;
REVOKE ALL ON FUNCTION commerce_api.set_product_freight(text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.set_product_freight(text, text) IS
  'HQ operators make a product use a freight template, or none (NULL; false when it had none).';

CREATE FUNCTION commerce_api.freight_templates()
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.freight_templates', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.freight_templates(a.tenant_id);
END $$;
REVOKE ALL ON FUNCTION commerce_api.freight_templates() FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.freight_templates() IS
  'HQ operators list the freight templates with their rates and the products that use each.';

CREATE FUNCTION commerce_api.freight_quote(channel text, lines jsonb, region text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.freight_quote', '{anonymous,customer}');
BEGIN
    RETURN commerce.freight_quote(a.tenant_id, freight_quote.channel, freight_quote.lines, freight_quote.region,
                                  CASE WHEN a.kind = 'customer' THEN a.subject END);
END $$;
REVOKE ALL ON FUNCTION commerce_api.freight_quote(text, jsonb, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.freight_quote(text, jsonb, text) IS
  'The shipping an order of these lines [{"sku":"HOODIE-L","qty":1}] on a channel to a receiver region would be charged (a customer''s own prices; a visitor''s list prices): goods_fen, shipping_fen, each freight template''s units, amount and fee, whether it ships free, and not_delivered (templates that do not deliver there: such an order is refused). Changes nothing.';

-- Choosing carriers by cost, speed and history (H3.3.2): HQ keeps rate cards and weights,
-- staff read the options of a parcel, carriers' adapters report deliveries.
CREATE FUNCTION commerce_api.set_carrier_rates(carrier text, rates jsonb)
RETURNS integer LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.set_carrier_rates', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.set_carrier_rates(a.tenant_id, set_carrier_rates.carrier, set_carrier_rates.rates, commerce._api_by(a));
END $$;
REVOKE ALL ON FUNCTION commerce_api.set_carrier_rates(text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.set_carrier_rates(text, jsonb) IS
  'HQ operators save a carrier''s rate card: [{"regions":["浙江省"] (left out: anywhere), "max_weight_g":20000, "first":1000, "first_fen":500, "step":1000, "step_fen":100, "days":2}], replacing the card it had; [] removes it. Returns the number of rates.';

CREATE FUNCTION commerce_api.set_carrier_choice(cost_bp integer, speed_bp integer, quality_bp integer,
                                                window_days integer DEFAULT 90, min_samples integer DEFAULT 20)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.set_carrier_choice', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.set_carrier_choice(a.tenant_id, set_carrier_choice.cost_bp, set_carrier_choice.speed_bp,
                                       set_carrier_choice.quality_bp, set_carrier_choice.window_days,
                                       set_carrier_choice.min_samples, commerce._api_by(a));
END $$;
REVOKE ALL ON FUNCTION commerce_api.set_carrier_choice(integer, integer, integer, integer, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.set_carrier_choice(integer, integer, integer, integer, integer) IS
  'HQ operators weigh carriers by cost, speed and quality (basis points adding up to 10000; history over window_days, trusted from min_samples parcels); all three NULL turns the choice off and the routing rules alone choose.';

CREATE FUNCTION commerce_api.carrier_options(region text, weight_g bigint)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.carrier_options', '{store,operator}');
BEGIN
    RETURN commerce.carrier_options(a.tenant_id, carrier_options.region, carrier_options.weight_g);
END $$;
REVOKE ALL ON FUNCTION commerce_api.carrier_options(text, bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.carrier_options(text, bigint) IS
  'Staff see the carriers that can take a parcel to a region, best first, with fee, promised and expected days, on-time share, score, the routing rules'' carrier and the choice ship_order makes.';

CREATE FUNCTION commerce_api.record_delivery(shipment_id bigint, outcome text, at timestamptz)
RETURNS text LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.record_delivery', '{service}');
BEGIN
    RETURN commerce.record_delivery(a.tenant_id, record_delivery.shipment_id, record_delivery.outcome, record_delivery.at);
END $$;
REVOKE ALL ON FUNCTION commerce_api.record_delivery(bigint, text, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.record_delivery(bigint, text, timestamptz) IS
  'A carrier''s adapter (service) reports how a parcel ended: delivered, lost or returned, and when; once per shipment (the same report again: repeated; another: PT409).';
