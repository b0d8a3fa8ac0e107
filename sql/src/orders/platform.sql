-- sql/src/orders/platform.sql: platform orders (Taobao, Douyin, Xiaohongshu,
-- PDD): profiles, status maps, ingestion, gaps.

-- Map a platform status word to the unified status; PT404 naming both if unknown.
CREATE FUNCTION commerce.map_platform_status(p_tenant bigint, p_channel text, p_status text)
RETURNS commerce.order_status LANGUAGE plpgsql STABLE AS $$
DECLARE v commerce.order_status;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_channel, 'p_channel');
    PERFORM commerce._require(p_status, 'p_status');
    SELECT status INTO v FROM commerce.platform_status_map
     WHERE tenant_id IN (p_tenant, 0) AND channel_code = p_channel AND platform_status = p_status
     ORDER BY tenant_id DESC LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('unknown %s order status "%s"', left(p_channel, 64), left(p_status, 64)),
            DETAIL  = format('No mapping of %s status "%s" to an order status exists.', left(p_channel, 64), left(p_status, 64)),
            HINT    = 'Add a row to commerce.platform_status_map (tenant_id, channel_code, platform_status, status).';
    END IF;
    RETURN v;
END $$;

-- A platform amount in fen: yuan values (strings or numbers) must have at most 2 decimals.
CREATE FUNCTION commerce._platform_fen(p_value jsonb, p_unit text, p_field text) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE v numeric;
BEGIN
    IF p_value IS NULL OR jsonb_typeof(p_value) = 'null' THEN
        RETURN 0;
    END IF;
    IF jsonb_typeof(p_value) NOT IN ('number', 'string') OR (p_value #>> '{}') !~ '^[0-9]+(\.[0-9]+)?$' THEN
        PERFORM commerce._invalid('p_payload', format('%s is %s, not an amount.', p_field, p_value),
                                  'Amounts are non-negative numbers (yuan or fen, per the platform profile).');
    END IF;
    v := (p_value #>> '{}')::numeric * CASE p_unit WHEN 'yuan' THEN 100 ELSE 1 END;
    IF v > commerce._limit('max_fen') THEN
        PERFORM commerce._invalid('p_payload', format('%s is %s, more than any order.', p_field, p_value),
                                  'Check the amounts and the profile''s amount_unit.');
    END IF;
    IF v <> trunc(v) THEN
        PERFORM commerce._invalid('p_payload', format('%s is %s, finer than a fen.', p_field, p_value),
                                  'Yuan amounts have at most two decimals; fen amounts are integers.');
    END IF;
    RETURN v::bigint;
END $$;

-- A platform modification time in the tenant's time zone.
CREATE FUNCTION commerce._platform_time(p_value jsonb, p_format text, p_zone text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
DECLARE v text := p_value #>> '{}';
BEGIN
    IF p_value IS NULL OR jsonb_typeof(p_value) = 'null' THEN
        PERFORM commerce._invalid('p_payload', 'The modification time is missing.',
                                  'Platform payloads carry their last modification time.');
    END IF;
    IF (p_format IN ('epoch', 'epoch_ms') AND v !~ '^[0-9]{1,16}$')
       OR (p_format IN ('local', 'iso') AND v !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}') THEN
        PERFORM commerce._invalid('p_payload', format('The modification time %s is not a %s time.', p_value, p_format),
                                  'Check the platform profile''s modified_format.');
    END IF;
    RETURN CASE p_format
        WHEN 'epoch' THEN to_timestamp((p_value #>> '{}')::numeric)
        WHEN 'epoch_ms' THEN to_timestamp((p_value #>> '{}')::numeric / 1000)
        WHEN 'iso' THEN (p_value #>> '{}')::timestamptz
        ELSE ((p_value #>> '{}')::timestamp AT TIME ZONE p_zone) END;
EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR invalid_text_representation THEN
    PERFORM commerce._invalid('p_payload', format('The modification time %s is not a %s time.', p_value, p_format),
                              'Check the platform profile''s modified_format.');
    RETURN NULL;
END $$;

-- Take stock for an ingested platform order (reserve and sell at once);
-- flag the order as an oversell exception when the pool cannot cover it.
CREATE FUNCTION commerce._platform_take_stock(o commerce.orders_row, p_channel text) RETURNS commerce.orders_row
LANGUAGE plpgsql AS $$
DECLARE v_res commerce.reservation_result; v_cart text;
BEGIN
    SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object('sku', s.code, 'qty', l.qty,
               'warehouse', commerce._pick_warehouse(o.tenant_id, s.code, l.qty))))::text INTO v_cart
      FROM commerce.order_line l JOIN commerce.sku s USING (tenant_id, sku_id)
     WHERE l.tenant_id = o.tenant_id AND l.order_id = o.order_id;
    BEGIN
        v_res := commerce.reserve(o.tenant_id, 'platform:' || o.order_id, 'order:' || o.order_id, v_cart);
        PERFORM commerce.confirm_reservation(o.tenant_id, v_res.reservation_id, 'platform:' || o.order_id);
        UPDATE commerce.orders SET reservation_id = v_res.reservation_id, oversell = false
         WHERE tenant_id = o.tenant_id AND order_id = o.order_id RETURNING * INTO o;
    EXCEPTION WHEN SQLSTATE 'PT409' THEN
        UPDATE commerce.orders SET oversell = true
         WHERE tenant_id = o.tenant_id AND order_id = o.order_id RETURNING * INTO o;
        PERFORM commerce.enqueue(o.tenant_id, 'order.oversell',
            jsonb_build_object('order_id', o.order_id, 'channel', p_channel,
                               'external_order_id', o.external_order_id, 'lines', v_cart::jsonb),
            'oversell:' || o.order_id);
    END;
    RETURN o;
END $$;

-- Ingest one platform order payload (idempotent, newest modification wins).
CREATE FUNCTION commerce.ingest_platform_order(p_tenant bigint, p_channel text, p_payload jsonb)
RETURNS commerce.order_result LANGUAGE plpgsql AS $$
DECLARE
    t commerce.tenant_row;
    ch commerce.channel;
    pr commerce.platform_profile;
    o commerce.orders_row;
    v_ext text;
    v_status_word text;
    v_status commerce.order_status;
    v_modified timestamptz;
    v_goods bigint;
    v_discount bigint;
    v_shipping bigint;
    v_line jsonb;
    v_sku text;
    v_sku_id bigint;
    v_qty bigint;
    v_price bigint;
    n integer := 0;
    v_outcome text;
BEGIN
    t := commerce._tenant(p_tenant);
    PERFORM commerce._require(p_channel, 'p_channel');
    PERFORM commerce._require(p_payload, 'p_payload');
    SELECT * INTO ch FROM commerce.channel WHERE tenant_id = p_tenant AND code = p_channel;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('channel', p_channel, p_tenant);
    END IF;
    SELECT * INTO pr FROM commerce.platform_profile
     WHERE tenant_id IN (p_tenant, 0) AND channel_code = p_channel ORDER BY tenant_id DESC LIMIT 1;
    IF NOT FOUND OR ch.kind <> 'platform' THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('unknown platform "%s"', left(p_channel, 64)),
            DETAIL  = format('Channel "%s" is %s and has no payload profile.', p_channel, ch.kind),
            HINT    = 'Ingest payloads of platform channels that have a row in commerce.platform_profile.';
    END IF;
    IF jsonb_typeof(p_payload) <> 'object' THEN
        PERFORM commerce._invalid('p_payload', 'The payload is not a JSON object.',
                                  format('Send the %s order object as the platform returns it.', p_channel));
    END IF;

    v_ext := jsonb_path_query_first(p_payload, pr.order_id_path) #>> '{}';
    v_status_word := jsonb_path_query_first(p_payload, pr.status_path) #>> '{}';
    IF v_ext IS NULL OR v_status_word IS NULL THEN
        PERFORM commerce._invalid('p_payload',
            format('The %s payload has no order id (%s) or status (%s).', p_channel, pr.order_id_path, pr.status_path),
            'Send the platform''s order object unchanged.');
    END IF;
    v_status := commerce.map_platform_status(p_tenant, p_channel, v_status_word);
    v_modified := commerce._platform_time(jsonb_path_query_first(p_payload, pr.modified_path),
                                          pr.modified_format, t.time_zone);

    -- an existing order: newer payloads move it, older or equal ones change nothing
    SELECT * INTO o FROM commerce.orders
     WHERE tenant_id = p_tenant AND channel_id = ch.channel_id AND external_order_id = v_ext FOR UPDATE;
    IF NOT FOUND THEN
        v_goods := commerce._platform_fen(jsonb_path_query_first(p_payload, pr.goods_path), pr.amount_unit, 'goods');
        v_discount := commerce._platform_fen(jsonb_path_query_first(p_payload, pr.discount_path), pr.amount_unit, 'discount');
        v_shipping := commerce._platform_fen(jsonb_path_query_first(p_payload, pr.shipping_path), pr.amount_unit, 'shipping');
        IF v_discount > v_goods THEN
            PERFORM commerce._invalid('p_payload', format('Discount %s exceeds goods %s.', v_discount, v_goods),
                                      'Check the amounts and the profile''s amount_unit.');
        END IF;
        INSERT INTO commerce.orders (tenant_id, channel_id, external_order_id, buyer_ref,
                                     receiver_name, receiver_phone, receiver_region, receiver_city,
                                     receiver_address, goods_fen, discount_fen, shipping_fen, payable_fen,
                                     paid_fen, status, platform_status, platform_modified_at, payload,
                                     created_at, status_reason)
        VALUES (p_tenant, ch.channel_id, v_ext,
                jsonb_path_query_first(p_payload, pr.buyer_path) #>> '{}',
                jsonb_path_query_first(p_payload, pr.receiver_name_path) #>> '{}',
                jsonb_path_query_first(p_payload, pr.receiver_phone_path) #>> '{}',
                jsonb_path_query_first(p_payload, pr.receiver_region_path) #>> '{}',
                jsonb_path_query_first(p_payload, pr.receiver_city_path) #>> '{}',
                jsonb_path_query_first(p_payload, pr.receiver_address_path) #>> '{}',
                v_goods, v_discount, v_shipping, v_goods - v_discount + v_shipping,
                CASE WHEN v_status NOT IN ('pending_payment', 'cancelled') THEN v_goods - v_discount + v_shipping END,
                v_status, v_status_word, v_modified, p_payload, commerce.now(), p_channel || ' ' || v_status_word)
        ON CONFLICT DO NOTHING
        RETURNING * INTO o;
        IF o.order_id IS NULL THEN
            -- another session ingested this order a moment ago: treat this as an update
            RETURN commerce.ingest_platform_order(p_tenant, p_channel, p_payload);
        END IF;
        FOR v_line IN SELECT x FROM jsonb_path_query(p_payload, pr.lines_path) x LOOP
            n := n + 1;
            v_sku := jsonb_path_query_first(v_line, pr.line_sku_path) #>> '{}';
            v_qty := commerce._platform_fen(jsonb_path_query_first(v_line, pr.line_qty_path), 'fen', 'quantity');
            v_price := commerce._platform_fen(jsonb_path_query_first(v_line, pr.line_price_path), pr.amount_unit, 'price');
            SELECT sku_id INTO v_sku_id FROM commerce.sku WHERE tenant_id = p_tenant AND code = v_sku;
            IF NOT FOUND THEN
                PERFORM commerce._not_found('SKU', coalesce(v_sku, '(none)'), p_tenant);
            END IF;
            IF v_qty < 1 THEN
                PERFORM commerce._invalid('p_payload', format('Line %s has quantity %s.', n, v_qty),
                                          'Quantities are positive integers.');
            END IF;
            INSERT INTO commerce.order_line (tenant_id, order_id, line_no, sku_id, qty, unit_price_fen,
                                             price_source, amount_fen)
            VALUES (p_tenant, o.order_id, n, v_sku_id, v_qty, v_price, 'platform', v_price * v_qty);
        END LOOP;
        IF n = 0 THEN
            PERFORM commerce._invalid('p_payload', format('The %s payload has no lines at %s.', p_channel, pr.lines_path),
                                      'Send the platform''s order object unchanged.');
        END IF;
        IF v_status IN ('paid', 'shipped', 'completed', 'after_sale') THEN
            o := commerce._platform_take_stock(o, p_channel);
        END IF;
        RETURN commerce._order_result(o, CASE WHEN o.oversell THEN 'oversell' ELSE 'created' END);
    END IF;

    IF o.platform_modified_at >= v_modified THEN
        RETURN commerce._order_result(o, CASE WHEN o.platform_modified_at = v_modified
                                              THEN 'unchanged' ELSE 'older_ignored' END);
    END IF;
    v_outcome := 'updated';
    IF v_status <> o.status THEN
        -- a platform that closes a paid order refunds it: through after_sale
        IF v_status = 'refunded' AND o.status IN ('paid', 'shipped', 'completed') THEN
            UPDATE commerce.orders SET status = 'after_sale', status_reason = p_channel || ' ' || v_status_word
             WHERE tenant_id = p_tenant AND order_id = o.order_id;
        END IF;
        -- an unpaid platform order that is paid now takes its stock
        IF o.status IN ('pending_payment') AND v_status IN ('paid', 'shipped', 'completed') THEN
            UPDATE commerce.orders SET paid_fen = payable_fen
             WHERE tenant_id = p_tenant AND order_id = o.order_id RETURNING * INTO o;
            o := commerce._platform_take_stock(o, p_channel);
            IF o.oversell THEN
                v_outcome := 'oversell';
            END IF;
        END IF;
        UPDATE commerce.orders SET status = v_status, status_reason = p_channel || ' ' || v_status_word
         WHERE tenant_id = p_tenant AND order_id = o.order_id;
    END IF;
    UPDATE commerce.orders SET platform_status = v_status_word, platform_modified_at = v_modified,
                               payload = p_payload
     WHERE tenant_id = p_tenant AND order_id = o.order_id
    RETURNING * INTO o;
    RETURN commerce._order_result(o, v_outcome);
END $$;
COMMENT ON FUNCTION commerce.ingest_platform_order(bigint, text, jsonb) IS
  'Store or update a platform order from its payload (fields found through commerce.platform_profile, status through platform_status_map). Re-ingesting the same payload changes nothing; a newer modification time moves the order; an older one is ignored. Paid orders take their stock from the shared pool at once; when it cannot cover them they are stored with oversell = true and an order.oversell message.';

-- The platform order ids of a time window that we do not have (H3.2.1).
CREATE FUNCTION commerce.missing_platform_orders(p_tenant bigint, p_channel text, p_ids text[])
RETURNS SETOF text LANGUAGE plpgsql STABLE AS $$
DECLARE v_channel bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_channel, 'p_channel');
    PERFORM commerce._require(p_ids, 'p_ids');
    SELECT channel_id INTO v_channel FROM commerce.channel WHERE tenant_id = p_tenant AND code = p_channel;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('channel', p_channel, p_tenant);
    END IF;
    RETURN QUERY
    SELECT DISTINCT id FROM unnest(p_ids) id
     WHERE id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM commerce.orders o
                        WHERE o.tenant_id = p_tenant AND o.channel_id = v_channel
                          AND o.external_order_id = id)
     ORDER BY id;
END $$;
COMMENT ON FUNCTION commerce.missing_platform_orders(bigint, text, text[]) IS
  'Given the order ids a platform lists for a time window (the hourly check), the ids commerce does not have.';

-- A view of orders for operators.
CREATE VIEW commerce.order_overview AS
SELECT o.tenant_id, o.order_id, c.code AS channel, o.external_order_id, o.status, o.payable_fen,
       o.oversell, o.created_at, o.paid_at, o.shipped_at
  FROM commerce.orders o JOIN commerce.channel c USING (tenant_id, channel_id);
COMMENT ON VIEW commerce.order_overview IS 'Orders with their channel code, for operators.';
