-- sql/src/orders/pii.sql: masked phone numbers and addresses unless the caller
-- may see them.

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

-- True when the caller may see full phone numbers and addresses. The caller is the
-- role set with SET ROLE (PostgREST switches to the API role that way; SECURITY
-- DEFINER functions do not change it), else the session user.
CREATE FUNCTION commerce.may_see_pii() RETURNS boolean
LANGUAGE sql STABLE AS $$
    WITH caller AS (
        SELECT CASE WHEN current_setting('role') = 'none' THEN session_user::text
                    ELSE current_setting('role') END AS name)
    SELECT coalesce((SELECT r.rolsuper FROM pg_roles r, caller c WHERE r.rolname = c.name), false)
        OR (EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'commerce_pii_reader')
            AND (SELECT pg_has_role(c.name, 'commerce_pii_reader', 'MEMBER') FROM caller c));
$$;
COMMENT ON FUNCTION commerce.may_see_pii() IS
  'Whether the caller (the role set with SET ROLE, else the session user) may see unmasked personal data: superusers and members of the role commerce_pii_reader (create it and grant it to the roles that need it). Row level security per tenant comes later.';

-- The receiver of an order as the caller may see it.
CREATE FUNCTION commerce.order_contact(p_tenant bigint, p_order bigint)
RETURNS TABLE (receiver_name text, receiver_phone text, receiver_region text, receiver_city text,
               receiver_address text, masked boolean)
LANGUAGE plpgsql STABLE AS $$
DECLARE o commerce.orders_row; v_full boolean := commerce.may_see_pii();
BEGIN
    PERFORM commerce._require(p_tenant, 'p_tenant');
    PERFORM commerce._require(p_order, 'p_order');
    SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND order_id = p_order;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('order', p_order::text, p_tenant);
    END IF;
    RETURN QUERY SELECT
        CASE WHEN v_full THEN o.receiver_name ELSE left(o.receiver_name, 1) || '**' END,
        CASE WHEN v_full THEN o.receiver_phone ELSE commerce.mask_phone(o.receiver_phone) END,
        o.receiver_region, o.receiver_city,
        CASE WHEN v_full THEN o.receiver_address ELSE commerce.mask_address(o.receiver_address) END,
        NOT v_full;
END $$;
COMMENT ON FUNCTION commerce.order_contact(bigint, bigint) IS
  'The receiver of an order: phone as 138****1234, name and address masked, unless commerce.may_see_pii().';
