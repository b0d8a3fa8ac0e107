#!/usr/bin/env bash
# test/lint/plpgsql_check.sh: plpgsql_check over every PL/pgSQL function and
# procedure of the extension (trigger functions against a table they guard,
# with its transition tables):
# no error and no warning. Performance hints (hidden casts) are listed, not
# counted. Runs in the database pg_cron serves, so that the job functions'
# references to the cron schema resolve.
source "$(dirname "$0")/../lib/tap.sh"
DB="$(q -d postgres -c "SHOW cron.database_name" 2>/dev/null || true)"
if [ -z "$DB" ] || [ "$(q -d "$DB" -c "SELECT count(*) FROM pg_extension WHERE extname = 'commerce'" 2>/dev/null || echo x)" != "0" ]; then
    DB=lint_plpgsql    # no pg_cron here, or its database is in use: the job functions are skipped
    fresh_db "$DB"
    OWN=1
else
    OWN=0
fi
export PGDATABASE="$DB"
q -c "CREATE EXTENSION IF NOT EXISTS pg_cron" 2>/dev/null || true
q -c "CREATE EXTENSION commerce" -c "CALL commerce.provision()" -c "CREATE EXTENSION plpgsql_check"
has_cron="$(q -c "SELECT count(*) FROM pg_namespace WHERE nspname = 'cron'")"
report="$(q -F ' | ' -c "
SELECT p.oid::regprocedure || ' | ' || r.level || ' | ' || coalesce(r.sqlstate, '') || ' | ' || r.message
       || coalesce(' | line ' || r.lineno, '') || coalesce(' | ' || r.detail, '')
  FROM pg_proc p
  JOIN pg_language l ON l.oid = p.prolang AND l.lanname = 'plpgsql'
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'commerce'
 CROSS JOIN LATERAL plpgsql_check_function_tb(p.oid,
        coalesce((SELECT t.tgrelid FROM pg_trigger t WHERE t.tgfoid = p.oid ORDER BY t.tgrelid LIMIT 1), 0),
        performance_warnings => true, extra_warnings => true,
        oldtable => (SELECT t.tgoldtable FROM pg_trigger t WHERE t.tgfoid = p.oid ORDER BY t.tgrelid LIMIT 1),
        newtable => (SELECT t.tgnewtable FROM pg_trigger t WHERE t.tgfoid = p.oid ORDER BY t.tgrelid LIMIT 1)) r
 WHERE $has_cron > 0 OR p.proname NOT IN ('schedule_jobs', 'unschedule_jobs', 'purge_batch')   -- they name pg_cron's tables
 ORDER BY 1")"
n="$(q -c "SELECT count(*) FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang AND l.lanname = 'plpgsql'
            JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
            JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'commerce'")"
errors="$(echo "$report" | grep -E '^[^|]+ \| (error|warning|warning extra) \|' || true)"
perf="$(echo "$report" | grep -cE '^[^|]+ \| performance \|' || true)"
ok "$([ "$n" -gt 100 ]; echo $?)" "plpgsql_check looked at $n PL/pgSQL functions$([ "$has_cron" -gt 0 ] || echo ' (without the pg_cron job functions)')"
ok "$([ -z "$errors" ]; echo $?)" "plpgsql_check: no error and no warning" "$errors"
echo "# performance hints (hidden casts), not counted: $perf"
# the check can fail: a function with a typo in a column name is reported
probe="$(q -c "CREATE FUNCTION pg_temp.lint_probe() RETURNS int LANGUAGE plpgsql AS \$\$ BEGIN RETURN (SELECT no_such_column FROM commerce.tenant LIMIT 1); END \$\$;
               SELECT count(*) FROM plpgsql_check_function_tb('pg_temp.lint_probe()') WHERE level = 'error'" | tail -n 1)"
is "$probe" "1" "plpgsql_check reports a function that names a missing column"
q -c "DROP EXTENSION plpgsql_check" -c "SET client_min_messages = warning" -c "DROP SCHEMA commerce CASCADE"
if [ "$OWN" -eq 1 ]; then q -d postgres -c "DROP DATABASE $DB"; fi
done_testing
