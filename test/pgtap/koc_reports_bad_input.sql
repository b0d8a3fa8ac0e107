-- koc_reports_bad_input.sql: bad calls of the KOC reports (koc_stats,
-- koc_task_progress, koc_task_analysis, koc_rank, koc_overview, koc_list,
-- koc_list_csv), of risk control (set_koc_status, run_risk_rules,
-- review_risk_flag), of benefits, tags and targeted tasks (set_level_benefits,
-- koc_benefits, set_koc_tags, upsert_koc_task, koc_open_tasks, tracking_link)
-- are refused with the documented SQLSTATE and change nothing; the reports
-- see one tenant only.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(69);
\ir lib/fingerprint.psql
\o /dev/null

SET LOCAL commerce.now = '2030-01-10 10:00:00+08';
SELECT commerce.create_tenant('r1', 'Reports one') AS t \gset
SELECT commerce.create_tenant('r2', 'Reports two') AS t2 \gset
SELECT commerce.upsert_customer(:t, c) FROM unnest(ARRAY['u-k', 'b1']) c;
SELECT commerce.upsert_customer(:t2, 'u-x');
SELECT commerce.upsert_koc(:t, 'K', 'u-k', 'K', 'Hangzhou');
SELECT commerce.upsert_koc(:t2, 'X', 'u-x', 'X');
SELECT commerce.upsert_koc_task(:t, 'T', 'T', '2030-01-01', '2030-03-01', 1000);
SELECT commerce.upsert_koc_task(:t2, 'TX', 'TX', '2030-01-01', '2030-03-01', 1000);
SELECT commerce.record_click(:t, commerce.tracking_link(:t, 'K', 'T'), 'b1', '1.2.3.4');
SELECT commerce.record_click(:t2, commerce.tracking_link(:t2, 'X', 'TX'), 'v', '1.2.3.4');
INSERT INTO commerce.koc_risk_flag (tenant_id, koc_id, rule, evidence, status, raised_at)
SELECT :t, koc_id, 'click_burst', '{}', 'open', commerce.now() FROM commerce.koc WHERE code = 'K';
SELECT flag_id AS f FROM commerce.koc_risk_flag \gset
SELECT pg_temp.fingerprint() AS fp0 \gset
\o

-- koc_stats
SELECT throws_ok($$SELECT commerce.koc_stats(NULL, 'K', '2030-01-01', '2030-01-31')$$, '22004', 'argument p_tenant must not be null', 'stats: NULL tenant -> 22004');
SELECT throws_ok($$SELECT commerce.koc_stats(999999, 'K', '2030-01-01', '2030-01-31')$$, 'PT404', 'tenant "999999" not found', 'stats: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.koc_stats(%s, NULL, '2030-01-01', '2030-01-31')$$, :t), '22004', 'argument p_koc must not be null', 'stats: NULL KOC -> 22004');
SELECT throws_ok(format($$SELECT commerce.koc_stats(%s, 'K', NULL, '2030-01-31')$$, :t), '22004', 'argument p_from must not be null', 'stats: NULL start -> 22004');
SELECT throws_ok(format($$SELECT commerce.koc_stats(%s, 'K', '2030-01-01', NULL)$$, :t), '22004', 'argument p_to must not be null', 'stats: NULL end -> 22004');
SELECT throws_ok(format($$SELECT commerce.koc_stats(%s, 'K', '2030-01-31', '2030-01-01')$$, :t), '22023', 'invalid value for p_to', 'stats: end before start -> 22023');
SELECT throws_ok(format($$SELECT commerce.koc_stats(%s, 'K', '2029-01-01', '2030-01-31')$$, :t), '22023', 'invalid value for p_to', 'stats: more than a year -> 22023');
SELECT throws_ok(format($$SELECT commerce.koc_stats(%s, 'NOBODY', '2030-01-01', '2030-01-31')$$, :t), 'PT404', 'KOC "NOBODY" not found', 'stats: unknown KOC -> PT404');
SELECT throws_ok(format($$SELECT commerce.koc_stats(%s, 'X', '2030-01-01', '2030-01-31')$$, :t), 'PT404', 'KOC "X" not found', 'stats: another tenant''s KOC -> PT404');
SELECT is((commerce.koc_stats(:t, 'K', '2030-01-01', '2030-01-31') ->> 'totalClicks')::int, 1, 'stats: one click, not the other tenant''s');

-- task progress and analysis
SELECT throws_ok(format($$SELECT * FROM commerce.koc_task_progress(%s, NULL, 'T')$$, :t), '22004', 'argument p_koc must not be null', 'progress: NULL KOC -> 22004');
SELECT throws_ok(format($$SELECT * FROM commerce.koc_task_progress(%s, 'K', NULL)$$, :t), '22004', 'argument p_task must not be null', 'progress: NULL task -> 22004');
SELECT throws_ok(format($$SELECT * FROM commerce.koc_task_progress(%s, 'K', 'TX')$$, :t), 'PT404', 'KOC task "TX" not found', 'progress: another tenant''s task -> PT404');
SELECT throws_ok(format($$SELECT * FROM commerce.koc_task_progress(%s, 'X', 'T')$$, :t), 'PT404', 'KOC "X" not found', 'progress: another tenant''s KOC -> PT404');
SELECT throws_ok($$SELECT * FROM commerce.koc_task_progress(999999, 'K', 'T')$$, 'PT404', 'tenant "999999" not found', 'progress: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT * FROM commerce.koc_task_analysis(%s, 'NOPE')$$, :t), 'PT404', 'KOC task "NOPE" not found', 'analysis: unknown task -> PT404');
SELECT throws_ok($$SELECT * FROM commerce.koc_task_analysis(NULL)$$, '22004', 'argument p_tenant must not be null', 'analysis: NULL tenant -> 22004');
SELECT is((SELECT string_agg(task, ',') FROM commerce.koc_task_analysis(:t)), 'T', 'analysis: only the tenant''s tasks');

-- leaderboard, overview, list
SELECT throws_ok(format($$SELECT * FROM commerce.koc_rank(%s, '2030-01-01', '2030-01-31', NULL, NULL)$$, :t), '22004', 'argument p_metric must not be null', 'rank: NULL metric -> 22004');
SELECT throws_ok(format($$SELECT * FROM commerce.koc_rank(%s, '2030-01-01', '2030-01-31', NULL, 'fans')$$, :t), '22023', 'invalid value for p_metric', 'rank: unknown metric -> 22023');
SELECT throws_ok(format($$SELECT * FROM commerce.koc_rank(%s, '2030-01-01', '2030-01-31', NULL, 'gmv', 0)$$, :t), '22023', 'invalid value for p_limit', 'rank: zero limit -> 22023');
SELECT throws_ok(format($$SELECT * FROM commerce.koc_rank(%s, '2030-01-01', '2030-01-31', NULL, 'gmv', 1001)$$, :t), '22023', 'invalid value for p_limit', 'rank: limit above 1000 -> 22023');
SELECT throws_ok(format($$SELECT * FROM commerce.koc_rank(%s, '2030-02-01', '2030-01-31')$$, :t), '22023', 'invalid value for p_to', 'rank: empty range -> 22023');
SELECT is((SELECT string_agg(koc, ',') FROM commerce.koc_rank(:t, '2030-01-01', '2030-01-31')), 'K', 'rank: only the tenant''s KOCs');
SELECT throws_ok($$SELECT commerce.koc_overview(999999, '2030-01-01', '2030-01-31')$$, 'PT404', 'tenant "999999" not found', 'overview: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.koc_overview(%s, '2030-01-31', '2030-01-01')$$, :t), '22023', 'invalid value for p_to', 'overview: end before start -> 22023');
SELECT is((commerce.koc_overview(:t, '2030-01-01', '2030-01-31') ->> 'clicks')::int, 1, 'overview: the tenant''s clicks only');
SELECT throws_ok(format($$SELECT * FROM commerce.koc_list(%s, '2030-01-01', '2030-01-31', p_status => 'sleeping')$$, :t), '22023', 'invalid value for p_status', 'list: unknown status -> 22023');
SELECT throws_ok(format($$SELECT * FROM commerce.koc_list(%s, NULL, '2030-01-31')$$, :t), '22004', 'argument p_from must not be null', 'list: NULL start -> 22004');
SELECT throws_ok(format($$SELECT commerce.koc_list_csv(%s, '2030-01-31', '2030-01-01')$$, :t), '22023', 'invalid value for p_to', 'csv: end before start -> 22023');
SELECT is(commerce._csv('=HYPERLINK("x")'), '"''=HYPERLINK(""x"")"', 'csv: a formula is neutralized and quoted');
SELECT is(commerce._csv('a,b'), '"a,b"', 'csv: a comma is quoted');
SELECT is(pg_temp.fingerprint(), :'fp0', 'reports: nothing changed');

-- set_koc_status
SELECT throws_ok(format($$SELECT commerce.set_koc_status(%s, NULL, 'frozen', 'ops', 'r')$$, :t), '22004', 'argument p_koc must not be null', 'status: NULL KOC -> 22004');
SELECT throws_ok(format($$SELECT commerce.set_koc_status(%s, 'K', NULL, 'ops', 'r')$$, :t), '22004', 'argument p_status must not be null', 'status: NULL status -> 22004');
SELECT throws_ok(format($$SELECT commerce.set_koc_status(%s, 'K', 'frozen', NULL, 'r')$$, :t), '22004', 'argument p_actor must not be null', 'status: NULL actor -> 22004');
SELECT throws_ok(format($$SELECT commerce.set_koc_status(%s, 'K', 'banned', 'ops', 'r')$$, :t), '22023', 'invalid value for p_status', 'status: unknown status -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_koc_status(%s, 'K', 'frozen', 'ops', ' ')$$, :t), '22023', 'invalid value for p_reason', 'status: no reason -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_koc_status(%s, 'X', 'frozen', 'ops', 'r')$$, :t), 'PT404', 'KOC "X" not found', 'status: another tenant''s KOC -> PT404');
UPDATE commerce.koc SET status = 'frozen' WHERE code = 'K';
SELECT throws_ok(format($$SELECT commerce.set_koc_status(%s, 'K', 'active', 'ops', 'r')$$, :t), 'PT409', 'KOC "K" has open risk flags', 'status: reactivating a flagged KOC -> PT409');
UPDATE commerce.koc SET status = 'active' WHERE code = 'K';

-- review_risk_flag
SELECT throws_ok(format($$SELECT commerce.review_risk_flag(%s, NULL, true, 'r', 'x')$$, :t), '22004', 'argument p_flag must not be null', 'review: NULL flag -> 22004');
SELECT throws_ok(format($$SELECT commerce.review_risk_flag(%s, %s, NULL, 'r', 'x')$$, :t, :f), '22004', 'argument p_confirm must not be null', 'review: NULL decision -> 22004');
SELECT throws_ok(format($$SELECT commerce.review_risk_flag(%s, %s, true, NULL, 'x')$$, :t, :f), '22004', 'argument p_reviewer must not be null', 'review: NULL reviewer -> 22004');
SELECT throws_ok(format($$SELECT commerce.review_risk_flag(%s, %s, true, 'r', NULL)$$, :t, :f), '22023', 'invalid value for p_reason', 'review: no reason -> 22023');
SELECT throws_ok(format($$SELECT commerce.review_risk_flag(%s, 999999, true, 'r', 'x')$$, :t), 'PT404', 'risk flag "999999" not found', 'review: unknown flag -> PT404');
SELECT throws_ok(format($$SELECT commerce.review_risk_flag(%s, %s, true, 'r', 'x')$$, :t2, :f), 'PT404', format('risk flag "%s" not found', :f), 'review: another tenant''s flag -> PT404');
SELECT throws_ok($$SELECT commerce.run_risk_rules(999999)$$, 'PT404', 'tenant "999999" not found', 'risk rules: unknown tenant -> PT404');
SELECT is(pg_temp.fingerprint(), :'fp0', 'status and review: nothing changed');

-- benefits, tags, targeted tasks (K06, K08)
SELECT throws_ok(format($$SELECT commerce.set_level_benefits(%s, NULL)$$, :t), '22004', 'argument p_level must not be null', 'benefits: NULL level -> 22004');
SELECT throws_ok(format($$SELECT commerce.set_level_benefits(%s, 'platinum', 100)$$, :t), 'PT404', 'KOC level "platinum" not found', 'benefits: unknown level -> PT404');
SELECT throws_ok(format($$SELECT commerce.set_level_benefits(%s, 'gold', -1)$$, :t), '22023', 'invalid value for p_bonus_bp', 'benefits: negative bonus -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_level_benefits(%s, 'gold', p_materials => ARRAY[''])$$, :t), '22023', 'invalid value for p_materials', 'benefits: empty material reference -> 22023');
SELECT throws_ok(format($$SELECT commerce.koc_benefits(%s, 'X')$$, :t), 'PT404', 'KOC "X" not found', 'benefits: another tenant''s KOC -> PT404');
SELECT throws_ok(format($$SELECT commerce.set_koc_tags(%s, 'K', NULL)$$, :t), '22004', 'argument p_tags must not be null', 'tags: NULL -> 22004');
SELECT throws_ok(format($$SELECT commerce.set_koc_tags(%s, 'K', ARRAY['Has Space'])$$, :t), '22023', 'invalid value for p_tags', 'tags: bad tag -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_koc_tags(%s, 'K', ARRAY[NULL::text])$$, :t), '22023', 'invalid value for p_tags', 'tags: NULL tag -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_koc_tags(%s, 'X', ARRAY['mom'])$$, :t), 'PT404', 'KOC "X" not found', 'tags: another tenant''s KOC -> PT404');
SELECT throws_ok(format($$SELECT commerce.upsert_koc_task(%s, 'T2', 'T2', '2030-01-01', '2030-02-01', 100, p_target_tags => '{}')$$, :t), '22023', 'invalid value for p_target_tags', 'task: empty target tags -> 22023');
SELECT throws_ok(format($$SELECT commerce.upsert_koc_task(%s, 'T2', 'T2', '2030-01-01', '2030-02-01', 100, p_materials => ARRAY[repeat('m', 201)])$$, :t), '22023', 'invalid value for p_materials', 'task: material reference too long -> 22023');
SELECT throws_ok(format($$SELECT commerce.koc_open_tasks(%s, 'X')$$, :t), 'PT404', 'KOC "X" not found', 'open tasks: another tenant''s KOC -> PT404');
SELECT is(pg_temp.fingerprint(), :'fp0', 'benefits, tags and tasks: nothing changed');
UPDATE commerce.koc_task SET target_levels = ARRAY['gold'] WHERE code = 'T';
SELECT throws_ok(format($$SELECT commerce.tracking_link(%s, 'K', 'T')$$, :t), 'PT409', 'task "T" is not open to KOC "K"', 'link: a task for other levels -> PT409');
UPDATE commerce.koc_task SET target_levels = NULL, target_tags = ARRAY['mom'] WHERE code = 'T';
SELECT throws_ok(format($$SELECT commerce.tracking_link(%s, 'K', 'T')$$, :t), 'PT409', 'task "T" is not open to KOC "K"', 'link: a task for other tags -> PT409');
UPDATE commerce.koc_task SET target_tags = NULL, starts_at = '2030-02-01', ends_at = '2030-03-01' WHERE code = 'T';
SELECT throws_ok(format($$SELECT commerce.tracking_link(%s, 'K', 'T')$$, :t), 'PT409', 'task "T" is not running', 'link: a task not started -> PT409');
UPDATE commerce.koc_task SET starts_at = '2029-01-01', ends_at = '2030-01-01' WHERE code = 'T';
SELECT throws_ok(format($$SELECT commerce.tracking_link(%s, 'K', 'T')$$, :t), 'PT409', 'task "T" is not running', 'link: an ended task -> PT409');

-- the API
SELECT throws_ok($$SELECT commerce_api.koc_stats(1, '2030-01-01', '2030-01-31')$$, '42501', 'no tenant in the request', 'api: stats without a tenant claim -> 42501');
SELECT throws_ok($$SELECT * FROM commerce_api.koc_rank('2030-01-01', '2030-01-31')$$, '42501', 'no tenant in the request', 'api: rank without a tenant claim -> 42501');
SET LOCAL commerce.tenant_id = :t2;
SELECT throws_ok(format($$SELECT commerce_api.koc_stats(%s, '2030-01-01', '2030-01-31')$$, (SELECT koc_id FROM commerce.koc WHERE code = 'K')), 'PT404', NULL, 'api: another tenant''s KOC -> PT404');
SELECT is((SELECT string_agg(koc, ',') FROM commerce_api.koc_rank('2030-01-01', '2030-01-31')), 'X', 'api: the rank of the caller''s tenant');

SELECT * FROM finish();
ROLLBACK;
