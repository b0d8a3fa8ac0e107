-- sql/src/core/api.sql: the commerce_api schema and the tenant of an HTTP
-- request (PostgREST, PostGraphile, Hasura claims).

CREATE SCHEMA commerce_api;
COMMENT ON SCHEMA commerce_api IS
  'The HTTP/GraphQL face of commerce: functions that take the tenant from the caller''s JWT claims. Grant USAGE and EXECUTE to your API roles.';

-- The caller's tenant from PostgREST, PostGraphile, Hasura or commerce.tenant settings.
CREATE FUNCTION commerce.current_tenant() RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE v text; c text;
BEGIN
    c := nullif(current_setting('request.jwt.claims', true), '');
    IF c IS NOT NULL THEN
        v := c::jsonb ->> 'tenant_id';
    END IF;
    v := coalesce(v, nullif(current_setting('jwt.claims.tenant_id', true), ''));
    c := nullif(current_setting('hasura.user', true), '');
    IF v IS NULL AND c IS NOT NULL THEN
        v := c::jsonb ->> 'x-hasura-tenant-id';
    END IF;
    v := coalesce(v, nullif(current_setting('commerce.tenant_id', true), ''));
    IF v IS NULL OR v !~ '^[0-9]{1,18}$' THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = 'no tenant in the request',
            DETAIL  = format('tenant claim: %s', coalesce(v, 'absent')),
            HINT    = 'Put tenant_id in the JWT claims (PostgREST, PostGraphile), x-hasura-tenant-id in the Hasura session, or SET commerce.tenant_id.';
    END IF;
    RETURN v::bigint;
END $$;
