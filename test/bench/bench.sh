#!/usr/bin/env bash
# make bench: pgbench scenarios for the stock pool, run against the throwaway
# cluster test/harness.sh starts (durable commits: fsync and synchronous_commit
# on). Prints each scenario's rate and the ratios measured in this one run:
#   hot       16 clients reserve 1 unit of ONE SKU      (commerce.reserve_sku)
#   ceiling   16 clients, each on ITS OWN SKU           (same write set, uncontended)
#   naive     16 clients, one SKU, the ORM pattern       BEGIN; SELECT .. FOR UPDATE;
#                                                        UPDATE; INSERT; COMMIT
#   floor     the smallest durable transaction: one single-row INSERT (commit_floor.sql)
#   hot_rtt / naive_rtt   hot and naive with a 0.5 ms round trip after each statement
#   peer_bench.sh   the seeds' Redis design (Lua pre-decrement; the order written
#             durably before the answer, or queued for asynchronous writers) vs
#             reserve_sku through the same C driver, and kill -9 of each mid-run
#   soldout   16 clients hammer a sold-out SKU           (refusals/s)
#   order_hot / order_ceiling   commerce.place_order on one SKU vs each client on its own
#   ingest    16 clients ingest paid Taobao order payloads (rows/s)
#   print     16 print workers claim waybill jobs 50 at a time and ack each (jobs/min)
#   join_hot / join_ceiling   commerce.join_group on ONE group vs each client on its
#             own group of its own play (eligibility, order, payment, participant)
#   click / click_ceiling   commerce.record_click (verify the signed code, dedupe, insert)
#             vs a plain INSERT of the same row into a table of the same shape
#   koc_batch.sh   T+0.5 settlement of 1M commission lines and the month close of
#             100k KOCs, each against one scan-and-aggregate pass over the rows
#   crm_bench.sh   the customer 360 at 1M people and 10M orders (p95), a
#             10-condition segment against one scan of the same rows, the CRM
#             pump, the export of a 1M-member segment
#   community_bench.sh   WeCom contact-add callbacks with their welcome (the
#             callback-to-claimable p50 and p99), fission joins through one
#             inviter's code vs each client's own inviter
#   service_bench.sh   a customer's question through the one inbox (the whole
#             service_message call, p50 and p95) and the knowledge-base match
#             alone against 59 and 2,006 articles (p95)
#   scale_bench.sh   hot and order_hot with 1M and then 10M reservations, stock
#             movements and orders already in the tables, against the empty
#             fixtures measured just before (hot_at_1m_vs_empty, ...)
#   instructions.sh   CPU instructions per reserve_sku, place_order and commit
#             floor call (callgrind, single-user backend): repeatable figures for
#             the A/B of one change, whatever the machine's load
#   members_bench.sh   order and payment with and without earning points
#             (earn_vs_order), the entitlement lookup and identity resolution per
#             call, the expiry of 1M points lots
# Environment: CLIENTS (16), BENCH_SECONDS (20 per scenario), JOBS (2).
set -euo pipefail
cd "$(dirname "$0")"
CLIENTS="${CLIENTS:-16}"
SECONDS_PER="${BENCH_SECONDS:-20}"
JOBS="${JOBS:-2}"
WORK="$(mktemp -d /tmp/commerce-bench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

# Every scenario starts from the same fresh copy of the fixtures, so none
# runs on tables (and indexes) another scenario has grown.
BASE_DB="${PGDATABASE:-commerce_bench}"
TEMPLATE="${BASE_DB}_template"
dropdb --if-exists "$TEMPLATE" >/dev/null 2>&1
createdb "$TEMPLATE"
PGDATABASE="$TEMPLATE" psql -X -q -v ON_ERROR_STOP=1 -v clients="$CLIENTS" -f setup.sql >/dev/null
TENANT=$(PGDATABASE="$TEMPLATE" psql -X -At -c "SELECT commerce.tenant_id('bench')")
RUN_DB="${BASE_DB}_run"
export PGDATABASE="$RUN_DB"
fresh() {
    dropdb --if-exists "$RUN_DB" >/dev/null 2>&1
    createdb -T "$TEMPLATE" "$RUN_DB"
    psql -X -q -c "CHECKPOINT" >/dev/null
}

# tps excluding connection time, from pgbench's output
run() {
    local name="$1" file="$2"
    shift 2
    fresh
    pgbench -n -c "$CLIENTS" -j "$JOBS" -T "$SECONDS_PER" -M prepared -D tenant="$TENANT" "$@" -f "$file" \
        > "$WORK/$name.out" 2>&1 || { cat "$WORK/$name.out"; exit 1; }
    local tps
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$WORK/$name.out")
    local failed
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$WORK/$name.out")
    printf '%-8s %10.1f tx/s   (failed: %s)\n' "$name" "$tps" "${failed:-0}" >&2
    echo "$tps"
}

echo "commerce bench: $CLIENTS clients, ${SECONDS_PER}s per scenario, $(nproc) cores, durable commits" >&2
HOT=$(run hot hot.sql)
CEIL=$(run ceiling ceiling.sql)
NAIVE=$(run naive naive.sql)
SOLDOUT=$(run soldout soldout.sql)
ORDER_HOT=$(run order_hot order_hot.sql)
ORDER_CEIL=$(run order_ceiling order_ceiling.sql)
INGEST=$(run ingest ingest.sql)
JOIN_HOT=$(run join_hot join_hot.sql)
JOIN_CEIL=$(run join_ceiling join_ceiling.sql)
psql -X -q -At -c "SELECT count(*) FROM commerce.check_play_invariants()" > "$WORK/play_inv"
CLICK=$(run click click.sql)
CLICK_CEIL=$(run click_ceiling click_ceiling.sql)
# the physical floor: the smallest durable transaction, one single-row INSERT
FLOOR=$(run floor commit_floor.sql)
# a network round trip of 0.5 ms after every statement, for ours and the naive pattern alike
HOT_RTT=$(run hot_rtt hot_rtt.sql)
NAIVE_RTT=$(run naive_rtt naive_rtt.sql)
# print workers drain 80,000 queued jobs: 16 x 100 claims of 50
fresh
pgbench -n -c "$CLIENTS" -j "$JOBS" -t 100 -M prepared -f print.sql > "$WORK/print.out" 2>&1 || { cat "$WORK/print.out"; exit 1; }
PRINT_TPS=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$WORK/print.out")
printf '%-8s %10.1f claims/s of 50 jobs\n' print "$PRINT_TPS" >&2
PRINTED=$(psql -X -At -c "SELECT count(*) FROM commerce.outbox WHERE topic = 'waybill.print' AND status = 'done'")

# members: earn on payment, entitlement lookup, identity resolution, expiry of 1M lots
export TENANT CLIENTS SECONDS_PER JOBS RUN_DB TEMPLATE
export -f fresh
MEMBERS=$(bash members_bench.sh) || { echo "$MEMBERS"; echo "members bench failed" >&2; exit 1; }

# community: welcome callbacks, fission joins on one inviter vs many
COMMUNITY=$(bash community_bench.sh) || { echo "$COMMUNITY"; echo "community bench failed" >&2; exit 1; }

# the one inbox: a customer's question answered (p50, p95), the knowledge-base match alone
SERVICE=$(bash service_bench.sh) || { echo "$SERVICE"; echo "service bench failed" >&2; exit 1; }

# CRM: the customer 360 at 1M people and 10M orders, a segment against a scan, the pump, export
CRM=$(bash crm_bench.sh) || { echo "$CRM"; echo "crm bench failed" >&2; exit 1; }

# reservations and orders with 1M and 10M rows already in their tables, against the empty fixtures
SCALE=$(bash scale_bench.sh) || { echo "$SCALE"; echo "scale bench failed" >&2; exit 1; }

# KOC batch jobs against a scan of the same rows (their own database)
KOC_BATCH=$(bash koc_batch.sh) || { echo "$KOC_BATCH"; echo "koc batch bench failed" >&2; exit 1; }

# instructions per call (callgrind in a cluster of its own)
export PGBIN IS_ROOT
INSTR=$(bash instructions.sh) || { echo "$INSTR"; echo "instructions bench failed" >&2; exit 1; }

# invariants after the last scenario (the sold-out one) and after a hot run
psql -X -q -At -c "SELECT count(*) FROM commerce.check_stock_invariants()" > "$WORK/inv"
fresh
pgbench -n -c "$CLIENTS" -j "$JOBS" -T 5 -M prepared -D tenant="$TENANT" -f hot.sql > /dev/null 2>&1
psql -X -q -At -c "SELECT count(*) FROM commerce.check_stock_invariants()" >> "$WORK/inv"
cat "$WORK/play_inv" >> "$WORK/inv"
# the seeds' Redis design beside ours, and what a crash of each loses (kills the cluster)
export HARNESS_DATA HARNESS_LOG IS_ROOT PGBIN
PEER=$(bash peer_bench.sh) || { echo "$PEER"; echo "peer bench failed" >&2; exit 1; }
echo "$PEER" | sed -n 's/^crash_commerce_[a-z]*_\(lost\|oversold\|invariant_violations\): //p' >> "$WORK/inv"
INV=$(awk '{ s += $1 } END { print s }' "$WORK/inv")
echo
printf 'hot_reservations_per_s: %.0f\n' "$HOT"
printf 'ceiling_reservations_per_s: %.0f\n' "$CEIL"
printf 'naive_reservations_per_s: %.0f\n' "$NAIVE"
printf 'soldout_refusals_per_s: %.0f\n' "$SOLDOUT"
awk -v h="$HOT" -v c="$CEIL" 'BEGIN { printf "hot_vs_ceiling: %.2f\n", h / c }'
awk -v h="$HOT" -v n="$NAIVE" 'BEGIN { printf "hot_vs_naive: %.2f\n", h / n }'
printf 'commit_floor_per_s: %.0f\n' "$FLOOR"
awk -v h="$HOT" -v f="$FLOOR" 'BEGIN { printf "hot_vs_commit_floor: %.2f\n", h / f }'
printf 'hot_rtt_per_s: %.0f\n' "$HOT_RTT"
printf 'naive_rtt_per_s: %.0f\n' "$NAIVE_RTT"
awk -v h="$HOT_RTT" -v n="$NAIVE_RTT" 'BEGIN { printf "hot_vs_naive_rtt: %.2f\n", h / n }'
echo "$PEER"
printf 'order_hot_per_s: %.0f\n' "$ORDER_HOT"
printf 'order_ceiling_per_s: %.0f\n' "$ORDER_CEIL"
awk -v h="$ORDER_HOT" -v c="$ORDER_CEIL" 'BEGIN { printf "order_vs_ceiling: %.2f\n", h / c }'
printf 'ingest_rows_per_s: %.0f\n' "$INGEST"
awk -v t="$PRINT_TPS" 'BEGIN { printf "print_jobs_per_min: %.0f\n", t * 50 * 60 }'
printf 'join_hot_per_s: %.0f\n' "$JOIN_HOT"
printf 'join_ceiling_per_s: %.0f\n' "$JOIN_CEIL"
awk -v h="$JOIN_HOT" -v c="$JOIN_CEIL" 'BEGIN { printf "join_vs_ceiling: %.2f\n", h / c }'
printf 'clicks_per_s: %.0f\n' "$CLICK"
printf 'click_insert_ceiling_per_s: %.0f\n' "$CLICK_CEIL"
awk -v h="$CLICK" -v c="$CLICK_CEIL" 'BEGIN { printf "click_vs_ceiling: %.2f\n", h / c }'
echo "$SCALE"
echo "$KOC_BATCH"
echo "$INSTR"
echo "$MEMBERS"
echo "$COMMUNITY"
echo "$SERVICE"
echo "$CRM"
echo "print_jobs_done: $PRINTED"
echo "invariant_violations: $INV"
[ "$INV" = "0" ]
