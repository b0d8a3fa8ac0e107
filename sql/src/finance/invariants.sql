-- sql/src/finance/invariants.sql: check_finance_invariants().

-- Every invariant of profit sharing, checked; no rows means all hold.
CREATE FUNCTION commerce.check_finance_invariants(p_tenant bigint DEFAULT NULL)
RETURNS TABLE (invariant text, detail text) LANGUAGE sql STABLE AS $$
    -- the parts of a line of a live split add up to its base now and the parties stay within the cap
    SELECT 'line parts = base, parties <= cap',
           format('split %s line %s: parts %s, parties %s; base %s, cap %s', p.split_id, p.line_no, sum(p.amount_fen),
                  sum(p.amount_fen) FILTER (WHERE p.party_no > 0), l.base, l.cap)
      FROM commerce.profit_split_part p
      JOIN commerce.profit_split s USING (tenant_id, split_id)
      JOIN LATERAL (
          SELECT sol.net_fen - sol.refunded_fen - commerce.rate_fen(sol.net_fen - sol.refunded_fen, so.fee_bp) AS base,
                 commerce.rate_fen(sol.net_fen - sol.refunded_fen, so.max_share_bp) AS cap
            FROM commerce.sharing_order_line sol
            JOIN commerce.sharing_order so ON so.tenant_id = sol.tenant_id AND so.order_id = sol.order_id
           WHERE sol.tenant_id = p.tenant_id AND sol.order_id = s.order_id AND sol.line_no = p.line_no) l ON true
     WHERE (p_tenant IS NULL OR p.tenant_id = p_tenant) AND s.status NOT IN ('failed', 'cancelled')
     GROUP BY p.tenant_id, p.split_id, p.line_no, l.base, l.cap
    HAVING sum(p.amount_fen) <> l.base OR coalesce(sum(p.amount_fen) FILTER (WHERE p.party_no > 0), 0) > l.cap
    UNION ALL
    -- a split's totals are its parts
    SELECT 'split totals = parts', format('split %s: base %s parties %s, parts %s and %s', s.split_id, s.base_fen,
                                          s.parties_fen, t.base, t.parties)
      FROM commerce.profit_split s
      JOIN LATERAL (SELECT coalesce(sum(amount_fen), 0) AS base, coalesce(sum(amount_fen) FILTER (WHERE party_no > 0), 0) AS parties
                      FROM commerce.profit_split_part WHERE tenant_id = s.tenant_id AND split_id = s.split_id) t ON true
     WHERE (p_tenant IS NULL OR s.tenant_id = p_tenant) AND s.status NOT IN ('failed')
       AND (s.base_fen <> t.base OR s.parties_fen <> t.parties)
    UNION ALL
    -- a line is in one split
    SELECT 'a line in one split', format('order %s line %s in %s splits', s.order_id, p.line_no, count(DISTINCT s.split_id))
      FROM commerce.profit_split_part p JOIN commerce.profit_split s USING (tenant_id, split_id)
     WHERE (p_tenant IS NULL OR p.tenant_id = p_tenant)
     GROUP BY p.tenant_id, s.order_id, p.line_no HAVING count(DISTINCT s.split_id) > 1
    UNION ALL
    -- what a receiver was paid in a submitted split, less what refunds took back since, is what it earns now
    SELECT 'paid - adjustments = earned', format('split %s receiver %s: request %s, adjustments %s, parts %s', s.split_id,
                                                 r.receiver_id, r.earned, r.adjusted, r.parts)
      FROM commerce.profit_split s
      JOIN LATERAL (
          SELECT x.receiver_id, coalesce(l.earned_fen, 0) AS earned,
                 coalesce((SELECT sum(a.amount_fen) FROM commerce.profit_split_adjustment a
                            WHERE a.tenant_id = s.tenant_id AND a.split_id = s.split_id AND a.receiver_id = x.receiver_id
                              AND a.status <> 'cancelled'), 0) AS adjusted,
                 x.parts
            FROM (SELECT receiver_id, sum(amount_fen) AS parts FROM commerce.profit_split_part
                   WHERE tenant_id = s.tenant_id AND split_id = s.split_id AND party_no > 0 GROUP BY 1) x
            LEFT JOIN commerce.profit_split_line l ON l.tenant_id = s.tenant_id AND l.split_id = s.split_id
                                                 AND l.receiver_id = x.receiver_id) r ON true
     WHERE (p_tenant IS NULL OR s.tenant_id = p_tenant) AND s.status IN ('submitted', 'accepted', 'finished')
       AND r.earned - r.adjusted <> r.parts
    UNION ALL
    -- a debt's netted amount is its nets in splits that did not fail
    SELECT 'debt netted = nets', format('adjustment %s: netted %s, nets %s', a.adjustment_id, a.netted_fen, n.fen)
      FROM commerce.profit_split_adjustment a
      JOIN LATERAL (SELECT coalesce(sum(n.amount_fen), 0) AS fen FROM commerce.profit_split_net n
                      JOIN commerce.profit_split s ON s.tenant_id = n.tenant_id AND s.split_id = n.split_id
                     WHERE n.tenant_id = a.tenant_id AND n.adjustment_id = a.adjustment_id AND s.status <> 'failed') n ON true
     WHERE (p_tenant IS NULL OR a.tenant_id = p_tenant) AND a.kind = 'debt' AND a.netted_fen <> n.fen
    UNION ALL
    -- a split's netted amount is its nets; its request lines pay what they earned less the nets
    SELECT 'split netted = nets = lines', format('split %s: netted %s, nets %s, lines %s', s.split_id, s.netted_fen,
                                                 (SELECT coalesce(sum(amount_fen), 0) FROM commerce.profit_split_net
                                                   WHERE tenant_id = s.tenant_id AND split_id = s.split_id),
                                                 (SELECT coalesce(sum(netted_fen), 0) FROM commerce.profit_split_line
                                                   WHERE tenant_id = s.tenant_id AND split_id = s.split_id))
      FROM commerce.profit_split s
     WHERE (p_tenant IS NULL OR s.tenant_id = p_tenant)
       AND (s.netted_fen <> (SELECT coalesce(sum(amount_fen), 0) FROM commerce.profit_split_net
                              WHERE tenant_id = s.tenant_id AND split_id = s.split_id)
            OR s.netted_fen <> (SELECT coalesce(sum(netted_fen), 0) FROM commerce.profit_split_line
                                 WHERE tenant_id = s.tenant_id AND split_id = s.split_id))
    UNION ALL
    -- a submitted split has its one message; a split never submitted has none
    SELECT 'one message per submitted split', format('split %s (%s): %s messages', s.split_id, s.status, count(m.message_id))
      FROM commerce.profit_split s
      LEFT JOIN commerce.outbox m ON m.tenant_id = s.tenant_id AND m.topic IN ('finance.split', 'finance.transfer')
                                 AND m.dedupe_key = s.request_no
     WHERE (p_tenant IS NULL OR s.tenant_id = p_tenant)
     GROUP BY s.tenant_id, s.split_id, s.status, s.submitted_at, s.netted_fen
    HAVING count(m.message_id) <> CASE WHEN s.submitted_at IS NULL THEN 0
                                       WHEN s.status = 'finished' AND s.accepted_at IS NULL
                                            AND NOT EXISTS (SELECT 1 FROM commerce.profit_split_line l
                                                             WHERE l.tenant_id = s.tenant_id AND l.split_id = s.split_id
                                                               AND l.paid_fen > 0) THEN 0
                                       ELSE 1 END
    UNION ALL
    -- the lines of a sharing order were paid at most what the goods were, and a fully refunded order
    -- leaves none of them anything
    SELECT 'lines within the payment', format('order %s: lines %s, refunded %s; paid %s, shipping %s, refunded %s', o.order_id,
                                              sum(l.net_fen), sum(l.refunded_fen), o.paid_fen, o.shipping_fen, o.refunded_fen)
      FROM commerce.sharing_order_line l
      JOIN commerce.orders o ON o.tenant_id = l.tenant_id AND o.order_id = l.order_id
     WHERE (p_tenant IS NULL OR l.tenant_id = p_tenant)
     GROUP BY o.tenant_id, o.order_id, o.paid_fen, o.shipping_fen, o.refunded_fen
    HAVING sum(l.net_fen) > greatest(o.paid_fen - o.shipping_fen, 0) OR sum(l.refunded_fen) > o.refunded_fen
        OR (o.refunded_fen >= o.paid_fen AND sum(l.refunded_fen) <> sum(l.net_fen))
    UNION ALL
    -- a requested or ended return has its one message
    SELECT 'one message per return', format('return %s (%s): %s messages', a.return_no, a.status, count(m.message_id))
      FROM commerce.profit_split_adjustment a
      LEFT JOIN commerce.outbox m ON m.tenant_id = a.tenant_id AND m.topic = 'finance.split_return' AND m.dedupe_key = a.return_no
     WHERE (p_tenant IS NULL OR a.tenant_id = p_tenant) AND a.kind = 'return'
     GROUP BY a.tenant_id, a.adjustment_id, a.return_no, a.status
    HAVING count(m.message_id) <> CASE WHEN a.status IN ('waiting', 'cancelled') THEN 0 ELSE 1 END;
$$;
COMMENT ON FUNCTION commerce.check_finance_invariants(bigint) IS
  'Every invariant of profit sharing (one tenant or all); no rows means all hold: the parts of each line of a live split add up to its base now and the parties stay within the gateway''s cap; a split''s totals are its parts; a line is in one split; for a submitted split, what each receiver''s request line earned less the adjustments since is what it earns now; debts'' netted amounts are their nets in splits that did not fail, and a split''s netted amount its nets and its lines'' nets; one outbox message per submitted split and per requested return; a sharing order''s lines were paid at most what its goods were, refunds on them are at most the order''s, and a fully refunded order leaves them nothing.';
