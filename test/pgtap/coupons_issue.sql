-- coupons_issue.sql: coupon templates and batches, and issuing them: once per
-- source event, never more than the batch's quota or the customer's limit,
-- claims only of claimable batches in their window, the expiry pump, the
-- invariants, the HTTP functions (who may call what), and bad input refused
-- with its SQLSTATE and nothing changed.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(46);
\ir lib/fingerprint.psql
\ir lib/call_as.psql
\o /dev/null

SET LOCAL commerce.now = '2030-03-01 10:00:00+08';
SELECT commerce.grant_api();
SELECT commerce.create_tenant('cpi', 'Coupons') AS t \gset
SELECT set_config('act.t', :'t', true);
SELECT commerce.create_tenant('cpx', 'Other') AS t2 \gset
SELECT commerce.upsert_product(:t, 'P', 'Tee');
SELECT commerce.upsert_sku(:t, 'P', 'TEE', 'Tee', 9900);
SELECT commerce.upsert_customer(:t, c) FROM unnest(ARRAY['a', 'b', 'c']) c;
SELECT commerce.upsert_customer(:t2, 'z');
SELECT commerce.upsert_staff(:t, 'op1', 'HQ', 'operator');
SELECT commerce.upsert_staff(:t, 'op-mp', 'HQ mini-program', 'operator', NULL, ARRAY['wechat_mp']);
\o

-- templates: terms fixed, the same again is a repeat
SELECT is(commerce.create_coupon_template(:t, 'M100-20', '{"name":"满100减20","kind":"amount","amount_fen":2000,"threshold_fen":10000,"valid_days":30,"per_customer_limit":2}'),
          commerce.create_coupon_template(:t, 'M100-20', '{"name":"满100减20","kind":"amount","amount_fen":2000,"threshold_fen":10000,"valid_days":30,"per_customer_limit":2}'),
          'the same template again is the same template');
SELECT pg_temp.fingerprint() AS fp0 \gset
SELECT throws_ok(format($$SELECT commerce.create_coupon_template(%s, 'M100-20', '{"name":"满100减30","kind":"amount","amount_fen":3000,"threshold_fen":10000,"valid_days":30}')$$, :t),
                 'PT409', 'coupon template "M100-20" exists with other terms', 'a template''s terms never change (PT409)');
SELECT throws_ok(format($$SELECT commerce.create_coupon_template(%s, 'X', '{"name":"x","kind":"amount","percent_off_bp":500,"valid_days":3}')$$, :t),
                 '22023', 'invalid value for p_spec', 'an amount coupon without amount_fen -> 22023');
SELECT throws_ok(format($$SELECT commerce.create_coupon_template(%s, 'X', '{"name":"x","kind":"percent","percent_off_bp":10001,"valid_days":3}')$$, :t),
                 '22023', 'invalid value for p_spec', 'more than 100%% off -> 22023');
SELECT throws_ok(format($$SELECT commerce.create_coupon_template(%s, 'X', '{"name":"x","kind":"amount","amount_fen":100}')$$, :t),
                 '22023', 'invalid value for p_spec', 'no validity -> 22023');
SELECT throws_ok(format($$SELECT commerce.create_coupon_template(%s, 'X', '{"name":"x","kind":"amount","amount_fen":100,"valid_days":3,"valid_until":"2030-04-01T00:00:00+08:00"}')$$, :t),
                 '22023', 'invalid value for p_spec', 'a window and days at once -> 22023');
SELECT throws_ok(format($$SELECT commerce.create_coupon_template(%s, 'X', '{"name":"x","kind":"amount","amount_fen":100,"valid_days":3,"skus":["NOPE"]}')$$, :t),
                 'PT404', 'sku "NOPE" not found', 'a scope naming an unknown SKU -> PT404');
SELECT throws_ok(format($$SELECT commerce.create_coupon_template(%s, 'X', '{"name":"x","kind":"amount","amount_fen":1.5,"valid_days":3}')$$, :t),
                 '22023', 'invalid value for p_spec', 'a fractional amount -> 22023');
SELECT throws_ok(format($$SELECT commerce.create_coupon_template(%s, 'X', '{"name":"x","kind":"amount","amount_fen":100,"valid_days":3,"colour":"red"}')$$, :t),
                 '22023', 'invalid value for p_spec', 'an unknown key -> 22023');
SELECT throws_ok(format($$SELECT commerce.create_coupon_template(%s, 'bad code', '{}')$$, :t),
                 '22023', 'invalid value for p_code', 'a bad code -> 22023');
SELECT throws_ok(format($$SELECT commerce.create_coupon_template(%s, 'X', NULL)$$, :t), '22004', NULL, 'no spec -> 22004');
SELECT is(pg_temp.fingerprint(), :'fp0', 'the refused templates changed nothing');

-- batches: the quota over slots
\o /dev/null
SELECT commerce.create_coupon_batch(:t, 'M100-20', 'B3', 3, true, NULL, NULL, 2);
SELECT commerce.create_coupon_template(:t, 'GIFT', '{"name":"Gift 5","kind":"amount","amount_fen":500,"valid_until":"2030-03-10T00:00:00+08:00"}');
SELECT commerce.create_coupon_batch(:t, 'GIFT', 'G', NULL, false);
SELECT commerce.create_coupon_batch(:t, 'GIFT', 'LATER', 10, true, '2030-03-05 00:00+08', '2030-03-06 00:00+08');
\o
SELECT is((SELECT string_agg(s.quota::text, ',' ORDER BY s.slot_no) FROM commerce.coupon_slot s JOIN commerce.coupon_batch b USING (tenant_id, batch_id)
            WHERE b.code = 'B3'), '2,1', 'a quota of 3 over 2 slots: 2 and 1');
SELECT throws_ok(format($$SELECT commerce.create_coupon_batch(%s, 'M100-20', 'B3', 4)$$, :t), 'PT409',
                 'coupon batch "B3" exists with other terms', 'the same batch code with another quota -> PT409');
SELECT throws_ok(format($$SELECT commerce.create_coupon_batch(%s, 'M100-20', 'BX', 0)$$, :t), '22023', 'invalid value for p_quota', 'a quota of 0 -> 22023');
SELECT throws_ok(format($$SELECT commerce.create_coupon_batch(%s, 'M100-20', 'BX', 3, true, NULL, NULL, 4)$$, :t), '22023',
                 'invalid value for p_slots', 'more slots than coupons -> 22023');
SELECT throws_ok(format($$SELECT commerce.create_coupon_batch(%s, 'NOPE', 'BX', 3)$$, :t), 'PT404', 'coupon template "NOPE" not found',
                 'a batch of an unknown template -> PT404');

-- issuing: once per source event, within the quota and the per-customer limit
SELECT is((commerce.issue_coupon(:t, 'claim', 'k1', 'B3', 'a')).outcome, 'issued', 'a claims one');
SELECT is((commerce.issue_coupon(:t, 'claim', 'k1', 'B3', 'a')).outcome, 'existing', 'the same claim again: the same coupon');
SELECT is((SELECT count(*) FROM commerce.coupon WHERE tenant_id = :t), 1::bigint, 'one coupon');
SELECT is((SELECT valid_until FROM commerce.coupon WHERE tenant_id = :t), '2030-03-31 10:00:00+08'::timestamptz, 'valid 30 days after the claim');
SELECT throws_ok(format($$SELECT commerce.issue_coupon(%s, 'claim', 'k1', 'B3', 'b')$$, :t), '23505', NULL,
                 'the key of a''s claim for b -> 23505');
SELECT is((commerce.issue_coupon(:t, 'claim', 'k2', 'B3', 'a')).outcome, 'issued', 'a claims a second');
SELECT pg_temp.fingerprint() AS fp1 \gset
SELECT throws_ok(format($$SELECT commerce.issue_coupon(%s, 'claim', 'k3', 'B3', 'a')$$, :t), 'PT409',
                 'customer "a" already has 2 coupons of "M100-20"', 'a third for a passes the per-customer limit -> PT409');
SELECT is((commerce.issue_coupon(:t, 'claim', 'k4', 'B3', 'b')).outcome, 'issued', 'b claims the last');
SELECT pg_temp.fingerprint() AS fp1 \gset
SELECT throws_ok(format($$SELECT commerce.issue_coupon(%s, 'claim', 'k5', 'B3', 'c')$$, :t), 'PT409',
                 'coupon batch "B3" is all claimed', 'the fourth of three -> PT409');
SELECT is(pg_temp.fingerprint(), :'fp1', 'the refused claims changed nothing (no holder row, no slot)');
SELECT throws_ok(format($$SELECT commerce.issue_coupon(%s, 'claim', 'k6', 'G', 'c')$$, :t), 'PT403',
                 'coupon batch "G" cannot be claimed', 'claiming an issue-only batch -> PT403');
SELECT is((commerce.issue_coupon(:t, 'reward', 'invite:7', 'G', 'c')).outcome, 'issued', 'a reward issues from it');
SELECT throws_ok(format($$SELECT commerce.issue_coupon(%s, 'claim', 'k7', 'LATER', 'c')$$, :t), 'PT409',
                 'coupon batch "LATER" is not open for claims', 'a claim before the window -> PT409');
SELECT throws_ok(format($$SELECT commerce.issue_coupon(%s, 'claim', 'k8', 'B3', 'z')$$, :t), 'PT404',
                 'customer "z" not found', 'a customer of another tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.issue_coupon(%s, 'gift', 'k9', 'B3', 'a')$$, :t), '22023', 'invalid value for p_source',
                 'an unknown source -> 22023');

-- the pump: issued coupons past their validity expire, once
SET LOCAL commerce.now = '2030-03-10 00:00:00+08';
SELECT is(commerce.expire_coupons(100), 1, 'the gift expires at its valid_until');
SELECT is(commerce.expire_coupons(100), 0, 'and only once');
SELECT is((SELECT status FROM commerce.coupon WHERE tenant_id = :t AND source = 'reward'), 'expired', 'the gift is expired');
SELECT throws_ok(format($$UPDATE commerce.coupon SET status = 'issued', ended_at = NULL WHERE tenant_id = %s AND source = 'reward'$$, :t),
                 'PT409', NULL, 'an expired coupon never comes back (the state machine)');
SELECT is((SELECT count(*) FROM commerce.check_coupon_invariants()), 0::bigint, 'the coupon invariants hold');

-- HTTP: a customer claims for itself and sees only its own; HQ issues as itself
SET LOCAL commerce.now = '2030-03-05 12:00:00+08';
SELECT is(pg_temp.call_as('customer', 'c', $$SELECT * FROM commerce_api.claim_coupon('h1', 'LATER')$$), 'ok', 'c claims in the window');
SELECT is(pg_temp.call_as('customer', 'c', $$SELECT * FROM commerce_api.claim_coupon('h2', 'LATER', 'a')$$),
          '42501: a customer acts only as itself', 'a customer cannot claim for another (42501)');
SELECT is(pg_temp.call_as('customer', 'c', $$SELECT 1/count(*) FROM commerce_api.my_coupons() WHERE batch = 'LATER'$$), 'ok', 'c sees its coupon');
SELECT is(pg_temp.call_as('customer', 'c', $$SELECT * FROM commerce_api.my_coupons(customer => 'a')$$),
          '42501: a customer acts only as itself', 'and not a''s (42501)');
SELECT is(pg_temp.call_as('anonymous', NULL, $$SELECT 1/(string_agg(batch, ',' ORDER BY batch) = 'B3,LATER')::int FROM commerce_api.coupon_batches()$$), 'ok',
          'a visitor sees the batches open for claims now (not the issue-only one)');
SELECT is(pg_temp.call_as('customer', 'c', $$SELECT * FROM commerce_api.issue_coupon('h3', 'G', 'c', 'goodwill')$$),
          '42501: permission denied for function issue_coupon', 'a customer cannot issue (42501)');
SELECT is(pg_temp.call_as('operator', 'op1', $$SELECT * FROM commerce_api.issue_coupon('h4', 'G', 'c', 'goodwill')$$), 'ok', 'HQ issues');
SELECT is((SELECT count(*) FROM commerce.audit_log WHERE tenant_id = :t AND operation = 'issue_coupon'), 1::bigint, 'the issue is audited');
SELECT is(pg_temp.call_as('operator', 'op-mp', $$SELECT commerce_api.create_coupon_template('ALL', '{"name":"x","kind":"amount","amount_fen":100,"valid_days":3}')$$),
          '42501: channel (every channel) is outside the scope of op-mp', 'an operator of one channel defines no coupon for every channel (42501)');

SELECT * FROM finish();
ROLLBACK;
