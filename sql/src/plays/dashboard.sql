-- sql/src/plays/dashboard.sql: the activity dashboard.

-- The standard cards of one activity.
CREATE FUNCTION commerce.play_dashboard(p_tenant bigint, p_config text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE c commerce.play_config_row; tp commerce.play_template_row; f record; r record; u record; k jsonb; g record;
        v_stock record;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_config, 'p_config');
    SELECT * INTO c FROM commerce.play_config WHERE tenant_id = p_tenant AND code = p_config;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('play config', p_config, p_tenant);
    END IF;
    SELECT * INTO tp FROM commerce.play_template WHERE tenant_id = p_tenant AND code = c.template_code;
    -- funnel: views -> starts and joins (admitted actions) -> paid orders
    SELECT count(*) FILTER (WHERE kind = 'view') AS views,
           count(DISTINCT coalesce(customer_id::text, 'ip:' || ip, 'device:' || device, 'anon:' || event_id))
               FILTER (WHERE kind = 'view') AS viewers,
           count(*) FILTER (WHERE kind IN ('start', 'join', 'buy')) AS actions,
           count(DISTINCT customer_id) FILTER (WHERE kind IN ('start', 'join', 'buy')) AS actors,
           count(*) FILTER (WHERE kind = 'help') AS helps,
           count(*) FILTER (WHERE kind = 'invite') AS invites
      INTO f FROM commerce.play_event WHERE tenant_id = p_tenant AND config_id = c.config_id;
    SELECT count(*) AS paid, count(DISTINCT customer_id) AS payers, coalesce(sum(paid_fen), 0)::bigint AS gmv,
           coalesce(sum(refunded_fen), 0)::bigint AS refunded,
           count(*) FILTER (WHERE status = 'completed') AS completed
      INTO r FROM commerce.orders
     WHERE tenant_id = p_tenant AND source_activity = c.activity AND paid_at IS NOT NULL;
    SELECT coalesce(sum(a.total) FILTER (WHERE a.voided_at IS NULL), 0)::bigint AS pool,
           coalesce(sum(a.total - a.remaining) FILTER (WHERE a.voided_at IS NULL), 0)::bigint AS consumed_live,
           count(*) AS assets,
           (SELECT coalesce(sum(l.amount), 0) FROM commerce.consumption_log l
             WHERE l.tenant_id = p_tenant AND l.source_activity = c.activity)::bigint AS consumed
      INTO u FROM commerce.user_asset a WHERE a.tenant_id = p_tenant AND a.source_activity = c.activity;
    SELECT (SELECT count(*) FROM commerce.stock_pool sp WHERE sp.tenant_id = p_tenant AND sp.activity = c.activity) AS pools,
           c.stock AS allocated, commerce._play_available(c) AS available
      INTO v_stock;
    IF tp.kind = 'group_buy' THEN
        SELECT count(*) AS groups, count(*) FILTER (WHERE status = 'success') AS succeeded,
               count(*) FILTER (WHERE status = 'failed') AS failed,
               count(*) FILTER (WHERE status IN ('pending', 'active')) AS open,
               (SELECT count(*) FROM commerce.play_participant p JOIN commerce.play_instance i USING (tenant_id, instance_id)
                 WHERE i.tenant_id = p_tenant AND i.config_id = c.config_id AND p.role = 'virtual') AS virtual_members
          INTO g FROM commerce.play_instance WHERE tenant_id = p_tenant AND config_id = c.config_id;
        k := jsonb_build_object('groups', g.groups, 'succeeded', g.succeeded, 'failed', g.failed, 'open', g.open,
                                'virtualMembers', g.virtual_members,
                                'successRateBp', CASE WHEN g.succeeded + g.failed > 0
                                                      THEN g.succeeded * 10000 / (g.succeeded + g.failed) END);
    ELSIF tp.kind = 'bargain' THEN
        SELECT count(*) AS started, count(*) FILTER (WHERE status = 'success') AS succeeded,
               count(*) FILTER (WHERE status = 'failed') AS failed,
               count(*) FILTER (WHERE status IN ('pending', 'active')) AS open,
               coalesce(sum(current), 0) AS helps
          INTO g FROM commerce.play_instance WHERE tenant_id = p_tenant AND config_id = c.config_id;
        k := jsonb_build_object('started', g.started, 'succeeded', g.succeeded, 'failed', g.failed, 'open', g.open,
                                'helps', g.helps,
                                'successRateBp', CASE WHEN g.succeeded + g.failed > 0
                                                      THEN g.succeeded * 10000 / (g.succeeded + g.failed) END);
    ELSIF tp.kind = 'invite_reward' THEN
        SELECT count(DISTINCT inviter_id) AS inviters, count(*) AS invitees,
               count(*) FILTER (WHERE status = 'rewarded') AS rewarded,
               count(*) FILTER (WHERE status = 'capped') AS capped,
               coalesce(sum(reward_fen), 0) + coalesce(sum(invitee_reward_fen), 0) AS rewards_fen,
               count(*) FILTER (WHERE status <> 'invited') AS converted
          INTO g FROM commerce.play_invite WHERE tenant_id = p_tenant AND config_id = c.config_id;
        -- fission coefficient: new customers who paid, per inviter
        k := jsonb_build_object('inviters', g.inviters, 'invitees', g.invitees, 'converted', g.converted,
                                'rewarded', g.rewarded, 'capped', g.capped, 'rewardsFen', g.rewards_fen,
                                'fissionCoefficient', CASE WHEN g.inviters > 0
                                                           THEN round(g.converted::numeric / g.inviters, 2) END);
    ELSE
        k := jsonb_build_object('allocated', v_stock.allocated, 'available', v_stock.available,
                                'sellThroughBp', CASE WHEN v_stock.allocated > 0
                                                      THEN (v_stock.allocated - v_stock.available) * 10000 / v_stock.allocated END);
    END IF;
    RETURN jsonb_build_object(
        'play', c.code, 'title', c.title, 'template', tp.code, 'kind', tp.kind,
        'window', jsonb_build_object('startsAt', c.starts_at, 'endsAt', c.ends_at, 'status', c.status),
        'funnel', jsonb_build_object('views', f.views, 'viewers', f.viewers, 'joins', f.actions,
                                     'joiners', f.actors, 'paid', r.paid, 'payers', r.payers,
                                     'viewToPaidBp', CASE WHEN f.viewers > 0 THEN r.payers * 10000 / f.viewers END),
        'revenue', jsonb_build_object('gmvFen', r.gmv, 'orders', r.paid, 'refundedFen', r.refunded,
                                      'netFen', r.gmv - r.refunded, 'completedOrders', r.completed),
        'fulfilment', jsonb_build_object('unitName', tp.unit_name, 'assets', u.assets,
                                         'totalAssetPool', u.pool, 'consumedAsset', u.consumed_live,
                                         'consumedAll', u.consumed,
                                         'text', format('%s %s of %s %s', u.consumed_live, tp.unit_name, u.pool, tp.unit_name)),
        tp.kind, k);
END $$;
COMMENT ON FUNCTION commerce.play_dashboard(bigint, text) IS
  'The activity dashboard (M4), one JSON document for any play: funnel (views and distinct viewers -> joins/starts/purchases -> paid orders and payers, viewToPaidBp), revenue (gmvFen, orders, refundedFen, netFen), fulfilment (TotalAssetPool = units sold x units per sale of live assets, ConsumedAsset, the template''s unit name, "90 hours of 150 hours") and the kind''s card: group_buy (groups, succeeded, failed, successRateBp, virtual members), bargain (started, succeeded, helps), invite_reward (inviters, invitees, rewarded, fissionCoefficient = converted invitees per inviter), flash_sale (allocated, available, sellThroughBp).';
