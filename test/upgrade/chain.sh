#!/usr/bin/env bash
# test/upgrade/chain.sh: a fresh install of the current version and
# 0.1.0 followed by every upgrade script give the same extension: the
# OID-free catalog fingerprint (lib/fingerprint.sql) of the two databases is
# identical. Then the fingerprint is shown to see each kind of difference it
# must catch, so that this check can fail.
source "$(dirname "$0")/../lib/tap.sh"
V="$(current_version)"
T="$(mktemp -d /tmp/commerce-upgrade.XXXXXX)"
trap 'rm -rf "$T"' EXIT

fresh_db upg_fresh
fresh_db upg_chain
q -d upg_fresh -c "CREATE EXTENSION commerce" -c "CALL commerce.provision()"
q -d upg_chain -c "CREATE EXTENSION commerce VERSION '0.1.0'"
path="$(q -d upg_chain -c "SELECT replace(path, '--', ' -> ') FROM pg_extension_update_paths('commerce')
                            WHERE source = '0.1.0' AND target = '$V'")"
q -d upg_chain -c "ALTER EXTENSION commerce UPDATE"
# an upgraded database is provisioned already: a second provision does nothing
q -d upg_chain -c "CALL commerce.provision()" 2>/dev/null
# an operator sets the actor roles up in both (the upgrade re-grants by itself when they exist)
q -d upg_fresh -c "SELECT count(*) FROM commerce.grant_api()" >/dev/null
q -d upg_chain -c "SELECT count(*) FROM commerce.grant_api()" >/dev/null
is "$(q -d upg_fresh -c "SELECT extversion FROM pg_extension WHERE extname = 'commerce'")" "$V" "fresh install is $V"
is "$(q -d upg_chain -c "SELECT extversion FROM pg_extension WHERE extname = 'commerce'")" "$V" "0.1.0 updated along $path"

fingerprint upg_fresh "$T/fresh"
fingerprint upg_chain "$T/chain"
n="$(wc -l <"$T/fresh")"
echo "# fingerprint: $n lines ($(grep -c '^function .* def=' "$T/fresh") functions," \
    "$(grep -c '^relation ' "$T/fresh") relations, $(grep -c '^column ' "$T/fresh") columns," \
    "$(grep -c '^constraint ' "$T/fresh") constraints, $(grep -c '^index ' "$T/fresh") indexes," \
    "$(grep -c '^trigger ' "$T/fresh") triggers)"
ok "$([ "$n" -gt 1000 ]; echo $?)" "the fingerprint describes the extension ($n lines)"
d="$(diff "$T/chain" "$T/fresh" | head -n 40 || true)"
ok "$([ -z "$d" ]; echo $?)" "fresh install == 0.1.0 + upgrade scripts (identical fingerprints)" \
    "diff chain fresh (first 40 lines):" "$d"

# The fingerprint must see every kind of difference: each change below, made
# in a transaction that is rolled back, has to change it.
sees() { # sees NAME SQL...
    local name="$1"
    shift
    {
        echo "BEGIN;"
        printf '%s\n' "$@"
        echo "\\o $T/mutated"
        cat "$ROOT/test/upgrade/lib/fingerprint.sql"
        echo "\\o"
        echo "ROLLBACK;"
    } >"$T/mutate.sql"
    q -d upg_fresh -f "$T/mutate.sql" >/dev/null
    if cmp -s "$T/fresh" "$T/mutated"; then
        ok 1 "the fingerprint sees $name"
    else
        ok 0 "the fingerprint sees $name"
    fi
}
q -d upg_fresh -c "DROP ROLE IF EXISTS upg_probe" -c "CREATE ROLE upg_probe"
sees "a function body" "ALTER FUNCTION commerce.now() VOLATILE;"
sees "a function's ACL" "GRANT EXECUTE ON FUNCTION commerce.now() TO upg_probe;"
sees "a function's comment" "COMMENT ON FUNCTION commerce.now() IS 'x';"
sees "a column added last" "ALTER TABLE commerce.tenant ADD COLUMN probe int;"
sees "a column default" "ALTER TABLE commerce.tenant ALTER COLUMN time_zone SET DEFAULT 'UTC';"
sees "a column's comment" "COMMENT ON COLUMN commerce.tenant.time_zone IS 'x';"
sees "a constraint" "ALTER TABLE commerce.tenant DROP CONSTRAINT tenant_name_check;"
sees "an index" "DROP INDEX commerce.outbox_ready;"
sees "a trigger's name (firing order)" \
    "ALTER TRIGGER before_20_state_guard ON commerce.orders RENAME TO before_05_state_guard;"
sees "an enum label" "ALTER TYPE commerce.reservation_status ADD VALUE 'probe';"
sees "a view" "CREATE OR REPLACE VIEW commerce.stock AS SELECT * FROM commerce.stock WHERE false;"
sees "a table's ACL" "GRANT SELECT ON commerce.tenant TO upg_probe;"
sees "a seeded row" "UPDATE commerce.job SET schedule = '1 1 1 1 1';"
sees "a new member function" "CREATE FUNCTION commerce.probe() RETURNS int LANGUAGE sql AS 'SELECT 1';" \
    "ALTER EXTENSION commerce ADD FUNCTION commerce.probe();"
sees "a member dropped" "ALTER EXTENSION commerce DROP FUNCTION commerce.now();"
sees "a table made a member" "ALTER EXTENSION commerce ADD TABLE commerce.orders;"
sees "an attribute of a row type" "ALTER TYPE commerce.orders_row ADD ATTRIBUTE probe int;"
q -d upg_fresh -c "DROP ROLE upg_probe"

dropdb upg_fresh
dropdb upg_chain
done_testing
