-- orders_bad_input.sql: bad calls of the orders module (upsert_customer,
-- place_order, pay_order, cancel_order, cancel_unpaid_orders and its pump,
-- map_platform_status, ingest_platform_order, missing_platform_orders) and
-- direct writes that break the order state machine are refused with the
-- documented SQLSTATE and change nothing: no order, no stock held or taken,
-- no outbox message. The valid repeats (a payment retried, a second payment,
-- a second cancel, a payload ingested again or an older one) answer with
-- their outcome and are not errors.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(198);

\ir lib/fingerprint.psql

\ir lib/stock.psql

-- Row counts of what an order call may create.
CREATE FUNCTION pg_temp.counts() RETURNS text LANGUAGE sql AS $ct$
    SELECT format('orders %s, lines %s, reservations %s (%s active), outbox %s, payment exceptions %s',
                  (SELECT count(*) FROM commerce.orders),
                  (SELECT count(*) FROM commerce.order_line),
                  (SELECT count(*) FROM commerce.reservation),
                  (SELECT count(*) FROM commerce.reservation WHERE status = 'active'),
                  (SELECT count(*) FROM commerce.outbox),
                  (SELECT count(*) FROM commerce.payment_exception));
$ct$;

\ir lib/or_undo.psql

-- A Taobao payload (the shape of test/fixtures/platform/taobao.json) for
-- SKU A1 x2 at 10.00 yuan, 1.00 discount: payable 1900 fen. p_patch
-- replaces top-level keys.
CREATE FUNCTION pg_temp.tb(p_patch jsonb DEFAULT '{}') RETURNS jsonb LANGUAGE sql IMMUTABLE AS $tb$
    SELECT '{"tid": "TB1001", "status": "WAIT_SELLER_SEND_GOODS",
             "created": "2029-12-31 23:00:00", "modified": "2029-12-31 23:10:00",
             "buyer_nick": "tb_fan_01", "receiver_name": "Zhang San", "receiver_mobile": "13800001234",
             "receiver_state": "Zhejiang", "receiver_city": "Hangzhou", "receiver_address": "Wensan Road 1",
             "total_fee": "20.00", "discount_fee": "1.00", "post_fee": "0.00", "payment": "19.00",
             "orders": {"order": [{"oid": "TB1001-1", "outer_sku_id": "A1", "num": 2, "price": "10.00",
                                   "title": "SKU A1"}]}}'::jsonb || p_patch;
$tb$;

-- The same payload with one field of its first line replaced.
CREATE FUNCTION pg_temp.tb_line(p_tid text, p_key text, p_value jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $tl$
    SELECT jsonb_set(pg_temp.tb(jsonb_build_object('tid', p_tid)), ARRAY['orders', 'order', '0', p_key], p_value);
$tl$;

-- fixtures, at 2030-01-01 00:00 UTC. Tenant t1: SKU A1 (MSRP 1000) 100
-- received, A2 3 received, A3 never received, A4 5 in main and 5 in east;
-- tier gold, customer c1. Self-operated orders: o_pending (A1 x2, 2000 fen,
-- unpaid), o_paid (A1 x1, paid by pay-1), o_cancel (cancelled), o_jump
-- (unpaid), o_done (completed), o_refund (refunded), o_as (after_sale, came
-- from shipped). Platform orders: o_tb (Taobao TB1001, paid, A1 x2) and
-- o_tb_unpaid (Taobao TB3001, unpaid, no stock taken). Tenant t2: SKU B1 10
-- received, tier plat2, a platform channel kuaishou with no payload profile,
-- order o_t2 (B1 x1, unpaid).
SET LOCAL commerce.now = '2030-01-01 00:00:00+00';
SET LOCAL TimeZone = 'UTC';
SELECT commerce.create_tenant('t1', 'Tenant one') AS t \gset
SELECT commerce.create_tenant('t2', 'Tenant two') AS t2 \gset
SELECT commerce.upsert_product(:t, 'P1', 'Product one') AS p1 \gset
SELECT commerce.upsert_sku(:t, 'P1', 'A1', 'SKU A1', 1000) AS a1 \gset
SELECT commerce.upsert_sku(:t, 'P1', 'A2', 'SKU A2', 1000) AS a2 \gset
SELECT commerce.upsert_sku(:t, 'P1', 'A3', 'SKU A3', 500) AS a3 \gset
SELECT commerce.receive_stock(:t, 'rcv-a1', 'A1', 100) AS pool_a1 \gset
SELECT commerce.receive_stock(:t, 'rcv-a2', 'A2', 3) AS pool_a2 \gset
SELECT commerce.upsert_warehouse(:t, 'east', 'East warehouse') AS east \gset
SELECT commerce.upsert_sku(:t, 'P1', 'A4', 'SKU A4', 1000) AS a4 \gset
SELECT commerce.receive_stock(:t, 'rcv-a4m', 'A4', 5) AS pool_a4m \gset
SELECT commerce.receive_stock(:t, 'rcv-a4e', 'A4', 5, 'east') AS pool_a4e \gset
SELECT commerce.upsert_member_tier(:t, 'gold', 'Gold card') AS gold \gset
SELECT commerce.upsert_customer(:t, 'c1', 'A fan', '13800001234', 'gold') AS c1 \gset
SELECT commerce.upsert_product(:t2, 'Q1', 'Product of t2') AS q1 \gset
SELECT commerce.upsert_sku(:t2, 'Q1', 'B1', 'SKU of t2', 2000) AS b1 \gset
SELECT commerce.receive_stock(:t2, 'rcv-b1', 'B1', 10) AS pool_b1 \gset
SELECT commerce.upsert_member_tier(:t2, 'plat2', 'Platinum of t2') AS plat2 \gset
SELECT commerce.upsert_channel(:t2, 'kuaishou', 'Kuaishou') AS ks2 \gset

SELECT (commerce.place_order(:t, 'req-pending', 'wechat_mp', '{"lines":[{"sku":"A1","qty":2}]}', 'c1')).order_id AS o_pending \gset
SELECT (commerce.place_order(:t, 'req-paid', 'h5', '{"lines":[{"sku":"A1","qty":1}]}')).order_id AS o_paid \gset
SELECT (commerce.pay_order(:t, :o_paid, 'pay-1', 1000)).status AS o_paid_status \gset
SELECT (commerce.place_order(:t, 'req-cancel', 'h5', '{"lines":[{"sku":"A1","qty":1}]}')).order_id AS o_cancel \gset
SELECT (commerce.cancel_order(:t, :o_cancel, 'buyer changed mind')).status AS o_cancel_status \gset
SELECT (commerce.place_order(:t, 'req-jump', 'h5', '{"lines":[{"sku":"A1","qty":1}]}')).order_id AS o_jump \gset
SELECT (commerce.place_order(:t, 'req-done', 'h5', '{"lines":[{"sku":"A1","qty":1}]}')).order_id AS o_done \gset
SELECT (commerce.pay_order(:t, :o_done, 'pay-done', 1000)).status AS o_done_status \gset
UPDATE commerce.orders SET status = 'shipped' WHERE tenant_id = :t AND order_id = :o_done;
UPDATE commerce.orders SET status = 'completed' WHERE tenant_id = :t AND order_id = :o_done;
SELECT (commerce.place_order(:t, 'req-refund', 'h5', '{"lines":[{"sku":"A1","qty":1}]}')).order_id AS o_refund \gset
SELECT (commerce.pay_order(:t, :o_refund, 'pay-refund', 1000)).status AS o_refund_status \gset
UPDATE commerce.orders SET status = 'after_sale' WHERE tenant_id = :t AND order_id = :o_refund;
UPDATE commerce.orders SET status = 'refunded' WHERE tenant_id = :t AND order_id = :o_refund;
SELECT (commerce.place_order(:t, 'req-as', 'h5', '{"lines":[{"sku":"A1","qty":1}]}')).order_id AS o_as \gset
SELECT (commerce.pay_order(:t, :o_as, 'pay-as', 1000)).status AS o_as_status \gset
UPDATE commerce.orders SET status = 'shipped' WHERE tenant_id = :t AND order_id = :o_as;
UPDATE commerce.orders SET status = 'after_sale' WHERE tenant_id = :t AND order_id = :o_as;
SELECT (commerce.ingest_platform_order(:t, 'taobao', pg_temp.tb())).order_id AS o_tb \gset
SELECT (commerce.ingest_platform_order(:t, 'taobao', pg_temp.tb('{"tid":"TB3001","status":"WAIT_BUYER_PAY"}'))).order_id AS o_tb_unpaid \gset
SELECT (commerce.place_order(:t2, 'req-t2', 'wechat_mp', '{"lines":[{"sku":"B1","qty":1}]}')).order_id AS o_t2 \gset

SELECT is((SELECT string_agg(format('%s:%s', order_id, status), ' ' ORDER BY tenant_id, order_id) FROM commerce.orders),
    format('%s:pending_payment %s:paid %s:cancelled %s:pending_payment %s:completed %s:refunded %s:after_sale %s:paid %s:pending_payment %s:pending_payment',
           :o_pending, :o_paid, :o_cancel, :o_jump, :o_done, :o_refund, :o_as, :o_tb, :o_tb_unpaid, :o_t2),
    'fixture orders as expected');
SELECT is(pg_temp.stock(), 'A1@main 100/3/6/91; A2@main 3/0/0/3; A4@main 5/0/0/5; A4@east 5/0/0/5; B1@main 10/1/0/9',
    'fixture stock as expected');
SELECT is(pg_temp.counts(), 'orders 10, lines 10, reservations 9 (3 active), outbox 0, payment exceptions 0',
    'fixture counts as expected');

-- upsert_customer -----------------------------------------------------------
SELECT pg_temp.fingerprint() AS fp \gset
SELECT throws_ok($$SELECT commerce.upsert_customer(NULL, 'c2')$$,
    '22004', 'argument p_tenant must not be null', 'upsert_customer: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.upsert_customer(%s, NULL)$$, :t),
    '22004', 'argument p_code must not be null', 'upsert_customer: NULL code -> 22004');
SELECT throws_ok($$SELECT commerce.upsert_customer(999999, 'c2')$$,
    'PT404', 'tenant "999999" not found', 'upsert_customer: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.upsert_customer(%s, 'c2', 'Name', NULL, 'diamond')$$, :t),
    'PT404', 'member tier "diamond" not found', 'upsert_customer: unknown member tier -> PT404');
SELECT throws_ok(format($$SELECT commerce.upsert_customer(%s, 'c2', 'Name', NULL, 'plat2')$$, :t),
    'PT404', 'member tier "plat2" not found', 'upsert_customer: another tenant''s member tier -> PT404');
SELECT throws_ok(format($$SELECT commerce.upsert_customer(%s, 'c1', 'Renamed', NULL, 'diamond')$$, :t),
    'PT404', 'member tier "diamond" not found', 'upsert_customer: existing customer, unknown tier -> PT404');
SELECT throws_ok(format($$SELECT commerce.upsert_customer(%s, '')$$, :t),
    '23514', 'new row for relation "customer" violates check constraint "customer_code_check"',
    'upsert_customer: empty code -> 23514 (table CHECK)');
SELECT is((SELECT format('%s %s %s', count(*), min(name), min(member_tier)) FROM commerce.customer),
    '1 A fan gold', 'upsert_customer: no customer created or changed');
SELECT is(pg_temp.fingerprint(), :'fp', 'upsert_customer: no commerce table changed by refused calls');

-- place_order: arguments ------------------------------------------------------
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.stock() AS st \gset
SELECT pg_temp.counts() AS ct \gset
SELECT throws_ok($$SELECT commerce.place_order(NULL, 'req-x', 'h5', '{"lines":[{"sku":"A1","qty":1}]}')$$,
    '22004', 'argument p_tenant must not be null', 'place_order: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, NULL, 'h5', '{"lines":[{"sku":"A1","qty":1}]}')$$, :t),
    '22004', 'argument p_request_id must not be null', 'place_order: NULL request_id -> 22004');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', NULL, '{"lines":[{"sku":"A1","qty":1}]}')$$, :t),
    '22004', 'argument p_channel must not be null', 'place_order: NULL channel -> 22004');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', NULL)$$, :t),
    '22004', 'argument p_order must not be null', 'place_order: NULL order -> 22004');
SELECT throws_ok($$SELECT commerce.place_order(999999, 'req-x', 'h5', '{"lines":[{"sku":"A1","qty":1}]}')$$,
    'PT404', 'tenant "999999" not found', 'place_order: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, '', 'h5', '{"lines":[{"sku":"A1","qty":1}]}')$$, :t),
    '22023', 'invalid value for p_request_id', 'place_order: empty request_id -> 22023');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, repeat('r', 201), 'h5', '{"lines":[{"sku":"A1","qty":1}]}')$$, :t),
    '22023', 'invalid value for p_request_id', 'place_order: 201-character request_id -> 22023');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'kuaishou', '{"lines":[{"sku":"A1","qty":1}]}')$$, :t),
    'PT404', 'channel "kuaishou" not found', 'place_order: unknown channel (another tenant''s) -> PT404');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'taobao', '{"lines":[{"sku":"A1","qty":1}]}')$$, :t),
    '22023', 'invalid value for p_channel', 'place_order: platform channel taobao -> 22023');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', '{"lines":[{"sku":"A1","qty":1}]}', 'nobody')$$, :t),
    'PT404', 'customer "nobody" not found', 'place_order: unknown customer -> PT404');

-- place_order: the order document
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', '[]')$$, :t),
    '22023', 'invalid value for p_order', 'place_order: order is an array -> 22023');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', '"lines"')$$, :t),
    '22023', 'invalid value for p_order', 'place_order: order is a string -> 22023');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', '{"lines":[')$$, :t),
    '22P02', NULL, 'place_order: malformed JSON -> 22P02');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', '{"lines":[{"sku":"A1","qty":1}],"coupon":"X"}')$$, :t),
    '22023', 'invalid value for p_order', 'place_order: unknown key -> 22023');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', '{}')$$, :t),
    '22023', 'invalid value for p_order', 'place_order: no lines -> 22023');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', '{"lines":{"sku":"A1","qty":1}}')$$, :t),
    '22023', 'invalid value for p_order', 'place_order: lines not an array -> 22023');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', '{"lines":[]}')$$, :t),
    '22023', 'invalid cart: lines: empty', 'place_order: empty lines -> 22023 (the cart parser reserve uses)');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', '{"lines":["A1"]}')$$, :t),
    '22023', 'invalid cart: lines[0]: expected an object', 'place_order: a line that is not an object -> 22023 (the cart parser reserve uses)');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', '{"lines":[{"sku":"A1","qty":0}]}')$$, :t),
    '22023', 'invalid cart: lines[0].qty: out of range', 'place_order: qty 0 -> 22023 (the cart parser reserve uses)');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', '{"lines":[{"sku":"A1","qty":-1}]}')$$, :t),
    '22023', 'invalid cart: lines[0].qty: out of range', 'place_order: qty -1 -> 22023 (the cart parser reserve uses)');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', '{"lines":[{"sku":"A1","qty":1.5}]}')$$, :t),
    '22023', 'invalid cart: lines[0].qty: expected an integer', 'place_order: qty 1.5 -> 22023 (the cart parser reserve uses)');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', '{"lines":[{"sku":"A1","qty":"2"}]}')$$, :t),
    '22023', 'invalid cart: lines[0].qty: expected an integer', 'place_order: qty "2" (a string) -> 22023 (the cart parser reserve uses)');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', '{"lines":[{"sku":"A1","qty":1000001}]}')$$, :t),
    '22023', 'invalid cart: lines[0].qty: out of range', 'place_order: qty 1000001 -> 22023 (the cart parser reserve uses)');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', '{"lines":[{"sku":"A1","qty":100000000000000000000}]}')$$, :t),
    '22023', 'invalid cart: lines[0].qty: out of range', 'place_order: qty 10^20 (beyond bigint) -> 22023 (the cart parser reserve uses)');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', '{"lines":[{"sku":"A1"}]}')$$, :t),
    '22023', 'invalid cart: lines[0].qty: missing', 'place_order: line without qty -> 22023 (the cart parser reserve uses)');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', '{"lines":[{"qty":1}]}')$$, :t),
    '22023', 'invalid cart: lines[0].sku: missing', 'place_order: line without sku -> 22023 (the cart parser reserve uses)');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', '{"lines":[{"sku":"NOPE","qty":1}]}')$$, :t),
    'PT404', 'SKU "NOPE" not found', 'place_order: unknown SKU -> PT404');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', '{"lines":[{"sku":"B1","qty":1}]}')$$, :t),
    'PT404', 'SKU "B1" not found', 'place_order: another tenant''s SKU -> PT404');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', '{"lines":[{"sku":"A1","qty":1}],"shipping_fen":-1}')$$, :t),
    '22023', 'invalid value for shipping_fen', 'place_order: shipping_fen -1 -> 22023');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', '{"lines":[{"sku":"A1","qty":1}],"shipping_fen":1.5}')$$, :t),
    '22023', 'invalid value for shipping_fen', 'place_order: shipping_fen 1.5 -> 22023');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', '{"lines":[{"sku":"A1","qty":1}],"shipping_fen":"100"}')$$, :t),
    '22023', 'invalid value for shipping_fen', 'place_order: shipping_fen "100" (a string) -> 22023');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', '{"lines":[{"sku":"A1","qty":1}],"discount_fen":-1}')$$, :t),
    '22023', 'invalid value for discount_fen', 'place_order: discount_fen -1 -> 22023');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', '{"lines":[{"sku":"A1","qty":1}],"discount_fen":0.5}')$$, :t),
    '22023', 'invalid value for discount_fen', 'place_order: discount_fen 0.5 -> 22023');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', '{"lines":[{"sku":"A1","qty":1}],"discount_fen":"1"}')$$, :t),
    '22023', 'invalid value for discount_fen', 'place_order: discount_fen "1" (a string) -> 22023');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', '{"lines":[{"sku":"A1","qty":1}],"discount_fen":1001}')$$, :t),
    '22023', 'invalid value for p_order', 'place_order: discount 1001 larger than goods 1000 -> 22023');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', '{"lines":[{"sku":"A1","qty":1}],"receiver":"Zhang San"}')$$, :t),
    '22023', 'invalid value for p_order', 'place_order: receiver not an object -> 22023');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', '{"lines":[{"sku":"A1","qty":1}],"source_instance_id":"abc"}')$$, :t),
    '22023', 'invalid value for p_order', 'place_order: source_instance_id not an integer -> 22023');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', '{"lines":[{"sku":"A1","qty":1}],"activity":"nope"}')$$, :t),
    'PT404', 'activity "nope" has no stock of SKU "A1"', 'place_order: unknown activity -> PT404');

-- place_order: stock (all lines or none)
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', '{"lines":[{"sku":"A2","qty":4}]}')$$, :t),
    'PT409', 'insufficient stock for SKU "A2"', 'place_order: 4 of A2 with 3 in stock -> PT409');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', '{"lines":[{"sku":"A1","qty":5},{"sku":"A2","qty":4}]}')$$, :t),
    'PT409', 'insufficient stock for SKU "A2"', 'place_order: cart whose second line is short -> PT409');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'req-x', 'h5', '{"lines":[{"sku":"A3","qty":1}]}')$$, :t),
    'PT409', 'insufficient stock for SKU "A3"', 'place_order: SKU never received -> PT409');
SELECT is(pg_temp.stock(), :'st', 'place_order: stock figures unchanged (first line of a short cart not held)');
SELECT is(pg_temp.counts(), :'ct', 'place_order: no order, line or reservation created by refused calls');
SELECT is(pg_temp.fingerprint(), :'fp', 'place_order: no commerce table changed by refused calls');
-- a refused request_id was not used up; 200 characters is a valid request_id
SELECT is((commerce.place_order(:t, 'req-x', 'h5', '{"lines":[{"sku":"A2","qty":3}]}')).outcome, 'placed',
    'place_order: req-x, refused before, is placed now');
SELECT is((SELECT available FROM commerce.stock WHERE tenant_id = :t AND pool_id = :pool_a2), 0::bigint,
    'place_order: req-x holds the 3 units of A2');
SELECT lives_ok(format($$SELECT commerce.place_order(%s, repeat('r', 200), 'h5', '{"lines":[{"sku":"A1","qty":1}]}')$$, :t),
    'place_order: a 200-character request_id is accepted');
-- A4 is in two warehouses: reserve asks for the warehouse in the line ("Name the warehouse in
-- the cart line"), so a line that names it must be placed
SELECT lives_ok(format($$SELECT commerce.place_order(%s, 'req-a4', 'h5', '{"lines":[{"sku":"A4","qty":1,"warehouse":"east"}]}')$$, :t),
    'place_order: a SKU stocked in two warehouses, the line naming the warehouse, is placed');

-- pay_order -------------------------------------------------------------------
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.stock() AS st \gset
SELECT pg_temp.counts() AS ct \gset
SELECT throws_ok(format($$SELECT commerce.pay_order(NULL, %s, 'pay-x', 2000)$$, :o_pending),
    '22004', 'argument p_tenant must not be null', 'pay_order: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.pay_order(%s, NULL, 'pay-x', 2000)$$, :t),
    '22004', 'argument p_order must not be null', 'pay_order: NULL order -> 22004');
SELECT throws_ok(format($$SELECT commerce.pay_order(%s, %s, NULL, 2000)$$, :t, :o_pending),
    '22004', 'argument p_payment_id must not be null', 'pay_order: NULL payment id -> 22004');
SELECT throws_ok(format($$SELECT commerce.pay_order(%s, %s, 'pay-x', NULL)$$, :t, :o_pending),
    '22004', 'argument p_amount_fen must not be null', 'pay_order: NULL amount -> 22004');
SELECT throws_ok(format($$SELECT commerce.pay_order(999999, %s, 'pay-x', 2000)$$, :o_pending),
    'PT404', NULL, 'pay_order: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.pay_order(%s, 999999, 'pay-x', 2000)$$, :t),
    'PT404', 'order "999999" not found', 'pay_order: unknown order -> PT404');
SELECT throws_ok(format($$SELECT commerce.pay_order(%s, %s, 'pay-x', 1000)$$, :t, :o_t2),
    'PT404', format('order "%s" not found', :o_t2), 'pay_order: another tenant''s order -> PT404');
SELECT throws_ok(format($$SELECT commerce.pay_order(%s, %s, 'pay-x', 2000)$$, :t2, :o_pending),
    'PT404', format('order "%s" not found', :o_pending), 'pay_order: an order through another tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.pay_order(%s, %s, 'pay-x', 1999)$$, :t, :o_pending),
    '22023', format('payment amount 1999 fen does not match order %s', :o_pending),
    'pay_order: amount 1999 for an order payable 2000 -> 22023');
SELECT throws_ok(format($$SELECT commerce.pay_order(%s, %s, 'pay-x', -2000)$$, :t, :o_pending),
    '22023', format('payment amount -2000 fen does not match order %s', :o_pending),
    'pay_order: negative amount -> 22023');
SELECT throws_ok(format($$SELECT commerce.pay_order(%s, %s, 'pay-x', 1900)$$, :t, :o_tb),
    '22023', 'invalid value for p_order', 'pay_order: a paid Taobao order -> 22023');
SELECT throws_ok(format($$SELECT commerce.pay_order(%s, %s, 'pay-x', 1900)$$, :t, :o_tb_unpaid),
    '22023', 'invalid value for p_order', 'pay_order: an unpaid Taobao order -> 22023');
SELECT is((SELECT status::text FROM commerce.orders WHERE tenant_id = :t AND order_id = :o_pending), 'pending_payment',
    'pay_order: after the amount mismatch the order is still pending_payment');
SELECT is((SELECT r.status FROM commerce.orders o JOIN commerce.reservation r USING (tenant_id, reservation_id)
            WHERE o.tenant_id = :t AND o.order_id = :o_pending), 'active',
    'pay_order: after the amount mismatch its stock is still reserved, not sold');
SELECT is(pg_temp.stock(), :'st', 'pay_order: stock figures unchanged by refused calls');
SELECT is(pg_temp.counts(), :'ct', 'pay_order: no payment exception or outbox message from refused calls');
SELECT is(pg_temp.fingerprint(), :'fp', 'pay_order: no commerce table changed by refused calls');
-- valid repeats are not errors
SELECT is((SELECT format('%s/%s', status, outcome) FROM commerce.pay_order(:t, :o_paid, 'pay-1', 1000)), 'paid/already_paid',
    'pay_order: a retry of the payment that paid the order -> already_paid');
SELECT is(pg_temp.fingerprint(), :'fp', 'pay_order: the retry changed nothing');
SELECT is((SELECT format('%s/%s', status, outcome) FROM commerce.pay_order(:t, :o_paid, 'pay-2', 1000)), 'paid/refund_pending',
    'pay_order: a second payment of a paid order -> refund_pending');
SELECT is((SELECT format('%s %s %s %s', payment_id, order_id = :o_paid, amount_fen, kind) FROM commerce.payment_exception),
    'pay-2 t 1000 duplicate', 'pay_order: the second payment is recorded as a duplicate');
SELECT is((SELECT string_agg(topic || ' ' || (payload ->> 'payment_id'), ', ') FROM commerce.outbox), 'payment.refund pay-2',
    'pay_order: and a refund is asked for through the outbox');
SELECT is(pg_temp.stock(), :'st', 'pay_order: the second payment sold nothing more');

-- cancel_order ------------------------------------------------------------------
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.stock() AS st \gset
SELECT pg_temp.counts() AS ct \gset
SELECT throws_ok(format($$SELECT commerce.cancel_order(NULL, %s)$$, :o_pending),
    '22004', 'argument p_tenant must not be null', 'cancel_order: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.cancel_order(%s, NULL)$$, :t),
    '22004', 'argument p_order must not be null', 'cancel_order: NULL order -> 22004');
SELECT throws_ok(format($$SELECT commerce.cancel_order(%s, 999999)$$, :t),
    'PT404', 'order "999999" not found', 'cancel_order: unknown order -> PT404');
SELECT throws_ok(format($$SELECT commerce.cancel_order(%s, %s)$$, :t, :o_t2),
    'PT404', format('order "%s" not found', :o_t2), 'cancel_order: another tenant''s order -> PT404');
SELECT throws_ok(format($$SELECT commerce.cancel_order(%s, %s)$$, :t, :o_paid),
    'PT409', format('order %s cannot be cancelled: it is paid', :o_paid), 'cancel_order: a paid order -> PT409');
SELECT throws_ok(format($$SELECT commerce.cancel_order(%s, %s)$$, :t, :o_done),
    'PT409', format('order %s cannot be cancelled: it is completed', :o_done), 'cancel_order: a completed order -> PT409');
SELECT throws_ok(format($$SELECT commerce.cancel_order(%s, %s)$$, :t, :o_as),
    'PT409', format('order %s cannot be cancelled: it is after_sale', :o_as), 'cancel_order: an after_sale order -> PT409');
SELECT throws_ok(format($$SELECT commerce.cancel_order(%s, %s)$$, :t, :o_tb),
    '22023', 'invalid value for p_order', 'cancel_order: a (paid) Taobao order -> 22023, platform orders are cancelled on the platform');
-- an unpaid platform order is cancelled on the platform, like it is paid there (pay_order
-- refuses it): cancelled here, the platform's later "paid" could never be ingested
SELECT throws_ok(format($$SELECT pg_temp.or_undo(%L)$$, format($$SELECT commerce.cancel_order(%s, %s)$$, :t, :o_tb_unpaid)),
    '22023', 'invalid value for p_order', 'cancel_order: an unpaid Taobao order -> 22023 (as pay_order)');
SELECT is((SELECT format('%s/%s', status, outcome) FROM commerce.cancel_order(:t, :o_cancel)), 'cancelled/already_cancelled',
    'cancel_order: cancelling twice -> already_cancelled');
SELECT is(pg_temp.stock(), :'st', 'cancel_order: stock figures unchanged');
SELECT is(pg_temp.counts(), :'ct', 'cancel_order: counts unchanged');
SELECT is(pg_temp.fingerprint(), :'fp', 'cancel_order: no commerce table changed by refused calls and the repeat');

-- cancel_unpaid_orders and its pump ----------------------------------------------
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.stock() AS st \gset
SELECT pg_temp.counts() AS ct \gset
SELECT throws_ok($$SELECT commerce.cancel_unpaid_orders(0)$$,
    '22023', 'invalid value for p_limit', 'cancel_unpaid_orders(0) -> 22023');
SELECT throws_ok($$SELECT commerce.cancel_unpaid_orders(-1)$$,
    '22023', 'invalid value for p_limit', 'cancel_unpaid_orders(-1) -> 22023');
SELECT throws_ok($$SELECT commerce.cancel_unpaid_orders(100001)$$,
    '22023', 'invalid value for p_limit', 'cancel_unpaid_orders(100001) -> 22023');
SELECT throws_ok($$SELECT commerce.cancel_unpaid_orders(NULL)$$,
    '22004', 'argument p_limit must not be null', 'cancel_unpaid_orders(NULL) -> 22004');
SELECT throws_ok($$CALL commerce.cancel_unpaid_pump(NULL)$$,
    '22004', 'argument p_batch must not be null', 'cancel_unpaid_pump(NULL) -> 22004');
SELECT throws_ok($$CALL commerce.cancel_unpaid_pump(1000, NULL)$$,
    '22004', 'argument p_max_batches must not be null', 'cancel_unpaid_pump(1000, NULL) -> 22004');
SELECT throws_ok($$CALL commerce.cancel_unpaid_pump(0)$$,
    '22023', 'invalid value for p_batch', 'cancel_unpaid_pump(0) -> 22023 naming p_batch (as expire_pump does)');
SELECT throws_ok($$CALL commerce.cancel_unpaid_pump(1000, 0)$$,
    '22023', 'invalid value for p_batch', 'cancel_unpaid_pump(1000, 0) -> 22023 (as expire_pump does)');
SELECT is(pg_temp.stock(), :'st', 'cancel_unpaid_orders: stock figures unchanged');
SELECT is(pg_temp.counts(), :'ct', 'cancel_unpaid_orders: counts unchanged');
SELECT is(pg_temp.fingerprint(), :'fp', 'cancel_unpaid_orders: no commerce table changed by refused calls');

-- the state machine on direct writes ------------------------------------------------
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.stock() AS st \gset
SELECT pg_temp.counts() AS ct \gset
SELECT throws_ok(format($$UPDATE commerce.orders SET status = 'pending_payment' WHERE tenant_id = %s AND order_id = %s$$, :t, :o_paid),
    'PT409', format('order %s cannot go from paid to pending_payment', :o_paid), 'direct UPDATE paid -> pending_payment -> PT409');
SELECT throws_ok(format($$UPDATE commerce.orders SET status = 'paid' WHERE tenant_id = %s AND order_id = %s$$, :t, :o_cancel),
    'PT409', format('order %s cannot go from cancelled to paid', :o_cancel), 'direct UPDATE cancelled -> paid -> PT409');
SELECT throws_ok(format($$UPDATE commerce.orders SET status = 'pending_payment' WHERE tenant_id = %s AND order_id = %s$$, :t, :o_cancel),
    'PT409', format('order %s cannot go from cancelled to pending_payment', :o_cancel), 'direct UPDATE cancelled -> pending_payment -> PT409');
SELECT throws_ok(format($$UPDATE commerce.orders SET status = 'paid' WHERE tenant_id = %s AND order_id = %s$$, :t, :o_done),
    'PT409', format('order %s cannot go from completed to paid', :o_done), 'direct UPDATE completed -> paid -> PT409');
SELECT throws_ok(format($$UPDATE commerce.orders SET status = 'cancelled' WHERE tenant_id = %s AND order_id = %s$$, :t, :o_done),
    'PT409', format('order %s cannot go from completed to cancelled', :o_done), 'direct UPDATE completed -> cancelled -> PT409');
SELECT throws_ok(format($$UPDATE commerce.orders SET status = 'after_sale' WHERE tenant_id = %s AND order_id = %s$$, :t, :o_refund),
    'PT409', format('order %s cannot go from refunded to after_sale', :o_refund), 'direct UPDATE refunded -> after_sale -> PT409');
SELECT throws_ok(format($$UPDATE commerce.orders SET status = 'paid' WHERE tenant_id = %s AND order_id = %s$$, :t, :o_refund),
    'PT409', format('order %s cannot go from refunded to paid', :o_refund), 'direct UPDATE refunded -> paid -> PT409');
SELECT throws_ok(format($$UPDATE commerce.orders SET status = 'after_sale' WHERE tenant_id = %s AND order_id = %s$$, :t, :o_pending),
    'PT409', format('order %s cannot go from pending_payment to after_sale', :o_pending), 'direct UPDATE pending_payment -> after_sale -> PT409');
SELECT throws_ok(format($$UPDATE commerce.orders SET status = 'refunded' WHERE tenant_id = %s AND order_id = %s$$, :t, :o_pending),
    'PT409', format('order %s cannot go from pending_payment to refunded', :o_pending), 'direct UPDATE pending_payment -> refunded -> PT409');
SELECT throws_ok(format($$UPDATE commerce.orders SET status = 'cancelled' WHERE tenant_id = %s AND order_id = %s$$, :t, :o_paid),
    'PT409', format('order %s cannot go from paid to cancelled', :o_paid), 'direct UPDATE paid -> cancelled -> PT409');
-- o_as came to after_sale from shipped: only shipped or refunded are open to it
SELECT throws_ok(format($$UPDATE commerce.orders SET status = 'paid' WHERE tenant_id = %s AND order_id = %s$$, :t, :o_as),
    'PT409', format('order %s cannot go from after_sale to paid', :o_as), 'direct UPDATE after_sale (from shipped) -> paid -> PT409');
SELECT throws_ok(format($$UPDATE commerce.orders SET status = 'completed' WHERE tenant_id = %s AND order_id = %s$$, :t, :o_as),
    'PT409', format('order %s cannot go from after_sale to completed', :o_as), 'direct UPDATE after_sale (from shipped) -> completed -> PT409');
SELECT throws_ok(format($$UPDATE commerce.orders SET status = 'pending_payment' WHERE tenant_id = %s AND order_id = %s$$, :t, :o_as),
    'PT409', format('order %s cannot go from after_sale to pending_payment', :o_as), 'direct UPDATE after_sale -> pending_payment -> PT409');
SELECT throws_ok(format($$UPDATE commerce.orders SET status = 'cancelled' WHERE tenant_id = %s AND order_id = %s$$, :t, :o_as),
    'PT409', format('order %s cannot go from after_sale to cancelled', :o_as), 'direct UPDATE after_sale -> cancelled -> PT409');
SELECT throws_ok(format($$UPDATE commerce.orders SET status = 'paid', status_before_after_sale = 'paid' WHERE tenant_id = %s AND order_id = %s$$, :t, :o_as),
    'PT409', format('status_before_after_sale of order %s cannot be changed', :o_as),
    'direct UPDATE after_sale -> paid, rewriting status_before_after_sale in the same statement -> PT409');
-- rewriting where after_sale came from first, then going there, must not open a way back to unpaid
-- (the block ends with an error of its own if both writes went through, so nothing stays changed)
SELECT throws_ok(format($f$DO $do$ BEGIN
        UPDATE commerce.orders SET status_before_after_sale = 'pending_payment' WHERE tenant_id = %1$s AND order_id = %2$s;
        UPDATE commerce.orders SET status = 'pending_payment' WHERE tenant_id = %1$s AND order_id = %2$s;
        RAISE EXCEPTION USING ERRCODE = 'XX001', MESSAGE = 'after_sale went back to pending_payment';
    END $do$$f$, :t, :o_as),
    'PT409', NULL, 'direct UPDATE of status_before_after_sale, then after_sale -> pending_payment -> PT409');
SELECT throws_ok(format($$UPDATE commerce.order_status_history SET reason = 'rewritten' WHERE tenant_id = %s$$, :t),
    'PT403', 'order_status_history is append-only', 'direct UPDATE of order_status_history -> PT403');
SELECT throws_ok(format($$DELETE FROM commerce.order_status_history WHERE tenant_id = %s$$, :t),
    'PT403', 'order_status_history is append-only', 'direct DELETE from order_status_history -> PT403');
SELECT throws_ok($$TRUNCATE commerce.order_status_history$$,
    'PT403', 'order_status_history is append-only', 'TRUNCATE order_status_history -> PT403');
SELECT is(pg_temp.stock(), :'st', 'state machine: stock figures unchanged');
SELECT is(pg_temp.counts(), :'ct', 'state machine: counts unchanged');
SELECT is(pg_temp.fingerprint(), :'fp', 'state machine: no commerce table changed by refused writes');
-- legal moves
SELECT lives_ok(format($$UPDATE commerce.orders SET status = 'shipped' WHERE tenant_id = %s AND order_id = %s$$, :t, :o_jump),
    'direct UPDATE pending_payment -> shipped (a forward jump) is allowed');
SELECT lives_ok(format($$UPDATE commerce.orders SET status = 'shipped' WHERE tenant_id = %s AND order_id = %s$$, :t, :o_as),
    'direct UPDATE after_sale -> shipped (the status it came from) is allowed');
SELECT is((SELECT string_agg(format('%s %s->%s', order_id, from_status, to_status), ', ' ORDER BY history_id)
             FROM commerce.order_status_history WHERE tenant_id = :t AND order_id IN (:o_jump, :o_as) AND from_status IS NOT NULL),
    format('%1$s pending_payment->paid, %1$s paid->shipped, %1$s shipped->after_sale, %2$s pending_payment->shipped, %1$s after_sale->shipped',
           :o_as, :o_jump),
    'state machine: the history has one row per legal change and none for refused ones');

-- ingest_platform_order: arguments ----------------------------------------------------
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.stock() AS st \gset
SELECT pg_temp.counts() AS ct \gset
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(NULL, 'taobao', %L)$$, pg_temp.tb('{"tid":"TB2001"}')),
    '22004', 'argument p_tenant must not be null', 'ingest_platform_order: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, NULL, %L)$$, :t, pg_temp.tb('{"tid":"TB2001"}')),
    '22004', 'argument p_channel must not be null', 'ingest_platform_order: NULL channel -> 22004');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'taobao', NULL)$$, :t),
    '22004', 'argument p_payload must not be null', 'ingest_platform_order: NULL payload -> 22004');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(999999, 'taobao', %L)$$, pg_temp.tb('{"tid":"TB2001"}')),
    'PT404', 'tenant "999999" not found', 'ingest_platform_order: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'kuaishou', %L)$$, :t, pg_temp.tb('{"tid":"TB2001"}')),
    'PT404', 'channel "kuaishou" not found', 'ingest_platform_order: unknown channel (another tenant''s) -> PT404');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'h5', %L)$$, :t, pg_temp.tb('{"tid":"TB2001"}')),
    '22023', 'unknown platform "h5"', 'ingest_platform_order: self-operated channel h5 -> 22023');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'kuaishou', %L)$$, :t2, pg_temp.tb('{"tid":"TB2001"}')),
    '22023', 'unknown platform "kuaishou"', 'ingest_platform_order: a platform channel without a payload profile -> 22023');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'taobao', '[]')$$, :t),
    '22023', 'invalid value for p_payload', 'ingest_platform_order: payload is an array -> 22023');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'taobao', '"TB2001"')$$, :t),
    '22023', 'invalid value for p_payload', 'ingest_platform_order: payload is a string -> 22023');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'taobao', '{"tid":')$$, :t),
    '22P02', NULL, 'ingest_platform_order: malformed JSON -> 22P02');

-- ingest_platform_order: the payload of a new order
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'taobao', %L)$$, :t, pg_temp.tb() - 'tid'),
    '22023', 'invalid value for p_payload', 'ingest_platform_order: payload without an order id -> 22023');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'taobao', %L)$$, :t, pg_temp.tb('{"tid":"TB2001"}') - 'status'),
    '22023', 'invalid value for p_payload', 'ingest_platform_order: payload without a status -> 22023');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'taobao', %L)$$, :t, pg_temp.tb('{"tid":""}')),
    '23514', 'new row for relation "orders" violates check constraint "orders_external_order_id_check"',
    'ingest_platform_order: empty order id -> 23514 (table CHECK)');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'taobao', %L)$$, :t, pg_temp.tb(jsonb_build_object('tid', repeat('9', 201)))),
    '23514', 'new row for relation "orders" violates check constraint "orders_external_order_id_check"',
    'ingest_platform_order: 201-character order id -> 23514 (table CHECK)');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'taobao', %L)$$, :t, pg_temp.tb('{"tid":"TB2001","status":"WAIT_SELLER_DANCE"}')),
    '22023', 'unknown taobao order status "WAIT_SELLER_DANCE"', 'ingest_platform_order: unknown status word -> 22023');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'taobao', %L)$$, :t, pg_temp.tb_line('TB2001', 'outer_sku_id', '"NOPE"')),
    'PT404', 'SKU "NOPE" not found', 'ingest_platform_order: unknown SKU in a line -> PT404');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'taobao', %L)$$, :t, pg_temp.tb_line('TB2001', 'outer_sku_id', '"B1"')),
    'PT404', 'SKU "B1" not found', 'ingest_platform_order: another tenant''s SKU in a line -> PT404');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'taobao', %L)$$, :t, pg_temp.tb('{"tid":"TB2001","orders":{"order":[]}}')),
    '22023', 'invalid value for p_payload', 'ingest_platform_order: no lines -> 22023');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'taobao', %L)$$, :t, pg_temp.tb('{"tid":"TB2001"}') - 'orders'),
    '22023', 'invalid value for p_payload', 'ingest_platform_order: lines missing -> 22023');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'taobao', %L)$$, :t, pg_temp.tb('{"tid":"TB2001","total_fee":"-20.00"}')),
    '22023', 'invalid value for p_payload', 'ingest_platform_order: negative total_fee -> 22023');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'taobao', %L)$$, :t, pg_temp.tb('{"tid":"TB2001","total_fee":"1.005"}')),
    '22023', 'invalid value for p_payload', 'ingest_platform_order: total_fee 1.005 yuan (finer than a fen) -> 22023');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'taobao', %L)$$, :t, pg_temp.tb('{"tid":"TB2001","total_fee":"twenty"}')),
    '22023', 'invalid value for p_payload', 'ingest_platform_order: total_fee not a number -> 22023');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'taobao', %L)$$, :t, pg_temp.tb('{"tid":"TB2001","total_fee":"100000000000000000.00"}')),
    '22023', 'invalid value for p_payload', 'ingest_platform_order: total_fee beyond bigint fen -> 22023');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'taobao', %L)$$, :t, pg_temp.tb('{"tid":"TB2001","discount_fee":"0.001"}')),
    '22023', 'invalid value for p_payload', 'ingest_platform_order: discount_fee 0.001 yuan -> 22023');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'taobao', %L)$$, :t, pg_temp.tb('{"tid":"TB2001","post_fee":-5}')),
    '22023', 'invalid value for p_payload', 'ingest_platform_order: negative post_fee -> 22023');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'taobao', %L)$$, :t, pg_temp.tb_line('TB2001', 'price', '"-10.00"')),
    '22023', 'invalid value for p_payload', 'ingest_platform_order: negative line price -> 22023');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'taobao', %L)$$, :t, pg_temp.tb('{"tid":"TB2001","discount_fee":"30.00"}')),
    '22023', 'invalid value for p_payload', 'ingest_platform_order: discount 30.00 larger than goods 20.00 -> 22023');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'taobao', %L)$$, :t, pg_temp.tb('{"tid":"TB2001","modified":"yesterday-ish"}')),
    '22023', 'invalid value for p_payload', 'ingest_platform_order: modification time yesterday-ish -> 22023');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'taobao', %L)$$, :t, pg_temp.tb('{"tid":"TB2001"}') - 'modified'),
    '22023', 'invalid value for p_payload', 'ingest_platform_order: no modification time -> 22023');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'taobao', %L)$$, :t, pg_temp.tb('{"tid":"TB2001","modified":"2029-02-30 10:00:00"}')),
    '22023', 'invalid value for p_payload', 'ingest_platform_order: modification time 2029-02-30 -> 22023');
SELECT throws_ok(format($$SELECT pg_temp.or_undo(%L)$$,
        format($$SELECT commerce.ingest_platform_order(%s, 'taobao', %L)$$, :t, pg_temp.tb('{"tid":"TB2001","modified":"infinity"}'))),
    '22023', 'invalid value for p_payload', 'ingest_platform_order: modification time infinity -> 22023');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'douyin', %L)$$, :t,
        '{"order_id":"DY2001","order_status":2,"update_time":"soon","order_amount":1000,"sku_order_list":[{"code":"A1","item_num":1,"origin_amount":1000}]}'),
    '22023', 'invalid value for p_payload', 'ingest_platform_order: Douyin epoch time "soon" -> 22023');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'taobao', %L)$$, :t, pg_temp.tb_line('TB2001', 'num', '0')),
    '22023', 'invalid value for p_payload', 'ingest_platform_order: quantity 0 -> 22023');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'taobao', %L)$$, :t, pg_temp.tb_line('TB2001', 'num', '-1')),
    '22023', 'invalid value for p_payload', 'ingest_platform_order: quantity -1 -> 22023');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'taobao', %L)$$, :t, pg_temp.tb_line('TB2001', 'num', '1.5')),
    '22023', 'invalid value for p_payload', 'ingest_platform_order: quantity 1.5 -> 22023');
-- ... and of an order we have: a newer payload with a bad field changes nothing either
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'taobao', %L)$$, :t, pg_temp.tb('{"status":"WAIT_SELLER_DANCE","modified":"2030-01-01 07:00:00"}')),
    '22023', 'unknown taobao order status "WAIT_SELLER_DANCE"', 'ingest_platform_order: TB1001 with an unknown status word -> 22023');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'taobao', %L)$$, :t, pg_temp.tb('{"status":"WAIT_BUYER_CONFIRM_GOODS","modified":"yesterday-ish"}')),
    '22023', 'invalid value for p_payload', 'ingest_platform_order: TB1001 with a bad modification time -> 22023');
SELECT throws_ok(format($$SELECT commerce.ingest_platform_order(%s, 'taobao', %L)$$, :t, pg_temp.tb('{"status":"WAIT_BUYER_PAY","modified":"2030-01-01 07:00:00"}')),
    'PT409', format('order %s cannot go from paid to pending_payment', :o_tb), 'ingest_platform_order: TB1001 newer payload going back to unpaid -> PT409');
-- valid repeats are not errors
SELECT is((commerce.ingest_platform_order(:t, 'taobao', pg_temp.tb())).outcome, 'unchanged',
    'ingest_platform_order: the same payload again -> unchanged');
SELECT is((SELECT format('%s/%s', status, outcome) FROM commerce.ingest_platform_order(:t, 'taobao',
            pg_temp.tb('{"status":"WAIT_BUYER_PAY","modified":"2029-12-31 23:05:00"}'))), 'paid/older_ignored',
    'ingest_platform_order: an older payload -> older_ignored');
SELECT is((SELECT count(*) FROM commerce.orders WHERE external_order_id IN ('TB2001', 'DY2001', '')), 0::bigint,
    'ingest_platform_order: no order stored by refused payloads');
SELECT is(pg_temp.stock(), :'st', 'ingest_platform_order: no stock taken by refused payloads');
SELECT is(pg_temp.counts(), :'ct', 'ingest_platform_order: counts unchanged (no order, line, reservation or outbox message)');
SELECT is(pg_temp.fingerprint(), :'fp', 'ingest_platform_order: no commerce table changed by refused payloads and repeats');
-- an order id of 200 characters is a valid order id (orders.external_order_id is 1 to 200)
SELECT lives_ok(format($$SELECT commerce.ingest_platform_order(%s, 'taobao', %L)$$, :t, pg_temp.tb(jsonb_build_object('tid', repeat('9', 200)))),
    'ingest_platform_order: a paid order with a 200-character order id is stored');
SELECT lives_ok(format($$SELECT commerce.ingest_platform_order(%s, 'douyin', %L)$$, :t,
        '{"order_id":"DY3001","order_status":2,"update_time":1893456000,"order_amount":1000,"sku_order_list":[{"code":"A4","item_num":1,"origin_amount":1000}]}'),
    'ingest_platform_order: a paid order of a SKU stocked in two warehouses is stored');

-- map_platform_status ----------------------------------------------------------------
SELECT throws_ok(format($$SELECT commerce.map_platform_status(%s, 'taobao', 'WAIT_SELLER_DANCE')$$, :t),
    '22023', 'unknown taobao order status "WAIT_SELLER_DANCE"', 'map_platform_status: unknown word -> 22023');
SELECT throws_ok(format($$SELECT commerce.map_platform_status(%s, 'taobao', 'wait_seller_send_goods')$$, :t),
    '22023', 'unknown taobao order status "wait_seller_send_goods"', 'map_platform_status: words are case-sensitive -> 22023');
SELECT throws_ok(format($$SELECT commerce.map_platform_status(%s, 'kuaishou', '1')$$, :t2),
    '22023', 'unknown kuaishou order status "1"', 'map_platform_status: a platform without a map -> 22023');
SELECT throws_ok(format($$SELECT commerce.map_platform_status(%s, 'taobao', NULL)$$, :t),
    '22004', 'argument p_status must not be null', 'map_platform_status: NULL status -> 22004');
SELECT throws_ok($$SELECT commerce.map_platform_status(NULL, 'taobao', 'WAIT_SELLER_SEND_GOODS')$$,
    '22004', 'argument p_tenant must not be null', 'map_platform_status: NULL tenant -> 22004');
SELECT is(commerce.map_platform_status(:t, 'taobao', 'WAIT_SELLER_SEND_GOODS'), 'paid'::commerce.order_status,
    'map_platform_status: the tenant 0 default maps WAIT_SELLER_SEND_GOODS to paid');
INSERT INTO commerce.platform_status_map (tenant_id, channel_code, platform_status, status)
VALUES (:t, 'taobao', 'WAIT_SELLER_SEND_GOODS', 'shipped');
SELECT is(commerce.map_platform_status(:t, 'taobao', 'WAIT_SELLER_SEND_GOODS'), 'shipped'::commerce.order_status,
    'map_platform_status: a tenant''s own row overrides the default');
SELECT is(commerce.map_platform_status(:t2, 'taobao', 'WAIT_SELLER_SEND_GOODS'), 'paid'::commerce.order_status,
    'map_platform_status: other tenants keep the default');

-- missing_platform_orders --------------------------------------------------------------
SELECT pg_temp.fingerprint() AS fp \gset
SELECT throws_ok($$SELECT commerce.missing_platform_orders(NULL, 'taobao', ARRAY['TB1001'])$$,
    '22004', 'argument p_tenant must not be null', 'missing_platform_orders: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.missing_platform_orders(%s, NULL, ARRAY['TB1001'])$$, :t),
    '22004', 'argument p_channel must not be null', 'missing_platform_orders: NULL channel -> 22004');
SELECT throws_ok(format($$SELECT commerce.missing_platform_orders(%s, 'taobao', NULL)$$, :t),
    '22004', 'argument p_ids must not be null', 'missing_platform_orders: NULL ids -> 22004');
SELECT throws_ok($$SELECT commerce.missing_platform_orders(999999, 'taobao', ARRAY['TB1001'])$$,
    'PT404', 'tenant "999999" not found', 'missing_platform_orders: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.missing_platform_orders(%s, 'kuaishou', ARRAY['TB1001'])$$, :t),
    'PT404', 'channel "kuaishou" not found', 'missing_platform_orders: unknown channel -> PT404');
SELECT is((SELECT array_agg(x) FROM commerce.missing_platform_orders(:t, 'taobao',
            ARRAY['TB-404', 'TB1001', NULL, 'TB-403', 'TB-404']) x), ARRAY['TB-403', 'TB-404'],
    'missing_platform_orders: a mixed list -> the ids we lack, once each, sorted, NULLs ignored');
SELECT is((SELECT array_agg(x) FROM commerce.missing_platform_orders(:t, 'douyin', ARRAY['TB1001']) x), ARRAY['TB1001'],
    'missing_platform_orders: an id we have on another channel is missing on this one');
SELECT is((SELECT array_agg(x) FROM commerce.missing_platform_orders(:t2, 'taobao', ARRAY['TB1001']) x), ARRAY['TB1001'],
    'missing_platform_orders: an id another tenant has is missing for this one');
SELECT is((SELECT count(*) FROM commerce.missing_platform_orders(:t, 'taobao', ARRAY['TB1001'])), 0::bigint,
    'missing_platform_orders: nothing missing -> no rows');
SELECT is((SELECT count(*) FROM commerce.missing_platform_orders(:t, 'taobao', '{}')), 0::bigint,
    'missing_platform_orders: an empty list -> no rows');
SELECT is(pg_temp.fingerprint(), :'fp', 'missing_platform_orders: no commerce table changed');
SELECT is((SELECT count(*) FROM commerce.check_stock_invariants()), 0::bigint, 'stock invariants hold at the end');

SELECT * FROM finish();
ROLLBACK;
