/*
 * commerce 0.4.0 -> 0.5.0: marketing plays as products (issue 5, seed 004),
 * first part: play templates with their rule schemas (a JSON Schema subset,
 * checked in C with jansson), store play configs whose rules are validated
 * against the template's schema (the JSON path of a bad field is named),
 * with stock pre-allocated from the shared pool, and the query-time and
 * display-time rule layers (visibility, display state).
 */

\echo Use "ALTER EXTENSION commerce UPDATE TO '0.5.0'" to load this file. \quit

-- ===========================================================================
-- templates (seed 004 1.2)
-- ===========================================================================

CREATE FUNCTION commerce._check_play_schema(p_schema text) RETURNS text
    AS 'MODULE_PATHNAME', 'commerce_check_play_schema' LANGUAGE C IMMUTABLE;
COMMENT ON FUNCTION commerce._check_play_schema(text) IS
  'Internal: the C check behind check_play_schema; returns the schema as compact JSON text with sorted keys.';

CREATE FUNCTION commerce.check_play_schema(p_schema text) RETURNS jsonb
    LANGUAGE sql IMMUTABLE AS $$ SELECT commerce._check_play_schema(p_schema)::jsonb $$;
COMMENT ON FUNCTION commerce.check_play_schema(text) IS
  'Check a template''s rule schema (a JSON Schema subset: an object of properties typed integer, string, boolean, array or object, with minimum/maximum, minLength/maxLength, enum, items, required, additionalProperties, default) and return it; 22023 names the JSON path of the first bad keyword, 22P02 when it is not JSON.';

CREATE FUNCTION commerce._apply_play_schema(p_schema text, p_rules text) RETURNS text
    AS 'MODULE_PATHNAME', 'commerce_apply_play_schema' LANGUAGE C IMMUTABLE;
COMMENT ON FUNCTION commerce._apply_play_schema(text, text) IS
  'Internal: the C check behind apply_play_schema; returns the rules with defaults as compact JSON text.';

CREATE FUNCTION commerce.apply_play_schema(p_schema text, p_rules text) RETURNS jsonb
    LANGUAGE sql IMMUTABLE AS $$ SELECT commerce._apply_play_schema(p_schema, p_rules)::jsonb $$;
COMMENT ON FUNCTION commerce.apply_play_schema(text, text) IS
  'Check rules against a rule schema and return them with the defaults filled in; 22023 names the JSON path of the bad field (invalid rules: $.target_size: 7 is above the maximum 5).';

CREATE TABLE commerce.play_template (
    tenant_id   bigint NOT NULL REFERENCES commerce.tenant,
    code        text NOT NULL CHECK (code ~ '^[A-Z][A-Z0-9_]{1,39}$'),
    kind        text NOT NULL CHECK (kind IN ('group_buy', 'flash_sale', 'bargain', 'invite_reward')),
    name        text NOT NULL,
    unit_name   text NOT NULL CHECK (length(unit_name) BETWEEN 1 AND 20),
    rule_schema jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, code)
);
COMMENT ON TABLE commerce.play_template IS
  'A play HQ offers its stores (seed 004 1.2): GROUP_BUY, FLASH_SALE, BARGAIN, INVITE_REWARD or any code of one of those kinds, the schema its store rules must follow, and the unit what it sells is counted in (lessons, hours, bags).';

-- Create or update a template; a new schema must still accept every config built on the template.
CREATE FUNCTION commerce.upsert_play_template(p_tenant bigint, p_code text, p_kind text, p_name text,
                                              p_unit_name text, p_rule_schema text)
RETURNS commerce.play_template LANGUAGE plpgsql AS $$
DECLARE v_schema jsonb; tp commerce.play_template; c record;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_kind, 'p_kind');
    PERFORM commerce._require(p_name, 'p_name');
    PERFORM commerce._require(p_unit_name, 'p_unit_name');
    PERFORM commerce._require(p_rule_schema, 'p_rule_schema');
    IF p_code !~ '^[A-Z][A-Z0-9_]{1,39}$' THEN
        PERFORM commerce._invalid('p_code', format('"%s"', p_code), 'A template code is upper case: GROUP_BUY, DANCE_GROUP_3, ...');
    END IF;
    IF p_kind NOT IN ('group_buy', 'flash_sale', 'bargain', 'invite_reward') THEN
        PERFORM commerce._invalid('p_kind', format('"%s"', p_kind), 'Kinds: group_buy, flash_sale, bargain, invite_reward.');
    END IF;
    IF length(p_unit_name) NOT BETWEEN 1 AND 20 THEN
        PERFORM commerce._invalid('p_unit_name', format('"%s"', p_unit_name), 'A unit name is 1 to 20 characters: lessons, hours, bags.');
    END IF;
    v_schema := commerce.check_play_schema(p_rule_schema);
    -- one writer of a template at a time, and its configs must fit the new schema
    PERFORM pg_advisory_xact_lock(hashtextextended('commerce.play_template:' || p_tenant || ':' || p_code, 0));
    FOR c IN SELECT code, rules FROM commerce.play_config
              WHERE tenant_id = p_tenant AND template_code = p_code ORDER BY code LOOP
        BEGIN
            PERFORM commerce.apply_play_schema(v_schema::text, c.rules::text);
        EXCEPTION WHEN invalid_parameter_value THEN
            RAISE EXCEPTION USING ERRCODE = 'PT412',
                MESSAGE = format('template %s: the new schema does not accept config "%s"', p_code, c.code),
                DETAIL  = SQLERRM,
                HINT    = 'Keep the schema compatible with the configs built on it, or create a new template.';
        END;
    END LOOP;
    IF EXISTS (SELECT 1 FROM commerce.play_template WHERE tenant_id = p_tenant AND code = p_code AND kind <> p_kind) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT412',
            MESSAGE = format('template %s is of another kind', p_code),
            HINT    = 'The kind of a template never changes; create a new template.';
    END IF;
    INSERT INTO commerce.play_template (tenant_id, code, kind, name, unit_name, rule_schema, created_at, updated_at)
    VALUES (p_tenant, p_code, p_kind, p_name, p_unit_name, v_schema, commerce.now(), commerce.now())
    ON CONFLICT (tenant_id, code) DO UPDATE
       SET name = EXCLUDED.name, unit_name = EXCLUDED.unit_name, rule_schema = EXCLUDED.rule_schema,
           updated_at = EXCLUDED.updated_at
    RETURNING * INTO tp;
    RETURN tp;
END $$;
COMMENT ON FUNCTION commerce.upsert_play_template(bigint, text, text, text, text, text) IS
  'HQ creates or updates a play template: code, kind (group_buy, flash_sale, bargain, invite_reward), name, unit name and rule schema (checked, 22023 naming the bad keyword). A new schema must accept the rules of every config built on the template (PT412 otherwise); the kind never changes.';

-- The four standard templates, for a tenant that has none of them.
CREATE FUNCTION commerce.ensure_play_templates(p_tenant bigint) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE n integer := 0; r record;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    FOR r IN SELECT * FROM (VALUES
        ('GROUP_BUY', 'group_buy', 'Group buy', 'items',
         '{"type":"object","additionalProperties":false,"required":["target_size"],"properties":{
            "target_size":{"type":"integer","minimum":2,"maximum":100,"title":"members to succeed"},
            "hours":{"type":"integer","minimum":1,"maximum":168,"default":24,"title":"time to fill the group"},
            "virtual_fill":{"type":"boolean","default":false,"title":"complete a group at the deadline"}}}'),
        ('FLASH_SALE', 'flash_sale', 'Flash sale', 'items',
         '{"type":"object","additionalProperties":false,"properties":{
            "hold_minutes":{"type":"integer","minimum":1,"maximum":60,"default":5,"title":"stock hold per buyer"},
            "per_order_limit":{"type":"integer","minimum":1,"maximum":100,"default":1}}}'),
        ('BARGAIN', 'bargain', 'Bargain', 'items',
         '{"type":"object","additionalProperties":false,"required":["floor_fen","cut_fen"],"properties":{
            "floor_fen":{"type":"integer","minimum":0,"title":"lowest price"},
            "cut_fen":{"type":"integer","minimum":1,"title":"cut per helper"},
            "hours":{"type":"integer","minimum":1,"maximum":168,"default":24}}}'),
        ('INVITE_REWARD', 'invite_reward', 'Invite reward', 'rewards',
         '{"type":"object","additionalProperties":false,"required":["reward_fen"],"properties":{
            "reward_fen":{"type":"integer","minimum":1,"title":"reward for the inviter"},
            "invitee_reward_fen":{"type":"integer","minimum":0,"default":0},
            "max_rewards":{"type":"integer","minimum":1,"default":100,"title":"rewards per inviter"}}}')
        ) v(code, kind, name, unit_name, rule_schema) LOOP
        IF NOT EXISTS (SELECT 1 FROM commerce.play_template WHERE tenant_id = p_tenant AND code = r.code) THEN
            PERFORM commerce.upsert_play_template(p_tenant, r.code, r.kind, r.name, r.unit_name, r.rule_schema);
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce.ensure_play_templates(bigint) IS
  'Creates the standard templates a tenant lacks (GROUP_BUY, FLASH_SALE, BARGAIN, INVITE_REWARD); returns how many were created.';

-- ===========================================================================
-- store play configs (seed 004 2.1)
-- ===========================================================================

CREATE TABLE commerce.play_config (
    tenant_id      bigint NOT NULL,
    config_id      bigint GENERATED BY DEFAULT AS IDENTITY,
    code           text NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    request_id     text NOT NULL CHECK (length(request_id) BETWEEN 1 AND 200),
    template_code  text NOT NULL,
    store_id       bigint NOT NULL,
    sku_id         bigint NOT NULL,
    title          text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    price_fen      bigint NOT NULL CHECK (price_fen > 0),
    stock          bigint NOT NULL CHECK (stock > 0),
    activity       text NOT NULL,
    starts_at      timestamptz NOT NULL,
    ends_at        timestamptz NOT NULL,
    cities         text[],
    new_users_only boolean NOT NULL DEFAULT false,
    per_user_limit integer CHECK (per_user_limit > 0),
    mutex_group    text,
    asset_type     text CHECK (asset_type IN ('COURSE', 'SERVICE', 'GOODS')),
    units_per_sale bigint NOT NULL DEFAULT 1 CHECK (units_per_sale > 0),
    rules          jsonb NOT NULL,
    status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'closed')),
    created_at     timestamptz NOT NULL,
    closed_at      timestamptz,
    PRIMARY KEY (tenant_id, config_id),
    UNIQUE (tenant_id, code),
    UNIQUE (tenant_id, request_id),
    FOREIGN KEY (tenant_id, template_code) REFERENCES commerce.play_template,
    FOREIGN KEY (tenant_id, store_id) REFERENCES commerce.store,
    CHECK (starts_at < ends_at),
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);
CREATE TRIGGER play_config_state BEFORE INSERT OR UPDATE ON commerce.play_config
    FOR EACH ROW EXECUTE FUNCTION commerce.state_guard('status', 'active', 'active>closed');
COMMENT ON TABLE commerce.play_config IS
  'A store applies a template to one of its SKUs or services (seed 004 2.1): the play price, the stock pre-allocated from the shared pool to the activity play:<code>, the window, where it is seen (cities; NULL: everywhere), who may join (new users only, a per-user limit, a mutex group) and the rules, checked against the template''s schema with its defaults filled in. What is sold becomes units_per_sale units of an asset of asset_type. The terms never change after creation; a config is closed and a new one made.';

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
RETURNS commerce.play_config LANGUAGE plpgsql AS $$
DECLARE tp commerce.play_template; st commerce.store; sk commerce.sku; c commerce.play_config; v_rules jsonb;
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
    IF length(p_request_id) NOT BETWEEN 1 AND 200 THEN
        PERFORM commerce._invalid('p_request_id', 'A request_id is 1 to 200 characters.', 'Use a UUID.');
    END IF;
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
    -- (a flash sale holds a buyer's units for its hold_minutes, seed 004 3: 5 minutes by default)
    PERFORM commerce.allocate_stock(p_tenant, 'play-config:' || p_request_id, c.activity, 'play', p_sku, p_stock,
                                    p_hold => CASE WHEN tp.kind = 'flash_sale'
                                                   THEN make_interval(mins => (v_rules ->> 'hold_minutes')::int) END);
    RETURN c;
END $$;
COMMENT ON FUNCTION commerce.configure_play(bigint, text, text, text, text, text, text, bigint, bigint, timestamptz, timestamptz, text, text[], boolean, integer, text, text, bigint) IS
  'A store applies a template (seed 004 2.1): price (above 0, at most the SKU''s price, never below its floor: 23514), stock pre-allocated from the shared pool to the activity play:<code> (PT409 when short), window, visibility (cities), eligibility (new users only, per-user limit, mutex group), asset type and units per sale, and rules checked against the template''s schema (22023 naming the JSON path; defaults filled in). Idempotent by request_id; a code is configured once (23505).';

-- Close a config early: its unsold stock goes back to the shared pool.
CREATE FUNCTION commerce.close_play(p_tenant bigint, p_code text, p_request_id text)
RETURNS commerce.play_config LANGUAGE plpgsql AS $$
DECLARE c commerce.play_config;
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

-- ===========================================================================
-- rule layers 1 and 2: visibility (query time) and display state
-- ===========================================================================

CREATE VIEW commerce.play_display AS
SELECT c.tenant_id, c.config_id, c.code, c.title, t.kind, t.unit_name, s.code AS store, s.city AS store_city,
       c.price_fen, sk.msrp_fen, c.starts_at, c.ends_at, c.cities, c.status,
       coalesce(p.available, 0) AS available,
       CASE WHEN c.status = 'closed' OR commerce.now() >= c.ends_at THEN 'ended'
            WHEN commerce.now() < c.starts_at THEN 'not_started'
            WHEN coalesce(p.available, 0) <= 0 THEN 'sold_out'
            ELSE 'open' END AS display_state
  FROM commerce.play_config c
  JOIN commerce.play_template t ON t.tenant_id = c.tenant_id AND t.code = c.template_code
  JOIN commerce.store s ON s.tenant_id = c.tenant_id AND s.store_id = c.store_id
  JOIN commerce.sku sk ON sk.tenant_id = c.tenant_id AND sk.sku_id = c.sku_id
  LEFT JOIN LATERAL (SELECT sum(sl.on_hand - sl.reserved - sl.sold)::bigint AS available
                       FROM commerce.stock_pool sp
                       JOIN commerce.stock_slot sl ON sl.tenant_id = sp.tenant_id AND sl.pool_id = sp.pool_id
                      WHERE sp.tenant_id = c.tenant_id AND sp.activity = c.activity AND sp.sku_id = c.sku_id
                        AND sp.status = 'open') p ON true;
COMMENT ON VIEW commerce.play_display IS
  'Rule layer 2 (display time): each play config with what is left and its display state: not_started, open, sold_out or ended.';

-- Rule layer 1 (query time): the plays a customer may see in a city (and at a store) now.
CREATE FUNCTION commerce.visible_plays(p_tenant bigint, p_city text DEFAULT NULL, p_store text DEFAULT NULL,
                                       p_at timestamptz DEFAULT NULL)
RETURNS SETOF commerce.play_display LANGUAGE plpgsql STABLE AS $$
DECLARE v_at timestamptz := coalesce(p_at, commerce.now());
BEGIN
    PERFORM commerce._tenant(p_tenant);
    IF p_store IS NOT NULL AND NOT EXISTS (SELECT 1 FROM commerce.store WHERE tenant_id = p_tenant AND code = p_store) THEN
        PERFORM commerce._not_found('store', p_store, p_tenant);
    END IF;
    RETURN QUERY
    SELECT d.tenant_id, d.config_id, d.code, d.title, d.kind, d.unit_name, d.store, d.store_city, d.price_fen,
           d.msrp_fen, d.starts_at, d.ends_at, d.cities, d.status, d.available,
           CASE WHEN d.available <= 0 THEN 'sold_out' ELSE 'open' END
      FROM commerce.play_display d
     WHERE d.tenant_id = p_tenant AND d.status = 'active'
       AND d.starts_at <= v_at AND v_at < d.ends_at
       AND (d.cities IS NULL OR p_city = ANY (d.cities))
       AND (p_store IS NULL OR d.store = p_store)
     ORDER BY d.ends_at, d.code;
END $$;
COMMENT ON FUNCTION commerce.visible_plays(bigint, text, text, timestamptz) IS
  'Rule layer 1 (query time, seed 004 3): the active plays running at the moment (default now) that a customer in the city (and at the store) may see; a play with cities is seen only there. Each row carries its display state (sold_out plays stay visible).';

-- ===========================================================================
-- instances and group buys (seed 004 2.1, 3), user assets and consumption (2.2)
-- ===========================================================================

CREATE TABLE commerce.play_instance (
    tenant_id          bigint NOT NULL,
    instance_id        bigint GENERATED BY DEFAULT AS IDENTITY,
    config_id          bigint NOT NULL,
    leader_customer_id bigint NOT NULL,
    status             text NOT NULL,
    current            integer NOT NULL DEFAULT 0,
    target             integer NOT NULL CHECK (target > 0),
    deadline           timestamptz NOT NULL,
    created_at         timestamptz NOT NULL,
    ended_at           timestamptz,
    PRIMARY KEY (tenant_id, instance_id),
    FOREIGN KEY (tenant_id, config_id) REFERENCES commerce.play_config,
    CHECK (status IN ('PENDING', 'ACTIVE', 'SUCCESS', 'FAILED')),
    CHECK (current BETWEEN 0 AND target),
    CHECK ((status IN ('SUCCESS', 'FAILED')) = (ended_at IS NOT NULL)),
    CHECK (status <> 'SUCCESS' OR current = target)
);
CREATE INDEX play_instance_due ON commerce.play_instance (deadline) WHERE status IN ('PENDING', 'ACTIVE');
CREATE TRIGGER play_instance_state BEFORE INSERT OR UPDATE ON commerce.play_instance
    FOR EACH ROW EXECUTE FUNCTION commerce.state_guard('status', 'PENDING,ACTIVE',
        'PENDING>ACTIVE', 'PENDING>FAILED', 'ACTIVE>SUCCESS', 'ACTIVE>FAILED');
COMMENT ON TABLE commerce.play_instance IS
  'One run of a play (seed 004 2.1): a group being filled. status is the single truth: PENDING -> ACTIVE -> SUCCESS | FAILED (C trigger); progress is current of target, and current never exceeds target (CHECK, under the instance row lock).';

CREATE TABLE commerce.play_participant (
    tenant_id   bigint NOT NULL,
    instance_id bigint NOT NULL,
    customer_id bigint NOT NULL,
    request_id  text NOT NULL CHECK (length(request_id) BETWEEN 1 AND 200),
    role        text NOT NULL CHECK (role IN ('leader', 'member', 'virtual')),
    order_id    bigint,
    status      text NOT NULL DEFAULT 'joined' CHECK (status IN ('joined', 'refunding')),
    joined_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, instance_id, customer_id),
    UNIQUE (tenant_id, request_id),
    CHECK ((role = 'virtual') = (order_id IS NULL))
);
COMMENT ON TABLE commerce.play_participant IS
  'The members of a group with their paid orders; virtual members fill a group at its deadline when the rules allow it (no order). A member of a failed group is refunding until the payment provider confirms the refund (commerce.complete_refund).';

CREATE TABLE commerce.user_asset (
    tenant_id          bigint NOT NULL,
    asset_id           bigint GENERATED BY DEFAULT AS IDENTITY,
    customer_id        bigint NOT NULL,
    asset_type         text NOT NULL CHECK (asset_type IN ('COURSE', 'SERVICE', 'GOODS')),
    unit_name          text NOT NULL,
    total              bigint NOT NULL CHECK (total > 0),
    remaining          bigint NOT NULL,
    source_activity    text,
    source_instance_id bigint,
    order_id           bigint NOT NULL,
    created_at         timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, asset_id),
    UNIQUE (tenant_id, order_id),
    CHECK (remaining BETWEEN 0 AND total)
);
CREATE INDEX user_asset_customer ON commerce.user_asset (tenant_id, customer_id);
COMMENT ON TABLE commerce.user_asset IS
  'What a customer bought and consumes over time (seed 004 2.2): 10 lessons, 150 hours, 200 bags; remaining never goes below zero (CHECK, under the asset row lock). One asset per order, with the activity and instance it came from.';

CREATE TABLE commerce.consumption_log (
    tenant_id       bigint NOT NULL,
    consumption_id  bigint GENERATED BY DEFAULT AS IDENTITY,
    request_id      text NOT NULL CHECK (length(request_id) BETWEEN 1 AND 200),
    asset_id        bigint NOT NULL,
    amount          bigint NOT NULL CHECK (amount > 0),
    store_id        bigint NOT NULL,
    operator        text NOT NULL,
    source_activity text,
    consumed_at     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, consumption_id),
    UNIQUE (tenant_id, request_id)
);
CREATE INDEX consumption_log_asset ON commerce.consumption_log (tenant_id, asset_id);
CREATE TRIGGER consumption_log_append_only BEFORE UPDATE OR DELETE ON commerce.consumption_log
    FOR EACH ROW EXECUTE FUNCTION commerce.append_only_guard();
CREATE TRIGGER consumption_log_no_truncate BEFORE TRUNCATE ON commerce.consumption_log
    FOR EACH STATEMENT EXECUTE FUNCTION commerce.append_only_guard();
COMMENT ON TABLE commerce.consumption_log IS
  'Each consumption (核销) of an asset: amount, store, operator and the activity the asset came from (append-only). The first consumption redeems the order (completed), which earns an attributed order its KOC commission.';

CREATE TYPE commerce.join_result AS (instance_id bigint, status text, current integer, target integer,
                                     deadline timestamptz, order_id bigint, outcome text);

-- Issue the assets of a successful group (members with orders), once per order.
CREATE FUNCTION commerce._issue_group_assets(p_tenant bigint, p_instance bigint) RETURNS integer
LANGUAGE sql AS $$
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
    SELECT count(*)::integer FROM ins;
$$;

-- Open a group (p_instance NULL: the customer leads a new one) or join one, paying the play price.
CREATE FUNCTION commerce.join_group(p_tenant bigint, p_request_id text, p_config text, p_customer text,
                                    p_payment_id text, p_instance bigint DEFAULT NULL,
                                    p_channel text DEFAULT 'wechat_mp')
RETURNS commerce.join_result LANGUAGE plpgsql AS $$
DECLARE
    c commerce.play_config; tp commerce.play_template; cu commerce.customer; i commerce.play_instance;
    p commerce.play_participant; sk commerce.sku; v_list bigint; v_order commerce.order_result; v_now timestamptz := commerce.now();
    v_outcome text := 'joined';
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_config, 'p_config');
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._require(p_payment_id, 'p_payment_id');
    PERFORM commerce._require(p_channel, 'p_channel');
    IF length(p_request_id) NOT BETWEEN 1 AND 200 THEN
        PERFORM commerce._invalid('p_request_id', 'A request_id is 1 to 200 characters.', 'Use a UUID.');
    END IF;
    -- a retry returns the first result
    SELECT * INTO p FROM commerce.play_participant WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF FOUND THEN
        SELECT * INTO i FROM commerce.play_instance WHERE tenant_id = p_tenant AND instance_id = p.instance_id;
        RETURN ROW(i.instance_id, i.status, i.current, i.target, i.deadline, p.order_id, 'repeated')::commerce.join_result;
    END IF;
    SELECT * INTO c FROM commerce.play_config WHERE tenant_id = p_tenant AND code = p_config;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('play config', p_config, p_tenant);
    END IF;
    SELECT * INTO tp FROM commerce.play_template WHERE tenant_id = p_tenant AND code = c.template_code;
    IF tp.kind <> 'group_buy' THEN
        PERFORM commerce._invalid('p_config', format('"%s" is a %s play.', p_config, tp.kind), 'Join group-buy plays only.');
    END IF;
    SELECT * INTO cu FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    IF c.status <> 'active' OR v_now < c.starts_at OR v_now >= c.ends_at THEN
        RAISE EXCEPTION USING ERRCODE = 'PT412',
            MESSAGE = format('play "%s" is not open', p_config),
            DETAIL  = format('It runs from %s to %s and is %s.', c.starts_at, c.ends_at, c.status),
            HINT    = 'Join a play that is open now.';
    END IF;
    -- the group: a new one led by the customer, or the one named, locked (joins of one group queue here)
    IF p_instance IS NULL THEN
        INSERT INTO commerce.play_instance (tenant_id, config_id, leader_customer_id, status, current, target,
                                            deadline, created_at)
        VALUES (p_tenant, c.config_id, cu.customer_id, 'ACTIVE', 0, (c.rules ->> 'target_size')::integer,
                least(v_now + make_interval(hours => coalesce((c.rules ->> 'hours')::integer, 24)), c.ends_at), v_now)
        RETURNING * INTO i;
        v_outcome := 'opened';
    ELSE
        SELECT * INTO i FROM commerce.play_instance
         WHERE tenant_id = p_tenant AND instance_id = p_instance AND config_id = c.config_id FOR UPDATE;
        IF NOT FOUND THEN
            PERFORM commerce._not_found('group', p_instance::text, p_tenant);
        END IF;
        IF i.status <> 'ACTIVE' THEN
            RAISE EXCEPTION USING ERRCODE = 'PT412',
                MESSAGE = format('group %s is %s', p_instance, lower(i.status)),
                HINT    = 'Open a new group or join another one.';
        END IF;
        IF v_now >= i.deadline THEN
            RAISE EXCEPTION USING ERRCODE = 'PT410',
                MESSAGE = format('group %s has expired', p_instance),
                DETAIL  = format('Its deadline was %s.', i.deadline),
                HINT    = 'Open a new group or join another one.';
        END IF;
        IF i.current >= i.target THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409',
                MESSAGE = format('group %s is full', p_instance),
                DETAIL  = format('%s of %s members.', i.current, i.target),
                HINT    = 'Open a new group or join another one.';
        END IF;
        IF EXISTS (SELECT 1 FROM commerce.play_participant
                    WHERE tenant_id = p_tenant AND instance_id = i.instance_id AND customer_id = cu.customer_id) THEN
            RAISE EXCEPTION USING ERRCODE = 'PT412',
                MESSAGE = format('customer "%s" is already in group %s', p_customer, p_instance),
                HINT    = 'One place per customer and group.';
        END IF;
    END IF;
    -- eligibility (transaction time), each refusal with its own SQLSTATE
    PERFORM commerce._play_eligibility(c, cu);
    -- the order at the play price from the play's stock, paid at once
    SELECT * INTO sk FROM commerce.sku WHERE tenant_id = p_tenant AND sku_id = c.sku_id;
    v_list := (commerce.resolve_price(p_tenant, sk.code, p_channel, cu.member_tier)).price_fen;
    v_order := commerce.place_order(p_tenant, 'play:' || p_request_id, p_channel,
                   jsonb_build_object('lines', jsonb_build_array(jsonb_build_object('sku', sk.code, 'qty', 1)),
                                      'activity', c.activity, 'source_instance_id', i.instance_id,
                                      'discount_fen', greatest(v_list - c.price_fen, 0)),
                   p_customer);
    PERFORM commerce.pay_order(p_tenant, v_order.order_id, p_payment_id, least(v_list, c.price_fen));
    INSERT INTO commerce.play_participant (tenant_id, instance_id, customer_id, request_id, role, order_id, joined_at)
    VALUES (p_tenant, i.instance_id, cu.customer_id, p_request_id,
            CASE WHEN v_outcome = 'opened' THEN 'leader' ELSE 'member' END, v_order.order_id, v_now);
    UPDATE commerce.play_instance SET current = current + 1
     WHERE tenant_id = p_tenant AND instance_id = i.instance_id RETURNING * INTO i;
    IF i.current = i.target THEN
        UPDATE commerce.play_instance SET status = 'SUCCESS', ended_at = v_now
         WHERE tenant_id = p_tenant AND instance_id = i.instance_id RETURNING * INTO i;
        PERFORM commerce._issue_group_assets(p_tenant, i.instance_id);
        PERFORM commerce.enqueue(p_tenant, 'play.group_succeeded',
            jsonb_build_object('instance_id', i.instance_id, 'play', c.code, 'members', i.current),
            'group:' || i.instance_id);
        v_outcome := 'succeeded';
    END IF;
    RETURN ROW(i.instance_id, i.status, i.current, i.target, i.deadline, v_order.order_id, v_outcome)::commerce.join_result;
END $$;
COMMENT ON FUNCTION commerce.join_group(bigint, text, text, text, text, bigint, text) IS
  'Group buy (seed 004 3): open a group (no instance: the customer leads it) or join one, paying the play price; the order takes a unit of the play''s stock and carries the instance. Joins of one group are serialized on its row, so a group never has more than its target; the member that completes it makes it SUCCESS and issues every member''s asset. Refused: a closed or not running play (PT412), a group that is not active (PT412), past its deadline (PT410), full (PT409), a second place (PT412), and the eligibility rules. Idempotent by request_id.';

-- Eligibility at transaction time: new users only (PT403), the per-user limit (PT429), the mutex group (PT423).
CREATE FUNCTION commerce._play_eligibility(c commerce.play_config, cu commerce.customer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE v_other text;
BEGIN
    IF c.new_users_only AND EXISTS (SELECT 1 FROM commerce.orders o
                                     WHERE o.tenant_id = c.tenant_id AND o.customer_id = cu.customer_id
                                       AND o.paid_at IS NOT NULL) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT403',
            MESSAGE = format('play "%s" is for new customers only', c.code),
            DETAIL  = format('Customer "%s" has paid orders.', cu.code),
            HINT    = 'Show this customer the plays open to everyone.';
    END IF;
    IF c.per_user_limit IS NOT NULL AND (
        SELECT count(*) FROM commerce.play_participant p
          JOIN commerce.play_instance i USING (tenant_id, instance_id)
         WHERE p.tenant_id = c.tenant_id AND p.customer_id = cu.customer_id AND i.config_id = c.config_id
           AND p.role <> 'virtual' AND p.status = 'joined') >= c.per_user_limit THEN
        RAISE EXCEPTION USING ERRCODE = 'PT429',
            MESSAGE = format('customer "%s" has reached the limit of play "%s"', cu.code, c.code),
            DETAIL  = format('At most %s per customer.', c.per_user_limit),
            HINT    = 'The limit counts every group of the play the customer is in.';
    END IF;
    IF c.mutex_group IS NOT NULL THEN
        SELECT o.code INTO v_other
          FROM commerce.play_participant p
          JOIN commerce.play_instance i USING (tenant_id, instance_id)
          JOIN commerce.play_config o ON o.tenant_id = i.tenant_id AND o.config_id = i.config_id
         WHERE p.tenant_id = c.tenant_id AND p.customer_id = cu.customer_id AND p.status = 'joined'
           AND o.mutex_group = c.mutex_group AND o.config_id <> c.config_id
           AND o.starts_at < c.ends_at AND c.starts_at < o.ends_at
         LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'PT423',
                MESSAGE = format('play "%s" excludes play "%s" the customer is in', c.code, v_other),
                DETAIL  = format('Both are in mutex group %s and overlap in time.', c.mutex_group),
                HINT    = 'A customer takes one play of a mutex group at a time.';
        END IF;
    END IF;
END $$;

-- End the groups past their deadline: virtual fill when the rules allow it, else FAILED and every member refunded.
CREATE FUNCTION commerce.end_expired_groups(p_limit integer DEFAULT 100) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE i commerce.play_instance; c commerce.play_config; p record; n integer := 0; a commerce.after_sale;
        o commerce.orders; v_now timestamptz := commerce.now();
BEGIN
    PERFORM commerce._require(p_limit, 'p_limit');
    IF p_limit NOT BETWEEN 1 AND 100000 THEN
        PERFORM commerce._invalid('p_limit', format('%s', p_limit), 'End 1 to 100000 groups per run.');
    END IF;
    FOR i IN SELECT * FROM commerce.play_instance
              WHERE status IN ('PENDING', 'ACTIVE') AND deadline <= v_now
              ORDER BY deadline, tenant_id, instance_id
              LIMIT p_limit FOR UPDATE SKIP LOCKED LOOP
        SELECT * INTO c FROM commerce.play_config WHERE tenant_id = i.tenant_id AND config_id = i.config_id;
        n := n + 1;
        IF i.status = 'ACTIVE' AND coalesce((c.rules ->> 'virtual_fill')::boolean, false) THEN
            INSERT INTO commerce.play_participant (tenant_id, instance_id, customer_id, request_id, role, joined_at)
            SELECT i.tenant_id, i.instance_id, -k, 'virtual:' || i.instance_id || ':' || k, 'virtual', v_now
              FROM generate_series(1, i.target - i.current) k;
            UPDATE commerce.play_instance SET current = target, status = 'SUCCESS', ended_at = v_now
             WHERE tenant_id = i.tenant_id AND instance_id = i.instance_id;
            PERFORM commerce._issue_group_assets(i.tenant_id, i.instance_id);
            PERFORM commerce.enqueue(i.tenant_id, 'play.group_succeeded',
                jsonb_build_object('instance_id', i.instance_id, 'play', c.code, 'members', i.current,
                                   'virtual', i.target - i.current), 'group:' || i.instance_id);
            CONTINUE;
        END IF;
        UPDATE commerce.play_instance SET status = 'FAILED', ended_at = v_now
         WHERE tenant_id = i.tenant_id AND instance_id = i.instance_id;
        -- every paying member: the unit goes back to the play's stock, and an approved refund-only
        -- request sends the payment back through the outbox (payment.refund: retried now, in 1 minute,
        -- in 1 hour, then a dead letter and an alert)
        FOR p IN SELECT * FROM commerce.play_participant
                  WHERE tenant_id = i.tenant_id AND instance_id = i.instance_id AND order_id IS NOT NULL
                  ORDER BY customer_id LOOP
            SELECT * INTO o FROM commerce.orders WHERE tenant_id = i.tenant_id AND order_id = p.order_id;
            a := commerce.request_after_sale(i.tenant_id, 'group-failed:' || i.instance_id || ':' || p.customer_id,
                                             p.order_id, 'refund_only', o.paid_fen, 'group failed');
            a := commerce.decide_after_sale(i.tenant_id, a.after_sale_id, true, 'group failed');
            PERFORM commerce.return_stock(i.tenant_id, 'group-failed:' || i.instance_id || ':' || p.customer_id,
                                          o.reservation_id, (SELECT code FROM commerce.sku WHERE tenant_id = i.tenant_id
                                                                                            AND sku_id = c.sku_id), 1);
            -- (approving the after-sale request queued its payment.refund message)
            UPDATE commerce.play_participant SET status = 'refunding'
             WHERE tenant_id = i.tenant_id AND instance_id = i.instance_id AND customer_id = p.customer_id;
        END LOOP;
        PERFORM commerce.enqueue(i.tenant_id, 'play.group_failed',
            jsonb_build_object('instance_id', i.instance_id, 'play', c.code, 'members', i.current, 'target', i.target),
            'group:' || i.instance_id);
    END LOOP;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce.end_expired_groups(integer) IS
  'The group deadline job (one batch, SKIP LOCKED): a group past its deadline is completed with virtual members when its rules say virtual_fill, else FAILED: each paying member''s unit goes back to the play''s stock and the payment is refunded through the outbox (payment.refund, retried now, after 1 minute and 1 hour, then a dead letter and an outbox.dead alert; the provider confirms with commerce.complete_refund). Returns the number of groups ended.';

CREATE PROCEDURE commerce.play_pump(p_batch integer DEFAULT 100, p_max_batches integer DEFAULT 1000)
LANGUAGE plpgsql AS $$
BEGIN
    CALL commerce.run_pump('commerce.end_expired_groups', p_batch, p_max_batches);
END $$;
COMMENT ON PROCEDURE commerce.play_pump(integer, integer) IS
  'The play job (pg_cron, every minute): ends every group past its deadline, committed per batch.';
INSERT INTO commerce.job (job_name, schedule, command) VALUES
  ('commerce-end-expired-groups', '* * * * *', 'CALL commerce.play_pump()');

-- Consume (核销) part of an asset at a store.
CREATE FUNCTION commerce.consume_asset(p_tenant bigint, p_request_id text, p_asset bigint, p_amount bigint,
                                       p_store text, p_operator text)
RETURNS commerce.user_asset LANGUAGE plpgsql AS $$
DECLARE a commerce.user_asset; st commerce.store; l commerce.consumption_log; o commerce.orders;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_asset, 'p_asset');
    PERFORM commerce._require(p_amount, 'p_amount');
    PERFORM commerce._require(p_store, 'p_store');
    PERFORM commerce._require(p_operator, 'p_operator');
    IF length(p_request_id) NOT BETWEEN 1 AND 200 THEN
        PERFORM commerce._invalid('p_request_id', 'A request_id is 1 to 200 characters.', 'Use a UUID.');
    END IF;
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
  'Consume (核销) units of an asset at a store by an operator (seed 004 2.2): never below zero (PT409, under the asset row lock), logged with the activity the asset came from; the first consumption completes the order, so an attributed order earns its KOC commission. Idempotent by request_id.';
