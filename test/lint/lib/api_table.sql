-- test/lint/lib/api_table.sql: the table of docs/api.md ("Every function"),
-- generated from the catalog: each commerce_api function, its arguments,
-- what it returns, the kinds of actor it is open to (commerce.api_matrix())
-- and its COMMENT. test/lint/api_doc.sh checks that docs/api.md carries
-- exactly this table; regenerate it with
--   psql -At -f test/lint/lib/api_table.sql   (in a database with commerce)
SELECT '| function | arguments | returns | open to | what it does |'
UNION ALL SELECT '|---|---|---|---|---|'
UNION ALL
SELECT * FROM (
    SELECT format('| `%s` | %s | %s | %s | %s |', p.proname,
                  coalesce(nullif(replace(pg_get_function_arguments(p.oid), '|', '\|'), ''), '(none)'),
                  replace(pg_get_function_result(p.oid), 'commerce.', ''),
                  array_to_string(m.kinds, ', '),
                  replace(coalesce(obj_description(p.oid, 'pg_proc'), '**no comment**'), '|', '\|'))
      FROM pg_proc p JOIN commerce.api_matrix() m ON m.function = p.oid
     WHERE p.pronamespace = 'commerce_api'::regnamespace
     ORDER BY p.proname) t;
