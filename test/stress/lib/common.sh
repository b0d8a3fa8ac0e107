# Shared helpers for the stress scripts (sourced, not run): a database of
# the script's own, checks that print ok/FAILED, and the deadlock counter.
set -euo pipefail
FAILED=0
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
# check NAME ACTUAL EXPECTED
check() {
    if [ "$2" = "$3" ]; then
        printf '  ok      %-48s %s\n' "$1" "$2"
    else
        printf '  FAILED  %-48s got %s, want %s\n' "$1" "$2" "$3"
        FAILED=1
    fi
}
fresh_db() {
    dropdb --if-exists "$1" >/dev/null 2>&1 || true
    createdb "$1"
    export PGDATABASE="$1"
}
# deadlocks counted by the server in this database so far
deadlocks() {
    sleep 1.5 # backends report their statistics when they go idle or exit
    q -c "SELECT pg_stat_clear_snapshot(); SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()" | tail -1
}
# pgbench's failed-transaction count (aborted clients count as failures)
pgbench_failures() {
    local out="$1"
    if grep -q "aborted" "$out"; then echo "aborted"; return; fi
    sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out"
}
