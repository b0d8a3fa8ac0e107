-- core_api_bad_input.sql: the commerce_api functions take the tenant from the
-- request settings only (42501 without one), see only that tenant's rows
-- (PT404 / no rows for another tenant's), refuse bad input like the
-- commerce functions they wrap, and are not executable by PUBLIC. Jobs:
-- schedule_jobs needs pg_cron (0A000), unschedule_jobs is a no-op without it.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(53);

\ir lib/fingerprint.psql

-- The tenant current_tenant() sees after setting one GUC (all other tenant
-- sources cleared), or the error it raises, as text.
CREATE FUNCTION pg_temp.tenant_via(p_setting text, p_value text) RETURNS text
LANGUAGE plpgsql AS $tv$
BEGIN
    PERFORM set_config('request.jwt.claims', '', true);
    PERFORM set_config('jwt.claims.tenant_id', '', true);
    PERFORM set_config('hasura.user', '', true);
    PERFORM set_config(p_setting, p_value, true);
    RETURN commerce.current_tenant()::text;
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $tv$;

-- fixtures: tenant t1 with SKU A1 (20 received, reservation r1 active);
-- tenant t2 with SKU B1 (10 received, reservation rb active).
SET LOCAL commerce.now = '2030-01-01 00:00:00+00';
SELECT commerce.create_tenant('t1', 'Tenant one') AS t \gset
SELECT commerce.create_tenant('t2', 'Tenant two') AS t2 \gset
SELECT commerce.upsert_product(:t, 'P1', 'Product one') AS p1 \gset
SELECT commerce.upsert_sku(:t, 'P1', 'A1', 'SKU A1', 1000) AS a1 \gset
SELECT commerce.receive_stock(:t, 'rcv-a1', 'A1', 20) AS pool_a1 \gset
SELECT (commerce.reserve_sku(:t, 'res-1', 'cart-1', 'A1', 2)).reservation_id AS r1 \gset
SELECT commerce.upsert_product(:t2, 'Q1', 'Product of t2') AS q1 \gset
SELECT commerce.upsert_sku(:t2, 'Q1', 'B1', 'SKU of t2', 2000) AS b1 \gset
SELECT commerce.receive_stock(:t2, 'rcv-b1', 'B1', 10) AS pool_b1 \gset
SELECT (commerce.reserve_sku(:t2, 'res-b', 'cart-b', 'B1', 1)).reservation_id AS rb \gset
SELECT pg_temp.fingerprint() AS fp0 \gset

-- no tenant in the request -> 42501 ----------------------------------------
SELECT throws_ok($$SELECT commerce.current_tenant()$$,
    '42501', 'no tenant in the request', 'current_tenant: no setting -> 42501');
SELECT throws_ok($$SELECT commerce_api.reserve('{"lines":[{"sku":"A1","qty":1}]}', 'api-1', 'h')$$,
    '42501', 'no tenant in the request', 'commerce_api.reserve: no tenant -> 42501');
SELECT throws_ok(format($$SELECT commerce_api.confirm_reservation(%s, 'api-c')$$, :r1),
    '42501', 'no tenant in the request', 'commerce_api.confirm_reservation: no tenant -> 42501');
SELECT throws_ok(format($$SELECT commerce_api.release_reservation(%s, 'api-r')$$, :r1),
    '42501', 'no tenant in the request', 'commerce_api.release_reservation: no tenant -> 42501');
SELECT throws_ok(format($$SELECT commerce_api.extend_reservation(%s, 'api-e', '5 minutes')$$, :r1),
    '42501', 'no tenant in the request', 'commerce_api.extend_reservation: no tenant -> 42501');
SELECT throws_ok($$SELECT commerce_api.price('A1', 'taobao')$$,
    '42501', 'no tenant in the request', 'commerce_api.price: no tenant -> 42501');
SELECT throws_ok($$SELECT * FROM commerce_api.stock('A1')$$,
    '42501', 'no tenant in the request', 'commerce_api.stock: no tenant -> 42501');
-- claims without a usable tenant
SELECT is(pg_temp.tenant_via('request.jwt.claims', '{"role":"web_anon"}'), '42501: no tenant in the request',
    'current_tenant: JWT claims without tenant_id -> 42501');
SELECT is(pg_temp.tenant_via('request.jwt.claims', '{"tenant_id":"abc"}'), '42501: no tenant in the request',
    'current_tenant: non-numeric tenant_id claim -> 42501');
SELECT is(pg_temp.tenant_via('request.jwt.claims', '{"tenant_id":"-1"}'), '42501: no tenant in the request',
    'current_tenant: negative tenant_id claim -> 42501');
SELECT is(pg_temp.tenant_via('request.jwt.claims', '{"tenant_id":"1234567890123456789"}'), '42501: no tenant in the request',
    'current_tenant: 19-digit tenant_id claim -> 42501');
SELECT is(left(pg_temp.tenant_via('request.jwt.claims', 'not json'), 6), '22P02:',
    'current_tenant: claims that are not JSON -> 22P02');
SELECT is(pg_temp.tenant_via('hasura.user', '{"x-hasura-role":"user"}'), '42501: no tenant in the request',
    'current_tenant: Hasura session without x-hasura-tenant-id -> 42501');
-- the documented tenant sources
SELECT is(pg_temp.tenant_via('request.jwt.claims', format('{"tenant_id":"%s"}', :t)), :t::text,
    'current_tenant: PostgREST claims (tenant_id as a string)');
SELECT is(pg_temp.tenant_via('request.jwt.claims', format('{"tenant_id":%s}', :t)), :t::text,
    'current_tenant: PostgREST claims (tenant_id as a number)');
SELECT is(pg_temp.tenant_via('jwt.claims.tenant_id', :'t'), :t::text,
    'current_tenant: PostGraphile jwt.claims.tenant_id');
SELECT is(pg_temp.tenant_via('hasura.user', format('{"x-hasura-tenant-id":"%s"}', :t)), :t::text,
    'current_tenant: Hasura x-hasura-tenant-id');
SELECT is(pg_temp.tenant_via('commerce.tenant_id', :'t'), :t::text,
    'current_tenant: SET commerce.tenant_id (documented in its hint)');
SELECT is(pg_temp.fingerprint(), :'fp0', 'no tenant: no commerce table changed');

-- tenant t1 in the JWT claims: only t1's rows are visible ------------------
SELECT set_config('request.jwt.claims', format('{"tenant_id":"%s","role":"web"}', :t), true) AS claims \gset
SELECT is(commerce.current_tenant(), :t::bigint, 'claims of t1 -> current tenant t1');
SELECT results_eq($$SELECT warehouse, activity, available FROM commerce_api.stock('A1')$$,
    $$VALUES ('main'::text, NULL::text, 18::bigint)$$, 'commerce_api.stock: t1 sees its own SKU');
SELECT is_empty($$SELECT * FROM commerce_api.stock('B1')$$, 'commerce_api.stock: t2''s SKU is invisible to t1');
SELECT throws_ok($$SELECT commerce_api.price('B1', 'taobao')$$,
    'PT404', 'SKU "B1" not found', 'commerce_api.price: other tenant''s SKU -> PT404');
SELECT throws_ok($$SELECT commerce_api.price('A1', 'nope')$$,
    'PT404', 'channel "nope" not found', 'commerce_api.price: unknown channel -> PT404');
SELECT throws_ok($$SELECT commerce_api.price(NULL, 'taobao')$$,
    '22004', 'argument p_sku must not be null', 'commerce_api.price: NULL SKU -> 22004');
SELECT throws_ok($$SELECT commerce_api.reserve('{"lines":[{"sku":"B1","qty":1}]}', 'api-1', 'h')$$,
    'PT404', 'SKU "B1" not found', 'commerce_api.reserve: other tenant''s SKU -> PT404');
SELECT throws_ok($$SELECT commerce_api.reserve('{"lines":[', 'api-1', 'h')$$,
    '22P02', 'malformed cart JSON', 'commerce_api.reserve: malformed JSON -> 22P02');
SELECT throws_ok($$SELECT commerce_api.reserve('{"lines":[{"sku":"A1","qty":"2"}]}', 'api-1', 'h')$$,
    '22023', 'invalid cart: lines[0].qty: expected an integer', 'commerce_api.reserve: qty as a string -> 22023');
SELECT throws_ok($$SELECT commerce_api.reserve('{"lines":[{"sku":"A1","qty":19}]}', 'api-1', 'h')$$,
    'PT409', 'insufficient stock for SKU "A1"', 'commerce_api.reserve: more than available (18) -> PT409');
SELECT throws_ok($$SELECT commerce_api.reserve('{"lines":[{"sku":"A1","qty":1}]}', NULL, 'h')$$,
    '22004', 'argument p_request_id must not be null', 'commerce_api.reserve: NULL request_id -> 22004');
SELECT throws_ok($$SELECT commerce_api.reserve('{"lines":[{"sku":"A1","qty":1}]}', 'api-1', 'h', '2 days')$$,
    '22023', 'invalid value for p_ttl', 'commerce_api.reserve: ttl past max_hold -> 22023');
SELECT throws_ok($$SELECT commerce_api.reserve('{"lines":[{"sku":"A1","qty":3}]}', 'res-1', 'cart-1')$$,
    '23505', 'request_id "res-1" was already used for a different reservation',
    'commerce_api.reserve: request_id reused with a different cart -> 23505');
SELECT throws_ok(format($$SELECT commerce_api.confirm_reservation(%s, 'api-c')$$, :rb),
    'PT404', format('reservation %s not found', :rb), 'commerce_api.confirm_reservation: other tenant''s reservation -> PT404');
SELECT throws_ok(format($$SELECT commerce_api.release_reservation(%s, 'api-r')$$, :rb),
    'PT404', format('reservation %s not found', :rb), 'commerce_api.release_reservation: other tenant''s reservation -> PT404');
SELECT throws_ok(format($$SELECT commerce_api.extend_reservation(%s, 'api-e', '5 minutes')$$, :rb),
    'PT404', format('reservation %s not found', :rb), 'commerce_api.extend_reservation: other tenant''s reservation -> PT404');
SELECT throws_ok(format($$SELECT commerce_api.extend_reservation(%s, 'api-e', '-5 minutes')$$, :r1),
    '22023', 'invalid value for p_by', 'commerce_api.extend_reservation: negative interval -> 22023');
SELECT throws_ok(format($$SELECT commerce_api.confirm_reservation(%s, '')$$, :r1),
    '22023', 'invalid value for p_request_id', 'commerce_api.confirm_reservation: empty request_id -> 22023');
SELECT is(pg_temp.fingerprint(), :'fp0', 'tenant t1: no commerce table changed by refused calls');
SELECT is((SELECT (r).reservation_id FROM (SELECT commerce_api.reserve('{"lines":[{"sku":"A1","qty":2}]}', 'res-1', 'cart-1') AS r) x),
    :r1::bigint, 'commerce_api.reserve: a retry of t1''s reservation returns it');
SELECT is((SELECT (r).price_fen || '/' || (r).source FROM (SELECT commerce_api.price('A1', 'taobao') AS r) x),
    '1000/msrp', 'commerce_api.price: t1''s SKU resolves');

-- a claim naming a tenant that does not exist --------------------------------
SELECT set_config('request.jwt.claims', '{"tenant_id":"999999"}', true) AS claims \gset
SELECT throws_ok($$SELECT commerce_api.reserve('{"lines":[{"sku":"A1","qty":1}]}', 'api-9', 'h')$$,
    'PT404', 'tenant "999999" not found', 'commerce_api.reserve: unknown tenant in the claims -> PT404');
SELECT throws_ok($$SELECT commerce_api.price('A1', 'taobao')$$,
    'PT404', 'tenant "999999" not found', 'commerce_api.price: unknown tenant in the claims -> PT404');
SELECT throws_ok(format($$SELECT commerce_api.confirm_reservation(%s, 'api-c')$$, :r1),
    'PT404', format('reservation %s not found', :r1), 'commerce_api.confirm_reservation: unknown tenant in the claims -> PT404');
SELECT is_empty($$SELECT * FROM commerce_api.stock('A1')$$, 'commerce_api.stock: unknown tenant sees nothing');
SELECT is(pg_temp.fingerprint(), :'fp0', 'unknown tenant: no commerce table changed');

-- privileges: nothing in commerce_api is executable by PUBLIC ----------------
SELECT is((SELECT count(*) FROM pg_proc p WHERE p.pronamespace = 'commerce_api'::regnamespace
             AND has_function_privilege('public', p.oid, 'EXECUTE')), 0::bigint,
    'commerce_api: no function executable by PUBLIC');
CREATE ROLE commerce_tap_api_probe NOLOGIN;
GRANT USAGE ON SCHEMA commerce_api TO commerce_tap_api_probe;
SET LOCAL ROLE commerce_tap_api_probe;
SELECT throws_ok($$SELECT commerce_api.price('A1', 'taobao')$$,
    '42501', 'permission denied for function price', 'commerce_api.price: a role without EXECUTE is refused -> 42501');
RESET ROLE;
SELECT set_config('request.jwt.claims', format('{"tenant_id":"%s"}', :t), true) AS claims \gset
GRANT EXECUTE ON FUNCTION commerce_api.price(text, text, text) TO commerce_tap_api_probe;
SET LOCAL ROLE commerce_tap_api_probe;
SELECT is((SELECT (r).price_fen FROM (SELECT commerce_api.price('A1', 'taobao') AS r) x), 1000::bigint,
    'commerce_api.price: a role granted EXECUTE gets its tenant''s price');
RESET ROLE;

-- jobs: pg_cron is not created in this database ------------------------------
SELECT ok(to_regnamespace('cron') IS NULL, 'precondition: pg_cron is not installed in this database');
SELECT throws_ok($$SELECT commerce.schedule_jobs()$$,
    '0A000', 'pg_cron is not installed in this database', 'schedule_jobs: without pg_cron -> 0A000');
SELECT is_empty($$SELECT * FROM commerce.unschedule_jobs()$$, 'unschedule_jobs: without pg_cron returns no rows');
SELECT is((SELECT count(*) FROM commerce.job), 23::bigint, 'jobs: the job list is unchanged (expiry, unpaid-order, settlement, month-close, risk, group-deadline, points, coupons, memberships, CRM, CRM nightly, CRM insight, tickets, flows, fission, broadcasts, community daily, service, splits, payroll, KOC potential, platform check and purge pumps)');
SELECT is(pg_temp.fingerprint(), :'fp0', 'api: no commerce table changed');

SELECT * FROM finish();
ROLLBACK;
