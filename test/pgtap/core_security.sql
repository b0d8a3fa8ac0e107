-- core_security.sql: the first findings of the deployment issue, replayed.
-- A caller with EXECUTE on commerce_api shadows jsonb with a domain in its
-- own pg_temp whose CHECK runs a function of its own; with the 0.6.0
-- search_path of the SECURITY DEFINER functions (pg_temp searched first,
-- implicitly) that function ran as the extension's owner, a superuser. Now
-- pg_temp is searched last and the attack finds nothing to run. Also: a
-- NULL status no longer crashes the server (23502).
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(10);

\o /dev/null
SET LOCAL commerce.now = '2030-01-01 10:00:00+08';
SELECT commerce.create_tenant('sec', 'Security') AS t \gset
SELECT commerce.upsert_product(:t, 'P', 'Goods') > 0;
SELECT commerce.upsert_sku(:t, 'P', 'HOODIE-L', 'Hoodie', 100) > 0;
SELECT commerce.receive_stock(:t, 'r', 'HOODIE-L', 10) > 0;
CREATE ROLE sec_attacker NOLOGIN;
GRANT USAGE ON SCHEMA commerce_api TO sec_attacker;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA commerce_api TO sec_attacker;
CREATE TEMP TABLE pwned (who text, super boolean);
GRANT INSERT ON pwned TO PUBLIC;
-- the attack, as the caller; returns how many times the planted function ran as a superuser
CREATE FUNCTION pg_temp.attack(p_tenant bigint) RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
    SET LOCAL ROLE sec_attacker;
    EXECUTE 'CREATE OR REPLACE FUNCTION pg_temp.pwn(v pg_catalog.jsonb) RETURNS boolean LANGUAGE plpgsql AS '
            '$b$ BEGIN INSERT INTO pwned SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user; RETURN true; END $b$';
    EXECUTE 'DROP DOMAIN IF EXISTS pg_temp.jsonb';
    EXECUTE 'CREATE DOMAIN pg_temp.jsonb AS pg_catalog.jsonb CHECK (pg_temp.pwn(VALUE))';
    PERFORM set_config('request.jwt.claims', format('{"tenant_id":"%s"}', p_tenant), true);
    PERFORM count(*) FROM commerce_api.stock('HOODIE-L');
    EXECUTE 'DROP DOMAIN pg_temp.jsonb';
    RESET ROLE;
    RETURN (SELECT count(*) FROM pwned WHERE super);
EXCEPTION WHEN OTHERS THEN
    RESET ROLE;
    RAISE;
END $$;
\o

SELECT is(pg_temp.attack(:t), 0, 'the pg_temp domain attack runs nothing as a superuser (finding 2)');
SELECT is((SELECT count(*)::int FROM pwned), 0, 'the planted function did not run at all');
-- the same attack against the 0.6.0 setting succeeds: this test can fail
ALTER FUNCTION commerce_api.stock(text) SET search_path = pg_catalog, commerce;
SELECT cmp_ok(pg_temp.attack(:t), '>', 0, 'with the 0.6.0 search_path the same attack runs as a superuser');
ALTER FUNCTION commerce_api.stock(text) SET search_path = pg_catalog, commerce, pg_temp;
DELETE FROM pwned;

-- every SECURITY DEFINER function of the extension searches pg_temp last
SELECT is((SELECT coalesce(string_agg(p.oid::regprocedure::text, ', '), '')
             FROM pg_proc p
             JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
             JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'commerce'
            WHERE p.prosecdef
              AND NOT coalesce('search_path=pg_catalog, commerce, pg_temp' = ANY (p.proconfig), false)),
          '', 'every SECURITY DEFINER function: search_path = pg_catalog, commerce, pg_temp');
SELECT cmp_ok((SELECT count(*)::int FROM pg_proc WHERE prosecdef AND pronamespace = 'commerce_api'::regnamespace),
              '>=', 23, 'and there are such functions (the commerce_api wrappers)');

-- finding 4 (first part): PUBLIC can run no routine of schema commerce, read no table, use no schema
SELECT is((SELECT coalesce(string_agg(p.oid::regprocedure::text, ', '), '')
             FROM pg_proc p WHERE p.pronamespace IN ('commerce'::regnamespace, 'commerce_api'::regnamespace)
              AND has_function_privilege('public', p.oid, 'EXECUTE')),
          '', 'no function or procedure of commerce or commerce_api is executable by PUBLIC');
SELECT is((SELECT coalesce(string_agg(c.oid::regclass::text, ', '), '')
             FROM pg_class c WHERE c.relnamespace = 'commerce'::regnamespace AND c.relkind IN ('r', 'v', 'S')
              AND (has_table_privilege('public', c.oid, 'SELECT') OR has_table_privilege('public', c.oid, 'INSERT')
                   OR has_table_privilege('public', c.oid, 'UPDATE') OR has_table_privilege('public', c.oid, 'DELETE'))),
          '', 'no table, view or sequence of commerce is readable or writable by PUBLIC');
SELECT ok(NOT has_schema_privilege('public', 'commerce', 'USAGE') AND NOT has_schema_privilege('public', 'commerce_api', 'USAGE'),
          'PUBLIC may not use the schemas commerce and commerce_api');

-- finding 5: a NULL status is refused by the constraint, the trigger survives it
\o /dev/null
SELECT order_id AS o FROM commerce.place_order(:t, 'o1', 'h5', '{"lines":[{"sku":"HOODIE-L","qty":1}]}') \gset
\o
SELECT throws_ok(format($$UPDATE commerce.orders SET status = NULL WHERE order_id = %s$$, :o), '23502', NULL,
                 'UPDATE orders SET status = NULL -> 23502 (0.6.0: the server crashed)');
SELECT is((SELECT status::text FROM commerce.orders WHERE order_id = :o), 'pending_payment', 'and the order is unchanged');

SELECT * FROM finish();
ROLLBACK;
