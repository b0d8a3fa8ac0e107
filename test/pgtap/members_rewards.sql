-- members_rewards.sql: rewards (PR13, invite rewards) granted exactly once per
-- source event: points, a coupon, a blind box drawn with its known odds and
-- never beyond a prize's stock; invite plays grant their rewards when the
-- invitee first pays, and a reward that cannot be granted is recorded, never
-- undoing the payment; bad input refused with its SQLSTATE and nothing changed.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(23);
\ir lib/fingerprint.psql
\o /dev/null

SET LOCAL commerce.now = '2030-01-10 10:00:00+08';
SELECT commerce.create_tenant('rw', 'Rewards') AS t \gset
SELECT commerce.upsert_store(:t, 'S1', 'Store one', 'Zhejiang', 'Hangzhou');
SELECT commerce.upsert_product(:t, 'P', 'Course', 'virtual', 'course');
SELECT commerce.upsert_sku(:t, 'P', 'C10', '10 lessons', 10000);
SELECT commerce.receive_stock(:t, 'r', 'C10', 20);
SELECT commerce.ensure_play_templates(:t);
SELECT commerce.upsert_customer(:t, c) FROM unnest(ARRAY['a', 'b', 'c', 'd']) c;
SELECT commerce.create_coupon_template(:t, 'T5', '{"name":"5 off","kind":"amount","amount_fen":500,"valid_days":30}');
SELECT commerce.create_coupon_batch(:t, 'T5', 'ONE', 1, false);
SELECT commerce.create_coupon_batch(:t, 'T5', 'MANY', NULL, false);
SELECT commerce.create_blind_box(:t, 'BOX', 'Lucky box', '[{"name":"100 points","kind":"points","points":100,"weight":1,"quota":2},
    {"name":"5 yuan coupon","kind":"coupon","batch":"ONE","weight":1,"quota":1},{"name":"Thanks","kind":"nothing","weight":2}]');
SELECT commerce.create_blind_box(:t, 'ODDS', 'Odds', '[{"name":"one","kind":"nothing","weight":1},{"name":"three","kind":"nothing","weight":3}]');
SELECT commerce.create_blind_box(:t, 'TINY', 'Tiny', '[{"name":"only","kind":"points","points":1,"weight":1,"quota":1}]');
SELECT commerce.configure_play(:t, 'cfg-i', 'I', 'INVITE_REWARD', 'S1', 'C10', 'Invite', 9000, 5, '2030-01-01', '2030-02-01', '{"reward_fen":500}');
\o

-- points and coupons, once per source event
SELECT is((commerce.grant_reward(:t, 'camp:1:a', 'a', '{"points":50}')).outcome, 'granted', 'a reward of 50 points');
SELECT is((commerce.grant_reward(:t, 'camp:1:a', 'a', '{"points":50}')).outcome, 'existing', 'the same source again grants nothing');
SELECT is((SELECT available FROM commerce.points_account a JOIN commerce.customer cu USING (tenant_id, customer_id) WHERE cu.code = 'a'),
          50::bigint, 'a has 50 points');
SELECT throws_ok(format($$SELECT commerce.grant_reward(%s, 'camp:1:a', 'b', '{"points":50}')$$, :t), '23505', NULL,
                 'the key of a''s reward for b -> 23505');
SELECT is((commerce.grant_reward(:t, 'camp:2:a', 'a', '{"coupon":"MANY"}')).outcome, 'granted', 'a coupon reward');
SELECT is((SELECT count(*) FROM commerce.coupon WHERE tenant_id = :t AND source = 'reward'), 1::bigint, 'one coupon issued');

-- the blind box: never beyond a prize's stock, every draw recorded
SELECT is((SELECT count(*) FROM (SELECT commerce.grant_reward(:t, 'box:' || n, 'b', '{"blind_box":"BOX"}') FROM generate_series(1, 40) n) x),
          40::bigint, '40 draws');
SELECT is((SELECT string_agg(p.name || ':' || p.issued, ',' ORDER BY p.prize_no) FROM commerce.blind_box_prize p JOIN commerce.blind_box b USING (tenant_id, box_id)
            WHERE b.code = 'BOX'), '100 points:2,5 yuan coupon:1,Thanks:37', 'the limited prizes ran out (2 and 1); the rest drew the unlimited one');
SELECT is((SELECT count(*) FROM commerce.reward_grant WHERE tenant_id = :t AND kind = 'blind_box' AND coupon_id IS NOT NULL), 1::bigint,
          'the coupon prize issued its coupon');
SELECT is((SELECT count(*) FROM commerce.reward_grant WHERE tenant_id = :t AND kind = 'blind_box' AND lot_id IS NOT NULL), 2::bigint,
          'the points prize earned two lots');
-- known odds: weights 1 and 3 over 4000 draws (the count of "three" within 5 standard deviations of 3000)
SELECT ok((SELECT count(*) FILTER (WHERE prize = 'three') FROM (SELECT (commerce.grant_reward(:t, 'odds:' || n, 'c', '{"blind_box":"ODDS"}')).prize
                                                                 FROM generate_series(1, 4000) n) x) BETWEEN 2863 AND 3137,
          'odds 1:3 hold over 4000 draws');
SELECT is((commerce.grant_reward(:t, 'tiny:1', 'c', '{"blind_box":"TINY"}')).prize, 'only', 'the tiny box''s only prize');
SELECT pg_temp.fingerprint() AS fp0 \gset
SELECT throws_ok(format($$SELECT commerce.grant_reward(%s, 'tiny:2', 'c', '{"blind_box":"TINY"}')$$, :t), 'PT409',
                 'blind box "TINY" has no prize left', 'an empty box -> PT409');
SELECT throws_ok(format($$SELECT commerce.grant_reward(%s, 'x:1', 'c', '{"points":1,"coupon":"MANY"}')$$, :t), '22023',
                 'invalid value for p_reward', 'two rewards at once -> 22023');
SELECT throws_ok(format($$SELECT commerce.grant_reward(%s, 'x:1', 'c', '{"blind_box":"NOPE"}')$$, :t), 'PT404',
                 'blind box "NOPE" not found', 'an unknown box -> PT404');
SELECT throws_ok(format($$SELECT commerce.grant_reward(%s, 'x:1', 'c', '{"points":0}')$$, :t), '22023',
                 'invalid value for p_reward', 'zero points -> 22023');
SELECT is(pg_temp.fingerprint(), :'fp0', 'the refused rewards changed nothing');

-- invite rewards: granted once in the database when the invitee first pays
SELECT commerce.set_invite_rewards(:t, 'I', '{"points":200}', '{"coupon":"ONE"}');
SELECT is((commerce.invite(:t, 'inv-1', 'I', 'a', 'd')).status, 'invited', 'a invites d');
SELECT order_id AS o1 FROM commerce.place_order(:t, 'o1', 'wechat_mp', '{"lines":[{"sku":"C10","qty":1}]}', 'd') \gset
SELECT is((commerce.pay_order(:t, :o1, 'pay-1', 10000)).status, 'paid', 'd pays its first order');
SELECT is((SELECT status FROM commerce.play_invite WHERE tenant_id = :t), 'rewarded', 'the invite is rewarded');
SELECT is((SELECT points FROM commerce.reward_grant WHERE tenant_id = :t AND source_key LIKE 'invite:%:inviter'), 200::bigint,
          'the inviter gets 200 points');
SELECT is((SELECT outcome || ': ' || error FROM commerce.reward_grant WHERE tenant_id = :t AND source_key LIKE 'invite:%:invitee'),
          'failed: PT409: coupon batch "ONE" is all claimed', 'the invitee''s coupon batch was all claimed: recorded failed, the payment stands');
SELECT is((SELECT count(*) FROM commerce.check_reward_invariants()) + (SELECT count(*) FROM commerce.check_points_invariants())
          + (SELECT count(*) FROM commerce.check_coupon_invariants()) + (SELECT count(*) FROM commerce.check_play_invariants()), 0::bigint,
          'the reward, points, coupon and play invariants hold');

SELECT * FROM finish();
ROLLBACK;
