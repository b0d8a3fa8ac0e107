#!/usr/bin/env bash
# test/lint/api_doc.sh: the API is documented where clients read it. Every
# commerce_api function, every type and API shape (view) one returns and
# every enum of commerce
# has a COMMENT (it becomes the GraphQL and OpenAPI documentation), and
# docs/api.md carries the table of every function (arguments, result, the
# kinds of actor it is open to, its comment) exactly as the catalog gives it
# (test/lint/lib/api_table.sql), so the page cannot fall behind the code.
source "$(dirname "$0")/../lib/tap.sh"
DB=lint_api_doc
fresh_db "$DB"
export PGDATABASE="$DB"
q -c "CREATE EXTENSION commerce"
nfn="$(q -c "SELECT count(*) FROM pg_proc WHERE pronamespace = 'commerce_api'::regnamespace")"
nocomment="SELECT coalesce(string_agg(p.oid::regprocedure::text, ' '), '') FROM pg_proc p
            WHERE p.pronamespace = 'commerce_api'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL"
is "$(q -c "$nocomment")" "" "every one of the $nfn commerce_api functions has a COMMENT"
is "$(q -c "SELECT coalesce(string_agg(DISTINCT t.oid::regtype::text, ' '), '') FROM pg_proc p JOIN pg_type t ON t.oid = p.prorettype
             WHERE p.pronamespace = 'commerce_api'::regnamespace AND t.typnamespace = 'commerce'::regnamespace
               AND obj_description(t.oid, 'pg_type') IS NULL")" "" "every type a commerce_api function returns has a COMMENT"
is "$(q -c "SELECT coalesce(string_agg(c.oid::regclass::text, ' '), '') FROM pg_class c
             WHERE c.relnamespace = 'commerce_api'::regnamespace AND obj_description(c.oid, 'pg_class') IS NULL")" "" \
    "every API shape (view of commerce_api) a function returns has a COMMENT"
is "$(q -c "SELECT coalesce(string_agg(t.oid::regtype::text, ' '), '') FROM pg_type t
             WHERE t.typnamespace = 'commerce'::regnamespace AND t.typtype = 'e' AND obj_description(t.oid, 'pg_type') IS NULL")" \
    "" "every enum of commerce has a COMMENT"
is "$(q -c "SELECT count(*) FROM commerce.api_matrix() WHERE kinds IS NULL")" "0" "every commerce_api function names the kinds it is open to"
want="$(q -f "$ROOT/test/lint/lib/api_table.sql")"
have="$(sed -n '/^<!-- api-table:begin -->$/,/^<!-- api-table:end -->$/p' "$ROOT/docs/api.md" | sed '1d;$d')"
d="$(diff <(echo "$want") <(echo "$have") | head -n 20 || true)"
ok "$([ -n "$have" ] && [ -z "$d" ]; echo $?)" \
    "docs/api.md lists every commerce_api function as the catalog does (regenerate: psql -At -f test/lint/lib/api_table.sql)" "$d"
# the checks can fail: a function without a comment is found
q -c "CREATE FUNCTION commerce_api.doc_probe() RETURNS int LANGUAGE sql AS 'SELECT 1'"
is "$(q -c "$nocomment")" "commerce_api.doc_probe()" "a commerce_api function without a COMMENT is reported"
q -d postgres -c "DROP DATABASE $DB"
done_testing
