-- sql/src/plays/flash_sale.sql: flash sales and first-order offers (buy_play).

-- Units left in a play's own pool.
CREATE FUNCTION commerce._play_available(c commerce.play_config_row) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$   -- PL/pgSQL for a plan cached per session
BEGIN
    RETURN (SELECT coalesce(sum(commerce._pool_available(sp.tenant_id, sp.pool_id)), 0)::bigint
              FROM commerce.stock_pool sp
             WHERE sp.tenant_id = c.tenant_id AND sp.activity = c.activity AND sp.sku_id = c.sku_id
               AND sp.status = 'open');
END $$;

-- Buy from a flash sale (or an invite-reward play's offer): the units are held for the play's hold time.
CREATE FUNCTION commerce.buy_play(p_tenant bigint, p_request_id text, p_config text, p_customer text,
                                  p_qty integer DEFAULT 1, p_channel text DEFAULT 'wechat_mp',
                                  p_ip text DEFAULT NULL, p_device text DEFAULT NULL, p_receiver jsonb DEFAULT NULL)
RETURNS commerce.order_result LANGUAGE plpgsql AS $$
DECLARE c commerce.play_config_row; cu commerce.customer; sk commerce.sku; o commerce.orders_row;
        v_list bigint; v_limit integer; v_left bigint; v_now timestamptz := commerce.now(); v_doc jsonb;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_config, 'p_config');
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._require(p_qty, 'p_qty');
    PERFORM commerce._require(p_channel, 'p_channel');
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    -- a retry returns the order (and writes nothing)
    SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND request_id = 'play:' || p_request_id;
    IF FOUND THEN
        RETURN commerce._order_result(o, 'existing');
    END IF;
    c := commerce._play_of_kind(p_tenant, p_config, ARRAY['flash_sale', 'invite_reward'],
                                'Join a group with commerce.join_group; buy a bargain with commerce.buy_bargain.');
    SELECT * INTO cu FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    v_limit := coalesce((c.rules ->> 'per_order_limit')::integer, 1);
    IF p_qty NOT BETWEEN 1 AND v_limit THEN
        PERFORM commerce._invalid('p_qty', format('%s; play "%s" sells 1 to %s per order.', p_qty, p_config, v_limit),
                                  'Buy within the per-order limit.');
    END IF;
    PERFORM commerce._require_play_open(c, v_now, 'Buy from a play that is open now.');
    -- sold out: refused before any lock or write
    v_left := commerce._play_available(c);
    IF v_left < p_qty THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('play "%s" is sold out', p_config),
            DETAIL  = format('%s left, %s asked.', v_left, p_qty),
            HINT    = 'Units held by unpaid orders come back when their hold ends.';
    END IF;
    PERFORM commerce._play_admit(p_tenant, c.config_id, cu.customer_id, 'buy', p_ip, p_device);
    SELECT * INTO sk FROM commerce.sku WHERE tenant_id = p_tenant AND sku_id = c.sku_id;
    v_list := (commerce.resolve_price(p_tenant, sk.code, p_channel, cu.member_tier)).price_fen;
    v_doc := jsonb_build_object('lines', jsonb_build_array(jsonb_build_object('sku', sk.code, 'qty', p_qty)),
                                'activity', c.activity,
                                'discount_fen', greatest(v_list - c.price_fen, 0) * p_qty);
    IF p_receiver IS NOT NULL THEN
        v_doc := v_doc || jsonb_build_object('receiver', p_receiver);
    END IF;
    -- the hold lasts the pool's hold time (a flash sale's hold_minutes): unpaid, the order is cancelled
    RETURN commerce.place_order(p_tenant, 'play:' || p_request_id, p_channel, v_doc, p_customer);
END $$;
COMMENT ON FUNCTION commerce.buy_play(bigint, text, text, text, integer, text, text, text, jsonb) IS
  'Flash sale (M3), or the first-order offer of an invite-reward play: an order at the play price from the play''s own stock, held for the play''s hold time (hold_minutes, 5 by default) and cancelled unless paid by then (commerce.pay_order). Sold out is refused before any lock or write (PT409); the per-order limit (22023); the eligibility rules (PT403 blacklist or new customers only, PT409 limit or mutex, PT429 rates). The asset is issued when the order is paid. Idempotent by request_id (outcome existing).';
