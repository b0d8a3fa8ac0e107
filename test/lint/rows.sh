#!/usr/bin/env bash
# test/lint/rows.sh: the split between the extension and its provisioned
# schema (docs/scale-out.md). After CREATE EXTENSION and CALL
# commerce.provision(): no table, view or sequence is a member of the
# extension (pg_dump dumps their rows); no function of the extension takes or
# returns a relation's row type (CREATE EXTENSION must work before the tables
# exist, as it does on restore); every <table>_row type has exactly the
# columns of its table, names and types in order (functions move rows between
# the two by position); and the install script alone creates no relation in
# commerce. The views of commerce_api are the exception, as API shapes: the
# row types the list functions return (so Hasura can track them), members of
# the extension, which select from no table and so hold nothing to dump.
source "$(dirname "$0")/../lib/tap.sh"
DB=lint_rows
fresh_db "$DB"
export PGDATABASE="$DB"
q -c "CREATE EXTENSION commerce"
is "$(q -c "SELECT count(*) FROM pg_class WHERE relnamespace = 'commerce'::regnamespace AND relkind IN ('r', 'p', 'v', 'S')")" \
    "0" "CREATE EXTENSION alone creates no table, view or sequence"
q -c "CALL commerce.provision()"
ntab="$(q -c "SELECT count(*) FROM pg_class WHERE relnamespace = 'commerce'::regnamespace AND relkind = 'r'")"
ok "$([ "$ntab" -ge 61 ]; echo $?)" "CALL commerce.provision() creates the $ntab tables"
is "$(q -c "SELECT string_agg(c.oid::regclass::text, ' ' ORDER BY 1)
              FROM pg_depend d JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid
             WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
               AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'commerce')
               AND c.relkind IN ('r', 'p', 'v', 'S', 'm') AND c.relnamespace <> 'commerce_api'::regnamespace")" "" \
    "no table, view or sequence of commerce is a member of the extension"
nshape="$(q -c "SELECT count(*) FROM pg_class WHERE relnamespace = 'commerce_api'::regnamespace AND relkind = 'v'")"
is "$(q -c "SELECT string_agg(DISTINCT v.oid::regclass::text, ' ')
              FROM pg_class v JOIN pg_rewrite rw ON rw.ev_class = v.oid
              JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = rw.oid AND d.refclassid = 'pg_class'::regclass
              JOIN pg_class r ON r.oid = d.refobjid AND r.oid <> v.oid
             WHERE v.relnamespace = 'commerce_api'::regnamespace AND v.relkind = 'v'")" "" \
    "the $nshape API shapes (views of commerce_api) select from no table"
rowfn="SELECT p.oid::regprocedure::text FROM pg_proc p
         WHERE p.pronamespace IN ('commerce'::regnamespace, 'commerce_api'::regnamespace)
           AND EXISTS (SELECT 1 FROM pg_class c WHERE c.relkind IN ('r', 'p', 'v', 'm')
                        AND c.relnamespace <> 'commerce_api'::regnamespace AND c.reltype = ANY (p.proargtypes::oid[] || p.prorettype || coalesce(p.proallargtypes, '{}')))"
is "$(q -c "SELECT string_agg(f, ' ') FROM ($rowfn) x(f)")" "" "no function takes or returns a table's or view's row type (API shapes aside)"
cols="SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
        FROM pg_attribute a WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped"
diffs="$(q -c "SELECT string_agg(t.typname, ' ' ORDER BY t.typname)
                 FROM pg_type t
                 JOIN pg_class tc ON tc.oid = t.typrelid AND tc.relkind = 'c'
                 LEFT JOIN pg_class r ON r.relnamespace = t.typnamespace AND r.relname = left(t.typname, -4)
                                     AND r.relkind IN ('r', 'p', 'v')
                WHERE t.typnamespace = 'commerce'::regnamespace AND t.typname LIKE '%\_row'
                  AND (r.oid IS NULL
                       OR ($(printf "$cols" tc.oid)) IS DISTINCT FROM ($(printf "$cols" r.oid)))")"
nrow="$(q -c "SELECT count(*) FROM pg_type WHERE typnamespace = 'commerce'::regnamespace AND typtype = 'c' AND typname LIKE '%\_row'")"
is "$diffs" "" "each of the $nrow <table>_row types has its table's columns, in order"
# the checks can fail: a function on a table's row type, a row type that differs
q -c "CREATE FUNCTION commerce.rows_probe(o commerce.orders) RETURNS int LANGUAGE sql AS 'SELECT 1'"
is "$(q -c "SELECT count(*) FROM ($rowfn) x(f)")" "1" "a function on a table's row type is found"
q -c "DROP FUNCTION commerce.rows_probe(commerce.orders)" -c "ALTER TABLE commerce.orders ADD COLUMN rows_probe int"
is "$(q -c "SELECT count(*) FROM pg_type t JOIN pg_class tc ON tc.oid = t.typrelid
             JOIN pg_class r ON r.relnamespace = t.typnamespace AND r.relname = left(t.typname, -4)
            WHERE t.typname = 'orders_row' AND ($(printf "$cols" tc.oid)) IS DISTINCT FROM ($(printf "$cols" r.oid))")" \
    "1" "a table whose columns differ from its row type is found"
q -d postgres -c "DROP DATABASE $DB"
done_testing
