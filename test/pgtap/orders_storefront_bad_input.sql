-- orders_storefront_bad_input.sql: the storefront API (sign_up, catalog,
-- place_order, pay_intent, cancel_order, orders, order_history,
-- request_after_sale) refuses bad input and other customers' orders with
-- their SQLSTATE and changes nothing; commerce.yuan writes fen exactly.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(31);
\ir lib/fingerprint.psql
\o /dev/null

SET LOCAL commerce.now = '2030-01-10 10:00:00+08';
SELECT commerce.create_tenant('sf', 'Storefront') AS t \gset
SELECT commerce.upsert_member_tier(:t, 'vip', 'VIP', 1);
SELECT commerce.upsert_product(:t, 'P', 'Tee', 'physical', NULL, NULL, 'apparel');
SELECT commerce.upsert_sku(:t, 'P', 'TEE', 'Tee', 9900);
SELECT commerce.set_price(:t, 'TEE', 'member', 7900, p_member_tier => 'vip');
SELECT commerce.receive_stock(:t, 'r', 'TEE', 10);
SELECT commerce.upsert_customer(:t, 'a', p_member_tier => 'vip');
SELECT commerce.upsert_customer(:t, 'b');
SELECT order_id AS paid FROM commerce.place_order(:t, 'o-paid', 'wechat_mp', '{"lines":[{"sku":"TEE","qty":1}]}', 'a') \gset
SELECT commerce.pay_order(:t, :paid, 'pay-1', 7900);
SELECT order_id AS unpaid FROM commerce.place_order(:t, 'o-unpaid', 'wechat_mp', '{"lines":[{"sku":"TEE","qty":1}]}', 'a') \gset
SELECT set_config('request.jwt.claims', format('{"tenant_id":"%s","sub":"a","role":"commerce_customer"}', :t), true);
SELECT pg_temp.fingerprint() AS fp0 \gset
\o

-- money as a display shows it
SELECT is(commerce.yuan(39900), '399.00', 'yuan: 39900 fen');
SELECT is(commerce.yuan(-5), '-0.05', 'yuan: a negative amount keeps its sign');
SELECT is(commerce.yuan(0), '0.00', 'yuan: zero');
SELECT is(commerce.yuan(-9223372036854775808), '-92233720368547758.08', 'yuan: the smallest bigint, exactly');
SELECT is(commerce.yuan(NULL), NULL, 'yuan: NULL for NULL');

-- what a customer sees
SELECT is((SELECT price_fen FROM commerce_api.catalog('wechat_mp')), 7900::bigint, 'catalog: the customer''s member price');
SELECT is((SELECT available FROM commerce_api.catalog('wechat_mp')), 8::bigint, 'catalog: units available to order');
SELECT is((SELECT count(*) FROM commerce_api.catalog('wechat_mp', after_sku => 'TEE')), 0::bigint, 'catalog: the page after the last is empty');
SELECT is((SELECT array_agg(order_id ORDER BY order_id DESC) FROM commerce_api.orders()), ARRAY[:unpaid, :paid]::bigint[], 'orders: its own, newest first');
SELECT is((SELECT array_agg(order_id) FROM commerce_api.orders(before_id => :unpaid)), ARRAY[:paid]::bigint[], 'orders: paged by before_id');
SELECT is((SELECT array_agg(order_id) FROM commerce_api.orders('paid')), ARRAY[:paid]::bigint[], 'orders: of one status');

-- bad input
SELECT throws_ok($$SELECT * FROM commerce_api.catalog('wechat_mp', page_size => 0)$$, '22023', 'invalid value for page_size', 'catalog: page_size 0 -> 22023');
SELECT throws_ok($$SELECT * FROM commerce_api.catalog('wechat_mp', page_size => 101)$$, '22023', 'invalid value for page_size', 'catalog: page_size 101 -> 22023');
SELECT throws_ok($$SELECT * FROM commerce_api.catalog(NULL)$$, '22004', 'argument channel must not be null', 'catalog: no channel -> 22004');
SELECT throws_ok($$SELECT * FROM commerce_api.catalog('nope')$$, 'PT404', 'channel "nope" not found', 'catalog: unknown channel -> PT404');
SELECT throws_ok($$SELECT * FROM commerce_api.sign_up(phone => '12ab')$$, '22023', 'invalid value for phone', 'sign_up: not a phone number -> 22023');
SELECT throws_ok($$SELECT * FROM commerce_api.sign_up(repeat('x', 65))$$, '22023', 'invalid value for name', 'sign_up: a 65-character name -> 22023');
SELECT throws_ok($$SELECT * FROM commerce_api.place_order('o-x', 'wechat_mp', '[{"sku":"TEE","qty":1}]', customer => 'b')$$,
                 '42501', 'a customer acts only as itself', 'place_order: for another customer -> 42501');
SELECT throws_ok($$SELECT * FROM commerce_api.place_order('o-x', 'taobao', '[{"sku":"TEE","qty":1}]')$$,
                 '22023', 'invalid value for p_channel', 'place_order: on a platform channel -> 22023');
SELECT throws_ok($$SELECT * FROM commerce_api.place_order('o-x', 'wechat_mp', '[{"sku":"TEE","qty":100}]')$$,
                 'PT409', NULL, 'place_order: more than the stock -> PT409');
SELECT throws_ok(format($$SELECT * FROM commerce_api.pay_intent(%s)$$, :paid), 'PT409', NULL, 'pay_intent: a paid order -> PT409');
SELECT throws_ok(format($$SELECT * FROM commerce_api.cancel_order(%s)$$, :paid), 'PT409', NULL, 'cancel_order: a paid order -> PT409');
SELECT throws_ok($$SELECT * FROM commerce_api.orders(page_size => 0)$$, '22023', 'invalid value for page_size', 'orders: page_size 0 -> 22023');
SELECT throws_ok($$SELECT * FROM commerce_api.order_history(NULL)$$, '22004', 'argument order_id must not be null', 'order_history: no order -> 22004');
SELECT throws_ok($$SELECT * FROM commerce_api.request_after_sale('as-1', (SELECT max(order_id) FROM commerce.orders), NULL)$$,
                 '22004', 'argument kind must not be null', 'request_after_sale: no kind -> 22004');
SELECT throws_ok($$SELECT * FROM commerce_api.koc_account()$$, '42501', 'commerce_api.koc_account is not open to customer callers',
                 'koc_account: a customer -> 42501');
SELECT is(pg_temp.fingerprint(), :'fp0', 'refused calls: nothing changed');

-- another customer's orders do not exist for it
SELECT set_config('request.jwt.claims', format('{"tenant_id":"%s","sub":"b","role":"commerce_customer"}', :t), true) IS NOT NULL AS as_b \gset
SELECT throws_ok(format($$SELECT * FROM commerce_api.order_history(%s)$$, :paid), 'PT404', format('order "%s" not found', :paid), 'order_history: another''s order -> PT404');
SELECT throws_ok(format($$SELECT * FROM commerce_api.pay_intent(%s)$$, :unpaid), 'PT404', NULL, 'pay_intent: another''s order -> PT404');
SELECT throws_ok(format($$SELECT * FROM commerce_api.cancel_order(%s)$$, :unpaid), 'PT404', NULL, 'cancel_order: another''s order -> PT404');
SELECT is(pg_temp.fingerprint(), :'fp0', 'another customer''s attempts: nothing changed');
SELECT * FROM finish();
ROLLBACK;
