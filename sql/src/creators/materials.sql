-- sql/src/creators/materials.sql: the material library (K09, K10, H3.1.4).
-- Materials per product and task (images, 15/30/60 s videos, copy) in
-- versions, each version in one language with its files sized per platform
-- (the files live in object storage: the database keeps their URL, checksum,
-- size and dimensions); AI generation requested through the outbox with its
-- requested and ready times; what KOCs may share, and their one-click shares
-- carrying the signed tracking code.

-- The platforms materials are sized for: the image and video frame each expects, the longest video, the longest copy.
CREATE FUNCTION commerce.material_platforms()
RETURNS TABLE (platform text, image_width integer, image_height integer, video_width integer, video_height integer,
               max_video_s integer, max_copy_chars integer)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    VALUES ('wechat', 1080, 1080, 1080, 1920, 60, 2000),
           ('moments', 1080, 1080, 1080, 1920, 30, 1500),
           ('douyin', 1080, 1920, 1080, 1920, 60, 1000),
           ('xiaohongshu', 1080, 1440, 1080, 1440, 60, 1000),
           ('weibo', 1080, 1080, 1080, 1920, 60, 2000),
           ('facebook', 1200, 630, 1080, 1080, 60, 5000),
           ('instagram', 1080, 1350, 1080, 1920, 60, 2200),
           ('taobao', 800, 800, 1080, 1920, 60, 1000);
$$;
COMMENT ON FUNCTION commerce.material_platforms() IS
  'The platforms materials are sized for (K09, K10) and what each expects: the image frame (WeChat and Moments 1:1, Douyin 9:16, Xiaohongshu 3:4, Facebook 1.91:1, Instagram 4:5, Taobao 1:1 main picture), the video frame, the longest video in seconds and the longest copy in characters. A file''s aspect ratio must be its platform''s within 2%.';

-- Check a version document and return it normalized: {language, duration_s, copy, assets: [...]}.
CREATE FUNCTION commerce._material_version_check(p_kind text, p_version jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE a jsonb; v_lang text; v_dur integer; v_copy text; p record; v_seen text[] := '{}'::text[]; v_w integer; v_h integer;
BEGIN
    IF jsonb_typeof(p_version) IS DISTINCT FROM 'object'
       OR EXISTS (SELECT 1 FROM jsonb_object_keys(p_version) k WHERE k NOT IN ('language', 'duration_s', 'copy', 'assets')) THEN
        PERFORM commerce._invalid('p_version', left(coalesce(p_version::text, 'null'), 64),
            'A version is {"language": "zh-CN", "duration_s": 15 | 30 | 60 (videos), "copy": "...", "assets": [{"platform", "url", "sha256", "bytes", "width", "height", "mime"}]}.');
    END IF;
    v_lang := p_version ->> 'language';
    IF v_lang IS NULL OR v_lang !~ '^[a-z]{2}(-[A-Z][A-Za-z]{1,3})?$' THEN
        PERFORM commerce._invalid('p_version', format('language %s', coalesce(left(v_lang, 64), 'missing')), 'A language tag such as zh-CN, en or ms-MY.');
    END IF;
    IF p_kind = 'video' THEN
        IF jsonb_typeof(p_version -> 'duration_s') IS DISTINCT FROM 'number' OR (p_version ->> 'duration_s') NOT IN ('15', '30', '60') THEN
            PERFORM commerce._invalid('p_version', format('duration %s', coalesce(p_version ->> 'duration_s', 'missing')),
                'A video is 15, 30 or 60 seconds long.');
        END IF;
        v_dur := (p_version ->> 'duration_s')::integer;
    ELSIF p_version ? 'duration_s' THEN
        PERFORM commerce._invalid('p_version', format('a duration for %s', CASE p_kind WHEN 'image' THEN 'an image' ELSE 'copy' END), 'Only videos have a duration.');
    END IF;
    IF p_version ? 'copy' AND (jsonb_typeof(p_version -> 'copy') <> 'string' OR length(p_version ->> 'copy') NOT BETWEEN 1 AND 5000) THEN
        PERFORM commerce._invalid('p_version', 'copy that is not 1 to 5000 characters of text', 'Copy is a string.');
    END IF;
    v_copy := p_version ->> 'copy';
    IF p_kind = 'copy' AND v_copy IS NULL THEN
        PERFORM commerce._invalid('p_version', 'a copy material without its copy', 'A copy version carries "copy".');
    END IF;
    IF p_version ? 'assets' AND jsonb_typeof(p_version -> 'assets') <> 'array' THEN
        PERFORM commerce._invalid('p_version', 'assets that are not an array', 'Assets are [{"platform", "url", "sha256", "bytes", "width", "height", "mime"}].');
    END IF;
    IF p_kind <> 'copy' AND coalesce(jsonb_array_length(p_version -> 'assets'), 0) = 0 THEN
        PERFORM commerce._invalid('p_version', format('%s version without files', CASE p_kind WHEN 'video' THEN 'a video' ELSE 'an image' END), 'Give at least one file, sized for its platform.');
    END IF;
    FOR a IN SELECT x FROM jsonb_array_elements(coalesce(p_version -> 'assets', '[]'::jsonb)) x LOOP
        SELECT * INTO p FROM commerce.material_platforms() mp WHERE mp.platform = a ->> 'platform';
        IF jsonb_typeof(a) <> 'object' OR NOT FOUND THEN
            PERFORM commerce._invalid('p_version', format('asset %s', left(a::text, 64)),
                'Each asset names a platform: wechat, moments, douyin, xiaohongshu, weibo, facebook, instagram or taobao.');
        END IF;
        IF a ->> 'platform' = ANY (v_seen) THEN
            PERFORM commerce._invalid('p_version', format('two files for %s', a ->> 'platform'), 'One file per platform in a version.');
        END IF;
        v_seen := v_seen || (a ->> 'platform');
        IF coalesce(a ->> 'url', '') !~ '^https://[^[:space:]]+$' OR length(a ->> 'url') > 1000
           OR coalesce(a ->> 'sha256', '') !~ '^[0-9a-f]{64}$'
           OR jsonb_typeof(a -> 'bytes') IS DISTINCT FROM 'number' OR (a ->> 'bytes') !~ '^[1-9][0-9]{0,11}$'
           OR jsonb_typeof(a -> 'width') IS DISTINCT FROM 'number' OR (a ->> 'width') !~ '^[1-9][0-9]{0,4}$'
           OR jsonb_typeof(a -> 'height') IS DISTINCT FROM 'number' OR (a ->> 'height') !~ '^[1-9][0-9]{0,4}$'
           OR coalesce(a ->> 'mime', '') !~ '^(image|video)/[a-z0-9.+-]{1,40}$' THEN
            PERFORM commerce._invalid('p_version', format('the %s file', a ->> 'platform'),
                'A file has an https url (object storage), the sha256 of its bytes (64 hex digits), bytes, width and height in pixels and an image/ or video/ mime type.');
        END IF;
        IF (p_kind = 'video') <> ((a ->> 'mime') LIKE 'video/%') THEN
            PERFORM commerce._invalid('p_version', format('a %s file for %s', left(a ->> 'mime', 64), CASE p_kind WHEN 'video' THEN 'a video' WHEN 'image' THEN 'an image' ELSE 'copy' END), 'Videos are video/ files, images and copy cards image/ files.');
        END IF;
        v_w := CASE WHEN p_kind = 'video' THEN p.video_width ELSE p.image_width END;
        v_h := CASE WHEN p_kind = 'video' THEN p.video_height ELSE p.image_height END;
        IF abs((a ->> 'width')::numeric / (a ->> 'height')::numeric - v_w::numeric / v_h) > 0.02 * v_w / v_h THEN
            PERFORM commerce._invalid('p_version', format('a %sx%s file for %s', a ->> 'width', a ->> 'height', p.platform),
                format('%s expects %s frame of %s:%s (e.g. %sx%s).', p.platform, CASE p_kind WHEN 'video' THEN 'a video' ELSE 'an image' END, v_w, v_h, v_w, v_h));
        END IF;
        IF p_kind = 'video' AND v_dur > p.max_video_s THEN
            PERFORM commerce._invalid('p_version', format('a %s s video for %s', v_dur, p.platform), format('%s takes videos of at most %s s.', p.platform, p.max_video_s));
        END IF;
        IF v_copy IS NOT NULL AND length(v_copy) > p.max_copy_chars THEN
            PERFORM commerce._invalid('p_version', format('copy of %s characters for %s', length(v_copy), p.platform),
                format('%s takes at most %s characters.', p.platform, p.max_copy_chars));
        END IF;
    END LOOP;
    RETURN jsonb_build_object('language', v_lang, 'duration_s', v_dur, 'copy', v_copy, 'assets', coalesce(p_version -> 'assets', '[]'::jsonb));
END $$;
COMMENT ON FUNCTION commerce._material_version_check(text, jsonb) IS
  'Check a material version document (K09, K10): a language tag, a duration of 15, 30 or 60 s for videos only, copy of 1 to 5000 characters (required for copy materials), and for images and videos at least one file, one per platform, with an https URL, its sha256, bytes, width, height and mime type, the platform''s aspect ratio within 2%, a video no longer and copy no longer than the platform takes. 22023 naming what is wrong; returns the version normalized.';

-- Create or change a material of the library.
CREATE FUNCTION commerce.upsert_material(p_tenant bigint, p_code text, p_kind text, p_title text, p_product text DEFAULT NULL,
                                         p_task text DEFAULT NULL, p_by text DEFAULT 'operator') RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v_product bigint; v_task bigint; m commerce.material%ROWTYPE; v_now timestamptz := commerce.now();
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_kind, 'p_kind');
    PERFORM commerce._require(p_title, 'p_title');
    PERFORM commerce._require(p_by, 'p_by');
    IF p_code !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' THEN
        PERFORM commerce._invalid('p_code', format('code "%s"', left(p_code, 64)), 'A material code is 1 to 63 letters, digits, _ . -.');
    END IF;
    IF p_kind NOT IN ('image', 'video', 'copy') THEN
        PERFORM commerce._invalid('p_kind', format('kind "%s"', left(p_kind, 64)), 'A material is an image, a video or copy.');
    END IF;
    IF length(p_title) NOT BETWEEN 1 AND 200 THEN
        PERFORM commerce._invalid('p_title', format('a title of %s characters', length(p_title)), 'A title of 1 to 200 characters.');
    END IF;
    IF p_product IS NOT NULL THEN
        SELECT x.product_id INTO v_product FROM commerce.product x WHERE x.tenant_id = p_tenant AND x.code = p_product;
        IF NOT FOUND THEN
            PERFORM commerce._not_found('product', p_product, p_tenant);
        END IF;
    END IF;
    IF p_task IS NOT NULL THEN
        SELECT x.task_id INTO v_task FROM commerce.koc_task x WHERE x.tenant_id = p_tenant AND x.code = p_task;
        IF NOT FOUND THEN
            PERFORM commerce._not_found('KOC task', p_task, p_tenant);
        END IF;
    END IF;
    SELECT * INTO m FROM commerce.material x WHERE x.tenant_id = p_tenant AND x.code = p_code FOR NO KEY UPDATE;
    IF FOUND AND m.kind <> p_kind THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('material %s is %s', left(p_code, 64), CASE m.kind WHEN 'image' THEN 'an image' WHEN 'video' THEN 'a video' ELSE 'copy' END),
            DETAIL = 'A material''s kind never changes: its versions are files of that kind.', HINT = 'Use a new code.';
    END IF;
    INSERT INTO commerce.material AS x (tenant_id, code, kind, title, product_id, task_id, status, versions, created_by, created_at, updated_at)
    VALUES (p_tenant, p_code, p_kind, p_title, v_product, v_task, 'active', 0, left(p_by, 200), v_now, v_now)
    ON CONFLICT (tenant_id, code) DO UPDATE
       SET title = EXCLUDED.title, product_id = EXCLUDED.product_id, task_id = EXCLUDED.task_id, status = 'active',
           updated_at = EXCLUDED.updated_at
    RETURNING x.* INTO m;
    RETURN commerce._material_json(p_tenant, m.material_id);
END $$;
COMMENT ON FUNCTION commerce.upsert_material(bigint, text, text, text, text, text, text) IS
  'Create or change a material of the library (K10, H3.1.4): code, kind (image, video, copy; never changed: PT409), title, the product and the KOC task it belongs to (neither: a general material); a retired material becomes active again. Its files come as versions (add_material_version, or an AI generation). Returns the material.';

-- Add a version (its files sized per platform): the next number.
CREATE FUNCTION commerce._material_add_version(p_tenant bigint, p_material bigint, p_version jsonb, p_source text, p_generation bigint,
                                               p_by text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE m commerce.material%ROWTYPE; v jsonb; v_no integer;
BEGIN
    SELECT * INTO m FROM commerce.material x WHERE x.tenant_id = p_tenant AND x.material_id = p_material FOR NO KEY UPDATE;
    v := commerce._material_version_check(m.kind, p_version);
    v_no := m.versions + 1;
    INSERT INTO commerce.material_version (tenant_id, material_id, version, language, duration_s, copy_text, source, generation_id,
                                           created_by, created_at)
    VALUES (p_tenant, p_material, v_no, v ->> 'language', (v ->> 'duration_s')::integer, v ->> 'copy', p_source, p_generation,
            left(p_by, 200), commerce.now());
    INSERT INTO commerce.material_asset (tenant_id, material_id, version, platform, url, sha256, bytes, width, height, mime)
    SELECT p_tenant, p_material, v_no, a ->> 'platform', a ->> 'url', a ->> 'sha256', (a ->> 'bytes')::bigint, (a ->> 'width')::integer,
           (a ->> 'height')::integer, a ->> 'mime'
      FROM jsonb_array_elements(v -> 'assets') a;
    UPDATE commerce.material x SET versions = v_no, updated_at = commerce.now() WHERE x.tenant_id = p_tenant AND x.material_id = p_material;
    RETURN v_no;
END $$;
COMMENT ON FUNCTION commerce._material_add_version(bigint, bigint, jsonb, text, bigint, text) IS
  'Add a checked version to a material (locked: versions are numbered 1, 2, ... without gaps): its language, duration, copy and one file per platform; uploaded or from an AI generation.';

CREATE FUNCTION commerce.add_material_version(p_tenant bigint, p_code text, p_version jsonb, p_by text DEFAULT 'operator') RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v_id bigint; v_no integer;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_version, 'p_version');
    PERFORM commerce._require(p_by, 'p_by');
    SELECT x.material_id INTO v_id FROM commerce.material x WHERE x.tenant_id = p_tenant AND x.code = p_code;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('material', p_code, p_tenant);
    END IF;
    v_no := commerce._material_add_version(p_tenant, v_id, p_version, 'upload', NULL, p_by);
    RETURN commerce._material_json(p_tenant, v_id) || jsonb_build_object('added_version', v_no);
END $$;
COMMENT ON FUNCTION commerce.add_material_version(bigint, text, jsonb, text) IS
  'Add an uploaded version to a material (K10): {"language", "duration_s" (videos: 15, 30, 60), "copy", "assets": [{"platform", "url", "sha256", "bytes", "width", "height", "mime"}]}, the files already in object storage, each sized for its platform (material_platforms). 22023 naming what is wrong. Versions are never changed (append-only); a new version supersedes an old one in its language. Returns the material.';

CREATE FUNCTION commerce.retire_material(p_tenant bigint, p_code text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v_id bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    UPDATE commerce.material x SET status = 'retired', updated_at = commerce.now()
     WHERE x.tenant_id = p_tenant AND x.code = p_code RETURNING x.material_id INTO v_id;
    IF v_id IS NULL THEN
        PERFORM commerce._not_found('material', p_code, p_tenant);
    END IF;
    RETURN commerce._material_json(p_tenant, v_id);
END $$;
COMMENT ON FUNCTION commerce.retire_material(bigint, text) IS
  'Retire a material: KOCs no longer see or share it; its versions and the shares made stay. upsert_material makes it active again.';

-- A material with the latest version in each language and its files.
CREATE FUNCTION commerce._material_json(p_tenant bigint, p_material bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('code', m.code, 'kind', m.kind, 'title', m.title, 'status', m.status, 'versions', m.versions,
               'product', (SELECT p.code FROM commerce.product p WHERE p.tenant_id = m.tenant_id AND p.product_id = m.product_id),
               'task', (SELECT k.code FROM commerce.koc_task k WHERE k.tenant_id = m.tenant_id AND k.task_id = m.task_id),
               'latest', coalesce((
                   SELECT jsonb_agg(jsonb_build_object('version', v.version, 'language', v.language, 'duration_s', v.duration_s,
                                                       'copy', v.copy_text, 'source', v.source,
                                                       'files', coalesce((SELECT jsonb_agg(jsonb_build_object('platform', a.platform, 'url', a.url,
                                                                              'sha256', a.sha256, 'bytes', a.bytes, 'width', a.width,
                                                                              'height', a.height, 'mime', a.mime) ORDER BY a.platform)
                                                                     FROM commerce.material_asset a
                                                                    WHERE a.tenant_id = v.tenant_id AND a.material_id = v.material_id
                                                                      AND a.version = v.version), '[]'::jsonb))
                                    ORDER BY v.language)
                     FROM (SELECT DISTINCT ON (x.language) x.* FROM commerce.material_version x
                            WHERE x.tenant_id = m.tenant_id AND x.material_id = m.material_id
                            ORDER BY x.language, x.version DESC) v), '[]'::jsonb),
               'updated_at', m.updated_at)
      FROM commerce.material m WHERE m.tenant_id = p_tenant AND m.material_id = p_material;
$$;
COMMENT ON FUNCTION commerce._material_json(bigint, bigint) IS
  'A material as the API returns it: code, kind, title, status, versions, product, task, and for each language its latest version with the files per platform (URL, sha256, bytes, size, mime).';

CREATE FUNCTION commerce.materials(p_tenant bigint, p_product text DEFAULT NULL, p_task text DEFAULT NULL,
                                   p_include_retired boolean DEFAULT false) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM commerce._tenant(p_tenant);
    RETURN (SELECT coalesce(jsonb_agg(commerce._material_json(p_tenant, m.material_id) ORDER BY m.code), '[]'::jsonb)
              FROM commerce.material m
              LEFT JOIN commerce.product p ON p.tenant_id = m.tenant_id AND p.product_id = m.product_id
              LEFT JOIN commerce.koc_task k ON k.tenant_id = m.tenant_id AND k.task_id = m.task_id
             WHERE m.tenant_id = p_tenant AND (p_product IS NULL OR p.code = p_product) AND (p_task IS NULL OR k.code = p_task)
               AND (p_include_retired OR m.status = 'active'));
END $$;
COMMENT ON FUNCTION commerce.materials(bigint, text, text, boolean) IS
  'The material library (K10, H3.1.4), by product or task or all, active only unless asked: each material with the latest version per language and its files per platform.';

-- Ask the AI service for a material pack: the request goes out through the outbox.
CREATE FUNCTION commerce.request_material_generation(p_tenant bigint, p_request_id text, p_code text, p_kind text, p_title text,
                                                     p_params jsonb, p_product text DEFAULT NULL, p_task text DEFAULT NULL,
                                                     p_by text DEFAULT 'operator') RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE g commerce.material_generation%ROWTYPE; v_material bigint; v_msg bigint; v_id bigint; v_langs text[]; v_platforms text[];
        v_durations integer[]; v_kind text;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_params, 'p_params');
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_kind, 'p_kind');
    PERFORM commerce._require(p_title, 'p_title');
    SELECT * INTO g FROM commerce.material_generation x WHERE x.tenant_id = p_tenant AND x.request_id = p_request_id;
    IF FOUND THEN
        RETURN commerce._generation_json(p_tenant, g.generation_id) || jsonb_build_object('outcome', 'repeat');
    END IF;
    IF jsonb_typeof(p_params) <> 'object'
       OR EXISTS (SELECT 1 FROM jsonb_object_keys(p_params) k WHERE k NOT IN ('languages', 'platforms', 'durations', 'brief', 'versions'))
       OR jsonb_typeof(p_params -> 'languages') IS DISTINCT FROM 'array' OR jsonb_typeof(p_params -> 'platforms') IS DISTINCT FROM 'array'
       OR (p_params ? 'brief' AND (jsonb_typeof(p_params -> 'brief') <> 'string' OR length(p_params ->> 'brief') > 2000))
       OR (p_params ? 'versions' AND (p_params ->> 'versions') !~ '^[1-9]$') THEN
        PERFORM commerce._invalid('p_params', left(p_params::text, 64),
            'Pass {"languages": ["zh-CN", "en"], "platforms": ["douyin", ...], "durations": [15, 30] (videos), "versions": 1-9, "brief": "..."}.');
    END IF;
    v_langs := ARRAY(SELECT jsonb_array_elements_text(p_params -> 'languages'));
    v_platforms := ARRAY(SELECT jsonb_array_elements_text(p_params -> 'platforms'));
    IF cardinality(v_langs) NOT BETWEEN 1 AND 10 OR EXISTS (SELECT 1 FROM unnest(v_langs) l WHERE l !~ '^[a-z]{2}(-[A-Z][A-Za-z]{1,3})?$') THEN
        PERFORM commerce._invalid('p_params', format('languages %s', left((p_params -> 'languages')::text, 64)), 'One to ten language tags such as zh-CN or en.');
    END IF;
    IF cardinality(v_platforms) NOT BETWEEN 1 AND 8
       OR EXISTS (SELECT 1 FROM unnest(v_platforms) x WHERE x NOT IN (SELECT mp.platform FROM commerce.material_platforms() mp)) THEN
        PERFORM commerce._invalid('p_params', format('platforms %s', left((p_params -> 'platforms')::text, 64)),
            'One or more of wechat, moments, douyin, xiaohongshu, weibo, facebook, instagram, taobao.');
    END IF;
    IF p_kind NOT IN ('image', 'video', 'copy') THEN
        PERFORM commerce._invalid('p_kind', format('kind "%s"', left(p_kind, 64)), 'A material is an image, a video or copy.');
    END IF;
    IF p_kind = 'video' THEN
        IF jsonb_typeof(p_params -> 'durations') IS DISTINCT FROM 'array' OR jsonb_array_length(p_params -> 'durations') = 0
           OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(p_params -> 'durations') d WHERE d NOT IN ('15', '30', '60')) THEN
            PERFORM commerce._invalid('p_params', 'video durations', 'Videos are 15, 30 or 60 seconds: "durations": [15, 30].');
        END IF;
        v_durations := ARRAY(SELECT d::integer FROM jsonb_array_elements_text(p_params -> 'durations') d);
    ELSIF p_params ? 'durations' THEN
        PERFORM commerce._invalid('p_params', format('durations for a %s', p_kind), 'Only videos have durations.');
    END IF;
    -- the material it fills: created if new (with the product and task), else left as it is if of the same kind
    SELECT x.material_id, x.kind INTO v_material, v_kind FROM commerce.material x WHERE x.tenant_id = p_tenant AND x.code = p_code;
    IF v_material IS NULL THEN
        PERFORM commerce.upsert_material(p_tenant, p_code, p_kind, p_title, p_product, p_task, p_by);
        SELECT x.material_id INTO v_material FROM commerce.material x WHERE x.tenant_id = p_tenant AND x.code = p_code;
    ELSIF v_kind <> p_kind THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('material %s is %s', left(p_code, 64), CASE v_kind WHEN 'image' THEN 'an image' WHEN 'video' THEN 'a video' ELSE 'copy' END),
            DETAIL = 'A generation adds versions of the material''s own kind.', HINT = 'Generate into a new material code.';
    END IF;
    v_id := nextval(pg_get_serial_sequence('commerce.material_generation', 'generation_id'));
    v_msg := commerce.enqueue(p_tenant, 'ai.material',
        jsonb_build_object('generation_id', v_id, 'material', p_code, 'kind', p_kind, 'title', p_title,
                           'languages', to_jsonb(v_langs), 'platforms', to_jsonb(v_platforms), 'durations', to_jsonb(v_durations),
                           'versions', coalesce((p_params ->> 'versions')::integer, 1), 'brief', p_params ->> 'brief',
                           'product', (SELECT jsonb_build_object('code', p.code, 'name', p.name, 'brand', p.brand, 'category', p.category)
                                         FROM commerce.product p JOIN commerce.material m ON m.tenant_id = p.tenant_id AND m.product_id = p.product_id
                                        WHERE m.tenant_id = p_tenant AND m.material_id = v_material),
                           'task', (SELECT jsonb_build_object('code', k.code, 'title', k.title, 'ends_at', k.ends_at)
                                      FROM commerce.koc_task k JOIN commerce.material m ON m.tenant_id = k.tenant_id AND m.task_id = k.task_id
                                     WHERE m.tenant_id = p_tenant AND m.material_id = v_material),
                           'sizes', (SELECT jsonb_agg(to_jsonb(mp) ORDER BY mp.platform) FROM commerce.material_platforms() mp
                                      WHERE mp.platform = ANY (v_platforms))),
        'material-gen:' || v_id);
    INSERT INTO commerce.material_generation (tenant_id, generation_id, request_id, material_id, params, status, message_id,
                                              requested_by, requested_at)
    VALUES (p_tenant, v_id, p_request_id, v_material, p_params, 'requested', v_msg, left(p_by, 200), commerce.now());
    RETURN commerce._generation_json(p_tenant, v_id) || jsonb_build_object('outcome', 'created');
END $$;
COMMENT ON FUNCTION commerce.request_material_generation(bigint, text, text, text, text, jsonb, text, text, text) IS
  'Ask the AI service for a material pack (K09), once per request id: the material it fills (created if new with the product and task; an existing one of the same kind is left as it is, of another kind PT409), and the parameters: languages, platforms, durations (videos: 15, 30, 60 s), versions per language (1-9), a brief; one ai.material outbox message carries them with the product, the task and the frame each platform expects. Its requested time is recorded; the result comes back through record_generation_result. The same request again returns the generation (outcome repeat). Returns the generation.';

CREATE FUNCTION commerce._generation_json(p_tenant bigint, p_generation bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('generation_id', g.generation_id, 'request_id', g.request_id, 'material', m.code, 'status', g.status,
                              'reason', g.reason, 'versions', g.versions, 'requested_at', g.requested_at, 'ready_at', g.ready_at,
                              'latency_ms', round(extract(epoch FROM g.ready_at - g.requested_at) * 1000))
      FROM commerce.material_generation g JOIN commerce.material m ON m.tenant_id = g.tenant_id AND m.material_id = g.material_id
     WHERE g.tenant_id = p_tenant AND g.generation_id = p_generation;
$$;
COMMENT ON FUNCTION commerce._generation_json(bigint, bigint) IS
  'A generation as the API returns it: its material, status (requested, ready, failed) and reason, versions added, requested and ready times and the latency in milliseconds.';

-- The AI service's answer: the versions it made, or why it could not.
CREATE FUNCTION commerce.record_generation_result(p_tenant bigint, p_generation bigint, p_status text, p_versions jsonb DEFAULT NULL,
                                                  p_reason text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE g commerce.material_generation%ROWTYPE; v jsonb; n integer := 0;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_generation, 'p_generation');
    PERFORM commerce._require(p_status, 'p_status');
    IF p_status NOT IN ('ready', 'failed') THEN
        PERFORM commerce._invalid('p_status', format('status "%s"', left(p_status, 64)), 'A generation ends ready or failed.');
    END IF;
    SELECT * INTO g FROM commerce.material_generation x WHERE x.tenant_id = p_tenant AND x.generation_id = p_generation FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('material generation', p_generation::text, p_tenant);
    END IF;
    IF g.status <> 'requested' THEN
        IF g.status = p_status THEN
            RETURN commerce._generation_json(p_tenant, g.generation_id) || jsonb_build_object('changed', false);
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('generation %s is %s', g.generation_id, g.status),
            DETAIL = 'A generation ends once: ready with its versions, or failed.', HINT = 'Request a new generation.';
    END IF;
    IF p_status = 'failed' THEN
        IF p_reason IS NULL OR length(p_reason) NOT BETWEEN 1 AND 500 THEN
            PERFORM commerce._invalid('p_reason', 'a failure without a reason (or of more than 500 characters)', 'Pass the AI service''s reason.');
        END IF;
        UPDATE commerce.material_generation x SET status = 'failed', reason = p_reason, ready_at = commerce.now()
         WHERE x.tenant_id = p_tenant AND x.generation_id = g.generation_id;
    ELSE
        IF jsonb_typeof(p_versions) IS DISTINCT FROM 'array' OR jsonb_array_length(p_versions) NOT BETWEEN 1 AND 90 THEN
            PERFORM commerce._invalid('p_versions', left(coalesce(p_versions::text, 'null'), 64), 'A ready generation brings 1 to 90 versions.');
        END IF;
        FOR v IN SELECT x FROM jsonb_array_elements(p_versions) x LOOP
            PERFORM commerce._material_add_version(p_tenant, g.material_id, v, 'ai', g.generation_id, 'ai:' || g.request_id);
            n := n + 1;
        END LOOP;
        UPDATE commerce.material_generation x SET status = 'ready', versions = n, ready_at = commerce.now()
         WHERE x.tenant_id = p_tenant AND x.generation_id = g.generation_id;
    END IF;
    RETURN commerce._generation_json(p_tenant, g.generation_id) || jsonb_build_object('changed', true);
END $$;
COMMENT ON FUNCTION commerce.record_generation_result(bigint, bigint, text, jsonb, text) IS
  'The AI service''s answer to a generation (K09): ready with its versions (each as add_material_version takes it: a language, a duration, copy, one file per platform, checked the same way; all or none are added) or failed with a reason; the ready time is recorded, so the latency of every request is known. Again with the same status: no change (changed false); the other status: PT409. Returns the generation.';

-- The latency of generations over a span.
CREATE FUNCTION commerce.generation_report(p_tenant bigint, p_from timestamptz, p_to timestamptz) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE r jsonb;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_from, 'p_from');
    PERFORM commerce._require(p_to, 'p_to');
    IF NOT isfinite(p_from) OR NOT isfinite(p_to) OR p_to <= p_from THEN
        PERFORM commerce._invalid('p_to', format('%s to %s', p_from, p_to), 'A finite span, from before to.');
    END IF;
    SELECT jsonb_build_object('requested', count(*), 'ready', count(*) FILTER (WHERE g.status = 'ready'),
               'failed', count(*) FILTER (WHERE g.status = 'failed'), 'waiting', count(*) FILTER (WHERE g.status = 'requested'),
               'p50_ms', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM g.ready_at - g.requested_at) * 1000)
                               FILTER (WHERE g.status = 'ready')),
               'p95_ms', round(percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM g.ready_at - g.requested_at) * 1000)
                               FILTER (WHERE g.status = 'ready')),
               'max_ms', round(max(extract(epoch FROM g.ready_at - g.requested_at) * 1000) FILTER (WHERE g.status = 'ready')),
               'within_5s', count(*) FILTER (WHERE g.status = 'ready' AND g.ready_at - g.requested_at <= interval '5 seconds'),
               'within_5s_rate', round(count(*) FILTER (WHERE g.status = 'ready' AND g.ready_at - g.requested_at <= interval '5 seconds')::numeric
                                       / nullif(count(*) FILTER (WHERE g.status <> 'requested'), 0), 4),
               'versions', coalesce(sum(g.versions), 0))
      INTO r
      FROM commerce.material_generation g
     WHERE g.tenant_id = p_tenant AND g.requested_at >= p_from AND g.requested_at < p_to;
    RETURN r;
END $$;
COMMENT ON FUNCTION commerce.generation_report(bigint, timestamptz, timestamptz) IS
  'The AI generations requested in [p_from, p_to) (K09): requested, ready, failed, still waiting, the latency from request to result (p50, p95, max in ms, ready ones), how many were ready within the PRD''s 5 s and their share of those that ended (a failure counts against it), versions made.';
