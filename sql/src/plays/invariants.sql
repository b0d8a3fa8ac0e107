-- sql/src/plays/invariants.sql: check_play_invariants().

-- Every invariant of the plays, checked; no rows means all hold.
CREATE FUNCTION commerce.check_play_invariants(p_tenant bigint DEFAULT NULL)
RETURNS TABLE (invariant text, detail text) LANGUAGE sql STABLE AS $$
    -- a group's progress is its members; a successful group has exactly its target
    SELECT 'group members = progress', format('instance %s: current %s, members %s, target %s, %s',
                                             i.instance_id, i.current, count(p.customer_id), i.target, i.status)
      FROM commerce.play_instance i
      LEFT JOIN commerce.play_participant p USING (tenant_id, instance_id)
     WHERE (p_tenant IS NULL OR i.tenant_id = p_tenant) AND i.price_fen IS NULL
     GROUP BY i.tenant_id, i.instance_id
    HAVING count(p.customer_id) <> i.current OR count(p.customer_id) > i.target
        OR (i.status = 'success' AND count(p.customer_id) <> i.target)
    UNION ALL
    -- a failed group's paying members are all refunding or refunded
    SELECT 'failed group refunded', format('instance %s: member %s is %s', i.instance_id, p.customer_id, p.status)
      FROM commerce.play_instance i JOIN commerce.play_participant p USING (tenant_id, instance_id)
     WHERE (p_tenant IS NULL OR i.tenant_id = p_tenant) AND i.status = 'failed' AND i.price_fen IS NULL
       AND p.order_id IS NOT NULL AND p.status = 'joined'
    UNION ALL
    -- a held place awaits its order's payment in an active group; a joined member's order is paid
    SELECT 'held place = unpaid order', format('instance %s (%s): member %s is %s, order %s is %s',
                                              i.instance_id, i.status, p.customer_id, p.status, o.order_id, o.status)
      FROM commerce.play_instance i JOIN commerce.play_participant p USING (tenant_id, instance_id)
      JOIN commerce.orders o ON o.tenant_id = p.tenant_id AND o.order_id = p.order_id
     WHERE (p_tenant IS NULL OR i.tenant_id = p_tenant) AND i.price_fen IS NULL
       AND ((p.status = 'held') <> (o.paid_at IS NULL) OR (p.status = 'held' AND (i.status <> 'active' OR o.status <> 'pending_payment')))
    UNION ALL
    -- a bargain's price is the play price less its cuts, never below the floor
    SELECT 'bargain price = price - cuts', format('instance %s: price %s, cuts %s, helps %s/%s',
                                                  i.instance_id, i.price_fen, coalesce(h.cuts, 0), coalesce(h.n, 0), i.current)
      FROM commerce.play_instance i
      JOIN commerce.play_config c ON c.tenant_id = i.tenant_id AND c.config_id = i.config_id
      LEFT JOIN LATERAL (SELECT sum(cut_fen) AS cuts, count(*) AS n FROM commerce.play_help x
                          WHERE x.tenant_id = i.tenant_id AND x.instance_id = i.instance_id) h ON true
     WHERE (p_tenant IS NULL OR i.tenant_id = p_tenant) AND i.price_fen IS NOT NULL
       AND (i.price_fen <> c.price_fen - coalesce(h.cuts, 0) OR coalesce(h.n, 0) <> i.current
            OR i.price_fen < (c.rules ->> 'floor_fen')::bigint
            OR (i.status = 'success') <> (i.price_fen = (c.rules ->> 'floor_fen')::bigint AND i.status <> 'failed'))
    UNION ALL
    -- an asset's remaining is its total less its consumption (unless voided by a refund)
    SELECT 'asset remaining = total - consumed', format('asset %s: total %s, remaining %s, consumed %s',
                                                         a.asset_id, a.total, a.remaining, coalesce(l.consumed, 0))
      FROM commerce.user_asset a
      LEFT JOIN LATERAL (SELECT sum(amount) AS consumed FROM commerce.consumption_log x
                          WHERE x.tenant_id = a.tenant_id AND x.asset_id = a.asset_id) l ON true
     WHERE (p_tenant IS NULL OR a.tenant_id = p_tenant) AND a.voided_at IS NULL
       AND a.remaining <> a.total - coalesce(l.consumed, 0)
    UNION ALL
    -- an inviter is rewarded at most max_rewards times
    SELECT 'rewards per inviter <= max_rewards', format('play %s, inviter %s: %s rewards, max %s',
                                                        c.code, v.inviter_id, count(*), c.rules ->> 'max_rewards')
      FROM commerce.play_invite v JOIN commerce.play_config c ON c.tenant_id = v.tenant_id AND c.config_id = v.config_id
     WHERE (p_tenant IS NULL OR v.tenant_id = p_tenant) AND v.status = 'rewarded'
     GROUP BY c.tenant_id, c.code, c.rules, v.inviter_id
    HAVING count(*) > (c.rules ->> 'max_rewards')::bigint
    UNION ALL
    -- a reward went out for every rewarded invite
    SELECT 'reward queued', format('invite %s', v.invite_id)
      FROM commerce.play_invite v
     WHERE (p_tenant IS NULL OR v.tenant_id = p_tenant) AND v.status = 'rewarded'
       AND NOT EXISTS (SELECT 1 FROM commerce.outbox m WHERE m.tenant_id = v.tenant_id
                          AND m.topic = 'play.invite_reward' AND m.dedupe_key = 'invite:' || v.invite_id)
    UNION ALL
    -- a settlement's orders add up to its income, and its parts to the income
    SELECT 'settlement = its orders', format('settlement %s: income %s, orders %s fen in %s',
                                             s.settlement_id, s.income_fen, coalesce(sum(so.amount_fen), 0), count(so.order_id))
      FROM commerce.play_settlement s
      LEFT JOIN commerce.play_settlement_order so USING (tenant_id, settlement_id)
     WHERE (p_tenant IS NULL OR s.tenant_id = p_tenant)
     GROUP BY s.tenant_id, s.settlement_id
    HAVING coalesce(sum(so.amount_fen), 0) <> s.income_fen OR count(so.order_id) <> s.orders
        OR s.store_fen + s.hq_fen <> s.income_fen
        OR bool_or(so.released) <> (s.status = 'rejected')
$$;
COMMENT ON FUNCTION commerce.check_play_invariants(bigint) IS
  'Checks the plays: group progress = members (never above target, a success has exactly its target), failed groups refunded, bargain price = play price - cuts >= floor, asset remaining = total - consumption, rewards per inviter within max_rewards and each one queued, settlements = their orders with parts adding up. One row per violation; none when healthy.';
