-- sql/src/orders/invariants.sql: check_order_invariants().

-- Every invariant of the orders, checked; no rows means all hold.
CREATE FUNCTION commerce.check_order_invariants(p_tenant bigint DEFAULT NULL)
RETURNS TABLE (check_name text, tenant_id bigint, order_id bigint, detail text)
LANGUAGE sql STABLE AS $$
    SELECT 'orphan_order', o.tenant_id, o.order_id, 'unknown channel or customer'
      FROM commerce.orders o
     WHERE (p_tenant IS NULL OR o.tenant_id = p_tenant)
       AND (NOT EXISTS (SELECT 1 FROM commerce.channel c WHERE c.tenant_id = o.tenant_id AND c.channel_id = o.channel_id)
            OR (o.customer_id IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM commerce.customer c WHERE c.tenant_id = o.tenant_id AND c.customer_id = o.customer_id)))
    UNION ALL
    SELECT 'orphan_line', l.tenant_id, l.order_id, format('line %s', l.line_no)
      FROM commerce.order_line l
     WHERE (p_tenant IS NULL OR l.tenant_id = p_tenant)
       AND (NOT EXISTS (SELECT 1 FROM commerce.orders o WHERE o.tenant_id = l.tenant_id AND o.order_id = l.order_id)
            OR NOT EXISTS (SELECT 1 FROM commerce.sku s WHERE s.tenant_id = l.tenant_id AND s.sku_id = l.sku_id))
    UNION ALL
    SELECT 'goods_total', o.tenant_id, o.order_id, format('goods %s, lines %s', o.goods_fen, x.total)
      FROM commerce.orders o
      JOIN (SELECT tenant_id, order_id, sum(amount_fen) AS total FROM commerce.order_line GROUP BY 1, 2) x
        USING (tenant_id, order_id)
     WHERE (p_tenant IS NULL OR o.tenant_id = p_tenant) AND x.total <> o.goods_fen
       AND NOT EXISTS (SELECT 1 FROM commerce.channel c WHERE c.tenant_id = o.tenant_id
                         AND c.channel_id = o.channel_id AND c.kind = 'platform')
    UNION ALL
    SELECT 'refund_exceeds_paid', o.tenant_id, o.order_id, format('paid %s, refunded %s', o.paid_fen, o.refunded_fen)
      FROM commerce.orders o
     WHERE (p_tenant IS NULL OR o.tenant_id = p_tenant) AND o.refunded_fen > coalesce(o.paid_fen, 0)
    UNION ALL
    SELECT 'stock', o.tenant_id, o.order_id,
           format('status %s, reservation %s', o.status, coalesce(r.status::text, 'none'))
      FROM commerce.orders o
      LEFT JOIN commerce.reservation r ON r.tenant_id = o.tenant_id AND r.reservation_id = o.reservation_id
     WHERE (p_tenant IS NULL OR o.tenant_id = p_tenant) AND NOT o.oversell
       AND ((o.status IN ('paid', 'shipped', 'completed') AND r.status IS DISTINCT FROM 'confirmed')
            OR (o.status = 'pending_payment' AND o.pay_deadline IS NOT NULL
                AND r.status NOT IN ('active', 'expired'))
            OR (o.status = 'cancelled' AND r.status = 'active'));
$$;
COMMENT ON FUNCTION commerce.check_order_invariants(bigint) IS
  'Checks orders: no orphan order or line, self-operated goods totals = their lines, refunds within what was paid, and stock consistent with status (paid orders hold confirmed stock unless flagged oversell; cancelled orders hold none). One row per violation; none when healthy.';
