-- sql/src/plays/bargain.sql: bargains: start, help, buy.

-- The result row of a bargain.
CREATE FUNCTION commerce._bargain_result(i commerce.play_instance_row, p_outcome text) RETURNS commerce.bargain_result
LANGUAGE sql STABLE AS $$
    SELECT ROW(i.instance_id, i.status, i.current, i.target, i.price_fen,
               (SELECT (c.rules ->> 'floor_fen')::bigint FROM commerce.play_config c
                 WHERE c.tenant_id = i.tenant_id AND c.config_id = i.config_id),
               i.deadline, p_outcome)::commerce.bargain_result;
$$;

-- A customer starts a bargain on a play: the price starts at the play price.
CREATE FUNCTION commerce.start_bargain(p_tenant bigint, p_request_id text, p_config text, p_customer text,
                                       p_ip text DEFAULT NULL, p_device text DEFAULT NULL)
RETURNS commerce.bargain_result LANGUAGE plpgsql AS $$
DECLARE c commerce.play_config_row; cu commerce.customer; i commerce.play_instance_row;
        v_now timestamptz := commerce.now(); v_floor bigint; v_cut bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_config, 'p_config');
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    SELECT * INTO i FROM commerce.play_instance WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF FOUND THEN
        RETURN commerce._bargain_result(i, 'repeated');
    END IF;
    c := commerce._play_of_kind(p_tenant, p_config, ARRAY['bargain'], 'Start bargains on bargain plays only.');
    SELECT * INTO cu FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    PERFORM commerce._require_play_open(c, v_now, 'Start a bargain on a play that is open now.');
    PERFORM commerce._play_admit(p_tenant, c.config_id, cu.customer_id, 'start', p_ip, p_device);
    -- one running bargain per customer and play (checked under the customer's lock taken by _play_admit
    -- when the play has limits; the unique request_id covers retries)
    IF EXISTS (SELECT 1 FROM commerce.play_instance
                WHERE tenant_id = p_tenant AND config_id = c.config_id AND leader_customer_id = cu.customer_id
                  AND status IN ('pending', 'active')) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('customer "%s" already has a running bargain on play "%s"', p_customer, p_config),
            HINT    = 'Share the running bargain, or wait until it ends.';
    END IF;
    v_floor := (c.rules ->> 'floor_fen')::bigint;
    v_cut := (c.rules ->> 'cut_fen')::bigint;
    INSERT INTO commerce.play_instance (tenant_id, config_id, leader_customer_id, status, current, target, deadline,
                                        created_at, request_id, price_fen)
    VALUES (p_tenant, c.config_id, cu.customer_id, 'active', 0,
            ((c.price_fen - v_floor) + v_cut - 1) / v_cut,
            least(v_now + make_interval(hours => coalesce((c.rules ->> 'hours')::integer, 24)), c.ends_at),
            v_now, p_request_id, c.price_fen)
    RETURNING * INTO i;
    RETURN commerce._bargain_result(i, 'started');
END $$;
COMMENT ON FUNCTION commerce.start_bargain(bigint, text, text, text, text, text) IS
  'Bargain (M3): the customer starts a bargain at the play price; helpers cut it by the rule''s cut_fen until floor_fen, within the rule''s hours (and the play''s window). helps_needed = ceil((price - floor) / cut). One running bargain per customer and play (PT409); the eligibility rules apply. Idempotent by request_id.';

-- A helper cuts a bargain's price by one step.
CREATE FUNCTION commerce.help_bargain(p_tenant bigint, p_request_id text, p_instance bigint, p_helper text,
                                      p_ip text DEFAULT NULL, p_device text DEFAULT NULL)
RETURNS commerce.bargain_result LANGUAGE plpgsql AS $$
DECLARE i commerce.play_instance_row; c commerce.play_config_row; cu commerce.customer; h commerce.play_help;
        v_now timestamptz := commerce.now(); v_cut bigint; v_floor bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_instance, 'p_instance');
    PERFORM commerce._require(p_helper, 'p_helper');
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    SELECT * INTO cu FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_helper;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_helper, p_tenant);
    END IF;
    -- the bargain's row orders its helpers
    SELECT * INTO i FROM commerce.play_instance WHERE tenant_id = p_tenant AND instance_id = p_instance FOR UPDATE;
    IF NOT FOUND OR i.price_fen IS NULL THEN
        PERFORM commerce._not_found('bargain', p_instance::text, p_tenant);
    END IF;
    SELECT * INTO h FROM commerce.play_help WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF FOUND THEN
        IF h.instance_id <> p_instance OR h.helper_id <> cu.customer_id THEN
            RAISE EXCEPTION USING ERRCODE = '23505',
                MESSAGE = format('request_id "%s" was already used for another help', p_request_id),
                HINT = 'Use a new request_id for a new help.';
        END IF;
        RETURN commerce._bargain_result(i, 'repeated');
    END IF;
    IF i.status <> 'active' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('bargain %s is %s', p_instance,
                             CASE i.status WHEN 'success' THEN 'already at its floor' ELSE i.status END),
            HINT    = 'Help a bargain that is still running.';
    END IF;
    IF v_now >= i.deadline THEN
        RAISE EXCEPTION USING ERRCODE = 'PT410',
            MESSAGE = format('bargain %s has expired', p_instance),
            DETAIL  = format('Its deadline was %s.', i.deadline),
            HINT    = 'Help a bargain that is still running.';
    END IF;
    IF cu.customer_id = i.leader_customer_id THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('customer "%s" cannot help their own bargain', p_helper),
            HINT    = 'Ask friends to help.';
    END IF;
    IF EXISTS (SELECT 1 FROM commerce.play_help
                WHERE tenant_id = p_tenant AND instance_id = p_instance AND helper_id = cu.customer_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('customer "%s" has already helped bargain %s', p_helper, p_instance),
            HINT    = 'One cut per helper and bargain.';
    END IF;
    SELECT * INTO c FROM commerce.play_config WHERE tenant_id = p_tenant AND config_id = i.config_id;
    PERFORM commerce._play_admit(p_tenant, c.config_id, cu.customer_id, 'help', p_ip, p_device);
    v_floor := (c.rules ->> 'floor_fen')::bigint;
    v_cut := least((c.rules ->> 'cut_fen')::bigint, i.price_fen - v_floor);
    INSERT INTO commerce.play_help (tenant_id, instance_id, helper_id, request_id, cut_fen, price_after, helped_at)
    VALUES (p_tenant, p_instance, cu.customer_id, p_request_id, v_cut, i.price_fen - v_cut, v_now);
    UPDATE commerce.play_instance SET current = current + 1, price_fen = price_fen - v_cut
     WHERE tenant_id = p_tenant AND instance_id = p_instance RETURNING * INTO i;
    IF i.price_fen = v_floor THEN
        UPDATE commerce.play_instance SET status = 'success', ended_at = v_now
         WHERE tenant_id = p_tenant AND instance_id = p_instance RETURNING * INTO i;
        PERFORM commerce.enqueue(p_tenant, 'play.bargain_succeeded',
            jsonb_build_object('instance_id', i.instance_id, 'play', c.code, 'price_fen', i.price_fen,
                               'helps', i.current), 'bargain:' || i.instance_id);
        RETURN commerce._bargain_result(i, 'succeeded');
    END IF;
    RETURN commerce._bargain_result(i, 'cut');
END $$;
COMMENT ON FUNCTION commerce.help_bargain(bigint, text, bigint, text, text, text) IS
  'A helper cuts a bargain''s price by the rule''s cut_fen (the last cut stops at floor_fen); the cut that reaches the floor makes the bargain a success. Helps of one bargain are serialized on its row. Refused: not running (PT409), past its deadline (PT410), the owner helping (PT409), a second help (PT409), the eligibility rules (PT403, PT429, ...). Idempotent by request_id.';

-- The owner of a successful bargain buys at the floor price.
CREATE FUNCTION commerce.buy_bargain(p_tenant bigint, p_request_id text, p_instance bigint, p_customer text,
                                     p_channel text DEFAULT 'wechat_mp', p_ip text DEFAULT NULL,
                                     p_device text DEFAULT NULL, p_receiver jsonb DEFAULT NULL)
RETURNS commerce.order_result LANGUAGE plpgsql AS $$
DECLARE i commerce.play_instance_row; c commerce.play_config_row; cu commerce.customer; sk commerce.sku; o commerce.orders_row;
        v_list bigint; v_doc jsonb; r commerce.order_result; v_now timestamptz := commerce.now();
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_instance, 'p_instance');
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._require(p_channel, 'p_channel');
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND request_id = 'play:' || p_request_id;
    IF FOUND THEN
        RETURN commerce._order_result(o, 'existing');
    END IF;
    SELECT * INTO cu FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    SELECT * INTO i FROM commerce.play_instance WHERE tenant_id = p_tenant AND instance_id = p_instance FOR UPDATE;
    IF NOT FOUND OR i.price_fen IS NULL THEN
        PERFORM commerce._not_found('bargain', p_instance::text, p_tenant);
    END IF;
    IF i.leader_customer_id <> cu.customer_id THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('bargain %s is not customer "%s"''s', p_instance, p_customer),
            HINT    = 'Only the customer who started a bargain buys it.';
    END IF;
    IF EXISTS (SELECT 1 FROM commerce.play_participant WHERE tenant_id = p_tenant AND instance_id = p_instance) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('bargain %s was already bought', p_instance),
            HINT    = 'A bargain is bought once.';
    END IF;
    IF i.status = 'failed' OR v_now >= i.deadline THEN
        RAISE EXCEPTION USING ERRCODE = 'PT410',
            MESSAGE = format('bargain %s has expired', p_instance),
            DETAIL  = format('Its deadline was %s.', i.deadline),
            HINT    = 'Start a new bargain.';
    END IF;
    IF i.status <> 'success' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('bargain %s has not reached its floor', p_instance),
            DETAIL  = format('%s of %s helps; the price is %s fen.', i.current, i.target, i.price_fen),
            HINT    = 'Ask more friends to help before the deadline.';
    END IF;
    SELECT * INTO c FROM commerce.play_config WHERE tenant_id = p_tenant AND config_id = i.config_id;
    PERFORM commerce._play_admit(p_tenant, c.config_id, cu.customer_id, 'buy', p_ip, p_device);
    SELECT * INTO sk FROM commerce.sku WHERE tenant_id = p_tenant AND sku_id = c.sku_id;
    v_list := (commerce.resolve_price(p_tenant, sk.code, p_channel, cu.member_tier)).price_fen;
    v_doc := jsonb_build_object('lines', jsonb_build_array(jsonb_build_object('sku', sk.code, 'qty', 1)),
                                'activity', c.activity, 'source_instance_id', i.instance_id,
                                'discount_fen', greatest(v_list - i.price_fen, 0));
    IF p_receiver IS NOT NULL THEN
        v_doc := v_doc || jsonb_build_object('receiver', p_receiver);
    END IF;
    r := commerce.place_order(p_tenant, 'play:' || p_request_id, p_channel, v_doc, p_customer);
    INSERT INTO commerce.play_participant (tenant_id, instance_id, customer_id, request_id, role, order_id, joined_at)
    VALUES (p_tenant, i.instance_id, cu.customer_id, p_request_id, 'leader', r.order_id, v_now);
    RETURN r;
END $$;
COMMENT ON FUNCTION commerce.buy_bargain(bigint, text, bigint, text, text, text, text, jsonb) IS
  'The customer who started a bargain buys it at its floor price once it succeeded and before its deadline: an order from the play''s stock, held for the pool''s hold time, paid with commerce.pay_order (the asset is issued then). Refused: not the owner or bought already or not at the floor (PT409), failed or past the deadline (PT410), sold out (PT409). Idempotent by request_id.';
