-- sql/src/service/api.sql: the one inbox for HTTP clients: channel adapters
-- (services) deliver customers' messages and ratings; store staff and HQ
-- work the inbox (their stores' sessions), take, reply, release and end
-- sessions and read suggestions and statistics; HQ keeps the knowledge base
-- and the channels' rules.

-- The stores a staff member works the inbox for: one named store (theirs), else all theirs (NULL: every store).
CREATE FUNCTION commerce._service_stores(a commerce.actor, p_store text) RETURNS text[]
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_store IS NOT NULL THEN
        PERFORM commerce._actor_scope(a, p_store, NULL);
        RETURN ARRAY[p_store];
    END IF;
    RETURN a.stores;
END $$;
COMMENT ON FUNCTION commerce._service_stores(commerce.actor, text) IS
  'The stores an inbox call covers: the one named (42501 outside the caller''s stores), else the caller''s stores (NULL: every store, and the sessions of none).';

CREATE FUNCTION commerce_api.service_message(event jsonb)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.service_message', '{service}');
BEGIN
    RETURN commerce.service_ingest(a.tenant_id, service_message.event);
END $$;
REVOKE ALL ON FUNCTION commerce_api.service_message(jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.service_message(jsonb) IS
  'A channel adapter delivers a customer''s message (3.4.1): {channel (miniprogram, h5, taobao, douyin, wecom_kf), account, message_id, user, kind, text, payload, sent_at, store, verified, identities}. Once per channel message id (a retry returns the first outcome, replayed); the bot answers first (3.4.2). Returns {conversation, message, status, answer, replayed}.';

CREATE FUNCTION commerce_api.service_feedback(answer bigint, accepted boolean)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.service_feedback', '{service}');
BEGIN
    RETURN commerce.service_feedback(a.tenant_id, service_feedback.answer, service_feedback.accepted, 'customer');
END $$;
REVOKE ALL ON FUNCTION commerce_api.service_feedback(bigint, boolean) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.service_feedback(bigint, boolean) IS
  'A channel adapter reports the customer''s rating of the bot''s answer (the answer id of the service.reply message): accepted or not, once.';

CREATE FUNCTION commerce_api.service_inbox(status text[] DEFAULT NULL, store text DEFAULT NULL, before_at timestamptz DEFAULT NULL,
                                           before_conversation bigint DEFAULT NULL, page_size integer DEFAULT 50)
RETURNS SETOF commerce_api.inbox_item LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.service_inbox', '{store,operator}');
BEGIN
    RETURN QUERY SELECT * FROM commerce.service_inbox(a.tenant_id, commerce._service_stores(a, service_inbox.store),
                                                      service_inbox.status, service_inbox.before_at, service_inbox.before_conversation,
                                                      service_inbox.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_api.service_inbox(text[], text, timestamptz, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.service_inbox(text[], text, timestamptz, bigint, integer) IS
  'The inbox (3.4.1): the sessions of every channel, latest message first, in some states (NULL: all), of one store or all the caller''s (store staff their stores'', HQ all), page_size (1 to 500) at a time; pass the last one''s last_message_at and id as before_at and before_conversation for the next page (before is PostGraphile''s own cursor).';

CREATE FUNCTION commerce_api.service_conversation(conversation bigint, before_message bigint DEFAULT NULL, page_size integer DEFAULT 50)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.service_conversation', '{store,operator}');
BEGIN
    RETURN commerce.service_conversation(a.tenant_id, a.stores, service_conversation.conversation, service_conversation.before_message,
                                         service_conversation.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_api.service_conversation(bigint, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.service_conversation(bigint, bigint, integer) IS
  'A session on the workbench (3.4.1): state, assignee, what the reply window still allows, its messages newest first (page_size before message before_message), the customer card (CRM 360, masked unless the caller reads PII) and the latest suggestions. Another store''s session is PT404.';

CREATE FUNCTION commerce_api.service_suggest(conversation bigint)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.service_suggest', '{store,operator}');
BEGIN
    RETURN commerce.service_suggest(a.tenant_id, a.stores, service_suggest.conversation, a.channels);
END $$;
REVOKE ALL ON FUNCTION commerce_api.service_suggest(bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.service_suggest(bigint) IS
  'The replies suggested for a session''s last question (3.4.2): the three best knowledge-base articles with their texts (order questions filled in with the verified customer''s orders) and the orders; pass its answer id to service_reply when you use one.';

CREATE FUNCTION commerce_api.service_accept(conversation bigint)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.service_accept', '{store,operator}');
BEGIN
    RETURN commerce.service_accept(a.tenant_id, a.stores, service_accept.conversation, a.staff_id);
END $$;
REVOKE ALL ON FUNCTION commerce_api.service_accept(bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.service_accept(bigint) IS
  'Take a session (3.4.1): the caller handles it until releasing or ending it. PT409 when another staff member has it or it ended.';

CREATE FUNCTION commerce_api.service_release(conversation bigint)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.service_release', '{store,operator}');
BEGIN
    RETURN commerce.service_release(a.tenant_id, a.stores, service_release.conversation, a.staff_id);
END $$;
REVOKE ALL ON FUNCTION commerce_api.service_release(bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.service_release(bigint) IS
  'Put a session you handle back in the queue (3.4.1) for another staff member.';

CREATE FUNCTION commerce_api.service_reply(conversation bigint, text text, suggestion bigint DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.service_reply', '{store,operator}');
BEGIN
    RETURN commerce.service_reply(a.tenant_id, a.stores, service_reply.conversation, a.staff_id, service_reply.text,
                                  service_reply.suggestion, commerce._api_by(a));
END $$;
REVOKE ALL ON FUNCTION commerce_api.service_reply(bigint, text, bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.service_reply(bigint, text, bigint) IS
  'Reply in a session you handle (3.4.1), within the channel''s reply window and quota (WeCom customer service: 5 replies within 48 hours of the customer''s last message; outside them PT409 suggests a subscription message). Naming the suggestion you used (service_suggest''s answer id) accepts it. Returns {conversation, message}.';

CREATE FUNCTION commerce_api.service_end(conversation bigint, reason text DEFAULT 'resolved')
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.service_end', '{store,operator}');
BEGIN
    RETURN commerce.service_end(a.tenant_id, a.stores, service_end.conversation, service_end.reason, a.staff_id, a.kind = 'operator');
END $$;
REVOKE ALL ON FUNCTION commerce_api.service_end(bigint, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.service_end(bigint, text) IS
  'End a session (3.4.1): resolved, staff or customer. A session a staff member handles is theirs to end (or HQ''s); once; a later message from the customer opens a new session.';

CREATE FUNCTION commerce_api.service_stats(from_at timestamptz, to_at timestamptz, store text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.service_stats', '{store,operator}');
BEGIN
    RETURN commerce.service_stats(a.tenant_id, service_stats.from_at, service_stats.to_at, commerce._service_stores(a, service_stats.store));
END $$;
REVOKE ALL ON FUNCTION commerce_api.service_stats(timestamptz, timestamptz, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.service_stats(timestamptz, timestamptz, text) IS
  'The inbox over a period (3.4.1, 3.4.2): sessions, containment (ended without a person), handoffs, missed handoffs, per channel; the bot''s answers and their acceptance, suggestions used. Store staff their stores'', HQ all or one store.';

CREATE FUNCTION commerce_api.upsert_kb_article(code text, kind text, title text, questions text[], answer text,
                                               store text DEFAULT NULL, active boolean DEFAULT true)
RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.upsert_kb_article', '{operator}');
        v_old text;
BEGIN
    PERFORM commerce._actor_scope(a, upsert_kb_article.store, NULL);
    IF a.stores IS NOT NULL THEN      -- HQ staff limited to stores: never another store's or every store's article
        SELECT coalesce(s.code, '') INTO v_old FROM commerce.kb_article k LEFT JOIN commerce.store s ON s.tenant_id = k.tenant_id AND s.store_id = k.store_id
         WHERE k.tenant_id = a.tenant_id AND k.code = upsert_kb_article.code;
        IF FOUND THEN
            PERFORM commerce._actor_scope(a, nullif(v_old, ''), NULL);
        END IF;
    END IF;
    RETURN commerce.upsert_kb_article(a.tenant_id, upsert_kb_article.code, upsert_kb_article.kind, upsert_kb_article.title,
                                      upsert_kb_article.questions, upsert_kb_article.answer, upsert_kb_article.store,
                                      upsert_kb_article.active);
END $$;
REVOKE ALL ON FUNCTION commerce_api.upsert_kb_article(text, text, text, text[], text, text, boolean) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.upsert_kb_article(text, text, text, text[], text, text, boolean) IS
  'HQ adds or changes a knowledge-base article (3.4.2): code, kind (answer, order_status, handoff), title, 1 to 50 questions customers ask it with, the answer, the store it is for (NULL: all), active. Indexed at once. Returns its id.';

CREATE FUNCTION commerce_api.kb_search(question text, store text DEFAULT NULL, page_size integer DEFAULT 5)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.kb_search', '{store,operator}');
        v_store bigint;
BEGIN
    PERFORM commerce._require(kb_search.question, 'question');
    IF length(kb_search.question) NOT BETWEEN 1 AND 2000 OR kb_search.page_size IS NULL OR kb_search.page_size NOT BETWEEN 1 AND 20 THEN
        PERFORM commerce._invalid('question', format('%s characters, page of %s', length(kb_search.question), kb_search.page_size),
                                  'Ask a question of 1 to 2000 characters for 1 to 20 articles.');
    END IF;
    v_store := commerce._store_ref(a.tenant_id, (commerce._service_stores(a, kb_search.store))[1]);
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object('article', k.code, 'kind', k.kind, 'title', ka.title, 'answer', ka.answer,
                                                         'confidence_bp', k.confidence_bp, 'score', round(k.score::numeric, 3))
                                      ORDER BY k.score DESC, k.article_id), '[]'::jsonb)
              FROM commerce.kb_match(a.tenant_id, kb_search.question, v_store, kb_search.page_size) k
              JOIN commerce.kb_article ka ON ka.tenant_id = a.tenant_id AND ka.article_id = k.article_id);
END $$;
REVOKE ALL ON FUNCTION commerce_api.kb_search(text, text, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.kb_search(text, text, integer) IS
  'Search the knowledge base as the bot does (3.4.2): the best articles for a question (of a store and every store), with their answers, confidence in bp and score.';

CREATE FUNCTION commerce_api.set_service_policy(channel text, reply_window interval, max_replies integer, bot boolean DEFAULT true,
                                                answer_min_bp integer DEFAULT 1200, bot_idle interval DEFAULT interval '30 minutes',
                                                human_idle interval DEFAULT interval '24 hours')
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.set_service_policy', '{operator}');
BEGIN
    PERFORM commerce._actor_scope(a, NULL, NULL);     -- a tenant-wide rule: HQ staff without a store list
    PERFORM commerce.set_service_policy(a.tenant_id, set_service_policy.channel, set_service_policy.reply_window,
                                        set_service_policy.max_replies, set_service_policy.bot, set_service_policy.answer_min_bp,
                                        set_service_policy.bot_idle, set_service_policy.human_idle);
END $$;
REVOKE ALL ON FUNCTION commerce_api.set_service_policy(text, interval, integer, boolean, integer, interval, interval) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.set_service_policy(text, interval, integer, boolean, integer, interval, interval) IS
  'HQ (without a store list: the rules are tenant-wide) sets a channel''s customer-service rules (3.4.1): the reply window and the replies allowed in it (NULL: none; WeCom customer service: at most its own 48 hours and 5), whether the bot answers first and the confidence it needs, and when idle sessions end.';

CREATE FUNCTION commerce_api.service_quick_reply(conversation bigint, code text, request_id text)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.service_quick_reply', '{store,operator}');
BEGIN
    RETURN commerce.service_quick_reply(a.tenant_id, a.stores, service_quick_reply.conversation, a.staff_id, service_quick_reply.code,
                                        service_quick_reply.request_id, commerce._api_by(a));
END $$;
REVOKE ALL ON FUNCTION commerce_api.service_quick_reply(bigint, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.service_quick_reply(bigint, text, text) IS
  'Send a quick reply (PR03) in a session you handle, in one click and once per request_id: its text, link or mini-program card, within the reply window; a coupon reply issues the customer a coupon. Returns {conversation, message, coupon, replayed}.';
