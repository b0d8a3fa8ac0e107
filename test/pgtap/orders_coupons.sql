-- orders_coupons.sql: coupons used in place_order: each split over the lines
-- it applies to by the largest remainder and recorded per line, never below a
-- SKU's floor; thresholds, scope, stacking and validity; locked to the order,
-- used when it is paid, released when it is cancelled or times out unpaid;
-- refused coupons change nothing; the HTTP place_order; the invariants.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(39);
\ir lib/fingerprint.psql
\ir lib/call_as.psql
\o /dev/null

SET LOCAL commerce.now = '2030-03-01 10:00:00+08';
SELECT commerce.grant_api();
SELECT commerce.create_tenant('cpo', 'Coupon orders') AS t \gset
SELECT set_config('act.t', :'t', true);
SELECT commerce.upsert_product(:t, 'P', 'Tee');
SELECT commerce.upsert_sku(:t, 'P', 'TEE', 'Tee', 9900, 5000);
SELECT commerce.upsert_product(:t, 'Q', 'Cap');
SELECT commerce.upsert_sku(:t, 'Q', 'CAP', 'Cap', 3333);
SELECT commerce.receive_stock(:t, 'r1', 'TEE', 100);
SELECT commerce.receive_stock(:t, 'r2', 'CAP', 100);
SELECT commerce.upsert_customer(:t, c) FROM unnest(ARRAY['a', 'b']) c;
SELECT commerce.upsert_store(:t, 'S1', 'Store one');
SELECT commerce.create_coupon_template(:t, 'M100-20', '{"name":"满100减20","kind":"amount","amount_fen":2000,"threshold_fen":10000,"valid_days":30,"stacking":"stackable"}');
SELECT commerce.create_coupon_template(:t, 'CAP10', '{"name":"Caps 10% off","kind":"percent","percent_off_bp":1000,"max_off_fen":5000,"valid_days":30,"stacking":"stackable","products":["Q"]}');
SELECT commerce.create_coupon_template(:t, 'X50', '{"name":"50 off","kind":"amount","amount_fen":5000,"valid_days":30}');
SELECT commerce.create_coupon_template(:t, 'BIG', '{"name":"1000 off","kind":"amount","amount_fen":100000,"valid_days":30}');
SELECT commerce.create_coupon_template(:t, 'MP1', '{"name":"Mini-program 1","kind":"amount","amount_fen":100,"valid_days":30,"channels":["wechat_mp"]}');
SELECT commerce.create_coupon_template(:t, 'ST1', '{"name":"Store 1","kind":"amount","amount_fen":100,"valid_days":30,"stores":["S1"]}');
SELECT commerce.create_coupon_template(:t, 'SHORT', '{"name":"Today","kind":"amount","amount_fen":100,"valid_until":"2030-03-01T12:00:00+08:00"}');
SELECT commerce.create_coupon_batch(:t, c, c, NULL, false) FROM unnest(ARRAY['M100-20', 'CAP10', 'X50', 'BIG', 'MP1', 'ST1', 'SHORT']) c;
-- a: coupons 1..9; b: coupon 10
SELECT (commerce.issue_coupon(:t, 'issue', 'a-' || n, c, 'a')).coupon_id
  FROM unnest(ARRAY['M100-20', 'CAP10', 'X50', 'BIG', 'MP1', 'ST1', 'SHORT', 'M100-20', 'M100-20']) WITH ORDINALITY x(c, n) ORDER BY n;
SELECT commerce.issue_coupon(:t, 'issue', 'b-1', 'X50', 'b');
\o

-- two stackable coupons: each split over its lines, recorded per line
SELECT order_id AS o1 FROM commerce.place_order(:t, 'o1', 'wechat_mp',
    '{"lines":[{"sku":"TEE","qty":1},{"sku":"CAP","qty":1}],"coupons":[1,2]}', 'a') \gset
SELECT is((SELECT goods_fen || '-' || discount_fen || '=' || payable_fen FROM commerce.orders WHERE order_id = :o1), '13233-2282=10951',
          '13233 fen of goods, 2000 (满100减20) + 282 (10% of the cap after its share of the 20) off');
SELECT is((SELECT string_agg(coupon_id || ':' || line_no || ':' || amount_fen, ',' ORDER BY coupon_id, line_no) FROM commerce.order_discount
            WHERE tenant_id = :t AND order_id = :o1), '1:1:1496,1:2:504,2:2:282',
          'the 20 yuan split 9900:3333 by the largest remainder (1496 + 504), the 10% on the cap only');
SELECT is((SELECT string_agg(coupon_id || ':' || status || ':' || order_id, ',' ORDER BY coupon_id) FROM commerce.coupon
            WHERE tenant_id = :t AND order_id IS NOT NULL), '1:locked:' || :o1 || ',2:locked:' || :o1, 'both are locked to the order');
SELECT is((commerce.place_order(:t, 'o1', 'wechat_mp', '{"lines":[{"sku":"TEE","qty":1},{"sku":"CAP","qty":1}],"coupons":[1,2]}', 'a')).outcome,
          'existing', 'the same request again returns the order');

-- refused coupons change nothing
SELECT pg_temp.fingerprint() AS fp0 \gset
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'o2', 'wechat_mp', '{"lines":[{"sku":"TEE","qty":2}],"coupons":[1]}', 'a')$$, :t),
                 'PT409', 'coupon 1 cannot be used: locked', 'a coupon locked by another order -> PT409');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'o2', 'wechat_mp', '{"lines":[{"sku":"TEE","qty":2}],"coupons":[10]}', 'a')$$, :t),
                 'PT404', 'coupon "10" not found', 'another customer''s coupon is not found (PT404)');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'o2', 'wechat_mp', '{"lines":[{"sku":"CAP","qty":1}],"coupons":[8]}', 'a')$$, :t),
                 'PT409', 'coupon 8 needs 10000 fen of eligible goods, the order has 3333', 'below the threshold -> PT409');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'o2', 'wechat_mp', '{"lines":[{"sku":"TEE","qty":2}],"coupons":[3,8]}', 'a')$$, :t),
                 'PT409', 'coupon 3 cannot be combined with the other coupons of the order', 'an exclusive coupon with another -> PT409');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'o2', 'wechat_mp', '{"lines":[{"sku":"TEE","qty":2}],"coupons":[8,9]}', 'a')$$, :t),
                 'PT409', 'coupon 9 cannot be combined with the other coupons of the order', 'two coupons of one template -> PT409');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'o2', 'h5', '{"lines":[{"sku":"TEE","qty":1}],"coupons":[5]}', 'a')$$, :t),
                 'PT409', 'coupon 5 is not valid on this channel', 'a mini-program coupon on h5 -> PT409');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'o2', 'wechat_mp', '{"lines":[{"sku":"TEE","qty":1}],"coupons":[6]}', 'a')$$, :t),
                 'PT409', 'coupon 6 is not valid on this channel', 'a store''s coupon online -> PT409');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'o2', 'wechat_mp', '{"lines":[{"sku":"TEE","qty":1}],"coupons":[2]}', 'a')$$, :t),
                 'PT409', 'coupon 2 cannot be used: locked', 'a locked coupon, even for lines it does not cover -> PT409');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'o2', 'wechat_mp', '{"lines":[{"sku":"TEE","qty":1}],"coupons":"1"}', 'a')$$, :t),
                 '22023', 'invalid value for p_order', 'coupons not a list -> 22023');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'o2', 'wechat_mp', '{"lines":[{"sku":"TEE","qty":1}],"coupons":[1,2,3,4,5,6,7,8,9,10,11]}', 'a')$$, :t),
                 '22023', 'invalid value for p_order', 'more than 10 coupons -> 22023');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'o2', 'wechat_mp', '{"lines":[{"sku":"TEE","qty":1}],"coupons":[3]}')$$, :t),
                 '22023', 'invalid value for p_order', 'coupons on an order without a customer -> 22023');
SELECT is(pg_temp.fingerprint(), :'fp0', 'the refused orders held no stock, locked no coupon, wrote nothing');

-- never below the floor
SELECT order_id AS o3 FROM commerce.place_order(:t, 'o3', 'wechat_mp', '{"lines":[{"sku":"TEE","qty":2}],"coupons":[4]}', 'a') \gset
SELECT is((SELECT discount_fen || '/' || payable_fen FROM commerce.orders WHERE order_id = :o3), '9800/10000',
          'a 1000-yuan coupon takes two tees down to their floor (2 x 50.00) and no further');

-- payment uses, cancellation releases, timeout releases
SELECT is((commerce.pay_order(:t, :o1, 'pay-1', 10951)).status, 'paid', 'the first order is paid');
SELECT is((SELECT string_agg(status, ',' ORDER BY coupon_id) FROM commerce.coupon WHERE tenant_id = :t AND coupon_id IN (1, 2)),
          'used,used', 'its coupons are used');
SELECT is((commerce.cancel_order(:t, :o3, 'changed my mind')).status, 'cancelled', 'the floor order is cancelled');
SELECT is((SELECT status || ':' || coalesce(order_id::text, '-') || ':' || releases FROM commerce.coupon WHERE tenant_id = :t AND coupon_id = 4),
          'issued:-:1', 'its coupon is released (issued again, released once)');
SELECT order_id AS o4 FROM commerce.place_order(:t, 'o4', 'wechat_mp', '{"lines":[{"sku":"TEE","qty":1}],"coupons":[4]}', 'a') \gset
SELECT is((SELECT discount_fen FROM commerce.orders WHERE order_id = :o4), 4900::bigint, 'the released coupon is used again');
SET LOCAL commerce.now = '2030-03-01 10:30:00+08';
SELECT is(commerce.cancel_unpaid_orders(100), 1, 'the unpaid order times out');
SELECT is((SELECT status || ':' || releases FROM commerce.coupon WHERE tenant_id = :t AND coupon_id = 4), 'issued:2',
          'and releases the coupon again');

-- validity
SET LOCAL commerce.now = '2030-03-01 12:00:00+08';
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'o5', 'wechat_mp', '{"lines":[{"sku":"TEE","qty":1}],"coupons":[7]}', 'a')$$, :t),
                 'PT409', 'coupon 7 cannot be used: past its validity', 'a coupon at its valid_until -> PT409');
SELECT is(commerce.expire_coupons(10), 1, 'the pump expires it');

-- HTTP: a customer uses its own coupons; another's are not found
SELECT is(pg_temp.call_as('customer', 'a', $$SELECT * FROM commerce_api.place_order('h1', 'wechat_mp', '[{"sku":"TEE","qty":1}]', coupons => ARRAY[4]::bigint[])$$),
          'ok', 'a uses its coupon through the API');
SELECT is((SELECT discount_fen FROM commerce.orders WHERE tenant_id = :t AND request_id = 'h1'), 4900::bigint, 'with its discount');
SELECT is(pg_temp.call_as('customer', 'b', $$SELECT * FROM commerce_api.place_order('h2', 'wechat_mp', '[{"sku":"TEE","qty":1}]', coupons => ARRAY[3]::bigint[])$$),
          'PT404: coupon "3" not found', 'b cannot use a''s coupon (PT404)');
SELECT is(pg_temp.call_as('customer', 'a', $$SELECT 1/(count(*) = 1)::int FROM commerce_api.my_coupons('locked')$$), 'ok',
          'a sees its locked coupon');
SELECT is(pg_temp.call_as('customer', 'b', $$SELECT 1/(count(*) = 1)::int FROM commerce_api.my_coupons()$$), 'ok',
          'b sees only its own coupon');

-- a store coupon at its store's counter, once; not online, not another's, not at the counter if not a store coupon
SELECT commerce.upsert_staff(:t, 'st1', 'Counter', 'store', ARRAY['S1']) \gset
SELECT is(pg_temp.call_as('store', 'st1', $$SELECT * FROM commerce_api.redeem_store_coupon(6, 'S1', 'a')$$), 'ok',
          'the store''s staff redeem a''s store coupon at the counter');
SELECT is((SELECT status || ':' || (store_id IS NOT NULL) FROM commerce.coupon WHERE tenant_id = :t AND coupon_id = 6), 'used:true',
          'it is used at the store');
SELECT is((commerce.redeem_store_coupon(:t, 6, 'S1', 'a')).outcome, 'existing', 'the same redemption again');
SELECT throws_ok(format($$SELECT commerce.redeem_store_coupon(%s, 3, 'S1', 'a')$$, :t), 'PT409', 'coupon 3 is not valid at store "S1"',
                 'an online coupon at the counter -> PT409');
SELECT throws_ok(format($$SELECT commerce.redeem_store_coupon(%s, 10, 'S1', 'a')$$, :t), 'PT404', 'coupon "10" not found',
                 'another customer''s coupon -> PT404');

-- the KOC commission and points use the discounted amount: the order's payable is what was paid
SELECT is((SELECT paid_fen FROM commerce.orders WHERE order_id = :o1), 10951::bigint, 'the paid amount is the discounted one');
SELECT is((SELECT count(*) FROM commerce.check_coupon_invariants()), 0::bigint, 'the coupon invariants hold');
SELECT is((SELECT count(*) FROM commerce.check_order_invariants()), 0::bigint, 'the order invariants hold');

SELECT * FROM finish();
ROLLBACK;
