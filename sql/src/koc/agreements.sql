-- sql/src/koc/agreements.sql: versioned agreements and signatures (K04).

-- Publish a new version of the agreement; returns its version number.
CREATE FUNCTION commerce.publish_agreement(p_tenant bigint, p_title text, p_body text)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE v integer;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_title, 'p_title');
    PERFORM commerce._require(p_body, 'p_body');
    IF length(p_body) = 0 THEN
        PERFORM commerce._invalid('p_body', 'The agreement text is empty.', 'Publish the full text.');
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('commerce.agreement:' || p_tenant, 0));
    SELECT coalesce(max(version), 0) + 1 INTO v FROM commerce.agreement WHERE tenant_id = p_tenant;
    INSERT INTO commerce.agreement (tenant_id, version, title, body, body_sha256, published_at)
    VALUES (p_tenant, v, p_title, p_body, encode(sha256(convert_to(p_body, 'UTF8')), 'hex'), commerce.now());
    RETURN v;
END $$;

-- A KOC signs an agreement version: the hash of the text they were shown must be that version's.
CREATE FUNCTION commerce.sign_agreement(p_tenant bigint, p_koc text, p_version integer,
                                        p_text_sha256 text, p_signer_name text, p_client_ip inet DEFAULT NULL)
RETURNS commerce.agreement_signature_row LANGUAGE plpgsql AS $$
DECLARE k commerce.koc_row; ag commerce.agreement; sg commerce.agreement_signature_row;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_koc, 'p_koc');
    PERFORM commerce._require(p_version, 'p_version');
    PERFORM commerce._require(p_text_sha256, 'p_text_sha256');
    PERFORM commerce._require(p_signer_name, 'p_signer_name');
    SELECT * INTO k FROM commerce.koc WHERE tenant_id = p_tenant AND code = p_koc;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('KOC', p_koc, p_tenant);
    END IF;
    SELECT * INTO ag FROM commerce.agreement WHERE tenant_id = p_tenant AND version = p_version;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('agreement version', p_version::text, p_tenant);
    END IF;
    IF p_version <> (SELECT max(version) FROM commerce.agreement WHERE tenant_id = p_tenant) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('agreement version %s is not the current one', p_version),
            HINT = 'Show and sign the current version.';
    END IF;
    IF lower(p_text_sha256) <> ag.body_sha256 THEN
        PERFORM commerce._invalid('p_text_sha256',
            format('The text signed hashes to %s, version %s to %s.', p_text_sha256, p_version, ag.body_sha256),
            'Show the exact text of the version and send its SHA-256.');
    END IF;
    INSERT INTO commerce.agreement_signature (tenant_id, koc_id, version, signer_name, client_ip, text_sha256, signed_at)
    VALUES (p_tenant, k.koc_id, p_version, p_signer_name, p_client_ip, ag.body_sha256, commerce.now())
    ON CONFLICT DO NOTHING;
    SELECT * INTO sg FROM commerce.agreement_signature
     WHERE tenant_id = p_tenant AND koc_id = k.koc_id AND version = p_version;
    RETURN sg;
END $$;
COMMENT ON FUNCTION commerce.sign_agreement(bigint, text, integer, text, text, inet) IS
  'Record that a KOC signed the current agreement version (signer, time, IP, the SHA-256 of the exact text shown). Signing again is a no-op.';

-- True when the KOC has signed the current agreement version (false if there is none).
CREATE FUNCTION commerce.koc_has_signed_current(p_tenant bigint, p_koc_id bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM commerce.agreement_signature s
                    WHERE s.tenant_id = p_tenant AND s.koc_id = p_koc_id
                      AND s.version = (SELECT max(version) FROM commerce.agreement WHERE tenant_id = p_tenant));
$$;
COMMENT ON FUNCTION commerce.koc_has_signed_current(bigint, bigint) IS
  'Whether the KOC signed the current agreement version: a KOC earns only then.';

-- The evidence of a signature, checked against the stored text.
CREATE FUNCTION commerce.signature_evidence(p_tenant bigint, p_koc text, p_version integer)
RETURNS TABLE (koc text, version integer, signer_name text, client_ip inet, signed_at timestamptz,
               text_sha256 text, text_still_matches boolean)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM commerce._require(p_koc, 'p_koc');
    PERFORM commerce._require(p_version, 'p_version');
    RETURN QUERY
    SELECT k.code, s.version, s.signer_name, s.client_ip, s.signed_at, s.text_sha256,
           encode(sha256(convert_to(a.body, 'UTF8')), 'hex') = s.text_sha256
      FROM commerce.agreement_signature s
      JOIN commerce.koc k USING (tenant_id, koc_id)
      JOIN commerce.agreement a ON a.tenant_id = s.tenant_id AND a.version = s.version
     WHERE s.tenant_id = p_tenant AND k.code = p_koc AND s.version = p_version;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('signature', p_koc || ' v' || p_version, p_tenant);
    END IF;
END $$;
COMMENT ON FUNCTION commerce.signature_evidence(bigint, text, integer) IS
  'Retrieve the evidence of a signature and verify it: the stored text of that version still hashes to what was signed.';
