-- members_membership.sql: paid membership (seed 003 3.6.2) end to end: a
-- plan bought as an order of its SKU, activated once per payment, renewed
-- from its end; its benefits read at the moment of use (the member discount
-- in checkout, never below the floor and not on the card itself; the 24-hour
-- ship-by; double points in the birthday month; the monthly gift, once);
-- cancellation, past due and expiry; points caps; bad input refused with its
-- SQLSTATE and nothing changed; the invariants.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(55);
\ir lib/fingerprint.psql
\ir lib/call_as.psql
\o /dev/null

SET LOCAL commerce.now = '2030-03-01 10:00:00+08';
SELECT commerce.grant_api();
SELECT commerce.create_tenant('mem', 'Members') AS t \gset
SELECT set_config('act.t', :'t', true);
SELECT commerce.upsert_product(:t, 'VIP', 'Membership', 'virtual', 'membership_card');
SELECT commerce.upsert_sku(:t, 'VIP', 'VIP-M', 'Monthly card', 990);
SELECT commerce.upsert_sku(:t, 'VIP', 'VIP-Y', 'Yearly card', 9900);
SELECT commerce.receive_stock(:t, 'r0', 'VIP-M', 1000);
SELECT commerce.receive_stock(:t, 'r1', 'VIP-Y', 1000);
SELECT commerce.upsert_product(:t, 'P', 'Tee');
SELECT commerce.upsert_sku(:t, 'P', 'TEE', 'Tee', 10000, 9500);
SELECT commerce.upsert_sku(:t, 'P', 'CAP', 'Cap', 3333);
SELECT commerce.receive_stock(:t, 'r2', 'TEE', 100);
SELECT commerce.receive_stock(:t, 'r3', 'CAP', 100);
SELECT commerce.upsert_customer(:t, c) FROM unnest(ARRAY['a', 'b', 'c']) c;
SELECT commerce.upsert_staff(:t, 'op1', 'HQ', 'operator');
SELECT commerce.set_points_rule(:t, 'wechat_mp', 1, 'paid', 0, 365);
SELECT commerce.create_coupon_template(:t, 'GIFT', '{"name":"Member gift","kind":"amount","amount_fen":500,"valid_days":30}');
SELECT commerce.create_coupon_batch(:t, 'GIFT', 'GIFTS', NULL, false);
SELECT commerce.upsert_membership_plan(:t, 'MONTH', 'Monthly', 'VIP-M', 1, 500);
SELECT commerce.upsert_membership_plan(:t, 'YEAR', 'Yearly', 'VIP-Y', 12, 1000,
    '{"priority_shipping":true,"birthday_double":true,"priority_service":true,"badge":"Gold","gift_batch":"GIFTS"}');
\o

-- buy, pay once, renew from the end
SELECT order_id AS y1 FROM commerce.buy_membership(:t, 'y1', 'a', 'YEAR', 'wechat_mp') \gset
SELECT is((SELECT status FROM commerce.membership WHERE tenant_id = :t), 'pending_payment', 'a bought the yearly plan: pending payment');
SELECT is((commerce.buy_membership(:t, 'y1', 'a', 'YEAR', 'wechat_mp')).order_id, :y1::bigint, 'the same request again: the same order');
SELECT is((SELECT payable_fen FROM commerce.orders WHERE order_id = :y1), 9900::bigint, 'the card costs its price');
SELECT is((commerce.pay_order(:t, :y1, 'pay-y1', 9900)).status, 'paid', 'paid');
SELECT is((SELECT status || ' ' || period_end FROM commerce.membership WHERE tenant_id = :t),
          'active ' || '2031-03-01 10:00:00+08'::timestamptz, 'active for twelve months from the payment');
SELECT is((commerce.pay_order(:t, :y1, 'pay-y1', 9900)).outcome, 'already_paid', 'the same payment posted again');
SELECT is((SELECT count(*) FROM commerce.membership_period WHERE tenant_id = :t), 1::bigint, 'extends once');
SELECT is((SELECT string_agg(kind || ':' || rate_bp, ',' ORDER BY kind) FROM commerce.customer_benefit WHERE tenant_id = :t),
          'badge:0,birthday_double_points:0,member_discount:1000,priority_service:0,priority_shipping:0', 'the plan''s benefits are granted');

-- the member discount in checkout: never below the floor, not on the card itself
SELECT order_id AS o1 FROM commerce.place_order(:t, 'o1', 'wechat_mp', '{"lines":[{"sku":"TEE","qty":1},{"sku":"CAP","qty":1}]}', 'a') \gset
SELECT is((SELECT string_agg(unit_price_fen || ':' || price_source, ',' ORDER BY line_no) FROM commerce.order_line WHERE tenant_id = :t AND order_id = :o1),
          '9500:paid_member,3000:paid_member', '10% off: the tee stops at its floor (95.00), the cap 33.33 -> 30.00');
SELECT order_id AS o0 FROM commerce.place_order(:t, 'o0', 'wechat_mp', '{"lines":[{"sku":"TEE","qty":1}]}', 'b') \gset
SELECT is((SELECT unit_price_fen FROM commerce.order_line WHERE tenant_id = :t AND order_id = :o0), 10000::bigint, 'a non-member pays the list price');
SELECT order_id AS y2 FROM commerce.buy_membership(:t, 'y2', 'a', 'YEAR', 'wechat_mp') \gset
SELECT is((SELECT payable_fen FROM commerce.orders WHERE order_id = :y2), 9900::bigint, 'the renewal card is not discounted by the membership');
SELECT is((commerce.pay_order(:t, :y2, 'pay-y2', 9900)).status, 'paid', 'the renewal is paid');
SELECT is((SELECT period_end FROM commerce.membership WHERE tenant_id = :t AND customer_id = (SELECT customer_id FROM commerce.customer WHERE tenant_id = :t AND code = 'a')),
          '2032-03-01 10:00:00+08'::timestamptz, 'renewed from the end of the paid period, not from now');

-- priority shipping and birthday double points
SELECT is(commerce.set_birthday(:t, 'a', '1995-03-15'), '1995-03-15'::date, 'a sets its birthday (March)');
SELECT is((commerce.pay_order(:t, :o1, 'pay-o1', 12500)).status, 'paid', 'a pays its order');
SELECT is((SELECT ship_by FROM commerce.orders WHERE order_id = :o1), '2030-03-02 10:00:00+08'::timestamptz, 'priority shipping: ship by 24 hours after payment');
SELECT is((SELECT points FROM commerce.points_lot WHERE tenant_id = :t AND order_id = :o1), 250::bigint,
          '125.00 yuan in the birthday month earns double: 250 points');
SELECT is((SELECT points FROM commerce.points_lot WHERE tenant_id = :t AND order_id = :y1), 99::bigint,
          'the card, paid before the birthday was known, earned single points (99)');

-- the monthly gift, once a month
SELECT is(commerce.grant_member_gifts(100), 1, 'the member gets March''s gift');
SELECT is(commerce.grant_member_gifts(100), 0, 'once');
SELECT is((SELECT count(*) FROM commerce.coupon WHERE tenant_id = :t AND source = 'reward'), 1::bigint, 'one gift coupon');
SET LOCAL commerce.now = '2030-04-01 00:00:00+08';
SELECT is(commerce.grant_member_gifts(100), 1, 'April''s gift at local midnight');

-- the monthly plan: past due, renewal, expiry
SET LOCAL commerce.now = '2030-03-01 10:00:00+08';
SELECT order_id AS m1 FROM commerce.buy_membership(:t, 'm1', 'b', 'MONTH', 'wechat_mp') \gset
SELECT is((commerce.pay_order(:t, :m1, 'pay-m1', 990)).status, 'paid', 'b buys a month');
SET LOCAL commerce.now = '2030-04-02 10:00:00+08';
SELECT is(commerce.expire_memberships(100), 1, 'a day after its end');
SELECT is((SELECT status FROM commerce.membership m JOIN commerce.customer cu USING (tenant_id, customer_id) WHERE cu.code = 'b'), 'past_due',
          'b is past due (grace days)');
SELECT order_id AS o2 FROM commerce.place_order(:t, 'o2', 'wechat_mp', '{"lines":[{"sku":"CAP","qty":1}]}', 'b') \gset
SELECT is((SELECT unit_price_fen FROM commerce.order_line WHERE tenant_id = :t AND order_id = :o2), 3333::bigint, 'past due: no discount');
SELECT order_id AS m2 FROM commerce.buy_membership(:t, 'm2', 'b', 'MONTH', 'wechat_mp') \gset
SELECT is((commerce.pay_order(:t, :m2, 'pay-m2', 990)).status, 'paid', 'b renews while past due');
SELECT is((SELECT status || ' ' || period_end FROM commerce.membership m JOIN commerce.customer cu USING (tenant_id, customer_id) WHERE cu.code = 'b'),
          'active ' || '2030-05-02 10:00:00+08'::timestamptz, 'active again for a month from the renewal');
SET LOCAL commerce.now = '2030-05-03 10:00:00+08';
SELECT is(commerce.expire_memberships(100), 1, 'a day after the renewed end: past due again');
SET LOCAL commerce.now = '2030-05-06 10:00:00+08';
SELECT is(commerce.expire_memberships(100), 1, 'and expired after the three grace days');
SELECT is((SELECT status FROM commerce.membership m JOIN commerce.customer cu USING (tenant_id, customer_id) WHERE cu.code = 'b'), 'expired', 'b''s membership expired');

-- an unpaid purchase that times out ends the pending membership
SELECT order_id AS c1 FROM commerce.buy_membership(:t, 'c1', 'c', 'MONTH', 'wechat_mp') \gset
SELECT is((commerce.cancel_order(:t, :c1, 'changed my mind')).status, 'cancelled', 'c cancels its unpaid card');
SELECT is((SELECT status FROM commerce.membership m JOIN commerce.customer cu USING (tenant_id, customer_id) WHERE cu.code = 'c'), 'expired',
          'its pending membership ends');

-- a card refunded in full takes its period back, and its benefits with it
SELECT order_id AS r1 FROM commerce.buy_membership(:t, 'r1', 'c', 'MONTH', 'wechat_mp') \gset
SELECT is((commerce.pay_order(:t, :r1, 'pay-r1', 990)).status, 'paid', 'c buys a month');
SELECT after_sale_id AS ras FROM commerce.request_after_sale(:t, 'as-r1', :r1, 'refund_only', 990, 'changed mind') \gset
SELECT commerce.decide_after_sale(:t, :ras, true) \gset
SELECT is((commerce.complete_refund(:t, :ras)).status, 'refunded', 'and is refunded in full');
SELECT is((SELECT status FROM commerce.membership m JOIN commerce.customer cu USING (tenant_id, customer_id) WHERE cu.code = 'c'), 'expired',
          'the refunded month is taken back: expired');
SELECT is(commerce._benefit_bp(:t, (SELECT customer_id FROM commerce.customer WHERE tenant_id = :t AND code = 'c'), 'member_discount', commerce.now()),
          0, 'no member discount any more');

-- cancellation: in force to the end, then expired
SELECT is((commerce.cancel_membership(:t, 'a')).status, 'cancelled', 'a stops renewing');
SELECT is(commerce._benefit_bp(:t, (SELECT customer_id FROM commerce.customer WHERE tenant_id = :t AND code = 'a'), 'member_discount', commerce.now()),
          1000, 'its discount lasts to the end of the paid period');
SET LOCAL commerce.now = '2032-03-01 10:00:00+08';
SELECT is(commerce.expire_memberships(100), 1, 'at the end');
SELECT is((SELECT status FROM commerce.membership m JOIN commerce.customer cu USING (tenant_id, customer_id) WHERE cu.code = 'a'), 'expired', 'a''s membership expired');
SELECT is(commerce._benefit_bp(:t, (SELECT customer_id FROM commerce.customer WHERE tenant_id = :t AND code = 'a'), 'member_discount', commerce.now()),
          0, 'and its discount with it');

-- bad input
SELECT pg_temp.fingerprint() AS fp0 \gset
SELECT throws_ok(format($$SELECT commerce.upsert_membership_plan(%s, 'X', 'X', 'TEE', 1)$$, :t), '22023', 'invalid value for p_sku',
                 'a plan sold as a tee -> 22023');
SELECT throws_ok(format($$SELECT commerce.upsert_membership_plan(%s, 'X', 'X', 'VIP-M', 1, 6000)$$, :t), '22023', 'invalid value for p_discount_bp',
                 'a 60%% member discount -> 22023');
SELECT throws_ok(format($$SELECT commerce.upsert_membership_plan(%s, 'X', 'X', 'VIP-M', 1, 0, '{"free_lunch":true}')$$, :t), '22023',
                 'invalid value for p_benefits', 'an unknown benefit -> 22023');
SELECT throws_ok(format($$SELECT commerce.cancel_membership(%s, 'c')$$, :t), 'PT409', 'customer "c" has no membership to cancel',
                 'cancelling an expired membership -> PT409');
SELECT throws_ok(format($$SELECT commerce.set_birthday(%s, 'a', '1996-07-01')$$, :t), 'PT409', 'customer "a" has set a birthday already',
                 'a second birthday -> PT409');
SELECT throws_ok(format($$SELECT commerce.set_birthday(%s, 'b', '2999-01-01')$$, :t), '22023', 'invalid value for p_birthday',
                 'a birthday in the future -> 22023');
SELECT is(pg_temp.fingerprint(), :'fp0', 'the refused calls changed nothing');

-- points caps: interactions earn at most the day's cap
SELECT commerce.set_points_cap(:t, 'interaction', 'day', 25);
SELECT is((SELECT count(*) FROM (SELECT commerce.earn_points(:t, 'interaction', 'like-' || n, 'c', 10, 'like') AS lot FROM generate_series(1, 4) n) x
            WHERE lot IS NOT NULL), 3::bigint, 'four likes of 10 under a cap of 25: three lots (10, 10, 5), the fourth earns nothing');
SELECT is((SELECT sum(points) FROM commerce.points_lot l JOIN commerce.customer cu USING (tenant_id, customer_id)
            WHERE cu.code = 'c' AND l.source = 'interaction'), 25::numeric, 'exactly the cap');

-- HTTP
SELECT is(pg_temp.call_as('customer', 'b', $$SELECT 1/(status = 'expired')::int FROM commerce_api.my_membership()$$), 'ok', 'b reads its membership');
SELECT is(pg_temp.call_as('anonymous', NULL, $$SELECT 1/(count(*) = 2)::int FROM commerce_api.membership_plans()$$), 'ok', 'a visitor sees the two plans');

SELECT is((SELECT count(*) FROM commerce.check_membership_invariants()), 0::bigint, 'the membership invariants hold');
SELECT is((SELECT count(*) FROM commerce.check_points_invariants()) + (SELECT count(*) FROM commerce.check_coupon_invariants()), 0::bigint,
          'the points and coupon invariants hold');

SELECT * FROM finish();
ROLLBACK;
