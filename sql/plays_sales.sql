-- Plays, second part (M3): eligibility in C (blacklist of customers,
-- IPs and devices; per-customer and per-IP rates; each refusal its own
-- SQLSTATE), a flash sale (5-minute hold, sold-out fast path, idempotent,
-- the asset issued on payment, an unpaid hold given back), a bargain
-- (helpers cut to the floor, one that fails at its deadline) and an invite
-- reward paid exactly once on the invitee's first paid order.
CREATE EXTENSION commerce;
CALL commerce.provision();
\set SHOW_CONTEXT never
SET timezone = 'Asia/Shanghai';
SET commerce.now = '2026-11-20 10:00:00+08';
SELECT commerce.create_tenant('hq', 'Swim HQ') AS t \gset
SELECT commerce.upsert_store(:t, 'HZ-1', 'Hangzhou West Lake', 'Zhejiang', 'Hangzhou') > 0 AS store;
SELECT commerce.upsert_product(:t, 'SWIM', 'Swimming', 'virtual', 'course') > 0 AS product;
SELECT commerce.upsert_sku(:t, 'SWIM', 'SWIM-10', '10 swimming lessons', 50000, p_floor_fen => 15000) > 0 AS sku;
SELECT commerce.receive_stock(:t, 'r1', 'SWIM-10', 100) > 0 AS received;
SELECT commerce.ensure_play_templates(:t) AS templates;
SELECT commerce.upsert_play_template(:t, 'FLASH_SALE', 'flash_sale', 'Flash sale', 'lessons',
  (SELECT rule_schema::text FROM commerce.play_template WHERE code = 'FLASH_SALE')) IS NOT NULL AS lessons_unit;
SELECT count(*) AS customers FROM (SELECT commerce.upsert_customer(:t, c)
  FROM unnest(ARRAY['ann', 'bo', 'cy', 'di', 'ed', 'fe', 'gu', 'hu', 'bot', 'old']) c) x;
SELECT commerce.pay_order(:t, (commerce.place_order(:t, 'old-1', 'h5', '{"lines":[{"sku":"SWIM-10","qty":1}]}', 'old')).order_id,
                          'pay-old', 50000) IS NOT NULL AS old_customer_paid;

-- ===== flash sale: 3 units at 199 yuan, 15 lessons each, at most 2 per order, held 5 minutes =====
SELECT code, rules FROM commerce.configure_play(:t, 'cfg-f', 'FLASH', 'FLASH_SALE', 'HZ-1', 'SWIM-10', 'Swimming flash sale',
                                                19900, 3, '2026-11-20 10:00+08', '2026-11-20 12:00+08',
                                                '{"per_order_limit":2}', p_asset_type => 'SERVICE', p_units_per_sale => 15);
SELECT commerce.record_play_view(:t, 'FLASH', 'ann', '10.0.0.1') > 0 AS viewed,
       commerce.record_play_view(:t, 'FLASH', NULL, '10.0.0.9', 'dev-9') > 0 AS anonymous_view;
SELECT status, payable_fen, pay_deadline, outcome FROM commerce.buy_play(:t, 'f-ann', 'FLASH', 'ann', 2, p_ip => '10.0.0.1');
SELECT status, payable_fen, outcome FROM commerce.buy_play(:t, 'f-ann', 'FLASH', 'ann', 2, p_ip => '10.0.0.1');
SELECT display_state, available FROM commerce.play_display WHERE code = 'FLASH';
-- one unit left: two asked is sold out, before any lock or write
SELECT * FROM commerce.buy_play(:t, 'f-bo', 'FLASH', 'bo', 2);
SELECT count(*) AS bo_events FROM commerce.play_event e JOIN commerce.customer c USING (tenant_id, customer_id) WHERE c.code = 'bo';
-- above the per-order limit
SELECT * FROM commerce.buy_play(:t, 'f-bo-3', 'FLASH', 'bo', 3);
SELECT status, payable_fen FROM commerce.buy_play(:t, 'f-bo', 'FLASH', 'bo', 1);
SELECT display_state, available FROM commerce.play_display WHERE code = 'FLASH';
-- ann pays within the hold: her asset is 2 x 15 lessons
SELECT commerce.pay_order(:t, order_id, 'pay-f-ann', 39800) IS NOT NULL AS paid
  FROM commerce.orders WHERE request_id = 'play:f-ann';
SELECT c.code, a.asset_type, a.unit_name, a.total, a.remaining, a.source_activity
  FROM commerce.user_asset a JOIN commerce.customer c USING (tenant_id, customer_id) ORDER BY a.asset_id;
-- bo does not pay: after 5 minutes the order is cancelled and his unit is back
SET commerce.now = '2026-11-20 10:05:01+08';
SELECT commerce.cancel_unpaid_orders() AS cancelled;
SELECT status FROM commerce.orders WHERE request_id = 'play:f-bo';
SELECT display_state, available FROM commerce.play_display WHERE code = 'FLASH';

-- ===== eligibility: blacklist (PT403), rates (PT429 customer, PT429 IP) =====
SELECT kind, value, reason FROM commerce.blacklist(:t, 'user', 'bot', 'scripted orders');
SELECT kind, value FROM commerce.blacklist(:t, 'device', 'dev-bad', 'emulator farm');
SELECT * FROM commerce.buy_play(:t, 'f-bot', 'FLASH', 'bot', 1);
SELECT * FROM commerce.buy_play(:t, 'f-cy-bad', 'FLASH', 'cy', 1, p_device => 'dev-bad');
SELECT commerce.unblacklist(:t, 'device', 'dev-bad') AS removed, commerce.unblacklist(:t, 'device', 'dev-bad') AS again;
SELECT kind, value FROM commerce.blacklist(:t, 'ip', '10.6.6.6', 'proxy pool', '2026-11-20 11:00+08');
SELECT * FROM commerce.buy_play(:t, 'f-cy-ip', 'FLASH', 'cy', 1, p_ip => '10.6.6.6');
SELECT code, user_rate_per_minute, ip_rate_per_minute FROM commerce.set_play_limits(:t, 'FLASH', 1, 2);
SELECT outcome FROM commerce.buy_play(:t, 'f-cy', 'FLASH', 'cy', 1, p_ip => '10.0.0.7');
SELECT commerce.cancel_order(:t, order_id) IS NOT NULL AS cy_cancels FROM commerce.orders WHERE request_id = 'play:f-cy';
SELECT * FROM commerce.buy_play(:t, 'f-cy-2', 'FLASH', 'cy', 1, p_ip => '10.0.0.7');
SELECT outcome FROM commerce.buy_play(:t, 'f-di', 'FLASH', 'di', 1, p_ip => '10.0.0.7');
SELECT commerce.cancel_order(:t, order_id) IS NOT NULL AS di_cancels FROM commerce.orders WHERE request_id = 'play:f-di';
SELECT * FROM commerce.buy_play(:t, 'f-ed', 'FLASH', 'ed', 1, p_ip => '10.0.0.7');
-- a minute later both limits have room again; the IP entry expired at 11:00
SET commerce.now = '2026-11-20 11:00:00+08';
SELECT outcome FROM commerce.buy_play(:t, 'f-ed', 'FLASH', 'ed', 1, p_ip => '10.6.6.6');

-- ===== M6.2: a rate per device, and no new accounts without a profile =====
SELECT code FROM commerce.configure_play(:t, 'cfg-f2', 'FLASH2', 'FLASH_SALE', 'HZ-1', 'SWIM-10', 'Second flash sale',
                                         19900, 10, '2026-11-20 11:00+08', '2026-11-20 12:00+08', '{}',
                                         p_asset_type => 'SERVICE', p_units_per_sale => 15);
SELECT commerce.upsert_customer(:t, 'fresh', 'Made an hour ago') > 0 AS fresh,
       commerce.upsert_customer(:t, 'fresh-phone', 'Made an hour ago, phone bound', '13800009999') > 0 AS fresh_phone,
       commerce.upsert_customer(:t, 'gus', 'Gus') > 0 AS gus, commerce.upsert_customer(:t, 'hal', 'Hal') > 0 AS hal;
UPDATE commerce.customer SET created_at = CASE WHEN code LIKE 'fresh%' THEN timestamptz '2026-11-20 10:00+08' ELSE timestamptz '2026-01-01 00:00+08' END
 WHERE tenant_id = :t;
SELECT code, user_rate_per_minute, ip_rate_per_minute, device_rate_per_minute, min_account_age::text
  FROM commerce.set_play_limits(:t, 'FLASH2', NULL, NULL, 1, '7 days');
SELECT * FROM commerce.buy_play(:t, 'f2-fresh', 'FLASH2', 'fresh', 1);
SELECT outcome FROM commerce.buy_play(:t, 'f2-fresh-phone', 'FLASH2', 'fresh-phone', 1, p_device => 'dev-1');
SELECT * FROM commerce.buy_play(:t, 'f2-gus', 'FLASH2', 'gus', 1, p_device => 'dev-1');
SELECT outcome FROM commerce.buy_play(:t, 'f2-gus-2', 'FLASH2', 'gus', 1, p_device => 'dev-2');
-- without a device id the per-device rate does not apply
SELECT outcome FROM commerce.buy_play(:t, 'f2-hal', 'FLASH2', 'hal', 1);
SELECT commerce.set_play_limits(:t, 'FLASH2', NULL, NULL, 0);
SELECT commerce.set_play_limits(:t, 'FLASH2', NULL, NULL, NULL, '0 days');
SELECT commerce.set_play_limits(:t, 'FLASH2', NULL, NULL, NULL, '2 years');
SELECT commerce.cancel_order(:t, order_id) IS NOT NULL AS cancelled FROM commerce.orders
 WHERE request_id IN ('play:f2-fresh-phone', 'play:f2-gus-2', 'play:f2-hal') ORDER BY order_id;
SELECT code, device_rate_per_minute, min_account_age::text FROM commerce.set_play_limits(:t, 'FLASH2', NULL, NULL);

-- ===== bargain: from 300 yuan, 40 yuan a cut, floor 200 yuan (3 cuts: 40, 40, 20) =====
SELECT code, rules FROM commerce.configure_play(:t, 'cfg-b', 'HAGGLE', 'BARGAIN', 'HZ-1', 'SWIM-10', 'Cut the price',
                                                30000, 5, '2026-11-20 10:00+08', '2026-11-30 00:00+08',
                                                '{"floor_fen":20000,"cut_fen":4000,"hours":24}', p_asset_type => 'SERVICE',
                                                p_units_per_sale => 10);
SELECT * FROM commerce.start_bargain(:t, 'b-ann', 'HAGGLE', 'ann');
SELECT outcome FROM commerce.start_bargain(:t, 'b-ann', 'HAGGLE', 'ann');
SELECT * FROM commerce.start_bargain(:t, 'b-ann-2', 'HAGGLE', 'ann');
SELECT instance_id AS b1 FROM commerce.play_instance WHERE request_id = 'b-ann' \gset
SELECT helps, price_fen, outcome FROM commerce.help_bargain(:t, 'h-bo', :b1, 'bo');
SELECT outcome FROM commerce.help_bargain(:t, 'h-bo', :b1, 'bo');
SELECT * FROM commerce.help_bargain(:t, 'h-bo-2', :b1, 'bo');
SELECT * FROM commerce.help_bargain(:t, 'h-ann', :b1, 'ann');
SELECT * FROM commerce.buy_bargain(:t, 'bb-early', :b1, 'ann');
SELECT helps, price_fen, outcome FROM commerce.help_bargain(:t, 'h-cy', :b1, 'cy');
SELECT status, helps, helps_needed, price_fen, floor_fen, outcome FROM commerce.help_bargain(:t, 'h-di', :b1, 'di');
SELECT * FROM commerce.help_bargain(:t, 'h-ed', :b1, 'ed');
SELECT c.code, h.cut_fen, h.price_after FROM commerce.play_help h JOIN commerce.customer c ON c.customer_id = h.helper_id ORDER BY h.helped_at, h.price_after DESC;
SELECT * FROM commerce.buy_bargain(:t, 'bb-bo', :b1, 'bo');
SELECT status, payable_fen, outcome FROM commerce.buy_bargain(:t, 'bb-ann', :b1, 'ann');
SELECT * FROM commerce.buy_bargain(:t, 'bb-ann-2', :b1, 'ann');
SELECT commerce.pay_order(:t, order_id, 'pay-bb-ann', 20000) IS NOT NULL AS paid FROM commerce.orders WHERE request_id = 'play:bb-ann';
SELECT c.code, a.total, a.source_instance_id = :b1 AS from_bargain FROM commerce.user_asset a
  JOIN commerce.customer c USING (tenant_id, customer_id) WHERE a.source_activity = 'play:HAGGLE';
-- bo's bargain gets one help, then its 24 hours pass
SELECT status, price_fen FROM commerce.start_bargain(:t, 'b-bo', 'HAGGLE', 'bo');
SELECT instance_id AS b2 FROM commerce.play_instance WHERE request_id = 'b-bo' \gset
SELECT price_fen FROM commerce.help_bargain(:t, 'h2-cy', :b2, 'cy');
SET commerce.now = '2026-11-21 11:00:01+08';
SELECT * FROM commerce.help_bargain(:t, 'h2-di', :b2, 'di');
SELECT commerce.end_expired_groups() AS ended;
SELECT status FROM commerce.play_instance WHERE instance_id = :b2;
SELECT * FROM commerce.buy_bargain(:t, 'bb-bo', :b2, 'bo');
SELECT topic, payload - 'instance_id' AS payload FROM commerce.outbox WHERE topic LIKE 'play.bargain%' ORDER BY message_id;
-- a floor at or above the starting price, or below the SKU's floor, is refused
SELECT * FROM commerce.configure_play(:t, 'cfg-b2', 'HAGGLE2', 'BARGAIN', 'HZ-1', 'SWIM-10', 'Bad', 30000, 1,
                                      '2026-11-21 12:00+08', '2026-11-30 00:00+08', '{"floor_fen":30000,"cut_fen":100}');
SELECT * FROM commerce.configure_play(:t, 'cfg-b3', 'HAGGLE3', 'BARGAIN', 'HZ-1', 'SWIM-10', 'Bad', 30000, 1,
                                      '2026-11-21 12:00+08', '2026-11-30 00:00+08', '{"floor_fen":100,"cut_fen":100}');

-- ===== invite reward: 20 yuan to the inviter, 5 to the invitee, at most 2 rewards per inviter =====
SELECT code, rules FROM commerce.configure_play(:t, 'cfg-i', 'BRING', 'INVITE_REWARD', 'HZ-1', 'SWIM-10', 'Bring a friend',
                                                29900, 10, '2026-11-21 00:00+08', '2026-12-31 00:00+08',
                                                '{"reward_fen":2000,"invitee_reward_fen":500,"max_rewards":2}',
                                                p_new_users_only => true, p_asset_type => 'SERVICE', p_units_per_sale => 10);
SELECT c1.code AS inviter, c2.code AS invitee, v.status
  FROM (SELECT * FROM commerce.invite(:t, 'i-1', 'BRING', 'ann', 'fe')
        UNION ALL SELECT * FROM commerce.invite(:t, 'i-2', 'BRING', 'ann', 'gu')
        UNION ALL SELECT * FROM commerce.invite(:t, 'i-3', 'BRING', 'ann', 'hu')) v
  JOIN commerce.customer c1 ON c1.customer_id = v.inviter_id JOIN commerce.customer c2 ON c2.customer_id = v.invitee_id;
SELECT status FROM commerce.invite(:t, 'i-1', 'BRING', 'ann', 'fe');
SELECT * FROM commerce.invite(:t, 'i-4', 'BRING', 'bo', 'fe');
SELECT * FROM commerce.invite(:t, 'i-5', 'BRING', 'bo', 'old');
SELECT * FROM commerce.invite(:t, 'i-6', 'BRING', 'bo', 'bo');
-- fe buys the first-order offer and pays: ann is rewarded once; fe's second paid order changes nothing
SELECT commerce.pay_order(:t, (commerce.buy_play(:t, 'o-fe', 'BRING', 'fe')).order_id, 'pay-fe', 29900) IS NOT NULL AS fe_paid;
SELECT * FROM commerce.buy_play(:t, 'o-fe-2', 'BRING', 'fe');
SELECT commerce.pay_order(:t, (commerce.place_order(:t, 'fe-2', 'h5', '{"lines":[{"sku":"SWIM-10","qty":1}]}', 'fe')).order_id,
                          'pay-fe-2', 50000) IS NOT NULL AS fe_paid_again;
-- gu's first paid order is an ordinary one: it still rewards ann (her second); hu's comes after ann's cap of 2
SELECT commerce.pay_order(:t, (commerce.place_order(:t, 'gu-1', 'h5', '{"lines":[{"sku":"SWIM-10","qty":1}]}', 'gu')).order_id,
                          'pay-gu', 50000) IS NOT NULL AS gu_paid;
SELECT commerce.pay_order(:t, (commerce.buy_play(:t, 'o-hu', 'BRING', 'hu')).order_id, 'pay-hu', 29900) IS NOT NULL AS hu_paid;
SELECT c.code AS invitee, v.status, v.reward_fen, v.invitee_reward_fen
  FROM commerce.play_invite v JOIN commerce.customer c ON c.customer_id = v.invitee_id ORDER BY v.invite_id;
SELECT payload - 'invite_id' - 'order_id' AS reward FROM commerce.outbox WHERE topic = 'play.invite_reward' ORDER BY message_id;

-- hu's order is refunded in full: his 10 lessons are void
SELECT (commerce.complete_refund(:t, (commerce.decide_after_sale(:t, (commerce.request_after_sale(:t, 'rf-hu', o.order_id,
         'refund_only', o.paid_fen, 'moved away')).after_sale_id, true, 'ok')).after_sale_id)).status = 'refunded' AS refunded
  FROM commerce.orders o WHERE o.request_id = 'play:o-hu';
SELECT c.code, a.total, a.remaining, a.voided_at IS NOT NULL AS voided FROM commerce.user_asset a
  JOIN commerce.customer c USING (tenant_id, customer_id) WHERE a.source_activity = 'play:BRING' ORDER BY c.code;

SELECT count(*) AS play_invariant_violations FROM commerce.check_play_invariants();
SELECT count(*) AS stock_invariant_violations FROM commerce.check_stock_invariants();
SELECT count(*) AS order_invariant_violations FROM commerce.check_order_invariants();
SET client_min_messages = warning;
DROP SCHEMA commerce CASCADE;
