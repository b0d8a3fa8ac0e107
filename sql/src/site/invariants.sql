-- sql/src/site/invariants.sql: check_site_invariants().

-- Every invariant of site pages and live rooms, checked; no rows means all hold.
CREATE FUNCTION commerce.check_site_invariants(p_tenant bigint DEFAULT NULL)
RETURNS TABLE (invariant text, detail text) LANGUAGE sql STABLE AS $$
    -- a page's versions are 1..versions, each once
    SELECT 'page versions = 1..n', format('page %s: versions %s; rows %s from %s to %s', p.slug, p.versions, v.n, v.lo, v.hi)
      FROM commerce.site_page p
      JOIN LATERAL (SELECT count(*) AS n, min(x.version) AS lo, max(x.version) AS hi FROM commerce.site_page_version x
                     WHERE x.tenant_id = p.tenant_id AND x.page_id = p.page_id) v ON true
     WHERE (p_tenant IS NULL OR p.tenant_id = p_tenant)
       AND (v.n <> p.versions OR (v.n > 0 AND (v.lo <> 1 OR v.hi <> p.versions)))
    UNION ALL
    -- a subscriber told once: its outcome is set exactly when the room started; only a queued one has a message (delivered ones may be purged)
    SELECT 'live subscriber told once', format('room %s customer %s: room %s, outcome %s, message %s', r.code, s.customer_id, r.status,
                                               s.outcome, m.n)
      FROM commerce.live_room_subscriber s
      JOIN commerce.live_room r ON r.tenant_id = s.tenant_id AND r.room_id = s.room_id
      JOIN LATERAL (SELECT count(*) AS n FROM commerce.outbox o
                     WHERE o.tenant_id = s.tenant_id AND o.topic = 'mp.subscribe_message'
                       AND o.dedupe_key = 'subscribe:live:' || s.room_id || ':' || s.customer_id) m ON true
     WHERE (p_tenant IS NULL OR s.tenant_id = p_tenant)
       AND ((s.outcome IS NULL) <> (r.started_at IS NULL) OR m.n > CASE WHEN s.outcome = 'queued' THEN 1 ELSE 0 END)
    UNION ALL
    -- a live room's list names active or inactive SKUs of its own tenant once each, one pinned at most
    SELECT 'live list pins one', format('room %s: pinned %s', r.code, count(*))
      FROM commerce.live_room_item i JOIN commerce.live_room r ON r.tenant_id = i.tenant_id AND r.room_id = i.room_id
     WHERE (p_tenant IS NULL OR i.tenant_id = p_tenant) AND i.pinned
     GROUP BY r.code, r.tenant_id HAVING count(*) > 1
    UNION ALL
    -- no subscription message without a credit used for it (the outbox keeps fewer once delivered ones are purged)
    SELECT 'messages <= credits used', format('customer %s %s: used %s, messages %s', c.customer_id, c.template, c.used, m.n)
      FROM commerce.subscription_credit c
      JOIN LATERAL (SELECT count(*) AS n FROM commerce.outbox o
                     WHERE o.tenant_id = c.tenant_id AND o.topic = 'mp.subscribe_message' AND o.payload ->> 'template' = c.template
                       AND o.payload ->> 'customer' = (SELECT cu.code FROM commerce.customer cu
                                                         WHERE cu.tenant_id = c.tenant_id AND cu.customer_id = c.customer_id)) m ON true
     WHERE (p_tenant IS NULL OR c.tenant_id = p_tenant) AND m.n > c.used;
$$;
COMMENT ON FUNCTION commerce.check_site_invariants(bigint) IS
  'Check every invariant of the creator''s site and live rooms (H3.5): a page''s versions are 1..n; a live room''s subscriber is told exactly when the room started, only a queued one by a message, once; at most one pinned SKU per room; no more mp.subscribe_message messages of a customer and template than the credits it used (delivered messages may have been purged, so fewer is allowed). No rows: all hold.';
