-- sql/src/plays/group_buy.sql: group buys: joins under the instance lock,
-- success with assets.

-- Issue the assets of a successful group (members with orders), once per order.
CREATE FUNCTION commerce._issue_group_assets(p_tenant bigint, p_instance bigint) RETURNS integer
LANGUAGE plpgsql AS $$   -- PL/pgSQL for a plan cached per session (an SQL function is planned per call)
DECLARE n integer;
BEGIN
    WITH ins AS (
        INSERT INTO commerce.user_asset (tenant_id, customer_id, asset_type, unit_name, total, remaining,
                                         source_activity, source_instance_id, order_id, created_at)
        SELECT p.tenant_id, p.customer_id, c.asset_type, t.unit_name, c.units_per_sale, c.units_per_sale,
               c.activity, p.instance_id, p.order_id, commerce.now()
          FROM commerce.play_participant p
          JOIN commerce.play_instance i USING (tenant_id, instance_id)
          JOIN commerce.play_config c ON c.tenant_id = i.tenant_id AND c.config_id = i.config_id
          JOIN commerce.play_template t ON t.tenant_id = c.tenant_id AND t.code = c.template_code
         WHERE p.tenant_id = p_tenant AND p.instance_id = p_instance AND p.order_id IS NOT NULL
           AND c.asset_type IS NOT NULL
        ON CONFLICT (tenant_id, order_id) DO NOTHING
        RETURNING 1)
    SELECT count(*)::integer INTO n FROM ins;
    RETURN n;
END $$;

-- Open a group (p_instance NULL: the customer leads a new one) or join one, paying the play price.
CREATE FUNCTION commerce.join_group(p_tenant bigint, p_request_id text, p_config text, p_customer text,
                                    p_payment_id text, p_instance bigint DEFAULT NULL,
                                    p_channel text DEFAULT 'wechat_mp', p_ip text DEFAULT NULL,
                                    p_device text DEFAULT NULL)
RETURNS commerce.join_result LANGUAGE plpgsql AS $$
DECLARE
    c commerce.play_config_row; cu commerce.customer; i commerce.play_instance_row;
    p commerce.play_participant; sk commerce.sku; v_list bigint; v_order commerce.order_result; v_now timestamptz := commerce.now();
    v_outcome text := 'joined';
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_config, 'p_config');
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._require(p_channel, 'p_channel');
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    -- a retry returns the first result
    SELECT * INTO p FROM commerce.play_participant WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF FOUND THEN
        SELECT * INTO i FROM commerce.play_instance WHERE tenant_id = p_tenant AND instance_id = p.instance_id;
        RETURN ROW(i.instance_id, i.status, i.current, i.target, i.deadline, p.order_id, 'repeated')::commerce.join_result;
    END IF;
    c := commerce._play_of_kind(p_tenant, p_config, ARRAY['group_buy'], 'Join group-buy plays only.');
    SELECT * INTO cu FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    PERFORM commerce._require_play_open(c, v_now, 'Join a play that is open now.');
    -- a second place in the same group is named as such (a concurrent one is caught by the insert below)
    IF p_instance IS NOT NULL AND EXISTS (SELECT 1 FROM commerce.play_participant
                                           WHERE tenant_id = p_tenant AND instance_id = p_instance
                                             AND customer_id = cu.customer_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('customer "%s" is already in group %s', p_customer, p_instance),
            HINT    = 'One place per customer and group.';
    END IF;
    -- eligibility (transaction time, in C), each refusal with its own SQLSTATE; the action is recorded.
    -- It and the price are read first (lock order: eligibility's advisory locks, the group's row in
    -- KEY SHARE, the stock slots, the group's row for the place).
    PERFORM commerce._play_admit(p_tenant, c.config_id, cu.customer_id,
                                 CASE WHEN p_instance IS NULL THEN 'start' ELSE 'join' END, p_ip, p_device);
    SELECT * INTO sk FROM commerce.sku WHERE tenant_id = p_tenant AND sku_id = c.sku_id;
    v_list := (commerce.resolve_price(p_tenant, sk.code, p_channel, cu.member_tier)).price_fen;
    -- the group: a new one led by the customer, or the one named. Joiners take a KEY SHARE lock on it:
    -- they do not block each other, and the deadline job (FOR UPDATE SKIP LOCKED) leaves a group alone
    -- while anyone is joining it. The place itself is taken at the end, by a conditional update.
    IF p_instance IS NULL THEN
        INSERT INTO commerce.play_instance (tenant_id, config_id, leader_customer_id, status, current, target,
                                            deadline, created_at)
        VALUES (p_tenant, c.config_id, cu.customer_id, 'active', 0, (c.rules ->> 'target_size')::integer,
                least(v_now + make_interval(hours => coalesce((c.rules ->> 'hours')::integer, 24)), c.ends_at), v_now)
        RETURNING * INTO i;
        v_outcome := 'opened';
    ELSE
        SELECT * INTO i FROM commerce.play_instance
         WHERE tenant_id = p_tenant AND instance_id = p_instance AND config_id = c.config_id FOR KEY SHARE;
        IF NOT FOUND THEN
            PERFORM commerce._not_found('group', p_instance::text, p_tenant);
        END IF;
        PERFORM commerce._refuse_join(i, v_now);
    END IF;
    -- the order at the play price from the play's stock: paid at once (p_payment_id), or awaiting
    -- payment with the place held until the group's deadline at the latest
    v_order := commerce.place_order(p_tenant, 'play:' || p_request_id, p_channel,
                   jsonb_build_object('lines', jsonb_build_array(jsonb_build_object('sku', sk.code, 'qty', 1)),
                                      'activity', c.activity, 'source_instance_id', i.instance_id,
                                      'discount_fen', greatest(v_list - c.price_fen, 0)),
                   p_customer);
    IF p_payment_id IS NOT NULL THEN
        PERFORM commerce.pay_order(p_tenant, v_order.order_id, p_payment_id, least(v_list, c.price_fen));
    ELSE
        UPDATE commerce.orders SET pay_deadline = least(pay_deadline, i.deadline)
         WHERE tenant_id = p_tenant AND order_id = v_order.order_id AND pay_deadline > i.deadline;
        v_order.pay_deadline := least(v_order.pay_deadline, i.deadline);
    END IF;
    INSERT INTO commerce.play_participant (tenant_id, instance_id, customer_id, request_id, role, order_id, status,
                                           joined_at)
    VALUES (p_tenant, i.instance_id, cu.customer_id, p_request_id,
            CASE WHEN v_outcome = 'opened' THEN 'leader' ELSE 'member' END, v_order.order_id,
            CASE WHEN p_payment_id IS NULL THEN 'held' ELSE 'joined' END, v_now)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN   -- the same customer (or request) joined this group in a concurrent transaction
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('customer "%s" is already in group %s', p_customer, i.instance_id),
            HINT    = 'One place per customer and group.';
    END IF;
    -- the place: joins of one group queue here only, for the rest of their transaction; a group that
    -- filled, ended or failed meanwhile refuses the join and everything above rolls back
    UPDATE commerce.play_instance SET current = current + 1
     WHERE tenant_id = p_tenant AND instance_id = i.instance_id
       AND status = 'active' AND current < target AND deadline > v_now
    RETURNING * INTO i;
    IF NOT FOUND THEN
        SELECT * INTO i FROM commerce.play_instance WHERE tenant_id = p_tenant AND instance_id = p_instance;
        PERFORM commerce._refuse_join(i, v_now);
        RAISE EXCEPTION 'commerce.join_group: group % refused a place for no known reason', p_instance;
    END IF;
    IF commerce._group_complete(i, c.code) THEN
        SELECT * INTO i FROM commerce.play_instance WHERE tenant_id = p_tenant AND instance_id = i.instance_id;
        v_outcome := 'succeeded';
    ELSIF p_payment_id IS NULL THEN
        v_outcome := CASE WHEN v_outcome = 'opened' THEN 'opened_held' ELSE 'held' END;
    END IF;
    RETURN ROW(i.instance_id, i.status, i.current, i.target, i.deadline, v_order.order_id, v_outcome)::commerce.join_result;
END $$;

-- Make a full group whose every place is paid a success (assets, outbox); false when not yet.
-- The caller holds the group's row (its conditional update, or FOR NO KEY UPDATE).
CREATE FUNCTION commerce._group_complete(i commerce.play_instance_row, p_play text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF i.status <> 'active' OR i.current <> i.target
       OR EXISTS (SELECT 1 FROM commerce.play_participant p
                   WHERE p.tenant_id = i.tenant_id AND p.instance_id = i.instance_id AND p.status = 'held') THEN
        RETURN false;
    END IF;
    UPDATE commerce.play_instance SET status = 'success', ended_at = commerce.now()
     WHERE tenant_id = i.tenant_id AND instance_id = i.instance_id;
    PERFORM commerce._issue_group_assets(i.tenant_id, i.instance_id);
    PERFORM commerce.enqueue(i.tenant_id, 'play.group_succeeded',
        jsonb_build_object('instance_id', i.instance_id, 'play', p_play, 'members', i.current),
        'group:' || i.instance_id);
    RETURN true;
END $$;

-- A held place's order was paid (orders trigger): the member joins, and the group may be complete.
CREATE FUNCTION commerce._group_place_paid(o commerce.orders_row) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE i commerce.play_instance_row; v_play text;
BEGIN
    UPDATE commerce.play_participant SET status = 'joined'
     WHERE tenant_id = o.tenant_id AND instance_id = o.source_instance_id AND order_id = o.order_id
       AND status = 'held';
    IF NOT FOUND THEN
        RETURN;      -- not a held place (paid at once, a flash sale, a bargain)
    END IF;
    -- NO KEY UPDATE: queues with joiners' conditional updates only, not their KEY SHARE
    SELECT * INTO i FROM commerce.play_instance
     WHERE tenant_id = o.tenant_id AND instance_id = o.source_instance_id FOR NO KEY UPDATE;
    SELECT c.code INTO v_play FROM commerce.play_config c WHERE c.tenant_id = i.tenant_id AND c.config_id = i.config_id;
    PERFORM commerce._group_complete(i, v_play);
END $$;

-- A held place's order was cancelled unpaid (orders trigger): the place is given back.
CREATE FUNCTION commerce._group_place_lapsed(o commerce.orders_row) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM commerce.play_participant
     WHERE tenant_id = o.tenant_id AND instance_id = o.source_instance_id AND order_id = o.order_id
       AND status = 'held';
    IF FOUND THEN
        UPDATE commerce.play_instance SET current = current - 1
         WHERE tenant_id = o.tenant_id AND instance_id = o.source_instance_id AND status = 'active';
    END IF;
END $$;
COMMENT ON FUNCTION commerce.join_group(bigint, text, text, text, text, bigint, text, text, text) IS
  'Group buy (M3): open a group (no instance: the customer leads it) or join one at the play price, paid at once (p_payment_id) or held until its order is paid (no p_payment_id: outcome held or opened_held; the order''s pay deadline is the group''s deadline at the latest, a held place counts toward the target, the group succeeds only when every place is paid, and an order cancelled unpaid gives its place back); the order takes a unit of the play''s stock and carries the instance. Joiners of one group share its row (KEY SHARE) while they order and pay, and take their place at the end by a conditional update (status active, current below target, before the deadline), so a group never has more than its target and a join that loses the race rolls back whole; the member that completes it makes it a success and issues every member''s asset. Refused: a closed or not running play (PT409), a group that is not active (PT409), past its deadline (PT410), full (PT409), a second place (PT409), and the eligibility rules checked in C (PT403 blacklist or new customers only, PT409 limit or mutex, PT429 rates). IP and device feed the blacklist and the per-IP rate. Idempotent by request_id.';
