-- core_actors.sql: every commerce_api function takes its actor from the
-- verified identity (issue 11, finding 3). Calls are made as a gateway makes
-- them: claims with role, sub and tenant_id, and SET ROLE to the actor role.
-- 1. The actor matrix, three ways against one expected table written here:
--    what each function declares (commerce.api_matrix), what grant_api
--    granted (has_function_privilege), and what a call as each kind does.
-- 2. Own and other: a customer, KOC or staff member acting for someone else,
--    on another's reservation, order, store or channel, is refused and
--    nothing changes; the attacks of finding 3 are replayed.
-- 3. The privilege matrix: actor roles hold no table and no internal function.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(885);
\ir lib/fingerprint.psql
\o /dev/null

SET LOCAL commerce.now = '2030-01-10 10:00:00+08';
SELECT commerce.grant_api();
SELECT commerce.create_tenant('act', 'Actors') AS t \gset
SELECT commerce.create_tenant('act2', 'Actors two') AS t2 \gset
SELECT commerce.upsert_store(:t, 'S1', 'Store one', 'Zhejiang', 'Hangzhou');
SELECT commerce.upsert_store(:t, 'S2', 'Store two', 'Zhejiang', 'Ningbo');
SELECT commerce.upsert_product(:t, 'P', 'Course', 'virtual', 'course');
SELECT commerce.upsert_sku(:t, 'P', 'C10', '10 lessons', 10000);
SELECT commerce.receive_stock(:t, 'r', 'C10', 100);
SELECT commerce.ensure_play_templates(:t);
SELECT commerce.upsert_customer(:t, c) FROM unnest(ARRAY['a', 'b', 'c', 'ka', 'kb']) c;
SELECT commerce.configure_play(:t, 'cfg-g', 'G', 'GROUP_BUY', 'S1', 'C10', 'Group', 8000, 4, '2030-01-01', '2030-02-01', '{"target_size":2}', p_asset_type => 'COURSE');
SELECT commerce.configure_play(:t, 'cfg-g2', 'G2', 'GROUP_BUY', 'S2', 'C10', 'Group two', 8000, 4, '2030-01-01', '2030-02-01', '{"target_size":2}', p_asset_type => 'COURSE');
SELECT commerce.configure_play(:t, 'cfg-f', 'F', 'FLASH_SALE', 'S1', 'C10', 'Flash', 5000, 2, '2030-01-01', '2030-02-01', '{}');
SELECT commerce.configure_play(:t, 'cfg-b', 'B', 'BARGAIN', 'S1', 'C10', 'Bargain', 9000, 2, '2030-01-01', '2030-02-01', '{"floor_fen":7000,"cut_fen":2000}');
SELECT commerce.configure_play(:t, 'cfg-i', 'I', 'INVITE_REWARD', 'S1', 'C10', 'Invite', 9000, 2, '2030-01-01', '2030-02-01', '{"reward_fen":500}');
SELECT commerce.upsert_staff(:t, 'st1', 'Store one staff', 'store', ARRAY['S1']);
SELECT commerce.upsert_staff(:t, 'op1', 'HQ operator', 'operator');
SELECT commerce.upsert_staff(:t, 'op-tb', 'Taobao operator', 'operator', NULL, ARRAY['taobao']);
SELECT commerce.upsert_staff(:t, 'fin1', 'Finance', 'finance');
SELECT commerce.upsert_staff(:t, 'gone', 'Former staff', 'operator', p_active => false);
-- two KOCs with a balance each
SELECT commerce.publish_agreement(:t, 'v1', 'terms') AS v \gset
SELECT commerce.review_koc_application(:t, a.application_id, true, 'op', NULL, k.code)
  FROM (VALUES ('ka', 'KA'), ('kb', 'KB')) k(customer, code),
       LATERAL commerce.apply_koc(:t, 'apply-' || k.code, k.customer, '[{"platform":"wechat","handle":"h","followers":10}]') a;
SELECT commerce.sign_agreement(:t, k, :v, encode(sha256(convert_to('terms', 'UTF8')), 'hex'), k, '10.0.0.1')
  FROM unnest(ARRAY['KA', 'KB']) k;
SELECT koc_id AS kb_id FROM commerce.koc WHERE tenant_id = :t AND code = 'KB' \gset
-- an order of customer b on the mini-program, one of b on Taobao's channel
SELECT order_id AS o_b FROM commerce.place_order(:t, 'ob', 'wechat_mp', '{"lines":[{"sku":"C10","qty":1}],"receiver":{"name":"B","phone":"13900001111","region":"Zhejiang","city":"Hangzhou","address":"Road 1"}}', 'b') \gset
-- a reservation of customer b
SELECT reservation_id AS r_b FROM commerce.reserve(:t, 'rb', 'b', '{"lines":[{"sku":"C10","qty":1}]}') \gset

\ir lib/call_as.psql
SELECT set_config('act.t', :'t', true);
-- the subject of each kind in the matrix
CREATE TEMP TABLE actor(kind text PRIMARY KEY, sub text);
INSERT INTO actor VALUES ('anonymous', NULL), ('customer', 'a'), ('koc', 'KA'), ('store', 'st1'),
                         ('operator', 'op1'), ('finance', 'fin1'), ('service', 'payments');
-- the expected matrix: the oracle, written here independently of the functions
CREATE TEMP TABLE expected(fn text PRIMARY KEY, kinds text[], call text);
INSERT INTO expected VALUES
  ('price', '{anonymous,customer,koc,store,operator,finance,service}', $$SELECT commerce_api.price('C10', 'wechat_mp')$$),
  ('stock', '{anonymous,customer,koc,store,operator,finance,service}', $$SELECT * FROM commerce_api.stock('C10')$$),
  ('reserve', '{customer,service}', $$SELECT commerce_api.reserve('{"lines":[{"sku":"C10","qty":0}]}', 'm-res', NULL)$$),
  ('confirm_reservation', '{service}', $$SELECT commerce_api.confirm_reservation(0, 'm')$$),
  ('release_reservation', '{customer,service}', $$SELECT commerce_api.release_reservation(0, 'm')$$),
  ('extend_reservation', '{customer,service}', $$SELECT commerce_api.extend_reservation(0, 'm', '1 minute')$$),
  ('record_click', '{anonymous,customer,service}', $$SELECT commerce_api.record_click('bad', NULL)$$),
  ('request_withdrawal', '{koc,service}', $$SELECT commerce_api.request_withdrawal('m', NULL, 0, 'wechat', '{}')$$),
  ('record_payout', '{service}', $$SELECT commerce_api.record_payout('batch:0', 'paid')$$),
  ('koc_stats', '{koc,operator,finance,service}', $$SELECT commerce_api.koc_stats(0, '2030-01-01', '2030-01-31')$$),
  ('koc_rank', '{koc,store,operator,finance,service}', $$SELECT * FROM commerce_api.koc_rank('2030-01-01', '2030-01-31')$$),
  ('order_contact', '{customer,operator,service}', $$SELECT * FROM commerce_api.order_contact(0)$$),
  ('record_payment', '{service}', $$SELECT commerce_api.record_payment(0, 'p', 1)$$),
  ('ingest_platform_order', '{service}', $$SELECT commerce_api.ingest_platform_order('taobao', '{}')$$),
  ('visible_plays', '{anonymous,customer,koc,store,operator,service}', $$SELECT * FROM commerce_api.visible_plays()$$),
  ('record_play_view', '{anonymous,customer,service}', $$SELECT commerce_api.record_play_view('nope')$$),
  ('join_group', '{customer,service}', $$SELECT commerce_api.join_group('m', 'nope', 'a', 'p')$$),
  ('buy_play', '{customer,service}', $$SELECT commerce_api.buy_play('m', 'nope')$$),
  ('start_bargain', '{customer,service}', $$SELECT commerce_api.start_bargain('m', 'nope')$$),
  ('help_bargain', '{customer,service}', $$SELECT commerce_api.help_bargain('m', 0)$$),
  ('buy_bargain', '{customer,service}', $$SELECT commerce_api.buy_bargain('m', 0)$$),
  ('invite', '{customer,service}', $$SELECT commerce_api.invite('m', 'nope', NULL, 'c')$$),
  ('consume_asset', '{store,operator,service}', $$SELECT commerce_api.consume_asset('m', 0, 1, 'S1', NULL)$$),
  ('play_dashboard', '{store,operator,finance,service}', $$SELECT commerce_api.play_dashboard('nope')$$),
  ('apply_play_settlement', '{store,operator,service}', $$SELECT commerce_api.apply_play_settlement('m', 'nope')$$),
  ('export_orders', '{operator,finance,service}', $$SELECT * FROM commerce_api.export_orders('2030-01-31', '2030-01-01', 'short')$$),
  ('pre_request', '{anonymous,customer,koc,store,operator,finance,service}', $$SELECT commerce_api.pre_request()$$),
  ('sign_up', '{customer}', $$SELECT * FROM commerce_api.sign_up(repeat('x', 65))$$),
  ('me', '{customer}', $$SELECT * FROM commerce_api.me()$$),
  ('catalog', '{anonymous,customer,koc,store,operator,finance,service}', $$SELECT * FROM commerce_api.catalog('nope')$$),
  ('place_order', '{customer,service}', $$SELECT * FROM commerce_api.place_order('m', 'nope', '[]')$$),
  ('pay_intent', '{customer,service}', $$SELECT * FROM commerce_api.pay_intent(0)$$),
  ('cancel_order', '{customer,operator,service}', $$SELECT * FROM commerce_api.cancel_order(0)$$),
  ('orders', '{customer,operator,finance,service}', $$SELECT * FROM commerce_api.orders(page_size => 0)$$),
  ('order_history', '{customer,operator,finance,service}', $$SELECT * FROM commerce_api.order_history(0)$$),
  ('order_shipments', '{customer,operator,finance,service}', $$SELECT * FROM commerce_api.order_shipments(0)$$),
  ('request_after_sale', '{customer,service}', $$SELECT * FROM commerce_api.request_after_sale('m', 0, 'refund_only')$$),
  ('koc_account', '{koc,operator,finance,service}', $$SELECT * FROM commerce_api.koc_account('nope')$$),
  ('tracking_link', '{koc,service}', $$SELECT * FROM commerce_api.tracking_link(channel => 'nope', koc => 'nope')$$),
  ('koc_overview', '{operator,finance,service}', $$SELECT commerce_api.koc_overview('2030-01-31', '2030-01-01')$$),
  ('assets', '{customer,store,operator,service}', $$SELECT * FROM commerce_api.assets(page_size => 0)$$),
  ('asset_consumptions', '{customer,store,operator,service}', $$SELECT * FROM commerce_api.asset_consumptions(0)$$),
  ('group_buy', '{anonymous,customer,koc,store,operator,service}', $$SELECT * FROM commerce_api.group_buy(0)$$),
  ('decide_play_settlement', '{finance}', $$SELECT * FROM commerce_api.decide_play_settlement(0, true)$$),
  ('apply_koc', '{customer,service}', $$SELECT * FROM commerce_api.apply_koc('m', '[]')$$),
  ('koc_applications', '{customer,operator,service}', $$SELECT * FROM commerce_api.koc_applications(page_size => 0)$$),
  ('review_koc_application', '{operator}', $$SELECT * FROM commerce_api.review_koc_application(0, true)$$),
  ('koc_agreement', '{customer,koc,operator,service}', $$SELECT * FROM commerce_api.koc_agreement()$$),
  ('sign_agreement', '{koc}', $$SELECT * FROM commerce_api.sign_agreement(999, 'x', 'n')$$),
  ('koc_tasks', '{koc}', $$SELECT * FROM commerce_api.koc_tasks()$$),
  ('koc_task_progress', '{koc,operator,service}', $$SELECT * FROM commerce_api.koc_task_progress('nope')$$),
  ('withdrawals', '{koc,finance,service}', $$SELECT * FROM commerce_api.withdrawals(page_size => 0)$$),
  ('review_withdrawal', '{finance}', $$SELECT * FROM commerce_api.review_withdrawal(0, true)$$),
  ('risk_flags', '{operator,finance,service}', $$SELECT * FROM commerce_api.risk_flags(page_size => 0)$$),
  ('review_risk_flag', '{operator}', $$SELECT * FROM commerce_api.review_risk_flag(0, true, 'x')$$),
  ('store_orders', '{store,operator,service}', $$SELECT * FROM commerce_api.store_orders(page_size => 0)$$),
  ('store_plays', '{store,operator,finance,service}', $$SELECT * FROM commerce_api.store_plays()$$),
  ('ship_order', '{store,operator,service}', $$SELECT * FROM commerce_api.ship_order('m', 0)$$),
  ('after_sales', '{customer,store,operator,finance,service}', $$SELECT * FROM commerce_api.after_sales(page_size => 0)$$),
  ('decide_after_sale', '{store,operator,finance}', $$SELECT * FROM commerce_api.decide_after_sale(0, true)$$),
  ('record_refund', '{service}', $$SELECT * FROM commerce_api.record_refund(0)$$),
  ('play_settlements', '{store,operator,finance,service}', $$SELECT * FROM commerce_api.play_settlements(page_size => 0)$$),
  ('upsert_product', '{operator,service}', $$SELECT commerce_api.upsert_product('bad code!', 'x')$$),
  ('upsert_sku', '{operator,service}', $$SELECT commerce_api.upsert_sku('NOPE', 'X1', 'x', 1)$$),
  ('set_price', '{operator,service}', $$SELECT commerce_api.set_price('NOPE', 'channel', 1, 'wechat_mp')$$),
  ('stock_levels', '{store,operator,finance,service}', $$SELECT * FROM commerce_api.stock_levels()$$),
  ('receive_stock', '{operator,service}', $$SELECT * FROM commerce_api.receive_stock('m', 'NOPE', 1)$$),
  ('adjust_stock', '{operator,service}', $$SELECT * FROM commerce_api.adjust_stock('m', 'NOPE', 1, 'n')$$),
  ('configure_play', '{store,operator,service}', $$SELECT * FROM commerce_api.configure_play('m', 'X', 'NOPE', 'S1', 'C10', 't', 1, 1, '2030-01-01', '2030-02-01')$$),
  ('close_play', '{store,operator,service}', $$SELECT * FROM commerce_api.close_play('m', 'nope')$$),
  ('claim_messages', '{service}', $$SELECT * FROM commerce_api.claim_messages('nope', 'w', 0)$$),
  ('ack_message', '{service}', $$SELECT * FROM commerce_api.ack_message(0, 'w')$$),
  ('fail_message', '{service}', $$SELECT * FROM commerce_api.fail_message(0, 'w', 'e')$$),
  ('koc_list', '{operator,finance,service}', $$SELECT * FROM commerce_api.koc_list('2030-01-31', '2030-01-01')$$),
  ('koc_list_csv', '{operator,finance,service}', $$SELECT commerce_api.koc_list_csv('2030-01-31', '2030-01-01')$$),
  ('upsert_play_template', '{operator,service}', $$SELECT commerce_api.upsert_play_template('X', 'nope', 'n', 'u', '{}')$$),
  ('settle_batches', '{koc,finance,service}', $$SELECT * FROM commerce_api.settle_batches(page_size => 0)$$),
  ('points', '{customer,store,operator,service}', $$SELECT * FROM commerce_api.points('nobody')$$),
  ('points_history', '{customer,operator,service}', $$SELECT * FROM commerce_api.points_history(page_size => 0)$$),
  ('grant_points', '{operator,service}', $$SELECT * FROM commerce_api.grant_points('m', 'nobody', 0, 'r')$$),
  ('spend_points', '{service}', $$SELECT * FROM commerce_api.spend_points('m', 'nobody', 0, 'r')$$),
  ('check_in', '{customer,service}', $$SELECT * FROM commerce_api.check_in('nobody')$$),
  ('coupon_batches', '{anonymous,customer,operator,service}', $$SELECT * FROM commerce_api.coupon_batches(page_size => 0)$$),
  ('my_coupons', '{customer,store,operator,service}', $$SELECT * FROM commerce_api.my_coupons(page_size => 0)$$),
  ('claim_coupon', '{customer,service}', $$SELECT * FROM commerce_api.claim_coupon('m', 'NOPE')$$),
  ('issue_coupon', '{operator,service}', $$SELECT * FROM commerce_api.issue_coupon('m', 'NOPE', 'nobody', 'r')$$),
  ('create_coupon_template', '{operator,service}', $$SELECT commerce_api.create_coupon_template('bad code', '{}')$$),
  ('create_coupon_batch', '{operator,service}', $$SELECT * FROM commerce_api.create_coupon_batch('X', 'NOPE', 1)$$),
  ('membership_plans', '{anonymous,customer,store,operator,service}', $$SELECT count(*) FROM commerce_api.membership_plans()$$),
  ('my_membership', '{customer,store,operator,service}', $$SELECT * FROM commerce_api.my_membership('nobody')$$),
  ('buy_membership', '{customer,service}', $$SELECT * FROM commerce_api.buy_membership('m', 'NOPE', 'wechat_mp')$$),
  ('cancel_membership', '{customer,service}', $$SELECT * FROM commerce_api.cancel_membership('nobody')$$),
  ('upsert_membership_plan', '{operator,service}', $$SELECT commerce_api.upsert_membership_plan('bad code', 'n', 'NOPE', 1)$$),
  ('set_birthday', '{customer,operator,service}', $$SELECT commerce_api.set_birthday('2999-01-01', 'nobody')$$),
  ('mall_items', '{anonymous,customer,operator,service}', $$SELECT count(*) FROM commerce_api.mall_items()$$),
  ('redeem_points', '{customer,service}', $$SELECT * FROM commerce_api.redeem_points('m', 'NOPE')$$),
  ('reverse_redemption', '{operator,service}', $$SELECT * FROM commerce_api.reverse_redemption('nope', 'r')$$),
  ('upsert_mall_item', '{operator,service}', $$SELECT commerce_api.upsert_mall_item('bad code', 'n', 'goods', 1, 'X')$$),
  ('grant_reward', '{operator,service}', $$SELECT * FROM commerce_api.grant_reward('m', 'nobody', '{"points":1}', 'r')$$),
  ('blind_box_odds', '{anonymous,customer,operator,service}', $$SELECT * FROM commerce_api.blind_box_odds('NOPE')$$),
  ('mini_program_login', '{service}', $$SELECT * FROM commerce_api.mini_program_login('douyin_mp', 'o')$$),
  ('observe_identities', '{service}', $$SELECT * FROM commerce_api.observe_identities('[]', 'x')$$),
  ('my_person', '{customer,store,operator,service}', $$SELECT * FROM commerce_api.my_person('nobody')$$),
  ('merge_suggestions', '{operator,service}', $$SELECT * FROM commerce_api.merge_suggestions(page_size => 0)$$),
  ('merge_persons', '{operator,service}', $$SELECT * FROM commerce_api.merge_persons(0, 0, 'r')$$),
  ('unmerge_persons', '{operator,service}', $$SELECT * FROM commerce_api.unmerge_persons(0, 'r')$$),
  ('accept_subscription', '{customer,service}', $$SELECT commerce_api.accept_subscription('marketing')$$),
  ('set_profile', '{customer,operator,service}', $$SELECT commerce_api.set_profile('{"x":1}', 'nobody')$$),
  ('profile', '{customer,store,operator,service}', $$SELECT commerce_api.profile('nobody')$$),
  ('redeem_store_coupon', '{store,service}', $$SELECT * FROM commerce_api.redeem_store_coupon(0, 'NOPE', 'nobody')$$),
  ('customer_360', '{store,operator,service}', $$SELECT commerce_api.customer_360('nobody')$$),
  ('record_event', '{service}', $$SELECT commerce_api.record_event('r', 'nobody', 'browse')$$),
  ('customer_tags', '{store,operator,service}', $$SELECT * FROM commerce_api.customer_tags('nobody')$$),
  ('set_tag', '{store,operator,service}', $$SELECT commerce_api.set_tag('nobody', 'nope')$$),
  ('upsert_tag_category', '{operator}', $$SELECT commerce_api.upsert_tag_category('Bad Code', 'n', 'custom')$$),
  ('create_tag', '{operator}', $$SELECT commerce_api.create_tag('Bad Code', 'n', 'x')$$),
  ('segments', '{operator,service}', $$SELECT * FROM commerce_api.segments('nope')$$),
  ('define_segment', '{operator}', $$SELECT * FROM commerce_api.define_segment('s', 'S', '{"nope":1}')$$),
  ('rebuild_segment', '{operator}', $$SELECT * FROM commerce_api.rebuild_segment('nope')$$),
  ('override_segment', '{operator}', $$SELECT commerce_api.override_segment('nope', 'nobody', 'include')$$),
  ('export_segment', '{operator}', $$SELECT * FROM commerce_api.export_segment('nope')$$),
  ('set_growth_levels', '{operator}', $$SELECT commerce_api.set_growth_levels('"x"')$$),
  ('open_ticket', '{customer,store,operator,service}', $$SELECT * FROM commerce_api.open_ticket('r', 'praise', 's')$$),
  ('tickets', '{customer,store,operator,service}', $$SELECT * FROM commerce_api.tickets(page_size => 0)$$),
  ('ticket_history', '{customer,store,operator,service}', $$SELECT * FROM commerce_api.ticket_history(0)$$),
  ('move_ticket', '{customer,store,operator,service}', $$SELECT * FROM commerce_api.move_ticket(0, 'done')$$),
  ('assign_ticket', '{store,operator,service}', $$SELECT * FROM commerce_api.assign_ticket(0, 'staff', 'x')$$),
  ('comment_ticket', '{customer,store,operator,service}', $$SELECT commerce_api.comment_ticket(0, 'x')$$),
  ('set_ticket_sla', '{operator}', $$SELECT commerce_api.set_ticket_sla('nope', 'normal', 1, 1)$$),
  ('define_flow', '{operator}', $$SELECT commerce_api.define_flow('x', 'X', '{}')$$),
  ('set_flow_status', '{operator}', $$SELECT commerce_api.set_flow_status('nope', 'paused')$$),
  ('flow_stats', '{operator,service}', $$SELECT * FROM commerce_api.flow_stats('nope')$$),
  ('flow_history', '{operator,service}', $$SELECT * FROM commerce_api.flow_history('nobody')$$),
  ('set_contact_cap', '{operator}', $$SELECT commerce_api.set_contact_cap('fax', 1)$$),
  ('opt_out', '{customer,service}', $$SELECT commerce_api.opt_out('fax')$$),
  ('crm_health', '{store,operator}', $$SELECT * FROM commerce_api.crm_health('2030-01-02', '2030-01-01')$$),
  ('set_home_store', '{store,operator}', $$SELECT commerce_api.set_home_store('nobody', 'NOPE')$$),
  ('set_crm_policy', '{operator}', $$SELECT commerce_api.set_crm_policy(90, 60)$$),
  ('crm_models', '{operator}', $$SELECT * FROM commerce_api.crm_models()$$),
  ('train_churn_model', '{operator}', $$SELECT commerce_api.train_churn_model()$$),
  ('recall', '{operator}', $$SELECT commerce_api.recall('nope')$$),
  ('upsert_sync_system', '{operator}', $$SELECT commerce_api.upsert_sync_system('Bad Code', 'n', '{}')$$),
  ('sync_monitor', '{operator}', $$SELECT * FROM commerce_api.sync_monitor('nope')$$),
  ('sync_failures', '{operator}', $$SELECT * FROM commerce_api.sync_failures('nope')$$),
  ('sync_retry', '{operator}', $$SELECT commerce_api.sync_retry('nope', 'person', 0)$$),
  ('sync_result', '{service}', $$SELECT commerce_api.sync_result(0, 'w', true)$$),
  ('sync_inbound', '{service}', $$SELECT commerce_api.sync_inbound('nope', 'x', '{}')$$),
  ('community_event', '{service}', $$SELECT commerce_api.community_event('[]')$$),
  ('bind_wecom_department', '{operator}', $$SELECT commerce_api.bind_wecom_department(0, NULL)$$),
  ('link_wecom_user', '{operator}', $$SELECT commerce_api.link_wecom_user('nobody', NULL)$$),
  ('set_welcome_template', '{operator}', $$SELECT commerce_api.set_welcome_template('bad code', 'x')$$),
  ('register_group', '{koc,store,operator,service}', $$SELECT commerce_api.register_group('wecom', 'c', 'n', 'g')$$),
  ('update_group', '{store,operator}', $$SELECT commerce_api.update_group('nope')$$),
  ('create_join_way', '{koc,store,operator}', $$SELECT commerce_api.create_join_way('bad code', 'group', 't')$$),
  ('join_way_ready', '{service}', $$SELECT commerce_api.join_way_ready('nope', 'https://x', 'c')$$),
  ('set_join_way_active', '{koc,store,operator}', $$SELECT commerce_api.set_join_way_active('nope', false)$$),
  ('join_ways', '{koc,store,operator}', $$SELECT * FROM commerce_api.join_ways(NULL, 0)$$),
  ('community_groups', '{koc,store,operator}', $$SELECT * FROM commerce_api.community_groups(NULL, 'bad')$$),
  ('start_group_checkin', '{koc,store,operator}', $$SELECT commerce_api.start_group_checkin('nope', 't')$$),
  ('close_group_checkin', '{koc,store,operator}', $$SELECT commerce_api.close_group_checkin(0)$$),
  ('group_check_in', '{customer,service}', $$SELECT commerce_api.group_check_in('nope')$$),
  ('checkin_board', '{customer,koc,store,operator,service}', $$SELECT commerce_api.checkin_board(0)$$),
  ('create_fission_campaign', '{store,operator}', $$SELECT commerce_api.create_fission_campaign('bad code', 'x', 't', 'contact', now(), now(), '[]')$$),
  ('fission_progress', '{customer,service}', $$SELECT commerce_api.fission_progress('nope', 'a')$$),
  ('fission_accept', '{customer,service}', $$SELECT commerce_api.fission_accept('nope', 'a')$$),
  ('fission_stats', '{koc,store,operator}', $$SELECT commerce_api.fission_stats('nope')$$),
  ('set_community_policy', '{operator}', $$SELECT commerce_api.set_community_policy(0)$$),
  ('schedule_broadcast', '{store,operator}', $$SELECT commerce_api.schedule_broadcast('bad code', 't', '{}', '{}')$$),
  ('cancel_broadcast', '{store,operator}', $$SELECT commerce_api.cancel_broadcast('nope')$$),
  ('broadcast_report', '{service}', $$SELECT commerce_api.broadcast_report('nope', 'o', 't', true)$$),
  ('broadcast_stats', '{store,operator}', $$SELECT commerce_api.broadcast_stats('nope')$$),
  ('report_group_activity', '{service}', $$SELECT commerce_api.report_group_activity('2000-01-01', '[]')$$),
  ('group_activity', '{koc,store,operator}', $$SELECT * FROM commerce_api.group_activity('nope', '2030-01-01', '2030-01-02')$$),
  ('schedule_group_reminder', '{koc,store,operator}', $$SELECT commerce_api.schedule_group_reminder('nope', 'custom', 'x', now())$$),
  ('cancel_group_reminder', '{koc,store,operator}', $$SELECT commerce_api.cancel_group_reminder(0)$$),
  ('upsert_reply_rule', '{store,operator}', $$SELECT commerce_api.upsert_reply_rule('bad code', 'exact', 'x', '{}')$$),
  ('auto_reply', '{service}', $$SELECT commerce_api.auto_reply('wecom', 'nope', 'm', 'a', 'x')$$),
  ('ai_answer', '{service}', $$SELECT commerce_api.ai_answer(0, NULL)$$),
  ('reply_stats', '{store,operator}', $$SELECT commerce_api.reply_stats(now(), now())$$),
  ('service_message', '{service}', $$SELECT commerce_api.service_message('[]')$$),
  ('service_feedback', '{service}', $$SELECT commerce_api.service_feedback(0, true)$$),
  ('service_inbox', '{store,operator}', $$SELECT * FROM commerce_api.service_inbox('{nope}')$$),
  ('service_conversation', '{store,operator}', $$SELECT commerce_api.service_conversation(0)$$),
  ('service_suggest', '{store,operator}', $$SELECT commerce_api.service_suggest(0)$$),
  ('service_accept', '{store,operator}', $$SELECT commerce_api.service_accept(0)$$),
  ('service_release', '{store,operator}', $$SELECT commerce_api.service_release(0)$$),
  ('service_reply', '{store,operator}', $$SELECT commerce_api.service_reply(0, 'x')$$),
  ('service_end', '{store,operator}', $$SELECT commerce_api.service_end(0)$$),
  ('service_stats', '{store,operator}', $$SELECT commerce_api.service_stats(now(), now())$$),
  ('upsert_kb_article', '{operator}', $$SELECT commerce_api.upsert_kb_article('bad code', 'answer', 't', '{q}', 'a')$$),
  ('kb_search', '{store,operator}', $$SELECT commerce_api.kb_search('x', page_size => 0)$$),
  ('set_service_policy', '{operator}', $$SELECT commerce_api.set_service_policy('fax', NULL, NULL)$$),
  ('upsert_quick_reply', '{store,operator}', $$SELECT commerce_api.upsert_quick_reply('bad code', 'script', 't', 'b', store => 'S1')$$),
  ('quick_replies', '{store,operator}', $$SELECT * FROM commerce_api.quick_replies('nope')$$),
  ('use_quick_reply', '{store,operator}', $$SELECT commerce_api.use_quick_reply('nope', 'r')$$),
  ('service_quick_reply', '{store,operator}', $$SELECT commerce_api.service_quick_reply(0, 'nope', 'r')$$),
  ('set_community_task', '{operator}', $$SELECT commerce_api.set_community_task('nope', 'party', 'x', 0)$$),
  ('community_task_progress', '{koc,operator}', $$SELECT commerce_api.community_task_progress('nope', 'KB')$$),
  ('koc_community_board', '{koc,operator}', $$SELECT commerce_api.koc_community_board('2030-01-02', '2030-01-01', 'KB')$$),
  ('private_domain_dashboard', '{store,operator}', $$SELECT commerce_api.private_domain_dashboard('2030-01-02', '2030-01-01')$$),
  ('community_funnel', '{store,operator}', $$SELECT commerce_api.community_funnel('year', '2030-01-01', '2030-01-02')$$),
  ('set_sharing_gateway', '{finance}', $$SELECT commerce_api.set_sharing_gateway(max_share_bp => 20000)$$),
  ('upsert_sharing_receiver', '{operator}', $$SELECT commerce_api.upsert_sharing_receiver('bad code', 'merchant', 'x', 'n')$$),
  ('set_sharing_rule', '{operator}', $$SELECT commerce_api.set_sharing_rule('galaxy', 'X', '[]', 7)$$),
  ('retire_sharing_rule', '{operator}', $$SELECT commerce_api.retire_sharing_rule('sku', 'NOPE')$$),
  ('sharing_rules', '{operator,finance}', $$SELECT commerce_api.sharing_rules()$$),
  ('profit_splits', '{finance}', $$SELECT commerce_api.profit_splits(page_size => 0)$$),
  ('split_summary', '{finance}', $$SELECT commerce_api.split_summary()$$),
  ('review_split', '{finance}', $$SELECT commerce_api.review_split(0)$$),
  ('decide_split', '{finance}', $$SELECT commerce_api.decide_split(0, true)$$),
  ('submit_split', '{finance}', $$SELECT commerce_api.submit_split(0)$$),
  ('record_split_result', '{service}', $$SELECT commerce_api.record_split_result('nope', 'finished')$$),
  ('record_split_return', '{service}', $$SELECT commerce_api.record_split_return('nope', 'returned')$$),
  ('reconcile_split_bill', '{finance,service}', $$SELECT commerce_api.reconcile_split_bill('2030-01-01', '{}')$$),
  ('payroll_export', '{finance}', $$SELECT commerce_api.payroll_export('2030-01-15')$$),
  ('record_share', '{customer,koc}', $$SELECT commerce_api.record_share('rumour', 'P', 'wechat', 'r')$$),
  ('record_share_click', '{anonymous,customer,service}', $$SELECT commerce_api.record_share_click('not a code', 'v')$$),
  ('koc_candidates', '{operator}', $$SELECT commerce_api.koc_candidates(page_size => 0)$$),
  ('koc_potential_models', '{operator}', $$SELECT commerce_api.koc_potential_models(0)$$),
  ('set_potential_policy', '{operator}', $$SELECT commerce_api.set_potential_policy(horizon_days => 1)$$),
  ('publish_koc_candidates', '{operator}', $$SELECT commerce_api.publish_koc_candidates()$$),
  ('recruit_candidates', '{operator}', $$SELECT commerce_api.recruit_candidates('bad code', 'f', 'b', 'https://x')$$),
  ('recruit_report', '{operator}', $$SELECT commerce_api.recruit_report('nope')$$),
  ('record_notice_receipt', '{service}', $$SELECT commerce_api.record_notice_receipt(0, 'read')$$),
  ('open_recruit_notice', '{anonymous,customer}', $$SELECT commerce_api.open_recruit_notice('not a code')$$),
  ('upsert_material', '{operator}', $$SELECT commerce_api.upsert_material('bad code', 'image', 't')$$),
  ('add_material_version', '{operator}', $$SELECT commerce_api.add_material_version('NOPE', '{}')$$),
  ('retire_material', '{operator}', $$SELECT commerce_api.retire_material('NOPE')$$),
  ('materials', '{operator}', $$SELECT commerce_api.materials()$$),
  ('request_material_generation', '{operator}', $$SELECT commerce_api.request_material_generation('', 'M', 'image', 't', '{}')$$),
  ('record_generation_result', '{service}', $$SELECT commerce_api.record_generation_result(0, 'done')$$),
  ('generation_report', '{operator}', $$SELECT commerce_api.generation_report('infinity', 'infinity')$$),
  ('koc_materials', '{koc}', $$SELECT commerce_api.koc_materials('someone-else')$$),
  ('share_material', '{koc}', $$SELECT commerce_api.share_material('NOPE', 'myspace', '')$$),
  ('material_share_report', '{operator}', $$SELECT commerce_api.material_share_report('infinity', 'infinity')$$),
  ('product_export_csv', '{operator}', $$SELECT commerce_api.product_export_csv('jd')$$),
  ('request_qr_code', '{operator}', $$SELECT commerce_api.request_qr_code('', 'p', 's')$$),
  ('record_qr_code', '{service}', $$SELECT commerce_api.record_qr_code(0, 'done')$$),
  ('save_site_page', '{operator}', $$SELECT commerce_api.save_site_page('Bad Slug', 't', '{}')$$),
  ('publish_site_page', '{operator}', $$SELECT commerce_api.publish_site_page('nope')$$),
  ('unpublish_site_page', '{operator}', $$SELECT commerce_api.unpublish_site_page('nope')$$),
  ('site_pages', '{operator}', $$SELECT commerce_api.site_pages()$$),
  ('site_page', '{anonymous,customer}', $$SELECT commerce_api.site_page('nope')$$),
  ('upsert_site_template', '{operator}', $$SELECT commerce_api.upsert_site_template('Bad Code', 't', '{}')$$),
  ('apply_site_template', '{operator}', $$SELECT commerce_api.apply_site_template('nope', 'p', 'P')$$),
  ('upsert_live_room', '{operator}', $$SELECT commerce_api.upsert_live_room('bad code', 't', 'c', 'infinity', 'infinity')$$),
  ('set_live_room_items', '{operator}', $$SELECT commerce_api.set_live_room_items('nope', ARRAY['x'])$$),
  ('live_room_products', '{anonymous,customer}', $$SELECT commerce_api.live_room_products('nope')$$),
  ('subscribe_live_room', '{customer}', $$SELECT commerce_api.subscribe_live_room('nope')$$),
  ('start_live_room', '{operator}', $$SELECT commerce_api.start_live_room('nope')$$),
  ('end_live_room', '{operator}', $$SELECT commerce_api.end_live_room('nope')$$),
  ('send_subscription_message', '{operator,service}', $$SELECT commerce_api.send_subscription_message('nope', 'birthday', '{}', 'k')$$),
  ('record_events', '{anonymous,customer,service}', $$SELECT commerce_api.record_events('', '[]')$$),
  ('set_channel_spend', '{operator,finance}', $$SELECT commerce_api.set_channel_spend('nope', '2030-06-02', -1)$$),
  ('sales_metrics', '{operator,finance}', $$SELECT commerce_api.sales_metrics('2030-06-02', '2030-06-01')$$),
  ('record_platform_listing', '{service}', $$SELECT commerce_api.record_platform_listing(0, '{}')$$),
  ('platform_checks', '{operator}', $$SELECT commerce_api.platform_checks('2030-06-02', '2030-06-01')$$),
  ('set_waybill_template', '{operator}', $$SELECT commerce_api.set_waybill_template('nope', 'sf', 'http://x')$$),
  ('remove_waybill_template', '{operator}', $$SELECT commerce_api.remove_waybill_template('nope', 'sf')$$),
  ('waybill_templates', '{operator}', $$SELECT commerce_api.waybill_templates()$$),
  ('set_freight_template', '{operator}', $$SELECT commerce_api.set_freight_template('bad code', 'n', 'weight', '[]')$$),
  ('set_product_freight', '{operator}', $$SELECT commerce_api.set_product_freight('nope', NULL)$$),
  ('freight_templates', '{operator}', $$SELECT commerce_api.freight_templates()$$),
  ('freight_quote', '{anonymous,customer}', $$SELECT commerce_api.freight_quote('nope', '[]')$$),
  ('set_carrier_rates', '{operator}', $$SELECT commerce_api.set_carrier_rates('BAD', '[]')$$),
  ('set_carrier_choice', '{operator}', $$SELECT commerce_api.set_carrier_choice(1, 1, 1)$$),
  ('carrier_options', '{store,operator}', $$SELECT commerce_api.carrier_options('x', -1)$$),
  ('record_delivery', '{service}', $$SELECT commerce_api.record_delivery(0, 'x', now())$$),
  ('koc_benefits', '{koc,operator}', $$SELECT commerce_api.koc_benefits('nope')$$),
  ('set_level_perks', '{operator}', $$SELECT commerce_api.set_level_perks('nope', '[]')$$),
  ('retry_airdrop', '{operator}', $$SELECT commerce_api.retry_airdrop('nope', 'nope')$$),
  ('record_airdrop', '{service}', $$SELECT commerce_api.record_airdrop('nope', 'nope', 'x', 'x')$$);
SELECT pg_temp.fingerprint() AS fp0 \gset
\o

-- 1. the actor matrix ---------------------------------------------------------------------------
SELECT is((SELECT count(*) FROM commerce.api_matrix()), (SELECT count(*) FROM expected),
          'every commerce_api function is in the expected matrix (and no other)');
SELECT is((SELECT m.kinds FROM commerce.api_matrix() m WHERE m.function::text LIKE 'commerce_api.' || e.fn || '(%'),
          e.kinds, e.fn || ': declares the expected kinds')
  FROM expected e ORDER BY e.fn;
SELECT is(ARRAY(SELECT a.kind FROM actor a
                 WHERE has_function_privilege('commerce_' || a.kind,
                        (SELECT m.function FROM commerce.api_matrix() m WHERE m.function::text LIKE 'commerce_api.' || e.fn || '(%'),
                        'EXECUTE')
                 ORDER BY array_position(commerce.actor_kinds(), a.kind)),
          e.kinds, e.fn || ': granted to exactly those actor roles')
  FROM expected e ORDER BY e.fn;
-- as each kind: refused by the matrix (42501 "is not open to") exactly when not expected
CREATE TEMP TABLE outcome AS
SELECT e.fn, a.kind, pg_temp.call_as(a.kind, a.sub, e.call) AS result FROM expected e, actor a;
SELECT is(ARRAY(SELECT o.kind FROM outcome o
                 WHERE o.fn = e.fn AND o.result NOT LIKE '42501: % is not open to %'
                   AND o.result NOT LIKE '42501: permission denied%'
                 ORDER BY array_position(commerce.actor_kinds(), o.kind)),
          e.kinds, e.fn || ': a call passes the actor check for exactly those kinds')
  FROM expected e ORDER BY e.fn;
SELECT is(pg_temp.fingerprint(), :'fp0', 'the matrix calls changed nothing (each failed after the actor check)');

-- 2. own and other ------------------------------------------------------------------------------
-- finding 3: one fan's token (the grants refuse first; the functions' own checks refuse the same
-- calls where a gateway does not switch roles, test/security/core_direct_roles.sh)
SELECT is(pg_temp.call_as('customer', 'a', $$SELECT commerce_api.record_payout('batch:1', 'failed', NULL, 'x')$$),
          '42501: permission denied for function record_payout', 'a fan cannot mark a payout failed');
SELECT is(pg_temp.call_as('customer', 'a', format($$SELECT commerce_api.request_withdrawal('w', 'KB', 100, 'wechat', '{"openid":"mine"}')$$)),
          '42501: permission denied for function request_withdrawal', 'a fan cannot withdraw a KOC''s balance');
SELECT is(pg_temp.call_as('customer', 'a', $$SELECT commerce_api.join_group('j', 'G', 'a', 'made-up-payment')$$),
          '42501: a customer never names a payment', 'a fan cannot mark a group order paid with a made-up payment');
SELECT is(pg_temp.call_as('customer', 'a', $$SELECT commerce_api.consume_asset('c', 1, 1, 'S1', 'st1')$$),
          '42501: permission denied for function consume_asset', 'a fan cannot consume an asset (another''s lesson)');
SELECT is(pg_temp.call_as('anonymous', NULL, $$SELECT commerce_api.reserve('{"lines":[{"sku":"C10","qty":100}]}', 'anon', 'x', '24 hours')$$),
          '42501: permission denied for function reserve', 'an anonymous call cannot hold stock');
-- a customer holds stock for itself, briefly, a little at a time
SELECT is(pg_temp.call_as('customer', 'a', $$SELECT commerce_api.reserve('{"lines":[{"sku":"C10","qty":1}]}', 'ra', 'b')$$),
          '42501: a customer acts only as itself', 'a customer cannot hold stock as another holder');
SELECT is(pg_temp.call_as('customer', 'a', $$SELECT commerce_api.reserve('{"lines":[{"sku":"C10","qty":100}]}', 'ra', NULL, '24 hours')$$),
          '22023: invalid value for ttl', 'a customer holds stock for at most 30 minutes');
SELECT is(pg_temp.call_as('customer', 'a', $$SELECT commerce_api.reserve('{"lines":[{"sku":"C10","qty":21}]}', 'ra', NULL)$$),
          '22023: invalid value for cart', 'a customer holds at most 20 units of a SKU');
SELECT is(pg_temp.fingerprint(), :'fp0', 'the refused calls changed nothing');
SELECT is(pg_temp.call_as('customer', 'a', format($$SELECT commerce_api.reserve('{"lines":[{"sku":"C10","qty":1}]}', 'ra-%s', NULL)$$, n)),
          'ok', format('a customer''s hold %s of 5', n))
  FROM generate_series(1, 5) n;
SELECT is(pg_temp.call_as('customer', 'a', $$SELECT commerce_api.reserve('{"lines":[{"sku":"C10","qty":1}]}', 'ra-6', NULL)$$),
          'PT429: customer "a" already holds 5 reservations', 'a customer''s sixth hold at once is refused');
-- through PostgREST (request.method set) the same refusal is PostgREST's own error form: HTTP 429 with Retry-After
CREATE FUNCTION pg_temp.pgrst_error(p_sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE v_state text; v_msg text; v_detail text;
BEGIN
    PERFORM set_config('request.method', 'POST', true);
    PERFORM set_config('request.jwt.claims', json_build_object('role', 'commerce_customer', 'sub', 'a',
                                                               'tenant_id', current_setting('act.t'))::text, true);
    SET LOCAL ROLE commerce_customer;
    BEGIN
        EXECUTE p_sql;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT, v_detail = PG_EXCEPTION_DETAIL;
    END;
    RESET ROLE;
    PERFORM set_config('request.method', '', true);
    PERFORM set_config('request.jwt.claims', '', true);
    RETURN v_state || ' ' || (v_msg::jsonb ->> 'code') || ' ' || (v_detail::jsonb ->> 'status')
        || ' retry-after ' || CASE WHEN (v_detail::jsonb #>> '{headers,Retry-After}')::int BETWEEN 1 AND 900 THEN 'ok' ELSE 'bad' END;
END $$;
SELECT is(pg_temp.pgrst_error($$SELECT commerce_api.reserve('{"lines":[{"sku":"C10","qty":1}]}', 'ra-6', NULL)$$),
          'PGRST PT429 429 retry-after ok', 'through PostgREST the sixth hold is HTTP 429 with Retry-After (until the first hold ends)');
SELECT is((SELECT string_agg(DISTINCT holder, ',') FROM commerce.reservation WHERE tenant_id = :t AND request_id LIKE 'ra-%'),
          'a', 'the holds are the customer''s own');
SELECT is(pg_temp.call_as('customer', 'a', format($$SELECT commerce_api.release_reservation(%s, 'rel')$$, :r_b)),
          format('PT404: reservation %s not found', :r_b), 'a customer cannot release another''s reservation (it does not exist for it)');
SELECT is(pg_temp.call_as('customer', 'a', format($$SELECT commerce_api.extend_reservation(%s, 'ext', '5 minutes')$$, :r_b)),
          format('PT404: reservation %s not found', :r_b), 'a customer cannot extend another''s reservation');
SELECT is(pg_temp.call_as('customer', 'a', format($$SELECT commerce_api.extend_reservation(r.reservation_id, 'ext', '1 hour') FROM commerce.reservation r WHERE r.tenant_id = %s AND r.request_id = 'ra-1'$$, :t)),
          '42501: permission denied for table reservation', 'a customer role reads no table directly');
SELECT is(pg_temp.call_as('customer', 'a', format($$SELECT commerce_api.extend_reservation(%s, 'ext', '1 hour')$$,
                                                  (SELECT reservation_id FROM commerce.reservation WHERE tenant_id = :t AND request_id = 'ra-1'))),
          '22023: invalid value for by', 'a customer extends its hold to at most 30 minutes from now');
SELECT is(pg_temp.call_as('customer', 'a', format($$SELECT commerce_api.release_reservation(%s, 'rel-1')$$,
                                                  (SELECT reservation_id FROM commerce.reservation WHERE tenant_id = :t AND request_id = 'ra-1'))),
          'ok', 'a customer releases its own hold');
SELECT is(pg_temp.call_as('customer', 'a', 'SELECT commerce_api.confirm_reservation(1, ''c'')'),
          '42501: permission denied for function confirm_reservation', 'a customer cannot confirm (sell) a hold: that is the payment''s');
-- orders: a customer's own, an operator's channels
SELECT is(pg_temp.call_as('customer', 'a', format('SELECT * FROM commerce_api.order_contact(%s)', :o_b)),
          format('PT404: order "%s" not found', :o_b), 'a customer cannot read another customer''s order contact');
SELECT is(pg_temp.call_as('customer', 'b', format('SELECT * FROM commerce_api.order_contact(%s)', :o_b)),
          'ok', 'the customer reads its own order contact');
SELECT is(pg_temp.call_as('operator', 'op-tb', format('SELECT * FROM commerce_api.order_contact(%s)', :o_b)),
          '42501: channel wechat_mp is outside the scope of op-tb', 'an operator of Taobao cannot read a mini-program order');
SELECT is(pg_temp.call_as('operator', 'op1', format('SELECT * FROM commerce_api.order_contact(%s)', :o_b)),
          'ok', 'an operator of every channel reads it');
SELECT is(pg_temp.call_as('operator', 'gone', format('SELECT * FROM commerce_api.order_contact(%s)', :o_b)),
          '42501: "gone" is not active operator staff of tenant ' || :t, 'inactive staff cannot act');
SELECT is(pg_temp.call_as('operator', 'st1', format('SELECT * FROM commerce_api.order_contact(%s)', :o_b)),
          '42501: "st1" is not active operator staff of tenant ' || :t, 'store staff cannot act as an operator');
SELECT is(pg_temp.call_as('customer', NULL, 'SELECT commerce_api.price(''C10'', ''wechat_mp'')'),
          '42501: the token has no usable subject', 'a customer token without a subject is refused');
SELECT is(pg_temp.call_as('operator', 'gone', 'SELECT commerce_api.pre_request()'),
          '42501: "gone" is not active operator staff of tenant ' || :t, 'the pre-request hook refuses an inactive staff member''s token');
SELECT is(pg_temp.call_as('customer', 'a', 'SELECT commerce_api.pre_request()'), 'ok', 'and passes a customer''s');
-- payments are the service's, and a customer's purchase waits for it
SELECT is(pg_temp.call_as('customer', 'a', $$SELECT commerce_api.buy_play('bp-a', 'F')$$), 'ok', 'a customer buys a flash sale for itself');
SELECT is((SELECT cu.code || ' ' || o.status FROM commerce.orders o JOIN commerce.customer cu USING (tenant_id, customer_id)
            WHERE o.tenant_id = :t AND o.request_id = 'play:bp-a'), 'a pending_payment', 'the order is the customer''s own, awaiting payment');
SELECT is(pg_temp.call_as('customer', 'a', format($$SELECT commerce_api.record_payment(%s, 'fake', 5000)$$,
                                                  (SELECT order_id FROM commerce.orders WHERE tenant_id = :t AND request_id = 'play:bp-a'))),
          '42501: permission denied for function record_payment', 'a customer cannot pay its order with a made-up payment');
SELECT is(pg_temp.call_as('service', 'payments', format($$SELECT commerce_api.record_payment(%s, 'wx-1', 5000)$$,
                                                  (SELECT order_id FROM commerce.orders WHERE tenant_id = :t AND request_id = 'play:bp-a'))),
          'ok', 'the payment service''s callback pays it');
SELECT is((SELECT status::text FROM commerce.orders WHERE tenant_id = :t AND request_id = 'play:bp-a'), 'paid', 'the order is paid');
SELECT is(pg_temp.call_as('customer', 'a', $$SELECT commerce_api.buy_play('bp-b', 'F', 'b')$$),
          '42501: a customer acts only as itself', 'a customer cannot buy for another customer');
SELECT is(pg_temp.call_as('customer', 'a', $$SELECT commerce_api.start_bargain('sb-b', 'B', 'b')$$),
          '42501: a customer acts only as itself', 'a customer cannot start a bargain for another');
SELECT is(pg_temp.call_as('customer', 'a', $$SELECT commerce_api.invite('iv', 'I', 'b', 'c')$$),
          '42501: a customer acts only as itself', 'a customer cannot invite in another''s name');
SELECT is(pg_temp.call_as('customer', 'a', $$SELECT commerce_api.record_play_view('G', 'b')$$),
          '42501: a customer acts only as itself', 'a customer cannot record views as another');
SELECT is(pg_temp.call_as('anonymous', NULL, $$SELECT commerce_api.record_play_view('G', 'b')$$),
          '42501: a anonymous acts only as itself', 'an anonymous caller cannot record views as a customer');
-- the client address and device of an end user come from the gateway's request headers, not the body
SELECT set_config('request.headers', '{"x-forwarded-for":"203.0.113.9, 10.0.0.1","x-device-id":"dev-from-header"}', true) IS NOT NULL AS h \gset
SELECT is(pg_temp.call_as('customer', 'a', $$SELECT commerce_api.record_play_view('G', NULL, '1.2.3.4', 'dev-from-body')$$), 'ok',
          'a customer records a view with an address in the body');
SELECT is((SELECT ip || ' ' || device FROM commerce.play_event WHERE tenant_id = :t ORDER BY event_id DESC LIMIT 1),
          '203.0.113.9 dev-from-header', 'the address and device recorded are the headers'' (first X-Forwarded-For hop)');
SELECT is(pg_temp.call_as('service', 'payments', $$SELECT commerce_api.record_play_view('G', 'b', '198.51.100.4', 'dev-b')$$), 'ok',
          'a service records a view for its end user');
SELECT is((SELECT ip || ' ' || device FROM commerce.play_event WHERE tenant_id = :t ORDER BY event_id DESC LIMIT 1),
          '198.51.100.4 dev-b', 'a service''s given address and device are kept');
SELECT set_config('request.headers', '{"x-forwarded-for":"not an address"}', true) IS NOT NULL AS h \gset
SELECT is(pg_temp.call_as('customer', 'a', $$SELECT commerce_api.record_play_view('G', NULL, '1.2.3.4')$$), 'ok',
          'a header that is not an address');
SELECT is((SELECT coalesce(ip, 'none') FROM commerce.play_event WHERE tenant_id = :t ORDER BY event_id DESC LIMIT 1),
          'none', 'records no address (the body''s is not used)');
SELECT set_config('request.headers', '', true) IS NOT NULL AS h \gset
-- KOCs: their own balance and figures
SELECT is(pg_temp.call_as('koc', 'KA', $$SELECT commerce_api.request_withdrawal('w-ka', 'KB', 100, 'wechat', '{"openid":"x"}')$$),
          '42501: a koc acts only as itself', 'a KOC cannot withdraw another KOC''s balance');
SELECT is(pg_temp.call_as('koc', 'KA', format($$SELECT commerce_api.koc_stats(%s, '2030-01-01', '2030-01-31')$$, :kb_id)),
          format('PT404: KOC "#%s" not found', :kb_id), 'a KOC cannot read another KOC''s figures');
SELECT is(pg_temp.call_as('operator', 'op1', format($$SELECT commerce_api.koc_stats(%s, '2030-01-01', '2030-01-31')$$, :kb_id)),
          'ok', 'an operator reads any KOC''s figures');
-- store staff: their own stores, as themselves
SELECT is(pg_temp.call_as('store', 'st1', $$SELECT commerce_api.consume_asset('ca', 0, 1, 'S2', NULL)$$),
          '42501: store S2 is outside the scope of st1', 'store staff cannot consume at another store');
SELECT is(pg_temp.call_as('store', 'st1', $$SELECT commerce_api.consume_asset('ca', 0, 1, 'S1', 'op1')$$),
          '42501: a store acts only as itself', 'store staff cannot consume in another operator''s name');
SELECT is(pg_temp.call_as('store', 'st1', $$SELECT commerce_api.play_dashboard('G2')$$),
          '42501: store S2 is outside the scope of st1', 'store staff cannot read another store''s play dashboard');
SELECT is(pg_temp.call_as('store', 'st1', $$SELECT commerce_api.apply_play_settlement('ap', 'G2')$$),
          '42501: store S2 is outside the scope of st1', 'store staff cannot apply for another store''s settlement');
SELECT is(pg_temp.call_as('store', 'st1', $$SELECT commerce_api.play_dashboard('G')$$), 'ok', 'store staff read their own store''s dashboard');
-- tenants: a token of tenant t2 does not reach t's rows
SELECT is(pg_temp.call_as('service', 'payments', format('SELECT * FROM commerce_api.order_contact(%s)', :o_b), :t2),
          format('PT404: order "%s" not found', :o_b), 'another tenant''s service token does not reach the order');
SELECT is(pg_temp.call_as('operator', 'op1', $$SELECT commerce_api.play_dashboard('G')$$, :t2),
          '42501: "op1" is not active operator staff of tenant ' || :t2, 'staff of one tenant are nobody in another');

-- claims: the first source present decides; Hasura's role claim
SELECT set_config('request.jwt.claims', '{"role":"commerce_customer","sub":"a"}', true) IS NOT NULL AS c \gset
SELECT set_config('commerce.tenant_id', :'t', true) IS NOT NULL AS s \gset
SET LOCAL ROLE commerce_customer;
SELECT throws_ok($$SELECT commerce_api.price('C10', 'wechat_mp')$$, '42501', 'no tenant in the request',
    'claims without a tenant do not fall through to commerce.tenant_id');
RESET ROLE;
SELECT set_config('request.jwt.claims', '', true) IS NOT NULL AS c \gset
SELECT set_config('commerce.tenant_id', '', true) IS NOT NULL AS s \gset
SELECT set_config('hasura.user', json_build_object('x-hasura-role', 'customer', 'x-hasura-user-id', 'a',
                                                   'x-hasura-tenant-id', :'t')::text, true) IS NOT NULL AS h \gset
SELECT is((commerce._identity()).kind || ' ' || (commerce._identity()).subject || ' ' || (commerce._identity()).source,
          'customer a hasura', 'a Hasura session (no SET ROLE): the kind is x-hasura-role''s, the subject x-hasura-user-id');
SELECT set_config('hasura.user', '', true) IS NOT NULL AS h \gset

-- 3. the privilege matrix -----------------------------------------------------------------------
SELECT is((SELECT coalesce(string_agg(format('%s on %s', r, c.oid::regclass), ', '), '')
             FROM unnest(ARRAY['commerce_anonymous', 'commerce_customer', 'commerce_koc', 'commerce_store',
                               'commerce_operator', 'commerce_finance', 'commerce_service']) r,
                  pg_class c
            WHERE c.relnamespace = 'commerce'::regnamespace AND c.relkind IN ('r', 'v', 'p')
              AND has_table_privilege(r, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')), '',
          'no actor role holds any privilege on any table or view');
SELECT is((SELECT coalesce(string_agg(DISTINCT p.oid::regprocedure::text, ', '), '')
             FROM unnest(ARRAY['commerce_anonymous', 'commerce_customer', 'commerce_koc', 'commerce_store',
                               'commerce_operator', 'commerce_finance', 'commerce_service']) r,
                  pg_proc p
            WHERE p.pronamespace = 'commerce'::regnamespace AND has_function_privilege(r, p.oid, 'EXECUTE')),
          'commerce._rls_tenant()', 'actor roles execute no function of schema commerce but the one row level security calls');
SELECT is((SELECT count(*) FROM pg_proc p WHERE p.pronamespace IN ('commerce'::regnamespace, 'commerce_api'::regnamespace)
             AND has_function_privilege('public', p.oid, 'EXECUTE')), 0::bigint, 'PUBLIC executes nothing of commerce');
SELECT is((SELECT count(*) FROM pg_class c WHERE c.relnamespace = 'commerce'::regnamespace AND c.relkind IN ('r', 'v', 'p')
             AND has_table_privilege('public', c.oid, 'SELECT')), 0::bigint, 'PUBLIC reads no table of commerce');
SELECT is((SELECT count(*) FROM pg_class c WHERE c.relnamespace = 'commerce'::regnamespace AND c.relkind IN ('r', 'p')
             AND NOT c.relrowsecurity), 0::bigint, 'every table has row level security');
-- grant_api is idempotent and revokes what the matrix no longer gives
GRANT EXECUTE ON FUNCTION commerce_api.record_payout(text, text, text, text) TO commerce_customer;
SELECT is((SELECT string_agg(role || '=' || functions, ' ') FROM commerce.grant_api()),
          'commerce_anonymous=18 commerce_customer=69 commerce_koc=35 commerce_store=74 commerce_operator=188 commerce_finance=36 commerce_service=142',
          'grant_api again: the same counts');
SELECT ok(NOT has_function_privilege('commerce_customer', 'commerce_api.record_payout(text, text, text, text)', 'EXECUTE'),
          'grant_api revokes a grant the matrix does not give');

SELECT * FROM finish();
ROLLBACK;
