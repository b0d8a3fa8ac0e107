-- sql/src/creators/invariants.sql: check_creators_invariants().

-- Every invariant of shares, candidate lists and recruitment, checked; no rows means all hold.
CREATE FUNCTION commerce.check_creators_invariants(p_tenant bigint DEFAULT NULL)
RETURNS TABLE (invariant text, detail text) LANGUAGE sql STABLE AS $$
    -- a share's click count and times are its clicks'
    SELECT 'share clicks = its first clicks', format('share %s: clicks %s first %s last %s; rows %s from %s to %s', s.share_id, s.clicks,
                                                       s.first_click_at, s.last_click_at, k.n, k.first, k.last)
      FROM commerce.share s
      JOIN LATERAL (SELECT count(*) AS n, min(c.clicked_at) AS first, max(c.clicked_at) AS last FROM commerce.share_click c
                     WHERE c.tenant_id = s.tenant_id AND c.share_id = s.share_id) k ON true
     WHERE (p_tenant IS NULL OR s.tenant_id = p_tenant)
       AND (s.clicks <> k.n OR s.first_click_at IS DISTINCT FROM k.first OR s.last_click_at IS DISTINCT FROM k.last)
    UNION ALL
    -- a published list's counts are its candidates', ranked 1..n, its control part the hash's
    SELECT 'list counts = candidates', format('run %s: listed %s control %s; candidates %s, control %s, ranks %s..%s, control by hash %s',
                                              r.run_id, r.listed, r.control, c.n, c.control, c.lo, c.hi, c.hashed)
      FROM commerce.potential_run r
      JOIN LATERAL (SELECT count(*) AS n, count(*) FILTER (WHERE x.control) AS control, min(x.rank) AS lo, max(x.rank) AS hi,
                           count(*) FILTER (WHERE x.control = commerce._potential_control(r.run_id, x.person_id, r.holdout_bp)) AS hashed
                      FROM commerce.potential_candidate x WHERE x.tenant_id = r.tenant_id AND x.run_id = r.run_id) c ON true
     WHERE (p_tenant IS NULL OR r.tenant_id = p_tenant)
       AND (r.listed <> c.n OR r.control <> c.control OR c.hashed <> c.n OR (c.n > 0 AND (c.lo <> 1 OR c.hi <> c.n)))
    UNION ALL
    -- a campaign's notice count is its notices', and no notice goes to the list's control part or to a member twice per list
    SELECT 'campaign notices = rows, none to the control', format('campaign %s: notices %s, rows %s, to the control %s, twice %s',
                                                                   c.campaign_id, c.notices, n.n, n.control, n.twice)
      FROM commerce.recruit_campaign c
      JOIN LATERAL (SELECT count(*) AS n,
                           count(*) FILTER (WHERE EXISTS (SELECT 1 FROM commerce.potential_candidate pc
                                                           WHERE pc.tenant_id = x.tenant_id AND pc.run_id = c.run_id
                                                             AND pc.person_id = x.person_id AND pc.control)) AS control,
                           count(*) FILTER (WHERE EXISTS (SELECT 1 FROM commerce.recruit_notice y JOIN commerce.recruit_campaign yc
                                                                 ON yc.tenant_id = y.tenant_id AND yc.campaign_id = y.campaign_id
                                                           WHERE y.tenant_id = x.tenant_id AND y.person_id = x.person_id
                                                             AND yc.run_id = c.run_id AND y.notice_id <> x.notice_id
                                                             AND (y.status, y.reason) IS DISTINCT FROM ('not_sent', 'not_started')
                                                             AND (x.status, x.reason) IS DISTINCT FROM ('not_sent', 'not_started'))) AS twice
                      FROM commerce.recruit_notice x WHERE x.tenant_id = c.tenant_id AND x.campaign_id = c.campaign_id) n ON true
     WHERE (p_tenant IS NULL OR c.tenant_id = p_tenant) AND (c.notices <> n.n OR n.control > 0 OR n.twice > 0)
    UNION ALL
    -- a sent notice's message is a crm.message of the notice's run in the outbox, on its channel
    SELECT 'sent notice = its outbox message', format('notice %s: message %s on %s', n.notice_id, n.message_id, n.channel)
      FROM commerce.recruit_notice n
      LEFT JOIN commerce.outbox o ON o.tenant_id = n.tenant_id AND o.message_id = n.message_id
     WHERE (p_tenant IS NULL OR n.tenant_id = p_tenant) AND n.message_id IS NOT NULL
       AND (o.message_id IS NULL OR o.topic <> 'crm.message' OR o.payload ->> 'channel' IS DISTINCT FROM n.channel
            OR o.payload #>> '{context,notice}' IS NULL)
    UNION ALL
    -- an attributed application is the member's, after the notice and within the window
    SELECT 'attributed application in its window', format('notice %s: application %s at %s, sent %s', n.notice_id, n.application_id,
                                                           n.applied_at, n.sent_at)
      FROM commerce.recruit_notice n
      JOIN commerce.recruit_campaign c ON c.tenant_id = n.tenant_id AND c.campaign_id = n.campaign_id
      LEFT JOIN commerce.koc_application a ON a.tenant_id = n.tenant_id AND a.application_id = n.application_id
      LEFT JOIN commerce.customer cu ON cu.tenant_id = a.tenant_id AND cu.customer_id = a.customer_id
     WHERE (p_tenant IS NULL OR n.tenant_id = p_tenant) AND n.application_id IS NOT NULL
       AND (cu.person_id IS DISTINCT FROM n.person_id OR a.created_at < n.sent_at
            OR a.created_at >= n.sent_at + make_interval(days => c.window_days))
    UNION ALL
    -- a material's versions are numbered 1..versions without a gap; a video version has a duration, others none
    SELECT 'material versions 1..n', format('material %s: versions %s, rows %s, highest %s, bad durations %s', m.code, m.versions, v.n,
                                             v.hi, v.bad)
      FROM commerce.material m
      JOIN LATERAL (SELECT count(*) AS n, coalesce(max(x.version), 0) AS hi,
                           count(*) FILTER (WHERE (m.kind = 'video') <> (x.duration_s IS NOT NULL)) AS bad
                      FROM commerce.material_version x WHERE x.tenant_id = m.tenant_id AND x.material_id = m.material_id) v ON true
     WHERE (p_tenant IS NULL OR m.tenant_id = p_tenant) AND (m.versions <> v.n OR m.versions <> v.hi OR v.bad > 0)
    UNION ALL
    -- a ready generation added exactly its versions, a failed or waiting one none
    SELECT 'generation versions', format('generation %s: %s, versions %s, rows %s', g.generation_id, g.status, g.versions, v.n)
      FROM commerce.material_generation g
      JOIN LATERAL (SELECT count(*) AS n FROM commerce.material_version x
                     WHERE x.tenant_id = g.tenant_id AND x.generation_id = g.generation_id) v ON true
     WHERE (p_tenant IS NULL OR g.tenant_id = p_tenant) AND g.versions <> v.n
    UNION ALL
    -- a material share names an existing version of its material, a KOC's carries the KOC's tracking code only
    SELECT 'material share = a version', format('share %s: material %s version %s', s.share_id, s.material_id, s.version)
      FROM commerce.share s
     WHERE (p_tenant IS NULL OR s.tenant_id = p_tenant) AND s.material_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM commerce.material_version v JOIN commerce.material m USING (tenant_id, material_id)
                        WHERE v.tenant_id = s.tenant_id AND v.material_id = s.material_id AND v.version = s.version AND m.code = s.ref);
$$;
COMMENT ON FUNCTION commerce.check_creators_invariants(bigint) IS
  'Check every invariant of the creator pipeline (K01, K02, K10): share click counts and times = their click rows; a list''s counts = its candidates, ranked 1..n, its control part the hash''s; a campaign''s notices = its rows, none to the control part or twice to a member per list (a notice never started aside); a sent notice''s message is in the outbox (crm.message on its channel, carrying the notice); an attributed application is the member''s, within the window after the notice; a material''s versions are 1..n, videos alone with a duration; a ready generation added exactly its versions; a material share names an existing version of its material. No rows: all hold.';
