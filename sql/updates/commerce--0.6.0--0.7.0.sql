/*
 * commerce 0.6.0 -> 0.7.0 (open: the upgrade script of the version under
 * development).
 *
 * Every change to an object goes into its module source under sql/src/ (the
 * one definition, from which make builds commerce--0.7.0.sql) AND here, as
 * the statements that turn a 0.6.0 database into the same thing. `make test`
 * proves that a fresh install and 0.1.0 + every upgrade script give the same
 * catalog (test/upgrade/).
 *
 * Rules for this file:
 *  - Columns added to a table go last in its CREATE TABLE in the module
 *    source, in the order they are added here (functions return row types,
 *    so column order is part of the interface).
 *  - A function whose signature or return type changes is dropped and
 *    created again here; its COMMENT and its GRANTs/REVOKEs are repeated.
 *  - Functions keep their C symbols: the library serves every released
 *    script, so a C function a released script names is never removed.
 */

\echo Use "ALTER EXTENSION commerce UPDATE TO '0.7.0'" to load this file. \quit

-- ===========================================================================
-- triggers: names that state their firing order; every append-only table
-- declared by one helper, with its TRUNCATE guard (agreement,
-- agreement_signature, koc_level_change and play_help had none)
-- ===========================================================================

CREATE FUNCTION commerce._declare_append_only(p_table regclass)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE OR REPLACE TRIGGER before_10_append_only BEFORE UPDATE OR DELETE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION commerce.append_only_guard()', p_table);
    EXECUTE format('CREATE OR REPLACE TRIGGER before_10_append_only_truncate BEFORE TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION commerce.append_only_guard()', p_table);
END $$;
COMMENT ON FUNCTION commerce._declare_append_only(regclass) IS
  'Make a table append-only: triggers before_10_append_only (UPDATE, DELETE) and before_10_append_only_truncate (TRUNCATE) with commerce.append_only_guard (PT405). Idempotent.';
REVOKE ALL ON FUNCTION commerce._declare_append_only(regclass) FROM PUBLIC;

ALTER TRIGGER price_floor_guard ON commerce.price RENAME TO before_10_floor_guard;
ALTER TRIGGER sku_floor_guard ON commerce.sku RENAME TO before_10_floor_guard;
ALTER TRIGGER reservation_state_guard ON commerce.reservation RENAME TO before_10_state_guard;
DROP TRIGGER stock_movement_append_only ON commerce.stock_movement;
DROP TRIGGER stock_movement_no_truncate ON commerce.stock_movement;
ALTER TRIGGER order_attribution ON commerce.orders RENAME TO before_10_attribution;
ALTER TRIGGER koc_account_rearm_on_sign ON commerce.agreement_signature RENAME TO after_10_koc_account_rearm;
ALTER TRIGGER koc_account_rearm_on_active ON commerce.koc RENAME TO after_10_account_rearm;
ALTER TRIGGER commission_on_redeem ON commerce.orders RENAME TO after_10_commission_on_redeem;
ALTER TRIGGER commission_on_refund ON commerce.order_event RENAME TO after_10_commission_on_refund;
ALTER TRIGGER koc_application_state ON commerce.koc_application RENAME TO before_10_state_guard;
DROP TRIGGER agreement_append_only ON commerce.agreement;
DROP TRIGGER agreement_signature_append_only ON commerce.agreement_signature;
DROP TRIGGER commission_line_append_only ON commerce.commission_line;
DROP TRIGGER commission_line_no_truncate ON commerce.commission_line;
ALTER TRIGGER settle_batch_state ON commerce.settle_batch RENAME TO before_10_state_guard;
ALTER TRIGGER withdrawal_state ON commerce.withdrawal RENAME TO before_10_state_guard;
DROP TRIGGER koc_ledger_append_only ON commerce.koc_ledger;
DROP TRIGGER koc_ledger_no_truncate ON commerce.koc_ledger;
DROP TRIGGER koc_level_change_append_only ON commerce.koc_level_change;
ALTER TRIGGER koc_risk_flag_state ON commerce.koc_risk_flag RENAME TO before_10_state_guard;
DROP TRIGGER koc_audit_append_only ON commerce.koc_audit;
DROP TRIGGER koc_audit_no_truncate ON commerce.koc_audit;
ALTER TRIGGER order_state_guard ON commerce.orders RENAME TO before_20_state_guard;
DROP TRIGGER order_status_history_append_only ON commerce.order_status_history;
DROP TRIGGER order_status_history_no_truncate ON commerce.order_status_history;
ALTER TRIGGER after_sale_state ON commerce.after_sale RENAME TO before_10_state_guard;
DROP TRIGGER order_event_append_only ON commerce.order_event;
DROP TRIGGER order_event_no_truncate ON commerce.order_event;
ALTER TRIGGER play_config_terms ON commerce.play_config RENAME TO before_20_terms;
ALTER TRIGGER orders_play_paid ON commerce.orders RENAME TO after_20_play_paid;
ALTER TRIGGER orders_play_paid_insert ON commerce.orders RENAME TO after_21_play_paid_insert;
ALTER TRIGGER orders_play_refunded ON commerce.orders RENAME TO after_30_play_refunded;
ALTER TRIGGER play_config_state ON commerce.play_config RENAME TO before_10_state_guard;
ALTER TRIGGER play_instance_state ON commerce.play_instance RENAME TO before_10_state_guard;
DROP TRIGGER consumption_log_append_only ON commerce.consumption_log;
DROP TRIGGER consumption_log_no_truncate ON commerce.consumption_log;
DROP TRIGGER play_help_append_only ON commerce.play_help;
ALTER TRIGGER play_invite_state ON commerce.play_invite RENAME TO before_10_state_guard;
ALTER TRIGGER play_settlement_state ON commerce.play_settlement RENAME TO before_10_state_guard;
SELECT commerce._declare_append_only('commerce.stock_movement');
SELECT commerce._declare_append_only('commerce.agreement');
SELECT commerce._declare_append_only('commerce.agreement_signature');
SELECT commerce._declare_append_only('commerce.commission_line');
SELECT commerce._declare_append_only('commerce.koc_ledger');
SELECT commerce._declare_append_only('commerce.koc_level_change');
SELECT commerce._declare_append_only('commerce.koc_audit');
SELECT commerce._declare_append_only('commerce.order_status_history');
SELECT commerce._declare_append_only('commerce.order_event');
SELECT commerce._declare_append_only('commerce.consumption_log');
SELECT commerce._declare_append_only('commerce.play_help');

-- ===========================================================================
-- plpgsql_check: no warning left (unused variable, untyped initializers)
-- ===========================================================================

CREATE OR REPLACE FUNCTION commerce.merge_suggestions(p_tenant bigint)
RETURNS TABLE (receiver_phone text, receiver_address text, order_ids bigint[], weight_g bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r record;
    g_phone text; g_address text; g_start timestamptz; g_ids bigint[] := '{}'::bigint[]; g_weight bigint := 0;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    FOR r IN SELECT o.order_id, o.receiver_phone AS phone, o.receiver_address AS address, o.created_at,
                    commerce.order_weight_g(o.tenant_id, o.order_id) AS w
               FROM commerce.orders o
              WHERE o.tenant_id = p_tenant AND o.status = 'paid' AND NOT o.oversell
                AND o.receiver_phone IS NOT NULL AND o.receiver_address IS NOT NULL
              ORDER BY o.receiver_phone, o.receiver_address, o.created_at, o.order_id LOOP
        IF r.phone IS DISTINCT FROM g_phone OR r.address IS DISTINCT FROM g_address
           OR r.created_at >= g_start + interval '2 hours' OR g_weight + r.w >= 10000 THEN
            IF cardinality(g_ids) > 1 THEN
                receiver_phone := g_phone; receiver_address := g_address;
                order_ids := g_ids; weight_g := g_weight;
                RETURN NEXT;
            END IF;
            g_phone := r.phone; g_address := r.address; g_start := r.created_at;
            g_ids := '{}'; g_weight := 0;
        END IF;
        g_ids := g_ids || r.order_id;
        g_weight := g_weight + r.w;
    END LOOP;
    IF cardinality(g_ids) > 1 THEN
        receiver_phone := g_phone; receiver_address := g_address;
        order_ids := g_ids; weight_g := g_weight;
        RETURN NEXT;
    END IF;
END $$;

CREATE OR REPLACE FUNCTION commerce.place_order(p_tenant bigint, p_request_id text, p_channel text,
                                     p_order jsonb, p_customer text DEFAULT NULL)
RETURNS commerce.order_result LANGUAGE plpgsql AS $$
DECLARE
    o commerce.orders;
    ch commerce.channel;
    v_customer bigint;
    v_tier text;
    v_line jsonb;
    v_lines jsonb := '[]'::jsonb;
    v_goods bigint := 0;
    v_discount bigint;
    v_shipping bigint;
    v_price commerce.resolved_price;
    v_qty bigint;
    v_sku text;
    v_res commerce.reservation_result;
    v_receiver jsonb;
    v_key text;
    i integer := 0;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_channel, 'p_channel');
    PERFORM commerce._require(p_order, 'p_order');
    IF length(p_request_id) NOT BETWEEN 1 AND 200 THEN
        PERFORM commerce._invalid('p_request_id', 'A request_id is 1 to 200 characters.',
                                  'Use a UUID or another unique key generated by the client.');
    END IF;

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
                         'source_instance_id') THEN
            PERFORM commerce._invalid('p_order', format('Unknown key "%s".', v_key),
                'An order has lines, receiver, shipping_fen, discount_fen, activity and source_instance_id.');
        END IF;
    END LOOP;
    IF jsonb_typeof(p_order -> 'lines') IS DISTINCT FROM 'array' THEN
        PERFORM commerce._invalid('p_order', 'lines is missing or not an array.',
                                  'Send "lines":[{"sku":"<code>","qty":<n>}, ...].');
    END IF;
    v_shipping := commerce._fen(p_order -> 'shipping_fen', 'shipping_fen');
    v_discount := commerce._fen(p_order -> 'discount_fen', 'discount_fen');
    v_receiver := coalesce(p_order -> 'receiver', '{}');
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

    -- prices for the customer's tier on this channel, now
    FOR v_line IN SELECT value FROM jsonb_array_elements(p_order -> 'lines') LOOP
        i := i + 1;
        v_sku := v_line ->> 'sku';
        IF jsonb_typeof(v_line -> 'qty') IS DISTINCT FROM 'number'
           OR (v_line ->> 'qty')::numeric <> trunc((v_line ->> 'qty')::numeric)
           OR (v_line ->> 'qty')::numeric NOT BETWEEN 1 AND 1000000 THEN
            PERFORM commerce._invalid('p_order', format('lines[%s].qty is not an integer from 1 to 1000000.', i - 1),
                                      'Quantities are whole units written as JSON integers.');
        END IF;
        v_qty := (v_line ->> 'qty')::bigint;
        IF v_sku IS NULL OR jsonb_typeof(v_line -> 'sku') <> 'string' THEN
            PERFORM commerce._invalid('p_order', format('lines[%s] needs a sku and a qty of 1 to 1000000.', i - 1),
                                      'Send {"sku":"<code>","qty":<n>}.');
        END IF;
        v_price := commerce.resolve_price(p_tenant, v_sku, p_channel, v_tier);
        v_goods := v_goods + v_price.price_fen * v_qty;
        v_lines := v_lines || jsonb_build_object('sku', v_sku, 'qty', v_qty,
                                                 'price', v_price.price_fen, 'source', v_price.source,
                                                 'warehouse', coalesce(v_line ->> 'warehouse',
                                                     commerce._pick_warehouse(p_tenant, v_sku, v_qty)));
    END LOOP;
    IF i = 0 THEN
        PERFORM commerce._invalid('p_order', 'The order has no lines.', 'Send at least one line.');
    END IF;
    IF v_discount > v_goods THEN
        PERFORM commerce._invalid('p_order',
            format('discount_fen %s exceeds the goods total %s.', v_discount, v_goods),
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

    PERFORM commerce._reason('placed');
    INSERT INTO commerce.orders (tenant_id, channel_id, external_order_id, request_id, customer_id,
                                 receiver_name, receiver_phone, receiver_region, receiver_city,
                                 receiver_address, goods_fen, discount_fen, shipping_fen, payable_fen,
                                 status, reservation_id, pay_deadline, source_activity,
                                 source_instance_id, created_at)
    VALUES (p_tenant, ch.channel_id, p_request_id, p_request_id, v_customer,
            v_receiver ->> 'name', v_receiver ->> 'phone', v_receiver ->> 'region',
            v_receiver ->> 'city', v_receiver ->> 'address', v_goods, v_discount, v_shipping,
            v_goods - v_discount + v_shipping, 'pending_payment', v_res.reservation_id,
            v_res.expires_at, p_order ->> 'activity', (p_order ->> 'source_instance_id')::bigint,
            commerce.now())
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
    RETURN commerce._order_result(o, 'placed');
END $$;

CREATE OR REPLACE FUNCTION commerce.pay_order(p_tenant bigint, p_order bigint, p_payment_id text,
                                   p_amount_fen bigint)
RETURNS commerce.order_result LANGUAGE plpgsql AS $$
DECLARE o commerce.orders; ch commerce.channel;
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
        PERFORM commerce._reason('paid: ' || p_payment_id);
        PERFORM commerce.confirm_reservation(p_tenant, o.reservation_id, 'pay:' || p_payment_id);
        UPDATE commerce.orders SET status = 'paid', payment_id = p_payment_id, paid_fen = p_amount_fen
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

