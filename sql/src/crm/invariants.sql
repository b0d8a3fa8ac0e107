-- sql/src/crm/invariants.sql: what must hold of the CRM, checked from the
-- source rows (orders, accounts, events) rather than assumed: features and
-- daily rollups equal their orders, stored segment membership equals a full
-- evaluation once the pump has caught up, rule tags equal their segments,
-- ticket histories are complete.

-- Every invariant of the CRM; no rows means all hold.
CREATE FUNCTION commerce.check_crm_invariants(p_tenant bigint DEFAULT NULL)
RETURNS TABLE (invariant text, detail text) LANGUAGE plpgsql VOLATILE AS $$
DECLARE s record; v_missing bigint; v_extra bigint; v_now timestamptz := commerce.now();
BEGIN
    -- features and rollups recomputed from the orders (every paid order of the person's accounts)
    RETURN QUERY
    WITH o AS (
        SELECT c.tenant_id, c.person_id, count(*) AS n, sum(x.paid_fen - x.refunded_fen)::bigint AS spent,
               sum(x.refunded_fen)::bigint AS refunded, max(x.paid_at) AS last_at
          FROM commerce.orders x JOIN commerce.customer c ON c.tenant_id = x.tenant_id AND c.customer_id = x.customer_id
         WHERE x.paid_at IS NOT NULL AND (p_tenant IS NULL OR x.tenant_id = p_tenant)
         GROUP BY c.tenant_id, c.person_id),
    p AS (SELECT DISTINCT c.tenant_id, c.person_id FROM commerce.customer c WHERE p_tenant IS NULL OR c.tenant_id = p_tenant)
    SELECT 'features equal the person''s paid orders'::text,
           format('tenant %s person %s: features %s orders, %s fen, last %s; orders say %s, %s fen, last %s',
                  p.tenant_id, p.person_id, f.orders_count, f.spent_fen, f.last_order_at,
                  coalesce(o.n, 0), coalesce(o.spent, 0), o.last_at)
      FROM p
      LEFT JOIN commerce.crm_feature f ON f.tenant_id = p.tenant_id AND f.person_id = p.person_id
      LEFT JOIN o ON o.tenant_id = p.tenant_id AND o.person_id = p.person_id
     WHERE f.person_id IS NULL OR f.orders_count <> coalesce(o.n, 0) OR f.spent_fen <> coalesce(o.spent, 0)
        OR f.refunded_fen <> coalesce(o.refunded, 0) OR f.last_order_at IS DISTINCT FROM o.last_at
        OR f.growth <> greatest(f.spent_fen, 0) / 100 OR f.level <> commerce._growth_level(f.tenant_id, f.growth);
    RETURN QUERY
    SELECT 'only persons with accounts have features'::text, format('tenant %s person %s', f.tenant_id, f.person_id)
      FROM commerce.crm_feature f
     WHERE (p_tenant IS NULL OR f.tenant_id = p_tenant)
       AND NOT EXISTS (SELECT 1 FROM commerce.customer c WHERE c.tenant_id = f.tenant_id AND c.person_id = f.person_id);
    RETURN QUERY
    WITH o AS (
        SELECT c.tenant_id, c.person_id, (x.paid_at AT TIME ZONE t.time_zone)::date AS day, count(*) AS n,
               sum(x.paid_fen - x.refunded_fen)::bigint AS spent
          FROM commerce.orders x JOIN commerce.customer c ON c.tenant_id = x.tenant_id AND c.customer_id = x.customer_id
          JOIN commerce.tenant t ON t.tenant_id = x.tenant_id
         WHERE x.paid_at IS NOT NULL AND (p_tenant IS NULL OR x.tenant_id = p_tenant)
         GROUP BY 1, 2, 3),
    d AS (SELECT * FROM commerce.crm_day y WHERE (p_tenant IS NULL OR y.tenant_id = p_tenant) AND (y.orders <> 0 OR y.spent_fen <> 0))
    SELECT 'daily rollups equal the orders paid each day'::text,
           format('tenant %s person %s day %s: rollup %s orders %s fen, orders say %s, %s',
                  coalesce(d.tenant_id, o.tenant_id), coalesce(d.person_id, o.person_id), coalesce(d.day, o.day),
                  d.orders, d.spent_fen, o.n, o.spent)
      FROM d FULL JOIN o ON o.tenant_id = d.tenant_id AND o.person_id = d.person_id AND o.day = d.day
     WHERE d.orders IS DISTINCT FROM o.n::integer OR d.spent_fen IS DISTINCT FROM o.spent;
    -- stored membership equals a full evaluation (once the pump has taken every queued change)
    FOR s IN SELECT g.tenant_id, g.segment_id, g.code, g.kind, g.select_all, g.nums, g.strs FROM commerce.segment g
              WHERE g.active AND (p_tenant IS NULL OR g.tenant_id = p_tenant)
                AND NOT EXISTS (SELECT 1 FROM commerce.crm_dirty d WHERE d.tenant_id = g.tenant_id)
              ORDER BY g.tenant_id, g.segment_id LOOP
        EXECUTE format($q$
            WITH want AS (
                (%s EXCEPT SELECT o.person_id FROM commerce.segment_override o
                            WHERE o.tenant_id = $1 AND o.segment_id = $6 AND o.mode = 'exclude')
                UNION SELECT o.person_id FROM commerce.segment_override o
                       WHERE o.tenant_id = $1 AND o.segment_id = $6 AND o.mode = 'include'),
            have AS (SELECT m.person_id FROM commerce.segment_member m WHERE m.tenant_id = $1 AND m.segment_id = $6)
            SELECT (SELECT count(*) FROM (SELECT * FROM want EXCEPT SELECT * FROM have) x),
                   (SELECT count(*) FROM (SELECT * FROM have EXCEPT SELECT * FROM want) y)$q$, s.select_all)
          INTO v_missing, v_extra
          USING s.tenant_id, commerce._tenant_day(s.tenant_id, v_now), v_now, s.nums, s.strs, s.segment_id;
        IF v_missing > 0 OR v_extra > 0 THEN
            invariant := 'stored segment membership equals a full evaluation';
            detail := format('tenant %s %s %s: %s missing, %s extra (a rebuild after the last day change is due?)',
                             s.tenant_id, s.kind, s.code, v_missing, v_extra);
            RETURN NEXT;
        END IF;
    END LOOP;
    RETURN QUERY
    SELECT 'a rule tag is on exactly the members of its segment'::text,
           format('tenant %s tag %s: person %s is a member but not tagged', t.tenant_id, t.code, m.person_id)
      FROM commerce.tag t
      JOIN commerce.segment_member m ON m.tenant_id = t.tenant_id AND m.segment_id = t.segment_id
     WHERE t.source = 'rule' AND (p_tenant IS NULL OR t.tenant_id = p_tenant)
       AND NOT EXISTS (SELECT 1 FROM commerce.person_tag pt
                        WHERE pt.tenant_id = t.tenant_id AND pt.tag_id = t.tag_id AND pt.person_id = m.person_id)
    UNION ALL
    SELECT 'a rule tag is on exactly the members of its segment'::text,
           format('tenant %s tag %s: person %s is tagged but not a member', t.tenant_id, t.code, pt.person_id)
      FROM commerce.tag t
      JOIN commerce.person_tag pt ON pt.tenant_id = t.tenant_id AND pt.tag_id = t.tag_id
     WHERE t.source = 'rule' AND (p_tenant IS NULL OR t.tenant_id = p_tenant)
       AND NOT EXISTS (SELECT 1 FROM commerce.segment_member m
                        WHERE m.tenant_id = t.tenant_id AND m.segment_id = t.segment_id AND m.person_id = pt.person_id);
    RETURN QUERY
    SELECT 'a ticket''s history has every step once, from 1'::text,
           format('tenant %s ticket %s: last_seq %s, %s steps up to %s', k.tenant_id, k.ticket_id, k.last_seq, e.n, e.top)
      FROM commerce.ticket k
      LEFT JOIN LATERAL (SELECT count(*) AS n, max(x.seq) AS top FROM commerce.ticket_event x
                          WHERE x.tenant_id = k.tenant_id AND x.ticket_id = k.ticket_id) e ON true
     WHERE (p_tenant IS NULL OR k.tenant_id = p_tenant) AND (e.n <> k.last_seq OR e.top <> k.last_seq);
    RETURN QUERY
    SELECT 'a ticket''s state is the last state its history moved it to'::text,
           format('tenant %s ticket %s is %s, history says %s', k.tenant_id, k.ticket_id, k.status, coalesce(e.to_status, 'pending'))
      FROM commerce.ticket k
      LEFT JOIN LATERAL (SELECT x.to_status FROM commerce.ticket_event x
                          WHERE x.tenant_id = k.tenant_id AND x.ticket_id = k.ticket_id AND x.to_status IS NOT NULL
                          ORDER BY x.seq DESC LIMIT 1) e ON true
     WHERE (p_tenant IS NULL OR k.tenant_id = p_tenant) AND k.status <> coalesce(e.to_status, 'pending');
    RETURN QUERY
    SELECT 'a flow run records each step it took once, numbered 1 to seq'::text,
           format('tenant %s run %s: seq %s, %s steps recorded up to %s', r.tenant_id, r.run_id, r.seq, coalesce(x.n, 0), x.top)
      FROM commerce.flow_run r
      LEFT JOIN LATERAL (SELECT count(*) AS n, max(sr.seq) AS top FROM commerce.flow_step_run sr
                          WHERE sr.tenant_id = r.tenant_id AND sr.run_id = r.run_id) x ON true
     WHERE (p_tenant IS NULL OR r.tenant_id = p_tenant) AND (coalesce(x.n, 0) <> r.seq OR coalesce(x.top, 0) <> r.seq);
    RETURN QUERY
    SELECT 'a flow without re-entry runs once per person'::text,
           format('tenant %s flow %s person %s: %s runs', r.tenant_id, r.flow_id, r.person_id, count(*))
      FROM commerce.flow_run r
      JOIN commerce.flow_version v ON v.tenant_id = r.tenant_id AND v.flow_id = r.flow_id AND v.version = r.version
     WHERE (p_tenant IS NULL OR r.tenant_id = p_tenant) AND v.reentry_after IS NULL
       AND EXISTS (SELECT 1 FROM commerce.flow_run o WHERE o.tenant_id = r.tenant_id AND o.flow_id = r.flow_id
                      AND o.person_id = r.person_id AND o.run_id <> r.run_id)
     GROUP BY r.tenant_id, r.flow_id, r.person_id;
    RETURN QUERY
    SELECT 'no one gets more messages a day than the channel''s cap'::text,
           format('tenant %s person %s %s on %s: %s sent, cap %s', k.tenant_id, k.person_id, k.channel, k.day, k.sent, c.per_day)
      FROM commerce.contact_count k
      JOIN commerce.contact_cap c ON c.tenant_id = k.tenant_id AND c.channel = k.channel
     WHERE (p_tenant IS NULL OR k.tenant_id = p_tenant) AND k.sent > c.per_day;
END $$;
COMMENT ON FUNCTION commerce.check_crm_invariants(bigint) IS
  'Every invariant of the CRM (one tenant, or all); no rows means all hold: each person with an account has features equal to its paid orders (count, net and refunded fen, last paid, growth, level) and daily rollups equal to the orders paid each tenant-local day; stored membership of every active segment and rule tag equals a full evaluation of its tree with its overrides (checked for tenants whose queued changes the pump has taken); rule tags are on exactly their segment''s members; every ticket''s history holds each step once and ends in the ticket''s state; every flow run recorded each step it took once; a flow without re-entry ran once per person; no daily message count passed its channel''s cap (today''s cap: a lowered cap shows earlier days over it).';
