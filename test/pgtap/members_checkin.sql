-- members_checkin.sql: the daily check-in (PR10): once per customer and
-- tenant-local day, a streak counted from yesterday, the bonus on every
-- streak_days-th day, a broken streak starting again; bad input refused
-- with its SQLSTATE and nothing changed.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(14);
\ir lib/fingerprint.psql
\ir lib/call_as.psql
\o /dev/null

SET LOCAL commerce.now = '2030-05-01 23:30:00+08';
SELECT commerce.grant_api();
SELECT commerce.create_tenant('ck', 'Check-ins') AS t \gset
SELECT commerce.create_tenant('ck2', 'No check-ins') AS t2 \gset
SELECT set_config('act.t', :'t', true);
SELECT commerce.upsert_customer(:t, c) FROM unnest(ARRAY['a', 'b']) c;
SELECT commerce.upsert_customer(:t2, 'a');
SELECT commerce.set_checkin_rule(:t, 5, 3, 20, 30);
\o

SELECT is((commerce.check_in(:t, 'a'))::text, '(2030-05-01,1,5,checked_in)', 'the first check-in: day 1, 5 points');
SELECT is((commerce.check_in(:t, 'a'))::text, '(2030-05-01,1,5,already)', 'again the same local day: already, nothing earned');
SET LOCAL commerce.now = '2030-05-01 16:30:00+00';   -- 00:30 on 2 May in Shanghai
SELECT is((commerce.check_in(:t, 'a'))::text, '(2030-05-02,2,5,checked_in)', 'after local midnight: day 2 of the streak');
SET LOCAL commerce.now = '2030-05-03 09:00:00+08';
SELECT is((commerce.check_in(:t, 'a'))::text, '(2030-05-03,3,25,checked_in)', 'day 3 of 3: 5 + the 20 bonus');
SET LOCAL commerce.now = '2030-05-05 09:00:00+08';
SELECT is((commerce.check_in(:t, 'a'))::text, '(2030-05-05,1,5,checked_in)', 'a day missed: the streak starts again');
SELECT is((SELECT available || ' ' || earned FROM commerce.points_account a JOIN commerce.customer c USING (tenant_id, customer_id)
            WHERE c.tenant_id = :t AND c.code = 'a'), '40 40', 'the account: 5 + 5 + 25 + 5 = 40 points, available at once');
SELECT is(pg_temp.call_as('customer', 'b', $$SELECT 1/(count(*) = 1 AND bool_and(outcome = 'checked_in'))::int FROM commerce_api.check_in()$$), 'ok',
          'a customer checks itself in through the API');
SELECT is((SELECT count(*) FROM commerce.check_points_invariants()), 0::bigint, 'every points invariant holds');

-- bad input
SELECT pg_temp.fingerprint() AS fp0 \gset
SELECT throws_ok(format($$SELECT commerce.check_in(%s, 'a')$$, :t2), 'PT409', format('tenant %s has no daily check-in', :t2),
                 'a tenant without a check-in rule -> PT409');
SELECT throws_ok(format($$SELECT commerce.check_in(%s, 'nobody')$$, :t), 'PT404', 'customer "nobody" not found', 'an unknown customer -> PT404');
SELECT throws_ok(format($$SELECT commerce.check_in(%s, NULL)$$, :t), '22004', 'argument p_customer must not be null', 'no customer -> 22004');
SELECT throws_ok(format($$SELECT commerce.set_checkin_rule(%s, 0)$$, :t), '22023', 'invalid value for p_points', 'a check-in of 0 points -> 22023');
SELECT is(pg_temp.call_as('customer', 'a', $$SELECT * FROM commerce_api.check_in('b')$$), '42501: a customer acts only as itself',
          'checking another customer in -> 42501');
SELECT is(pg_temp.fingerprint(), :'fp0', 'refused: nothing changed');
SELECT * FROM finish();
ROLLBACK;
