-- community_bad_input.sql: the community's entry points (issue 15) refuse bad
-- input with their SQLSTATE and change nothing; a KOC reaches only its own
-- groups and join ways and no store, store staff only their stores' groups,
-- departments and staff accounts, a customer only its own groups' boards; a
-- KOC's check-in round earns no more than the tenant's daily check-in; a
-- merge of two persons takes their contacts and memberships along.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(72);
\ir lib/fingerprint.psql
\ir lib/call_as.psql
\o /dev/null

SET LOCAL commerce.now = '2030-06-15 10:00:00+08';
SELECT commerce.grant_api();
SELECT commerce.create_tenant('cb', 'Community bad input') AS t \gset
SELECT commerce.create_tenant('cb2', 'Other') AS t2 \gset
SELECT set_config('act.t', :'t', true);
SELECT commerce.upsert_store(:t, 'S1', 'Store one');
SELECT commerce.upsert_store(:t, 'S2', 'Store two');
SELECT commerce.upsert_staff(:t, 'op1', 'HQ', 'operator');
SELECT commerce.upsert_staff(:t, 'op-s1', 'HQ for S1', 'operator', ARRAY['S1']);
SELECT commerce.upsert_staff(:t, 'st1', 'Store one staff', 'store', ARRAY['S1']);
SELECT commerce.upsert_customer(:t, c, c) FROM unnest(ARRAY['kay-c', 'kim-c', 'a', 'b']) c;
SELECT commerce.upsert_koc(:t, 'kay', 'kay-c', 'Kay');
SELECT commerce.upsert_koc(:t, 'kim', 'kim-c', 'Kim');
SELECT commerce.set_checkin_rule(:t, 5, 7, 10, 365);
SELECT commerce.community_ingest(:t, '{"type":"change_contact","change":"create_party","at":1907715600,"id":2,"name":"S1 dept"}');
SELECT commerce.community_ingest(:t, '{"type":"change_contact","change":"create_party","at":1907715600,"id":3,"name":"S2 dept"}');
SELECT commerce.bind_wecom_department(:t, 2, 'S1');
SELECT commerce.bind_wecom_department(:t, 3, 'S2');
SELECT commerce.community_ingest(:t, '{"type":"change_contact","change":"create_user","at":1907715600,"user_id":"lily","name":"Lily","department":[2]}');
SELECT commerce.community_ingest(:t, '{"type":"change_contact","change":"create_user","at":1907715600,"user_id":"bob","name":"Bob","department":[3]}');
SELECT commerce.community_ingest(:t, '{"type":"change_external_chat","change":"create","at":1907715600,"chat_id":"g1","name":"S1 group","owner":"lily"}');
SELECT commerce.community_ingest(:t, '{"type":"change_external_chat","change":"create","at":1907715600,"chat_id":"g2","name":"S2 group","owner":"bob"}');
SELECT commerce.update_group(:t, 'wecom-g1', 'kay', 'S1', NULL);
SELECT commerce.update_group(:t, 'wecom-g2', 'kim', 'S2', NULL);
SELECT commerce.register_group(:t2, 'wechat', 'x', 'Theirs', 'theirs');
SELECT commerce.start_group_checkin(:t, 'wecom-g2', 'S2 week', 7, 5, 7, 0, NULL, 'operator:op1') AS g2_round \gset
SELECT commerce.upsert_koc_task(:t, 'EV', 'Event week', '2030-06-10', '2030-06-20', 100);
SELECT commerce.set_community_task(:t, 'EV', 'event', 'checkins', 10);
\o
SELECT pg_temp.fingerprint() AS fp \gset

-- callbacks
SELECT throws_ok(format($$SELECT commerce.community_ingest(%s, NULL)$$, :t), '22004', 'argument p_event must not be null', 'ingest: NULL');
SELECT throws_ok(format($$SELECT commerce.community_ingest(%s, '[]')$$, :t), '22023', 'invalid value for p_event', 'ingest: not an object');
SELECT throws_ok(format($$SELECT commerce.community_ingest(%s, '{"type":"change_contact","change":"create_user","at":1907715600}')$$, :t), '22023', 'invalid value for p_event', 'ingest: a user without user_id');
SELECT throws_ok(format($$SELECT commerce.community_ingest(%s, '{"type":"change_contact","change":"explode","at":1907715600}')$$, :t), '22023', 'invalid value for p_event', 'ingest: an unknown change');
SELECT throws_ok(format($$SELECT commerce.community_ingest(%s, '{"type":"change_contact","change":"create_party","at":1907715600,"id":1.5,"name":"x"}')$$, :t), '22023', 'invalid value for p_event', 'ingest: a fractional department id');
SELECT throws_ok(format($$SELECT commerce.community_ingest(%s, '{"type":"change_contact","change":"create_user","at":1907715600,"user_id":"u","name":"U","department":["2"]}')$$, :t), '22023', 'invalid value for p_event', 'ingest: department ids as strings');
SELECT throws_ok(format($$SELECT commerce.community_ingest(%s, '{"type":"change_external_chat","change":"create","at":1999999999,"chat_id":"g9"}')$$, :t), '22023', 'invalid value for p_event', 'ingest: a callback from the future');
SELECT throws_ok(format($$SELECT commerce.community_ingest(%s, '{"type":"change_external_chat","change":"create","at":1907715600,"chat_id":"g 9"}')$$, :t), '22023', 'invalid value for p_event', 'ingest: a chat id with a space');
SELECT throws_ok(format($$SELECT commerce.community_ingest(%s, '{"type":"change_external_chat","change":"update","update_detail":"del_member","at":1907715600,"chat_id":"g1"}')$$, :t), '22023', 'invalid value for p_event', 'ingest: a quit without members');
SELECT throws_ok(format($$SELECT commerce.community_ingest(%s, '{"type":"group_event","platform":"wecom","change":"join","at":1907715600,"chat_id":"g1","members":["m"]}')$$, :t), '22023', 'invalid value for p_event', 'ingest: a group_event of a WeCom group');
SELECT throws_ok(format($$SELECT commerce.community_ingest(%s, '{"type":"group_event","platform":"wechat","change":"join","at":1907715600,"chat_id":"x","members":["m"]}')$$, :t), 'PT404', 'group "wechat:x" not found', 'ingest: another tenant''s group');
SELECT throws_ok(format($$SELECT commerce.community_ingest(%s, jsonb_build_object('type', 'change_external_chat', 'change', 'update', 'update_detail', 'add_member', 'at', 1907715600, 'chat_id', 'g1', 'members', (SELECT jsonb_agg('m' || i) FROM generate_series(1, 2001) i)))$$, :t), '22023', 'invalid value for p_event', 'ingest: over 2,000 members');

-- templates, groups, join ways, check-ins, fission
SELECT throws_ok(format($$SELECT commerce.set_welcome_template(%s, 'w', 'Hi', 'ftp://x')$$, :t), '22023', 'invalid value for p_link', 'template: a link that is not http(s)');
SELECT throws_ok(format($$SELECT commerce.set_welcome_template(%s, 'w', 'Hi', NULL, '{"kind":"image"}')$$, :t), '22023', 'invalid value for p_attachment', 'template: an attachment without msgtype');
SELECT throws_ok(format($$SELECT commerce.register_group(%s, 'wecom', 'c', 'N', 'n')$$, :t), '22023', 'invalid value for p_platform', 'register: a WeCom group');
SELECT throws_ok(format($$SELECT commerce.register_group(%s, 'wechat', 'c', 'N', 'wecom-x')$$, :t), '22023', 'invalid value for p_code', 'register: a code kept for WeCom');
SELECT throws_ok(format($$SELECT commerce.register_group(%s, 'wechat', 'c', 'N', 'wecom-g1')$$, :t), '22023', 'invalid value for p_code', 'register: a WeCom group''s code');
SELECT throws_ok(format($$SELECT commerce.create_join_way(%s, 'w', 'group', 'T', NULL, '{wecom-g1,wecom-g1}', NULL, NULL, NULL, NULL, NULL, 'x')$$, :t), '22023', 'invalid value for p_groups', 'join way: a group twice');
SELECT throws_ok(format($$SELECT commerce.create_join_way(%s, 'w', 'contact', 'T', '{nobody}', NULL, NULL, NULL, NULL, NULL, NULL, 'x')$$, :t), '22023', 'invalid value for p_userids', 'join way: an unknown staff account');
SELECT throws_ok(format($$SELECT commerce.create_join_way(%s, 'w', 'group', 'T', NULL, '{theirs}', NULL, NULL, NULL, NULL, NULL, 'x')$$, :t), '22023', 'invalid value for p_groups', 'join way: another tenant''s group');
SELECT throws_ok(format($$SELECT commerce.start_group_checkin(%s, 'wecom-g1', 'T', 0, 5, 7, 0, NULL, 'x')$$, :t), '22023', 'invalid value for p_days', 'check-in: a round of 0 days');
SELECT throws_ok(format($$SELECT commerce.start_group_checkin(%s, 'wecom-g1', 'T', 7, 5, 7, 0, '2030-06-14', 'x')$$, :t), '22023', 'invalid value for p_starts_on', 'check-in: a round starting yesterday');
SELECT throws_ok(format($$SELECT commerce.group_check_in(%s, 'wecom-g1', 'a', 'm', 'service')$$, :t), '22023', 'invalid value for p_customer', 'check-in: both customer and member');
SELECT throws_ok(format($$SELECT commerce.group_check_in(%s, 'wecom-g1', 'a', NULL, 'service')$$, :t), 'PT409', 'group "wecom-g1" has no check-in today', 'check-in: no round today');
SELECT throws_ok(format($$SELECT commerce.create_fission_campaign(%s, 'f', 'invite_reward', 'T', 'contact', '2030-06-01', '2030-07-01', '[]')$$, :t), '22023', 'invalid value for p_stages', 'fission: no stages');
SELECT throws_ok(format($$SELECT commerce.create_fission_campaign(%s, 'f', 'invite_reward', 'T', 'contact', '2030-06-01', '2030-07-01', '[{"threshold":1,"reward":{"points":0}}]')$$, :t), '22023', 'invalid value for p_stages', 'fission: zero points');
SELECT throws_ok(format($$SELECT commerce.create_fission_campaign(%s, 'f', 'invite_reward', 'T', 'contact', '2030-06-01', '2030-07-01', '[{"threshold":1,"reward":{"points":5}}]', p_groups => '{wecom-g1}')$$, :t), '22023', 'invalid value for p_userids', 'fission: groups on a contact campaign');
SELECT throws_ok(format($$SELECT commerce.fission_accept(%s, 'f1.1.aaaaaaaaaaaaa', 'a')$$, :t), '22023', 'invalid value for p_code', 'fission: a forged code');
-- broadcasts, activity, reminders
SELECT throws_ok(format($$SELECT commerce.set_community_policy(%s, 5, 4)$$, :t), '22023', 'invalid value for p_per_day', 'policy: a month below a day');
SELECT throws_ok(format($$SELECT commerce.schedule_broadcast(%s, 'b', 'B', '{"msgtype":"text","text":""}', '{wecom-g1}', NULL)$$, :t), '22023', 'invalid value for p_content', 'broadcast: an empty text');
SELECT throws_ok(format($$SELECT commerce.schedule_broadcast(%s, 'b', 'B', '{"msgtype":"text","text":"x"}', '{wecom-g1,wecom-g1}', NULL)$$, :t), '22023', 'invalid value for p_groups', 'broadcast: a group twice');
SELECT throws_ok(format($$SELECT commerce.schedule_broadcast(%s, 'b', 'B', '{"msgtype":"text","text":"x"}', '{wecom-g1}', '2030-06-14')$$, :t), '22023', 'invalid value for p_scheduled_at', 'broadcast: in the past');
SELECT throws_ok(format($$SELECT commerce.schedule_broadcast(%s, 'b', 'B', '{"msgtype":"text","text":"x"}', '{wecom-g2}', NULL, false, 'S1')$$, :t), '22023', 'invalid value for p_groups', 'broadcast: a store''s to another store''s group');
SELECT throws_ok(format($$SELECT commerce.broadcast_report(%s, 'nope', 'lily', 't', true)$$, :t), 'PT404', 'broadcast "nope" not found', 'report: an unknown broadcast');
SELECT throws_ok(format($$SELECT commerce.report_group_activity(%s, '2030-06-15', '[]')$$, :t), '22023', 'invalid value for p_day', 'activity: today is not over');
SELECT throws_ok(format($$SELECT commerce.report_group_activity(%s, '2030-06-14', '[{"chat_id":"g1","messages":1,"speakers":2}]')$$, :t), '22023', 'invalid value for p_rows', 'activity: more speakers than messages');
SELECT throws_ok(format($$SELECT commerce.schedule_group_reminder(%s, 'wecom-g1', 'custom', 'x', '2030-06-16', NULL, 3)$$, :t), '22023', 'invalid value for p_times', 'reminder: repeats without every_days');
SELECT throws_ok(format($$SELECT commerce.cancel_group_reminder(%s, 0)$$, :t), 'PT404', 'reminder "0" not found', 'reminder: unknown');
SELECT throws_ok(format($$SELECT commerce.upsert_reply_rule(%s, 'r', 'regex', '[a-', '{"msgtype":"text","text":"x"}')$$, :t), '22023', 'invalid value for p_pattern', 'reply rule: a regex that does not compile');
SELECT throws_ok(format($$SELECT commerce.upsert_reply_rule(%s, 'r', 'contains', 'x', '{"msgtype":"text","text":"x"}', 0, NULL, NULL, '{wecom-g2}', 'S1')$$, :t), '22023', 'invalid value for p_groups', 'reply rule: another store''s group');
SELECT throws_ok(format($$SELECT commerce.ai_answer(%s, 0, NULL)$$, :t), 'PT404', 'reply request "0" not found', 'AI answer: an unknown request');
SELECT is(pg_temp.fingerprint(), :'fp', 'nothing changed');

-- who may do what
SELECT matches(pg_temp.call_as('store', 'st1', $$SELECT commerce_api.schedule_broadcast('sb', 'S', '{"msgtype":"text","text":"x"}', '{wecom-g2}')$$),
               '^22023: invalid value for p_groups', 'store staff broadcast only to their store''s groups');
SELECT matches(pg_temp.call_as('koc', 'kay', $$SELECT commerce_api.schedule_group_reminder('wecom-g2', 'custom', 'x', now())$$),
               '^42501: group "wecom-g2" is not run by KOC kay', 'a KOC reminds only its own groups');
SELECT matches(pg_temp.call_as('store', 'st1', $$SELECT commerce_api.create_fission_campaign('sf', 'invite_reward', 'T', 'contact', now(), now() + interval '1 day', '[{"threshold":1,"reward":{"points":1}}]', store => 'S1')$$),
               '^42501: staff limited to stores name the groups or staff accounts', 'store staff cannot run a campaign over the whole tenant');
SELECT matches(pg_temp.call_as('store', 'st1', $$SELECT commerce_api.create_fission_campaign('sf', 'invite_reward', 'T', 'contact', now(), now() + interval '1 day', '[{"threshold":1,"reward":{"points":1}}]', userids => '{bob}', store => 'S1')$$),
               '^42501: store S2 is outside the scope of st1', 'store staff cannot count another store''s staff account');
SELECT matches(pg_temp.call_as('store', 'st1', $$SELECT commerce_api.create_fission_campaign('sf', 'invite_reward', 'T', 'group', now(), now() + interval '1 day', '[{"threshold":1,"reward":{"points":1}}]', groups => '{wecom-g1}', store => 'S1', koc => 'kim')$$),
               '^42501: staff limited to stores do not name a campaign''s KOC', 'store staff cannot name a KOC to see the stats');
SELECT matches(pg_temp.call_as('koc', 'kay', $$SELECT commerce_api.register_group('wechat', 'k1', 'Kay circle', 'kay-circle', 'S2')$$),
               '^42501: a KOC registers its groups without a store', 'a KOC cannot file its group under a store');
SELECT matches(pg_temp.call_as('koc', 'kay', $$SELECT commerce_api.start_group_checkin('wecom-g2', 'Week')$$),
               '^42501: group "wecom-g2" is not run by KOC kay', 'a KOC cannot start check-ins in another KOC''s group');
SELECT matches(pg_temp.call_as('koc', 'kay', $$SELECT commerce_api.start_group_checkin('wecom-g1', 'Week', 7, 500)$$),
               '^42501: a KOC''s check-in round earns at most', 'a KOC''s round earns no more than the daily check-in');
SELECT matches(pg_temp.call_as('koc', 'kay', $$SELECT commerce_api.create_join_way('kw', 'contact', 'T', '{lily}')$$),
               '^42501: a KOC makes join ways to its own groups only', 'a KOC cannot make a contact way');
SELECT matches(pg_temp.call_as('koc', 'kay', $$SELECT commerce_api.create_join_way('kw', 'group', 'T', NULL, '{wecom-g2}')$$),
               '^42501: group "wecom-g2" is not run by KOC kay', 'a KOC cannot make a way to another''s group');
SELECT matches(pg_temp.call_as('store', 'st1', $$SELECT commerce_api.create_join_way('sw', 'contact', 'T', '{bob}', NULL, 'S1')$$),
               '^42501: store S2 is outside the scope of st1', 'store staff cannot lead to another store''s staff account');
SELECT matches(pg_temp.call_as('operator', 'op-s1', $$SELECT commerce_api.bind_wecom_department(3, 'S1')$$),
               '^42501: store S2 is outside the scope of op-s1', 'a store-limited operator cannot take another store''s department');
SELECT matches(pg_temp.call_as('store', 'st1', $$SELECT commerce_api.update_group('wecom-g2', NULL, 'S1')$$),
               '^42501: store S2 is outside the scope of st1', 'store staff cannot take another store''s group');
SELECT throws_ok($$SELECT count(*) FROM commerce_api.community_groups()$$, '42501', NULL, 'without a verified identity the group list is refused');
SELECT is(pg_temp.call_as('store', 'st1', $$SELECT set_config('test.n', (SELECT string_agg(code, ',') FROM commerce_api.community_groups()), true)$$), 'ok', 'store staff list groups');
SELECT is(current_setting('test.n'), 'wecom-g1', 'store staff see only their store''s groups');
SELECT matches(pg_temp.call_as('customer', 'a', format($$SELECT commerce_api.checkin_board(%s)$$, :g2_round)),
               '^42501: a customer sees the check-ins of its own groups', 'a customer cannot read the board of a group it is not in');
SELECT matches(pg_temp.call_as('customer', 'a', $$SELECT commerce_api.fission_progress('nope', 'b')$$),
               '^42501: a customer acts only as itself', 'a customer cannot take part in another customer''s name');
-- community tasks and dashboards (PR14-PR17)
SELECT throws_ok(format($$SELECT commerce.set_community_task(%s, 'EV', 'event', 'likes', 10)$$, :t), '22023', 'invalid value for p_kind', 'community task: an unknown metric');
SELECT throws_ok(format($$SELECT commerce.set_community_task(%s, 'EV', 'event', 'checkins', 10, '{wecom-nope}')$$, :t), '22023', 'invalid value for p_groups', 'community task: an unknown group');
SELECT throws_ok(format($$SELECT * FROM commerce.community_funnel(%s, 'week', '2030-06-10', '2030-01-01')$$, :t), '22023', 'invalid value for p_to', 'funnel: a period backwards');
SELECT matches(pg_temp.call_as('koc', 'kay', $$SELECT commerce_api.koc_community_board('2030-06-01', '2030-06-30', 'kim')$$), '^42501', 'a KOC cannot read another KOC''s community board');
SELECT matches(pg_temp.call_as('koc', 'kay', $$SELECT commerce_api.community_task_progress('EV', 'kim')$$), '^42501', '... nor its task progress');
SELECT is(pg_temp.call_as('koc', 'kay', $$SELECT commerce_api.community_task_progress('EV')$$), 'ok', '... but reads its own');
SELECT matches(pg_temp.call_as('store', 'st1', $$SELECT commerce_api.private_domain_dashboard('2030-06-01', '2030-06-30', 'S2')$$), '^42501', 'store staff cannot read another store''s dashboard');
SELECT matches(pg_temp.call_as('store', 'st1', $$SELECT commerce_api.community_funnel('week', '2030-06-01', '2030-06-30', 'S2')$$), '^42501', '... nor its funnel');
SELECT matches(pg_temp.call_as('store', 'st1', $$SELECT commerce_api.set_community_task('EV', 'event', 'checkins', 1)$$), '^42501', 'store staff do not scope KOC tasks');
SELECT is(pg_temp.fingerprint(), :'fp', 'the refused calls changed nothing');

-- a merge takes the contacts and memberships along: check-ins by account and by WeCom id are one person
\o /dev/null
SELECT commerce.community_ingest(:t, '{"type":"change_external_chat","change":"update","update_detail":"add_member","at":1907715700,"chat_id":"g1","members":[{"id":"wm-a","type":"external"}]}');
SELECT commerce.mini_program_login(:t, 'wechat_mp', 'o-a', 'u-a', NULL, 'Ann');
SELECT commerce.community_ingest(:t, '{"type":"change_external_contact","change":"add_external_contact","at":1907715800,"user_id":"lily","external_user_id":"wm-a","unionid":"u-a"}');
SELECT commerce.start_group_checkin(:t, 'wecom-g1', 'Week', 7, 5, 7, 0, NULL, 'operator:op1');
\o
SELECT is((SELECT outcome FROM commerce.group_check_in(:t, 'wecom-g1', 'wechat_mp:o-a', NULL, 'mini_program')), 'checked_in',
          'after the merge the account''s person is the member');
SELECT is((SELECT outcome FROM commerce.group_check_in(:t, 'wecom-g1', NULL, 'wm-a', 'group_message')), 'already',
          'and the same person by its WeCom id: one check-in');
SELECT * FROM finish();
ROLLBACK;
