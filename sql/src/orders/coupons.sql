-- sql/src/orders/coupons.sql: coupons applied to an order. place_order locks
-- the customer's coupons (in id order), checks each (its holder, state,
-- validity, scope, threshold, stacking), splits what each takes off over its
-- eligible lines by the largest remainder without taking a line below its
-- SKU's floor, records the split per line (order_discount) and locks the
-- coupons to the order; the order's payment uses them, its cancellation or
-- payment timeout releases them.

-- The coupon ids of an order document's "coupons" (1 to 10 distinct ids, in the order given).
CREATE FUNCTION commerce._coupon_list(p_coupons jsonb) RETURNS bigint[]
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE v_ids bigint[];
BEGIN
    IF p_coupons IS NULL OR jsonb_typeof(p_coupons) = 'null' THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(p_coupons) <> 'array' OR jsonb_array_length(p_coupons) NOT BETWEEN 1 AND 10
       OR EXISTS (SELECT 1 FROM jsonb_array_elements(p_coupons) e
                   WHERE jsonb_typeof(e) <> 'number' OR (e #>> '{}') !~ '^[0-9]{1,18}$') THEN
        PERFORM commerce._invalid('p_order', 'coupons is not a list of coupon ids.',
                                  'Pass "coupons":[<coupon_id>, ...] (1 to 10 ids as JSON integers), or leave it out.');
    END IF;
    SELECT array_agg(id ORDER BY n) INTO v_ids
      FROM (SELECT (e #>> '{}')::bigint AS id, min(n) AS n
              FROM jsonb_array_elements(p_coupons) WITH ORDINALITY x(e, n) GROUP BY 1) d;
    RETURN v_ids;
END $$;

-- What the coupons take off the lines of an order: (coupon, line, fen) rows.
-- p_lines are the priced lines of place_order ({"sku","qty","price"}, line_no = position).
CREATE FUNCTION commerce._order_coupons(p_tenant bigint, p_customer bigint, p_channel bigint, p_lines jsonb,
                                        p_coupons bigint[])
RETURNS TABLE (coupon_id bigint, line_no integer, amount_fen bigint) LANGUAGE plpgsql AS $$
DECLARE v_amount bigint[]; v_left bigint[]; v_room bigint[]; v_sku bigint[]; v_product bigint[];
        v_id bigint; c commerce.coupon%ROWTYPE; t commerce.coupon_template%ROWTYPE; v_now timestamptz := commerce.now();
        v_w bigint[]; v_cap bigint[]; v_eligible bigint; v_base bigint; v_off bigint; v_alloc bigint[];
        v_templates bigint[] := ARRAY[]::bigint[]; v_status text; v_order bigint;
BEGIN
    IF p_customer IS NULL THEN
        PERFORM commerce._invalid('p_order', 'coupons were given for an order without a customer.',
                                  'Coupons belong to a customer: place the order for the customer who holds them.');
    END IF;
    SELECT array_agg((l ->> 'price')::bigint * (l ->> 'qty')::bigint ORDER BY n),
           array_agg(greatest((l ->> 'price')::bigint - s.floor_fen, 0) * (l ->> 'qty')::bigint ORDER BY n),
           array_agg(s.sku_id ORDER BY n), array_agg(s.product_id ORDER BY n)
      INTO v_amount, v_room, v_sku, v_product
      FROM jsonb_array_elements(p_lines) WITH ORDINALITY AS x(l, n)
      JOIN commerce.sku s ON s.tenant_id = p_tenant AND s.code = l ->> 'sku';
    v_left := v_amount;
    FOREACH v_id IN ARRAY p_coupons LOOP
        SELECT * INTO c FROM commerce.coupon x WHERE x.tenant_id = p_tenant AND x.coupon_id = v_id AND x.customer_id = p_customer;
        IF NOT FOUND THEN   -- another customer's coupon is not even named
            PERFORM commerce._not_found('coupon', v_id::text, p_tenant);
        END IF;
        SELECT * INTO t FROM commerce.coupon_template x WHERE x.tenant_id = p_tenant AND x.template_id = c.template_id;
        IF c.status <> 'issued' OR v_now < c.valid_from OR v_now >= c.valid_until THEN
            v_status := CASE WHEN c.status <> 'issued' THEN c.status WHEN v_now < c.valid_from THEN 'not yet valid'
                             ELSE 'past its validity' END;
            v_order := c.order_id;
            RAISE EXCEPTION USING ERRCODE = 'PT409',
                MESSAGE = format('coupon %s cannot be used: %s', v_id, v_status),
                DETAIL  = CASE WHEN c.status = 'locked' THEN format('Order %s holds it until it is paid or cancelled.', v_order)
                               ELSE format('Valid %s to %s.', c.valid_from, c.valid_until) END,
                HINT    = 'Use a coupon that is issued and valid now (commerce_api.my_coupons lists them).';
        END IF;
        IF t.template_id = ANY (v_templates) OR (cardinality(p_coupons) > 1 AND t.stacking = 'exclusive') THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409',
                MESSAGE = format('coupon %s cannot be combined with the other coupons of the order', v_id),
                DETAIL  = CASE WHEN t.stacking = 'exclusive' THEN format('"%s" is exclusive: the only coupon of its order.', t.name)
                               ELSE format('Two coupons of "%s".', t.name) END,
                HINT    = 'Use one exclusive coupon, or stackable coupons of different templates.';
        END IF;
        v_templates := v_templates || t.template_id;
        IF t.store_ids IS NOT NULL OR (t.channel_ids IS NOT NULL AND NOT p_channel = ANY (t.channel_ids)) THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409',
                MESSAGE = format('coupon %s is not valid on this channel', v_id),
                DETAIL  = CASE WHEN t.store_ids IS NOT NULL THEN format('"%s" is redeemed at the counter of its stores.', t.name)
                               ELSE format('"%s" is valid on other channels.', t.name) END,
                HINT    = 'Use the coupon where it is valid.';
        END IF;
        -- the eligible lines: weight = what is left of them, cap = what they can give before the floor
        v_w := ARRAY[]::bigint[]; v_cap := ARRAY[]::bigint[]; v_eligible := 0; v_base := 0;
        FOR i IN 1 .. cardinality(v_amount) LOOP
            IF (t.sku_ids IS NULL OR v_sku[i] = ANY (t.sku_ids)) AND (t.product_ids IS NULL OR v_product[i] = ANY (t.product_ids)) THEN
                v_w := v_w || v_left[i]; v_cap := v_cap || v_room[i];
                v_eligible := v_eligible + v_amount[i]; v_base := v_base + v_left[i];
            ELSE
                v_w := v_w || 0::bigint; v_cap := v_cap || 0::bigint;
            END IF;
        END LOOP;
        IF v_eligible = 0 THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409',
                MESSAGE = format('coupon %s applies to none of the order''s lines', v_id),
                DETAIL  = format('"%s" is valid for some products or SKUs only.', t.name),
                HINT    = 'Add a product the coupon is valid for, or use another coupon.';
        END IF;
        IF v_eligible < t.threshold_fen THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409',
                MESSAGE = format('coupon %s needs %s fen of eligible goods, the order has %s', v_id, t.threshold_fen, v_eligible),
                DETAIL  = format('"%s" takes off only from %s fen (%s yuan) up.', t.name, t.threshold_fen, commerce.yuan(t.threshold_fen)),
                HINT    = format('Add %s fen of eligible goods.', t.threshold_fen - v_eligible);
        END IF;
        v_off := CASE t.kind WHEN 'amount' THEN t.amount_fen
                             ELSE least(commerce.rate_fen(v_base, t.percent_off_bp), coalesce(t.max_off_fen, v_base)) END;
        v_off := least(v_off, (SELECT sum(x) FROM unnest(v_cap) x)::bigint);
        IF v_off = 0 THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409',
                MESSAGE = format('coupon %s would take nothing off', v_id),
                DETAIL  = 'The eligible lines are at their SKUs'' floor prices already.',
                HINT    = 'No price may go below its floor; keep the coupon for another order.';
        END IF;
        v_alloc := commerce.allocate_fen(v_off, v_w, v_cap);
        FOR i IN 1 .. cardinality(v_alloc) LOOP
            CONTINUE WHEN v_alloc[i] = 0;
            v_left[i] := v_left[i] - v_alloc[i];
            v_room[i] := v_room[i] - v_alloc[i];
            coupon_id := v_id; line_no := i; amount_fen := v_alloc[i];
            RETURN NEXT;
        END LOOP;
    END LOOP;
END $$;

-- Lock the coupons of an order being placed, in id order (the fixed order of every coupon lock).
CREATE FUNCTION commerce._lock_coupons(p_tenant bigint, p_coupons bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM commerce.coupon WHERE tenant_id = p_tenant AND coupon_id = ANY (p_coupons) ORDER BY coupon_id FOR UPDATE;
END $$;

-- Record the coupons of a placed order: the split per line, and the coupons locked to it.
CREATE FUNCTION commerce._attach_coupons(p_tenant bigint, p_order bigint, p_alloc jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO commerce.order_discount (tenant_id, order_id, line_no, coupon_id, amount_fen)
    SELECT p_tenant, p_order, (a ->> 'line_no')::integer, (a ->> 'coupon_id')::bigint, (a ->> 'amount_fen')::bigint
      FROM jsonb_array_elements(p_alloc) a;
    UPDATE commerce.coupon SET status = 'locked', order_id = p_order, locked_at = commerce.now()
     WHERE tenant_id = p_tenant AND status = 'issued'
       AND coupon_id IN (SELECT DISTINCT (a ->> 'coupon_id')::bigint FROM jsonb_array_elements(p_alloc) a);
END $$;

-- Trigger: an order that leaves pending_payment uses its coupons (paid) or releases them (cancelled).
CREATE FUNCTION commerce._coupons_on_order() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_WHEN <> 'AFTER' OR TG_LEVEL <> 'ROW' OR TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'commerce._coupons_on_order must fire AFTER UPDATE ... FOR EACH ROW';
    END IF;
    -- the order's coupons locked in id order, as place_order locks them
    PERFORM 1 FROM commerce.coupon WHERE tenant_id = NEW.tenant_id AND order_id = NEW.order_id AND status = 'locked'
      ORDER BY coupon_id FOR UPDATE;
    IF NEW.status = 'cancelled' THEN
        UPDATE commerce.coupon SET status = 'issued', order_id = NULL, locked_at = NULL, releases = releases + 1
         WHERE tenant_id = NEW.tenant_id AND order_id = NEW.order_id AND status = 'locked';
    ELSE
        UPDATE commerce.coupon SET status = 'used', ended_at = commerce.now()
         WHERE tenant_id = NEW.tenant_id AND order_id = NEW.order_id AND status = 'locked';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER after_05_coupons AFTER UPDATE OF status ON commerce.orders
    FOR EACH ROW WHEN (OLD.status = 'pending_payment' AND NEW.status <> 'pending_payment' AND NEW.discount_fen > 0)
    EXECUTE FUNCTION commerce._coupons_on_order();

-- Every invariant of the coupons; no rows means all hold.
CREATE FUNCTION commerce.check_coupon_invariants(p_tenant bigint DEFAULT NULL)
RETURNS TABLE (invariant text, detail text) LANGUAGE sql STABLE AS $$
    -- a slot issued exactly the coupons that name it, never more than its quota
    SELECT 'slot issued = its coupons <= quota', format('batch %s slot %s: issued %s, coupons %s, quota %s', s.batch_id,
                                                        s.slot_no, s.issued, coalesce(n.n, 0), coalesce(s.quota::text, '-'))
      FROM commerce.coupon_slot s
      LEFT JOIN LATERAL (SELECT count(*) AS n FROM commerce.coupon c
                          WHERE c.tenant_id = s.tenant_id AND c.batch_id = s.batch_id AND c.slot_no = s.slot_no) n ON true
     WHERE (p_tenant IS NULL OR s.tenant_id = p_tenant)
       AND (s.issued <> coalesce(n.n, 0) OR s.issued > s.quota)
    UNION ALL
    -- a batch's slots hold its quota
    SELECT 'batch quota = slots', format('batch %s: quota %s, slots %s', b.batch_id, b.quota, q.q)
      FROM commerce.coupon_batch b
      CROSS JOIN LATERAL (SELECT sum(quota) AS q FROM commerce.coupon_slot s
                           WHERE s.tenant_id = b.tenant_id AND s.batch_id = b.batch_id) q
     WHERE (p_tenant IS NULL OR b.tenant_id = p_tenant) AND b.quota IS DISTINCT FROM q.q::bigint
    UNION ALL
    -- a customer holds what its counter says, never more than the limit
    SELECT 'holder = its coupons <= limit', format('template %s customer %s: counted %s, coupons %s, limit %s', h.template_id,
                                                   h.customer_id, h.issued, coalesce(n.n, 0), coalesce(t.per_customer_limit::text, '-'))
      FROM commerce.coupon_holder h
      JOIN commerce.coupon_template t ON t.tenant_id = h.tenant_id AND t.template_id = h.template_id
      LEFT JOIN LATERAL (SELECT count(*) AS n FROM commerce.coupon c
                          WHERE c.tenant_id = h.tenant_id AND c.template_id = h.template_id AND c.customer_id = h.customer_id) n ON true
     WHERE (p_tenant IS NULL OR h.tenant_id = p_tenant)
       AND (h.issued <> coalesce(n.n, 0) OR h.issued > t.per_customer_limit)
    UNION ALL
    -- a locked coupon's order awaits payment, a used coupon's order was paid, and both recorded what it took off
    SELECT 'coupon state = its order', format('coupon %s %s, order %s %s', c.coupon_id, c.status, c.order_id, o.status)
      FROM commerce.coupon c
      LEFT JOIN commerce.orders o ON o.tenant_id = c.tenant_id AND o.order_id = c.order_id
     WHERE (p_tenant IS NULL OR c.tenant_id = p_tenant) AND c.status IN ('locked', 'used') AND c.store_id IS NULL
       AND (o.order_id IS NULL OR (c.status = 'locked') <> (o.status = 'pending_payment')
            OR o.status = 'cancelled'
            OR NOT EXISTS (SELECT 1 FROM commerce.order_discount d
                            WHERE d.tenant_id = c.tenant_id AND d.order_id = c.order_id AND d.coupon_id = c.coupon_id))
    UNION ALL
    -- a coupon discount never takes a line below its floor, nor an order's discount below its coupons'
    SELECT 'line discount <= line above floor', format('order %s line %s: %s off, %s above the floor', l.order_id, l.line_no,
                                                       d.off, l.amount_fen - s.floor_fen * l.qty)
      FROM commerce.order_line l
      JOIN (SELECT tenant_id, order_id, line_no, sum(amount_fen) AS off FROM commerce.order_discount
             WHERE p_tenant IS NULL OR tenant_id = p_tenant GROUP BY 1, 2, 3) d
        ON d.tenant_id = l.tenant_id AND d.order_id = l.order_id AND d.line_no = l.line_no
      JOIN commerce.sku s ON s.tenant_id = l.tenant_id AND s.sku_id = l.sku_id
     WHERE d.off > l.amount_fen - s.floor_fen * l.qty
    UNION ALL
    SELECT 'order discount >= its coupons', format('order %s: discount %s, coupons %s', o.order_id, o.discount_fen, d.off)
      FROM commerce.orders o
      JOIN (SELECT tenant_id, order_id, sum(amount_fen) AS off FROM commerce.order_discount
             WHERE p_tenant IS NULL OR tenant_id = p_tenant GROUP BY 1, 2) d
        ON d.tenant_id = o.tenant_id AND d.order_id = o.order_id
     WHERE o.discount_fen < d.off
    UNION ALL
    -- a paid order used each of its coupons once: no coupon discounts two orders that were paid
    SELECT 'coupon used once', format('coupon %s discounts %s paid orders', d.coupon_id, count(DISTINCT d.order_id))
      FROM commerce.order_discount d
      JOIN commerce.orders o ON o.tenant_id = d.tenant_id AND o.order_id = d.order_id AND o.paid_at IS NOT NULL
     WHERE p_tenant IS NULL OR d.tenant_id = p_tenant
     GROUP BY d.tenant_id, d.coupon_id HAVING count(DISTINCT d.order_id) > 1;
$$;
COMMENT ON FUNCTION commerce.check_coupon_invariants(bigint) IS
  'Every invariant of the coupons (check after stress): each slot issued exactly its coupons and never more than its quota, a batch''s slots hold its quota, each holder counter = its coupons <= the per-customer limit, a locked coupon''s order awaits payment and a used one''s was paid (both with their split), no line discounted below its floor, an order''s discount covers its coupons'', no coupon discounting two paid orders. No rows means all hold.';
