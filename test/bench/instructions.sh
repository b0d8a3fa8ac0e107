#!/usr/bin/env bash
# instructions.sh: CPU instructions per call of the hot paths, counted by
# callgrind in a single-user backend. Unlike a rate, a count repeats to 0.1%
# from run to run and does not move with the machine's load, so it is how one
# change is measured against another (docs/benchmarks.md). Counted: all
# the backend does for a call (its parse, plan, execution and commit),
# averaged over N calls after W warm-up calls, from the difference of a run
# with N calls and one with none (which also holds the backend's start, the
# warm-up and its exit).
# Prints reserve_instructions, order_instructions, commit_floor_instructions
# and each call against the commit floor. Needs valgrind (present on a new
# machine of this kind); without it the figures are skipped, not faked.
# Environment: PGBIN, IS_ROOT (from test/harness.sh); W (20), N (200).
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v valgrind >/dev/null 2>&1; then
    echo "instructions: skipped (no valgrind)"
    exit 0
fi
W="${W:-20}"
N="${N:-200}"
CG="$(mktemp -d /tmp/commerce-cg.XXXXXX)"
chmod 755 "$CG"
as_server() { if [ "${IS_ROOT:-0}" -eq 1 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
trap 'as_server "$PGBIN/pg_ctl" -D "$CG/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$CG"' EXIT
[ "${IS_ROOT:-0}" -eq 1 ] && chown postgres "$CG"

# a cluster of its own with the bench fixtures (one hot SKU, one per client)
as_server "$PGBIN/initdb" -D "$CG/data" -A trust >/dev/null
as_server "$PGBIN/pg_ctl" -D "$CG/data" -l "$CG/log" -o "-p 5497 -k $CG -c listen_addresses=''" -w start >/dev/null
PGHOST="$CG" PGPORT=5497 PGUSER=postgres createdb cg
PGHOST="$CG" PGPORT=5497 PGUSER=postgres psql -X -q -v ON_ERROR_STOP=1 -v clients=16 -d cg -f setup.sql >/dev/null
T=$(PGHOST="$CG" PGPORT=5497 PGUSER=postgres psql -X -At -d cg -c "SELECT commerce.tenant_id('bench')")
as_server "$PGBIN/pg_ctl" -D "$CG/data" -w stop >/dev/null

# total instructions of W + $2 calls of statement $1 (printf format, %d = call number)
count() {
    local stmt="$1" calls="$2"
    rm -rf "$CG/run"
    as_server cp -a "$CG/data" "$CG/run"
    for i in $(seq 1 $((W + calls))); do printf "$stmt\n" "$i"; done > "$CG/q.sql"
    as_server valgrind --tool=callgrind --callgrind-out-file="$CG/out" \
        "$PGBIN/postgres" --single -D "$CG/run" cg < "$CG/q.sql" > "$CG/stdout" 2> "$CG/valgrind"
    if grep -q ERROR "$CG/stdout"; then
        echo "instructions: errors in the counted calls:" >&2
        grep -m3 ERROR "$CG/stdout" >&2
        exit 1
    fi
    sed -n 's/^totals: \([0-9]*\)$/\1/p' "$CG/out"
}
# instructions per call of statement $1
per_call() {
    local none all
    none=$(count "$1" 0)
    all=$(count "$1" "$N")
    echo $(((all - none) / N))
}

RESERVE=$(per_call "SELECT reservation_id FROM commerce.reserve_sku($T, 'cg-%d', 'bench', 'HOT', 1);")
ORDER=$(per_call "SELECT order_id FROM commerce.place_order($T, 'cg-%d', 'wechat_mp', '{\"lines\":[{\"sku\":\"HOT\",\"qty\":1}]}');")
FLOOR=$(per_call "INSERT INTO public.commit_floor VALUES (%d);")
echo "reserve_instructions: $RESERVE"
echo "order_instructions: $ORDER"
echo "commit_floor_instructions: $FLOOR"
awk -v r="$RESERVE" -v o="$ORDER" -v f="$FLOOR" \
    'BEGIN { printf "reserve_vs_floor_instructions: %.1f\norder_vs_floor_instructions: %.1f\n", r / f, o / f }'
