-- sql/src/orders/after_sale.sql: after-sale work orders: refund only, return
-- and refund, exchange; the order_event log.

-- Lock an after-sale request of a tenant; PT404 if there is none.
CREATE FUNCTION commerce._lock_after_sale(p_tenant bigint, p_id bigint)
RETURNS commerce.after_sale_row LANGUAGE plpgsql AS $$
DECLARE a commerce.after_sale_row;
BEGIN
    PERFORM commerce._require(p_tenant, 'p_tenant');
    PERFORM commerce._require(p_id, 'p_after_sale');
    SELECT * INTO a FROM commerce.after_sale WHERE tenant_id = p_tenant AND after_sale_id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('after-sale request', p_id::text, p_tenant);
    END IF;
    RETURN a;
END $$;

-- Open an after-sale request on a paid, shipped or completed order.
CREATE FUNCTION commerce.request_after_sale(p_tenant bigint, p_request_id text, p_order bigint,
                                            p_kind text, p_refund_fen bigint DEFAULT 0,
                                            p_reason text DEFAULT NULL, p_lines jsonb DEFAULT NULL)
RETURNS commerce.after_sale_row LANGUAGE plpgsql AS $$
DECLARE
    o commerce.orders_row; a commerce.after_sale_row; v_kind commerce.after_sale_kind; l record;
    v_lines jsonb;
    v_problem text;
BEGIN
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_kind, 'p_kind');
    PERFORM commerce._require(p_refund_fen, 'p_refund_fen');
    o := commerce._lock_order(p_tenant, p_order);
    SELECT * INTO a FROM commerce.after_sale WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF FOUND THEN
        IF a.order_id <> p_order THEN
            RAISE EXCEPTION USING ERRCODE = '23505',
                MESSAGE = format('request_id "%s" was already used for an after-sale request of order %s',
                                 p_request_id, a.order_id),
                HINT = 'Use a new request_id for a new request.';
        END IF;
        RETURN a;
    END IF;
    IF p_kind NOT IN ('refund_only', 'return_refund', 'exchange') THEN
        PERFORM commerce._invalid('p_kind', format('"%s"', p_kind), 'Use refund_only, return_refund or exchange.');
    END IF;
    v_kind := p_kind::commerce.after_sale_kind;
    IF o.status NOT IN ('paid', 'shipped', 'completed') THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('order %s cannot take an after-sale request: it is %s', p_order, o.status),
            DETAIL  = 'After-sale requests are for paid, shipped or completed orders, one at a time.',
            HINT    = CASE o.status WHEN 'after_sale' THEN 'Finish the open request first.'
                                    WHEN 'pending_payment' THEN 'Cancel the unpaid order instead.'
                                    ELSE 'Look the order up.' END;
    END IF;
    IF p_refund_fen < 0 OR p_refund_fen > coalesce(o.paid_fen, 0) - o.refunded_fen
       OR (v_kind = 'exchange' AND p_refund_fen <> 0)
       OR (v_kind <> 'exchange' AND p_refund_fen = 0 AND coalesce(o.paid_fen, 0) > 0) THEN
        PERFORM commerce._invalid('p_refund_fen',
            format('Refund %s fen; the order has %s fen paid and not refunded.', p_refund_fen,
                   coalesce(o.paid_fen, 0) - o.refunded_fen),
            'A refund is more than 0 and at most what was paid and not yet refunded (0 only for an order paid with points); an exchange refunds nothing.');
    END IF;
    IF v_kind <> 'refund_only' AND (p_lines IS NULL OR jsonb_typeof(p_lines) <> 'array'
                                    OR jsonb_array_length(p_lines) = 0) THEN
        PERFORM commerce._invalid('p_lines', 'Returns and exchanges name the goods.',
                                  'Pass [{"sku":"<code>","qty":<n>}, ...].');
    END IF;
    IF p_lines IS NOT NULL THEN
        IF jsonb_typeof(p_lines) <> 'array' THEN
            PERFORM commerce._invalid('p_lines', format('%s is not a list of {"sku","qty"} lines.', p_lines),
                                      'Pass [{"sku":"<code>","qty":<n>}, ...] with whole quantities.');
        END IF;
        -- the goods, read by the one cart parser (commerce._cart_lines), summed per SKU;
        -- a refund only may name none ([])
        IF jsonb_array_length(p_lines) > 0 THEN
            BEGIN
                SELECT jsonb_agg(jsonb_build_object('sku', sku, 'qty', qty) ORDER BY sku) INTO v_lines
                  FROM (SELECT c.sku, sum(c.qty)::bigint AS qty FROM commerce._cart_lines(p_lines::text) c
                         GROUP BY 1) y;
            EXCEPTION WHEN invalid_parameter_value THEN
                GET STACKED DIAGNOSTICS v_problem = MESSAGE_TEXT;
                PERFORM commerce._invalid('p_lines',
                    format('%s is not a list of {"sku","qty"} lines (%s).', p_lines, v_problem),
                    'Pass [{"sku":"<code>","qty":<n>}, ...] with whole quantities.');
            END;
        END IF;
        -- per SKU: at most what was bought and not returned by earlier requests
        FOR l IN
            WITH asked AS (SELECT x ->> 'sku' AS sku, (x ->> 'qty')::bigint AS qty
                             FROM jsonb_array_elements(v_lines) x),
            bought AS (SELECT s.code AS sku, sum(ol.qty) AS qty
                         FROM commerce.order_line ol JOIN commerce.sku s USING (tenant_id, sku_id)
                        WHERE ol.tenant_id = p_tenant AND ol.order_id = p_order GROUP BY 1),
            returned AS (SELECT x ->> 'sku' AS sku, sum((x ->> 'qty')::bigint) AS qty
                           FROM commerce.after_sale r, jsonb_array_elements(r.lines) x
                          WHERE r.tenant_id = p_tenant AND r.order_id = p_order AND r.kind = 'return_refund'
                            AND r.status IN ('goods_returned', 'refunded') GROUP BY 1)
            SELECT a2.sku, a2.qty, coalesce(b.qty, 0) - coalesce(r.qty, 0) AS returnable
              FROM asked a2 LEFT JOIN bought b USING (sku) LEFT JOIN returned r USING (sku)
             WHERE a2.qty > coalesce(b.qty, 0) - coalesce(r.qty, 0) LOOP
            PERFORM commerce._invalid('p_lines',
                format('%s units of SKU "%s" asked; order %s has %s that can still come back.',
                       l.qty, l.sku, p_order, l.returnable),
                'Name SKUs of the order with at most what was bought and not returned yet.');
        END LOOP;
    END IF;
    INSERT INTO commerce.after_sale (tenant_id, order_id, request_id, kind, reason, refund_fen, lines, created_at)
    VALUES (p_tenant, p_order, p_request_id, v_kind, p_reason, p_refund_fen, coalesce(v_lines, '[]'),
            commerce.now())
    RETURNING * INTO a;
    UPDATE commerce.orders SET status = 'after_sale', status_reason = 'after-sale ' || a.after_sale_id || ': ' || p_kind
     WHERE tenant_id = p_tenant AND order_id = p_order;
    RETURN a;
END $$;
COMMENT ON FUNCTION commerce.request_after_sale(bigint, text, bigint, text, bigint, text, jsonb) IS
  'Open an after-sale request (refund_only, return_refund, exchange) on a paid, shipped or completed order; the order becomes after_sale. A return of an order paid with points (the points mall) refunds 0 fen: its points come back when the refund completes. Idempotent by request_id.';

-- Ask the payment gateway (self-operated orders) to refund an approved request.
CREATE FUNCTION commerce._request_refund(a commerce.after_sale_row) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE o commerce.orders_row; ch commerce.channel;
BEGIN
    SELECT * INTO o FROM commerce.orders WHERE tenant_id = a.tenant_id AND order_id = a.order_id;
    SELECT * INTO ch FROM commerce.channel WHERE tenant_id = a.tenant_id AND channel_id = o.channel_id;
    IF ch.kind = 'self_operated' AND a.refund_fen > 0 THEN   -- an order paid with points has no money to send back
        PERFORM commerce.enqueue(a.tenant_id, 'payment.refund',
            jsonb_build_object('payment_id', o.payment_id, 'order_id', o.order_id,
                               'amount_fen', a.refund_fen, 'reason', 'after_sale',
                               'after_sale_id', a.after_sale_id),
            'after-sale-refund:' || a.after_sale_id);
    END IF;
END $$;

-- Approve or reject an after-sale request; a large refund needs a second, different approver.
CREATE FUNCTION commerce.decide_after_sale(p_tenant bigint, p_after_sale bigint, p_approve boolean,
                                           p_note text DEFAULT NULL, p_approver text DEFAULT NULL)
RETURNS commerce.after_sale_row LANGUAGE plpgsql AS $$
DECLARE a commerce.after_sale_row; o commerce.orders_row; v_target text; v_threshold bigint;
        v_approver text := coalesce(p_approver, (commerce._audit_identity()).subject, session_user::text);
BEGIN
    PERFORM commerce._require(p_approve, 'p_approve');
    IF length(v_approver) NOT BETWEEN 1 AND 64 THEN
        PERFORM commerce._invalid('p_approver', format('%s characters', length(v_approver)), 'An approver is named in 1 to 64 characters.');
    END IF;
    v_target := CASE WHEN p_approve THEN 'approved' ELSE 'rejected' END;
    a := commerce._lock_after_sale(p_tenant, p_after_sale);
    IF a.status = v_target THEN
        RETURN a;
    END IF;
    -- a refund at or above the tenant's threshold: the first approval is recorded, a second,
    -- different approver approves it
    SELECT t.refund_second_approval_fen INTO v_threshold FROM commerce.tenant t WHERE t.tenant_id = p_tenant;
    IF p_approve AND a.status = 'requested' AND v_threshold > 0 AND a.refund_fen >= v_threshold THEN
        IF a.first_approver IS NULL THEN
            UPDATE commerce.after_sale SET first_approver = v_approver, first_approved_at = commerce.now(),
                   decision_note = p_note
             WHERE tenant_id = p_tenant AND after_sale_id = p_after_sale
            RETURNING * INTO a;
            PERFORM commerce._audit(p_tenant, 'after_sale.decide', p_after_sale::text,
                                    jsonb_build_object('approver', v_approver, 'approve', true), 'first_approval');
            RETURN a;
        ELSIF a.first_approver = v_approver THEN
            RAISE EXCEPTION USING ERRCODE = '42501',
                MESSAGE = format('refund %s needs a second, different approver', p_after_sale),
                DETAIL  = format('%s fen is at or above the tenant''s %s fen; %s approved it first.', a.refund_fen,
                                 v_threshold, left(a.first_approver, 64)),
                HINT    = 'Another approver approves it (or anyone rejects it).';
        END IF;
    END IF;
    o := commerce._lock_order(p_tenant, a.order_id);
    UPDATE commerce.after_sale
       SET status = v_target,
           decision_note = p_note, decided_at = commerce.now()
     WHERE tenant_id = p_tenant AND after_sale_id = p_after_sale
    RETURNING * INTO a;
    IF NOT p_approve THEN
        UPDATE commerce.orders SET status = o.status_before_after_sale,
               status_reason = 'after-sale ' || p_after_sale || ' rejected'
         WHERE tenant_id = p_tenant AND order_id = a.order_id;
    ELSIF a.kind = 'refund_only' THEN
        PERFORM commerce._request_refund(a);
    END IF;
    -- who decided, by name (the row trigger records the change and the session's actor)
    PERFORM commerce._audit(p_tenant, 'after_sale.decide', p_after_sale::text,
                            jsonb_build_object('approver', v_approver, 'approve', p_approve), a.status);
    RETURN a;
END $$;

COMMENT ON FUNCTION commerce.decide_after_sale(bigint, bigint, boolean, text, text) IS
  'Approve or reject an after-sale request (approving a refund-only request asks the payment provider for the refund). The approver is p_approver, else the verified actor, else the database role. A refund of at least the tenant''s refund_second_approval_fen needs two: the first approval is recorded (first_approver, status stays requested) and a second, different approver approves (the same one again: 42501). Audited. Idempotent.';

-- Set the refund amount from which a refund needs a second, different approver (0 or NULL: never).
CREATE FUNCTION commerce.set_refund_approval(p_tenant bigint, p_threshold_fen bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._tenant(p_tenant);
    IF p_threshold_fen < 0 OR p_threshold_fen > commerce._limit('max_fen') THEN
        PERFORM commerce._invalid('p_threshold_fen', format('%s fen', p_threshold_fen),
                                  'A threshold is an amount in fen (0 or NULL: no second approval).');
    END IF;
    UPDATE commerce.tenant SET refund_second_approval_fen = coalesce(p_threshold_fen, 0) WHERE tenant_id = p_tenant;
    PERFORM commerce._audit(p_tenant, 'refund_approval.set', p_tenant::text,
                            jsonb_build_object('threshold_fen', p_threshold_fen), 'set');
    RETURN p_threshold_fen;
END $$;
COMMENT ON FUNCTION commerce.set_refund_approval(bigint, bigint) IS
  'Refunds of at least p_threshold_fen need a second, different approver (commerce.decide_after_sale); 0 or NULL turns it off. Audited.';

-- The goods of a return or exchange came back: they are sellable again.
CREATE FUNCTION commerce.receive_returned_goods(p_tenant bigint, p_after_sale bigint)
RETURNS commerce.after_sale_row LANGUAGE plpgsql AS $$
DECLARE a commerce.after_sale_row; o commerce.orders_row; l jsonb;
BEGIN
    a := commerce._lock_after_sale(p_tenant, p_after_sale);
    IF a.status = 'goods_returned' THEN
        RETURN a;
    END IF;
    IF a.kind = 'refund_only' THEN
        PERFORM commerce._invalid('p_after_sale', format('Request %s is a refund without goods.', p_after_sale),
                                  'Only returns and exchanges receive goods.');
    END IF;
    SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND order_id = a.order_id;
    UPDATE commerce.after_sale SET status = 'goods_returned'
     WHERE tenant_id = p_tenant AND after_sale_id = p_after_sale RETURNING * INTO a;
    IF o.reservation_id IS NOT NULL THEN
        FOR l IN SELECT value FROM jsonb_array_elements(a.lines) LOOP
            PERFORM commerce.return_stock(p_tenant, 'after-sale:' || p_after_sale || ':' || (l ->> 'sku'),
                                          o.reservation_id, l ->> 'sku', (l ->> 'qty')::bigint);
        END LOOP;
    END IF;
    IF a.kind = 'return_refund' THEN
        PERFORM commerce._request_refund(a);
    END IF;
    RETURN a;
END $$;
COMMENT ON FUNCTION commerce.receive_returned_goods(bigint, bigint) IS
  'Goods of an approved return or exchange arrived back: they return to the stock pool (commerce.return_stock); a return then asks for the refund.';

-- The refund of an after-sale request was paid out (by the gateway or the platform).
CREATE FUNCTION commerce.complete_refund(p_tenant bigint, p_after_sale bigint)
RETURNS commerce.after_sale_row LANGUAGE plpgsql AS $$
DECLARE a commerce.after_sale_row; o commerce.orders_row;
BEGIN
    a := commerce._lock_after_sale(p_tenant, p_after_sale);
    IF a.status = 'refunded' THEN
        RETURN a;
    END IF;
    IF a.kind = 'exchange' THEN
        PERFORM commerce._invalid('p_after_sale', format('Request %s is an exchange.', p_after_sale),
                                  'Finish exchanges with commerce.complete_exchange.');
    END IF;
    o := commerce._lock_order(p_tenant, a.order_id);
    UPDATE commerce.after_sale SET status = 'refunded', completed_at = commerce.now()
     WHERE tenant_id = p_tenant AND after_sale_id = p_after_sale RETURNING * INTO a;
    UPDATE commerce.orders SET refunded_fen = refunded_fen + a.refund_fen
     WHERE tenant_id = p_tenant AND order_id = a.order_id RETURNING * INTO o;
    UPDATE commerce.orders
       SET status = CASE WHEN o.refunded_fen >= o.paid_fen THEN 'refunded'::commerce.order_status
                         ELSE o.status_before_after_sale END,
           status_reason = 'after-sale ' || p_after_sale || ' refunded ' || a.refund_fen || ' fen'
     WHERE tenant_id = p_tenant AND order_id = a.order_id;
    INSERT INTO commerce.order_event (tenant_id, order_id, kind, source_key, amount_fen, lines, created_at)
    VALUES (p_tenant, a.order_id, 'refund', 'after_sale:' || p_after_sale, a.refund_fen, a.lines, commerce.now())
    ON CONFLICT DO NOTHING;
    RETURN a;
END $$;
COMMENT ON FUNCTION commerce.complete_refund(bigint, bigint) IS
  'Record that the refund was paid: the order''s refunded_fen grows, the order becomes refunded (fully refunded) or goes back to its status (partly), and a refund event is written for the commission module.';

-- An exchange is complete: the replacement goods take stock and the order goes back.
CREATE FUNCTION commerce.complete_exchange(p_tenant bigint, p_after_sale bigint)
RETURNS commerce.after_sale_row LANGUAGE plpgsql AS $$
DECLARE a commerce.after_sale_row; o commerce.orders_row; v_res commerce.reservation_result;
BEGIN
    a := commerce._lock_after_sale(p_tenant, p_after_sale);
    IF a.status = 'exchanged' THEN
        RETURN a;
    END IF;
    IF a.kind <> 'exchange' THEN
        PERFORM commerce._invalid('p_after_sale', format('Request %s is not an exchange.', p_after_sale),
                                  'Finish refunds with commerce.complete_refund.');
    END IF;
    o := commerce._lock_order(p_tenant, a.order_id);
    UPDATE commerce.after_sale SET status = 'exchanged', completed_at = commerce.now()
     WHERE tenant_id = p_tenant AND after_sale_id = p_after_sale RETURNING * INTO a;
    v_res := commerce.reserve(p_tenant, 'exchange:' || p_after_sale, 'exchange:' || p_after_sale, a.lines::text);
    PERFORM commerce.confirm_reservation(p_tenant, v_res.reservation_id, 'exchange:' || p_after_sale);
    UPDATE commerce.orders SET status = o.status_before_after_sale,
           status_reason = 'after-sale ' || p_after_sale || ' exchanged'
     WHERE tenant_id = p_tenant AND order_id = a.order_id;
    RETURN a;
END $$;
COMMENT ON FUNCTION commerce.complete_exchange(bigint, bigint) IS
  'Finish an exchange whose goods came back: the replacement units are taken from the pool (PT409 when there are none) and the order returns to its status.';
