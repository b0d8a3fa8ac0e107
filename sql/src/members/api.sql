-- sql/src/members/api.sql: points for HTTP clients. A customer reads its own
-- balance and history; HQ grants points as itself; spending is the points
-- mall's backend (a service), once per request_id.

-- The shape of a points balance (an API row type: selects nothing itself).
CREATE VIEW commerce_api.points_balance AS
SELECT NULL::text AS customer, NULL::bigint AS available, NULL::bigint AS pending, NULL::bigint AS earned,
       NULL::bigint AS spent, NULL::bigint AS expired, NULL::bigint AS reversed,
       NULL::timestamptz AS next_expiry_at, NULL::bigint AS next_expiry_points
 WHERE false;
COMMENT ON VIEW commerce_api.points_balance IS
  E'@omit all\nA customer''s points: available to spend, pending (earned by purchases still in their return window), and all earned, spent, expired and reversed by refunds; when the next available points expire and how many.';

-- A customer's balance as a points_balance row.
CREATE FUNCTION commerce._points_balance(p_tenant bigint, p_customer text) RETURNS SETOF commerce_api.points_balance
LANGUAGE sql STABLE AS $$
    SELECT cu.code, coalesce(a.available, 0), coalesce(a.pending, 0), coalesce(a.earned, 0), coalesce(a.spent, 0),
           coalesce(a.expired, 0), coalesce(a.reversed, 0), n.expires_at, n.points
      FROM commerce.customer cu
      LEFT JOIN commerce.points_account a ON a.tenant_id = cu.tenant_id AND a.customer_id = cu.customer_id
      LEFT JOIN LATERAL (SELECT l.expires_at, sum(l.remaining)::bigint AS points FROM commerce.points_lot l
                          WHERE l.tenant_id = cu.tenant_id AND l.customer_id = cu.customer_id AND l.status = 'available'
                          GROUP BY l.expires_at ORDER BY l.expires_at LIMIT 1) n ON true
     WHERE cu.tenant_id = p_tenant AND cu.code = p_customer;
$$;

CREATE FUNCTION commerce_api.points(customer text DEFAULT NULL)
RETURNS SETOF commerce_api.points_balance LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.points', '{customer,store,operator,service}');
        v_customer text := points.customer;
BEGIN
    IF a.kind = 'customer' THEN
        v_customer := commerce._actor_subject(a, points.customer, 'customer');
    END IF;
    PERFORM commerce._require(v_customer, 'customer');
    RETURN QUERY SELECT * FROM commerce._points_balance(a.tenant_id, v_customer);
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', v_customer, a.tenant_id);
    END IF;
END $$;
REVOKE ALL ON FUNCTION commerce_api.points(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.points(text) IS
  'A customer''s points (points_balance): a customer its own (customer left out or its own); store staff at the counter, operators and services name the customer.';

-- The shape of a movement of points.
CREATE VIEW commerce_api.points_entry AS
SELECT NULL::bigint AS entry_id, NULL::text AS kind, NULL::bigint AS delta_available, NULL::bigint AS delta_pending,
       NULL::text AS source, NULL::text AS reason, NULL::timestamptz AS created_at
 WHERE false;
COMMENT ON VIEW commerce_api.points_entry IS
  E'@omit all\nOne movement of a customer''s points: kind (earn, release: pending became available, spend, expire, reverse: a refund took them back, unrecovered: a refund found them already spent), the change to available and to pending points, the source of the lot (purchase, grant, interaction, checkin, task), the reason, when.';

CREATE FUNCTION commerce_api.points_history(customer text DEFAULT NULL, before_id bigint DEFAULT NULL,
                                            page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.points_entry LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.points_history', '{customer,operator,service}');
        v_customer text := points_history.customer; v_id bigint;
BEGIN
    PERFORM commerce._api_page(points_history.page_size);
    IF a.kind = 'customer' THEN
        v_customer := commerce._actor_subject(a, points_history.customer, 'customer');
    END IF;
    PERFORM commerce._require(v_customer, 'customer');
    SELECT cu.customer_id INTO v_id FROM commerce.customer cu WHERE cu.tenant_id = a.tenant_id AND cu.code = v_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', v_customer, a.tenant_id);
    END IF;
    RETURN QUERY
    SELECT g.entry_id, g.kind, g.delta_available, g.delta_pending, l.source, g.reason, g.created_at
      FROM commerce.points_ledger g
      LEFT JOIN commerce.points_lot l ON l.tenant_id = g.tenant_id AND l.lot_id = g.lot_id
     WHERE g.tenant_id = a.tenant_id AND g.customer_id = v_id
       AND (points_history.before_id IS NULL OR g.entry_id < points_history.before_id)
     ORDER BY g.entry_id DESC
     LIMIT points_history.page_size;
END $$;
REVOKE ALL ON FUNCTION commerce_api.points_history(text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.points_history(text, bigint, integer) IS
  'A customer''s movements of points newest first (points_entry): a customer its own; operators and services name the customer. Paged by cursor: before_id is the last entry_id of the previous page, page_size 1 to 100 (default 20).';

CREATE FUNCTION commerce_api.grant_points(request_id text, customer text, points bigint, reason text,
                                          expire_days integer DEFAULT 365)
RETURNS SETOF commerce_api.points_balance LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.grant_points', '{operator,service}');
BEGIN
    PERFORM commerce.earn_points(a.tenant_id, 'grant', grant_points.request_id, grant_points.customer, grant_points.points,
                                 left(grant_points.reason, 150) || ' (' || coalesce(a.subject, a.kind) || ')', 0,
                                 grant_points.expire_days);
    RETURN QUERY SELECT * FROM commerce._points_balance(a.tenant_id, grant_points.customer);
END $$;
REVOKE ALL ON FUNCTION commerce_api.grant_points(text, text, bigint, text, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.grant_points(text, text, bigint, text, integer) IS
  'HQ grants a customer points (goodwill, a campaign), available at once for expire_days (1 to 3650), with a reason recorded under the operator''s code. Once per request_id. HQ operators and services. Returns the balance (points_balance).';

CREATE FUNCTION commerce_api.spend_points(request_id text, customer text, points bigint, reason text)
RETURNS SETOF commerce_api.points_balance LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.spend_points', '{service}');
BEGIN
    PERFORM commerce.spend_points(a.tenant_id, spend_points.request_id, spend_points.customer, spend_points.points,
                                  spend_points.reason);
    RETURN QUERY SELECT * FROM commerce._points_balance(a.tenant_id, spend_points.customer);
END $$;
REVOKE ALL ON FUNCTION commerce_api.spend_points(text, text, bigint, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.spend_points(text, text, bigint, text) IS
  'The points mall''s backend (service only) spends a customer''s points, earliest expiry first, never more than it has (PT409, nothing spent). Once per request_id. Returns the balance (points_balance).';

-- The shape of a check-in.
CREATE VIEW commerce_api.checkin AS
SELECT NULL::date AS day, NULL::integer AS streak, NULL::bigint AS points, NULL::text AS outcome WHERE false;
COMMENT ON VIEW commerce_api.checkin IS
  E'@omit all\nA daily check-in: the tenant-local day, the streak (days in a row, this one included), the points it earned and what happened (checked_in, or already: checked in before that day, nothing earned).';

CREATE FUNCTION commerce_api.check_in(customer text DEFAULT NULL)
RETURNS SETOF commerce_api.checkin LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.check_in', '{customer,service}');
BEGIN
    RETURN QUERY SELECT * FROM commerce.check_in(a.tenant_id, commerce._actor_subject(a, check_in.customer, 'customer'));
END $$;
REVOKE ALL ON FUNCTION commerce_api.check_in(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.check_in(text) IS
  'The daily check-in (checkin): a customer for itself (a service names the customer), once a tenant-local day, with its streak and points. PT409 when the tenant has no check-in.';

-- Hasura's variants of the reads above (commerce_hasura: the session passed as hasura_session).

CREATE FUNCTION commerce_hasura.points(hasura_session json, customer text DEFAULT NULL)
RETURNS SETOF commerce_api.points_balance LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.points(points.customer);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.points(json, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.points(json, text) IS
  'Hasura: commerce_api.points for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

CREATE FUNCTION commerce_hasura.points_history(hasura_session json, customer text DEFAULT NULL,
                                               before_id bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.points_entry LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.points_history(points_history.customer, points_history.before_id,
                                                           points_history.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.points_history(json, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.points_history(json, text, bigint, integer) IS
  'Hasura: commerce_api.points_history for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

-- Paid membership for HTTP clients: anyone sees the plans; a customer buys, renews and
-- cancels its own and reads it; HQ defines plans.

-- The shape of a membership plan.
CREATE VIEW commerce_api.membership_offer AS
SELECT NULL::text AS plan, NULL::text AS name, NULL::text AS sku, NULL::bigint AS price_fen, NULL::text AS price_yuan,
       NULL::integer AS months, NULL::integer AS discount_bp, NULL::boolean AS priority_shipping,
       NULL::boolean AS birthday_double, NULL::boolean AS priority_service, NULL::text AS badge, NULL::text AS gift_batch
 WHERE false;
COMMENT ON VIEW commerce_api.membership_offer IS
  E'@omit all\nA paid membership plan on sale: its SKU and list price (price_yuan the exact string), the months one payment buys, and its benefits: discount_bp off every price at checkout, priority shipping (24-hour ship-by), double points in the birthday month, priority customer service, a badge, a monthly gift (a coupon of gift_batch).';

CREATE FUNCTION commerce_api.membership_plans()
RETURNS SETOF commerce_api.membership_offer LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.membership_plans', '{anonymous,customer,store,operator,service}');
BEGIN
    RETURN QUERY
    SELECT p.code, p.name, s.code, s.msrp_fen, commerce.yuan(s.msrp_fen), p.months, p.discount_bp, p.priority_shipping,
           p.birthday_double, p.priority_service, p.badge, b.code
      FROM commerce.membership_plan p
      JOIN commerce.sku s ON s.tenant_id = p.tenant_id AND s.sku_id = p.sku_id
      LEFT JOIN commerce.coupon_batch b ON b.tenant_id = p.tenant_id AND b.batch_id = p.gift_batch_id
     WHERE p.tenant_id = a.tenant_id AND p.active
     ORDER BY p.months, p.code;
END $$;
REVOKE ALL ON FUNCTION commerce_api.membership_plans() FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.membership_plans() IS
  'The paid membership plans on sale (membership_offer), shortest first. Open to every caller of the tenant.';

-- The shape of a customer's membership.
CREATE VIEW commerce_api.member_status AS
SELECT NULL::text AS customer, NULL::text AS plan, NULL::text AS plan_name, NULL::text AS status,
       NULL::timestamptz AS period_end, NULL::timestamptz AS started_at, NULL::timestamptz AS cancelled_at,
       NULL::jsonb AS benefits, NULL::text AS badge
 WHERE false;
COMMENT ON VIEW commerce_api.member_status IS
  E'@omit all\nA customer''s paid membership: plan, status (none, pending_payment, active, past_due, cancelled: not renewing, in force to period_end, expired), the end of the paid period, when it started and was cancelled, the benefits in force now ([{kind, rate_bp, until}]: member_discount, priority_shipping, birthday_double_points, priority_service, badge) and the badge.';

-- A customer's membership as a member_status row (status none without one).
CREATE FUNCTION commerce._member_status(p_tenant bigint, p_customer bigint) RETURNS SETOF commerce_api.member_status
LANGUAGE sql STABLE AS $$
    SELECT cu.code, p.code, p.name, coalesce(m.status, 'none'), m.period_end, m.started_at, m.cancelled_at,
           coalesce((SELECT jsonb_agg(jsonb_build_object('kind', b.kind, 'rate_bp', b.rate_bp, 'until', b.valid_until)
                                      ORDER BY b.kind)
                       FROM commerce.customer_benefit b
                      WHERE b.tenant_id = cu.tenant_id AND b.customer_id = cu.customer_id
                        AND b.valid_from <= commerce.now() AND b.valid_until > commerce.now()), '[]'),
           (SELECT b.label FROM commerce.customer_benefit b
             WHERE b.tenant_id = cu.tenant_id AND b.customer_id = cu.customer_id AND b.kind = 'badge'
               AND b.valid_from <= commerce.now() AND b.valid_until > commerce.now()
             ORDER BY b.valid_until DESC LIMIT 1)
      FROM commerce.customer cu
      LEFT JOIN commerce.membership m ON m.tenant_id = cu.tenant_id AND m.customer_id = cu.customer_id
      LEFT JOIN commerce.membership_plan p ON p.tenant_id = m.tenant_id AND p.plan_id = m.plan_id
     WHERE cu.tenant_id = p_tenant AND cu.customer_id = p_customer;
$$;

CREATE FUNCTION commerce_api.my_membership(customer text DEFAULT NULL)
RETURNS SETOF commerce_api.member_status LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.my_membership', '{customer,store,operator,service}');
BEGIN
    RETURN QUERY SELECT * FROM commerce._member_status(a.tenant_id, commerce._api_customer(a, my_membership.customer));
END $$;
REVOKE ALL ON FUNCTION commerce_api.my_membership(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.my_membership(text) IS
  'A customer''s paid membership and the benefits in force now (member_status): a customer its own; store staff (priority service at the counter), operators and services name the customer.';

CREATE FUNCTION commerce_api.buy_membership(request_id text, plan text, channel text, customer text DEFAULT NULL)
RETURNS SETOF commerce_api.order_summary LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.buy_membership', '{customer,service}');
        r commerce.order_result;
BEGIN
    r := commerce.buy_membership(a.tenant_id, buy_membership.request_id,
                                 commerce._actor_subject(a, buy_membership.customer, 'customer'), buy_membership.plan,
                                 buy_membership.channel);
    RETURN QUERY SELECT * FROM commerce._order_summary(a.tenant_id, ARRAY[r.order_id]);
END $$;
REVOKE ALL ON FUNCTION commerce_api.buy_membership(text, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.buy_membership(text, text, text, text) IS
  'A customer buys or renews a paid membership plan for itself (a service names the customer): an order of the plan''s SKU on a self-operated channel, paid like any order (pay_intent, then the provider''s record_payment); its payment extends the membership once by the plan''s months. Once per request_id. Returns the order (order_summary).';

CREATE FUNCTION commerce_api.cancel_membership(customer text DEFAULT NULL)
RETURNS SETOF commerce_api.member_status LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.cancel_membership', '{customer,service}');
        m commerce.membership_row;
BEGIN
    m := commerce.cancel_membership(a.tenant_id, commerce._actor_subject(a, cancel_membership.customer, 'customer'));
    RETURN QUERY SELECT * FROM commerce._member_status(a.tenant_id, m.customer_id);
END $$;
REVOKE ALL ON FUNCTION commerce_api.cancel_membership(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.cancel_membership(text) IS
  'A customer stops renewing its paid membership (a service names the customer): cancelled, in force to the end of the paid period, then expired. PT409 without a paid membership. Returns the membership (member_status).';

CREATE FUNCTION commerce_api.upsert_membership_plan(code text, name text, sku text, months integer, discount_bp integer DEFAULT 0,
                                                    benefits jsonb DEFAULT '{}')
RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.upsert_membership_plan', '{operator,service}');
        v_id bigint;
BEGIN
    PERFORM commerce._actor_scope(a, NULL, NULL);
    v_id := commerce.upsert_membership_plan(a.tenant_id, upsert_membership_plan.code, upsert_membership_plan.name,
                                            upsert_membership_plan.sku, upsert_membership_plan.months,
                                            upsert_membership_plan.discount_bp, upsert_membership_plan.benefits);
    PERFORM commerce._audit(a.tenant_id, 'upsert_membership_plan', upsert_membership_plan.code,
                            jsonb_build_object('sku', upsert_membership_plan.sku, 'months', upsert_membership_plan.months,
                                               'discount_bp', upsert_membership_plan.discount_bp,
                                               'benefits', upsert_membership_plan.benefits), 'saved');
    RETURN v_id;
END $$;
REVOKE ALL ON FUNCTION commerce_api.upsert_membership_plan(text, text, text, integer, integer, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.upsert_membership_plan(text, text, text, integer, integer, jsonb) IS
  'HQ creates or changes a paid membership plan (audited): sold as sku (a virtual membership_card SKU), months per payment, discount_bp off every price (0 to 5000), benefits {"priority_shipping", "birthday_double", "priority_service", "badge", "gift_batch", "grace_days"}; changes apply from the next paid period. HQ operators and services. Returns the plan id.';

CREATE FUNCTION commerce_hasura.membership_plans(hasura_session json)
RETURNS SETOF commerce_api.membership_offer LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.membership_plans();
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.membership_plans(json) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.membership_plans(json) IS
  'Hasura: commerce_api.membership_plans for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

CREATE FUNCTION commerce_hasura.my_membership(hasura_session json, customer text DEFAULT NULL)
RETURNS SETOF commerce_api.member_status LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.my_membership(my_membership.customer);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.my_membership(json, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.my_membership(json, text) IS
  'Hasura: commerce_api.my_membership for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

-- The points mall and rewards for HTTP clients.

-- The shape of an item of the points mall.
CREATE VIEW commerce_api.mall_item AS
SELECT NULL::text AS item, NULL::text AS name, NULL::text AS kind, NULL::bigint AS points, NULL::text AS target,
       NULL::integer AS per_customer_limit, NULL::bigint AS available
 WHERE false;
COMMENT ON VIEW commerce_api.mall_item IS
  E'@omit all\nAn item of the points mall: what it is (goods: a SKU; coupon: a batch; membership: a plan: target names it), its price in points, how often one customer may redeem it, and how many are left (goods: units in the stock pool; coupons: left in the batch; NULL: no limit).';

CREATE FUNCTION commerce_api.mall_items()
RETURNS SETOF commerce_api.mall_item LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.mall_items', '{anonymous,customer,operator,service}');
BEGIN
    RETURN QUERY
    SELECT i.code, i.name, i.kind, i.points, coalesce(s.code, b.code, p.code), i.per_customer_limit,
           CASE i.kind WHEN 'goods' THEN (SELECT sum(commerce._pool_available(sp.tenant_id, sp.pool_id))::bigint
                                            FROM commerce.stock_pool sp
                                           WHERE sp.tenant_id = i.tenant_id AND sp.sku_id = i.sku_id AND sp.parent_pool_id IS NULL)
                       WHEN 'coupon' THEN (SELECT b.quota - sum(x.issued)::bigint FROM commerce.coupon_slot x
                                            WHERE x.tenant_id = b.tenant_id AND x.batch_id = b.batch_id) END
      FROM commerce.points_mall_item i
      LEFT JOIN commerce.sku s ON s.tenant_id = i.tenant_id AND s.sku_id = i.sku_id
      LEFT JOIN commerce.coupon_batch b ON b.tenant_id = i.tenant_id AND b.batch_id = i.batch_id
      LEFT JOIN commerce.membership_plan p ON p.tenant_id = i.tenant_id AND p.plan_id = i.plan_id
     WHERE i.tenant_id = a.tenant_id AND i.active
     ORDER BY i.points, i.code;
END $$;
REVOKE ALL ON FUNCTION commerce_api.mall_items() FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.mall_items() IS
  'The items of the points mall on sale (mall_item), cheapest first. Open to visitors, customers, operators and services.';

-- The shape of a redemption.
CREATE VIEW commerce_api.redemption AS
SELECT NULL::bigint AS redemption_id, NULL::text AS item, NULL::text AS kind, NULL::integer AS qty, NULL::bigint AS points,
       NULL::bigint AS order_id, NULL::bigint AS coupon_id, NULL::text AS status, NULL::bigint AS available,
       NULL::text AS outcome
 WHERE false;
COMMENT ON VIEW commerce_api.redemption IS
  E'@omit all\nA points-mall redemption: the item, its kind, units, the points spent, the order (goods, a membership card; paid with points) or the coupon it gave, its status (redeemed, reversed), the points available after it, and what happened (redeemed, existing: that request had redeemed before, reversed).';

CREATE FUNCTION commerce_api.redeem_points(request_id text, item text, qty integer DEFAULT 1, channel text DEFAULT 'wechat_mp',
                                           receiver jsonb DEFAULT NULL, customer text DEFAULT NULL)
RETURNS SETOF commerce_api.redemption LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.redeem_points', '{customer,service}');
BEGIN
    RETURN QUERY SELECT * FROM commerce.redeem_points(a.tenant_id, redeem_points.request_id,
                                                      commerce._actor_subject(a, redeem_points.customer, 'customer'),
                                                      redeem_points.item, redeem_points.qty, redeem_points.channel,
                                                      redeem_points.receiver);
END $$;
REVOKE ALL ON FUNCTION commerce_api.redeem_points(text, text, integer, text, jsonb, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.redeem_points(text, text, integer, text, jsonb, text) IS
  'A customer redeems its points for an item of the mall (a service names the customer), once per request_id: the points are spent (PT409 when too few), and goods are shipped to receiver as an order paid with points on channel, a coupon is issued, or the membership extended; any refusal (stock, coupons all claimed, the per-customer limit: PT409) undoes it all. Returns the redemption.';

CREATE FUNCTION commerce_api.reverse_redemption(request_id text, reason text)
RETURNS SETOF commerce_api.redemption LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.reverse_redemption', '{operator,service}');
        r commerce.redemption_result;
BEGIN
    r := commerce.reverse_redemption(a.tenant_id, reverse_redemption.request_id, reverse_redemption.reason);
    IF r.outcome = 'reversed' THEN
        PERFORM commerce._audit(a.tenant_id, 'reverse_redemption', reverse_redemption.request_id,
                                jsonb_build_object('reason', left(reverse_redemption.reason, 200), 'points', r.points), 'reversed');
    END IF;
    RETURN NEXT r;
END $$;
REVOKE ALL ON FUNCTION commerce_api.reverse_redemption(text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.reverse_redemption(text, text) IS
  'Customer service reverses a coupon redemption while the coupon is unused: revoked, the points given back (audited). HQ operators and services. Returns the redemption.';

CREATE FUNCTION commerce_api.upsert_mall_item(code text, name text, kind text, points bigint, target text,
                                              per_customer_limit integer DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.upsert_mall_item', '{operator,service}');
        v_id bigint;
BEGIN
    PERFORM commerce._actor_scope(a, NULL, NULL);
    v_id := commerce.upsert_mall_item(a.tenant_id, upsert_mall_item.code, upsert_mall_item.name, upsert_mall_item.kind,
                                      upsert_mall_item.points, upsert_mall_item.target, upsert_mall_item.per_customer_limit);
    PERFORM commerce._audit(a.tenant_id, 'upsert_mall_item', upsert_mall_item.code,
                            jsonb_build_object('kind', upsert_mall_item.kind, 'points', upsert_mall_item.points,
                                               'target', upsert_mall_item.target), 'saved');
    RETURN v_id;
END $$;
REVOKE ALL ON FUNCTION commerce_api.upsert_mall_item(text, text, text, bigint, text, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.upsert_mall_item(text, text, text, bigint, text, integer) IS
  'HQ puts an item in the points mall or changes it (audited): kind goods (target a SKU), coupon (a batch) or membership (a plan), its price in points, a per-customer limit. HQ operators and services. Returns the item id.';

-- The shape of a granted reward.
CREATE VIEW commerce_api.reward AS
SELECT NULL::bigint AS grant_id, NULL::text AS kind, NULL::bigint AS points, NULL::bigint AS coupon_id, NULL::text AS prize,
       NULL::text AS outcome
 WHERE false;
COMMENT ON VIEW commerce_api.reward IS
  E'@omit all\nA reward granted: its kind (points, coupon, blind_box), the points or coupon it gave, the blind box prize drawn, and what happened (granted, or existing: that source had been rewarded before).';

CREATE FUNCTION commerce_api.grant_reward(request_id text, customer text, reward jsonb, reason text)
RETURNS SETOF commerce_api.reward LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.grant_reward', '{operator,service}');
        r commerce.reward_result;
BEGIN
    PERFORM commerce._require(grant_reward.reason, 'reason');
    r := commerce.grant_reward(a.tenant_id, grant_reward.request_id, grant_reward.customer, grant_reward.reward);
    IF r.outcome = 'granted' THEN
        PERFORM commerce._audit(a.tenant_id, 'grant_reward', grant_reward.request_id,
                                jsonb_build_object('customer', grant_reward.customer, 'reward', grant_reward.reward,
                                                   'reason', left(grant_reward.reason, 200)), 'granted');
    END IF;
    RETURN NEXT r;
END $$;
REVOKE ALL ON FUNCTION commerce_api.grant_reward(text, text, jsonb, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.grant_reward(text, text, jsonb, text) IS
  'HQ or a campaign backend rewards a customer once per request_id (audited): reward {"points":n}, {"coupon":"<batch>"} or {"blind_box":"<box>"} (one prize drawn by its odds among those in stock; PT409 when none is left). HQ operators and services. Returns the reward.';

-- The shape of a blind box prize and its odds.
CREATE VIEW commerce_api.blind_box_prize AS
SELECT NULL::text AS box, NULL::integer AS prize_no, NULL::text AS name, NULL::text AS kind, NULL::integer AS weight,
       NULL::numeric AS odds, NULL::bigint AS remaining
 WHERE false;
COMMENT ON VIEW commerce_api.blind_box_prize IS
  E'@omit all\nA prize of a blind box with its odds now: weight / the weights of the prizes still in stock (0 for one out of stock), and how many are left (NULL: no limit).';

CREATE FUNCTION commerce_api.blind_box_odds(box text)
RETURNS SETOF commerce_api.blind_box_prize LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.blind_box_odds', '{anonymous,customer,operator,service}');
BEGIN
    RETURN QUERY
    SELECT b.code, p.prize_no, p.name, p.kind, p.weight,
           CASE WHEN p.quota IS NULL OR p.issued < p.quota
                THEN round(p.weight::numeric / sum(p.weight) FILTER (WHERE p.quota IS NULL OR p.issued < p.quota) OVER (), 6)
                ELSE 0 END,
           p.quota - p.issued
      FROM commerce.blind_box b JOIN commerce.blind_box_prize p ON p.tenant_id = b.tenant_id AND p.box_id = b.box_id
     WHERE b.tenant_id = a.tenant_id AND b.code = blind_box_odds.box
     ORDER BY p.prize_no;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('blind box', blind_box_odds.box, a.tenant_id);
    END IF;
END $$;
REVOKE ALL ON FUNCTION commerce_api.blind_box_odds(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.blind_box_odds(text) IS
  'The prizes of a blind box and their odds now (blind_box_prize), as the PRD requires them shown before a draw. Open to visitors, customers, operators and services.';

CREATE FUNCTION commerce_hasura.mall_items(hasura_session json)
RETURNS SETOF commerce_api.mall_item LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.mall_items();
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.mall_items(json) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.mall_items(json) IS
  'Hasura: commerce_api.mall_items for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

-- A person across channels, read through its accounts (identity fusion, customers module).

-- The shape of a person as one customer sees itself.
CREATE VIEW commerce_api.person_view AS
SELECT NULL::bigint AS person_id, NULL::text[] AS accounts, NULL::jsonb AS identities, NULL::bigint AS points_available,
       NULL::bigint AS points_pending, NULL::text AS membership, NULL::timestamptz AS member_until
 WHERE false;
COMMENT ON VIEW commerce_api.person_view IS
  E'@omit all\nOne person across channels: its customer accounts, its identities ([{type, value, verified, source, last_seen}], phones masked), its points on all accounts together (available, pending), and its paid membership in force (plan code) and until when.';

CREATE FUNCTION commerce._person_view(p_tenant bigint, p_person bigint) RETURNS SETOF commerce_api.person_view
LANGUAGE sql STABLE AS $$
    SELECT p_person,
           ARRAY(SELECT cu.code FROM commerce.customer cu WHERE cu.tenant_id = p_tenant AND cu.person_id = p_person ORDER BY cu.code),
           coalesce((SELECT jsonb_agg(jsonb_build_object('type', i.type,
                                                         'value', CASE WHEN i.type = 'phone' THEN commerce.mask_phone(i.value) ELSE i.value END,
                                                         'verified', i.verified, 'source', i.source, 'last_seen', i.last_seen)
                                      ORDER BY i.type, i.value)
                       FROM commerce.person_identity i WHERE i.tenant_id = p_tenant AND i.person_id = p_person), '[]'),
           (SELECT coalesce(sum(a.available), 0)::bigint FROM commerce.points_account a JOIN commerce.customer cu USING (tenant_id, customer_id)
             WHERE cu.tenant_id = p_tenant AND cu.person_id = p_person),
           (SELECT coalesce(sum(a.pending), 0)::bigint FROM commerce.points_account a JOIN commerce.customer cu USING (tenant_id, customer_id)
             WHERE cu.tenant_id = p_tenant AND cu.person_id = p_person),
           (SELECT pl.code FROM commerce.membership m JOIN commerce.customer cu USING (tenant_id, customer_id)
              JOIN commerce.membership_plan pl ON pl.tenant_id = m.tenant_id AND pl.plan_id = m.plan_id
             WHERE cu.tenant_id = p_tenant AND cu.person_id = p_person AND m.status IN ('active', 'cancelled') AND m.period_end > commerce.now()
             ORDER BY m.period_end DESC LIMIT 1),
           (SELECT max(m.period_end) FROM commerce.membership m JOIN commerce.customer cu USING (tenant_id, customer_id)
             WHERE cu.tenant_id = p_tenant AND cu.person_id = p_person AND m.status IN ('active', 'cancelled') AND m.period_end > commerce.now());
$$;

CREATE FUNCTION commerce_api.my_person(customer text DEFAULT NULL)
RETURNS SETOF commerce_api.person_view LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.my_person', '{customer,store,operator,service}');
        v_customer bigint; v_person bigint;
BEGIN
    v_customer := commerce._api_customer(a, my_person.customer);
    SELECT person_id INTO v_person FROM commerce.customer WHERE tenant_id = a.tenant_id AND customer_id = v_customer;
    RETURN QUERY SELECT * FROM commerce._person_view(a.tenant_id, v_person);
END $$;
REVOKE ALL ON FUNCTION commerce_api.my_person(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.my_person(text) IS
  'The person a customer account belongs to across channels (person_view): a customer its own; store staff, operators and services name the account.';

CREATE FUNCTION commerce_api.merge_persons(person_a bigint, person_b bigint, reason text)
RETURNS SETOF commerce_api.person_view LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.merge_persons', '{operator,service}');
        v_survivor bigint;
BEGIN
    v_survivor := commerce.merge_persons(a.tenant_id, merge_persons.person_a, merge_persons.person_b, left(merge_persons.reason, 150));
    PERFORM commerce._audit(a.tenant_id, 'merge_persons', v_survivor::text,
                            jsonb_build_object('person_a', merge_persons.person_a, 'person_b', merge_persons.person_b,
                                               'reason', left(merge_persons.reason, 200)), 'merged');
    RETURN QUERY SELECT * FROM commerce._person_view(a.tenant_id, v_survivor);
END $$;
REVOKE ALL ON FUNCTION commerce_api.merge_persons(bigint, bigint, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.merge_persons(bigint, bigint, text) IS
  'HQ merges two persons after review (audited): the older survives and gets the other''s accounts and identities; recorded for an unmerge. HQ operators and services. Returns the survivor (person_view).';

CREATE FUNCTION commerce_api.unmerge_persons(merge_id bigint, reason text)
RETURNS SETOF commerce_api.person_view LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.unmerge_persons', '{operator,service}');
        v_person bigint;
BEGIN
    PERFORM commerce._require(unmerge_persons.reason, 'reason');
    v_person := commerce.unmerge_persons(a.tenant_id, unmerge_persons.merge_id);
    PERFORM commerce._audit(a.tenant_id, 'unmerge_persons', unmerge_persons.merge_id::text,
                            jsonb_build_object('reason', left(unmerge_persons.reason, 200)), 'unmerged');
    RETURN QUERY SELECT * FROM commerce._person_view(a.tenant_id, v_person);
END $$;
REVOKE ALL ON FUNCTION commerce_api.unmerge_persons(bigint, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.unmerge_persons(bigint, text) IS
  'HQ undoes a merge exactly (audited): the accounts and identities it moved go back. HQ operators and services. Returns the restored person (person_view).';

-- Subscriptions and the profile for HTTP clients.

CREATE FUNCTION commerce_api.accept_subscription(template text, count integer DEFAULT 1, customer text DEFAULT NULL)
RETURNS integer LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.accept_subscription', '{customer,service}');
BEGIN
    RETURN commerce.grant_subscription(a.tenant_id, commerce._actor_subject(a, accept_subscription.customer, 'customer'),
                                       accept_subscription.template, accept_subscription.count);
END $$;
REVOKE ALL ON FUNCTION commerce_api.accept_subscription(text, integer, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.accept_subscription(text, integer, text) IS
  'The mini-program reports that a customer accepted a one-time subscription (wx.requestSubscribeMessage) of template (coupon_arrived, shipped, live_start) count times: that many messages of it may be sent (a customer for itself; a service names it). Returns the credits held.';

CREATE FUNCTION commerce_api.set_profile(profile jsonb, customer text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.set_profile', '{customer,operator,service}');
        v_customer text := set_profile.customer;
BEGIN
    IF a.kind = 'customer' THEN
        v_customer := commerce._actor_subject(a, set_profile.customer, 'customer');
    END IF;
    PERFORM commerce._require(v_customer, 'customer');
    RETURN commerce.set_person_profile(a.tenant_id, v_customer, set_profile.profile);
END $$;
REVOKE ALL ON FUNCTION commerce_api.set_profile(jsonb, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.set_profile(jsonb, text) IS
  'A customer sets its basic information {"nickname", "gender", "age_band", "region"} (operators and services name the customer). Returns the profile with its derived preferences and tags.';

CREATE FUNCTION commerce_api.profile(customer text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.profile', '{customer,store,operator,service}');
        v_person bigint;
BEGIN
    SELECT person_id INTO v_person FROM commerce.customer
     WHERE tenant_id = a.tenant_id AND customer_id = commerce._api_customer(a, profile.customer);
    RETURN commerce.person_profile(a.tenant_id, v_person);
END $$;
REVOKE ALL ON FUNCTION commerce_api.profile(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.profile(text) IS
  'The profile of the person a customer account belongs to (3.6.1): basic information, the top categories, orders, spending and average order across all its accounts, and its behaviour tags (fan_of_<channel>, price_sensitive, quality_seeking). A customer its own; store staff, operators and services name the account.';
