#!/usr/bin/env bash
# test/upgrade/backup.sh: a logical backup restores everything
# (docs/operations.md "Backup and restore"). The demo's database is dumped
# with pg_dump in the custom format (-Fc) and as plain SQL, restored with
# pg_restore and with psql into new databases, and into a new cluster after
# pg_dumpall --globals-only. In every copy: each table of schema commerce has
# the same row count and content checksum, each sequence the same position,
# every check_*_invariants() returns nothing, new orders, reservations and
# lines get fresh ids, and the smoke flow (lib/smoke.sql) runs. No flag
# beyond the defaults is used.
source "$(dirname "$0")/../lib/tap.sh"
SRC=upg_backup
T="$(mktemp -d /tmp/commerce-backup.XXXXXX)"
NEW_PORT=""
NEW=""
cleanup() {
    if [ -n "$NEW_PORT" ]; then
        pg_ctl_new stop -m immediate >/dev/null 2>&1 || true
    fi
    rm -rf "$T" ${NEW:+"$NEW"}
}
trap cleanup EXIT
PGBIN="${PGBIN:-$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}"

fresh_db "$SRC"

log="$T/demo.log"
if (cd "$ROOT/test/demo" && PGDATABASE="$SRC" bash demo.sh) >"$log" 2>&1; then rc=0; else rc=$?; fi
ok "$rc" "the demo wrote its story into $SRC" "$(tail -n 20 "$log")"
# an operator's edits of seeded rows, which a restore must keep (0.6.0 put the defaults back)
q -d "$SRC" -c "UPDATE commerce.job SET schedule = '*/5 * * * *' WHERE job_name = (SELECT min(job_name) FROM commerce.job)" \
  -c "UPDATE commerce.routing_rule SET note = 'edited by the operator' WHERE rule_id = (SELECT max(rule_id) FROM commerce.routing_rule WHERE tenant_id = 0)" \
  -c "INSERT INTO commerce.platform_status_map (channel_code, platform_status, status) VALUES ('taobao', 'OPERATOR_ADDED', 'paid')" \
  >/dev/null

# state DB [PSQL-ARGS...]: one line per table (rows and a checksum of the
# rows in a stable order) and per sequence (position), sorted
state() {
    local db="$1"
    shift
    q "$@" -d "$db" >"$T/state.sql" <<'SQL'
SELECT string_agg(format('SELECT %L || count(*) || %L || coalesce(md5(string_agg(t::text, %L ORDER BY t::text COLLATE "C")), %L) FROM %s t',
                         'table ' || c.oid::regclass::text || ' rows=', ' md5=', E'\n', '', c.oid::regclass::text),
                  E'\nUNION ALL\n' ORDER BY c.oid::regclass::text COLLATE "C")
  FROM pg_class c WHERE c.relnamespace = 'commerce'::regnamespace AND c.relkind IN ('r', 'p');
SQL
    {
        q "$@" -d "$db" -f "$T/state.sql" | sort
        q "$@" -d "$db" -c "SELECT 'sequence ' || schemaname || '.' || sequencename || ' last=' || coalesce(last_value::text, 'unset')
                              FROM pg_sequences WHERE schemaname = 'commerce' ORDER BY 1"
    } >"$T/state.$db"
}
state "$SRC"
ntab="$(grep -c '^table ' "$T/state.$SRC")"
nrows="$(sed -n 's/^table [^ ]* rows=\([0-9]*\) .*/\1/p' "$T/state.$SRC" | awk '{ n += $1 } END { print n + 0 }')"
empty="$(grep -c '^table [^ ]* rows=0 ' "$T/state.$SRC" || true)"
ok "$([ "$ntab" -ge 61 ] && [ "$nrows" -gt 1000 ]; echo $?)" \
    "the source has $ntab tables with $nrows rows ($empty of them empty)"

pg_dump -Fc -f "$T/demo.dump" "$SRC"
pg_dump -f "$T/demo.sql" "$SRC"
ncopy="$(pg_dump --data-only -n commerce "$SRC" 2>/dev/null | grep -c '^COPY commerce\.' || true)"
is "$ncopy" "$ntab" "pg_dump --data-only -n commerce emits a COPY for every table ($ncopy)"

# check DB LABEL [PSQL-ARGS...]: the restored copy equals the source
check() {
    local db="$1" label="$2"
    shift 2
    state "$db" "$@"
    d="$(diff "$T/state.$SRC" "$T/state.$db" | head -n 20 || true)"
    ok "$([ -z "$d" ]; echo $?)" "$label: every table's rows (edited seeds too) and every sequence's position are equal" "$d"
    for c in stock order koc play; do
        is "$(q "$@" -d "$db" -c "SELECT count(*) FROM commerce.check_${c}_invariants()")" "0" \
            "$label: check_${c}_invariants() holds"
    done
    # new rows get fresh ids: an order with lines (a reservation behind it) after the restored ones
    local before after
    before="$(q "$@" -d "$db" -c "SELECT coalesce(max(order_id), 0) || ' ' || (SELECT coalesce(max(reservation_id), 0) FROM commerce.reservation)
                                    || ' ' || (SELECT coalesce(max(movement_id), 0) FROM commerce.stock_movement) FROM commerce.orders")"
    q "$@" -d "$db" -c "SELECT commerce.place_order(commerce.tenant_id('up'), 'after-restore-1', 'wechat_mp',
                              '{\"lines\": [{\"sku\": \"HOODIE-L\", \"qty\": 1}]}', 'wx-fan-1')" >/dev/null
    after="$(q "$@" -d "$db" -c "SELECT max(order_id) || ' ' || (SELECT max(reservation_id) FROM commerce.reservation)
                                   || ' ' || (SELECT max(movement_id) FROM commerce.stock_movement) FROM commerce.orders")"
    read -r o1 r1 l1 <<<"$before"
    read -r o2 r2 l2 <<<"$after"
    ok "$([ "$o2" -gt "$o1" ] && [ "$r2" -gt "$r1" ] && [ "$l2" -gt "$l1" ]; echo $?)" \
        "$label: a new order, its reservation and its stock movement get fresh ids" "before: $before" "after:  $after"
    out="$(q "$@" -d "$db" -f "$UPG/lib/smoke.sql" 2>&1)" && rc=0 || rc=$?
    ok "$rc" "$label: the smoke flow runs on the restored database" "$out"
    is "$(echo "$out" | grep -cvx 't' || true)" "0" "$label: every step of the smoke flow returns true"
}

fresh_db upg_restore_fc
if pg_restore -d upg_restore_fc "$T/demo.dump" 2>"$T/err"; then rc=0; else rc=$?; fi
ok "$rc" "pg_restore of the -Fc dump into a new database succeeds, without errors" "$(head -n 20 "$T/err")"
check upg_restore_fc "pg_restore -Fc"
# the comparison can fail: a changed row and a moved sequence are seen
state upg_restore_fc
cp "$T/state.upg_restore_fc" "$T/state.before"
q -d upg_restore_fc -c "UPDATE commerce.store SET name = name || ' (changed)' WHERE store_id = (SELECT min(store_id) FROM commerce.store)" \
  -c "SELECT setval('commerce.tenant_tenant_id_seq', 1000)" >/dev/null
state upg_restore_fc
is "$(diff "$T/state.before" "$T/state.upg_restore_fc" | grep -c '^>' || true)" "2" \
    "the comparison sees a changed row and a moved sequence"

fresh_db upg_restore_sql
if q -d upg_restore_sql -f "$T/demo.sql" >/dev/null 2>"$T/err"; then rc=0; else rc=$?; fi
ok "$rc" "psql -v ON_ERROR_STOP=1 of the plain dump into a new database succeeds" "$(head -n 20 "$T/err")"
check upg_restore_sql "psql plain dump"

# a new cluster: the roles first (pg_dumpall --globals-only), then the dump.
# Its server runs as postgres when this script runs as root (as in CI).
srv() { if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
NEW="$(mktemp -d /tmp/commerce-newcluster.XXXXXX)"
[ "$(id -u)" -eq 0 ] && chown postgres "$NEW"
NEW_PORT=$((${PGPORT:-5432} + 17))
pg_ctl_new() { srv "$PGBIN/pg_ctl" -D "$NEW/data" -s "$@"; }
if srv "$PGBIN/initdb" -D "$NEW/data" -U "$(q -c 'SELECT current_user')" >"$T/initdb.log" 2>&1 \
   && pg_ctl_new -o "-p $NEW_PORT -k $NEW -c listen_addresses=''" -l "$NEW/server.log" -w start; then
    N=(-h "$NEW" -p "$NEW_PORT")
    pg_dumpall --globals-only >"$T/globals.sql"
    # every role but the bootstrap superuser, which the new cluster has already
    grep -v "^CREATE ROLE $(q -c 'SELECT current_user');" "$T/globals.sql" | q "${N[@]}" -d postgres >/dev/null
    q "${N[@]}" -d postgres -c "CREATE DATABASE upg_restore_new"
    if pg_restore "${N[@]}" -d upg_restore_new "$T/demo.dump" 2>"$T/err"; then rc=0; else rc=$?; fi
    ok "$rc" "pg_restore into a new cluster succeeds, without errors" "$(head -n 20 "$T/err")"
    check upg_restore_new "new cluster" "${N[@]}"
    pg_ctl_new stop -m fast
else
    ok 1 "a new cluster for the restore starts" "$(tail -n 5 "$T/initdb.log" "$NEW/server.log" 2>/dev/null)"
fi
NEW_PORT=""
rm -rf "$NEW"

dropdb upg_restore_fc
dropdb upg_restore_sql
dropdb "$SRC"
done_testing
