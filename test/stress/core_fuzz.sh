#!/usr/bin/env bash
# Fuzz every function of the extension that takes plain arguments: the C
# entry points and the SQL and PL/pgSQL ones (not the triggers, which only a
# trigger can call, nor functions taking a table's row type). Each argument in
# turn gets NULL, empty, 10 MiB, deeply nested JSON, int64 and int32 edges,
# infinite times and dates, odd intervals, while the others keep plausible
# values; and every function is called with all arguments NULL. Each call runs in its own rolled-back transaction with a
# 10 s statement timeout. The server must never restart, no call may end in
# an internal error (SQLSTATE class XX) or a timeout, and the invariants hold.
. "$(dirname "$0")/lib/common.sh"
fresh_db commerce_fuzz
WORK="$(mktemp -d /tmp/commerce-fuzz.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
[ -n "${FUZZ_KEEP:-}" ] && trap - EXIT

q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION commerce;
CALL commerce.provision();
SELECT commerce.create_tenant('fz', 'Fuzz');
SELECT commerce.upsert_product(commerce.tenant_id('fz'), 'P', 'Goods');
SELECT commerce.upsert_sku(commerce.tenant_id('fz'), 'P', 'A1', 'A1', 100);
SELECT commerce.receive_stock(commerce.tenant_id('fz'), 'r', 'A1', 100);
SELECT commerce.upsert_customer(commerce.tenant_id('fz'), c) FROM unnest(ARRAY['A1', 'u-k']) c;
SELECT commerce.upsert_koc(commerce.tenant_id('fz'), 'A1', 'u-k', 'K');
SQL
T="$(q -c "SELECT commerce.tenant_id('fz')")"
started="$(q -c "SELECT pg_postmaster_start_time()")"

# one line per call: BEGIN; SELECT ... FROM f(args); ROLLBACK;
q -v tenant="$T" >"$WORK/calls.sql" <<'SQL'
WITH fn AS (
    SELECT p.oid, p.oid::regprocedure AS sig, p.proname, n.nspname,
           p.proargtypes::regtype[] AS types, p.pronargs
      FROM pg_proc p
      JOIN pg_namespace n ON n.oid = p.pronamespace
      JOIN pg_language l ON l.oid = p.prolang AND l.lanname IN ('c', 'plpgsql', 'sql')
      JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
      JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'commerce'
     WHERE p.prorettype <> 'trigger'::regtype AND p.prokind = 'f'
       -- every argument of a type the lists below know
       AND NOT EXISTS (SELECT 1 FROM unnest(p.proargtypes::regtype[]) a(t)
                        WHERE a.t::text NOT IN ('bigint', 'integer', 'text', 'timestamp with time zone', 'interval',
                                                'inet', 'date', 'jsonb', 'boolean', 'text[]'))
), typical(t, v) AS (VALUES
    ('jsonb', quote_literal('{}') || '::jsonb'), ('boolean', 'true'), ('text[]', quote_literal('{}') || '::text[]'),
    ('bigint', :'tenant'), ('integer', '10'), ('text', quote_literal('A1')),
    ('timestamp with time zone', 'now()'), ('interval', quote_literal('1 hour') || '::interval'),
    ('inet', quote_literal('10.0.0.1') || '::inet'), ('date', 'current_date')
), bad(t, label, v) AS (VALUES
    ('bigint', 'null', 'NULL'), ('bigint', 'zero', '0'), ('bigint', 'minus one', '-1'),
    ('bigint', 'int64 max', '9223372036854775807'), ('bigint', 'int64 min', '(-9223372036854775807 - 1)'),
    ('integer', 'null', 'NULL'), ('integer', 'zero', '0'), ('integer', 'minus one', '-1'),
    ('integer', 'int32 max', '2147483647'), ('integer', 'int32 min', '(-2147483647 - 1)'),
    ('text', 'null', 'NULL'), ('text', 'empty', quote_literal('')), ('text', '10 MiB', 'repeat(''x'', 10485760)'),
    ('text', 'deep JSON array', 'repeat(''['', 100000) || repeat('']'', 100000)'),
    ('text', 'deep JSON cart', '''{"lines":'' || repeat(''['', 5000) || repeat('']'', 5000) || ''}'''),
    ('text', 'JSON null', quote_literal('null')), ('text', 'control bytes', 'E''\\x01\\x7f\\t'''),
    ('text', 'big JSON number', quote_literal('[{"sku":"A1","qty":1e999999}]')),
    ('timestamp with time zone', 'null', 'NULL'), ('timestamp with time zone', 'infinity', '''infinity''::timestamptz'),
    ('timestamp with time zone', 'minus infinity', '''-infinity''::timestamptz'),
    ('timestamp with time zone', 'year 4713 BC', '''4713-01-01 BC''::timestamptz'),
    ('interval', 'null', 'NULL'), ('interval', 'negative', '''-1 day''::interval'), ('interval', 'zero', '''0''::interval'),
    ('interval', 'huge', '''178000000 years''::interval'), ('interval', 'months', '''1 month''::interval'),
    ('inet', 'null', 'NULL'), ('inet', 'ipv6', '''::1''::inet'),
    ('date', 'null', 'NULL'), ('date', 'infinity', '''infinity''::date'), ('date', 'minus infinity', '''-infinity''::date'),
    ('jsonb', 'null', 'NULL'), ('jsonb', 'JSON null', '''null''::jsonb'), ('jsonb', 'array', '''[]''::jsonb'),
    ('jsonb', 'deep', '(repeat(''['', 5000) || repeat('']'', 5000))::jsonb'),
    ('jsonb', 'big number', '''{"qty":1e999}''::jsonb'), ('jsonb', '10 MiB string', 'to_jsonb(repeat(''x'', 10485760))'),
    ('boolean', 'null', 'NULL'),
    ('text[]', 'null', 'NULL'), ('text[]', 'a NULL element', 'ARRAY[NULL]::text[]'),
    ('text[]', 'an empty element', 'ARRAY['''']::text[]'), ('text[]', '10000 elements', 'array_fill(''x''::text, ARRAY[10000])')
), calls AS (
    -- each argument bad in turn, the others typical
    SELECT f.sig, i AS argno, b.label,
           format('SELECT 1 FROM %s.%s(%s)', f.nspname, f.proname,
                  (SELECT string_agg(CASE WHEN j = i THEN b.v || '::' || f.types[j]
                                          ELSE (SELECT ty.v FROM typical ty WHERE ty.t = f.types[j]::text) || '::' || f.types[j] END,
                                     ', ' ORDER BY j)
                     FROM generate_subscripts(f.types, 1) j)) AS stmt
      FROM fn f, generate_subscripts(f.types, 1) i, bad b
     WHERE b.t = f.types[i]::text
    UNION ALL
    -- every argument NULL
    SELECT f.sig, 0, 'all null',
           format('SELECT 1 FROM %s.%s(%s)', f.nspname, f.proname,
                  coalesce((SELECT string_agg('NULL::' || f.types[j], ', ') FROM generate_subscripts(f.types, 1) j), ''))
      FROM fn f
)
SELECT format('\echo CALL %s | arg %s | %s', sig, argno, label) || E'\n' ||
       'BEGIN;' || E'\n' || stmt || ';' || E'\n' || 'ROLLBACK;'
  FROM calls ORDER BY sig::text, argno, label;
SQL
n="$(grep -c '^\\echo CALL' "$WORK/calls.sql")"
fns="$(grep '^\\echo CALL' "$WORK/calls.sql" | cut -d'|' -f1 | sort -u | wc -l)"
echo "fuzz: $n calls of $fns functions"
PGOPTIONS="-c statement_timeout=10s -c client_min_messages=error" \
    psql -X -q -v ON_ERROR_STOP=0 -v VERBOSITY=verbose -f "$WORK/calls.sql" >"$WORK/out.log" 2>&1 || true
# outcome per call: ok or the SQLSTATE of its error
awk '/^CALL /{if (c != "") print c " => " s; c = $0; s = "ok"; next}
     /ERROR:  [0-9A-Z][0-9A-Z][0-9A-Z][0-9A-Z][0-9A-Z]:/{ if (s == "ok") { match($0, /ERROR:  [0-9A-Z]/); s = substr($0, RSTART + 8, 5) } }
     /server closed the connection|connection to server was lost|terminating connection/{ s = "CRASH" }
     END{if (c != "") print c " => " s}' "$WORK/out.log" >"$WORK/outcomes"
echo "outcomes (SQLSTATE: calls):"
sed 's/.* => //' "$WORK/outcomes" | sort | uniq -c | sort -rn | awk '{printf "  %s: %s\n", $2, $1}'
bad="$(grep -E '=> (XX|57014|CRASH)' "$WORK/outcomes" || true)"
if [ -n "$bad" ]; then
    echo "calls that ended badly:"
    echo "$bad" | head -n 40
fi
check "calls made" "$(wc -l <"$WORK/outcomes")" "$n"
check "internal errors (XX), timeouts (57014), crashes" "$(echo -n "$bad" | grep -c . || true)" "0"
check "server never restarted" "$(q -c "SELECT pg_postmaster_start_time()")" "$started"
check "stock invariant violations" "$(q -c "SELECT count(*) FROM commerce.check_stock_invariants()")" "0"
check "order invariant violations" "$(q -c "SELECT count(*) FROM commerce.check_order_invariants()")" "0"
longest="$(grep -E '^(psql:[^ ]* )?(ERROR|DETAIL|HINT):' "$WORK/out.log" | awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }')"
ok_len=$([ "$longest" -le 1000 ] && echo yes || echo "no ($longest characters)")
check "error messages quote at most a prefix (longest line <= 1000)" "$ok_len" "yes"
# a click with a 10 MiB user agent, committed: the agent is kept to 512 bytes
q -c "SELECT (commerce.record_click($T, commerce.tracking_link($T, 'A1'), 'fuzz-visitor', '10.0.0.9', repeat('u', 10485760))).counted" >/dev/null
check "a 10 MiB user agent is kept to 512 bytes" "$(q -c "SELECT max(octet_length(user_agent)) FROM commerce.click")" "512"
dropdb commerce_fuzz
exit $FAILED
