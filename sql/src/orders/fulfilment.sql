-- sql/src/orders/fulfilment.sql: carrier routing (C), shipments, merge and
-- split suggestions.

CREATE FUNCTION commerce.route_carrier(p_tenant bigint, p_region text, p_weight_g bigint)
RETURNS text AS 'MODULE_PATHNAME', 'commerce_route_carrier' LANGUAGE C STABLE;
COMMENT ON FUNCTION commerce.route_carrier(bigint, text, bigint) IS
  'The carrier for a parcel to a region: the first matching commerce.routing_rule by priority (PT404 when none matches).';

-- The weight of an order's goods in grams (SKUs without a weight count 0).
CREATE FUNCTION commerce.order_weight_g(p_tenant bigint, p_order bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(coalesce(s.weight_g, 0) * l.qty), 0)::bigint
      FROM commerce.order_line l JOIN commerce.sku s USING (tenant_id, sku_id)
     WHERE l.tenant_id = p_tenant AND l.order_id = p_order;
$$;

-- Ship a paid order: choose the carrier, record the parcel, queue waybill and write-back.
CREATE FUNCTION commerce.ship_order(p_tenant bigint, p_order bigint, p_request_id text,
                                    p_tracking_no text DEFAULT NULL, p_carrier text DEFAULT NULL)
RETURNS commerce.shipment_row LANGUAGE plpgsql AS $$
DECLARE o commerce.orders_row; ch commerce.channel; sh commerce.shipment_row; v_weight bigint;
BEGIN
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    o := commerce._lock_order(p_tenant, p_order);
    SELECT * INTO sh FROM commerce.shipment WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF FOUND THEN
        IF sh.order_id <> p_order THEN
            RAISE EXCEPTION USING ERRCODE = '23505',
                MESSAGE = format('request_id "%s" was already used to ship order %s', p_request_id, sh.order_id),
                HINT = 'Use a new request_id for a new shipment.';
        END IF;
        RETURN sh;
    END IF;
    IF o.status <> 'paid' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('order %s cannot be shipped: it is %s', p_order, o.status),
            DETAIL  = 'Only paid orders are shipped.',
            HINT    = CASE WHEN o.oversell THEN 'This order is an oversell exception: restock or refund it first.'
                           ELSE 'Wait for the payment, or look the order up.' END;
    END IF;
    IF o.oversell THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('order %s cannot be shipped: it is an oversell exception', p_order),
            DETAIL  = 'No stock was taken for it.',
            HINT    = 'Restock and take its stock, or refund it.';
    END IF;
    v_weight := commerce.order_weight_g(p_tenant, p_order);
    INSERT INTO commerce.shipment (tenant_id, order_id, request_id, carrier, tracking_no, weight_g, shipped_at)
    VALUES (p_tenant, p_order, p_request_id,
            coalesce(p_carrier, commerce.choose_carrier(p_tenant, o.receiver_region, v_weight)),
            p_tracking_no, v_weight, commerce.now())
    RETURNING * INTO sh;
    UPDATE commerce.orders SET status = 'shipped',
           status_reason = 'shipped: ' || sh.carrier || coalesce(' ' || sh.tracking_no, '')
     WHERE tenant_id = p_tenant AND order_id = p_order;
    PERFORM commerce.enqueue(p_tenant, 'waybill.print',
        jsonb_build_object('shipment_id', sh.shipment_id, 'order_id', p_order, 'carrier', sh.carrier,
                           'tracking_no', sh.tracking_no, 'weight_g', v_weight,
                           'receiver', jsonb_build_object('name', o.receiver_name, 'phone', o.receiver_phone,
                                                          'region', o.receiver_region, 'city', o.receiver_city,
                                                          'address', o.receiver_address))
        || coalesce((SELECT jsonb_build_object('template', w) FROM commerce._waybill_template(p_tenant, o.channel_id, sh.carrier) w
                      WHERE w IS NOT NULL), '{}'::jsonb),
        'waybill:' || sh.shipment_id);
    SELECT * INTO ch FROM commerce.channel WHERE tenant_id = p_tenant AND channel_id = o.channel_id;
    IF ch.kind = 'platform' THEN
        PERFORM commerce.enqueue(p_tenant, 'platform.writeback',
            jsonb_build_object('channel', ch.code, 'external_order_id', o.external_order_id,
                               'carrier', sh.carrier, 'tracking_no', sh.tracking_no),
            'writeback:' || sh.shipment_id);
    END IF;
    RETURN sh;
END $$;
COMMENT ON FUNCTION commerce.ship_order(bigint, bigint, text, text, text) IS
  'Ship a paid order: the carrier is chosen (commerce.choose_carrier: the routing rules, or with set_carrier_choice the best scored carrier by cost, speed and history) unless given; records the shipment, moves the order to shipped, queues a waybill.print job (with the e-waybill template of the order''s channel and the carrier, when there is one: logo, copy, sender) and, for platform orders, a platform.writeback of the tracking number. Idempotent by request_id.';

-- Orders that could go out as one parcel (H3.2.2): same phone and address,
-- paid and not shipped, created within 2 hours of the group's first, under 10 kg together.
-- Greedy in creation order: an order that would make the parcel too heavy or come too
-- late starts the next group.
CREATE FUNCTION commerce.merge_suggestions(p_tenant bigint)
RETURNS TABLE (receiver_phone text, receiver_address text, order_ids bigint[], weight_g bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r record;
    v_phone text; v_address text; v_start timestamptz; v_ids bigint[] := '{}'::bigint[]; v_weight bigint := 0;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    FOR r IN SELECT o.order_id, o.receiver_phone AS phone, o.receiver_address AS address, o.created_at,
                    commerce.order_weight_g(o.tenant_id, o.order_id) AS w
               FROM commerce.orders o
              WHERE o.tenant_id = p_tenant AND o.status = 'paid' AND NOT o.oversell
                AND o.receiver_phone IS NOT NULL AND o.receiver_address IS NOT NULL
              ORDER BY o.receiver_phone, o.receiver_address, o.created_at, o.order_id LOOP
        IF r.phone IS DISTINCT FROM v_phone OR r.address IS DISTINCT FROM v_address
           OR r.created_at >= v_start + interval '2 hours' OR v_weight + r.w >= 10000 THEN
            IF cardinality(v_ids) > 1 THEN
                receiver_phone := v_phone; receiver_address := v_address;
                order_ids := v_ids; weight_g := v_weight;
                RETURN NEXT;
            END IF;
            v_phone := r.phone; v_address := r.address; v_start := r.created_at;
            v_ids := '{}'; v_weight := 0;
        END IF;
        v_ids := v_ids || r.order_id;
        v_weight := v_weight + r.w;
    END LOOP;
    IF cardinality(v_ids) > 1 THEN
        receiver_phone := v_phone; receiver_address := v_address;
        order_ids := v_ids; weight_g := v_weight;
        RETURN NEXT;
    END IF;
END $$;
COMMENT ON FUNCTION commerce.merge_suggestions(bigint) IS
  'Groups of paid, unshipped orders to one phone and address, created within 2 hours of the first, together under 10 kg: candidates to merge into one parcel (an operator confirms).';

-- Why an order should ship as several parcels (H3.2.2).
CREATE FUNCTION commerce.split_suggestions(p_tenant bigint, p_order bigint)
RETURNS TABLE (reason text, detail text)
LANGUAGE plpgsql STABLE AS $$
DECLARE v_weight bigint;
BEGIN
    PERFORM commerce._lock_order(p_tenant, p_order);
    RETURN QUERY
    SELECT 'warehouses', string_agg(DISTINCT w.code, ', ' ORDER BY w.code)
      FROM commerce.orders o
      JOIN commerce.reservation_line rl ON rl.tenant_id = o.tenant_id AND rl.reservation_id = o.reservation_id
      JOIN commerce.stock_pool p ON p.tenant_id = rl.tenant_id AND p.pool_id = rl.pool_id
      JOIN commerce.warehouse w ON w.tenant_id = p.tenant_id AND w.warehouse_id = p.warehouse_id
     WHERE o.tenant_id = p_tenant AND o.order_id = p_order
    HAVING count(DISTINCT w.warehouse_id) > 1;
    RETURN QUERY
    SELECT 'presale', string_agg(s.code, ', ' ORDER BY s.code) FILTER (WHERE s.presale)
      FROM commerce.order_line l JOIN commerce.sku s USING (tenant_id, sku_id)
     WHERE l.tenant_id = p_tenant AND l.order_id = p_order
    HAVING bool_or(s.presale) AND bool_or(NOT s.presale);
    v_weight := commerce.order_weight_g(p_tenant, p_order);
    IF v_weight > 20000 THEN
        RETURN QUERY SELECT 'overweight', format('%s g: at least %s parcels of at most 20 kg', v_weight,
                                                 (v_weight + 19999) / 20000);
    END IF;
END $$;
COMMENT ON FUNCTION commerce.split_suggestions(bigint, bigint) IS
  'Reasons to split an order into parcels: lines held in different warehouses, presale and in-stock lines together, more than 20 kg.';
