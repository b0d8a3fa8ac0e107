#!/usr/bin/env bash
# test/lint/layout.sh: the layout rules that keep one definition per
# object and released scripts frozen (docs/architecture.md, "Where things
# live"). Needs no database.
source "$(dirname "$0")/../lib/tap.sh"
cd "$ROOT"
V="$(current_version)"

# 1. released scripts are byte-identical to their release
while read -r sum file; do
    [ -n "$sum" ] || continue
    got="$(sha256sum "sql/$file" 2>/dev/null | cut -d' ' -f1 || true)"
    is "$got" "$sum" "released script sql/$file is unchanged"
done <sql/released.sha256

# 2. every script in sql/base and sql/updates is released (listed) or is the
#    one open upgrade script, whose target is the current version
open=()
for f in sql/base/*.sql sql/updates/*.sql; do
    rel="${f#sql/}"
    if grep -q "  $rel\$" sql/released.sha256; then continue; fi
    open+=("$rel")
done
is "${open[*]}" "$(cd sql && ls updates/commerce--*--"$V".sql 2>/dev/null)" \
    "the only unreleased script is the open upgrade script to $V"
ok "$([ ! -e "sql/base/commerce--$V.sql" ]; echo $?)" "no hand-written install script of $V (it is built)"

# 3. the version is written once: META.json and the Makefile follow the control file
meta="$(grep -v '"meta-spec"' META.json | sed -n 's/.*"version": *"\([0-9][0-9.]*\)".*/\1/p' | sort -u | tr '\n' ' ')"
is "$meta" "$V " "META.json gives the control file's version ($V)"
ok "$(grep -qE '^EXTVERSION *[:?]?= *[0-9]' Makefile; [ $? -ne 0 ]; echo $?)" "the Makefile reads the version from commerce.control"

# 4. the manifest lists every module source exactly once, and only those
listed="$(grep -v '^[#@]' sql/src/MANIFEST | grep -v '^$' | sort)"
present="$(cd sql/src && find . -name '*.sql' | sed 's,^\./,,' | sort)"
is "$(diff <(echo "$listed") <(echo "$present") | grep '^[<>]' | tr '\n' ' ')" "" \
    "sql/src/MANIFEST lists every module source and nothing else"
is "$(echo "$listed" | uniq -d | tr '\n' ' ')" "" "no module source is listed twice"

# 5. one definition per object: module sources only create (a second CREATE
#    of the same object fails the fresh install); no redefinition, drop or
#    alteration, and no object commented or granted twice
src=(sql/src/*/*.sql)
# top-level statements only: lines that start in column 0
bad="$(grep -nE '^(CREATE OR REPLACE|DROP|ALTER) ' "${src[@]}" || true)"
is "$bad" "" "module sources hold no CREATE OR REPLACE, DROP or ALTER (define each object once)"
# functions are overloaded by argument types: compare the whole target
dups_fn="$(grep -hE '^COMMENT ON (FUNCTION|PROCEDURE) ' "${src[@]}" | sed -E 's/\) IS.*/)/' |
    tr -d ' ' | sort | uniq -d | tr '\n' ' ')"
is "$(grep -hoE '^COMMENT ON (TABLE|VIEW|TYPE|COLUMN|SCHEMA|INDEX|TRIGGER) [^ ]+( ON [^ ]+)?' "${src[@]}" |
    sort | uniq -d | tr '\n' ' ')" "" "no table, column, type, view or trigger is commented twice"
is "$dups_fn" "" "no function is commented twice"
is "$(grep -hE '^(REVOKE|GRANT) ' "${src[@]}" | tr -d ' ' | sort | uniq -d | tr '\n' ' ')" "" \
    "no grant or revoke is written twice"

# 6. every module source says what it holds: its first line names its path
nohdr=""
for f in "${src[@]}"; do
    head -n 1 "$f" | grep -q "^-- $f: " || nohdr="$nohdr $f"
done
is "$nohdr" "" "every module source starts with '-- <path>: <what it holds>'"

# 7. every commerce_api function is closed to PUBLIC in its module source
nrev=""
while read -r fn; do
    grep -qE "^REVOKE ALL ON FUNCTION $fn\(" "${src[@]}" || nrev="$nrev $fn"
done < <(grep -hoE '^CREATE (FUNCTION|PROCEDURE) commerce_api\.[a-z_0-9]+' "${src[@]}" | awk '{print $3}' | sort -u)
is "$nrev" "" "every commerce_api function has its REVOKE ALL ... FROM PUBLIC"

done_testing
