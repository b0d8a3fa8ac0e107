-- KOC potential and recruitment (K01, K02): members share and their shares
-- draw clicks; a model is fitted on a strict time split, the month's list is
-- published with its control part; a campaign sends notices through a CRM flow
-- (opt-outs and missing addresses are reasons, not sends), the messages carry
-- the benefits, guide and signed link, receipts come back, an application is
-- attributed to its notice, and the report gives delivered / sent per channel
-- and the lift against the control; notices the flow never started are swept.
CREATE EXTENSION commerce;
CALL commerce.provision();
\set SHOW_CONTEXT never
SET timezone = 'Asia/Shanghai';
SET client_min_messages = warning;
CREATE FUNCTION pg_temp.pump() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce.flow_intake(1000);
    PERFORM commerce.flow_advance(1000);
END $$;
SET commerce.now = '2030-01-05 10:00:00+08';
SELECT commerce.create_tenant('kp', 'Potential test') AS t \gset
-- 300 members; every tenth is a promoter; those not a multiple of 3 have a phone
SELECT count(commerce.upsert_customer(:t, format('m%s', lpad(i::text, 3, '0')), 'Member',
                                      CASE WHEN i % 3 <> 0 THEN (13900000000 + i)::text END)) AS members
  FROM generate_series(1, 300) i;
-- m005 is a KOC already: never scored, never listed
SELECT commerce.upsert_koc(:t, 'K5', 'm005', 'Five') > 0 AS koc;

-- shares before the cut (2030-03-17): promoters share three times, others now and then
SET commerce.now = '2030-02-01 12:00:00+08';
SELECT commerce.record_share(:t, 'm010', 'product', 'P1', 'wechat', 'sh-demo') - 'code' - 'shared_at' AS share;
SELECT commerce.record_share(:t, 'm010', 'product', 'P1', 'wechat', 'sh-demo') ->> 'outcome' AS again;
SELECT count(commerce.record_share(:t, format('m%s', lpad(i::text, 3, '0')), CASE WHEN k = 3 THEN 'review' ELSE 'product' END, 'P1',
                                   'moments', format('sh-%s-%s', i, k))) AS shares
  FROM generate_series(1, 300) i, generate_series(1, 3) k
 WHERE (i % 10 = 0) OR (i % 7 = 0 AND k = 1);
-- promoters' shares draw four visitors each; the sharer's own click and a repeat do not count
SELECT commerce.record_share_click(:t, commerce.share_code(:t, s.share_id), 'visitor-' || v) ->> 'counted' AS counted, count(*)
  FROM commerce.share s CROSS JOIN generate_series(1, 4) v
 WHERE s.tenant_id = :t AND s.customer_id IN (SELECT customer_id FROM commerce.customer WHERE code ~ '0$')
 GROUP BY 1;
SELECT x ->> 'counted' AS counted, x ->> 'first' AS first
  FROM commerce.record_share_click(:t, (SELECT commerce.share_code(:t, share_id) FROM commerce.share WHERE request_id = 'sh-demo'), 'visitor-1') x;
SELECT x ->> 'counted' AS self_click
  FROM commerce.record_share_click(:t, (SELECT commerce.share_code(:t, share_id) FROM commerce.share WHERE request_id = 'sh-demo'), 'm010') x;
-- customers brought before the cut: promoters' fission invitees who paid
SELECT commerce.create_fission_campaign(:t, 'friends', 'invite_reward', 'Bring a friend', 'register', p_starts_at => '2030-01-01',
                                        p_ends_at => '2030-12-31', p_stages => '[{"threshold": 1, "reward": {"points": 10}}]') > 0 AS campaign;
SELECT count(commerce.fission_code(:t, 'friends', c.person_id)) AS participants
  FROM commerce.customer c WHERE c.tenant_id = :t AND c.code ~ '^m';
SELECT count(commerce.upsert_customer(:t, format('f%s', i))) AS friends FROM generate_series(1, 60) i;
INSERT INTO commerce.fission_invite (tenant_id, campaign_id, invitee_id, inviter_id, depth, channel, source_ref, status, invited_at)
SELECT :t, (SELECT campaign_id FROM commerce.fission_campaign WHERE code = 'friends'), f.person_id, m.person_id, 1, 'link', 'x', 'valid',
       '2030-02-02 12:00+08'
  FROM generate_series(1, 60) i
  JOIN commerce.customer f ON f.tenant_id = :t AND f.code = format('f%s', i)
  JOIN commerce.customer m ON m.tenant_id = :t AND m.code = format('m%s', lpad((10 * ((i - 1) % 30 + 1))::text, 3, '0'));
INSERT INTO commerce.crm_day (tenant_id, person_id, day, orders, spent_fen)
SELECT :t, c.person_id, '2030-02-03', 1, 9900 FROM commerce.customer c WHERE c.tenant_id = :t AND c.code ~ '^f';

-- the horizon: promoters bring newcomers (but m030, m060, ... do not), and so do m037, m074, ...
SET commerce.now = '2030-04-10 12:00:00+08';
SELECT count(commerce.upsert_customer(:t, format('n%s', i))) AS newcomers FROM generate_series(1, 300) i
 WHERE (i % 10 = 0 AND i % 30 <> 0) OR (i % 37 = 0);
INSERT INTO commerce.fission_invite (tenant_id, campaign_id, invitee_id, inviter_id, depth, channel, source_ref, status, invited_at)
SELECT :t, (SELECT campaign_id FROM commerce.fission_campaign WHERE code = 'friends'), n.person_id, m.person_id, 1, 'link', 'x', 'valid',
       '2030-04-10 12:00+08'
  FROM generate_series(1, 300) i
  JOIN commerce.customer n ON n.tenant_id = :t AND n.code = format('n%s', i)
  JOIN commerce.customer m ON m.tenant_id = :t AND m.code = format('m%s', lpad(i::text, 3, '0'));
INSERT INTO commerce.crm_day (tenant_id, person_id, day, orders, spent_fen)
SELECT :t, c.person_id, '2030-04-11', 1, 9900 FROM commerce.customer c WHERE c.tenant_id = :t AND c.code ~ '^n';

-- the model: features from before 2030-03-17, the outcome from then to today
SET commerce.now = '2030-06-15 10:00:00+08';
SELECT f.figures FROM commerce._potential_features(:t, '2030-03-17') f
  JOIN commerce.customer c ON c.tenant_id = :t AND c.person_id = f.person_id WHERE c.code IN ('m010', 'm007', 'm001') ORDER BY c.code;
SELECT count(*) AS scored, count(*) FILTER (WHERE c.code = 'm005') AS the_koc
  FROM commerce._potential_features(:t, '2030-03-17') f JOIN commerce.customer c ON c.tenant_id = :t AND c.person_id = f.person_id;
SELECT count(*) AS brought_in_horizon FROM commerce._potential_brought(:t, '2030-03-17', '2030-06-15');
SELECT commerce.train_potential(:t, 'op1') AS model \gset
SELECT version ~ '^koc-potential-20300615-' AS version, features, trained_until, evaluated_to, persons, train_persons,
       metrics ->> 'positives' AS judged_positives, round((metrics ->> 'auc')::numeric, 2) AS auc,
       round((metrics ->> 'top_5pct_lift')::numeric, 1) AS top5_lift
  FROM commerce.potential_model WHERE model_id = :model;
-- the month's list: 5% of the members, ranked, 10% of it held out
SELECT commerce.publish_candidates(:t, 'op1') AS run \gset
SELECT month, status, persons, listed, control, holdout_bp, due_at, published_at FROM commerce.potential_run WHERE run_id = :run;
SELECT x ->> 'on_time' AS on_time, x #>> '{model,version}' ~ '^koc-potential' AS model,
       jsonb_path_query_array(x, '$.candidates[*].customer') AS top, jsonb_path_query_array(x, '$.candidates[*].control') AS control
  FROM commerce.potential_candidates(:t, NULL, 20) x;
SELECT count(*) AS tagged FROM commerce.person_tag pt JOIN commerce.tag g USING (tenant_id, tag_id) WHERE g.code = 'koc_potential';
SELECT commerce.publish_candidates(:t, 'op1');

-- recruitment: a flow taking one-click sends with an SMS step; m020 opted out
SELECT commerce.define_flow(:t, 'recruit', 'KOC recruitment',
    '{"trigger":{"on":"recall"},"steps":[{"id":"sms","action":{"message":{"channel":"sms","template":"koc_recruit"}}}]}');
SELECT commerce.set_contact_optout(:t, 'm020', 'sms', true, 'unsubscribe link');
SELECT commerce.recruit_candidates(:t, 'june', 'recruit', '10% commission, gold level perks, free samples',
                                   'https://brand.example/koc/guide', p_by => 'op1');
SELECT commerce.recruit_candidates(:t, 'june', 'recruit', '10% commission, gold level perks, free samples',
                                   'https://brand.example/koc/guide', p_by => 'op1') ->> 'outcome' AS again;
SELECT commerce.recruit_candidates(:t, 'june', 'recruit', 'other', 'https://brand.example/koc/guide');
SELECT status, count(*) FROM commerce.recruit_notice GROUP BY status;
SELECT pg_temp.pump();
SELECT status, reason, channel, count(*) FROM commerce.recruit_notice GROUP BY 1, 2, 3 ORDER BY 1, 2;
-- the message carries the benefits, the guide and the signed link
SELECT (o.payload -> 'context') - 'notice' AS context, o.payload #>> '{context,notice}' ~ '^r[0-9a-z]+\.[a-z2-9]{13}$' AS signed_link
  FROM commerce.outbox o WHERE o.topic = 'crm.message' ORDER BY o.message_id LIMIT 1;
-- receipts: all delivered but two; one fails, one fails and is then delivered on a retry; repeats change nothing
SELECT array_agg(n.message_id ORDER BY n.notice_id) AS m FROM commerce.recruit_notice n WHERE n.status = 'sent' \gset
SELECT count(commerce.record_notice_receipt(:t, m, 'delivered')) AS delivered FROM unnest(:'m'::bigint[]) WITH ORDINALITY u(m, k) WHERE k > 2;
SELECT commerce.record_notice_receipt(:t, (:'m'::bigint[])[1], 'failed', 'invalid_number') - 'notice';
SELECT commerce.record_notice_receipt(:t, (:'m'::bigint[])[1], 'failed', 'invalid_number') ->> 'changed' AS repeat_changed;
SELECT commerce.record_notice_receipt(:t, (:'m'::bigint[])[2], 'failed', 'blocked') ->> 'status' AS failed;
SELECT commerce.record_notice_receipt(:t, (:'m'::bigint[])[2], 'delivered') - 'notice' AS retried;
SELECT commerce.record_notice_receipt(:t, (:'m'::bigint[])[3], 'failed', 'late bounce') - 'notice' AS after_delivery;
SELECT commerce.record_notice_receipt(:t, (:'m'::bigint[])[3], 'failed');
SELECT commerce.record_notice_receipt(:t, 999999, 'delivered');
-- a candidate opens its link and applies: the application is the notice's; a control member applies on its own
SELECT o.payload #>> '{context,notice}' AS code, o.payload ->> 'customer' AS who FROM commerce.outbox o
 WHERE o.message_id = (:'m'::bigint[])[3] \gset
SELECT commerce.open_recruit_notice(:t, :'code') - 'opened_at';
SELECT commerce.open_recruit_notice(:t, 'r4.aaaaaaaaaaaaa');
SELECT (commerce.apply_koc(:t, 'app-1', :'who', '[{"platform": "douyin", "handle": "@me"}]')).status;
SELECT (commerce.apply_koc(:t, 'app-2', c.code, '[{"platform": "douyin", "handle": "@ctl"}]')).status AS control_applied
  FROM commerce.potential_candidate pc JOIN commerce.customer c ON c.tenant_id = pc.tenant_id AND c.person_id = pc.person_id
 WHERE pc.run_id = :run AND pc.control ORDER BY pc.rank LIMIT 1;
SELECT count(*) FILTER (WHERE application_id IS NOT NULL) AS attributed, count(*) FILTER (WHERE opened_at IS NOT NULL) AS opened
  FROM commerce.recruit_notice;
SELECT x - 'created_at' AS report FROM commerce.recruit_report(:t, 'june') x;

-- next month: a new list, a campaign whose flow is paused before the pump: the notices end as not started
SET commerce.now = '2030-07-01 09:00:00+08';
SELECT commerce.train_potential(:t, 'op1') AS model2 \gset
SELECT commerce.publish_candidates(:t, 'op1', :model2) AS run2 \gset
SELECT commerce.define_flow(:t, 'recruit2', 'KOC recruitment, WeCom',
    '{"trigger":{"on":"recall"},"steps":[{"id":"wc","action":{"message":{"channel":"wecom","template":"koc_recruit"}}}]}');
SELECT commerce.recruit_candidates(:t, 'july', 'recruit2', 'Join us', 'https://brand.example/koc/guide') ->> 'outcome' AS july;
SELECT commerce.set_flow_status(:t, 'recruit2', 'paused');
SELECT pg_temp.pump();
SELECT commerce.recruit_sweep() > 0 AS swept;
SELECT status, reason, count(*) FROM commerce.recruit_notice n JOIN commerce.recruit_campaign c USING (tenant_id, campaign_id)
 WHERE c.code = 'july' GROUP BY 1, 2;
SELECT commerce.recruit_sweep() AS swept_again;
SELECT commerce.set_flow_status(:t, 'recruit2', 'active');
-- once the flow is active again, the members whose notice never started can be sent one
SELECT commerce.recruit_candidates(:t, 'july2', 'recruit2', 'Join us', 'https://brand.example/koc/guide', :run2) ->> 'notices' AS july2;
SELECT * FROM commerce.check_creators_invariants();
SET client_min_messages = warning;
DROP SCHEMA commerce CASCADE;
