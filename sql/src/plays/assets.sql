-- sql/src/plays/assets.sql: consumption of user assets (course hours, service
-- hours, goods).

-- Consume (核销) part of an asset at a store.
CREATE FUNCTION commerce.consume_asset(p_tenant bigint, p_request_id text, p_asset bigint, p_amount bigint,
                                       p_store text, p_operator text)
RETURNS commerce.user_asset_row LANGUAGE plpgsql AS $$
DECLARE a commerce.user_asset_row; st commerce.store; l commerce.consumption_log; o commerce.orders_row;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_asset, 'p_asset');
    PERFORM commerce._require(p_amount, 'p_amount');
    PERFORM commerce._require(p_store, 'p_store');
    PERFORM commerce._require(p_operator, 'p_operator');
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    SELECT * INTO st FROM commerce.store WHERE tenant_id = p_tenant AND code = p_store;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('store', p_store, p_tenant);
    END IF;
    -- the asset row orders every consumption of it
    SELECT * INTO a FROM commerce.user_asset WHERE tenant_id = p_tenant AND asset_id = p_asset FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('asset', p_asset::text, p_tenant);
    END IF;
    SELECT * INTO l FROM commerce.consumption_log WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF FOUND THEN
        IF l.asset_id <> p_asset OR l.amount <> p_amount THEN
            RAISE EXCEPTION USING ERRCODE = '23505',
                MESSAGE = format('request_id "%s" was already used for another consumption', p_request_id),
                HINT = 'Use a new request_id for a new consumption.';
        END IF;
        RETURN a;
    END IF;
    IF p_amount <= 0 THEN
        PERFORM commerce._invalid('p_amount', format('%s', p_amount), 'Consume 1 or more units.');
    END IF;
    IF p_amount > a.remaining THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('asset %s has %s %s left, not %s', p_asset, a.remaining, a.unit_name, p_amount),
            DETAIL  = format('%s of %s %s consumed.', a.total - a.remaining, a.total, a.unit_name),
            HINT    = 'Consume at most what is left.';
    END IF;
    UPDATE commerce.user_asset SET remaining = remaining - p_amount
     WHERE tenant_id = p_tenant AND asset_id = p_asset RETURNING * INTO a;
    INSERT INTO commerce.consumption_log (tenant_id, request_id, asset_id, amount, store_id, operator,
                                          source_activity, consumed_at)
    VALUES (p_tenant, p_request_id, p_asset, p_amount, st.store_id, p_operator, a.source_activity, commerce.now());
    -- the first consumption redeems the order (an attributed order earns its KOC commission)
    SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND order_id = a.order_id;
    IF o.status IN ('paid', 'shipped') THEN
        PERFORM commerce.complete_order(p_tenant, a.order_id);
    END IF;
    RETURN a;
END $$;
COMMENT ON FUNCTION commerce.consume_asset(bigint, text, bigint, bigint, text, text) IS
  'Consume (核销) units of an asset at a store by an operator (M2.2): never below zero (PT409, under the asset row lock), logged with the activity the asset came from; the first consumption completes the order, so an attributed order earns its KOC commission. Idempotent by request_id.';
