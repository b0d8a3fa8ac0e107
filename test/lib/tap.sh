# test/lib/tap.sh: shared helpers of the lint and upgrade checks
# (sourced). Each check prints one TAP line; the harness runs the scripts
# with prove and counts them.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
UPG="$ROOT/test/upgrade"
TAP_N=0
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
TAP_FAILED=0
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
# ok CONDITION-EXIT-STATUS NAME [DIAGNOSTIC...]
ok() {
    local rc="$1" name="$2"
    shift 2
    TAP_N=$((TAP_N + 1))
    if [ "$rc" -eq 0 ]; then
        echo "ok $TAP_N - $name"
    else
        echo "not ok $TAP_N - $name"
        TAP_FAILED=$((TAP_FAILED + 1))
        local d
        for d in "$@"; do printf '%s\n' "$d" | sed 's/^/# /'; done
    fi
}
# is ACTUAL EXPECTED NAME
is() {
    if [ "$1" = "$2" ]; then ok 0 "$3"; else ok 1 "$3" "got:  $1" "want: $2"; fi
}
done_testing() {
    echo "1..$TAP_N"
    [ "$TAP_FAILED" -eq 0 ]
}
fresh_db() {
    dropdb --if-exists "$1" >/dev/null 2>&1 || true
    createdb "$1"
}
# the current version, from the control file (the one place it is written)
current_version() {
    sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" "$ROOT/commerce.control"
}
# fingerprint DB FILE: the OID-free catalog description of DB's extension
fingerprint() {
    q -d "$1" -f "$UPG/lib/fingerprint.sql" >"$2"
}
