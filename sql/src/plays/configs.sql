-- sql/src/plays/configs.sql: store play configs: rules checked against the
-- template, stock pre-allocated, kind-specific terms.

-- A store configures a play.
CREATE FUNCTION commerce.configure_play(p_tenant bigint, p_request_id text, p_code text, p_template text,
                                        p_store text, p_sku text, p_title text, p_price_fen bigint,
                                        p_stock bigint, p_starts_at timestamptz, p_ends_at timestamptz,
                                        p_rules text DEFAULT '{}',
                                        p_cities text[] DEFAULT NULL,
                                        p_new_users_only boolean DEFAULT false,
                                        p_per_user_limit integer DEFAULT NULL,
                                        p_mutex_group text DEFAULT NULL,
                                        p_asset_type text DEFAULT NULL,
                                        p_units_per_sale bigint DEFAULT 1)
RETURNS commerce.play_config_row LANGUAGE plpgsql AS $$
DECLARE tp commerce.play_template_row; st commerce.store; sk commerce.sku; c commerce.play_config_row; v_rules jsonb;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_template, 'p_template');
    PERFORM commerce._require(p_store, 'p_store');
    PERFORM commerce._require(p_sku, 'p_sku');
    PERFORM commerce._require(p_title, 'p_title');
    PERFORM commerce._require(p_price_fen, 'p_price_fen');
    PERFORM commerce._require(p_stock, 'p_stock');
    PERFORM commerce._require(p_starts_at, 'p_starts_at');
    PERFORM commerce._require(p_ends_at, 'p_ends_at');
    PERFORM commerce._require(p_rules, 'p_rules');
    -- a retry returns the config; the request_id or the code reused for other terms is refused
    SELECT * INTO c FROM commerce.play_config WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF FOUND THEN
        IF c.code <> p_code THEN
            RAISE EXCEPTION USING ERRCODE = '23505',
                MESSAGE = format('request_id "%s" was already used for play config "%s"', p_request_id, c.code),
                HINT = 'Use a new request_id for a new config.';
        END IF;
        RETURN c;
    END IF;
    IF EXISTS (SELECT 1 FROM commerce.play_config WHERE tenant_id = p_tenant AND code = p_code) THEN
        RAISE EXCEPTION USING ERRCODE = '23505',
            MESSAGE = format('play config "%s" already exists', p_code),
            HINT = 'The terms of a config never change: close it and configure a new code.';
    END IF;
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    IF p_code !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' THEN
        PERFORM commerce._invalid('p_code', format('"%s"', p_code), 'Codes are letters, digits, _ . - (up to 63).');
    END IF;
    SELECT * INTO tp FROM commerce.play_template WHERE tenant_id = p_tenant AND code = p_template;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('play template', p_template, p_tenant);
    END IF;
    SELECT * INTO st FROM commerce.store WHERE tenant_id = p_tenant AND code = p_store;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('store', p_store, p_tenant);
    END IF;
    SELECT * INTO sk FROM commerce.sku WHERE tenant_id = p_tenant AND code = p_sku;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('SKU', p_sku, p_tenant);
    END IF;
    IF length(p_title) NOT BETWEEN 1 AND 200 THEN
        PERFORM commerce._invalid('p_title', 'A title is 1 to 200 characters.', 'Name the play for the customer.');
    END IF;
    IF p_price_fen <= 0 OR p_price_fen > sk.msrp_fen THEN
        PERFORM commerce._invalid('p_price_fen', format('%s fen; the SKU sells at %s fen.', p_price_fen, sk.msrp_fen),
                                  'A play price is more than 0 and at most the SKU''s price.');
    END IF;
    IF p_price_fen < sk.floor_fen THEN
        RAISE EXCEPTION USING ERRCODE = '23514',
            MESSAGE = format('price %s fen is below the floor of SKU "%s"', p_price_fen, p_sku),
            DETAIL  = format('The floor is %s fen.', sk.floor_fen),
            HINT    = 'HQ sets the floor; a play cannot sell below it.';
    END IF;
    IF p_stock <= 0 OR p_stock > 1000000 THEN
        PERFORM commerce._invalid('p_stock', format('%s', p_stock), 'Pre-allocate 1 to 1000000 units.');
    END IF;
    IF p_starts_at >= p_ends_at THEN
        PERFORM commerce._invalid('p_ends_at', 'The window is empty.', 'ends_at must be later than starts_at.');
    END IF;
    IF p_cities IS NOT NULL AND (cardinality(p_cities) = 0 OR EXISTS (
        SELECT 1 FROM unnest(p_cities) x WHERE coalesce(length(x), 0) NOT BETWEEN 1 AND 50)) THEN
        PERFORM commerce._invalid('p_cities', format('%s', p_cities), 'List city names (NULL: seen everywhere).');
    END IF;
    IF p_per_user_limit IS NOT NULL AND p_per_user_limit <= 0 THEN
        PERFORM commerce._invalid('p_per_user_limit', format('%s', p_per_user_limit), 'A limit is 1 or more (NULL: none).');
    END IF;
    IF p_mutex_group IS NOT NULL AND p_mutex_group !~ '^[a-z0-9][a-z0-9_.-]{0,62}$' THEN
        PERFORM commerce._invalid('p_mutex_group', format('"%s"', p_mutex_group), 'A mutex group is a lower-case name.');
    END IF;
    IF p_asset_type IS NOT NULL AND p_asset_type NOT IN ('COURSE', 'SERVICE', 'GOODS') THEN
        PERFORM commerce._invalid('p_asset_type', format('"%s"', p_asset_type), 'Asset types: COURSE, SERVICE, GOODS (NULL: no asset).');
    END IF;
    IF coalesce(p_units_per_sale, 0) NOT BETWEEN 1 AND 1000000 THEN
        PERFORM commerce._invalid('p_units_per_sale', format('%s', p_units_per_sale), 'A sale gives 1 to 1000000 units.');
    END IF;
    v_rules := commerce.apply_play_schema(tp.rule_schema::text, p_rules);
    INSERT INTO commerce.play_config (tenant_id, code, request_id, template_code, store_id, sku_id, title, price_fen,
                                      stock, activity, starts_at, ends_at, cities, new_users_only, per_user_limit,
                                      mutex_group, asset_type, units_per_sale, rules, created_at)
    VALUES (p_tenant, p_code, p_request_id, p_template, st.store_id, sk.sku_id, p_title, p_price_fen, p_stock,
            'play:' || p_code, p_starts_at, p_ends_at, p_cities, coalesce(p_new_users_only, false), p_per_user_limit,
            p_mutex_group, p_asset_type, p_units_per_sale, v_rules, commerce.now())
    RETURNING * INTO c;
    -- the stock leaves the shared pool for the play's own pool (PT409 when there is not enough)
    -- (a flash sale holds a buyer's units for its hold_minutes, M3: 5 minutes by default)
    PERFORM commerce.allocate_stock(p_tenant, 'play-config:' || p_request_id, c.activity, 'play', p_sku, p_stock,
                                    p_hold => CASE WHEN tp.kind = 'flash_sale'
                                                   THEN make_interval(mins => (v_rules ->> 'hold_minutes')::int) END);
    RETURN c;
END $$;
COMMENT ON FUNCTION commerce.configure_play(bigint, text, text, text, text, text, text, bigint, bigint, timestamptz, timestamptz, text, text[], boolean, integer, text, text, bigint) IS
  'A store applies a template (M2.1): price (above 0, at most the SKU''s price, never below its floor: 23514), stock pre-allocated from the shared pool to the activity play:<code> (PT409 when short), window, visibility (cities), eligibility (new users only, per-user limit, mutex group), asset type and units per sale, and rules checked against the template''s schema (22023 naming the JSON path; defaults filled in). Idempotent by request_id; a code is configured once (23505).';

-- Close a config early: its unsold stock goes back to the shared pool.
CREATE FUNCTION commerce.close_play(p_tenant bigint, p_code text, p_request_id text)
RETURNS commerce.play_config_row LANGUAGE plpgsql AS $$
DECLARE c commerce.play_config_row;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_request_id, 'p_request_id');
    SELECT * INTO c FROM commerce.play_config WHERE tenant_id = p_tenant AND code = p_code FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('play config', p_code, p_tenant);
    END IF;
    IF c.status = 'closed' THEN
        RETURN c;
    END IF;
    PERFORM commerce.end_allocation(p_tenant, p_request_id, c.activity);
    UPDATE commerce.play_config SET status = 'closed', closed_at = commerce.now()
     WHERE tenant_id = p_tenant AND config_id = c.config_id RETURNING * INTO c;
    RETURN c;
END $$;
COMMENT ON FUNCTION commerce.close_play(bigint, text, text) IS
  'Close a play config before its end: its activity pool closes and the unsold stock returns to the shared pool. Closing again is a no-op.';

-- A bargain's floor lies below its starting price and never below the SKU's floor.
CREATE FUNCTION commerce._play_config_terms() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE v_kind text; v_floor bigint; v_sku_floor bigint;
BEGIN
    SELECT kind INTO v_kind FROM commerce.play_template WHERE tenant_id = NEW.tenant_id AND code = NEW.template_code;
    IF v_kind = 'bargain' THEN
        v_floor := (NEW.rules ->> 'floor_fen')::bigint;
        SELECT floor_fen INTO v_sku_floor FROM commerce.sku WHERE tenant_id = NEW.tenant_id AND sku_id = NEW.sku_id;
        IF v_floor >= NEW.price_fen THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = format('invalid rules: $.floor_fen: %s is not below the starting price %s', v_floor, NEW.price_fen),
                HINT    = 'A bargain starts at the play price and is cut down to floor_fen.';
        END IF;
        IF v_floor < coalesce(v_sku_floor, 0) THEN
            RAISE EXCEPTION USING ERRCODE = '23514',
                MESSAGE = format('invalid rules: $.floor_fen: %s is below the floor of the SKU', v_floor),
                DETAIL  = format('The SKU''s floor is %s fen.', v_sku_floor),
                HINT    = 'HQ sets the floor; a bargain cannot go below it.';
        END IF;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER before_20_terms BEFORE INSERT ON commerce.play_config
    FOR EACH ROW EXECUTE FUNCTION commerce._play_config_terms();

-- The play config of that code, which must be of one of the kinds (PT404, 22023 otherwise).
CREATE FUNCTION commerce._play_of_kind(p_tenant bigint, p_config text, p_kinds text[], p_hint text)
RETURNS commerce.play_config_row LANGUAGE plpgsql STABLE AS $$
DECLARE c commerce.play_config_row; v_kind text;
BEGIN
    SELECT * INTO c FROM commerce.play_config WHERE tenant_id = p_tenant AND code = p_config;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('play config', p_config, p_tenant);
    END IF;
    SELECT kind INTO v_kind FROM commerce.play_template WHERE tenant_id = p_tenant AND code = c.template_code;
    IF v_kind <> ALL (p_kinds) THEN
        PERFORM commerce._invalid('p_config', format('"%s" is a %s play.', p_config, v_kind), p_hint);
    END IF;
    RETURN c;
END $$;

-- Refuse a join when the group is not active, past its deadline or full (PT409, PT410, PT409).
CREATE FUNCTION commerce._refuse_join(i commerce.play_instance_row, p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF i.status <> 'active' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('group %s is %s', i.instance_id, lower(i.status)),
            HINT    = 'Open a new group or join another one.';
    END IF;
    IF p_now >= i.deadline THEN
        RAISE EXCEPTION USING ERRCODE = 'PT410',
            MESSAGE = format('group %s has expired', i.instance_id),
            DETAIL  = format('Its deadline was %s.', i.deadline),
            HINT    = 'Open a new group or join another one.';
    END IF;
    IF i.current >= i.target THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('group %s is full', i.instance_id),
            DETAIL  = format('%s of %s members.', i.current, i.target),
            HINT    = 'Open a new group or join another one.';
    END IF;
END $$;

-- A play takes actions only while it is active and inside its window (PT409 otherwise).
CREATE FUNCTION commerce._require_play_open(c commerce.play_config_row, p_now timestamptz, p_hint text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF c.status <> 'active' OR p_now < c.starts_at OR p_now >= c.ends_at THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('play "%s" is not open', c.code),
            DETAIL  = format('It runs from %s to %s and is %s.', c.starts_at, c.ends_at, c.status),
            HINT    = p_hint;
    END IF;
END $$;
