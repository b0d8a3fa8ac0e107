-- sql/src/community/replies.sql: keyword auto-replies in groups (PR08): rules
-- (exact, contains, regex; priority; active hours; scope) evaluated by one
-- function once per group message, no match -> an AI request through the
-- outbox whose answer comes back through a function; every message logged so
-- the resolution rate is measured.

-- Add or change an auto-reply rule.
CREATE FUNCTION commerce.upsert_reply_rule(p_tenant bigint, p_code text, p_match text, p_pattern text, p_reply jsonb,
                                           p_priority integer DEFAULT 0, p_hours_from time DEFAULT NULL, p_hours_to time DEFAULT NULL,
                                           p_groups text[] DEFAULT NULL, p_store text DEFAULT NULL, p_active boolean DEFAULT true)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_store bigint; v_groups bigint[]; v_id bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_match, 'p_match');
    PERFORM commerce._require(p_pattern, 'p_pattern');
    PERFORM commerce._require(p_reply, 'p_reply');
    PERFORM commerce._require(p_priority, 'p_priority');
    PERFORM commerce._require(p_active, 'p_active');
    IF p_code !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' THEN
        PERFORM commerce._invalid('p_code', format('code "%s"', left(p_code, 64)), 'A rule code is 1 to 63 letters, digits, _ . -.');
    END IF;
    IF p_match NOT IN ('exact', 'contains', 'regex') OR length(p_pattern) NOT BETWEEN 1 AND 500 OR p_priority NOT BETWEEN -1000 AND 1000 THEN
        PERFORM commerce._invalid('p_match', format('%s "%s", priority %s', left(p_match, 16), left(p_pattern, 40), p_priority),
                                  'A rule matches exact, contains or regex, a pattern of 1 to 500 characters, with a priority of -1000 to 1000.');
    END IF;
    IF p_match = 'regex' THEN
        BEGIN
            PERFORM '' ~* p_pattern;
        EXCEPTION WHEN invalid_regular_expression THEN
            PERFORM commerce._invalid('p_pattern', format('"%s" is no regular expression', left(p_pattern, 64)),
                                      'Write a PostgreSQL regular expression (it matches ignoring case).');
        END;
    END IF;
    PERFORM commerce._community_content(p_reply, 'p_reply');
    IF (p_hours_from IS NULL) <> (p_hours_to IS NULL) OR p_hours_from = p_hours_to THEN
        PERFORM commerce._invalid('p_hours_from', format('%s to %s', p_hours_from, p_hours_to),
                                  'Give both hours (from > to wraps past midnight) and different ones, or neither for all day.');
    END IF;
    v_store := commerce._store_ref(p_tenant, p_store);
    IF p_groups IS NOT NULL THEN
        SELECT array_agg(g.group_id ORDER BY g.group_id) INTO v_groups FROM commerce.community_group g
         WHERE g.tenant_id = p_tenant AND g.code = ANY (p_groups) AND (v_store IS NULL OR g.store_id = v_store);
        IF cardinality(p_groups) NOT BETWEEN 1 AND 1000
           OR cardinality(v_groups) IS DISTINCT FROM (SELECT count(DISTINCT x) FROM unnest(p_groups) x) THEN
            PERFORM commerce._invalid('p_groups', format('groups %s', left(p_groups::text, 80)),
                                      'Name 1 to 1000 groups that exist (of the rule''s store when it has one).');
        END IF;
    END IF;
    INSERT INTO commerce.reply_rule AS r (tenant_id, code, match, pattern, priority, reply, hours_from, hours_to, group_ids, store_id,
                                          active, updated_at)
    VALUES (p_tenant, p_code, p_match, p_pattern, p_priority, p_reply, p_hours_from, p_hours_to, v_groups, v_store, p_active, commerce.now())
    ON CONFLICT (tenant_id, code) DO UPDATE
       SET match = EXCLUDED.match, pattern = EXCLUDED.pattern, priority = EXCLUDED.priority, reply = EXCLUDED.reply,
           hours_from = EXCLUDED.hours_from, hours_to = EXCLUDED.hours_to, group_ids = EXCLUDED.group_ids,
           store_id = EXCLUDED.store_id, active = EXCLUDED.active, updated_at = EXCLUDED.updated_at
    RETURNING rule_id INTO v_id;
    RETURN v_id;
END $$;
COMMENT ON FUNCTION commerce.upsert_reply_rule(bigint, text, text, text, jsonb, integer, time, time, text[], text, boolean) IS
  'Add or change a keyword auto-reply rule (PR08): match exact (the whole message), contains or regex (case-insensitive; checked to compile), the pattern (1 to 500 characters), the reply content, the priority (-1000 to 1000; the highest matching rule answers), the tenant-local hours it answers in (from > to wraps past midnight), and its scope: some groups, a store''s groups, or all. Returns the rule.';

-- The rule that answers a message in a group at a moment, if any.
CREATE FUNCTION commerce._reply_rule_for(p_tenant bigint, p_group bigint, p_store bigint, p_text text, p_at timestamptz)
RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT r.rule_id
      FROM commerce.reply_rule r,
           (SELECT (p_at AT TIME ZONE t.time_zone)::time AS local FROM commerce.tenant t WHERE t.tenant_id = p_tenant) n
     WHERE r.tenant_id = p_tenant AND r.active
       AND (r.group_ids IS NULL OR p_group = ANY (r.group_ids))
       AND (r.store_id IS NULL OR r.store_id = p_store)
       AND (r.hours_from IS NULL
            OR CASE WHEN r.hours_from < r.hours_to THEN n.local >= r.hours_from AND n.local < r.hours_to
                    ELSE n.local >= r.hours_from OR n.local < r.hours_to END)
       AND CASE r.match WHEN 'exact' THEN lower(btrim(p_text)) = lower(btrim(r.pattern))
                        WHEN 'contains' THEN strpos(lower(p_text), lower(r.pattern)) > 0
                        ELSE p_text ~* r.pattern END
     ORDER BY r.priority DESC, r.rule_id
     LIMIT 1;
$$;
COMMENT ON FUNCTION commerce._reply_rule_for(bigint, bigint, bigint, text, timestamptz) IS
  'The auto-reply rule that answers a message (PR08): active, in scope (the group, its store, or all), in its tenant-local hours, matching (exact ignoring case and surrounding spaces, contains ignoring case, or the regex ignoring case); the highest priority wins, ties by age. NULL: none.';

-- Queue the bot's reply to a group message (a rule's or the AI's), once per log row.
CREATE FUNCTION commerce._queue_group_reply(p_tenant bigint, p_group bigint, p_log bigint, p_reply_to text, p_member text,
                                            p_content jsonb, p_by text) RETURNS bigint
LANGUAGE sql AS $$
    SELECT commerce.enqueue(p_tenant, CASE g.platform WHEN 'wecom' THEN 'wecom.group_message' ELSE 'community.group_message' END,
               jsonb_build_object('platform', g.platform, 'chat_id', g.chat_id, 'group', g.code, 'owner', g.owner_userid,
                                  'reply_to', p_reply_to, 'member', p_member, 'content', p_content)
               || CASE WHEN p_by IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('by', p_by) END,
               'reply:' || p_log)
      FROM commerce.community_group g WHERE g.tenant_id = p_tenant AND g.group_id = p_group;
$$;
COMMENT ON FUNCTION commerce._queue_group_reply(bigint, bigint, bigint, text, text, jsonb, text) IS
  'Queue the bot''s reply to a group message (PR08) on wecom.group_message or community.group_message, replying to it, once per reply_log row (dedupe key reply:<log>); p_by ai marks the AI''s.';

-- The bot is asked to answer a group message: a rule, else an AI request; once per message.
CREATE FUNCTION commerce.auto_reply(p_tenant bigint, p_platform text, p_chat_id text, p_message_key text, p_member text, p_text text,
                                    p_at timestamptz DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE g commerce.community_group%ROWTYPE; l commerce.reply_log%ROWTYPE; v_rule bigint; v_reply jsonb; v_msg bigint;
        v_at timestamptz := coalesce(p_at, commerce.now());
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_platform, 'p_platform');
    PERFORM commerce._require(p_chat_id, 'p_chat_id');
    PERFORM commerce._require(p_message_key, 'p_message_key');
    PERFORM commerce._require(p_member, 'p_member');
    PERFORM commerce._require(p_text, 'p_text');
    IF length(p_message_key) NOT BETWEEN 1 AND 200 OR length(p_member) NOT BETWEEN 1 AND 128 OR length(p_text) NOT BETWEEN 1 AND 2000 THEN
        PERFORM commerce._invalid('p_text', 'the message id, member or text is empty or too long',
                                  'A message id is 1 to 200 characters, a member id 1 to 128, a text 1 to 2000.');
    END IF;
    IF NOT isfinite(v_at) OR v_at > commerce.now() + interval '1 hour' THEN
        PERFORM commerce._invalid('p_at', format('%s', v_at), 'A message was sent at a finite time, not in the future.');
    END IF;
    SELECT * INTO g FROM commerce.community_group WHERE tenant_id = p_tenant AND platform = p_platform AND chat_id = p_chat_id;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('group', p_platform || ':' || p_chat_id, p_tenant);
    END IF;
    -- once per message: a retried webhook finds the first answer
    v_rule := commerce._reply_rule_for(p_tenant, g.group_id, g.store_id, p_text, v_at);
    INSERT INTO commerce.reply_log (tenant_id, group_id, message_key, member_key, text, rule_id, outcome, at, answered_at)
    VALUES (p_tenant, g.group_id, p_message_key, p_member, p_text, v_rule,
            CASE WHEN v_rule IS NULL THEN 'ai_pending' ELSE 'rule' END, v_at, CASE WHEN v_rule IS NOT NULL THEN commerce.now() END)
    ON CONFLICT (tenant_id, group_id, message_key) DO NOTHING
    RETURNING * INTO l;
    IF l.log_id IS NULL THEN
        SELECT * INTO l FROM commerce.reply_log WHERE tenant_id = p_tenant AND group_id = g.group_id AND message_key = p_message_key;
        RETURN jsonb_build_object('log', l.log_id, 'outcome', l.outcome, 'rule', (SELECT r.code FROM commerce.reply_rule r
                                  WHERE r.tenant_id = p_tenant AND r.rule_id = l.rule_id), 'message', l.reply_message_id, 'replayed', true);
    END IF;
    IF v_rule IS NOT NULL THEN
        SELECT reply INTO v_reply FROM commerce.reply_rule WHERE tenant_id = p_tenant AND rule_id = v_rule;
        v_msg := commerce._queue_group_reply(p_tenant, g.group_id, l.log_id, p_message_key, p_member, v_reply, NULL);
        UPDATE commerce.reply_log SET reply_message_id = v_msg WHERE tenant_id = p_tenant AND log_id = l.log_id;
        RETURN jsonb_build_object('log', l.log_id, 'outcome', 'rule', 'rule', (SELECT r.code FROM commerce.reply_rule r
                                  WHERE r.tenant_id = p_tenant AND r.rule_id = v_rule), 'message', v_msg, 'replayed', false);
    END IF;
    v_msg := commerce.enqueue(p_tenant, 'ai.request',
                 jsonb_build_object('kind', 'group_reply', 'log', l.log_id, 'question', p_text, 'group', g.code, 'member', p_member,
                                    'store', (SELECT s.code FROM commerce.store s WHERE s.tenant_id = p_tenant AND s.store_id = g.store_id)),
                 'ai:' || l.log_id);
    RETURN jsonb_build_object('log', l.log_id, 'outcome', 'ai_pending', 'rule', NULL, 'message', v_msg, 'replayed', false);
END $$;
COMMENT ON FUNCTION commerce.auto_reply(bigint, text, text, text, text, text, timestamptz) IS
  'The bot is asked to answer a group message (PR08), once per (group, platform message id): the rule that matches (_reply_rule_for) answers at once (outbox wecom.group_message or community.group_message, replying to the message); with none, an AI request goes out (outbox ai.request) and its answer comes back through ai_answer. Every message is logged (reply_log). A retried webhook returns the first outcome with replayed true.';

-- The AI's answer to a request comes back: sent, or none (handed to a person).
CREATE FUNCTION commerce.ai_answer(p_tenant bigint, p_log bigint, p_answer jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE l commerce.reply_log%ROWTYPE; v_msg bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_log, 'p_log');
    IF p_answer IS NOT NULL THEN
        PERFORM commerce._community_content(p_answer, 'p_answer');
    END IF;
    SELECT * INTO l FROM commerce.reply_log WHERE tenant_id = p_tenant AND log_id = p_log FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('reply request', p_log::text, p_tenant);
    END IF;
    IF l.outcome <> 'ai_pending' THEN
        RETURN jsonb_build_object('log', l.log_id, 'outcome', l.outcome, 'message', l.reply_message_id, 'replayed', true);
    END IF;
    IF p_answer IS NOT NULL THEN
        v_msg := commerce._queue_group_reply(p_tenant, l.group_id, l.log_id, l.message_key, l.member_key, p_answer, 'ai');
    END IF;
    UPDATE commerce.reply_log SET outcome = CASE WHEN p_answer IS NULL THEN 'ai_unanswered' ELSE 'ai_answered' END,
           reply_message_id = v_msg, answered_at = commerce.now()
     WHERE tenant_id = p_tenant AND log_id = l.log_id;
    RETURN jsonb_build_object('log', l.log_id, 'outcome', CASE WHEN p_answer IS NULL THEN 'ai_unanswered' ELSE 'ai_answered' END,
                              'message', v_msg, 'replayed', false);
END $$;
COMMENT ON FUNCTION commerce.ai_answer(bigint, bigint, jsonb) IS
  'The AI adapter answers a request of auto_reply (PR08): a message content is sent to the group as the reply (ai_answered); NULL means it has no answer and the message is left to a person (ai_unanswered). Once: a repeat returns the first outcome with replayed true.';

-- The resolution rate of a period.
CREATE FUNCTION commerce.reply_stats(p_tenant bigint, p_from timestamptz, p_to timestamptz, p_store bigint DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE v jsonb;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_from, 'p_from');
    PERFORM commerce._require(p_to, 'p_to');
    IF p_to <= p_from OR p_to - p_from > interval '367 days' THEN
        PERFORM commerce._invalid('p_to', format('%s to %s', p_from, p_to), 'Ask for a period forward of at most 367 days.');
    END IF;
    SELECT jsonb_build_object('messages', count(*), 'rule', count(*) FILTER (WHERE l.outcome = 'rule'),
               'ai_answered', count(*) FILTER (WHERE l.outcome = 'ai_answered'),
               'ai_unanswered', count(*) FILTER (WHERE l.outcome = 'ai_unanswered'),
               'ai_pending', count(*) FILTER (WHERE l.outcome = 'ai_pending'),
               'resolution_rate_bp', CASE WHEN count(*) FILTER (WHERE l.outcome <> 'ai_pending') > 0
                                          THEN count(*) FILTER (WHERE l.outcome IN ('rule', 'ai_answered')) * 10000
                                               / count(*) FILTER (WHERE l.outcome <> 'ai_pending') END,
               'rules', coalesce((SELECT jsonb_object_agg(x.code, x.n) FROM (
                                     SELECT r.code, count(*) AS n FROM commerce.reply_log l2
                                       JOIN commerce.reply_rule r ON r.tenant_id = l2.tenant_id AND r.rule_id = l2.rule_id
                                       JOIN commerce.community_group g2 ON g2.tenant_id = l2.tenant_id AND g2.group_id = l2.group_id
                                      WHERE l2.tenant_id = p_tenant AND l2.at >= p_from AND l2.at < p_to
                                        AND (p_store IS NULL OR g2.store_id = p_store)
                                      GROUP BY r.code) x), '{}'::jsonb))
      INTO v
      FROM commerce.reply_log l JOIN commerce.community_group g ON g.tenant_id = l.tenant_id AND g.group_id = l.group_id
     WHERE l.tenant_id = p_tenant AND l.at >= p_from AND l.at < p_to AND (p_store IS NULL OR g.store_id = p_store);
    RETURN v;
END $$;
COMMENT ON FUNCTION commerce.reply_stats(bigint, timestamptz, timestamptz, bigint) IS
  'The auto-replies of a period (PR08; one store''s groups, or all): messages, answered by a rule, by the AI, unanswered (left to a person), still waiting for the AI, the resolution rate in bp = (rule + AI answered) / settled, and the hits per rule.';
