-- core_limits.sql: the limits are written once (src/commerce_limits.h) and
-- read by SQL through commerce._limit; the table CHECKs that repeat a limit
-- agree with it; every request_id is checked by commerce._request_key.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(18);

SELECT is(commerce._limit('key_len'), 200::bigint, 'key_len');
SELECT is(commerce._limit('max_qty'), 1000000::bigint, 'max_qty');
SELECT is(commerce._limit('bp_scale'), 10000::bigint, 'bp_scale');
SELECT is(commerce._limit('max_fen'), 1000000000000000::bigint, 'max_fen');
SELECT throws_ok($$SELECT commerce._limit('nope')$$, '22023', 'invalid value for p_name', 'an unknown limit -> 22023');
SELECT throws_ok($$SELECT commerce._limit(NULL)$$, '22004', 'argument p_name must not be null', 'NULL -> 22004');

-- every CHECK on a request_id column allows exactly 1 to key_len characters
SELECT is((SELECT coalesce(string_agg(conrelid::regclass::text, ', '), '')
             FROM pg_constraint
            WHERE connamespace = 'commerce'::regnamespace AND contype = 'c'
              AND pg_get_constraintdef(oid) LIKE '%length(request_id)%'
              AND pg_get_constraintdef(oid) NOT LIKE format('%%<= %s)%%', commerce._limit('key_len'))),
          '', 'the request_id CHECKs of the tables agree with key_len');
SELECT cmp_ok((SELECT count(*)::int FROM pg_constraint
                WHERE connamespace = 'commerce'::regnamespace AND contype = 'c'
                  AND pg_get_constraintdef(oid) LIKE '%length(request_id)%'), '>=', 5,
              'and there are such CHECKs to compare');
-- the bp CHECKs agree with bp_scale
SELECT is((SELECT coalesce(string_agg(conrelid::regclass::text || '.' || conname, ', '), '')
             FROM pg_constraint
            WHERE connamespace = 'commerce'::regnamespace AND contype = 'c'
              AND pg_get_constraintdef(oid) ~ '_bp >= 0\) AND \(\w+_bp <= \d+'
              AND pg_get_constraintdef(oid) !~ format('_bp <= %s\)', commerce._limit('bp_scale'))),
          '', 'the basis-point CHECKs of the tables agree with bp_scale');
SELECT cmp_ok((SELECT count(*)::int FROM pg_constraint
                WHERE connamespace = 'commerce'::regnamespace AND contype = 'c'
                  AND pg_get_constraintdef(oid) ~ '_bp >= 0\) AND \(\w+_bp <= \d+'), '>=', 5,
              'and there are such CHECKs to compare');

-- request_id checks: one helper, one message
SELECT throws_ok($$SELECT commerce._request_key(repeat('x', 201), 'p_request_id')$$, '22023', 'invalid value for p_request_id',
                 '_request_key: 201 characters -> 22023');
SELECT throws_ok($$SELECT commerce._request_key('', 'p_request_id')$$, '22023', 'invalid value for p_request_id',
                 '_request_key: empty -> 22023');
SELECT throws_ok($$SELECT commerce._request_key(NULL, 'p_request_id')$$, '22004', 'argument p_request_id must not be null',
                 '_request_key: NULL -> 22004');
SELECT lives_ok($$SELECT commerce._request_key(repeat('x', 200), 'p_request_id')$$, '_request_key: 200 characters pass');
-- no PL/pgSQL entry point checks a request_id's length by itself
SELECT is((SELECT coalesce(string_agg(p.oid::regprocedure::text, ', '), '')
             FROM pg_proc p WHERE p.pronamespace = 'commerce'::regnamespace
              AND p.prosrc ~ 'length\(p_request_id\) NOT BETWEEN'),
          '', 'every request_id length check goes through _request_key');

-- bad input the fuzz run (test/stress/core_fuzz.sh) found answering with raw errors in 0.6.0
\o /dev/null
SELECT commerce.create_tenant('lim', 'Limits') AS t \gset
\o
SELECT throws_ok(format($$SELECT commerce.koc_overview(%s, 'infinity', current_date)$$, :t), '22023', 'invalid value for p_to',
                 'a report from an infinite date -> 22023 (0.6.0: 22008 cannot subtract infinite dates)');
SELECT throws_ok(format($$SELECT commerce.adjust_stock(%s, 'adj', 'NOPE', -9223372036854775808, 'x')$$, :t), '22023', 'invalid value for p_delta',
                 'adjust_stock by the int64 minimum -> 22023 (0.6.0: 22003 bigint out of range)');
SELECT throws_ok($$SELECT commerce._declare_append_only(NULL)$$, '22004', 'argument p_table must not be null',
                 '_declare_append_only(NULL) -> 22004, not a syntax error');

SELECT * FROM finish();
ROLLBACK;
