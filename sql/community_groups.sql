-- community groups (PR01-PR05, PR10, K16, K17): the WeCom organisation and
-- contacts come in through one idempotent callback entry; a contact's add and
-- a member's join are counted once per change of state, attributed to the
-- join way of their state and welcomed exactly once in the same transaction;
-- a delete and re-add is the same contact again; a callback arriving late
-- changes nothing; group check-ins are once per person and day with streaks
-- and points granted once.
CREATE EXTENSION commerce;
CALL commerce.provision();
\set SHOW_CONTEXT never
SET timezone = 'Asia/Shanghai';
SET commerce.now = '2030-06-15 10:00:00+08';
SELECT commerce.create_tenant('cm', 'Community test') AS t \gset
SELECT commerce.upsert_store(:t, 'S1', 'Store one') IS NOT NULL AS store;
SELECT commerce.upsert_customer(:t, 'kay-c', 'Kay') IS NOT NULL AS kay_customer;
SELECT commerce.upsert_koc(:t, 'kay', 'kay-c', 'Kay') IS NOT NULL AS koc;

-- the organisation: a department, bound to a store; a staff account in it
SELECT commerce.community_ingest(:t, '{"type":"change_contact","change":"create_party","at":1907715600,"id":2,"name":"Shanghai","parent_id":1}') - 'event_key' AS party;
SELECT commerce.bind_wecom_department(:t, 2, 'S1');
SELECT commerce.community_ingest(:t, '{"type":"change_contact","change":"create_user","at":1907715601,"user_id":"lily","name":"Lily","department":[2],"main_department":2}') - 'event_key' AS lily;
-- the same callback again: replayed, nothing changes
SELECT commerce.community_ingest(:t, '{"type":"change_contact","change":"create_user","at":1907715601,"user_id":"lily","name":"Lily","department":[2],"main_department":2}') ->> 'replayed' AS replayed;
SELECT userid, name, departments, main_department, active FROM commerce.wecom_user ORDER BY userid;

-- a welcome template and a contact way attributed to the KOC
SELECT commerce.set_welcome_template(:t, 'default', 'Hi {nickname}, welcome! {link}', 'https://m.example.com/new');
SELECT commerce.set_welcome_template(:t, 'kay-w', 'Hello {nickname}, Kay''s friends get 10% off: {link}', 'https://m.example.com/kay');
SELECT code, kind, state, koc, welcome, userids FROM commerce.create_join_way(:t, 'kay-qr', 'contact', 'Kay''s QR', '{lily}', NULL, 'S1', 'kay', NULL, 'summer', 'kay-w', 'operator:hq');
SELECT topic, payload FROM commerce.outbox WHERE topic = 'wecom.join_way';
SELECT commerce.join_way_ready(:t, 'kay-qr', 'https://wework.qpic.cn/qr/1', 'cfg-1');

-- a customer who logged in to the mini-program adds Lily through Kay's code: one person, one welcome
SELECT (commerce.mini_program_login(:t, 'wechat_mp', 'o-ann', 'u-ann', NULL, 'Ann')).outcome AS ann;
SELECT commerce.community_ingest(:t, '{"type":"change_external_contact","change":"add_external_contact","at":1907715700,"user_id":"lily","external_user_id":"wm-ann","state":"kay-qr","welcome_code":"wc-1","name":"Ann","unionid":"u-ann"}') - 'event_key' - 'contact' - 'person' - 'welcome' AS add_ann;
SELECT c.userid, c.external_userid, c.adds, c.state, j.code AS join_way,
       c.person_id = (SELECT person_id FROM commerce.customer WHERE code = 'wechat_mp:o-ann') AS same_person
  FROM commerce.wecom_contact c LEFT JOIN commerce.join_way j USING (tenant_id, join_way_id);
-- WeCom retries the callback twice: still one welcome
SELECT commerce.community_ingest(:t, '{"type":"change_external_contact","change":"add_external_contact","at":1907715700,"user_id":"lily","external_user_id":"wm-ann","state":"kay-qr","welcome_code":"wc-1","name":"Ann","unionid":"u-ann"}') ->> 'replayed' AS replayed;
SELECT commerce.community_ingest(:t, '{"type":"change_external_contact","change":"add_external_contact","at":1907715700,"user_id":"lily","external_user_id":"wm-ann","state":"kay-qr","welcome_code":"wc-1","name":"Ann","unionid":"u-ann","extra":"adapter noise"}') ->> 'replayed' AS replayed_with_noise;
SELECT dedupe_key, payload ->> 'text' AS text, payload ->> 'welcome_code' AS code, payload ->> 'join_way' AS join_way
  FROM commerce.outbox WHERE topic = 'wecom.welcome' ORDER BY message_id;

-- the customer deletes Lily, then adds her again: the same contact, added twice, welcomed again (a new welcome code)
SELECT commerce.community_ingest(:t, '{"type":"change_external_contact","change":"del_follow_user","at":1907715800,"user_id":"lily","external_user_id":"wm-ann"}') ->> 'outcome' AS deleted;
SELECT commerce.community_ingest(:t, '{"type":"change_external_contact","change":"add_external_contact","at":1907715900,"user_id":"lily","external_user_id":"wm-ann","welcome_code":"wc-2","name":"Ann"}') ->> 'outcome' AS readded;
-- a delete from before the re-add, delivered late: stale, changes nothing
SELECT commerce.community_ingest(:t, '{"type":"change_external_contact","change":"del_external_contact","at":1907715850,"user_id":"lily","external_user_id":"wm-ann"}') ->> 'outcome' AS late_delete;
SELECT adds, deleted_at IS NULL AS in_contacts, first_added_at < added_at AS first_kept FROM commerce.wecom_contact;
SELECT count(*) AS welcomes FROM commerce.outbox WHERE topic = 'wecom.welcome';

-- a WeCom group: created with its owner and first members (no welcome for the founders)
SELECT commerce.community_ingest(:t, '{"type":"change_external_chat","change":"create","at":1907716200,"chat_id":"wr-g1","name":"Summer fans","owner":"lily","members":[{"id":"lily","type":"staff"},{"id":"wm-ann","type":"external","name":"Ann"}]}') - 'event_key' AS created;
SELECT code, platform, name, owner_userid, (SELECT code FROM commerce.store s WHERE s.store_id = g.store_id) AS store, members, joins, quits
  FROM commerce.community_group g;
-- a group way for Kay's group, and two customers joining through it (one of them twice in the callback list)
SELECT commerce.update_group(:t, 'wecom-wr-g1', 'kay', 'S1', NULL);
SELECT code, state, groups FROM commerce.create_join_way(:t, 'g1-live', 'group', 'Summer live code', NULL, '{wecom-wr-g1}', 'S1', 'kay', NULL, NULL, NULL, 'operator:hq');
SELECT commerce.community_ingest(:t, '{"type":"change_external_chat","change":"update","update_detail":"add_member","at":1907716300,"chat_id":"wr-g1","join_scene":"3","cur_mem_ver":"v2","members":[{"id":"wm-bob","type":"external","name":"Bob","state":"g1-live"},{"id":"wm-cat","type":"external","name":"Cat","state":"g1-live"}]}') -> 'members' AS joins;
SELECT commerce.community_ingest(:t, '{"type":"change_external_chat","change":"update","update_detail":"add_member","at":1907716300,"chat_id":"wr-g1","join_scene":"3","cur_mem_ver":"v2","members":[{"id":"wm-bob","type":"external","name":"Bob","state":"g1-live"},{"id":"wm-cat","type":"external","name":"Cat","state":"g1-live"}]}') ->> 'replayed' AS replayed;
-- the same join reported by another callback (another member version): already in, counted once
SELECT commerce.community_ingest(:t, '{"type":"change_external_chat","change":"update","update_detail":"add_member","at":1907716301,"chat_id":"wr-g1","cur_mem_ver":"v3","members":[{"id":"wm-bob","type":"external"}]}') -> 'members' AS again;
SELECT dedupe_key, payload ->> 'text' AS text, payload ->> 'group' AS "group" FROM commerce.outbox WHERE topic = 'wecom.welcome' AND payload ->> 'kind' = 'group' ORDER BY message_id;
-- Bob quits and rejoins; Dan's quit arrives before his join (delivered late): the join is not counted
SELECT commerce.community_ingest(:t, '{"type":"change_external_chat","change":"update","update_detail":"del_member","at":1907716400,"chat_id":"wr-g1","quit_scene":"0","members":["wm-bob"]}') -> 'members' AS quit;
SELECT commerce.community_ingest(:t, '{"type":"change_external_chat","change":"update","update_detail":"add_member","at":1907716500,"chat_id":"wr-g1","members":[{"id":"wm-bob","type":"external"}]}') -> 'members' AS rejoin;
SELECT commerce.community_ingest(:t, '{"type":"change_external_chat","change":"update","update_detail":"del_member","at":1907716600,"chat_id":"wr-g1","members":["wm-dan"]}') -> 'members' AS dan_quit;
SELECT commerce.community_ingest(:t, '{"type":"change_external_chat","change":"update","update_detail":"add_member","at":1907716550,"chat_id":"wr-g1","members":[{"id":"wm-dan","type":"external"}]}') -> 'members' AS dan_late_join;
SELECT member_key, member_type, active, joins, (SELECT code FROM commerce.join_way j WHERE j.join_way_id = m.join_way_id) AS join_way
  FROM commerce.group_member m ORDER BY member_key;
SELECT members, joins, quits FROM commerce.community_group;
SELECT kind, count(*) FROM commerce.group_member_event GROUP BY kind ORDER BY kind;
-- the CRM sees who is in the group
SELECT count(*) AS in_group FROM commerce.person_group WHERE group_code = 'wecom-wr-g1';
SELECT kind, count(*) FROM commerce.crm_event WHERE kind IN ('joined_group', 'left_group') GROUP BY kind ORDER BY kind;
SELECT code, kind, contacts, joins FROM commerce._join_ways(:t, NULL, NULL, NULL, 10) ORDER BY code;

-- Kay's own WeChat group (K16), its joins reported by a service
SELECT commerce.register_group(:t, 'wechat', 'wx-kay-1', 'Kay''s circle', 'kay-circle', 'kay', 'S1', NULL) IS NOT NULL AS registered;
SELECT commerce.register_group(:t, 'wechat', 'wx-kay-1', 'Kay''s circle', 'kay-circle', 'kay', 'S1', NULL) IS NOT NULL AS again;
SELECT commerce.community_ingest(:t, '{"type":"group_event","platform":"wechat","change":"join","at":1907716700,"chat_id":"wx-kay-1","event_id":"e1","members":[{"id":"wx-ann","customer":"wechat_mp:o-ann","name":"Ann"}]}') -> 'members' AS kay_join;
SELECT payload ->> 'text' AS text FROM commerce.outbox WHERE topic = 'community.welcome';
SELECT code, platform, koc, store, members, customers, joins_7d, quits_7d FROM commerce.community_groups(:t, NULL, NULL, NULL, NULL, 50);

-- check-ins: a week in Kay's WeCom group, 5 points a day, a 10-point bonus every 3rd day in a row
SELECT commerce.start_group_checkin(:t, 'wecom-wr-g1', 'Summer week', 7, 5, 3, 10, NULL, 'koc:kay', 'kay') AS round \gset
SELECT * FROM commerce.group_check_in(:t, 'wecom-wr-g1', 'wechat_mp:o-ann', NULL, 'mini_program');
SELECT * FROM commerce.group_check_in(:t, 'wecom-wr-g1', NULL, 'wm-ann', 'group_message');   -- the same person: already
SELECT * FROM commerce.group_check_in(:t, 'wecom-wr-g1', NULL, 'wm-bob', 'group_message');   -- no account: counted, no points
SET commerce.now = '2030-06-16 09:00:00+08';
SELECT * FROM commerce.group_check_in(:t, 'wecom-wr-g1', 'wechat_mp:o-ann', NULL, 'mini_program');
SET commerce.now = '2030-06-17 09:00:00+08';
SELECT * FROM commerce.group_check_in(:t, 'wecom-wr-g1', 'wechat_mp:o-ann', NULL, 'mini_program');
SELECT source, points, status FROM commerce.points_lot WHERE source = 'checkin' ORDER BY lot_id;
SELECT commerce.checkin_board(:t, :round) - 'round';

-- late callbacks after a repeat: Gil re-adds with a new welcome code (the delete between was never
-- reported), then that delete arrives: stale, Gil stays a contact, welcomed twice
SELECT commerce.community_ingest(:t, '{"type":"change_external_contact","change":"add_external_contact","at":1907719200,"user_id":"lily","external_user_id":"wm-gil","welcome_code":"wc-g1"}') ->> 'outcome' AS gil_added;
SELECT commerce.community_ingest(:t, '{"type":"change_external_contact","change":"add_external_contact","at":1907719400,"user_id":"lily","external_user_id":"wm-gil","welcome_code":"wc-g2"}') ->> 'outcome' AS gil_readded;
SELECT commerce.community_ingest(:t, '{"type":"change_external_contact","change":"del_follow_user","at":1907719300,"user_id":"lily","external_user_id":"wm-gil"}') ->> 'outcome' AS gil_late_delete;
SELECT adds, deleted_at IS NULL AS in_contacts, (SELECT count(*) FROM commerce.outbox o WHERE o.payload ->> 'external_user_id' = 'wm-gil') AS welcomes
  FROM commerce.wecom_contact WHERE external_userid = 'wm-gil';
-- Hal's delete arrives before his add: the add is stale, never counted or welcomed
SELECT commerce.community_ingest(:t, '{"type":"change_external_contact","change":"del_external_contact","at":1907719500,"user_id":"lily","external_user_id":"wm-hal"}') ->> 'outcome' AS hal_delete;
SELECT commerce.community_ingest(:t, '{"type":"change_external_contact","change":"add_external_contact","at":1907719450,"user_id":"lily","external_user_id":"wm-hal","welcome_code":"wc-h"}') ->> 'outcome' AS hal_late_add;
SELECT adds, deleted_by FROM commerce.wecom_contact WHERE external_userid = 'wm-hal';
-- a different callback in the same second is not a replay (another name)
SELECT commerce.community_ingest(:t, '{"type":"change_contact","change":"update_user","at":1907719600,"user_id":"lily","name":"Lily Chen"}') ->> 'replayed' AS first;
SELECT commerce.community_ingest(:t, '{"type":"change_contact","change":"update_user","at":"2030-06-15T10:06:40+08:00","user_id":"lily","name":"Lily Wang"}') ->> 'replayed' AS other_name;
SELECT commerce.community_ingest(:t, '{"type":"change_contact","change":"update_user","at":"2030-06-15T10:06:40+08:00","user_id":"lily","name":"Lily Wang"}') ->> 'replayed' AS same_again;
SELECT name FROM commerce.wecom_user WHERE userid = 'lily';

-- closing the round and starting another the same day earns nothing more
SELECT commerce.close_group_checkin(:t, :round);
SELECT commerce.start_group_checkin(:t, 'wecom-wr-g1', 'Second round', 7, 100, 3, 10, NULL, 'operator:hq') AS round2 \gset
SELECT round_id = :round AS first_round, points, outcome FROM commerce.group_check_in(:t, 'wecom-wr-g1', 'wechat_mp:o-ann', NULL, 'mini_program');

-- the group is dismissed: everyone out (the CRM told), the round closed, no more check-ins
SELECT commerce.community_ingest(:t, '{"type":"change_external_chat","change":"dismiss","at":1907800000,"chat_id":"wr-g1"}') -> 'members' AS dismissed;
SELECT status, members, joins - quits AS net FROM commerce.community_group WHERE code = 'wecom-wr-g1';
SELECT count(*) AS still_in_crm_group FROM commerce.person_group WHERE group_code = 'wecom-wr-g1';
SELECT closed_at IS NOT NULL AS round_closed FROM commerce.group_checkin_round WHERE round_id = :round2;
SELECT * FROM commerce.group_check_in(:t, 'wecom-wr-g1', 'wechat_mp:o-ann', NULL, 'mini_program');

-- refusals: a second open round, a non-member, a bad callback (nothing recorded)
SELECT commerce.start_group_checkin(:t, 'kay-circle', 'Circle week', 7, 5, 3, 10, NULL, 'koc:kay', 'kay') IS NOT NULL AS circle_round;
SELECT commerce.start_group_checkin(:t, 'kay-circle', 'Again', 7, 5, 3, 10, NULL, 'koc:kay', 'kay');
SELECT * FROM commerce.group_check_in(:t, 'kay-circle', NULL, 'wm-zed', 'group_message');
SELECT count(*) AS events_before FROM commerce.community_event \gset
SELECT commerce.community_ingest(:t, '{"type":"change_external_chat","change":"update","update_detail":"add_member","at":"yesterday","chat_id":"wr-g1","members":["wm-x"]}');
SELECT commerce.community_ingest(:t, '{"type":"change_external_chat","change":"update","update_detail":"add_member","at":1907716800,"chat_id":"wr-g1","members":[{"id":"wm-x","type":"robot"}]}');
SELECT commerce.community_ingest(:t, '{"type":"change_external_contact","change":"add_external_contact","at":1907716800,"external_user_id":"wm-x"}');
SELECT commerce.community_ingest(:t, '{"type":"wechat_pay","change":"x","at":1907716800}');
SELECT commerce.community_ingest(:t, '{"type":"group_event","platform":"discord","change":"join","at":1907716800,"chat_id":"unknown","members":["d1"]}');
SELECT count(*) = :events_before AS nothing_recorded FROM commerce.community_event;

SET client_min_messages = warning;
DROP SCHEMA commerce CASCADE;
