-- sql/src/creators/shares.sql: what members share (K01 features, K10): one
-- share per request with a signed share code for the link, and the first
-- click of each visitor on it (a share succeeded when its first click came).

-- The share of a share code, or NULL when it is not one of the tenant's signed codes.
CREATE FUNCTION commerce._share_code_parse(p_tenant bigint, p_code text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE m text[]; v numeric := 0; ch text;
BEGIN
    m := regexp_match(p_code, '^s([0-9a-z]{1,12})\.([a-z2-9]{13})$');
    IF m IS NULL OR NOT commerce._fields_signed(p_tenant, 'share', m[1], m[2]) THEN
        RETURN NULL;
    END IF;
    FOREACH ch IN ARRAY regexp_split_to_array(m[1], '') LOOP
        v := v * 36 + strpos('0123456789abcdefghijklmnopqrstuvwxyz', ch) - 1;
    END LOOP;
    RETURN CASE WHEN v <= 9223372036854775807 THEN v::bigint END;
END $$;
COMMENT ON FUNCTION commerce._share_code_parse(bigint, text) IS
  'The share a share code names (s<share>.<signature>, base 36), or NULL when the code is malformed or not signed by the tenant (compared in constant time).';

-- The signed code of a share.
CREATE FUNCTION commerce.share_code(p_tenant bigint, p_share bigint) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE v_fields text := commerce._base36(p_share);
BEGIN
    RETURN 's' || v_fields || '.' || commerce._sign_fields(p_tenant, 'share', v_fields);
END $$;
COMMENT ON FUNCTION commerce.share_code(bigint, bigint) IS
  'The signed code of a share (s<share>.<signature>, base 36, signed with the tenant''s secret): put it in the shared link; a click on it is recorded with record_share_click.';

-- Record a member's share, once per request; its code for the link.
CREATE FUNCTION commerce.record_share(p_tenant bigint, p_customer text, p_kind text, p_ref text, p_platform text, p_request_id text)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE c record; s commerce.share%ROWTYPE; v_koc bigint; v_outcome text := 'created'; v_material bigint; v_version integer;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._require(p_kind, 'p_kind');
    PERFORM commerce._require(p_ref, 'p_ref');
    PERFORM commerce._require(p_platform, 'p_platform');
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    IF p_kind NOT IN ('product', 'play', 'page', 'material', 'review', 'post', 'other') THEN
        PERFORM commerce._invalid('p_kind', format('kind "%s"', left(p_kind, 64)),
            'A share is of a product, play, page, material, review, post or other.');
    END IF;
    IF p_platform NOT IN ('wechat', 'moments', 'douyin', 'xiaohongshu', 'weibo', 'facebook', 'instagram', 'other') THEN
        PERFORM commerce._invalid('p_platform', format('platform "%s"', left(p_platform, 64)),
            'Share to wechat, moments, douyin, xiaohongshu, weibo, facebook, instagram or other.');
    END IF;
    IF length(p_ref) NOT BETWEEN 1 AND 200 THEN
        PERFORM commerce._invalid('p_ref', format('a reference of %s characters', length(p_ref)),
            'Name what was shared in 1 to 200 characters (a product code, a play, a URL).');
    END IF;
    SELECT cu.customer_id, cu.person_id INTO c FROM commerce.customer cu WHERE cu.tenant_id = p_tenant AND cu.code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    SELECT k.koc_id INTO v_koc FROM commerce.koc k WHERE k.tenant_id = p_tenant AND k.customer_id = c.customer_id AND k.status = 'active';
    IF p_kind = 'material' THEN           -- a material of the library, at its latest version
        SELECT m.material_id, m.versions INTO v_material, v_version FROM commerce.material m
         WHERE m.tenant_id = p_tenant AND m.code = p_ref AND m.status = 'active' AND m.versions > 0;
        IF NOT FOUND THEN
            PERFORM commerce._not_found('active material', p_ref, p_tenant);
        END IF;
    END IF;
    INSERT INTO commerce.share AS x (tenant_id, request_id, person_id, customer_id, koc_id, kind, ref, platform, material_id, version,
                                     shared_at)
    VALUES (p_tenant, p_request_id, c.person_id, c.customer_id, v_koc, p_kind, p_ref, p_platform, v_material, v_version, commerce.now())
    ON CONFLICT (tenant_id, request_id) DO NOTHING
    RETURNING x.* INTO s;
    IF s.share_id IS NULL THEN
        SELECT * INTO s FROM commerce.share x WHERE x.tenant_id = p_tenant AND x.request_id = p_request_id;
        IF (s.customer_id, s.kind, s.ref, s.platform) IS DISTINCT FROM (c.customer_id, p_kind, p_ref, p_platform) THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('request %s recorded another share', left(p_request_id, 64)),
                DETAIL = format('It recorded share %s: %s %s to %s.', s.share_id, s.kind, left(s.ref, 64), s.platform),
                HINT = 'Use a new request id for a new share.';
        END IF;
        v_outcome := 'repeat';
    END IF;
    RETURN jsonb_build_object('share_id', s.share_id, 'code', commerce.share_code(p_tenant, s.share_id), 'kind', s.kind,
                              'ref', s.ref, 'platform', s.platform, 'koc', (SELECT k.code FROM commerce.koc k
                                                                            WHERE k.tenant_id = p_tenant AND k.koc_id = s.koc_id),
                              'shared_at', s.shared_at, 'outcome', v_outcome);
END $$;
COMMENT ON FUNCTION commerce.record_share(bigint, text, text, text, text, text) IS
  'Record that a member (a customer account) shared something (K01, K10): kind product, play, page, material (p_ref: an active material of the library, at its latest version; PT404 otherwise), review or post, what (p_ref), to which platform; as the KOC it is, if it is an active one (a KOC''s one-click share with its tracking code is share_material). Once per request id (the same request again returns the same share, outcome repeat; PT409 if it named another). Returns the share with its signed code for the link.';

-- Record a visitor's click on a share code: the first click of each visitor counts.
CREATE FUNCTION commerce.record_share_click(p_tenant bigint, p_code text, p_visitor text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v_share bigint; s record; v_new boolean := false; v_now timestamptz := commerce.now(); v_first boolean := false;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_visitor, 'p_visitor');
    IF length(p_visitor) NOT BETWEEN 1 AND 128 THEN
        PERFORM commerce._invalid('p_visitor', format('a visitor id of %s characters', length(p_visitor)),
            'The visitor is the mini-program or H5 user id, 1 to 128 characters.');
    END IF;
    v_share := commerce._share_code_parse(p_tenant, p_code);
    IF v_share IS NULL THEN
        PERFORM commerce._invalid('p_code', format('"%s" is not a share code of this tenant', left(p_code, 64)),
            'Pass the code record_share returned, unaltered.');
    END IF;
    -- the share's row orders the clicks on it
    SELECT x.share_id, x.customer_id, x.tracking_code, cu.code AS customer INTO s FROM commerce.share x
      JOIN commerce.customer cu ON cu.tenant_id = x.tenant_id AND cu.customer_id = x.customer_id
     WHERE x.tenant_id = p_tenant AND x.share_id = v_share FOR NO KEY UPDATE OF x;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('share', p_code, p_tenant);
    END IF;
    IF p_visitor IS DISTINCT FROM s.customer THEN           -- the sharer following its own link is no click
        INSERT INTO commerce.share_click (tenant_id, share_id, visitor_id, clicked_at)
        VALUES (p_tenant, v_share, p_visitor, v_now)
        ON CONFLICT DO NOTHING
        RETURNING true INTO v_new;
        v_new := coalesce(v_new, false);
        IF s.tracking_code IS NOT NULL THEN    -- a KOC's share: the click is the KOC's too (orders attributed)
            PERFORM commerce.record_click(p_tenant, s.tracking_code, p_visitor);
        END IF;
    END IF;
    IF v_new THEN
        UPDATE commerce.share x SET clicks = x.clicks + 1, first_click_at = coalesce(x.first_click_at, v_now), last_click_at = v_now
         WHERE x.tenant_id = p_tenant AND x.share_id = v_share
        RETURNING x.clicks = 1 INTO v_first;
    END IF;
    RETURN jsonb_build_object('share_id', v_share, 'counted', v_new, 'first', v_first);
END $$;
COMMENT ON FUNCTION commerce.record_share_click(bigint, text, text) IS
  'Record a visitor''s click on a share''s signed code (K01, K10): the first click of each visitor counts (counted), the sharer''s own does not; first says this click made the share successful. On a KOC''s share with a tracking code the click is recorded as the KOC''s as well (record_click: the visitor''s orders are attributed). 22023 for a code that is not the tenant''s. Returns {share_id, counted, first}.';
