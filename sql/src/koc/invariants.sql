-- sql/src/koc/invariants.sql: check_koc_invariants(): ledgers equal balances,
-- every line settled once.

-- Every KOC money invariant; one row per violation.
CREATE FUNCTION commerce.check_koc_invariants(p_tenant bigint DEFAULT NULL)
RETURNS TABLE (tenant_id bigint, koc_id bigint, problem text)
LANGUAGE sql STABLE AS $$
    -- the ledger sums equal the account
    SELECT a.tenant_id, a.koc_id, format('account %s/%s/%s/%s/%s <> ledger %s/%s/%s/%s/%s',
               a.settled_fen, a.balance_fen, a.in_flight_fen, a.paid_fen, a.fee_fen,
               coalesce(g.s, 0), coalesce(g.b, 0), coalesce(g.i, 0), coalesce(g.p, 0), coalesce(g.f, 0))
      FROM commerce.koc_account a
      LEFT JOIN (SELECT l.tenant_id, l.koc_id, sum(settled_delta) s, sum(balance_delta) b, sum(in_flight_delta) i,
                        sum(paid_delta) p, sum(fee_delta) f
                   FROM commerce.koc_ledger l GROUP BY 1, 2) g USING (tenant_id, koc_id)
     WHERE (p_tenant IS NULL OR a.tenant_id = p_tenant)
       AND (a.settled_fen, a.balance_fen, a.in_flight_fen, a.paid_fen, a.fee_fen)
           IS DISTINCT FROM (coalesce(g.s, 0), coalesce(g.b, 0), coalesce(g.i, 0), coalesce(g.p, 0), coalesce(g.f, 0))
    UNION ALL
    -- settled money is balance + in flight + paid + fees
    SELECT a.tenant_id, a.koc_id, format('settled %s <> balance %s + in flight %s + paid %s + fees %s',
               a.settled_fen, a.balance_fen, a.in_flight_fen, a.paid_fen, a.fee_fen)
      FROM commerce.koc_account a
     WHERE (p_tenant IS NULL OR a.tenant_id = p_tenant)
       AND a.settled_fen <> a.balance_fen + a.in_flight_fen + a.paid_fen + a.fee_fen
    UNION ALL
    -- the settled lines are the batches, and add up to settled_fen
    SELECT a.tenant_id, a.koc_id, format('settled_seq %s, %s fen; lines say %s fen; batches %s fen ending at %s',
               a.settled_seq, a.settled_fen, x.lines, y.amount, y.last_seq)
      FROM commerce.koc_account a
      CROSS JOIN LATERAL (SELECT coalesce(sum(l.amount_fen), 0) lines FROM commerce.commission_line l
                           WHERE l.tenant_id = a.tenant_id AND l.koc_id = a.koc_id AND l.seq <= a.settled_seq) x
      CROSS JOIN LATERAL (SELECT coalesce(sum(b.amount_fen), 0) amount, coalesce(max(b.to_seq), 0) last_seq,
                                 coalesce(sum(b.to_seq - b.from_seq + 1), 0) covered
                            FROM commerce.settle_batch b
                           WHERE b.tenant_id = a.tenant_id AND b.koc_id = a.koc_id) y
     WHERE (p_tenant IS NULL OR a.tenant_id = p_tenant)
       AND (x.lines <> a.settled_fen OR y.amount <> a.settled_fen OR y.last_seq <> a.settled_seq
            OR y.covered <> a.settled_seq)
    UNION ALL
    -- money in flight is the paying batches and the open withdrawals
    SELECT a.tenant_id, a.koc_id, format('in flight %s <> paying batches %s + open withdrawals %s',
               a.in_flight_fen, b.s, w.s)
      FROM commerce.koc_account a
      CROSS JOIN LATERAL (SELECT coalesce(sum(amount_fen), 0) s FROM commerce.settle_batch b
                           WHERE b.tenant_id = a.tenant_id AND b.koc_id = a.koc_id AND b.status = 'paying') b
      CROSS JOIN LATERAL (SELECT coalesce(sum(amount_fen), 0) s FROM commerce.withdrawal w
                           WHERE w.tenant_id = a.tenant_id AND w.koc_id = a.koc_id
                             AND w.status IN ('requested', 'approved')) w
     WHERE (p_tenant IS NULL OR a.tenant_id = p_tenant) AND a.in_flight_fen <> b.s + w.s
    UNION ALL
    -- the running sums of the unsettled lines
    SELECT a.tenant_id, a.koc_id, format('unsettled %s fen, last payable %s; lines say %s fen, %s',
               a.unsettled_fen, a.last_payable_at, x.s, x.m)
      FROM commerce.koc_account a
      CROSS JOIN LATERAL (SELECT coalesce(sum(l.amount_fen), 0) s, max(l.payable_at) m FROM commerce.commission_line l
                           WHERE l.tenant_id = a.tenant_id AND l.koc_id = a.koc_id AND l.seq > a.settled_seq) x
     WHERE (p_tenant IS NULL OR a.tenant_id = p_tenant)
       AND (a.unsettled_fen <> x.s OR a.last_payable_at IS DISTINCT FROM x.m)
    UNION ALL
    -- lines are numbered below next_seq
    SELECT l.tenant_id, l.koc_id, format('line %s at or above next_seq %s', l.seq, a.next_seq)
      FROM commerce.commission_line l
      JOIN commerce.koc_account a USING (tenant_id, koc_id)
     WHERE (p_tenant IS NULL OR l.tenant_id = p_tenant) AND l.seq >= a.next_seq
    UNION ALL
    -- per order: one earn line; reversals never take back more than was earned
    SELECT l.tenant_id, min(l.koc_id), format('order %s: %s earn lines, net base %s, net amount %s',
               l.order_id, count(*) FILTER (WHERE kind = 'earn'), sum(base_fen), sum(amount_fen))
      FROM commerce.commission_line l
     WHERE (p_tenant IS NULL OR l.tenant_id = p_tenant) AND l.order_id IS NOT NULL
     GROUP BY l.tenant_id, l.order_id
    HAVING count(*) FILTER (WHERE kind = 'earn') <> 1 OR sum(base_fen) < 0 OR sum(amount_fen) < 0
    UNION ALL
    -- an attributed completed order has its earn line
    SELECT o.tenant_id, o.koc_id, format('completed order %s has no commission line', o.order_id)
      FROM commerce.orders o
     WHERE (p_tenant IS NULL OR o.tenant_id = p_tenant) AND o.koc_id IS NOT NULL AND o.completed_at IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM commerce.commission_line l
                        WHERE l.tenant_id = o.tenant_id AND l.source_key = 'order:' || o.order_id);
$$;
COMMENT ON FUNCTION commerce.check_koc_invariants(bigint) IS
  'Checks the KOC money: ledger sums = account, settled = balance + in flight + paid + fees, settled lines = batches = settled_fen with batches covering 1..settled_seq once, in flight = paying batches + open withdrawals, one earn line per redeemed attributed order and no over-reversal. One row per violation; none when healthy.';
