-- sql/src/community/quick_replies.sql: the quick-reply library (PR03):
-- scripts, coupons from the members module, activity links and mini-program
-- cards, sent in one click from the WeCom sidebar (the client sends the
-- content it gets back) or from the inbox (service_quick_reply); a coupon is
-- issued to the customer once per use.

-- Add or change a quick reply.
CREATE FUNCTION commerce.upsert_quick_reply(p_tenant bigint, p_code text, p_kind text, p_title text, p_body text,
                                            p_link text DEFAULT NULL, p_coupon_batch text DEFAULT NULL, p_card jsonb DEFAULT NULL,
                                            p_store text DEFAULT NULL, p_tags text[] DEFAULT '{}', p_sort integer DEFAULT 0,
                                            p_active boolean DEFAULT true) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE v_batch bigint; v_store bigint; v_id bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_kind, 'p_kind');
    PERFORM commerce._require(p_title, 'p_title');
    PERFORM commerce._require(p_body, 'p_body');
    PERFORM commerce._require(p_tags, 'p_tags');
    PERFORM commerce._require(p_sort, 'p_sort');
    PERFORM commerce._require(p_active, 'p_active');
    IF p_code !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' OR p_kind NOT IN ('script', 'coupon', 'link', 'miniprogram') THEN
        PERFORM commerce._invalid('p_code', format('code "%s", kind "%s"', left(p_code, 64), left(p_kind, 32)),
                                  'A quick reply has a code of 1 to 63 letters, digits, _ . - and is a script, coupon, link or miniprogram.');
    END IF;
    IF length(p_title) NOT BETWEEN 1 AND 100 OR length(p_body) NOT BETWEEN 1 AND 2000 OR p_sort NOT BETWEEN -1000 AND 1000
       OR cardinality(p_tags) > 20 OR EXISTS (SELECT 1 FROM unnest(p_tags) g WHERE g IS NULL OR length(g) NOT BETWEEN 1 AND 32) THEN
        PERFORM commerce._invalid('p_title', format('title of %s, text of %s characters, %s tags, sort %s', length(p_title), length(p_body),
                                                    cardinality(p_tags), p_sort),
                                  'A title is 1 to 100 characters, a text 1 to 2000, up to 20 tags of 1 to 32, a sort of -1000 to 1000.');
    END IF;
    IF (p_kind = 'link') <> (p_link IS NOT NULL) AND p_kind <> 'miniprogram'
       OR (p_link IS NOT NULL AND (p_link !~ '^https://[^\s]+$' OR length(p_link) > 2000)) THEN
        PERFORM commerce._invalid('p_link', format('kind %s with link %s', p_kind, coalesce(left(p_link, 80), 'none')),
                                  'A link reply carries an https link (others none, a mini-program card may add one).');
    END IF;
    IF (p_kind = 'miniprogram') <> (p_card IS NOT NULL)
       OR (p_card IS NOT NULL AND (jsonb_typeof(p_card) <> 'object' OR p_card ->> 'appid' IS NULL OR p_card ->> 'page' IS NULL
                                   OR length(p_card::text) > 4096)) THEN
        PERFORM commerce._invalid('p_card', format('kind %s with card %s', p_kind, coalesce(left(p_card::text, 80), 'none')),
                                  'A miniprogram reply carries a card {"appid","page","thumb"} of at most 4 KiB; other kinds none.');
    END IF;
    IF (p_kind = 'coupon') <> (p_coupon_batch IS NOT NULL) THEN
        PERFORM commerce._invalid('p_coupon_batch', format('kind %s with batch %s', p_kind, coalesce(left(p_coupon_batch, 64), 'none')),
                                  'A coupon reply names the coupon batch it issues from; other kinds none.');
    END IF;
    IF p_coupon_batch IS NOT NULL THEN
        SELECT batch_id INTO v_batch FROM commerce.coupon_batch WHERE tenant_id = p_tenant AND code = p_coupon_batch;
        IF NOT FOUND THEN
            PERFORM commerce._not_found('coupon batch', p_coupon_batch, p_tenant);
        END IF;
    END IF;
    v_store := commerce._store_ref(p_tenant, p_store);
    INSERT INTO commerce.quick_reply AS r (tenant_id, code, kind, title, body, link, batch_id, card, store_id, tags, sort, active, updated_at)
    VALUES (p_tenant, p_code, p_kind, p_title, p_body, p_link, v_batch, p_card, v_store, p_tags, p_sort, p_active, commerce.now())
    ON CONFLICT (tenant_id, code) DO UPDATE
       SET kind = EXCLUDED.kind, title = EXCLUDED.title, body = EXCLUDED.body, link = EXCLUDED.link, batch_id = EXCLUDED.batch_id,
           card = EXCLUDED.card, store_id = EXCLUDED.store_id, tags = EXCLUDED.tags, sort = EXCLUDED.sort, active = EXCLUDED.active,
           updated_at = EXCLUDED.updated_at
    RETURNING reply_id INTO v_id;
    RETURN v_id;
END $$;
COMMENT ON FUNCTION commerce.upsert_quick_reply(bigint, text, text, text, text, text, text, jsonb, text, text[], integer, boolean) IS
  'Add or change a quick reply (PR03): a script (text), a coupon (text plus the batch it issues from), an activity link (text plus an https link) or a mini-program card (text plus {"appid","page","thumb"}); its store (NULL: every store), tags, order and whether it is active. Returns its id.';

-- The quick replies a staff member may send: theirs and every store's, active, by order then title.
CREATE FUNCTION commerce.quick_replies(p_tenant bigint, p_stores text[], p_kind text DEFAULT NULL, p_search text DEFAULT NULL,
                                       p_limit integer DEFAULT 100)
RETURNS SETOF commerce_api.quick_reply_item LANGUAGE plpgsql STABLE AS $$
DECLARE v_since timestamptz := commerce.now() - interval '30 days';
BEGIN
    PERFORM commerce._tenant(p_tenant);
    IF (p_kind IS NOT NULL AND p_kind NOT IN ('script', 'coupon', 'link', 'miniprogram')) OR length(p_search) > 100
       OR p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 500 THEN
        PERFORM commerce._invalid('p_kind', format('kind %s, search of %s characters, page of %s', coalesce(left(p_kind, 32), 'any'),
                                                    coalesce(length(p_search), 0), p_limit),
                                  'Ask for a kind (script, coupon, link, miniprogram) or all, a search of at most 100 characters, 1 to 500 replies.');
    END IF;
    RETURN QUERY
    SELECT r.code, r.kind, r.title, r.body, r.link, b.code, r.card, s.code, r.tags, r.sort,
           (SELECT count(*) FROM commerce.quick_reply_use u WHERE u.tenant_id = p_tenant AND u.reply_id = r.reply_id AND u.used_at >= v_since)
      FROM commerce.quick_reply r
      LEFT JOIN commerce.coupon_batch b ON b.tenant_id = r.tenant_id AND b.batch_id = r.batch_id
      LEFT JOIN commerce.store s ON s.tenant_id = r.tenant_id AND s.store_id = r.store_id
     WHERE r.tenant_id = p_tenant AND r.active
       AND (r.store_id IS NULL OR p_stores IS NULL OR s.code = ANY (p_stores))
       AND (p_kind IS NULL OR r.kind = p_kind)
       AND (p_search IS NULL OR strpos(lower(r.title || ' ' || r.body || ' ' || array_to_string(r.tags, ' ')), lower(p_search)) > 0)
     ORDER BY r.sort DESC, r.title, r.code
     LIMIT p_limit;
END $$;
COMMENT ON FUNCTION commerce.quick_replies(bigint, text[], text, text, integer) IS
  'The quick-reply library as staff of the given stores see it (PR03): every store''s replies and their stores'' own (NULL: all), active, of one kind or all, matching a search in title, text or tags (case-insensitive), by sort descending then title; each with its uses over the last 30 days.';

-- Use a quick reply for a person: the content to send, and the coupon issued, once per use key.
CREATE FUNCTION commerce.use_quick_reply(p_tenant bigint, p_stores text[], p_code text, p_person bigint, p_use_key text, p_by text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE r commerce.quick_reply%ROWTYPE; u commerce.quick_reply_use%ROWTYPE; v_customer text; v_coupon commerce.coupon_issue_result;
        v_store text; v_content jsonb; v_by text := left(coalesce(p_by, 'staff'), 200); v_day_start timestamptz; v_today bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._request_key(p_use_key, 'p_use_key');
    -- one use per key, even for two clicks at once: the second waits here and finds the first
    PERFORM pg_advisory_xact_lock(hashtextextended('quick_reply:' || p_tenant || ':' || p_use_key, 0));
    SELECT * INTO u FROM commerce.quick_reply_use WHERE tenant_id = p_tenant AND use_key = p_use_key;
    IF FOUND THEN
        IF (SELECT q.code FROM commerce.quick_reply q WHERE q.tenant_id = p_tenant AND q.reply_id = u.reply_id) IS DISTINCT FROM p_code
           OR u.person_id IS DISTINCT FROM p_person THEN
            RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = format('use key "%s" was already used for another quick reply or person', left(p_use_key, 64)),
                HINT = 'Use a new key for every send.';
        END IF;
        RETURN jsonb_build_object('reply', p_code, 'kind', (SELECT q.kind FROM commerce.quick_reply q WHERE q.tenant_id = p_tenant AND q.reply_id = u.reply_id),
                                  'content', u.content, 'coupon', u.coupon_id, 'replayed', true);
    END IF;
    SELECT * INTO r FROM commerce.quick_reply WHERE tenant_id = p_tenant AND code = p_code AND active;
    SELECT code INTO v_store FROM commerce.store WHERE tenant_id = p_tenant AND store_id = r.store_id;
    IF r.reply_id IS NULL OR (r.store_id IS NOT NULL AND p_stores IS NOT NULL AND NOT v_store = ANY (p_stores)) THEN
        PERFORM commerce._not_found('quick reply', p_code, p_tenant);
    END IF;
    IF r.kind = 'coupon' THEN
        IF p_person IS NULL THEN
            PERFORM commerce._invalid('p_person', 'a coupon reply is sent to nobody', 'Name the customer the coupon is for.');
        END IF;
        -- a staff member issues at most 100 coupons a tenant-local day through quick replies
        v_day_start := commerce._tenant_day(p_tenant, commerce.now())::timestamp AT TIME ZONE (commerce._tenant(p_tenant)).time_zone;
        SELECT count(*) INTO v_today FROM commerce.quick_reply_use
         WHERE tenant_id = p_tenant AND used_by = v_by AND used_at >= v_day_start AND coupon_id IS NOT NULL;
        IF v_today >= 100 THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('%s has issued %s coupons through quick replies today', left(v_by, 64), v_today),
                DETAIL = 'A staff member issues at most 100 coupons a day this way.',
                HINT = 'HQ issues more with commerce_api.issue_coupon, with a reason.';
        END IF;
        SELECT c.code INTO v_customer FROM commerce.customer c WHERE c.tenant_id = p_tenant AND c.person_id = p_person
         ORDER BY c.customer_id DESC LIMIT 1;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('person %s has no shop account for a coupon', p_person),
                DETAIL = 'A coupon is issued to a customer account; this contact has not used the mini-program or the shop yet.',
                HINT = 'Send a link reply to the coupon''s claim page instead.';
        END IF;
        v_coupon := commerce.issue_coupon(p_tenant, 'issue', 'quick:' || p_use_key,
                                          (SELECT b.code FROM commerce.coupon_batch b WHERE b.tenant_id = p_tenant AND b.batch_id = r.batch_id),
                                          v_customer);
    END IF;
    v_content := CASE r.kind
        WHEN 'miniprogram' THEN jsonb_build_object('msgtype', 'miniprogram', 'title', r.body, 'appid', r.card ->> 'appid',
                                                   'page', r.card ->> 'page', 'thumb', r.card ->> 'thumb')
        WHEN 'link' THEN jsonb_build_object('msgtype', 'link', 'title', r.title, 'desc', r.body, 'url', r.link)
        ELSE jsonb_build_object('msgtype', 'text', 'text', r.body) END;
    INSERT INTO commerce.quick_reply_use (tenant_id, use_key, reply_id, person_id, coupon_id, content, used_by, used_at)
    VALUES (p_tenant, p_use_key, r.reply_id, p_person, v_coupon.coupon_id, v_content, v_by, commerce.now());
    RETURN jsonb_build_object('reply', r.code, 'kind', r.kind, 'content', v_content, 'coupon', v_coupon.coupon_id,
                              'coupon_valid_until', v_coupon.valid_until, 'replayed', false);
END $$;
COMMENT ON FUNCTION commerce.use_quick_reply(bigint, text[], text, bigint, text, text) IS
  'Use a quick reply (PR03) for a person, once per use key (concurrent uses of a key wait for the first): the content to send (text, link or mini-program card as WeCom takes them) and, for a coupon reply, a coupon of its batch issued to the person''s latest shop account (issue_coupon, source issue, key quick:<use key>; PT409 when the person has none, or when the sender, p_by, has issued 100 coupons this way today). A repeat of the key returns the stored content and coupon and issues nothing (replayed), whatever the reply became since; the key with another reply or person is 23505. Another store''s reply is PT404. Every use is logged in quick_reply_use, the audit of the coupons staff issue.';
