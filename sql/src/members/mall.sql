-- sql/src/members/mall.sql: the points mall (3.6.3). A redemption spends
-- the customer's points (earliest expiry first, under the account lock) and
-- in the same transaction gives what was bought: goods as an order paid with
-- points (its stock held and sold from the stock pool, so never oversold), a
-- coupon (within its batch), or a membership period (an order of the plan's
-- card paid with points). Any refusal undoes the whole redemption. A
-- redemption is once per request_id and reversed while what it gave is
-- unused (the points come back as a lot of source refund).

-- Create or change an item of the points mall.
CREATE FUNCTION commerce.upsert_mall_item(p_tenant bigint, p_code text, p_name text, p_kind text, p_points bigint,
                                          p_target text, p_per_customer_limit integer DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_sku bigint; v_batch bigint; v_plan bigint; v_id bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_name, 'p_name');
    PERFORM commerce._require(p_kind, 'p_kind');
    PERFORM commerce._require(p_points, 'p_points');
    PERFORM commerce._require(p_target, 'p_target');
    IF p_code !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' THEN
        PERFORM commerce._invalid('p_code', format('"%s"', left(p_code, 64)),
                                  'A code is 1 to 63 letters, digits, "_", "." or "-", starting with a letter or digit.');
    END IF;
    IF p_kind NOT IN ('goods', 'coupon', 'membership') THEN
        PERFORM commerce._invalid('p_kind', format('"%s"', left(p_kind, 64)), 'The mall sells goods, a coupon or a membership.');
    END IF;
    IF p_points NOT BETWEEN 1 AND 100000000 THEN
        PERFORM commerce._invalid('p_points', format('%s points', p_points), 'An item costs 1 to 100000000 points.');
    END IF;
    IF p_per_customer_limit IS NOT NULL AND p_per_customer_limit NOT BETWEEN 1 AND 1000 THEN
        PERFORM commerce._invalid('p_per_customer_limit', format('%s', p_per_customer_limit), 'A limit is 1 to 1000 redemptions, or NULL.');
    END IF;
    IF p_kind = 'goods' THEN
        SELECT sku_id INTO v_sku FROM commerce.sku WHERE tenant_id = p_tenant AND code = p_target;
        IF NOT FOUND THEN PERFORM commerce._not_found('sku', p_target, p_tenant); END IF;
    ELSIF p_kind = 'coupon' THEN
        SELECT batch_id INTO v_batch FROM commerce.coupon_batch WHERE tenant_id = p_tenant AND code = p_target;
        IF NOT FOUND THEN PERFORM commerce._not_found('coupon batch', p_target, p_tenant); END IF;
    ELSE
        SELECT plan_id INTO v_plan FROM commerce.membership_plan WHERE tenant_id = p_tenant AND code = p_target;
        IF NOT FOUND THEN PERFORM commerce._not_found('membership plan', p_target, p_tenant); END IF;
    END IF;
    INSERT INTO commerce.points_mall_item AS i (tenant_id, code, name, kind, points, sku_id, batch_id, plan_id,
                                                per_customer_limit, created_at)
    VALUES (p_tenant, p_code, left(p_name, 200), p_kind, p_points, v_sku, v_batch, v_plan, p_per_customer_limit, commerce.now())
    ON CONFLICT (tenant_id, code) DO UPDATE
       SET name = EXCLUDED.name, kind = EXCLUDED.kind, points = EXCLUDED.points, sku_id = EXCLUDED.sku_id,
           batch_id = EXCLUDED.batch_id, plan_id = EXCLUDED.plan_id, per_customer_limit = EXCLUDED.per_customer_limit
    RETURNING item_id INTO v_id;
    RETURN v_id;
END $$;
COMMENT ON FUNCTION commerce.upsert_mall_item(bigint, text, text, text, bigint, text, integer) IS
  'Create or change an item of the points mall by code: p_kind goods (p_target a SKU), coupon (a coupon batch) or membership (a plan), costing p_points a unit, at most p_per_customer_limit redemptions per customer (NULL: no limit). A change applies to later redemptions. Returns the item id.';

-- The outcome of a redemption.
CREATE TYPE commerce.redemption_result AS (redemption_id bigint, item text, kind text, qty integer, points bigint,
                                            order_id bigint, coupon_id bigint, status text, available bigint, outcome text);
COMMENT ON TYPE commerce.redemption_result IS
  'A points-mall redemption: the item and its kind, units, the points spent, the order (goods, a membership card) or coupon it gave, its status (redeemed, reversed), the customer''s available points after it, and what happened (redeemed, existing: the request had redeemed before, reversed).';

-- A redemption as a redemption_result.
CREATE FUNCTION commerce._redemption_result(p_tenant bigint, p_request text, p_outcome text) RETURNS commerce.redemption_result
LANGUAGE plpgsql STABLE AS $$
DECLARE r commerce.redemption_result;
BEGIN
    SELECT d.redemption_id, i.code, i.kind, d.qty, d.points, d.order_id, d.coupon_id, d.status,
           coalesce(a.available, 0), p_outcome
      INTO r
      FROM commerce.points_redemption d
      JOIN commerce.points_mall_item i ON i.tenant_id = d.tenant_id AND i.item_id = d.item_id
      LEFT JOIN commerce.points_account a ON a.tenant_id = d.tenant_id AND a.customer_id = d.customer_id
     WHERE d.tenant_id = p_tenant AND d.request_id = p_request;
    RETURN r;
END $$;

-- Redeem points for an item of the mall, once per request_id.
CREATE FUNCTION commerce.redeem_points(p_tenant bigint, p_request_id text, p_customer text, p_item text, p_qty integer DEFAULT 1,
                                       p_channel text DEFAULT 'wechat_mp', p_receiver jsonb DEFAULT NULL)
RETURNS commerce.redemption_result LANGUAGE plpgsql AS $$
DECLARE i commerce.points_mall_item%ROWTYPE; v_customer bigint; v_n bigint; v_order bigint; v_coupon bigint;
        v_sku text; r commerce.order_result; d commerce.points_redemption%ROWTYPE;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._require(p_item, 'p_item');
    PERFORM commerce._require(p_qty, 'p_qty');
    SELECT * INTO i FROM commerce.points_mall_item WHERE tenant_id = p_tenant AND code = p_item;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('mall item', p_item, p_tenant);
    END IF;
    SELECT customer_id INTO v_customer FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    IF p_qty NOT BETWEEN 1 AND 100 OR (i.kind <> 'goods' AND p_qty <> 1) THEN
        PERFORM commerce._invalid('p_qty', format('%s units of a %s item', p_qty, i.kind),
                                  'Redeem 1 to 100 units of goods, one coupon or one membership at a time.');
    END IF;
    -- under the locks of its person's points accounts (in customer order, as spend_points takes them):
    -- a repeat finds its redemption, the limit counts the others
    PERFORM commerce._lock_person_accounts(p_tenant, v_customer);
    SELECT * INTO d FROM commerce.points_redemption WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF FOUND THEN
        IF d.customer_id <> v_customer OR d.item_id <> i.item_id OR d.qty <> p_qty THEN
            RAISE EXCEPTION USING ERRCODE = '23505',
                MESSAGE = format('request_id "%s" was already used for another redemption', left(p_request_id, 64)),
                DETAIL  = format('It redeemed %s x item %s for customer %s.', d.qty, d.item_id, d.customer_id),
                HINT    = 'Use a new request_id for a new redemption.';
        END IF;
        RETURN commerce._redemption_result(p_tenant, p_request_id, 'existing');
    END IF;
    IF NOT i.active THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('mall item "%s" is not on sale', p_item),
            HINT = 'Redeem an item on sale (commerce_api.mall_items).';
    END IF;
    IF i.per_customer_limit IS NOT NULL THEN
        SELECT count(*) INTO v_n FROM commerce.points_redemption
         WHERE tenant_id = p_tenant AND customer_id = v_customer AND item_id = i.item_id AND status = 'redeemed';
        IF v_n >= i.per_customer_limit THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409',
                MESSAGE = format('customer "%s" has redeemed "%s" %s times', left(p_customer, 64), p_item, v_n),
                DETAIL  = format('At most %s per customer.', i.per_customer_limit),
                HINT    = 'Nothing was spent.';
        END IF;
    END IF;
    -- the points first (PT409 when too few: nothing happens), then what they buy
    PERFORM commerce.spend_points(p_tenant, 'redeem:' || p_request_id, p_customer, i.points * p_qty,
                                  left('points mall: ' || i.name, 200));
    IF i.kind = 'coupon' THEN
        v_coupon := (commerce.issue_coupon(p_tenant, 'redeem', p_request_id, (SELECT code FROM commerce.coupon_batch
                                                                               WHERE tenant_id = p_tenant AND batch_id = i.batch_id),
                                           p_customer)).coupon_id;
    ELSE
        SELECT code INTO v_sku FROM commerce.sku
         WHERE tenant_id = p_tenant
           AND sku_id = coalesce(i.sku_id, (SELECT sku_id FROM commerce.membership_plan WHERE tenant_id = p_tenant AND plan_id = i.plan_id));
        r := commerce.place_order(p_tenant, 'redeem:' || p_request_id, p_channel,
                                  jsonb_strip_nulls(jsonb_build_object(
                                      'lines', jsonb_build_array(jsonb_build_object('sku', v_sku, 'qty', p_qty)),
                                      'receiver', p_receiver, 'paid_by', 'points')),
                                  p_customer);
        v_order := r.order_id;
        IF r.payable_fen <> 0 THEN
            RAISE EXCEPTION 'commerce.redeem_points: the order % paid with points is payable %', v_order, r.payable_fen;
        END IF;
        PERFORM commerce.pay_order(p_tenant, v_order, 'points:' || p_request_id, 0);
    END IF;
    INSERT INTO commerce.points_redemption (tenant_id, request_id, customer_id, item_id, qty, points, order_id, coupon_id,
                                            status, created_at)
    VALUES (p_tenant, p_request_id, v_customer, i.item_id, p_qty, i.points * p_qty, v_order, v_coupon, 'redeemed', commerce.now());
    RETURN commerce._redemption_result(p_tenant, p_request_id, 'redeemed');
END $$;
COMMENT ON FUNCTION commerce.redeem_points(bigint, text, text, text, integer, text, jsonb) IS
  'Redeem a customer''s points for an item of the mall, once per request_id (a repeat returns it, outcome existing; the request_id of another redemption is 23505): the points are spent earliest expiry first (PT409 when too few), then goods become an order paid with points on p_channel to p_receiver (stock held and sold from the pool: PT409 when short), a coupon is issued (PT409 when its batch is all claimed), a membership is extended by a period. Any refusal undoes all of it. At most the item''s per-customer limit (PT409).';

-- Reverse a redemption while what it gave is unused: the points come back.
CREATE FUNCTION commerce.reverse_redemption(p_tenant bigint, p_request_id text, p_reason text)
RETURNS commerce.redemption_result LANGUAGE plpgsql AS $$
DECLARE d commerce.points_redemption%ROWTYPE; i commerce.points_mall_item%ROWTYPE; v_status text;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_reason, 'p_reason');
    SELECT * INTO d FROM commerce.points_redemption WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('redemption', p_request_id, p_tenant);
    END IF;
    PERFORM commerce._lock_points_account(p_tenant, d.customer_id);
    SELECT * INTO d FROM commerce.points_redemption WHERE tenant_id = p_tenant AND redemption_id = d.redemption_id FOR UPDATE;
    IF d.status = 'reversed' THEN
        RETURN commerce._redemption_result(p_tenant, p_request_id, 'existing');
    END IF;
    SELECT * INTO i FROM commerce.points_mall_item WHERE tenant_id = p_tenant AND item_id = d.item_id;
    IF i.kind = 'coupon' THEN
        UPDATE commerce.coupon SET status = 'revoked', ended_at = commerce.now()
         WHERE tenant_id = p_tenant AND coupon_id = d.coupon_id AND status = 'issued';
        IF NOT FOUND THEN
            SELECT status INTO v_status FROM commerce.coupon WHERE tenant_id = p_tenant AND coupon_id = d.coupon_id;
            RAISE EXCEPTION USING ERRCODE = 'PT409',
                MESSAGE = format('redemption "%s" cannot be reversed: its coupon is %s', left(p_request_id, 64), v_status),
                HINT    = 'A redemption is reversed only while its coupon is unused.';
        END IF;
    ELSIF i.kind = 'membership' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('redemption "%s" cannot be reversed: it gave a membership period', left(p_request_id, 64)),
            DETAIL  = format('Order %s bought a period that is in force.', d.order_id),
            HINT    = 'A membership period is not taken back; customer service may grant points as goodwill.';
    ELSIF NOT EXISTS (SELECT 1 FROM commerce.orders WHERE tenant_id = p_tenant AND order_id = d.order_id AND status = 'refunded') THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('redemption "%s" cannot be reversed yet: it gave %s', left(p_request_id, 64), i.kind),
            DETAIL  = format('Order %s was paid with points and has not come back.', d.order_id),
            HINT    = 'Goods come back through an after-sale return of 0 fen (commerce.request_after_sale): its completed refund gives the points back.';
    END IF;
    PERFORM commerce._earn_points(p_tenant, d.customer_id, 'refund', 'redeem:' || p_request_id, d.points, interval '0',
                                  interval '365 days', NULL, NULL, left('reversed: ' || p_reason, 200));
    UPDATE commerce.points_redemption SET status = 'reversed', reversed_at = commerce.now(), reverse_reason = left(p_reason, 200)
     WHERE tenant_id = p_tenant AND redemption_id = d.redemption_id;
    RETURN commerce._redemption_result(p_tenant, p_request_id, 'reversed');
END $$;
COMMENT ON FUNCTION commerce.reverse_redemption(bigint, text, text) IS
  'Reverse a points-mall redemption: a coupon while it is unused (revoked), goods once their order came back through an after-sale return of 0 fen (done by the refund''s completion itself; a membership period is not reversed); the points come back as a lot available at once for 365 days (source refund), once (a repeat returns it). PT409 otherwise (a used coupon, goods not returned). Returns the redemption.';

-- Orders trigger: an order paid with points that is refunded (its goods returned) reverses its redemption.
CREATE FUNCTION commerce._redemption_returned() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE v_request text;
BEGIN
    IF TG_WHEN <> 'AFTER' OR TG_LEVEL <> 'ROW' OR TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'commerce._redemption_returned must fire AFTER UPDATE ... FOR EACH ROW';
    END IF;
    SELECT d.request_id INTO v_request FROM commerce.points_redemption d
      JOIN commerce.points_mall_item i ON i.tenant_id = d.tenant_id AND i.item_id = d.item_id
     WHERE d.tenant_id = NEW.tenant_id AND d.order_id = NEW.order_id AND d.status = 'redeemed' AND i.kind = 'goods';
    IF FOUND THEN
        PERFORM commerce.reverse_redemption(NEW.tenant_id, v_request, 'goods returned (order ' || NEW.order_id || ')');
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER after_53_redemption_returned AFTER UPDATE OF status ON commerce.orders
    FOR EACH ROW WHEN (NEW.status = 'refunded' AND OLD.status IS DISTINCT FROM 'refunded' AND NEW.paid_fen = 0)
    EXECUTE FUNCTION commerce._redemption_returned();

-- Every invariant of the points mall; no rows means all hold.
CREATE FUNCTION commerce.check_mall_invariants(p_tenant bigint DEFAULT NULL)
RETURNS TABLE (invariant text, detail text) LANGUAGE sql STABLE AS $$
    -- a redemption spent exactly its points, and a reversed one got them back once
    SELECT 'redemption = its spend (and refund)', format('redemption %s: %s points, spent %s, refunded %s', d.redemption_id, d.points,
                                                         coalesce(s.points, 0), coalesce(l.points, 0))
      FROM commerce.points_redemption d
      LEFT JOIN commerce.points_spend s ON s.tenant_id = d.tenant_id AND s.request_id = 'redeem:' || d.request_id
      LEFT JOIN commerce.points_lot l ON l.tenant_id = d.tenant_id AND l.source = 'refund' AND l.source_key = 'redeem:' || d.request_id
     WHERE (p_tenant IS NULL OR d.tenant_id = p_tenant)
       AND (coalesce(s.points, 0) <> d.points OR coalesce(l.points, 0) <> CASE WHEN d.status = 'reversed' THEN d.points ELSE 0 END)
    UNION ALL
    -- what it gave: a paid order with nothing payable for its goods, or a coupon (revoked when reversed)
    SELECT 'redemption = what it gave', format('redemption %s (%s)', d.redemption_id, d.status)
      FROM commerce.points_redemption d
      LEFT JOIN commerce.orders o ON o.tenant_id = d.tenant_id AND o.order_id = d.order_id
      LEFT JOIN commerce.coupon c ON c.tenant_id = d.tenant_id AND c.coupon_id = d.coupon_id
     WHERE (p_tenant IS NULL OR d.tenant_id = p_tenant)
       AND ((d.order_id IS NULL) = (d.coupon_id IS NULL)
            OR (d.order_id IS NOT NULL AND (o.paid_at IS NULL OR o.discount_fen <> o.goods_fen))
            OR (d.coupon_id IS NOT NULL AND (c.status = 'revoked') <> (d.status = 'reversed'))
            OR (d.order_id IS NOT NULL AND d.status = 'reversed' AND o.status <> 'refunded'));
$$;
COMMENT ON FUNCTION commerce.check_mall_invariants(bigint) IS
  'Every invariant of the points mall (check after stress): each redemption spent exactly its points (a reversed one got exactly them back, once), and gave exactly one thing: a paid order whose goods were all paid with points, or a coupon, revoked exactly when the redemption was reversed. No rows means all hold.';
