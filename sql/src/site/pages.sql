-- sql/src/site/pages.sql: site pages as component documents (H3.5.1). Each
-- component's props are checked against its schema by the play-rule schema
-- checker (src/plays_schema.c); a page is saved as a new version, published
-- one version at a time after its product, coupon, material and live-room
-- references are checked; templates start a page in one call.

-- The components a page is made of and the schema of each one's props.
CREATE FUNCTION commerce.site_components() RETURNS TABLE (component text, schema jsonb)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    VALUES
    ('banner', '{"type":"object","additionalProperties":false,"required":["material"],"properties":{
        "material":{"type":"string","minLength":1,"maxLength":63},"link":{"type":"string","maxLength":500},
        "title":{"type":"string","maxLength":100}}}'::jsonb),
    ('video_feed', '{"type":"object","additionalProperties":false,"required":["videos"],"properties":{
        "title":{"type":"string","maxLength":100},
        "videos":{"type":"array","items":{"type":"object","additionalProperties":false,"required":["material"],"properties":{
            "material":{"type":"string","minLength":1,"maxLength":63},
            "products":{"type":"array","items":{"type":"string","minLength":1,"maxLength":63},"default":[]}}}}}}'::jsonb),
    ('product_card', '{"type":"object","additionalProperties":false,"required":["product"],"properties":{
        "product":{"type":"string","minLength":1,"maxLength":63},"sku":{"type":"string","minLength":1,"maxLength":63},
        "show_price":{"type":"boolean","default":true}}}'::jsonb),
    ('article', '{"type":"object","additionalProperties":false,"required":["title","body"],"properties":{
        "title":{"type":"string","minLength":1,"maxLength":200},"body":{"type":"string","minLength":1,"maxLength":20000},
        "products":{"type":"array","items":{"type":"string","minLength":1,"maxLength":63},"default":[]}}}'::jsonb),
    ('coupon', '{"type":"object","additionalProperties":false,"required":["batch"],"properties":{
        "batch":{"type":"string","minLength":1,"maxLength":63},"label":{"type":"string","maxLength":50}}}'::jsonb),
    ('follow_button', '{"type":"object","additionalProperties":false,"required":["target"],"properties":{
        "target":{"type":"string","enum":["wecom","official_account","mini_program","douyin"]},
        "label":{"type":"string","maxLength":30,"default":"Follow"}}}'::jsonb),
    ('live_floating_list', '{"type":"object","additionalProperties":false,"required":["room"],"properties":{
        "room":{"type":"string","minLength":1,"maxLength":63},"max_items":{"type":"integer","minimum":1,"maximum":50,"default":10}}}'::jsonb);
$$;
COMMENT ON FUNCTION commerce.site_components() IS
  'The components of a site page (H3.5.1) and the schema of each one''s props (the play-rule schema subset, src/plays_schema.c): banner (a material, a link), video_feed (videos: materials with the products shown in them), product_card (a product, a SKU, whether to show the price), article (a title, a body and product links), coupon (a coupon batch to claim), follow_button (WeCom, the official account, the mini-program or Douyin), live_floating_list (a live room''s products).';

-- Check a page document: the components' props against their schemas, with the defaults; the references it makes.
CREATE FUNCTION commerce._site_doc_check(p_doc jsonb, OUT doc jsonb, OUT refs jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE c jsonb; i integer := 0; v_schema jsonb; v_props jsonb; v_out jsonb := '[]'::jsonb; v_msg text;
BEGIN
    IF jsonb_typeof(p_doc) IS DISTINCT FROM 'object' OR EXISTS (SELECT 1 FROM jsonb_object_keys(p_doc) k WHERE k <> 'components')
       OR jsonb_typeof(p_doc -> 'components') IS DISTINCT FROM 'array'
       OR jsonb_array_length(p_doc -> 'components') NOT BETWEEN 1 AND 100 THEN
        PERFORM commerce._invalid('p_doc', left(coalesce(p_doc::text, 'null'), 64),
            'A page is {"components": [{"type": "banner", "props": {...}}, ...]} with 1 to 100 components.');
    END IF;
    FOR c IN SELECT x FROM jsonb_array_elements(p_doc -> 'components') x LOOP
        i := i + 1;
        IF jsonb_typeof(c) <> 'object' OR EXISTS (SELECT 1 FROM jsonb_object_keys(c) k WHERE k NOT IN ('type', 'props')) THEN
            PERFORM commerce._invalid('p_doc', format('component %s: %s', i, left(c::text, 64)), 'A component is {"type": ..., "props": {...}}.');
        END IF;
        SELECT sc.schema INTO v_schema FROM commerce.site_components() sc WHERE sc.component = c ->> 'type';
        IF NOT FOUND THEN
            PERFORM commerce._invalid('p_doc', format('component %s: type %s', i, left(coalesce(c ->> 'type', 'missing'), 64)),
                'Components: banner, video_feed, product_card, article, coupon, follow_button, live_floating_list.');
        END IF;
        BEGIN
            v_props := commerce._apply_play_schema(v_schema::text, coalesce(c -> 'props', '{}'::jsonb)::text)::jsonb;
        EXCEPTION WHEN invalid_parameter_value THEN
            GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT;
            PERFORM commerce._invalid('p_doc', format('component %s (%s): %s', i, c ->> 'type', replace(v_msg, 'invalid rules: ', 'props ')),
                'Give the component the props its schema names (commerce.site_components()).');
        END;
        v_out := v_out || jsonb_build_array(jsonb_build_object('type', c ->> 'type', 'props', v_props));
    END LOOP;
    doc := jsonb_build_object('components', v_out);
    -- what the page refers to, each kind once, in order
    SELECT jsonb_build_object(
        'products', coalesce(jsonb_agg(DISTINCT r.ref) FILTER (WHERE r.kind = 'product'), '[]'::jsonb),
        'skus', coalesce(jsonb_agg(DISTINCT r.ref) FILTER (WHERE r.kind = 'sku'), '[]'::jsonb),
        'coupon_batches', coalesce(jsonb_agg(DISTINCT r.ref) FILTER (WHERE r.kind = 'coupon'), '[]'::jsonb),
        'materials', coalesce(jsonb_agg(DISTINCT r.ref) FILTER (WHERE r.kind = 'material'), '[]'::jsonb),
        'rooms', coalesce(jsonb_agg(DISTINCT r.ref) FILTER (WHERE r.kind = 'room'), '[]'::jsonb))
      INTO refs
      FROM (SELECT 'product' AS kind, x.props ->> 'product' AS ref FROM jsonb_to_recordset(v_out) x(type text, props jsonb) WHERE x.type = 'product_card'
            UNION ALL SELECT 'sku', x.props ->> 'sku' FROM jsonb_to_recordset(v_out) x(type text, props jsonb) WHERE x.type = 'product_card' AND x.props ? 'sku'
            UNION ALL SELECT 'product', p FROM jsonb_to_recordset(v_out) x(type text, props jsonb), jsonb_array_elements_text(x.props -> 'products') p
                       WHERE x.type = 'article'
            UNION ALL SELECT 'product', p FROM jsonb_to_recordset(v_out) x(type text, props jsonb), jsonb_array_elements(x.props -> 'videos') v,
                                               jsonb_array_elements_text(v -> 'products') p WHERE x.type = 'video_feed'
            UNION ALL SELECT 'material', v ->> 'material' FROM jsonb_to_recordset(v_out) x(type text, props jsonb), jsonb_array_elements(x.props -> 'videos') v
                       WHERE x.type = 'video_feed'
            UNION ALL SELECT 'material', x.props ->> 'material' FROM jsonb_to_recordset(v_out) x(type text, props jsonb) WHERE x.type = 'banner'
            UNION ALL SELECT 'coupon', x.props ->> 'batch' FROM jsonb_to_recordset(v_out) x(type text, props jsonb) WHERE x.type = 'coupon'
            UNION ALL SELECT 'room', x.props ->> 'room' FROM jsonb_to_recordset(v_out) x(type text, props jsonb) WHERE x.type = 'live_floating_list') r;
END $$;
COMMENT ON FUNCTION commerce._site_doc_check(jsonb) IS
  'Check a page document (H3.5.1): {"components": [...]} with 1 to 100 components, each a known type whose props pass its schema (22023 naming the component and the JSON path); returns it with the defaults filled in, and the products, SKUs, coupon batches, materials and live rooms it refers to.';

-- The references of a page that do not resolve now: {"products": [...], ...} of what is missing or unusable.
CREATE FUNCTION commerce._site_refs_broken(p_tenant bigint, p_refs jsonb) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'products', (SELECT jsonb_agg(r ORDER BY r) FROM jsonb_array_elements_text(p_refs -> 'products') r
                      WHERE NOT EXISTS (SELECT 1 FROM commerce.product p JOIN commerce.sku s ON s.tenant_id = p.tenant_id AND s.product_id = p.product_id
                                         WHERE p.tenant_id = p_tenant AND p.code = r AND s.active)),
        'skus', (SELECT jsonb_agg(r ORDER BY r) FROM jsonb_array_elements_text(p_refs -> 'skus') r
                  WHERE NOT EXISTS (SELECT 1 FROM commerce.sku s WHERE s.tenant_id = p_tenant AND s.code = r AND s.active)),
        'coupon_batches', (SELECT jsonb_agg(r ORDER BY r) FROM jsonb_array_elements_text(p_refs -> 'coupon_batches') r
                            WHERE NOT EXISTS (SELECT 1 FROM commerce.coupon_batch b WHERE b.tenant_id = p_tenant AND b.code = r
                                                AND b.status = 'open' AND b.claimable
                                                AND (b.claim_until IS NULL OR b.claim_until > commerce.now()))),
        'materials', (SELECT jsonb_agg(r ORDER BY r) FROM jsonb_array_elements_text(p_refs -> 'materials') r
                       WHERE NOT EXISTS (SELECT 1 FROM commerce.material m WHERE m.tenant_id = p_tenant AND m.code = r
                                           AND m.status = 'active' AND m.versions > 0)),
        'rooms', (SELECT jsonb_agg(r ORDER BY r) FROM jsonb_array_elements_text(p_refs -> 'rooms') r
                   WHERE NOT EXISTS (SELECT 1 FROM commerce.live_room l WHERE l.tenant_id = p_tenant AND l.code = r AND l.status <> 'ended'))));
$$;
COMMENT ON FUNCTION commerce._site_refs_broken(bigint, jsonb) IS
  'What a page refers to that cannot be shown now: products without an active SKU, inactive or unknown SKUs, coupon batches that are not open and claimable until later, materials that are not active with a version, live rooms unknown or ended. {} when every reference resolves.';

-- Save a page as a new version (creating the page): the draft.
CREATE FUNCTION commerce.save_site_page(p_tenant bigint, p_slug text, p_title text, p_doc jsonb, p_by text DEFAULT 'operator',
                                        p_template text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE pg commerce.site_page%ROWTYPE; ck record; v_now timestamptz := commerce.now();
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_slug, 'p_slug');
    PERFORM commerce._require(p_title, 'p_title');
    PERFORM commerce._require(p_doc, 'p_doc');
    PERFORM commerce._require(p_by, 'p_by');
    IF p_slug !~ '^[a-z0-9][a-z0-9-]{0,62}$' THEN
        PERFORM commerce._invalid('p_slug', format('slug "%s"', left(p_slug, 64)), 'A slug is 1 to 63 lower-case letters, digits and -.');
    END IF;
    IF length(p_title) NOT BETWEEN 1 AND 200 THEN
        PERFORM commerce._invalid('p_title', format('a title of %s characters', length(p_title)), 'A title of 1 to 200 characters.');
    END IF;
    SELECT * INTO ck FROM commerce._site_doc_check(p_doc);
    INSERT INTO commerce.site_page AS x (tenant_id, slug, title, versions, created_at, updated_at)
    VALUES (p_tenant, p_slug, p_title, 0, v_now, v_now)
    ON CONFLICT (tenant_id, slug) DO UPDATE SET title = EXCLUDED.title, updated_at = EXCLUDED.updated_at
    RETURNING x.* INTO pg;      -- the page's row, locked: versions are numbered without a gap
    INSERT INTO commerce.site_page_version (tenant_id, page_id, version, doc, refs, template, created_by, created_at)
    VALUES (p_tenant, pg.page_id, pg.versions + 1, ck.doc, ck.refs, p_template, left(p_by, 200), v_now);
    UPDATE commerce.site_page x SET versions = pg.versions + 1 WHERE x.tenant_id = p_tenant AND x.page_id = pg.page_id;
    RETURN commerce._site_page_json(p_tenant, pg.page_id);
END $$;
COMMENT ON FUNCTION commerce.save_site_page(bigint, text, text, jsonb, text, text) IS
  'Save a site page (H3.5.1) as its next version, the draft (the page is created on its first save): the document is checked component by component against site_components (22023 naming the component and the JSON path; nothing saved); what is published does not change until publish_site_page. Returns the page with its draft''s broken references (checked again on publish).';

CREATE FUNCTION commerce._site_page_json(p_tenant bigint, p_page bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('slug', p.slug, 'title', p.title, 'versions', p.versions, 'draft_version', p.versions,
                              'published_version', p.published_version, 'published_by', p.published_by, 'published_at', p.published_at,
                              'draft_broken_refs', commerce._site_refs_broken(p_tenant, v.refs), 'updated_at', p.updated_at)
      FROM commerce.site_page p
      LEFT JOIN commerce.site_page_version v ON v.tenant_id = p.tenant_id AND v.page_id = p.page_id AND v.version = p.versions
     WHERE p.tenant_id = p_tenant AND p.page_id = p_page;
$$;
COMMENT ON FUNCTION commerce._site_page_json(bigint, bigint) IS
  'A site page as operators see it: slug, title, versions (the latest is the draft), the published version and who published it when, and what the draft refers to that cannot be shown now.';

-- Publish a version of a page (the draft unless named), after its references are checked.
CREATE FUNCTION commerce.publish_site_page(p_tenant bigint, p_slug text, p_version integer DEFAULT NULL, p_by text DEFAULT 'operator')
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE pg commerce.site_page%ROWTYPE; v commerce.site_page_version%ROWTYPE; v_broken jsonb;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_slug, 'p_slug');
    PERFORM commerce._require(p_by, 'p_by');
    SELECT * INTO pg FROM commerce.site_page x WHERE x.tenant_id = p_tenant AND x.slug = p_slug FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('site page', p_slug, p_tenant);
    END IF;
    SELECT * INTO v FROM commerce.site_page_version x
     WHERE x.tenant_id = p_tenant AND x.page_id = pg.page_id AND x.version = coalesce(p_version, pg.versions);
    IF NOT FOUND THEN
        PERFORM commerce._not_found(format('version of page %s', left(p_slug, 64)), coalesce(p_version::text, 'latest'), p_tenant);
    END IF;
    v_broken := commerce._site_refs_broken(p_tenant, v.refs);
    IF v_broken <> '{}'::jsonb THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('page %s version %s refers to what cannot be shown', left(p_slug, 64), v.version),
            DETAIL = format('Unresolved: %s.', left(v_broken::text, 500)),
            HINT = 'Fix the references (an active SKU, an open claimable coupon batch, an active material with a version, a live room not ended) or save a version without them.';
    END IF;
    UPDATE commerce.site_page x SET published_version = v.version, published_by = left(p_by, 200), published_at = commerce.now(),
                                    updated_at = commerce.now()
     WHERE x.tenant_id = p_tenant AND x.page_id = pg.page_id;
    RETURN commerce._site_page_json(p_tenant, pg.page_id);
END $$;
COMMENT ON FUNCTION commerce.publish_site_page(bigint, text, integer, text) IS
  'Publish a version of a site page (H3.5.1; the latest unless p_version; an older one rolls back): its product, SKU, coupon, material and live-room references are checked first (PT409 naming what is missing, nothing changes); fans then see that version, and only it. Returns the page.';

CREATE FUNCTION commerce.unpublish_site_page(p_tenant bigint, p_slug text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v_id bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_slug, 'p_slug');
    UPDATE commerce.site_page x SET published_version = NULL, published_by = NULL, published_at = NULL, updated_at = commerce.now()
     WHERE x.tenant_id = p_tenant AND x.slug = p_slug RETURNING x.page_id INTO v_id;
    IF v_id IS NULL THEN
        PERFORM commerce._not_found('site page', p_slug, p_tenant);
    END IF;
    RETURN commerce._site_page_json(p_tenant, v_id);
END $$;
COMMENT ON FUNCTION commerce.unpublish_site_page(bigint, text) IS
  'Take a site page off the site (H3.5.1): fans see nothing at its slug; its versions stay.';

-- The published page as fans get it: the document with each product's name and price on the site's channel.
CREATE FUNCTION commerce.site_page(p_tenant bigint, p_slug text, p_channel text DEFAULT 'wechat_mp') RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE pg commerce.site_page%ROWTYPE; v commerce.site_page_version%ROWTYPE;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_slug, 'p_slug');
    SELECT * INTO pg FROM commerce.site_page x WHERE x.tenant_id = p_tenant AND x.slug = p_slug AND x.published_version IS NOT NULL;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('published site page', p_slug, p_tenant);
    END IF;
    SELECT * INTO v FROM commerce.site_page_version x WHERE x.tenant_id = p_tenant AND x.page_id = pg.page_id AND x.version = pg.published_version;
    RETURN jsonb_build_object('slug', pg.slug, 'title', pg.title, 'version', v.version, 'published_at', pg.published_at,
        'components', v.doc -> 'components',
        'products', coalesce((SELECT jsonb_object_agg(p.code, jsonb_build_object('name', p.name, 'skus',
                               (SELECT jsonb_agg(jsonb_build_object('sku', s.code, 'name', s.name,
                                                                    'price_fen', (commerce.resolve_price(p_tenant, s.code, p_channel)).price_fen)
                                                 ORDER BY s.code)
                                  FROM commerce.sku s WHERE s.tenant_id = p.tenant_id AND s.product_id = p.product_id AND s.active)))
                                FROM commerce.product p
                               WHERE p.tenant_id = p_tenant AND p.code IN (SELECT jsonb_array_elements_text(v.refs -> 'products'))), '{}'::jsonb),
        'materials', coalesce((SELECT jsonb_object_agg(m.code, commerce._material_json(p_tenant, m.material_id) -> 'latest')
                                 FROM commerce.material m
                                WHERE m.tenant_id = p_tenant AND m.status = 'active'
                                  AND m.code IN (SELECT jsonb_array_elements_text(v.refs -> 'materials'))), '{}'::jsonb));
END $$;
COMMENT ON FUNCTION commerce.site_page(bigint, text, text) IS
  'A published site page as fans get it (H3.5.1): its published version''s components, and what they refer to resolved now: each product''s name and active SKUs with their price on the site''s channel (resolve_price), each material''s latest files per platform. PT404 while the page is unpublished.';

CREATE FUNCTION commerce.site_pages(p_tenant bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM commerce._tenant(p_tenant);
    RETURN (SELECT coalesce(jsonb_agg(commerce._site_page_json(p_tenant, p.page_id) ORDER BY p.slug), '[]'::jsonb)
              FROM commerce.site_page p WHERE p.tenant_id = p_tenant);
END $$;
COMMENT ON FUNCTION commerce.site_pages(bigint) IS
  'The pages of the creator''s site for operators (H3.5.1): each with its versions, published version and the draft''s broken references.';

-- Page templates.
CREATE FUNCTION commerce.upsert_site_template(p_tenant bigint, p_code text, p_name text, p_doc jsonb, p_by text DEFAULT 'operator')
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE ck record;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_name, 'p_name');
    PERFORM commerce._require(p_doc, 'p_doc');
    PERFORM commerce._require(p_by, 'p_by');
    IF p_code !~ '^[a-z0-9][a-z0-9_-]{0,62}$' THEN
        PERFORM commerce._invalid('p_code', format('code "%s"', left(p_code, 64)), 'A template code is 1 to 63 lower-case letters, digits, _ and -.');
    END IF;
    IF length(p_name) NOT BETWEEN 1 AND 200 THEN
        PERFORM commerce._invalid('p_name', format('a name of %s characters', length(p_name)), 'A name of 1 to 200 characters.');
    END IF;
    SELECT * INTO ck FROM commerce._site_doc_check(p_doc);
    INSERT INTO commerce.site_template AS x (tenant_id, code, name, doc, updated_by, updated_at)
    VALUES (p_tenant, p_code, p_name, ck.doc, left(p_by, 200), commerce.now())
    ON CONFLICT (tenant_id, code) DO UPDATE SET name = EXCLUDED.name, doc = EXCLUDED.doc, updated_by = EXCLUDED.updated_by,
                                                updated_at = EXCLUDED.updated_at;
    RETURN jsonb_build_object('code', p_code, 'name', p_name, 'components', jsonb_array_length(ck.doc -> 'components'), 'refs', ck.refs);
END $$;
COMMENT ON FUNCTION commerce.upsert_site_template(bigint, text, text, jsonb, text) IS
  'Create or change a page template (H3.5.1): a component document checked like a page (22023 naming the component and path). Pages made from it earlier do not change.';

CREATE FUNCTION commerce.apply_site_template(p_tenant bigint, p_template text, p_slug text, p_title text, p_by text DEFAULT 'operator')
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v_doc jsonb;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_template, 'p_template');
    SELECT x.doc INTO v_doc FROM commerce.site_template x WHERE x.tenant_id = p_tenant AND x.code = p_template;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('site template', p_template, p_tenant);
    END IF;
    RETURN commerce.save_site_page(p_tenant, p_slug, p_title, v_doc, p_by, p_template);
END $$;
COMMENT ON FUNCTION commerce.apply_site_template(bigint, text, text, text, text) IS
  'Start (or restart) a site page from a template in one call (H3.5.1): the template''s document becomes the page''s next version, the draft, noted with the template; publish it with publish_site_page.';
