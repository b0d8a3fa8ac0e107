-- members_mall.sql: the points mall (3.6.3): goods from the stock pool as an
-- order paid with points, coupons within their batch, a membership period;
-- once per request_id; the points spent exactly; a refusal (too few points,
-- no stock, coupons all claimed, the per-customer limit) undoes everything;
-- a coupon redemption reversed gives the points back once; the HTTP calls.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(30);
\ir lib/fingerprint.psql
\ir lib/call_as.psql
\o /dev/null

SET LOCAL commerce.now = '2030-03-01 10:00:00+08';
SELECT commerce.grant_api();
SELECT commerce.create_tenant('mall', 'Mall') AS t \gset
SELECT set_config('act.t', :'t', true);
SELECT commerce.upsert_product(:t, 'P', 'Mug');
SELECT commerce.upsert_sku(:t, 'P', 'MUG', 'Mug', 3900);
SELECT commerce.receive_stock(:t, 'r', 'MUG', 2);
SELECT commerce.upsert_product(:t, 'VIP', 'Membership', 'virtual', 'membership_card');
SELECT commerce.upsert_sku(:t, 'VIP', 'VIP-M', 'Monthly card', 990);
SELECT commerce.receive_stock(:t, 'r2', 'VIP-M', 100);
SELECT commerce.upsert_membership_plan(:t, 'MONTH', 'Monthly', 'VIP-M', 1, 500);
SELECT commerce.create_coupon_template(:t, 'T10', '{"name":"10 off","kind":"amount","amount_fen":1000,"valid_days":30}');
SELECT commerce.create_coupon_batch(:t, 'T10', 'C1', 1, false);
SELECT commerce.upsert_customer(:t, c) FROM unnest(ARRAY['a', 'b']) c;
SELECT commerce.upsert_staff(:t, 'op1', 'HQ', 'operator');
SELECT commerce.earn_points(:t, 'grant', 'g-a', 'a', 20000, 'welcome');
SELECT commerce.earn_points(:t, 'grant', 'g-b', 'b', 700, 'welcome');
SELECT commerce.upsert_mall_item(:t, 'MUG', 'A mug', 'goods', 1000, 'MUG');
SELECT commerce.upsert_mall_item(:t, 'COUPON', '10 yuan off', 'coupon', 500, 'C1');
SELECT commerce.upsert_mall_item(:t, 'CARD', 'Monthly card', 'membership', 5000, 'MONTH', 1);
\o

-- goods: an order paid with points, from the stock pool
SELECT is((commerce.redeem_points(:t, 'rd-1', 'a', 'MUG', 2, 'wechat_mp', '{"name":"A","phone":"13800000000","region":"Zhejiang","city":"Hangzhou","address":"1 Road"}')).outcome,
          'redeemed', 'a redeems two mugs');
SELECT is((SELECT o.status || ' ' || o.goods_fen || '-' || o.discount_fen || '=' || o.payable_fen FROM commerce.orders o
             JOIN commerce.points_redemption d USING (tenant_id, order_id) WHERE d.request_id = 'rd-1'),
          'paid 7800-7800=0', 'a paid order whose goods were paid with points');
SELECT is((SELECT available FROM commerce.points_account a JOIN commerce.customer cu USING (tenant_id, customer_id) WHERE cu.code = 'a'),
          18000::bigint, '2000 points spent');
SELECT is((commerce.redeem_points(:t, 'rd-1', 'a', 'MUG', 2)).outcome, 'existing', 'the same request again spends nothing');
SELECT pg_temp.fingerprint() AS fp0 \gset
SELECT throws_ok(format($$SELECT commerce.redeem_points(%s, 'rd-2', 'a', 'MUG', 1)$$, :t), 'PT409', NULL,
                 'no mug left in the pool -> PT409');
SELECT is(pg_temp.fingerprint(), :'fp0', 'and the points were not spent');
SELECT throws_ok(format($$SELECT commerce.redeem_points(%s, 'rd-3', 'b', 'CARD')$$, :t), 'PT409',
                 'customer "b" has 700 points to spend, not 5000', 'too few points -> PT409');
SELECT throws_ok(format($$SELECT commerce.redeem_points(%s, 'rd-1', 'a', 'COUPON')$$, :t), '23505', NULL,
                 'the request_id of another redemption -> 23505');
SELECT throws_ok(format($$SELECT commerce.redeem_points(%s, 'rd-4', 'a', 'COUPON', 2)$$, :t), '22023', 'invalid value for p_qty',
                 'two coupons at once -> 22023');
SELECT throws_ok(format($$SELECT commerce.redeem_points(%s, 'rd-4', 'a', 'NOPE')$$, :t), 'PT404', 'mall item "NOPE" not found',
                 'an unknown item -> PT404');
SELECT is(pg_temp.fingerprint(), :'fp0', 'the refused redemptions changed nothing');

-- a coupon; the batch's last; reversed once
SELECT is((commerce.redeem_points(:t, 'rd-5', 'a', 'COUPON')).outcome, 'redeemed', 'a redeems the batch''s only coupon');
SELECT pg_temp.fingerprint() AS fp1 \gset
SELECT throws_ok(format($$SELECT commerce.redeem_points(%s, 'rd-6', 'b', 'COUPON')$$, :t), 'PT409', 'coupon batch "C1" is all claimed',
                 'the next one: all claimed -> PT409');
SELECT is(pg_temp.fingerprint(), :'fp1', 'b''s points were not spent');
SELECT is((commerce.reverse_redemption(:t, 'rd-5', 'changed mind')).outcome, 'reversed', 'customer service reverses it');
SELECT is((commerce.reverse_redemption(:t, 'rd-5', 'changed mind')).outcome, 'existing', 'once');
SELECT is((SELECT status FROM commerce.coupon WHERE tenant_id = :t AND source = 'redeem'), 'revoked', 'the coupon is revoked');
SELECT is((SELECT available FROM commerce.points_account a JOIN commerce.customer cu USING (tenant_id, customer_id) WHERE cu.code = 'a'),
          18000::bigint, 'the 500 points came back');
SELECT throws_ok(format($$SELECT commerce.reverse_redemption(%s, 'rd-1', 'x')$$, :t), 'PT409', NULL,
                 'goods not returned yet cannot be reversed -> PT409');
-- the mugs come back: a return of 0 fen; its completed refund gives the 2000 points back
SELECT after_sale_id AS as1 FROM commerce.request_after_sale(:t, 'as-rd-1', (SELECT order_id FROM commerce.points_redemption WHERE tenant_id = :t AND request_id = 'rd-1'),
       'return_refund', 0, 'changed mind', '[{"sku":"MUG","qty":2}]') \gset
SELECT is((commerce.decide_after_sale(:t, :as1, true)).status, 'approved', 'the return is approved');
SELECT is((commerce.receive_returned_goods(:t, :as1)).status, 'goods_returned', 'the mugs are back in stock');
SELECT is((commerce.complete_refund(:t, :as1)).status, 'refunded', 'the 0-fen refund completes');
SELECT is((SELECT status FROM commerce.points_redemption WHERE tenant_id = :t AND request_id = 'rd-1'), 'reversed', 'the redemption is reversed');
SELECT is((SELECT available FROM commerce.points_account a JOIN commerce.customer cu USING (tenant_id, customer_id) WHERE cu.code = 'a'),
          20000::bigint, 'and a has its 2000 points back');
SELECT is((SELECT count(*) FROM commerce.outbox WHERE tenant_id = :t AND topic = 'payment.refund'), 0::bigint, 'no money refund is asked for');

-- a membership for 5000 points, once per customer
SELECT is((commerce.redeem_points(:t, 'rd-7', 'a', 'CARD')).outcome, 'redeemed', 'a redeems a monthly card');
SELECT is((SELECT status FROM commerce.membership m JOIN commerce.customer cu USING (tenant_id, customer_id) WHERE cu.code = 'a'),
          'active', 'its membership is active');
SELECT throws_ok(format($$SELECT commerce.redeem_points(%s, 'rd-8', 'a', 'CARD')$$, :t), 'PT409', 'customer "a" has redeemed "CARD" 1 times',
                 'the card once per customer -> PT409');

-- HTTP: a customer redeems for itself
SELECT is(pg_temp.call_as('customer', 'b', $$SELECT * FROM commerce_api.redeem_points('h1', 'COUPON', customer => 'a')$$),
          '42501: a customer acts only as itself', 'a customer cannot redeem another''s points (42501)');

SELECT is((SELECT count(*) FROM commerce.check_mall_invariants()) + (SELECT count(*) FROM commerce.check_points_invariants())
          + (SELECT count(*) FROM commerce.check_coupon_invariants()) + (SELECT count(*) FROM commerce.check_membership_invariants())
          + (SELECT count(*) FROM commerce.check_stock_invariants()), 0::bigint, 'the mall, points, coupon, membership and stock invariants hold');

SELECT * FROM finish();
ROLLBACK;
