-- sql/src/inventory/stock.sql: receipts, adjustments, stock-takes, stock
-- policy, and the slot helpers they share.

-- The root pool of a SKU (and warehouse), created with its slots if asked.
-- Pool rows are not locked here: the global lock order is a pool's slots
-- (in slot order), then its pool row, pools in pool_id order.
CREATE FUNCTION commerce._root_pool(p_tenant bigint, p_sku text, p_warehouse text,
                                    p_create boolean)
RETURNS commerce.stock_pool_row LANGUAGE plpgsql AS $$
DECLARE
    t commerce.tenant_row;
    v_sku bigint;
    v_wh bigint;
    p commerce.stock_pool_row;
    n integer;
BEGIN
    t := commerce._tenant(p_tenant);
    PERFORM commerce._require(p_sku, 'p_sku');
    SELECT sku_id INTO v_sku FROM commerce.sku WHERE tenant_id = p_tenant AND code = p_sku;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('SKU', p_sku, p_tenant);
    END IF;
    IF p_warehouse IS NULL THEN
        SELECT count(*) INTO n FROM commerce.stock_pool
         WHERE tenant_id = p_tenant AND sku_id = v_sku AND parent_pool_id IS NULL;
        IF n > 1 THEN
            PERFORM commerce._invalid('p_warehouse',
                format('SKU "%s" is stocked in %s warehouses.', p_sku, n),
                'Name the warehouse.');
        ELSIF n = 1 THEN
            SELECT * INTO p FROM commerce.stock_pool
             WHERE tenant_id = p_tenant AND sku_id = v_sku AND parent_pool_id IS NULL;
            RETURN p;
        END IF;
        SELECT warehouse_id INTO v_wh FROM commerce.warehouse
         WHERE tenant_id = p_tenant AND code = 'main';
        IF NOT FOUND THEN
            PERFORM commerce._not_found('warehouse', 'main', p_tenant);
        END IF;
    ELSE
        SELECT warehouse_id INTO v_wh FROM commerce.warehouse
         WHERE tenant_id = p_tenant AND code = p_warehouse;
        IF NOT FOUND THEN
            PERFORM commerce._not_found('warehouse', p_warehouse, p_tenant);
        END IF;
    END IF;
    SELECT * INTO p FROM commerce.stock_pool
     WHERE tenant_id = p_tenant AND sku_id = v_sku AND warehouse_id = v_wh
       AND parent_pool_id IS NULL;
    IF FOUND OR NOT p_create THEN
        IF NOT FOUND THEN
            PERFORM commerce._not_found('stock pool', p_sku || '@' || coalesce(p_warehouse, 'main'),
                                        p_tenant);
        END IF;
        RETURN p;
    END IF;
    INSERT INTO commerce.stock_pool (tenant_id, sku_id, warehouse_id, slot_count, created_at)
    VALUES (p_tenant, v_sku, v_wh, t.default_slots, commerce.now())
    ON CONFLICT DO NOTHING
    RETURNING * INTO p;
    IF p.pool_id IS NULL THEN
        SELECT * INTO p FROM commerce.stock_pool
         WHERE tenant_id = p_tenant AND sku_id = v_sku AND warehouse_id = v_wh
           AND parent_pool_id IS NULL;
    ELSE
        INSERT INTO commerce.stock_slot (tenant_id, pool_id, slot_no)
        SELECT p_tenant, p.pool_id, g FROM generate_series(0, p.slot_count - 1) g;
    END IF;
    RETURN p;
END $$;

-- Add p_qty units to a pool, spread evenly over its slots (locked in order).
CREATE FUNCTION commerce._slots_add(p_tenant bigint, p_pool bigint, p_qty bigint)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE n integer;
BEGIN
    PERFORM 1 FROM commerce.stock_slot
     WHERE tenant_id = p_tenant AND pool_id = p_pool ORDER BY slot_no FOR UPDATE;
    SELECT count(*) INTO n FROM commerce.stock_slot WHERE tenant_id = p_tenant AND pool_id = p_pool;
    UPDATE commerce.stock_slot
       SET on_hand = on_hand + p_qty / n + CASE WHEN slot_no < p_qty % n THEN 1 ELSE 0 END
     WHERE tenant_id = p_tenant AND pool_id = p_pool;
END $$;

-- Take p_qty available units out of a pool's slots (locked in order); PT409 if short.
CREATE FUNCTION commerce._slots_take(p_tenant bigint, p_pool bigint, p_qty bigint, p_what text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE s record; v_left bigint := p_qty; v_avail bigint; v_take bigint;
BEGIN
    SELECT sum(on_hand - reserved - sold) INTO v_avail FROM (
        SELECT * FROM commerce.stock_slot
         WHERE tenant_id = p_tenant AND pool_id = p_pool ORDER BY slot_no FOR UPDATE) x;
    IF coalesce(v_avail, 0) < p_qty THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('insufficient stock to %s %s units', p_what, p_qty),
            DETAIL  = format('Pool %s has %s units available; the rest is reserved or sold.',
                             p_pool, coalesce(v_avail, 0)),
            HINT    = 'Take no more than the available units, or wait for reservations to end.';
    END IF;
    FOR s IN SELECT slot_no, on_hand - reserved - sold AS avail FROM commerce.stock_slot
              WHERE tenant_id = p_tenant AND pool_id = p_pool ORDER BY slot_no LOOP
        EXIT WHEN v_left = 0;
        v_take := least(v_left, s.avail);
        IF v_take > 0 THEN
            UPDATE commerce.stock_slot SET on_hand = on_hand - v_take
             WHERE tenant_id = p_tenant AND pool_id = p_pool AND slot_no = s.slot_no;
            v_left := v_left - v_take;
        END IF;
    END LOOP;
END $$;

-- Available units of a pool (committed figures, no lock).
CREATE FUNCTION commerce._pool_available(p_tenant bigint, p_pool bigint)
RETURNS bigint LANGUAGE plpgsql STABLE AS $$   -- PL/pgSQL for a plan cached per session
BEGIN
    RETURN (SELECT coalesce(sum(s.on_hand - s.reserved - s.sold), 0)::bigint FROM commerce.stock_slot s
             WHERE s.tenant_id = p_tenant AND s.pool_id = p_pool);
END $$;

-- Re-arm the low-stock alert of a pool once it is back at or above its threshold.
CREATE FUNCTION commerce._low_stock_rearm(p_tenant bigint, p_pool bigint)
RETURNS void LANGUAGE sql AS $$
    UPDATE commerce.stock_pool SET low_stock_alerted = false
     WHERE tenant_id = p_tenant AND pool_id = p_pool AND low_stock_alerted
       AND commerce._pool_available(p_tenant, p_pool) >= low_stock_threshold;
$$;

-- Receive stock into the root pool of a SKU (creates the pool on first receipt).
CREATE FUNCTION commerce.receive_stock(p_tenant bigint, p_request_id text, p_sku text,
                                       p_qty bigint, p_warehouse text DEFAULT NULL,
                                       p_note text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE p commerce.stock_pool_row; v_seen jsonb;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_qty, 'p_qty');
    IF p_qty <= 0 OR p_qty > 1000000000 THEN
        PERFORM commerce._invalid('p_qty', format('%s units', p_qty),
                                  'Receive between 1 and 1000000000 units; use adjust_stock to correct counts.');
    END IF;
    v_seen := commerce._request_seen(p_tenant, 'receive_stock', p_request_id,
        jsonb_build_object('sku', p_sku, 'qty', p_qty, 'warehouse', p_warehouse));
    IF v_seen IS NOT NULL THEN
        RETURN (v_seen ->> 'pool_id')::bigint;
    END IF;
    p := commerce._root_pool(p_tenant, p_sku, p_warehouse, true);
    PERFORM commerce._slots_add(p_tenant, p.pool_id, p_qty);
    INSERT INTO commerce.stock_movement (tenant_id, pool_id, kind, d_on_hand, request_id, note, created_at)
    VALUES (p_tenant, p.pool_id, 'receive', p_qty, p_request_id, p_note, commerce.now());
    PERFORM commerce._low_stock_rearm(p_tenant, p.pool_id);
    PERFORM commerce._request_done(p_tenant, 'receive_stock', p_request_id,
                                   jsonb_build_object('pool_id', p.pool_id));
    RETURN p.pool_id;
END $$;
COMMENT ON FUNCTION commerce.receive_stock(bigint, text, text, bigint, text, text) IS
  'Goods received into a warehouse: on_hand grows by p_qty. Idempotent by request_id. Returns the pool.';

-- Adjust on_hand by a signed delta (stock-take corrections, damage, found goods).
CREATE FUNCTION commerce.adjust_stock(p_tenant bigint, p_request_id text, p_sku text,
                                      p_delta bigint, p_warehouse text DEFAULT NULL,
                                      p_note text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE p commerce.stock_pool_row; v_seen jsonb; v_on_hand bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_delta, 'p_delta');
    IF p_delta = 0 OR p_delta NOT BETWEEN -1000000000 AND 1000000000 THEN
        PERFORM commerce._invalid('p_delta', format('%s units', p_delta),
                                  'Adjust by a non-zero amount of at most 1000000000 units.');
    END IF;
    v_seen := commerce._request_seen(p_tenant, 'adjust_stock', p_request_id,
        jsonb_build_object('sku', p_sku, 'delta', p_delta, 'warehouse', p_warehouse));
    IF v_seen IS NOT NULL THEN
        RETURN (v_seen ->> 'on_hand')::bigint;
    END IF;
    p := commerce._root_pool(p_tenant, p_sku, p_warehouse, false);
    IF p_delta > 0 THEN
        PERFORM commerce._slots_add(p_tenant, p.pool_id, p_delta);
    ELSE
        PERFORM commerce._slots_take(p_tenant, p.pool_id, -p_delta, 'remove');
    END IF;
    INSERT INTO commerce.stock_movement (tenant_id, pool_id, kind, d_on_hand, request_id, note, created_at)
    VALUES (p_tenant, p.pool_id, 'adjust', p_delta, p_request_id, p_note, commerce.now());
    PERFORM commerce._low_stock_rearm(p_tenant, p.pool_id);
    SELECT sum(on_hand) INTO v_on_hand FROM commerce.stock_slot
     WHERE tenant_id = p_tenant AND pool_id = p.pool_id;
    PERFORM commerce._request_done(p_tenant, 'adjust_stock', p_request_id,
                                   jsonb_build_object('on_hand', v_on_hand));
    RETURN v_on_hand;
END $$;
COMMENT ON FUNCTION commerce.adjust_stock(bigint, text, text, bigint, text, text) IS
  'Correct on_hand by a signed delta; a decrease can only remove available units (PT409 otherwise). Returns the new on_hand.';

-- Stock-take: set on_hand to the counted figure (an adjust movement by the difference).
CREATE FUNCTION commerce.stock_take(p_tenant bigint, p_request_id text, p_sku text,
                                    p_counted bigint, p_warehouse text DEFAULT NULL,
                                    p_note text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE p commerce.stock_pool_row; v_on_hand bigint; v_seen jsonb;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_counted, 'p_counted');
    IF p_counted < 0 THEN
        PERFORM commerce._invalid('p_counted', format('%s units', p_counted),
                                  'A counted figure is 0 or more.');
    END IF;
    v_seen := commerce._request_seen(p_tenant, 'stock_take', p_request_id,
        jsonb_build_object('sku', p_sku, 'counted', p_counted, 'warehouse', p_warehouse));
    IF v_seen IS NOT NULL THEN
        RETURN (v_seen ->> 'on_hand')::bigint;
    END IF;
    p := commerce._root_pool(p_tenant, p_sku, p_warehouse, false);
    SELECT sum(on_hand) INTO v_on_hand FROM commerce.stock_slot
     WHERE tenant_id = p_tenant AND pool_id = p.pool_id;
    IF p_counted > v_on_hand THEN
        PERFORM commerce._slots_add(p_tenant, p.pool_id, p_counted - v_on_hand);
    ELSIF p_counted < v_on_hand THEN
        PERFORM commerce._slots_take(p_tenant, p.pool_id, v_on_hand - p_counted, 'write off');
    END IF;
    IF p_counted <> v_on_hand THEN
        INSERT INTO commerce.stock_movement (tenant_id, pool_id, kind, d_on_hand, request_id, note, created_at)
        VALUES (p_tenant, p.pool_id, 'adjust', p_counted - v_on_hand, p_request_id,
                coalesce(p_note, 'stock-take'), commerce.now());
        PERFORM commerce._low_stock_rearm(p_tenant, p.pool_id);
    END IF;
    PERFORM commerce._request_done(p_tenant, 'stock_take', p_request_id,
                                   jsonb_build_object('on_hand', p_counted));
    RETURN p_counted;
END $$;
COMMENT ON FUNCTION commerce.stock_take(bigint, text, text, bigint, text, text) IS
  'Record a physical count: on_hand becomes p_counted (PT409 if that is below reserved + sold).';

-- Set a pool's low-stock threshold and/or grow its slot count (hot SKUs).
CREATE FUNCTION commerce.set_stock_policy(p_tenant bigint, p_sku text,
                                          p_low_stock_threshold bigint DEFAULT NULL,
                                          p_slots integer DEFAULT NULL,
                                          p_warehouse text DEFAULT NULL)
RETURNS commerce.stock_pool_row LANGUAGE plpgsql AS $$
DECLARE p commerce.stock_pool_row;
BEGIN
    IF p_low_stock_threshold < 0 THEN
        PERFORM commerce._invalid('p_low_stock_threshold', format('%s units', p_low_stock_threshold),
                                  'A threshold is 0 (no alert) or more.');
    END IF;
    IF p_slots IS NOT NULL AND p_slots NOT BETWEEN 1 AND 256 THEN
        PERFORM commerce._invalid('p_slots', format('%s slots', p_slots),
                                  'Use 1 to 256 slots; about 2 per concurrent buyer connection is plenty.');
    END IF;
    p := commerce._root_pool(p_tenant, p_sku, p_warehouse, true);
    IF p_slots IS NOT NULL AND p_slots < p.slot_count THEN
        PERFORM commerce._invalid('p_slots',
            format('Pool %s has %s slots; slots can be added, not removed.', p.pool_id, p.slot_count),
            'Reservations refer to their slot; pass a larger number or leave p_slots NULL.');
    END IF;
    IF p_slots > p.slot_count THEN
        INSERT INTO commerce.stock_slot (tenant_id, pool_id, slot_no)
        SELECT p_tenant, p.pool_id, g FROM generate_series(p.slot_count, p_slots - 1) g
        ON CONFLICT DO NOTHING;
    END IF;
    UPDATE commerce.stock_pool
       SET low_stock_threshold = coalesce(p_low_stock_threshold, low_stock_threshold),
           slot_count = coalesce(p_slots, slot_count)
     WHERE tenant_id = p_tenant AND pool_id = p.pool_id
    RETURNING * INTO p;
    PERFORM commerce._low_stock_rearm(p_tenant, p.pool_id);
    RETURN p;
END $$;
