-- sql/src/orders/pii.sql: an order's receiver masked unless the caller may see
-- it (the masks are sql/src/customers/masking.sql), and encrypted exports.

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
LANGUAGE plpgsql VOLATILE AS $$
DECLARE o commerce.orders_row; v_full boolean := commerce.may_see_pii();
BEGIN
    PERFORM commerce._require(p_tenant, 'p_tenant');
    PERFORM commerce._require(p_order, 'p_order');
    SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND order_id = p_order;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('order', p_order::text, p_tenant);
    END IF;
    IF v_full THEN   -- an unmasked read of personal data is a sensitive operation
        PERFORM commerce._audit(p_tenant, 'pii.read', p_order::text, jsonb_build_object('order_id', p_order), 'unmasked');
    END IF;
    RETURN QUERY SELECT
        CASE WHEN v_full THEN o.receiver_name ELSE left(o.receiver_name, 1) || '**' END,
        CASE WHEN v_full THEN o.receiver_phone ELSE commerce.mask_phone(o.receiver_phone) END,
        o.receiver_region, o.receiver_city,
        CASE WHEN v_full THEN o.receiver_address ELSE commerce.mask_address(o.receiver_address) END,
        NOT v_full;
END $$;
COMMENT ON FUNCTION commerce.order_contact(bigint, bigint) IS
  'The receiver of an order: phone as 138****1234, name and address masked, unless commerce.may_see_pii(); an unmasked read is written to the audit log (so the function is VOLATILE: call it with POST).';

-- AES-256 (pgcrypto's pgp_sym_encrypt, in the schema pgcrypto was installed in) of one value.
CREATE FUNCTION commerce._encrypt(p_crypto_schema text, p_value text, p_key text) RETURNS bytea
LANGUAGE plpgsql VOLATILE AS $$
DECLARE v bytea;
BEGIN
    IF p_value IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT %I.pgp_sym_encrypt($1, $2, ''cipher-algo=aes256'')', p_crypto_schema) INTO v USING p_value, p_key;
    RETURN v;
END $$;

-- The orders of a period for export, the receiver's name, phone and address encrypted under the caller's key.
CREATE FUNCTION commerce.export_orders(p_tenant bigint, p_from date, p_to date, p_key text,
                                       p_channels text[] DEFAULT NULL)
RETURNS TABLE (order_id bigint, channel text, external_order_id text, status text, payable_fen bigint,
               created_at timestamptz, receiver_region text, receiver_city text, receiver_name bytea,
               receiver_phone bytea, receiver_address bytea)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE t commerce.tenant_row := commerce._tenant(p_tenant); v_crypto text; n bigint;
BEGIN
    PERFORM commerce._require(p_from, 'p_from');
    PERFORM commerce._require(p_to, 'p_to');
    PERFORM commerce._require(p_key, 'p_key');
    IF NOT isfinite(p_from) OR NOT isfinite(p_to) OR p_to < p_from OR p_to - p_from > 366 THEN
        PERFORM commerce._invalid('p_to', format('%s to %s', p_from, p_to), 'Export 1 to 367 days, from a date to a date on or after it.');
    END IF;
    IF length(p_key) NOT BETWEEN 16 AND 1000 THEN
        PERFORM commerce._invalid('p_key', format('%s characters', length(p_key)),
                                  'Use a key of 16 to 1000 characters, kept outside the database.');
    END IF;
    SELECT ns.nspname INTO v_crypto FROM pg_extension e JOIN pg_namespace ns ON ns.oid = e.extnamespace
     WHERE e.extname = 'pgcrypto';
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '0A000',
            MESSAGE = 'pgcrypto is not installed in this database',
            DETAIL  = 'Exports encrypt the receiver''s name, phone and address with pgcrypto (AES-256).',
            HINT    = 'CREATE EXTENSION pgcrypto (PostgreSQL contrib).';
    END IF;
    RETURN QUERY
    SELECT o.order_id, ch.code, o.external_order_id, o.status::text, o.payable_fen, o.created_at,
           o.receiver_region, o.receiver_city, commerce._encrypt(v_crypto, o.receiver_name, p_key),
           commerce._encrypt(v_crypto, o.receiver_phone, p_key), commerce._encrypt(v_crypto, o.receiver_address, p_key)
      FROM commerce.orders o JOIN commerce.channel ch ON ch.tenant_id = o.tenant_id AND ch.channel_id = o.channel_id
     WHERE o.tenant_id = p_tenant
       AND o.created_at >= p_from::timestamp AT TIME ZONE t.time_zone
       AND o.created_at < (p_to + 1)::timestamp AT TIME ZONE t.time_zone
       AND (p_channels IS NULL OR ch.code = ANY (p_channels))
     ORDER BY o.order_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM commerce._audit(p_tenant, 'pii.export', format('%s..%s', p_from, p_to),
                            jsonb_build_object('from', p_from, 'to', p_to, 'channels', p_channels, 'rows', n), 'encrypted');
END $$;
COMMENT ON FUNCTION commerce.export_orders(bigint, date, date, text, text[]) IS
  'The orders placed in a period (the tenant''s local dates, at most 367 days; optionally of some channels) for export, the receiver''s name, phone and address encrypted with pgcrypto (pgp_sym_encrypt, AES-256) under p_key, which the operator supplies and keeps (16 to 1000 characters); decrypt with pgp_sym_decrypt(value, key). Audited (pii.export). 0A000 without pgcrypto.';
