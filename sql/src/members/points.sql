-- sql/src/members/points.sql: earning, spending, releasing, expiring and
-- reversing points. Every movement locks the customer's account row first,
-- then its lots (the pumps skip a locked account and come back to it), so
-- concurrent spends, refunds and pumps never deadlock and never take a
-- point twice.

-- Set how purchases on a channel earn points.
CREATE FUNCTION commerce.set_points_rule(p_tenant bigint, p_channel text, p_points_per_yuan integer DEFAULT 1,
                                         p_earn_on text DEFAULT 'paid', p_pending_days integer DEFAULT 7,
                                         p_expire_days integer DEFAULT 365)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE v_channel bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_channel, 'p_channel');
    PERFORM commerce._require(p_points_per_yuan, 'p_points_per_yuan');
    PERFORM commerce._require(p_earn_on, 'p_earn_on');
    PERFORM commerce._require(p_pending_days, 'p_pending_days');
    PERFORM commerce._require(p_expire_days, 'p_expire_days');
    SELECT channel_id INTO v_channel FROM commerce.channel WHERE tenant_id = p_tenant AND code = p_channel;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('channel', p_channel, p_tenant);
    END IF;
    IF p_points_per_yuan NOT BETWEEN 0 AND 1000 THEN
        PERFORM commerce._invalid('p_points_per_yuan', format('%s', p_points_per_yuan), 'Earn 0 to 1000 points per yuan.');
    END IF;
    IF p_earn_on NOT IN ('paid', 'completed') THEN
        PERFORM commerce._invalid('p_earn_on', format('"%s"', left(p_earn_on, 64)), 'Points are earned when the order is paid or completed.');
    END IF;
    IF p_pending_days NOT BETWEEN 0 AND 365 THEN
        PERFORM commerce._invalid('p_pending_days', format('%s days', p_pending_days), 'The return window is 0 to 365 days.');
    END IF;
    IF p_expire_days NOT BETWEEN 1 AND 3650 THEN
        PERFORM commerce._invalid('p_expire_days', format('%s days', p_expire_days), 'Points last 1 to 3650 days.');
    END IF;
    INSERT INTO commerce.points_rule AS r (tenant_id, channel_id, earn_on, points_per_yuan, pending_days, expire_days)
    VALUES (p_tenant, v_channel, p_earn_on, p_points_per_yuan, p_pending_days, p_expire_days)
    ON CONFLICT (tenant_id, channel_id) DO UPDATE
       SET earn_on = EXCLUDED.earn_on, points_per_yuan = EXCLUDED.points_per_yuan,
           pending_days = EXCLUDED.pending_days, expire_days = EXCLUDED.expire_days, updated_at = now();
END $$;
COMMENT ON FUNCTION commerce.set_points_rule(bigint, text, integer, text, integer, integer) IS
  'How purchases on a channel earn points (PR10): p_points_per_yuan points per yuan paid (0 to 1000; floor), when the order is paid or completed (p_earn_on), pending for p_pending_days (the return window, 0 to 365) and available for p_expire_days after that (1 to 3650).';

-- Lock a customer's points account (creating it): the row orders every movement of its points.
CREATE FUNCTION commerce._lock_points_account(p_tenant bigint, p_customer bigint)
RETURNS commerce.points_account_row LANGUAGE plpgsql AS $$
DECLARE a commerce.points_account_row;
BEGIN
    SELECT * INTO a FROM commerce.points_account WHERE tenant_id = p_tenant AND customer_id = p_customer FOR UPDATE;
    IF FOUND THEN
        RETURN a;
    END IF;
    INSERT INTO commerce.points_account (tenant_id, customer_id) VALUES (p_tenant, p_customer) ON CONFLICT DO NOTHING;
    SELECT * INTO a FROM commerce.points_account WHERE tenant_id = p_tenant AND customer_id = p_customer FOR UPDATE;
    RETURN a;
END $$;

-- Lock the points accounts of a customer's person in customer order (its own created if missing); returns them.
CREATE FUNCTION commerce._lock_person_accounts(p_tenant bigint, p_customer bigint) RETURNS bigint[]
LANGUAGE plpgsql AS $$
DECLARE v_accounts bigint[] := commerce._person_customers(p_tenant, p_customer);
BEGIN
    INSERT INTO commerce.points_account (tenant_id, customer_id) VALUES (p_tenant, p_customer) ON CONFLICT DO NOTHING;
    PERFORM 1 FROM commerce.points_account WHERE tenant_id = p_tenant AND customer_id = ANY (v_accounts)
      ORDER BY customer_id FOR UPDATE;
    RETURN v_accounts;
END $$;

-- Earn a lot of points once per source event (the account is locked by the caller or here).
CREATE FUNCTION commerce._earn_points(p_tenant bigint, p_customer bigint, p_source text, p_source_key text,
                                      p_points bigint, p_pending interval, p_lasts interval, p_order bigint,
                                      p_earn_fen bigint, p_reason text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_now timestamptz := commerce.now(); v_lot bigint; v_pending boolean := p_pending > interval '0';
BEGIN
    PERFORM commerce._lock_points_account(p_tenant, p_customer);
    INSERT INTO commerce.points_lot (tenant_id, customer_id, source, source_key, order_id, earn_fen, points, remaining,
                                     status, available_at, expires_at, created_at)
    VALUES (p_tenant, p_customer, p_source, p_source_key, p_order, p_earn_fen, p_points, p_points,
            CASE WHEN v_pending THEN 'pending' ELSE 'available' END, v_now + p_pending, v_now + p_pending + p_lasts, v_now)
    ON CONFLICT (tenant_id, source, source_key) DO NOTHING
    RETURNING lot_id INTO v_lot;
    IF v_lot IS NULL THEN   -- earned before: once per source event
        SELECT lot_id INTO v_lot FROM commerce.points_lot
         WHERE tenant_id = p_tenant AND source = p_source AND source_key = p_source_key;
        RETURN v_lot;
    END IF;
    UPDATE commerce.points_account
       SET earned = earned + p_points,
           pending = pending + CASE WHEN v_pending THEN p_points ELSE 0 END,
           available = available + CASE WHEN v_pending THEN 0 ELSE p_points END, updated_at = v_now
     WHERE tenant_id = p_tenant AND customer_id = p_customer;
    INSERT INTO commerce.points_ledger (tenant_id, customer_id, lot_id, kind, delta_available, delta_pending, reason, created_at)
    VALUES (p_tenant, p_customer, v_lot, 'earn', CASE WHEN v_pending THEN 0 ELSE p_points END,
            CASE WHEN v_pending THEN p_points ELSE 0 END, p_reason, v_now);
    RETURN v_lot;
END $$;

-- Grant points once per source key (a check-in, a task, a goodwill grant).
CREATE FUNCTION commerce.earn_points(p_tenant bigint, p_source text, p_source_key text, p_customer text,
                                     p_points bigint, p_reason text, p_pending_days integer DEFAULT 0,
                                     p_expire_days integer DEFAULT 365)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_customer bigint; v_lot bigint; c commerce.points_cap%ROWTYPE; v_since timestamptz; v_so_far bigint;
        v_points bigint := p_points;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_source, 'p_source');
    PERFORM commerce._request_key(p_source_key, 'p_source_key');
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._require(p_points, 'p_points');
    PERFORM commerce._require(p_reason, 'p_reason');
    PERFORM commerce._require(p_pending_days, 'p_pending_days');
    PERFORM commerce._require(p_expire_days, 'p_expire_days');
    IF p_source NOT IN ('grant', 'interaction', 'checkin', 'task') THEN
        PERFORM commerce._invalid('p_source', format('"%s"', left(p_source, 64)),
            'Grant points for a grant, interaction, checkin or task; purchases earn by their channel''s rule.');
    END IF;
    IF p_points NOT BETWEEN 1 AND 100000000 THEN
        PERFORM commerce._invalid('p_points', format('%s points', p_points), 'Grant 1 to 100000000 points at a time.');
    END IF;
    IF length(p_reason) NOT BETWEEN 1 AND 200 THEN
        PERFORM commerce._invalid('p_reason', format('%s characters', length(p_reason)), 'Give a reason of 1 to 200 characters.');
    END IF;
    IF p_pending_days NOT BETWEEN 0 AND 365 OR p_expire_days NOT BETWEEN 1 AND 3650 THEN
        PERFORM commerce._invalid('p_expire_days', format('pending %s days, lasting %s days', p_pending_days, p_expire_days),
                                  'Pending 0 to 365 days; lasting 1 to 3650 days.');
    END IF;
    SELECT customer_id INTO v_customer FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    -- under the account lock: a repeat returns its lot; a capped source earns what is left of its period's cap
    PERFORM commerce._lock_points_account(p_tenant, v_customer);
    SELECT lot_id INTO v_lot FROM commerce.points_lot WHERE tenant_id = p_tenant AND source = p_source AND source_key = p_source_key;
    IF FOUND THEN
        RETURN v_lot;
    END IF;
    SELECT * INTO c FROM commerce.points_cap WHERE tenant_id = p_tenant AND source = p_source;
    IF FOUND THEN
        SELECT (date_trunc(c.period, commerce.now() AT TIME ZONE t.time_zone) AT TIME ZONE t.time_zone) INTO v_since
          FROM commerce.tenant t WHERE t.tenant_id = p_tenant;
        SELECT coalesce(sum(points), 0) INTO v_so_far FROM commerce.points_lot
         WHERE tenant_id = p_tenant AND customer_id = v_customer AND source = p_source AND created_at >= v_since;
        v_points := least(p_points, c.max_points - v_so_far);
        IF v_points <= 0 THEN
            RETURN NULL;   -- the cap of this period is reached: nothing earned
        END IF;
    END IF;
    RETURN commerce._earn_points(p_tenant, v_customer, p_source, p_source_key, v_points,
                                 make_interval(days => p_pending_days), make_interval(days => p_expire_days),
                                 NULL, NULL, p_reason);
END $$;
COMMENT ON FUNCTION commerce.earn_points(bigint, text, text, text, bigint, text, integer, integer) IS
  'Grant a customer points once per source event (K17, PR10): a grant, interaction, checkin or task with its key (a second call with the same source and key returns the first lot and grants nothing), pending for p_pending_days, then available for p_expire_days. Interactions and tasks earn at most their tenant''s cap per tenant-local day or month (commerce.set_points_cap): what is left of it, NULL (nothing earned) once it is reached. Returns the lot.';

-- Cap what interactions or tasks earn a customer per tenant-local day or month.
CREATE FUNCTION commerce.set_points_cap(p_tenant bigint, p_source text, p_period text, p_max_points bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_source, 'p_source');
    PERFORM commerce._require(p_period, 'p_period');
    IF p_source NOT IN ('interaction', 'task') THEN
        PERFORM commerce._invalid('p_source', format('"%s"', left(p_source, 64)),
                                  'Caps apply to interaction and task points (check-ins are once a day, purchases by their rule).');
    END IF;
    IF p_period NOT IN ('day', 'month') THEN
        PERFORM commerce._invalid('p_period', format('"%s"', left(p_period, 64)), 'A cap is per tenant-local day or month.');
    END IF;
    IF p_max_points IS NULL THEN
        DELETE FROM commerce.points_cap WHERE tenant_id = p_tenant AND source = p_source;
        RETURN;
    END IF;
    IF p_max_points NOT BETWEEN 1 AND 100000000 THEN
        PERFORM commerce._invalid('p_max_points', format('%s points', p_max_points), 'A cap is 1 to 100000000 points, or NULL for none.');
    END IF;
    INSERT INTO commerce.points_cap (tenant_id, source, period, max_points) VALUES (p_tenant, p_source, p_period, p_max_points)
    ON CONFLICT (tenant_id, source) DO UPDATE SET period = EXCLUDED.period, max_points = EXCLUDED.max_points;
END $$;
COMMENT ON FUNCTION commerce.set_points_cap(bigint, text, text, bigint) IS
  'Cap the points interactions or tasks earn one customer per tenant-local day or month (p_max_points 1 to 10^8; NULL removes the cap): an earn past the cap earns what is left of it, then nothing (the unlimited-points exploit closed).';

-- Take up to p_points from the available lots of some customers (their accounts locked by the caller),
-- earliest expiry first: each lot's ledger entry, and each account's available less and spent or reversed more.
CREATE FUNCTION commerce._take_points(p_tenant bigint, p_customers bigint[], p_points bigint, p_kind text,
                                      p_request text, p_reason text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE l record; v_left bigint := p_points; v_take bigint; v_now timestamptz := commerce.now();
BEGIN
    IF p_kind NOT IN ('spend', 'reverse') THEN
        RAISE EXCEPTION 'commerce._take_points: kind % is neither spend nor reverse', p_kind;
    END IF;
    FOR l IN SELECT lot_id, customer_id, remaining FROM commerce.points_lot
              WHERE tenant_id = p_tenant AND customer_id = ANY (p_customers) AND status = 'available' AND expires_at > v_now
              ORDER BY expires_at, lot_id FOR UPDATE LOOP
        EXIT WHEN v_left = 0;
        v_take := least(l.remaining, v_left);
        UPDATE commerce.points_lot
           SET remaining = remaining - v_take, status = CASE WHEN remaining = v_take THEN 'closed' ELSE status END
         WHERE tenant_id = p_tenant AND lot_id = l.lot_id;
        INSERT INTO commerce.points_ledger (tenant_id, customer_id, lot_id, kind, delta_available, delta_pending,
                                            request_id, reason, created_at)
        VALUES (p_tenant, l.customer_id, l.lot_id, p_kind, -v_take, 0, p_request, p_reason, v_now);
        UPDATE commerce.points_account
           SET available = available - v_take,
               spent = spent + CASE WHEN p_kind = 'spend' THEN v_take ELSE 0 END,
               reversed = reversed + CASE WHEN p_kind = 'reverse' THEN v_take ELSE 0 END, updated_at = v_now
         WHERE tenant_id = p_tenant AND customer_id = l.customer_id;
        v_left := v_left - v_take;
    END LOOP;
    RETURN p_points - v_left;
END $$;

-- Spend a customer's points, earliest expiry first, once per request_id.
CREATE FUNCTION commerce.spend_points(p_tenant bigint, p_request_id text, p_customer text, p_points bigint,
                                      p_reason text)
RETURNS commerce.points_account_row LANGUAGE plpgsql AS $$
DECLARE v_customer bigint; a commerce.points_account_row; s commerce.points_spend%ROWTYPE;
        v_now timestamptz := commerce.now(); v_spendable bigint; v_accounts bigint[];
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._require(p_points, 'p_points');
    PERFORM commerce._require(p_reason, 'p_reason');
    IF p_points NOT BETWEEN 1 AND 100000000 THEN
        PERFORM commerce._invalid('p_points', format('%s points', p_points), 'Spend 1 to 100000000 points at a time.');
    END IF;
    IF length(p_reason) NOT BETWEEN 1 AND 200 THEN
        PERFORM commerce._invalid('p_reason', format('%s characters', length(p_reason)), 'Give a reason of 1 to 200 characters.');
    END IF;
    SELECT customer_id INTO v_customer FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    -- the points of the customer's person: every account of it, locked in customer order (the spender's
    -- created if it has none), so a fan spends on the H5 site what it earned in the mini-program
    v_accounts := commerce._lock_person_accounts(p_tenant, v_customer);
    SELECT * INTO a FROM commerce.points_account WHERE tenant_id = p_tenant AND customer_id = v_customer;
    -- a repeat returns the account; the same request_id for another spend is refused
    SELECT * INTO s FROM commerce.points_spend WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF FOUND THEN
        IF s.customer_id <> v_customer OR s.points <> p_points THEN
            RAISE EXCEPTION USING ERRCODE = '23505',
                MESSAGE = format('request_id "%s" was already used for a different spend', left(p_request_id, 64)),
                DETAIL  = format('First: %s points of customer %s; now: %s points of "%s".', s.points, s.customer_id, p_points,
                                 left(p_customer, 64)),
                HINT    = 'Use a new request_id for a new spend.';
        END IF;
        RETURN a;
    END IF;
    -- what can be spent now: available lots not past their expiry (the pump may not have run yet)
    SELECT coalesce(sum(remaining), 0) INTO v_spendable FROM commerce.points_lot
     WHERE tenant_id = p_tenant AND customer_id = ANY (v_accounts) AND status = 'available' AND expires_at > v_now;
    IF v_spendable < p_points THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('customer "%s" has %s points to spend, not %s', left(p_customer, 64), v_spendable, p_points),
            DETAIL  = format('Available %s, pending %s (in the return window).', v_spendable, a.pending),
            HINT    = 'Spend at most the available points; pending points become available after the return window.';
    END IF;
    INSERT INTO commerce.points_spend (tenant_id, request_id, customer_id, points, reason, created_at)
    VALUES (p_tenant, p_request_id, v_customer, p_points, p_reason, v_now);
    -- earliest expiry first across the person's accounts; each account gives what its lots gave
    IF commerce._take_points(p_tenant, v_accounts, p_points, 'spend', p_request_id, p_reason) <> p_points THEN
        RAISE EXCEPTION 'commerce.spend_points: the lots of customer % did not hold the % points counted', v_customer, p_points;
    END IF;
    SELECT * INTO a FROM commerce.points_account WHERE tenant_id = p_tenant AND customer_id = v_customer;
    RETURN a;
END $$;
COMMENT ON FUNCTION commerce.spend_points(bigint, text, text, bigint, text) IS
  'Spend a customer''s points (a points-mall redemption, a deduction): the points of its person, on all its accounts (locked in customer order), earliest expiry first, never more than there is (PT409, nothing spent; pending and expired points do not count). Once per request_id: a repeat returns the account, the same request_id for another spend is 23505. Returns the spender''s account.';

-- A refund of an order takes back the points it earned, in proportion (orders trigger; the order is locked).
CREATE FUNCTION commerce._reverse_purchase_points(o commerce.orders_row) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE l commerce.points_lot%ROWTYPE; v_target bigint; v_delta bigint; v_from_lot bigint; v_other bigint := 0;
        v_short bigint; v_now timestamptz := commerce.now(); v_refunded bigint; v_key text := o.order_id::text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM commerce.points_lot WHERE tenant_id = o.tenant_id AND source = 'purchase' AND source_key = v_key) THEN
        RETURN;
    END IF;
    PERFORM 1 FROM commerce.points_account a JOIN commerce.points_lot pl USING (tenant_id, customer_id)
      WHERE pl.tenant_id = o.tenant_id AND pl.source = 'purchase' AND pl.source_key = v_key FOR UPDATE OF a;
    SELECT * INTO l FROM commerce.points_lot WHERE tenant_id = o.tenant_id AND source = 'purchase' AND source_key = v_key FOR UPDATE;
    -- refunded since the points were earned, as a share of what they were earned on
    v_refunded := least(greatest(o.refunded_fen - (o.paid_fen - l.earn_fen), 0), l.earn_fen);
    v_target := floor(l.points::numeric * v_refunded / l.earn_fen)::bigint;
    v_delta := v_target - l.reversed;
    IF v_delta <= 0 THEN
        RETURN;
    END IF;
    v_from_lot := least(v_delta, l.remaining);
    UPDATE commerce.points_lot
       SET remaining = remaining - v_from_lot, reversed = reversed + v_delta,
           status = CASE WHEN remaining = v_from_lot THEN 'closed' ELSE status END
     WHERE tenant_id = l.tenant_id AND lot_id = l.lot_id;
    IF v_from_lot > 0 THEN
        INSERT INTO commerce.points_ledger (tenant_id, customer_id, lot_id, kind, delta_available, delta_pending, reason, created_at)
        VALUES (l.tenant_id, l.customer_id, l.lot_id, 'reverse',
                CASE WHEN l.status = 'available' THEN -v_from_lot ELSE 0 END,
                CASE WHEN l.status = 'pending' THEN -v_from_lot ELSE 0 END, format('refund of order %s', o.order_id), v_now);
    END IF;
    -- what was already spent of it comes from the customer's other points; what is not there is recorded, not owed
    IF v_delta > v_from_lot THEN
        v_other := commerce._take_points(l.tenant_id, ARRAY[l.customer_id], v_delta - v_from_lot, 'reverse', NULL,
                                         format('refund of order %s (spent points)', o.order_id));
    END IF;
    v_short := v_delta - v_from_lot - v_other;
    IF v_short > 0 THEN
        INSERT INTO commerce.points_ledger (tenant_id, customer_id, lot_id, kind, delta_available, delta_pending, reason, created_at)
        VALUES (l.tenant_id, l.customer_id, l.lot_id, 'unrecovered', 0, 0,
                format('refund of order %s: %s points already spent', o.order_id, v_short), v_now);
    END IF;
    UPDATE commerce.points_account
       SET available = available - CASE WHEN l.status = 'available' THEN v_from_lot ELSE 0 END,
           pending = pending - CASE WHEN l.status = 'pending' THEN v_from_lot ELSE 0 END,
           reversed = reversed + v_from_lot, unrecovered = unrecovered + v_short, updated_at = v_now
     WHERE tenant_id = l.tenant_id AND customer_id = l.customer_id;
END $$;

-- Orders trigger: a payment or completion earns purchase points by the channel's rule; a refund takes them back.
CREATE FUNCTION commerce._points_on_order() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE o commerce.orders_row; r commerce.points_rule%ROWTYPE; v_base bigint; v_points bigint;
BEGIN
    IF TG_WHEN <> 'AFTER' OR TG_LEVEL <> 'ROW' THEN
        RAISE EXCEPTION 'commerce._points_on_order must fire AFTER ... FOR EACH ROW';
    END IF;
    o := NEW;
    IF o.customer_id IS NULL THEN
        RETURN NULL;      -- a platform buyer not yet known as a customer earns nothing
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.refunded_fen > OLD.refunded_fen THEN
        PERFORM commerce._reverse_purchase_points(o);
    END IF;
    SELECT * INTO r FROM commerce.points_rule WHERE tenant_id = o.tenant_id AND channel_id = o.channel_id;
    IF NOT FOUND OR r.points_per_yuan = 0 OR o.paid_at IS NULL THEN
        RETURN NULL;
    END IF;
    IF (r.earn_on = 'paid' AND (TG_OP = 'INSERT' OR OLD.paid_at IS NULL))
       OR (r.earn_on = 'completed' AND o.status = 'completed' AND (TG_OP = 'INSERT' OR OLD.status <> 'completed')) THEN
        v_base := coalesce(o.paid_fen, 0) - o.refunded_fen;
        v_points := v_base * r.points_per_yuan / 100;     -- floor: 1 point per whole yuan at 1 point a yuan
        -- a member with birthday double points earns double in its (tenant-local) birthday month
        -- (the birthday month first: most customers have none set, and the benefit lookup reads the person)
        IF EXISTS (SELECT 1 FROM commerce.customer cu JOIN commerce.tenant t ON t.tenant_id = cu.tenant_id
                    WHERE cu.tenant_id = o.tenant_id AND cu.customer_id = o.customer_id
                      AND extract(month FROM cu.birthday) = extract(month FROM commerce.now() AT TIME ZONE t.time_zone))
           AND commerce._has_benefit(o.tenant_id, o.customer_id, 'birthday_double_points', commerce.now()) THEN
            v_points := v_points * 2;
        END IF;
        IF v_points > 0 THEN
            PERFORM commerce._earn_points(o.tenant_id, o.customer_id, 'purchase', o.order_id::text, v_points,
                                          make_interval(days => r.pending_days), make_interval(days => r.expire_days),
                                          o.order_id, v_base, format('order %s', o.order_id));
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER after_40_points AFTER UPDATE ON commerce.orders
    FOR EACH ROW WHEN ((OLD.paid_at IS NULL AND NEW.paid_at IS NOT NULL)
                       OR (NEW.status = 'completed' AND OLD.status <> 'completed')
                       OR NEW.refunded_fen > OLD.refunded_fen)
    EXECUTE FUNCTION commerce._points_on_order();

CREATE TRIGGER after_41_points_insert AFTER INSERT ON commerce.orders
    FOR EACH ROW WHEN (NEW.paid_at IS NOT NULL)
    EXECUTE FUNCTION commerce._points_on_order();

-- Set a tenant's daily check-in.
CREATE FUNCTION commerce.set_checkin_rule(p_tenant bigint, p_points integer DEFAULT 5, p_streak_days integer DEFAULT 7,
                                          p_streak_bonus integer DEFAULT 0, p_expire_days integer DEFAULT 365)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_points, 'p_points');
    PERFORM commerce._require(p_streak_days, 'p_streak_days');
    PERFORM commerce._require(p_streak_bonus, 'p_streak_bonus');
    PERFORM commerce._require(p_expire_days, 'p_expire_days');
    IF p_points NOT BETWEEN 1 AND 100000 OR p_streak_bonus NOT BETWEEN 0 AND 100000 THEN
        PERFORM commerce._invalid('p_points', format('%s points, bonus %s', p_points, p_streak_bonus),
                                  'A check-in earns 1 to 100000 points, a streak bonus 0 to 100000.');
    END IF;
    IF p_streak_days NOT BETWEEN 2 AND 365 THEN
        PERFORM commerce._invalid('p_streak_days', format('%s days', p_streak_days), 'A streak is 2 to 365 days.');
    END IF;
    IF p_expire_days NOT BETWEEN 1 AND 3650 THEN
        PERFORM commerce._invalid('p_expire_days', format('%s days', p_expire_days), 'Points last 1 to 3650 days.');
    END IF;
    INSERT INTO commerce.points_checkin_rule AS r (tenant_id, points, streak_days, streak_bonus, expire_days)
    VALUES (p_tenant, p_points, p_streak_days, p_streak_bonus, p_expire_days)
    ON CONFLICT (tenant_id) DO UPDATE SET points = EXCLUDED.points, streak_days = EXCLUDED.streak_days,
                                          streak_bonus = EXCLUDED.streak_bonus, expire_days = EXCLUDED.expire_days;
END $$;
COMMENT ON FUNCTION commerce.set_checkin_rule(bigint, integer, integer, integer, integer) IS
  'A tenant''s daily check-in (PR10): p_points a day (1 to 100000), plus p_streak_bonus on every p_streak_days-th day in a row (2 to 365), lasting p_expire_days (1 to 3650).';

-- The outcome of a check-in.
CREATE TYPE commerce.checkin_result AS (day date, streak integer, points bigint, outcome text);
COMMENT ON TYPE commerce.checkin_result IS
  'The outcome of a check-in: the tenant-local day, the streak (days in a row, this one included), the points it earned, and what happened (checked_in, or already: the day was checked in before, nothing earned).';

-- Check a customer in for today (the tenant's local day), once a day, with its streak.
CREATE FUNCTION commerce.check_in(p_tenant bigint, p_customer text) RETURNS commerce.checkin_result
LANGUAGE plpgsql AS $$
DECLARE t commerce.tenant_row := commerce._tenant(p_tenant); r commerce.points_checkin_rule%ROWTYPE; v_customer bigint;
        v_day date; v_streak integer; v_points bigint; v_lot bigint; c commerce.points_checkin%ROWTYPE;
BEGIN
    PERFORM commerce._require(p_customer, 'p_customer');
    SELECT * INTO r FROM commerce.points_checkin_rule WHERE tenant_id = p_tenant;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('tenant %s has no daily check-in', p_tenant),
            HINT    = 'HQ sets one with commerce.set_checkin_rule.';
    END IF;
    SELECT customer_id INTO v_customer FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    v_day := (commerce.now() AT TIME ZONE t.time_zone)::date;
    -- the account orders a customer's check-ins: a second one of the same day waits and finds the first
    PERFORM commerce._lock_points_account(p_tenant, v_customer);
    SELECT * INTO c FROM commerce.points_checkin WHERE tenant_id = p_tenant AND customer_id = v_customer AND day = v_day;
    IF FOUND THEN
        RETURN ROW(c.day, c.streak, c.points, 'already')::commerce.checkin_result;
    END IF;
    SELECT coalesce((SELECT x.streak FROM commerce.points_checkin x
                      WHERE x.tenant_id = p_tenant AND x.customer_id = v_customer AND x.day = v_day - 1), 0) + 1
      INTO v_streak;
    v_points := r.points + CASE WHEN v_streak % r.streak_days = 0 THEN r.streak_bonus ELSE 0 END;
    v_lot := commerce._earn_points(p_tenant, v_customer, 'checkin', v_customer || ':' || v_day, v_points, interval '0',
                                   make_interval(days => r.expire_days), NULL, NULL,
                                   format('check-in %s, day %s in a row', v_day, v_streak));
    INSERT INTO commerce.points_checkin (tenant_id, customer_id, day, streak, points, lot_id, created_at)
    VALUES (p_tenant, v_customer, v_day, v_streak, v_points, v_lot, commerce.now());
    RETURN ROW(v_day, v_streak, v_points, 'checked_in')::commerce.checkin_result;
END $$;
COMMENT ON FUNCTION commerce.check_in(bigint, text) IS
  'The daily check-in (PR10): once per customer and tenant-local day (a second call that day returns the first, outcome already, and earns nothing), the streak counted from yesterday''s check-in, the points of the tenant''s rule plus the streak bonus on every streak_days-th day, available at once. PT409 when the tenant has no check-in.';

-- One batch of the points pump: pending lots past their return window become available.
CREATE FUNCTION commerce.release_points(p_limit integer DEFAULT 1000) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE n integer; v_now timestamptz := commerce.now();
BEGIN
    PERFORM commerce._require(p_limit, 'p_limit');
    IF p_limit NOT BETWEEN 1 AND 100000 THEN
        PERFORM commerce._invalid('p_limit', format('batch %s', p_limit), 'Use a batch of 1 to 100000.');
    END IF;
    -- set-based: the batch's accounts first (in key order; a busy one is left for the next run), then
    -- their lots, one ledger entry per lot, one update per account
    WITH due AS (
        SELECT tenant_id, lot_id, customer_id FROM commerce.points_lot
         WHERE status = 'pending' AND available_at <= v_now ORDER BY available_at, tenant_id, lot_id LIMIT p_limit),
    acc AS (
        SELECT a.tenant_id, a.customer_id FROM commerce.points_account a
         WHERE (a.tenant_id, a.customer_id) IN (SELECT tenant_id, customer_id FROM due)
         ORDER BY a.tenant_id, a.customer_id FOR UPDATE SKIP LOCKED),
    lots AS (
        SELECT l.tenant_id, l.lot_id, l.customer_id, l.remaining FROM commerce.points_lot l
          JOIN due USING (tenant_id, lot_id) JOIN acc ON acc.tenant_id = l.tenant_id AND acc.customer_id = l.customer_id
         WHERE l.status = 'pending' AND l.available_at <= v_now
         FOR UPDATE OF l),
    upd AS (
        UPDATE commerce.points_lot l SET status = 'available' FROM lots
         WHERE l.tenant_id = lots.tenant_id AND l.lot_id = lots.lot_id
        RETURNING lots.tenant_id, lots.customer_id, lots.lot_id, lots.remaining),
    led AS (
        INSERT INTO commerce.points_ledger (tenant_id, customer_id, lot_id, kind, delta_available, delta_pending, created_at)
        SELECT tenant_id, customer_id, lot_id, 'release', remaining, -remaining, v_now FROM upd),
    sums AS (SELECT tenant_id, customer_id, sum(remaining) AS v FROM upd GROUP BY 1, 2),
    accu AS (
        UPDATE commerce.points_account a SET pending = a.pending - sums.v, available = a.available + sums.v, updated_at = v_now
          FROM sums WHERE a.tenant_id = sums.tenant_id AND a.customer_id = sums.customer_id)
    SELECT count(*) INTO n FROM upd;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce.release_points(integer) IS
  'One batch of the points pump: lots whose return window ended become available, set-based (the batch''s accounts are locked first, in key order; a busy account is left for the next run; one ledger entry per lot, one update per account). Returns the lots released.';

-- One batch of the points pump: available lots past their expiry expire.
CREATE FUNCTION commerce.expire_points(p_limit integer DEFAULT 1000) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE n integer; v_now timestamptz := commerce.now();
BEGIN
    PERFORM commerce._require(p_limit, 'p_limit');
    IF p_limit NOT BETWEEN 1 AND 100000 THEN
        PERFORM commerce._invalid('p_limit', format('batch %s', p_limit), 'Use a batch of 1 to 100000.');
    END IF;
    -- set-based, as release_points: accounts (busy ones skipped), lots, ledger, accounts
    WITH due AS (
        SELECT tenant_id, lot_id, customer_id FROM commerce.points_lot
         WHERE status = 'available' AND expires_at <= v_now ORDER BY expires_at, tenant_id, lot_id LIMIT p_limit),
    acc AS (
        SELECT a.tenant_id, a.customer_id FROM commerce.points_account a
         WHERE (a.tenant_id, a.customer_id) IN (SELECT tenant_id, customer_id FROM due)
         ORDER BY a.tenant_id, a.customer_id FOR UPDATE SKIP LOCKED),
    lots AS (
        SELECT l.tenant_id, l.lot_id, l.customer_id, l.remaining FROM commerce.points_lot l
          JOIN due USING (tenant_id, lot_id) JOIN acc ON acc.tenant_id = l.tenant_id AND acc.customer_id = l.customer_id
         WHERE l.status = 'available' AND l.expires_at <= v_now
         FOR UPDATE OF l),
    upd AS (
        UPDATE commerce.points_lot l SET remaining = 0, status = 'closed' FROM lots
         WHERE l.tenant_id = lots.tenant_id AND l.lot_id = lots.lot_id
        RETURNING lots.tenant_id, lots.customer_id, lots.lot_id, lots.remaining),
    led AS (
        INSERT INTO commerce.points_ledger (tenant_id, customer_id, lot_id, kind, delta_available, delta_pending, created_at)
        SELECT tenant_id, customer_id, lot_id, 'expire', -remaining, 0, v_now FROM upd),
    sums AS (SELECT tenant_id, customer_id, sum(remaining) AS v FROM upd GROUP BY 1, 2),
    accu AS (
        UPDATE commerce.points_account a SET available = a.available - sums.v, expired = a.expired + sums.v, updated_at = v_now
          FROM sums WHERE a.tenant_id = sums.tenant_id AND a.customer_id = sums.customer_id)
    SELECT count(*) INTO n FROM upd;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce.expire_points(integer) IS
  'One batch of the points pump: what is left of lots past their expiry expires, set-based (the batch''s accounts locked first, a busy one left for the next run; one ledger entry per lot, one update per account). Returns the lots expired.';

CREATE PROCEDURE commerce.points_pump(p_batch integer DEFAULT 1000, p_max_batches integer DEFAULT 1000)
LANGUAGE plpgsql AS $$
BEGIN
    CALL commerce.run_pump('commerce.release_points', p_batch, p_max_batches);
    CALL commerce.run_pump('commerce.expire_points', p_batch, p_max_batches);
END $$;
COMMENT ON PROCEDURE commerce.points_pump(integer, integer) IS
  'The points job (pg_cron, every 10 minutes: commerce-points): releases lots past their return window and expires lots past their expiry, committed per batch.';

INSERT INTO commerce.job (job_name, schedule, command) VALUES
  ('commerce-points', '*/10 * * * *', 'CALL commerce.points_pump()');

-- Every invariant of the points; no rows means all hold.
CREATE FUNCTION commerce.check_points_invariants(p_tenant bigint DEFAULT NULL)
RETURNS TABLE (invariant text, detail text) LANGUAGE sql STABLE AS $$
    -- the account is the sum of its lots and of its ledger
    SELECT 'account = lots = ledger', format('customer %s: available %s/%s/%s, pending %s/%s/%s', a.customer_id,
                                              a.available, coalesce(l.avail, 0), coalesce(g.avail, 0),
                                              a.pending, coalesce(l.pend, 0), coalesce(g.pend, 0))
      FROM commerce.points_account a
      LEFT JOIN LATERAL (SELECT sum(remaining) FILTER (WHERE status = 'available') AS avail,
                                sum(remaining) FILTER (WHERE status = 'pending') AS pend
                           FROM commerce.points_lot x WHERE x.tenant_id = a.tenant_id AND x.customer_id = a.customer_id) l ON true
      LEFT JOIN LATERAL (SELECT sum(delta_available) AS avail, sum(delta_pending) AS pend
                           FROM commerce.points_ledger x WHERE x.tenant_id = a.tenant_id AND x.customer_id = a.customer_id) g ON true
     WHERE (p_tenant IS NULL OR a.tenant_id = p_tenant)
       AND (a.available <> coalesce(l.avail, 0) OR a.available <> coalesce(g.avail, 0)
            OR a.pending <> coalesce(l.pend, 0) OR a.pending <> coalesce(g.pend, 0))
    UNION ALL
    -- what was earned, spent, expired and reversed is what the ledger says
    SELECT 'totals = ledger', format('customer %s: earned %s/%s spent %s/%s expired %s/%s reversed %s/%s', a.customer_id,
                                      a.earned, g.earned, a.spent, g.spent, a.expired, g.expired, a.reversed, g.reversed)
      FROM commerce.points_account a
      CROSS JOIN LATERAL (SELECT coalesce(sum(delta_available + delta_pending) FILTER (WHERE kind = 'earn'), 0) AS earned,
                                 coalesce(-sum(delta_available) FILTER (WHERE kind = 'spend'), 0) AS spent,
                                 coalesce(-sum(delta_available) FILTER (WHERE kind = 'expire'), 0) AS expired,
                                 coalesce(-sum(delta_available + delta_pending) FILTER (WHERE kind = 'reverse'), 0) AS reversed
                            FROM commerce.points_ledger x WHERE x.tenant_id = a.tenant_id AND x.customer_id = a.customer_id) g
     WHERE (p_tenant IS NULL OR a.tenant_id = p_tenant)
       AND (a.earned, a.spent, a.expired, a.reversed) IS DISTINCT FROM (g.earned, g.spent, g.expired, g.reversed)
    UNION ALL
    -- a purchase lot's points are floor(points per yuan x what it was earned on), and refunds never take back more
    SELECT 'purchase lot reversed <= refunded share', format('lot %s of order %s: reversed %s of %s', l.lot_id, l.order_id,
                                                             l.reversed, l.points)
      FROM commerce.points_lot l JOIN commerce.orders o ON o.tenant_id = l.tenant_id AND o.order_id = l.order_id
     WHERE (p_tenant IS NULL OR l.tenant_id = p_tenant) AND l.source = 'purchase'
       AND l.reversed > floor(l.points::numeric * least(greatest(o.refunded_fen - (o.paid_fen - l.earn_fen), 0), l.earn_fen) / l.earn_fen)
    UNION ALL
    -- one spend's ledger entries add up to the spend
    SELECT 'spend = its entries', format('spend %s: %s points, entries %s', s.spend_id, s.points, coalesce(e.n, 0))
      FROM commerce.points_spend s
      LEFT JOIN LATERAL (SELECT -sum(delta_available) AS n FROM commerce.points_ledger x
                          WHERE x.tenant_id = s.tenant_id AND x.request_id = s.request_id AND x.kind = 'spend') e ON true
     WHERE (p_tenant IS NULL OR s.tenant_id = p_tenant) AND s.points <> coalesce(e.n, 0);
$$;
COMMENT ON FUNCTION commerce.check_points_invariants(bigint) IS
  'Every invariant of the points (check after stress): per account, available and pending = its lots'' remaining = its ledger''s deltas; earned, spent, expired and reversed = the ledger''s; a purchase lot never reversed beyond the refunded share; each spend = its ledger entries. No rows means all hold.';
