-- orders_fulfilment_after_sale_bad_input.sql: bad calls of the fulfilment module
-- (route_carrier, ship_order, merge_suggestions, split_suggestions), the
-- after-sale module (request_after_sale, decide_after_sale,
-- receive_returned_goods, complete_refund, complete_exchange, and direct
-- writes that break the after_sale state machine or the append-only
-- order_event), reconciliation (reconcile_bill) and the PII views
-- (order_contact, commerce_api.order_contact) are refused with the
-- documented SQLSTATE and change nothing: no shipment, no after-sale
-- request or event, no outbox message, no stock moved, no bill line. The
-- valid repeats (a shipment, a request, a decision, goods received or a
-- refund completed again, a bill reconciled again) answer with their first
-- outcome and count once.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(255);

\ir lib/fingerprint.psql

\ir lib/stock.psql

-- Row counts of what the fulfilment, after-sale and reconciliation calls may create.
CREATE FUNCTION pg_temp.counts() RETURNS text LANGUAGE sql AS $ct$
    SELECT format('orders %s, shipments %s, after_sale %s, order_events %s, outbox %s, bill_lines %s, recon_differences %s, recon_runs %s',
                  (SELECT count(*) FROM commerce.orders),
                  (SELECT count(*) FROM commerce.shipment),
                  (SELECT count(*) FROM commerce.after_sale),
                  (SELECT count(*) FROM commerce.order_event),
                  (SELECT count(*) FROM commerce.outbox),
                  (SELECT count(*) FROM commerce.bill_line),
                  (SELECT count(*) FROM commerce.recon_difference),
                  (SELECT count(*) FROM commerce.recon_run));
$ct$;

\ir lib/or_undo.psql

-- The hint of the error a statement raises (NULL if it raises none; what it
-- did is rolled back either way).
CREATE FUNCTION pg_temp.hint_of(p_sql text) RETURNS text LANGUAGE plpgsql AS $hi$
DECLARE v_hint text;
BEGIN
    PERFORM pg_temp.or_undo(p_sql);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_hint = PG_EXCEPTION_HINT;
    RETURN CASE WHEN SQLSTATE = 'XX001' THEN NULL ELSE v_hint END;
END $hi$;

-- A paid Taobao payload: p_qty units of p_sku at 10.00 yuan each.
CREATE FUNCTION pg_temp.tb(p_tid text, p_sku text, p_qty integer) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $tb$
    SELECT jsonb_build_object('tid', p_tid, 'status', 'WAIT_SELLER_SEND_GOODS',
             'created', '2029-12-31 23:00:00', 'modified', '2029-12-31 23:10:00',
             'buyer_nick', 'tb_fan_01', 'receiver_name', '李四', 'receiver_mobile', '13900005678',
             'receiver_state', '广东省', 'receiver_city', '广州市', 'receiver_address', '天河区天河路100号',
             'total_fee', to_char(p_qty * 10, 'FM9999990') || '.00', 'discount_fee', '0.00',
             'post_fee', '0.00', 'payment', to_char(p_qty * 10, 'FM9999990') || '.00',
             'orders', jsonb_build_object('order', jsonb_build_array(jsonb_build_object(
                 'oid', p_tid || '-1', 'outer_sku_id', p_sku, 'num', p_qty, 'price', '10.00',
                 'title', p_sku))));
$tb$;

-- A self-operated order on wechat_mp to the receiver in Hangzhou, paid at once
-- (p_pay); returns the order id.
CREATE FUNCTION pg_temp.order_of(p_tenant bigint, p_request text, p_sku text, p_qty integer,
                                 p_pay boolean DEFAULT true, p_region text DEFAULT '浙江省')
RETURNS bigint LANGUAGE plpgsql AS $oo$
DECLARE r commerce.order_result;
BEGIN
    r := commerce.place_order(p_tenant, p_request, 'wechat_mp',
             jsonb_build_object('lines', jsonb_build_array(jsonb_build_object('sku', p_sku, 'qty', p_qty)),
                                'receiver', jsonb_build_object('name', '张三', 'phone', '13800001234',
                                    'region', p_region, 'city', '杭州市', 'address', '西湖区文三路1号')));
    IF p_pay THEN
        PERFORM commerce.pay_order(p_tenant, r.order_id, 'pay-' || p_request, r.payable_fen);
    END IF;
    RETURN r.order_id;
END $oo$;

-- fixtures, at 2030-01-01 00:00 UTC (08:00 in the tenants' Asia/Shanghai).
-- Tenant t1: SKU TEE (1000 fen, 300 g) 100 received, SKU LIM (1000 fen,
-- 500 g) 2 received. Self-operated orders on wechat_mp to Zhejiang, paid:
-- o_ship (TEE x2), o_ship2 (TEE x1, to Guangdong), o_a (TEE x3), o_b
-- (TEE x1), o_c (TEE x2), o_d (TEE x3), o_e (LIM x1), o_f (TEE x1), o_g
-- (TEE x3); o_unpaid (TEE x1, unpaid), o_cancel (TEE x1, cancelled).
-- Taobao orders: o_tb (TB5001, TEE x1, paid) and o_over (TB5002, LIM x5,
-- paid, an oversell exception: no stock taken). Tenant t2: SKU B1 10
-- received, order o_t2 (B1 x1, paid, to Beijing).
SET LOCAL commerce.now = '2030-01-01 00:00:00+00';
SET LOCAL TimeZone = 'UTC';
SELECT commerce.create_tenant('t1', 'Tenant one') AS t \gset
SELECT commerce.create_tenant('t2', 'Tenant two') AS t2 \gset
SELECT commerce.upsert_product(:t, 'P1', 'Product one') AS p1 \gset
SELECT commerce.upsert_sku(:t, 'P1', 'TEE', 'T-shirt', 1000, p_weight_g => 300) AS tee \gset
SELECT commerce.upsert_sku(:t, 'P1', 'LIM', 'Limited figure', 1000, p_weight_g => 500) AS lim \gset
SELECT commerce.receive_stock(:t, 'rcv-tee', 'TEE', 100) AS pool_tee \gset
SELECT commerce.receive_stock(:t, 'rcv-lim', 'LIM', 2) AS pool_lim \gset
SELECT commerce.upsert_product(:t2, 'Q1', 'Product of t2') AS q1 \gset
SELECT commerce.upsert_sku(:t2, 'Q1', 'B1', 'SKU of t2', 1000, p_weight_g => 100) AS b1 \gset
SELECT commerce.receive_stock(:t2, 'rcv-b1', 'B1', 10) AS pool_b1 \gset

SELECT pg_temp.order_of(:t, 'req-ship', 'TEE', 2) AS o_ship \gset
SELECT pg_temp.order_of(:t, 'req-ship2', 'TEE', 1, true, '广东省') AS o_ship2 \gset
SELECT pg_temp.order_of(:t, 'req-unpaid', 'TEE', 1, false) AS o_unpaid \gset
SELECT pg_temp.order_of(:t, 'req-cancel', 'TEE', 1, false) AS o_cancel \gset
SELECT (commerce.cancel_order(:t, :o_cancel, 'buyer changed mind')).status AS o_cancel_status \gset
SELECT pg_temp.order_of(:t, 'req-a', 'TEE', 3) AS o_a \gset
SELECT pg_temp.order_of(:t, 'req-b', 'TEE', 1) AS o_b \gset
SELECT pg_temp.order_of(:t, 'req-c', 'TEE', 2) AS o_c \gset
SELECT pg_temp.order_of(:t, 'req-d', 'TEE', 3) AS o_d \gset
SELECT pg_temp.order_of(:t, 'req-e', 'LIM', 1) AS o_e \gset
SELECT pg_temp.order_of(:t, 'req-f', 'TEE', 1) AS o_f \gset
SELECT pg_temp.order_of(:t, 'req-g', 'TEE', 3) AS o_g \gset
SELECT order_id AS o_tb FROM commerce.ingest_platform_order(:t, 'taobao', pg_temp.tb('TB5001', 'TEE', 1)) \gset
SELECT order_id AS o_over FROM commerce.ingest_platform_order(:t, 'taobao', pg_temp.tb('TB5002', 'LIM', 5)) \gset
SELECT pg_temp.order_of(:t2, 'req-t2', 'B1', 1, true, '北京市') AS o_t2 \gset

SELECT is((SELECT string_agg(format('%s:%s%s', order_id, status, CASE WHEN oversell THEN '!' ELSE '' END), ' '
                             ORDER BY tenant_id, order_id) FROM commerce.orders),
    format('%s:paid %s:paid %s:pending_payment %s:cancelled %s:paid %s:paid %s:paid %s:paid %s:paid %s:paid %s:paid %s:paid %s:paid! %s:paid',
           :o_ship, :o_ship2, :o_unpaid, :o_cancel, :o_a, :o_b, :o_c, :o_d, :o_e, :o_f, :o_g, :o_tb, :o_over, :o_t2),
    'fixture orders as expected');
SELECT is(pg_temp.stock(), 'TEE@main 100/1/17/82; LIM@main 2/0/1/1; B1@main 10/0/1/9',
    'fixture stock as expected');
SELECT is(pg_temp.counts(),
    'orders 14, shipments 0, after_sale 0, order_events 0, outbox 1, bill_lines 0, recon_differences 0, recon_runs 0',
    'fixture counts as expected (one order.oversell message)');

-- route_carrier ---------------------------------------------------------------
SELECT pg_temp.fingerprint() AS fp \gset
SELECT throws_ok($$SELECT commerce.route_carrier(NULL, '浙江省', 500)$$,
    '22004', 'argument p_tenant must not be null', 'route_carrier: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.route_carrier(%s, NULL, 500)$$, :t),
    '22004', 'argument p_region must not be null', 'route_carrier: NULL region -> 22004');
SELECT throws_ok(format($$SELECT commerce.route_carrier(%s, '浙江省', NULL)$$, :t),
    '22004', 'argument p_weight_g must not be null', 'route_carrier: NULL weight -> 22004');
SELECT throws_ok(format($$SELECT commerce.route_carrier(%s, '浙江省', -1)$$, :t),
    '22023', 'invalid value for p_weight_g', 'route_carrier: weight -1 g -> 22023');
SELECT throws_ok(format($$SELECT commerce.route_carrier(%s, '北京市', -9223372036854775808)$$, :t),
    '22023', 'invalid value for p_weight_g', 'route_carrier: the smallest bigint as weight -> 22023');
-- the defaults (tenant 0): heavy > remote > region > everywhere else
SELECT is(commerce.route_carrier(:t, '浙江省', 500), 'zto', 'route_carrier: Zhejiang 500 g -> zto (region rule)');
SELECT is(commerce.route_carrier(:t, '广东省', 500), 'sf', 'route_carrier: Guangdong 500 g -> sf (region rule)');
SELECT is(commerce.route_carrier(:t, '新疆维吾尔自治区', 500), 'ems', 'route_carrier: Xinjiang 500 g -> ems (remote before region)');
SELECT is(commerce.route_carrier(:t, '北京市', 500), 'yto', 'route_carrier: Beijing 500 g -> yto (the catch-all)');
SELECT is(commerce.route_carrier(:t, '', 0), 'yto', 'route_carrier: no region, 0 g -> yto (the catch-all)');
SELECT is(commerce.route_carrier(:t, '浙江省', 25000), 'deppon', 'route_carrier: Zhejiang 25 kg -> deppon (heavy before region)');
SELECT is(commerce.route_carrier(:t, '新疆维吾尔自治区', 25000), 'deppon', 'route_carrier: Xinjiang 25 kg -> deppon (heavy before remote)');
SELECT is(commerce.route_carrier(:t, '浙江省', 20000), 'zto', 'route_carrier: exactly 20 kg is not heavy -> zto');
SELECT is(commerce.route_carrier(:t, '浙江省', 20001), 'deppon', 'route_carrier: 20001 g is heavy -> deppon');
SELECT is(commerce.route_carrier(:t, '浙江', 500), 'zto', 'route_carrier: the short region name 浙江 -> zto');
SELECT is(commerce.route_carrier(:t, 'Zhejiang', 500), 'yto', 'route_carrier: region names are matched exactly -> yto');
-- a tenant with rules of its own that do not match, and no catch-all
INSERT INTO commerce.routing_rule (tenant_id, priority, regions, carrier) VALUES (:t2, 1, ARRAY['浙江省'], 'jd');
SELECT is(commerce.route_carrier(:t2, '浙江省', 500), 'jd', 'route_carrier: a tenant''s own rule replaces the defaults');
SELECT throws_ok(format($$SELECT commerce.route_carrier(%s, '北京市', 500)$$, :t2),
    'PT404', 'no routing rule matches region "北京市" and 500 g',
    'route_carrier: own rules, none matching, no catch-all -> PT404');
SELECT throws_ok(format($$SELECT commerce.route_carrier(%s, '新疆维吾尔自治区', 25000)$$, :t2),
    'PT404', 'no routing rule matches region "新疆维吾尔自治区" and 25000 g',
    'route_carrier: own rules replace the defaults entirely (no heavy default) -> PT404');
SELECT pg_temp.counts() AS ct \gset
SELECT pg_temp.stock() AS st \gset
SELECT throws_ok(format($$SELECT commerce.ship_order(%s, %s, 'ship-t2')$$, :t2, :o_t2),
    'PT404', 'no routing rule matches region "北京市" and 100 g',
    'ship_order: an order no rule routes -> PT404');
SELECT is((SELECT status::text FROM commerce.orders WHERE tenant_id = :t2 AND order_id = :o_t2), 'paid',
    'ship_order: the unroutable order is still paid');
SELECT is(pg_temp.counts(), :'ct', 'ship_order: no shipment or outbox message for the unroutable order');
-- a remote rule of a tenant without a remote list of its own uses the default list (tenant 0)
INSERT INTO commerce.routing_rule (tenant_id, priority, remote, carrier) VALUES (:t2, 2, true, 'ems-own'), (:t2, 3, NULL, 'yto-own');
SELECT is(commerce.route_carrier(:t2, '新疆维吾尔自治区', 500), 'ems-own',
    'route_carrier: a tenant''s own remote rule matches the default remote regions');
SELECT is(commerce.route_carrier(:t2, '北京市', 500), 'yto-own', 'route_carrier: a tenant''s own catch-all');
DELETE FROM commerce.routing_rule WHERE tenant_id = :t2;
SELECT is(pg_temp.stock(), :'st', 'route_carrier: no stock moved');
SELECT is(pg_temp.fingerprint(), :'fp', 'route_carrier: no commerce table changed (own rules removed again)');

-- ship_order ----------------------------------------------------------------
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.counts() AS ct \gset
SELECT pg_temp.stock() AS st \gset
SELECT throws_ok(format($$SELECT commerce.ship_order(NULL, %s, 'ship-x')$$, :o_ship),
    '22004', 'argument p_tenant must not be null', 'ship_order: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.ship_order(%s, NULL, 'ship-x')$$, :t),
    '22004', 'argument p_order must not be null', 'ship_order: NULL order -> 22004');
SELECT throws_ok(format($$SELECT commerce.ship_order(%s, %s, NULL)$$, :t, :o_ship),
    '22004', 'argument p_request_id must not be null', 'ship_order: NULL request_id -> 22004');
SELECT throws_ok(format($$SELECT commerce.ship_order(%s, 999999, 'ship-x')$$, :t),
    'PT404', 'order "999999" not found', 'ship_order: unknown order -> PT404');
SELECT throws_ok(format($$SELECT commerce.ship_order(999999, %s, 'ship-x')$$, :o_ship),
    'PT404', format('order "%s" not found', :o_ship), 'ship_order: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.ship_order(%s, %s, 'ship-x')$$, :t, :o_t2),
    'PT404', format('order "%s" not found', :o_t2), 'ship_order: another tenant''s order -> PT404');
SELECT throws_ok(format($$SELECT commerce.ship_order(%s, %s, 'ship-x')$$, :t2, :o_ship),
    'PT404', format('order "%s" not found', :o_ship), 'ship_order: an order through another tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.ship_order(%s, %s, 'ship-x')$$, :t, :o_unpaid),
    'PT409', format('order %s cannot be shipped: it is pending_payment', :o_unpaid), 'ship_order: unpaid order -> PT409');
SELECT throws_ok(format($$SELECT commerce.ship_order(%s, %s, 'ship-x')$$, :t, :o_cancel),
    'PT409', format('order %s cannot be shipped: it is cancelled', :o_cancel), 'ship_order: cancelled order -> PT409');
-- a request_id is 1 to 200 characters, as for every other idempotency key (place_order, reserve)
SELECT throws_ok(format($$SELECT pg_temp.or_undo(%L)$$, format($$SELECT commerce.ship_order(%s, %s, '')$$, :t, :o_ship)),
    '22023', 'invalid value for p_request_id', 'ship_order: empty request_id -> 22023');
SELECT throws_ok(format($$SELECT pg_temp.or_undo(%L)$$, format($$SELECT commerce.ship_order(%s, %s, repeat('r', 201))$$, :t, :o_ship)),
    '22023', 'invalid value for p_request_id', 'ship_order: 201-character request_id -> 22023');
SELECT throws_ok(format($$SELECT commerce.ship_order(%s, %s, 'ship-x')$$, :t, :o_over),
    'PT409', format('order %s cannot be shipped: it is an oversell exception', :o_over),
    'ship_order: a paid platform order flagged oversell -> PT409');
SELECT is(pg_temp.hint_of(format($$SELECT commerce.ship_order(%s, %s, 'ship-x')$$, :t, :o_over)),
    'Restock and take its stock, or refund it.', 'ship_order: the oversell refusal says how to resolve it');
SELECT is(pg_temp.counts(), :'ct', 'ship_order: counts unchanged by refused calls');
SELECT is(pg_temp.stock(), :'st', 'ship_order: stock unchanged by refused calls');
SELECT is(pg_temp.fingerprint(), :'fp', 'ship_order: no commerce table changed by refused calls');
-- valid shipments, then the refused repeats
SELECT shipment_id AS sh1, carrier AS sh1_carrier, weight_g AS sh1_weight FROM commerce.ship_order(:t, :o_ship, 'ship-1', 'ZT0001') \gset
SELECT is(format('%s %s', :'sh1_carrier', :'sh1_weight'), 'zto 600', 'ship_order: TEE x2 to Zhejiang -> zto, 600 g');
SELECT is((commerce.ship_order(:t, :o_ship, 'ship-1', 'ZT0001')).shipment_id, :sh1::bigint,
    'ship_order: the same request again -> the same shipment');
SELECT is((commerce.ship_order(:t, :o_ship, 'ship-1')).shipment_id, :sh1::bigint,
    'ship_order: the same request_id without the tracking number -> the same shipment');
SELECT is((commerce.ship_order(:t, :o_ship2, 'ship-2', 'JD0002', 'jd')).carrier, 'jd',
    'ship_order: a carrier given by the caller is used');
SELECT shipment_id AS sh_tb FROM commerce.ship_order(:t, :o_tb, 'ship-tb', 'SF0003') \gset
SELECT is((SELECT string_agg(format('%s:%s', order_id, status), ' ' ORDER BY order_id) FROM commerce.orders
            WHERE order_id IN (:o_ship, :o_ship2, :o_tb)),
    format('%s:shipped %s:shipped %s:shipped', :o_ship, :o_ship2, :o_tb), 'ship_order: the shipped orders are shipped');
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.counts() AS ct \gset
SELECT throws_ok(format($$SELECT commerce.ship_order(%s, %s, 'ship-1b')$$, :t, :o_ship),
    'PT409', format('order %s cannot be shipped: it is shipped', :o_ship),
    'ship_order: an order already shipped, with a new request_id -> PT409');
SELECT throws_ok(format($$SELECT commerce.ship_order(%s, %s, 'ship-1')$$, :t, :o_a),
    '23505', format('request_id "ship-1" was already used to ship order %s', :o_ship),
    'ship_order: a request_id reused for another order -> 23505');
SELECT is(pg_temp.counts(), :'ct', 'ship_order: counts unchanged by the refused repeats');
SELECT is(pg_temp.fingerprint(), :'fp', 'ship_order: no commerce table changed by the refused repeats');
SELECT is((SELECT count(*) FROM commerce.shipment), 3::bigint, 'ship_order: three shipments');
SELECT is((SELECT count(*) FROM commerce.shipment s
            WHERE (SELECT count(*) FROM commerce.outbox m WHERE m.tenant_id = s.tenant_id AND m.topic = 'waybill.print'
                      AND (m.payload ->> 'shipment_id')::bigint = s.shipment_id) = 1), 3::bigint,
    'ship_order: one waybill.print message per shipment');
SELECT is((SELECT count(*) FROM commerce.outbox WHERE topic = 'waybill.print'), 3::bigint,
    'ship_order: no other waybill.print message (the repeat queued none)');
SELECT is((SELECT string_agg(format('%s %s %s %s', payload ->> 'channel', payload ->> 'external_order_id',
                                    payload ->> 'carrier', payload ->> 'tracking_no'), '; ')
             FROM commerce.outbox WHERE topic = 'platform.writeback'), 'taobao TB5001 sf SF0003',
    'ship_order: one platform.writeback, for the platform order only');

-- merge_suggestions, split_suggestions ------------------------------------------------
SELECT pg_temp.fingerprint() AS fp \gset
SELECT throws_ok($$SELECT * FROM commerce.merge_suggestions(NULL)$$,
    '22004', 'argument p_tenant must not be null', 'merge_suggestions: NULL tenant -> 22004');
SELECT throws_ok($$SELECT * FROM commerce.merge_suggestions(999999)$$,
    'PT404', 'tenant "999999" not found', 'merge_suggestions: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT * FROM commerce.split_suggestions(NULL, %s)$$, :o_a),
    '22004', 'argument p_tenant must not be null', 'split_suggestions: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT * FROM commerce.split_suggestions(%s, NULL)$$, :t),
    '22004', 'argument p_order must not be null', 'split_suggestions: NULL order -> 22004');
SELECT throws_ok(format($$SELECT * FROM commerce.split_suggestions(999999, %s)$$, :o_a),
    'PT404', format('order "%s" not found', :o_a), 'split_suggestions: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT * FROM commerce.split_suggestions(%s, 999999)$$, :t),
    'PT404', 'order "999999" not found', 'split_suggestions: unknown order -> PT404');
SELECT throws_ok(format($$SELECT * FROM commerce.split_suggestions(%s, %s)$$, :t, :o_t2),
    'PT404', format('order "%s" not found', :o_t2), 'split_suggestions: another tenant''s order -> PT404');
SELECT is((SELECT count(*) FROM commerce.merge_suggestions(:t2)), 0::bigint,
    'merge_suggestions: a tenant with one paid order -> no suggestion');
SELECT is((SELECT count(*) FROM commerce.split_suggestions(:t, :o_a)), 0::bigint,
    'split_suggestions: one SKU from one warehouse, 900 g -> no reason to split');
SELECT is(pg_temp.fingerprint(), :'fp', 'merge_suggestions, split_suggestions: no commerce table changed');

-- request_after_sale: refused requests ---------------------------------------------------
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.counts() AS ct \gset
SELECT pg_temp.stock() AS st \gset
SELECT throws_ok(format($$SELECT commerce.request_after_sale(NULL, 'as-x', %s, 'refund_only', 100)$$, :o_a),
    '22004', 'argument p_tenant must not be null', 'request_after_sale: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, NULL, %s, 'refund_only', 100)$$, :t, :o_a),
    '22004', 'argument p_request_id must not be null', 'request_after_sale: NULL request_id -> 22004');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', NULL, 'refund_only', 100)$$, :t),
    '22004', 'argument p_order must not be null', 'request_after_sale: NULL order -> 22004');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', %s, NULL, 100)$$, :t, :o_a),
    '22004', 'argument p_kind must not be null', 'request_after_sale: NULL kind -> 22004');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', %s, 'refund_only', NULL)$$, :t, :o_a),
    '22004', 'argument p_refund_fen must not be null', 'request_after_sale: NULL refund -> 22004');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, '', %s, 'refund_only', 100)$$, :t, :o_a),
    '23514', 'new row for relation "after_sale" violates check constraint "after_sale_request_id_check"',
    'request_after_sale: empty request_id -> 23514 (table CHECK)');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, repeat('r', 201), %s, 'refund_only', 100)$$, :t, :o_a),
    '23514', 'new row for relation "after_sale" violates check constraint "after_sale_request_id_check"',
    'request_after_sale: 201-character request_id -> 23514 (table CHECK)');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', 999999, 'refund_only', 100)$$, :t),
    'PT404', 'order "999999" not found', 'request_after_sale: unknown order -> PT404');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(999999, 'as-x', %s, 'refund_only', 100)$$, :o_a),
    'PT404', format('order "%s" not found', :o_a), 'request_after_sale: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', %s, 'refund_only', 100)$$, :t, :o_t2),
    'PT404', format('order "%s" not found', :o_t2), 'request_after_sale: another tenant''s order -> PT404');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', %s, 'refund_only', 100)$$, :t, :o_unpaid),
    'PT409', format('order %s cannot take an after-sale request: it is pending_payment', :o_unpaid),
    'request_after_sale: unpaid order -> PT409');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', %s, 'refund_only', 100)$$, :t, :o_cancel),
    'PT409', format('order %s cannot take an after-sale request: it is cancelled', :o_cancel),
    'request_after_sale: cancelled order -> PT409');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', %s, 'swap', 100)$$, :t, :o_a),
    '22023', 'invalid value for p_kind', 'request_after_sale: unknown kind "swap" -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', %s, 'REFUND_ONLY', 100)$$, :t, :o_a),
    '22023', 'invalid value for p_kind', 'request_after_sale: kinds are case-sensitive -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', %s, '', 100)$$, :t, :o_a),
    '22023', 'invalid value for p_kind', 'request_after_sale: empty kind -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', %s, 'refund_only', 0)$$, :t, :o_a),
    '22023', 'invalid value for p_refund_fen', 'request_after_sale: refund_only of 0 fen -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', %s, 'refund_only', 3001)$$, :t, :o_a),
    '22023', 'invalid value for p_refund_fen', 'request_after_sale: refund 3001 of an order paid 3000 -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', %s, 'refund_only', -1)$$, :t, :o_a),
    '22023', 'invalid value for p_refund_fen', 'request_after_sale: negative refund -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', %s, 'return_refund', 0, NULL, '[{"sku":"TEE","qty":1}]')$$, :t, :o_a),
    '22023', 'invalid value for p_refund_fen', 'request_after_sale: return_refund of 0 fen -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', %s, 'exchange', 100, NULL, '[{"sku":"TEE","qty":1}]')$$, :t, :o_a),
    '22023', 'invalid value for p_refund_fen', 'request_after_sale: an exchange with a refund -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', %s, 'return_refund', 1000)$$, :t, :o_a),
    '22023', 'invalid value for p_lines', 'request_after_sale: a return without lines -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', %s, 'exchange', 0)$$, :t, :o_a),
    '22023', 'invalid value for p_lines', 'request_after_sale: an exchange without lines -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', %s, 'return_refund', 1000, NULL, '[]')$$, :t, :o_a),
    '22023', 'invalid value for p_lines', 'request_after_sale: a return with empty lines -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', %s, 'return_refund', 1000, NULL, '{"sku":"TEE","qty":1}')$$, :t, :o_a),
    '22023', 'invalid value for p_lines', 'request_after_sale: lines not an array -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', %s, 'return_refund', 1000, NULL, '["TEE"]')$$, :t, :o_a),
    '22023', 'invalid value for p_lines', 'request_after_sale: a line that is not an object -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', %s, 'return_refund', 1000, NULL, '[{"sku":"LIM","qty":1}]')$$, :t, :o_a),
    '22023', 'invalid value for p_lines', 'request_after_sale: a SKU of the tenant not in the order -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', %s, 'return_refund', 1000, NULL, '[{"sku":"NOPE","qty":1}]')$$, :t, :o_a),
    '22023', 'invalid value for p_lines', 'request_after_sale: an unknown SKU -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', %s, 'return_refund', 1000, NULL, '[{"sku":"B1","qty":1}]')$$, :t, :o_a),
    '22023', 'invalid value for p_lines', 'request_after_sale: another tenant''s SKU -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', %s, 'return_refund', 1000, NULL, '[{"qty":1}]')$$, :t, :o_a),
    '22023', 'invalid value for p_lines', 'request_after_sale: a line without a SKU -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', %s, 'return_refund', 1000, NULL, '[{"sku":"TEE"}]')$$, :t, :o_a),
    '22023', 'invalid value for p_lines', 'request_after_sale: a line without a qty -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', %s, 'return_refund', 1000, NULL, '[{"sku":"TEE","qty":4}]')$$, :t, :o_a),
    '22023', 'invalid value for p_lines', 'request_after_sale: qty 4 of 3 bought -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', %s, 'exchange', 0, NULL, '[{"sku":"TEE","qty":4}]')$$, :t, :o_a),
    '22023', 'invalid value for p_lines', 'request_after_sale: an exchange of 4 of 3 bought -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', %s, 'return_refund', 1000, NULL, '[{"sku":"TEE","qty":0}]')$$, :t, :o_a),
    '22023', 'invalid value for p_lines', 'request_after_sale: qty 0 -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', %s, 'return_refund', 1000, NULL, '[{"sku":"TEE","qty":-1}]')$$, :t, :o_a),
    '22023', 'invalid value for p_lines', 'request_after_sale: qty -1 -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', %s, 'return_refund', 1000, NULL, '[{"sku":"TEE","qty":1.5}]')$$, :t, :o_a),
    '22023', 'invalid value for p_lines', 'request_after_sale: qty 1.5 -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', %s, 'return_refund', 1000, NULL, '[{"sku":"TEE","qty":"1"}]')$$, :t, :o_a),
    '22023', 'invalid value for p_lines', 'request_after_sale: qty "1" (a string) -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', %s, 'return_refund', 1000, NULL, '[{"sku":"TEE","qty":"one"}]')$$, :t, :o_a),
    '22023', 'invalid value for p_lines', 'request_after_sale: qty "one" -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-x', %s, 'return_refund', 1000, NULL, '[{"sku":"TEE","qty":1},{"sku":"LIM","qty":1}]')$$, :t, :o_a),
    '22023', 'invalid value for p_lines', 'request_after_sale: one good line and one not of the order -> 22023');
-- the lines of a request together return at most what was bought, however they are split
SELECT throws_ok(format($$SELECT pg_temp.or_undo(%L)$$,
        format($$SELECT commerce.request_after_sale(%s, 'as-x', %s, 'return_refund', 1000, NULL, '[{"sku":"TEE","qty":2},{"sku":"TEE","qty":2}]')$$, :t, :o_g)),
    '22023', 'invalid value for p_lines', 'request_after_sale: two lines of one SKU, 4 of 3 bought together -> 22023');
SELECT is((SELECT string_agg(format('%s:%s', order_id, status), ' ' ORDER BY order_id) FROM commerce.orders
            WHERE order_id IN (:o_a, :o_g, :o_unpaid, :o_cancel)),
    format('%s:pending_payment %s:cancelled %s:paid %s:paid', :o_unpaid, :o_cancel, :o_a, :o_g),
    'request_after_sale: the orders of refused requests keep their status');
SELECT is(pg_temp.counts(), :'ct', 'request_after_sale: counts unchanged by refused requests');
SELECT is(pg_temp.stock(), :'st', 'request_after_sale: stock unchanged by refused requests');
SELECT is(pg_temp.fingerprint(), :'fp', 'request_after_sale: no commerce table changed by refused requests');

-- request_after_sale: requests, repeats, one open request per order ------------------------
-- a_ro: refund only of 1000 on o_a; a_rej: refund only of 500 on o_b (to be
-- rejected); a_req: return of TEE x1 on o_c (left requested); a_ret: return
-- of TEE x2 on o_d; a_ex: exchange of LIM x1 on o_e; a_f: return of TEE x1 on o_f.
SELECT after_sale_id AS a_ro, status AS a_ro_status FROM commerce.request_after_sale(:t, 'as-ro', :o_a, 'refund_only', 1000, 'late') \gset
SELECT after_sale_id AS a_rej FROM commerce.request_after_sale(:t, 'as-rej', :o_b, 'refund_only', 500) \gset
SELECT after_sale_id AS a_req FROM commerce.request_after_sale(:t, 'as-req', :o_c, 'return_refund', 1000, NULL, '[{"sku":"TEE","qty":1}]') \gset
SELECT after_sale_id AS a_ret FROM commerce.request_after_sale(:t, 'as-ret', :o_d, 'return_refund', 2000, 'too big', '[{"sku":"TEE","qty":2}]') \gset
SELECT after_sale_id AS a_ex FROM commerce.request_after_sale(:t, 'as-ex', :o_e, 'exchange', 0, 'scratched', '[{"sku":"LIM","qty":1}]') \gset
SELECT after_sale_id AS a_f FROM commerce.request_after_sale(:t, 'as-f', :o_f, 'return_refund', 1000, NULL, '[{"sku":"TEE","qty":1}]') \gset
SELECT is(format('%s %s', :'a_ro_status', (SELECT status FROM commerce.orders WHERE tenant_id = :t AND order_id = :o_a)),
    'requested after_sale', 'request_after_sale: a request starts requested and the order is after_sale');
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.counts() AS ct \gset
SELECT is((commerce.request_after_sale(:t, 'as-ro', :o_a, 'refund_only', 1000, 'late')).after_sale_id, :a_ro::bigint,
    'request_after_sale: the same request again -> the same request');
SELECT is((commerce.request_after_sale(:t, 'as-ret', :o_d, 'return_refund', 2000, 'too big', '[{"sku":"TEE","qty":2}]')).after_sale_id, :a_ret::bigint,
    'request_after_sale: the same return again -> the same request');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-ro2', %s, 'refund_only', 100)$$, :t, :o_a),
    'PT409', format('order %s cannot take an after-sale request: it is after_sale', :o_a),
    'request_after_sale: a second request while one is open -> PT409');
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as-ro2', %s, 'return_refund', 100, NULL, '[{"sku":"TEE","qty":1}]')$$, :t, :o_c),
    'PT409', format('order %s cannot take an after-sale request: it is after_sale', :o_c),
    'request_after_sale: a second request (a return) while one is open -> PT409');
-- a request_id names one request: reusing it for another order is 23505, as in ship_order
SELECT throws_ok(format($$SELECT pg_temp.or_undo(%L)$$,
        format($$SELECT commerce.request_after_sale(%s, 'as-ro', %s, 'refund_only', 100)$$, :t, :o_g)),
    '23505', NULL, 'request_after_sale: a request_id reused for another order -> 23505');
SELECT throws_ok(format($$SELECT commerce.ship_order(%s, %s, 'ship-as')$$, :t, :o_a),
    'PT409', format('order %s cannot be shipped: it is after_sale', :o_a), 'ship_order: an order in after_sale -> PT409');
SELECT is(pg_temp.counts(), :'ct', 'request_after_sale: the repeats and refusals created nothing');
SELECT is(pg_temp.fingerprint(), :'fp', 'request_after_sale: no commerce table changed by the repeats and refusals');

-- decide_after_sale ---------------------------------------------------------------------------
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.counts() AS ct \gset
SELECT throws_ok(format($$SELECT commerce.decide_after_sale(%s, %s, NULL)$$, :t, :a_ro),
    '22004', 'argument p_approve must not be null', 'decide_after_sale: NULL approve -> 22004');
SELECT throws_ok(format($$SELECT commerce.decide_after_sale(NULL, %s, true)$$, :a_ro),
    '22004', 'argument p_tenant must not be null', 'decide_after_sale: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.decide_after_sale(%s, NULL, true)$$, :t),
    '22004', 'argument p_after_sale must not be null', 'decide_after_sale: NULL request -> 22004');
SELECT throws_ok(format($$SELECT commerce.decide_after_sale(%s, 999999, true)$$, :t),
    'PT404', 'after-sale request "999999" not found', 'decide_after_sale: unknown request -> PT404');
SELECT throws_ok(format($$SELECT commerce.decide_after_sale(%s, %s, true)$$, :t2, :a_ro),
    'PT404', format('after-sale request "%s" not found', :a_ro), 'decide_after_sale: another tenant''s request -> PT404');
SELECT throws_ok(format($$SELECT commerce.decide_after_sale(999999, %s, true)$$, :a_ro),
    'PT404', format('after-sale request "%s" not found', :a_ro), 'decide_after_sale: unknown tenant -> PT404');
SELECT is(pg_temp.counts(), :'ct', 'decide_after_sale: counts unchanged by refused calls');
SELECT is(pg_temp.fingerprint(), :'fp', 'decide_after_sale: no commerce table changed by refused calls');
SELECT is((commerce.decide_after_sale(:t, :a_ro, true, 'ok')).status, 'approved', 'decide_after_sale: approve a refund');
SELECT is((SELECT count(*) FROM commerce.outbox WHERE topic = 'payment.refund' AND (payload ->> 'after_sale_id')::bigint = :a_ro),
    1::bigint, 'decide_after_sale: approving a refund only asks the gateway for the refund');
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.counts() AS ct \gset
SELECT is((commerce.decide_after_sale(:t, :a_ro, true, 'ok')).status, 'approved', 'decide_after_sale: approving again -> approved');
SELECT is(pg_temp.fingerprint(), :'fp', 'decide_after_sale: approving again changed nothing (no second refund asked for)');
SELECT throws_ok(format($$SELECT commerce.decide_after_sale(%s, %s, false)$$, :t, :a_ro),
    'PT409', 'after_sale cannot go from approved to rejected', 'decide_after_sale: rejecting an approved request -> PT409');
SELECT is((commerce.decide_after_sale(:t, :a_rej, false, 'used')).status, 'rejected', 'decide_after_sale: reject a request');
SELECT is((SELECT status::text FROM commerce.orders WHERE tenant_id = :t AND order_id = :o_b), 'paid',
    'decide_after_sale: a rejected request puts the order back to paid');
SELECT pg_temp.fingerprint() AS fp \gset
SELECT is((commerce.decide_after_sale(:t, :a_rej, false, 'used')).status, 'rejected', 'decide_after_sale: rejecting again -> rejected');
SELECT throws_ok(format($$SELECT commerce.decide_after_sale(%s, %s, true)$$, :t, :a_rej),
    'PT409', 'after_sale cannot go from rejected to approved', 'decide_after_sale: approving a rejected request -> PT409');
SELECT is(pg_temp.fingerprint(), :'fp', 'decide_after_sale: the repeat and the refusal changed nothing');
SELECT is(format('%s %s %s', (commerce.decide_after_sale(:t, :a_ret, true)).status,
                 (commerce.decide_after_sale(:t, :a_ex, true)).status, (commerce.decide_after_sale(:t, :a_f, true)).status),
    'approved approved approved', 'decide_after_sale: approve the return, the exchange and the second return');
SELECT is((SELECT count(*) FROM commerce.outbox WHERE topic = 'payment.refund'
            AND (payload ->> 'after_sale_id')::bigint IN (:a_ret, :a_ex, :a_f)), 0::bigint,
    'decide_after_sale: approving returns and exchanges asks for no refund yet');

-- receive_returned_goods --------------------------------------------------------------------
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.counts() AS ct \gset
SELECT pg_temp.stock() AS st \gset
SELECT throws_ok(format($$SELECT commerce.receive_returned_goods(NULL, %s)$$, :a_ret),
    '22004', 'argument p_tenant must not be null', 'receive_returned_goods: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.receive_returned_goods(%s, NULL)$$, :t),
    '22004', 'argument p_after_sale must not be null', 'receive_returned_goods: NULL request -> 22004');
SELECT throws_ok(format($$SELECT commerce.receive_returned_goods(%s, 999999)$$, :t),
    'PT404', 'after-sale request "999999" not found', 'receive_returned_goods: unknown request -> PT404');
SELECT throws_ok(format($$SELECT commerce.receive_returned_goods(%s, %s)$$, :t2, :a_ret),
    'PT404', format('after-sale request "%s" not found', :a_ret), 'receive_returned_goods: another tenant''s request -> PT404');
SELECT throws_ok(format($$SELECT commerce.receive_returned_goods(%s, %s)$$, :t, :a_ro),
    '22023', 'invalid value for p_after_sale', 'receive_returned_goods: a refund only (approved) -> 22023');
SELECT throws_ok(format($$SELECT commerce.receive_returned_goods(%s, %s)$$, :t, :a_rej),
    '22023', 'invalid value for p_after_sale', 'receive_returned_goods: a refund only (rejected) -> 22023');
SELECT throws_ok(format($$SELECT commerce.receive_returned_goods(%s, %s)$$, :t, :a_req),
    'PT409', 'after_sale cannot go from requested to goods_returned',
    'receive_returned_goods: a return not yet approved -> PT409 (state trigger)');
SELECT is(pg_temp.stock(), :'st', 'receive_returned_goods: no stock came back for refused calls');
SELECT is(pg_temp.counts(), :'ct', 'receive_returned_goods: counts unchanged by refused calls');
SELECT is(pg_temp.fingerprint(), :'fp', 'receive_returned_goods: no commerce table changed by refused calls');
SELECT is(:'st'::text, 'TEE@main 100/1/17/82; LIM@main 2/0/1/1; B1@main 10/0/1/9', 'receive_returned_goods: stock before the return');
SELECT is((commerce.receive_returned_goods(:t, :a_ret)).status, 'goods_returned', 'receive_returned_goods: the return came back');
SELECT is(pg_temp.stock(), 'TEE@main 100/1/15/84; LIM@main 2/0/1/1; B1@main 10/0/1/9',
    'receive_returned_goods: the two shirts are sellable again');
SELECT pg_temp.fingerprint() AS fp \gset
SELECT is((commerce.receive_returned_goods(:t, :a_ret)).status, 'goods_returned', 'receive_returned_goods: called again -> goods_returned');
SELECT is(pg_temp.stock(), 'TEE@main 100/1/15/84; LIM@main 2/0/1/1; B1@main 10/0/1/9',
    'receive_returned_goods: called again, the stock came back once');
SELECT is(pg_temp.fingerprint(), :'fp', 'receive_returned_goods: called again, nothing changed');
SELECT is((SELECT count(*) FROM commerce.outbox WHERE topic = 'payment.refund' AND (payload ->> 'after_sale_id')::bigint = :a_ret),
    1::bigint, 'receive_returned_goods: one refund asked for the return');

-- complete_refund ---------------------------------------------------------------------------
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.counts() AS ct \gset
SELECT pg_temp.stock() AS st \gset
SELECT throws_ok(format($$SELECT commerce.complete_refund(NULL, %s)$$, :a_ro),
    '22004', 'argument p_tenant must not be null', 'complete_refund: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.complete_refund(%s, NULL)$$, :t),
    '22004', 'argument p_after_sale must not be null', 'complete_refund: NULL request -> 22004');
SELECT throws_ok(format($$SELECT commerce.complete_refund(%s, 999999)$$, :t),
    'PT404', 'after-sale request "999999" not found', 'complete_refund: unknown request -> PT404');
SELECT throws_ok(format($$SELECT commerce.complete_refund(%s, %s)$$, :t2, :a_ro),
    'PT404', format('after-sale request "%s" not found', :a_ro), 'complete_refund: another tenant''s request -> PT404');
SELECT throws_ok(format($$SELECT commerce.complete_refund(%s, %s)$$, :t, :a_ex),
    '22023', 'invalid value for p_after_sale', 'complete_refund: an exchange -> 22023');
SELECT throws_ok(format($$SELECT commerce.complete_refund(%s, %s)$$, :t, :a_rej),
    'PT409', 'after_sale cannot go from rejected to refunded', 'complete_refund: a rejected request -> PT409');
SELECT throws_ok(format($$SELECT commerce.complete_refund(%s, %s)$$, :t, :a_req),
    'PT409', 'after_sale cannot go from requested to refunded', 'complete_refund: a request not yet approved -> PT409');
-- approved -> refunded is for refunds only (table comment); a return is refunded once its goods are back
SELECT throws_ok(format($$SELECT pg_temp.or_undo(%L)$$, format($$SELECT commerce.complete_refund(%s, %s)$$, :t, :a_f)),
    'PT409', 'after_sale cannot go from approved to refunded',
    'complete_refund: an approved return whose goods have not come back -> PT409');
SELECT is((SELECT format('%s/%s', paid_fen, refunded_fen) FROM commerce.orders WHERE tenant_id = :t AND order_id = :o_f), '1000/0',
    'complete_refund: nothing refunded on the return whose goods are still out');
SELECT is(pg_temp.stock(), :'st', 'complete_refund: stock unchanged by refused calls');
SELECT is(pg_temp.counts(), :'ct', 'complete_refund: counts unchanged by refused calls (no order_event)');
SELECT is(pg_temp.fingerprint(), :'fp', 'complete_refund: no commerce table changed by refused calls');
-- completed twice: one event, refunded once
SELECT is((commerce.complete_refund(:t, :a_ro)).status, 'refunded', 'complete_refund: the refund only is refunded');
SELECT pg_temp.fingerprint() AS fp \gset
SELECT is((commerce.complete_refund(:t, :a_ro)).status, 'refunded', 'complete_refund: completed again -> refunded');
SELECT is(pg_temp.fingerprint(), :'fp', 'complete_refund: completing again changed nothing');
SELECT is((SELECT format('%s %s/%s', status, paid_fen, refunded_fen) FROM commerce.orders WHERE tenant_id = :t AND order_id = :o_a),
    'paid 3000/1000', 'complete_refund: refunded_fen counts the refund once; the partly refunded order is paid again');
SELECT is((SELECT string_agg(format('%s %s %s', kind, amount_fen, lines), '; ') FROM commerce.order_event
            WHERE tenant_id = :t AND order_id = :o_a), 'refund 1000 []',
    'complete_refund: one refund event for the request');
SELECT is((commerce.complete_refund(:t, :a_ret)).status, 'refunded', 'complete_refund: the return is refunded');
SELECT is((commerce.complete_refund(:t, :a_ret)).status, 'refunded', 'complete_refund: the return completed again -> refunded');
SELECT is((SELECT format('%s %s/%s', status, paid_fen, refunded_fen) FROM commerce.orders WHERE tenant_id = :t AND order_id = :o_d),
    'paid 3000/2000', 'complete_refund: the return''s 2000 fen counted once');
SELECT is((SELECT count(*) FROM commerce.order_event WHERE tenant_id = :t), 2::bigint,
    'complete_refund: two requests completed twice each -> two order_event rows');
SELECT is((SELECT string_agg(format('%s %s', amount_fen, lines), '; ') FROM commerce.order_event
            WHERE tenant_id = :t AND order_id = :o_d), '2000 [{"qty": 2, "sku": "TEE"}]',
    'complete_refund: the return''s event carries its lines');
-- a later return of more than is left to return (2 of 3 came back already): refused
-- when asked, not when the goods arrive (return_stock would refuse them then, 22023)
SELECT pg_temp.fingerprint() AS fp \gset
SELECT throws_ok(format($$SELECT pg_temp.or_undo(%L)$$,
        format($$SELECT commerce.request_after_sale(%s, 'as-d2', %s, 'return_refund', 1000, NULL, '[{"sku":"TEE","qty":2}]')$$, :t, :o_d)),
    '22023', 'invalid value for p_lines', 'request_after_sale: a return of 2 when 1 of 3 is left to return -> 22023');
SELECT is(pg_temp.fingerprint(), :'fp', 'request_after_sale: the return of too many changed nothing');

-- complete_exchange -------------------------------------------------------------------------
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.counts() AS ct \gset
SELECT pg_temp.stock() AS st \gset
SELECT throws_ok(format($$SELECT commerce.complete_exchange(NULL, %s)$$, :a_ex),
    '22004', 'argument p_tenant must not be null', 'complete_exchange: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.complete_exchange(%s, NULL)$$, :t),
    '22004', 'argument p_after_sale must not be null', 'complete_exchange: NULL request -> 22004');
SELECT throws_ok(format($$SELECT commerce.complete_exchange(%s, 999999)$$, :t),
    'PT404', 'after-sale request "999999" not found', 'complete_exchange: unknown request -> PT404');
SELECT throws_ok(format($$SELECT commerce.complete_exchange(%s, %s)$$, :t2, :a_ex),
    'PT404', format('after-sale request "%s" not found', :a_ex), 'complete_exchange: another tenant''s request -> PT404');
SELECT throws_ok(format($$SELECT commerce.complete_exchange(%s, %s)$$, :t, :a_ro),
    '22023', 'invalid value for p_after_sale', 'complete_exchange: a refund only -> 22023');
SELECT throws_ok(format($$SELECT commerce.complete_exchange(%s, %s)$$, :t, :a_req),
    '22023', 'invalid value for p_after_sale', 'complete_exchange: a return -> 22023');
SELECT throws_ok(format($$SELECT commerce.complete_exchange(%s, %s)$$, :t, :a_ex),
    'PT409', 'after_sale cannot go from approved to exchanged', 'complete_exchange: goods not yet returned -> PT409');
SELECT is(pg_temp.stock(), :'st', 'complete_exchange: stock unchanged by refused calls');
SELECT is(pg_temp.counts(), :'ct', 'complete_exchange: counts unchanged by refused calls');
SELECT is(pg_temp.fingerprint(), :'fp', 'complete_exchange: no commerce table changed by refused calls');
-- the figure comes back, then every LIM is held by a cart: no replacement to send
SELECT is((commerce.receive_returned_goods(:t, :a_ex)).status, 'goods_returned', 'complete_exchange: the exchanged figure came back');
SELECT (commerce.reserve_sku(:t, 'hog', 'cart-hog', 'LIM', 2)).reservation_id AS hog \gset
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.counts() AS ct \gset
SELECT pg_temp.stock() AS st \gset
SELECT is(:'st'::text, 'TEE@main 100/1/15/84; LIM@main 2/2/0/0; B1@main 10/0/1/9', 'complete_exchange: no LIM available');
SELECT throws_ok(format($$SELECT commerce.complete_exchange(%s, %s)$$, :t, :a_ex),
    'PT409', 'insufficient stock for SKU "LIM"', 'complete_exchange: no stock for the replacement -> PT409');
SELECT is((SELECT format('%s %s', a.status, o.status) FROM commerce.after_sale a JOIN commerce.orders o USING (tenant_id, order_id)
            WHERE a.tenant_id = :t AND a.after_sale_id = :a_ex), 'goods_returned after_sale',
    'complete_exchange: after PT409 the request is still goods_returned and the order after_sale');
SELECT is(pg_temp.stock(), :'st', 'complete_exchange: after PT409 no stock taken');
SELECT is(pg_temp.counts(), :'ct', 'complete_exchange: after PT409 counts unchanged');
SELECT is(pg_temp.fingerprint(), :'fp', 'complete_exchange: after PT409 no commerce table changed');
SELECT is((commerce.release_reservation(:t, :hog, 'hog-release')).status, 'released', 'complete_exchange: the cart lets go');
SELECT is((commerce.complete_exchange(:t, :a_ex)).status, 'exchanged', 'complete_exchange: now the replacement goes out');
SELECT is(pg_temp.stock(), 'TEE@main 100/1/15/84; LIM@main 2/0/1/1; B1@main 10/0/1/9', 'complete_exchange: one LIM sold for the replacement');
SELECT pg_temp.fingerprint() AS fp \gset
SELECT is((commerce.complete_exchange(:t, :a_ex)).status, 'exchanged', 'complete_exchange: completed again -> exchanged');
SELECT is(pg_temp.fingerprint(), :'fp', 'complete_exchange: completing again changed nothing (no second replacement)');
SELECT is((SELECT status::text FROM commerce.orders WHERE tenant_id = :t AND order_id = :o_e), 'paid',
    'complete_exchange: the order is back to paid');

-- direct writes: order_event is append-only, after_sale follows its state machine ---------------
SELECT pg_temp.fingerprint() AS fp \gset
SELECT throws_ok(format($$SELECT pg_temp.or_undo(%L)$$, 'UPDATE commerce.order_event SET amount_fen = 0'),
    'PT403', 'order_event is append-only', 'order_event: UPDATE -> PT403');
SELECT throws_ok(format($$SELECT pg_temp.or_undo(%L)$$, 'DELETE FROM commerce.order_event'),
    'PT403', 'order_event is append-only', 'order_event: DELETE -> PT403');
-- like stock_movement and order_status_history, the ledger cannot be truncated either
SELECT throws_ok(format($$SELECT pg_temp.or_undo(%L)$$, 'TRUNCATE commerce.order_event'),
    'PT403', 'order_event is append-only', 'order_event: TRUNCATE -> PT403');
SELECT throws_ok(format($$SELECT pg_temp.or_undo(%L)$$,
        format($$INSERT INTO commerce.after_sale (tenant_id, order_id, request_id, kind, status, refund_fen) VALUES (%s, %s, 'as-direct', 'refund_only', 'approved', 100)$$, :t, :o_g)),
    'PT409', 'a new after_sale row cannot start as approved', 'after_sale: INSERT of an approved row -> PT409');
SELECT throws_ok(format($$SELECT pg_temp.or_undo(%L)$$,
        format($$INSERT INTO commerce.after_sale (tenant_id, order_id, request_id, kind, status, refund_fen) VALUES (%s, %s, 'as-direct', 'refund_only', 'refunded', 100)$$, :t, :o_g)),
    'PT409', 'a new after_sale row cannot start as refunded', 'after_sale: INSERT of a refunded row -> PT409');
SELECT throws_ok(format($$SELECT pg_temp.or_undo(%L)$$,
        format($$UPDATE commerce.after_sale SET status = 'requested' WHERE tenant_id = %s AND after_sale_id = %s$$, :t, :a_ro)),
    'PT409', 'after_sale cannot go from refunded to requested', 'after_sale: UPDATE refunded -> requested -> PT409');
SELECT throws_ok(format($$SELECT pg_temp.or_undo(%L)$$,
        format($$UPDATE commerce.after_sale SET status = 'goods_returned' WHERE tenant_id = %s AND after_sale_id = %s$$, :t, :a_ex)),
    'PT409', 'after_sale cannot go from exchanged to goods_returned', 'after_sale: UPDATE exchanged -> goods_returned -> PT409');
SELECT throws_ok(format($$SELECT pg_temp.or_undo(%L)$$,
        format($$UPDATE commerce.after_sale SET status = 'approved' WHERE tenant_id = %s AND after_sale_id = %s$$, :t, :a_rej)),
    'PT409', 'after_sale cannot go from rejected to approved', 'after_sale: UPDATE rejected -> approved -> PT409');
SELECT throws_ok(format($$SELECT pg_temp.or_undo(%L)$$,
        format($$UPDATE commerce.after_sale SET status = 'refunded' WHERE tenant_id = %s AND after_sale_id = %s$$, :t, :a_req)),
    'PT409', 'after_sale cannot go from requested to refunded', 'after_sale: UPDATE requested -> refunded -> PT409');
SELECT is(pg_temp.fingerprint(), :'fp', 'direct writes: no commerce table changed');

-- reconcile_bill ----------------------------------------------------------------------------
-- t1's wechat_mp orders paid on 2030-01-01 (Asia/Shanghai): 9 orders, 17000 fen
-- paid, 3000 refunded (o_a 1000, o_d 2000). The bill names two of them and an
-- order we do not have.
\set bill '[{"order_id":"req-ship","amount_fen":2000},{"order_id":"req-a","amount_fen":3000,"refund_fen":1000},{"order_id":"X9","amount_fen":500}]'
CREATE FUNCTION pg_temp.figures(r commerce.recon_run_row) RETURNS text LANGUAGE sql AS $fg$
    SELECT format('orders %s/%s fen %s/%s refund %s/%s differences %s', r.our_orders, r.bill_orders,
                  r.our_fen, r.bill_fen, r.our_refund, r.bill_refund, r.differences);
$fg$;
SELECT pg_temp.figures(commerce.reconcile_bill(:t, 'wechat_mp', '2030-01-01', :'bill')) AS run1 \gset
SELECT is(:'run1'::text, 'orders 9/3 fen 17000/5500 refund 3000/1000 differences 8', 'reconcile_bill: the first run''s figures');
SELECT is((SELECT string_agg(format('%s %s', external_order_id, kind), ', ' ORDER BY external_order_id, kind)
             FROM commerce.recon_difference WHERE tenant_id = :t),
    'X9 missing_in_orders, req-b missing_in_bill, req-c missing_in_bill, req-d missing_in_bill, req-e missing_in_bill, req-f missing_in_bill, req-g missing_in_bill, req-ship2 missing_in_bill',
    'reconcile_bill: the first run''s differences');
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.counts() AS ct \gset
SELECT throws_ok(format($$SELECT commerce.reconcile_bill(NULL, 'wechat_mp', '2030-01-01', %L)$$, :'bill'),
    '22004', 'argument p_tenant must not be null', 'reconcile_bill: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.reconcile_bill(%s, NULL, '2030-01-01', %L)$$, :t, :'bill'),
    '22004', 'argument p_source must not be null', 'reconcile_bill: NULL source -> 22004');
SELECT throws_ok(format($$SELECT commerce.reconcile_bill(%s, 'wechat_mp', NULL, %L)$$, :t, :'bill'),
    '22004', 'argument p_date must not be null', 'reconcile_bill: NULL date -> 22004');
SELECT throws_ok(format($$SELECT commerce.reconcile_bill(%s, 'wechat_mp', '2030-01-01', NULL)$$, :t),
    '22004', 'argument p_lines must not be null', 'reconcile_bill: NULL lines -> 22004');
SELECT throws_ok(format($$SELECT commerce.reconcile_bill(999999, 'wechat_mp', '2030-01-01', %L)$$, :'bill'),
    'PT404', 'tenant "999999" not found', 'reconcile_bill: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.reconcile_bill(%s, 'nochannel', '2030-01-01', %L)$$, :t, :'bill'),
    'PT404', 'channel "nochannel" not found', 'reconcile_bill: unknown channel -> PT404');
SELECT throws_ok(format($$SELECT commerce.reconcile_bill(%s, 'WECHAT_MP', '2030-01-01', %L)$$, :t, :'bill'),
    'PT404', 'channel "WECHAT_MP" not found', 'reconcile_bill: channel codes are case-sensitive -> PT404');
SELECT throws_ok(format($$SELECT commerce.reconcile_bill(%s, 'wechat_mp', '2030-01-01', '{"order_id":"req-a","amount_fen":3000}')$$, :t),
    '22023', 'invalid value for p_lines', 'reconcile_bill: lines an object, not an array -> 22023');
SELECT throws_ok(format($$SELECT commerce.reconcile_bill(%s, 'wechat_mp', '2030-01-01', '"req-a"')$$, :t),
    '22023', 'invalid value for p_lines', 'reconcile_bill: lines a string -> 22023');
SELECT throws_ok(format($$SELECT commerce.reconcile_bill(%s, 'wechat_mp', '2030-01-01', 'null')$$, :t),
    '22023', 'invalid value for p_lines', 'reconcile_bill: lines JSON null -> 22023');
SELECT throws_ok(format($$SELECT commerce.reconcile_bill(%s, 'wechat_mp', '2030-01-01', '[{"order_id":"req-a","amount_fen":3000},{"amount_fen":2000}]')$$, :t),
    '22023', 'invalid value for p_lines', 'reconcile_bill: a line without order_id -> 22023');
SELECT throws_ok(format($$SELECT commerce.reconcile_bill(%s, 'wechat_mp', '2030-01-01', '[{"order_id":null,"amount_fen":2000}]')$$, :t),
    '22023', 'invalid value for p_lines', 'reconcile_bill: a line with a null order_id -> 22023');
SELECT throws_ok(format($$SELECT commerce.reconcile_bill(%s, 'wechat_mp', '2030-01-01', '["req-a"]')$$, :t),
    '22023', 'invalid value for p_lines', 'reconcile_bill: a line that is not an object -> 22023');
SELECT throws_ok(format($$SELECT commerce.reconcile_bill(%s, 'wechat_mp', '2030-01-01', '[{"order_id":"req-a","amount_fen":-1}]')$$, :t),
    '22023', 'invalid value for line 1 amount_fen', 'reconcile_bill: negative amount_fen -> 22023');
SELECT throws_ok(format($$SELECT commerce.reconcile_bill(%s, 'wechat_mp', '2030-01-01', '[{"order_id":"req-ship","amount_fen":2000},{"order_id":"req-a","amount_fen":2999.5}]')$$, :t),
    '22023', 'invalid value for line 2 amount_fen', 'reconcile_bill: fractional amount_fen in line 2 -> 22023');
SELECT throws_ok(format($$SELECT commerce.reconcile_bill(%s, 'wechat_mp', '2030-01-01', '[{"order_id":"req-a","amount_fen":"3000"}]')$$, :t),
    '22023', 'invalid value for line 1 amount_fen', 'reconcile_bill: amount_fen "3000" (a string) -> 22023');
SELECT throws_ok(format($$SELECT commerce.reconcile_bill(%s, 'wechat_mp', '2030-01-01', '[{"order_id":"req-a","amount_fen":10000000000000000}]')$$, :t),
    '22023', 'invalid value for line 1 amount_fen', 'reconcile_bill: amount_fen beyond any order -> 22023');
SELECT throws_ok(format($$SELECT commerce.reconcile_bill(%s, 'wechat_mp', '2030-01-01', '[{"order_id":"req-a","amount_fen":3000,"refund_fen":-5}]')$$, :t),
    '22023', 'invalid value for line 1 refund_fen', 'reconcile_bill: negative refund_fen -> 22023');
SELECT throws_ok(format($$SELECT commerce.reconcile_bill(%s, 'wechat_mp', '2030-01-01', '[{"order_id":"req-a","amount_fen":3000,"refund_fen":0.5}]')$$, :t),
    '22023', 'invalid value for line 1 refund_fen', 'reconcile_bill: fractional refund_fen -> 22023');
SELECT is((SELECT count(*) FROM commerce.bill_line WHERE tenant_id = :t), 3::bigint,
    'reconcile_bill: the refused bills removed none of the stored bill lines');
SELECT is(pg_temp.counts(), :'ct', 'reconcile_bill: counts unchanged by refused bills (bill lines, differences, runs)');
SELECT is(pg_temp.fingerprint(), :'fp', 'reconcile_bill: no commerce table changed by refused bills');
-- the same bill again: the same figures, no duplicate lines
SELECT is(pg_temp.figures(commerce.reconcile_bill(:t, 'wechat_mp', '2030-01-01', :'bill')), :'run1',
    'reconcile_bill: the same bill again -> the same figures');
SELECT is(pg_temp.figures(commerce.reconcile_bill(:t, 'wechat_mp', '2030-01-01', :'bill')), :'run1',
    'reconcile_bill: and a third time -> the same figures');
SELECT is(pg_temp.counts(), :'ct', 'reconcile_bill: re-runs add no bill line, difference or run');
SELECT is(pg_temp.fingerprint(), :'fp', 'reconcile_bill: re-runs of the same bill at the same time change nothing');

-- order_contact, commerce_api.order_contact ---------------------------------------------------
SELECT pg_temp.fingerprint() AS fp \gset
SELECT throws_ok(format($$SELECT * FROM commerce.order_contact(NULL, %s)$$, :o_ship),
    '22004', 'argument p_tenant must not be null', 'order_contact: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT * FROM commerce.order_contact(%s, NULL)$$, :t),
    '22004', 'argument p_order must not be null', 'order_contact: NULL order -> 22004');
SELECT throws_ok(format($$SELECT * FROM commerce.order_contact(%s, 999999)$$, :t),
    'PT404', 'order "999999" not found', 'order_contact: unknown order -> PT404');
SELECT throws_ok(format($$SELECT * FROM commerce.order_contact(%s, %s)$$, :t, :o_t2),
    'PT404', format('order "%s" not found', :o_t2), 'order_contact: another tenant''s order -> PT404');
SELECT throws_ok(format($$SELECT * FROM commerce_api.order_contact(%s)$$, :o_ship),
    '42501', 'no tenant in the request', 'commerce_api.order_contact: no tenant in the request -> 42501');
SELECT is((SELECT format('%s|%s|%s|%s|%s|%s', receiver_name, receiver_phone, receiver_region, receiver_city,
                         receiver_address, masked) FROM commerce.order_contact(:t, :o_ship)),
    '张三|13800001234|浙江省|杭州市|西湖区文三路1号|f', 'order_contact: a superuser sees the full contact');
-- a clerk: neither superuser nor a member of commerce_pii_reader
CREATE ROLE fas_tap_clerk;
GRANT USAGE ON SCHEMA commerce, commerce_api TO fas_tap_clerk;
GRANT SELECT ON commerce.orders TO fas_tap_clerk;
GRANT EXECUTE ON FUNCTION commerce_api.order_contact(bigint) TO fas_tap_clerk;
-- since 0.7.0 nothing of commerce is executable by PUBLIC: the clerk is granted what it reads with
GRANT EXECUTE ON FUNCTION commerce.order_contact(bigint, bigint), commerce.may_see_pii(), commerce.mask_phone(text), commerce.mask_address(text), commerce._require(anyelement, text), commerce._not_found(text, text, bigint), commerce._rls_tenant(), commerce._audit(bigint, text, text, jsonb, text) TO fas_tap_clerk;
-- row level security shows the clerk the verified tenant's rows only (here: a superuser session's setting)
SET LOCAL commerce.tenant_id = :'t';
SET LOCAL ROLE fas_tap_clerk;
SELECT format('%s|%s|%s|%s|%s|%s', receiver_name, receiver_phone, receiver_region, receiver_city,
              receiver_address, masked) AS clerk_view FROM commerce.order_contact(:t, :o_ship) \gset
SELECT format('%s|%s|%s', receiver_name, receiver_phone, masked) AS clerk_api_view FROM commerce_api.order_contact(:o_ship) \gset
RESET ROLE;
SELECT is(:'clerk_view'::text, '张**|138****1234|浙江省|杭州市|西湖区文三路****|t',
    'order_contact: a role without commerce_pii_reader sees the contact masked');
SELECT is(:'clerk_api_view'::text, '张**|138****1234|t',
    'commerce_api.order_contact: masked for that role too (SECURITY DEFINER does not unmask)');
-- the same clerk once commerce_pii_reader exists and is granted to it
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'commerce_pii_reader') THEN
        CREATE ROLE commerce_pii_reader;
    END IF;
END $$;
GRANT commerce_pii_reader TO fas_tap_clerk;
SET LOCAL ROLE fas_tap_clerk;
SELECT format('%s|%s|%s|%s|%s|%s', receiver_name, receiver_phone, receiver_region, receiver_city,
              receiver_address, masked) AS reader_view FROM commerce.order_contact(:t, :o_ship) \gset
RESET ROLE;
SELECT is(:'reader_view'::text, '张三|13800001234|浙江省|杭州市|西湖区文三路1号|f',
    'order_contact: a member of commerce_pii_reader sees the full contact');
SET LOCAL commerce.tenant_id = :'t';
SELECT is((SELECT format('%s|%s|%s', receiver_name, receiver_phone, masked) FROM commerce_api.order_contact(:o_ship)),
    '张三|13800001234|f', 'commerce_api.order_contact: the tenant of the request, full for a superuser');
SELECT throws_ok(format($$SELECT * FROM commerce_api.order_contact(%s)$$, :o_t2),
    'PT404', format('order "%s" not found', :o_t2), 'commerce_api.order_contact: another tenant''s order -> PT404');
SET LOCAL commerce.tenant_id = '';
SELECT is(regexp_replace(pg_temp.fingerprint(), 'audit_log=\S+ ', ''), regexp_replace(:'fp', 'audit_log=\S+ ', ''),
    'order_contact: no commerce table changed but the audit log (unmasked reads are audited)');
SELECT is((SELECT count(*) FROM commerce.check_stock_invariants()), 0::bigint, 'stock invariants hold at the end');

SELECT * FROM finish();
ROLLBACK;
