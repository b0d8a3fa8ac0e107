-- creators_bad_input.sql: the share, potential and recruitment entry points
-- (issue 16, K01, K02) refuse bad input with their SQLSTATE and change
-- nothing; forged share and notice codes are refused; the model's C
-- functions refuse what is not a model; store staff, customers and KOCs reach
-- no list, campaign or receipt, and no tenant sees another's.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(71);
\ir lib/fingerprint.psql
\ir lib/call_as.psql
\o /dev/null

SET LOCAL commerce.now = '2030-06-15 10:00:00+08';
SELECT commerce.grant_api();
SELECT commerce.create_tenant('cr', 'Creators bad input') AS t \gset
SELECT commerce.create_tenant('cr2', 'Other') AS t2 \gset
SELECT set_config('act.t', :'t', true);
SELECT commerce.upsert_store(:t, 'S1', 'Store one');
SELECT commerce.upsert_staff(:t, 'op1', 'HQ', 'operator');
SELECT commerce.upsert_staff(:t, 'op-s1', 'Store one operator', 'operator', ARRAY['S1']);
SELECT commerce.upsert_customer(:t, 'c1', 'C1', '13900000001');
SELECT commerce.upsert_customer(:t, 'c2', 'C2');
SELECT commerce.upsert_customer(:t2, 'c1', 'Other C1');
SELECT commerce.upsert_koc(:t, 'K1', 'c2', 'KOC two');
SELECT commerce.record_share(:t, 'c1', 'product', 'P1', 'wechat', 'sh-1') ->> 'code' AS code1 \gset
SELECT commerce.record_share(:t2, 'c1', 'product', 'P1', 'wechat', 'sh-1') ->> 'code' AS code_other \gset
SELECT commerce.define_flow(:t, 'rec', 'Recruit', '{"trigger":{"on":"recall"},"steps":[{"id":"s","action":{"message":{"channel":"sms","template":"koc_recruit"}}}]}');
SELECT commerce.define_flow(:t, 'reg', 'Welcome', '{"trigger":{"on":"registered"},"steps":[{"id":"s","action":{"message":{"channel":"sms","template":"hi"}}}]}');
-- a published list of one candidate, written as the job would (a model needs history; the list needs a model)
INSERT INTO commerce.potential_model (tenant_id, model_id, version, features, params, trained_until, evaluated_to, horizon_days, persons,
                                      train_persons, metrics, created_by, created_at)
VALUES (:t, 1, 'v1', commerce._potential_feature_names(), commerce._potential_fit(ARRAY[[0,0,0,0,0,0,0,0,0],[1,1,1,1,1,1,1,1,1]]::float8[],
        '{f,t}', 9, 1), '2030-03-17', '2030-06-15', 90, 2, 2, '{}', 'test', now());
INSERT INTO commerce.potential_run (tenant_id, run_id, month, status, model_id, persons, listed, control, holdout_bp, due_at, published_at, by_whom)
VALUES (:t, 1, '2030-06-01', 'published', 1, 2, 1, 0, 0, '2030-06-01', '2030-06-01', 'test');
INSERT INTO commerce.potential_candidate (tenant_id, run_id, rank, person_id, score_bp, control, features)
SELECT :t, 1, 1, person_id, 9000, false, '{}' FROM commerce.customer WHERE tenant_id = :t AND code = 'c1';
SELECT commerce.recruit_candidates(:t, 'june', 'rec', 'Benefits', 'https://x.example/guide');
SELECT commerce.flow_intake(100);
SELECT commerce.flow_advance(100);
SELECT message_id AS msg FROM commerce.recruit_notice WHERE tenant_id = :t \gset
\o
SELECT pg_temp.fingerprint() AS fp \gset

-- the model's C functions
SELECT throws_ok($$SELECT commerce._potential_fit('{1,2,3}', '{t,f}', 2, 1)$$, '22023', NULL, '_potential_fit: features that do not match the persons');
SELECT throws_ok($$SELECT commerce._potential_fit('{1,2}', '{t,t}', 1, 1)$$, '22023', 'the outcomes are all true', '_potential_fit: one outcome only');
SELECT throws_ok($$SELECT commerce._potential_fit('{1,NULL}', '{t,f}', 1, 1)$$, '22023', 'p_x[2] is NULL or not finite', '_potential_fit: a NULL feature');
SELECT throws_ok($$SELECT commerce._potential_fit('{1,Infinity}', '{t,f}', 1, 1)$$, '22023', 'p_x[2] is NULL or not finite', '_potential_fit: an infinite feature');
SELECT throws_ok($$SELECT commerce._potential_fit('{1,2}', '{t,f}', 0, 1)$$, '22023', NULL, '_potential_fit: no features');
SELECT throws_ok($$SELECT commerce._potential_fit('{1,2}', '{t,f}', 1, -1)$$, '22023', NULL, '_potential_fit: a negative penalty');
SELECT throws_ok($$SELECT commerce._potential_fit('{1,2}', '{t,NULL}', 1, 1)$$, '22023', 'p_y[2] is NULL', '_potential_fit: a NULL outcome');
SELECT throws_ok($$SELECT commerce._potential_score('{1,2,3}', '{1}')$$, '22023', 'p_params is not a potential model', '_potential_score: not a model');
SELECT throws_ok($$SELECT commerce._potential_score('{1,1,0,1,0,0,0,0}', '{1}')$$, '22023', 'p_params is not a potential model', '_potential_score: a deviation of 0');
SELECT throws_ok($$SELECT commerce._potential_score(commerce._potential_fit('{0,1}', '{f,t}', 1, 1), '{1,2}')$$, '22023', '2 features given to a model of 1', '_potential_score: features of another model');
SELECT ok(commerce._potential_score(commerce._potential_fit('{0,0,1,1}', '{f,f,t,t}', 1, 1), '{1}')
          > commerce._potential_score(commerce._potential_fit('{0,0,1,1}', '{f,f,t,t}', 1, 1), '{0}'), 'a separable feature ranks the positives first');
SELECT is(round(commerce._potential_score(commerce._potential_fit('{0,1,0,1}', '{f,f,t,t}', 1, 0), '{1}')::numeric, 6), 0.5, 'a useless feature: the base rate');

-- shares
SELECT throws_ok($$SELECT commerce.record_share(0, 'c1', 'product', 'P1', 'wechat', 'x')$$, 'PT404', NULL, 'record_share: an unknown tenant');
SELECT throws_ok(format($$SELECT commerce.record_share(%s, NULL, 'product', 'P1', 'wechat', 'x')$$, :t), '22004', NULL, 'record_share: no customer');
SELECT throws_ok(format($$SELECT commerce.record_share(%s, 'nobody', 'product', 'P1', 'wechat', 'x')$$, :t), 'PT404', NULL, 'record_share: an unknown customer');
SELECT throws_ok(format($$SELECT commerce.record_share(%s, 'c1', 'rumour', 'P1', 'wechat', 'x')$$, :t), '22023', 'invalid value for p_kind', 'record_share: an unknown kind');
SELECT throws_ok(format($$SELECT commerce.record_share(%s, 'c1', 'product', 'P1', 'myspace', 'x')$$, :t), '22023', 'invalid value for p_platform', 'record_share: an unknown platform');
SELECT throws_ok(format($$SELECT commerce.record_share(%s, 'c1', 'product', '', 'wechat', 'x')$$, :t), '22023', 'invalid value for p_ref', 'record_share: an empty reference');
SELECT throws_ok(format($$SELECT commerce.record_share(%s, 'c1', 'product', repeat('r', 201), 'wechat', 'x')$$, :t), '22023', 'invalid value for p_ref', 'record_share: a reference too long');
SELECT throws_ok(format($$SELECT commerce.record_share(%s, 'c1', 'product', 'P1', 'wechat', '')$$, :t), '22023', NULL, 'record_share: an empty request id');
SELECT throws_ok(format($$SELECT commerce.record_share(%s, 'c1', 'product', 'P2', 'wechat', 'sh-1')$$, :t), 'PT409', 'request sh-1 recorded another share', 'record_share: a request id reused for another share');
SELECT throws_ok(format($$SELECT commerce.record_share_click(%s, NULL, 'v')$$, :t), '22004', NULL, 'record_share_click: no code');
SELECT throws_ok(format($$SELECT commerce.record_share_click(%s, %L, NULL)$$, :t, :'code1'), '22004', NULL, 'record_share_click: no visitor');
SELECT throws_ok(format($$SELECT commerce.record_share_click(%s, %L, repeat('v', 129))$$, :t, :'code1'), '22023', 'invalid value for p_visitor', 'record_share_click: a visitor id too long');
SELECT throws_ok(format($$SELECT commerce.record_share_click(%s, %L, 'v')$$, :t, regexp_replace(:'code1', '^s[0-9a-z]+', 's999')), '22023', 'invalid value for p_code', 'record_share_click: a share id changed under the signature');
SELECT throws_ok(format($$SELECT commerce.record_share_click(%s, %L, 'v')$$, :t, :'code_other'), '22023', 'invalid value for p_code', 'record_share_click: another tenant''s code');
SELECT throws_ok(format($$SELECT commerce.record_share_click(%s, 'not a code', 'v')$$, :t), '22023', 'invalid value for p_code', 'record_share_click: garbage');

-- the policy, the model, the list
SELECT throws_ok(format($$SELECT commerce.set_potential_policy(%s, p_horizon_days => 13)$$, :t), '22023', 'invalid value for p_horizon_days', 'set_potential_policy: a horizon under 14 days');
SELECT throws_ok(format($$SELECT commerce.set_potential_policy(%s, p_list_bp => 0)$$, :t), '22023', 'invalid value for p_list_bp', 'set_potential_policy: an empty list');
SELECT throws_ok(format($$SELECT commerce.set_potential_policy(%s, p_max_list => 0)$$, :t), '22023', 'invalid value for p_max_list', 'set_potential_policy: a list of 0');
SELECT throws_ok(format($$SELECT commerce.set_potential_policy(%s, p_holdout_bp => 5001)$$, :t), '22023', 'invalid value for p_holdout_bp', 'set_potential_policy: a control part over half');
SELECT throws_ok(format($$SELECT commerce.train_potential(%s)$$, :t), 'PT409', NULL, 'train_potential: too little history');
SELECT throws_ok(format($$SELECT commerce.train_potential(%s, NULL)$$, :t), '22004', NULL, 'train_potential: no author');
SELECT throws_ok(format($$SELECT commerce.publish_candidates(%s)$$, :t), 'PT409', 'the candidate list of 2030-06 is already out', 'publish_candidates: the month''s list is out');
SELECT throws_ok(format($$SELECT commerce.publish_candidates(%s)$$, :t2), 'PT404', NULL, 'publish_candidates: no model yet');
SELECT throws_ok(format($$SELECT commerce.publish_candidates(%s, 'op', 1)$$, :t2), 'PT404', NULL, 'publish_candidates: another tenant''s model');
SELECT throws_ok(format($$SELECT commerce.potential_candidates(%s, NULL, 0)$$, :t), '22023', NULL, 'potential_candidates: a page of 0');
SELECT throws_ok(format($$SELECT commerce.potential_candidates(%s, NULL, 10, -1)$$, :t), '22023', NULL, 'potential_candidates: a negative offset');
SELECT throws_ok(format($$SELECT commerce.potential_candidates(%s)$$, :t2), 'PT404', NULL, 'potential_candidates: no list yet');
SELECT throws_ok(format($$SELECT commerce.potential_candidates(%s, 1)$$, :t2), 'PT404', NULL, 'potential_candidates: another tenant''s list');
SELECT throws_ok(format($$SELECT commerce.potential_models(%s, 0)$$, :t), '22023', NULL, 'potential_models: a page of 0');

-- recruitment
SELECT throws_ok(format($$SELECT commerce.recruit_candidates(%s, 'bad code', 'rec', 'B', 'https://x.example/g')$$, :t), '22023', 'invalid value for p_code', 'recruit_candidates: a bad campaign code');
SELECT throws_ok(format($$SELECT commerce.recruit_candidates(%s, 'c2', 'rec', '', 'https://x.example/g')$$, :t), '22023', 'invalid value for p_benefits', 'recruit_candidates: no benefits');
SELECT throws_ok(format($$SELECT commerce.recruit_candidates(%s, 'c2', 'rec', 'B', 'http://x.example/g')$$, :t), '22023', 'invalid value for p_guide_url', 'recruit_candidates: a guide over plain http');
SELECT throws_ok(format($$SELECT commerce.recruit_candidates(%s, 'c2', 'rec', 'B', 'https://x.example/' || repeat('g', 500))$$, :t), '22023', 'invalid value for p_guide_url', 'recruit_candidates: a guide URL too long');
SELECT throws_ok(format($$SELECT commerce.recruit_candidates(%s, 'c2', 'rec', 'B', 'https://x.example/g', p_window_days => 0)$$, :t), '22023', 'invalid value for p_window_days', 'recruit_candidates: a window of 0 days');
SELECT throws_ok(format($$SELECT commerce.recruit_candidates(%s, 'c2', 'nope', 'B', 'https://x.example/g')$$, :t), 'PT404', NULL, 'recruit_candidates: an unknown flow');
SELECT throws_ok(format($$SELECT commerce.recruit_candidates(%s, 'c2', 'reg', 'B', 'https://x.example/g')$$, :t), 'PT409', 'flow "reg" does not take one-click sends', 'recruit_candidates: a flow started by another trigger');
SELECT throws_ok(format($$SELECT commerce.recruit_candidates(%s, 'c2', 'rec', 'B', 'https://x.example/g', 99)$$, :t), 'PT404', NULL, 'recruit_candidates: an unknown list');
SELECT throws_ok(format($$SELECT commerce.recruit_candidates(%s, 'c2', 'rec', 'B', 'https://x.example/g')$$, :t2), 'PT404', NULL, 'recruit_candidates: a tenant without a list');
SELECT throws_ok(format($$SELECT commerce.recruit_candidates(%s, 'june', 'rec', 'Other', 'https://x.example/guide')$$, :t), 'PT409', 'campaign "june" exists with other settings', 'recruit_candidates: a campaign code reused');
SELECT throws_ok(format($$SELECT commerce.record_notice_receipt(%s, %s, 'read')$$, :t, :msg), '22023', 'invalid value for p_status', 'record_notice_receipt: an unknown status');
SELECT throws_ok(format($$SELECT commerce.record_notice_receipt(%s, %s, 'failed')$$, :t, :msg), '22023', 'invalid value for p_reason', 'record_notice_receipt: a failure without a reason');
SELECT throws_ok(format($$SELECT commerce.record_notice_receipt(%s, %s, 'delivered', NULL, 'infinity')$$, :t, :msg), '22023', 'invalid value for p_at', 'record_notice_receipt: an infinite time');
SELECT throws_ok(format($$SELECT commerce.record_notice_receipt(%s, NULL, 'delivered')$$, :t), '22004', NULL, 'record_notice_receipt: no message');
SELECT throws_ok(format($$SELECT commerce.record_notice_receipt(%s, %s, 'delivered')$$, :t2, :msg), 'PT404', NULL, 'record_notice_receipt: another tenant''s message');
SELECT throws_ok(format($$SELECT commerce.record_notice_receipt(%s, (SELECT max(message_id) + 1000 FROM commerce.outbox), 'delivered')$$, :t), 'PT404', NULL, 'record_notice_receipt: a message that is not a notice''s');
SELECT throws_ok(format($$SELECT commerce.open_recruit_notice(%s, 'r1.aaaaaaaaaaaaa')$$, :t), '22023', 'invalid value for p_code', 'open_recruit_notice: a forged code');
SELECT throws_ok(format($$SELECT commerce.open_recruit_notice(%s, (SELECT payload #>> '{context,notice}' FROM commerce.outbox WHERE message_id = %s))$$, :t2, :msg), '22023', 'invalid value for p_code', 'open_recruit_notice: another tenant''s code');
SELECT throws_ok(format($$SELECT commerce.recruit_report(%s, 'nope')$$, :t), 'PT404', NULL, 'recruit_report: an unknown campaign');
SELECT throws_ok(format($$SELECT commerce.recruit_report(%s, 'june')$$, :t2), 'PT404', NULL, 'recruit_report: another tenant''s campaign');
SELECT is(pg_temp.fingerprint(), :'fp', 'the refused calls changed nothing');

-- who may call
SELECT matches(pg_temp.call_as('operator', 'op-s1', $$SELECT commerce_api.koc_candidates()$$), '^42501: op-s1 is staff of stores', 'store-level operators see no candidate list');
SELECT matches(pg_temp.call_as('operator', 'op-s1', $$SELECT commerce_api.recruit_candidates('x', 'rec', 'B', 'https://x.example/g')$$), '^42501', '... nor recruit');
SELECT matches(pg_temp.call_as('customer', 'c1', $$SELECT commerce_api.koc_candidates()$$), '^42501', 'a customer sees no candidate list');
SELECT matches(pg_temp.call_as('koc', 'K1', format($$SELECT commerce_api.record_notice_receipt(%s, 'delivered')$$, :msg)), '^42501', 'a KOC cannot report a delivery');
SELECT matches(pg_temp.call_as('customer', 'c1', format($$SELECT commerce_api.record_share_click(%L, 'someone-else')$$, :'code1')), '^42501: a customer acts only as itself', 'a customer clicks only as itself');
SELECT is(pg_temp.call_as('operator', 'op1', $q$DO $$ BEGIN IF (commerce_api.koc_candidates() ->> 'listed')::int <> 1 THEN RAISE EXCEPTION 'leak'; END IF; END $$$q$, :t2),
          '42501: "op1" is not active operator staff of tenant ' || :t2, 'an operator of one tenant is no staff of another');
SELECT is(pg_temp.fingerprint(), :'fp', 'the refused API calls changed nothing');
SELECT is(pg_temp.call_as('koc', 'K1', $$SELECT commerce_api.record_share('post', 'note-1', 'douyin', 'k-1')$$), 'ok', 'a KOC shares as its own account');
SELECT is((SELECT k.code FROM commerce.share s JOIN commerce.koc k USING (tenant_id, koc_id) WHERE s.request_id = 'k-1'), 'K1', '... recorded as that KOC');

SELECT * FROM finish();
ROLLBACK;
