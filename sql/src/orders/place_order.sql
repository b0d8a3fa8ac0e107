-- sql/src/orders/place_order.sql: self-operated orders: place, pay, cancel,
-- and the unpaid-order pump.

-- The result row of an order.
CREATE FUNCTION commerce._order_result(o commerce.orders_row, p_outcome text)
RETURNS commerce.order_result LANGUAGE plpgsql IMMUTABLE AS $$   -- PL/pgSQL: no planning per call
BEGIN
    RETURN ROW(o.order_id, o.status::text, o.payable_fen, o.pay_deadline, p_outcome)::commerce.order_result;
END $$;

-- Price cart lines for a customer on a channel: [{"sku","qty","price","source","warehouse"}].
CREATE FUNCTION commerce._price_lines(p_tenant bigint, p_channel text, p_lines jsonb, p_customer bigint, p_tier text,
                                      p_warehouses boolean)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_cart record;
    v_lines jsonb := '[]'::jsonb;
    v_price commerce.resolved_price;
    v_member_bp integer := 0;
    v_sku record;
BEGIN
    -- the lines, read by the one cart parser (commerce._cart_lines); prices for the
    -- customer's tier on this channel, now, less a paid member's discount (never below the floor)
    IF p_customer IS NOT NULL THEN
        v_member_bp := commerce._benefit_bp(p_tenant, p_customer, 'member_discount', commerce.now());
    END IF;
    FOR v_cart IN SELECT * FROM commerce._cart_lines(p_lines::text) LOOP
        v_price := commerce.resolve_price(p_tenant, v_cart.sku, p_channel, p_tier);
        IF v_member_bp > 0 THEN
            SELECT s.floor_fen, p.virtual_kind INTO v_sku
              FROM commerce.sku s JOIN commerce.product p ON p.tenant_id = s.tenant_id AND p.product_id = s.product_id
             WHERE s.tenant_id = p_tenant AND s.code = v_cart.sku;
            -- a membership card is not discounted by the membership it buys
            IF v_sku.virtual_kind IS DISTINCT FROM 'membership_card'
               AND v_price.price_fen - commerce.rate_fen(v_price.price_fen, v_member_bp) >= v_sku.floor_fen THEN
                v_price.price_fen := v_price.price_fen - commerce.rate_fen(v_price.price_fen, v_member_bp);
                v_price.source := 'paid_member';
            ELSIF v_sku.virtual_kind IS DISTINCT FROM 'membership_card' AND v_price.price_fen > v_sku.floor_fen THEN
                v_price.price_fen := v_sku.floor_fen;
                v_price.source := 'paid_member';
            END IF;
        END IF;
        v_lines := v_lines || jsonb_build_object('sku', v_cart.sku, 'qty', v_cart.qty,
                                                 'price', v_price.price_fen, 'source', v_price.source,
                                                 'warehouse', CASE WHEN p_warehouses THEN coalesce(v_cart.warehouse,
                                                     commerce._pick_warehouse(p_tenant, v_cart.sku, v_cart.qty)) END);
    END LOOP;
    RETURN v_lines;
END $$;
COMMENT ON FUNCTION commerce._price_lines(bigint, text, jsonb, bigint, text, boolean) IS
  'Cart lines [{"sku","qty","warehouse"}] priced for a customer (its tier, a paid member''s discount never below the floor and not on membership cards) on a channel now, with the warehouse each is taken from when p_warehouses; place_order and freight_quote price alike.';

-- Place a self-operated order from a JSON document: prices, stock hold, order.
CREATE FUNCTION commerce.place_order(p_tenant bigint, p_request_id text, p_channel text,
                                     p_order jsonb, p_customer text DEFAULT NULL)
RETURNS commerce.order_result LANGUAGE plpgsql AS $$
DECLARE
    o commerce.orders_row;
    ch commerce.channel;
    v_customer bigint;
    v_tier text;
    v_lines jsonb := '[]'::jsonb;
    v_goods bigint := 0;
    v_discount bigint;
    v_shipping bigint;
    v_res commerce.reservation_result;
    v_receiver jsonb;
    v_key text;
    v_coupons bigint[];
    v_alloc jsonb;
    v_coupon_off bigint := 0;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_channel, 'p_channel');
    PERFORM commerce._require(p_order, 'p_order');
    PERFORM commerce._request_key(p_request_id, 'p_request_id');

    -- a repeat returns the first order
    SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF FOUND THEN
        RETURN commerce._order_result(o, 'existing');
    END IF;

    SELECT * INTO ch FROM commerce.channel WHERE tenant_id = p_tenant AND code = p_channel;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('channel', p_channel, p_tenant);
    END IF;
    IF ch.kind <> 'self_operated' THEN
        PERFORM commerce._invalid('p_channel',
            format('Channel "%s" is a platform; its orders arrive through commerce.ingest_platform_order.', p_channel),
            'Place orders on a self-operated channel (wechat_mp, alipay_mp, h5).');
    END IF;
    IF p_customer IS NOT NULL THEN
        SELECT customer_id, member_tier INTO v_customer, v_tier FROM commerce.customer
         WHERE tenant_id = p_tenant AND code = p_customer;
        IF NOT FOUND THEN
            PERFORM commerce._not_found('customer', p_customer, p_tenant);
        END IF;
    END IF;

    -- the document: lines, receiver, shipping and discount in fen, source activity
    IF jsonb_typeof(p_order) <> 'object' THEN
        PERFORM commerce._invalid('p_order', 'The order is not a JSON object.',
            'Send {"lines":[{"sku":"<code>","qty":<n>}], "receiver":{...}, "shipping_fen":0, "discount_fen":0}.');
    END IF;
    FOR v_key IN SELECT jsonb_object_keys(p_order) LOOP
        IF v_key NOT IN ('lines', 'receiver', 'shipping_fen', 'discount_fen', 'activity',
                         'source_instance_id', 'coupons', 'paid_by') THEN
            PERFORM commerce._invalid('p_order', format('Unknown key "%s".', left(v_key, 64)),
                'An order has lines, receiver, shipping_fen, discount_fen, activity, source_instance_id, coupons and paid_by.');
        END IF;
    END LOOP;
    IF jsonb_typeof(p_order -> 'lines') IS DISTINCT FROM 'array' THEN
        PERFORM commerce._invalid('p_order', 'lines is missing or not an array.',
                                  'Send "lines":[{"sku":"<code>","qty":<n>}, ...].');
    END IF;
    v_shipping := commerce._fen(p_order -> 'shipping_fen', 'shipping_fen');
    v_discount := commerce._fen(p_order -> 'discount_fen', 'discount_fen');
    v_receiver := coalesce(p_order -> 'receiver', '{}');
    v_coupons := commerce._coupon_list(p_order -> 'coupons');
    IF p_order ? 'paid_by' AND (p_order ->> 'paid_by' IS DISTINCT FROM 'points' OR v_coupons IS NOT NULL OR v_discount > 0) THEN
        PERFORM commerce._invalid('p_order', format('paid_by is %s.', left(p_order ->> 'paid_by', 64)),
            'Only a points-mall redemption sets "paid_by":"points" (the goods are paid with points), without coupons or a discount.');
    END IF;
    IF p_order ? 'source_instance_id' AND jsonb_typeof(p_order -> 'source_instance_id') <> 'null'
       AND (jsonb_typeof(p_order -> 'source_instance_id') <> 'number'
            OR (p_order ->> 'source_instance_id') !~ '^[0-9]{1,18}$') THEN
        PERFORM commerce._invalid('p_order', 'source_instance_id is not a play instance id.',
                                  'Pass the id of the play instance as a JSON integer, or leave it out.');
    END IF;
    IF p_order ? 'activity' AND jsonb_typeof(p_order -> 'activity') NOT IN ('string', 'null') THEN
        PERFORM commerce._invalid('p_order', 'activity is not a string.', 'Pass the activity name, or leave it out.');
    END IF;
    IF jsonb_typeof(v_receiver) <> 'object' THEN
        PERFORM commerce._invalid('p_order', 'receiver is not an object.',
            'Send "receiver":{"name":...,"phone":...,"region":...,"city":...,"address":...}.');
    END IF;

    -- the lines priced for the customer (commerce._price_lines), then shipping by the products'
    -- freight templates unless the order names its fee
    v_lines := commerce._price_lines(p_tenant, p_channel, p_order -> 'lines', v_customer, v_tier, true);
    SELECT coalesce(sum((l ->> 'price')::bigint * (l ->> 'qty')::bigint), 0) INTO v_goods FROM jsonb_array_elements(v_lines) l;
    IF NOT p_order ? 'shipping_fen' AND EXISTS (SELECT 1 FROM commerce.freight_template f WHERE f.tenant_id = p_tenant) THEN
        v_shipping := commerce._order_freight(p_tenant, v_lines, v_receiver ->> 'region');
    END IF;
    -- the coupons: locked in id order (a concurrent repeat of this request waits here, then finds its order),
    -- then what each takes off which line
    IF v_coupons IS NOT NULL THEN
        PERFORM commerce._lock_coupons(p_tenant, v_coupons);
        SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND request_id = p_request_id;
        IF FOUND THEN
            RETURN commerce._order_result(o, 'existing');
        END IF;
        SELECT coalesce(jsonb_agg(jsonb_build_object('coupon_id', x.coupon_id, 'line_no', x.line_no, 'amount_fen', x.amount_fen)), '[]'),
               coalesce(sum(x.amount_fen), 0)
          INTO v_alloc, v_coupon_off
          FROM commerce._order_coupons(p_tenant, v_customer, ch.channel_id, v_lines, v_coupons) x;
    END IF;
    IF p_order ->> 'paid_by' = 'points' THEN
        v_discount := v_goods;     -- the goods are paid with points: nothing is payable for them
    END IF;
    IF v_discount + v_coupon_off > v_goods THEN
        PERFORM commerce._invalid('p_order',
            format('discount_fen %s (and %s fen of coupons) exceeds the goods total %s.', v_discount, v_coupon_off, v_goods),
            'A discount cannot exceed the goods total.');
    END IF;

    -- hold the stock (all lines or none; PT409 when short)
    -- the hold's keys are derived from the order's request_id (fixed length)
    v_res := commerce.reserve(p_tenant, 'order:' || md5(p_request_id), 'order:' || md5(p_request_id),
                              jsonb_build_object('lines',
                                  (SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                                              'sku', l ->> 'sku', 'qty', (l ->> 'qty')::bigint,
                                              'warehouse', l ->> 'warehouse')))
                                     FROM jsonb_array_elements(v_lines) l))::text,
                              NULL, p_order ->> 'activity');

    INSERT INTO commerce.orders (tenant_id, channel_id, external_order_id, request_id, customer_id,
                                 receiver_name, receiver_phone, receiver_region, receiver_city,
                                 receiver_address, goods_fen, discount_fen, shipping_fen, payable_fen,
                                 status, reservation_id, pay_deadline, source_activity,
                                 source_instance_id, created_at, status_reason)
    VALUES (p_tenant, ch.channel_id, p_request_id, p_request_id, v_customer,
            v_receiver ->> 'name', v_receiver ->> 'phone', v_receiver ->> 'region',
            v_receiver ->> 'city', v_receiver ->> 'address', v_goods, v_discount + v_coupon_off, v_shipping,
            v_goods - v_discount - v_coupon_off + v_shipping, 'pending_payment', v_res.reservation_id,
            v_res.expires_at, p_order ->> 'activity', (p_order ->> 'source_instance_id')::bigint,
            commerce.now(), 'placed')
    ON CONFLICT DO NOTHING
    RETURNING * INTO o;
    IF o.order_id IS NULL THEN   -- a concurrent call with this request_id made it
        SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND request_id = p_request_id;
        RETURN commerce._order_result(o, 'existing');
    END IF;
    INSERT INTO commerce.order_line (tenant_id, order_id, line_no, sku_id, qty, unit_price_fen,
                                     price_source, amount_fen)
    SELECT p_tenant, o.order_id, n, s.sku_id, (l ->> 'qty')::bigint, (l ->> 'price')::bigint,
           l ->> 'source', (l ->> 'price')::bigint * (l ->> 'qty')::bigint
      FROM jsonb_array_elements(v_lines) WITH ORDINALITY AS x(l, n)
      JOIN commerce.sku s ON s.tenant_id = p_tenant AND s.code = l ->> 'sku';
    IF v_coupons IS NOT NULL THEN
        PERFORM commerce._attach_coupons(p_tenant, o.order_id, v_alloc);
    END IF;
    RETURN commerce._order_result(o, 'placed');
END $$;
COMMENT ON FUNCTION commerce.place_order(bigint, text, text, jsonb, text) IS
  'Place a self-operated order: {"lines":[{"sku","qty"}], "receiver":{name,phone,region,city,address}, "shipping_fen", "discount_fen", "activity", "source_instance_id", "coupons":[coupon ids], "paid_by":"points"}. Resolves prices (channel, member tier of the customer, flash; then a paid member''s discount, never below the SKU''s floor and not on membership cards), applies the customer''s coupons (each split over its eligible lines, never below a SKU''s floor, recorded in order_discount and locked to the order; PT404 for a coupon not the customer''s, PT409 for one not usable), charges shipping by the products'' freight templates when the document names no shipping_fen (PT409 when a template does not deliver to the receiver''s region; commerce.freight_quote tells the same beforehand), holds the stock (15 minutes by default) and creates the order in pending_payment. "paid_by":"points" (the points mall) takes the whole goods amount off, leaving only shipping payable. Idempotent by request_id.';

-- The warehouse a line should draw from when its SKU is stocked in several and the
-- caller named none: the first (by code) whose committed available stock covers it,
-- else the first; NULL when the SKU has at most one root pool.
-- (PL/pgSQL, not SQL, so that its plan is cached per session instead of made per order)
CREATE FUNCTION commerce._pick_warehouse(p_tenant bigint, p_sku text, p_qty bigint) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT CASE WHEN count(*) OVER () > 1 THEN w.code END
              FROM commerce.sku s
              JOIN commerce.stock_pool p ON p.tenant_id = s.tenant_id AND p.sku_id = s.sku_id AND p.parent_pool_id IS NULL
              JOIN commerce.warehouse w ON w.tenant_id = p.tenant_id AND w.warehouse_id = p.warehouse_id
             WHERE s.tenant_id = p_tenant AND s.code = p_sku
             ORDER BY commerce._pool_available(p.tenant_id, p.pool_id) < p_qty, w.code
             LIMIT 1);
END $$;

-- An amount in fen from a JSON value (absent or null: 0); 22023 otherwise.
CREATE FUNCTION commerce._fen(p_value jsonb, p_name text) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_value IS NULL OR jsonb_typeof(p_value) = 'null' THEN
        RETURN 0;
    END IF;
    IF jsonb_typeof(p_value) <> 'number' OR (p_value #>> '{}')::numeric < 0
       OR (p_value #>> '{}')::numeric > commerce._limit('max_fen')
       OR (p_value #>> '{}')::numeric <> trunc((p_value #>> '{}')::numeric) THEN
        PERFORM commerce._invalid(p_name, format('%s is %s.', p_name, p_value),
                                  'Amounts are non-negative integers in fen (1 yuan = 100 fen).');
    END IF;
    RETURN (p_value #>> '{}')::bigint;
END $$;

-- Record a payment that cannot be accepted and ask the outside world to refund it.
CREATE FUNCTION commerce._payment_exception(o commerce.orders_row, p_payment text, p_amount bigint,
                                            p_kind text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO commerce.payment_exception (tenant_id, payment_id, order_id, amount_fen, kind, received_at)
    VALUES (o.tenant_id, p_payment, o.order_id, p_amount, p_kind, commerce.now())
    ON CONFLICT DO NOTHING;
    PERFORM commerce.enqueue(o.tenant_id, 'payment.refund',
        jsonb_build_object('payment_id', p_payment, 'order_id', o.order_id, 'amount_fen', p_amount,
                           'reason', p_kind),
        'refund:' || p_payment);
END $$;

-- Payment confirmation of a self-operated order.
CREATE FUNCTION commerce.pay_order(p_tenant bigint, p_order bigint, p_payment_id text,
                                   p_amount_fen bigint)
RETURNS commerce.order_result LANGUAGE plpgsql AS $$
DECLARE o commerce.orders_row; ch commerce.channel;
BEGIN
    PERFORM commerce._require(p_payment_id, 'p_payment_id');
    PERFORM commerce._require(p_amount_fen, 'p_amount_fen');
    o := commerce._lock_order(p_tenant, p_order);
    SELECT * INTO ch FROM commerce.channel WHERE tenant_id = p_tenant AND channel_id = o.channel_id;
    IF ch.kind <> 'self_operated' THEN
        PERFORM commerce._invalid('p_order', format('Order %s is a %s platform order.', p_order, ch.code),
                                  'Platform orders are paid on the platform; ingest their payloads instead.');
    END IF;
    -- a retry of the payment that paid it
    IF o.payment_id = p_payment_id THEN
        RETURN commerce._order_result(o, 'already_paid');
    END IF;
    IF p_amount_fen <> o.payable_fen THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('payment amount %s fen does not match order %s', p_amount_fen, p_order),
            DETAIL  = format('The order is payable %s fen.', o.payable_fen),
            HINT    = 'Charge exactly the payable amount; nothing was changed.';
    END IF;
    IF o.status = 'pending_payment' AND o.pay_deadline > commerce.now() THEN
        PERFORM commerce.confirm_reservation(p_tenant, o.reservation_id, 'pay:' || p_payment_id);
        UPDATE commerce.orders SET status = 'paid', payment_id = p_payment_id, paid_fen = p_amount_fen,
               status_reason = 'paid: ' || p_payment_id,
               ship_by = CASE WHEN o.customer_id IS NOT NULL
                               AND commerce._has_benefit(p_tenant, o.customer_id, 'priority_shipping', commerce.now())
                              THEN commerce.now() + interval '24 hours' END
         WHERE tenant_id = p_tenant AND order_id = p_order
        RETURNING * INTO o;
        RETURN commerce._order_result(o, 'paid');
    END IF;
    IF o.status = 'pending_payment' THEN
        -- the deadline passed: the hold is gone; cancel now, refund the payment
        PERFORM commerce._cancel(o, 'unpaid at the deadline; payment ' || p_payment_id || ' arrived late');
        SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND order_id = p_order;
    END IF;
    PERFORM commerce._payment_exception(o, p_payment_id, p_amount_fen,
        CASE WHEN o.status = 'cancelled' THEN 'after_cancel' ELSE 'duplicate' END);
    RETURN commerce._order_result(o, 'refund_pending');
END $$;
COMMENT ON FUNCTION commerce.pay_order(bigint, bigint, text, bigint) IS
  'Confirm the payment of a self-operated order: the amount must equal payable_fen (22023 otherwise, nothing changed); the stock hold becomes sold and the order paid. A payment after cancellation or the deadline, or a second payment, is recorded in payment_exception and refunded through the outbox (outcome refund_pending). Idempotent by payment_id.';

-- Cancel a locked unpaid order: release its stock hold, status cancelled.
CREATE FUNCTION commerce._cancel(o commerce.orders_row, p_reason text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF o.reservation_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM commerce.reservation
         WHERE tenant_id = o.tenant_id AND reservation_id = o.reservation_id AND status = 'active') THEN
        PERFORM commerce.release_reservation(o.tenant_id, o.reservation_id, 'cancel-order:' || o.order_id);
    END IF;
    UPDATE commerce.orders SET status = 'cancelled', status_reason = p_reason
     WHERE tenant_id = o.tenant_id AND order_id = o.order_id;
END $$;

-- Cancel an unpaid order (buyer or operator).
CREATE FUNCTION commerce.cancel_order(p_tenant bigint, p_order bigint, p_reason text DEFAULT NULL)
RETURNS commerce.order_result LANGUAGE plpgsql AS $$
DECLARE o commerce.orders_row;
BEGIN
    o := commerce._lock_order(p_tenant, p_order);
    IF (SELECT kind FROM commerce.channel WHERE tenant_id = p_tenant AND channel_id = o.channel_id) <> 'self_operated' THEN
        PERFORM commerce._invalid('p_order', format('Order %s is a platform order.', p_order),
                                  'Platform orders are cancelled on the platform; ingest its payload instead.');
    END IF;
    IF o.status = 'cancelled' THEN
        RETURN commerce._order_result(o, 'already_cancelled');
    END IF;
    IF o.status <> 'pending_payment' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('order %s cannot be cancelled: it is %s', p_order, o.status),
            DETAIL  = 'Only unpaid orders are cancelled; a paid order goes through after-sale.',
            HINT    = 'Open an after-sale request (refund) instead.';
    END IF;
    PERFORM commerce._cancel(o, coalesce(p_reason, 'cancelled'));
    SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND order_id = p_order;
    RETURN commerce._order_result(o, 'cancelled');
END $$;

-- One batch of the unpaid-order pump: cancel orders past their pay deadline.
CREATE FUNCTION commerce.cancel_unpaid_orders(p_limit integer DEFAULT 1000)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE o commerce.orders_row; n integer := 0;
BEGIN
    PERFORM commerce._require(p_limit, 'p_limit');
    IF p_limit NOT BETWEEN 1 AND 100000 THEN
        PERFORM commerce._invalid('p_limit', format('batch %s', p_limit), 'Use a batch of 1 to 100000.');
    END IF;
    FOR o IN SELECT * FROM commerce.orders
              WHERE status = 'pending_payment' AND pay_deadline <= commerce.now()
              ORDER BY pay_deadline LIMIT p_limit
              FOR UPDATE SKIP LOCKED LOOP
        PERFORM commerce._cancel(o, 'unpaid at the deadline');
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce.cancel_unpaid_orders(integer) IS
  'Cancel up to p_limit unpaid orders past their pay deadline (SKIP LOCKED: a payment in flight wins or loses cleanly) and release their stock.';

CREATE PROCEDURE commerce.cancel_unpaid_pump(p_batch integer DEFAULT 1000,
                                             p_max_batches integer DEFAULT 1000)
LANGUAGE plpgsql AS $$
BEGIN
    CALL commerce.run_pump('commerce.cancel_unpaid_orders', p_batch, p_max_batches);
END $$;
COMMENT ON PROCEDURE commerce.cancel_unpaid_pump(integer, integer) IS
  'The unpaid-order job (pg_cron, every minute): cancels every self-operated order past its pay deadline, committed per batch.';
