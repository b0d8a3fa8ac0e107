-- sql/src/community/broadcast.sql: broadcasts to many groups (PR06): the
-- quota checked when scheduled (over-limit targets refused with a clear
-- error), one task per owner fanned out set-based when due, the owners'
-- confirmations and WeCom's per-group results reported back, unconfirmed
-- targets settled at the deadline, the delivery rate; bot reminders (PR09).

-- Set a tenant's community rules.
CREATE FUNCTION commerce.set_community_policy(p_tenant bigint, p_per_day integer DEFAULT 1, p_per_month integer DEFAULT 30,
                                              p_confirm_hours integer DEFAULT 24, p_dead_days integer DEFAULT 7,
                                              p_quit_spike integer DEFAULT 5) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_per_day, 'p_per_day');
    PERFORM commerce._require(p_per_month, 'p_per_month');
    PERFORM commerce._require(p_confirm_hours, 'p_confirm_hours');
    PERFORM commerce._require(p_dead_days, 'p_dead_days');
    PERFORM commerce._require(p_quit_spike, 'p_quit_spike');
    IF p_per_day NOT BETWEEN 1 AND 100 OR p_per_month NOT BETWEEN p_per_day AND 3100 THEN
        PERFORM commerce._invalid('p_per_day', format('%s a day, %s a month', p_per_day, p_per_month),
                                  'A group receives 1 to 100 broadcasts a day and at least as many (at most 3100) a month.');
    END IF;
    IF p_confirm_hours NOT BETWEEN 1 AND 720 OR p_dead_days NOT BETWEEN 1 AND 365 OR p_quit_spike NOT BETWEEN 1 AND 100000 THEN
        PERFORM commerce._invalid('p_confirm_hours', format('%s hours, %s days, %s quits', p_confirm_hours, p_dead_days, p_quit_spike),
                                  'Owners confirm within 1 to 720 hours; a group is dead after 1 to 365 silent days; a spike is 1 to 100000 quits.');
    END IF;
    INSERT INTO commerce.community_policy AS c (tenant_id, broadcasts_per_day, broadcasts_per_month, confirm_hours, dead_days, quit_spike)
    VALUES (p_tenant, p_per_day, p_per_month, p_confirm_hours, p_dead_days, p_quit_spike)
    ON CONFLICT (tenant_id) DO UPDATE
       SET broadcasts_per_day = EXCLUDED.broadcasts_per_day, broadcasts_per_month = EXCLUDED.broadcasts_per_month,
           confirm_hours = EXCLUDED.confirm_hours, dead_days = EXCLUDED.dead_days, quit_spike = EXCLUDED.quit_spike;
END $$;
COMMENT ON FUNCTION commerce.set_community_policy(bigint, integer, integer, integer, integer, integer) IS
  'A tenant''s community rules (PR06, PR07): broadcasts a group may receive per tenant-local day (1 to 100) and month, the hours owners have to confirm a broadcast task (1 to 720), the silent days after which a group is dead (1 to 365), and the quits in a day that make a spike (1 to 100000).';

-- A tenant's community rules, with the defaults.
CREATE FUNCTION commerce._community_policy(p_tenant bigint, OUT per_day integer, OUT per_month integer, OUT confirm_hours integer,
                                           OUT dead_days integer, OUT quit_spike integer)
LANGUAGE sql STABLE AS $$
    SELECT coalesce(max(c.broadcasts_per_day), 1), coalesce(max(c.broadcasts_per_month), 30), coalesce(max(c.confirm_hours), 24),
           coalesce(max(c.dead_days), 7), coalesce(max(c.quit_spike), 5)
      FROM commerce.community_policy c WHERE c.tenant_id = p_tenant;
$$;
COMMENT ON FUNCTION commerce._community_policy(bigint) IS 'A tenant''s community rules (community_policy), with the defaults where it has none.';

-- Check a message's content: WeCom's msgtype objects.
CREATE FUNCTION commerce._community_content(p_content jsonb, p_name text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF jsonb_typeof(p_content) IS DISTINCT FROM 'object' OR length(p_content::text) > 16384
       OR p_content ->> 'msgtype' IS NULL OR p_content ->> 'msgtype' NOT IN ('text', 'image', 'link', 'miniprogram')
       OR (p_content ->> 'msgtype' = 'text' AND length(p_content ->> 'text') NOT BETWEEN 1 AND 4000)
       OR (p_content ->> 'msgtype' = 'image' AND p_content ->> 'media' IS NULL AND p_content ->> 'url' IS NULL)
       OR (p_content ->> 'msgtype' = 'link' AND (p_content ->> 'url' IS NULL OR p_content ->> 'title' IS NULL))
       OR (p_content ->> 'msgtype' = 'miniprogram' AND (p_content ->> 'appid' IS NULL OR p_content ->> 'page' IS NULL
                                                        OR p_content ->> 'title' IS NULL)) THEN
        PERFORM commerce._invalid(p_name, format('content %s', left(coalesce(p_content::text, 'missing'), 100)),
            'Content is {"msgtype": "text", "text": "..."}, {"msgtype": "image", "media" | "url"}, {"msgtype": "link", "url", "title"} or {"msgtype": "miniprogram", "appid", "page", "title"}, at most 16 kB.');
    END IF;
END $$;
COMMENT ON FUNCTION commerce._community_content(jsonb, text) IS
  'Check a group message''s content (22023): text (1 to 4000 characters), image (a media id or URL), link (url, title) or miniprogram (appid, page, title), as WeCom''s group-message task takes them, at most 16 kB.';

-- Schedule a broadcast to many groups, within their quota.
CREATE FUNCTION commerce.schedule_broadcast(p_tenant bigint, p_code text, p_title text, p_content jsonb, p_groups text[],
                                            p_scheduled_at timestamptz, p_partial boolean DEFAULT false,
                                            p_store text DEFAULT NULL, p_by text DEFAULT 'operator')
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE q record; v_day date; v_month date; v_store bigint; v_id bigint; v_over jsonb; v_over_n integer; v_admitted integer;
        v_at timestamptz := coalesce(p_scheduled_at, commerce.now()); v_pick jsonb;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_title, 'p_title');
    PERFORM commerce._require(p_content, 'p_content');
    PERFORM commerce._require(p_groups, 'p_groups');
    PERFORM commerce._require(p_partial, 'p_partial');
    IF p_code !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' OR length(p_title) NOT BETWEEN 1 AND 200 THEN
        PERFORM commerce._invalid('p_code', format('code "%s", title of %s characters', left(p_code, 64), length(p_title)),
                                  'A broadcast code is 1 to 63 letters, digits, _ . -; its title 1 to 200 characters.');
    END IF;
    PERFORM commerce._community_content(p_content, 'p_content');
    IF cardinality(p_groups) NOT BETWEEN 1 AND 10000 OR (SELECT count(DISTINCT x) FROM unnest(p_groups) x) <> cardinality(p_groups)
       OR array_position(p_groups, NULL) IS NOT NULL THEN
        PERFORM commerce._invalid('p_groups', format('%s groups', cardinality(p_groups)), 'A broadcast goes to 1 to 10000 groups, each once.');
    END IF;
    IF NOT isfinite(v_at) OR v_at < commerce.now() - interval '1 minute' OR v_at > commerce.now() + interval '90 days' THEN
        PERFORM commerce._invalid('p_scheduled_at', format('%s', v_at), 'A broadcast goes out now or within 90 days.');
    END IF;
    v_store := commerce._store_ref(p_tenant, p_store);
    IF EXISTS (SELECT 1 FROM commerce.broadcast b WHERE b.tenant_id = p_tenant AND b.code = p_code) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('broadcast "%s" exists', p_code),
            HINT = 'Choose another code; cancel a scheduled broadcast to replace it.';
    END IF;
    SELECT * INTO q FROM commerce._community_policy(p_tenant);
    v_day := commerce._tenant_day(p_tenant, v_at);
    v_month := date_trunc('month', v_day)::date;
    -- one scheduling at a time per tenant: quotas are counted and taken together
    PERFORM pg_advisory_xact_lock(hashtextextended('broadcast:' || p_tenant, 0));
    -- each named group with its sends of that day and month so far (one pass; the checks and the insert read it)
    SELECT jsonb_agg(jsonb_build_object('group_id', g.group_id, 'code', x.code, 'owner', g.owner_userid, 'store_id', g.store_id,
                                        'status', g.status,
                                        'day_n', (SELECT count(*) FROM commerce.broadcast_target t WHERE t.tenant_id = p_tenant AND t.group_id = g.group_id
                                                     AND t.day = v_day AND t.status NOT IN ('refused', 'cancelled')),
                                        'month_n', (SELECT count(*) FROM commerce.broadcast_target t WHERE t.tenant_id = p_tenant AND t.group_id = g.group_id
                                                       AND t.day >= v_month AND t.day < (v_month + interval '1 month')::date
                                                       AND t.status NOT IN ('refused', 'cancelled'))))
      INTO v_pick
      FROM unnest(p_groups) x(code)
      LEFT JOIN commerce.community_group g ON g.tenant_id = p_tenant AND g.code = x.code;
    IF EXISTS (SELECT 1 FROM jsonb_to_recordset(v_pick) p(group_id bigint, status text) WHERE p.group_id IS NULL OR p.status <> 'active') THEN
        PERFORM commerce._invalid('p_groups', format('groups %s', (SELECT string_agg(z.code, ', ') FROM (
                                      SELECT p.code FROM jsonb_to_recordset(v_pick) p(group_id bigint, code text, status text)
                                       WHERE p.group_id IS NULL OR p.status <> 'active' ORDER BY p.code LIMIT 5) z)),
                                  'Name active groups of this tenant.');
    END IF;
    IF p_store IS NOT NULL AND EXISTS (SELECT 1 FROM jsonb_to_recordset(v_pick) p(store_id bigint) WHERE p.store_id IS DISTINCT FROM v_store) THEN
        PERFORM commerce._invalid('p_groups', format('groups of other stores: %s', (SELECT string_agg(z.code, ', ') FROM (
                                      SELECT p.code FROM jsonb_to_recordset(v_pick) p(code text, store_id bigint)
                                       WHERE p.store_id IS DISTINCT FROM v_store ORDER BY p.code LIMIT 5) z)),
                                  'A store''s broadcast goes to its own groups.');
    END IF;
    SELECT count(*), jsonb_agg(jsonb_build_object('group', o.code, 'today', o.day_n, 'this_month', o.month_n) ORDER BY o.code)
           FILTER (WHERE o.rn <= 5)
      INTO v_over_n, v_over
      FROM (SELECT p.*, row_number() OVER (ORDER BY p.code) AS rn
              FROM jsonb_to_recordset(v_pick) p(code text, day_n bigint, month_n bigint)
             WHERE p.day_n >= q.per_day OR p.month_n >= q.per_month) o;
    IF v_over_n > 0 AND NOT p_partial THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('%s of %s groups are over their broadcast quota', v_over_n, cardinality(p_groups)),
            DETAIL = format('A group receives %s a day and %s a month; over it on %s: %s.', q.per_day, q.per_month, v_day, v_over),
            HINT = 'Leave those groups out, choose another day, or pass partial => true to send to the others only.';
    END IF;
    INSERT INTO commerce.broadcast (tenant_id, code, title, content, scheduled_at, confirm_by, store_id, created_by, created_at)
    VALUES (p_tenant, p_code, p_title, p_content, v_at, v_at + make_interval(hours => q.confirm_hours), v_store,
            left(coalesce(p_by, 'operator'), 200), commerce.now())
    RETURNING broadcast_id INTO v_id;
    INSERT INTO commerce.broadcast_target (tenant_id, broadcast_id, group_id, owner, day, status, reason, changed_at)
    SELECT p_tenant, v_id, p.group_id, p.owner, v_day,
           CASE WHEN p.day_n >= q.per_day OR p.month_n >= q.per_month THEN 'refused' ELSE 'admitted' END,
           CASE WHEN p.day_n >= q.per_day THEN format('%s broadcast(s) on %s already (%s a day)', p.day_n, v_day, q.per_day)
                WHEN p.month_n >= q.per_month THEN format('%s broadcast(s) in %s already (%s a month)', p.month_n, to_char(v_month, 'YYYY-MM'), q.per_month) END,
           commerce.now()
      FROM jsonb_to_recordset(v_pick) p(group_id bigint, owner text, day_n bigint, month_n bigint);
    GET DIAGNOSTICS v_admitted = ROW_COUNT;
    RETURN jsonb_build_object('broadcast', p_code, 'scheduled_at', v_at, 'confirm_by', v_at + make_interval(hours => q.confirm_hours),
                              'admitted', v_admitted - v_over_n, 'refused', v_over_n, 'refused_groups', coalesce(v_over, '[]'::jsonb));
END $$;
COMMENT ON FUNCTION commerce.schedule_broadcast(bigint, text, text, jsonb, text[], timestamptz, boolean, text, text) IS
  'Schedule a broadcast (PR06) to 1 to 10000 active groups (a store''s to its own) at p_scheduled_at (now to 90 days ahead), content as WeCom takes it (text, image, link, miniprogram). The quota is checked now, per group and tenant-local day and month of the sending: over it, the call is PT409 naming the groups (nothing changed), or with p_partial the others are admitted and those refused, each with its reason. Returns {broadcast, admitted, refused, refused_groups, confirm_by}.';

-- Cancel a broadcast that has not gone out.
CREATE FUNCTION commerce.cancel_broadcast(p_tenant bigint, p_code text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE b commerce.broadcast%ROWTYPE;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    SELECT * INTO b FROM commerce.broadcast WHERE tenant_id = p_tenant AND code = p_code FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('broadcast', p_code, p_tenant);
    END IF;
    IF b.status <> 'scheduled' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('broadcast "%s" is %s', p_code, b.status),
            HINT = 'Only a broadcast that has not gone out can be cancelled.';
    END IF;
    UPDATE commerce.broadcast_target SET status = 'cancelled', changed_at = commerce.now()
     WHERE tenant_id = p_tenant AND broadcast_id = b.broadcast_id AND status = 'admitted';
    UPDATE commerce.broadcast SET status = 'cancelled', ended_at = commerce.now() WHERE tenant_id = p_tenant AND broadcast_id = b.broadcast_id;
END $$;
COMMENT ON FUNCTION commerce.cancel_broadcast(bigint, text) IS
  'Cancel a scheduled broadcast (its admitted targets give their quota back); PT409 once it went out.';

-- One batch of the broadcast pump: due broadcasts fanned out, one task per owner (per 2000 of its groups).
CREATE FUNCTION commerce.broadcast_release(p_limit integer DEFAULT 100) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE b record; n integer := 0;
BEGIN
    FOR b IN SELECT x.tenant_id, x.broadcast_id, x.code, x.content, x.confirm_by FROM commerce.broadcast x
              WHERE x.status = 'scheduled' AND x.scheduled_at <= commerce.now()
              ORDER BY x.scheduled_at, x.tenant_id, x.broadcast_id
              LIMIT p_limit FOR NO KEY UPDATE SKIP LOCKED LOOP
        n := n + 1;
        -- one message per owner and 2000 of its groups (WeCom's task), one per group of another platform; set-based
        WITH pick AS MATERIALIZED (
            SELECT t.ctid AS tid, t.group_id, g.chat_id, g.platform, t.owner,
                   CASE WHEN g.platform = 'wecom' THEN (row_number() OVER (PARTITION BY t.owner ORDER BY t.group_id) - 1) / 2000
                        ELSE t.group_id END AS part
              FROM commerce.broadcast_target t
              JOIN commerce.community_group g ON g.tenant_id = t.tenant_id AND g.group_id = t.group_id
             WHERE t.tenant_id = b.tenant_id AND t.broadcast_id = b.broadcast_id AND t.status = 'admitted'),
        chunk AS MATERIALIZED (
            SELECT p.*, format('broadcast:%s:%s:%s:%s', b.broadcast_id, p.platform, coalesce(p.owner, ''), p.part) AS key FROM pick p),
        msg AS (
            INSERT INTO commerce.outbox (tenant_id, topic, dedupe_key, payload, available_at, created_at)
            SELECT b.tenant_id, CASE WHEN c.platform = 'wecom' THEN 'wecom.broadcast' ELSE 'community.broadcast' END,
                   c.key,
                   jsonb_build_object('broadcast', b.code, 'platform', c.platform, 'owner', c.owner, 'chat_ids', jsonb_agg(c.chat_id ORDER BY c.group_id),
                                      'content', b.content, 'confirm_by', b.confirm_by),
                   commerce.now(), commerce.now()
              FROM chunk c GROUP BY c.key, c.platform, c.owner
            ON CONFLICT (tenant_id, topic, dedupe_key) DO NOTHING
            RETURNING message_id, dedupe_key)
        -- each target to its task by the task's key, and to its row by the row's address (no plan may scan the targets per row)
        UPDATE commerce.broadcast_target t SET status = 'sent', message_id = m.message_id, changed_at = commerce.now()
          FROM chunk c JOIN msg m ON m.dedupe_key = c.key
         WHERE t.ctid = c.tid AND t.status = 'admitted';
        UPDATE commerce.broadcast SET status = 'sending', sent_at = commerce.now() WHERE tenant_id = b.tenant_id AND broadcast_id = b.broadcast_id;
        PERFORM pg_notify('commerce_outbox', 'wecom.broadcast');
    END LOOP;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce.broadcast_release(integer) IS
  'One batch of the broadcast pump (PR06): up to p_limit due broadcasts, each fanned out set-based in one statement: one outbox message per owner and 2000 of its WeCom groups (wecom.broadcast: the owner''s group-message task), one per group of another platform (community.broadcast); their targets become sent. Returns how many broadcasts.';

-- The adapter reports an owner's task: its id, whether the owner confirmed it, and WeCom's result per group.
CREATE FUNCTION commerce.broadcast_report(p_tenant bigint, p_code text, p_owner text, p_task_id text, p_confirmed boolean,
                                          p_results jsonb DEFAULT '[]') RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE b commerce.broadcast%ROWTYPE; v_changed integer := 0; v_ignored integer := 0; n integer;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_confirmed, 'p_confirmed');
    PERFORM commerce._require(p_results, 'p_results');
    IF length(p_task_id) NOT BETWEEN 1 AND 200 OR length(p_owner) NOT BETWEEN 1 AND 64 THEN
        PERFORM commerce._invalid('p_task_id', 'the task id or owner is empty or too long', 'Report WeCom''s msgid and the owner''s userid.');
    END IF;
    IF jsonb_typeof(p_results) <> 'array' OR jsonb_array_length(p_results) > 10000
       OR EXISTS (SELECT 1 FROM jsonb_array_elements(p_results) x
                   WHERE jsonb_typeof(x) <> 'object' OR jsonb_typeof(x -> 'chat_id') IS DISTINCT FROM 'string'
                      OR x ->> 'status' IS NULL OR x ->> 'status' NOT IN ('delivered', 'failed', 'pending')) THEN
        PERFORM commerce._invalid('p_results', left(p_results::text, 100),
                                  'Results are [{"chat_id": "...", "status": "delivered" | "failed" | "pending"}, ...], at most 10000.');
    END IF;
    -- the broadcast row first, then the owner's targets in group order: the order release, settle and cancel take
    SELECT * INTO b FROM commerce.broadcast WHERE tenant_id = p_tenant AND code = p_code FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('broadcast', p_code, p_tenant);
    END IF;
    PERFORM 1 FROM commerce.broadcast_target t
     WHERE t.tenant_id = p_tenant AND t.broadcast_id = b.broadcast_id AND t.owner IS NOT DISTINCT FROM p_owner
     ORDER BY t.group_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('broadcast task of owner', p_owner, p_tenant);
    END IF;
    UPDATE commerce.broadcast_target SET task_id = p_task_id
     WHERE tenant_id = p_tenant AND broadcast_id = b.broadcast_id AND owner IS NOT DISTINCT FROM p_owner AND task_id IS NULL;
    IF p_confirmed THEN
        UPDATE commerce.broadcast_target SET status = 'confirmed', changed_at = commerce.now()
         WHERE tenant_id = p_tenant AND broadcast_id = b.broadcast_id AND owner IS NOT DISTINCT FROM p_owner AND status = 'sent';
        GET DIAGNOSTICS n = ROW_COUNT;
        v_changed := v_changed + n;
    END IF;
    -- the results in one statement: each reported chat to the owner's target of its group (a hash join)
    WITH r AS (SELECT x ->> 'chat_id' AS chat_id, min(x ->> 'status') AS status FROM jsonb_array_elements(p_results) x
                WHERE x ->> 'status' <> 'pending' GROUP BY 1),
    u AS (
        UPDATE commerce.broadcast_target t SET status = r.status, changed_at = commerce.now()
          FROM commerce.community_group g, r
         WHERE t.tenant_id = p_tenant AND t.broadcast_id = b.broadcast_id AND t.owner IS NOT DISTINCT FROM p_owner
           AND t.status IN ('sent', 'confirmed') AND g.tenant_id = t.tenant_id AND g.group_id = t.group_id AND g.chat_id = r.chat_id
        RETURNING 1)
    SELECT count(*) INTO n FROM u;
    v_changed := v_changed + n;
    -- settled before (a repeated report), or no target of this task
    v_ignored := (SELECT count(DISTINCT x ->> 'chat_id') FROM jsonb_array_elements(p_results) x WHERE x ->> 'status' <> 'pending') - n;
    PERFORM commerce._broadcast_maybe_done(p_tenant, b.broadcast_id);
    RETURN jsonb_build_object('broadcast', p_code, 'owner', p_owner, 'changed', v_changed, 'ignored', v_ignored);
END $$;
COMMENT ON FUNCTION commerce.broadcast_report(bigint, text, text, text, boolean, jsonb) IS
  'The adapter reports an owner''s broadcast task (PR06), from WeCom''s send results: its task id, whether the owner confirmed (sent) it, and per group delivered, failed or pending. Only forward changes apply, so a repeated or late report changes nothing (counted as ignored); a result implies the confirmation. Returns {changed, ignored}.';

-- A broadcast whose targets all settled is done.
CREATE FUNCTION commerce._broadcast_maybe_done(p_tenant bigint, p_broadcast bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE commerce.broadcast b SET status = 'done', ended_at = commerce.now()
     WHERE b.tenant_id = p_tenant AND b.broadcast_id = p_broadcast AND b.status = 'sending'
       AND NOT EXISTS (SELECT 1 FROM commerce.broadcast_target t WHERE t.tenant_id = p_tenant AND t.broadcast_id = p_broadcast
                          AND t.status IN ('admitted', 'sent', 'confirmed'));
    RETURN FOUND;
END $$;
COMMENT ON FUNCTION commerce._broadcast_maybe_done(bigint, bigint) IS 'Mark a sending broadcast done when none of its targets waits any more (once).';

-- One batch of settling: past the deadline, unconfirmed tasks' targets are unconfirmed; confirmed ones without a result a day later failed.
CREATE FUNCTION commerce.broadcast_settle(p_limit integer DEFAULT 100) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE b record; n integer := 0;
BEGIN
    FOR b IN SELECT x.tenant_id, x.broadcast_id, x.confirm_by FROM commerce.broadcast x
              WHERE x.status = 'sending' AND x.confirm_by <= commerce.now()
                AND (x.confirm_by + interval '1 day' <= commerce.now()
                     OR EXISTS (SELECT 1 FROM commerce.broadcast_target t WHERE t.tenant_id = x.tenant_id
                                   AND t.broadcast_id = x.broadcast_id AND t.status = 'sent'))
              ORDER BY x.confirm_by, x.tenant_id, x.broadcast_id
              LIMIT p_limit FOR NO KEY UPDATE SKIP LOCKED LOOP
        n := n + 1;
        PERFORM 1 FROM commerce.broadcast_target t WHERE t.tenant_id = b.tenant_id AND t.broadcast_id = b.broadcast_id
           AND t.status IN ('sent', 'confirmed') ORDER BY t.group_id FOR UPDATE;
        UPDATE commerce.broadcast_target SET status = 'unconfirmed', changed_at = commerce.now()
         WHERE tenant_id = b.tenant_id AND broadcast_id = b.broadcast_id AND status = 'sent';
        IF b.confirm_by + interval '1 day' <= commerce.now() THEN
            UPDATE commerce.broadcast_target SET status = 'failed', reason = NULL, changed_at = commerce.now()
             WHERE tenant_id = b.tenant_id AND broadcast_id = b.broadcast_id AND status = 'confirmed';
        END IF;
        PERFORM commerce._broadcast_maybe_done(b.tenant_id, b.broadcast_id);
    END LOOP;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce.broadcast_settle(integer) IS
  'One batch of settling broadcasts past their confirmation deadline (PR06): targets whose owner never confirmed become unconfirmed; a day after the deadline, confirmed targets WeCom gave no result for count as failed; a broadcast with nothing waiting is done. Takes only broadcasts with something to settle now; returns how many it looked at.';

CREATE PROCEDURE commerce.broadcast_pump(p_batch integer DEFAULT 100, p_max_batches integer DEFAULT 100)
LANGUAGE plpgsql AS $$
BEGIN
    CALL commerce.run_pump('commerce.broadcast_release', p_batch, p_max_batches);
    CALL commerce.run_pump('commerce.broadcast_settle', p_batch, p_max_batches);
END $$;
COMMENT ON PROCEDURE commerce.broadcast_pump(integer, integer) IS
  'The broadcast job (pg_cron, every minute: commerce-broadcasts): fans out due broadcasts and settles those past their confirmation deadline, committed per batch.';

INSERT INTO commerce.job (job_name, schedule, command) VALUES
  ('commerce-broadcasts', '* * * * *', 'CALL commerce.broadcast_pump()');

-- A broadcast's figures: targets per status, the delivery rate, unconfirmed apart.
CREATE FUNCTION commerce.broadcast_stats(p_tenant bigint, p_code text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE b commerce.broadcast%ROWTYPE; v jsonb;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    SELECT * INTO b FROM commerce.broadcast WHERE tenant_id = p_tenant AND code = p_code;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('broadcast', p_code, p_tenant);
    END IF;
    SELECT jsonb_build_object('broadcast', b.code, 'status', b.status, 'scheduled_at', b.scheduled_at, 'confirm_by', b.confirm_by,
               'targets', count(*), 'refused', count(*) FILTER (WHERE t.status = 'refused'),
               'admitted', count(*) FILTER (WHERE t.status NOT IN ('refused', 'cancelled')),
               'waiting', count(*) FILTER (WHERE t.status IN ('admitted', 'sent')),
               'confirmed', count(*) FILTER (WHERE t.status IN ('confirmed', 'delivered', 'failed')),
               'delivered', count(*) FILTER (WHERE t.status = 'delivered'), 'failed', count(*) FILTER (WHERE t.status = 'failed'),
               'unconfirmed', count(*) FILTER (WHERE t.status = 'unconfirmed'), 'cancelled', count(*) FILTER (WHERE t.status = 'cancelled'),
               'delivery_rate_bp', CASE WHEN count(*) FILTER (WHERE t.status IN ('confirmed', 'delivered', 'failed')) > 0
                                        THEN count(*) FILTER (WHERE t.status = 'delivered') * 10000
                                             / count(*) FILTER (WHERE t.status IN ('confirmed', 'delivered', 'failed')) END,
               'owners', count(DISTINCT t.owner))
      INTO v
      FROM commerce.broadcast_target t WHERE t.tenant_id = p_tenant AND t.broadcast_id = b.broadcast_id;
    RETURN v;
END $$;
COMMENT ON FUNCTION commerce.broadcast_stats(bigint, text) IS
  'A broadcast''s figures (PR06): targets, refused by the quota, admitted, still waiting, confirmed by their owners (and then delivered or failed), unconfirmed (shown apart: the owner never sent the task), cancelled; the delivery rate in bp = delivered / admitted-and-confirmed (NULL before any confirmation).';

-- Post reminders in a group at set times (the outbox holds each post until its time).
CREATE FUNCTION commerce.schedule_group_reminder(p_tenant bigint, p_group text, p_kind text, p_text text, p_first_at timestamptz,
                                                 p_every_days integer DEFAULT NULL, p_times integer DEFAULT 1,
                                                 p_by text DEFAULT 'operator') RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE g commerce.community_group%ROWTYPE; v_id bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_group, 'p_group');
    PERFORM commerce._require(p_kind, 'p_kind');
    PERFORM commerce._require(p_text, 'p_text');
    PERFORM commerce._require(p_first_at, 'p_first_at');
    PERFORM commerce._require(p_times, 'p_times');
    IF p_kind NOT IN ('checkin', 'preview', 'custom') OR length(p_text) NOT BETWEEN 1 AND 2000 THEN
        PERFORM commerce._invalid('p_kind', format('kind "%s", %s characters', left(p_kind, 32), length(p_text)),
                                  'A reminder is a checkin, preview or custom text of 1 to 2000 characters.');
    END IF;
    IF p_times NOT BETWEEN 1 AND 366 OR (p_times > 1) <> (p_every_days IS NOT NULL) OR p_every_days NOT BETWEEN 1 AND 31 THEN
        PERFORM commerce._invalid('p_times', format('%s times every %s days', p_times, p_every_days),
                                  'Post once (no p_every_days), or 2 to 366 times every 1 to 31 days.');
    END IF;
    IF NOT isfinite(p_first_at) OR p_first_at < commerce.now() - interval '1 minute' OR p_first_at > commerce.now() + interval '90 days' THEN
        PERFORM commerce._invalid('p_first_at', format('%s', p_first_at), 'The first post is now or within 90 days.');
    END IF;
    SELECT * INTO g FROM commerce.community_group WHERE tenant_id = p_tenant AND code = p_group;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('group', p_group, p_tenant);
    END IF;
    IF g.status <> 'active' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('group "%s" is dismissed', p_group), HINT = 'Remind active groups.';
    END IF;
    INSERT INTO commerce.group_reminder (tenant_id, group_id, kind, text, first_at, every_days, times, created_by, created_at)
    VALUES (p_tenant, g.group_id, p_kind, p_text, p_first_at, p_every_days, p_times, left(coalesce(p_by, 'operator'), 200), commerce.now())
    RETURNING reminder_id INTO v_id;
    INSERT INTO commerce.outbox (tenant_id, topic, dedupe_key, payload, available_at, created_at)
    SELECT p_tenant, 'community.reminder', format('reminder:%s:%s', v_id, n),
           jsonb_build_object('reminder', v_id, 'n', n, 'kind', p_kind, 'platform', g.platform, 'chat_id', g.chat_id, 'group', g.code,
                              'owner', g.owner_userid, 'text', p_text),
           p_first_at + make_interval(days => coalesce(p_every_days, 0) * (n - 1)), commerce.now()
      FROM generate_series(1, p_times) n;
    RETURN v_id;
END $$;
COMMENT ON FUNCTION commerce.schedule_group_reminder(bigint, text, text, text, timestamptz, integer, integer, text) IS
  'Schedule a bot''s posts in a group (PR09): a check-in reminder, an activity preview or a custom text, at p_first_at (now to 90 days ahead) and then every p_every_days, p_times in all (1 to 366). Each post is one outbox message (community.reminder) the outbox holds until its time. Returns the reminder.';

-- Cancel a reminder's posts not yet claimed.
CREATE FUNCTION commerce.cancel_group_reminder(p_tenant bigint, p_reminder bigint) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE n integer;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_reminder, 'p_reminder');
    UPDATE commerce.group_reminder SET cancelled_at = commerce.now()
     WHERE tenant_id = p_tenant AND reminder_id = p_reminder AND cancelled_at IS NULL;
    IF NOT FOUND AND NOT EXISTS (SELECT 1 FROM commerce.group_reminder r WHERE r.tenant_id = p_tenant AND r.reminder_id = p_reminder) THEN
        PERFORM commerce._not_found('reminder', p_reminder::text, p_tenant);
    END IF;
    UPDATE commerce.outbox SET status = 'done', done_at = commerce.now(), last_error = 'cancelled'
     WHERE tenant_id = p_tenant AND topic = 'community.reminder' AND dedupe_key LIKE 'reminder:' || p_reminder || ':%' AND status = 'pending';
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce.cancel_group_reminder(bigint, bigint) IS
  'Cancel a reminder: its posts not yet claimed are closed (done, last_error cancelled). Returns how many posts it stopped.';
