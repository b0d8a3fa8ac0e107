-- sql/src/core/provision.sql: creating the provisioned schema. The extension
-- holds code, types and catalogs; the tables of tenant data are ordinary
-- tables that CALL commerce.provision() creates once per database, so that
-- pg_dump and pg_restore back them up like any table (docs/scale-out.md,
-- docs/operations.md "Backup and restore").

-- Create every table, index, trigger and view of the modules (commerce._schema_ddl()); idempotent.
CREATE PROCEDURE commerce.provision()
LANGUAGE plpgsql SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE v_owner name; v_other text;
BEGIN
    SELECT e.extowner::regrole::name INTO v_owner FROM pg_extension e WHERE e.extname = 'commerce';
    IF v_owner IS DISTINCT FROM current_user THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = format('only the owner of extension commerce (%s) may provision its tables', v_owner),
            DETAIL  = format('The current role is %s. The tables must belong to the role that owns the functions.',
                             current_user),
            HINT    = format('Connect as %s (or SET ROLE %s) and CALL commerce.provision().', v_owner, v_owner);
    END IF;
    IF to_regclass('commerce.tenant') IS NOT NULL THEN
        RAISE NOTICE 'commerce is already provisioned in database %', current_database();
        RETURN;
    END IF;
    SELECT string_agg(c.relname, ', ' ORDER BY c.relname) INTO v_other
      FROM pg_class c
     WHERE c.relnamespace = 'commerce'::regnamespace AND c.relkind IN ('r', 'p', 'v');
    IF v_other IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = '55000',
            MESSAGE = 'schema commerce holds relations but not commerce.tenant',
            DETAIL  = format('Found: %s.', left(v_other, 300)),
            HINT    = 'Restore the whole dump (tables included), or drop the leftovers before CALL commerce.provision().';
    END IF;
    EXECUTE commerce._schema_ddl();
END $$;
COMMENT ON PROCEDURE commerce.provision() IS
  'Create the tables, indexes, triggers and views of commerce in this database (run once after CREATE EXTENSION, as the extension owner; a second call does nothing). A restored dump already has them.';
