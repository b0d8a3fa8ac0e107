-- test/upgrade/fingerprint.sql: an OID-free description of everything the
-- commerce extension owns and provisions (the relations of schemas commerce
-- and commerce_api, members or not), one sorted line per fact. Two databases whose
-- fingerprints are equal have the same schema: function definitions, ACLs and
-- comments, columns in attnum order with types and defaults, constraints,
-- indexes, triggers, enum labels in order, views, sequences, and the rows the
-- install seeds. Used by test/upgrade/*.sh (psql -At -f fingerprint.sql).
\set ON_ERROR_STOP 1
SET search_path = pg_catalog;
SET extra_float_digits = 3;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET intervalstyle = 'postgres';

WITH ext AS (
    SELECT oid FROM pg_extension WHERE extname = 'commerce'
), member AS (
    SELECT d.classid, d.objid
    FROM pg_depend d, ext
    WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
), rel AS (
    SELECT c.oid, c.oid::regclass::text AS name, c.relkind
    FROM pg_class c
    WHERE c.oid IN (SELECT m.objid FROM member m WHERE m.classid = 'pg_class'::regclass)
       OR (c.relnamespace IN ('commerce'::regnamespace, 'commerce_api'::regnamespace) AND c.relkind <> 'i')
), fn AS (
    SELECT p.oid, p.oid::regprocedure::text AS sig
    FROM pg_proc p JOIN member m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
), typ AS (
    SELECT t.oid, t.oid::regtype::text AS name, t.typtype
    FROM pg_type t JOIN member m ON m.classid = 'pg_type'::regclass AND m.objid = t.oid
), facts(line) AS (
    -- the member objects, described
    SELECT 'member ' || pg_describe_object(m.classid, m.objid, 0) FROM member m
    UNION ALL
    -- extension version and its configuration tables
    SELECT 'extension ' || e.extversion || ' relocatable=' || e.extrelocatable
           || ' config=' || coalesce((SELECT string_agg(x::regclass::text, ',' ORDER BY x::regclass::text)
                                      FROM unnest(e.extconfig) x), '')
           || ' conditions=' || coalesce(array_to_string(e.extcondition, '|'), '')
    FROM pg_extension e WHERE e.extname = 'commerce'
    UNION ALL
    SELECT 'schema ' || n.nspname || ' acl=' || coalesce(n.nspacl::text, '') || ' comment='
           || coalesce(obj_description(n.oid, 'pg_namespace'), '')
    FROM pg_namespace n WHERE n.nspname IN ('commerce', 'commerce_api')
    UNION ALL
    -- functions: the whole definition (language, volatility, security, settings, body)
    SELECT 'function ' || fn.sig || ' def=' || md5(pg_get_functiondef(fn.oid)) FROM fn
    UNION ALL
    SELECT 'function ' || fn.sig || ' acl=' || coalesce(p.proacl::text, '') FROM fn JOIN pg_proc p ON p.oid = fn.oid
    UNION ALL
    SELECT 'function ' || fn.sig || ' comment=' || coalesce(md5(obj_description(fn.oid, 'pg_proc')), '') FROM fn
    UNION ALL
    -- relations: kind, persistence, options, ACL, comment
    SELECT 'relation ' || rel.name || ' kind=' || c.relkind::text || ' persistence=' || c.relpersistence::text
           || ' rls=' || c.relrowsecurity || '/' || c.relforcerowsecurity
           || ' options=' || coalesce(c.reloptions::text, '') || ' acl=' || coalesce(c.relacl::text, '')
           || ' comment=' || coalesce(md5(obj_description(rel.oid, 'pg_class')), '')
    FROM rel JOIN pg_class c ON c.oid = rel.oid
    UNION ALL
    -- columns in attnum order (dropped columns skipped, positions renumbered)
    SELECT 'column ' || rel.name || ' #' || lpad(row_number() OVER (PARTITION BY rel.oid ORDER BY a.attnum)::text, 3, '0')
           || ' ' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
           || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
           || CASE WHEN a.attidentity <> '' THEN ' identity=' || a.attidentity::text ELSE '' END
           || CASE WHEN a.attgenerated <> '' THEN ' generated=' || a.attgenerated::text ELSE '' END
           || coalesce(' default=' || pg_get_expr(ad.adbin, ad.adrelid), '')
           || coalesce(' collation=' || nullif(a.attcollation, 0)::regcollation::text, '')
           || ' acl=' || coalesce(a.attacl::text, '')
           || ' comment=' || coalesce(md5(col_description(rel.oid, a.attnum)), '')
    FROM rel JOIN pg_attribute a ON a.attrelid = rel.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
    WHERE rel.relkind IN ('r', 'p', 'v', 'm', 'c', 'f')
    UNION ALL
    SELECT 'constraint ' || rel.name || ' ' || co.conname || ' ' || pg_get_constraintdef(co.oid)
           || CASE WHEN co.condeferrable THEN ' deferrable' ELSE '' END
           || ' comment=' || coalesce(md5(obj_description(co.oid, 'pg_constraint')), '')
    FROM rel JOIN pg_constraint co ON co.conrelid = rel.oid
    UNION ALL
    SELECT 'constraint-of-type ' || typ.name || ' ' || co.conname || ' ' || pg_get_constraintdef(co.oid)
    FROM typ JOIN pg_constraint co ON co.contypid = typ.oid
    UNION ALL
    SELECT 'index ' || pg_get_indexdef(i.indexrelid)
           || ' comment=' || coalesce(md5(obj_description(i.indexrelid, 'pg_class')), '')
    FROM rel JOIN pg_index i ON i.indrelid = rel.oid
    UNION ALL
    SELECT 'trigger ' || pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text
           || ' comment=' || coalesce(md5(obj_description(t.oid, 'pg_trigger')), '')
    FROM rel JOIN pg_trigger t ON t.tgrelid = rel.oid AND NOT t.tgisinternal
    UNION ALL
    SELECT 'policy ' || rel.name || ' ' || p.polname || ' ' || p.polcmd::text || ' ' || p.polpermissive
           || ' roles=' || p.polroles::regrole[]::text
           || ' using=' || coalesce(pg_get_expr(p.polqual, p.polrelid), '')
           || ' check=' || coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '')
    FROM rel JOIN pg_policy p ON p.polrelid = rel.oid
    UNION ALL
    SELECT 'view ' || rel.name || ' ' || md5(pg_get_viewdef(rel.oid))
    FROM rel WHERE rel.relkind IN ('v', 'm')
    UNION ALL
    SELECT 'sequence ' || rel.name || ' ' || s.seqtypid::regtype::text || ' start=' || s.seqstart
           || ' inc=' || s.seqincrement || ' min=' || s.seqmin || ' max=' || s.seqmax
           || ' cache=' || s.seqcache || ' cycle=' || s.seqcycle
    FROM rel JOIN pg_sequence s ON s.seqrelid = rel.oid
    UNION ALL
    SELECT 'type ' || typ.name || ' ' || typ.typtype::text || ' comment=' || coalesce(md5(obj_description(typ.oid, 'pg_type')), '')
    FROM typ
    UNION ALL
    SELECT 'enum ' || typ.name || ' ' || lpad(row_number() OVER (PARTITION BY typ.oid ORDER BY e.enumsortorder)::text, 3, '0')
           || ' ' || e.enumlabel
    FROM typ JOIN pg_enum e ON e.enumtypid = typ.oid
    UNION ALL
    SELECT 'rule ' || pg_get_ruledef(r.oid)
    FROM rel JOIN pg_rewrite r ON r.ev_class = rel.oid AND r.rulename <> '_RETURN'
)
SELECT line FROM facts ORDER BY line COLLATE "C";

-- the rows an install (or provision) seeds: count and checksum per table, in a stable order
SELECT string_agg(q, E'\nUNION ALL\n') AS rowsql
FROM (
    SELECT format('SELECT %L || count(*) || %L || coalesce(md5(string_agg(t::text, %L ORDER BY t::text COLLATE "C")), %L) FROM %s t',
                  'rows ' || c.oid::regclass::text || ' ', ' ', E'\n', '', c.oid::regclass::text) AS q
    FROM pg_class c
    WHERE c.relkind IN ('r', 'p') AND c.relnamespace = 'commerce'::regnamespace
      AND c.relname <> 'audit_log'   -- what was done, not what was installed
    ORDER BY c.oid::regclass::text COLLATE "C"
) s \gset
SELECT r.line FROM (:rowsql) r(line) ORDER BY r.line COLLATE "C";
