-- community fission (PR11-PR13): a participant's signed poster code is the
-- state of the live code its invitees scan; one invite row per (campaign,
-- invitee) with its depth fixed at insert; the inviter's count changes under
-- its row lock; a delete and re-add never counts twice; new friends only;
-- stages reached at or above their threshold, each rewarded once through the
-- members module, held rewards taken back when an invitee leaves first.
CREATE EXTENSION commerce;
CALL commerce.provision();
\set SHOW_CONTEXT never
SET timezone = 'Asia/Shanghai';
SET commerce.now = '2030-06-15 10:00:00+08';
SELECT commerce.create_tenant('fi', 'Fission test') AS t \gset
SELECT commerce.community_ingest(:t, '{"type":"change_contact","change":"create_user","at":1907715600,"user_id":"lily","name":"Lily"}') ->> 'user' AS lily;
SELECT commerce.community_ingest(:t, '{"type":"change_contact","change":"create_user","at":1907715600,"user_id":"max","name":"Max"}') ->> 'user' AS max;
-- Ann, Bob, Cat, Eve have mini-program accounts; Dan was Max's contact long before
SELECT count(commerce.mini_program_login(:t, 'wechat_mp', 'o-' || n, 'u-' || n, NULL, n)) AS accounts FROM unnest(ARRAY['ann', 'bob', 'cat', 'eve']) n;
SELECT commerce.community_ingest(:t, '{"type":"change_external_contact","change":"add_external_contact","at":1900000000,"user_id":"max","external_user_id":"wm-dan"}') ->> 'outcome' AS dan_earlier;

-- an invite-for-reward campaign: a new contact of Lily counts; 2 invites earn 50 points, 3 earn 100 more
SELECT commerce.create_fission_campaign(:t, 'summer', 'invite_reward', 'Bring two friends', 'contact',
    '2030-06-01', '2030-07-01', '[{"threshold":2,"reward":{"points":50}},{"threshold":3,"reward":{"points":100}}]',
    p_userids => '{lily}') AS summer \gset
SELECT commerce.fission_progress(:t, 'summer', (SELECT person_id FROM commerce.customer WHERE code = 'wechat_mp:o-ann')) ->> 'code' AS ann_code \gset
SELECT :'ann_code' ~ '^f[0-9a-z]+\.[0-9a-z]+\.[a-z2-9]{13}$' AS signed, length(:'ann_code') <= 30 AS fits_a_state,
       commerce.fission_progress(:t, 'summer', (SELECT person_id FROM commerce.customer WHERE code = 'wechat_mp:o-ann')) ->> 'code' = :'ann_code' AS stable;

-- Bob and Cat add Lily through Ann's live code (its state is Ann's code): the second invite reaches stage 1
SELECT commerce.community_ingest(:t, jsonb_build_object('type', 'change_external_contact', 'change', 'add_external_contact', 'at', 1907715700,
         'user_id', 'lily', 'external_user_id', 'wm-bob', 'unionid', 'u-bob', 'state', :'ann_code', 'welcome_code', 'w1')) ->> 'fission' AS bob;
SELECT commerce.community_ingest(:t, jsonb_build_object('type', 'change_external_contact', 'change', 'add_external_contact', 'at', 1907715700,
         'user_id', 'lily', 'external_user_id', 'wm-bob', 'unionid', 'u-bob', 'state', :'ann_code', 'welcome_code', 'w1')) ->> 'replayed' AS bob_replayed;
SELECT commerce.community_ingest(:t, jsonb_build_object('type', 'change_external_contact', 'change', 'add_external_contact', 'at', 1907715710,
         'user_id', 'lily', 'external_user_id', 'wm-cat', 'unionid', 'u-cat', 'state', :'ann_code')) ->> 'fission' AS cat;
-- Dan is no new friend; Ann cannot invite herself; a forged code names nobody (the add itself is applied)
SELECT commerce.community_ingest(:t, jsonb_build_object('type', 'change_external_contact', 'change', 'add_external_contact', 'at', 1907715720,
         'user_id', 'lily', 'external_user_id', 'wm-dan', 'state', :'ann_code')) ->> 'fission' AS dan;
SELECT commerce.community_ingest(:t, jsonb_build_object('type', 'change_external_contact', 'change', 'add_external_contact', 'at', 1907715730,
         'user_id', 'lily', 'external_user_id', 'wm-ann', 'unionid', 'u-ann', 'state', :'ann_code')) ->> 'fission' AS ann_herself;
SELECT commerce.community_ingest(:t, jsonb_build_object('type', 'change_external_contact', 'change', 'add_external_contact', 'at', 1907715740,
         'user_id', 'lily', 'external_user_id', 'wm-zed', 'state', left(:'ann_code', -1) || 'z')) - 'event_key' - 'contact' - 'person' - 'welcome' AS forged;
SELECT invites, invites_ever FROM commerce.fission_participant WHERE person_id = (SELECT person_id FROM commerce.customer WHERE code = 'wechat_mp:o-ann');
SELECT stage_no, status, outcome ->> 'points' AS points FROM commerce.fission_reward ORDER BY stage_no;
SELECT source, points FROM commerce.points_lot WHERE customer_id = (SELECT customer_id FROM commerce.customer WHERE code = 'wechat_mp:o-ann');

-- Bob deletes Lily and adds her again, twice: his one invite leaves and comes back, never counted twice
SELECT commerce.community_ingest(:t, '{"type":"change_external_contact","change":"del_follow_user","at":1907715800,"user_id":"lily","external_user_id":"wm-bob"}') ->> 'fission_left' AS bob_left;
SELECT invites FROM commerce.fission_participant WHERE person_id = (SELECT person_id FROM commerce.customer WHERE code = 'wechat_mp:o-ann');
SELECT commerce.community_ingest(:t, jsonb_build_object('type', 'change_external_contact', 'change', 'add_external_contact', 'at', 1907715900,
         'user_id', 'lily', 'external_user_id', 'wm-bob', 'state', :'ann_code')) ->> 'fission' AS bob_back;
SELECT commerce.community_ingest(:t, '{"type":"change_external_contact","change":"del_follow_user","at":1907716000,"user_id":"lily","external_user_id":"wm-bob"}') ->> 'fission_left' AS bob_left_again;
SELECT commerce.community_ingest(:t, jsonb_build_object('type', 'change_external_contact', 'change', 'add_external_contact', 'at', 1907716100,
         'user_id', 'lily', 'external_user_id', 'wm-bob', 'state', :'ann_code')) ->> 'outcome' AS bob_back_again;
SELECT p.invites, p.invites_ever, i.status, i.changes FROM commerce.fission_participant p
  JOIN commerce.fission_invite i ON i.tenant_id = p.tenant_id AND i.campaign_id = p.campaign_id AND i.inviter_id = p.person_id
 WHERE i.invitee_id = (SELECT person_id FROM commerce.customer WHERE code = 'wechat_mp:o-bob');

-- Bob takes part too: he sits at his invite's depth; Eve, invited by him, is one level deeper
SELECT commerce.fission_progress(:t, 'summer', (SELECT person_id FROM commerce.customer WHERE code = 'wechat_mp:o-bob')) ->> 'code' AS bob_code \gset
SELECT commerce.community_ingest(:t, jsonb_build_object('type', 'change_external_contact', 'change', 'add_external_contact', 'at', 1907716200,
         'user_id', 'lily', 'external_user_id', 'wm-eve', 'unionid', 'u-eve', 'state', :'bob_code')) ->> 'fission' AS eve;
-- a participant cannot be invited (no cycles): Bob's code cannot bring Ann
SELECT commerce._fission_invited(:t, :'bob_code', (SELECT person_id FROM commerce.customer WHERE code = 'wechat_mp:o-ann'), 'wecom_contact', 'x', 'lily', commerce.now()) AS ann_by_bob;
SELECT i.depth, p.depth AS inviter_depth FROM commerce.fission_invite i
  JOIN commerce.fission_participant p ON p.tenant_id = i.tenant_id AND p.campaign_id = i.campaign_id AND p.person_id = i.inviter_id
 ORDER BY i.depth, i.invited_at;
SELECT commerce.fission_progress(:t, 'summer', (SELECT person_id FROM commerce.customer WHERE code = 'wechat_mp:o-ann')) - 'code' - 'ends_at' AS ann_progress;

-- a group-forming campaign with a 24-hour hold: an invitee who quits before the reward goes out takes it back
SELECT commerce.community_ingest(:t, '{"type":"change_external_chat","change":"create","at":1907715600,"chat_id":"g1","name":"Summer group","owner":"lily"}') ->> 'group' AS g1;
SELECT commerce.create_fission_campaign(:t, 'forming', 'group_forming', 'Form a group', 'group',
    '2030-06-01', '2030-07-01', '[{"threshold":1,"reward":{"points":20}}]', p_hold_hours => 24, p_groups => '{wecom-g1}') IS NOT NULL AS forming;
SELECT commerce.fission_progress(:t, 'forming', (SELECT person_id FROM commerce.customer WHERE code = 'wechat_mp:o-cat')) ->> 'code' AS cat_code \gset
SELECT commerce.community_ingest(:t, jsonb_build_object('type', 'change_external_chat', 'change', 'update', 'update_detail', 'add_member', 'at', 1907716300,
         'chat_id', 'g1', 'members', jsonb_build_array(jsonb_build_object('id', 'wm-fay', 'type', 'external', 'state', :'cat_code')))) -> 'members' AS fay_joins;
SELECT status, due_at FROM commerce.fission_reward w JOIN commerce.fission_campaign c USING (tenant_id, campaign_id) WHERE c.code = 'forming';
SELECT commerce.community_ingest(:t, '{"type":"change_external_chat","change":"update","update_detail":"del_member","at":1907716400,"chat_id":"g1","members":["wm-fay"]}') -> 'members' AS fay_quits;
SELECT status, note FROM commerce.fission_reward w JOIN commerce.fission_campaign c USING (tenant_id, campaign_id) WHERE c.code = 'forming';
-- Gus joins through Cat's code and stays: the pump grants the reward once its hold has passed (and only then)
SELECT commerce.community_ingest(:t, jsonb_build_object('type', 'change_external_chat', 'change', 'update', 'update_detail', 'add_member', 'at', 1907716500,
         'chat_id', 'g1', 'members', jsonb_build_array(jsonb_build_object('id', 'wm-gus', 'type', 'external', 'state', :'cat_code')))) -> 'members' AS gus_joins;
SELECT commerce.fission_release(100) AS looked_at_now;
SET commerce.now = '2030-06-16 11:00:00+08';
SELECT commerce.fission_release(100) AS looked_at_tomorrow;
SELECT stage_no, status, outcome ->> 'points' AS points FROM commerce.fission_reward w JOIN commerce.fission_campaign c USING (tenant_id, campaign_id) WHERE c.code = 'forming';
SELECT commerce.fission_release(100) AS nothing_left;

-- a distribution campaign counting registrations through the link
SELECT commerce.create_fission_campaign(:t, 'dist', 'distribution', 'Share the shop', 'register',
    '2030-06-01', '2030-07-01', '[{"threshold":1,"reward":{"points":5}}]', p_new_only => false) IS NOT NULL AS dist;
SELECT commerce.fission_progress(:t, 'dist', (SELECT person_id FROM commerce.customer WHERE code = 'wechat_mp:o-eve')) ->> 'code' AS eve_code \gset
SELECT commerce.upsert_customer(:t, 'h5:hal', 'Hal') IS NOT NULL AS hal;
SELECT commerce.fission_accept(:t, :'eve_code', 'h5:hal') AS hal_registers;
SELECT commerce.fission_accept(:t, :'eve_code', 'h5:hal') AS hal_again;
SELECT commerce.fission_accept(:t, 'f3.4.aaaaaaaaaaaaa', 'h5:hal');

-- a merge: Rae joins through Eve's code without her UnionID (a new person), then her WeCom id is tied to her
-- account (the persons merge); her quit still takes Eve's pending reward back
SELECT commerce.create_fission_campaign(:t, 'merge-camp', 'group_forming', 'Held', 'group',
    '2030-06-01', '2030-07-01', '[{"threshold":1,"reward":{"points":7}}]', p_hold_hours => 24, p_groups => '{wecom-g1}', p_new_only => false) IS NOT NULL AS merge_camp;
SELECT (commerce.mini_program_login(:t, 'wechat_mp', 'o-rae', 'u-rae', NULL, 'Rae')).outcome AS rae;
SELECT commerce.fission_progress(:t, 'merge-camp', (SELECT person_id FROM commerce.customer WHERE code = 'wechat_mp:o-eve')) ->> 'code' AS eve_merge_code \gset
SELECT commerce.community_ingest(:t, jsonb_build_object('type', 'change_external_chat', 'change', 'update', 'update_detail', 'add_member', 'at', 1907719300,
         'chat_id', 'g1', 'members', jsonb_build_array(jsonb_build_object('id', 'wm-rae', 'type', 'external', 'state', :'eve_merge_code')))) -> 'members' AS rae_joins;
SELECT (SELECT person_id FROM commerce.group_member WHERE member_key = 'wm-rae') <> (SELECT person_id FROM commerce.customer WHERE code = 'wechat_mp:o-rae') AS two_persons_for_now;
SELECT commerce.community_ingest(:t, '{"type":"change_external_contact","change":"add_external_contact","at":1907719310,"user_id":"lily","external_user_id":"wm-rae","unionid":"u-rae"}') ->> 'outcome' AS rae_adds_lily;
SELECT (SELECT person_id FROM commerce.group_member WHERE member_key = 'wm-rae') = (SELECT person_id FROM commerce.customer WHERE code = 'wechat_mp:o-rae') AS one_person_now;
SELECT commerce.community_ingest(:t, '{"type":"change_external_chat","change":"update","update_detail":"del_member","at":1907719320,"chat_id":"g1","members":["wm-rae"]}') -> 'members' AS rae_quits;
SELECT w.status, w.note FROM commerce.fission_reward w JOIN commerce.fission_campaign c USING (tenant_id, campaign_id) WHERE c.code = 'merge-camp';

-- tracking and the invariants
SELECT commerce.fission_stats(:t, 'summer') - 'starts_at' - 'ends_at' AS summer_stats;
SELECT count(*) AS violations FROM commerce.check_fission_invariants(:t);
SELECT count(*) AS points_violations FROM commerce.check_points_invariants(:t);

-- refusals change nothing
SELECT commerce.create_fission_campaign(:t, 'bad', 'invite_reward', 'x', 'contact', '2030-06-01', '2030-07-01', '[{"threshold":3,"reward":{"points":5}},{"threshold":2,"reward":{"points":5}}]');
SELECT commerce.create_fission_campaign(:t, 'bad', 'invite_reward', 'x', 'contact', '2030-06-01', '2030-07-01', '[{"threshold":1,"reward":{"points":5,"coupon":"c"}}]');
SELECT commerce.create_fission_campaign(:t, 'bad', 'invite_reward', 'x', 'contact', '2030-06-01', '2030-07-01', '[{"threshold":1,"reward":{"coupon":"none"}}]');
SELECT commerce.create_fission_campaign(:t, 'bad', 'invite_reward', 'x', 'likes', '2030-06-01', '2030-07-01', '[{"threshold":1,"reward":{"points":5}}]');
SELECT commerce.create_fission_campaign(:t, 'bad', 'invite_reward', 'x', 'group', '2030-07-01', '2030-06-01', '[{"threshold":1,"reward":{"points":5}}]');
SELECT commerce.create_fission_campaign(:t, 'summer', 'invite_reward', 'x', 'contact', '2030-06-01', '2030-07-01', '[{"threshold":1,"reward":{"points":5}}]');
SELECT count(*) AS campaigns FROM commerce.fission_campaign;

SET client_min_messages = warning;
DROP SCHEMA commerce CASCADE;
