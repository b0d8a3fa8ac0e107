-- sql/src/koc/reports.sql: KOC stats (K13), task progress and analysis (K11,
-- K21), leaderboard (K18), overview (K19), list and CSV export (K20).

-- The [lo, hi) instants of a tenant-local date range; 22023 for a bad range.
CREATE FUNCTION commerce._local_range(p_tenant bigint, p_from date, p_to date, OUT lo timestamptz, OUT hi timestamptz)
LANGUAGE plpgsql STABLE AS $$
DECLARE t commerce.tenant_row;
BEGIN
    t := commerce._tenant(p_tenant);
    PERFORM commerce._require(p_from, 'p_from');
    PERFORM commerce._require(p_to, 'p_to');
    IF NOT isfinite(p_from) OR NOT isfinite(p_to) OR p_from > p_to OR p_to - p_from > 366 THEN
        PERFORM commerce._invalid('p_to', format('%s to %s', p_from, p_to),
                                  'Give a range of 1 to 367 days, the first date not after the last.');
    END IF;
    lo := p_from::timestamp AT TIME ZONE t.time_zone;
    hi := (p_to + 1)::timestamp AT TIME ZONE t.time_zone;
END $$;

-- Yuan with two decimals from fen, exactly (a JSON number, never a float).
CREATE FUNCTION commerce._yuan(p_fen bigint) RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$ SELECT round(coalesce(p_fen, 0)::numeric / 100, 2) $$;

-- K13: a KOC's figures for a tenant-local date range, in the PRD's shape.
CREATE FUNCTION commerce.koc_stats(p_tenant bigint, p_koc text, p_from date, p_to date)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE r record; k commerce.koc_row; v_clicks bigint; v_red bigint; v_gmv bigint; v_com bigint;
        v_tasks jsonb; v_channels jsonb;
BEGIN
    r := commerce._local_range(p_tenant, p_from, p_to);
    PERFORM commerce._require(p_koc, 'p_koc');
    SELECT * INTO k FROM commerce.koc WHERE tenant_id = p_tenant AND code = p_koc;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('KOC', p_koc, p_tenant);
    END IF;
    SELECT count(*) INTO v_clicks FROM commerce.click
     WHERE tenant_id = p_tenant AND koc_id = k.koc_id AND clicked_at >= r.lo AND clicked_at < r.hi;
    SELECT count(*) FILTER (WHERE kind = 'earn'), coalesce(sum(base_fen), 0), coalesce(sum(amount_fen), 0)
      INTO v_red, v_gmv, v_com
      FROM commerce.commission_line
     WHERE tenant_id = p_tenant AND koc_id = k.koc_id AND occurred_at >= r.lo AND occurred_at < r.hi;
    SELECT coalesce(jsonb_agg(jsonb_build_object('taskId', x.task_id, 'task', t.code, 'clicks', x.clicks,
                                                 'redemptions', x.redemptions) ORDER BY x.task_id), '[]')
      INTO v_tasks
      FROM (SELECT task_id, sum(c) AS clicks, sum(n) AS redemptions FROM (
                SELECT task_id, count(*) AS c, 0 AS n FROM commerce.click
                 WHERE tenant_id = p_tenant AND koc_id = k.koc_id AND clicked_at >= r.lo AND clicked_at < r.hi
                   AND task_id IS NOT NULL GROUP BY task_id
                UNION ALL
                SELECT task_id, 0, count(*) FILTER (WHERE kind = 'earn') FROM commerce.commission_line
                 WHERE tenant_id = p_tenant AND koc_id = k.koc_id AND occurred_at >= r.lo AND occurred_at < r.hi
                   AND task_id IS NOT NULL GROUP BY task_id) u GROUP BY task_id) x
      JOIN commerce.koc_task t ON t.tenant_id = p_tenant AND t.task_id = x.task_id;
    SELECT coalesce(jsonb_agg(jsonb_build_object('channel', coalesce(ch.code, 'direct'), 'clicks', x.clicks,
                                                 'visitors', x.visitors, 'redemptions', x.redemptions)
                              ORDER BY coalesce(ch.code, 'direct')), '[]')
      INTO v_channels
      FROM (SELECT channel_id, sum(c) AS clicks, sum(v) AS visitors, sum(n) AS redemptions FROM (
                SELECT channel_id, count(*) AS c, count(DISTINCT visitor_id) AS v, 0 AS n FROM commerce.click
                 WHERE tenant_id = p_tenant AND koc_id = k.koc_id AND clicked_at >= r.lo AND clicked_at < r.hi
                 GROUP BY channel_id
                UNION ALL
                SELECT c.channel_id, 0, 0, count(*) FROM commerce.commission_line l
                  JOIN commerce.orders o ON o.tenant_id = l.tenant_id AND o.order_id = l.order_id
                  LEFT JOIN commerce.click c ON c.tenant_id = o.tenant_id AND c.click_id = o.click_id
                 WHERE l.tenant_id = p_tenant AND l.koc_id = k.koc_id AND l.kind = 'earn'
                   AND l.occurred_at >= r.lo AND l.occurred_at < r.hi
                 GROUP BY c.channel_id) u GROUP BY channel_id) x
      LEFT JOIN commerce.channel ch ON ch.tenant_id = p_tenant AND ch.channel_id = x.channel_id;
    RETURN jsonb_build_object(
        'kocId', k.koc_id, 'koc', k.code, 'startDate', p_from, 'endDate', p_to,
        'totalClicks', v_clicks, 'totalRedemptions', v_red,
        'estimatedRevenue', commerce._yuan(v_gmv), 'commission', commerce._yuan(v_com),
        'estimatedRevenueFen', v_gmv, 'commissionFen', v_com,
        'tasks', v_tasks, 'channels', v_channels);
END $$;
COMMENT ON FUNCTION commerce.koc_stats(bigint, text, date, date) IS
  'K13 (GET /api/koc/stats): a KOC''s clicks, redemptions, estimatedRevenue (GMV net of refunds, yuan with 2 decimals) and commission (yuan) for tenant-local dates p_from..p_to, per task (taskId, clicks, redemptions) and per share channel (clicks, distinct visitors, redemptions); the same amounts in fen as estimatedRevenueFen and commissionFen.';

-- K11: a KOC's progress on a task.
CREATE FUNCTION commerce.koc_task_progress(p_tenant bigint, p_koc text, p_task text)
RETURNS TABLE (koc text, task text, clicks bigint, visitors bigint, new_customers bigint,
               pending_redemptions bigint, done_redemptions bigint, goal integer, goal_reached boolean)
LANGUAGE plpgsql STABLE AS $$
DECLARE k commerce.koc_row; t commerce.koc_task;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_koc, 'p_koc');
    PERFORM commerce._require(p_task, 'p_task');
    SELECT * INTO k FROM commerce.koc WHERE tenant_id = p_tenant AND code = p_koc;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('KOC', p_koc, p_tenant);
    END IF;
    SELECT * INTO t FROM commerce.koc_task WHERE tenant_id = p_tenant AND code = p_task;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('KOC task', p_task, p_tenant);
    END IF;
    RETURN QUERY
    SELECT k.code, t.code, c.clicks, c.visitors, l.new_customers, o.pending, l.done, t.goal,
           t.goal IS NOT NULL AND l.done >= t.goal
      FROM (SELECT count(*) AS clicks, count(DISTINCT visitor_id) AS visitors FROM commerce.click
             WHERE tenant_id = p_tenant AND koc_id = k.koc_id AND task_id = t.task_id) c,
           (SELECT count(*) FILTER (WHERE kind = 'earn') AS done,
                   count(*) FILTER (WHERE kind = 'earn' AND new_customer) AS new_customers
              FROM commerce.commission_line
             WHERE tenant_id = p_tenant AND koc_id = k.koc_id AND task_id = t.task_id) l,
           (SELECT count(*) AS pending FROM commerce.orders
             WHERE tenant_id = p_tenant AND koc_id = k.koc_id AND koc_task_id = t.task_id
               AND status IN ('paid', 'shipped')) o;
END $$;
COMMENT ON FUNCTION commerce.koc_task_progress(bigint, text, text) IS
  'K11: a KOC''s progress on a task: clicks, distinct visitors, new customers, redemptions pending (paid or shipped orders) and done, against the goal.';

-- K21: every task's (or one task's) effect.
CREATE FUNCTION commerce.koc_task_analysis(p_tenant bigint, p_task text DEFAULT NULL)
RETURNS TABLE (task text, title text, starts_at timestamptz, ends_at timestamptz, goal integer,
               kocs bigint, kocs_at_goal bigint, completion_rate_bp bigint, clicks bigint, redemptions bigint,
               gmv_fen bigint, cost_fen bigint, roi_bp bigint)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM commerce._tenant(p_tenant);
    IF p_task IS NOT NULL AND NOT EXISTS (SELECT 1 FROM commerce.koc_task t
                                           WHERE t.tenant_id = p_tenant AND t.code = p_task) THEN
        PERFORM commerce._not_found('KOC task', p_task, p_tenant);
    END IF;
    RETURN QUERY
    WITH per_koc AS (
        SELECT x.task_id, x.koc_id, sum(x.c)::bigint AS clicks, sum(x.n)::bigint AS redemptions,
               sum(x.g)::bigint AS gmv, sum(x.a)::bigint AS cost
          FROM (SELECT c.task_id, c.koc_id, count(*) AS c, 0 AS n, 0 AS g, 0 AS a FROM commerce.click c
                 WHERE c.tenant_id = p_tenant AND c.task_id IS NOT NULL GROUP BY 1, 2
                UNION ALL
                SELECT l.task_id, l.koc_id, 0, count(*) FILTER (WHERE l.kind = 'earn'), sum(l.base_fen), sum(l.amount_fen)
                  FROM commerce.commission_line l
                 WHERE l.tenant_id = p_tenant AND l.task_id IS NOT NULL GROUP BY 1, 2) x
         GROUP BY 1, 2)
    SELECT t.code, t.title, t.starts_at, t.ends_at, t.goal,
           count(p.koc_id), count(p.koc_id) FILTER (WHERE t.goal IS NOT NULL AND p.redemptions >= t.goal),
           CASE WHEN t.goal IS NULL OR count(p.koc_id) = 0 THEN NULL
                ELSE 10000 * count(p.koc_id) FILTER (WHERE p.redemptions >= t.goal) / count(p.koc_id) END,
           coalesce(sum(p.clicks), 0)::bigint, coalesce(sum(p.redemptions), 0)::bigint,
           coalesce(sum(p.gmv), 0)::bigint, coalesce(sum(p.cost), 0)::bigint,
           CASE WHEN coalesce(sum(p.cost), 0) <= 0 THEN NULL ELSE floor(10000 * sum(p.gmv) / sum(p.cost))::bigint END
      FROM commerce.koc_task t
      LEFT JOIN per_koc p ON p.task_id = t.task_id
     WHERE t.tenant_id = p_tenant AND (p_task IS NULL OR t.code = p_task)
     GROUP BY t.task_id, t.code, t.title, t.starts_at, t.ends_at, t.goal
     ORDER BY t.starts_at, t.code;
END $$;
COMMENT ON FUNCTION commerce.koc_task_analysis(bigint, text) IS
  'K21 (GET /api/koc/tasks/analysis): per task, the KOCs taking part (clicks or redemptions), those at the goal and the completion rate (bp), clicks, redemptions, GMV and cost (commission, net of refunds) in fen, ROI = GMV / cost in bp (NULL without cost).';

-- Per KOC figures for a range: the rows of the leaderboard, the list and the overview.
CREATE FUNCTION commerce._koc_figures(p_tenant bigint, p_lo timestamptz, p_hi timestamptz)
RETURNS TABLE (koc_id bigint, clicks bigint, redemptions bigint, gmv_fen bigint, commission_fen bigint)
LANGUAGE sql STABLE AS $$
    SELECT x.koc_id, sum(x.c)::bigint, sum(x.n)::bigint, sum(x.g)::bigint, sum(x.a)::bigint
      FROM (SELECT c.koc_id, count(*) AS c, 0 AS n, 0 AS g, 0 AS a FROM commerce.click c
             WHERE c.tenant_id = p_tenant AND c.clicked_at >= p_lo AND c.clicked_at < p_hi GROUP BY 1
            UNION ALL
            SELECT l.koc_id, 0, count(*) FILTER (WHERE l.kind = 'earn'), sum(l.base_fen), sum(l.amount_fen)
              FROM commerce.commission_line l
             WHERE l.tenant_id = p_tenant AND l.occurred_at >= p_lo AND l.occurred_at < p_hi GROUP BY 1) x
     GROUP BY x.koc_id;
$$;

-- K18: the leaderboard of a period, nationally or for a region.
CREATE FUNCTION commerce.koc_rank(p_tenant bigint, p_from date, p_to date, p_region text DEFAULT NULL,
                                  p_metric text DEFAULT 'gmv', p_limit integer DEFAULT 100)
RETURNS TABLE (rank bigint, koc text, name text, region text, level text, clicks bigint, redemptions bigint,
               gmv_fen bigint, commission_fen bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE r record;
BEGIN
    r := commerce._local_range(p_tenant, p_from, p_to);
    PERFORM commerce._require(p_metric, 'p_metric');
    PERFORM commerce._require(p_limit, 'p_limit');
    IF p_metric NOT IN ('gmv', 'redemptions', 'clicks', 'commission') THEN
        PERFORM commerce._invalid('p_metric', format('"%s"', p_metric), 'Rank by gmv, redemptions, clicks or commission.');
    END IF;
    IF p_limit NOT BETWEEN 1 AND 1000 THEN
        PERFORM commerce._invalid('p_limit', format('%s', p_limit), 'Show 1 to 1000 KOCs.');
    END IF;
    RETURN QUERY
    SELECT s.rnk, s.code, s.name, s.region, s.level_code, s.clicks, s.redemptions, s.gmv_fen, s.commission_fen
      FROM (SELECT rank() OVER (ORDER BY CASE p_metric WHEN 'gmv' THEN f.gmv_fen WHEN 'redemptions' THEN f.redemptions
                                                       WHEN 'clicks' THEN f.clicks ELSE f.commission_fen END DESC) AS rnk,
                   k.code, k.name, k.region, k.level_code, f.clicks, f.redemptions, f.gmv_fen, f.commission_fen
              FROM commerce._koc_figures(p_tenant, r.lo, r.hi) f
              JOIN commerce.koc k ON k.tenant_id = p_tenant AND k.koc_id = f.koc_id
             WHERE k.status <> 'suspended' AND (p_region IS NULL OR k.region = p_region)) s
     ORDER BY s.rnk, s.code
     LIMIT p_limit;
END $$;
COMMENT ON FUNCTION commerce.koc_rank(bigint, date, date, text, text, integer) IS
  'K18 (GET /api/koc/rank): KOCs of a tenant-local period ranked by gmv (default), redemptions, clicks or commission, nationally or in one region; ties share a rank. Suspended KOCs are left out.';

-- K19: the programme at a glance, with a daily trend.
CREATE FUNCTION commerce.koc_overview(p_tenant bigint, p_from date, p_to date)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE r record; t commerce.tenant_row; v jsonb; v_trend jsonb;
BEGIN
    r := commerce._local_range(p_tenant, p_from, p_to);
    t := commerce._tenant(p_tenant);
    SELECT jsonb_build_object(
               'kocCount', (SELECT count(*) FROM commerce.koc k WHERE k.tenant_id = p_tenant AND k.status <> 'suspended'),
               'activeKocs', count(*) FILTER (WHERE f.clicks > 0 OR f.redemptions > 0),
               'clicks', coalesce(sum(f.clicks), 0), 'redemptions', coalesce(sum(f.redemptions), 0),
               'revenueFen', coalesce(sum(f.gmv_fen), 0), 'commissionFen', coalesce(sum(f.commission_fen), 0),
               'revenue', commerce._yuan(sum(f.gmv_fen)::bigint), 'commission', commerce._yuan(sum(f.commission_fen)::bigint),
               'roiBp', CASE WHEN coalesce(sum(f.commission_fen), 0) > 0
                             THEN floor(10000 * sum(f.gmv_fen) / sum(f.commission_fen))::bigint END,
               'averageRoiBp', floor(avg(10000 * f.gmv_fen / f.commission_fen) FILTER (WHERE f.commission_fen > 0))::bigint)
      INTO v FROM commerce._koc_figures(p_tenant, r.lo, r.hi) f;
    SELECT jsonb_agg(jsonb_build_object('date', d.day, 'clicks', coalesce(c.n, 0), 'redemptions', coalesce(l.n, 0),
                                        'revenueFen', coalesce(l.g, 0)) ORDER BY d.day)
      INTO v_trend
      FROM generate_series(p_from, p_to, interval '1 day') d0
      CROSS JOIN LATERAL (SELECT d0::date AS day) d
      LEFT JOIN (SELECT (clicked_at AT TIME ZONE t.time_zone)::date AS day, count(*) AS n FROM commerce.click
                  WHERE tenant_id = p_tenant AND clicked_at >= r.lo AND clicked_at < r.hi GROUP BY 1) c USING (day)
      LEFT JOIN (SELECT (occurred_at AT TIME ZONE t.time_zone)::date AS day, count(*) FILTER (WHERE kind = 'earn') AS n,
                        sum(base_fen) AS g FROM commerce.commission_line
                  WHERE tenant_id = p_tenant AND occurred_at >= r.lo AND occurred_at < r.hi GROUP BY 1) l USING (day);
    RETURN v || jsonb_build_object('startDate', p_from, 'endDate', p_to, 'trend', v_trend);
END $$;
COMMENT ON FUNCTION commerce.koc_overview(bigint, date, date) IS
  'K19: KOC count, active KOCs (a click or a redemption in the period), clicks, redemptions, revenue (GMV net of refunds) and commission (fen and yuan), ROI of the programme and the average ROI of the KOCs (GMV / commission, bp), and the trend per tenant-local day.';

-- K20: the KOC list with filters.
CREATE FUNCTION commerce.koc_list(p_tenant bigint, p_from date, p_to date, p_level text DEFAULT NULL,
                                  p_region text DEFAULT NULL, p_status text DEFAULT NULL)
RETURNS TABLE (koc text, name text, region text, level text, status text, joined_at timestamptz,
               clicks bigint, redemptions bigint, gmv_fen bigint, commission_fen bigint,
               balance_fen bigint, paid_fen bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE r record;
BEGIN
    r := commerce._local_range(p_tenant, p_from, p_to);
    IF p_status IS NOT NULL AND p_status NOT IN ('active', 'frozen', 'suspended') THEN
        PERFORM commerce._invalid('p_status', format('"%s"', p_status), 'Filter by active, frozen or suspended.');
    END IF;
    RETURN QUERY
    SELECT k.code, k.name, k.region, k.level_code, k.status, k.joined_at,
           coalesce(f.clicks, 0), coalesce(f.redemptions, 0), coalesce(f.gmv_fen, 0), coalesce(f.commission_fen, 0),
           coalesce(a.balance_fen, 0), coalesce(a.paid_fen, 0)
      FROM commerce.koc k
      LEFT JOIN commerce._koc_figures(p_tenant, r.lo, r.hi) f ON f.koc_id = k.koc_id
      LEFT JOIN commerce.koc_account a ON a.tenant_id = k.tenant_id AND a.koc_id = k.koc_id
     WHERE k.tenant_id = p_tenant
       AND (p_level IS NULL OR k.level_code = p_level)
       AND (p_region IS NULL OR k.region = p_region)
       AND (p_status IS NULL OR k.status = p_status)
     ORDER BY k.code;
END $$;
COMMENT ON FUNCTION commerce.koc_list(bigint, date, date, text, text, text) IS
  'K20 (GET /api/koc/list): every KOC (filtered by level, region, status) with its clicks, redemptions, GMV and commission in the tenant-local period, its balance and what it was paid.';

-- One CSV field: quoted when it holds a comma, quote or line break; a leading =+-@ is neutralized.
CREATE FUNCTION commerce._csv(p text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p IS NULL THEN ''
                WHEN p ~ '[",\r\n]' OR p ~ '^[=+@-]'
                THEN '"' || replace(CASE WHEN p ~ '^[=+@-]' THEN '''' || p ELSE p END, '"', '""') || '"'
                ELSE p END
$$;

-- K20: the same list as CSV (RFC 4180), with a header row.
CREATE FUNCTION commerce.koc_list_csv(p_tenant bigint, p_from date, p_to date, p_level text DEFAULT NULL,
                                      p_region text DEFAULT NULL, p_status text DEFAULT NULL)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT 'koc,name,region,level,status,joined_at,clicks,redemptions,gmv_fen,commission_fen,balance_fen,paid_fen' || E'\r\n'
        || coalesce(string_agg(concat_ws(',',
               commerce._csv(l.koc), commerce._csv(l.name), commerce._csv(l.region), l.level, l.status,
               to_char(l.joined_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
               l.clicks, l.redemptions, l.gmv_fen, l.commission_fen, l.balance_fen, l.paid_fen), E'\r\n'), '')
      FROM commerce.koc_list(p_tenant, p_from, p_to, p_level, p_region, p_status) l;
$$;
COMMENT ON FUNCTION commerce.koc_list_csv(bigint, date, date, text, text, text) IS
  'K20 export: koc_list as CSV text (header row, CRLF, fields quoted when needed, amounts in fen, times in UTC).';
