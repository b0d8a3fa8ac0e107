-- sql/src/orders/carriers.sql: choosing the carrier of a parcel by cost,
-- speed and history (H3.3.2). The routing rules (route_carrier, in C) give
-- the document's recommendation; a tenant that sets weights for a choice
-- has each parcel go to the carrier whose rate card covers it and scores
-- best: its fee, its delivery days (observed to that region, else promised)
-- and its share of parcels delivered on time (lost, returned or late count
-- against it). Carriers report deliveries through record_delivery; each
-- report adds to a day's bucket per carrier and region, so a choice reads
-- at most a window of buckets, never the shipments.

CREATE TABLE commerce.carrier_rate (
    tenant_id     bigint NOT NULL REFERENCES commerce.tenant,
    carrier       text NOT NULL CHECK (carrier ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
    rate_no       integer NOT NULL CHECK (rate_no BETWEEN 1 AND 100),
    regions       text[] CHECK (cardinality(regions) BETWEEN 1 AND 100),
    max_weight_g  bigint CHECK (max_weight_g > 0),
    first_g       bigint NOT NULL CHECK (first_g > 0),
    first_fen     bigint NOT NULL CHECK (first_fen >= 0),
    step_g        bigint NOT NULL CHECK (step_g > 0),
    step_fen      bigint NOT NULL CHECK (step_fen >= 0),
    promised_days integer NOT NULL CHECK (promised_days BETWEEN 1 AND 30),
    updated_by    text NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, carrier, rate_no)
);
COMMENT ON TABLE commerce.carrier_rate IS
  'A carrier''s rate card for a tenant (H3.3.2): for parcels to the regions listed (NULL: anywhere) up to max_weight_g (NULL: any weight), first_fen for the first first_g grams and step_fen per further step_g or part of one, delivered in promised_days. The most specific rate of a carrier covers a parcel (its region listed before anywhere); a carrier without a covering rate is not a candidate.';

CREATE TABLE commerce.carrier_choice (
    tenant_id   bigint NOT NULL REFERENCES commerce.tenant,
    cost_bp     integer NOT NULL CHECK (cost_bp BETWEEN 0 AND 10000),
    speed_bp    integer NOT NULL CHECK (speed_bp BETWEEN 0 AND 10000),
    quality_bp  integer NOT NULL CHECK (quality_bp BETWEEN 0 AND 10000),
    window_days integer NOT NULL CHECK (window_days BETWEEN 7 AND 365),
    min_samples integer NOT NULL CHECK (min_samples BETWEEN 1 AND 100000),
    updated_by  text NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id),
    CHECK (cost_bp + speed_bp + quality_bp = 10000)
);
COMMENT ON TABLE commerce.carrier_choice IS
  'How a tenant weighs the carriers that can take a parcel (H3.3.2): cost, speed and quality in basis points adding up to 10000, history read over the last window_days, a figure observed on fewer than min_samples parcels replaced by the promise (speed) or left neutral (quality). Without a row the routing rules alone choose.';

CREATE TABLE commerce.shipment_delivery (
    tenant_id   bigint NOT NULL,
    shipment_id bigint NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('delivered', 'lost', 'returned')),
    at          timestamptz NOT NULL,
    on_time     boolean NOT NULL,
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, shipment_id),
    FOREIGN KEY (tenant_id, shipment_id) REFERENCES commerce.shipment
);
COMMENT ON TABLE commerce.shipment_delivery IS
  'How a parcel ended, as its carrier reported it (record_delivery, H3.3.2): delivered, lost or returned, when, and whether on time (delivered within the promised days of the carrier''s rate for its region). One row per shipment; a report never changes.';

CREATE TABLE commerce.carrier_day (
    tenant_id bigint NOT NULL,
    carrier   text NOT NULL,
    region    text NOT NULL,
    day       date NOT NULL,
    parcels   integer NOT NULL DEFAULT 0,
    delivered integer NOT NULL DEFAULT 0,
    on_time   integer NOT NULL DEFAULT 0,
    days_sum  numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, carrier, region, day)
);
COMMENT ON TABLE commerce.carrier_day IS
  'A carrier''s ended parcels per receiver region and day of report (H3.3.2): how many ended, were delivered, on time, and the sum of their delivery days (to shipped_at, in days). The choice of a carrier reads the window''s days; record_delivery adds to them.';

-- Save a carrier's rate card (replacing the one it had; an empty list removes it).
CREATE FUNCTION commerce.set_carrier_rates(p_tenant bigint, p_carrier text, p_rates jsonb, p_by text DEFAULT 'operator')
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE r jsonb; n integer := 0; v_key text;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_carrier, 'p_carrier');
    PERFORM commerce._require(p_rates, 'p_rates');
    PERFORM commerce._require(p_by, 'p_by');
    IF p_carrier !~ '^[a-z0-9][a-z0-9_.-]{0,62}$' THEN
        PERFORM commerce._invalid('p_carrier', format('"%s"', left(p_carrier, 100)), 'A carrier code as routing rules name it (zto, sf, ems, ...).');
    END IF;
    IF jsonb_typeof(p_rates) <> 'array' OR jsonb_array_length(p_rates) > 100 THEN
        PERFORM commerce._invalid('p_rates', 'not an array of at most 100 rates',
            'Send [{"regions":["浙江省"],"max_weight_g":20000,"first":1000,"first_fen":500,"step":1000,"step_fen":100,"days":2}, ...]; [] removes the card.');
    END IF;
    FOR r IN SELECT x FROM jsonb_array_elements(p_rates) x LOOP
        n := n + 1;
        IF jsonb_typeof(r) <> 'object' THEN
            PERFORM commerce._invalid('p_rates', format('rate %s is not an object', n), 'Each rate is {"regions":[...],"max_weight_g":..,"first":..,"first_fen":..,"step":..,"step_fen":..,"days":..}.');
        END IF;
        FOR v_key IN SELECT jsonb_object_keys(r) LOOP
            IF v_key NOT IN ('regions', 'max_weight_g', 'first', 'first_fen', 'step', 'step_fen', 'days') THEN
                PERFORM commerce._invalid('p_rates', format('rate %s has an unknown key "%s"', n, left(v_key, 64)), 'A rate has regions, max_weight_g, first, first_fen, step, step_fen and days.');
            END IF;
        END LOOP;
        IF r ? 'regions' AND (jsonb_typeof(r -> 'regions') <> 'array' OR jsonb_array_length(r -> 'regions') NOT BETWEEN 1 AND 100
               OR EXISTS (SELECT 1 FROM jsonb_array_elements(r -> 'regions') e
                           WHERE jsonb_typeof(e) <> 'string' OR length(e #>> '{}') NOT BETWEEN 1 AND 50)) THEN
            PERFORM commerce._invalid('p_rates', format('rate %s: regions is not a list of 1 to 100 region names', n), 'Regions as the receivers'' addresses name them, each at most 50 characters; leave regions out for anywhere.');
        END IF;
        IF EXISTS (SELECT 1 FROM unnest(ARRAY['first', 'first_fen', 'step', 'step_fen', 'days']) k
                    WHERE jsonb_typeof(r -> k) IS DISTINCT FROM 'number' OR (r ->> k)::numeric <> trunc((r ->> k)::numeric)
                       OR (r ->> k)::numeric < CASE WHEN k IN ('first', 'step', 'days') THEN 1 ELSE 0 END
                       OR (r ->> k)::numeric > CASE k WHEN 'days' THEN 30 ELSE commerce._limit('max_fen') END)
           OR (r ? 'max_weight_g' AND (jsonb_typeof(r -> 'max_weight_g') <> 'number'
                                       OR (r ->> 'max_weight_g')::numeric <> trunc((r ->> 'max_weight_g')::numeric)
                                       OR (r ->> 'max_weight_g')::numeric NOT BETWEEN 1 AND 10000000)) THEN
            PERFORM commerce._invalid('p_rates', format('rate %s: first, first_fen, step, step_fen, days or max_weight_g is not a whole number in range', n),
                'first and step are grams (1 or more), first_fen and step_fen fen (0 or more), days 1 to 30, max_weight_g 1 to 10000000 or left out.');
        END IF;
    END LOOP;
    DELETE FROM commerce.carrier_rate WHERE tenant_id = p_tenant AND carrier = p_carrier;
    INSERT INTO commerce.carrier_rate (tenant_id, carrier, rate_no, regions, max_weight_g, first_g, first_fen, step_g, step_fen,
                                       promised_days, updated_by, updated_at)
    SELECT p_tenant, p_carrier, x.n, CASE WHEN x.r ? 'regions' THEN ARRAY(SELECT e #>> '{}' FROM jsonb_array_elements(x.r -> 'regions') e) END,
           (x.r ->> 'max_weight_g')::bigint, (x.r ->> 'first')::bigint, (x.r ->> 'first_fen')::bigint,
           (x.r ->> 'step')::bigint, (x.r ->> 'step_fen')::bigint, (x.r ->> 'days')::integer, left(p_by, 200), commerce.now()
      FROM jsonb_array_elements(p_rates) WITH ORDINALITY AS x(r, n);
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce.set_carrier_rates(bigint, text, jsonb, text) IS
  'Save a carrier''s rate card for the tenant (H3.3.2): [{"regions":[...] (left out: anywhere), "max_weight_g", "first", "first_fen", "step", "step_fen", "days"}], replacing the card it had; [] removes it. Returns the number of rates.';

-- Turn the choice by cost, speed and history on (weights) or off (NULL).
CREATE FUNCTION commerce.set_carrier_choice(p_tenant bigint, p_cost_bp integer, p_speed_bp integer, p_quality_bp integer,
                                            p_window_days integer DEFAULT 90, p_min_samples integer DEFAULT 20,
                                            p_by text DEFAULT 'operator')
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_by, 'p_by');
    IF num_nulls(p_cost_bp, p_speed_bp, p_quality_bp) = 3 THEN
        DELETE FROM commerce.carrier_choice WHERE tenant_id = p_tenant;
        RETURN NULL;
    END IF;
    IF num_nulls(p_cost_bp, p_speed_bp, p_quality_bp) > 0 OR least(p_cost_bp, p_speed_bp, p_quality_bp) < 0
       OR p_cost_bp::bigint + p_speed_bp + p_quality_bp <> commerce._limit('bp_scale') THEN
        PERFORM commerce._invalid('p_cost_bp', format('cost %s, speed %s, quality %s', p_cost_bp, p_speed_bp, p_quality_bp),
                                  'Three weights in basis points, none negative, adding up to 10000; all three NULL turns the choice off.');
    END IF;
    IF p_window_days IS NULL OR p_window_days NOT BETWEEN 7 AND 365 THEN
        PERFORM commerce._invalid('p_window_days', format('%s', p_window_days), 'History over 7 to 365 days.');
    END IF;
    IF p_min_samples IS NULL OR p_min_samples NOT BETWEEN 1 AND 100000 THEN
        PERFORM commerce._invalid('p_min_samples', format('%s', p_min_samples), 'Trust history from 1 to 100000 parcels on.');
    END IF;
    INSERT INTO commerce.carrier_choice (tenant_id, cost_bp, speed_bp, quality_bp, window_days, min_samples, updated_by, updated_at)
    VALUES (p_tenant, p_cost_bp, p_speed_bp, p_quality_bp, p_window_days, p_min_samples, left(p_by, 200), commerce.now())
    ON CONFLICT (tenant_id) DO UPDATE
       SET cost_bp = EXCLUDED.cost_bp, speed_bp = EXCLUDED.speed_bp, quality_bp = EXCLUDED.quality_bp,
           window_days = EXCLUDED.window_days, min_samples = EXCLUDED.min_samples,
           updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at;
    RETURN jsonb_build_object('cost_bp', p_cost_bp, 'speed_bp', p_speed_bp, 'quality_bp', p_quality_bp,
                              'window_days', p_window_days, 'min_samples', p_min_samples);
END $$;
COMMENT ON FUNCTION commerce.set_carrier_choice(bigint, integer, integer, integer, integer, integer, text) IS
  'Weigh the carriers that can take a parcel by cost, speed and quality (H3.3.2), in basis points adding up to 10000, with history over window_days and trusted from min_samples parcels; all three weights NULL turns the choice off (the routing rules alone choose). Shipments made afterwards are chosen so.';

-- A carrier reports how a parcel ended (once).
CREATE FUNCTION commerce.record_delivery(p_tenant bigint, p_shipment bigint, p_outcome text, p_at timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE sh commerce.shipment_row; d commerce.shipment_delivery; v_region text; v_days numeric; v_promised integer; v_on_time boolean;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_shipment, 'p_shipment');
    PERFORM commerce._require(p_outcome, 'p_outcome');
    PERFORM commerce._require(p_at, 'p_at');
    IF p_outcome NOT IN ('delivered', 'lost', 'returned') THEN
        PERFORM commerce._invalid('p_outcome', format('"%s"', left(p_outcome, 100)), 'delivered, lost or returned.');
    END IF;
    SELECT * INTO sh FROM commerce.shipment WHERE tenant_id = p_tenant AND shipment_id = p_shipment FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('shipment', p_shipment::text, p_tenant);
    END IF;
    SELECT * INTO d FROM commerce.shipment_delivery WHERE tenant_id = p_tenant AND shipment_id = p_shipment;
    IF FOUND THEN
        IF d.outcome = p_outcome AND d.at = p_at THEN
            RETURN 'repeated';
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('shipment %s was already reported %s', p_shipment, d.outcome),
            DETAIL = format('Reported %s at %s; a report never changes.', d.outcome, d.at),
            HINT = 'Send the same report again (a repeat), or correct it with the carrier.';
    END IF;
    IF p_at < sh.shipped_at OR p_at > commerce.now() + interval '1 hour' OR NOT isfinite(p_at) THEN
        PERFORM commerce._invalid('p_at', format('%s (shipped %s)', p_at, sh.shipped_at), 'The time the parcel ended: after it was shipped and not in the future.');
    END IF;
    SELECT o.receiver_region INTO v_region FROM commerce.orders o WHERE o.tenant_id = p_tenant AND o.order_id = sh.order_id;
    v_region := coalesce(v_region, '');
    v_days := round(extract(epoch FROM p_at - sh.shipped_at) / 86400, 3);
    SELECT r.promised_days INTO v_promised
      FROM commerce.carrier_rate r
     WHERE r.tenant_id = p_tenant AND r.carrier = sh.carrier AND (v_region = ANY (r.regions) OR r.regions IS NULL)
     ORDER BY r.regions IS NULL, r.rate_no LIMIT 1;
    v_on_time := p_outcome = 'delivered' AND (v_promised IS NULL OR v_days <= v_promised);
    INSERT INTO commerce.shipment_delivery (tenant_id, shipment_id, outcome, at, on_time, recorded_at)
    VALUES (p_tenant, p_shipment, p_outcome, p_at, v_on_time, commerce.now());
    INSERT INTO commerce.carrier_day AS c (tenant_id, carrier, region, day, parcels, delivered, on_time, days_sum)
    VALUES (p_tenant, sh.carrier, v_region, (commerce.now() AT TIME ZONE (SELECT t.time_zone FROM commerce.tenant t WHERE t.tenant_id = p_tenant))::date, 1,
            (p_outcome = 'delivered')::integer, v_on_time::integer, CASE WHEN p_outcome = 'delivered' THEN v_days ELSE 0 END)
    ON CONFLICT (tenant_id, carrier, region, day) DO UPDATE
       SET parcels = c.parcels + 1, delivered = c.delivered + EXCLUDED.delivered, on_time = c.on_time + EXCLUDED.on_time,
           days_sum = c.days_sum + EXCLUDED.days_sum;
    RETURN 'recorded';
END $$;
COMMENT ON FUNCTION commerce.record_delivery(bigint, bigint, text, timestamptz) IS
  'The carrier''s adapter reports how a parcel ended (H3.3.2): delivered, lost or returned, and when (after shipping, not in the future). On time when delivered within the promised days of the carrier''s rate for the receiver''s region (no rate: any delivery). Once per shipment: the same report again is a repeat, another PT409. Adds to the carrier''s history for that region.';

-- The carriers that can take a parcel, scored; the first is the choice.
CREATE FUNCTION commerce.carrier_options(p_tenant bigint, p_region text, p_weight_g bigint)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE c commerce.carrier_choice; v_rule text; v_from date;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_weight_g, 'p_weight_g');
    v_rule := commerce.route_carrier(p_tenant, coalesce(p_region, ''), p_weight_g);
    SELECT * INTO c FROM commerce.carrier_choice WHERE tenant_id = p_tenant;
    IF NOT FOUND THEN
        c.cost_bp := 10000; c.speed_bp := 0; c.quality_bp := 0; c.window_days := 90; c.min_samples := 20;
    END IF;
    v_from := (commerce.now() AT TIME ZONE (SELECT t.time_zone FROM commerce.tenant t WHERE t.tenant_id = p_tenant))::date - c.window_days;
    RETURN (
    WITH rate AS (   -- each carrier's most specific rate that covers the parcel
        SELECT DISTINCT ON (r.carrier) r.carrier, r.promised_days,
               r.first_fen + ceil(greatest(p_weight_g - r.first_g, 0)::numeric / r.step_g) * r.step_fen AS fee_fen
          FROM commerce.carrier_rate r
         WHERE r.tenant_id = p_tenant AND (coalesce(p_region, '') = ANY (r.regions) OR r.regions IS NULL)
           AND (r.max_weight_g IS NULL OR p_weight_g <= r.max_weight_g)
         ORDER BY r.carrier, r.regions IS NULL, r.rate_no
    ), hist AS (     -- what each did to this region in the window
        SELECT d.carrier, sum(d.parcels) AS parcels, sum(d.delivered) AS delivered, sum(d.on_time) AS on_time,
               sum(d.days_sum) AS days_sum
          FROM commerce.carrier_day d
         WHERE d.tenant_id = p_tenant AND d.region = coalesce(p_region, '') AND d.day > v_from
           AND d.carrier IN (SELECT rate.carrier FROM rate)
         GROUP BY d.carrier
    ), fig AS (
        SELECT rate.carrier, rate.fee_fen, rate.promised_days, coalesce(h.parcels, 0) AS parcels,
               CASE WHEN coalesce(h.delivered, 0) >= c.min_samples THEN round(h.days_sum / h.delivered, 2)
                    ELSE rate.promised_days END AS days,
               coalesce(h.delivered, 0) >= c.min_samples AS days_observed,
               CASE WHEN coalesce(h.parcels, 0) >= c.min_samples THEN round(h.on_time::numeric / h.parcels, 4) END AS on_time_share
          FROM rate LEFT JOIN hist h USING (carrier)
    ), ratio AS (    -- each figure against the best candidate's: 1 is the best
        SELECT fig.*,
               (fig.fee_fen + 1) / (min(fig.fee_fen) OVER () + 1) AS cost_ratio,
               greatest(fig.days, 0.1) / greatest(min(fig.days) OVER (), 0.1) AS speed_ratio,
               CASE WHEN fig.on_time_share IS NULL THEN 1
                    ELSE greatest(max(fig.on_time_share) OVER (), 0.01) / greatest(fig.on_time_share, 0.01) END AS quality_ratio
          FROM fig
    ), scored AS (
        SELECT ratio.*, round((c.cost_bp * (ratio.cost_ratio - 1) + c.speed_bp * (ratio.speed_ratio - 1)
                               + c.quality_bp * (ratio.quality_ratio - 1)) / commerce._limit('bp_scale'), 4) AS score
          FROM ratio
    )
    SELECT jsonb_build_object('rule', v_rule, 'weighed', c.updated_at IS NOT NULL,
               'choice', CASE WHEN c.updated_at IS NULL THEN v_rule
                              ELSE coalesce((SELECT s.carrier FROM scored s ORDER BY s.score, s.carrier <> v_rule, s.fee_fen, s.carrier LIMIT 1), v_rule) END,
               'options', coalesce(jsonb_agg(jsonb_build_object('carrier', s.carrier, 'fee_fen', s.fee_fen, 'promised_days', s.promised_days,
                                                            'days', s.days, 'days_observed', s.days_observed, 'parcels', s.parcels,
                                                            'on_time_share', s.on_time_share, 'score', s.score)
                                         ORDER BY s.score, s.carrier <> v_rule, s.fee_fen, s.carrier), '[]'))
      FROM scored s);
END $$;
COMMENT ON FUNCTION commerce.carrier_options(bigint, text, bigint) IS
  'The carriers whose rate card covers a parcel to a region (H3.3.2), best first: fee, promised and expected days (observed over the window from min_samples deliveries on, else promised), parcels ended, on-time share (from min_samples parcels on; lost and returned count as not on time), and score = the weighted sum of each figure''s excess over the best candidate''s (cost and days as ratios, on-time share as the best''s over its own); ties go to the routing rule''s carrier, then the cheaper. rule: the routing rules'' carrier; choice: what ship_order takes: the first option, or the rule''s carrier when no card covers the parcel or the tenant has not set weights (set_carrier_choice; the options are then ranked by cost alone).';

-- The carrier ship_order uses: the weighed choice when the tenant has one, else the rules.
CREATE FUNCTION commerce.choose_carrier(p_tenant bigint, p_region text, p_weight_g bigint) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM commerce.carrier_choice WHERE tenant_id = p_tenant) THEN
        RETURN commerce.route_carrier(p_tenant, coalesce(p_region, ''), p_weight_g);
    END IF;
    RETURN commerce.carrier_options(p_tenant, p_region, p_weight_g) ->> 'choice';
END $$;
COMMENT ON FUNCTION commerce.choose_carrier(bigint, text, bigint) IS
  'The carrier for a parcel (H3.3.2): with set_carrier_choice, the best scored carrier whose rate card covers it (commerce.carrier_options), else and when none covers it the routing rules'' carrier (commerce.route_carrier).';
