-- members_points.sql: points (PR10, K17) end to end: a purchase earns once,
-- pending through the return window, then available; spends take earliest
-- expiry first, once per request_id, never more than there is; refunds take
-- back the refunded share of what the order earned (from the lot, then from
-- other points, the rest recorded as unrecovered, never below zero); expiry;
-- the invariants; bad input refused with its SQLSTATE and nothing changed.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(34);
\ir lib/fingerprint.psql
\ir lib/call_as.psql
\o /dev/null

SET LOCAL commerce.now = '2030-03-01 10:00:00+08';
SELECT commerce.grant_api();
SELECT commerce.create_tenant('pts', 'Points') AS t \gset
SELECT set_config('act.t', :'t', true);
SELECT commerce.upsert_product(:t, 'P', 'Tee');
SELECT commerce.upsert_sku(:t, 'P', 'TEE', 'Tee', 9900);
SELECT commerce.receive_stock(:t, 'r', 'TEE', 100);
SELECT commerce.upsert_customer(:t, c) FROM unnest(ARRAY['a', 'b']) c;
SELECT commerce.set_points_rule(:t, 'wechat_mp', 1, 'paid', 7, 365);
SELECT commerce.upsert_staff(:t, 'op1', 'HQ', 'operator');
\o

-- a purchase earns once, pending through the return window
SELECT order_id AS o1 FROM commerce.place_order(:t, 'o1', 'wechat_mp', '{"lines":[{"sku":"TEE","qty":1}]}', 'a') \gset
SELECT is((commerce.pay_order(:t, :o1, 'pay-1', 9900)).status, 'paid', 'the order is paid');
SELECT is((SELECT points || ' ' || status FROM commerce.points_lot WHERE tenant_id = :t AND order_id = :o1), '99 pending',
          '99.00 yuan earns 99 points, pending');
SELECT is((SELECT available || '/' || pending FROM commerce.points_account WHERE tenant_id = :t), '0/99', 'the account: 0 available, 99 pending');
SELECT is((commerce.pay_order(:t, :o1, 'pay-1', 9900)).outcome, 'already_paid', 'the same payment again');
SELECT is((SELECT count(*) FROM commerce.points_lot WHERE tenant_id = :t), 1::bigint, 'earns nothing twice');
SELECT is(commerce.earn_points(:t, 'checkin', '2030-03-01', 'a', 5, 'check-in'),
          commerce.earn_points(:t, 'checkin', '2030-03-01', 'a', 5, 'check-in'), 'a check-in earns once per key (the same lot)');
SELECT is((SELECT available || '/' || pending FROM commerce.points_account WHERE tenant_id = :t), '5/99', 'the check-in''s 5 are available at once');

-- spends: never more than available, earliest expiry first, once per request_id
SELECT pg_temp.fingerprint() AS fp0 \gset
SELECT throws_ok(format($$SELECT commerce.spend_points(%s, 's-0', 'a', 10, 'mall')$$, :t), 'PT409',
                 'customer "a" has 5 points to spend, not 10', 'pending points cannot be spent (PT409)');
SELECT is(pg_temp.fingerprint(), :'fp0', 'the refused spend changed nothing');
SET LOCAL commerce.now = '2030-03-08 10:00:01+08';
SELECT is(commerce.release_points(100), 1, 'after the return window the purchase lot is released');
SELECT is((SELECT available || '/' || pending FROM commerce.points_account WHERE tenant_id = :t), '104/0', 'now 104 available');
SELECT is((commerce.spend_points(:t, 's-1', 'a', 30, 'mall')).available, 74::bigint, 'spend 30');
SELECT is((SELECT string_agg(l.source || ':' || -g.delta_available, ',' ORDER BY g.entry_id) FROM commerce.points_ledger g
             JOIN commerce.points_lot l USING (tenant_id, lot_id) WHERE g.request_id = 's-1'), 'checkin:5,purchase:25',
          'earliest expiry first: the check-in''s 5, then 25 of the purchase');
SELECT is((commerce.spend_points(:t, 's-1', 'a', 30, 'mall')).available, 74::bigint, 'the same spend again takes nothing');
SELECT throws_ok(format($$SELECT commerce.spend_points(%s, 's-1', 'a', 31, 'mall')$$, :t), '23505', NULL,
                 'the same request_id for another spend -> 23505');

-- refunds take back the refunded share of what the order earned
SELECT after_sale_id AS as1 FROM commerce.request_after_sale(:t, 'as-1', :o1, 'refund_only', 4950, 'half') \gset
SELECT commerce.decide_after_sale(:t, :as1, true);
SELECT is((commerce.complete_refund(:t, :as1)).status, 'refunded', 'half the order is refunded');
SELECT is((SELECT reversed || '/' || remaining FROM commerce.points_lot WHERE order_id = :o1), '49/25',
          'floor(99 x 4950 / 9900) = 49 points reversed, from the lot');
SELECT is((SELECT available || ' ' || reversed || ' ' || unrecovered FROM commerce.points_account WHERE tenant_id = :t), '25 49 0',
          'the account: 25 available, 49 reversed');
SELECT commerce.earn_points(:t, 'grant', 'g-1', 'a', 10, 'goodwill');
SELECT after_sale_id AS as2 FROM commerce.request_after_sale(:t, 'as-2', :o1, 'refund_only', 4950, 'the rest') \gset
SELECT commerce.decide_after_sale(:t, :as2, true);
SELECT commerce.complete_refund(:t, :as2);
SELECT is((SELECT reversed FROM commerce.points_lot WHERE order_id = :o1), 99::bigint, 'a full refund reverses all 99 points of the order');
SELECT is((SELECT available || ' ' || reversed || ' ' || unrecovered FROM commerce.points_account WHERE tenant_id = :t), '0 84 15',
          'the other 50: 25 left of the lot, the grant''s 10, and 15 already spent are unrecovered, never below zero');
SELECT is((SELECT kind FROM commerce.points_ledger ORDER BY entry_id DESC LIMIT 1), 'unrecovered', 'the shortfall is in the ledger');

-- expiry
SELECT commerce.earn_points(:t, 'task', 'share-1', 'a', 50, 'shared a link', 0, 1);
SET LOCAL commerce.now = '2030-03-10 10:00:02+08';
SELECT throws_ok(format($$SELECT commerce.spend_points(%s, 's-2', 'a', 50, 'mall')$$, :t), 'PT409', NULL,
                 'points past their expiry cannot be spent, even before the pump runs');
SELECT is(commerce.expire_points(100), 1, 'the pump expires the task''s lot');
SELECT is((SELECT available || ' ' || expired FROM commerce.points_account WHERE tenant_id = :t), '0 50', '50 expired');
SELECT is((SELECT count(*) FROM commerce.check_points_invariants()), 0::bigint, 'every points invariant holds');

-- bad input
SELECT pg_temp.fingerprint() AS fp1 \gset
SELECT throws_ok(format($$SELECT commerce.set_points_rule(%s, 'nope')$$, :t), 'PT404', 'channel "nope" not found', 'set_points_rule: unknown channel -> PT404');
SELECT throws_ok(format($$SELECT commerce.set_points_rule(%s, 'h5', 2000)$$, :t), '22023', 'invalid value for p_points_per_yuan', 'set_points_rule: 2000 a yuan -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_points_rule(%s, 'h5', 1, 'shipped')$$, :t), '22023', 'invalid value for p_earn_on', 'set_points_rule: earn on shipped -> 22023');
SELECT throws_ok(format($$SELECT commerce.earn_points(%s, 'purchase', 'k', 'a', 5, 'r')$$, :t), '22023', 'invalid value for p_source', 'earn_points: a purchase by hand -> 22023');
SELECT throws_ok(format($$SELECT commerce.earn_points(%s, 'grant', 'k', 'a', 0, 'r')$$, :t), '22023', 'invalid value for p_points', 'earn_points: 0 points -> 22023');
SELECT throws_ok(format($$SELECT commerce.earn_points(%s, 'grant', 'k', 'nobody', 5, 'r')$$, :t), 'PT404', 'customer "nobody" not found', 'earn_points: unknown customer -> PT404');
SELECT throws_ok(format($$SELECT commerce.spend_points(%s, 's-x', 'a', -5, 'r')$$, :t), '22023', 'invalid value for p_points', 'spend_points: negative points -> 22023');
SELECT is(pg_temp.call_as('customer', 'a', $$SELECT * FROM commerce_api.points(customer => 'b')$$), '42501: a customer acts only as itself',
          'points: another customer''s -> 42501');
SELECT is(pg_temp.fingerprint(), :'fp1', 'bad input changed nothing');
SELECT * FROM finish();
ROLLBACK;
