-- sql/src/service/inbox.sql: the one inbox (seed 003 3.4.1, 3.4.2): every
-- channel's messages come in through one idempotent function (deduplicated by
-- the channel's message id, one open session per customer and channel
-- account), the bot answers first from the knowledge base or the customer's
-- orders, hands off to a person with suggested replies, and every reply goes
-- out through the outbox within the channel's reply window and quota.

-- A channel's service rules (service_policy), with the defaults where the tenant set none.
CREATE FUNCTION commerce._service_policy(p_tenant bigint, p_channel text, OUT reply_window interval, OUT max_replies integer,
                                         OUT bot boolean, OUT answer_min_bp integer, OUT bot_idle interval, OUT human_idle interval)
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_channel = 'wecom_kf' THEN least(coalesce(p.reply_window, interval '48 hours'), interval '48 hours')
                ELSE p.reply_window END,
           CASE WHEN p_channel = 'wecom_kf' THEN least(coalesce(p.max_replies, 5), 5) ELSE p.max_replies END,
           coalesce(p.bot, true), coalesce(p.answer_min_bp, 1200), coalesce(p.bot_idle, interval '30 minutes'),
           coalesce(p.human_idle, interval '24 hours')
      FROM (SELECT 1) one
      LEFT JOIN commerce.service_policy p ON p.tenant_id = p_tenant AND p.channel = p_channel;
$$;
COMMENT ON FUNCTION commerce._service_policy(bigint, text) IS
  'A channel''s customer-service rules (service_policy); without a row: no reply window, the bot on, 1200 bp to answer alone, a bot session ends after 30 idle minutes, a queued or human one after 24 hours. WeCom customer service (wecom_kf) never allows more than its own rule, 5 replies within 48 hours, whatever the row says.';

-- Set a channel's service rules.
CREATE FUNCTION commerce.set_service_policy(p_tenant bigint, p_channel text, p_reply_window interval, p_max_replies integer,
                                            p_bot boolean DEFAULT true, p_answer_min_bp integer DEFAULT 1200,
                                            p_bot_idle interval DEFAULT interval '30 minutes',
                                            p_human_idle interval DEFAULT interval '24 hours') RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_channel, 'p_channel');
    PERFORM commerce._require(p_bot, 'p_bot');
    PERFORM commerce._require(p_answer_min_bp, 'p_answer_min_bp');
    PERFORM commerce._require(p_bot_idle, 'p_bot_idle');
    PERFORM commerce._require(p_human_idle, 'p_human_idle');
    IF p_channel NOT IN ('miniprogram', 'h5', 'taobao', 'douyin', 'wecom_kf') THEN
        PERFORM commerce._invalid('p_channel', format('channel "%s"', left(p_channel, 32)),
                                  'A service channel is miniprogram, h5, taobao, douyin or wecom_kf.');
    END IF;
    IF p_channel = 'wecom_kf' AND (p_reply_window > interval '48 hours' OR p_max_replies > 5) THEN
        PERFORM commerce._invalid('p_reply_window', format('window %s, %s replies on wecom_kf', p_reply_window, p_max_replies),
                                  'WeCom customer service allows at most 5 replies within 48 hours of the customer''s last message; set those or less (NULL: WeCom''s own).');
    END IF;
    IF p_reply_window NOT BETWEEN interval '1 minute' AND interval '30 days' OR p_max_replies NOT BETWEEN 1 AND 1000
       OR p_answer_min_bp NOT BETWEEN 0 AND 10000 OR p_bot_idle NOT BETWEEN interval '1 minute' AND interval '7 days'
       OR p_human_idle NOT BETWEEN interval '1 minute' AND interval '30 days' THEN
        PERFORM commerce._invalid('p_reply_window',
            format('window %s, %s replies, %s bp, idle %s / %s', p_reply_window, p_max_replies, p_answer_min_bp, p_bot_idle, p_human_idle),
            'A reply window is 1 minute to 30 days (NULL: none), 1 to 1000 replies (NULL: any), a confidence of 0 to 10000 bp, a bot idle time of 1 minute to 7 days and a human one of 1 minute to 30 days.');
    END IF;
    INSERT INTO commerce.service_policy AS p (tenant_id, channel, reply_window, max_replies, bot, answer_min_bp, bot_idle, human_idle, updated_at)
    VALUES (p_tenant, p_channel, p_reply_window, p_max_replies, p_bot, p_answer_min_bp, p_bot_idle, p_human_idle, commerce.now())
    ON CONFLICT (tenant_id, channel) DO UPDATE
       SET reply_window = EXCLUDED.reply_window, max_replies = EXCLUDED.max_replies, bot = EXCLUDED.bot,
           answer_min_bp = EXCLUDED.answer_min_bp, bot_idle = EXCLUDED.bot_idle, human_idle = EXCLUDED.human_idle,
           updated_at = EXCLUDED.updated_at;
END $$;
COMMENT ON FUNCTION commerce.set_service_policy(bigint, text, interval, integer, boolean, integer, interval, interval) IS
  'Set a channel''s customer-service rules (3.4.1): the reply window after the customer''s last message (NULL: none) and the replies allowed in it (NULL: any), whether the bot answers first, the confidence it needs to answer alone, and the idle times after which bot and human sessions end.';

-- The orders a verified customer may be told about: named orders of theirs, else their latest three with goods to ship.
CREATE FUNCTION commerce._service_orders(p_tenant bigint, p_person bigint, p_text text, p_channels text[] DEFAULT NULL) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    WITH mine AS (
        SELECT o.order_id, o.external_order_id, o.status, o.created_at, o.paid_at, o.shipped_at,
               EXISTS (SELECT 1 FROM commerce.order_line l
                         JOIN commerce.sku k ON k.tenant_id = l.tenant_id AND k.sku_id = l.sku_id
                         JOIN commerce.product p ON p.tenant_id = k.tenant_id AND p.product_id = k.product_id
                        WHERE l.tenant_id = o.tenant_id AND l.order_id = o.order_id AND p.kind = 'physical') AS goods
          FROM commerce.customer c
          JOIN commerce.orders o ON o.tenant_id = c.tenant_id AND o.customer_id = c.customer_id
         WHERE c.tenant_id = p_tenant AND c.person_id = p_person
           AND (p_channels IS NULL OR EXISTS (SELECT 1 FROM commerce.channel ch
                                               WHERE ch.tenant_id = o.tenant_id AND ch.channel_id = o.channel_id AND ch.code = ANY (p_channels)))
    ), named AS (
        SELECT m.* FROM mine m
         WHERE m.external_order_id IN (SELECT x[1] FROM regexp_matches(coalesce(p_text, ''), '([0-9A-Za-z:_-]{6,64})', 'g') x)
    ), chosen AS (
        SELECT * FROM named
        UNION ALL
        SELECT * FROM (SELECT * FROM mine WHERE goods AND NOT EXISTS (SELECT 1 FROM named)
                        ORDER BY created_at DESC, order_id DESC LIMIT 3) l
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'order', ch.external_order_id, 'status', ch.status, 'goods', ch.goods, 'created_at', ch.created_at,
               'shipped_at', ch.shipped_at,
               'items', (SELECT string_agg(k.name || ' ×' || l.qty, '、' ORDER BY l.line_no) FROM commerce.order_line l
                           JOIN commerce.sku k ON k.tenant_id = l.tenant_id AND k.sku_id = l.sku_id
                          WHERE l.tenant_id = p_tenant AND l.order_id = ch.order_id),
               'parcels', coalesce((SELECT jsonb_agg(jsonb_build_object('carrier', s.carrier, 'waybill', s.tracking_no,
                                                                       'shipped_at', s.shipped_at) ORDER BY s.shipment_id)
                                      FROM commerce.shipment s WHERE s.tenant_id = p_tenant AND s.order_id = ch.order_id), '[]'::jsonb))
               ORDER BY ch.created_at DESC, ch.order_id DESC), '[]'::jsonb)
      FROM chosen ch;
$$;
COMMENT ON FUNCTION commerce._service_orders(bigint, bigint, text, text[]) IS
  'The orders the bot tells a verified customer about (3.4.2), and staff limited to sales channels see of those channels (p_channels): the orders of the person''s accounts whose numbers the question names, else the latest three with goods to ship (a membership card or a course is not asked after as a parcel), each with status, its items, dates and parcels (carrier, waybill).';

-- The bot's text for an order lookup.
CREATE FUNCTION commerce._service_orders_text(p_orders jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_array_length(p_orders) = 0 THEN '没有查到您名下的订单。请确认下单时使用的账号，或回复“人工”联系客服。'
           ELSE string_agg(format('订单 %s%s：%s', o ->> 'order', coalesce('（' || (o ->> 'items') || '）', ''),
                    CASE o ->> 'status'
                        WHEN 'pending_payment' THEN '待付款'
                        WHEN 'paid' THEN CASE WHEN (o ->> 'goods')::boolean THEN '已付款，正在备货，发货后会通知您' ELSE '已付款' END
                        WHEN 'shipped' THEN '已发货'
                        WHEN 'completed' THEN '已签收'
                        WHEN 'cancelled' THEN '已取消'
                        WHEN 'after_sale' THEN '售后处理中'
                        WHEN 'refunded' THEN '已退款'
                        ELSE o ->> 'status' END
                    || coalesce((SELECT '，' || string_agg(p ->> 'carrier' || ' 运单号 ' || coalesce(p ->> 'waybill', '待更新'), '；')
                                   FROM jsonb_array_elements(o -> 'parcels') p), '')
                    || '。'), E'\n' ORDER BY n) END
      FROM jsonb_array_elements(p_orders) WITH ORDINALITY x(o, n);
$$;
COMMENT ON FUNCTION commerce._service_orders_text(jsonb) IS
  'The bot''s reply to an order lookup: one line per order (number, items, status, carrier and waybill of each parcel), or a line saying none was found.';

-- Send a reply in a session within its channel's window and quota; NULL (or PT409 with p_raise) when it may not.
CREATE FUNCTION commerce._service_send(p_tenant bigint, p_conversation bigint, p_sender text, p_staff bigint, p_body text,
                                       p_answer bigint, p_raise boolean, p_content jsonb DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE c commerce.conversation%ROWTYPE; q record; v_now timestamptz := commerce.now(); v_id bigint;
BEGIN
    SELECT * INTO c FROM commerce.conversation WHERE tenant_id = p_tenant AND conversation_id = p_conversation FOR UPDATE;
    SELECT * INTO q FROM commerce._service_policy(p_tenant, c.channel);
    IF (q.reply_window IS NOT NULL AND v_now > c.last_customer_at + q.reply_window)
       OR (q.max_replies IS NOT NULL AND c.replies >= q.max_replies) THEN
        IF NOT p_raise THEN
            RETURN NULL;
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('conversation %s cannot take another reply on %s', c.conversation_id, c.channel),
            DETAIL = format('The channel allows %s within %s of the customer''s last message (%s); %s sent since.',
                            coalesce(q.max_replies::text || ' replies', 'replies'),
                            coalesce(trim_scale(round(extract(epoch FROM q.reply_window) / 3600, 2)) || ' hours', 'any time'),
                            c.last_customer_at, c.replies),
            HINT = 'Send a subscription message (a template message the customer subscribed to) instead, or wait until the customer writes again.';
    END IF;
    INSERT INTO commerce.service_message (tenant_id, conversation_id, channel, account, direction, sender, staff_id, kind, body,
                                          payload, answer_id, sent_at, received_at)
    VALUES (p_tenant, c.conversation_id, c.channel, c.account, 'out', p_sender, p_staff, coalesce(p_content ->> 'msgtype', 'text'), p_body,
            p_content, p_answer, v_now, v_now)
    RETURNING message_id INTO v_id;
    PERFORM commerce.enqueue(p_tenant, 'service.reply',
        jsonb_build_object('channel', c.channel, 'account', c.account, 'user', c.external_user, 'conversation', c.conversation_id,
                           'message', v_id, 'sender', p_sender, 'msgtype', 'text', 'text', p_body, 'answer', p_answer,
                           'staff', (SELECT s.code FROM commerce.staff s WHERE s.tenant_id = p_tenant AND s.staff_id = p_staff))
        || coalesce(p_content - 'quick_reply' - 'use_key', '{}'::jsonb),
        'service_message:' || v_id);
    UPDATE commerce.conversation
       SET replies = replies + 1, messages = messages + 1, last_message_at = v_now, preview = left(p_body, 100)
     WHERE tenant_id = p_tenant AND conversation_id = c.conversation_id;
    RETURN v_id;
END $$;
COMMENT ON FUNCTION commerce._service_send(bigint, bigint, text, bigint, text, bigint, boolean, jsonb) IS
  'Send a reply in a session (3.4.1) under its row lock (a text, or p_content: a link or mini-program card as WeCom takes it, which the message keeps as its payload): within the channel''s reply window after the customer''s last message and its quota of replies (WeCom customer service: 5 within 48 hours), it is written and queued on the outbox topic service.reply (once: key service_message:<id>); outside them it returns NULL, or with p_raise is PT409 suggesting a subscription message.';

-- The identity the channel's user id is in the identity graph.
CREATE FUNCTION commerce._service_identity(p_channel text, p_account text, p_user text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('type', CASE p_channel WHEN 'miniprogram' THEN 'wechat_openid' WHEN 'h5' THEN 'h5_uid'
                                                     WHEN 'taobao' THEN 'taobao_buyer' WHEN 'douyin' THEN 'douyin_buyer'
                                                     ELSE 'wecom_external' END,
                              'value', CASE p_channel WHEN 'miniprogram' THEN p_account || ':' || p_user ELSE p_user END,
                              'verified', p_channel <> 'h5');
$$;
COMMENT ON FUNCTION commerce._service_identity(text, text, text) IS
  'The identity of a service channel''s user: a mini-program OpenID (<app>:<openid>, verified by WeChat), an H5 uid (not verified: the site''s own session), a Taobao or Douyin buyer id (verified by the platform) or a WeCom external userid (verified by WeCom).';

-- The three best articles for a question, with the text each would send (an order question with the orders given).
CREATE FUNCTION commerce._service_suggestions(p_tenant bigint, p_text text, p_store bigint, p_orders jsonb) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object('article', k.code, 'kind', k.kind, 'confidence_bp', k.confidence_bp, 'title', a.title,
                                                 'text', CASE WHEN k.kind = 'order_status' AND p_orders IS NOT NULL
                                                              THEN commerce._service_orders_text(p_orders) ELSE a.answer END)
                              ORDER BY k.score DESC, k.article_id), '[]'::jsonb)
      FROM commerce.kb_match(p_tenant, p_text, p_store, 3) k
      JOIN commerce.kb_article a ON a.tenant_id = p_tenant AND a.article_id = k.article_id;
$$;
COMMENT ON FUNCTION commerce._service_suggestions(bigint, text, bigint, jsonb) IS
  'The three best knowledge-base articles for a question (kb_match), best first, each with its code, kind, title, confidence and the text it would send: the answer, or for an order_status article the reply built from p_orders (the verified customer''s orders; NULL: the article''s own text).';

-- The bot answers a customer's text in a session: an article, the customer's orders, a handoff, or nothing (queued).
CREATE FUNCTION commerce._service_bot(p_tenant bigint, p_conversation bigint, p_message bigint, p_text text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE c commerce.conversation%ROWTYPE; q record; m record; v_sugg jsonb; v_source text; v_body text; v_orders jsonb;
        v_answer bigint; v_reply bigint; v_status text; v_now timestamptz := commerce.now();
BEGIN
    SELECT * INTO c FROM commerce.conversation WHERE tenant_id = p_tenant AND conversation_id = p_conversation;
    SELECT * INTO q FROM commerce._service_policy(p_tenant, c.channel);
    v_sugg := commerce._service_suggestions(p_tenant, p_text, c.store_id, NULL);
    SELECT a.article_id, a.kind, a.answer, (v_sugg -> 0 ->> 'confidence_bp')::integer AS confidence INTO m
      FROM commerce.kb_article a WHERE a.tenant_id = p_tenant AND a.code = v_sugg -> 0 ->> 'article';
    IF m.article_id IS NULL OR m.confidence < q.answer_min_bp THEN
        v_source := 'none';
    ELSIF m.kind = 'handoff' THEN
        v_source := 'handoff';
        v_body := m.answer;
    ELSIF m.kind = 'order_status' THEN
        v_source := 'order';
        IF c.verified AND c.person_id IS NOT NULL THEN
            v_orders := commerce._service_orders(p_tenant, c.person_id, p_text);
            v_body := commerce._service_orders_text(v_orders);
        ELSE
            v_body := m.answer;     -- never tell an unverified customer about orders
        END IF;
    ELSE
        v_source := 'kb';
        v_body := m.answer;
    END IF;
    -- asking for a person rejects the bot's answers in the session nobody rated yet
    IF v_source = 'handoff' THEN
        UPDATE commerce.service_answer SET accepted = false, rated_by = 'handoff', rated_at = v_now
         WHERE tenant_id = p_tenant AND conversation_id = c.conversation_id AND mode = 'auto' AND accepted IS NULL
           AND source IN ('kb', 'order');
    END IF;
    INSERT INTO commerce.service_answer (tenant_id, conversation_id, message_id, mode, source, article_id, confidence_bp,
                                         suggestions, orders, created_at)
    VALUES (p_tenant, c.conversation_id, p_message, 'auto', v_source, CASE WHEN v_source <> 'none' THEN m.article_id END,
            coalesce(m.confidence, 0), v_sugg, v_orders, v_now)
    RETURNING answer_id INTO v_answer;
    IF v_body IS NOT NULL THEN
        v_reply := commerce._service_send(p_tenant, c.conversation_id, 'bot', NULL, v_body, v_answer, false);
    END IF;
    v_status := CASE WHEN v_source IN ('kb', 'order') AND v_reply IS NOT NULL THEN 'bot' ELSE 'queued' END;
    UPDATE commerce.conversation
       SET status = v_status, queued_at = CASE WHEN v_status = 'queued' THEN v_now ELSE queued_at END
     WHERE tenant_id = p_tenant AND conversation_id = c.conversation_id;
    RETURN jsonb_build_object('answer', v_answer, 'source', v_source, 'article', CASE WHEN v_source <> 'none' THEN v_sugg -> 0 ->> 'article' END,
                              'confidence_bp', coalesce(m.confidence, 0), 'reply', v_reply, 'status', v_status);
END $$;
COMMENT ON FUNCTION commerce._service_bot(bigint, bigint, bigint, text) IS
  'The bot answers a customer''s text (3.4.2): the best article (kb_match) when its confidence reaches the channel''s answer_min_bp: an answer article''s text, for order_status the verified customer''s orders (status, carrier, waybill; an unverified one gets the article''s text), for handoff its text and the session queued for a person (rejecting the bot''s unrated answers before it). Not confident: nothing is sent and the session is queued with the suggestions. A reply the window or quota refuses queues the session too. The answer is logged (service_answer, mode auto).';

-- A message from a customer on any channel comes in: once per channel message id.
CREATE FUNCTION commerce.service_ingest(p_tenant bigint, p_event jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE e jsonb := p_event; v_channel text; v_account text; v_user text; v_msg_id text; v_kind text; v_text text;
        v_at timestamptz; v_now timestamptz := commerce.now(); v_store bigint; v_ids jsonb; v_person bigint; v_verified boolean;
        c commerce.conversation%ROWTYPE; v_message bigint; v_bot jsonb; x record; q record;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_event, 'p_event');
    IF jsonb_typeof(e) <> 'object' OR length(e::text) > 65536 THEN
        PERFORM commerce._invalid('p_event', 'the event is not a JSON object of at most 64 KiB',
                                  'Send {"channel","account","message_id","user","kind","text","sent_at"}.');
    END IF;
    v_channel := e ->> 'channel'; v_account := e ->> 'account'; v_user := e ->> 'user'; v_msg_id := e ->> 'message_id';
    v_kind := coalesce(e ->> 'kind', 'text'); v_text := e ->> 'text';
    IF v_channel IS NULL OR v_channel NOT IN ('miniprogram', 'h5', 'taobao', 'douyin', 'wecom_kf') THEN
        PERFORM commerce._invalid('channel', format('channel %s', coalesce('"' || left(v_channel, 32) || '"', 'missing')),
                                  'A service channel is miniprogram, h5, taobao, douyin or wecom_kf.');
    END IF;
    IF v_account IS NULL OR length(v_account) NOT BETWEEN 1 AND 128 OR v_user IS NULL OR length(v_user) NOT BETWEEN 1 AND 128 THEN
        PERFORM commerce._invalid('user', 'the channel account or user is missing or longer than 128 characters',
                                  'Name the channel account (shop, app or customer-service account id) and the customer''s id on it.');
    END IF;
    IF v_msg_id IS NULL OR length(v_msg_id) NOT BETWEEN 1 AND 200 THEN
        PERFORM commerce._invalid('message_id', 'the channel''s message id is missing or longer than 200 characters',
                                  'Pass the channel''s own message id (msgid): a retried webhook is recognised by it. Where a channel has none, derive a stable one from the message.');
    END IF;
    IF v_kind NOT IN ('text', 'image', 'voice', 'video', 'file', 'link', 'miniprogram', 'order', 'product', 'event')
       OR (v_kind = 'text' AND (v_text IS NULL OR length(v_text) NOT BETWEEN 1 AND 4000))
       OR length(v_text) > 4000 THEN
        PERFORM commerce._invalid('kind', format('kind %s with %s characters of text', left(v_kind, 32), coalesce(length(v_text), 0)),
                                  'A message is text (1 to 4000 characters), image, voice, video, file, link, miniprogram, order, product or event.');
    END IF;
    BEGIN
        v_at := coalesce((e ->> 'sent_at')::timestamptz, v_now);
    EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR invalid_text_representation THEN
        PERFORM commerce._invalid('sent_at', format('"%s"', left(e ->> 'sent_at', 40)), 'Give sent_at as an ISO 8601 time.');
    END;
    IF NOT isfinite(v_at) OR v_at > v_now + interval '1 hour' OR v_at < v_now - interval '30 days' THEN
        PERFORM commerce._invalid('sent_at', format('%s', v_at), 'A message was sent within the last 30 days, not in the future.');
    END IF;
    IF e ? 'identities' AND (jsonb_typeof(e -> 'identities') <> 'array' OR jsonb_array_length(e -> 'identities') > 10) THEN
        PERFORM commerce._invalid('identities', 'the identities are not a list of at most 10',
                                  'Send [{"type":"wechat_unionid","value":"...","verified":true}, ...] or leave them out.');
    END IF;
    IF e ? 'verified' AND jsonb_typeof(e -> 'verified') <> 'boolean' THEN
        PERFORM commerce._invalid('verified', format('verified %s', left((e -> 'verified')::text, 20)), 'verified is true or false.');
    END IF;
    v_store := commerce._store_ref(p_tenant, e ->> 'store');

    -- one customer's messages on one channel account one at a time: a delivery again waits and finds the first
    PERFORM pg_advisory_xact_lock(hashtextextended('service:' || p_tenant || ':' || v_channel || ':' || v_account || ':' || v_user, 0));
    SELECT m.message_id, m.conversation_id INTO x FROM commerce.service_message m
     WHERE m.tenant_id = p_tenant AND m.channel = v_channel AND m.account = v_account AND m.channel_msg_id = v_msg_id;
    IF FOUND THEN
        RETURN jsonb_build_object('conversation', x.conversation_id, 'message', x.message_id, 'replayed', true,
                   'status', (SELECT c2.status FROM commerce.conversation c2 WHERE c2.tenant_id = p_tenant AND c2.conversation_id = x.conversation_id),
                   'answer', (SELECT jsonb_build_object('answer', a.answer_id, 'source', a.source, 'confidence_bp', a.confidence_bp)
                                FROM commerce.service_answer a WHERE a.tenant_id = p_tenant AND a.message_id = x.message_id AND a.mode = 'auto'));
    END IF;

    SELECT * INTO c FROM commerce.conversation
     WHERE tenant_id = p_tenant AND channel = v_channel AND account = v_account AND external_user = v_user AND status <> 'ended'
       FOR UPDATE;
    IF NOT FOUND THEN
        v_ids := jsonb_build_array(commerce._service_identity(v_channel, v_account, v_user)
                                   || CASE WHEN e ? 'verified' THEN jsonb_build_object('verified', (e ->> 'verified')::boolean)
                                           ELSE '{}'::jsonb END)
                 || coalesce(e -> 'identities', '[]'::jsonb);
        v_person := (commerce.observe_identities(p_tenant, NULL, v_ids, 'service.' || v_channel)).person_id;
        -- verified as the graph kept it: an identity this delivery claims verified that the graph holds verified, linkable
        -- and the person's (a masked, virtual or blocklisted phone called verified is stored unverified: it counts for nothing)
        v_verified := EXISTS (SELECT 1 FROM jsonb_array_elements(v_ids) i
                                JOIN commerce.person_identity pi
                                  ON pi.tenant_id = p_tenant AND pi.type = i ->> 'type'
                                 AND pi.value = CASE i ->> 'type'
                                                    WHEN 'phone' THEN CASE WHEN i ->> 'value' ~ '\*' THEN i ->> 'value'
                                                                           ELSE commerce.normalize_phone(i ->> 'value') END
                                                    WHEN 'email' THEN lower(btrim(i ->> 'value'))
                                                    ELSE i ->> 'value' END
                               WHERE coalesce((i ->> 'verified')::boolean, false)
                                 AND pi.person_id = v_person AND pi.verified AND pi.linkable);
        INSERT INTO commerce.conversation (tenant_id, channel, account, external_user, person_id, verified, store_id, status,
                                           opened_at, last_message_at, last_customer_at)
        VALUES (p_tenant, v_channel, v_account, v_user, v_person, v_verified, v_store, 'unhandled', v_now, v_at, '-infinity')
        RETURNING * INTO c;     -- the customer's first message (not an event) opens the reply window below
    END IF;
    INSERT INTO commerce.service_message (tenant_id, conversation_id, channel, account, channel_msg_id, direction, sender, kind,
                                          body, payload, sent_at, received_at)
    VALUES (p_tenant, c.conversation_id, v_channel, v_account, v_msg_id, 'in', 'customer', v_kind, v_text, e -> 'payload', v_at, v_now)
    RETURNING message_id INTO v_message;
    UPDATE commerce.conversation
       SET messages = messages + 1, unread = unread + 1,
           last_message_at = greatest(last_message_at, v_at),
           last_customer_at = CASE WHEN v_kind <> 'event' THEN greatest(last_customer_at, v_at) ELSE last_customer_at END,
           replies = CASE WHEN v_kind <> 'event' AND v_at >= last_customer_at THEN 0 ELSE replies END,
           preview = CASE WHEN v_at >= last_message_at THEN left(coalesce(v_text, '[' || v_kind || ']'), 100) ELSE preview END
     WHERE tenant_id = p_tenant AND conversation_id = c.conversation_id
    RETURNING * INTO c;
    IF c.status IN ('unhandled', 'bot') AND v_kind <> 'event' THEN
        SELECT * INTO q FROM commerce._service_policy(p_tenant, v_channel);
        IF q.bot AND v_kind = 'text' THEN
            v_bot := commerce._service_bot(p_tenant, c.conversation_id, v_message, v_text);
        ELSE
            UPDATE commerce.conversation SET status = 'queued', queued_at = v_now
             WHERE tenant_id = p_tenant AND conversation_id = c.conversation_id;
        END IF;
    END IF;
    RETURN jsonb_build_object('conversation', c.conversation_id, 'message', v_message, 'replayed', false,
               'status', (SELECT c2.status FROM commerce.conversation c2 WHERE c2.tenant_id = p_tenant AND c2.conversation_id = c.conversation_id),
               'answer', v_bot);
END $$;
COMMENT ON FUNCTION commerce.service_ingest(bigint, jsonb) IS
  'A customer''s message comes in from any channel (3.4.1): {channel (miniprogram, h5, taobao, douyin, wecom_kf), account, message_id (the channel''s), user, kind, text, payload, sent_at, store, verified, identities}. Once per (channel, account, message_id): a webhook delivered again, even concurrently, changes nothing and returns the message, its session''s current status and the bot''s answer to it, with replayed true. The customer''s open session is found or opened (the person resolved through the identity graph), the reply window restarts, and in an unhandled or bot session the bot answers a text (_service_bot) or the session is queued for a person.';

-- The sessions a staff member sees, by latest message.
CREATE FUNCTION commerce.service_inbox(p_tenant bigint, p_stores text[], p_status text[] DEFAULT NULL,
                                       p_before_at timestamptz DEFAULT NULL, p_before_id bigint DEFAULT NULL, p_limit integer DEFAULT 50)
RETURNS SETOF commerce_api.inbox_item LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM commerce._tenant(p_tenant);
    IF p_status IS NOT NULL AND (cardinality(p_status) NOT BETWEEN 1 AND 5
       OR NOT p_status <@ ARRAY['unhandled', 'bot', 'queued', 'human', 'ended']) THEN
        PERFORM commerce._invalid('p_status', format('states %s', left(p_status::text, 80)),
                                  'Ask for some of unhandled, bot, queued, human, ended (NULL: all).');
    END IF;
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 500 OR (p_before_at IS NULL) <> (p_before_id IS NULL) THEN
        PERFORM commerce._invalid('p_limit', format('page of %s', p_limit),
                                  'A page is 1 to 500 sessions; pass both before_at and before (the last one''s last_message_at and id) for the next.');
    END IF;
    RETURN QUERY
    SELECT c.conversation_id, c.channel, c.account, c.status, st.code, s.code, c.person_id, c.verified, c.preview, c.messages,
           c.unread, c.replies, c.last_message_at, c.last_customer_at, c.queued_at, c.opened_at, c.ended_at
      FROM commerce.conversation c
      LEFT JOIN commerce.store st ON st.tenant_id = c.tenant_id AND st.store_id = c.store_id
      LEFT JOIN commerce.staff s ON s.tenant_id = c.tenant_id AND s.staff_id = c.assignee_id
     WHERE c.tenant_id = p_tenant
       AND (p_stores IS NULL OR st.code = ANY (p_stores))
       AND (p_status IS NULL OR c.status = ANY (p_status))
       AND (p_before_at IS NULL OR (c.last_message_at, c.conversation_id) < (p_before_at, p_before_id))
     ORDER BY c.last_message_at DESC, c.conversation_id DESC
     LIMIT p_limit;
END $$;
COMMENT ON FUNCTION commerce.service_inbox(bigint, text[], text[], timestamptz, bigint, integer) IS
  'The inbox (3.4.1): sessions of the given stores (NULL: all) and states, latest message first, p_limit (1 to 500) at a time before (p_before_at, p_before_id).';

-- A session a staff member may act on, locked (PT404 when it is not theirs to see).
CREATE FUNCTION commerce._service_conversation(p_tenant bigint, p_stores text[], p_conversation bigint)
RETURNS commerce.conversation_row LANGUAGE plpgsql AS $$
DECLARE c commerce.conversation_row;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_conversation, 'p_conversation');
    SELECT * INTO c FROM commerce.conversation WHERE tenant_id = p_tenant AND conversation_id = p_conversation FOR UPDATE;
    IF c.conversation_id IS NULL OR (p_stores IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM commerce.store s WHERE s.tenant_id = p_tenant AND s.store_id = c.store_id AND s.code = ANY (p_stores))) THEN
        PERFORM commerce._not_found('conversation', p_conversation::text, p_tenant);
    END IF;
    RETURN c;
END $$;
COMMENT ON FUNCTION commerce._service_conversation(bigint, text[], bigint) IS
  'A session a staff member of the given stores (NULL: all) may act on, under its row lock; PT404 for another store''s, as for one that does not exist.';

-- A session with its messages, the customer's card and the suggestions for its last question.
CREATE FUNCTION commerce.service_conversation(p_tenant bigint, p_stores text[], p_conversation bigint,
                                              p_before bigint DEFAULT NULL, p_limit integer DEFAULT 50) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE c commerce.conversation_row; v_msgs jsonb; v_card jsonb; q record;
BEGIN
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 500 THEN
        PERFORM commerce._invalid('p_limit', format('page of %s', p_limit), 'A page is 1 to 500 messages.');
    END IF;
    c := commerce._service_conversation(p_tenant, p_stores, p_conversation);
    SELECT coalesce(jsonb_agg(jsonb_build_object('message', m.message_id, 'direction', m.direction, 'sender', m.sender,
                                                 'staff', (SELECT s.code FROM commerce.staff s WHERE s.tenant_id = p_tenant AND s.staff_id = m.staff_id),
                                                 'kind', m.kind, 'text', m.body, 'payload', m.payload, 'answer', m.answer_id,
                                                 'sent_at', m.sent_at) ORDER BY m.message_id DESC), '[]'::jsonb)
      INTO v_msgs
      FROM (SELECT * FROM commerce.service_message m
             WHERE m.tenant_id = p_tenant AND m.conversation_id = c.conversation_id AND (p_before IS NULL OR m.message_id < p_before)
             ORDER BY m.message_id DESC LIMIT p_limit) m;
    SELECT * INTO q FROM commerce._service_policy(p_tenant, c.channel);
    IF EXISTS (SELECT 1 FROM commerce.customer cu WHERE cu.tenant_id = p_tenant AND cu.person_id = c.person_id) THEN
        v_card := commerce.customer_360(p_tenant, c.person_id, NULL, 5);     -- a person with an account
    END IF;
    RETURN jsonb_build_object('conversation', c.conversation_id, 'channel', c.channel, 'account', c.account, 'status', c.status,
               'verified', c.verified, 'assignee', (SELECT s.code FROM commerce.staff s WHERE s.tenant_id = p_tenant AND s.staff_id = c.assignee_id),
               'replies', c.replies, 'last_customer_at', c.last_customer_at,
               'reply_until', c.last_customer_at + q.reply_window, 'replies_left', q.max_replies - c.replies,
               'messages', v_msgs, 'customer', v_card,
               'suggestions', (SELECT a.suggestions FROM commerce.service_answer a
                                WHERE a.tenant_id = p_tenant AND a.conversation_id = c.conversation_id
                                ORDER BY a.answer_id DESC LIMIT 1));
END $$;
COMMENT ON FUNCTION commerce.service_conversation(bigint, text[], bigint, bigint, integer) IS
  'A session for the workbench (3.4.1): state, assignee, what the reply window still allows (reply_until, replies_left), its messages newest first (p_limit before message p_before), the customer card (the CRM 360 of a person with an account, masked as the caller may see) and the latest suggestions.';

-- The replies suggested to staff for a session's last question, logged once per message.
CREATE FUNCTION commerce.service_suggest(p_tenant bigint, p_stores text[], p_conversation bigint, p_channels text[] DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE c commerce.conversation_row; m record; v_sugg jsonb; v_orders jsonb; a commerce.service_answer%ROWTYPE;
BEGIN
    c := commerce._service_conversation(p_tenant, p_stores, p_conversation);
    SELECT * INTO m FROM commerce.service_message
     WHERE tenant_id = p_tenant AND conversation_id = c.conversation_id AND direction = 'in' AND kind = 'text'
     ORDER BY message_id DESC LIMIT 1;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('answer', NULL, 'suggestions', '[]'::jsonb);
    END IF;
    SELECT * INTO a FROM commerce.service_answer WHERE tenant_id = p_tenant AND message_id = m.message_id AND mode = 'suggested';
    IF NOT FOUND THEN
        IF c.verified AND c.person_id IS NOT NULL THEN
            v_orders := commerce._service_orders(p_tenant, c.person_id, m.body, p_channels);
        END IF;
        v_sugg := commerce._service_suggestions(p_tenant, m.body, c.store_id, v_orders);
        INSERT INTO commerce.service_answer (tenant_id, conversation_id, message_id, mode, source, article_id, confidence_bp,
                                             suggestions, orders, created_at)
        VALUES (p_tenant, c.conversation_id, m.message_id, 'suggested', CASE WHEN jsonb_array_length(v_sugg) > 0 THEN 'kb' ELSE 'none' END,
                (SELECT ka.article_id FROM commerce.kb_article ka WHERE ka.tenant_id = p_tenant AND ka.code = v_sugg -> 0 ->> 'article'),
                coalesce((v_sugg -> 0 ->> 'confidence_bp')::integer, 0), v_sugg, v_orders, commerce.now())
        RETURNING * INTO a;
    END IF;
    RETURN jsonb_build_object('answer', a.answer_id, 'question', m.body, 'suggestions', a.suggestions, 'orders', a.orders);
END $$;
COMMENT ON FUNCTION commerce.service_suggest(bigint, text[], bigint, text[]) IS
  'The replies suggested to staff for a session''s last text question (3.4.2 handoff): the three best articles with their texts (an order_status one with the verified customer''s orders filled in) and the customer''s orders (of the staff member''s sales channels when limited to some), logged once per message (service_answer, mode suggested: replying with answer => it accepts it).';

-- A staff member takes a session.
CREATE FUNCTION commerce.service_accept(p_tenant bigint, p_stores text[], p_conversation bigint, p_staff bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE c commerce.conversation_row;
BEGIN
    PERFORM commerce._require(p_staff, 'p_staff');
    c := commerce._service_conversation(p_tenant, p_stores, p_conversation);
    IF c.status = 'human' AND c.assignee_id = p_staff THEN
        RETURN jsonb_build_object('conversation', c.conversation_id, 'status', c.status, 'replayed', true);
    END IF;
    IF c.status IN ('human', 'ended') THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('conversation %s is %s', c.conversation_id,
                  CASE c.status WHEN 'ended' THEN 'ended' ELSE 'taken by ' || (SELECT s.code FROM commerce.staff s
                                                      WHERE s.tenant_id = p_tenant AND s.staff_id = c.assignee_id) END),
            HINT = CASE c.status WHEN 'ended' THEN 'A later message from the customer opens a new session.'
                                 ELSE 'Ask the staff member to release it (service_release).' END;
    END IF;
    UPDATE commerce.conversation SET status = 'human', assignee_id = p_staff, accepted_at = commerce.now(), unread = 0
     WHERE tenant_id = p_tenant AND conversation_id = c.conversation_id;
    RETURN jsonb_build_object('conversation', c.conversation_id, 'status', 'human', 'replayed', false);
END $$;
COMMENT ON FUNCTION commerce.service_accept(bigint, text[], bigint, bigint) IS
  'A staff member takes a session (3.4.1: unhandled, bot or queued -> human): it is theirs until they release or end it. Again by the same staff member: replayed; taken by another or ended: PT409.';

-- A staff member puts a session back in the queue.
CREATE FUNCTION commerce.service_release(p_tenant bigint, p_stores text[], p_conversation bigint, p_staff bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE c commerce.conversation_row;
BEGIN
    PERFORM commerce._require(p_staff, 'p_staff');
    c := commerce._service_conversation(p_tenant, p_stores, p_conversation);
    IF c.status <> 'human' OR c.assignee_id <> p_staff THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('conversation %s is not yours to release', c.conversation_id),
            DETAIL = format('It is %s.', c.status), HINT = 'Only the staff member handling a session puts it back in the queue.';
    END IF;
    UPDATE commerce.conversation SET status = 'queued', assignee_id = NULL, queued_at = commerce.now()
     WHERE tenant_id = p_tenant AND conversation_id = c.conversation_id;
    RETURN jsonb_build_object('conversation', c.conversation_id, 'status', 'queued');
END $$;
COMMENT ON FUNCTION commerce.service_release(bigint, text[], bigint, bigint) IS
  'The staff member handling a session puts it back in the queue (human -> queued) for another to take; PT409 for anyone else.';

-- A session the staff member handles, locked (PT409 when it is not theirs to reply in).
CREATE FUNCTION commerce._service_handled(p_tenant bigint, p_stores text[], p_conversation bigint, p_staff bigint)
RETURNS commerce.conversation_row LANGUAGE plpgsql AS $$
DECLARE c commerce.conversation_row;
BEGIN
    PERFORM commerce._require(p_staff, 'p_staff');
    c := commerce._service_conversation(p_tenant, p_stores, p_conversation);
    IF c.status <> 'human' OR c.assignee_id <> p_staff THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('conversation %s is not yours to reply in', c.conversation_id),
            DETAIL = format('It is %s.', c.status), HINT = 'Take the session first (service_accept).';
    END IF;
    RETURN c;
END $$;
COMMENT ON FUNCTION commerce._service_handled(bigint, text[], bigint, bigint) IS
  'The session a staff member replies in, under its row lock: theirs to see (PT404 otherwise) and taken by them (human, assignee: PT409 otherwise).';

-- A staff member replies in a session (within the window and quota), perhaps with a suggestion.
CREATE FUNCTION commerce.service_reply(p_tenant bigint, p_stores text[], p_conversation bigint, p_staff bigint, p_text text,
                                       p_answer bigint DEFAULT NULL, p_by text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE c commerce.conversation_row; v_msg bigint; a commerce.service_answer%ROWTYPE;
BEGIN
    PERFORM commerce._require(p_text, 'p_text');
    IF length(btrim(p_text)) NOT BETWEEN 1 AND 4000 THEN
        PERFORM commerce._invalid('p_text', format('%s characters', length(p_text)), 'A reply is 1 to 4000 characters.');
    END IF;
    c := commerce._service_handled(p_tenant, p_stores, p_conversation, p_staff);
    IF p_answer IS NOT NULL THEN
        SELECT * INTO a FROM commerce.service_answer
         WHERE tenant_id = p_tenant AND answer_id = p_answer AND conversation_id = c.conversation_id AND mode = 'suggested' FOR UPDATE;
        IF NOT FOUND THEN
            PERFORM commerce._not_found('suggestion', p_answer::text, p_tenant);
        END IF;
    END IF;
    v_msg := commerce._service_send(p_tenant, c.conversation_id, 'staff', p_staff, p_text, p_answer, true);
    IF p_answer IS NOT NULL AND a.accepted IS NULL THEN
        UPDATE commerce.service_answer SET accepted = true, rated_by = left(coalesce(p_by, 'staff'), 200), rated_at = commerce.now()
         WHERE tenant_id = p_tenant AND answer_id = p_answer;
    END IF;
    UPDATE commerce.conversation SET unread = 0 WHERE tenant_id = p_tenant AND conversation_id = c.conversation_id;
    RETURN jsonb_build_object('conversation', c.conversation_id, 'message', v_msg);
END $$;
COMMENT ON FUNCTION commerce.service_reply(bigint, text[], bigint, bigint, text, bigint, text) IS
  'The staff member handling a session replies (3.4.1) within the channel''s reply window and quota (PT409 suggesting a subscription message outside them); naming a suggestion (p_answer, from service_suggest) accepts it. Queued on the outbox topic service.reply.';

-- A staff member sends a quick reply in a session they handle, once per request.
CREATE FUNCTION commerce.service_quick_reply(p_tenant bigint, p_stores text[], p_conversation bigint, p_staff bigint, p_code text,
                                             p_request_id text, p_by text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE c commerce.conversation_row; u jsonb; v_msg bigint; v_key text;
BEGIN
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    v_key := 'service:' || p_conversation || ':' || p_request_id;
    SELECT m.message_id INTO v_msg FROM commerce.service_message m
     WHERE m.tenant_id = p_tenant AND m.conversation_id = p_conversation AND m.direction = 'out' AND m.payload ->> 'use_key' = v_key;
    IF FOUND THEN      -- sent before: the first send, even if the session was released or ended since
        c := commerce._service_conversation(p_tenant, p_stores, p_conversation);
        RETURN jsonb_build_object('conversation', c.conversation_id, 'message', v_msg,
                                  'coupon', (SELECT u.coupon_id FROM commerce.quick_reply_use u WHERE u.tenant_id = p_tenant AND u.use_key = v_key),
                                  'replayed', true);
    END IF;
    c := commerce._service_handled(p_tenant, p_stores, p_conversation, p_staff);
    IF NOT c.verified AND EXISTS (SELECT 1 FROM commerce.quick_reply r WHERE r.tenant_id = p_tenant AND r.code = p_code AND r.kind = 'coupon') THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('conversation %s is not verified for a coupon', c.conversation_id),
            DETAIL = 'The customer came without a verified identity; the coupon would go to whoever the channel says they are.',
            HINT = 'Send the coupon''s claim page as a link, or ask the customer to log in.';
    END IF;
    u := commerce.use_quick_reply(p_tenant, p_stores, p_code, c.person_id, v_key, p_by);
    IF (u ->> 'replayed')::boolean THEN
        SELECT m.message_id INTO v_msg FROM commerce.service_message m
         WHERE m.tenant_id = p_tenant AND m.conversation_id = c.conversation_id AND m.direction = 'out' AND m.payload ->> 'use_key' = v_key;
        RETURN jsonb_build_object('conversation', c.conversation_id, 'message', v_msg, 'coupon', u -> 'coupon', 'replayed', true);
    END IF;
    v_msg := commerce._service_send(p_tenant, c.conversation_id, 'staff', p_staff,
                 CASE u #>> '{content,msgtype}' WHEN 'text' THEN u #>> '{content,text}'
                      WHEN 'link' THEN (u #>> '{content,title}') || ' ' || (u #>> '{content,url}')
                      ELSE u #>> '{content,title}' END,
                 NULL, true, (u -> 'content') || jsonb_build_object('quick_reply', p_code, 'use_key', v_key));
    UPDATE commerce.conversation SET unread = 0 WHERE tenant_id = p_tenant AND conversation_id = c.conversation_id;
    RETURN jsonb_build_object('conversation', c.conversation_id, 'message', v_msg, 'coupon', u -> 'coupon', 'replayed', false);
END $$;
COMMENT ON FUNCTION commerce.service_quick_reply(bigint, text[], bigint, bigint, text, text, text) IS
  'The staff member handling a session sends a quick reply (PR03) in one click, once per request id: its text, link or mini-program card on the outbox topic service.reply, within the reply window and quota; a coupon reply issues the customer a coupon first (a verified session only, PT409 otherwise). A repeat returns the first send (replayed), even after the session moved on.';

-- A session ends.
CREATE FUNCTION commerce.service_end(p_tenant bigint, p_stores text[], p_conversation bigint, p_reason text DEFAULT 'resolved',
                                     p_staff bigint DEFAULT NULL, p_override boolean DEFAULT true)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE c commerce.conversation_row;
BEGIN
    PERFORM commerce._require(p_reason, 'p_reason');
    IF p_reason NOT IN ('resolved', 'staff', 'customer') THEN
        PERFORM commerce._invalid('p_reason', format('reason "%s"', left(p_reason, 32)), 'A session ends resolved, by staff or by the customer.');
    END IF;
    c := commerce._service_conversation(p_tenant, p_stores, p_conversation);
    IF c.status = 'ended' THEN
        RETURN jsonb_build_object('conversation', c.conversation_id, 'status', 'ended', 'reason', c.end_reason, 'replayed', true);
    END IF;
    IF c.status = 'human' AND c.assignee_id IS DISTINCT FROM p_staff AND NOT coalesce(p_override, false) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('conversation %s is not yours to end', c.conversation_id),
            DETAIL = format('%s handles it.', (SELECT s.code FROM commerce.staff s WHERE s.tenant_id = p_tenant AND s.staff_id = c.assignee_id)),
            HINT = 'The staff member handling a session (or HQ) ends it.';
    END IF;
    UPDATE commerce.conversation SET status = 'ended', ended_at = commerce.now(), end_reason = p_reason, unread = 0
     WHERE tenant_id = p_tenant AND conversation_id = c.conversation_id;
    RETURN jsonb_build_object('conversation', c.conversation_id, 'status', 'ended', 'reason', p_reason, 'replayed', false);
END $$;
COMMENT ON FUNCTION commerce.service_end(bigint, text[], bigint, text, bigint, boolean) IS
  'End a session (3.4.1), once: resolved, by staff or by the customer (the channel''s adapter reports a customer closing it). A session a staff member handles only by them (p_staff) unless p_override (HQ; internal callers); PT409 otherwise. A later message opens a new session. Again: the first end, replayed.';

-- The customer rates the bot's answer (the channel's "did this help?").
CREATE FUNCTION commerce.service_feedback(p_tenant bigint, p_answer bigint, p_accepted boolean, p_by text DEFAULT 'customer')
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE a commerce.service_answer%ROWTYPE;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_answer, 'p_answer');
    PERFORM commerce._require(p_accepted, 'p_accepted');
    SELECT * INTO a FROM commerce.service_answer WHERE tenant_id = p_tenant AND answer_id = p_answer AND mode = 'auto' FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('answer', p_answer::text, p_tenant);
    END IF;
    IF a.accepted IS NOT NULL THEN
        RETURN jsonb_build_object('answer', a.answer_id, 'accepted', a.accepted, 'by', a.rated_by, 'replayed', true);
    END IF;
    IF a.source NOT IN ('kb', 'order') THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('answer %s sent no answer to rate', a.answer_id),
            DETAIL = format('Its source is %s.', a.source), HINT = 'Rate the bot''s answers from the knowledge base or the orders.';
    END IF;
    UPDATE commerce.service_answer SET accepted = p_accepted, rated_by = left(coalesce(p_by, 'customer'), 200), rated_at = commerce.now()
     WHERE tenant_id = p_tenant AND answer_id = a.answer_id;
    RETURN jsonb_build_object('answer', a.answer_id, 'accepted', p_accepted, 'by', left(coalesce(p_by, 'customer'), 200), 'replayed', false);
END $$;
COMMENT ON FUNCTION commerce.service_feedback(bigint, bigint, boolean, text) IS
  'The customer rates the bot''s answer (3.4.2: "did this solve it?"), once: the first rating stands (a repeat returns it, replayed). Only answers that sent something (from an article or the orders; PT409 for a handoff or none).';

-- How the inbox and the bot did over a period.
CREATE FUNCTION commerce.service_stats(p_tenant bigint, p_from timestamptz, p_to timestamptz, p_stores text[] DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE v_sessions jsonb; v_answers jsonb;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_from, 'p_from');
    PERFORM commerce._require(p_to, 'p_to');
    IF p_to <= p_from OR p_to - p_from > interval '367 days' THEN
        PERFORM commerce._invalid('p_to', format('%s to %s', p_from, p_to), 'Ask for a period forward of at most 367 days.');
    END IF;
    SELECT jsonb_build_object('sessions', count(*), 'open', count(*) FILTER (WHERE c.status <> 'ended'),
               'ended', count(*) FILTER (WHERE c.status = 'ended'),
               'contained', count(*) FILTER (WHERE c.status = 'ended' AND c.accepted_at IS NULL AND c.queued_at IS NULL),
               'handed_off', count(*) FILTER (WHERE c.queued_at IS NOT NULL),
               'taken', count(*) FILTER (WHERE c.accepted_at IS NOT NULL),
               'missed', count(*) FILTER (WHERE c.status = 'ended' AND c.queued_at IS NOT NULL AND c.accepted_at IS NULL),
               'containment_bp', CASE WHEN count(*) FILTER (WHERE c.status = 'ended') > 0
                   THEN count(*) FILTER (WHERE c.status = 'ended' AND c.accepted_at IS NULL AND c.queued_at IS NULL) * 10000
                        / count(*) FILTER (WHERE c.status = 'ended') END,
               'by_channel', coalesce((SELECT jsonb_object_agg(x.channel, x.n) FROM (
                   SELECT c2.channel, count(*) AS n FROM commerce.conversation c2
                     LEFT JOIN commerce.store s2 ON s2.tenant_id = c2.tenant_id AND s2.store_id = c2.store_id
                    WHERE c2.tenant_id = p_tenant AND c2.opened_at >= p_from AND c2.opened_at < p_to
                      AND (p_stores IS NULL OR s2.code = ANY (p_stores))
                    GROUP BY c2.channel) x), '{}'::jsonb))
      INTO v_sessions
      FROM commerce.conversation c LEFT JOIN commerce.store s ON s.tenant_id = c.tenant_id AND s.store_id = c.store_id
     WHERE c.tenant_id = p_tenant AND c.opened_at >= p_from AND c.opened_at < p_to AND (p_stores IS NULL OR s.code = ANY (p_stores));
    SELECT jsonb_build_object('auto', count(*) FILTER (WHERE a.mode = 'auto'),
               'answered', count(*) FILTER (WHERE a.mode = 'auto' AND a.source IN ('kb', 'order')),
               'orders', count(*) FILTER (WHERE a.mode = 'auto' AND a.source = 'order'),
               'handoffs', count(*) FILTER (WHERE a.mode = 'auto' AND a.source = 'handoff'),
               'not_confident', count(*) FILTER (WHERE a.mode = 'auto' AND a.source = 'none'),
               'accepted', count(*) FILTER (WHERE a.mode = 'auto' AND a.source IN ('kb', 'order') AND a.accepted),
               'rejected', count(*) FILTER (WHERE a.mode = 'auto' AND a.source IN ('kb', 'order') AND NOT a.accepted),
               'unrated', count(*) FILTER (WHERE a.mode = 'auto' AND a.source IN ('kb', 'order') AND a.accepted IS NULL),
               'acceptance_bp', CASE WHEN count(*) FILTER (WHERE a.mode = 'auto' AND a.source IN ('kb', 'order') AND a.accepted IS NOT NULL) > 0
                   THEN count(*) FILTER (WHERE a.mode = 'auto' AND a.source IN ('kb', 'order') AND a.accepted) * 10000
                        / count(*) FILTER (WHERE a.mode = 'auto' AND a.source IN ('kb', 'order') AND a.accepted IS NOT NULL) END,
               'suggested', count(*) FILTER (WHERE a.mode = 'suggested'),
               'suggestions_used', count(*) FILTER (WHERE a.mode = 'suggested' AND a.accepted))
      INTO v_answers
      FROM commerce.service_answer a
      JOIN commerce.conversation c ON c.tenant_id = a.tenant_id AND c.conversation_id = a.conversation_id
      LEFT JOIN commerce.store s ON s.tenant_id = c.tenant_id AND s.store_id = c.store_id
     WHERE a.tenant_id = p_tenant AND a.created_at >= p_from AND a.created_at < p_to AND (p_stores IS NULL OR s.code = ANY (p_stores));
    RETURN jsonb_build_object('sessions', v_sessions, 'answers', v_answers);
END $$;
COMMENT ON FUNCTION commerce.service_stats(bigint, timestamptz, timestamptz, text[]) IS
  'The inbox over a period (3.4.1, 3.4.2; some stores or all): sessions opened, open and ended, contained (ended without ever being queued for or taken by a person), handed off, taken, missed (queued and ended untaken), containment in bp of ended ones, per channel; the bot''s answers (answered from articles or orders, handoffs, not confident), their acceptance (accepted / rated, with unrated apart) and the suggestions staff used.';

-- End the sessions that went idle: the bot's after bot_idle, queued and human ones after human_idle.
CREATE PROCEDURE commerce.service_pump(p_batch integer DEFAULT 10000)
LANGUAGE plpgsql AS $$
DECLARE t record; v_now timestamptz := commerce.now();
BEGIN
    FOR t IN SELECT tenant_id FROM commerce.tenant ORDER BY tenant_id LOOP
        WITH due AS (
            SELECT c.conversation_id, c.status
              FROM commerce.conversation c
              LEFT JOIN commerce.service_policy p ON p.tenant_id = c.tenant_id AND p.channel = c.channel
             WHERE c.tenant_id = t.tenant_id AND c.status <> 'ended'
               AND greatest(c.last_message_at, c.queued_at, c.accepted_at)
                   < v_now - CASE WHEN c.status IN ('unhandled', 'bot') THEN coalesce(p.bot_idle, interval '30 minutes')
                                  ELSE coalesce(p.human_idle, interval '24 hours') END
             ORDER BY c.conversation_id
             LIMIT p_batch
               FOR UPDATE OF c SKIP LOCKED
        )
        UPDATE commerce.conversation c
           SET status = 'ended', ended_at = v_now, end_reason = CASE WHEN due.status IN ('unhandled', 'bot') THEN 'bot_idle' ELSE 'idle' END
          FROM due
         WHERE c.tenant_id = t.tenant_id AND c.conversation_id = due.conversation_id;
        COMMIT;
    END LOOP;
END $$;
COMMENT ON PROCEDURE commerce.service_pump(integer) IS
  'The service job (every minute): ends the sessions that went idle, at most p_batch per tenant a run, one commit per tenant: unhandled and bot sessions after the channel''s bot_idle (bot_idle: the bot answered and the customer said no more, a contained session), queued and human ones after human_idle (idle), each counted from its last message, queueing or taking, whichever is latest. A message after that opens a new session.';

INSERT INTO commerce.job (job_name, schedule, command) VALUES
  ('commerce-service', '* * * * *', 'CALL commerce.service_pump()');
