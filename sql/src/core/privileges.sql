-- sql/src/core/privileges.sql: what other roles may see and run, last in the
-- manifest. Row level security on every table of tenant data: a role that
-- reads a table directly (a bound login role, a gateway's session, a role an
-- operator granted SELECT) sees the rows of its verified tenant only, and the
-- install's defaults (tenant 0). The functions run as their owner and are
-- not limited by it. Nothing of schema commerce is executable by PUBLIC:
-- every function and procedure the modules above created is closed here; a
-- role is granted what it needs (commerce.grant_api, commerce.bind_role).
-- Every upgrade script ends with the same REVOKE, so the functions it adds
-- are closed too.

-- Row level security on every table of schema commerce with a tenant_id column (idempotent).
CREATE FUNCTION commerce._isolate_tenants() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE r record; n integer := 0;
BEGIN
    FOR r IN
        SELECT c.oid::regclass AS t, (ad.adbin IS NOT NULL AND pg_get_expr(ad.adbin, ad.adrelid) = '0') AS defaults
          FROM pg_class c
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
          LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
         WHERE c.relnamespace = 'commerce'::regnamespace AND c.relkind IN ('r', 'p')
         ORDER BY 1::text
    LOOP
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', r.t);
        IF NOT EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = r.t AND polname = 'tenant_isolation') THEN
            EXECUTE format('CREATE POLICY tenant_isolation ON %s USING (tenant_id = (SELECT commerce._rls_tenant()))', r.t);
        END IF;
        IF r.defaults AND NOT EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = r.t AND polname = 'tenant_defaults') THEN
            EXECUTE format('CREATE POLICY tenant_defaults ON %s FOR SELECT USING (tenant_id = 0)', r.t);
        END IF;
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce._isolate_tenants() IS
  'Enable row level security on every table of schema commerce that has a tenant_id column, with policy tenant_isolation (rows of the session''s verified tenant, commerce._rls_tenant()) and, where tenant_id defaults to 0, tenant_defaults (the install''s defaults, read only). Idempotent; returns the number of tables.';

SELECT commerce._isolate_tenants();

REVOKE ALL ON ALL ROUTINES IN SCHEMA commerce FROM PUBLIC;
