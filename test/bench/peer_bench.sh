#!/usr/bin/env bash
# test/bench/peer_bench.sh: the seeds' Redis design as a peer, in the same run
# (issue 17). Called by bench.sh with the harness's cluster in the environment
# (PGHOST, HARNESS_DATA, HARNESS_LOG, IS_ROOT, PGBIN) and bench.sh's fresh().
#
# Throughput: peer_driver.c runs CLIENTS threads for SECONDS_PER seconds
# against (b) commerce.reserve_sku, (a') the Lua pre-decrement in Redis and the
# row written durably to PostgreSQL before the buyer is answered, and (a) the
# design as written: the order queued on a Redis list for asynchronous writers.
# Redis 7 is started here on a unix socket with the persistence production
# uses (appendonly, appendfsync everysec).
#
# Crashes: each design runs 10 s on a SKU with about 6 s of its own stock; at
# 3 s the database (or Redis, with its AOF or with its default snapshots) is
# killed with SIGKILL and restarted a second later. Then: acknowledged
# reservations the database does not have (lost),
# units sold beyond the stock (oversold) and, for the Redis designs, how far
# Redis's counter and the database disagree.
# Prints key: value lines on stdout; progress on stderr.
set -euo pipefail
cd "$(dirname "$0")"
: "${CLIENTS:=16}" "${SECONDS_PER:=20}" "${TENANT:?}" "${HARNESS_DATA:?}" "${HARNESS_LOG:?}"
PEER_WORK="$(mktemp -d /tmp/commerce-peer.XXXXXX)"
RSOCK="$PEER_WORK/redis.sock"
REDIS_PID=""
chmod 755 "$PEER_WORK"

cleanup_peer() {
    [ -n "$REDIS_PID" ] && kill -9 "$REDIS_PID" 2>/dev/null || true
    rm -rf "$PEER_WORK"
}
trap cleanup_peer EXIT

gcc -O2 -Wall -Wextra -Werror -I"$("$PGBIN/pg_config" --includedir)" -o "$PEER_WORK/peer_driver" peer_driver.c \
    -L"$("$PGBIN/pg_config" --libdir)" -lpq -lhiredis -lpthread

as_server() {
    if [ "${IS_ROOT:-0}" -eq 1 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

PERSIST=aof
redis_start() { # aof: appendonly, fsync every second (production); rdb: Redis's default snapshots
    local p=(--appendonly yes --appendfsync everysec --save "")
    [ "$PERSIST" = rdb ] && p=(--appendonly no --save "3600 1 300 100 60 10000")
    redis-server --unixsocket "$RSOCK" --unixsocketperm 700 --port 0 --dir "$PEER_WORK" \
        "${p[@]}" --logfile "$PEER_WORK/redis.log" --daemonize yes --pidfile "$PEER_WORK/redis.pid"
    for _ in $(seq 100); do
        redis-cli -s "$RSOCK" ping >/dev/null 2>&1 && break
        sleep 0.05
    done
    REDIS_PID=$(cat "$PEER_WORK/redis.pid")
}
redis_switch() { # restart Redis empty with another persistence
    kill -9 "$REDIS_PID"; sleep 0.2
    rm -rf "$PEER_WORK"/appendonlydir "$PEER_WORK"/dump.rdb
    PERSIST="$1"; redis_start
}
rcli() { redis-cli -s "$RSOCK" "$@"; }

PM=""
pg_kill() {
    PM=$(head -1 "$HARNESS_DATA/postmaster.pid")
    local kids=() f
    for f in /proc/[0-9]*/stat; do # the postmaster's children (procps may be absent)
        read -r -a st < "$f" 2>/dev/null || continue
        [ "${st[3]:-}" = "$PM" ] && kids+=("${st[0]}")
    done
    kill -9 "$PM" "${kids[@]}" 2>/dev/null || true
}
pg_restart() {
    for _ in $(seq 200); do
        kill -0 "$PM" 2>/dev/null || break
        sleep 0.05
    done
    # orphaned backends may still hold the shared memory for a moment
    for _ in $(seq 20); do
        as_server "$PGBIN/pg_ctl" -D "$HARNESS_DATA" -l "$HARNESS_LOG" -w -t 120 start >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    echo "peer_bench: the database did not restart (log: $HARNESS_LOG)" >&2
    return 1
}

driver() { "$PEER_WORK/peer_driver" -t "$TENANT" -r "$RSOCK" -c "$CLIENTS" "$@"; }
field() { sed -n "s/^$1 //p" "$2"; }

redis_start

# ---- throughput, same clients and driver for the three designs
declare -A RATE
for m in commerce redis_sync redis_async; do
    fresh
    rcli flushall >/dev/null
    rcli set stock:HOT 100000000 >/dev/null
    driver -m "$m" -s HOT -T "$SECONDS_PER" > "$PEER_WORK/$m.out"
    RATE[$m]=$(field rate "$PEER_WORK/$m.out")
    printf '%-12s %10.1f acknowledged/s, p50 %s ms, p99 %s ms (errors: %s%s)\n' "$m" "${RATE[$m]}" \
        "$(field p50_ms "$PEER_WORK/$m.out")" "$(field p99_ms "$PEER_WORK/$m.out")" "$(field errors "$PEER_WORK/$m.out")" \
        "$( [ "$m" = redis_async ] && echo ", backlog $(field backlog "$PEER_WORK/$m.out") drained in $(field drain_s "$PEER_WORK/$m.out") s")" >&2
done
for m in commerce redis_sync redis_async; do
    echo "peer_${m}_p99_ms: $(field p99_ms "$PEER_WORK/$m.out")"
done
printf 'peer_commerce_per_s: %.0f\n' "${RATE[commerce]}"
printf 'redis_durable_per_s: %.0f\n' "${RATE[redis_sync]}"
printf 'redis_async_per_s: %.0f\n' "${RATE[redis_async]}"
awk -v h="${RATE[commerce]}" -v r="${RATE[redis_sync]}" 'BEGIN { printf "hot_vs_redis_design: %.2f\n", h / r }'
awk -v h="${RATE[commerce]}" -v r="${RATE[redis_async]}" 'BEGIN { printf "hot_vs_redis_async: %.2f\n", h / r }'

# ---- crashes
crash() { # design victim
    local m="$1" victim="$2" stock ack="$PEER_WORK/ack_$1_$2"
    stock=$(awk -v r="${RATE[$m]}" 'BEGIN { printf "%d", r * 6 }')
    fresh
    psql -X -q -v ON_ERROR_STOP=1 -v t="$TENANT" -v s="$stock" >/dev/null <<'SQL'
SELECT commerce.upsert_sku(:t, 'P', 'CRASH', 'Crash SKU', 9900);
SELECT commerce.set_stock_policy(:t, 'CRASH', p_slots => 32);
SELECT commerce.receive_stock(:t, 'bench-crash', 'CRASH', :s);
SQL
    rcli flushall >/dev/null
    rcli set stock:CRASH "$stock" >/dev/null
    # the stock is loaded before the sale: on disk before the run starts
    if [ "$PERSIST" = rdb ]; then rcli save >/dev/null; else sleep 1.5; fi
    driver -m "$m" -s CRASH -T 10 -d 30 -a "$ack" > "$PEER_WORK/crash.out" 2>/dev/null &
    local dpid=$!
    sleep 3
    if [ "$victim" = database ]; then
        pg_kill; sleep 1; pg_restart
    else
        kill -9 "$REDIS_PID"; sleep 1; redis_start
    fi
    wait "$dpid"
    local acked sold stored inv counter
    acked=$(wc -l < "$ack")
    psql -X -q -v ON_ERROR_STOP=1 -c "CREATE TABLE public.peer_acked (request_id text PRIMARY KEY)" \
        -c "\\copy public.peer_acked FROM '$ack'" >/dev/null
    if [ "$m" = commerce ]; then
        sold=$(psql -X -At -c "SELECT coalesce(sum(l.qty), 0) FROM commerce.reservation r
              JOIN commerce.reservation_line l ON l.tenant_id = r.tenant_id AND l.reservation_id = r.reservation_id
              JOIN commerce.sku s ON s.tenant_id = l.tenant_id AND s.sku_id = l.sku_id
             WHERE r.tenant_id = $TENANT AND s.code = 'CRASH' AND r.status IN ('active', 'confirmed')")
        stored=$(psql -X -At -c "SELECT count(*) FROM public.peer_acked a JOIN commerce.reservation r
              ON r.tenant_id = $TENANT AND r.request_id = a.request_id AND r.status IN ('active', 'confirmed')")
        inv=$(psql -X -At -c "SELECT count(*) FROM commerce.check_stock_invariants()")
        counter=""
    else
        sold=$(psql -X -At -c "SELECT count(*) FROM public.peer_reservation WHERE sku = 'CRASH'")
        stored=$(psql -X -At -c "SELECT count(*) FROM public.peer_acked a JOIN public.peer_reservation p USING (request_id)")
        inv=""
        counter=$(rcli get stock:CRASH)
    fi
    local lost=$((acked - stored)) over=$((sold > stock ? sold - stock : 0))
    printf '%-12s %-8s killed: stock %d, acknowledged %d, in the database %d, lost %d, oversold %d%s%s\n' \
        "$m" "$victim" "$stock" "$acked" "$sold" "$lost" "$over" \
        "${counter:+, Redis counter $counter (stock - counter - sold = $((stock - counter - sold)))}" \
        "${inv:+, stock invariant violations $inv}" >&2
    echo "crash_${m}_${victim}_lost: $lost"
    echo "crash_${m}_${victim}_oversold: $over"
    [ -n "$counter" ] && echo "crash_${m}_${victim}_counter_vs_db: $((stock - counter - sold))"
    [ -n "$inv" ] && echo "crash_${m}_${victim}_invariant_violations: $inv"
    return 0
}
crash commerce database
crash redis_sync database
crash redis_async database
crash redis_sync redis_aof
crash redis_async redis_aof
redis_switch rdb
crash redis_sync redis_rdb
crash redis_async redis_rdb
