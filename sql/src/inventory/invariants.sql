-- sql/src/inventory/invariants.sql: the stock view and
-- check_stock_invariants().

CREATE VIEW commerce.stock AS
SELECT p.tenant_id, p.pool_id, s.code AS sku, w.code AS warehouse, p.activity, p.activity_kind,
       p.status, p.parent_pool_id,
       sum(sl.on_hand)::bigint  AS on_hand,
       sum(sl.reserved)::bigint AS reserved,
       sum(sl.sold)::bigint     AS sold,
       sum(sl.on_hand - sl.reserved - sl.sold)::bigint AS available,
       p.low_stock_threshold, p.slot_count
  FROM commerce.stock_pool p
  JOIN commerce.sku s ON s.tenant_id = p.tenant_id AND s.sku_id = p.sku_id
  JOIN commerce.warehouse w ON w.tenant_id = p.tenant_id AND w.warehouse_id = p.warehouse_id
  JOIN commerce.stock_slot sl ON sl.tenant_id = p.tenant_id AND sl.pool_id = p.pool_id
 GROUP BY p.tenant_id, p.pool_id, s.code, w.code;
COMMENT ON VIEW commerce.stock IS 'Pool figures (sums over slots): on_hand, reserved, sold, available.';

-- Every invariant of the stock pool, checked; no rows means all hold.
CREATE FUNCTION commerce.check_stock_invariants(p_tenant bigint DEFAULT NULL)
RETURNS TABLE (check_name text, tenant_id bigint, pool_id bigint, detail text)
LANGUAGE sql STABLE AS $$
    WITH slots AS (
        SELECT s.tenant_id, s.pool_id, sum(s.on_hand) AS on_hand, sum(s.reserved) AS reserved,
               sum(s.sold) AS sold, bool_or(s.reserved + s.sold > s.on_hand) AS oversold,
               bool_or(s.on_hand < 0 OR s.reserved < 0 OR s.sold < 0) AS negative
          FROM commerce.stock_slot s
         WHERE p_tenant IS NULL OR s.tenant_id = p_tenant
         GROUP BY 1, 2),
    ledger AS (
        SELECT m.tenant_id, m.pool_id, sum(d_on_hand) AS on_hand, sum(d_reserved) AS reserved,
               sum(d_sold) AS sold
          FROM commerce.stock_movement m
         WHERE p_tenant IS NULL OR m.tenant_id = p_tenant
         GROUP BY 1, 2),
    held AS (
        SELECT l.tenant_id, l.pool_id, l.slot_no,
               sum(l.qty) FILTER (WHERE r.status = 'active') AS reserved,
               sum(l.qty - l.returned_qty) FILTER (WHERE r.status = 'confirmed') AS sold
          FROM commerce.reservation_line l
          JOIN commerce.reservation r USING (tenant_id, reservation_id)
         WHERE p_tenant IS NULL OR l.tenant_id = p_tenant
         GROUP BY 1, 2, 3)
    SELECT 'negative', s.tenant_id, s.pool_id, 'a slot has a negative figure'
      FROM slots s WHERE s.negative
    UNION ALL
    SELECT 'oversold', s.tenant_id, s.pool_id, 'reserved + sold exceeds on_hand in a slot'
      FROM slots s WHERE s.oversold
    UNION ALL
    SELECT 'ledger', s.tenant_id, s.pool_id,
           format('pool (%s, %s, %s) vs ledger (%s, %s, %s)', s.on_hand, s.reserved, s.sold,
                  l.on_hand, l.reserved, l.sold)
      FROM slots s LEFT JOIN ledger l USING (tenant_id, pool_id)
     WHERE (s.on_hand, s.reserved, s.sold)
           IS DISTINCT FROM (coalesce(l.on_hand, 0), coalesce(l.reserved, 0), coalesce(l.sold, 0))
    UNION ALL
    SELECT 'reservations', sl.tenant_id, sl.pool_id,
           format('slot %s holds (%s reserved, %s sold) but its reservations say (%s, %s)',
                  sl.slot_no, sl.reserved, sl.sold, coalesce(h.reserved, 0), coalesce(h.sold, 0))
      FROM commerce.stock_slot sl
      LEFT JOIN held h USING (tenant_id, pool_id, slot_no)
     WHERE (p_tenant IS NULL OR sl.tenant_id = p_tenant)
       AND (sl.reserved <> coalesce(h.reserved, 0) OR sl.sold <> coalesce(h.sold, 0))
    UNION ALL
    SELECT 'orphan', x.tenant_id, x.pool_id, format('%s rows refer to a missing pool', x.what)
      FROM (SELECT 'stock_movement' AS what, m.tenant_id, m.pool_id FROM commerce.stock_movement m
            UNION ALL
            SELECT 'reservation_line', l.tenant_id, l.pool_id FROM commerce.reservation_line l) x
     WHERE (p_tenant IS NULL OR x.tenant_id = p_tenant)
       AND NOT EXISTS (SELECT 1 FROM commerce.stock_pool p
                        WHERE p.tenant_id = x.tenant_id AND p.pool_id = x.pool_id)
    UNION ALL
    SELECT 'orphan', l.tenant_id, l.pool_id,
           format('line %s of missing reservation %s', l.line_no, l.reservation_id)
      FROM commerce.reservation_line l
     WHERE (p_tenant IS NULL OR l.tenant_id = p_tenant)
       AND NOT EXISTS (SELECT 1 FROM commerce.reservation r
                        WHERE r.tenant_id = l.tenant_id AND r.reservation_id = l.reservation_id)
    UNION ALL
    SELECT 'ended_once', r.tenant_id, NULL::bigint,
           format('reservation %s is %s but ended_at is %s', r.reservation_id, r.status,
                  coalesce(r.ended_at::text, 'NULL'))
      FROM commerce.reservation r
     WHERE (p_tenant IS NULL OR r.tenant_id = p_tenant)
       AND (r.status = 'active') <> (r.ended_at IS NULL);
$$;
COMMENT ON FUNCTION commerce.check_stock_invariants(bigint) IS
  'Checks no negative figure, no oversell, ledger = pool, slot figures = the reservations that hold them, and every ended reservation stamped once. Returns one row per violation; none when healthy.';
