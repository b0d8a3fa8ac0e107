-- sql/src/community/dashboards.sql: KOC community tasks with group scope and
-- progress read from the daily snapshots and check-ins (PR14, K16), the KOC's
-- community earnings board from the commission ledger (PR15), the
-- private-domain dashboard (PR16) and the lifecycle funnel per cohort from
-- joining a group to the first and the repeat order (PR17).

-- Give a KOC task a community scope, and tell the KOCs it is for.
CREATE FUNCTION commerce.set_community_task(p_tenant bigint, p_task text, p_kind text, p_metric text, p_target bigint,
                                            p_groups text[] DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE t commerce.koc_task%ROWTYPE; v_groups bigint[]; v_sent bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_task, 'p_task');
    PERFORM commerce._require(p_kind, 'p_kind');
    PERFORM commerce._require(p_metric, 'p_metric');
    PERFORM commerce._require(p_target, 'p_target');
    IF p_kind NOT IN ('topic', 'event', 'growth') OR p_metric NOT IN ('messages', 'speakers', 'joins', 'checkins')
       OR p_target NOT BETWEEN 1 AND 1000000000 THEN
        PERFORM commerce._invalid('p_kind', format('kind %s, metric %s, target %s', left(p_kind, 32), left(p_metric, 32), p_target),
                                  'A community task is a topic, event or growth task measured in messages, speakers, joins or check-ins, with a target of 1 to 10^9.');
    END IF;
    SELECT * INTO t FROM commerce.koc_task WHERE tenant_id = p_tenant AND code = p_task;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('KOC task', p_task, p_tenant);
    END IF;
    IF p_groups IS NOT NULL THEN
        SELECT array_agg(g.group_id ORDER BY g.group_id) INTO v_groups FROM commerce.community_group g
         WHERE g.tenant_id = p_tenant AND g.code = ANY (p_groups) AND g.koc_id IS NOT NULL;
        IF cardinality(p_groups) NOT BETWEEN 1 AND 1000
           OR cardinality(v_groups) IS DISTINCT FROM (SELECT count(DISTINCT x) FROM unnest(p_groups) x) THEN
            PERFORM commerce._invalid('p_groups', format('groups %s', left(p_groups::text, 80)),
                                      'Name 1 to 1000 groups that exist and are run by a KOC, or none for every KOC group.');
        END IF;
    END IF;
    INSERT INTO commerce.community_task AS c (tenant_id, task_id, kind, metric, target, group_ids, created_at)
    VALUES (p_tenant, t.task_id, p_kind, p_metric, p_target, v_groups, commerce.now())
    ON CONFLICT (tenant_id, task_id) DO UPDATE
       SET kind = EXCLUDED.kind, metric = EXCLUDED.metric, target = EXCLUDED.target, group_ids = EXCLUDED.group_ids;
    -- the task goes out to every active KOC it targets that runs a group in its scope (once per KOC)
    SELECT count(commerce.enqueue(p_tenant, 'koc.task',
               jsonb_build_object('task', t.code, 'title', t.title, 'koc', k.code, 'kind', p_kind, 'metric', p_metric, 'target', p_target,
                                  'starts_at', t.starts_at, 'ends_at', t.ends_at, 'materials', t.materials),
               'community_task:' || t.task_id || ':' || k.koc_id))
      INTO v_sent
      FROM commerce.koc k
     WHERE k.tenant_id = p_tenant AND k.status = 'active'
       AND (t.target_levels IS NULL OR k.level_code = ANY (t.target_levels))
       AND (t.target_tags IS NULL OR k.tags && t.target_tags)
       AND EXISTS (SELECT 1 FROM commerce.community_group g
                    WHERE g.tenant_id = p_tenant AND g.koc_id = k.koc_id AND g.status = 'active'
                      AND (v_groups IS NULL OR g.group_id = ANY (v_groups)));
    RETURN jsonb_build_object('task', t.code, 'kind', p_kind, 'metric', p_metric, 'target', p_target, 'kocs', v_sent);
END $$;
COMMENT ON FUNCTION commerce.set_community_task(bigint, text, text, text, bigint, text[]) IS
  'Give a KOC task (upsert_koc_task: window, levels and tags, materials) a community scope (PR14): kind topic, event or growth, the metric its progress is read from (messages, speakers, joins, check-ins), the target over the window, and the groups (KOC-run groups; NULL: every group the KOC runs). The task goes out on the outbox topic koc.task to each active KOC it targets that runs a group in scope, once per KOC (a second call tells nobody twice). Returns {task, kind, metric, target, kocs: how many KOCs it is for}.';

-- A KOC's progress on a community task, per group; records the completion once.
CREATE FUNCTION commerce.community_task_progress(p_tenant bigint, p_task text, p_koc text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE t commerce.koc_task%ROWTYPE; c commerce.community_task%ROWTYPE; v_koc bigint; v_from date; v_to date;
        v_groups jsonb; v_total bigint; d commerce.community_task_done%ROWTYPE; v_eligible boolean;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_task, 'p_task');
    v_koc := commerce._koc_ref(p_tenant, p_koc);
    PERFORM commerce._require(v_koc, 'p_koc');
    SELECT * INTO t FROM commerce.koc_task WHERE tenant_id = p_tenant AND code = p_task;
    SELECT * INTO c FROM commerce.community_task WHERE tenant_id = p_tenant AND task_id = t.task_id;
    IF c.task_id IS NULL THEN
        PERFORM commerce._not_found('community task', p_task, p_tenant);
    END IF;
    v_from := commerce._tenant_day(p_tenant, t.starts_at);
    v_to := commerce._tenant_day(p_tenant, least(t.ends_at - interval '1 microsecond', commerce.now()));    -- ends_at is exclusive
    -- the KOCs the task is for: active, of its levels and tags (others' progress is shown, never recorded)
    SELECT k.status = 'active' AND (t.target_levels IS NULL OR k.level_code = ANY (t.target_levels))
           AND (t.target_tags IS NULL OR k.tags && t.target_tags)
      INTO v_eligible FROM commerce.koc k WHERE k.tenant_id = p_tenant AND k.koc_id = v_koc;
    SELECT coalesce(jsonb_agg(jsonb_build_object('group', x.code, 'value', x.v) ORDER BY x.code), '[]'::jsonb), coalesce(sum(x.v), 0)
      INTO v_groups, v_total
      FROM (SELECT g.code,
                   CASE c.metric
                       WHEN 'checkins' THEN (SELECT count(*) FROM commerce.group_checkin ci
                                              WHERE ci.tenant_id = p_tenant AND ci.group_id = g.group_id
                                                AND ci.day BETWEEN v_from AND v_to)
                       -- new members: first joined in the window (a quit and rejoin counts once, never)
                       WHEN 'joins' THEN (SELECT count(*) FROM commerce.group_member m
                                           WHERE m.tenant_id = p_tenant AND m.group_id = g.group_id AND m.member_type <> 'staff'
                                             AND m.first_joined_at >= t.starts_at AND m.first_joined_at < t.ends_at)
                       ELSE (SELECT coalesce(sum(CASE c.metric WHEN 'messages' THEN gd.messages ELSE gd.speakers END), 0)
                               FROM commerce.group_day gd
                              WHERE gd.tenant_id = p_tenant AND gd.group_id = g.group_id AND gd.day BETWEEN v_from AND v_to) END AS v
              FROM commerce.community_group g
             WHERE g.tenant_id = p_tenant AND g.koc_id = v_koc AND (c.group_ids IS NULL OR g.group_id = ANY (c.group_ids))) x;
    IF v_total >= c.target AND v_eligible AND commerce.now() < t.ends_at + interval '2 days' THEN
        INSERT INTO commerce.community_task_done (tenant_id, task_id, koc_id, progress, completed_at)
        VALUES (p_tenant, t.task_id, v_koc, v_total, commerce.now())
        ON CONFLICT (tenant_id, task_id, koc_id) DO NOTHING;
    END IF;
    SELECT * INTO d FROM commerce.community_task_done WHERE tenant_id = p_tenant AND task_id = t.task_id AND koc_id = v_koc;
    RETURN jsonb_build_object('task', t.code, 'koc', p_koc, 'kind', c.kind, 'metric', c.metric, 'target', c.target, 'progress', v_total,
                              'from', v_from, 'to', v_to, 'groups', v_groups, 'for_koc', coalesce(v_eligible, false),
                              'done', d.koc_id IS NOT NULL, 'completed_at', d.completed_at);
END $$;
COMMENT ON FUNCTION commerce.community_task_progress(bigint, text, text) IS
  'A KOC''s progress on a community task (PR14): the metric over the task''s window so far in each of the KOC''s groups in scope (messages and speakers summed from group_day over its tenant-local days, ends_at exclusive; joins: members whose first join fell in the window, so churn never counts; check-ins from group_checkin), against the target. For a KOC the task is for (active, of its levels and tags: for_koc) reaching it records the completion once (community_task_done; up to 2 days after the window, for late snapshots). Returns {task, koc, kind, metric, target, progress, from, to, groups, for_koc, done, completed_at}.';

-- Record the community tasks reached: every KOC with groups in scope, for the tasks running or just ended.
CREATE FUNCTION commerce.community_tasks_settle(p_tenant bigint) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE r record; v_before bigint; v_after bigint;
BEGIN
    SELECT count(*) INTO v_before FROM commerce.community_task_done WHERE tenant_id = p_tenant;
    FOR r IN SELECT DISTINCT t.code AS task, k.code AS koc
               FROM commerce.community_task c
               JOIN commerce.koc_task t ON t.tenant_id = c.tenant_id AND t.task_id = c.task_id
               JOIN commerce.community_group g ON g.tenant_id = c.tenant_id AND (c.group_ids IS NULL OR g.group_id = ANY (c.group_ids))
               JOIN commerce.koc k ON k.tenant_id = g.tenant_id AND k.koc_id = g.koc_id
              WHERE c.tenant_id = p_tenant AND t.starts_at <= commerce.now() AND t.ends_at + interval '2 days' > commerce.now()
                AND k.status = 'active' AND (t.target_levels IS NULL OR k.level_code = ANY (t.target_levels))
                AND (t.target_tags IS NULL OR k.tags && t.target_tags)
                AND NOT EXISTS (SELECT 1 FROM commerce.community_task_done d
                                 WHERE d.tenant_id = c.tenant_id AND d.task_id = c.task_id AND d.koc_id = k.koc_id)
              ORDER BY 1, 2 LOOP
        PERFORM commerce.community_task_progress(p_tenant, r.task, r.koc);
    END LOOP;
    SELECT count(*) INTO v_after FROM commerce.community_task_done WHERE tenant_id = p_tenant;
    RETURN v_after - v_before;
END $$;
COMMENT ON FUNCTION commerce.community_tasks_settle(bigint) IS
  'The nightly step after the snapshots (PR14): the progress of every KOC a community task running or ended less than 2 days ago is for (active, of its levels and tags, running a group in scope), recording those reached once. Returns how many were newly recorded.';

-- The orders of the persons who joined some groups, paid after their first join and not fully refunded.
CREATE FUNCTION commerce._member_orders(p_tenant bigint, p_groups bigint[], p_from timestamptz, p_to timestamptz,
                                        p_members_now boolean DEFAULT false)
RETURNS TABLE (person_id bigint, joined_at timestamptz, order_id bigint, paid_at timestamptz, net_fen bigint)
LANGUAGE sql STABLE AS $$
    WITH members AS (
        SELECT m.person_id, min(coalesce(m.first_joined_at, m.joined_at)) AS joined_at
          FROM commerce.group_member m
         WHERE m.tenant_id = p_tenant AND m.group_id = ANY (p_groups) AND m.person_id IS NOT NULL AND m.member_type <> 'staff'
         GROUP BY m.person_id
        HAVING NOT p_members_now OR bool_or(m.active)
    )
    SELECT mb.person_id, mb.joined_at, o.order_id, o.paid_at, o.paid_fen - o.refunded_fen
      FROM members mb
      JOIN commerce.customer c ON c.tenant_id = p_tenant AND c.person_id = mb.person_id
      JOIN commerce.orders o ON o.tenant_id = p_tenant AND o.customer_id = c.customer_id
     WHERE o.paid_at IS NOT NULL AND o.paid_at >= mb.joined_at AND o.paid_at >= p_from AND o.paid_at < p_to
       AND o.paid_fen > o.refunded_fen;
$$;
COMMENT ON FUNCTION commerce._member_orders(bigint, bigint[], timestamptz, timestamptz, boolean) IS
  'The paid orders of the persons who joined one of the groups (with p_members_now: who are still in one), paid after their first join, in [p_from, p_to), and not fully refunded, with the net amount (paid less refunded): what the groups brought (PR15, PR16). Staff members are left out.';

-- The KOC's community earnings board: traffic, redemptions and earnings its groups brought.
CREATE FUNCTION commerce.koc_community_board(p_tenant bigint, p_koc text, p_from date, p_to date) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE r record; v_koc bigint; v_groups bigint[]; v_per_group jsonb; v_orders record; v_comm record;
BEGIN
    r := commerce._local_range(p_tenant, p_from, p_to);
    v_koc := commerce._koc_ref(p_tenant, p_koc);
    PERFORM commerce._require(v_koc, 'p_koc');
    SELECT array_agg(g.group_id ORDER BY g.group_id) INTO v_groups FROM commerce.community_group g
     WHERE g.tenant_id = p_tenant AND g.koc_id = v_koc;
    SELECT coalesce(jsonb_agg(jsonb_build_object('group', g.code, 'name', g.name, 'members', g.members,
               'joins', (SELECT count(*) FROM commerce.group_member_event e WHERE e.tenant_id = p_tenant AND e.group_id = g.group_id
                           AND e.kind = 'join' AND e.at >= r.lo AND e.at < r.hi),
               'quits', (SELECT count(*) FROM commerce.group_member_event e WHERE e.tenant_id = p_tenant AND e.group_id = g.group_id
                           AND e.kind = 'quit' AND e.at >= r.lo AND e.at < r.hi)) ORDER BY g.code), '[]'::jsonb)
      INTO v_per_group
      FROM commerce.community_group g WHERE g.tenant_id = p_tenant AND g.koc_id = v_koc;
    SELECT count(DISTINCT mo.person_id) AS buyers, count(*) AS orders, coalesce(sum(mo.net_fen), 0) AS gmv_fen INTO v_orders
      FROM commerce._member_orders(p_tenant, coalesce(v_groups, '{}'), r.lo, r.hi) mo;
    -- the KOC's commission on orders of its groups' members (joined before the order), from the ledger
    SELECT count(*) FILTER (WHERE l.kind = 'earn') AS redemptions, coalesce(sum(l.amount_fen), 0) AS earned_fen,
           coalesce(sum(l.amount_fen) FILTER (WHERE l.kind = 'reverse'), 0) AS reversed_fen
      INTO v_comm
      FROM commerce.commission_line l
      JOIN commerce.orders o ON o.tenant_id = l.tenant_id AND o.order_id = l.order_id
      JOIN commerce.customer c ON c.tenant_id = o.tenant_id AND c.customer_id = o.customer_id
     WHERE l.tenant_id = p_tenant AND l.koc_id = v_koc AND l.occurred_at >= r.lo AND l.occurred_at < r.hi
       AND EXISTS (SELECT 1 FROM commerce.group_member m
                    WHERE m.tenant_id = p_tenant AND m.person_id = c.person_id AND m.group_id = ANY (v_groups)
                      AND m.member_type <> 'staff' AND coalesce(m.first_joined_at, m.joined_at) <= o.paid_at);
    RETURN jsonb_build_object('koc', p_koc, 'from', p_from, 'to', p_to, 'groups', v_per_group,
               'joins', (SELECT coalesce(sum((x ->> 'joins')::bigint), 0) FROM jsonb_array_elements(v_per_group) x),
               'members', (SELECT coalesce(sum((x ->> 'members')::bigint), 0) FROM jsonb_array_elements(v_per_group) x),
               'buyers', v_orders.buyers, 'orders', v_orders.orders, 'gmv_fen', v_orders.gmv_fen,
               'redemptions', v_comm.redemptions, 'earned_fen', v_comm.earned_fen, 'reversed_fen', v_comm.reversed_fen);
END $$;
COMMENT ON FUNCTION commerce.koc_community_board(bigint, text, date, date) IS
  'A KOC''s community earnings board (PR15), live from the tables over tenant-local days [p_from, p_to]: per group it runs, its members now and the joins and quits of the period (the traffic it brought); the members who bought after joining, their paid orders and GMV (paid less refunded); and from the commission ledger (lines of the period) the KOC''s redemptions and net commission on orders its groups'' members paid after joining (earn less reverse lines, in fen). Orders fully refunded are left out of the orders and GMV; the ledger''s reverse lines net their commission.';

-- The private-domain dashboard: groups, members, active members, conversion, GMV from group members.
CREATE FUNCTION commerce.private_domain_dashboard(p_tenant bigint, p_from date, p_to date, p_stores text[] DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE r record; v_groups bigint[]; v jsonb; v_members bigint; v_active bigint; v_buyers bigint; v_orders bigint; v_gmv bigint;
        v_speakers numeric; v_checkins bigint;
BEGIN
    r := commerce._local_range(p_tenant, p_from, p_to);
    SELECT array_agg(g.group_id ORDER BY g.group_id) INTO v_groups
      FROM commerce.community_group g LEFT JOIN commerce.store s ON s.tenant_id = g.tenant_id AND s.store_id = g.store_id
     WHERE g.tenant_id = p_tenant AND g.status = 'active' AND (p_stores IS NULL OR s.code = ANY (p_stores));
    v_groups := coalesce(v_groups, '{}');
    SELECT count(DISTINCT m.person_id) INTO v_members FROM commerce.group_member m
     WHERE m.tenant_id = p_tenant AND m.group_id = ANY (v_groups) AND m.active AND m.person_id IS NOT NULL AND m.member_type <> 'staff';
    -- one pass over the members' orders: buyers among the members now, and the active ones among them
    WITH mo AS (SELECT * FROM commerce._member_orders(p_tenant, v_groups, r.lo, r.hi, true)),
         now_in AS (SELECT DISTINCT m.person_id FROM commerce.group_member m
                     WHERE m.tenant_id = p_tenant AND m.group_id = ANY (v_groups) AND m.active AND m.person_id IS NOT NULL
                       AND m.member_type <> 'staff')
    SELECT (SELECT count(DISTINCT mo.person_id) FROM mo), (SELECT count(*) FROM mo), (SELECT coalesce(sum(mo.net_fen), 0) FROM mo),
           (SELECT count(*) FROM (SELECT ci.person_id FROM commerce.group_checkin ci
                                   WHERE ci.tenant_id = p_tenant AND ci.group_id = ANY (v_groups) AND ci.day BETWEEN p_from AND p_to
                                  UNION SELECT mo.person_id FROM mo) x
             WHERE x.person_id IN (SELECT person_id FROM now_in))
      INTO v_buyers, v_orders, v_gmv, v_active;
    SELECT count(*) INTO v_checkins FROM commerce.group_checkin ci
     WHERE ci.tenant_id = p_tenant AND ci.group_id = ANY (v_groups) AND ci.day BETWEEN p_from AND p_to;
    SELECT avg(gd.speakers) INTO v_speakers FROM commerce.group_day gd
     WHERE gd.tenant_id = p_tenant AND gd.group_id = ANY (v_groups) AND gd.day BETWEEN p_from AND p_to AND gd.speakers IS NOT NULL;
    v := jsonb_build_object('from', p_from, 'to', p_to, 'groups', cardinality(v_groups), 'members', v_members,
             'joins', (SELECT count(*) FROM commerce.group_member_event e WHERE e.tenant_id = p_tenant AND e.group_id = ANY (v_groups)
                         AND e.kind = 'join' AND e.at >= r.lo AND e.at < r.hi),
             'quits', (SELECT count(*) FROM commerce.group_member_event e WHERE e.tenant_id = p_tenant AND e.group_id = ANY (v_groups)
                         AND e.kind = 'quit' AND e.at >= r.lo AND e.at < r.hi),
             'active_members', v_active, 'checkins', v_checkins, 'speakers_per_group_day', round(v_speakers, 1),
             'buyers', v_buyers, 'orders', v_orders, 'gmv_fen', v_gmv,
             'conversion_bp', CASE WHEN v_members > 0 THEN v_buyers * 10000 / v_members END,
             'active_bp', CASE WHEN v_members > 0 THEN v_active * 10000 / v_members END);
    RETURN v;
END $$;
COMMENT ON FUNCTION commerce.private_domain_dashboard(bigint, date, date, text[]) IS
  'The private-domain dashboard (PR16) over tenant-local days [p_from, p_to], for the active groups of some stores or all: groups, members now (distinct persons, staff left out), joins and quits of the period, active members (members now who checked in or bought in the period), check-ins, the reported speakers per group and day, buyers, orders and GMV of the members now (orders paid after their first join and not fully refunded, net of refunds, in fen), conversion = buyers / members and active share in bp: numerators and denominator count the same persons.';

-- The lifecycle funnel per cohort: joined a group -> first order -> repeat order.
CREATE FUNCTION commerce.community_funnel(p_tenant bigint, p_grain text, p_from date, p_to date, p_stores text[] DEFAULT NULL)
RETURNS TABLE (cohort date, joined bigint, first_order bigint, repeat_order bigint, first_order_bp integer, repeat_bp integer,
               median_days_to_first numeric)
LANGUAGE plpgsql STABLE AS $$
DECLARE r record; v_tz text;
BEGIN
    r := commerce._local_range(p_tenant, p_from, p_to);
    v_tz := (commerce._tenant(p_tenant)).time_zone;
    PERFORM commerce._require(p_grain, 'p_grain');
    IF p_grain NOT IN ('day', 'week', 'month') THEN
        PERFORM commerce._invalid('p_grain', format('"%s"', left(p_grain, 16)), 'A cohort is a day, week or month of first joins.');
    END IF;
    RETURN QUERY
    WITH joined AS (
        SELECT m.person_id, min(coalesce(m.first_joined_at, m.joined_at)) AS at
          FROM commerce.group_member m
          JOIN commerce.community_group g ON g.tenant_id = m.tenant_id AND g.group_id = m.group_id
          LEFT JOIN commerce.store s ON s.tenant_id = g.tenant_id AND s.store_id = g.store_id
         WHERE m.tenant_id = p_tenant AND m.person_id IS NOT NULL AND m.member_type <> 'staff'
           AND (p_stores IS NULL OR s.code = ANY (p_stores))
         GROUP BY m.person_id
        HAVING min(coalesce(m.first_joined_at, m.joined_at)) >= r.lo AND min(coalesce(m.first_joined_at, m.joined_at)) < r.hi
    ), per AS (
        -- one pass: each person's paid orders after the join (not fully refunded), first and second
        SELECT j.person_id, j.at, date_trunc(p_grain, j.at AT TIME ZONE v_tz)::date AS cohort,
               min(o.paid_at) AS first_at, count(o.order_id) >= 2 AS repeated
          FROM joined j
          LEFT JOIN commerce.customer c ON c.tenant_id = p_tenant AND c.person_id = j.person_id
          LEFT JOIN commerce.orders o ON o.tenant_id = p_tenant AND o.customer_id = c.customer_id
                                     AND o.paid_at IS NOT NULL AND o.paid_at >= j.at AND o.paid_fen > o.refunded_fen
         GROUP BY j.person_id, j.at
    )
    SELECT p.cohort, count(*), count(p.first_at), count(*) FILTER (WHERE p.repeated),
           (count(p.first_at) * 10000 / count(*))::integer,
           CASE WHEN count(p.first_at) > 0 THEN (count(*) FILTER (WHERE p.repeated) * 10000 / count(p.first_at))::integer END,
           round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM p.first_at - p.at) / 86400)
                  FILTER (WHERE p.first_at IS NOT NULL))::numeric, 1)
      FROM per p
     GROUP BY p.cohort
     ORDER BY p.cohort;
END $$;
COMMENT ON FUNCTION commerce.community_funnel(bigint, text, date, date, text[]) IS
  'The lifecycle funnel (PR17): the persons whose first join of a group (of some stores'' groups, or all; staff left out) fell in tenant-local days [p_from, p_to], by cohort (the day, ISO week from Monday or month of that join, labelled by its first day: a week or month cut by p_from is labelled before p_from and holds only the joins from p_from): joined, made a first paid order after joining (not fully refunded), made a second (repeat); first_order_bp = first / joined, repeat_bp = repeat / first; the median days from the join to the first order.';
