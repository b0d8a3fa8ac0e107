#!/usr/bin/env bash
# make bench, KOC batch jobs: each measured against one plain-SQL
# scan-and-aggregate pass over the same rows, in the same run.
#   settle   commerce.settle_pump() over SETTLE_LINES payable commission lines
#            of SETTLE_KOCS KOCs (batches, accounts, ledger, payout messages)
#            vs SELECT koc, sum(amount), count(*) ... GROUP BY koc over the lines,
#            in one backend like the job (and with parallel workers, printed too)
#   levels   commerce.recalculate_levels() for LEVEL_KOCS KOCs with LEVEL_LINES
#            lines in the month (figures, rules, level changes, messages; about
#            one KOC in ten changes level) vs the figures query alone
#            (commerce.koc_month_figures); median of three runs each
#   export   commerce.koc_list_csv() of the LEVEL_KOCS KOCs with their month's figures
#   growth   the settlement and the month close again at a quarter and a half
#            of their rows, each in a database of its own (same lines per KOC):
#            the cost at 2x and 4x the rows over the cost at 1x shows whether
#            a job grows linearly (2.00 and 4.00) or worse
# Prints settle_vs_scan and levels_vs_scan (targets 1.5 and 1.3), the export
# time and the growth ratios on stdout.
set -euo pipefail
cd "$(dirname "$0")"
SETTLE_KOCS="${SETTLE_KOCS:-20000}"
SETTLE_LINES="${SETTLE_LINES:-1000000}"
LEVEL_KOCS="${LEVEL_KOCS:-100000}"
LEVEL_LINES="${LEVEL_LINES:-1000000}"
DB="${PGDATABASE:-commerce_bench}_koc"
export PGDATABASE="$DB"
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
# milliseconds taken by one psql command
ms() {
    local t0 t1
    t0=$(date +%s%N)
    q -c "$1" >/dev/null
    t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000000 ))
}
# the median of three timings of a command
ms3() {
    { ms "$1"; ms "$1"; ms "$1"; } | sort -n | sed -n 2p
}

# build the fixture in database $DB with the sizes in SETTLE_KOCS, SETTLE_LINES,
# LEVEL_KOCS and LEVEL_LINES, then time the jobs (SETTLE, SCAN, LEVELS, FIG, ...)
measure() {
    export PGDATABASE="$DB"
    dropdb --if-exists "$DB" >/dev/null 2>&1
    dropdb --if-exists "${DB}_s" >/dev/null 2>&1
    createdb "$DB"
    q >/dev/null <<SQL
CREATE EXTENSION commerce;
CALL commerce.provision();
SELECT commerce.create_tenant('settle', 'Settlement bench');
SELECT commerce.create_tenant('levels', 'Level bench');
SELECT commerce.ensure_koc_levels(tenant_id) FROM commerce.tenant;
-- settlement: every line payable, 1 in 10 a reversal
INSERT INTO commerce.koc (tenant_id, code, name, level_code, joined_at)
SELECT commerce.tenant_id('settle'), 'K' || i, 'K' || i, 'bronze', '2026-09-01' FROM generate_series(1, $SETTLE_KOCS) i;
INSERT INTO commerce.agreement (tenant_id, version, title, body, body_sha256, published_at)
VALUES (commerce.tenant_id('settle'), 1, 'A', 'text', encode(sha256('text'), 'hex'), '2026-09-01');
INSERT INTO commerce.agreement_signature (tenant_id, koc_id, version, signer_name, text_sha256, signed_at)
SELECT tenant_id, koc_id, 1, code, encode(sha256('text'), 'hex'), '2026-09-01' FROM commerce.koc
 WHERE tenant_id = commerce.tenant_id('settle');
INSERT INTO commerce.commission_line (tenant_id, koc_id, seq, kind, source_key, order_id, base_fen, task_rate_bp,
                                      level_code, level_bonus_bp, rate_bp, bounty_fen, amount_fen, rule,
                                      occurred_at, payable_at)
SELECT k.tenant_id, k.koc_id, s, CASE WHEN s % 10 = 0 THEN 'reverse' ELSE 'earn' END, 'b:' || k.koc_id || ':' || s,
       k.koc_id * 1000 + s - CASE WHEN s % 10 = 0 THEN 1 ELSE 0 END, CASE WHEN s % 10 = 0 THEN -1000 ELSE 10000 END, 500, 'bronze', 0, 500, 0,
       CASE WHEN s % 10 = 0 THEN -50 ELSE 500 END, 'floor-v1', '2026-10-01 00:00+08', '2026-10-01 12:00+08'
  FROM commerce.koc k, generate_series(1, $SETTLE_LINES / $SETTLE_KOCS) s
 WHERE k.tenant_id = commerce.tenant_id('settle');
INSERT INTO commerce.koc_account (tenant_id, koc_id, next_seq, due_at, unsettled_fen, last_payable_at)
SELECT tenant_id, koc_id, max(seq) + 1, min(payable_at), sum(amount_fen), max(payable_at)
  FROM commerce.commission_line WHERE tenant_id = commerce.tenant_id('settle') GROUP BY tenant_id, koc_id;
-- levels: October lines of buyers who come back now and then
SELECT commerce.set_level_rule(commerce.tenant_id('levels'), 'silver',
  '{"all":[{"metric":"redemptions","op":">=","value":10},{"metric":"new_customers","op":">=","value":3}]}');
SELECT commerce.set_level_rule(commerce.tenant_id('levels'), 'gold',
  '{"any":[{"metric":"gmv_fen","op":">=","value":180000},{"metric":"repurchase_rate_bp","op":">=","value":2500}]}');
INSERT INTO commerce.koc (tenant_id, code, name, level_code, joined_at)
SELECT commerce.tenant_id('levels'), 'L' || i, 'L' || i, 'bronze', '2026-09-01' FROM generate_series(1, $LEVEL_KOCS) i;
SELECT setseed(0.5);
INSERT INTO commerce.commission_line (tenant_id, koc_id, seq, kind, source_key, order_id, customer_id, new_customer,
                                      base_fen, task_rate_bp, level_code, level_bonus_bp, rate_bp, bounty_fen,
                                      amount_fen, rule, occurred_at, payable_at)
SELECT commerce.tenant_id('levels'), k, s, 'earn', 'l:' || k || ':' || s, k * 1000 + s,
       (k * 7 + floor(random() * 8)::int), random() < 0.3, (5000 + floor(random() * 20000))::bigint,
       500, 'bronze', 0, 500, 0, 500, 'floor-v1',
       timestamptz '2026-10-01 00:00+08' + make_interval(secs => floor(random() * 30 * 86400)),
       '2026-11-01 00:00+08'
  FROM (SELECT koc_id AS k FROM commerce.koc WHERE tenant_id = commerce.tenant_id('levels')) kk,
       generate_series(1, $LEVEL_LINES / $LEVEL_KOCS) s
 WHERE random() < 1.5 - (k % 5) * 0.25;
-- most KOCs already sit where last month put them; about 15% move this month
ANALYZE;
CREATE TEMP TABLE fig AS SELECT * FROM commerce.koc_month_figures(commerce.tenant_id('levels'), '2026-10-01');
CREATE INDEX ON fig (koc_id);
ANALYZE fig;
UPDATE commerce.koc k
   SET level_code = CASE WHEN random() < 0.15 THEN (ARRAY['bronze', 'silver', 'gold'])[1 + floor(random() * 3)::int]
                         WHEN f.gmv_fen >= 180000 OR f.repurchase_rate_bp >= 2500 THEN 'gold'
                         WHEN f.redemptions >= 10 AND f.new_customers >= 3 THEN 'silver'
                         ELSE 'bronze' END
  FROM fig f
 WHERE k.tenant_id = commerce.tenant_id('levels') AND k.koc_id = f.koc_id;
VACUUM ANALYZE;
CHECKPOINT;
SQL
    TS=$(q -c "SELECT commerce.tenant_id('settle')")
    TL=$(q -c "SELECT commerce.tenant_id('levels')")
    LINES_S=$(q -c "SELECT count(*) FROM commerce.commission_line WHERE tenant_id = $TS")
    LINES_L=$(q -c "SELECT count(*) FROM commerce.commission_line WHERE tenant_id = $TL")

    SCAN_SQL="SELECT count(*), sum(s) FROM (SELECT koc_id, sum(amount_fen) AS s, count(*) FROM commerce.commission_line WHERE tenant_id = $TS AND payable_at <= '2026-10-02' GROUP BY koc_id) x"
    ms "$SCAN_SQL" >/dev/null # warm the cache for both
    # the job runs in one backend, and so does the scan it is measured against;
    # the scan with PostgreSQL's parallel workers is printed beside it
    SCAN=$(PGOPTIONS="-c max_parallel_workers_per_gather=0" ms3 "$SCAN_SQL")
    SCAN_PAR=$(ms3 "$SCAN_SQL")
    # the settlement changes what it settles: three runs, each on a fresh copy of
    # the fixture (copied file by file, then a checkpoint), and their median
    local runs=() i
    for i in 1 2 3; do
        createdb -S FILE_COPY -T "$DB" "${DB}_s"
        PGDATABASE="${DB}_s" q -c "CHECKPOINT"
        runs+=("$(PGDATABASE="${DB}_s" PGOPTIONS="-c commerce.now=2026-10-02T00:00+08" ms "CALL commerce.settle_pump()")")
        if [ "$i" -lt 3 ]; then dropdb "${DB}_s"; fi
    done
    SETTLE=$(printf '%s\n' "${runs[@]}" | sort -n | sed -n 2p)
    SETTLE_RUNS="${runs[*]}"
    BATCHES=$(PGDATABASE="${DB}_s" q -c "SELECT count(*) FROM commerce.settle_batch")
    SETTLED=$(PGDATABASE="${DB}_s" q -c "SELECT count(*) FROM commerce.koc_account WHERE tenant_id = $TS AND settled_seq = next_seq - 1")
    VIOL=$(PGDATABASE="${DB}_s" q -c "SELECT count(*) FROM commerce.check_koc_invariants($TS)")
    dropdb "${DB}_s"

    FIG_SQL="SELECT count(*), sum(redemptions), sum(gmv_fen) FROM commerce.koc_month_figures($TL, '2026-10-01')"
    ms "$FIG_SQL" >/dev/null
    FIG=$(PGOPTIONS="-c max_parallel_workers_per_gather=0" ms3 "$FIG_SQL")
    # three runs rolled back (the same work but the commit), then the one that stays
    LEVEL_SQL="SET commerce.now = '2026-11-01 00:30+08'; SELECT * FROM commerce.recalculate_levels($TL, '2026-10-01');"
    LEVELS=$(ms3 "BEGIN; $LEVEL_SQL ROLLBACK;")
    q -c "$LEVEL_SQL" >/dev/null
    CHANGES=$(q -c "SELECT promoted || ' promoted, ' || demoted || ' demoted of ' || koc_count FROM commerce.koc_level_run")
    # K20: the CSV export of every KOC of the level tenant with its October figures
    EXPORT=$(ms3 "SELECT length(commerce.koc_list_csv($TL, '2026-10-01', '2026-10-31'))")
    EXPORT_ROWS=$(q -c "SELECT count(*) FROM commerce.koc_list($TL, '2026-10-01', '2026-10-31')")
}

# growth: the same jobs at a quarter and a half of the rows, each in a database of its own
G_KOCS=$SETTLE_KOCS G_LINES=$SETTLE_LINES G_LKOCS=$LEVEL_KOCS G_LLINES=$LEVEL_LINES
declare -A GS GL
for div in 4 2; do
    SETTLE_KOCS=$((G_KOCS / div)) SETTLE_LINES=$((G_LINES / div)) LEVEL_KOCS=$((G_LKOCS / div)) \
        LEVEL_LINES=$((G_LLINES / div)) DB="${DB}_$div" measure >/dev/null
    GS[$div]=$SETTLE GL[$div]=$LEVELS
    [ "$VIOL" = "0" ] || { echo "koc invariants violated at 1/$div of the rows" >&2; exit 1; }
    dropdb "${DB}_$div"
done
measure
printf 'settle   %7d ms for %d lines of %d KOCs (%d batches, %d KOCs fully settled; runs %s); scan %d ms (%d ms with parallel workers)\n' \
    "$SETTLE" "$LINES_S" "$SETTLE_KOCS" "$BATCHES" "$SETTLED" "$SETTLE_RUNS" "$SCAN" "$SCAN_PAR" >&2
printf 'levels   %7d ms for %d KOCs, %d lines (%s); figures query %d ms\n' \
    "$LEVELS" "$LEVEL_KOCS" "$LINES_L" "$CHANGES" "$FIG" >&2
printf 'export  %7d ms for %d KOCs as CSV\n' "$EXPORT" "$EXPORT_ROWS" >&2
echo "koc_export_${EXPORT_ROWS}_ms: $EXPORT"
printf 'settle_lines_per_s: %.0f\n' "$(awk -v n="$LINES_S" -v t="$SETTLE" 'BEGIN { print n / (t / 1000) }')"
awk -v a="$SETTLE" -v b="$SCAN" 'BEGIN { printf "settle_vs_scan: %.2f\n", a / b }'
awk -v a="$SETTLE" -v b="$SCAN_PAR" 'BEGIN { printf "settle_vs_parallel_scan: %.2f\n", a / b }'
awk -v a="$LEVELS" -v b="$FIG" 'BEGIN { printf "levels_vs_scan: %.2f\n", a / b }'
printf 'growth   settle %d, %d, %d ms and levels %d, %d, %d ms at 1/4, 1/2 and all of the rows\n' \
    "${GS[4]}" "${GS[2]}" "$SETTLE" "${GL[4]}" "${GL[2]}" "$LEVELS" >&2
awk -v a="${GS[2]}" -v b="${GS[4]}" 'BEGIN { printf "settle_growth_2x: %.2f\n", a / b }'
awk -v a="$SETTLE" -v b="${GS[4]}" 'BEGIN { printf "settle_growth_4x: %.2f\n", a / b }'
awk -v a="${GL[2]}" -v b="${GL[4]}" 'BEGIN { printf "levels_growth_2x: %.2f\n", a / b }'
awk -v a="$LEVELS" -v b="${GL[4]}" 'BEGIN { printf "levels_growth_4x: %.2f\n", a / b }'
echo "koc_invariant_violations: $VIOL"
[ -n "${KEEP_DB:-}" ] || dropdb "$DB"
[ "$VIOL" = "0" ] && [ "$SETTLED" = "$SETTLE_KOCS" ]
