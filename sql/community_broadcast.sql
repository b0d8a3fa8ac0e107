-- community broadcasts, activity and reminders (PR06, PR07, PR09): the quota
-- is checked when a broadcast is scheduled (over-limit groups refused with a
-- clear error, or left out with partial); when due, one task per owner goes
-- out; owners' confirmations and WeCom's results come back and only move
-- forward; unconfirmed targets are settled at the deadline; the delivery rate
-- counts admitted-and-confirmed targets, unconfirmed apart. Daily snapshots,
-- the lurker rate, dead-group and quit-spike alerts once per window; bot
-- reminders held by the outbox until their time.
CREATE EXTENSION commerce;
CALL commerce.provision();
\set SHOW_CONTEXT never
SET timezone = 'Asia/Shanghai';
SET commerce.now = '2030-06-15 10:00:00+08';
SELECT commerce.create_tenant('bc', 'Broadcast test') AS t \gset
SELECT commerce.upsert_customer(:t, 'kay-c', 'Kay') IS NOT NULL AS kay_customer;
SELECT commerce.upsert_koc(:t, 'kay', 'kay-c', 'Kay') IS NOT NULL AS koc;
-- three WeCom groups of two owners and a KOC's WeChat group
SELECT count(commerce.community_ingest(:t, jsonb_build_object('type', 'change_external_chat', 'change', 'create', 'at', 1907715600,
         'chat_id', c, 'name', 'Group ' || c, 'owner', o))) AS groups
  FROM (VALUES ('g1', 'lily'), ('g2', 'lily'), ('g3', 'max')) v(c, o);
SELECT commerce.register_group(:t, 'wechat', 'wx1', 'Kay''s circle', 'kay-circle', 'kay') IS NOT NULL AS kay_group;

-- a broadcast now to all four: admitted within the quota (one a day)
SELECT commerce.schedule_broadcast(:t, 'summer-1', 'Summer sale', '{"msgtype":"miniprogram","appid":"wx123","page":"/sale","title":"Summer sale"}',
    '{wecom-g1,wecom-g2,wecom-g3,kay-circle}', NULL) - 'scheduled_at' - 'confirm_by' AS scheduled;
-- a second one the same day: over the quota, refused as a whole with the groups named (nothing changed)
SELECT commerce.schedule_broadcast(:t, 'summer-2', 'Again', '{"msgtype":"text","text":"Again"}', '{wecom-g1,wecom-g2}', NULL);
SELECT count(*) AS broadcasts FROM commerce.broadcast;
-- tomorrow's is fine; with partial, a broadcast today goes only to the group not yet reached
SELECT commerce.schedule_broadcast(:t, 'summer-3', 'Tomorrow', '{"msgtype":"text","text":"Tomorrow"}', '{wecom-g1}', '2030-06-16 10:00:00+08') ->> 'admitted' AS tomorrow;
SELECT commerce.register_group(:t, 'wechat', 'wx2', 'Second circle', 'circle-2', 'kay') IS NOT NULL AS circle_2;
SELECT commerce.schedule_broadcast(:t, 'summer-4', 'Partial', '{"msgtype":"text","text":"Hi"}', '{wecom-g1,circle-2}', NULL, true) - 'scheduled_at' - 'confirm_by' AS partial;
SELECT b.code, g.code AS "group", t.status, t.reason FROM commerce.broadcast_target t JOIN commerce.broadcast b USING (tenant_id, broadcast_id)
  JOIN commerce.community_group g USING (tenant_id, group_id) WHERE b.code = 'summer-4' ORDER BY 2;
-- bad content and bad groups
SELECT commerce.schedule_broadcast(:t, 'bad', 'Bad', '{"msgtype":"video"}', '{wecom-g1}', NULL);
SELECT commerce.schedule_broadcast(:t, 'bad', 'Bad', '{"msgtype":"text","text":"x"}', '{wecom-g1,nope}', NULL);

-- the pump: one task per owner (lily's two groups in one), one message for each group elsewhere
SELECT commerce.broadcast_release(100) AS released;
SELECT topic, payload ->> 'broadcast' AS broadcast, payload ->> 'owner' AS owner, payload -> 'chat_ids' AS chat_ids
  FROM commerce.outbox WHERE topic LIKE '%.broadcast' ORDER BY message_id;
-- lily confirms: g1 delivered, g2 failed; max never confirms; the circles' service reports delivered
SELECT commerce.broadcast_report(:t, 'summer-1', 'lily', 'msg-lily-1', true, '[{"chat_id":"g1","status":"delivered"},{"chat_id":"g2","status":"failed"}]') AS lily;
SELECT commerce.broadcast_report(:t, 'summer-1', 'lily', 'msg-lily-1', true, '[{"chat_id":"g1","status":"failed"}]') AS lily_again;
SELECT commerce.broadcast_report(:t, 'summer-1', NULL, NULL, true, '[{"chat_id":"wx1","status":"delivered"}]') AS circle;
SELECT commerce.broadcast_stats(:t, 'summer-1') - 'scheduled_at' - 'confirm_by' AS before_deadline;
-- a day later the deadline has passed: max's target is unconfirmed, the broadcast done
SET commerce.now = '2030-06-16 10:30:00+08';
SELECT commerce.broadcast_settle(100) AS done;
SELECT commerce.broadcast_stats(:t, 'summer-1') - 'scheduled_at' - 'confirm_by' AS after_deadline;
SELECT commerce.broadcast_report(:t, 'summer-1', 'max', 'msg-max-1', true, '[{"chat_id":"g3","status":"delivered"}]') AS max_too_late;
SELECT commerce.cancel_broadcast(:t, 'summer-1');
SELECT commerce.cancel_broadcast(:t, 'summer-3');
SELECT status FROM commerce.broadcast WHERE code = 'summer-3';

-- reminders: three daily check-in reminders held by the outbox, then cancelled after the first went out
SELECT commerce.schedule_group_reminder(:t, 'wecom-g1', 'checkin', 'Check in today!', '2030-06-16 20:00:00+08', 1, 3) AS reminder \gset
SELECT dedupe_key, available_at, status FROM commerce.outbox WHERE topic = 'community.reminder' ORDER BY available_at;
SELECT count(*) AS claimable_now FROM commerce.claim('community.reminder', 'bot', 10, '5 minutes', :t);
SET commerce.now = '2030-06-16 20:00:01+08';
SELECT count(*) AS claimable_at_eight FROM commerce.claim('community.reminder', 'bot', 10, '5 minutes', :t);
SELECT commerce.cancel_group_reminder(:t, :reminder) AS posts_stopped;
SELECT dedupe_key, status, last_error FROM commerce.outbox WHERE topic = 'community.reminder' ORDER BY available_at;

-- activity: joins and quits on 16 June, the day's snapshot, the adapter's message figures, the lurker rate
SELECT commerce.community_ingest(:t, jsonb_build_object('type', 'change_external_chat', 'change', 'update', 'update_detail', 'add_member',
         'at', 1907805600, 'chat_id', 'g1', 'members', (SELECT jsonb_agg(jsonb_build_object('id', 'wm' || i, 'type', 'external')) FROM generate_series(1, 10) i))) -> 'members' AS joins;
SELECT commerce.community_ingest(:t, jsonb_build_object('type', 'change_external_chat', 'change', 'update', 'update_detail', 'del_member',
         'at', 1907806200, 'chat_id', 'g1', 'members', jsonb_build_array('wm1', 'wm2'))) -> 'members' AS quits;
SET commerce.now = '2030-06-17 09:00:00+08';
SELECT commerce.report_group_activity(:t, '2030-06-16', '[{"chat_id":"g1","messages":40,"speakers":4},{"chat_id":"nope","messages":1,"speakers":1}]') AS reported;
SELECT * FROM commerce.group_activity(:t, 'wecom-g1', '2030-06-15', '2030-06-17');
-- seven silent days later g1 is dead: one alert, not repeated the next day; a spike of 6 quits in a day is one alert
SET commerce.now = '2030-06-24 09:00:00+08';
SELECT commerce.report_group_activity(:t, '2030-06-23', '[{"chat_id":"g1","messages":0,"speakers":0}]') - 'day' AS reported_with_its_alerts;
SELECT commerce.community_alerts(:t, '2030-06-23') AS alerts_again;
SELECT commerce.community_ingest(:t, jsonb_build_object('type', 'change_external_chat', 'change', 'update', 'update_detail', 'del_member',
         'at', 1908489600, 'chat_id', 'g1', 'members', jsonb_build_array('wm3', 'wm4', 'wm5', 'wm6', 'wm7', 'wm8'))) -> 'members' AS spike;
SET commerce.now = '2030-06-25 09:00:00+08';
SELECT commerce.report_group_activity(:t, '2030-06-24', '[{"chat_id":"g1","messages":0,"speakers":0}]') - 'day' AS reported_with_its_alerts;
SELECT commerce.community_alerts(:t, '2030-06-24') AS alerts_next_day;
SELECT g.code, a.kind, a.window_from, a.detail, m.topic FROM commerce.community_alert a JOIN commerce.community_group g USING (tenant_id, group_id)
  JOIN commerce.outbox m ON m.tenant_id = a.tenant_id AND m.message_id = a.message_id ORDER BY a.kind;
SELECT commerce.group_day_snapshot(:t, '2030-06-25');  -- a day not over yet

SET client_min_messages = warning;
DROP SCHEMA commerce CASCADE;
