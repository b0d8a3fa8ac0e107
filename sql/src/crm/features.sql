-- sql/src/crm/features.sql: a person's features and daily rollups kept exact
-- in the transaction of every change (orders paid or refunded, accounts
-- created, merged or unmerged), growth levels, events reported by services,
-- and the queue of persons whose segments the CRM pump re-evaluates.

-- Refuse a CRM code (tag, category, segment, flow) that is not lower-case letters, digits, _ . - (22023).
CREATE FUNCTION commerce._crm_code(p_code text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_code !~ '^[a-z0-9][a-z0-9_.-]{0,62}$' THEN
        PERFORM commerce._invalid('p_code', format('"%s"', left(p_code, 64)), 'Codes are lower-case letters, digits, _ . - (at most 63).');
    END IF;
END $$;
COMMENT ON FUNCTION commerce._crm_code(text) IS
  'Refuse (22023 for p_code) a code of a tag, tag category, segment or flow that is not 1 to 63 lower-case letters, digits, _ . - starting with a letter or digit (the tables'' CHECK).';

-- Refuse a CRM name outside 1 to 100 characters (22023).
CREATE FUNCTION commerce._crm_name(p_name text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF length(p_name) NOT BETWEEN 1 AND 100 THEN
        PERFORM commerce._invalid('p_name', format('%s characters', length(p_name)), 'A name is 1 to 100 characters.');
    END IF;
END $$;
COMMENT ON FUNCTION commerce._crm_name(text) IS
  'Refuse (22023 for p_name) a name of a tag, tag category, segment or flow outside 1 to 100 characters.';

-- The tenant-local date of a moment.
CREATE FUNCTION commerce._tenant_day(p_tenant bigint, p_at timestamptz) RETURNS date
LANGUAGE sql STABLE AS $$
    SELECT (p_at AT TIME ZONE t.time_zone)::date FROM commerce.tenant t WHERE t.tenant_id = p_tenant;
$$;
COMMENT ON FUNCTION commerce._tenant_day(bigint, timestamptz) IS
  'The date of a moment in the tenant''s time zone (the CRM''s days: rollups, windows, days since).';

-- The level a growth value reaches in a tenant (0 below the first).
CREATE FUNCTION commerce._growth_level(p_tenant bigint, p_growth bigint) RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT coalesce(max(g.level), 0) FROM commerce.growth_level g
     WHERE g.tenant_id = p_tenant AND g.min_growth <= p_growth;
$$;
COMMENT ON FUNCTION commerce._growth_level(bigint, bigint) IS
  'The highest growth level of the tenant whose min_growth p_growth reaches; 0 below the first or without levels.';

-- Recompute a person's features and daily rollups from its accounts and orders.
CREATE FUNCTION commerce.refresh_crm_person(p_tenant bigint, p_person bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE v_tz text; v_reg timestamptz; v_birthday date; v_now timestamptz := commerce.now();
        o record; v_source text;
BEGIN
    PERFORM commerce._require(p_tenant, 'p_tenant');
    PERFORM commerce._require(p_person, 'p_person');
    SELECT t.time_zone INTO v_tz FROM commerce.tenant t WHERE t.tenant_id = p_tenant;
    SELECT min(c.created_at), min(c.birthday) INTO v_reg, v_birthday
      FROM commerce.customer c WHERE c.tenant_id = p_tenant AND c.person_id = p_person;
    DELETE FROM commerce.crm_day d WHERE d.tenant_id = p_tenant AND d.person_id = p_person;
    IF v_reg IS NULL THEN       -- a person merged into another has no accounts left
        DELETE FROM commerce.crm_feature f WHERE f.tenant_id = p_tenant AND f.person_id = p_person;
        INSERT INTO commerce.crm_dirty (tenant_id, person_id) VALUES (p_tenant, p_person);
        RETURN;
    END IF;
    INSERT INTO commerce.crm_day (tenant_id, person_id, day, orders, spent_fen)
    SELECT p_tenant, p_person, (ord.paid_at AT TIME ZONE v_tz)::date, count(*), sum(ord.paid_fen - ord.refunded_fen)
      FROM commerce.orders ord JOIN commerce.customer c ON c.tenant_id = ord.tenant_id AND c.customer_id = ord.customer_id
     WHERE ord.tenant_id = p_tenant AND c.person_id = p_person AND ord.paid_at IS NOT NULL
     GROUP BY 3;
    SELECT count(*) AS n, coalesce(sum(ord.paid_fen - ord.refunded_fen), 0)::bigint AS spent,
           coalesce(sum(ord.refunded_fen), 0)::bigint AS refunded, min(ord.paid_at) AS first_at, max(ord.paid_at) AS last_at
      INTO o
      FROM commerce.orders ord JOIN commerce.customer c ON c.tenant_id = ord.tenant_id AND c.customer_id = ord.customer_id
     WHERE ord.tenant_id = p_tenant AND c.person_id = p_person AND ord.paid_at IS NOT NULL;
    SELECT coalesce(
        (SELECT ch.code FROM commerce.orders ord
           JOIN commerce.customer c ON c.tenant_id = ord.tenant_id AND c.customer_id = ord.customer_id
           JOIN commerce.channel ch ON ch.tenant_id = ord.tenant_id AND ch.channel_id = ord.channel_id
          WHERE ord.tenant_id = p_tenant AND c.person_id = p_person AND ord.paid_at IS NOT NULL
          ORDER BY ord.paid_at, ord.order_id LIMIT 1),
        (SELECT i.source FROM commerce.person_identity i WHERE i.tenant_id = p_tenant AND i.person_id = p_person
          ORDER BY i.first_seen, i.identity_id LIMIT 1))
      INTO v_source;
    INSERT INTO commerce.crm_feature AS f (tenant_id, person_id, registered_at, registered_day, source, birthday_month,
                                           orders_count, spent_fen, refunded_fen, first_order_at, last_order_at,
                                           last_order_day, growth, level, updated_at)
    VALUES (p_tenant, p_person, v_reg, (v_reg AT TIME ZONE v_tz)::date, v_source, extract(month FROM v_birthday)::integer,
            o.n, o.spent, o.refunded, o.first_at, o.last_at, (o.last_at AT TIME ZONE v_tz)::date,
            greatest(o.spent, 0) / 100, commerce._growth_level(p_tenant, greatest(o.spent, 0) / 100), v_now)
    ON CONFLICT (tenant_id, person_id) DO UPDATE
       SET registered_at = EXCLUDED.registered_at, registered_day = EXCLUDED.registered_day, source = EXCLUDED.source,
           birthday_month = EXCLUDED.birthday_month, orders_count = EXCLUDED.orders_count,
           spent_fen = EXCLUDED.spent_fen, refunded_fen = EXCLUDED.refunded_fen,
           first_order_at = EXCLUDED.first_order_at, last_order_at = EXCLUDED.last_order_at,
           last_order_day = EXCLUDED.last_order_day, growth = EXCLUDED.growth, level = EXCLUDED.level,
           updated_at = EXCLUDED.updated_at;
    INSERT INTO commerce.crm_dirty (tenant_id, person_id) VALUES (p_tenant, p_person);
END $$;
COMMENT ON FUNCTION commerce.refresh_crm_person(bigint, bigint) IS
  'Recompute a person''s CRM features and daily rollups from its accounts and paid orders (after a merge or unmerge, or to repair); a person with no accounts left loses them. The triggers keep them current otherwise; check_crm_invariants compares the two.';

-- AFTER INSERT ON commerce.customer: the person's features (registered, birthday) include the new account.
CREATE FUNCTION commerce._crm_on_customer() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE v_tz text;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.person_id IS DISTINCT FROM OLD.person_id THEN
            -- a merge moves the emptied person's tags to the one it joined; then both are recomputed
            IF NOT EXISTS (SELECT 1 FROM commerce.customer c WHERE c.tenant_id = OLD.tenant_id AND c.person_id = OLD.person_id) THEN
                WITH moved AS (
                    INSERT INTO commerce.person_tag (tenant_id, tag_id, person_id, tagged_by, tagged_at)
                    SELECT pt.tenant_id, pt.tag_id, NEW.person_id, 'merge', commerce.now()
                      FROM commerce.person_tag pt JOIN commerce.tag t ON t.tenant_id = pt.tenant_id AND t.tag_id = pt.tag_id
                     WHERE pt.tenant_id = OLD.tenant_id AND pt.person_id = OLD.person_id AND t.source <> 'rule'
                    ON CONFLICT DO NOTHING RETURNING tag_id)
                INSERT INTO commerce.tag_change (tenant_id, tag_id, person_id, op, by_whom, at)
                SELECT NEW.tenant_id, m.tag_id, NEW.person_id, 'add', 'merge', commerce.now() FROM moved m;
            END IF;
            PERFORM commerce.refresh_crm_person(OLD.tenant_id, OLD.person_id);
            PERFORM commerce.refresh_crm_person(NEW.tenant_id, NEW.person_id);
        ELSIF NEW.birthday IS DISTINCT FROM OLD.birthday THEN
            UPDATE commerce.crm_feature f SET birthday_month = extract(month FROM NEW.birthday)::integer, updated_at = commerce.now()
             WHERE f.tenant_id = NEW.tenant_id AND f.person_id = NEW.person_id
               AND f.birthday_month IS DISTINCT FROM extract(month FROM NEW.birthday)::integer;
            IF FOUND THEN
                INSERT INTO commerce.crm_dirty (tenant_id, person_id, at) VALUES (NEW.tenant_id, NEW.person_id, commerce.now());
            END IF;
        END IF;
        RETURN NULL;
    END IF;
    SELECT t.time_zone INTO v_tz FROM commerce.tenant t WHERE t.tenant_id = NEW.tenant_id;
    INSERT INTO commerce.crm_feature AS f (tenant_id, person_id, registered_at, registered_day, birthday_month, updated_at)
    VALUES (NEW.tenant_id, NEW.person_id, NEW.created_at, (NEW.created_at AT TIME ZONE v_tz)::date,
            extract(month FROM NEW.birthday)::integer, commerce.now())
    ON CONFLICT (tenant_id, person_id) DO UPDATE
       SET registered_at = least(f.registered_at, EXCLUDED.registered_at),
           registered_day = least(f.registered_day, EXCLUDED.registered_day),
           birthday_month = coalesce(f.birthday_month, EXCLUDED.birthday_month), updated_at = EXCLUDED.updated_at;
    PERFORM commerce._flow_trigger(NEW.tenant_id, NEW.person_id, 'registered', NULL, 'registered:' || NEW.person_id);
    RETURN NULL;
END $$;
COMMENT ON FUNCTION commerce._crm_on_customer() IS
  'Trigger on commerce.customer (after_60_crm, after_61_crm_person): a new account gives its person a feature row (registered, birthday month) and a registered trigger for flows; a birthday set updates it; an account moved to another person (merge, unmerge) recomputes both persons, and a person left with no accounts hands its manual and model tags to the one it joined.';

CREATE TRIGGER after_60_crm AFTER INSERT ON commerce.customer
    FOR EACH ROW EXECUTE FUNCTION commerce._crm_on_customer();
CREATE TRIGGER after_61_crm_person AFTER UPDATE OF person_id, birthday ON commerce.customer
    FOR EACH ROW EXECUTE FUNCTION commerce._crm_on_customer();

-- AFTER INSERT OR UPDATE ON commerce.orders: the person's rollups follow the order's paid and refunded amounts.
CREATE FUNCTION commerce._crm_on_order() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE v_tz text; v_person bigint; v_old_person bigint; v_day date; v_n integer; v_spent bigint; v_refunded bigint;
        v_found boolean; v_source text;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.customer_id IS NOT NULL AND OLD.paid_at IS NOT NULL THEN
        IF NEW.customer_id IS DISTINCT FROM OLD.customer_id OR NEW.paid_at IS DISTINCT FROM OLD.paid_at THEN
            -- an order leaves a person or changes its paid day (rare): recompute rather than subtract
            SELECT c.person_id INTO v_old_person FROM commerce.customer c
             WHERE c.tenant_id = OLD.tenant_id AND c.customer_id = OLD.customer_id;
            PERFORM commerce.refresh_crm_person(OLD.tenant_id, v_old_person);
            IF NEW.customer_id IS NOT NULL AND NEW.paid_at IS NOT NULL THEN
                SELECT c.person_id INTO v_person FROM commerce.customer c
                 WHERE c.tenant_id = NEW.tenant_id AND c.customer_id = NEW.customer_id;
                IF v_person IS DISTINCT FROM v_old_person THEN
                    PERFORM commerce.refresh_crm_person(NEW.tenant_id, v_person);
                END IF;
            END IF;
            RETURN NULL;
        END IF;
        -- the same paid order: only its amounts moved
        v_n := 0;
        v_spent := (coalesce(NEW.paid_fen, 0) - NEW.refunded_fen) - (coalesce(OLD.paid_fen, 0) - OLD.refunded_fen);
        v_refunded := NEW.refunded_fen - OLD.refunded_fen;
    ELSE
        IF NEW.customer_id IS NULL OR NEW.paid_at IS NULL THEN
            RETURN NULL;
        END IF;
        v_n := 1;
        v_spent := coalesce(NEW.paid_fen, 0) - NEW.refunded_fen;
        v_refunded := NEW.refunded_fen;
    END IF;
    IF v_n = 0 AND v_spent = 0 AND v_refunded = 0 THEN
        RETURN NULL;
    END IF;
    -- one lookup: the person, the tenant's time zone, the channel's code
    SELECT c.person_id, t.time_zone, ch.code INTO v_person, v_tz, v_source
      FROM commerce.customer c JOIN commerce.tenant t ON t.tenant_id = c.tenant_id
      LEFT JOIN commerce.channel ch ON ch.tenant_id = c.tenant_id AND ch.channel_id = NEW.channel_id
     WHERE c.tenant_id = NEW.tenant_id AND c.customer_id = NEW.customer_id;
    v_day := (NEW.paid_at AT TIME ZONE v_tz)::date;
    INSERT INTO commerce.crm_day AS d (tenant_id, person_id, day, orders, spent_fen)
    VALUES (NEW.tenant_id, v_person, v_day, v_n, v_spent)
    ON CONFLICT (tenant_id, person_id, day) DO UPDATE
       SET orders = d.orders + EXCLUDED.orders, spent_fen = d.spent_fen + EXCLUDED.spent_fen;
    -- the first paid order also names the person's source channel
    UPDATE commerce.crm_feature f
       SET orders_count = f.orders_count + v_n, spent_fen = f.spent_fen + v_spent,
           refunded_fen = f.refunded_fen + v_refunded,
           first_order_at = CASE WHEN v_n = 1 THEN least(f.first_order_at, NEW.paid_at) ELSE f.first_order_at END,
           last_order_at = CASE WHEN v_n = 1 THEN greatest(f.last_order_at, NEW.paid_at) ELSE f.last_order_at END,
           last_order_day = CASE WHEN v_n = 1 THEN greatest(f.last_order_day, v_day) ELSE f.last_order_day END,
           source = CASE WHEN v_n = 1 AND f.orders_count = 0 THEN v_source ELSE f.source END,
           growth = greatest(f.spent_fen + v_spent, 0) / 100,
           level = commerce._growth_level(f.tenant_id, greatest(f.spent_fen + v_spent, 0) / 100),
           updated_at = commerce.now()
     WHERE f.tenant_id = NEW.tenant_id AND f.person_id = v_person
    RETURNING true INTO v_found;
    IF v_found IS NULL THEN
        PERFORM commerce.refresh_crm_person(NEW.tenant_id, v_person);   -- no feature row yet (an older account)
    ELSE
        INSERT INTO commerce.crm_dirty (tenant_id, person_id, at) VALUES (NEW.tenant_id, v_person, commerce.now());
    END IF;
    -- a newly paid order may trigger flows (ref: its channel)
    IF v_n = 1 AND commerce._flow_listens(NEW.tenant_id, 'purchase', v_source) THEN
        INSERT INTO commerce.flow_trigger (tenant_id, person_id, kind, ref, key, origin_flow, at)
        VALUES (NEW.tenant_id, v_person, 'purchase', v_source, 'purchase:' || NEW.order_id,
                nullif(current_setting('commerce_flow.origin', true), '')::bigint, commerce.now())
        ON CONFLICT (tenant_id, key) DO NOTHING;
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION commerce._crm_on_order() IS
  'Trigger on commerce.orders (after_60_crm, after_61_crm_insert): a paid order adds one order and its net amount to its person''s daily rollup (the tenant-local day it was paid) and features, and a purchase trigger for flows (ref: its channel); a refund takes its amount back from the same day; an order moved to another customer or paid day recomputes the persons concerned.';

CREATE TRIGGER after_60_crm AFTER UPDATE ON commerce.orders
    FOR EACH ROW WHEN (NEW.paid_at IS NOT NULL
                       AND (OLD.paid_at, OLD.paid_fen, OLD.refunded_fen, OLD.customer_id)
                           IS DISTINCT FROM (NEW.paid_at, NEW.paid_fen, NEW.refunded_fen, NEW.customer_id))
    EXECUTE FUNCTION commerce._crm_on_order();
CREATE TRIGGER after_61_crm_insert AFTER INSERT ON commerce.orders
    FOR EACH ROW WHEN (NEW.paid_at IS NOT NULL AND NEW.customer_id IS NOT NULL)
    EXECUTE FUNCTION commerce._crm_on_order();

-- AFTER a change a segment may read, of a row with a person_id: queue the person for the CRM pump.
CREATE FUNCTION commerce._crm_dirty_person() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO commerce.crm_dirty (tenant_id, person_id, at) VALUES (OLD.tenant_id, OLD.person_id, commerce.now());
    ELSE
        INSERT INTO commerce.crm_dirty (tenant_id, person_id, at) VALUES (NEW.tenant_id, NEW.person_id, commerce.now());
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION commerce._crm_dirty_person() IS
  'Trigger (after_62_crm_dirty and after_63_* on crm_feature (inserts), person_tag, person_group, crm_event): queue the row''s person in crm_dirty, in the transaction of the change, for the CRM pump to re-evaluate its segments.';

-- AFTER a change a segment may read, of a row with a customer_id: queue its person for the CRM pump.
CREATE FUNCTION commerce._crm_dirty_customer() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO commerce.crm_dirty (tenant_id, person_id, at)
    SELECT c.tenant_id, c.person_id, commerce.now() FROM commerce.customer c
     WHERE c.tenant_id = NEW.tenant_id AND c.customer_id = NEW.customer_id;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION commerce._crm_dirty_customer() IS
  'Trigger (after_62_crm_dirty and after_63_crm_dirty_update on membership, koc, points_account; updates only when what segments read changed): queue the person of the row''s customer in crm_dirty, in the transaction of the change, for the CRM pump to re-evaluate its segments.';

-- a new feature row queues its person; every UPDATE of crm_feature queues it itself, in the same
-- function (the order trigger, refresh_crm_person, a birthday, set_growth_levels): one insert
-- instead of a second trigger on every payment
CREATE TRIGGER after_62_crm_dirty AFTER INSERT ON commerce.crm_feature
    FOR EACH ROW EXECUTE FUNCTION commerce._crm_dirty_person();
-- tags set by rules follow segments the pump has just evaluated: no second round
CREATE TRIGGER after_62_crm_dirty AFTER INSERT ON commerce.person_tag
    FOR EACH ROW WHEN (NEW.tagged_by NOT LIKE 'rule:%') EXECUTE FUNCTION commerce._crm_dirty_person();
CREATE TRIGGER after_63_crm_dirty_delete AFTER DELETE ON commerce.person_tag
    FOR EACH ROW WHEN (OLD.tagged_by NOT LIKE 'rule:%') EXECUTE FUNCTION commerce._crm_dirty_person();
CREATE TRIGGER after_62_crm_dirty AFTER INSERT OR DELETE ON commerce.person_group
    FOR EACH ROW EXECUTE FUNCTION commerce._crm_dirty_person();
CREATE TRIGGER after_62_crm_dirty AFTER INSERT ON commerce.crm_event
    FOR EACH ROW EXECUTE FUNCTION commerce._crm_dirty_person();
CREATE TRIGGER after_62_crm_dirty AFTER INSERT ON commerce.membership
    FOR EACH ROW EXECUTE FUNCTION commerce._crm_dirty_customer();
CREATE TRIGGER after_63_crm_dirty_update AFTER UPDATE ON commerce.membership
    FOR EACH ROW WHEN ((OLD.status, OLD.plan_id) IS DISTINCT FROM (NEW.status, NEW.plan_id))
    EXECUTE FUNCTION commerce._crm_dirty_customer();
CREATE TRIGGER after_62_crm_dirty AFTER INSERT ON commerce.koc
    FOR EACH ROW WHEN (NEW.customer_id IS NOT NULL) EXECUTE FUNCTION commerce._crm_dirty_customer();
CREATE TRIGGER after_63_crm_dirty_update AFTER UPDATE ON commerce.koc
    FOR EACH ROW WHEN ((OLD.level_code, OLD.status, OLD.customer_id) IS DISTINCT FROM (NEW.level_code, NEW.status, NEW.customer_id))
    EXECUTE FUNCTION commerce._crm_dirty_customer();
CREATE TRIGGER after_62_crm_dirty AFTER INSERT ON commerce.points_account
    FOR EACH ROW WHEN (NEW.available <> 0) EXECUTE FUNCTION commerce._crm_dirty_customer();
CREATE TRIGGER after_63_crm_dirty_update AFTER UPDATE ON commerce.points_account
    FOR EACH ROW WHEN (OLD.available IS DISTINCT FROM NEW.available) EXECUTE FUNCTION commerce._crm_dirty_customer();

-- Set a tenant's growth levels (replacing them); every person's level follows.
CREATE FUNCTION commerce.set_growth_levels(p_tenant bigint, p_levels jsonb) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE e jsonb; i integer := 0; n integer; v_level integer; v_min bigint; v_prev bigint := -1;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_levels, 'p_levels');
    IF jsonb_typeof(p_levels) <> 'array' OR jsonb_array_length(p_levels) > 99 THEN
        PERFORM commerce._invalid('p_levels', 'not a list of at most 99 levels',
                                  'Send [{"level":1,"name":"Silver","min_growth":500}, ...] in rising order.');
    END IF;
    PERFORM 1 FROM commerce.tenant t WHERE t.tenant_id = p_tenant FOR UPDATE;
    DELETE FROM commerce.growth_level g WHERE g.tenant_id = p_tenant;
    FOR e IN SELECT value FROM jsonb_array_elements(p_levels) LOOP
        i := i + 1;
        IF jsonb_typeof(e) <> 'object' OR NOT e ?& ARRAY['level', 'name', 'min_growth'] THEN
            PERFORM commerce._invalid('p_levels', format('p_levels[%s] needs level, name and min_growth.', i - 1),
                                      'Send {"level":1,"name":"Silver","min_growth":500}.');
        END IF;
        v_level := commerce._json_int(e -> 'level', format('p_levels[%s].level', i - 1), 1, 99, 'p_levels');
        v_min := commerce._json_int(e -> 'min_growth', format('p_levels[%s].min_growth', i - 1), 0, 1000000000000, 'p_levels');
        IF jsonb_typeof(e -> 'name') <> 'string' OR length(e ->> 'name') NOT BETWEEN 1 AND 100 THEN
            PERFORM commerce._invalid('p_levels', format('p_levels[%s].name is %s.', i - 1, left((e -> 'name')::text, 64)),
                                      'A level''s name is a string of 1 to 100 characters.');
        END IF;
        IF v_level <> i OR v_min <= v_prev THEN
            PERFORM commerce._invalid('p_levels', format('p_levels[%s] is level %s from growth %s.', i - 1, v_level, v_min),
                                      'Number levels 1, 2, 3, ... with rising min_growth.');
        END IF;
        v_prev := v_min;
        INSERT INTO commerce.growth_level (tenant_id, level, name, min_growth)
        VALUES (p_tenant, v_level, e ->> 'name', v_min);
    END LOOP;
    WITH changed AS (
        UPDATE commerce.crm_feature f SET level = commerce._growth_level(p_tenant, f.growth), updated_at = commerce.now()
         WHERE f.tenant_id = p_tenant AND f.level <> commerce._growth_level(p_tenant, f.growth)
        RETURNING f.person_id)
    INSERT INTO commerce.crm_dirty (tenant_id, person_id, at) SELECT p_tenant, c.person_id, commerce.now() FROM changed c;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce.set_growth_levels(bigint, jsonb) IS
  'Replace a tenant''s growth levels (CRM01): a list of {level, name, min_growth}, levels numbered 1, 2, 3, ... with rising min_growth (whole yuan of net spending). Every person''s level follows at once; returns how many changed level (their segments are re-evaluated by the CRM pump).';

-- Record an interaction of a person (checked by the caller), once per request_id; group events keep person_group.
CREATE FUNCTION commerce._person_event(p_tenant bigint, p_person bigint, p_kind text, p_request_id text, p_ref text,
                                       p_note text, p_source text, p_at timestamptz)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_id bigint;
BEGIN
    INSERT INTO commerce.crm_event (tenant_id, person_id, kind, ref, note, source, request_id, at)
    VALUES (p_tenant, p_person, p_kind, p_ref, p_note, p_source, p_request_id, p_at)
    ON CONFLICT (tenant_id, request_id) DO NOTHING
    RETURNING event_id INTO v_id;
    IF v_id IS NULL THEN
        SELECT e.event_id INTO v_id FROM commerce.crm_event e WHERE e.tenant_id = p_tenant AND e.request_id = p_request_id;
        RETURN v_id;
    END IF;
    IF p_kind = 'joined_group' THEN
        INSERT INTO commerce.person_group (tenant_id, group_code, person_id, joined_at)
        VALUES (p_tenant, p_ref, p_person, p_at) ON CONFLICT DO NOTHING;
    ELSIF p_kind = 'left_group' THEN
        DELETE FROM commerce.person_group g WHERE g.tenant_id = p_tenant AND g.group_code = p_ref AND g.person_id = p_person;
    END IF;
    RETURN v_id;
END $$;
COMMENT ON FUNCTION commerce._person_event(bigint, bigint, text, text, text, text, text, timestamptz) IS
  'The crm_event of a person (the caller checked the kind, key and sizes), once per request_id (a repeat returns the first event''s id); joined_group and left_group keep person_group.';

-- Record an interaction of a person, once per request_id.
CREATE FUNCTION commerce.record_crm_event(p_tenant bigint, p_customer text, p_kind text, p_request_id text,
                                          p_ref text DEFAULT NULL, p_note text DEFAULT NULL,
                                          p_source text DEFAULT 'service', p_at timestamptz DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_person bigint; v_id bigint; v_at timestamptz := coalesce(p_at, commerce.now());
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._require(p_kind, 'p_kind');
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    IF p_kind !~ '^(browse|consultation|complaint|praise|activity|koc_promotion|joined_group|left_group|custom\.[a-z0-9_]{1,55})$' THEN
        PERFORM commerce._invalid('p_kind', format('kind "%s"', left(p_kind, 64)),
            'Kinds: browse, consultation, complaint, praise, activity, koc_promotion, joined_group, left_group, or custom.<name> (lower case).');
    END IF;
    IF p_kind IN ('joined_group', 'left_group') AND p_ref IS NULL THEN
        PERFORM commerce._invalid('p_ref', 'a group event without its group', 'Name the group in p_ref.');
    END IF;
    IF length(p_ref) > 200 OR length(p_note) > 2000 OR length(p_source) NOT BETWEEN 1 AND 64 THEN
        PERFORM commerce._invalid('p_ref', 'ref, note or source too long',
                                  'A ref is at most 200 characters, a note 2000, a source 1 to 64.');
    END IF;
    IF NOT isfinite(v_at) OR v_at > commerce.now() + interval '5 minutes' THEN
        PERFORM commerce._invalid('p_at', format('%s', v_at), 'An event happened at a finite time, not in the future.');
    END IF;
    SELECT e.event_id INTO v_id FROM commerce.crm_event e WHERE e.tenant_id = p_tenant AND e.request_id = p_request_id;
    IF FOUND THEN
        RETURN v_id;
    END IF;
    SELECT c.person_id INTO v_person FROM commerce.customer c WHERE c.tenant_id = p_tenant AND c.code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    RETURN commerce._person_event(p_tenant, v_person, p_kind, p_request_id, p_ref, p_note, p_source, v_at);
END $$;
COMMENT ON FUNCTION commerce.record_crm_event(bigint, text, text, text, text, text, text, timestamptz) IS
  'Record an interaction of a customer''s person once per request_id (a retry returns the first event''s id): browse, consultation, complaint, praise, activity, koc_promotion, joined_group / left_group (ref: the group; keeps person_group), or custom.<name>; at defaults to now and is never in the future. Segments count events over windows; the customer 360 lists them.';
