-- KOC community tasks and the dashboards (PR14-PR17): a KOC task given a
-- group scope goes out to the KOCs it targets once, its progress is read from
-- the daily snapshots and check-ins and its completion recorded once; the
-- KOC's community board counts the traffic its groups brought, their members'
-- orders and the KOC's commission on them from the ledger; the private-domain
-- dashboard and the lifecycle funnel per cohort count persons, not accounts.
CREATE EXTENSION commerce;
CALL commerce.provision();
\set SHOW_CONTEXT never
SET timezone = 'Asia/Shanghai';
SET commerce.now = '2026-10-20 10:00:00+08';
SELECT commerce.create_tenant('cd', 'Community dashboards') AS t \gset
SELECT commerce.upsert_store(:t, 'S1', 'Store one') IS NOT NULL AS store;
SELECT commerce.upsert_product(:t, 'P', 'Goods') > 0 AS product;
SELECT commerce.upsert_sku(:t, 'P', 'TEE', 'T-shirt', 10000) > 0 AS sku;
SELECT commerce.receive_stock(:t, 'r1', 'TEE', 100) > 0 AS received;
SELECT count(commerce.upsert_customer(:t, code)) AS customers FROM unnest(ARRAY['u-k1', 'b1', 'b2', 'b3', 'b4']) code;
SELECT count((commerce.observe_identities(:t, code, jsonb_build_array(jsonb_build_object('type', 'wechat_unionid', 'value', 'un-' || code, 'verified', true)), 'wechat_mp')).outcome) AS unionids
  FROM unnest(ARRAY['b1', 'b2', 'b3', 'b4']) code;
SELECT commerce.upsert_koc(:t, 'K1', 'u-k1', 'Xiao Li', 'Hangzhou') IS NOT NULL AS k1;
SELECT commerce.upsert_koc_task(:t, 'T5', 'Autumn tees', '2026-10-01 00:00+08', '2026-12-01 00:00+08', 500) > 0 AS task;
SELECT commerce.upsert_koc_task(:t, 'EV', 'Check-in week', '2026-10-20 00:00+08', '2026-10-27 00:00+08', 100) > 0 AS event_task;
SELECT commerce.publish_agreement(:t, 'KOC agreement', 'Commission: task rate plus level bonus.') AS v \gset
SELECT version FROM commerce.sign_agreement(:t, 'K1', :v, encode(sha256('Commission: task rate plus level bonus.'), 'hex'), 'Li');
CREATE FUNCTION pg_temp.sale(p_t bigint, p_req text, p_koc text, p_buyer text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE o commerce.order_result;
BEGIN
    IF p_koc IS NOT NULL THEN
        PERFORM commerce.record_click(p_t, commerce.tracking_link(p_t, p_koc, 'T5'), p_buyer);
    END IF;
    o := commerce.place_order(p_t, p_req, 'h5', '{"lines":[{"sku":"TEE","qty":1}]}', p_buyer);
    PERFORM commerce.pay_order(p_t, o.order_id, 'pay-' || p_req, (SELECT payable_fen FROM commerce.orders WHERE order_id = o.order_id));
    RETURN o.order_id;
END $$;

-- K1 runs g1 of store S1; g2 is the store's own. b4 bought before joining: not the group's doing
SELECT pg_temp.sale(:t, 'early-b4', NULL, 'b4') > 0 AS b4_bought_first;
SELECT count(commerce.community_ingest(:t, jsonb_build_object('type', 'change_external_chat', 'change', 'create', 'at', 1792461600,
         'chat_id', c, 'name', 'Group ' || c, 'owner', 'lily'))) AS groups FROM unnest(ARRAY['g1', 'g2']) c;
SELECT commerce.update_group(:t, 'wecom-g1', 'K1', 'S1', NULL);
SELECT commerce.update_group(:t, 'wecom-g2', NULL, 'S1', NULL);
SELECT commerce.community_ingest(:t, jsonb_build_object('type', 'change_external_chat', 'change', 'update', 'update_detail', 'add_member',
         'at', 1792465200, 'chat_id', 'g1', 'members', jsonb_build_array(
             jsonb_build_object('id', 'wm-b1', 'type', 'external', 'unionid', 'un-b1'),
             jsonb_build_object('id', 'wm-b2', 'type', 'external', 'unionid', 'un-b2'),
             jsonb_build_object('id', 'wm-b4', 'type', 'external', 'unionid', 'un-b4')))) -> 'members' AS g1_joins;
SELECT commerce.community_ingest(:t, jsonb_build_object('type', 'change_external_chat', 'change', 'update', 'update_detail', 'add_member',
         'at', 1792465200, 'chat_id', 'g2', 'members', jsonb_build_array(jsonb_build_object('id', 'wm-b3', 'type', 'external', 'unionid', 'un-b3'))))
       -> 'members' AS g2_joins;
SELECT m.member_key, c.code AS customer FROM commerce.group_member m JOIN commerce.customer c USING (tenant_id, person_id) ORDER BY 1;

-- PR14: the check-in week as a community task (target 3 check-ins in K1's groups); told to K1 once
SELECT commerce.set_community_task(:t, 'EV', 'event', 'checkins', 3) AS scoped;
SELECT commerce.set_community_task(:t, 'EV', 'event', 'checkins', 3) ->> 'kocs' AS kocs_again, (SELECT count(*) FROM commerce.outbox WHERE topic = 'koc.task') AS told;
SELECT payload ->> 'koc' AS koc, payload ->> 'metric' AS metric, payload ->> 'target' AS target FROM commerce.outbox WHERE topic = 'koc.task';
SELECT commerce.start_group_checkin(:t, 'wecom-g1', 'Week', 7, 5, 3, 10, NULL, 'koc:K1', 'K1') > 0 AS round;
SELECT outcome FROM commerce.group_check_in(:t, 'wecom-g1', 'b1', NULL, 'mini_program');
SELECT outcome FROM commerce.group_check_in(:t, 'wecom-g1', 'b2', NULL, 'mini_program');
SELECT commerce.community_task_progress(:t, 'EV', 'K1') - 'from' - 'to' AS after_two;
SET commerce.now = '2026-10-21 09:00:00+08';
SELECT outcome FROM commerce.group_check_in(:t, 'wecom-g1', 'b1', NULL, 'mini_program');
SELECT commerce.community_tasks_settle(:t) AS settled, commerce.community_tasks_settle(:t) AS settled_again;
SELECT commerce.community_task_progress(:t, 'EV', 'K1') ->> 'done' AS done,
       (SELECT count(*) FROM commerce.community_task_done) AS completions;
-- growth: new members (first joins in the window; a quit and rejoin never counts again); the window's last day is the one
-- before ends_at
SELECT commerce.upsert_koc_task(:t, 'GROW', 'Bring members', '2026-10-20 00:00+08', '2026-10-22 00:00+08', 100) > 0 AS growth_task;
SELECT commerce.set_community_task(:t, 'GROW', 'growth', 'joins', 3, '{wecom-g1}') ->> 'kocs' AS kocs;
SELECT commerce.community_task_progress(:t, 'GROW', 'K1') - 'koc' - 'task' - 'kind' - 'metric' AS growth;
SELECT commerce.community_ingest(:t, jsonb_build_object('type', 'change_external_chat', 'change', 'update', 'update_detail', 'del_member',
         'at', extract(epoch FROM commerce.now())::bigint - 60 + 0, 'chat_id', 'g1', 'members', jsonb_build_array('wm-b2'))) -> 'members' AS b2_quits;
SELECT commerce.community_ingest(:t, jsonb_build_object('type', 'change_external_chat', 'change', 'update', 'update_detail', 'add_member',
         'at', extract(epoch FROM commerce.now())::bigint - 60 + 10, 'chat_id', 'g1', 'members', jsonb_build_array(jsonb_build_object('id', 'wm-b2', 'type', 'external', 'unionid', 'un-b2'))))
       -> 'members' AS b2_back;
SELECT commerce.community_task_progress(:t, 'GROW', 'K1') ->> 'progress' AS still_three;
-- a task for gold KOCs only: K1's progress is shown, never recorded
SELECT commerce.upsert_koc_task(:t, 'GOLD', 'Gold event', '2026-10-20 00:00+08', '2026-10-27 00:00+08', 100, p_target_levels => '{gold}') > 0 AS gold_task;
SELECT commerce.set_community_task(:t, 'GOLD', 'event', 'checkins', 1) ->> 'kocs' AS kocs_for_gold;
SELECT r ->> 'progress' AS progress, r ->> 'for_koc' AS for_koc, r ->> 'done' AS done FROM commerce.community_task_progress(:t, 'GOLD', 'K1') r;

-- sales: b1 and b3 through K1's link (only b1 is in K1's group), b2 twice without a KOC
SELECT pg_temp.sale(:t, 'o-b1', 'K1', 'b1') AS ob1 \gset
SELECT pg_temp.sale(:t, 'o-b3', 'K1', 'b3') AS ob3 \gset
SELECT pg_temp.sale(:t, 'o-b2', NULL, 'b2') AS ob2 \gset
SELECT pg_temp.sale(:t, 'o-b2-again', NULL, 'b2') > 0 AS b2_repeats;
SELECT status FROM commerce.complete_order(:t, :ob1);
SELECT status FROM commerce.complete_order(:t, :ob3);
SELECT k.code, l.kind, l.amount_fen, c.code AS buyer FROM commerce.commission_line l JOIN commerce.koc k USING (tenant_id, koc_id)
  JOIN commerce.customer c ON c.tenant_id = l.tenant_id AND c.customer_id = l.customer_id ORDER BY l.seq;

-- b5 pays through K1's link, joins g1 only afterwards, then the order completes: not the group's doing
SELECT commerce.upsert_customer(:t, 'b5') > 0 AS b5;
SELECT (commerce.observe_identities(:t, 'b5', '[{"type":"wechat_unionid","value":"un-b5","verified":true}]', 'wechat_mp')).outcome AS b5_unionid;
SELECT pg_temp.sale(:t, 'o-b5', 'K1', 'b5') AS ob5 \gset
SET commerce.now = '2026-10-21 12:00:00+08';
SELECT commerce.community_ingest(:t, jsonb_build_object('type', 'change_external_chat', 'change', 'update', 'update_detail', 'add_member',
         'at', extract(epoch FROM commerce.now())::bigint - 60 + 0, 'chat_id', 'g1', 'members', jsonb_build_array(jsonb_build_object('id', 'wm-b5', 'type', 'external', 'unionid', 'un-b5'))))
       -> 'members' AS b5_joins_after;
SELECT status FROM commerce.complete_order(:t, :ob5);
-- PR15: K1's board: its group's traffic, its members' orders and GMV, and its commission on them (not b3's, not b5's)
SELECT commerce.koc_community_board(:t, 'K1', '2026-10-01', '2026-10-31') - 'groups' AS board;
SELECT jsonb_array_elements(commerce.koc_community_board(:t, 'K1', '2026-10-01', '2026-10-31') -> 'groups') AS per_group;
-- PR16: the dashboard of store S1's groups
SELECT commerce.private_domain_dashboard(:t, '2026-10-20', '2026-10-31') - 'from' - 'to' AS dashboard;
SELECT commerce.private_domain_dashboard(:t, '2026-10-20', '2026-10-31', '{S2}') ->> 'groups' AS other_store_groups;
-- b1 leaves: buyers and members count the same persons, so conversion stays a share
SELECT commerce.community_ingest(:t, jsonb_build_object('type', 'change_external_chat', 'change', 'update', 'update_detail', 'del_member',
         'at', extract(epoch FROM commerce.now())::bigint - 60 + 10, 'chat_id', 'g1', 'members', jsonb_build_array('wm-b1'))) -> 'members' AS b1_quits;
SELECT r ->> 'members' AS members, r ->> 'buyers' AS buyers, r ->> 'orders' AS orders, r ->> 'conversion_bp' AS conversion_bp
  FROM commerce.private_domain_dashboard(:t, '2026-10-20', '2026-10-31') r;
-- PR17: the funnel of the week's cohort: 4 joined, 3 bought after joining (b4's order was before), 1 repeated
SELECT * FROM commerce.community_funnel(:t, 'week', '2026-10-01', '2026-10-31');
SELECT * FROM commerce.community_funnel(:t, 'day', '2026-10-20', '2026-10-20', '{S2}');

-- bad input
SELECT commerce.set_community_task(:t, 'EV', 'party', 'checkins', 3);
SELECT commerce.set_community_task(:t, 'EV', 'event', 'checkins', 0);
SELECT commerce.set_community_task(:t, 'NOPE', 'event', 'checkins', 3);
SELECT commerce.set_community_task(:t, 'EV', 'event', 'checkins', 3, '{wecom-g2}');
SELECT commerce.community_task_progress(:t, 'T5', 'K1');
SELECT commerce.community_funnel(:t, 'year', '2026-10-01', '2026-10-31');
SELECT commerce.koc_community_board(:t, 'K9', '2026-10-01', '2026-10-31');

SET client_min_messages = warning;
DROP SCHEMA commerce CASCADE;
