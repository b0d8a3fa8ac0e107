-- sql/src/crm/customer360.sql: one view of a customer (CRM01-CRM05, PR02 the
-- WeCom sidebar): the person found by any identity, its profile, purchases
-- newest first (paged), interactions, KOC contribution and service tickets,
-- in one call of a few index lookups.

-- The person of a customer code, a phone or a WeCom external user id (exactly one given).
CREATE FUNCTION commerce.find_person(p_tenant bigint, p_customer text DEFAULT NULL, p_phone text DEFAULT NULL,
                                     p_wecom_external text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE v_person bigint; v_key text;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    IF num_nonnulls(p_customer, p_phone, p_wecom_external) <> 1 THEN
        PERFORM commerce._invalid('p_customer', format('%s lookup keys given', num_nonnulls(p_customer, p_phone, p_wecom_external)),
                                  'Look a person up by exactly one of: customer code, phone, WeCom external user id.');
    END IF;
    IF p_customer IS NOT NULL THEN
        SELECT c.person_id INTO v_person FROM commerce.customer c WHERE c.tenant_id = p_tenant AND c.code = p_customer;
        v_key := p_customer;
    ELSIF p_phone IS NOT NULL THEN
        v_key := commerce.normalize_phone(p_phone);
        SELECT i.person_id INTO v_person FROM commerce.person_identity i
         WHERE i.tenant_id = p_tenant AND i.type = 'phone' AND i.value = v_key;
        v_key := commerce.mask_phone(p_phone);
    ELSE
        SELECT i.person_id INTO v_person FROM commerce.person_identity i
         WHERE i.tenant_id = p_tenant AND i.type = 'wecom_external' AND i.value = p_wecom_external;
        v_key := p_wecom_external;
    END IF;
    IF v_person IS NULL THEN
        PERFORM commerce._not_found(CASE WHEN p_customer IS NOT NULL THEN 'customer' ELSE 'person' END, left(v_key, 64), p_tenant);
    END IF;
    RETURN v_person;
END $$;
COMMENT ON FUNCTION commerce.find_person(bigint, text, text, text) IS
  'The person of exactly one of: a customer code, a phone (any spelling normalize_phone reads; through the identity graph) or a WeCom external user id (the sidebar, PR02). PT404 when none; 22023 for no key or several.';

-- The customer 360 of a person: profile, purchases (paged), interactions, KOC contribution, tickets.
CREATE FUNCTION commerce.customer_360(p_tenant bigint, p_person bigint, p_orders_before bigint DEFAULT NULL,
                                      p_page_size integer DEFAULT 20) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE v_full boolean := commerce.may_see_pii(); v_now timestamptz := commerce.now();
        v_customers bigint[]; f commerce.crm_feature%ROWTYPE; v_profile jsonb; v_orders jsonb; v_more boolean;
        v_events jsonb; v_activities jsonb; v_koc jsonb; v_tickets jsonb; v_tags jsonb; v_member jsonb;
        v_name text; v_phone text; v_points record; v_level_name text; v_last bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_person, 'p_person');
    PERFORM commerce._require(p_page_size, 'p_page_size');
    IF p_page_size NOT BETWEEN 1 AND 100 THEN
        PERFORM commerce._invalid('p_page_size', format('%s orders', p_page_size), 'Page 1 to 100 orders at a time.');
    END IF;
    SELECT array_agg(c.customer_id ORDER BY c.customer_id) INTO v_customers
      FROM commerce.customer c WHERE c.tenant_id = p_tenant AND c.person_id = p_person;
    IF v_customers IS NULL THEN
        PERFORM commerce._not_found('person', p_person::text, p_tenant);
    END IF;
    SELECT * INTO f FROM commerce.crm_feature x WHERE x.tenant_id = p_tenant AND x.person_id = p_person;
    SELECT c.name INTO v_name FROM commerce.customer c
     WHERE c.tenant_id = p_tenant AND c.customer_id = ANY (v_customers) AND c.name IS NOT NULL ORDER BY c.customer_id LIMIT 1;
    SELECT coalesce((SELECT i.value FROM commerce.person_identity i
                      WHERE i.tenant_id = p_tenant AND i.person_id = p_person AND i.type = 'phone'
                      ORDER BY i.verified DESC, i.identity_id LIMIT 1),
                    (SELECT c.phone FROM commerce.customer c
                      WHERE c.tenant_id = p_tenant AND c.customer_id = ANY (v_customers) AND c.phone IS NOT NULL
                      ORDER BY c.customer_id LIMIT 1))
      INTO v_phone;
    SELECT coalesce(sum(a.available), 0) AS available, coalesce(sum(a.pending), 0) AS pending INTO v_points
      FROM commerce.points_account a WHERE a.tenant_id = p_tenant AND a.customer_id = ANY (v_customers);
    SELECT g.name INTO v_level_name FROM commerce.growth_level g WHERE g.tenant_id = p_tenant AND g.level = f.level;
    SELECT jsonb_build_object('plan', mp.code, 'status', ms.status, 'period_end', ms.period_end) INTO v_member
      FROM commerce.membership ms JOIN commerce.membership_plan mp ON mp.tenant_id = ms.tenant_id AND mp.plan_id = ms.plan_id
     WHERE ms.tenant_id = p_tenant AND ms.customer_id = ANY (v_customers)
     ORDER BY ms.status IN ('active', 'past_due', 'cancelled') DESC, ms.period_end DESC NULLS LAST LIMIT 1;
    SELECT coalesce(jsonb_agg(jsonb_build_object('tag', t.code, 'name', t.name, 'category', t.category, 'source', t.source)
                              ORDER BY t.category, t.code), '[]'::jsonb)
      INTO v_tags
      FROM commerce.person_tag pt JOIN commerce.tag t ON t.tenant_id = pt.tenant_id AND t.tag_id = pt.tag_id
     WHERE pt.tenant_id = p_tenant AND pt.person_id = p_person;
    IF v_full THEN   -- an unmasked read of personal data is a sensitive operation
        PERFORM commerce._audit(p_tenant, 'pii.read', 'person:' || p_person, jsonb_build_object('person_id', p_person), 'unmasked');
    END IF;
    v_profile := jsonb_build_object(
        'person_id', p_person,
        'customers', (SELECT jsonb_agg(c.code ORDER BY c.customer_id) FROM commerce.customer c
                       WHERE c.tenant_id = p_tenant AND c.customer_id = ANY (v_customers)),
        'name', CASE WHEN v_full OR v_name IS NULL THEN v_name ELSE left(v_name, 1) || '**' END,
        'phone', CASE WHEN v_full THEN v_phone ELSE commerce.mask_phone(v_phone) END,
        'level', coalesce(f.level, 0), 'level_name', v_level_name, 'growth', coalesce(f.growth, 0),
        'points', v_points.available, 'points_pending', v_points.pending,
        'registered_at', f.registered_at, 'source', f.source,
        'orders', coalesce(f.orders_count, 0), 'spent_fen', coalesce(f.spent_fen, 0), 'refunded_fen', coalesce(f.refunded_fen, 0),
        'first_order_at', f.first_order_at, 'last_order_at', f.last_order_at,
        'rfm_tier', f.rfm_tier, 'churn_risk_bp', f.churn_risk_bp,
        'membership', v_member, 'tags', v_tags);

    -- purchases newest first, a page at a time (p_orders_before: the last order id of the previous page)
    SELECT coalesce(jsonb_agg(o.doc ORDER BY o.order_id DESC), '[]'::jsonb), count(*) > p_page_size, min(o.order_id)
      INTO v_orders, v_more, v_last
      FROM (SELECT x.order_id, jsonb_build_object(
                'order_id', x.order_id, 'order_no', x.external_order_id, 'channel', ch.code, 'status', x.status,
                'amount_fen', x.payable_fen, 'paid_fen', x.paid_fen, 'refunded_fen', x.refunded_fen,
                'created_at', x.created_at, 'paid_at', x.paid_at,
                'payment', CASE WHEN ch.kind = 'platform' THEN 'platform'
                                WHEN EXISTS (SELECT 1 FROM commerce.points_redemption r
                                              WHERE r.tenant_id = x.tenant_id AND r.order_id = x.order_id) THEN 'points'
                                WHEN x.payment_id IS NOT NULL THEN 'online' END,
                'items', (SELECT jsonb_agg(jsonb_build_object('sku', s.code, 'name', s.name, 'qty', l.qty, 'amount_fen', l.amount_fen)
                                           ORDER BY l.line_no)
                            FROM commerce.order_line l JOIN commerce.sku s ON s.tenant_id = l.tenant_id AND s.sku_id = l.sku_id
                           WHERE l.tenant_id = x.tenant_id AND l.order_id = x.order_id)) AS doc
              FROM commerce.orders x JOIN commerce.channel ch ON ch.tenant_id = x.tenant_id AND ch.channel_id = x.channel_id
             WHERE x.tenant_id = p_tenant AND x.customer_id = ANY (v_customers)
               AND (p_orders_before IS NULL OR x.order_id < p_orders_before)
             ORDER BY x.order_id DESC LIMIT p_page_size + 1) o;
    IF v_more THEN
        v_orders := v_orders - p_page_size;
        v_last := (v_orders -> (p_page_size - 1) ->> 'order_id')::bigint;
    END IF;

    SELECT coalesce(jsonb_agg(jsonb_build_object('kind', e.kind, 'ref', e.ref, 'note', e.note, 'source', e.source, 'at', e.at)
                              ORDER BY e.at DESC, e.event_id DESC), '[]'::jsonb)
      INTO v_events
      FROM (SELECT * FROM commerce.crm_event x WHERE x.tenant_id = p_tenant AND x.person_id = p_person
             ORDER BY x.at DESC, x.event_id DESC LIMIT 20) e;
    SELECT coalesce(jsonb_agg(jsonb_build_object('play', pc.code, 'instance_id', pp.instance_id, 'role', pp.role,
                                                 'status', pp.status, 'joined_at', pp.joined_at)
                              ORDER BY pp.joined_at DESC), '[]'::jsonb)
      INTO v_activities
      FROM (SELECT * FROM commerce.play_participant x WHERE x.tenant_id = p_tenant AND x.customer_id = ANY (v_customers)
             ORDER BY x.joined_at DESC LIMIT 10) pp
      JOIN commerce.play_instance pi ON pi.tenant_id = pp.tenant_id AND pi.instance_id = pp.instance_id
      JOIN commerce.play_config pc ON pc.tenant_id = pi.tenant_id AND pc.config_id = pi.config_id;

    SELECT jsonb_build_object(
               'koc', k.code, 'level', k.level_code, 'level_name', l.name, 'status', k.status, 'joined_at', k.joined_at,
               'clicks_30d', (SELECT count(*) FROM commerce.click cl
                               WHERE cl.tenant_id = k.tenant_id AND cl.koc_id = k.koc_id AND cl.clicked_at > v_now - interval '30 days'),
               'redemptions_30d', (SELECT count(*) FROM commerce.commission_line cl
                                    WHERE cl.tenant_id = k.tenant_id AND cl.koc_id = k.koc_id AND cl.kind = 'earn'
                                      AND cl.occurred_at > v_now - interval '30 days'),
               'commission_fen', coalesce(ka.settled_fen, 0) + coalesce(ka.unsettled_fen, 0),
               'balance_fen', coalesce(ka.balance_fen, 0), 'paid_out_fen', coalesce(ka.paid_fen, 0))
      INTO v_koc
      FROM commerce.koc k
      JOIN commerce.koc_level l ON l.tenant_id = k.tenant_id AND l.code = k.level_code
      LEFT JOIN commerce.koc_account ka ON ka.tenant_id = k.tenant_id AND ka.koc_id = k.koc_id
     WHERE k.tenant_id = p_tenant AND k.customer_id = ANY (v_customers)
     ORDER BY k.koc_id LIMIT 1;

    SELECT coalesce(jsonb_agg(jsonb_build_object('ticket_id', t.ticket_id, 'type', t.type, 'status', t.status,
                                                 'priority', t.priority, 'subject', t.subject, 'order_id', t.order_id,
                                                 'escalation', t.escalation, 'due_at', t.due_at, 'created_at', t.created_at)
                              ORDER BY t.ticket_id DESC), '[]'::jsonb)
      INTO v_tickets
      FROM (SELECT * FROM commerce.ticket x WHERE x.tenant_id = p_tenant AND x.person_id = p_person
             ORDER BY x.ticket_id DESC LIMIT 10) t;

    RETURN jsonb_build_object('profile', v_profile,
                              'orders', jsonb_build_object('items', v_orders, 'next_before', CASE WHEN v_more THEN v_last END),
                              'interactions', jsonb_build_object('events', v_events, 'activities', v_activities),
                              'koc', v_koc, 'tickets', v_tickets, 'masked', NOT v_full);
END $$;
COMMENT ON FUNCTION commerce.customer_360(bigint, bigint, bigint, integer) IS
  'The customer 360 of a person (CRM01-CRM05) as one JSON document: profile (accounts, name and phone masked unless the caller reads PII, level and growth, points, registered, source channel, orders and net spending, membership, tags, RFM tier, churn risk); orders newest first, p_page_size at a time (pass next_before for the next page), each with its order no, channel, status, amounts, items, times and payment (online, points, platform); interactions (the latest 20 events: consultations, complaints, praise, browsing, groups; the latest 10 activities); KOC contribution when the person is a KOC (level, clicks and redemptions of the last 30 days, commission, balance, paid out); the latest 10 tickets. An unmasked read is audited (pii.read).';
