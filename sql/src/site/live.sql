-- sql/src/site/live.sql: live rooms (H3.5.2). A room is a sales channel of
-- its own (its prices are the live-room prices) with an activity stock pool
-- and a floating product list; fans subscribe to its start with a one-time
-- subscription credit, and starting the room sends the "live starting"
-- message to each subscriber that still holds one. A subscription message
-- sent by hand without a credit is refused.

CREATE FUNCTION commerce.upsert_live_room(p_tenant bigint, p_code text, p_title text, p_channel text, p_starts_at timestamptz,
                                          p_ends_at timestamptz, p_activity text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v_channel bigint; r commerce.live_room%ROWTYPE;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_title, 'p_title');
    PERFORM commerce._require(p_channel, 'p_channel');
    PERFORM commerce._require(p_starts_at, 'p_starts_at');
    PERFORM commerce._require(p_ends_at, 'p_ends_at');
    IF p_code !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' THEN
        PERFORM commerce._invalid('p_code', format('code "%s"', left(p_code, 64)), 'A room code is 1 to 63 letters, digits, _ . -.');
    END IF;
    IF length(p_title) NOT BETWEEN 1 AND 200 THEN
        PERFORM commerce._invalid('p_title', format('a title of %s characters', length(p_title)), 'A title of 1 to 200 characters.');
    END IF;
    IF NOT isfinite(p_starts_at) OR NOT isfinite(p_ends_at) OR p_ends_at <= p_starts_at OR p_ends_at - p_starts_at > interval '7 days' THEN
        PERFORM commerce._invalid('p_ends_at', format('%s to %s', p_starts_at, p_ends_at), 'A live room runs for up to 7 days, from before to.');
    END IF;
    IF p_activity IS NOT NULL AND length(p_activity) NOT BETWEEN 1 AND 64 THEN
        PERFORM commerce._invalid('p_activity', format('an activity of %s characters', length(p_activity)), 'Name the activity pool (allocate_stock) in 1 to 64 characters.');
    END IF;
    SELECT c.channel_id INTO v_channel FROM commerce.channel c WHERE c.tenant_id = p_tenant AND c.code = p_channel AND c.active;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('active channel', p_channel, p_tenant);
    END IF;
    SELECT * INTO r FROM commerce.live_room x WHERE x.tenant_id = p_tenant AND x.code = p_code FOR NO KEY UPDATE;
    IF FOUND AND r.status <> 'scheduled' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('live room %s is %s', left(p_code, 64), r.status),
            DETAIL = 'Only a scheduled room is changed.', HINT = 'Create a new room.';
    END IF;
    INSERT INTO commerce.live_room AS x (tenant_id, code, title, channel_id, activity, starts_at, ends_at, created_at)
    VALUES (p_tenant, p_code, p_title, v_channel, p_activity, p_starts_at, p_ends_at, commerce.now())
    ON CONFLICT (tenant_id, code) DO UPDATE
       SET title = EXCLUDED.title, channel_id = EXCLUDED.channel_id, activity = EXCLUDED.activity, starts_at = EXCLUDED.starts_at,
           ends_at = EXCLUDED.ends_at
    RETURNING x.* INTO r;
    RETURN commerce._live_room_json(p_tenant, r.room_id);
END $$;
COMMENT ON FUNCTION commerce.upsert_live_room(bigint, text, text, text, timestamptz, timestamptz, text) IS
  'Create or change a scheduled live room (H3.5.2): its title, the sales channel it sells on (its channel prices are the live-room prices: set_price), its window (up to 7 days) and the activity stock pool it sells from (allocate_stock). PT409 once it started or ended. Returns the room.';

CREATE FUNCTION commerce._live_room_json(p_tenant bigint, p_room bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('room', r.code, 'title', r.title, 'channel', c.code, 'activity', r.activity, 'starts_at', r.starts_at,
                              'ends_at', r.ends_at, 'status', r.status, 'started_at', r.started_at, 'ended_at', r.ended_at,
                              'items', (SELECT count(*) FROM commerce.live_room_item i WHERE i.tenant_id = r.tenant_id AND i.room_id = r.room_id),
                              'subscribers', (SELECT count(*) FROM commerce.live_room_subscriber s WHERE s.tenant_id = r.tenant_id AND s.room_id = r.room_id))
      FROM commerce.live_room r JOIN commerce.channel c ON c.tenant_id = r.tenant_id AND c.channel_id = r.channel_id
     WHERE r.tenant_id = p_tenant AND r.room_id = p_room;
$$;
COMMENT ON FUNCTION commerce._live_room_json(bigint, bigint) IS 'A live room as the API returns it: code, title, channel, activity pool, window, status and times, items and subscribers.';

-- The floating list: the room's SKUs in order, the pinned one first.
CREATE FUNCTION commerce.set_live_room_items(p_tenant bigint, p_room text, p_skus text[], p_pinned text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE r commerce.live_room%ROWTYPE; v_bad text;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_room, 'p_room');
    PERFORM commerce._require(p_skus, 'p_skus');
    SELECT * INTO r FROM commerce.live_room x WHERE x.tenant_id = p_tenant AND x.code = p_room FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('live room', p_room, p_tenant);
    END IF;
    IF r.status = 'ended' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('live room %s ended', left(p_room, 64)), HINT = 'Create a new room.';
    END IF;
    IF cardinality(p_skus) NOT BETWEEN 1 AND 200 OR array_position(p_skus, NULL) IS NOT NULL
       OR (SELECT count(DISTINCT s) FROM unnest(p_skus) s) <> cardinality(p_skus) THEN
        PERFORM commerce._invalid('p_skus', format('%s SKUs', coalesce(cardinality(p_skus), 0)), 'List 1 to 200 distinct SKUs, in the order shown.');
    END IF;
    SELECT s INTO v_bad FROM unnest(p_skus) s
     WHERE NOT EXISTS (SELECT 1 FROM commerce.sku k WHERE k.tenant_id = p_tenant AND k.code = s AND k.active) LIMIT 1;
    IF v_bad IS NOT NULL THEN
        PERFORM commerce._not_found('active SKU', v_bad, p_tenant);
    END IF;
    IF p_pinned IS NOT NULL AND NOT p_pinned = ANY (p_skus) THEN
        PERFORM commerce._invalid('p_pinned', format('"%s" is not in the list', left(p_pinned, 64)), 'Pin one of the listed SKUs.');
    END IF;
    DELETE FROM commerce.live_room_item i WHERE i.tenant_id = p_tenant AND i.room_id = r.room_id;
    INSERT INTO commerce.live_room_item (tenant_id, room_id, sku_id, sort, pinned)
    SELECT p_tenant, r.room_id, k.sku_id, u.ord, u.s = p_pinned
      FROM unnest(p_skus) WITH ORDINALITY u(s, ord) JOIN commerce.sku k ON k.tenant_id = p_tenant AND k.code = u.s;
    RETURN commerce.live_room_products(p_tenant, p_room);
END $$;
COMMENT ON FUNCTION commerce.set_live_room_items(bigint, text, text[], text) IS
  'Set a live room''s floating product list (H3.5.2): 1 to 200 distinct active SKUs in the order shown, optionally the one the host is presenting (pinned, shown first). PT409 once the room ended. Returns the list.';

CREATE FUNCTION commerce.live_room_products(p_tenant bigint, p_room text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE r record;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_room, 'p_room');
    SELECT x.room_id, x.code, x.title, x.status, x.activity, c.code AS channel INTO r
      FROM commerce.live_room x JOIN commerce.channel c ON c.tenant_id = x.tenant_id AND c.channel_id = x.channel_id
     WHERE x.tenant_id = p_tenant AND x.code = p_room;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('live room', p_room, p_tenant);
    END IF;
    RETURN jsonb_build_object('room', r.code, 'title', r.title, 'status', r.status, 'channel', r.channel,
        'products', coalesce((
            SELECT jsonb_agg(jsonb_build_object('sku', k.code, 'name', k.name, 'product', p.code, 'product_name', p.name,
                                                'pinned', i.pinned, 'list_price_fen', k.msrp_fen,
                                                'live_price_fen', (commerce.resolve_price(p_tenant, k.code, r.channel)).price_fen,
                                                'available', (SELECT coalesce(sum(sl.on_hand - sl.reserved - sl.sold), 0)
                                                                FROM commerce.stock_pool sp
                                                                JOIN commerce.stock_slot sl ON sl.tenant_id = sp.tenant_id AND sl.pool_id = sp.pool_id
                                                               WHERE sp.tenant_id = p_tenant AND sp.sku_id = k.sku_id AND sp.status = 'open'
                                                                 AND sp.activity IS NOT DISTINCT FROM r.activity))
                             ORDER BY i.pinned DESC, i.sort)
              FROM commerce.live_room_item i
              JOIN commerce.sku k ON k.tenant_id = i.tenant_id AND k.sku_id = i.sku_id
              JOIN commerce.product p ON p.tenant_id = k.tenant_id AND p.product_id = k.product_id
             WHERE i.tenant_id = p_tenant AND i.room_id = r.room_id AND k.active), '[]'::jsonb));
END $$;
COMMENT ON FUNCTION commerce.live_room_products(bigint, text) IS
  'A live room''s floating product list (H3.5.2), the pinned SKU first then in order: each SKU and product, the list price and the live-room price (the room channel''s price now, resolve_price) and what is available in the room''s activity pool (0 for a SKU the pool holds none of: an order in the room cannot take it; the shared pools when the room has no activity).';

-- A fan subscribes to a room's start: one live_start credit.
CREATE FUNCTION commerce.subscribe_live_room(p_tenant bigint, p_room text, p_customer text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE r commerce.live_room%ROWTYPE; v_customer bigint; v_new boolean; v_credits integer;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_room, 'p_room');
    PERFORM commerce._require(p_customer, 'p_customer');
    -- shared with other fans, exclusive of a start: a subscription lands before the start's loop reads the subscribers, or is refused
    SELECT * INTO r FROM commerce.live_room x WHERE x.tenant_id = p_tenant AND x.code = p_room FOR SHARE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('live room', p_room, p_tenant);
    END IF;
    IF r.status <> 'scheduled' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('live room %s is %s', left(p_room, 64), r.status),
            DETAIL = 'Fans subscribe to a room''s start before it starts.', HINT = 'Join the room instead.';
    END IF;
    SELECT c.customer_id INTO v_customer FROM commerce.customer c WHERE c.tenant_id = p_tenant AND c.code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    INSERT INTO commerce.live_room_subscriber (tenant_id, room_id, customer_id, subscribed_at)
    VALUES (p_tenant, r.room_id, v_customer, commerce.now())
    ON CONFLICT DO NOTHING
    RETURNING true INTO v_new;
    IF coalesce(v_new, false) THEN          -- the fan accepted the one-time subscription: one credit, once per room
        v_credits := commerce.grant_subscription(p_tenant, p_customer, 'live_start', 1);
    ELSE
        SELECT s.credits INTO v_credits FROM commerce.subscription_credit s
         WHERE s.tenant_id = p_tenant AND s.customer_id = v_customer AND s.template = 'live_start';
    END IF;
    RETURN jsonb_build_object('room', r.code, 'subscribed', true, 'new', coalesce(v_new, false), 'live_start_credits', coalesce(v_credits, 0));
END $$;
COMMENT ON FUNCTION commerce.subscribe_live_room(bigint, text, text) IS
  'A fan subscribes to a scheduled live room''s start (H3.5.2): it accepted WeChat''s one-time subscription, so it gets one live_start credit (grant_subscription), once per room (subscribing again changes nothing). PT409 once the room started or ended. Returns whether it was new and the credits held.';

-- Start a room: the "live starting" message to every subscriber who holds a credit.
CREATE FUNCTION commerce.start_live_room(p_tenant bigint, p_room text, p_by text DEFAULT 'operator') RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE r commerce.live_room%ROWTYPE; s record; v_out text; v_now timestamptz := commerce.now();
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_room, 'p_room');
    PERFORM commerce._require(p_by, 'p_by');
    SELECT * INTO r FROM commerce.live_room x WHERE x.tenant_id = p_tenant AND x.code = p_room FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('live room', p_room, p_tenant);
    END IF;
    IF r.status = 'live' THEN
        RETURN commerce._live_room_json(p_tenant, r.room_id) || jsonb_build_object('outcome', 'repeat');
    END IF;
    IF r.status = 'ended' OR v_now >= r.ends_at THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('live room %s is over', left(p_room, 64)),
            DETAIL = format('It %s.', CASE WHEN r.status = 'ended' THEN 'ended' ELSE 'was to end at ' || r.ends_at END),
            HINT = 'Create a new room.';
    END IF;
    UPDATE commerce.live_room x SET status = 'live', started_at = v_now WHERE x.tenant_id = p_tenant AND x.room_id = r.room_id;
    -- each subscriber once, in key order (their credit rows are locked in that order)
    FOR s IN SELECT x.customer_id FROM commerce.live_room_subscriber x
              WHERE x.tenant_id = p_tenant AND x.room_id = r.room_id AND x.notified_at IS NULL ORDER BY x.customer_id LOOP
        v_out := commerce.notify_subscriber(p_tenant, s.customer_id, 'live_start',
                     jsonb_build_object('room', r.code, 'title', r.title, 'starts_at', r.starts_at), 'live:' || r.room_id || ':' || s.customer_id);
        UPDATE commerce.live_room_subscriber x SET outcome = v_out, notified_at = v_now
         WHERE x.tenant_id = p_tenant AND x.room_id = r.room_id AND x.customer_id = s.customer_id;
    END LOOP;
    RETURN commerce._live_room_json(p_tenant, r.room_id)
        || (SELECT jsonb_build_object('queued', count(*) FILTER (WHERE x.outcome = 'queued'), 'no_credit', count(*) FILTER (WHERE x.outcome = 'no_credit'))
              FROM commerce.live_room_subscriber x WHERE x.tenant_id = p_tenant AND x.room_id = r.room_id)
        || jsonb_build_object('outcome', 'started');
END $$;
COMMENT ON FUNCTION commerce.start_live_room(bigint, text, text) IS
  'Start a live room (H3.5.2): it goes live and every subscriber gets the "live starting" subscription message (mp.subscribe_message, template live_start) once, using its credit; a subscriber whose credit was used meanwhile gets nothing (no_credit: the gateway would refuse it). Starting again is a no-op (outcome repeat); PT409 after it ended or its window passed. Returns the room with the counts queued and no_credit.';

CREATE FUNCTION commerce.end_live_room(p_tenant bigint, p_room text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE r commerce.live_room%ROWTYPE;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_room, 'p_room');
    SELECT * INTO r FROM commerce.live_room x WHERE x.tenant_id = p_tenant AND x.code = p_room FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('live room', p_room, p_tenant);
    END IF;
    IF r.status <> 'ended' THEN
        UPDATE commerce.live_room x SET status = 'ended', ended_at = commerce.now() WHERE x.tenant_id = p_tenant AND x.room_id = r.room_id;
    END IF;
    RETURN commerce._live_room_json(p_tenant, r.room_id);
END $$;
COMMENT ON FUNCTION commerce.end_live_room(bigint, text) IS
  'End a live room (H3.5.2; again: no change): its floating list stays readable; pages can no longer be published with it.';

-- A subscription message sent by hand: refused without a credit instead of failing at the gateway.
CREATE FUNCTION commerce.send_subscription_message(p_tenant bigint, p_customer text, p_template text, p_data jsonb, p_key text)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v_customer bigint; v_out text;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._require(p_template, 'p_template');
    PERFORM commerce._require(p_data, 'p_data');
    PERFORM commerce._request_key(p_key, 'p_key');
    IF p_template NOT IN ('coupon_arrived', 'shipped', 'live_start') THEN
        PERFORM commerce._invalid('p_template', format('"%s"', left(p_template, 64)), 'Templates: coupon_arrived, shipped, live_start.');
    END IF;
    IF jsonb_typeof(p_data) <> 'object' THEN
        PERFORM commerce._invalid('p_data', left(p_data::text, 64), 'The template''s data is an object.');
    END IF;
    SELECT c.customer_id INTO v_customer FROM commerce.customer c WHERE c.tenant_id = p_tenant AND c.code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    v_out := commerce.notify_subscriber(p_tenant, v_customer, p_template, p_data, 'manual:' || p_key);
    IF v_out = 'no_credit' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('customer %s holds no %s subscription credit', left(p_customer, 64), p_template),
            DETAIL = 'WeChat sends one message per accepted one-time subscription; this customer has used every one it accepted.',
            HINT = 'Ask the customer to subscribe again (the mini-program''s subscription prompt), or reach it on another channel.';
    END IF;
    RETURN jsonb_build_object('customer', p_customer, 'template', p_template, 'outcome', v_out,
                              'credits_left', (SELECT s.credits FROM commerce.subscription_credit s
                                                WHERE s.tenant_id = p_tenant AND s.customer_id = v_customer AND s.template = p_template));
END $$;
COMMENT ON FUNCTION commerce.send_subscription_message(bigint, text, text, jsonb, text) IS
  'Send one mini-program subscription message by hand (H3.5.2: live starting, shipped, coupon arrived), once per key: it uses one of the customer''s credits for the template; without one it is refused here (PT409) instead of failing at the gateway. The same key again is a no-op (outcome existing). Returns the outcome and the credits left.';
