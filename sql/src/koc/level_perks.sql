-- sql/src/koc/level_perks.sql: the member-system side of level benefits
-- (K06). A level grants member benefits (a member discount, priority
-- shipping or service, a badge, birthday double points) to its KOCs'
-- customer accounts, through the members module's customer_benefit rows
-- that checkout, payment and points already read; and a level with an
-- airdrop has the NFT issuer (an adapter, through the outbox) airdrop each
-- KOC that reaches it once, the issuer answering through record_airdrop.
-- Both follow a KOC's level and status the moment they change (a
-- statement triggers on commerce.koc, set-based for the monthly
-- recalculation) and a level's benefits the moment they are set.

CREATE TABLE commerce.koc_level_perk (
    tenant_id  bigint NOT NULL,
    level_code text NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('member_discount', 'priority_shipping', 'birthday_double_points',
                                             'badge', 'priority_service')),
    rate_bp    integer NOT NULL DEFAULT 0 CHECK (rate_bp BETWEEN 0 AND 10000),
    label      text CHECK (length(label) BETWEEN 1 AND 100),
    PRIMARY KEY (tenant_id, level_code, kind),
    FOREIGN KEY (tenant_id, level_code) REFERENCES commerce.koc_level ON DELETE CASCADE
);
COMMENT ON TABLE commerce.koc_level_perk IS
  'The member benefits a KOC level grants (K06): while a KOC is active at the level, its customer account holds each as a customer_benefit of source koc_level:<koc_id> (a member discount in bp, priority shipping, birthday double points, a badge, priority service), read by checkout, payment and points like a paid membership''s.';

CREATE TABLE commerce.koc_airdrop (
    tenant_id    bigint NOT NULL,
    koc_id       bigint NOT NULL,
    level_code   text NOT NULL,
    status       text NOT NULL CHECK (status IN ('requested', 'issued', 'failed')),
    attempts     integer NOT NULL DEFAULT 1 CHECK (attempts BETWEEN 1 AND 100),
    requested_at timestamptz NOT NULL,
    decided_at   timestamptz,
    token_ref    text CHECK (length(token_ref) BETWEEN 1 AND 200),
    reason       text CHECK (length(reason) BETWEEN 1 AND 500),
    PRIMARY KEY (tenant_id, koc_id, level_code),
    -- no foreign keys to koc and koc_level: rows are written only by _koc_sync_perks and
    -- retry_airdrop from rows that exist, KOCs and levels are never deleted, and the two checks
    -- were two thirds of the month close's airdrop insert (docs/benchmarks.md, run K)
    CHECK ((status = 'issued') = (token_ref IS NOT NULL)),
    CHECK ((status = 'failed') = (reason IS NOT NULL))
);
COMMENT ON TABLE commerce.koc_airdrop IS
  'The NFT airdrop of a KOC for a level with an airdrop (K06), once per KOC and level: requested (nft.airdrop in the outbox) when the KOC is active at the level, issued (the issuer''s token reference) or failed (its reason) as the issuer answers through record_airdrop; a failed airdrop is requested again by retry_airdrop.';

CREATE TRIGGER before_10_state_guard BEFORE INSERT OR UPDATE ON commerce.koc_airdrop
    FOR EACH ROW EXECUTE FUNCTION commerce.state_guard('status', 'requested', 'requested>issued', 'requested>failed', 'failed>requested');

-- The member benefits the customers of some KOCs should hold now.
CREATE FUNCTION commerce._koc_perk_want(p_tenant bigint, p_kocs bigint[])
RETURNS TABLE (customer_id bigint, source text, kind text, rate_bp integer, label text)
LANGUAGE sql STABLE AS $$
    SELECT k.customer_id, 'koc_level:' || k.koc_id, p.kind, p.rate_bp, coalesce(p.label, l.name || ' KOC')
      FROM commerce.koc k
      JOIN commerce.koc_level l ON l.tenant_id = k.tenant_id AND l.code = k.level_code
      JOIN commerce.koc_level_perk p ON p.tenant_id = k.tenant_id AND p.level_code = k.level_code
     WHERE k.tenant_id = p_tenant AND k.koc_id = ANY (p_kocs) AND k.status = 'active' AND k.customer_id IS NOT NULL;
$$;
COMMENT ON FUNCTION commerce._koc_perk_want(bigint, bigint[]) IS
  'K06: the customer_benefit rows (customer, source koc_level:<koc_id>, kind, rate, label) the active KOCs among these should hold for their level.';

-- Bring the member benefits and airdrops of some KOCs in line with their level and status.
CREATE FUNCTION commerce._koc_sync_perks(p_tenant bigint, p_kocs bigint[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE v_now timestamptz := commerce.now(); n integer := 0;
BEGIN
    -- their levels, shared in code order: a save of a level's benefits (set_level_perks holds the
    -- level for no-key update) is waited for, and its benefits are read after it commits
    PERFORM 1 FROM commerce.koc_level l
     WHERE l.tenant_id = p_tenant
       AND l.code IN (SELECT k.level_code FROM commerce.koc k WHERE k.tenant_id = p_tenant AND k.koc_id = ANY (p_kocs))
     ORDER BY l.code FOR SHARE;
    -- granted (again from now when it had ended) or changed
    INSERT INTO commerce.customer_benefit AS b (tenant_id, customer_id, kind, rate_bp, label, source, valid_from, valid_until)
    SELECT p_tenant, w.customer_id, w.kind, w.rate_bp, w.label, w.source, v_now, 'infinity'
      FROM commerce._koc_perk_want(p_tenant, p_kocs) w
    ON CONFLICT (tenant_id, source, kind) DO UPDATE
       SET rate_bp = EXCLUDED.rate_bp, label = EXCLUDED.label, customer_id = EXCLUDED.customer_id,
           valid_from = CASE WHEN b.valid_until <= v_now THEN v_now ELSE b.valid_from END, valid_until = 'infinity'
     WHERE b.valid_until <= v_now OR b.rate_bp IS DISTINCT FROM EXCLUDED.rate_bp OR b.label IS DISTINCT FROM EXCLUDED.label
        OR b.customer_id IS DISTINCT FROM EXCLUDED.customer_id;
    -- ended: the level no longer grants it, or the KOC is frozen or suspended
    UPDATE commerce.customer_benefit b SET valid_until = greatest(b.valid_from, v_now)
     WHERE b.tenant_id = p_tenant AND b.source = ANY (ARRAY(SELECT 'koc_level:' || x FROM unnest(p_kocs) x))
       AND b.valid_until > v_now
       AND NOT EXISTS (SELECT 1 FROM commerce._koc_perk_want(p_tenant, p_kocs) w WHERE w.source = b.source AND w.kind = b.kind);
    -- airdrops: once per active KOC and level with an airdrop, their requests queued in one statement
    WITH d AS (
        INSERT INTO commerce.koc_airdrop AS d (tenant_id, koc_id, level_code, status, requested_at)
        SELECT k.tenant_id, k.koc_id, k.level_code, 'requested', v_now
          FROM commerce.koc k JOIN commerce.koc_level l ON l.tenant_id = k.tenant_id AND l.code = k.level_code
         WHERE k.tenant_id = p_tenant AND k.koc_id = ANY (p_kocs) AND k.status = 'active' AND l.airdrop
         ORDER BY k.koc_id
        ON CONFLICT DO NOTHING
        RETURNING d.koc_id, d.level_code, d.attempts)
    SELECT commerce._request_airdrops(p_tenant, array_agg(d.koc_id), array_agg(d.level_code), array_agg(d.attempts))
      INTO n FROM d;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce._koc_sync_perks(bigint, bigint[]) IS
  'K06: give the customer accounts of these KOCs the member benefits of their level while they are active (customer_benefit rows of source koc_level:<koc_id>, ended when the level stops granting one or the KOC is frozen or suspended) and request the airdrop of each active KOC at a level with one, once; returns the airdrops requested.';

-- Queue airdrop requests for the NFT issuer, in one statement.
CREATE FUNCTION commerce._request_airdrops(p_tenant bigint, p_kocs bigint[], p_levels text[], p_attempts integer[])
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE n integer;
BEGIN
    IF coalesce(cardinality(p_kocs), 0) = 0 THEN
        RETURN 0;
    END IF;
    WITH m AS (
        INSERT INTO commerce.outbox (tenant_id, topic, dedupe_key, payload, available_at, created_at)
        SELECT p_tenant, 'nft.airdrop', format('airdrop:%s:%s:%s', r.koc_id, r.level_code, r.attempt),
               jsonb_build_object('koc', k.code, 'customer', c.code, 'level', r.level_code, 'level_name', l.name,
                                  'attempt', r.attempt),
               commerce.now(), commerce.now()
          FROM unnest(p_kocs, p_levels, p_attempts) AS r(koc_id, level_code, attempt)
          JOIN commerce.koc k ON k.tenant_id = p_tenant AND k.koc_id = r.koc_id
          JOIN commerce.koc_level l ON l.tenant_id = p_tenant AND l.code = r.level_code
          LEFT JOIN commerce.customer c ON c.tenant_id = p_tenant AND c.customer_id = k.customer_id
         ORDER BY r.koc_id
        ON CONFLICT (tenant_id, topic, dedupe_key) DO NOTHING
        RETURNING 1)
    SELECT count(*) INTO n FROM m;
    IF n > 0 THEN
        PERFORM pg_notify('commerce_outbox', 'nft.airdrop');
    END IF;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce._request_airdrops(bigint, bigint[], text[], integer[]) IS
  'K06: queue nft.airdrop {koc, customer, level, level_name, attempt} for the NFT issuer for each KOC, level and attempt given, in one statement (the monthly recalculation promotes thousands at once), deduplicated per KOC, level and attempt; returns how many were queued.';

-- The triggers: KOCs inserted, or whose level, status or customer changed.
CREATE FUNCTION commerce._koc_perks_on_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE t record;
BEGIN
    FOR t IN SELECT n.tenant_id, array_agg(n.koc_id ORDER BY n.koc_id) AS kocs FROM new_kocs n GROUP BY n.tenant_id ORDER BY n.tenant_id LOOP
        PERFORM commerce._koc_sync_perks(t.tenant_id, t.kocs);
    END LOOP;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION commerce._koc_perks_on_insert() IS
  'K06: after KOCs are inserted, give them their level''s member benefits and airdrop (commerce._koc_sync_perks), set-based per tenant.';

CREATE FUNCTION commerce._koc_perks_on_update() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE t record;
BEGIN
    FOR t IN SELECT n.tenant_id, array_agg(n.koc_id ORDER BY n.koc_id) AS kocs
               FROM new_kocs n JOIN old_kocs o ON o.tenant_id = n.tenant_id AND o.koc_id = n.koc_id
              WHERE o.level_code IS DISTINCT FROM n.level_code OR o.status IS DISTINCT FROM n.status
                 OR o.customer_id IS DISTINCT FROM n.customer_id
              GROUP BY n.tenant_id ORDER BY n.tenant_id LOOP
        PERFORM commerce._koc_sync_perks(t.tenant_id, t.kocs);
    END LOOP;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION commerce._koc_perks_on_update() IS
  'K06: after KOCs'' level, status or customer change (one statement: the monthly recalculation, a freeze), bring their member benefits and airdrops in line (commerce._koc_sync_perks), set-based per tenant.';

CREATE TRIGGER after_20_perks_on_insert AFTER INSERT ON commerce.koc
    REFERENCING NEW TABLE AS new_kocs FOR EACH STATEMENT EXECUTE FUNCTION commerce._koc_perks_on_insert();
CREATE TRIGGER after_20_perks_on_update AFTER UPDATE ON commerce.koc
    REFERENCING OLD TABLE AS old_kocs NEW TABLE AS new_kocs FOR EACH STATEMENT EXECUTE FUNCTION commerce._koc_perks_on_update();

-- Set the member benefits a level grants, replacing those it granted.
CREATE FUNCTION commerce.set_level_perks(p_tenant bigint, p_level text, p_perks jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE r jsonb; n integer := 0; v_key text; v_kocs bigint[];
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_level, 'p_level');
    PERFORM commerce._require(p_perks, 'p_perks');
    PERFORM commerce.ensure_koc_levels(p_tenant);
    -- no-key update: KOCs may still move to the level (their foreign key shares its key) but their
    -- benefits wait for this save (commerce._koc_sync_perks shares the level)
    PERFORM 1 FROM commerce.koc_level WHERE tenant_id = p_tenant AND code = p_level FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('KOC level', p_level, p_tenant);
    END IF;
    IF jsonb_typeof(p_perks) <> 'array' OR jsonb_array_length(p_perks) > 5 THEN
        PERFORM commerce._invalid('p_perks', 'not an array of at most 5 benefits',
            'Send [{"kind":"member_discount","rate_bp":500,"label":"Gold KOC 5% off"}, {"kind":"priority_shipping"}]; [] grants none.');
    END IF;
    FOR r IN SELECT x FROM jsonb_array_elements(p_perks) x LOOP
        n := n + 1;
        IF jsonb_typeof(r) <> 'object' OR NOT r ? 'kind' THEN
            PERFORM commerce._invalid('p_perks', format('benefit %s is not an object with a kind', n), 'Each benefit is {"kind":..., "rate_bp":..., "label":...}.');
        END IF;
        FOR v_key IN SELECT jsonb_object_keys(r) LOOP
            IF v_key NOT IN ('kind', 'rate_bp', 'label') THEN
                PERFORM commerce._invalid('p_perks', format('benefit %s has an unknown key "%s"', n, left(v_key, 64)), 'A benefit has kind, rate_bp and label.');
            END IF;
        END LOOP;
        IF r ->> 'kind' IS NULL OR r ->> 'kind' NOT IN ('member_discount', 'priority_shipping', 'birthday_double_points', 'badge', 'priority_service') THEN
            PERFORM commerce._invalid('p_perks', format('benefit %s: kind %s', n, left(coalesce(r ->> 'kind', 'null'), 64)),
                'member_discount, priority_shipping, birthday_double_points, badge or priority_service.');
        END IF;
        IF (r ? 'rate_bp' AND (jsonb_typeof(r -> 'rate_bp') <> 'number' OR (r ->> 'rate_bp')::numeric <> trunc((r ->> 'rate_bp')::numeric)
                               OR (r ->> 'rate_bp')::numeric NOT BETWEEN 0 AND commerce._limit('bp_scale')))
           OR (r ->> 'kind' = 'member_discount' AND coalesce((r ->> 'rate_bp')::numeric, 0) = 0) THEN
            PERFORM commerce._invalid('p_perks', format('benefit %s: rate_bp %s', n, coalesce(r ->> 'rate_bp', 'missing')),
                'rate_bp is a whole number of basis points, 0 to 10000; a member discount needs one above 0.');
        END IF;
        IF r ? 'label' AND (jsonb_typeof(r -> 'label') <> 'string' OR length(r ->> 'label') NOT BETWEEN 1 AND 100) THEN
            PERFORM commerce._invalid('p_perks', format('benefit %s: a label that is not 1 to 100 characters', n), 'A label of 1 to 100 characters, or leave it out.');
        END IF;
    END LOOP;
    IF (SELECT count(DISTINCT x ->> 'kind') FROM jsonb_array_elements(p_perks) x) <> n THEN
        PERFORM commerce._invalid('p_perks', 'a kind given twice', 'Each kind of benefit once per level.');
    END IF;
    DELETE FROM commerce.koc_level_perk WHERE tenant_id = p_tenant AND level_code = p_level;
    INSERT INTO commerce.koc_level_perk (tenant_id, level_code, kind, rate_bp, label)
    SELECT p_tenant, p_level, x ->> 'kind', coalesce((x ->> 'rate_bp')::integer, 0), x ->> 'label'
      FROM jsonb_array_elements(p_perks) x;
    -- effective at once for every KOC of the level
    v_kocs := ARRAY(SELECT k.koc_id FROM commerce.koc k WHERE k.tenant_id = p_tenant AND k.level_code = p_level ORDER BY k.koc_id);
    PERFORM commerce._koc_sync_perks(p_tenant, v_kocs);
    RETURN jsonb_build_object('level', p_level, 'kocs', cardinality(v_kocs),
                              'perks', (SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object('kind', p.kind, 'rate_bp', p.rate_bp, 'label', p.label)) ORDER BY p.kind), '[]')
                                          FROM commerce.koc_level_perk p WHERE p.tenant_id = p_tenant AND p.level_code = p_level));
END $$;
COMMENT ON FUNCTION commerce.set_level_perks(bigint, text, jsonb) IS
  'K06: set the member benefits a KOC level grants [{"kind":"member_discount","rate_bp":500,"label":...}, {"kind":"priority_shipping"}, ...] (member_discount, priority_shipping, birthday_double_points, badge, priority_service; each once), replacing those it granted; effective at once: the customer accounts of the level''s active KOCs hold them now, and lose those no longer granted.';

-- The NFT issuer answers an airdrop.
CREATE FUNCTION commerce.record_airdrop(p_tenant bigint, p_koc text, p_level text, p_outcome text, p_ref text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE d commerce.koc_airdrop; v_koc bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_koc, 'p_koc');
    PERFORM commerce._require(p_level, 'p_level');
    PERFORM commerce._require(p_outcome, 'p_outcome');
    PERFORM commerce._require(p_ref, 'p_ref');
    IF p_outcome NOT IN ('issued', 'failed') THEN
        PERFORM commerce._invalid('p_outcome', format('"%s"', left(p_outcome, 100)), 'issued (p_ref: the token) or failed (p_ref: the reason).');
    END IF;
    IF length(p_ref) NOT BETWEEN 1 AND (CASE p_outcome WHEN 'issued' THEN 200 ELSE 500 END) THEN
        PERFORM commerce._invalid('p_ref', format('%s characters', length(p_ref)), 'A token reference of 1 to 200 characters, or a reason of 1 to 500.');
    END IF;
    SELECT koc_id INTO v_koc FROM commerce.koc WHERE tenant_id = p_tenant AND code = p_koc;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('KOC', p_koc, p_tenant);
    END IF;
    SELECT * INTO d FROM commerce.koc_airdrop WHERE tenant_id = p_tenant AND koc_id = v_koc AND level_code = p_level FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('airdrop', p_koc || ' ' || p_level, p_tenant);
    END IF;
    IF d.status = p_outcome AND coalesce(d.token_ref, d.reason) = p_ref THEN
        RETURN 'repeated';
    END IF;
    IF d.status <> 'requested' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('the airdrop of %s for %s is %s', p_koc, p_level, d.status),
            DETAIL = format('It was answered %s (%s) at %s.', d.status, coalesce(d.token_ref, d.reason), d.decided_at),
            HINT = 'An airdrop is answered once; a failed one is requested again with retry_airdrop.';
    END IF;
    UPDATE commerce.koc_airdrop
       SET status = p_outcome, decided_at = commerce.now(),
           token_ref = CASE WHEN p_outcome = 'issued' THEN p_ref END, reason = CASE WHEN p_outcome = 'failed' THEN p_ref END
     WHERE tenant_id = p_tenant AND koc_id = v_koc AND level_code = p_level;
    RETURN p_outcome;
END $$;
COMMENT ON FUNCTION commerce.record_airdrop(bigint, text, text, text, text) IS
  'K06: the NFT issuer answers a KOC''s airdrop for a level: issued (p_ref: the token reference) or failed (p_ref: the reason). Once: the same answer again is repeated, another PT409.';

-- Request a failed airdrop again.
CREATE FUNCTION commerce.retry_airdrop(p_tenant bigint, p_koc text, p_level text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE d commerce.koc_airdrop; v_koc bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_koc, 'p_koc');
    PERFORM commerce._require(p_level, 'p_level');
    SELECT koc_id INTO v_koc FROM commerce.koc WHERE tenant_id = p_tenant AND code = p_koc;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('KOC', p_koc, p_tenant);
    END IF;
    SELECT * INTO d FROM commerce.koc_airdrop WHERE tenant_id = p_tenant AND koc_id = v_koc AND level_code = p_level FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('airdrop', p_koc || ' ' || p_level, p_tenant);
    END IF;
    IF d.status <> 'failed' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('the airdrop of %s for %s is %s', p_koc, p_level, d.status),
            DETAIL = 'Only a failed airdrop is requested again.',
            HINT = 'A requested airdrop waits for the issuer; an issued one is done.';
    END IF;
    UPDATE commerce.koc_airdrop SET status = 'requested', attempts = d.attempts + 1, requested_at = commerce.now(),
           decided_at = NULL, reason = NULL
     WHERE tenant_id = p_tenant AND koc_id = v_koc AND level_code = p_level;
    PERFORM commerce._request_airdrops(p_tenant, ARRAY[v_koc], ARRAY[p_level], ARRAY[d.attempts + 1]);
    RETURN d.attempts + 1;
END $$;
COMMENT ON FUNCTION commerce.retry_airdrop(bigint, text, text) IS
  'K06: request a failed airdrop again (a new nft.airdrop message, attempt n+1); PT409 unless it failed. Returns the attempt number.';
