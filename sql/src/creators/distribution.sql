-- sql/src/creators/distribution.sql: materials in KOCs' hands and beyond
-- (K10, H3.1.4): what a KOC may share (its open tasks' materials and its
-- level's), the one-click share carrying the KOC's signed tracking code, the
-- share success rate, the Taobao and Douyin product CSV exports, and
-- mini-program QR codes asked of WeChat through the outbox.

-- The materials a KOC may share now: its open tasks' (by task or by reference) and its level's exclusive ones.
CREATE FUNCTION commerce.koc_materials(p_tenant bigint, p_koc text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE v_tasks text[]; v_refs text[]; v_level text[];
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_koc, 'p_koc');
    SELECT coalesce(array_agg(t.task), '{}'), coalesce(array_agg(DISTINCT m) FILTER (WHERE m IS NOT NULL), '{}')
      INTO v_tasks, v_refs
      FROM commerce.koc_open_tasks(p_tenant, p_koc) t LEFT JOIN LATERAL unnest(t.materials) m ON true;
    v_level := ARRAY(SELECT jsonb_array_elements_text(commerce.koc_benefits(p_tenant, p_koc) -> 'materials'));
    RETURN (SELECT coalesce(jsonb_agg(commerce._material_json(p_tenant, m.material_id)
                                      || jsonb_build_object('via', CASE WHEN k.code = ANY (v_tasks) OR m.code = ANY (v_refs) THEN 'task' ELSE 'level' END)
                                      ORDER BY m.code), '[]'::jsonb)
              FROM commerce.material m LEFT JOIN commerce.koc_task k ON k.tenant_id = m.tenant_id AND k.task_id = m.task_id
             WHERE m.tenant_id = p_tenant AND m.status = 'active' AND m.versions > 0
               AND (k.code = ANY (v_tasks) OR m.code = ANY (v_refs) OR m.code = ANY (v_level)));
END $$;
COMMENT ON FUNCTION commerce.koc_materials(bigint, text) IS
  'What a KOC may download and share now (K10): the active materials with at least one version of its open tasks (the task''s own materials and those it names) and its level''s exclusive materials (K06), each with the latest version per language and the files per platform (URL and sha256 to check the download), and why it has it (task or level). PT404 for an unknown KOC.';

-- A KOC shares a material to a platform in one click: the share with its signed codes and the file to post.
CREATE FUNCTION commerce.share_material(p_tenant bigint, p_koc text, p_material text, p_platform text, p_request_id text,
                                        p_task text DEFAULT NULL, p_language text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE k record; m commerce.material%ROWTYPE; v record; a record; s commerce.share%ROWTYPE; v_task bigint; v_code text;
        v_outcome text := 'created';
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_koc, 'p_koc');
    PERFORM commerce._require(p_material, 'p_material');
    PERFORM commerce._require(p_platform, 'p_platform');
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    SELECT x.* INTO s FROM commerce.share x WHERE x.tenant_id = p_tenant AND x.request_id = p_request_id;
    IF FOUND THEN
        v_outcome := 'repeat';
    ELSE
        SELECT kc.koc_id, kc.status, kc.customer_id, cu.person_id INTO k FROM commerce.koc kc
          LEFT JOIN commerce.customer cu ON cu.tenant_id = kc.tenant_id AND cu.customer_id = kc.customer_id
         WHERE kc.tenant_id = p_tenant AND kc.code = p_koc;
        IF NOT FOUND THEN
            PERFORM commerce._not_found('KOC', p_koc, p_tenant);
        END IF;
        IF k.status <> 'active' OR k.customer_id IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('KOC %s cannot share now', left(p_koc, 64)),
                DETAIL = CASE WHEN k.customer_id IS NULL THEN 'It has no customer account to share from.' ELSE format('It is %s.', k.status) END,
                HINT = 'Only active KOCs with an account share materials.';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM jsonb_array_elements(commerce.koc_materials(p_tenant, p_koc)) x WHERE x ->> 'code' = p_material) THEN
            RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = format('material %s is not open to KOC %s', left(p_material, 64), left(p_koc, 64)),
                DETAIL = 'A KOC shares the active materials of its open tasks and of its level (koc_materials).',
                HINT = 'Share one of the materials koc_materials lists.';
        END IF;
        SELECT * INTO m FROM commerce.material x WHERE x.tenant_id = p_tenant AND x.code = p_material;
        IF p_platform NOT IN (SELECT mp.platform FROM commerce.material_platforms() mp) THEN
            PERFORM commerce._invalid('p_platform', format('platform "%s"', left(p_platform, 64)),
                'Share to wechat, moments, douyin, xiaohongshu, weibo, facebook, instagram or taobao.');
        END IF;
        IF p_task IS NOT NULL THEN
            SELECT x.task_id INTO v_task FROM commerce.koc_task x WHERE x.tenant_id = p_tenant AND x.code = p_task;
            IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM commerce.koc_open_tasks(p_tenant, p_koc) t WHERE t.task = p_task) THEN
                PERFORM commerce._not_found('open task of KOC ' || left(p_koc, 64), p_task, p_tenant);
            END IF;
        ELSE            -- the material's own task, else the KOC's open task that names it (ending first)
            v_task := coalesce(m.task_id, (SELECT x.task_id FROM commerce.koc_open_tasks(p_tenant, p_koc) t
                                             JOIN commerce.koc_task x ON x.tenant_id = p_tenant AND x.code = t.task
                                            WHERE p_material = ANY (t.materials) ORDER BY t.ends_at, t.task LIMIT 1));
        END IF;
        -- the latest version in the language asked (else the latest of all) that has a file for the platform (copy needs none)
        SELECT x.version INTO v FROM commerce.material_version x
         WHERE x.tenant_id = p_tenant AND x.material_id = m.material_id AND (p_language IS NULL OR x.language = p_language)
           AND (m.kind = 'copy' OR EXISTS (SELECT 1 FROM commerce.material_asset y WHERE y.tenant_id = x.tenant_id
                                             AND y.material_id = x.material_id AND y.version = x.version AND y.platform = p_platform))
         ORDER BY x.version DESC LIMIT 1;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'PT404',
                MESSAGE = format('material %s has no version with a file for %s%s', left(p_material, 64), p_platform,
                                 CASE WHEN p_language IS NOT NULL THEN ' in ' || left(p_language, 16) ELSE '' END),
                DETAIL = format('Its files are for: %s.', coalesce((SELECT string_agg(DISTINCT y.platform, ', ' ORDER BY y.platform)
                                                                      FROM commerce.material_asset y
                                                                     WHERE y.tenant_id = p_tenant AND y.material_id = m.material_id), 'none')),
                HINT = 'Share to a platform it has a file for, or ask HQ for a version sized for this one.';
        END IF;
        v_code := commerce.tracking_link(p_tenant, p_koc, (SELECT t.code FROM commerce.koc_task t WHERE t.tenant_id = p_tenant AND t.task_id = v_task));
        INSERT INTO commerce.share AS x (tenant_id, request_id, person_id, customer_id, koc_id, kind, ref, platform, material_id, version,
                                         task_id, tracking_code, shared_at)
        VALUES (p_tenant, p_request_id, k.person_id, k.customer_id, k.koc_id, 'material', p_material, p_platform, m.material_id, v.version,
                v_task, v_code, commerce.now())
        ON CONFLICT (tenant_id, request_id) DO NOTHING
        RETURNING x.* INTO s;
        IF s.share_id IS NULL THEN      -- the same request, committed meanwhile
            SELECT x.* INTO s FROM commerce.share x WHERE x.tenant_id = p_tenant AND x.request_id = p_request_id;
            v_outcome := 'repeat';
        END IF;
    END IF;
    IF s.kind <> 'material' OR s.ref <> p_material OR s.platform <> p_platform
       OR s.koc_id IS DISTINCT FROM (SELECT kc.koc_id FROM commerce.koc kc WHERE kc.tenant_id = p_tenant AND kc.code = p_koc) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('request %s recorded another share', left(p_request_id, 64)),
            DETAIL = format('It recorded share %s: %s %s to %s.', s.share_id, s.kind, left(s.ref, 64), s.platform),
            HINT = 'Use a new request id for a new share.';
    END IF;
    SELECT y.url, y.sha256, y.width, y.height, y.mime INTO a FROM commerce.material_asset y
     WHERE y.tenant_id = p_tenant AND y.material_id = s.material_id AND y.version = s.version AND y.platform = s.platform;
    RETURN jsonb_build_object('share_id', s.share_id, 'share_code', commerce.share_code(p_tenant, s.share_id),
                              'tracking_code', s.tracking_code, 'material', s.ref, 'version', s.version, 'platform', s.platform,
                              'copy', (SELECT x.copy_text FROM commerce.material_version x
                                        WHERE x.tenant_id = p_tenant AND x.material_id = s.material_id AND x.version = s.version),
                              'file', CASE WHEN a.url IS NOT NULL THEN jsonb_build_object('url', a.url, 'sha256', a.sha256, 'width', a.width,
                                                                                           'height', a.height, 'mime', a.mime) END,
                              'shared_at', s.shared_at, 'outcome', v_outcome);
END $$;
COMMENT ON FUNCTION commerce.share_material(bigint, text, text, text, text, text, text) IS
  'A KOC shares a material to a platform in one click (K10), once per request id: the material must be open to it (koc_materials), the version is the latest (in p_language if given) with a file for the platform. The share records the material, version, platform and task (p_task, else the material''s own, else the KOC''s open task that names it), and carries the KOC''s signed tracking code for the task: put share_code and tracking_code in the link; the first click on the share makes it successful and records the KOC''s click, so the visitor''s orders are attributed. Returns the codes, the copy and the file to post (URL, sha256, size).';

-- The share success rate: shares whose first click arrived, by platform and material.
CREATE FUNCTION commerce.material_share_report(p_tenant bigint, p_from timestamptz, p_to timestamptz, p_material text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_from, 'p_from');
    PERFORM commerce._require(p_to, 'p_to');
    IF NOT isfinite(p_from) OR NOT isfinite(p_to) OR p_to <= p_from THEN
        PERFORM commerce._invalid('p_to', format('%s to %s', p_from, p_to), 'A finite span, from before to.');
    END IF;
    RETURN (
        WITH s AS (
            SELECT x.ref AS material, x.platform, x.clicks, x.first_click_at IS NOT NULL AS succeeded
              FROM commerce.share x
             WHERE x.tenant_id = p_tenant AND x.kind = 'material' AND x.shared_at >= p_from AND x.shared_at < p_to
               AND (p_material IS NULL OR x.ref = p_material))
        SELECT jsonb_build_object(
            'shares', count(*), 'succeeded', count(*) FILTER (WHERE s.succeeded),
            'success_rate', round(count(*) FILTER (WHERE s.succeeded)::numeric / nullif(count(*), 0), 4),
            'clicks', coalesce(sum(s.clicks), 0),
            'platforms', coalesce((SELECT jsonb_agg(jsonb_build_object('platform', q.platform, 'shares', q.n, 'succeeded', q.ok,
                                                                       'success_rate', round(q.ok::numeric / q.n, 4), 'clicks', q.clicks)
                                                    ORDER BY q.platform)
                                     FROM (SELECT platform, count(*) AS n, count(*) FILTER (WHERE succeeded) AS ok, sum(clicks) AS clicks
                                             FROM s GROUP BY platform) q), '[]'::jsonb),
            'materials', coalesce((SELECT jsonb_agg(jsonb_build_object('material', q.material, 'shares', q.n, 'succeeded', q.ok,
                                                                       'success_rate', round(q.ok::numeric / q.n, 4), 'clicks', q.clicks)
                                                    ORDER BY q.material)
                                     FROM (SELECT material, count(*) AS n, count(*) FILTER (WHERE succeeded) AS ok, sum(clicks) AS clicks
                                             FROM s GROUP BY material) q), '[]'::jsonb))
          FROM s);
END $$;
COMMENT ON FUNCTION commerce.material_share_report(bigint, timestamptz, timestamptz, text) IS
  'The share success rate of materials shared in [p_from, p_to) (K10): shares, those that succeeded (their first click arrived) and the rate, distinct visitors, in all, per platform and per material (or one material).';

-- The products of a tenant as the CSV a marketplace's bulk import takes.
CREATE FUNCTION commerce.product_export_csv(p_tenant bigint, p_platform text, p_products text[] DEFAULT NULL) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE v_head text[]; v_rows text;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_platform, 'p_platform');
    IF p_platform NOT IN ('taobao', 'douyin') THEN
        PERFORM commerce._invalid('p_platform', format('platform "%s"', left(p_platform, 64)), 'Export for taobao or douyin.');
    END IF;
    IF p_products IS NOT NULL AND EXISTS (SELECT 1 FROM unnest(p_products) c
                                           WHERE NOT EXISTS (SELECT 1 FROM commerce.product p WHERE p.tenant_id = p_tenant AND p.code = c)) THEN
        PERFORM commerce._not_found('product', (SELECT c FROM unnest(p_products) c
                                                  WHERE NOT EXISTS (SELECT 1 FROM commerce.product p WHERE p.tenant_id = p_tenant AND p.code = c)
                                                  LIMIT 1), p_tenant);
    END IF;
    v_head := CASE p_platform
        WHEN 'taobao' THEN ARRAY['宝贝名称', '宝贝类目', '宝贝价格', '宝贝数量', '商家编码', '销售属性组合', '宝贝描述', '新图片', '品牌']
        ELSE ARRAY['商品标题', '商品类目', '售价(元)', '库存', '商家编码', '规格', '商品详情', '主图', '品牌'] END;
    SELECT string_agg(array_to_string(ARRAY[commerce._csv(p.name), commerce._csv(p.category), commerce.yuan(s.msrp_fen),
                                            coalesce(st.available, 0)::text, commerce._csv(s.code), commerce._csv(s.name),
                                            commerce._csv(d.copy_text), commerce._csv(d.url), commerce._csv(p.brand)], ','),
                      E'\r\n' ORDER BY p.code, s.code)
      INTO v_rows
      FROM commerce.product p
      JOIN commerce.sku s ON s.tenant_id = p.tenant_id AND s.product_id = p.product_id
      LEFT JOIN LATERAL (SELECT sum(sl.on_hand - sl.reserved - sl.sold) AS available
                           FROM commerce.stock_pool sp JOIN commerce.stock_slot sl ON sl.tenant_id = sp.tenant_id AND sl.pool_id = sp.pool_id
                          WHERE sp.tenant_id = s.tenant_id AND sp.sku_id = s.sku_id AND sp.status = 'open') st ON true
      LEFT JOIN LATERAL (
          -- the product's latest image for the platform, and its latest copy
          SELECT (SELECT a.url FROM commerce.material m JOIN commerce.material_asset a
                                 ON a.tenant_id = m.tenant_id AND a.material_id = m.material_id
                   WHERE m.tenant_id = p.tenant_id AND m.product_id = p.product_id AND m.status = 'active' AND m.kind = 'image'
                     AND a.platform = p_platform
                   ORDER BY m.updated_at DESC, m.material_id DESC, a.version DESC LIMIT 1) AS url,
                 (SELECT v.copy_text FROM commerce.material m JOIN commerce.material_version v
                                      ON v.tenant_id = m.tenant_id AND v.material_id = m.material_id
                   WHERE m.tenant_id = p.tenant_id AND m.product_id = p.product_id AND m.status = 'active' AND m.kind = 'copy'
                   ORDER BY v.language LIKE 'zh%' DESC, m.updated_at DESC, m.material_id DESC, v.version DESC LIMIT 1) AS copy_text) d ON true
     WHERE p.tenant_id = p_tenant AND s.active AND (p_products IS NULL OR p.code = ANY (p_products));
    RETURN array_to_string(v_head, ',') || E'\r\n' || coalesce(v_rows || E'\r\n', '');
END $$;
COMMENT ON FUNCTION commerce.product_export_csv(bigint, text, text[]) IS
  'The tenant''s products (or those named) as the CSV of a marketplace''s bulk product import (H3.1.4): taobao (淘宝助理: 宝贝名称, 宝贝类目, 宝贝价格, 宝贝数量, 商家编码, 销售属性组合, 宝贝描述, 新图片, 品牌) or douyin (抖店: 商品标题, 商品类目, 售价(元), 库存, 商家编码, 规格, 商品详情, 主图, 品牌): one row per active SKU with its list price (MSRP) in yuan, the stock available in its open pools, the product''s latest copy (in Chinese when there is one: both marketplaces sell in Chinese) and its latest image with a file sized for the platform. RFC 4180 quoting, CRLF line ends, formula-like values defused. PT404 for an unknown product.';

-- Ask WeChat for a mini-program QR code through the outbox.
CREATE FUNCTION commerce.request_qr_code(p_tenant bigint, p_request_id text, p_page text, p_scene text, p_material text DEFAULT NULL,
                                         p_by text DEFAULT 'operator') RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE q commerce.qr_request%ROWTYPE; v_material bigint; v_id bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_page, 'p_page');
    PERFORM commerce._require(p_scene, 'p_scene');
    SELECT * INTO q FROM commerce.qr_request x WHERE x.tenant_id = p_tenant AND x.request_id = p_request_id;
    IF FOUND THEN
        IF (q.page, q.scene) IS DISTINCT FROM (p_page, p_scene) THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('request %s asked for another QR code', left(p_request_id, 64)),
                HINT = 'Use a new request id for a new QR code.';
        END IF;
        RETURN commerce._qr_json(p_tenant, q.qr_id) || jsonb_build_object('outcome', 'repeat');
    END IF;
    IF p_page !~ '^[a-z0-9_-]+(/[a-z0-9_-]+)*$' OR length(p_page) > 128 THEN
        PERFORM commerce._invalid('p_page', format('page "%s"', left(p_page, 64)), 'A mini-program page path such as pages/product/detail (no leading slash, no query).');
    END IF;
    IF p_scene !~ '^[A-Za-z0-9!#$&''()*+,/:;=?@._~-]{1,32}$' THEN
        PERFORM commerce._invalid('p_scene', format('scene "%s"', left(p_scene, 64)),
            'WeChat takes a scene of 1 to 32 characters: letters, digits and !#$&''()*+,/:;=?@-._~ (a share code fits).');
    END IF;
    IF p_material IS NOT NULL THEN
        SELECT x.material_id INTO v_material FROM commerce.material x WHERE x.tenant_id = p_tenant AND x.code = p_material;
        IF NOT FOUND THEN
            PERFORM commerce._not_found('material', p_material, p_tenant);
        END IF;
    END IF;
    v_id := nextval(pg_get_serial_sequence('commerce.qr_request', 'qr_id'));
    INSERT INTO commerce.qr_request (tenant_id, qr_id, request_id, page, scene, material_id, status, message_id, requested_by, requested_at)
    VALUES (p_tenant, v_id, p_request_id, p_page, p_scene, v_material, 'requested',
            commerce.enqueue(p_tenant, 'wechat.qr_code', jsonb_build_object('qr_id', v_id, 'page', p_page, 'scene', p_scene, 'width', 430),
                             'qr:' || v_id),
            left(p_by, 200), commerce.now())
    RETURNING * INTO q;
    RETURN commerce._qr_json(p_tenant, q.qr_id) || jsonb_build_object('outcome', 'created');
END $$;
COMMENT ON FUNCTION commerce.request_qr_code(bigint, text, text, text, text, text) IS
  'Ask WeChat for a mini-program QR code (H3.1.4; wxacode.getUnlimited) through the outbox (wechat.qr_code), once per request id: the page it opens and its scene (1 to 32 characters WeChat allows: a share code fits), optionally the material it advertises. The adapter reports the image with record_qr_code. Returns the request.';

CREATE FUNCTION commerce._qr_json(p_tenant bigint, p_qr bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('qr_id', q.qr_id, 'request_id', q.request_id, 'page', q.page, 'scene', q.scene, 'status', q.status,
                              'url', q.url, 'sha256', q.sha256, 'reason', q.reason, 'requested_at', q.requested_at, 'ready_at', q.ready_at)
      FROM commerce.qr_request q WHERE q.tenant_id = p_tenant AND q.qr_id = p_qr;
$$;
COMMENT ON FUNCTION commerce._qr_json(bigint, bigint) IS 'A QR code request as the API returns it.';

CREATE FUNCTION commerce.record_qr_code(p_tenant bigint, p_qr bigint, p_status text, p_url text DEFAULT NULL, p_sha256 text DEFAULT NULL,
                                        p_reason text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE q commerce.qr_request%ROWTYPE;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_qr, 'p_qr');
    PERFORM commerce._require(p_status, 'p_status');
    IF p_status NOT IN ('ready', 'failed') THEN
        PERFORM commerce._invalid('p_status', format('status "%s"', left(p_status, 64)), 'A QR code request ends ready or failed.');
    END IF;
    IF p_status = 'ready' AND (coalesce(p_url, '') !~ '^https://[^[:space:]]+$' OR length(p_url) > 1000 OR coalesce(p_sha256, '') !~ '^[0-9a-f]{64}$') THEN
        PERFORM commerce._invalid('p_url', 'a ready QR code without an https URL and the sha256 of the image', 'Pass where the image is stored and its sha256.');
    END IF;
    IF p_status = 'failed' AND (p_reason IS NULL OR length(p_reason) NOT BETWEEN 1 AND 500) THEN
        PERFORM commerce._invalid('p_reason', 'a failure without a reason (or of more than 500 characters)', 'Pass WeChat''s errcode and errmsg.');
    END IF;
    SELECT * INTO q FROM commerce.qr_request x WHERE x.tenant_id = p_tenant AND x.qr_id = p_qr FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('QR code request', p_qr::text, p_tenant);
    END IF;
    IF q.status <> 'requested' THEN
        IF q.status = p_status AND (p_status = 'failed' OR (q.url, q.sha256) = (p_url, p_sha256)) THEN
            RETURN commerce._qr_json(p_tenant, q.qr_id) || jsonb_build_object('changed', false);
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('QR code request %s is %s', q.qr_id, q.status),
            DETAIL = 'A request ends once.', HINT = 'Ask for a new QR code.';
    END IF;
    UPDATE commerce.qr_request x
       SET status = p_status, url = CASE WHEN p_status = 'ready' THEN p_url END, sha256 = CASE WHEN p_status = 'ready' THEN p_sha256 END,
           reason = CASE WHEN p_status = 'failed' THEN p_reason END, ready_at = commerce.now()
     WHERE x.tenant_id = p_tenant AND x.qr_id = p_qr RETURNING * INTO q;
    RETURN commerce._qr_json(p_tenant, q.qr_id) || jsonb_build_object('changed', true);
END $$;
COMMENT ON FUNCTION commerce.record_qr_code(bigint, bigint, text, text, text, text) IS
  'The adapter reports a QR code (H3.1.4): ready with the image''s https URL and sha256, or failed with WeChat''s reason. The same report again changes nothing; another: PT409. Returns the request.';
