-- sql/src/community/groups.sql: the organisation's bindings (departments to
-- stores, WeCom accounts to staff), welcome templates, groups registered by
-- KOCs and staff, join ways (live codes), and the group list (PR01, PR04,
-- PR05, K16).

-- The id of a store named by code (NULL for NULL; PT404 for an unknown one).
CREATE FUNCTION commerce._store_ref(p_tenant bigint, p_code text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE v bigint;
BEGIN
    IF p_code IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT store_id INTO v FROM commerce.store WHERE tenant_id = p_tenant AND code = p_code;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('store', p_code, p_tenant);
    END IF;
    RETURN v;
END $$;
COMMENT ON FUNCTION commerce._store_ref(bigint, text) IS 'The id of the store a community call names by code: NULL for none, PT404 for an unknown one.';

-- The id of a KOC named by code (NULL for NULL; PT404 for an unknown one).
CREATE FUNCTION commerce._koc_ref(p_tenant bigint, p_code text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE v bigint;
BEGIN
    IF p_code IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT koc_id INTO v FROM commerce.koc WHERE tenant_id = p_tenant AND code = p_code;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('KOC', p_code, p_tenant);
    END IF;
    RETURN v;
END $$;
COMMENT ON FUNCTION commerce._koc_ref(bigint, text) IS 'The id of the KOC a community call names by code: NULL for none, PT404 for an unknown one.';

-- The id of a KOC task named by code (NULL for NULL; PT404 for an unknown one).
CREATE FUNCTION commerce._koc_task_ref(p_tenant bigint, p_code text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE v bigint;
BEGIN
    IF p_code IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT task_id INTO v FROM commerce.koc_task WHERE tenant_id = p_tenant AND code = p_code;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('KOC task', p_code, p_tenant);
    END IF;
    RETURN v;
END $$;
COMMENT ON FUNCTION commerce._koc_task_ref(bigint, text) IS 'The id of the KOC task a community call names by code: NULL for none, PT404 for an unknown one.';

-- Check that a welcome template named by code exists (NULL passes; PT404 for an unknown one).
CREATE FUNCTION commerce._welcome_ref(p_tenant bigint, p_code text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_code IS NOT NULL AND NOT EXISTS (SELECT 1 FROM commerce.welcome_template w WHERE w.tenant_id = p_tenant AND w.code = p_code) THEN
        PERFORM commerce._not_found('welcome template', p_code, p_tenant);
    END IF;
    RETURN p_code;
END $$;
COMMENT ON FUNCTION commerce._welcome_ref(bigint, text) IS 'The welcome template a community call names, checked to exist: NULL for none, PT404 for an unknown one.';

-- Bind a WeCom department to a store (its staff's contacts and groups belong to that store).
CREATE FUNCTION commerce.bind_wecom_department(p_tenant bigint, p_department bigint, p_store text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE v_store bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_department, 'p_department');
    v_store := commerce._store_ref(p_tenant, p_store);
    UPDATE commerce.wecom_department SET store_id = v_store WHERE tenant_id = p_tenant AND department_id = p_department;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('WeCom department', p_department::text, p_tenant);
    END IF;
    -- groups without a store take their owner's new one
    UPDATE commerce.community_group g SET store_id = v_store
      FROM commerce.wecom_user u
     WHERE g.tenant_id = p_tenant AND g.store_id IS NULL AND g.platform = 'wecom' AND v_store IS NOT NULL
       AND u.tenant_id = g.tenant_id AND u.userid = g.owner_userid AND u.main_department = p_department;
END $$;
COMMENT ON FUNCTION commerce.bind_wecom_department(bigint, bigint, text) IS
  'Bind a WeCom department (synced by its callbacks) to a store, or unbind it with NULL (PR01): the staff accounts whose main department it is belong to that store, and their WeCom groups without a store take it. PT404 for an unknown department or store.';

-- Link a WeCom account to a commerce staff member (when the codes differ).
CREATE FUNCTION commerce.link_wecom_user(p_tenant bigint, p_userid text, p_staff text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE v_staff bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_userid, 'p_userid');
    IF p_staff IS NOT NULL THEN
        SELECT staff_id INTO v_staff FROM commerce.staff WHERE tenant_id = p_tenant AND code = p_staff;
        IF NOT FOUND THEN
            PERFORM commerce._not_found('staff', p_staff, p_tenant);
        END IF;
        IF EXISTS (SELECT 1 FROM commerce.wecom_user u WHERE u.tenant_id = p_tenant AND u.staff_id = v_staff AND u.userid <> p_userid) THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409',
                MESSAGE = format('staff "%s" is linked to another WeCom account', p_staff),
                DETAIL = format('WeCom account %s is linked to it.',
                                (SELECT u.userid FROM commerce.wecom_user u WHERE u.tenant_id = p_tenant AND u.staff_id = v_staff)),
                HINT = 'Unlink that account first (p_staff NULL).';
        END IF;
    END IF;
    UPDATE commerce.wecom_user SET staff_id = v_staff WHERE tenant_id = p_tenant AND userid = p_userid;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('WeCom user', p_userid, p_tenant);
    END IF;
END $$;
COMMENT ON FUNCTION commerce.link_wecom_user(bigint, text, text) IS
  'Link a WeCom staff account to a commerce staff member (PR01; by default the one whose code is the userid), or unlink it with NULL. One account per staff member (PT409).';

-- Add or change a welcome template.
CREATE FUNCTION commerce.set_welcome_template(p_tenant bigint, p_code text, p_body text, p_link text DEFAULT NULL,
                                              p_attachment jsonb DEFAULT NULL, p_active boolean DEFAULT true) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_body, 'p_body');
    PERFORM commerce._require(p_active, 'p_active');
    IF p_code !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' THEN
        PERFORM commerce._invalid('p_code', format('code "%s"', left(p_code, 64)), 'A template code is 1 to 63 letters, digits, _ . -.');
    END IF;
    IF length(p_body) NOT BETWEEN 1 AND 4000 OR length(p_link) NOT BETWEEN 1 AND 2000 THEN
        PERFORM commerce._invalid('p_body', 'the text or link is too long or empty', 'A welcome is 1 to 4000 characters, its link 1 to 2000.');
    END IF;
    IF p_link IS NOT NULL AND p_link !~ '^(https?://|/)' THEN
        PERFORM commerce._invalid('p_link', format('link "%s"', left(p_link, 64)), 'A link is an http(s) URL or a mini-program path starting with /.');
    END IF;
    IF p_attachment IS NOT NULL AND (jsonb_typeof(p_attachment) <> 'object' OR NOT p_attachment ? 'msgtype'
                                     OR p_attachment ->> 'msgtype' NOT IN ('image', 'link', 'miniprogram', 'video', 'file')
                                     OR length(p_attachment::text) > 8000) THEN
        PERFORM commerce._invalid('p_attachment', left(p_attachment::text, 80),
                                  'An attachment is {"msgtype": "image" | "link" | "miniprogram" | "video" | "file", ...} as WeCom takes it, at most 8 kB.');
    END IF;
    INSERT INTO commerce.welcome_template AS w (tenant_id, code, body, link, attachment, active, updated_at)
    VALUES (p_tenant, p_code, p_body, p_link, p_attachment, p_active, commerce.now())
    ON CONFLICT (tenant_id, code) DO UPDATE
       SET body = EXCLUDED.body, link = EXCLUDED.link, attachment = EXCLUDED.attachment, active = EXCLUDED.active,
           updated_at = EXCLUDED.updated_at;
END $$;
COMMENT ON FUNCTION commerce.set_welcome_template(bigint, text, text, text, jsonb, boolean) IS
  'Add or change a welcome template (PR05): its text ({nickname} and {link} filled in per member), activity link (http(s) or a mini-program path) and attachment (WeCom''s msgtype object: image, link, miniprogram, video, file). The code default greets every add and join whose join way and group name none; an inactive template greets nobody.';

-- Register a KOC's or a store's own group on a platform other than WeCom.
CREATE FUNCTION commerce.register_group(p_tenant bigint, p_platform text, p_chat_id text, p_name text, p_code text,
                                        p_koc text DEFAULT NULL, p_store text DEFAULT NULL, p_welcome text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_koc bigint; v_store bigint; v_id bigint; g commerce.community_group%ROWTYPE;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_platform, 'p_platform');
    PERFORM commerce._require(p_chat_id, 'p_chat_id');
    PERFORM commerce._require(p_name, 'p_name');
    PERFORM commerce._require(p_code, 'p_code');
    IF p_platform NOT IN ('wechat', 'discord', 'other') THEN
        PERFORM commerce._invalid('p_platform', format('platform "%s"', left(p_platform, 32)),
                                  'Register wechat, discord or other groups; WeCom groups come from WeCom''s callbacks.');
    END IF;
    IF length(p_chat_id) NOT BETWEEN 1 AND 128 OR length(p_name) NOT BETWEEN 1 AND 200 THEN
        PERFORM commerce._invalid('p_chat_id', 'the chat id or name is empty or too long', 'A chat id is 1 to 128 characters, a name 1 to 200.');
    END IF;
    IF p_code !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$' OR p_code ~ '^wecom-' THEN
        PERFORM commerce._invalid('p_code', format('code "%s"', left(p_code, 64)),
                                  'A group code is 1 to 200 letters, digits, _ . : -, and wecom- is kept for WeCom groups.');
    END IF;
    v_koc := commerce._koc_ref(p_tenant, p_koc);
    v_store := commerce._store_ref(p_tenant, p_store);
    PERFORM commerce._welcome_ref(p_tenant, p_welcome);
    SELECT * INTO g FROM commerce.community_group WHERE tenant_id = p_tenant AND (code = p_code OR (platform = p_platform AND chat_id = p_chat_id));
    IF FOUND THEN
        IF g.code = p_code AND g.platform = p_platform AND g.chat_id = p_chat_id AND g.koc_id IS NOT DISTINCT FROM v_koc
           AND g.store_id IS NOT DISTINCT FROM v_store THEN
            RETURN g.group_id;      -- the same registration again
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('group "%s" is already registered', left(p_code, 64)),
            DETAIL = format('Group %s is %s chat %s.', g.code, g.platform, g.chat_id),
            HINT = 'Choose another code; a chat is registered once.';
    END IF;
    INSERT INTO commerce.community_group (tenant_id, platform, chat_id, code, name, koc_id, store_id, welcome, created_at)
    VALUES (p_tenant, p_platform, p_chat_id, p_code, p_name, v_koc, v_store, p_welcome, commerce.now())
    ON CONFLICT DO NOTHING
    RETURNING group_id INTO v_id;
    IF v_id IS NULL THEN
        -- registered a moment ago by a concurrent call: the same registration, or a conflict
        RETURN commerce.register_group(p_tenant, p_platform, p_chat_id, p_name, p_code, p_koc, p_store, p_welcome);
    END IF;
    RETURN v_id;
END $$;
COMMENT ON FUNCTION commerce.register_group(bigint, text, text, text, text, text, text, text) IS
  'Register a group of another platform (K16: a KOC''s own WeChat or Discord group; wechat, discord, other) by its chat id, with a code, the KOC who runs it, its store and welcome template. Registering the same again returns the group; another group with that code or chat is PT409. Its joins and quits come through community_ingest (group_event).';

-- Change who runs a group, its store and its welcome.
CREATE FUNCTION commerce.update_group(p_tenant bigint, p_group text, p_koc text, p_store text, p_welcome text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE v_koc bigint; v_store bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_group, 'p_group');
    v_koc := commerce._koc_ref(p_tenant, p_koc);
    v_store := commerce._store_ref(p_tenant, p_store);
    PERFORM commerce._welcome_ref(p_tenant, p_welcome);
    UPDATE commerce.community_group SET koc_id = v_koc, store_id = v_store, welcome = p_welcome
     WHERE tenant_id = p_tenant AND code = p_group;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('group', p_group, p_tenant);
    END IF;
END $$;
COMMENT ON FUNCTION commerce.update_group(bigint, text, text, text, text) IS
  'Set who runs a group (K16: the KOC of a WeCom group its staff owner runs for it), its store and its welcome template (NULL clears each).';

-- Queue the adapter's creation of a join way's live code at WeCom (it reports the QR code with join_way_ready).
CREATE FUNCTION commerce._queue_join_way_create(p_tenant bigint, p_join_way bigint, p_dedupe text) RETURNS bigint
LANGUAGE sql AS $$
    SELECT commerce.enqueue(p_tenant, 'wecom.join_way',
               jsonb_build_object('action', 'create', 'code', w.code, 'kind', w.kind, 'state', w.state, 'user_ids', to_jsonb(w.userids),
                                  'chat_ids', (SELECT to_jsonb(array_agg(g.chat_id ORDER BY x.n)) FROM unnest(w.group_ids) WITH ORDINALITY x(id, n)
                                                 JOIN commerce.community_group g ON g.tenant_id = w.tenant_id AND g.group_id = x.id),
                                  'title', w.title),
               p_dedupe)
      FROM commerce.join_way w WHERE w.tenant_id = p_tenant AND w.join_way_id = p_join_way;
$$;
COMMENT ON FUNCTION commerce._queue_join_way_create(bigint, bigint, text) IS
  'Queue a join way''s live code for the WeCom adapter to create (outbox wecom.join_way, action create: code, kind, state, staff accounts, chat ids, title), deduplicated by p_dedupe.';

-- Create a join way (a live code) whose state attributes the adds or joins made through it.
CREATE FUNCTION commerce.create_join_way(p_tenant bigint, p_code text, p_kind text, p_title text, p_userids text[],
                                         p_groups text[], p_store text, p_koc text, p_task text, p_campaign text,
                                         p_welcome text, p_by text)
RETURNS commerce_api.join_way LANGUAGE plpgsql AS $$
DECLARE v_store bigint; v_koc bigint; v_task bigint; v_groups bigint[]; v_state text; v_platforms text[]; v_id bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_kind, 'p_kind');
    PERFORM commerce._require(p_title, 'p_title');
    PERFORM commerce._require(p_by, 'p_by');
    IF p_code !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' THEN
        PERFORM commerce._invalid('p_code', format('code "%s"', left(p_code, 64)), 'A join way code is 1 to 63 letters, digits, _ . -.');
    END IF;
    IF p_kind NOT IN ('contact', 'group') THEN
        PERFORM commerce._invalid('p_kind', format('kind "%s"', left(p_kind, 32)), 'A join way adds a contact (contact) or joins a group (group).');
    END IF;
    IF length(p_title) NOT BETWEEN 1 AND 200 OR length(p_campaign) NOT BETWEEN 1 AND 64 THEN
        PERFORM commerce._invalid('p_title', 'the title or campaign is empty or too long', 'A title is 1 to 200 characters, a campaign 1 to 64.');
    END IF;
    IF p_kind = 'contact' THEN
        IF p_userids IS NULL OR cardinality(p_userids) NOT BETWEEN 1 AND 100 OR p_groups IS NOT NULL
           OR EXISTS (SELECT 1 FROM unnest(p_userids) u WHERE u IS NULL OR NOT EXISTS (
                          SELECT 1 FROM commerce.wecom_user w WHERE w.tenant_id = p_tenant AND w.userid = u AND w.active)) THEN
            PERFORM commerce._invalid('p_userids', format('userids %s', left(coalesce(p_userids::text, 'none'), 80)),
                                      'A contact way names 1 to 100 active WeCom staff accounts, and no groups.');
        END IF;
    ELSE
        IF p_groups IS NULL OR cardinality(p_groups) NOT BETWEEN 1 AND 5 OR p_userids IS NOT NULL THEN
            PERFORM commerce._invalid('p_groups', format('groups %s', left(coalesce(p_groups::text, 'none'), 80)),
                                      'A group way names 1 to 5 groups (the next one takes over when one is full), and no staff.');
        END IF;
        SELECT array_agg(g.group_id ORDER BY n), array_agg(DISTINCT g.platform)
          INTO v_groups, v_platforms
          FROM unnest(p_groups) WITH ORDINALITY x(code, n)
          JOIN commerce.community_group g ON g.tenant_id = p_tenant AND g.code = x.code AND g.status = 'active';
        IF cardinality(v_groups) IS DISTINCT FROM cardinality(p_groups) OR cardinality(v_platforms) > 1
           OR (SELECT count(DISTINCT x) FROM unnest(p_groups) x) <> cardinality(p_groups) THEN
            PERFORM commerce._invalid('p_groups', format('groups %s', left(p_groups::text, 80)),
                                      'Name active groups of one platform, each once.');
        END IF;
    END IF;
    v_store := commerce._store_ref(p_tenant, p_store);
    v_koc := commerce._koc_ref(p_tenant, p_koc);
    v_task := commerce._koc_task_ref(p_tenant, p_task);
    PERFORM commerce._welcome_ref(p_tenant, p_welcome);
    -- the state WeCom carries back: the code itself when it fits (30 characters), else a digest of it
    v_state := CASE WHEN p_code ~ '^[A-Za-z0-9_-]{1,30}$' THEN p_code ELSE 'jw-' || left(md5(p_code), 27) END;
    INSERT INTO commerce.join_way (tenant_id, code, kind, state, title, store_id, koc_id, task_id, campaign, userids, group_ids,
                                   welcome, created_by, created_at)
    VALUES (p_tenant, p_code, p_kind, v_state, p_title, v_store, v_koc, v_task, p_campaign, p_userids, v_groups, p_welcome,
            left(p_by, 200), commerce.now())
    ON CONFLICT DO NOTHING
    RETURNING join_way_id INTO v_id;
    IF v_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('join way "%s" exists', p_code),
            DETAIL = 'Its code or its state is taken.',
            HINT = 'Choose another code; change a join way by deactivating it and creating a new one.';
    END IF;
    IF p_kind = 'contact' OR v_platforms = ARRAY['wecom'] THEN
        -- the adapter creates the live code at WeCom and reports its QR code with join_way_ready
        PERFORM commerce._queue_join_way_create(p_tenant, v_id, 'join_way:' || v_id);
    END IF;
    RETURN (SELECT w FROM commerce._join_ways(p_tenant, p_code, NULL, NULL, 1) w);
END $$;
COMMENT ON FUNCTION commerce.create_join_way(bigint, text, text, text, text[], text[], text, text, text, text, text, text) IS
  'Create a join way (a live code, PR05, K16): kind contact (adds one of 1 to 100 active WeCom staff accounts) or group (joins 1 to 5 groups of one platform), attributing every add or join made through it to its store, KOC, KOC task and campaign, and greeting it with its welcome template. Its state is the code when it fits WeCom''s 30 characters. A WeCom code is created by the adapter (outbox wecom.join_way) and reported back with join_way_ready. PT409 when the code exists.';

-- The adapter reports a WeCom live code it created.
CREATE FUNCTION commerce.join_way_ready(p_tenant bigint, p_code text, p_qr_url text, p_config_id text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE w commerce.join_way%ROWTYPE;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_qr_url, 'p_qr_url');
    PERFORM commerce._require(p_config_id, 'p_config_id');
    IF p_qr_url !~ '^https://' OR length(p_qr_url) > 2000 OR length(p_config_id) NOT BETWEEN 1 AND 200 THEN
        PERFORM commerce._invalid('p_qr_url', format('QR %s, config %s', left(p_qr_url, 64), left(p_config_id, 64)),
                                  'Report WeCom''s https QR code URL and config_id.');
    END IF;
    SELECT * INTO w FROM commerce.join_way WHERE tenant_id = p_tenant AND code = p_code FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('join way', p_code, p_tenant);
    END IF;
    IF w.config_id IS NOT NULL AND w.config_id <> p_config_id THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('join way "%s" has another WeCom config', p_code),
            DETAIL = format('It is %s; %s was reported.', w.config_id, left(p_config_id, 64)),
            HINT = 'A join way has one live code at WeCom.';
    END IF;
    UPDATE commerce.join_way SET qr_url = p_qr_url, config_id = p_config_id WHERE tenant_id = p_tenant AND join_way_id = w.join_way_id;
END $$;
COMMENT ON FUNCTION commerce.join_way_ready(bigint, text, text, text) IS
  'The WeCom adapter reports the live code it created for a join way: its QR code URL and config id (a repeat is harmless; another config id is PT409).';

-- Deactivate or reactivate a join way (its adds and joins are still attributed while the code lives at WeCom).
CREATE FUNCTION commerce.set_join_way_active(p_tenant bigint, p_code text, p_active boolean) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE w commerce.join_way%ROWTYPE;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_active, 'p_active');
    SELECT * INTO w FROM commerce.join_way WHERE tenant_id = p_tenant AND code = p_code FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('join way', p_code, p_tenant);
    END IF;
    IF w.active = p_active THEN
        RETURN;     -- nothing to do (a repeat queues nothing)
    END IF;
    UPDATE commerce.join_way SET active = p_active,
           qr_url = CASE WHEN p_active THEN NULL ELSE qr_url END, config_id = CASE WHEN p_active THEN NULL ELSE config_id END
     WHERE tenant_id = p_tenant AND join_way_id = w.join_way_id;
    IF NOT p_active AND w.config_id IS NOT NULL THEN
        PERFORM commerce.enqueue(p_tenant, 'wecom.join_way', jsonb_build_object('action', 'delete', 'code', w.code, 'config_id', w.config_id),
                                 'join_way:' || w.join_way_id || ':delete:' || w.config_id);
    ELSIF p_active AND (w.kind = 'contact' OR EXISTS (SELECT 1 FROM commerce.community_group g
                                                       WHERE g.tenant_id = p_tenant AND g.group_id = w.group_ids[1] AND g.platform = 'wecom')) THEN
        -- a new live code at WeCom (the old one was deleted): the adapter reports it with join_way_ready
        PERFORM commerce._queue_join_way_create(p_tenant, w.join_way_id, 'join_way:' || w.join_way_id || ':create:' || commerce.now());
    END IF;
END $$;
COMMENT ON FUNCTION commerce.set_join_way_active(bigint, text, boolean) IS
  'Deactivate (the adapter deletes the live code at WeCom: outbox wecom.join_way, action delete) or reactivate a join way (a new live code: action create, reported again with join_way_ready). A repeat changes and queues nothing.';

-- Join ways as join_way rows.
CREATE FUNCTION commerce._join_ways(p_tenant bigint, p_code text, p_koc bigint, p_stores text[], p_page integer)
RETURNS SETOF commerce_api.join_way LANGUAGE sql STABLE AS $$
    SELECT j.code, j.kind, j.state, j.title, s.code, k.code, t.code, j.campaign, j.userids,
           (SELECT array_agg(g.code ORDER BY n) FROM unnest(j.group_ids) WITH ORDINALITY x(id, n)
              JOIN commerce.community_group g ON g.tenant_id = j.tenant_id AND g.group_id = x.id),
           j.welcome, j.qr_url, j.active,
           (SELECT count(*) FROM commerce.wecom_contact c WHERE c.tenant_id = j.tenant_id AND c.join_way_id = j.join_way_id),
           (SELECT count(*) FROM commerce.group_member_event e WHERE e.tenant_id = j.tenant_id AND e.join_way_id = j.join_way_id
               AND e.kind = 'join'),
           j.created_by, j.created_at
      FROM commerce.join_way j
      LEFT JOIN commerce.store s ON s.tenant_id = j.tenant_id AND s.store_id = j.store_id
      LEFT JOIN commerce.koc k ON k.tenant_id = j.tenant_id AND k.koc_id = j.koc_id
      LEFT JOIN commerce.koc_task t ON t.tenant_id = j.tenant_id AND t.task_id = j.task_id
     WHERE j.tenant_id = p_tenant AND (p_code IS NULL OR j.code = p_code) AND (p_koc IS NULL OR j.koc_id = p_koc)
       AND (p_stores IS NULL OR s.code = ANY (p_stores))
     ORDER BY j.join_way_id DESC
     LIMIT p_page;
$$;
COMMENT ON FUNCTION commerce._join_ways(bigint, text, bigint, text[], integer) IS
  'A tenant''s join ways, newest first (one code; a KOC''s; those of some stores), with the adds and joins each brought.';

-- The group list: size and activity.
CREATE FUNCTION commerce.community_groups(p_tenant bigint, p_stores text[], p_koc bigint, p_status text, p_before bigint,
                                          p_page integer)
RETURNS SETOF commerce_api.community_group LANGUAGE plpgsql STABLE AS $$
DECLARE v_since timestamptz := commerce.now() - interval '7 days'; v_day date := commerce._tenant_day(p_tenant, commerce.now());
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_page, 'p_page');
    IF p_page NOT BETWEEN 1 AND 500 THEN
        PERFORM commerce._invalid('p_page', format('%s groups', p_page), 'A page holds 1 to 500 groups.');
    END IF;
    IF p_status IS NOT NULL AND p_status NOT IN ('active', 'dismissed') THEN
        PERFORM commerce._invalid('p_status', format('status "%s"', left(p_status, 32)), 'A group is active or dismissed.');
    END IF;
    RETURN QUERY
    SELECT g.group_id, g.code, g.platform, g.chat_id, g.name, g.owner_userid, s.code, k.code, g.status, g.members,
           (SELECT count(*) FROM commerce.group_member m WHERE m.tenant_id = g.tenant_id AND m.group_id = g.group_id
               AND m.active AND m.member_type <> 'staff'),
           (SELECT count(*) FROM commerce.group_member_event e WHERE e.tenant_id = g.tenant_id AND e.group_id = g.group_id
               AND e.kind = 'join' AND e.at >= v_since),
           (SELECT count(*) FROM commerce.group_member_event e WHERE e.tenant_id = g.tenant_id AND e.group_id = g.group_id
               AND e.kind = 'quit' AND e.at >= v_since),
           g.last_join_at,
           (SELECT count(*) FROM commerce.group_checkin_round r JOIN commerce.group_checkin c
                ON c.tenant_id = r.tenant_id AND c.round_id = r.round_id AND c.day = v_day
             WHERE r.tenant_id = g.tenant_id AND r.group_id = g.group_id AND r.closed_at IS NULL),
           g.created_at
      FROM commerce.community_group g
      LEFT JOIN commerce.store s ON s.tenant_id = g.tenant_id AND s.store_id = g.store_id
      LEFT JOIN commerce.koc k ON k.tenant_id = g.tenant_id AND k.koc_id = g.koc_id
     WHERE g.tenant_id = p_tenant AND (p_stores IS NULL OR s.code = ANY (p_stores)) AND (p_koc IS NULL OR g.koc_id = p_koc)
       AND (p_status IS NULL OR g.status = p_status) AND (p_before IS NULL OR g.group_id < p_before)
     ORDER BY g.group_id DESC
     LIMIT p_page;
END $$;
COMMENT ON FUNCTION commerce.community_groups(bigint, text[], bigint, text, bigint, integer) IS
  'The group list (PR04), newest first, a page of 1 to 500 before a group id: platform, name, owner, store, KOC, status, members now and customers among them, joins and quits in the last 7 days, the last join, and today''s check-ins of its open round. Limited to some stores or one KOC''s groups.';

-- AFTER INSERT ON commerce.person_merge: the community's rows of the merged-away person follow it to the survivor.
CREATE FUNCTION commerce._community_on_merge() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE commerce.wecom_contact SET person_id = NEW.survivor_id WHERE tenant_id = NEW.tenant_id AND person_id = NEW.loser_id;
    UPDATE commerce.group_member SET person_id = NEW.survivor_id WHERE tenant_id = NEW.tenant_id AND person_id = NEW.loser_id;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION commerce._community_on_merge() IS
  'Trigger on commerce.person_merge (after_50_community): when two persons merge, the WeCom contacts and group memberships of the merged-away one become the survivor''s, so check-ins by account or by WeCom id find one person. Check-ins and fission invites made before keep the person they were made by; an unmerge does not move them back.';

CREATE TRIGGER after_50_community AFTER INSERT ON commerce.person_merge
    FOR EACH ROW EXECUTE FUNCTION commerce._community_on_merge();
