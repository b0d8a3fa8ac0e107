#!/usr/bin/env bash
# test/upgrade/drop.sh: removing commerce (docs/operations.md "Removing
# commerce"). DROP EXTENSION refuses while the provisioned tables hold the
# data, and changes nothing; DROP SCHEMA commerce CASCADE removes the data and
# the extension and leaves nothing behind: no schema commerce_api, no object
# in schema commerce, no function of the library, no type, no pg_cron job
# (once commerce.unschedule_jobs() has run), and the extension can be created
# again at once. An extension that was never provisioned drops cleanly.
source "$(dirname "$0")/../lib/tap.sh"
DB=upg_drop
fresh_db "$DB"
export PGDATABASE="$DB"
q -c "CREATE EXTENSION commerce" -c "CALL commerce.provision()"
# some data in every module, so that the drop has rows to take
q -f "$UPG/lib/smoke.sql" >/dev/null
before="$(q -c "SELECT count(*) FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
                  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'commerce')")"
ok "$([ "$before" -gt 200 ]; echo $?)" "the extension owns $before objects before the drop"
rows="$(q -c "SELECT count(*) FROM commerce.orders")"
if q -c "DROP EXTENSION commerce" 2>"$DB.err"; then rc=1; else rc=0; fi
ok "$rc" "DROP EXTENSION refuses while the provisioned tables exist"
ok "$(grep -q 'cannot drop extension commerce because other objects depend on it' "$DB.err"; echo $?)" \
    "with PostgreSQL's dependency error" "$(head -n 3 "$DB.err")"
is "$(q -c "SELECT count(*) FROM commerce.orders")" "$rows" "and the data is untouched ($rows orders)"
rm -f "$DB.err"
q -c "SET client_min_messages = warning" -c "DROP SCHEMA commerce CASCADE"
is "$(q -c "SELECT count(*) FROM pg_extension WHERE extname = 'commerce'")" "0" "DROP SCHEMA commerce CASCADE removes the extension"
is "$(q -c "SELECT string_agg(nspname, ' ') FROM pg_namespace WHERE nspname = 'commerce_api'")" "" "schema commerce_api is gone"
is "$(q -c "SELECT string_agg(c.relname, ' ') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname IN ('commerce', 'commerce_api')")" "" "no table, view, index or sequence is left in schema commerce"
is "$(q -c "SELECT string_agg(p.oid::regprocedure::text, ' ') FROM pg_proc p
            WHERE p.pronamespace IN (SELECT oid FROM pg_namespace WHERE nspname IN ('commerce', 'commerce_api'))
               OR p.probin LIKE '%/commerce'")" "" "no function is left (none of the library's either)"
is "$(q -c "SELECT string_agg(t.typname, ' ') FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
            WHERE n.nspname IN ('commerce', 'commerce_api')")" "" "no type is left"
is "$(q -c "SELECT count(*) FROM pg_depend WHERE refclassid = 'pg_extension'::regclass
             AND refobjid NOT IN (SELECT oid FROM pg_extension)")" "0" "no object still depends on a dropped extension"
# CREATE EXTENSION makes schema commerce again (commerce.control names it)
q -c "CREATE EXTENSION commerce" -c "CALL commerce.provision()"
is "$(q -c "SELECT extversion FROM pg_extension WHERE extname = 'commerce'")" "$(current_version)" "the extension can be created again"
is "$(q -c "SELECT count(*) FROM commerce.tenant")" "0" "and starts empty"
# never provisioned: DROP EXTENSION alone takes everything
q -c "SET client_min_messages = warning" -c "DROP SCHEMA commerce CASCADE" -c "CREATE EXTENSION commerce"
q -c "DROP EXTENSION commerce"
is "$(q -c "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname IN ('commerce', 'commerce_api')")" "0" "an unprovisioned extension drops cleanly"

# pg_cron jobs: schedule_jobs in the database pg_cron serves, then
# unschedule_jobs before the drop leaves no job behind
CRON_DB="$(q -c "SHOW cron.database_name" 2>/dev/null || true)"
had="$( [ -n "$CRON_DB" ] && q -d "$CRON_DB" -c "SELECT count(*) FROM pg_extension WHERE extname = 'commerce'" 2>/dev/null || echo 1)"
if [ "$had" = "0" ] && q -d "$CRON_DB" -c "CREATE EXTENSION IF NOT EXISTS pg_cron" 2>/dev/null; then
    q -d "$CRON_DB" -c "CREATE EXTENSION IF NOT EXISTS commerce" -c "CALL commerce.provision()"
    q -d "$CRON_DB" -c "SELECT commerce.schedule_jobs()" >/dev/null
    n="$(q -d "$CRON_DB" -c "SELECT count(*) FROM cron.job WHERE jobname LIKE 'commerce-%'")"
    ok "$([ "$n" -gt 0 ]; echo $?)" "schedule_jobs() scheduled $n pg_cron jobs"
    q -d "$CRON_DB" -c "SELECT commerce.unschedule_jobs()" >/dev/null
    q -d "$CRON_DB" -c "SET client_min_messages = warning" -c "DROP SCHEMA commerce CASCADE"
    is "$(q -d "$CRON_DB" -c "SELECT count(*) FROM cron.job WHERE jobname LIKE 'commerce-%'")" "0" \
        "unschedule_jobs() then DROP SCHEMA commerce CASCADE leaves no pg_cron job"
else
    echo "# pg_cron's database is not free here: the job checks are skipped"
fi
q -d postgres -c "DROP DATABASE $DB"
done_testing
