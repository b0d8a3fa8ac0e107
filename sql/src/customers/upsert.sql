-- sql/src/customers/upsert.sql: creating and updating a customer.

-- Create or update a customer by code.
CREATE FUNCTION commerce.upsert_customer(p_tenant bigint, p_code text, p_name text DEFAULT NULL,
                                         p_phone text DEFAULT NULL, p_member_tier text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_id bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    IF p_member_tier IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM commerce.member_tier WHERE tenant_id = p_tenant AND code = p_member_tier) THEN
        PERFORM commerce._not_found('member tier', p_member_tier, p_tenant);
    END IF;
    -- an update when the account exists (an insert would make a person for nothing: its trigger runs first)
    UPDATE commerce.customer SET name = p_name, phone = p_phone, member_tier = p_member_tier
     WHERE tenant_id = p_tenant AND code = p_code
    RETURNING customer_id INTO v_id;
    IF v_id IS NOT NULL THEN
        RETURN v_id;
    END IF;
    INSERT INTO commerce.customer (tenant_id, code, name, phone, member_tier)
    VALUES (p_tenant, p_code, p_name, p_phone, p_member_tier)
    ON CONFLICT (tenant_id, code) DO UPDATE
       SET name = EXCLUDED.name, phone = EXCLUDED.phone, member_tier = EXCLUDED.member_tier
    RETURNING customer_id INTO v_id;
    RETURN v_id;
END $$;
