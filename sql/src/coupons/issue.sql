-- sql/src/coupons/issue.sql: defining coupons (templates, batches), issuing
-- them exactly once per source event under the batch's quota and the
-- customer's limit, the expiry pump and the invariants. An issue locks the
-- customer's holder row of the template first, then one slot of the batch
-- (one no other claim holds), so concurrent claims never deadlock, never
-- pass the quota, and a retried request finds its first coupon.

-- The ids of the codes of a JSON array of codes of one kind (PT404 for an unknown code).
CREATE FUNCTION commerce._coupon_scope_ids(p_tenant bigint, p_kind text, p_codes jsonb) RETURNS bigint[]
LANGUAGE plpgsql STABLE AS $$
DECLARE v_ids bigint[]; v_code text; v_id bigint;
BEGIN
    IF p_codes IS NULL OR jsonb_typeof(p_codes) = 'null' THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(p_codes) <> 'array' OR jsonb_array_length(p_codes) NOT BETWEEN 1 AND 1000
       OR EXISTS (SELECT 1 FROM jsonb_array_elements(p_codes) e WHERE jsonb_typeof(e) <> 'string') THEN
        PERFORM commerce._invalid('p_spec', format('%s is not a list of codes.', p_kind),
            format('Pass "%s":["<code>", ...] (1 to 1000 codes), or leave it out for all.', p_kind));
    END IF;
    v_ids := ARRAY[]::bigint[];
    FOR v_code IN SELECT DISTINCT e FROM jsonb_array_elements_text(p_codes) e ORDER BY 1 LOOP
        v_id := CASE p_kind
            WHEN 'channels' THEN (SELECT channel_id FROM commerce.channel WHERE tenant_id = p_tenant AND code = v_code)
            WHEN 'products' THEN (SELECT product_id FROM commerce.product WHERE tenant_id = p_tenant AND code = v_code)
            WHEN 'skus'     THEN (SELECT sku_id FROM commerce.sku WHERE tenant_id = p_tenant AND code = v_code)
            WHEN 'stores'   THEN (SELECT store_id FROM commerce.store WHERE tenant_id = p_tenant AND code = v_code)
        END;
        IF v_id IS NULL THEN
            PERFORM commerce._not_found(rtrim(p_kind, 's'), v_code, p_tenant);
        END IF;
        v_ids := v_ids || v_id;
    END LOOP;
    RETURN v_ids;
END $$;

-- A timestamp from a JSON string (absent or null: NULL); 22023 otherwise.
CREATE FUNCTION commerce._json_time(p_value jsonb, p_name text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_value IS NULL OR jsonb_typeof(p_value) = 'null' THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(p_value) <> 'string' OR (p_value #>> '{}') !~ '^\d{4}-\d{2}-\d{2}[T ][0-9:.]+([+-]\d{2}(:?\d{2})?|Z)$' THEN
        PERFORM commerce._invalid('p_spec', format('%s is %s.', p_name, left(p_value::text, 64)),
                                  'Times are ISO 8601 strings with their offset: "2026-12-12T00:00:00+08:00".');
    END IF;
    RETURN (p_value #>> '{}')::timestamptz;
END $$;

-- An integer from a JSON number in a range (absent or null: NULL); 22023 (for argument p_arg) otherwise.
CREATE FUNCTION commerce._json_int(p_value jsonb, p_name text, p_min bigint, p_max bigint, p_arg text DEFAULT 'p_spec')
RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_value IS NULL OR jsonb_typeof(p_value) = 'null' THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(p_value) <> 'number' OR (p_value #>> '{}')::numeric <> trunc((p_value #>> '{}')::numeric)
       OR (p_value #>> '{}')::numeric NOT BETWEEN p_min AND p_max THEN
        PERFORM commerce._invalid(p_arg, format('%s is %s.', p_name, left(p_value::text, 64)),
                                  format('%s is an integer from %s to %s.', p_name, p_min, p_max));
    END IF;
    RETURN (p_value #>> '{}')::bigint;
END $$;

-- Define a coupon template from a JSON document (once per code).
CREATE FUNCTION commerce.create_coupon_template(p_tenant bigint, p_code text, p_spec jsonb)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE t commerce.coupon_template%ROWTYPE; o commerce.coupon_template%ROWTYPE; v_key text;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_spec, 'p_spec');
    IF p_code !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' THEN
        PERFORM commerce._invalid('p_code', format('"%s"', left(p_code, 64)),
                                  'A code is 1 to 63 letters, digits, "_", "." or "-", starting with a letter or digit.');
    END IF;
    IF jsonb_typeof(p_spec) <> 'object' THEN
        PERFORM commerce._invalid('p_spec', 'The template is not a JSON object.',
            'Send {"name":..., "kind":"amount"|"percent", "amount_fen" or "percent_off_bp", ...}.');
    END IF;
    FOR v_key IN SELECT jsonb_object_keys(p_spec) LOOP
        IF v_key NOT IN ('name', 'kind', 'amount_fen', 'percent_off_bp', 'max_off_fen', 'threshold_fen', 'valid_from',
                         'valid_until', 'valid_days', 'channels', 'products', 'skus', 'stores', 'stacking',
                         'per_customer_limit') THEN
            PERFORM commerce._invalid('p_spec', format('Unknown key "%s".', left(v_key, 64)),
                'A template has name, kind, amount_fen, percent_off_bp, max_off_fen, threshold_fen, valid_from, valid_until, valid_days, channels, products, skus, stores, stacking and per_customer_limit.');
        END IF;
    END LOOP;
    t.tenant_id := p_tenant;
    t.code := p_code;
    t.name := p_spec ->> 'name';
    t.kind := p_spec ->> 'kind';
    IF t.name IS NULL OR length(t.name) NOT BETWEEN 1 AND 200 THEN
        PERFORM commerce._invalid('p_spec', 'name is missing or longer than 200 characters.', 'Name the coupon as customers see it.');
    END IF;
    IF t.kind IS NULL OR t.kind NOT IN ('amount', 'percent') THEN
        PERFORM commerce._invalid('p_spec', format('kind is %s.', coalesce(left(p_spec ->> 'kind', 64), 'missing')),
            'kind is amount (amount_fen off, with a threshold_fen for 满减) or percent (percent_off_bp off, at most max_off_fen).');
    END IF;
    t.amount_fen := commerce._json_int(p_spec -> 'amount_fen', 'amount_fen', 1, commerce._limit('max_fen'));
    t.percent_off_bp := commerce._json_int(p_spec -> 'percent_off_bp', 'percent_off_bp', 1, 10000);
    t.max_off_fen := commerce._json_int(p_spec -> 'max_off_fen', 'max_off_fen', 1, commerce._limit('max_fen'));
    t.threshold_fen := coalesce(commerce._json_int(p_spec -> 'threshold_fen', 'threshold_fen', 0, commerce._limit('max_fen')), 0);
    IF (t.kind = 'amount') <> (t.amount_fen IS NOT NULL) OR (t.kind = 'percent') <> (t.percent_off_bp IS NOT NULL)
       OR (t.kind = 'amount' AND t.max_off_fen IS NOT NULL) THEN
        PERFORM commerce._invalid('p_spec', format('A %s coupon with amount_fen %s, percent_off_bp %s, max_off_fen %s.', t.kind,
                                                   coalesce(t.amount_fen::text, '-'), coalesce(t.percent_off_bp::text, '-'),
                                                   coalesce(t.max_off_fen::text, '-')),
            'An amount coupon has amount_fen only; a percent coupon has percent_off_bp (and max_off_fen if capped).');
    END IF;
    t.valid_from := commerce._json_time(p_spec -> 'valid_from', 'valid_from');
    t.valid_until := commerce._json_time(p_spec -> 'valid_until', 'valid_until');
    t.valid_days := commerce._json_int(p_spec -> 'valid_days', 'valid_days', 1, 3650);
    IF (t.valid_days IS NULL) = (t.valid_until IS NULL) OR t.valid_from >= t.valid_until THEN
        PERFORM commerce._invalid('p_spec', 'The validity is neither a window (valid_from < valid_until) nor a number of days.',
            'Give valid_until (and valid_from if it starts later than the issue), or valid_days after the issue.');
    END IF;
    t.channel_ids := commerce._coupon_scope_ids(p_tenant, 'channels', p_spec -> 'channels');
    t.product_ids := commerce._coupon_scope_ids(p_tenant, 'products', p_spec -> 'products');
    t.sku_ids := commerce._coupon_scope_ids(p_tenant, 'skus', p_spec -> 'skus');
    t.store_ids := commerce._coupon_scope_ids(p_tenant, 'stores', p_spec -> 'stores');
    t.stacking := coalesce(p_spec ->> 'stacking', 'exclusive');
    IF t.stacking NOT IN ('exclusive', 'stackable') THEN
        PERFORM commerce._invalid('p_spec', format('stacking is %s.', left(t.stacking, 64)),
            'stacking is exclusive (the order''s only coupon) or stackable (with other stackable coupons).');
    END IF;
    t.per_customer_limit := commerce._json_int(p_spec -> 'per_customer_limit', 'per_customer_limit', 1, 1000);

    INSERT INTO commerce.coupon_template (tenant_id, code, name, kind, amount_fen, percent_off_bp, max_off_fen, threshold_fen,
                                          valid_from, valid_until, valid_days, channel_ids, product_ids, sku_ids, store_ids,
                                          stacking, per_customer_limit, created_at)
    VALUES (p_tenant, t.code, t.name, t.kind, t.amount_fen, t.percent_off_bp, t.max_off_fen, t.threshold_fen,
            t.valid_from, t.valid_until, t.valid_days, t.channel_ids, t.product_ids, t.sku_ids, t.store_ids,
            t.stacking, t.per_customer_limit, commerce.now())
    ON CONFLICT (tenant_id, code) DO NOTHING
    RETURNING template_id INTO t.template_id;
    IF t.template_id IS NOT NULL THEN
        RETURN t.template_id;
    END IF;
    -- a template never changes (issued coupons keep their terms): the same definition again is a repeat
    SELECT * INTO o FROM commerce.coupon_template WHERE tenant_id = p_tenant AND code = p_code;
    IF (o.name, o.kind, o.amount_fen, o.percent_off_bp, o.max_off_fen, o.threshold_fen, o.valid_from, o.valid_until,
        o.valid_days, o.channel_ids, o.product_ids, o.sku_ids, o.store_ids, o.stacking, o.per_customer_limit)
       IS DISTINCT FROM
       (t.name, t.kind, t.amount_fen, t.percent_off_bp, t.max_off_fen, t.threshold_fen, t.valid_from, t.valid_until,
        t.valid_days, t.channel_ids, t.product_ids, t.sku_ids, t.store_ids, t.stacking, t.per_customer_limit) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('coupon template "%s" exists with other terms', p_code),
            DETAIL  = 'A template''s terms never change, so that issued coupons keep what they promised.',
            HINT    = 'Define a template with a new code, and deactivate the old one with commerce.set_coupon_template_active.';
    END IF;
    RETURN o.template_id;
END $$;
COMMENT ON FUNCTION commerce.create_coupon_template(bigint, text, jsonb) IS
  'Define a coupon template: {"name", "kind":"amount"|"percent", "amount_fen" | "percent_off_bp" (+ "max_off_fen"), "threshold_fen" (0: no threshold), "valid_from"+"valid_until" (a window) or "valid_days" (after the issue), "channels", "products", "skus", "stores" (codes; absent: all), "stacking":"exclusive"|"stackable", "per_customer_limit"}. Terms never change: the same code again with the same terms returns the template, with other terms PT409. Returns the template id.';

-- Open or close a template for new issues.
CREATE FUNCTION commerce.set_coupon_template_active(p_tenant bigint, p_code text, p_active boolean)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_active, 'p_active');
    UPDATE commerce.coupon_template SET active = p_active WHERE tenant_id = p_tenant AND code = p_code;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('coupon template', p_code, p_tenant);
    END IF;
END $$;
COMMENT ON FUNCTION commerce.set_coupon_template_active(bigint, text, boolean) IS
  'Stop (false) or resume (true) issuing coupons of a template; coupons already issued stay usable until they expire.';

-- Create a batch of a template: its quota split over slots.
CREATE FUNCTION commerce.create_coupon_batch(p_tenant bigint, p_template text, p_code text, p_quota bigint,
                                             p_claimable boolean DEFAULT true, p_claim_from timestamptz DEFAULT NULL,
                                             p_claim_until timestamptz DEFAULT NULL, p_slots integer DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_template bigint; v_batch bigint; v_slots integer; b commerce.coupon_batch%ROWTYPE;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_template, 'p_template');
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_claimable, 'p_claimable');
    IF p_code !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' THEN
        PERFORM commerce._invalid('p_code', format('"%s"', left(p_code, 64)),
                                  'A code is 1 to 63 letters, digits, "_", "." or "-", starting with a letter or digit.');
    END IF;
    SELECT template_id INTO v_template FROM commerce.coupon_template WHERE tenant_id = p_tenant AND code = p_template;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('coupon template', p_template, p_tenant);
    END IF;
    IF p_quota IS NOT NULL AND p_quota NOT BETWEEN 1 AND 100000000 THEN
        PERFORM commerce._invalid('p_quota', format('%s coupons', p_quota), 'A batch holds 1 to 100000000 coupons, or NULL for no limit.');
    END IF;
    IF p_claim_from >= p_claim_until THEN
        PERFORM commerce._invalid('p_claim_until', format('%s is not after %s', p_claim_until, p_claim_from),
                                  'Claims open at p_claim_from and close at p_claim_until, later.');
    END IF;
    -- a hot batch spreads its quota over slots: one per 50 coupons, at most 16 unless asked
    v_slots := coalesce(p_slots, CASE WHEN p_quota IS NULL THEN 1 ELSE least(16, greatest(1, p_quota / 50))::integer END);
    IF v_slots NOT BETWEEN 1 AND 64 OR (p_quota IS NULL AND v_slots <> 1) OR v_slots > coalesce(p_quota, 1) THEN
        PERFORM commerce._invalid('p_slots', format('%s slots for a quota of %s', v_slots, coalesce(p_quota::text, 'no limit')),
                                  'A limited batch has 1 to 64 slots, at most one per coupon; an unlimited batch has one.');
    END IF;
    INSERT INTO commerce.coupon_batch (tenant_id, template_id, code, quota, claimable, claim_from, claim_until, slot_count, created_at)
    VALUES (p_tenant, v_template, p_code, p_quota, p_claimable, p_claim_from, p_claim_until, v_slots, commerce.now())
    ON CONFLICT (tenant_id, code) DO NOTHING
    RETURNING batch_id INTO v_batch;
    IF v_batch IS NULL THEN
        SELECT * INTO b FROM commerce.coupon_batch WHERE tenant_id = p_tenant AND code = p_code;
        IF (b.template_id, b.quota, b.claimable, b.claim_from, b.claim_until, b.slot_count)
           IS DISTINCT FROM (v_template, p_quota, p_claimable, p_claim_from, p_claim_until, v_slots) THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409',
                MESSAGE = format('coupon batch "%s" exists with other terms', p_code),
                DETAIL  = format('It has quota %s of template %s.', coalesce(b.quota::text, 'no limit'), b.template_id),
                HINT    = 'Create a batch with a new code.';
        END IF;
        RETURN b.batch_id;
    END IF;
    -- the quota split over the slots: the first slots take the remainder
    INSERT INTO commerce.coupon_slot (tenant_id, batch_id, slot_no, quota)
    SELECT p_tenant, v_batch, s, p_quota / v_slots + CASE WHEN s < p_quota % v_slots THEN 1 ELSE 0 END
      FROM generate_series(0, v_slots - 1) s;
    RETURN v_batch;
END $$;
COMMENT ON FUNCTION commerce.create_coupon_batch(bigint, text, text, bigint, boolean, timestamptz, timestamptz, integer) IS
  'Create a batch of coupons of a template: p_quota coupons (1 to 10^8; NULL: no limit), claimable by customers themselves (p_claimable) between p_claim_from and p_claim_until (NULL: open-ended), or issued only; the quota split over p_slots rows (default one per 50 coupons, at most 16) so that concurrent claims do not queue on one row. The same code again with the same terms returns the batch; with other terms PT409. Returns the batch id.';

-- The outcome of an issue.
CREATE TYPE commerce.coupon_issue_result AS (coupon_id bigint, status text, valid_from timestamptz,
                                              valid_until timestamptz, outcome text);
COMMENT ON TYPE commerce.coupon_issue_result IS
  'The outcome of issuing a coupon: the coupon, its status and validity, and what happened (issued, or existing: the source event had issued it before).';

-- Issue one coupon of a batch to a customer, once per source event.
CREATE FUNCTION commerce.issue_coupon(p_tenant bigint, p_source text, p_source_key text, p_batch text, p_customer text)
RETURNS commerce.coupon_issue_result LANGUAGE plpgsql AS $$
DECLARE b commerce.coupon_batch%ROWTYPE; t commerce.coupon_template%ROWTYPE; c commerce.coupon%ROWTYPE;
        v_customer bigint; v_now timestamptz := commerce.now(); v_issued bigint; v_slot integer; v_start integer;
        v_from timestamptz; v_until timestamptz; v_tz text;
BEGIN
    v_tz := (commerce._tenant(p_tenant)).time_zone;
    PERFORM commerce._require(p_source, 'p_source');
    PERFORM commerce._request_key(p_source_key, 'p_source_key');
    PERFORM commerce._require(p_batch, 'p_batch');
    PERFORM commerce._require(p_customer, 'p_customer');
    IF p_source NOT IN ('claim', 'issue', 'reward', 'redeem', 'flow') THEN
        PERFORM commerce._invalid('p_source', format('"%s"', left(p_source, 64)),
                                  'A coupon comes from a claim, an issue, a reward, a redemption or a flow.');
    END IF;
    SELECT * INTO b FROM commerce.coupon_batch WHERE tenant_id = p_tenant AND code = p_batch;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('coupon batch', p_batch, p_tenant);
    END IF;
    SELECT customer_id INTO v_customer FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    SELECT * INTO t FROM commerce.coupon_template WHERE tenant_id = p_tenant AND template_id = b.template_id;

    -- the customer's holder row of the template orders its issues; then a repeat finds the first
    INSERT INTO commerce.coupon_holder (tenant_id, template_id, customer_id) VALUES (p_tenant, t.template_id, v_customer)
    ON CONFLICT DO NOTHING;
    SELECT issued INTO v_issued FROM commerce.coupon_holder
     WHERE tenant_id = p_tenant AND template_id = t.template_id AND customer_id = v_customer FOR UPDATE;
    SELECT * INTO c FROM commerce.coupon WHERE tenant_id = p_tenant AND source = p_source AND source_key = p_source_key;
    IF FOUND THEN
        IF c.customer_id <> v_customer OR c.batch_id <> b.batch_id THEN
            RAISE EXCEPTION USING ERRCODE = '23505',
                MESSAGE = format('%s key "%s" already issued another coupon', p_source, left(p_source_key, 64)),
                DETAIL  = format('It issued coupon %s of batch %s to customer %s.', c.coupon_id, c.batch_id, c.customer_id),
                HINT    = 'Use a new key for a new issue.';
        END IF;
        RETURN ROW(c.coupon_id, c.status, c.valid_from, c.valid_until, 'existing')::commerce.coupon_issue_result;
    END IF;

    IF b.status <> 'open' OR NOT t.active THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('coupon batch "%s" is closed', p_batch),
            DETAIL  = CASE WHEN t.active THEN 'The batch was closed.' ELSE format('Template "%s" was deactivated.', t.code) END,
            HINT    = 'Issue from an open batch.';
    END IF;
    IF p_source = 'claim' AND NOT b.claimable THEN
        RAISE EXCEPTION USING ERRCODE = 'PT403',
            MESSAGE = format('coupon batch "%s" cannot be claimed', p_batch),
            DETAIL  = 'Its coupons are only issued (rewards, flows, redemptions).',
            HINT    = 'Claim from a claimable batch (commerce_api.coupon_batches lists them).';
    END IF;
    IF p_source = 'claim' AND (v_now < b.claim_from OR v_now >= b.claim_until) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('coupon batch "%s" is not open for claims', p_batch),
            DETAIL  = format('Claims open %s and close %s.', coalesce(b.claim_from::text, 'at once'), coalesce(b.claim_until::text, 'never')),
            HINT    = 'Claim while the batch is open.';
    END IF;
    v_from := greatest(v_now, coalesce(t.valid_from, v_now));
    -- days in the tenant's calendar, whatever the session's time zone
    v_until := coalesce(t.valid_until, ((v_now AT TIME ZONE v_tz) + make_interval(days => t.valid_days)) AT TIME ZONE v_tz);
    IF v_until <= v_now THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('coupons of template "%s" are no longer valid', t.code),
            DETAIL  = format('They were valid until %s.', t.valid_until),
            HINT    = 'Issue coupons of a template still valid.';
    END IF;
    IF t.per_customer_limit IS NOT NULL AND v_issued >= t.per_customer_limit THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('customer "%s" already has %s coupons of "%s"', left(p_customer, 64), v_issued, t.code),
            DETAIL  = format('At most %s per customer.', t.per_customer_limit),
            HINT    = 'Each customer may hold only that many of this coupon.';
    END IF;

    -- a slot with coupons left that no other claim holds, from one chosen by the key. A claim never
    -- waits on a slot's row lock: a slot locked and then found full keeps its lock to the end of the
    -- transaction, so waiting could close a cycle. When every slot with coupons left is held by
    -- claims in flight, it tries again after 1 to 10 ms (about 2 s in all), and finds the batch all
    -- claimed as soon as no slot has any left.
    v_start := abs(hashtext(p_source_key)) % b.slot_count;
    FOR v_try IN 1 .. 200 LOOP
        SELECT slot_no INTO v_slot FROM commerce.coupon_slot
         WHERE tenant_id = p_tenant AND batch_id = b.batch_id AND (quota IS NULL OR issued < quota)
         ORDER BY (slot_no + b.slot_count - v_start) % b.slot_count
         LIMIT 1 FOR UPDATE SKIP LOCKED;
        EXIT WHEN v_slot IS NOT NULL
               OR NOT EXISTS (SELECT 1 FROM commerce.coupon_slot
                               WHERE tenant_id = p_tenant AND batch_id = b.batch_id AND (quota IS NULL OR issued < quota));
        PERFORM pg_sleep(0.001 * least(v_try, 10));
    END LOOP;
    IF v_slot IS NULL AND EXISTS (SELECT 1 FROM commerce.coupon_slot
                                   WHERE tenant_id = p_tenant AND batch_id = b.batch_id AND (quota IS NULL OR issued < quota)) THEN
        PERFORM commerce._too_many(format('coupon batch "%s" is busy', p_batch),
                                   'Every slot with coupons left stayed held by claims in flight for about 2 seconds.',
                                   'Nothing was issued; retry with the same request_id.', 1);
    END IF;
    IF v_slot IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('coupon batch "%s" is all claimed', p_batch),
            DETAIL  = format('All %s coupons were issued.', b.quota),
            HINT    = 'Nothing was issued; try another batch.';
    END IF;
    UPDATE commerce.coupon_slot SET issued = issued + 1
     WHERE tenant_id = p_tenant AND batch_id = b.batch_id AND slot_no = v_slot;
    UPDATE commerce.coupon_holder SET issued = issued + 1
     WHERE tenant_id = p_tenant AND template_id = t.template_id AND customer_id = v_customer;
    INSERT INTO commerce.coupon (tenant_id, template_id, batch_id, slot_no, customer_id, source, source_key, status,
                                 valid_from, valid_until, issued_at)
    VALUES (p_tenant, t.template_id, b.batch_id, v_slot, v_customer, p_source, p_source_key, 'issued',
            v_from, v_until, v_now)
    RETURNING * INTO c;
    RETURN ROW(c.coupon_id, c.status, c.valid_from, c.valid_until, 'issued')::commerce.coupon_issue_result;
END $$;
COMMENT ON FUNCTION commerce.issue_coupon(bigint, text, text, text, text) IS
  'Issue a coupon of batch p_batch to a customer, exactly once per source event (p_source claim, issue, reward, redeem or flow, and its key: a repeat returns the first coupon, outcome existing; the key of another issue is 23505). Never more than the batch''s quota under any concurrency (PT409 when all are issued, nothing changed; PT429 when the last coupons stay held by claims in flight for about 2 s: retry), never more than the template''s per-customer limit (PT409); a claim needs a claimable batch (PT403) in its claim window (PT409). Valid from now (or the template''s valid_from) until the template''s valid_until or valid_days after the issue.';

-- A store's staff redeem a store-scoped coupon at the counter.
CREATE FUNCTION commerce.redeem_store_coupon(p_tenant bigint, p_coupon bigint, p_store text, p_customer text)
RETURNS commerce.coupon_issue_result LANGUAGE plpgsql AS $$
DECLARE c commerce.coupon%ROWTYPE; t commerce.coupon_template%ROWTYPE; v_store bigint; v_customer bigint;
        v_now timestamptz := commerce.now();
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_coupon, 'p_coupon');
    PERFORM commerce._require(p_store, 'p_store');
    PERFORM commerce._require(p_customer, 'p_customer');
    SELECT store_id INTO v_store FROM commerce.store WHERE tenant_id = p_tenant AND code = p_store;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('store', p_store, p_tenant);
    END IF;
    SELECT customer_id INTO v_customer FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    SELECT * INTO c FROM commerce.coupon WHERE tenant_id = p_tenant AND coupon_id = p_coupon AND customer_id = v_customer FOR UPDATE;
    IF NOT FOUND THEN   -- the customer presenting it must hold it
        PERFORM commerce._not_found('coupon', p_coupon::text, p_tenant);
    END IF;
    IF c.status = 'used' AND c.store_id = v_store THEN
        RETURN ROW(c.coupon_id, c.status, c.valid_from, c.valid_until, 'existing')::commerce.coupon_issue_result;
    END IF;
    SELECT * INTO t FROM commerce.coupon_template WHERE tenant_id = p_tenant AND template_id = c.template_id;
    IF t.store_ids IS NULL OR NOT v_store = ANY (t.store_ids) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('coupon %s is not valid at store "%s"', p_coupon, left(p_store, 64)),
            DETAIL  = CASE WHEN t.store_ids IS NULL THEN format('"%s" is used in orders, not at a counter.', t.name)
                           ELSE format('"%s" is valid at other stores.', t.name) END,
            HINT    = 'Redeem at a counter only the coupons of that store.';
    END IF;
    IF c.status <> 'issued' OR v_now < c.valid_from OR v_now >= c.valid_until THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('coupon %s cannot be used: %s', p_coupon,
                             CASE WHEN c.status <> 'issued' THEN c.status WHEN v_now < c.valid_from THEN 'not yet valid'
                                  ELSE 'past its validity' END),
            DETAIL  = format('Valid %s to %s.', c.valid_from, c.valid_until),
            HINT    = 'Only an issued coupon in its validity is redeemed.';
    END IF;
    UPDATE commerce.coupon SET status = 'used', store_id = v_store, ended_at = v_now
     WHERE tenant_id = p_tenant AND coupon_id = p_coupon;
    RETURN ROW(c.coupon_id, 'used', c.valid_from, c.valid_until, 'redeemed')::commerce.coupon_issue_result;
END $$;
COMMENT ON FUNCTION commerce.redeem_store_coupon(bigint, bigint, text, text) IS
  'A store''s staff redeem a store-scoped coupon the customer presents at the counter: the customer''s own (PT404 otherwise), valid at that store (PT409), issued and in its validity (PT409); it becomes used at that store, once (a repeat at the same store returns it, outcome existing).';

-- Close a batch: no more issues from it.
CREATE FUNCTION commerce.close_coupon_batch(p_tenant bigint, p_batch text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_batch, 'p_batch');
    UPDATE commerce.coupon_batch SET status = 'closed' WHERE tenant_id = p_tenant AND code = p_batch;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('coupon batch', p_batch, p_tenant);
    END IF;
END $$;
COMMENT ON FUNCTION commerce.close_coupon_batch(bigint, text) IS
  'Close a batch: nothing more is issued from it (PT409); coupons already issued stay usable.';

-- One batch of the coupons pump: issued coupons past their validity expire.
CREATE FUNCTION commerce.expire_coupons(p_limit integer DEFAULT 1000) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE n integer; v_now timestamptz := commerce.now();
BEGIN
    PERFORM commerce._require(p_limit, 'p_limit');
    IF p_limit NOT BETWEEN 1 AND 100000 THEN
        PERFORM commerce._invalid('p_limit', format('batch %s', p_limit), 'Use a batch of 1 to 100000.');
    END IF;
    WITH due AS (
        SELECT tenant_id, coupon_id FROM commerce.coupon
         WHERE status = 'issued' AND valid_until <= v_now
         ORDER BY valid_until LIMIT p_limit FOR UPDATE SKIP LOCKED)
    UPDATE commerce.coupon c SET status = 'expired', ended_at = v_now
      FROM due WHERE c.tenant_id = due.tenant_id AND c.coupon_id = due.coupon_id AND c.status = 'issued';
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce.expire_coupons(integer) IS
  'One batch of the coupons pump: issued coupons whose validity ended expire (a coupon locked by an order at that moment is skipped; released later, the next run expires it). Returns the coupons expired.';

CREATE PROCEDURE commerce.coupons_pump(p_batch integer DEFAULT 1000, p_max_batches integer DEFAULT 1000)
LANGUAGE plpgsql AS $$
BEGIN
    CALL commerce.run_pump('commerce.expire_coupons', p_batch, p_max_batches);
END $$;
COMMENT ON PROCEDURE commerce.coupons_pump(integer, integer) IS
  'The coupons job (pg_cron, every 10 minutes: commerce-coupons): expires issued coupons past their validity, committed per batch.';

INSERT INTO commerce.job (job_name, schedule, command) VALUES
  ('commerce-coupons', '*/10 * * * *', 'CALL commerce.coupons_pump()');
