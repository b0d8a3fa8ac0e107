-- sql/src/core/helpers.sql: the clock (commerce.now) and the standard refusals
-- every entry point raises (PT404, 22004, 22023).

-- commerce.now(): the clock every entry point uses (transaction start time,
-- or the superuser-only setting commerce.now for tests with controlled time).
CREATE FUNCTION commerce.now() RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'commerce_now' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION commerce.now() IS
  'Current time for commerce: now(), unless a superuser set commerce.now (tests with controlled time).';

-- Raise the standard "not found" error (PT404).
CREATE FUNCTION commerce._not_found(p_what text, p_key text, p_tenant bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'PT404',
        MESSAGE = format('%s "%s" not found', p_what, p_key),
        DETAIL  = format('No %s "%s" exists in tenant %s.', p_what, p_key, p_tenant),
        HINT    = 'Check the code and the tenant; rows of other tenants are never visible.';
END $$;

-- Raise 22004 when a required argument is NULL.
CREATE FUNCTION commerce._require(p_value anyelement, p_name text)
RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_value IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004',
            MESSAGE = format('argument %s must not be null', p_name),
            HINT    = format('Pass a value for %s.', p_name);
    END IF;
END $$;

-- Raise 22023 for an argument outside its domain.
CREATE FUNCTION commerce._invalid(p_name text, p_detail text, p_hint text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = '22023',
        MESSAGE = format('invalid value for %s', p_name),
        DETAIL  = p_detail, HINT = p_hint;
END $$;
