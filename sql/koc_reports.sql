-- KOC reports and risk control: stats in the PRD's shape (K13), task
-- progress and analysis (K11, K21), the leaderboard by region and nationally
-- (K18), the overview with its daily trend (K19), the KOC list and its CSV
-- export (K20), and the risk rules, freeze, review and audit (K22).
CREATE EXTENSION commerce;
CALL commerce.provision();
\set SHOW_CONTEXT never
SET timezone = 'Asia/Shanghai';
SET commerce.now = '2026-11-02 09:00:00+08';
SELECT commerce.create_tenant('brand', 'A brand') AS t \gset
SELECT commerce.set_koc_settings(:t, p_koc_rate_bp => 300) IS NOT NULL AS base_rate_3_percent;
SELECT commerce.upsert_product(:t, 'P', 'Goods') > 0 AS product;
SELECT commerce.upsert_sku(:t, 'P', 'COAT', 'Down coat', 112050) > 0 AS sku;
SELECT commerce.receive_stock(:t, 'r1', 'COAT', 500) > 0 AS received;
SELECT count(*) AS customers FROM (SELECT commerce.upsert_customer(:t, c) FROM unnest(ARRAY['u-k1', 'u-k2', 'u-k3', 'b1', 'b2', 'b3', 'b4']) c) x;
SELECT commerce.upsert_koc(:t, 'K1', 'u-k1', 'Xiao Li', 'Hangzhou') > 0 AND commerce.upsert_koc(:t, 'K2', 'u-k2', 'Xiao Wang', 'Chengdu') > 0
   AND commerce.upsert_koc(:t, 'K3', 'u-k3', 'Xiao Zhao, "Z"', 'Hangzhou') > 0 AS kocs;
SELECT commerce.upsert_koc_task(:t, 'T5', 'Winter coats', '2026-11-01 00:00+08', '2026-12-01 00:00+08', 500, p_goal => 2) AS task_id \gset
SELECT commerce.upsert_koc_task(:t, 'TB', 'Bounty', '2026-11-01 00:00+08', '2026-12-01 00:00+08', 0, 1000) > 0 AS task;
CREATE FUNCTION pg_temp.sale(p_t bigint, p_req text, p_code text, p_buyer text, p_redeem boolean DEFAULT true)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE o commerce.order_result;
BEGIN
    PERFORM commerce.record_click(p_t, p_code, p_buyer, ('10.0.0.' || length(p_req))::inet);
    o := commerce.place_order(p_t, p_req, 'h5', '{"lines":[{"sku":"COAT","qty":1}]}', p_buyer);
    PERFORM commerce.pay_order(p_t, o.order_id, 'pay-' || p_req, 112050);
    IF p_redeem THEN
        PERFORM commerce.complete_order(p_t, o.order_id);
    END IF;
    RETURN o.order_id;
END $$;
SELECT commerce.tracking_link(:t, 'K1', 'T5', 'wechat_mp') AS k1_wx, commerce.tracking_link(:t, 'K1', 'T5', 'h5') AS k1_h5,
       commerce.tracking_link(:t, 'K2', 'TB', 'wechat_mp') AS k2_wx, commerce.tracking_link(:t, 'K3') AS k3 \gset
SELECT pg_temp.sale(:t, 'o1', :'k1_wx', 'b1') > 0 AND pg_temp.sale(:t, 'o22', :'k1_h5', 'b2') > 0
   AND pg_temp.sale(:t, 'o333', :'k1_wx', 'b3', false) > 0 AS k1_sales;
SELECT commerce.record_click(:t, :'k1_wx', 'b9') IS NOT NULL AS extra_click;
SET commerce.now = '2026-11-03 10:00:00+08';
SELECT pg_temp.sale(:t, 'o4', :'k2_wx', 'b4') > 0 AND pg_temp.sale(:t, 'o5', :'k3', 'b1') > 0 AS more_sales;

-- K13: the PRD's shape, amounts in yuan with two decimals (and in fen)
SELECT jsonb_pretty(commerce.koc_stats(:t, 'K1', '2026-11-01', '2026-11-07'));
SELECT commerce.koc_stats(:t, 'K1', '2026-11-03', '2026-11-03') - 'kocId' AS k1_on_the_3rd;
SET commerce.tenant_id = :t;
SELECT commerce_api.koc_stats(k.koc_id, '2026-11-01', '2026-11-07') ->> 'commission' AS api_commission
  FROM commerce.koc k WHERE code = 'K1';
SELECT commerce_api.koc_stats(999999, '2026-11-01', '2026-11-07');
RESET commerce.tenant_id;
SELECT commerce.koc_stats(:t, 'K1', '2026-11-07', '2026-11-01');
SELECT commerce.koc_stats(:t, 'K9', '2026-11-01', '2026-11-07');

-- K11 and K21: progress on a task, and every task's effect (ROI in bp)
SELECT * FROM commerce.koc_task_progress(:t, 'K1', 'T5');
SELECT task, kocs, kocs_at_goal, completion_rate_bp, clicks, redemptions, gmv_fen, cost_fen, roi_bp
  FROM commerce.koc_task_analysis(:t);

-- K18: nationally and in Hangzhou; ties share a rank
SELECT * FROM commerce.koc_rank(:t, '2026-11-01', '2026-11-30');
SELECT rank, koc, redemptions FROM commerce.koc_rank(:t, '2026-11-01', '2026-11-30', 'Hangzhou', 'redemptions');
SELECT * FROM commerce.koc_rank(:t, '2026-11-01', '2026-11-30', NULL, 'likes');

-- K19 and K20
SELECT jsonb_pretty(commerce.koc_overview(:t, '2026-11-01', '2026-11-04'));
SELECT koc, level, status, clicks, redemptions, gmv_fen, commission_fen FROM commerce.koc_list(:t, '2026-11-01', '2026-11-30', p_region => 'Hangzhou');
SELECT commerce.koc_list_csv(:t, '2026-11-01', '2026-11-30');

-- K22: a click burst from one IP freezes K2; the commission is held; the flag is cleared
SET commerce.now = '2026-11-03 10:05:00+08';
UPDATE commerce.tenant SET risk_burst_clicks = 5 WHERE tenant_id = :t;
SELECT count(*) AS burst_clicks FROM generate_series(1, 5) i, commerce.record_click(:t, :'k2_wx', 'bot-' || i, '6.6.6.6');
SELECT koc, rule FROM commerce.run_risk_rules(:t);
SELECT * FROM commerce.run_risk_rules(:t);
SELECT code, status FROM commerce.koc WHERE tenant_id = :t ORDER BY code;
SELECT rule, evidence, status FROM commerce.koc_risk_flag;
SELECT * FROM commerce.set_koc_status(:t, 'K2', 'active', 'ops', 'looks fine');
SELECT * FROM commerce.request_withdrawal(:t, 'w1', 'K2', 100, 'wechat', '{"openid":"o"}');
SELECT commerce.publish_agreement(:t, 'A', 'text') AS v \gset
SELECT count(*) AS signed FROM (SELECT commerce.sign_agreement(:t, c, :v, encode(sha256('text'), 'hex'), c) FROM unnest(ARRAY['K1', 'K2', 'K3']) c) x;
SET commerce.now = '2026-11-04 00:00:00+08';
SELECT commerce.settle_commissions(100) AS looked_at;
SELECT k.code, b.amount_fen, b.status FROM commerce.settle_batch b JOIN commerce.koc k USING (tenant_id, koc_id) ORDER BY k.code;
SELECT status FROM commerce.review_risk_flag(:t, (SELECT flag_id FROM commerce.koc_risk_flag), false, 'risk-team', 'a campus event, real people');
SELECT code, status FROM commerce.koc WHERE code = 'K2';
SELECT commerce.settle_commissions(100) AS looked_at;
SELECT k.code, b.amount_fen, b.status FROM commerce.settle_batch b JOIN commerce.koc k USING (tenant_id, koc_id) ORDER BY k.code;
SELECT * FROM commerce.review_risk_flag(:t, (SELECT flag_id FROM commerce.koc_risk_flag), true, 'risk-team', 'changed mind');

-- a self-referral ring: K1 and K3 buy through each other's links; confirmed, K3's unsettled commission is voided
SELECT pg_temp.sale(:t, 'o6', :'k3', 'u-k1') > 0 AND pg_temp.sale(:t, 'o7', :'k1_wx', 'u-k3') > 0 AS ring_sales;
SELECT koc, rule FROM commerce.run_risk_rules(:t) ORDER BY koc;
SELECT flag_id AS f3 FROM commerce.koc_risk_flag WHERE koc_id = (SELECT koc_id FROM commerce.koc WHERE code = 'K3') AND status = 'open' \gset
SELECT status FROM commerce.review_risk_flag(:t, :f3, true, 'risk-team', 'ring with K1');
SELECT code, status FROM commerce.koc WHERE tenant_id = :t ORDER BY code;
SELECT k.code, l.seq, l.kind, l.amount_fen, l.rule FROM commerce.commission_line l JOIN commerce.koc k USING (tenant_id, koc_id)
 WHERE k.code = 'K3' ORDER BY l.seq;
-- a refund of a voided order takes nothing back twice
SELECT after_sale_id AS a6 FROM commerce.request_after_sale(:t, 'as-6', (SELECT order_id FROM commerce.orders WHERE external_order_id = 'o6'), 'refund_only', 112050) \gset
SELECT status FROM commerce.complete_refund(:t, (SELECT after_sale_id FROM commerce.decide_after_sale(:t, :a6, true)));
SELECT count(*) AS k3_lines, sum(amount_fen) AS k3_net FROM commerce.commission_line
 WHERE koc_id = (SELECT koc_id FROM commerce.koc WHERE code = 'K3');
-- K1's ring flag is cleared; the same 7-day evidence is not raised again, and suspended K3 is skipped
SELECT status FROM commerce.review_risk_flag(:t, (SELECT flag_id FROM commerce.koc_risk_flag WHERE status = 'open'), false, 'risk-team', 'K1 did not know');
SELECT * FROM commerce.run_risk_rules(:t);
SELECT code, status FROM commerce.koc WHERE tenant_id = :t ORDER BY code;
SELECT k.code, a.action, a.actor, a.reason FROM commerce.koc_audit a JOIN commerce.koc k USING (tenant_id, koc_id) ORDER BY a.audit_id;
SELECT topic, count(*) FROM commerce.outbox WHERE topic LIKE 'koc.risk%' GROUP BY topic ORDER BY topic;
SELECT * FROM commerce.check_koc_invariants();

SET client_min_messages = warning;
DROP SCHEMA commerce CASCADE;
