-- sql/src/community/activity.sql: group activity (PR07): a daily snapshot per
-- group (members at the end of the day, joins and quits from the member
-- events, speakers and messages as the adapter reports them from WeCom's
-- message archive), the lurker rate, and dead-group and quit-spike alerts
-- once per window; the nightly job.

-- The snapshot of every group of a tenant for one tenant-local day, from the member events (recomputable).
CREATE FUNCTION commerce.group_day_snapshot(p_tenant bigint, p_day date) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE t commerce.tenant_row := commerce._tenant(p_tenant); v_from timestamptz; v_to timestamptz; n integer;
BEGIN
    PERFORM commerce._require(p_day, 'p_day');
    IF p_day >= commerce._tenant_day(p_tenant, commerce.now()) THEN
        PERFORM commerce._invalid('p_day', format('%s has not ended', p_day), 'Snapshot a day that is over.');
    END IF;
    v_from := p_day::timestamp AT TIME ZONE t.time_zone;
    v_to := (p_day + 1)::timestamp AT TIME ZONE t.time_zone;
    INSERT INTO commerce.group_day AS d (tenant_id, group_id, day, members, joins, quits)
    SELECT g.tenant_id, g.group_id, p_day,
           greatest(count(*) FILTER (WHERE e.kind = 'join' AND e.at < v_to) - count(*) FILTER (WHERE e.kind = 'quit' AND e.at < v_to), 0),
           count(*) FILTER (WHERE e.kind = 'join' AND e.at >= v_from AND e.at < v_to),
           count(*) FILTER (WHERE e.kind = 'quit' AND e.at >= v_from AND e.at < v_to)
      FROM commerce.community_group g
      LEFT JOIN commerce.group_member_event e ON e.tenant_id = g.tenant_id AND e.group_id = g.group_id AND e.at < v_to
     WHERE g.tenant_id = p_tenant AND g.created_at < v_to AND (g.dismissed_at IS NULL OR g.dismissed_at >= v_from)
     GROUP BY g.tenant_id, g.group_id
    ON CONFLICT (tenant_id, group_id, day) DO UPDATE
       SET members = EXCLUDED.members, joins = EXCLUDED.joins, quits = EXCLUDED.quits;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce.group_day_snapshot(bigint, date) IS
  'The day''s snapshot of every group of a tenant that existed that day (PR07): members at its end, joins and quits during it (tenant-local), from group_member_event; reported speakers and messages are kept. Recomputes a day already stored. Returns the groups.';

-- The adapter reports a day's speakers and messages per group (from WeCom's message archive).
CREATE FUNCTION commerce.report_group_activity(p_tenant bigint, p_day date, p_rows jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v_known integer; v_unknown integer;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_day, 'p_day');
    PERFORM commerce._require(p_rows, 'p_rows');
    IF p_day >= commerce._tenant_day(p_tenant, commerce.now()) OR p_day < commerce._tenant_day(p_tenant, commerce.now()) - 400 THEN
        PERFORM commerce._invalid('p_day', format('%s', p_day), 'Report a day that is over, within the last 400 days.');
    END IF;
    IF jsonb_typeof(p_rows) <> 'array' OR jsonb_array_length(p_rows) > 100000
       OR EXISTS (SELECT 1 FROM jsonb_array_elements(p_rows) x
                   WHERE jsonb_typeof(x) <> 'object' OR jsonb_typeof(x -> 'chat_id') IS DISTINCT FROM 'string'
                      OR jsonb_typeof(x -> 'messages') IS DISTINCT FROM 'number' OR jsonb_typeof(x -> 'speakers') IS DISTINCT FROM 'number'
                      OR (x ->> 'messages') !~ '^[0-9]{1,9}$' OR (x ->> 'speakers') !~ '^[0-9]{1,9}$'
                      OR (x ->> 'speakers')::integer > (x ->> 'messages')::integer
                      OR (x ? 'platform' AND x ->> 'platform' NOT IN ('wecom', 'wechat', 'discord', 'other'))) THEN
        PERFORM commerce._invalid('p_rows', left(p_rows::text, 100),
            'Rows are [{"chat_id": "...", "platform": "wecom" (default), "messages": n, "speakers": n <= messages}, ...], at most 100000.');
    END IF;
    -- the day's member figures first (kept exact from the events), then the reported ones
    PERFORM commerce.group_day_snapshot(p_tenant, p_day);
    WITH r AS (
        SELECT g.group_id, (x ->> 'messages')::integer AS messages, (x ->> 'speakers')::integer AS speakers
          FROM jsonb_array_elements(p_rows) x
          JOIN commerce.community_group g ON g.tenant_id = p_tenant AND g.platform = coalesce(x ->> 'platform', 'wecom')
                                         AND g.chat_id = x ->> 'chat_id'),
    u AS (
        UPDATE commerce.group_day d SET messages = r.messages, speakers = r.speakers, reported_at = commerce.now()
          FROM r WHERE d.tenant_id = p_tenant AND d.group_id = r.group_id AND d.day = p_day
        RETURNING d.group_id)
    SELECT count(*) INTO v_known FROM u;
    v_unknown := jsonb_array_length(p_rows) - v_known;
    -- a day reported after the nightly job is checked here (an alert is raised once whoever checks first)
    RETURN jsonb_build_object('day', p_day, 'applied', v_known, 'unknown', v_unknown,
                              'alerts', commerce.community_alerts(p_tenant, p_day));
END $$;
COMMENT ON FUNCTION commerce.report_group_activity(bigint, date, jsonb) IS
  'The adapter reports a finished day''s speakers and messages per group (PR07; WeCom''s message archive, or another platform''s figures): [{"chat_id", "platform", "messages", "speakers"}]. The day''s snapshot is (re)computed first, and the day''s alerts checked after; a later report of the same day replaces the figures. Returns {applied, unknown (chats of no known group), alerts (new)}.';

-- Alerts for one tenant-local day: dead groups (once per silent stretch) and quit spikes (once per day).
CREATE FUNCTION commerce.community_alerts(p_tenant bigint, p_day date) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE q record; n integer := 0; a record; v_msg bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_day, 'p_day');
    SELECT * INTO q FROM commerce._community_policy(p_tenant);
    FOR a IN
        -- dead: active groups of a tenant whose activity is reported, silent for dead_days up to p_day
        SELECT g.group_id, g.code, 'dead'::text AS kind,
               coalesce((SELECT max(d.day) FROM commerce.group_day d WHERE d.tenant_id = g.tenant_id AND d.group_id = g.group_id
                            AND d.day <= p_day AND d.messages > 0), commerce._tenant_day(p_tenant, g.created_at)) AS window_from
          FROM commerce.community_group g
         WHERE g.tenant_id = p_tenant AND g.status = 'active'
           AND EXISTS (SELECT 1 FROM commerce.group_day d WHERE d.tenant_id = g.tenant_id AND d.group_id = g.group_id AND d.day = p_day
                          AND d.messages IS NOT NULL)
        UNION ALL
        -- quit spike: the day's quits at the threshold and above three times the 28-day mean before it
        SELECT g.group_id, g.code, 'quit_spike', p_day
          FROM commerce.community_group g
          JOIN commerce.group_day d ON d.tenant_id = g.tenant_id AND d.group_id = g.group_id AND d.day = p_day
         WHERE g.tenant_id = p_tenant AND d.quits >= q.quit_spike
           AND d.quits > 3 * coalesce((SELECT avg(x.quits) FROM commerce.group_day x WHERE x.tenant_id = g.tenant_id
                                          AND x.group_id = g.group_id AND x.day BETWEEN p_day - 28 AND p_day - 1), 0)
         ORDER BY 1, 3 LOOP
        CONTINUE WHEN a.kind = 'dead' AND p_day - a.window_from < q.dead_days;
        CONTINUE WHEN EXISTS (SELECT 1 FROM commerce.community_alert x WHERE x.tenant_id = p_tenant AND x.group_id = a.group_id
                                 AND x.kind = a.kind AND x.window_from = a.window_from);
        v_msg := commerce.enqueue(p_tenant, 'community.alert',
                     jsonb_build_object('kind', a.kind, 'group', a.code, 'since', a.window_from, 'day', p_day),
                     format('%s:%s:%s', a.kind, a.group_id, a.window_from));
        INSERT INTO commerce.community_alert (tenant_id, group_id, kind, window_from, detail, message_id, created_at)
        VALUES (p_tenant, a.group_id, a.kind, a.window_from,
                CASE a.kind WHEN 'dead' THEN format('no message since %s (%s days)', a.window_from, p_day - a.window_from)
                            ELSE format('%s quits on %s', (SELECT d.quits FROM commerce.group_day d WHERE d.tenant_id = p_tenant
                                                               AND d.group_id = a.group_id AND d.day = p_day), p_day) END,
                v_msg, commerce.now())
        ON CONFLICT DO NOTHING;
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce.community_alerts(bigint, date) IS
  'The alerts of a tenant-local day (PR07): a dead group (reported activity, no message for the policy''s days: once per silent stretch, the window starting at its last day with a message) and a quit spike (the day''s quits at the threshold and above three times its 28-day mean: once per day), each recorded once in community_alert with one outbox message (community.alert). Returns the new alerts.';

-- The nightly community job: yesterday's snapshots and alerts per tenant.
CREATE PROCEDURE commerce.community_daily()
LANGUAGE plpgsql AS $$
DECLARE t record; v_day date;
BEGIN
    FOR t IN SELECT DISTINCT g.tenant_id FROM commerce.community_group g ORDER BY 1 LOOP
        v_day := commerce._tenant_day(t.tenant_id, commerce.now()) - 1;
        BEGIN
            PERFORM commerce.group_day_snapshot(t.tenant_id, v_day);
            PERFORM commerce.community_alerts(t.tenant_id, v_day);
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'commerce-community-daily: tenant %: %', t.tenant_id, SQLERRM;
        END;
        BEGIN       -- on its own: a failure here keeps the snapshots and alerts
            PERFORM commerce.community_tasks_settle(t.tenant_id);
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'commerce-community-daily: tenant %: community tasks: %', t.tenant_id, SQLERRM;
        END;
        COMMIT;
    END LOOP;
END $$;
COMMENT ON PROCEDURE commerce.community_daily() IS
  'The nightly community job (pg_cron 01:30: commerce-community-daily): for each tenant with groups, yesterday''s group snapshots and alerts and the community tasks reached (community_tasks_settle), committed per tenant; a failing tenant is reported as a WARNING and skipped. Days whose activity the adapter reports later are snapshotted and checked by the report.';

INSERT INTO commerce.job (job_name, schedule, command) VALUES
  ('commerce-community-daily', '30 1 * * *', 'CALL commerce.community_daily()');

-- A group's days with the lurker rate.
CREATE FUNCTION commerce.group_activity(p_tenant bigint, p_group text, p_from date, p_to date)
RETURNS TABLE (day date, members integer, joins integer, quits integer, speakers integer, messages integer, lurker_rate_bp integer)
LANGUAGE plpgsql STABLE AS $$
DECLARE v_group bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_group, 'p_group');
    PERFORM commerce._require(p_from, 'p_from');
    PERFORM commerce._require(p_to, 'p_to');
    IF p_to < p_from OR p_to - p_from > 366 THEN
        PERFORM commerce._invalid('p_to', format('%s to %s', p_from, p_to), 'Ask for 1 to 367 days, in order.');
    END IF;
    SELECT g.group_id INTO v_group FROM commerce.community_group g WHERE g.tenant_id = p_tenant AND g.code = p_group;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('group', p_group, p_tenant);
    END IF;
    RETURN QUERY
    SELECT d.day, d.members, d.joins, d.quits, d.speakers, d.messages,
           CASE WHEN d.members > 0 AND d.speakers IS NOT NULL THEN ((d.members - least(d.speakers, d.members)) * 10000 / d.members)::integer END
      FROM commerce.group_day d
     WHERE d.tenant_id = p_tenant AND d.group_id = v_group AND d.day BETWEEN p_from AND p_to
     ORDER BY d.day;
END $$;
COMMENT ON FUNCTION commerce.group_activity(bigint, text, date, date) IS
  'A group''s days (PR07): members, joins, quits, speakers and messages, and the lurker rate in bp (members who did not speak; NULL before the day''s activity is reported).';
