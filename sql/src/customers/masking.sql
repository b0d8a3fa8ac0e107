-- sql/src/customers/masking.sql: phone numbers and addresses as shown to those
-- who may not see them whole.

-- 138****1234: the first 3 and last 4 digits of a phone number.
CREATE FUNCTION commerce.mask_phone(p_phone text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_phone IS NULL THEN NULL
                WHEN length(p_phone) <= 7 THEN repeat('*', length(p_phone))
                ELSE left(p_phone, 3) || repeat('*', length(p_phone) - 7) || right(p_phone, 4) END;
$$;

-- An address shown up to its first 6 characters, the rest masked.
CREATE FUNCTION commerce.mask_address(p_address text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_address IS NULL THEN NULL
                WHEN length(p_address) <= 6 THEN repeat('*', length(p_address))
                ELSE left(p_address, 6) || '****' END;
$$;
