-- core_actors_bad_input.sql: bad input to the setup functions of the actor
-- model and the jobs (upsert_staff, bind_role, grant_api, grant_jobs,
-- schedule_jobs, set_refund_approval): each is refused with its SQLSTATE
-- and changes nothing.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(21);
\ir lib/fingerprint.psql
\o /dev/null
SELECT commerce.grant_api();
SELECT commerce.create_tenant('abi', 'Actors bad input') AS t \gset
SELECT commerce.upsert_store(:t, 'S1', 'Store', 'Zhejiang', 'Hangzhou');
CREATE ROLE abi_login LOGIN;
CREATE ROLE abi_nologin NOLOGIN;
CREATE ROLE abi_super SUPERUSER NOLOGIN;
SELECT pg_temp.fingerprint() AS fp0 \gset
\o

-- upsert_staff
SELECT throws_ok(format($$SELECT commerce.upsert_staff(%s, NULL, 'N', 'store', ARRAY['S1'])$$, :t), '22004',
                 'argument p_code must not be null', 'upsert_staff: NULL code -> 22004');
SELECT throws_ok(format($$SELECT commerce.upsert_staff(%s, 'x', 'N', 'boss')$$, :t), '22023',
                 'invalid value for p_kind', 'upsert_staff: an unknown kind -> 22023');
SELECT throws_ok(format($$SELECT commerce.upsert_staff(%s, 'x', 'N', 'store')$$, :t), '22023',
                 'invalid value for p_stores', 'upsert_staff: store staff without stores -> 22023');
SELECT throws_ok(format($$SELECT commerce.upsert_staff(%s, 'x', 'N', 'store', ARRAY['S9'])$$, :t), 'PT404',
                 'store "S9" not found', 'upsert_staff: an unknown store -> PT404');
SELECT throws_ok(format($$SELECT commerce.upsert_staff(%s, 'x', 'N', 'operator', NULL, ARRAY['nope'])$$, :t), 'PT404',
                 'channel "nope" not found', 'upsert_staff: an unknown channel -> PT404');
SELECT throws_ok($$SELECT commerce.upsert_staff(999999, 'x', 'N', 'operator')$$, 'PT404',
                 'tenant "999999" not found', 'upsert_staff: an unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.upsert_staff(%s, 'bad code!', 'N', 'operator')$$, :t), '23514',
                 NULL, 'upsert_staff: a code with spaces -> 23514');
-- bind_role
SELECT throws_ok(format($$SELECT commerce.bind_role('abi_missing', %s, 'service')$$, :t), 'PT404',
                 'role "abi_missing" not found', 'bind_role: an unknown role -> PT404');
SELECT throws_ok(format($$SELECT commerce.bind_role('abi_login', %s, 'anonymous')$$, :t), '22023',
                 'invalid value for p_kind', 'bind_role: an anonymous binding -> 22023');
SELECT throws_ok(format($$SELECT commerce.bind_role('abi_super', %s, 'service')$$, :t), '22023',
                 'invalid value for p_role', 'bind_role: a superuser -> 22023');
SELECT throws_ok(format($$SELECT commerce.bind_role('abi_login', %s, 'customer')$$, :t), '23514',
                 NULL, 'bind_role: a customer binding without a subject -> 23514');
SELECT throws_ok($$SELECT commerce.bind_role('abi_login', 999999, 'service')$$, 'PT404',
                 'tenant "999999" not found', 'bind_role: an unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.bind_role(NULL, %s, 'service')$$, :t), '22004',
                 'argument p_role must not be null', 'bind_role: NULL role -> 22004');
-- grant_api, grant_jobs, schedule_jobs
SELECT throws_ok($$SELECT * FROM commerce.grant_api('abi_missing')$$, 'PT404', 'role "abi_missing" not found',
                 'grant_api: an unknown gateway role -> PT404');
SELECT throws_ok($$SELECT commerce.grant_jobs('abi_super')$$, '22023', 'invalid value for p_role',
                 'grant_jobs: a superuser -> 22023');
SELECT throws_ok($$SELECT commerce.grant_jobs(NULL)$$, '22004', 'argument p_role must not be null',
                 'grant_jobs: NULL role -> 22004');
SELECT throws_ok($$SELECT * FROM commerce.schedule_jobs('abi_nologin')$$, '0A000', NULL,
                 'schedule_jobs: without pg_cron in this database -> 0A000 (before the role is looked at)');
-- set_refund_approval
SELECT throws_ok(format($$SELECT commerce.set_refund_approval(%s, 1000000000000000000)$$, :t), '22023',
                 'invalid value for p_threshold_fen', 'set_refund_approval: above the largest amount -> 22023');
SELECT throws_ok($$SELECT commerce.set_refund_approval(999999, 100)$$, 'PT404', 'tenant "999999" not found',
                 'set_refund_approval: an unknown tenant -> PT404');
SELECT throws_ok($$SELECT commerce.set_refund_approval(NULL, 100)$$, '22004', NULL,
                 'set_refund_approval: NULL tenant -> 22004');

SELECT is(pg_temp.fingerprint(), :'fp0', 'the refused calls changed nothing');

SELECT * FROM finish();
ROLLBACK;
