-- Group buys, assets and consumption (M2.1, 2.2, 3, 6.1.3): a group
-- fills and succeeds (assets issued), a group fails at its deadline (units
-- back to the play's stock, every member refunded through the outbox with
-- the retry schedule), virtual fill, eligibility refusals, and consumption
-- of the lessons down to zero, the first one redeeming the order (and
-- earning the KOC who brought the buyer).
CREATE EXTENSION commerce;
CALL commerce.provision();
\set SHOW_CONTEXT never
SET timezone = 'Asia/Shanghai';
SET commerce.now = '2026-11-20 10:00:00+08';
SELECT commerce.create_tenant('hq', 'Dance HQ') AS t \gset
SELECT commerce.upsert_store(:t, 'HZ-1', 'Hangzhou West Lake', 'Zhejiang', 'Hangzhou') > 0 AS store;
SELECT commerce.upsert_product(:t, 'DANCE', 'Dance course', 'virtual', 'course') > 0 AS product;
SELECT commerce.upsert_sku(:t, 'DANCE', 'DANCE-10', '10 dance lessons', 99900) > 0 AS sku;
SELECT commerce.receive_stock(:t, 'r1', 'DANCE-10', 100) > 0 AS received;
SELECT commerce.ensure_play_templates(:t) AS templates;
SELECT count(*) AS customers FROM (SELECT commerce.upsert_customer(:t, c) FROM unnest(ARRAY['ann', 'bo', 'cy', 'di', 'ed', 'fe', 'gu', 'old']) c) x;
SELECT code FROM commerce.configure_play(:t, 'cfg-1', 'DANCE3', 'GROUP_BUY', 'HZ-1', 'DANCE-10', 'Dance together: 10 lessons',
                                         59900, 9, '2026-11-20 00:00+08', '2026-12-20 00:00+08', '{"target_size":3,"hours":24}',
                                         p_per_user_limit => 1, p_mutex_group => 'intro', p_asset_type => 'COURSE',
                                         p_units_per_sale => 10);
CREATE TEMP VIEW groups AS
  SELECT i.instance_id, i.status, i.current, i.target, i.deadline FROM commerce.play_instance i ORDER BY i.instance_id;

-- ann opens a group, bo and cy join: the third member completes it and every member gets 10 lessons
SELECT status, current, target, outcome FROM commerce.join_group(:t, 'j-ann', 'DANCE3', 'ann', 'pay-ann');
SELECT instance_id AS g1 FROM commerce.play_instance \gset
SELECT status, current, outcome FROM commerce.join_group(:t, 'j-bo', 'DANCE3', 'bo', 'pay-bo', :g1);
SELECT status, current, outcome FROM commerce.join_group(:t, 'j-bo', 'DANCE3', 'bo', 'pay-bo', :g1);
SELECT status, current, outcome FROM commerce.join_group(:t, 'j-cy', 'DANCE3', 'cy', 'pay-cy', :g1);
SELECT c.code, a.asset_type, a.unit_name, a.total, a.remaining, a.source_activity, a.source_instance_id = :g1 AS from_group
  FROM commerce.user_asset a JOIN commerce.customer c USING (tenant_id, customer_id) ORDER BY c.code;
SELECT o.external_order_id, o.status, o.payable_fen, o.source_activity, o.source_instance_id = :g1 AS instance
  FROM commerce.orders o ORDER BY o.order_id;
SELECT activity, sold, available FROM commerce.stock WHERE activity IS NOT NULL;
-- the group is over: no fourth member
SELECT * FROM commerce.join_group(:t, 'j-di-late', 'DANCE3', 'di', 'pay-x', :g1);

-- eligibility: one per customer (PT409), the mutex group (PT409), new customers only (PT403)
SELECT * FROM commerce.join_group(:t, 'j-ann-2', 'DANCE3', 'ann', 'pay-ann-2');
SELECT code FROM commerce.configure_play(:t, 'cfg-2', 'YOGA3', 'GROUP_BUY', 'HZ-1', 'DANCE-10', 'Yoga together',
                                         59900, 3, '2026-11-20 00:00+08', '2026-12-20 00:00+08', '{"target_size":3}',
                                         p_mutex_group => 'intro');
SELECT * FROM commerce.join_group(:t, 'j-bo-yoga', 'YOGA3', 'bo', 'pay-bo-yoga');
SELECT code FROM commerce.configure_play(:t, 'cfg-4', 'SPIN3', 'GROUP_BUY', 'HZ-1', 'DANCE-10', 'Spinning, first time',
                                         59900, 3, '2026-11-20 00:00+08', '2026-12-20 00:00+08', '{"target_size":3}',
                                         p_new_users_only => true);
SELECT commerce.pay_order(:t, (commerce.place_order(:t, 'old-1', 'h5', '{"lines":[{"sku":"DANCE-10","qty":1}]}', 'old')).order_id, 'pay-old', 99900) IS NOT NULL AS old_customer_paid;
SELECT * FROM commerce.join_group(:t, 'j-old-spin', 'SPIN3', 'old', 'pay-old-spin');
SELECT outcome FROM commerce.join_group(:t, 'j-fe-spin', 'SPIN3', 'fe', 'pay-fe-spin');

-- di opens a second group, ed joins; nobody else comes: at the deadline it fails
SELECT status, current, outcome FROM commerce.join_group(:t, 'j-di', 'DANCE3', 'di', 'pay-di');
SELECT max(instance_id) AS g2 FROM commerce.play_instance \gset
SELECT status, current, outcome FROM commerce.join_group(:t, 'j-ed', 'DANCE3', 'ed', 'pay-ed', :g2);
SET commerce.now = '2026-11-21 10:00:00+08';
SELECT * FROM commerce.join_group(:t, 'j-fe', 'DANCE3', 'fe', 'pay-fe', :g2);
SELECT commerce.end_expired_groups() AS ended, commerce.end_expired_groups() AS again;
SELECT * FROM groups;
SELECT c.code, p.role, p.status FROM commerce.play_participant p JOIN commerce.customer c USING (tenant_id, customer_id)
 WHERE p.instance_id = :g2 ORDER BY c.code;
SELECT activity, sold, available FROM commerce.stock WHERE activity = 'play:DANCE3';
SELECT topic, payload - 'after_sale_id' - 'order_id' - 'instance_id' AS payload FROM commerce.outbox
 WHERE topic IN ('payment.refund', 'play.group_failed', 'play.group_succeeded') ORDER BY message_id;
-- the refund worker: the gateway times out three times (retried at once, after 1 minute, after 1 hour),
-- then the message is a dead letter and an alert goes out; a requeue and a success complete the refund
SELECT message_id AS m FROM commerce.outbox WHERE topic = 'payment.refund' AND payload ->> 'payment_id' = 'pay-di' \gset
CREATE TEMP VIEW m AS SELECT status, attempts, available_at - commerce.now() AS retry_in FROM commerce.outbox WHERE message_id = :m;
SELECT :m IN (SELECT message_id FROM commerce.claim('payment.refund', 'refunder', 10)) AS claimed;
SELECT commerce.fail(:t, :m, 'refunder', 'gateway timeout') AS failed;
SELECT * FROM m;
SELECT :m IN (SELECT message_id FROM commerce.claim('payment.refund', 'refunder', 10)) AS claimed_again_at_once;
SELECT commerce.fail(:t, :m, 'refunder', 'gateway timeout') AS failed;
SELECT * FROM m;
SELECT :m IN (SELECT message_id FROM commerce.claim('payment.refund', 'refunder', 10)) AS claimed_too_early;
SET commerce.now = '2026-11-21 10:01:00+08';
SELECT :m IN (SELECT message_id FROM commerce.claim('payment.refund', 'refunder', 10)) AS claimed_after_a_minute;
SELECT commerce.fail(:t, :m, 'refunder', 'gateway timeout') AS failed;
SELECT * FROM m;
SET commerce.now = '2026-11-21 11:01:00+08';
SELECT :m IN (SELECT message_id FROM commerce.claim('payment.refund', 'refunder', 10)) AS claimed_after_an_hour;
SELECT commerce.fail(:t, :m, 'refunder', 'gateway timeout') AS failed;
SELECT status, attempts FROM m;
SELECT topic, payload ->> 'message_id' = :'m' AS about_it FROM commerce.outbox WHERE topic = 'outbox.dead';
SELECT commerce.requeue(:t, :m) IS NOT NULL AS requeued;
SELECT :m IN (SELECT message_id FROM commerce.claim('payment.refund', 'refunder', 10)) AS claimed;
SELECT status FROM commerce.complete_refund(:t, (SELECT (payload ->> 'after_sale_id')::bigint FROM commerce.outbox WHERE message_id = :m));
SELECT commerce.ack(:t, :m, 'refunder') IS NOT NULL AS acked;
SELECT status FROM m;
SELECT o.external_order_id, o.status, o.refunded_fen FROM commerce.orders o
 WHERE o.source_instance_id = :g2 ORDER BY o.order_id;
-- di's refund is confirmed: di is refunded, ed still refunding
SELECT c.code, p.status FROM commerce.play_participant p JOIN commerce.customer c USING (tenant_id, customer_id)
 WHERE p.instance_id = :g2 ORDER BY c.code;

-- virtual fill: a group of one completes at its deadline with two virtual members
SELECT code FROM commerce.configure_play(:t, 'cfg-3', 'SALSA3', 'GROUP_BUY', 'HZ-1', 'DANCE-10', 'Salsa, always on',
                                         59900, 3, '2026-11-21 00:00+08', '2026-12-20 00:00+08',
                                         '{"target_size":3,"hours":2,"virtual_fill":true}', p_asset_type => 'COURSE',
                                         p_units_per_sale => 8);
SELECT status, current, outcome FROM commerce.join_group(:t, 'j-gu', 'SALSA3', 'gu', 'pay-gu');
SET commerce.now = '2026-11-21 14:00:00+08';
SELECT commerce.end_expired_groups() AS ended;
SELECT i.status, i.current, i.target, count(*) FILTER (WHERE p.role = 'virtual') AS virtual_members
  FROM commerce.play_instance i JOIN commerce.play_participant p USING (tenant_id, instance_id)
 WHERE i.config_id = (SELECT config_id FROM commerce.play_config WHERE code = 'SALSA3') GROUP BY i.tenant_id, i.instance_id;
SELECT c.code, a.total FROM commerce.user_asset a JOIN commerce.customer c USING (tenant_id, customer_id) WHERE c.code = 'gu';

-- consumption: bo takes 3 lessons, then 8 (only 7 left), then 7; the first one redeemed the order
SELECT asset_id AS bo_asset FROM commerce.user_asset a JOIN commerce.customer c USING (tenant_id, customer_id) WHERE c.code = 'bo' \gset
SELECT remaining FROM commerce.consume_asset(:t, 'use-1', :bo_asset, 3, 'HZ-1', 'coach-li');
SELECT remaining FROM commerce.consume_asset(:t, 'use-1', :bo_asset, 3, 'HZ-1', 'coach-li');
SELECT * FROM commerce.consume_asset(:t, 'use-2', :bo_asset, 8, 'HZ-1', 'coach-li');
SELECT remaining FROM commerce.consume_asset(:t, 'use-3', :bo_asset, 7, 'HZ-1', 'coach-li');
SELECT l.amount, s.code AS store, l.operator, l.source_activity FROM commerce.consumption_log l
  JOIN commerce.store s USING (tenant_id, store_id) ORDER BY l.consumption_id;
SELECT o.status FROM commerce.orders o JOIN commerce.user_asset a ON a.order_id = o.order_id WHERE a.asset_id = :bo_asset;
UPDATE commerce.consumption_log SET amount = 1;

SELECT count(*) AS stock_invariant_violations FROM commerce.check_stock_invariants();
SELECT count(*) AS order_invariant_violations FROM commerce.check_order_invariants();
DROP VIEW groups, m;
SET client_min_messages = warning;
DROP SCHEMA commerce CASCADE;
