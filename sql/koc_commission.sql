-- KOC money (K13, K14, K15, K07): commission lines on redemption (the PRD's
-- 5% of 1120.50 yuan = 56.02), level bonus, bounty, reversal of refunds,
-- T+0.5 settlement into batches, payouts paid and failed, withdrawals with
-- minimum, fee and review, agreement and freeze holds, and the monthly
-- level recalculation; every invariant checked at the end.
CREATE EXTENSION commerce;
CALL commerce.provision();
\set SHOW_CONTEXT never
SET timezone = 'Asia/Shanghai';
SET commerce.now = '2026-10-20 10:00:00+08';
SELECT commerce.create_tenant('brand', 'A brand') AS t \gset
SELECT commerce.upsert_product(:t, 'P', 'Goods') > 0 AS product;
SELECT commerce.upsert_sku(:t, 'P', 'COAT', 'Down coat', 112050) > 0 AS sku;
SELECT commerce.upsert_sku(:t, 'P', 'TEE', 'T-shirt', 9900) > 0 AS sku;
SELECT commerce.receive_stock(:t, 'r1', 'COAT', 100) > 0 AND commerce.receive_stock(:t, 'r2', 'TEE', 100) > 0 AS received;
SELECT commerce.upsert_customer(:t, code) > 0 AS customer
  FROM unnest(ARRAY['u-k1', 'u-k2', 'b1', 'b2', 'b3', 'b4']) code;
SELECT commerce.upsert_koc(:t, 'K1', 'u-k1', 'Xiao Li', 'Hangzhou') AS k1 \gset
SELECT commerce.upsert_koc(:t, 'K2', 'u-k2', 'Xiao Wang', 'Chengdu') AS k2 \gset
SELECT commerce.upsert_koc_task(:t, 'T5', 'Winter coats', '2026-10-01 00:00+08', '2026-12-01 00:00+08', 500) > 0 AS task;
SELECT commerce.upsert_koc_task(:t, 'TB', 'Tee bounty', '2026-10-01 00:00+08', '2026-12-01 00:00+08', 0, 300) > 0 AS task;
SELECT commerce.publish_agreement(:t, 'KOC agreement', 'Commission: task rate plus level bonus.') AS v \gset
SELECT version FROM commerce.sign_agreement(:t, 'K1', :v, encode(sha256('Commission: task rate plus level bonus.'), 'hex'), 'Li');

-- a helper: click, order, pay and redeem in one go
CREATE FUNCTION pg_temp.sale(p_t bigint, p_req text, p_koc text, p_task text, p_buyer text, p_sku text, p_qty int)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE o commerce.order_result;
BEGIN
    PERFORM commerce.record_click(p_t, commerce.tracking_link(p_t, p_koc, p_task), p_buyer);
    o := commerce.place_order(p_t, p_req, 'h5', jsonb_build_object('lines', jsonb_build_array(
             jsonb_build_object('sku', p_sku, 'qty', p_qty))), p_buyer);
    PERFORM commerce.pay_order(p_t, o.order_id, 'pay-' || p_req, (SELECT payable_fen FROM commerce.orders
                                                                   WHERE order_id = o.order_id));
    RETURN o.order_id;
END $$;
CREATE TEMP VIEW lines AS
  SELECT k.code AS koc, l.seq, l.kind, l.source_key ~ '^(order|refund):' AS keyed, l.base_fen, l.task_rate_bp,
         l.level_code, l.level_bonus_bp, l.rate_bp, l.bounty_fen, l.amount_fen, l.new_customer,
         l.payable_at - l.occurred_at AS hold
    FROM commerce.commission_line l JOIN commerce.koc k USING (tenant_id, koc_id) ORDER BY k.code, l.seq;
CREATE TEMP VIEW accounts AS
  SELECT k.code AS koc, a.settled_seq, a.settled_fen, a.balance_fen, a.in_flight_fen, a.paid_fen, a.fee_fen
    FROM commerce.koc_account a JOIN commerce.koc k USING (tenant_id, koc_id) ORDER BY k.code;

-- redemption: 5% of 1120.50 yuan is 56.02 yuan (rounded down), payable 12 hours later
SELECT pg_temp.sale(:t, 'o1', 'K1', 'T5', 'b1', 'COAT', 1) AS o1 \gset
SELECT count(*) AS lines_before_redemption FROM commerce.commission_line;
SELECT status FROM commerce.complete_order(:t, :o1);
SELECT status FROM commerce.complete_order(:t, :o1);
SELECT * FROM lines;
-- gold: +5% on top of the task's 5%; a bounty task pays per redemption; K2 has not signed
UPDATE commerce.koc SET level_code = 'gold' WHERE tenant_id = :t AND code = 'K2';
SELECT pg_temp.sale(:t, 'o2', 'K2', 'T5', 'b2', 'COAT', 2) AS o2 \gset
SELECT pg_temp.sale(:t, 'o3', 'K1', 'TB', 'b3', 'TEE', 3) AS o3 \gset
SELECT status FROM commerce.complete_order(:t, :o2);
SELECT status FROM commerce.complete_order(:t, :o3);
-- an order that is not attributed earns nothing; an unpaid one cannot be redeemed
SELECT order_id AS o4 FROM commerce.place_order(:t, 'o4', 'h5', '{"lines":[{"sku":"TEE","qty":1}]}', 'b4') \gset
SELECT * FROM commerce.complete_order(:t, :o4);
SELECT commerce.pay_order(:t, :o4, 'pay-o4', 9900) IS NOT NULL AS paid;
SELECT status FROM commerce.complete_order(:t, :o4);
SELECT * FROM lines;

-- T+0.5: nothing is payable 11 hours later, K1's lines 12 hours later; K2 waits for a signature
SET commerce.now = '2026-10-20 21:00:00+08';
SELECT commerce.settle_commissions(100) AS looked_at;
SELECT count(*) AS batches FROM commerce.settle_batch;
SET commerce.now = '2026-10-20 22:00:00+08';
SELECT commerce.settle_commissions(100) AS looked_at;
SELECT k.code, b.from_seq, b.to_seq, b.line_count, b.amount_fen, b.status
  FROM commerce.settle_batch b JOIN commerce.koc k USING (tenant_id, koc_id) ORDER BY b.batch_id;
SELECT topic, payload - 'customer' AS payload FROM commerce.outbox WHERE topic = 'koc.payout' ORDER BY message_id;
SELECT * FROM accounts;
SELECT commerce.settle_commissions(100) AS again;
SELECT version FROM commerce.sign_agreement(:t, 'K2', :v, encode(sha256('Commission: task rate plus level bonus.'), 'hex'), 'Wang');
SELECT commerce.settle_commissions(100) AS after_signing;
SELECT k.code, b.line_count, b.amount_fen, b.status
  FROM commerce.settle_batch b JOIN commerce.koc k USING (tenant_id, koc_id) ORDER BY b.batch_id;

-- payout results: K1's batch is paid, K2's fails and the money goes to the balance
SELECT commerce.record_payout(:t, 'batch:' || min(batch_id), 'paid', 'wx-tx-1') FROM commerce.settle_batch;
SELECT commerce.record_payout(:t, 'batch:' || min(batch_id), 'paid', 'wx-tx-1') AS repeated FROM commerce.settle_batch;
SELECT commerce.record_payout(:t, 'batch:' || max(batch_id), 'failed', NULL, 'openid not bound') FROM commerce.settle_batch;
SELECT commerce.record_payout(:t, 'batch:' || max(batch_id), 'paid') FROM commerce.settle_batch;
SELECT * FROM accounts;

-- a refund after settlement: the reversal is deducted from the next batch
SELECT after_sale_id AS a1 FROM commerce.request_after_sale(:t, 'as-1', :o3, 'refund_only', 9900, 'one shirt') \gset
SELECT status FROM commerce.decide_after_sale(:t, :a1, true);
SELECT status FROM commerce.complete_refund(:t, :a1);
SELECT * FROM lines WHERE kind = 'reverse';
-- the whole rest: the bounty goes too; commission never goes below zero
SELECT after_sale_id AS a2 FROM commerce.request_after_sale(:t, 'as-2', :o3, 'refund_only', 19800, 'all') \gset
SELECT status FROM commerce.decide_after_sale(:t, :a2, true);
SELECT status FROM commerce.complete_refund(:t, :a2);
SELECT koc, seq, base_fen, bounty_fen, amount_fen FROM lines WHERE kind = 'reverse';
SELECT sum(amount_fen) AS net_of_o3 FROM commerce.commission_line WHERE order_id = :o3;
-- K1 owes the 300 fen bounty and has no balance: carried forward until a new line covers it
SELECT commerce.settle_commissions(100) AS looked_at;
SELECT koc, settled_seq, settled_fen, balance_fen FROM accounts WHERE koc = 'K1';
SELECT pg_temp.sale(:t, 'o5', 'K1', 'T5', 'b1', 'COAT', 1) AS o5 \gset
SELECT status FROM commerce.complete_order(:t, :o5);
SELECT koc, seq, new_customer, amount_fen FROM lines WHERE koc = 'K1' ORDER BY seq DESC LIMIT 1;
SET commerce.now = '2026-10-21 10:00:00+08';
SELECT commerce.settle_commissions(100) AS looked_at;
SELECT k.code, b.from_seq, b.to_seq, b.amount_fen, b.status
  FROM commerce.settle_batch b JOIN commerce.koc k USING (tenant_id, koc_id) ORDER BY b.batch_id DESC LIMIT 1;

-- withdrawals from K2's balance (22410 fen after the failed payout): minimum, fee, review
SELECT commerce.set_koc_settings(:t, p_withdraw_min_fen => 1000, p_withdraw_fee_bp => 60, p_withdraw_fee_min_fen => 10) IS NOT NULL AS set;
SELECT * FROM commerce.request_withdrawal(:t, 'w0', 'K2', 999, 'wechat', '{"openid":"o-k2"}');
SELECT * FROM commerce.request_withdrawal(:t, 'w0', 'K2', 22411, 'wechat', '{"openid":"o-k2"}');
SELECT * FROM commerce.request_withdrawal(:t, 'w0', 'K2', 5000, 'bank_card', '{"card_no":"62220000"}');
SELECT withdrawal_id AS w1 FROM commerce.request_withdrawal(:t, 'w1', 'K2', 10000, 'alipay', '{"account":"k2@example.com"}') \gset
SELECT amount_fen, fee_fen, status FROM commerce.request_withdrawal(:t, 'w1', 'K2', 10000, 'alipay', '{"account":"k2@example.com"}');
SELECT * FROM commerce.request_withdrawal(:t, 'w1', 'K2', 10001, 'alipay', '{"account":"k2@example.com"}');
SELECT * FROM accounts WHERE koc = 'K2';
SELECT commerce.record_payout(:t, 'withdrawal:' || :w1, 'paid', 'ali-1');
SELECT status FROM commerce.review_withdrawal(:t, :w1, true, 'finance-1');
SELECT payload ->> 'payout_ref' = 'withdrawal:' || :w1 AS ref, payload ->> 'amount_fen' AS amount, payload ->> 'fee_fen' AS fee
  FROM commerce.outbox WHERE topic = 'koc.payout' AND dedupe_key LIKE 'withdrawal:%';
SELECT * FROM commerce.review_withdrawal(:t, :w1, false, 'finance-1', 'changed my mind');
SELECT commerce.record_payout(:t, 'withdrawal:' || :w1, 'paid', 'ali-1');
SELECT withdrawal_id AS w2 FROM commerce.request_withdrawal(:t, 'w2', 'K2', 12410, 'wechat', '{"openid":"o-k2"}') \gset
SELECT status, reason FROM commerce.review_withdrawal(:t, :w2, false, 'finance-1', 'account under review');
SELECT withdrawal_id AS w3 FROM commerce.request_withdrawal(:t, 'w3', 'K2', 12410, 'bank_card', '{"bank":"ICBC","card_no":"6222000011112222","holder":"Wang"}') \gset
SELECT status FROM commerce.review_withdrawal(:t, :w3, true, 'finance-1');
SELECT commerce.record_payout(:t, 'withdrawal:' || :w3, 'failed', NULL, 'card closed');
SELECT * FROM accounts WHERE koc = 'K2';
-- a frozen KOC cannot withdraw (and is not settled: see the isolation and pgTAP suites)
UPDATE commerce.koc SET status = 'frozen' WHERE tenant_id = :t AND code = 'K2';
SELECT * FROM commerce.request_withdrawal(:t, 'w4', 'K2', 1204, 'wechat', '{"openid":"o-k2"}');
UPDATE commerce.koc SET status = 'active' WHERE tenant_id = :t AND code = 'K2';

-- month close: October's figures promote K1 (3 redemptions, 2 new customers)
SELECT commerce.set_level_rule(:t, 'silver', '{"all":[{"metric":"redemptions","op":">=","value":3},{"metric":"new_customers","op":">=","value":2}]}') IS NOT NULL AS silver_rule;
SELECT commerce.set_level_rule(:t, 'gold', '{"metric":"gmv_fen","op":">=","value":10000000}') IS NOT NULL AS gold_rule;
SELECT k.code, k.level_code, f.redemptions, f.new_customers, f.repurchase_rate_bp, f.gmv_fen
  FROM commerce.koc_month_figures(:t, '2026-10-01') f JOIN commerce.koc k USING (koc_id) ORDER BY k.code;
SELECT * FROM commerce.recalculate_levels(:t, '2026-11-01');
SET commerce.now = '2026-11-01 00:30:00+08';
SELECT * FROM commerce.recalculate_levels(:t, '2026-10-15');
SELECT * FROM commerce.recalculate_levels(:t, '2026-10-01');
SELECT k.code, c.month, c.from_level, c.to_level, c.direction, c.figures
  FROM commerce.koc_level_change c JOIN commerce.koc k USING (tenant_id, koc_id) ORDER BY k.code;
SELECT payload - 'figures' AS payload FROM commerce.outbox WHERE topic = 'koc.level_changed' ORDER BY message_id;
-- the new level's bonus applies at once: silver +2% on the next redemption
SELECT pg_temp.sale(:t, 'o6', 'K1', 'T5', 'b2', 'COAT', 1) AS o6 \gset
SELECT status FROM commerce.complete_order(:t, :o6);
SELECT koc, level_code, rate_bp, amount_fen FROM lines WHERE koc = 'K1' ORDER BY seq DESC LIMIT 1;
-- the job catches up on closed months only, oldest first; December 1st closes November
SELECT * FROM commerce.recalculate_due_levels(:t);
SET commerce.now = '2026-12-01 00:00:00+08';
SELECT * FROM commerce.recalculate_due_levels(:t);
SELECT k.code, c.month, c.from_level, c.to_level, c.direction FROM commerce.koc_level_change c
  JOIN commerce.koc k USING (tenant_id, koc_id) ORDER BY c.change_id;
SELECT month, koc_count, promoted, demoted FROM commerce.koc_level_run ORDER BY month;

-- ledgers are append-only
UPDATE commerce.commission_line SET amount_fen = 0;
DELETE FROM commerce.koc_ledger;
-- every invariant holds
SELECT * FROM commerce.check_koc_invariants();
SELECT * FROM accounts;

DROP VIEW accounts, lines;
SET client_min_messages = warning;
DROP SCHEMA commerce CASCADE;
