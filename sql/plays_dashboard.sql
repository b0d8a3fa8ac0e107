-- The activity dashboard (M4) and store settlement (section
-- 7): a cleaning group buy sold in hours (15 per sale), views recorded as
-- events, groups that fill and one that fails, 90 of 150 hours consumed,
-- the cards printed; then the store applies for settlement of its
-- completed income, HQ rejects, approves, a payout fails and is retried,
-- and the split adds up to the fen.
CREATE EXTENSION commerce;
CALL commerce.provision();
\set SHOW_CONTEXT never
SET timezone = 'Asia/Shanghai';
SET commerce.now = '2026-11-20 10:00:00+08';
SELECT commerce.create_tenant('hq', 'Clean HQ') AS t \gset
SELECT commerce.upsert_store(:t, 'HZ-1', 'Hangzhou West Lake', 'Zhejiang', 'Hangzhou') > 0 AS store;
SELECT commerce.upsert_product(:t, 'CLEAN', 'Home cleaning', 'virtual', 'activation_code') > 0 AS product;
SELECT commerce.upsert_sku(:t, 'CLEAN', 'CLEAN-15H', '15 hours of home cleaning', 45000) > 0 AS sku;
SELECT commerce.receive_stock(:t, 'r1', 'CLEAN-15H', 100) > 0 AS received;
SELECT code, unit_name FROM commerce.upsert_play_template(:t, 'CLEAN_GROUP', 'group_buy', 'Cleaning together', 'hours',
  '{"type":"object","required":["target_size"],"properties":{"target_size":{"type":"integer","minimum":2,"maximum":10},
    "hours":{"type":"integer","minimum":1,"maximum":72,"default":24},"virtual_fill":{"type":"boolean","default":false}}}');
SELECT code FROM commerce.configure_play(:t, 'cfg-c', 'CLEAN2', 'CLEAN_GROUP', 'HZ-1', 'CLEAN-15H', 'Two homes, one price',
                                         29900, 12, '2026-11-20 00:00+08', '2026-12-20 00:00+08', '{"target_size":2}',
                                         p_asset_type => 'SERVICE', p_units_per_sale => 15);
SELECT count(*) AS customers FROM (SELECT commerce.upsert_customer(:t, 'c' || k) FROM generate_series(1, 12) k) x;

-- 20 views from 12 viewers (10 customers, 2 anonymous IPs)
SELECT count(commerce.record_play_view(:t, 'CLEAN2', CASE WHEN k <= 10 THEN 'c' || k END,
                                       CASE WHEN k > 10 THEN '10.0.0.' || k END)) AS views
  FROM generate_series(1, 12) k, generate_series(1, 2) r WHERE k <= 12 AND (r = 1 OR k <= 8);
-- five groups of two fill; c11 opens a sixth that nobody joins
SELECT count(*) AS joined FROM (
  SELECT commerce.join_group(:t, 'j' || k || 'b', 'CLEAN2', 'c' || (2 * k), 'p' || k || 'b',
                             (commerce.join_group(:t, 'j' || k || 'a', 'CLEAN2', 'c' || (2 * k - 1), 'p' || k || 'a')).instance_id)
    FROM generate_series(1, 5) k) x;
SELECT outcome FROM commerce.join_group(:t, 'j6a', 'CLEAN2', 'c11', 'p6a');
SET commerce.now = '2026-11-21 10:00:00+08';
SELECT commerce.end_expired_groups() AS ended;
SELECT status, count(*) FROM commerce.play_instance GROUP BY status ORDER BY status;
-- 90 of the 150 hours are consumed: six customers use 15 hours each
SELECT count(commerce.consume_asset(:t, 'use-' || a.asset_id, a.asset_id, 15, 'HZ-1', 'cleaner-wang')) AS consumed
  FROM (SELECT asset_id FROM commerce.user_asset ORDER BY asset_id LIMIT 6) a;
SELECT jsonb_pretty(commerce.play_dashboard(:t, 'CLEAN2') - 'window');
SELECT commerce.play_dashboard(:t, 'CLEAN2') #>> '{fulfilment,text}' AS fulfilment;

-- ===== store settlement =====
-- the split: largest remainder, the parts always add up
SELECT (commerce.split_fen(1, 5000)).*, (commerce.split_fen(100, 3333)).*, (commerce.split_fen(179400, 3333)).*,
       (commerce.split_fen(999, 10000)).*, (commerce.split_fen(999, 0)).*;
SELECT * FROM commerce.apply_play_settlement(:t, 'st-0', 'CLEAN2');
SELECT template_code, store_share_bp FROM commerce.set_split_rule(:t, NULL, 7000);
SELECT template_code, store_share_bp FROM commerce.set_split_rule(:t, 'CLEAN_GROUP', 3333);
-- the six completed orders (the consumed ones): 6 x 299 yuan
SELECT settlement_id AS s1, status, orders, income_fen, store_share_bp, store_fen, hq_fen
  FROM commerce.apply_play_settlement(:t, 'st-1', 'CLEAN2') \gset
SELECT :s1 > 0 AS s1, :'status' AS status, :orders AS orders, :income_fen AS income, :store_fen AS store, :hq_fen AS hq;
SELECT settlement_id = :s1 AS same FROM commerce.apply_play_settlement(:t, 'st-1', 'CLEAN2');
SELECT * FROM commerce.apply_play_settlement(:t, 'st-2', 'CLEAN2');
SELECT * FROM commerce.decide_play_settlement(:t, :s1, false, 'finance-zhao');
SELECT status, reason FROM commerce.decide_play_settlement(:t, :s1, false, 'finance-zhao', 'attach the consumption sheet');
SELECT settlement_id AS s2, orders, income_fen FROM commerce.apply_play_settlement(:t, 'st-2', 'CLEAN2') \gset
SELECT :orders AS orders_again, :income_fen AS income_again;
SELECT status FROM commerce.decide_play_settlement(:t, :s2, true, 'finance-zhao');
SELECT status FROM commerce.decide_play_settlement(:t, :s2, true, 'finance-zhao');
SELECT * FROM commerce.decide_play_settlement(:t, :s2, false, 'finance-zhao', 'too late');
SELECT status, reason FROM commerce.record_settlement_payout(:t, :s2, false, NULL, 'bank account closed');
SELECT status, payout_attempt FROM commerce.decide_play_settlement(:t, :s2, true, 'finance-zhao', 'new account on file');
SELECT status, provider_ref FROM commerce.record_settlement_payout(:t, :s2, true, 'wx-8812');
SELECT status FROM commerce.record_settlement_payout(:t, :s2, true, 'wx-8812');
SELECT * FROM commerce.record_settlement_payout(:t, :s2, false);
SELECT topic, payload - 'settlement_id' AS payload FROM commerce.outbox WHERE topic = 'store.settlement_payout' ORDER BY message_id;
-- one more consumption completes a seventh order: only that one is left to settle
SELECT remaining FROM commerce.consume_asset(:t, 'use-7', (SELECT asset_id FROM commerce.user_asset ORDER BY asset_id OFFSET 6 LIMIT 1),
                                             5, 'HZ-1', 'cleaner-wang');
SELECT orders, income_fen, store_fen, hq_fen FROM commerce.apply_play_settlement(:t, 'st-3', 'CLEAN2');

SELECT count(*) AS play_invariant_violations FROM commerce.check_play_invariants();
SELECT count(*) AS order_invariant_violations FROM commerce.check_order_invariants();
UPDATE commerce.play_settlement SET store_fen = store_fen + 1 WHERE settlement_id = :s2;
SET client_min_messages = warning;
DROP SCHEMA commerce CASCADE;
