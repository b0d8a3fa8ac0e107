-- sql/src/inventory/allocation.sql: pre-allocation of stock to activities
-- (flash sales, live rooms, plays) and its return.

-- Pre-allocate p_qty units of a SKU to an activity pool (flash sale, live room, play).
CREATE FUNCTION commerce.allocate_stock(p_tenant bigint, p_request_id text, p_activity text,
                                        p_activity_kind text, p_sku text, p_qty bigint,
                                        p_warehouse text DEFAULT NULL,
                                        p_hold interval DEFAULT NULL,
                                        p_slots integer DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    t commerce.tenant_row; root commerce.stock_pool_row; child commerce.stock_pool_row; v_seen jsonb;
BEGIN
    t := commerce._tenant(p_tenant);
    PERFORM commerce._require(p_activity, 'p_activity');
    PERFORM commerce._require(p_activity_kind, 'p_activity_kind');
    PERFORM commerce._require(p_qty, 'p_qty');
    IF p_activity_kind NOT IN ('flash_sale', 'live_room', 'play') THEN
        PERFORM commerce._invalid('p_activity_kind', format('"%s"', p_activity_kind),
                                  'Use flash_sale, live_room or play.');
    END IF;
    IF p_qty <= 0 OR p_qty > 1000000000 THEN
        PERFORM commerce._invalid('p_qty', format('%s units', p_qty),
                                  'Allocate between 1 and 1000000000 units.');
    END IF;
    IF p_hold <= '0'::interval OR p_hold > t.max_hold THEN
        PERFORM commerce._invalid('p_hold', format('hold %s', p_hold),
                                  format('A hold is positive and at most the tenant''s max_hold (%s).', t.max_hold));
    END IF;
    IF p_slots NOT BETWEEN 1 AND 256 THEN
        PERFORM commerce._invalid('p_slots', format('%s slots', p_slots), 'Use 1 to 256 slots.');
    END IF;
    v_seen := commerce._request_seen(p_tenant, 'allocate_stock', p_request_id,
        jsonb_build_object('activity', p_activity, 'kind', p_activity_kind, 'sku', p_sku,
                           'qty', p_qty, 'warehouse', p_warehouse));
    IF v_seen IS NOT NULL THEN
        RETURN (v_seen ->> 'pool_id')::bigint;
    END IF;
    root := commerce._root_pool(p_tenant, p_sku, p_warehouse, false);
    -- lock order: root pool slots, then the activity pool's (created after the root)
    PERFORM commerce._slots_take(p_tenant, root.pool_id, p_qty, 'allocate');
    SELECT * INTO child FROM commerce.stock_pool
     WHERE tenant_id = p_tenant AND activity = p_activity AND sku_id = root.sku_id;
    IF FOUND AND (child.status <> 'open' OR child.parent_pool_id <> root.pool_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('activity "%s" already has a pool for SKU "%s" (status %s)', p_activity,
                             p_sku, child.status),
            DETAIL  = format('Pool %s, parent %s.', child.pool_id, child.parent_pool_id),
            HINT    = 'Use a new activity name; a closed activity pool is not reopened.';
    ELSIF NOT FOUND THEN
        INSERT INTO commerce.stock_pool (tenant_id, sku_id, warehouse_id, parent_pool_id, activity,
                                         activity_kind, hold, slot_count, created_at)
        VALUES (p_tenant, root.sku_id, root.warehouse_id, root.pool_id, p_activity, p_activity_kind,
                coalesce(p_hold, CASE p_activity_kind WHEN 'flash_sale' THEN t.flash_hold END),
                coalesce(p_slots, greatest(t.default_slots, 16)), commerce.now())
        ON CONFLICT DO NOTHING
        RETURNING * INTO child;
        IF child.pool_id IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409',
                MESSAGE = format('activity "%s" is being given stock of SKU "%s" by another call',
                                 p_activity, p_sku),
                HINT    = 'Retry: the other allocation has created the activity pool.';
        END IF;
        INSERT INTO commerce.stock_slot (tenant_id, pool_id, slot_no)
        SELECT p_tenant, child.pool_id, g FROM generate_series(0, child.slot_count - 1) g;
    END IF;
    PERFORM commerce._slots_add(p_tenant, child.pool_id, p_qty);
    INSERT INTO commerce.stock_movement (tenant_id, pool_id, kind, d_on_hand, request_id, note, created_at)
    VALUES (p_tenant, root.pool_id, 'allocate', -p_qty, p_request_id, p_activity, commerce.now()),
           (p_tenant, child.pool_id, 'allocate', p_qty, p_request_id, p_activity, commerce.now());
    PERFORM commerce._request_done(p_tenant, 'allocate_stock', p_request_id,
                                   jsonb_build_object('pool_id', child.pool_id));
    RETURN child.pool_id;
END $$;
COMMENT ON FUNCTION commerce.allocate_stock(bigint, text, text, text, text, bigint, text, interval, integer) IS
  'Set p_qty available units of a SKU aside for an activity; reservations that name the activity draw from it. Returns the activity pool.';

-- Close an activity pool (if p_close) and move what is available in it back
-- to its root pool. Locks root slots, then the activity pool's slots, then
-- the activity pool row: the global lock order.
CREATE FUNCTION commerce._return_to_root(p_tenant bigint, p_pool bigint, p_request_id text,
                                         p_close boolean)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE c commerce.stock_pool_row; v_avail bigint;
BEGIN
    SELECT * INTO c FROM commerce.stock_pool WHERE tenant_id = p_tenant AND pool_id = p_pool;
    PERFORM 1 FROM commerce.stock_slot
     WHERE tenant_id = p_tenant AND pool_id = c.parent_pool_id ORDER BY slot_no FOR UPDATE;
    PERFORM 1 FROM commerce.stock_slot
     WHERE tenant_id = p_tenant AND pool_id = c.pool_id ORDER BY slot_no FOR UPDATE;
    IF p_close THEN
        UPDATE commerce.stock_pool SET status = 'closed', closed_at = commerce.now()
         WHERE tenant_id = p_tenant AND pool_id = c.pool_id AND status = 'open';
    END IF;
    v_avail := commerce._pool_available(p_tenant, c.pool_id);
    IF v_avail > 0 THEN
        UPDATE commerce.stock_slot SET on_hand = reserved + sold
         WHERE tenant_id = p_tenant AND pool_id = c.pool_id AND on_hand > reserved + sold;
        PERFORM commerce._slots_add(p_tenant, c.parent_pool_id, v_avail);
        INSERT INTO commerce.stock_movement (tenant_id, pool_id, kind, d_on_hand, request_id, note, created_at)
        VALUES (p_tenant, c.pool_id, 'deallocate', -v_avail, p_request_id, c.activity, commerce.now()),
               (p_tenant, c.parent_pool_id, 'deallocate', v_avail, p_request_id, c.activity, commerce.now());
        PERFORM commerce._low_stock_rearm(p_tenant, c.parent_pool_id);
    END IF;
    RETURN v_avail;
END $$;

-- End an activity: close its pools and return what is left to the root pools.
CREATE FUNCTION commerce.end_allocation(p_tenant bigint, p_request_id text, p_activity text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE c record; v_total bigint := 0; v_seen jsonb;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_activity, 'p_activity');
    v_seen := commerce._request_seen(p_tenant, 'end_allocation', p_request_id,
                                     jsonb_build_object('activity', p_activity));
    IF v_seen IS NOT NULL THEN
        RETURN (v_seen ->> 'returned')::bigint;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM commerce.stock_pool
                    WHERE tenant_id = p_tenant AND activity = p_activity) THEN
        PERFORM commerce._not_found('activity', p_activity, p_tenant);
    END IF;
    FOR c IN SELECT pool_id FROM commerce.stock_pool
              WHERE tenant_id = p_tenant AND activity = p_activity ORDER BY pool_id LOOP
        v_total := v_total + commerce._return_to_root(p_tenant, c.pool_id, p_request_id, true);
    END LOOP;
    PERFORM commerce._request_done(p_tenant, 'end_allocation', p_request_id,
                                   jsonb_build_object('returned', v_total));
    RETURN v_total;
END $$;
COMMENT ON FUNCTION commerce.end_allocation(bigint, text, text) IS
  'Close an activity''s pools and return their available units to the root pools; units released later are swept back by the expiry pump. Returns the units returned now.';

-- Sweep units released in closed activity pools back to their roots.
CREATE FUNCTION commerce.sweep_closed_pools() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE c record; v_total bigint := 0;
BEGIN
    FOR c IN SELECT p.tenant_id, p.pool_id FROM commerce.stock_pool p
              WHERE p.status = 'closed'
                AND commerce._pool_available(p.tenant_id, p.pool_id) > 0
              ORDER BY p.tenant_id, p.pool_id LOOP
        v_total := v_total + commerce._return_to_root(c.tenant_id, c.pool_id, NULL, false);
    END LOOP;
    RETURN v_total;
END $$;
