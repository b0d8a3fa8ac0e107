-- crm_insight.sql: insight (CRM07, CRM13-CRM15). RFM scores and tiers from
-- C equal an oracle written with window functions, a second run changes
-- nothing, a tier change is recorded and reaches segments; the health
-- dashboard of a day equals an oracle computed from the orders, per tenant
-- and home store; the churn model reads nothing after its cut (orders after
-- it leave the fit unchanged), its scores and model tags follow it; recall
-- sends the at-risk buyers into a recall flow once; the BG/NBD and metric
-- functions give hand-computed values; bad input is refused with its
-- SQLSTATE and changes nothing; store staff see only their stores.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(63);
\ir lib/fingerprint.psql
\ir lib/call_as.psql
\o /dev/null

SET LOCAL commerce.now = '2030-06-15 10:00:00+08';
SELECT commerce.grant_api();
SELECT commerce.create_tenant('ins', 'Insight') AS t \gset
SELECT commerce.create_tenant('ins2', 'Other') AS t2 \gset
SELECT set_config('act.t', :'t', true);
SELECT commerce.upsert_staff(:t, 'op1', 'HQ', 'operator');
SELECT commerce.upsert_store(:t, 'S1', 'Store one', 'Zhejiang', 'Hangzhou');
SELECT commerce.upsert_store(:t, 'S2', 'Store two', 'Zhejiang', 'Ningbo');
SELECT commerce.upsert_staff(:t, 'st1', 'Store', 'store', ARRAY['S1']);
SELECT commerce.upsert_staff(:t, 'op-s1', 'HQ for S1', 'operator', ARRAY['S1']);
SELECT setseed(0.7);
-- 1,500 customers registered over two years; 0 to 8 paid orders each over the last 700 days
INSERT INTO commerce.customer (tenant_id, code, created_at)
SELECT :t, 'c' || i, timestamptz '2028-06-01 09:00+08' + (i % 700) * interval '1 day' FROM generate_series(1, 1500) i;
INSERT INTO commerce.orders (tenant_id, channel_id, external_order_id, customer_id, goods_fen, payable_fen, paid_fen, status, paid_at)
SELECT c.tenant_id, ch.channel_id, 'o' || c.customer_id || '-' || k, c.customer_id, a.fen, a.fen, a.fen, 'paid', a.at
  FROM commerce.customer c
  CROSS JOIN LATERAL generate_series(1, (random() * 8 + c.customer_id * 0)::integer) k
  CROSS JOIN LATERAL (SELECT 1000 + (random() * 80000)::bigint AS fen,
                             greatest(c.created_at, commerce.now() - random() * interval '700 days') AS at WHERE k > 0) a
  JOIN commerce.channel ch ON ch.tenant_id = c.tenant_id AND ch.code = 'wechat_mp'
 WHERE c.tenant_id = :t;
SELECT commerce.set_home_store(:t, 'c' || i, CASE WHEN i % 3 = 0 THEN 'S1' ELSE 'S2' END) FROM generate_series(1, 300) i;
CREATE TEMP TABLE buyer AS
SELECT c.person_id, max((o.paid_at AT TIME ZONE 'Asia/Shanghai')::date) AS last_day, count(*) AS n, sum(o.paid_fen) AS m
  FROM commerce.orders o JOIN commerce.customer c USING (tenant_id, customer_id)
 WHERE o.tenant_id = :t AND o.paid_at IS NOT NULL GROUP BY c.person_id;
SELECT persons AS rfm_n, changed AS rfm_changed FROM commerce.crm_score_rfm(:t) \gset
\o

-- RFM (CRM14)
SELECT is(:rfm_n::bigint, (SELECT count(*) FROM buyer), 'RFM scores every buyer');
SELECT is(:rfm_changed::bigint, (SELECT count(*) FROM buyer), 'the first run writes every buyer');
SELECT is((SELECT count(*) FROM (
    SELECT b.person_id, r * 100 + f * 10 + m AS score,
           CASE WHEN r >= 4 AND f >= 4 AND m >= 4 THEN 'champion' WHEN r >= 3 AND f >= 3 THEN 'loyal'
                WHEN r >= 4 THEN 'new' WHEN r = 3 THEN 'promising' WHEN f >= 3 THEN 'at_risk'
                WHEN r = 2 THEN 'hibernating' ELSE 'lost' END AS tier
      FROM (SELECT b.person_id,
                   1 + 5 * (rank() OVER (ORDER BY date '2030-06-15' - b.last_day DESC) - 1) / count(*) OVER () AS r,
                   1 + 5 * (rank() OVER (ORDER BY b.n) - 1) / count(*) OVER () AS f,
                   1 + 5 * (rank() OVER (ORDER BY b.m) - 1) / count(*) OVER () AS m
              FROM buyer b) b
    EXCEPT SELECT f.person_id, f.rfm_score, f.rfm_tier FROM commerce.crm_feature f WHERE f.tenant_id = :t) x), 0::bigint,
    'every score and tier = the window-function oracle (1 + floor(5 x share strictly worse))');
SELECT is((SELECT count(*) FROM commerce.crm_feature f WHERE f.tenant_id = :t AND f.orders_count = 0 AND f.rfm_tier IS NOT NULL),
          0::bigint, 'non-buyers have no tier');
SELECT is((SELECT sum(value::bigint)::bigint FROM commerce.crm_rfm_run r, jsonb_each_text(r.tiers) WHERE r.tenant_id = :t),
          (SELECT count(*) FROM buyer), 'the run records buyers per tier, adding up');
SELECT is((SELECT changed FROM commerce.crm_score_rfm(:t)), 0::bigint, 'a second run the same day changes nothing');
SELECT is((SELECT count(*) FROM commerce.crm_rfm_change WHERE tenant_id = :t AND from_tier IS NULL), (SELECT count(*) FROM buyer),
          'the history has each buyer''s first tier');
\o /dev/null
-- a lost buyer orders five times today: its recency and frequency jump
SELECT f.person_id AS lost FROM commerce.crm_feature f WHERE f.tenant_id = :t AND f.rfm_tier = 'lost' ORDER BY f.person_id LIMIT 1 \gset
INSERT INTO commerce.orders (tenant_id, channel_id, external_order_id, customer_id, goods_fen, payable_fen, paid_fen, status, paid_at)
SELECT :t, ch.channel_id, 'win-' || k, c.customer_id, 900000, 900000, 900000, 'paid', commerce.now() - interval '1 hour'
  FROM commerce.customer c, commerce.channel ch, generate_series(1, 5) k
 WHERE c.tenant_id = :t AND c.person_id = :lost AND ch.tenant_id = :t AND ch.code = 'wechat_mp';
DELETE FROM commerce.crm_dirty;
SELECT commerce.crm_score_rfm(:t);
\o
SELECT is((SELECT from_tier || ' -> ' || to_tier FROM commerce.crm_rfm_change WHERE tenant_id = :t AND person_id = :lost
            ORDER BY change_id DESC LIMIT 1), 'lost -> champion', 'a tier change is recorded with where it came from');
SELECT ok(EXISTS (SELECT 1 FROM commerce.crm_dirty WHERE tenant_id = :t AND person_id = :lost),
          'a tier change queues the person for the CRM pump');
\o /dev/null
SELECT commerce.define_segment(:t, 'champions', 'Champions', '{"field":"rfm_tier","op":"=","value":"champion"}');
\o
SELECT is((SELECT count(*) FROM commerce.segment_member m JOIN commerce.segment g USING (tenant_id, segment_id)
            WHERE g.tenant_id = :t AND g.code = 'champions'),
          (SELECT count(*) FROM commerce.crm_feature WHERE tenant_id = :t AND rfm_tier = 'champion'), 'a segment reads the tiers');

-- the health dashboard (CRM13)
SELECT is(commerce.crm_health_snapshot(:t, '2030-06-14'), 3, 'a snapshot writes the tenant and its two home stores');
SELECT is((SELECT members || ' ' || buyers || ' ' || active || ' ' || dormant || ' ' || churned || ' ' || repeat_buyers
             FROM commerce.crm_health_day WHERE tenant_id = :t AND store_id = 0 AND day = '2030-06-14'),
          (SELECT (SELECT count(*) FROM commerce.customer WHERE tenant_id = :t AND (created_at AT TIME ZONE 'Asia/Shanghai')::date <= '2030-06-14')
                  || ' ' || count(*) || ' ' || count(*) FILTER (WHERE x.last_day > date '2030-06-14' - 90)
                  || ' ' || count(*) FILTER (WHERE x.last_day <= date '2030-06-14' - 90 AND x.last_day > date '2030-06-14' - 180)
                  || ' ' || count(*) FILTER (WHERE x.last_day <= date '2030-06-14' - 180) || ' ' || count(*) FILTER (WHERE x.n >= 2)
             FROM (SELECT c.person_id, max((o.paid_at AT TIME ZONE 'Asia/Shanghai')::date) AS last_day, count(*) AS n
                     FROM commerce.orders o JOIN commerce.customer c USING (tenant_id, customer_id)
                    WHERE o.tenant_id = :t AND (o.paid_at AT TIME ZONE 'Asia/Shanghai')::date <= '2030-06-14'
                    GROUP BY c.person_id) x),
          'members, buyers, active, dormant, churned, repeat buyers = the oracle from the orders');
SELECT is((SELECT orders FROM commerce.crm_health_day WHERE tenant_id = :t AND store_id = 0 AND day = '2030-06-14'),
          (SELECT count(*) FROM commerce.orders WHERE tenant_id = :t AND (paid_at AT TIME ZONE 'Asia/Shanghai')::date = '2030-06-14'),
          'the day''s paid orders');
SELECT is((SELECT churn_rate_bp = churned * 10000 / buyers AND repurchase_rate_bp = repeat_buyers * 10000 / buyers
             FROM commerce.crm_health_day WHERE tenant_id = :t AND store_id = 0 AND day = '2030-06-14'), true, 'the rates in bp');
SELECT is((SELECT members FROM commerce.crm_health_day h JOIN commerce.store s USING (tenant_id, store_id)
            WHERE h.tenant_id = :t AND s.code = 'S1' AND h.day = '2030-06-14'), 100::bigint, 'a home store counts its persons');
SELECT is(commerce.crm_health_backfill(:t, '2030-06-10', '2030-06-14'), 15, 'a backfill writes every day');
SELECT is((SELECT count(*) FROM commerce.crm_health(:t, NULL, '2030-06-10', '2030-06-15')), 6::bigint,
          'the trend: five stored days and today as it stands');
SELECT is((SELECT count(*) FROM commerce.crm_health(:t, 'S1', '2030-06-10', '2030-06-15')), 6::bigint, 'a store''s trend');
SELECT is(pg_temp.call_as('store', 'st1', $$SELECT count(*) FROM commerce_api.crm_health('2030-06-10', '2030-06-15')$$), 'ok',
          'store staff see their own store''s dashboard');
SELECT matches(pg_temp.call_as('store', 'st1', $$SELECT count(*) FROM commerce_api.crm_health('2030-06-10', '2030-06-15', 'S2')$$),
               '^42501: staff limited to stores see only their own', 'but not another store''s');
SELECT matches(pg_temp.call_as('operator', 'op-s1', $$SELECT count(*) FROM commerce_api.crm_health('2030-06-10', '2030-06-15', 'S2')$$),
               '^42501: staff limited to stores see only their own', 'HQ staff limited to a store do not see another store''s');
SELECT matches(pg_temp.call_as('customer', 'c1', $$SELECT count(*) FROM commerce_api.crm_health('2030-06-10', '2030-06-15')$$),
               '^42501:', 'customers see no dashboard');
SELECT is(pg_temp.call_as('store', 'st1', $$SELECT commerce_api.set_home_store('c2', 'S1')$$), '42501: store staff home customers in their own stores only',
          'store staff cannot take another store''s customer');
SELECT is(pg_temp.call_as('store', 'st1', $$SELECT commerce_api.set_home_store('c1000', 'S1')$$), 'ok',
          'store staff home a customer nobody has');

-- bad input changes nothing
SELECT pg_temp.fingerprint() AS fp \gset
SELECT throws_ok(format($f$SELECT commerce.crm_health_snapshot(%1$s, '2030-06-15')$f$, :t, :t2), '22023', NULL, 'today cannot be snapshotted: it has not ended');
SELECT throws_ok(format($f$SELECT commerce.crm_health_backfill(%1$s, '2028-01-01', '2030-06-14')$f$, :t, :t2), '22023', NULL, 'a backfill of more than 367 days is refused');
SELECT throws_ok(format($f$SELECT * FROM commerce.crm_health(%1$s, 'S9', '2030-06-10', '2030-06-15')$f$, :t, :t2), 'PT404', NULL, 'an unknown store');
SELECT throws_ok(format($f$SELECT commerce.set_crm_policy(%1$s, 90, 60)$f$, :t, :t2), '22023', NULL, 'churned after fewer days than active is refused');
SELECT throws_ok(format($f$SELECT commerce.set_crm_policy(%1$s, 90, 180, 400)$f$, :t, :t2), '22023', NULL, 'a horizon over a year is refused');
SELECT throws_ok(format($f$SELECT commerce.set_home_store(%1$s, 'c1', 'S9')$f$, :t, :t2), 'PT404', NULL, 'homing in an unknown store');
SELECT throws_ok(format($f$SELECT commerce.crm_score_churn(%1$s)$f$, :t, :t2), 'PT404', NULL, 'scoring before a model is trained');
SELECT throws_ok(format($f$SELECT commerce.crm_train_churn(%2$s)$f$, :t, :t2), 'PT409', NULL, 'a tenant without history cannot train a model');
SELECT throws_ok($$SELECT commerce._bgnbd_fit(ARRAY[1, 2], ARRAY[1.0, 2.0], ARRAY[3.0], ARRAY[1.0, 1.0])$$, '22023', NULL,
                 'a fit of arrays of different lengths');
SELECT throws_ok($$SELECT commerce._bgnbd_fit(ARRAY[1, 2], ARRAY[5.0, 2.0], ARRAY[3.0, 3.0], ARRAY[1.0, 1.0])$$, '22023', NULL,
                 'a last purchase after the end of observation');
SELECT throws_ok($$SELECT commerce._binary_metrics(ARRAY[1.5, 0.2], ARRAY[true, false])$$, '22023', NULL, 'a score above 1');
SELECT throws_ok($$SELECT commerce._bgnbd_p_zero(ARRAY[1, 0, 1, 1]::float8[], 1, 1, 2, 1)$$, '22023', NULL, 'a model with alpha 0');
SELECT is(pg_temp.fingerprint(), :'fp', 'bad input changed nothing');

-- BG/NBD and the metrics by hand
SELECT is(round(commerce._bgnbd_p_zero(ARRAY[1, 1, 1, 1]::float8[], 0, 0, 1, 1)::numeric, 6), 0.666667,
          'x = 0: alive, no purchase with probability (2/3)^1');
SELECT is(round(commerce._bgnbd_p_zero(ARRAY[1, 1, 1, 1]::float8[], 1, 1, 2, 1)::numeric, 6), 0.865385,
          'x = 1: P(alive) 1/(1 + 2.25), then (3/4)^2');
SELECT is(commerce._binary_metrics(ARRAY[0.9, 0.8, 0.3, 0.1], ARRAY[true, false, true, false]) ->> 'auc', '0.750000',
          'AUC: three of four pairs ordered right');

-- the churn model (CRM15) and its tags (CRM07): a strict time split
\o /dev/null
SELECT commerce.crm_train_churn(:t, 'test') AS m1 \gset
-- orders after the cut (yesterday) for 100 buyers: the labels change, the fit cannot
INSERT INTO commerce.orders (tenant_id, channel_id, external_order_id, customer_id, goods_fen, payable_fen, paid_fen, status, paid_at)
SELECT :t, ch.channel_id, 'late-' || c.customer_id, c.customer_id, 5000, 5000, 5000, 'paid', commerce.now() - interval '1 day'
  FROM commerce.customer c, commerce.channel ch
 WHERE c.tenant_id = :t AND ch.tenant_id = :t AND ch.code = 'wechat_mp' AND c.customer_id IN (SELECT customer_id FROM commerce.customer WHERE tenant_id = :t ORDER BY customer_id LIMIT 100);
SELECT commerce.crm_train_churn(:t, 'test') AS m2 \gset
\o
SELECT is((SELECT params FROM commerce.crm_model WHERE model_id = :m2), (SELECT params FROM commerce.crm_model WHERE model_id = :m1),
          'orders after the cut leave the fit exactly as it was');
SELECT isnt((SELECT metrics FROM commerce.crm_model WHERE model_id = :m2), (SELECT metrics FROM commerce.crm_model WHERE model_id = :m1),
            'but they are the holdout''s outcomes');
SELECT is((SELECT trained_until || ' ' || evaluated_to || ' ' || (metrics ->> 'n') FROM commerce.crm_model WHERE model_id = :m1),
          '2030-03-17 2030-06-15 ' || (SELECT count(*) FROM buyer WHERE person_id IN (
              SELECT c.person_id FROM commerce.orders o JOIN commerce.customer c USING (tenant_id, customer_id)
               WHERE o.tenant_id = :t AND (o.paid_at AT TIME ZONE 'Asia/Shanghai')::date < '2030-03-17')),
          'fitted before today less 90 days, judged on the buyers seen by then');
SELECT ok((SELECT metrics ?& ARRAY['auc', 'top_decile_lift', 'calibration_error', 'accuracy', 'accuracy_of_base_rate', 'base_rate']
             FROM commerce.crm_model WHERE model_id = :m1), 'holdout metrics: AUC, lift, calibration, accuracy beside the base rate');
\o /dev/null
SELECT * FROM commerce.crm_score_churn(:t);
-- the tag threshold at the median risk, and score again
SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY churn_risk_bp) AS med FROM commerce.crm_feature WHERE tenant_id = :t \gset
SELECT commerce.set_crm_policy(:t, 90, 180, 90, :med);
SELECT * FROM commerce.crm_score_churn(:t);
\o
SELECT is((SELECT count(*) FROM commerce.crm_feature f WHERE f.tenant_id = :t AND f.churn_risk_bp IS NOT NULL AND f.churn_model_id = :m2),
          (SELECT count(DISTINCT person_id) FROM commerce.crm_day WHERE tenant_id = :t AND day < '2030-06-15'),
          'every buyer with a paid day before today is scored by the latest model');
SELECT is((SELECT count(*) FROM commerce.crm_feature f, commerce.crm_model m,
                  LATERAL (SELECT count(*) - 1 AS x, max(d.day) - min(d.day) AS tx, date '2030-06-15' - min(d.day) AS t
                             FROM commerce.crm_day d WHERE d.tenant_id = :t AND d.person_id = f.person_id AND d.day < '2030-06-15') h
            WHERE f.tenant_id = :t AND m.model_id = :m2 AND f.churn_risk_bp IS NOT NULL
              AND f.churn_risk_bp <> round(10000 * commerce._bgnbd_p_zero(m.params, h.x::int, h.tx, h.t, 90))), 0::bigint,
          'each score is the model''s probability of no order in 90 days, in bp');
SELECT is((SELECT count(*) FROM commerce.person_tag pt JOIN commerce.tag g USING (tenant_id, tag_id)
            WHERE pt.tenant_id = :t AND g.code = 'likely_to_churn'),
          (SELECT count(*) FROM commerce.crm_feature WHERE tenant_id = :t AND churn_risk_bp >= :med), 'likely_to_churn: at or above the tenant''s threshold (the median)');
SELECT is((SELECT DISTINCT by_whom FROM commerce.tag_change tc JOIN commerce.tag g USING (tenant_id, tag_id)
            WHERE tc.tenant_id = :t AND g.code = 'likely_to_churn'),
          'model:' || (SELECT version FROM commerce.crm_model WHERE model_id = :m2), 'model tags carry the model version');
SELECT set_eq(format($f$SELECT pt.person_id FROM commerce.person_tag pt JOIN commerce.tag g USING (tenant_id, tag_id)
                        WHERE pt.tenant_id = %s AND g.code = 'high_spender'$f$, :t),
              format($f$SELECT f.person_id FROM commerce.crm_feature f WHERE f.tenant_id = %1$s AND f.churn_risk_bp < %2$s
                         ORDER BY f.spent_fen DESC, f.person_id
                         LIMIT (SELECT ceil(count(*) / 10.0) FROM commerce.crm_feature WHERE tenant_id = %1$s AND churn_risk_bp IS NOT NULL)$f$, :t, :med),
              'high_spender: the top tenth of buyers by net spending, among those below the churn threshold');
SELECT throws_ok(format($f$SELECT commerce.set_person_tag(%1$s, 'c1', 'likely_to_churn', true, 'staff:x')$f$, :t, :t2), 'PT409', NULL,
                 'a model tag cannot be set by hand');

-- one-click recall (CRM15)
\o /dev/null
SELECT commerce.define_flow(:t, 'winback', 'Win back', '{"trigger":{"on":"recall"},"steps":[{"id":"c","action":{"message":{"channel":"sms","template":"winback"}}}]}');
SELECT commerce.define_flow(:t, 'hello', 'Hello', '{"trigger":{"on":"registered"},"steps":[{"id":"c","action":{"message":{"channel":"sms","template":"hi"}}}]}');
SELECT * FROM commerce.crm_recall(:t, 'winback', 8000, 'test') \gset r_
\o
SELECT is(:r_persons::bigint, (SELECT count(*) FROM commerce.crm_feature WHERE tenant_id = :t AND churn_risk_bp >= 8000),
          'recall sends every buyer at or above the risk asked for');
SELECT is((SELECT count(*) FROM commerce.flow_trigger WHERE tenant_id = :t AND kind = 'recall' AND ref = 'winback'), :r_persons::bigint,
          'one trigger per person, naming the flow');
\o /dev/null
SELECT commerce.flow_intake(100000);
\o
SELECT is((SELECT count(*) FROM commerce.flow_run r JOIN commerce.flow f USING (tenant_id, flow_id)
            WHERE r.tenant_id = :t AND f.code = 'winback'), :r_persons::bigint, 'each starts one run of the recall flow');
SELECT throws_ok(format($f$SELECT commerce.crm_recall(%1$s, 'hello')$f$, :t, :t2), 'PT409', NULL, 'a flow that does not take recalls');
SELECT throws_ok(format($f$SELECT commerce.crm_recall(%1$s, 'nope')$f$, :t, :t2), 'PT404', NULL, 'an unknown flow');
SELECT is(pg_temp.call_as('operator', 'op1', $$SELECT commerce_api.recall('winback', 9999)$$), 'ok', 'HQ recalls through the API');
SELECT matches(pg_temp.call_as('store', 'st1', $$SELECT commerce_api.recall('winback')$$), '^42501:', 'store staff do not');

-- the sync: bad input changes nothing; another tenant's service cannot reach a system
\o /dev/null
SELECT commerce.upsert_sync_system(:t, 'wl', 'WeLink', '{"person": {"name": "FullName"}}');
SELECT commerce.upsert_staff(:t2, 'op2', 'HQ 2', 'operator');
\o
SELECT pg_temp.fingerprint() AS fp2 \gset
SELECT throws_ok(format($f$SELECT commerce.upsert_sync_system(%s, 'wl', 'WeLink', '{"person": {"nmae": "FullName"}}')$f$, :t),
                 '22023', NULL, 'a field map naming an unknown field');
SELECT throws_ok(format($f$SELECT commerce.sync_inbound(%s, 'wl', 'R1', '{"FullName": {"value": "A", "version": "x"}}')$f$, :t),
                 '22023', NULL, 'an inbound field without a whole version');
SELECT throws_ok(format($f$SELECT commerce.sync_retry(%s, 'wl', 'person', 0)$f$, :t), 'PT404', NULL, 'a retry of an object never sent');
SELECT is(pg_temp.fingerprint(), :'fp2', 'bad sync input changed nothing');
SELECT matches(pg_temp.call_as('service', 'adapter', $$SELECT commerce_api.sync_inbound('wl', 'R1', '{}')$$, :t2), '^PT404:',
               'another tenant''s service does not find the system');
SELECT matches(pg_temp.call_as('operator', 'op2', $$SELECT * FROM commerce_api.sync_monitor('wl')$$, :t2), '^PT404:',
               'nor does another tenant''s HQ');

SELECT * FROM finish();
ROLLBACK;
