-- sql/src/members/membership.sql: paid membership (seed 003 3.6.2). A plan
-- is sold as an order of its virtual SKU; each paid order extends the
-- customer's membership once (membership_period, keyed by the order) and
-- grants the plan's benefits as customer_benefit rows until the new end, so
-- checkout, payment and points read them at the moment of use. The pump
-- moves memberships past their end to past due and expired, and grants each
-- member's monthly gift exactly once. Every change locks the membership row.

-- Create or change a membership plan (changes apply from the next paid period).
CREATE FUNCTION commerce.upsert_membership_plan(p_tenant bigint, p_code text, p_name text, p_sku text, p_months integer,
                                                p_discount_bp integer DEFAULT 0, p_benefits jsonb DEFAULT '{}')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_sku bigint; v_kind text; v_gift bigint; v_id bigint; v_key text; v_grace integer; v_old bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_name, 'p_name');
    PERFORM commerce._require(p_sku, 'p_sku');
    PERFORM commerce._require(p_months, 'p_months');
    PERFORM commerce._require(p_discount_bp, 'p_discount_bp');
    PERFORM commerce._require(p_benefits, 'p_benefits');
    IF p_code !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' THEN
        PERFORM commerce._invalid('p_code', format('"%s"', left(p_code, 64)),
                                  'A code is 1 to 63 letters, digits, "_", "." or "-", starting with a letter or digit.');
    END IF;
    IF length(p_name) NOT BETWEEN 1 AND 200 THEN
        PERFORM commerce._invalid('p_name', 'The name is empty or longer than 200 characters.', 'Name the plan as customers see it.');
    END IF;
    SELECT s.sku_id, p.virtual_kind INTO v_sku, v_kind
      FROM commerce.sku s JOIN commerce.product p ON p.tenant_id = s.tenant_id AND p.product_id = s.product_id
     WHERE s.tenant_id = p_tenant AND s.code = p_sku;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('sku', p_sku, p_tenant);
    END IF;
    IF v_kind IS DISTINCT FROM 'membership_card' THEN
        PERFORM commerce._invalid('p_sku', format('SKU "%s" is not a membership card.', left(p_sku, 64)),
            'Sell a plan as a SKU of a virtual product of kind membership_card (commerce.upsert_product).');
    END IF;
    IF p_months NOT BETWEEN 1 AND 36 THEN
        PERFORM commerce._invalid('p_months', format('%s months', p_months), 'A paid period is 1 to 36 months.');
    END IF;
    IF p_discount_bp NOT BETWEEN 0 AND 5000 THEN
        PERFORM commerce._invalid('p_discount_bp', format('%s bp', p_discount_bp), 'A member discount is 0 to 5000 bp (500 = members pay 95%).');
    END IF;
    IF jsonb_typeof(p_benefits) <> 'object' THEN
        PERFORM commerce._invalid('p_benefits', 'The benefits are not a JSON object.',
            'Send {"priority_shipping":true, "birthday_double":true, "priority_service":true, "badge":"...", "gift_batch":"<coupon batch>", "grace_days":3}.');
    END IF;
    FOR v_key IN SELECT jsonb_object_keys(p_benefits) LOOP
        IF v_key NOT IN ('priority_shipping', 'birthday_double', 'priority_service', 'badge', 'gift_batch', 'grace_days') THEN
            PERFORM commerce._invalid('p_benefits', format('Unknown key "%s".', left(v_key, 64)),
                'Benefits are priority_shipping, birthday_double, priority_service, badge, gift_batch and grace_days.');
        END IF;
    END LOOP;
    IF EXISTS (SELECT 1 FROM jsonb_each(p_benefits) e
                WHERE e.key IN ('priority_shipping', 'birthday_double', 'priority_service') AND jsonb_typeof(e.value) <> 'boolean')
       OR (p_benefits ? 'badge' AND (jsonb_typeof(p_benefits -> 'badge') <> 'string'
                                     OR length(p_benefits ->> 'badge') NOT BETWEEN 1 AND 100)) THEN
        PERFORM commerce._invalid('p_benefits', 'priority_shipping, birthday_double and priority_service are true or false; badge a name of 1 to 100 characters.',
                                  'Fix the benefit values.');
    END IF;
    v_grace := coalesce(commerce._json_int(p_benefits -> 'grace_days', 'grace_days', 0, 30, 'p_benefits'), 3);
    IF p_benefits ? 'gift_batch' THEN
        SELECT batch_id INTO v_gift FROM commerce.coupon_batch WHERE tenant_id = p_tenant AND code = p_benefits ->> 'gift_batch';
        IF NOT FOUND THEN
            PERFORM commerce._not_found('coupon batch', p_benefits ->> 'gift_batch', p_tenant);
        END IF;
    END IF;
    SELECT plan_id INTO v_old FROM commerce.membership_plan WHERE tenant_id = p_tenant AND sku_id = v_sku AND code <> p_code;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('SKU "%s" already sells another plan', left(p_sku, 64)),
            DETAIL  = format('Plan %s is sold as that SKU.', v_old),
            HINT    = 'Give each plan its own membership card SKU.';
    END IF;
    INSERT INTO commerce.membership_plan AS m (tenant_id, code, name, sku_id, months, discount_bp, priority_shipping,
                                               birthday_double, priority_service, badge, gift_batch_id, grace_days, created_at)
    VALUES (p_tenant, p_code, p_name, v_sku, p_months, p_discount_bp,
            coalesce((p_benefits ->> 'priority_shipping')::boolean, false), coalesce((p_benefits ->> 'birthday_double')::boolean, false),
            coalesce((p_benefits ->> 'priority_service')::boolean, false), p_benefits ->> 'badge', v_gift, v_grace, commerce.now())
    ON CONFLICT (tenant_id, code) DO UPDATE
       SET name = EXCLUDED.name, sku_id = EXCLUDED.sku_id, months = EXCLUDED.months, discount_bp = EXCLUDED.discount_bp,
           priority_shipping = EXCLUDED.priority_shipping, birthday_double = EXCLUDED.birthday_double,
           priority_service = EXCLUDED.priority_service, badge = EXCLUDED.badge, gift_batch_id = EXCLUDED.gift_batch_id,
           grace_days = EXCLUDED.grace_days
    RETURNING plan_id INTO v_id;
    RETURN v_id;
END $$;
COMMENT ON FUNCTION commerce.upsert_membership_plan(bigint, text, text, text, integer, integer, jsonb) IS
  'Create or change a paid membership plan by code: sold as p_sku (a SKU of a virtual membership_card product, priced like any SKU: 990 fen a month, 9900 a year), each paid order extending the membership by p_months (1 to 36); p_discount_bp off every price at checkout (0 to 5000); p_benefits {"priority_shipping", "birthday_double", "priority_service" (booleans), "badge", "gift_batch" (a coupon batch: one coupon a month), "grace_days" (past due before expiry, default 3)}. A change applies from the next paid period. Returns the plan id.';

-- Lock a customer's membership row (NULL when it has none).
CREATE FUNCTION commerce._lock_membership(p_tenant bigint, p_customer bigint) RETURNS commerce.membership_row
LANGUAGE plpgsql AS $$
DECLARE m commerce.membership_row;
BEGIN
    SELECT * INTO m FROM commerce.membership WHERE tenant_id = p_tenant AND customer_id = p_customer FOR UPDATE;
    RETURN m;
END $$;

-- Buy (or renew) a plan: the customer's membership awaits the payment of an order of the plan's SKU.
CREATE FUNCTION commerce.buy_membership(p_tenant bigint, p_request_id text, p_customer text, p_plan text, p_channel text)
RETURNS commerce.order_result LANGUAGE plpgsql AS $$
DECLARE p commerce.membership_plan%ROWTYPE; m commerce.membership_row; v_customer bigint; v_sku text; v_now timestamptz := commerce.now();
        v_plan text;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._require(p_plan, 'p_plan');
    PERFORM commerce._require(p_channel, 'p_channel');
    SELECT * INTO p FROM commerce.membership_plan WHERE tenant_id = p_tenant AND code = p_plan;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('membership plan', p_plan, p_tenant);
    END IF;
    SELECT customer_id INTO v_customer FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    SELECT code INTO v_sku FROM commerce.sku WHERE tenant_id = p_tenant AND sku_id = p.sku_id;
    m := commerce._lock_membership(p_tenant, v_customer);
    -- a repeat of the request returns its order
    IF EXISTS (SELECT 1 FROM commerce.orders WHERE tenant_id = p_tenant AND request_id = 'membership:' || p_request_id) THEN
        RETURN commerce.place_order(p_tenant, 'membership:' || p_request_id, p_channel,
                                    jsonb_build_object('lines', jsonb_build_array(jsonb_build_object('sku', v_sku, 'qty', 1))), p_customer);
    END IF;
    IF NOT p.active THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('membership plan "%s" is no longer sold', p_plan),
            HINT    = 'Buy a plan that is sold (commerce_api.membership_plans).';
    END IF;
    IF m.membership_id IS NOT NULL AND m.plan_id <> p.plan_id AND m.status IN ('active', 'past_due', 'cancelled') THEN
        SELECT code INTO v_plan FROM commerce.membership_plan WHERE tenant_id = p_tenant AND plan_id = m.plan_id;
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('customer "%s" is a member of plan "%s"', left(p_customer, 64), v_plan),
            DETAIL  = format('The membership is %s until %s.', m.status, m.period_end),
            HINT    = 'Renew the same plan, or buy another once this one has expired.';
    END IF;
    IF m.membership_id IS NULL THEN
        INSERT INTO commerce.membership (tenant_id, customer_id, plan_id, status, created_at, updated_at)
        VALUES (p_tenant, v_customer, p.plan_id, 'pending_payment', v_now, v_now);
    ELSIF m.status = 'expired' THEN
        UPDATE commerce.membership SET status = 'pending_payment', plan_id = p.plan_id, period_end = NULL, ended_at = NULL,
               cancelled_at = NULL, updated_at = v_now
         WHERE tenant_id = p_tenant AND membership_id = m.membership_id;
    ELSIF m.status = 'pending_payment' THEN
        UPDATE commerce.membership SET plan_id = p.plan_id, updated_at = v_now
         WHERE tenant_id = p_tenant AND membership_id = m.membership_id;
    END IF;
    RETURN commerce.place_order(p_tenant, 'membership:' || p_request_id, p_channel,
                                jsonb_build_object('lines', jsonb_build_array(jsonb_build_object('sku', v_sku, 'qty', 1))),
                                p_customer);
END $$;
COMMENT ON FUNCTION commerce.buy_membership(bigint, text, text, text, text) IS
  'Buy or renew a paid membership: an order of the plan''s SKU on p_channel awaiting payment (once per request_id: a repeat returns the order); the membership is pending_payment until it is paid (a new member) or stays as it is (a renewal). Paying it extends the membership once by the plan''s months from its current end (or now). PT409 for a plan no longer sold or while a membership of another plan lasts.';

-- A paid order of a plan's SKU: extend the membership once, grant the plan's benefits to the new end.
CREATE FUNCTION commerce._membership_paid(o commerce.orders_row) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE p commerce.membership_plan%ROWTYPE; m commerce.membership_row; v_qty bigint; v_now timestamptz := commerce.now();
        v_start timestamptz; v_end timestamptz; v_source text; v_plan bigint;
BEGIN
    SELECT pl.plan_id, x.qty INTO v_plan, v_qty
      FROM (SELECT l.sku_id, sum(l.qty) AS qty FROM commerce.order_line l
             WHERE l.tenant_id = o.tenant_id AND l.order_id = o.order_id GROUP BY l.sku_id) x
      JOIN commerce.membership_plan pl ON pl.tenant_id = o.tenant_id AND pl.sku_id = x.sku_id
     ORDER BY pl.plan_id LIMIT 1;
    IF v_plan IS NULL OR o.customer_id IS NULL THEN
        RETURN;
    END IF;
    SELECT * INTO p FROM commerce.membership_plan WHERE tenant_id = o.tenant_id AND plan_id = v_plan;
    m := commerce._lock_membership(o.tenant_id, o.customer_id);
    IF m.membership_id IS NULL THEN   -- the SKU was ordered directly: the membership starts with its payment
        INSERT INTO commerce.membership (tenant_id, customer_id, plan_id, status, created_at, updated_at)
        VALUES (o.tenant_id, o.customer_id, p.plan_id, 'pending_payment', v_now, v_now);
        m := commerce._lock_membership(o.tenant_id, o.customer_id);
    ELSIF m.plan_id <> p.plan_id AND m.status IN ('active', 'past_due', 'cancelled') THEN
        -- another plan's card bought outside buy_membership while a membership lasts: it extends the current plan
        SELECT * INTO p FROM commerce.membership_plan WHERE tenant_id = o.tenant_id AND plan_id = m.plan_id;
    END IF;
    IF EXISTS (SELECT 1 FROM commerce.membership_period WHERE tenant_id = o.tenant_id AND order_id = o.order_id) THEN
        RETURN;   -- this order extended it already: once per payment
    END IF;
    v_start := CASE WHEN m.status IN ('active', 'cancelled') THEN greatest(m.period_end, v_now) ELSE v_now END;
    -- months in the tenant's calendar, whatever the session's time zone: paid at 10:00 on the 1st, valid to 10:00 on the 1st
    SELECT ((v_start AT TIME ZONE t.time_zone) + make_interval(months => (p.months * v_qty)::integer)) AT TIME ZONE t.time_zone
      INTO v_end FROM commerce.tenant t WHERE t.tenant_id = o.tenant_id;
    INSERT INTO commerce.membership_period (tenant_id, membership_id, order_id, plan_id, starts_at, ends_at, created_at)
    VALUES (o.tenant_id, m.membership_id, o.order_id, p.plan_id, v_start, v_end, v_now);
    UPDATE commerce.membership
       SET status = 'active', plan_id = p.plan_id, period_end = v_end, started_at = coalesce(started_at, v_now),
           cancelled_at = NULL, ended_at = NULL, updated_at = v_now
     WHERE tenant_id = o.tenant_id AND membership_id = m.membership_id;
    -- the benefits, to the new end
    v_source := 'membership:' || m.membership_id;
    UPDATE commerce.customer_benefit SET valid_until = valid_from
     WHERE tenant_id = o.tenant_id AND source = v_source AND valid_until > v_now;   -- a changed plan drops what it no longer gives
    IF p.discount_bp > 0 THEN
        PERFORM commerce._set_benefit(o.tenant_id, o.customer_id, 'member_discount', p.discount_bp, p.name, v_source, v_now, v_end);
    END IF;
    IF p.priority_shipping THEN
        PERFORM commerce._set_benefit(o.tenant_id, o.customer_id, 'priority_shipping', 0, p.name, v_source, v_now, v_end);
    END IF;
    IF p.birthday_double THEN
        PERFORM commerce._set_benefit(o.tenant_id, o.customer_id, 'birthday_double_points', 0, p.name, v_source, v_now, v_end);
    END IF;
    IF p.priority_service THEN
        PERFORM commerce._set_benefit(o.tenant_id, o.customer_id, 'priority_service', 0, p.name, v_source, v_now, v_end);
    END IF;
    IF p.badge IS NOT NULL THEN
        PERFORM commerce._set_benefit(o.tenant_id, o.customer_id, 'badge', 0, p.badge, v_source, v_now, v_end);
    END IF;
END $$;

-- Orders trigger: a paid order of a plan's SKU extends the membership; an unpaid one cancelled ends a pending one.
CREATE FUNCTION commerce._membership_on_order() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE o commerce.orders_row;
BEGIN
    IF TG_WHEN <> 'AFTER' OR TG_LEVEL <> 'ROW' OR TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'commerce._membership_on_order must fire AFTER UPDATE ... FOR EACH ROW';
    END IF;
    o := NEW;
    IF o.paid_at IS NOT NULL THEN
        PERFORM commerce._membership_paid(o);
    ELSIF o.status = 'cancelled' AND o.customer_id IS NOT NULL THEN
        UPDATE commerce.membership m SET status = 'expired', ended_at = commerce.now(), updated_at = commerce.now()
         WHERE m.tenant_id = o.tenant_id AND m.customer_id = o.customer_id AND m.status = 'pending_payment'
           AND NOT EXISTS (SELECT 1 FROM commerce.orders x
                             JOIN commerce.order_line l ON l.tenant_id = x.tenant_id AND l.order_id = x.order_id
                             JOIN commerce.membership_plan p ON p.tenant_id = l.tenant_id AND p.sku_id = l.sku_id
                            WHERE x.tenant_id = o.tenant_id AND x.customer_id = o.customer_id AND x.status = 'pending_payment');
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER after_42_membership AFTER UPDATE ON commerce.orders
    FOR EACH ROW WHEN ((OLD.paid_at IS NULL AND NEW.paid_at IS NOT NULL)
                       OR (NEW.status = 'cancelled' AND OLD.status = 'pending_payment' AND NEW.customer_id IS NOT NULL))
    EXECUTE FUNCTION commerce._membership_on_order();

-- Orders trigger: a plan's order refunded in full takes its period back, once.
CREATE FUNCTION commerce._membership_refunded() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE p commerce.membership_period%ROWTYPE; m commerce.membership_row; v_end timestamptz; v_now timestamptz := commerce.now();
BEGIN
    IF TG_WHEN <> 'AFTER' OR TG_LEVEL <> 'ROW' OR TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'commerce._membership_refunded must fire AFTER UPDATE ... FOR EACH ROW';
    END IF;
    SELECT * INTO p FROM commerce.membership_period WHERE tenant_id = NEW.tenant_id AND order_id = NEW.order_id;
    IF NOT FOUND OR EXISTS (SELECT 1 FROM commerce.membership_refund WHERE tenant_id = NEW.tenant_id AND order_id = NEW.order_id) THEN
        RETURN NULL;
    END IF;
    SELECT * INTO m FROM commerce.membership WHERE tenant_id = NEW.tenant_id AND membership_id = p.membership_id FOR UPDATE;
    v_end := m.period_end - (p.ends_at - p.starts_at);
    INSERT INTO commerce.membership_refund (tenant_id, order_id, membership_id, length, refunded_at)
    VALUES (NEW.tenant_id, NEW.order_id, m.membership_id, p.ends_at - p.starts_at, v_now);
    UPDATE commerce.membership
       SET period_end = v_end,
           status = CASE WHEN v_end <= v_now AND status IN ('active', 'past_due', 'cancelled') THEN 'expired' ELSE status END,
           ended_at = CASE WHEN v_end <= v_now AND status IN ('active', 'past_due', 'cancelled') THEN v_now ELSE ended_at END,
           updated_at = v_now
     WHERE tenant_id = NEW.tenant_id AND membership_id = m.membership_id;
    UPDATE commerce.customer_benefit SET valid_until = greatest(valid_from, least(valid_until, v_end))
     WHERE tenant_id = NEW.tenant_id AND source = 'membership:' || m.membership_id;
    RETURN NULL;
END $$;

CREATE TRIGGER after_43_membership_refunded AFTER UPDATE OF status ON commerce.orders
    FOR EACH ROW WHEN (NEW.status = 'refunded' AND OLD.status IS DISTINCT FROM 'refunded')
    EXECUTE FUNCTION commerce._membership_refunded();

-- A customer stops renewing: the membership lasts to its end, then expires.
CREATE FUNCTION commerce.cancel_membership(p_tenant bigint, p_customer text) RETURNS commerce.membership_row
LANGUAGE plpgsql AS $$
DECLARE m commerce.membership_row; v_customer bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_customer, 'p_customer');
    SELECT customer_id INTO v_customer FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    m := commerce._lock_membership(p_tenant, v_customer);
    IF m.membership_id IS NULL OR m.status NOT IN ('active', 'past_due', 'cancelled') THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('customer "%s" has no membership to cancel', left(p_customer, 64)),
            DETAIL  = format('Its membership is %s.', coalesce(m.status, 'none')),
            HINT    = 'An unpaid membership ends when its order is cancelled or times out.';
    END IF;
    IF m.status <> 'cancelled' THEN
        UPDATE commerce.membership SET status = 'cancelled', cancelled_at = commerce.now(), updated_at = commerce.now()
         WHERE tenant_id = p_tenant AND membership_id = m.membership_id RETURNING * INTO m;
    END IF;
    RETURN m;
END $$;
COMMENT ON FUNCTION commerce.cancel_membership(bigint, text) IS
  'A customer stops its paid membership: cancelled, its benefits last to the end of the paid period, then it expires (a repeat returns it; PT409 without a paid membership). A renewal paid before the end makes it active again.';

-- One batch of the membership pump: memberships past their end become past due or expired.
CREATE FUNCTION commerce.expire_memberships(p_limit integer DEFAULT 1000) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE n integer := 0; r record; v_now timestamptz := commerce.now();
BEGIN
    PERFORM commerce._require(p_limit, 'p_limit');
    IF p_limit NOT BETWEEN 1 AND 100000 THEN
        PERFORM commerce._invalid('p_limit', format('batch %s', p_limit), 'Use a batch of 1 to 100000.');
    END IF;
    FOR r IN SELECT m.tenant_id, m.membership_id, m.status, m.period_end, p.grace_days
               FROM commerce.membership m JOIN commerce.membership_plan p ON p.tenant_id = m.tenant_id AND p.plan_id = m.plan_id
              WHERE m.status IN ('active', 'past_due', 'cancelled') AND m.period_end <= v_now
                AND (m.status <> 'past_due' OR m.period_end + make_interval(days => p.grace_days) <= v_now)
              ORDER BY m.period_end LIMIT p_limit FOR UPDATE OF m SKIP LOCKED LOOP
        UPDATE commerce.membership
           SET status = CASE WHEN r.status = 'active' AND r.grace_days > 0
                                  AND r.period_end + make_interval(days => r.grace_days) > v_now THEN 'past_due'
                             ELSE 'expired' END,
               ended_at = CASE WHEN r.status = 'active' AND r.grace_days > 0
                                    AND r.period_end + make_interval(days => r.grace_days) > v_now THEN NULL
                               ELSE v_now END,
               updated_at = v_now
         WHERE tenant_id = r.tenant_id AND membership_id = r.membership_id;
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce.expire_memberships(integer) IS
  'One batch of the membership pump: an active membership past its end becomes past_due (renewal not paid, within the plan''s grace days; no benefits meanwhile) or expired; past due beyond the grace days and cancelled ones past their end expire. A membership locked at that moment is left for the next run. Returns the memberships moved.';

-- One batch of the membership pump: members in force get this month's gift, once.
CREATE FUNCTION commerce.grant_member_gifts(p_limit integer DEFAULT 1000) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE n integer := 0; r record; v_now timestamptz := commerce.now(); v_coupon bigint; v_outcome text;
BEGIN
    PERFORM commerce._require(p_limit, 'p_limit');
    IF p_limit NOT BETWEEN 1 AND 100000 THEN
        PERFORM commerce._invalid('p_limit', format('batch %s', p_limit), 'Use a batch of 1 to 100000.');
    END IF;
    FOR r IN SELECT m.tenant_id, m.membership_id, cu.code AS customer, b.code AS batch,
                    date_trunc('month', v_now AT TIME ZONE t.time_zone)::date AS month
               FROM commerce.membership m
               JOIN commerce.membership_plan p ON p.tenant_id = m.tenant_id AND p.plan_id = m.plan_id
               JOIN commerce.coupon_batch b ON b.tenant_id = p.tenant_id AND b.batch_id = p.gift_batch_id
               JOIN commerce.customer cu ON cu.tenant_id = m.tenant_id AND cu.customer_id = m.customer_id
               JOIN commerce.tenant t ON t.tenant_id = m.tenant_id
              WHERE m.status IN ('active', 'cancelled') AND m.period_end > v_now
                AND NOT EXISTS (SELECT 1 FROM commerce.membership_gift g
                                 WHERE g.tenant_id = m.tenant_id AND g.membership_id = m.membership_id
                                   AND g.month = date_trunc('month', v_now AT TIME ZONE t.time_zone)::date)
              ORDER BY m.tenant_id, m.membership_id LIMIT p_limit FOR UPDATE OF m SKIP LOCKED LOOP
        v_coupon := NULL;
        BEGIN
            v_coupon := (commerce.issue_coupon(r.tenant_id, 'reward', format('member-gift:%s:%s', r.membership_id, r.month),
                                               r.batch, r.customer)).coupon_id;
            v_outcome := 'issued';
        EXCEPTION WHEN SQLSTATE 'PT409' THEN
            v_outcome := CASE WHEN SQLERRM LIKE '%all claimed%' THEN 'all_claimed' ELSE 'batch_closed' END;
        END;
        INSERT INTO commerce.membership_gift (tenant_id, membership_id, month, coupon_id, outcome, created_at)
        VALUES (r.tenant_id, r.membership_id, r.month, v_coupon, v_outcome, v_now)
        ON CONFLICT DO NOTHING;
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce.grant_member_gifts(integer) IS
  'One batch of the membership pump: each member in force whose plan has a gift batch gets one coupon of it for the tenant-local month, exactly once (membership_gift; the coupon''s source key is the membership and month), or the reason it got none (batch closed, all claimed). Returns the members handled.';

CREATE PROCEDURE commerce.membership_pump(p_batch integer DEFAULT 1000, p_max_batches integer DEFAULT 1000)
LANGUAGE plpgsql AS $$
BEGIN
    CALL commerce.run_pump('commerce.expire_memberships', p_batch, p_max_batches);
    CALL commerce.run_pump('commerce.grant_member_gifts', p_batch, p_max_batches);
END $$;
COMMENT ON PROCEDURE commerce.membership_pump(integer, integer) IS
  'The membership job (pg_cron, every 10 minutes: commerce-memberships): moves memberships past their end to past due or expired, and grants this month''s gifts, committed per batch.';

INSERT INTO commerce.job (job_name, schedule, command) VALUES
  ('commerce-memberships', '*/10 * * * *', 'CALL commerce.membership_pump()');

-- Every invariant of paid membership; no rows means all hold.
CREATE FUNCTION commerce.check_membership_invariants(p_tenant bigint DEFAULT NULL)
RETURNS TABLE (invariant text, detail text) LANGUAGE sql STABLE AS $$
    -- each paid order of a plan's SKU bought exactly one period
    SELECT 'paid plan order = one period', format('order %s: %s periods', o.order_id, count(mp.order_id))
      FROM commerce.orders o
      JOIN commerce.order_line l ON l.tenant_id = o.tenant_id AND l.order_id = o.order_id
      JOIN commerce.membership_plan p ON p.tenant_id = l.tenant_id AND p.sku_id = l.sku_id
      LEFT JOIN commerce.membership_period mp ON mp.tenant_id = o.tenant_id AND mp.order_id = o.order_id
     WHERE (p_tenant IS NULL OR o.tenant_id = p_tenant) AND o.customer_id IS NOT NULL
     GROUP BY o.order_id, o.paid_at
    HAVING count(mp.order_id) <> CASE WHEN o.paid_at IS NULL THEN 0 ELSE 1 END
    UNION ALL
    -- the periods of a membership follow each other without overlap, and the last ends at its end
    SELECT 'periods never overlap', format('membership %s: period from %s starts before the previous end %s', x.membership_id,
                                           x.starts_at, x.prev_end)
      FROM (SELECT mp.membership_id, mp.starts_at,
                   lag(mp.ends_at) OVER (PARTITION BY mp.tenant_id, mp.membership_id ORDER BY mp.starts_at, mp.order_id) AS prev_end
              FROM commerce.membership_period mp WHERE p_tenant IS NULL OR mp.tenant_id = p_tenant) x
     WHERE x.starts_at < x.prev_end
    UNION ALL
    SELECT 'membership end = its last period', format('membership %s (%s): end %s, last period ends %s', m.membership_id,
                                                      m.status, m.period_end, e.last_end)
      FROM commerce.membership m
      LEFT JOIN LATERAL (SELECT max(ends_at) AS last_end FROM commerce.membership_period mp
                          WHERE mp.tenant_id = m.tenant_id AND mp.membership_id = m.membership_id) e ON true
     WHERE (p_tenant IS NULL OR m.tenant_id = p_tenant) AND m.status <> 'pending_payment'
       AND m.status <> 'expired'
       AND (m.period_end > e.last_end
            OR (m.period_end IS DISTINCT FROM e.last_end
                AND NOT EXISTS (SELECT 1 FROM commerce.membership_refund r
                                 WHERE r.tenant_id = m.tenant_id AND r.membership_id = m.membership_id)))
    UNION ALL
    -- benefits never outlast the paid period
    SELECT 'benefits end with the membership', format('benefit %s (%s) of membership %s: until %s, paid to %s', b.benefit_id,
                                                      b.kind, m.membership_id, b.valid_until, m.period_end)
      FROM commerce.customer_benefit b
      JOIN commerce.membership m ON m.tenant_id = b.tenant_id AND b.source = 'membership:' || m.membership_id
     WHERE (p_tenant IS NULL OR b.tenant_id = p_tenant) AND b.valid_until > coalesce(m.period_end, b.valid_from);
$$;
COMMENT ON FUNCTION commerce.check_membership_invariants(bigint) IS
  'Every invariant of paid membership (check after stress): each paid order of a plan''s SKU bought exactly one period (an unpaid one none), periods never overlap, a membership in force ends with its last period (earlier by the periods refunded, never later), no benefit outlasts the paid period. No rows means all hold.';
