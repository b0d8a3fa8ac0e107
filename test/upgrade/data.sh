#!/usr/bin/env bash
# test/upgrade/data.sh: a populated database of the previous release upgrades
# cleanly. It installs the previous release, writes rows through that
# release's API (the demo story), grants the API to a role as an operator
# would, updates to the current version, and then: every check_*_invariants()
# returns nothing, every function keeps its grants, and a short flow through
# every module of the current version (lib/smoke.sql) passes.
#
# The writer is the demo of the previous release, kept as it was released in
# lib/demo-<previous>/ (git show v<previous>:test/demo/...): the current demo
# uses what only the current version has.
source "$(dirname "$0")/../lib/tap.sh"
V="$(current_version)"
PREV="$(cd "$ROOT/sql/updates" && ls commerce--*--"$V".sql | sed -E 's/commerce--(.*)--.*\.sql/\1/')"
DB=upg_data
fresh_db "$DB"
export PGDATABASE="$DB"
q -c "CREATE EXTENSION commerce VERSION '$PREV'"
is "$(q -c "SELECT extversion FROM pg_extension WHERE extname = 'commerce'")" "$PREV" "installed the previous release $PREV"

# an operator's grants, as docs/getting-started.md shows them
q -c "DROP ROLE IF EXISTS upg_api" -c "CREATE ROLE upg_api NOLOGIN" \
  -c "GRANT USAGE ON SCHEMA commerce_api TO upg_api" \
  -c "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA commerce_api TO upg_api" \
  -c "GRANT EXECUTE ON FUNCTION commerce.tenant_id(text) TO upg_api"
granted_before="$(q -c "SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                         WHERE n.nspname IN ('commerce', 'commerce_api') AND has_function_privilege('upg_api', p.oid, 'EXECUTE')
                           AND NOT EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                                            WHERE a.grantee = 0)
                         ORDER BY 1::text")"

# the demo creates a role of its own (a customer-service clerk)
q -c "DROP ROLE IF EXISTS demo_clerk"
log="$(mktemp /tmp/commerce-upgrade-demo.XXXXXX)"
if (cd "$UPG/lib/demo-$PREV" && bash demo.sh) >"$log" 2>&1; then rc=0; else rc=$?; fi
ok "$rc" "the $PREV demo wrote its story (orders, KOC money, plays)" "$(tail -n 20 "$log")"
rm -f "$log"
rows="$(q -c "SELECT (SELECT count(*) FROM commerce.orders) || ' orders, ' ||
                     (SELECT count(*) FROM commerce.commission_line) || ' commission lines, ' ||
                     (SELECT count(*) FROM commerce.play_instance) || ' play instances, ' ||
                     (SELECT count(*) FROM commerce.stock_movement) || ' stock movements'")"
echo "# before the update: $rows"

if q -c "ALTER EXTENSION commerce UPDATE" 2>"$DB.err"; then rc=0; else rc=$?; fi
ok "$rc" "ALTER EXTENSION commerce UPDATE on a populated $PREV database" "$(cat "$DB.err")"
rm -f "$DB.err"
is "$(q -c "SELECT extversion FROM pg_extension WHERE extname = 'commerce'")" "$V" "the database is at $V"
for c in stock order koc play; do
    is "$(q -c "SELECT count(*) FROM commerce.check_${c}_invariants()")" "0" "check_${c}_invariants() holds after the update"
done
is "$(q -c "SELECT (SELECT count(*) FROM commerce.orders) || ' orders, ' ||
                  (SELECT count(*) FROM commerce.commission_line) || ' commission lines, ' ||
                  (SELECT count(*) FROM commerce.play_instance) || ' play instances, ' ||
                  (SELECT count(*) FROM commerce.stock_movement) || ' stock movements'")" "$rows" \
    "every row is still there"

# data migrations of this version: play instance statuses in lower case
is "$(q -c "SELECT string_agg(DISTINCT status, ',' ORDER BY status) FROM commerce.play_instance")" "failed,success" \
    "play instances keep their outcome, in lower case (the demo's group that filled and the one that failed)"

# grants: every function the role could run before it can still run (a
# function an upgrade drops and creates again must get its grants back)
lost=""
while read -r f; do
    [ -n "$f" ] || continue
    name="${f%%(*}"
    # the same signature, or, when the signature changed, every function of that name
    got="$(q -c "SELECT coalesce(bool_and(has_function_privilege('upg_api', p.oid, 'EXECUTE')), false)
                 FROM pg_proc p WHERE p.oid = to_regprocedure('$f')
                    OR (to_regprocedure('$f') IS NULL AND p.oid::regproc::text = '$name')")"
    [ "$got" = "t" ] || lost="$lost $f"
done <<<"$granted_before"
is "$lost" "" "every function granted before the update is still granted ($(echo "$granted_before" | wc -l) functions)"

# a short flow of the current version on the upgraded database
out="$(q -f "$UPG/lib/smoke.sql" 2>&1)" && rc=0 || rc=$?
ok "$rc" "the $V smoke flow runs on the upgraded database" "$out"
is "$(echo "$out" | grep -cvx 't' || true)" "0" "every step of the smoke flow returns true ($(echo "$out" | grep -cx 't') steps)"
for c in stock order koc play; do
    is "$(q -c "SELECT count(*) FROM commerce.check_${c}_invariants()")" "0" "check_${c}_invariants() holds after the smoke flow"
done

q -d postgres -c "DROP DATABASE $DB" -c "DROP ROLE upg_api" -c "DROP ROLE IF EXISTS demo_clerk"
done_testing
