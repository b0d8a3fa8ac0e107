#!/usr/bin/env bash
# test/harness.sh: builds and installs the commerce extension, starts a
# throwaway PostgreSQL 15 cluster (with pg_cron preloaded) in a temp dir, runs
# one mode against it, then stops the cluster and deletes it.
#
#   bash test/harness.sh test    every suite: pg_regress (sql/, expected/),
#                                isolation (test/isolation/specs), pgTAP
#                                (test/pgtap/*.sql), lint (test/lint/*.sh:
#                                layout rules, plpgsql_check), security
#                                (test/security/*.sh: roles that log in
#                                themselves), upgrade (test/upgrade/*.sh), gateway
#                                (test/gateway/*.sh: PostGraphile 4 from npm
#                                and the four actors' flows through it),
#                                scripts (test/stress/);
#                                ONLY=regress|isolation|pgtap|lint|security|
#                                upgrade|gateway|stress runs one; STRESS_MATCH=word
#                                runs only the stress scripts naming it.
#                                The last line of output is "N passed, N failed".
#   bash test/harness.sh demo    runs test/demo/demo.sh   (database commerce_demo)
#   bash test/harness.sh bench   runs test/bench/bench.sh (database commerce_bench)
#   bash test/harness.sh shell   starts the cluster, prints the exports, waits
#                                for Ctrl-C
#
# KEEP_CLUSTER=1 leaves the cluster running and the temp dir in place.
# Run as root (CI), missing Debian packages are installed with apt-get and the
# server runs as the `postgres` system user; run as a normal user, the script
# tells you what to install and the server runs as you.
set -euo pipefail

MODE="${1:-}"
case "$MODE" in
    test | demo | bench | shell) ;;
    *)
        echo "usage: bash test/harness.sh test|demo|bench|shell" >&2
        exit 2
        ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

IS_ROOT=0
if [ "$(id -u)" -eq 0 ]; then
    IS_ROOT=1
    PATH="$PATH:/usr/sbin:/sbin" # runuser, useradd when root lacks sbin in PATH
fi

ts() { date '+%H:%M:%S'; }
say() { printf '== [%s] %s\n' "$(ts)" "$*"; }

ONLY="${ONLY:-}"
case "$ONLY" in
    "" | regress | isolation | pgtap | lint | security | upgrade | gateway | stress) ;;
    *)
        echo "harness: ONLY must be one of regress, isolation, pgtap, lint, security, upgrade, gateway, stress (got '$ONLY')" >&2
        exit 2
        ;;
esac

case "$MODE" in
    demo) MODE_SCRIPT=test/demo/demo.sh ;;
    bench) MODE_SCRIPT=test/bench/bench.sh ;;
    *) MODE_SCRIPT="" ;;
esac
if [ -n "$MODE_SCRIPT" ] && [ ! -f "$MODE_SCRIPT" ]; then
    echo "harness: $MODE_SCRIPT does not exist yet; nothing to run for '$MODE'" >&2
    exit 1
fi

# ---------------------------------------------------------------- packages
REQUIRED_PKGS=(postgresql-15 postgresql-server-dev-15 postgresql-15-cron
    postgresql-15-pgtap postgresql-15-plpgsql-check pgtap libjansson-dev make gcc)
# make bench also runs the seeds' Redis design beside ours (test/bench/peer_bench.sh)
if [ "$MODE" = bench ]; then REQUIRED_PKGS+=(redis-server libhiredis-dev); fi
MISSING=()
for pkg in "${REQUIRED_PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        MISSING+=("$pkg")
    fi
done
if [ "${#MISSING[@]}" -gt 0 ]; then
    if [ "$IS_ROOT" -eq 1 ]; then
        say "installing missing packages: ${MISSING[*]}"
        APT_LOG="$(mktemp /tmp/commerce-apt.XXXXXX.log)"
        if ! { apt-get update -q &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${MISSING[@]}"; } \
            >"$APT_LOG" 2>&1; then
            cat "$APT_LOG" >&2
            echo "harness: apt-get failed (log: $APT_LOG)" >&2
            exit 2
        fi
        rm -f "$APT_LOG"
    else
        echo "harness: missing packages; install them with:" >&2
        echo "sudo apt-get install -y ${MISSING[*]}"
        exit 2
    fi
fi

# ---------------------------------------------------------------- paths
# PGBIN may point at another PostgreSQL 15 installation (e.g. a relocated copy
# used to test a second work tree beside the system one).
PGBIN="${PGBIN:-/usr/lib/postgresql/15/bin}"
PG_CONFIG="$PGBIN/pg_config"
export PG_CONFIG

# ---------------------------------------------------------------- build
say "build"
make -s PG_CONFIG="$PG_CONFIG"
PKGLIBDIR="$("$PG_CONFIG" --pkglibdir)"
EXTDIR="$("$PG_CONFIG" --sharedir)/extension"
if [ "$IS_ROOT" -eq 0 ] && { [ ! -w "$PKGLIBDIR" ] || [ ! -w "$EXTDIR" ]; }; then
    if ! { command -v sudo >/dev/null 2>&1 &&
        sudo -n make -s install PG_CONFIG="$PG_CONFIG"; }; then
        echo "run: sudo make install"
        exit 2
    fi
else
    make -s install PG_CONFIG="$PG_CONFIG"
fi

# ---------------------------------------------------------------- cluster
case "$MODE" in
    test | shell) DB=commerce_test ;;
    demo) DB=commerce_demo ;;
    bench) DB=commerce_bench ;;
esac

# Client settings inherited from the caller's shell would point elsewhere.
unset PGHOSTADDR PGSERVICE PGSERVICEFILE PGDATA PGPASSWORD PGPASSFILE || true

TMPD=""
DATA=""
SERVER_LOG=""
SERVER_USER="$(id -un)"
STARTED=0
LOG_SHOWN=0
KEEP_NOTICE_SHOWN=0
SLEEP_PID=""

# Server-side commands (initdb, pg_ctl): as `postgres` when root, else as us.
# They run from $TMPD, since the postgres user may not be able to read the repo.
as_server() {
    if [ "$IS_ROOT" -eq 1 ]; then
        (cd "$TMPD" && runuser -u postgres -- "$@")
    else
        (cd "$TMPD" && "$@")
    fi
}

keep_notice() {
    [ "$KEEP_NOTICE_SHOWN" -eq 1 ] && return 0
    KEEP_NOTICE_SHOWN=1
    local stop="$PGBIN/pg_ctl -D $DATA -m fast stop && rm -rf $TMPD"
    if [ "$IS_ROOT" -eq 1 ]; then stop="runuser -u postgres -- $stop"; fi
    echo "KEEP_CLUSTER=1: cluster left running in $TMPD (log: $SERVER_LOG)"
    echo "  connect: PGHOST=$TMPD PGPORT=5432 PGUSER=postgres PGDATABASE=$DB $PGBIN/psql"
    echo "  stop:    $stop"
}

show_server_log() {
    [ "$LOG_SHOWN" -eq 1 ] && return 0
    LOG_SHOWN=1
    if [ -s "$SERVER_LOG" ]; then
        echo "---- last 40 lines of $SERVER_LOG ----"
        tail -n 40 "$SERVER_LOG"
        if tail -n 40 "$SERVER_LOG" | grep -q "FATAL:  database \"$DB\" does not exist"; then
            echo "(the pg_cron launcher FATAL about \"$DB\" at startup is expected: the harness"
            echo " creates the database after the server starts; the launcher is restarted 1s later)"
        fi
        echo "---- end of server log ----"
    fi
}

# shellcheck disable=SC2317 # invoked through the EXIT trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    if [ -n "$SLEEP_PID" ]; then kill "$SLEEP_PID" 2>/dev/null; wait "$SLEEP_PID" 2>/dev/null; fi
    if [ "$rc" -ne 0 ] && [ -n "$SERVER_LOG" ]; then show_server_log >&2; fi
    if [ -z "$TMPD" ]; then
        :
    elif [ "${KEEP_CLUSTER:-0}" = "1" ] && [ "$STARTED" -eq 1 ]; then
        keep_notice >&2
    else
        if [ -f "$DATA/postmaster.pid" ]; then
            as_server "$PGBIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null 2>&1 ||
                as_server "$PGBIN/pg_ctl" -D "$DATA" -m immediate -w -t 30 stop >/dev/null 2>&1
        fi
        rm -rf "$TMPD"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

TMPD="$(mktemp -d /tmp/commerce-pg.XXXXXX)"
DATA="$TMPD/data"
SERVER_LOG="$TMPD/server.log"
if [ "$IS_ROOT" -eq 1 ]; then
    SERVER_USER=postgres
    if ! id -u postgres >/dev/null 2>&1; then
        useradd --system --user-group --home-dir /var/lib/postgresql \
            --no-create-home --shell /bin/sh postgres
    fi
    chown -R postgres: "$TMPD"
    chmod 755 "$TMPD"
fi

say "initdb in $TMPD (server user: $SERVER_USER)"
if ! as_server "$PGBIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 \
    --locale=C.UTF-8 --no-instructions >"$TMPD/initdb.log" 2>&1; then
    rm -rf "$DATA"
    if ! as_server "$PGBIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 \
        --locale=C --no-instructions >>"$TMPD/initdb.log" 2>&1; then
        cat "$TMPD/initdb.log" >&2
        exit 1
    fi
fi

{
    echo ""
    echo "# ---- added by test/harness.sh ($MODE) ----"
    echo "listen_addresses = ''"
    echo "unix_socket_directories = '$TMPD'"
    echo "port = 5432"
    echo "max_connections = 200"
    echo "shared_buffers = 512MB"
    echo "max_worker_processes = 32"
    echo "shared_preload_libraries = 'pg_cron'"
    echo "cron.database_name = '$DB'"
    echo "cron.host = '$TMPD'"
    echo "cron.use_background_workers = off"
    echo "log_min_messages = warning"
    echo "log_line_prefix = '%m [%p] %d '"
    echo "lc_messages = 'C'"
    echo "timezone = 'UTC'"
    if [ "$MODE" = bench ]; then
        echo "# bench measures with durable commits on purpose: fsync and"
        echo "# synchronous_commit stay on, as they would be in production."
    else
        echo "# throwaway test cluster: durability off for speed"
        echo "fsync = off"
        echo "synchronous_commit = off"
        echo "full_page_writes = off"
    fi
} >>"$DATA/postgresql.conf"

say "start server"
STARTED=1
as_server "$PGBIN/pg_ctl" -D "$DATA" -l "$SERVER_LOG" -w -t 60 start >/dev/null

# ---------------------------------------------------------------- clients
export PGHOST="$TMPD" PGPORT=5432 PGUSER=postgres PGDATABASE="$DB"
export PATH="$PGBIN:$PATH"
export HARNESS_TMP="$TMPD"
# the bench kills and restarts this cluster to count what a crash loses
export HARNESS_DATA="$DATA" HARNESS_LOG="$SERVER_LOG" IS_ROOT PGBIN

# pg_cron's launcher starts with the server and connects to cron.database_name,
# which does not exist yet: it logs one 'FATAL: database "<DB>" does not exist',
# exits, and the postmaster restarts it 1s later, when the database is there.
createdb "$DB"

# ---------------------------------------------------------------- demo/bench/shell
run_script_mode() {
    local script="$1"
    say "run $script (database $DB)"
    local rc=0
    bash "$script" || rc=$?
    say "$script exited with status $rc"
    exit "$rc"
}

case "$MODE" in
    demo | bench) run_script_mode "$MODE_SCRIPT" ;;
    shell)
        echo "cluster running in $TMPD (log: $SERVER_LOG); in another shell run:"
        echo "export PGHOST=$TMPD PGPORT=5432 PGUSER=postgres PGDATABASE=$DB"
        echo "export PATH=$PGBIN:\$PATH"
        echo "Ctrl-C stops the cluster${KEEP_CLUSTER:+ (KEEP_CLUSTER=$KEEP_CLUSTER)}."
        trap 'exit 0' INT TERM
        sleep infinity &
        SLEEP_PID=$!
        wait "$SLEEP_PID" || true
        exit 0
        ;;
esac

# ---------------------------------------------------------------- test
SUITES=()
declare -A S_PASS=() S_FAIL=() S_SECS=()
TOTAL_PASS=0
TOTAL_FAIL=0

want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }

record() { # suite passed failed seconds
    SUITES+=("$1")
    S_PASS[$1]=$2
    S_FAIL[$1]=$3
    S_SECS[$1]=$4
    TOTAL_PASS=$((TOTAL_PASS + $2))
    TOTAL_FAIL=$((TOTAL_FAIL + $3))
    say "$1: $2 passed, $3 failed (${4}s)"
}

# run_logged LOG CMD...: runs CMD with output to the terminal and to LOG;
# sets RUN_RC to CMD's exit status.
run_logged() {
    local log="$1"
    shift
    RUN_RC=0
    { "$@" </dev/null 2>&1 | tee "$log"; } || RUN_RC=$?
}

count() { # count ERE FILE  (0 when no match)
    grep -cE -- "$1" "$2" || true
}

sorted_files() { # sorted_files GLOB...: existing regular files, C-sorted
    local f
    for f in "$@"; do
        if [ -f "$f" ]; then printf '%s\n' "$f"; fi
    done | LC_ALL=C sort
}

# a. pg_regress through PGXS installcheck
mapfile -t REGRESS_SQL < <(sorted_files sql/*.sql | grep -v '^sql/commerce--' || true)
if want regress && [ "${#REGRESS_SQL[@]}" -gt 0 ]; then
    say "suite regress: pg_regress, ${#REGRESS_SQL[@]} test(s)"
    t0=$SECONDS
    log="$TMPD/regress.log"
    run_logged "$log" make -s installcheck PG_CONFIG="$PG_CONFIG"
    p=$(count '\.\.\. ok|^ok [0-9]+ ' "$log")
    f=$(count '\.\.\. FAILED|^not ok [0-9]+ ' "$log")
    if [ "$RUN_RC" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    if [ "$f" -gt 0 ] && [ -f regression.diffs ]; then
        echo "---- regression.diffs (first 200 lines) ----"
        head -n 200 regression.diffs
    fi
    record regress "$p" "$f" $((SECONDS - t0))
fi

# b. isolation specs
mapfile -t SPECS < <(sorted_files test/isolation/specs/*.spec)
if want isolation && [ "${#SPECS[@]}" -gt 0 ]; then
    say "suite isolation: pg_isolation_regress, ${#SPECS[@]} spec(s)"
    t0=$SECONDS
    log="$TMPD/isolation.log"
    PGXS_DIR="$("$PG_CONFIG" --pgxs | sed 's,/src/makefiles/pgxs.mk,,')"
    names=()
    for s in "${SPECS[@]}"; do
        s="${s##*/}"
        names+=("${s%.spec}")
    done
    mkdir -p "$TMPD/iso"
    run_logged "$log" "$PGXS_DIR/src/test/isolation/pg_isolation_regress" \
        --bindir="$PGBIN" --inputdir=test/isolation --outputdir="$TMPD/iso" \
        --dbname=commerce_iso "${names[@]}"
    p=$(count '\.\.\. ok|^ok [0-9]+ ' "$log")
    f=$(count '\.\.\. FAILED|^not ok [0-9]+ ' "$log")
    if [ "$RUN_RC" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    if [ "$f" -gt 0 ] && [ -f "$TMPD/iso/regression.diffs" ]; then
        echo "---- $TMPD/iso/regression.diffs (first 200 lines) ----"
        head -n 200 "$TMPD/iso/regression.diffs"
    fi
    record isolation "$p" "$f" $((SECONDS - t0))
fi

# tap_counts LOG: sets p and f from prove's summary in LOG (assertions).
tap_counts() {
    local log="$1" tests ran_failed bad_files xy_lines
    tests=$(sed -nE 's/^Files=[0-9]+, Tests=([0-9]+),.*/\1/p' "$log" | tail -n 1)
    tests=${tests:-0}
    # "Failed X/Y subtests" per failing file; X includes planned-but-not-run.
    f=$(sed -nE 's/.*Failed ([0-9]+)\/[0-9]+ subtests.*/\1/p' "$log" |
        awk '{ s += $1 } END { print s + 0 }')
    # Assertions that actually ran and failed, from the Test Summary Report.
    ran_failed=$(sed -nE 's/.*\(Wstat: [0-9]+ .*Tests: [0-9]+ Failed: ([0-9]+)\).*/\1/p' "$log" |
        awk '{ s += $1 } END { print s + 0 }')
    if [ "$ran_failed" -gt "$f" ]; then f=$ran_failed; fi
    # A failing file without a "Failed X/Y" line (no plan, or an error after
    # all assertions passed) counts as one failure.
    bad_files=$(count '\(Wstat: [0-9]+' "$log")
    xy_lines=$(count 'Failed [0-9]+/[0-9]+ subtests' "$log")
    if [ "$bad_files" -gt "$xy_lines" ]; then f=$((f + bad_files - xy_lines)); fi
    p=$((tests - ran_failed))
    if [ "$p" -lt 0 ]; then p=0; fi
    if [ "$f" -eq 0 ] && { [ "$RUN_RC" -ne 0 ] || grep -q '^Result: FAIL' "$log"; }; then
        f=1
    fi
}

# c. pgTAP, counted by assertions
mapfile -t TAPS < <(sorted_files test/pgtap/*.sql)
if want pgtap && [ "${#TAPS[@]}" -gt 0 ]; then
    say "suite pgtap: pg_prove, ${#TAPS[@]} file(s)"
    t0=$SECONDS
    log="$TMPD/pgtap.log"
    if createdb commerce_tap && psql -q -X -d commerce_tap -c 'CREATE EXTENSION pgtap'; then
        run_logged "$log" pg_prove -d commerce_tap --ext .sql "${TAPS[@]}"
        tap_counts "$log"
    else
        echo "harness: could not set up database commerce_tap with pgtap"
        p=0
        f=1
    fi
    record pgtap "$p" "$f" $((SECONDS - t0))
fi

# d. lint (test/lint/*.sh: layout rules, plpgsql_check) and upgrade checks
#    (test/upgrade/*.sh: fresh == chain, upgrade with data, drop), TAP via prove
tap_suite() { # tap_suite NAME DIR
    local name="$1" dir="$2" scripts log
    mapfile -t scripts < <(sorted_files "$dir"/*.sh)
    if want "$name" && [ "${#scripts[@]}" -gt 0 ]; then
        say "suite $name: prove, ${#scripts[@]} script(s)"
        t0=$SECONDS
        log="$TMPD/$name.log"
        run_logged "$log" prove -v -e bash "${scripts[@]}"
        tap_counts "$log"
        record "$name" "$p" "$f" $((SECONDS - t0))
    fi
}
tap_suite lint test/lint
tap_suite security test/security
tap_suite upgrade test/upgrade
tap_suite gateway test/gateway

# e. script suites in test/stress/: executable files and *.sh
STRESS=()
while IFS= read -r f; do
    # STRESS_MATCH=word runs only the scripts whose path contains it (a developer's shortcut)
    if [ -n "${STRESS_MATCH:-}" ] && [[ "$f" != *"$STRESS_MATCH"* ]]; then continue; fi
    if [ -f "$f" ] && { [ -x "$f" ] || [[ "$f" == *.sh ]]; }; then STRESS+=("$f"); fi
done < <(sorted_files test/stress/*)
if want stress && [ "${#STRESS[@]}" -gt 0 ]; then
    say "suite stress: ${#STRESS[@]} script(s)"
    t0=$SECONDS
    p=0
    f=0
    for s in "${STRESS[@]}"; do
        st=$SECONDS
        name="${s##*/}"
        say "stress: $s"
        run_logged "$TMPD/stress-$name.log" bash "$s"
        if [ "$RUN_RC" -eq 0 ]; then
            p=$((p + 1))
            echo "stress: $s ok ($((SECONDS - st))s)"
        else
            f=$((f + 1))
            echo "stress: $s FAILED ($((SECONDS - st))s, exit $RUN_RC)"
        fi
    done
    record stress "$p" "$f" $((SECONDS - t0))
fi

# ---------------------------------------------------------------- summary
if [ "$TOTAL_FAIL" -gt 0 ]; then
    show_server_log
fi
if [ "${KEEP_CLUSTER:-0}" = "1" ]; then keep_notice; fi
LOG_SHOWN=1 # the summary's last line must stay the last line of output
echo
echo "== summary =="
printf '%-10s %8s %8s %8s\n' suite passed failed seconds
for s in "${SUITES[@]}"; do
    printf '%-10s %8s %8s %8s\n' "$s" "${S_PASS[$s]}" "${S_FAIL[$s]}" "${S_SECS[$s]}"
done
if [ "${#SUITES[@]}" -eq 0 ]; then
    echo "(no suite ran${ONLY:+ for ONLY=$ONLY}: nothing to test)"
fi
echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"

if [ "$TOTAL_FAIL" -gt 0 ] || [ "${#SUITES[@]}" -eq 0 ]; then
    exit 1
fi
exit 0
