-- sql/src/metrics/sales.sql: the shop's core metrics (H5.1), shop-wide and
-- per channel, over a span of tenant-local days: GMV, orders, order value,
-- refunds and the return rate, GMV share, visitors and conversion (from
-- visit_day), spend and ROI (channel_spend), on-time shipping (by ship_by, else
-- 48 hours after payment) and complaints (tickets). Members' and service metrics are the CRM health
-- dashboard (crm_health) and service_stats.

-- What a channel cost in a month, replacing what was entered before.
CREATE FUNCTION commerce.set_channel_spend(p_tenant bigint, p_channel text, p_month date, p_spend_fen bigint,
                                           p_note text DEFAULT NULL, p_by text DEFAULT 'operator') RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v_channel bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_channel, 'p_channel');
    PERFORM commerce._require(p_month, 'p_month');
    PERFORM commerce._require(p_spend_fen, 'p_spend_fen');
    PERFORM commerce._require(p_by, 'p_by');
    IF NOT isfinite(p_month) OR p_month <> date_trunc('month', p_month)::date OR p_month NOT BETWEEN '2000-01-01' AND '2100-12-01' THEN
        PERFORM commerce._invalid('p_month', coalesce(to_char(p_month, 'YYYY-MM-DD'), p_month::text), 'Name the month by its first day (2030-06-01).');
    END IF;
    IF p_spend_fen NOT BETWEEN 0 AND 1000000000000000 THEN
        PERFORM commerce._invalid('p_spend_fen', format('%s fen', p_spend_fen), 'A month''s spend is 0 to 10^15 fen.');
    END IF;
    IF length(p_note) > 500 THEN
        PERFORM commerce._invalid('p_note', format('a note of %s characters', length(p_note)), 'A note of at most 500 characters.');
    END IF;
    SELECT c.channel_id INTO v_channel FROM commerce.channel c WHERE c.tenant_id = p_tenant AND c.code = p_channel;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('channel', p_channel, p_tenant);
    END IF;
    INSERT INTO commerce.channel_spend AS s (tenant_id, channel_id, month, spend_fen, note, updated_by, updated_at)
    VALUES (p_tenant, v_channel, p_month, p_spend_fen, p_note, left(p_by, 200), commerce.now())
    ON CONFLICT (tenant_id, channel_id, month) DO UPDATE
       SET spend_fen = EXCLUDED.spend_fen, note = EXCLUDED.note, updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at;
    RETURN jsonb_build_object('channel', p_channel, 'month', p_month, 'spend_fen', p_spend_fen, 'note', p_note);
END $$;
COMMENT ON FUNCTION commerce.set_channel_spend(bigint, text, date, bigint, text, text) IS
  'Enter what a channel cost in a month (H5.1: fees, ads, hosts), in fen; a second entry for the month replaces the first (audited). sales_metrics divides the channel''s GMV by it for the ROI.';

-- A ratio in basis points, floor(10000 x part / whole); NULL when whole is 0.
CREATE FUNCTION commerce._ratio_bp(p_part numeric, p_whole numeric) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_whole > 0 THEN floor(10000 * p_part / p_whole)::bigint END;
$$;
COMMENT ON FUNCTION commerce._ratio_bp(numeric, numeric) IS
  'floor(10000 x part / whole) as basis points (a rate or a ratio, may pass 10000, such as an ROI); NULL when whole is 0 or NULL. Not money: amounts of money are computed in src/core_money.c.';

-- The core metrics over [p_from, p_to) in the tenant's calendar, shop-wide and per channel.
CREATE FUNCTION commerce.sales_metrics(p_tenant bigint, p_from date, p_to date) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE v_tz text; v_start timestamptz; v_end timestamptz; v jsonb;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_from, 'p_from');
    PERFORM commerce._require(p_to, 'p_to');
    IF NOT isfinite(p_from) OR NOT isfinite(p_to) OR p_to <= p_from OR p_to - p_from > 400 THEN
        PERFORM commerce._invalid('p_to', format('%s to %s', coalesce(to_char(p_from, 'YYYY-MM-DD'), p_from::text), coalesce(to_char(p_to, 'YYYY-MM-DD'), p_to::text)), 'A span of 1 to 400 days, from before to.');
    END IF;
    SELECT t.time_zone INTO v_tz FROM commerce.tenant t WHERE t.tenant_id = p_tenant;
    v_start := p_from::timestamp AT TIME ZONE v_tz;
    v_end := p_to::timestamp AT TIME ZONE v_tz;
    WITH o AS (          -- orders paid in the span, by channel
        SELECT x.channel_id, count(*) AS orders, sum(coalesce(x.paid_fen, x.payable_fen)) AS gmv_fen,
               sum(x.refunded_fen) AS refund_fen, count(*) FILTER (WHERE x.refunded_fen > 0) AS refunded_orders,
               count(DISTINCT x.customer_id) AS customers,
               -- due to ship: shipped, or paid and still waiting past the promise (ship_by, else 48 hours after payment)
               count(*) FILTER (WHERE x.shipped_at IS NOT NULL
                                   OR (x.status = 'paid' AND coalesce(x.ship_by, x.paid_at + interval '48 hours') < commerce.now())) AS shipped_with_promise,
               count(*) FILTER (WHERE x.shipped_at <= coalesce(x.ship_by, x.paid_at + interval '48 hours')) AS shipped_on_time
          FROM commerce.orders x
         WHERE x.tenant_id = p_tenant AND x.paid_at >= v_start AND x.paid_at < v_end
         GROUP BY x.channel_id),
    vd AS (             -- visitors in the span, by channel (a visitor on two days counts once)
        SELECT d.channel_id, count(DISTINCT d.visitor) AS visitors,
               count(DISTINCT d.visitor) FILTER (WHERE d.carts > 0) AS carted
          FROM commerce.visit_day d
         WHERE d.tenant_id = p_tenant AND d.day >= p_from AND d.day < p_to
         GROUP BY d.channel_id),
    sp AS (             -- spend of the months the span touches, in proportion to the days it covers
        SELECT s.channel_id,
               sum(floor(s.spend_fen::numeric
                         * (least(p_to, (s.month + interval '1 month')::date) - greatest(p_from, s.month))
                         / ((s.month + interval '1 month')::date - s.month)))::bigint AS spend_fen
          FROM commerce.channel_spend s
         WHERE s.tenant_id = p_tenant AND s.month < p_to AND (s.month + interval '1 month')::date > p_from
         GROUP BY s.channel_id),
    tk AS (             -- complaints opened in the span, by the channel of their order
        SELECT x.channel_id, count(*) AS complaints
          FROM commerce.ticket t JOIN commerce.orders x ON x.tenant_id = t.tenant_id AND x.order_id = t.order_id
         WHERE t.tenant_id = p_tenant AND t.type = 'complaint' AND t.created_at >= v_start AND t.created_at < v_end
         GROUP BY x.channel_id),
    ch AS (
        SELECT c.channel_id, c.code, c.kind, coalesce(o.orders, 0) AS orders, coalesce(o.gmv_fen, 0) AS gmv_fen,
               coalesce(o.refund_fen, 0) AS refund_fen, coalesce(o.refunded_orders, 0) AS refunded_orders,
               coalesce(o.customers, 0) AS customers, coalesce(o.shipped_with_promise, 0) AS shipped_with_promise,
               coalesce(o.shipped_on_time, 0) AS shipped_on_time, coalesce(vd.visitors, 0) AS visitors, coalesce(vd.carted, 0) AS carted,
               sp.spend_fen,
               coalesce(tk.complaints, 0) AS complaints
          FROM commerce.channel c
          LEFT JOIN o ON o.channel_id = c.channel_id LEFT JOIN vd ON vd.channel_id = c.channel_id
          LEFT JOIN sp ON sp.channel_id = c.channel_id LEFT JOIN tk ON tk.channel_id = c.channel_id
         WHERE c.tenant_id = p_tenant AND (o.orders IS NOT NULL OR vd.visitors IS NOT NULL OR sp.spend_fen IS NOT NULL OR tk.complaints IS NOT NULL)),
    tot AS (
        SELECT sum(ch.orders) AS orders, sum(ch.gmv_fen) AS gmv_fen, sum(ch.refund_fen) AS refund_fen,
               sum(ch.refunded_orders) AS refunded_orders, sum(ch.shipped_with_promise) AS shipped_with_promise,
               sum(ch.shipped_on_time) AS shipped_on_time, sum(ch.visitors) AS visitors, sum(ch.spend_fen) AS spend_fen,
               sum(ch.complaints) AS complaints
          FROM ch)
    SELECT jsonb_build_object(
        'from', p_from, 'to', p_to, 'time_zone', v_tz,
        'total', jsonb_build_object(
            'orders', coalesce(tot.orders, 0), 'gmv_fen', coalesce(tot.gmv_fen, 0),
            'customers', (SELECT count(DISTINCT x.customer_id) FROM commerce.orders x
                           WHERE x.tenant_id = p_tenant AND x.paid_at >= v_start AND x.paid_at < v_end),
            'order_value_fen', CASE WHEN tot.orders > 0 THEN commerce.prorate_fen(tot.gmv_fen::bigint, 1, tot.orders::bigint) END,
            'refund_fen', coalesce(tot.refund_fen, 0), 'return_rate_bp', commerce._ratio_bp(tot.refunded_orders, tot.orders),
            'on_time_ship_bp', commerce._ratio_bp(tot.shipped_on_time, tot.shipped_with_promise),
            'visitors', coalesce(tot.visitors, 0), 'spend_fen', coalesce(tot.spend_fen, 0), 'roi_bp', commerce._ratio_bp(tot.gmv_fen, tot.spend_fen),
            'complaints', coalesce(tot.complaints, 0),
            'complaints_per_10k_orders', commerce._ratio_bp(tot.complaints, tot.orders)),
        'channels', coalesce((SELECT jsonb_agg(jsonb_build_object(
            'channel', ch.code, 'kind', ch.kind, 'orders', ch.orders, 'gmv_fen', ch.gmv_fen,
            'gmv_share_bp', commerce._ratio_bp(ch.gmv_fen, tot.gmv_fen),
            'order_value_fen', CASE WHEN ch.orders > 0 THEN commerce.prorate_fen(ch.gmv_fen::bigint, 1, ch.orders::bigint) END,
            'refund_fen', ch.refund_fen, 'return_rate_bp', commerce._ratio_bp(ch.refunded_orders, ch.orders),
            'visitors', ch.visitors, 'carted', ch.carted,
            'conversion_bp', commerce._ratio_bp(ch.customers, ch.visitors),
            'spend_fen', ch.spend_fen, 'roi_bp', commerce._ratio_bp(ch.gmv_fen, ch.spend_fen),
            'on_time_ship_bp', commerce._ratio_bp(ch.shipped_on_time, ch.shipped_with_promise),
            'complaints', ch.complaints) ORDER BY ch.gmv_fen DESC, ch.code) FROM ch), '[]'::jsonb))
      INTO v
      FROM tot;
    RETURN v;
END $$;
COMMENT ON FUNCTION commerce.sales_metrics(bigint, date, date) IS
  'The shop''s core metrics (H5.1) over [p_from, p_to) in the tenant''s calendar (1 to 400 days), shop-wide and per channel: orders paid and GMV (what was paid), customers, order value, refunds and the return rate (orders with a refund / orders, bp), GMV share, visitors and conversion (paying customers / visitors of the channel, from record_events), spend (the months'' spend prorated to the days covered) and ROI (GMV / spend, bp), on-time shipping (orders shipped by their promise, ship_by for priority shipping else 48 hours after payment, over those shipped or waiting past it, bp) and complaints (tickets of type complaint on the channel''s orders). Ratios are NULL when their base is 0; members'' figures are crm_health''s, service figures service_stats''.';
