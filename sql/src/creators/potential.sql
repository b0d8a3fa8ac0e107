-- sql/src/creators/potential.sql: KOC potential (K01, CRM07). Every member
-- who is not a KOC is described by what it did before a moment (purchases,
-- shares and the clicks they drew, paying customers it brought, group
-- activity, its own content); a logistic model fitted per tenant (C in
-- src/creators_model.c) predicts whether it brings a paying customer over the
-- horizon; the monthly job trains a new version, scores every member and
-- publishes a ranked list with a random control part held out.

-- The fit and the score (src/creators_model.c).
CREATE FUNCTION commerce._potential_fit(p_x double precision[], p_y boolean[], p_k integer, p_lambda double precision)
RETURNS double precision[]
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'commerce_potential_fit';
COMMENT ON FUNCTION commerce._potential_fit(double precision[], boolean[], integer, double precision) IS
  'Fit an L2-regularized logistic model (penalty p_lambda, intercept not penalized) to persons'' p_k standardized features (p_x person after person, or one row per person) and outcomes p_y by Newton''s method: {k, lambda, log-likelihood, steps, b_0..b_k, means, deviations}.';

CREATE FUNCTION commerce._potential_score(p_params double precision[], p_x double precision[]) RETURNS double precision
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'commerce_potential_score';
COMMENT ON FUNCTION commerce._potential_score(double precision[], double precision[]) IS
  'The probability of the outcome under a model fitted by _potential_fit, for one person''s raw features.';

-- The names of the model's features, in order.
CREATE FUNCTION commerce._potential_feature_names() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY['ln_order_days', 'repeat_buyer', 'ln_orders', 'ln_shares', 'clicks_per_share', 'ln_customers_brought',
                 'ln_checkins', 'ln_groups_joined', 'ln_content']::text[];
$$;
COMMENT ON FUNCTION commerce._potential_feature_names() IS
  'The KOC potential features, in the model''s order: ln(1 + days with a paid order), bought on two days or more, ln(1 + paid orders), ln(1 + shares), distinct visitors per share (clicks / (1 + shares)), ln(1 + paying customers brought), ln(1 + group check-ins), ln(1 + groups joined), ln(1 + reviews and posts shared).';

-- The paying customers each member brought in tenant-local days [p_from, p_to).
CREATE FUNCTION commerce._potential_brought(p_tenant bigint, p_from date, p_to date)
RETURNS TABLE (person_id bigint, customers bigint)
LANGUAGE sql STABLE AS $$
    WITH first_paid AS (
        SELECT d.person_id, min(d.day) AS day FROM commerce.crm_day d
         WHERE d.tenant_id = p_tenant AND d.orders > 0 GROUP BY d.person_id),
    brought AS (
        -- a fission invitee whose first paid order came on or after the day it was invited
        SELECT fi.inviter_id AS person_id, fi.invitee_id AS customer
          FROM commerce.fission_invite fi
          JOIN first_paid f ON f.person_id = fi.invitee_id
         WHERE fi.tenant_id = p_tenant AND f.day >= p_from AND f.day < p_to
           AND f.day >= commerce._tenant_day(p_tenant, fi.invited_at)
        UNION
        -- an invitee of an invite play whose order rewarded the inviter
        SELECT ci.person_id, ce.person_id
          FROM commerce.play_invite pi
          JOIN commerce.customer ci ON ci.tenant_id = pi.tenant_id AND ci.customer_id = pi.inviter_id
          JOIN commerce.customer ce ON ce.tenant_id = pi.tenant_id AND ce.customer_id = pi.invitee_id
         WHERE pi.tenant_id = p_tenant AND pi.status = 'rewarded'
           AND commerce._tenant_day(p_tenant, pi.rewarded_at) >= p_from AND commerce._tenant_day(p_tenant, pi.rewarded_at) < p_to)
    SELECT b.person_id, count(DISTINCT b.customer) FROM brought b WHERE b.person_id <> b.customer GROUP BY b.person_id;
$$;
COMMENT ON FUNCTION commerce._potential_brought(bigint, date, date) IS
  'The paying customers each member brought in the tenant-local days [p_from, p_to) (K01''s outcome and one of its features): fission invitees whose first paid order came in that span, on or after the day they were invited, and invitees of invite plays whose order rewarded the member; each customer once.';

-- Every member who was not a KOC at the start of a tenant-local day, with its features read from before it.
CREATE FUNCTION commerce._potential_features(p_tenant bigint, p_day date)
RETURNS TABLE (person_id bigint, x double precision[], figures jsonb)
LANGUAGE sql STABLE AS $$
    WITH t AS (SELECT (p_day::timestamp AT TIME ZONE tn.time_zone) AS at FROM commerce.tenant tn WHERE tn.tenant_id = p_tenant),
    pop AS (
        SELECT c.person_id FROM commerce.customer c, t WHERE c.tenant_id = p_tenant AND c.created_at < t.at
        EXCEPT
        SELECT c.person_id FROM commerce.koc k JOIN commerce.customer c ON c.tenant_id = k.tenant_id AND c.customer_id = k.customer_id, t
         WHERE k.tenant_id = p_tenant AND k.joined_at < t.at),
    buy AS (SELECT d.person_id, count(*) AS days, sum(d.orders) AS orders FROM commerce.crm_day d
             WHERE d.tenant_id = p_tenant AND d.orders > 0 AND d.day < p_day GROUP BY d.person_id),
    sh AS (SELECT s.person_id, count(*) AS shares, count(*) FILTER (WHERE s.kind IN ('review', 'post')) AS content
             FROM commerce.share s, t WHERE s.tenant_id = p_tenant AND s.shared_at < t.at GROUP BY s.person_id),
    cl AS (SELECT s.person_id, count(*) AS clicks
             FROM commerce.share_click k JOIN commerce.share s ON s.tenant_id = k.tenant_id AND s.share_id = k.share_id, t
            WHERE k.tenant_id = p_tenant AND k.clicked_at < t.at GROUP BY s.person_id),
    br AS (SELECT b.person_id, b.customers FROM commerce._potential_brought(p_tenant, '-infinity', p_day) b),
    ck AS (SELECT g.person_id, count(*) AS checkins FROM commerce.group_checkin g, t
            WHERE g.tenant_id = p_tenant AND g.at < t.at GROUP BY g.person_id),
    gj AS (SELECT e.person_id, count(DISTINCT e.group_id) AS groups FROM commerce.group_member_event e, t
            WHERE e.tenant_id = p_tenant AND e.kind = 'join' AND e.person_id IS NOT NULL AND e.at < t.at GROUP BY e.person_id),
    f AS (
        SELECT p.person_id, coalesce(buy.days, 0) AS days, coalesce(buy.orders, 0) AS orders, coalesce(sh.shares, 0) AS shares,
               coalesce(cl.clicks, 0) AS clicks, coalesce(br.customers, 0) AS brought, coalesce(ck.checkins, 0) AS checkins,
               coalesce(gj.groups, 0) AS groups, coalesce(sh.content, 0) AS content
          FROM pop p
          LEFT JOIN buy ON buy.person_id = p.person_id LEFT JOIN sh ON sh.person_id = p.person_id
          LEFT JOIN cl ON cl.person_id = p.person_id LEFT JOIN br ON br.person_id = p.person_id
          LEFT JOIN ck ON ck.person_id = p.person_id LEFT JOIN gj ON gj.person_id = p.person_id)
    SELECT f.person_id,
           ARRAY[ln(1 + f.days), CASE WHEN f.days >= 2 THEN 1 ELSE 0 END, ln(1 + f.orders), ln(1 + f.shares),
                 f.clicks::double precision / (1 + f.shares), ln(1 + f.brought), ln(1 + f.checkins), ln(1 + f.groups),
                 ln(1 + f.content)]::double precision[],
           jsonb_build_object('order_days', f.days, 'orders', f.orders, 'shares', f.shares, 'clicks', f.clicks,
                              'customers_brought', f.brought, 'checkins', f.checkins, 'groups_joined', f.groups,
                              'content', f.content)
      FROM f;
$$;
COMMENT ON FUNCTION commerce._potential_features(bigint, date) IS
  'Every member (a person with an account opened before the start of tenant-local day p_day) that was not a KOC then, with its K01 features read from before that moment only (_potential_feature_names) and the figures they come from: days with a paid order and paid orders, shares and the distinct visitors they drew, paying customers brought, group check-ins, groups joined, reviews and posts.';

-- A tenant's potential settings (the defaults without a row).
CREATE FUNCTION commerce._potential_policy(p_tenant bigint, OUT enabled boolean, OUT horizon_days integer, OUT list_bp integer,
                                           OUT max_list integer, OUT holdout_bp integer)
LANGUAGE sql STABLE AS $$
    SELECT coalesce(p.enabled, true), coalesce(p.horizon_days, 90), coalesce(p.list_bp, 500), coalesce(p.max_list, 5000),
           coalesce(p.holdout_bp, 1000)
      FROM (SELECT 1) one LEFT JOIN commerce.potential_policy p ON p.tenant_id = p_tenant;
$$;
COMMENT ON FUNCTION commerce._potential_policy(bigint) IS
  'A tenant''s KOC potential settings: its potential_policy row, or the defaults (enabled, a 90-day horizon, 500 bp of the members listed up to 5000, 1000 bp of the list held out).';

CREATE FUNCTION commerce.set_potential_policy(p_tenant bigint, p_enabled boolean DEFAULT NULL, p_horizon_days integer DEFAULT NULL,
                                              p_list_bp integer DEFAULT NULL, p_max_list integer DEFAULT NULL,
                                              p_holdout_bp integer DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE cur record; r commerce.potential_policy%ROWTYPE;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    SELECT * INTO cur FROM commerce._potential_policy(p_tenant);
    IF coalesce(p_horizon_days, cur.horizon_days) NOT BETWEEN 14 AND 365 THEN
        PERFORM commerce._invalid('p_horizon_days', format('%s days', p_horizon_days), 'A horizon of 14 to 365 days.');
    END IF;
    IF coalesce(p_list_bp, cur.list_bp) NOT BETWEEN 1 AND 10000 THEN
        PERFORM commerce._invalid('p_list_bp', format('%s bp', p_list_bp), 'List 1 to 10000 bp of the scored members.');
    END IF;
    IF coalesce(p_max_list, cur.max_list) NOT BETWEEN 1 AND 1000000 THEN
        PERFORM commerce._invalid('p_max_list', format('%s members', p_max_list), 'A list of 1 to 1000000 members.');
    END IF;
    IF coalesce(p_holdout_bp, cur.holdout_bp) NOT BETWEEN 0 AND 5000 THEN
        PERFORM commerce._invalid('p_holdout_bp', format('%s bp', p_holdout_bp), 'Hold out 0 to 5000 bp of the list as the control.');
    END IF;
    INSERT INTO commerce.potential_policy AS p (tenant_id, enabled, horizon_days, list_bp, max_list, holdout_bp, updated_at)
    VALUES (p_tenant, coalesce(p_enabled, cur.enabled), coalesce(p_horizon_days, cur.horizon_days), coalesce(p_list_bp, cur.list_bp),
            coalesce(p_max_list, cur.max_list), coalesce(p_holdout_bp, cur.holdout_bp), commerce.now())
    ON CONFLICT (tenant_id) DO UPDATE
       SET enabled = EXCLUDED.enabled, horizon_days = EXCLUDED.horizon_days, list_bp = EXCLUDED.list_bp,
           max_list = EXCLUDED.max_list, holdout_bp = EXCLUDED.holdout_bp, updated_at = EXCLUDED.updated_at
    RETURNING p.* INTO r;
    RETURN jsonb_build_object('enabled', r.enabled, 'horizon_days', r.horizon_days, 'list_bp', r.list_bp, 'max_list', r.max_list,
                              'holdout_bp', r.holdout_bp);
END $$;
COMMENT ON FUNCTION commerce.set_potential_policy(bigint, boolean, integer, integer, integer, integer) IS
  'Set a tenant''s KOC potential settings (K01; omitted values are kept): whether the monthly job lists candidates, the horizon (14 to 365 days), the part of the members listed (bp) and its maximum, the part of the list held out as a control (0 to 5000 bp). 22023 out of range. Returns the settings.';

-- Whether a member is in a model's training part (70%, by a hash of the model and the person).
CREATE FUNCTION commerce._potential_train(p_model bigint, p_person bigint) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (hashtextextended(p_model::text || ':' || p_person::text, 0) & 1048575) < 734003;
$$;
COMMENT ON FUNCTION commerce._potential_train(bigint, bigint) IS
  'Whether a member is in the training part of a potential model (70% of the members, by a hash of the model and the person; the rest judge it).';

-- Whether a listed member is in the control part of a run (holdout_bp of the list, by a hash of the run and the person).
CREATE FUNCTION commerce._potential_control(p_run bigint, p_person bigint, p_holdout_bp integer) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (hashtextextended('control:' || p_run::text || ':' || p_person::text, 0) & 1048575) < p_holdout_bp::bigint * 1048576 / 10000;
$$;
COMMENT ON FUNCTION commerce._potential_control(bigint, bigint, integer) IS
  'Whether a listed member is in the control part of a candidate list (p_holdout_bp of the list, by a hash of the run and the person): it is never sent a recruitment notice.';

-- Fit the tenant's potential model on a strict time split and record it with its holdout figures
-- (jit off: the feature joins' row estimates are far too high, and JIT compiling them took seconds).
CREATE FUNCTION commerce.train_potential(p_tenant bigint, p_by text DEFAULT 'operator') RETURNS bigint
LANGUAGE plpgsql SET jit = off AS $$
DECLARE pol record; v_today date; v_cut date; v_id bigint; v_params double precision[]; v_metrics jsonb;
        v_persons bigint; v_train bigint; v_pos bigint; v_train_pos bigint;
        v_k integer := cardinality(commerce._potential_feature_names());
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_by, 'p_by');
    SELECT * INTO pol FROM commerce._potential_policy(p_tenant);
    v_today := commerce._tenant_day(p_tenant, commerce.now());
    v_cut := v_today - pol.horizon_days;          -- features from before v_cut; the outcome in [v_cut, v_today)
    v_id := nextval(pg_get_serial_sequence('commerce.potential_model', 'model_id'));
    -- one pass: features at the cut, outcomes after it, the training part fitted, the rest scored
    WITH f AS MATERIALIZED (
        SELECT ff.person_id, ff.x, coalesce(b.customers, 0) > 0 AS y, commerce._potential_train(v_id, ff.person_id) AS train
          FROM commerce._potential_features(p_tenant, v_cut) ff
          LEFT JOIN commerce._potential_brought(p_tenant, v_cut, v_today) b ON b.person_id = ff.person_id),
    n AS (SELECT count(*) AS persons, count(*) FILTER (WHERE f.train) AS train, count(*) FILTER (WHERE f.y) AS pos,
                 count(*) FILTER (WHERE f.y AND f.train) AS train_pos FROM f)
    SELECT n.persons, n.train, n.pos, n.train_pos INTO v_persons, v_train, v_pos, v_train_pos FROM n;
    IF v_train < 100 OR v_train_pos < 10 OR v_train_pos = v_train OR v_persons - v_train < 30 THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('too little history to fit a KOC potential model (%s members before %s, %s of them brought a paying customer since)',
                             v_persons, v_cut, v_pos),
            DETAIL = format('The model reads the members before %s (today less the %s-day horizon) and needs at least 100 of them in its training part, 10 of those who brought a paying customer since and 30 to judge it.', v_cut, pol.horizon_days),
            HINT = 'Wait for more history, or shorten the horizon with set_potential_policy.';
    END IF;
    WITH f AS MATERIALIZED (
        SELECT ff.person_id, ff.x, coalesce(b.customers, 0) > 0 AS y, commerce._potential_train(v_id, ff.person_id) AS train
          FROM commerce._potential_features(p_tenant, v_cut) ff
          LEFT JOIN commerce._potential_brought(p_tenant, v_cut, v_today) b ON b.person_id = ff.person_id),
    m AS (SELECT commerce._potential_fit(array_agg(f.x ORDER BY f.person_id), array_agg(f.y ORDER BY f.person_id), v_k, 1.0) AS params
            FROM f WHERE f.train),
    s AS (SELECT f.person_id, f.y, commerce._potential_score(m.params, f.x) AS p,
                 row_number() OVER (ORDER BY commerce._potential_score(m.params, f.x) DESC, f.person_id) AS rn
            FROM f, m WHERE NOT f.train),
    top AS (SELECT count(*) AS n, count(*) FILTER (WHERE s.y) AS pos FROM s
             WHERE s.rn <= ceil((SELECT count(*) FROM s) * 0.05))
    SELECT m.params,
           commerce._binary_metrics(array_agg(s.p ORDER BY s.person_id), array_agg(s.y ORDER BY s.person_id))
           || jsonb_build_object('top_5pct_n', top.n, 'top_5pct_precision', round(top.pos::numeric / top.n, 6),
                                 'top_5pct_lift', round((top.pos::numeric / top.n)
                                                        / nullif(count(*) FILTER (WHERE s.y)::numeric / count(*), 0), 4),
                                 'train_persons', v_train, 'train_positives', v_train_pos)
      INTO v_params, v_metrics
      FROM s, m, top GROUP BY m.params, top.n, top.pos;
    INSERT INTO commerce.potential_model (tenant_id, model_id, version, features, params, trained_until, evaluated_to, horizon_days,
                                          persons, train_persons, metrics, created_by, created_at)
    VALUES (p_tenant, v_id, 'koc-potential-' || to_char(v_today, 'YYYYMMDD') || '-' || v_id, commerce._potential_feature_names(),
            v_params, v_cut, v_today, pol.horizon_days, v_persons, v_train, v_metrics, left(p_by, 200), commerce.now());
    RETURN v_id;
END $$;
COMMENT ON FUNCTION commerce.train_potential(bigint, text) IS
  'Fit the KOC potential model of a tenant (K01): the members'' features read before today less the horizon (nothing after that day), the outcome whether each brought a paying customer since; logistic regression on 70% of them, judged on the other 30%: AUC, precision and lift of the top 5%, top-decile lift, calibration, accuracy beside the accuracy of the base rate, recorded with the parameters in potential_model. PT409 with too little history. Returns the model id.';

-- Score every member with the tenant's latest model and publish the month's ranked list (once per month).
CREATE FUNCTION commerce.publish_candidates(p_tenant bigint, p_by text DEFAULT 'operator', p_model bigint DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SET jit = off AS $$
DECLARE pol record; m commerce.potential_model%ROWTYPE; v_now timestamptz := commerce.now(); v_today date; v_month date;
        v_run bigint; v_persons bigint; v_listed integer; v_control integer; v_tz text;
        v_ids bigint[]; v_scores integer[]; v_figures jsonb[];
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_by, 'p_by');
    SELECT * INTO pol FROM commerce._potential_policy(p_tenant);
    SELECT * INTO m FROM commerce.potential_model x
     WHERE x.tenant_id = p_tenant AND (p_model IS NULL OR x.model_id = p_model) ORDER BY x.model_id DESC LIMIT 1;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('KOC potential model', coalesce(p_model::text, 'latest'), p_tenant);
    END IF;
    SELECT t.time_zone INTO v_tz FROM commerce.tenant t WHERE t.tenant_id = p_tenant;
    v_today := commerce._tenant_day(p_tenant, v_now);
    v_month := date_trunc('month', v_today)::date;
    -- one list per month: the month's row is taken first (a second publisher waits here, then finds it)
    PERFORM pg_advisory_xact_lock(hashtextextended('commerce.potential_run:' || p_tenant || ':' || v_month, 0));
    IF EXISTS (SELECT 1 FROM commerce.potential_run r WHERE r.tenant_id = p_tenant AND r.month = v_month) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('the candidate list of %s is already out', to_char(v_month, 'YYYY-MM')),
            DETAIL = 'A tenant gets one candidate list a month; the list is append-only.',
            HINT = 'Read it with potential_candidates, or recruit from it with recruit_candidates.';
    END IF;
    v_run := nextval(pg_get_serial_sequence('commerce.potential_run', 'run_id'));
    -- every member scored on all it did before today; the list is the top, ranked
    WITH s AS (
        SELECT ff.person_id, ff.figures, commerce._potential_score(m.params, ff.x) AS p
          FROM commerce._potential_features(p_tenant, v_today) ff),
    ranked AS (SELECT s.*, row_number() OVER (ORDER BY s.p DESC, s.person_id) AS rank, count(*) OVER () AS persons FROM s)
    SELECT coalesce(max(r.persons), 0),
           array_agg(r.person_id ORDER BY r.rank) FILTER (WHERE r.rank <= least(pol.max_list, ceil(r.persons * pol.list_bp / 10000.0))),
           array_agg(round(10000 * r.p)::integer ORDER BY r.rank) FILTER (WHERE r.rank <= least(pol.max_list, ceil(r.persons * pol.list_bp / 10000.0))),
           array_agg(r.figures ORDER BY r.rank) FILTER (WHERE r.rank <= least(pol.max_list, ceil(r.persons * pol.list_bp / 10000.0)))
      INTO v_persons, v_ids, v_scores, v_figures
      FROM ranked r;
    v_ids := coalesce(v_ids, '{}'::bigint[]);
    v_listed := cardinality(v_ids);
    SELECT count(*) FILTER (WHERE commerce._potential_control(v_run, u.person_id, pol.holdout_bp)) INTO v_control
      FROM unnest(v_ids) u(person_id);
    INSERT INTO commerce.potential_run (tenant_id, run_id, month, status, reason, model_id, persons, listed, control, holdout_bp, due_at,
                                        published_at, by_whom)
    VALUES (p_tenant, v_run, v_month, 'published', NULL, m.model_id, v_persons, v_listed, v_control, pol.holdout_bp,
            v_month::timestamp AT TIME ZONE v_tz, v_now, left(p_by, 200));
    INSERT INTO commerce.potential_candidate (tenant_id, run_id, rank, person_id, score_bp, control, features)
    SELECT p_tenant, v_run, u.rank, u.person_id, u.score_bp, commerce._potential_control(v_run, u.person_id, pol.holdout_bp), u.figures
      FROM unnest(v_ids, v_scores, v_figures) WITH ORDINALITY u(person_id, score_bp, figures, rank);
    -- the CRM's model tag (CRM07): the listed members, control included (the tag says what the model thinks)
    IF NOT EXISTS (SELECT 1 FROM commerce.tag_category c WHERE c.tenant_id = p_tenant AND c.code = 'insight') THEN
        PERFORM commerce.upsert_tag_category(p_tenant, 'insight', 'Insight', 'model');
    END IF;
    IF NOT EXISTS (SELECT 1 FROM commerce.tag g WHERE g.tenant_id = p_tenant AND g.code = 'koc_potential') THEN
        PERFORM commerce.create_tag(p_tenant, 'koc_potential', 'KOC potential', 'insight', 'model', NULL, 'job:commerce-potential');
    END IF;
    PERFORM commerce._set_model_tag(p_tenant, 'koc_potential',
        ARRAY(SELECT c.person_id FROM commerce.potential_candidate c WHERE c.tenant_id = p_tenant AND c.run_id = v_run), m.version);
    RETURN v_run;
END $$;
COMMENT ON FUNCTION commerce.publish_candidates(bigint, text, bigint) IS
  'Publish this month''s KOC candidate list of a tenant (K01): every member who is not a KOC scored with the latest (or the given) potential model on all it did before today, the top list_bp (at most max_list) ranked by probability, a random holdout_bp of them marked as the control (never sent a notice), the figures each was scored on kept; the CRM model tag koc_potential set to exactly the listed members (CRM07). PT409 when the month''s list is out, PT404 before a model is trained. Returns the run.';

-- The month's list of one tenant: a new model, then the list; too little history is a skipped run with its reason.
CREATE FUNCTION commerce._potential_month(p_tenant bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE v_model bigint; v_msg text; v_now timestamptz := commerce.now(); v_month date; v_tz text; pol record;
BEGIN
    BEGIN
        v_model := commerce.train_potential(p_tenant, 'job:commerce-potential');
        PERFORM commerce.publish_candidates(p_tenant, 'job:commerce-potential', v_model);
        RETURN 'published';
    EXCEPTION WHEN SQLSTATE 'PT409' THEN
        GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT;
    END;
    SELECT t.time_zone INTO v_tz FROM commerce.tenant t WHERE t.tenant_id = p_tenant;
    SELECT * INTO pol FROM commerce._potential_policy(p_tenant);
    v_month := date_trunc('month', commerce._tenant_day(p_tenant, v_now))::date;
    INSERT INTO commerce.potential_run (tenant_id, month, status, reason, model_id, persons, listed, control, holdout_bp, due_at,
                                        published_at, by_whom)
    VALUES (p_tenant, v_month, 'skipped', left(v_msg, 200), NULL, 0, 0, 0, pol.holdout_bp, v_month::timestamp AT TIME ZONE v_tz,
            v_now, 'job:commerce-potential')
    ON CONFLICT (tenant_id, month) DO NOTHING;
    RETURN 'skipped';
END $$;
COMMENT ON FUNCTION commerce._potential_month(bigint) IS
  'The monthly candidate list of one tenant (K01): train_potential then publish_candidates with that model; when either refuses (PT409: too little history, or the month''s list is already out) the month is recorded as skipped with the reason, unless it has a list. Returns published or skipped.';

CREATE FUNCTION commerce.potential_due(p_limit integer DEFAULT 100) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE t record; n integer := 0;
BEGIN
    PERFORM commerce._require(p_limit, 'p_limit');
    FOR t IN SELECT tn.tenant_id FROM commerce.tenant tn
              WHERE (commerce._potential_policy(tn.tenant_id)).enabled
                AND NOT EXISTS (SELECT 1 FROM commerce.potential_run r
                                 WHERE r.tenant_id = tn.tenant_id
                                   AND r.month = date_trunc('month', commerce._tenant_day(tn.tenant_id, commerce.now()))::date)
              ORDER BY tn.tenant_id LIMIT p_limit LOOP
        PERFORM commerce._potential_month(t.tenant_id);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce.potential_due(integer) IS
  'The commerce-potential job''s work: each enabled tenant (up to p_limit) without a candidate list for its current tenant-local month gets one (or a skipped month with the reason). Returns how many tenants it did.';

-- A candidate list with its model's figures.
CREATE FUNCTION commerce.potential_candidates(p_tenant bigint, p_run bigint DEFAULT NULL, p_limit integer DEFAULT 100,
                                              p_offset integer DEFAULT 0) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE r commerce.potential_run%ROWTYPE; m commerce.potential_model%ROWTYPE; v_rows jsonb;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_limit, 'p_limit');
    PERFORM commerce._require(p_offset, 'p_offset');
    IF p_limit NOT BETWEEN 1 AND 1000 OR p_offset < 0 THEN
        PERFORM commerce._invalid('p_limit', format('limit %s, offset %s', p_limit, p_offset), 'Read 1 to 1000 candidates from an offset >= 0.');
    END IF;
    SELECT * INTO r FROM commerce.potential_run x
     WHERE x.tenant_id = p_tenant AND (p_run IS NULL OR x.run_id = p_run) ORDER BY x.run_id DESC LIMIT 1;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('candidate list', coalesce(p_run::text, 'latest'), p_tenant);
    END IF;
    SELECT * INTO m FROM commerce.potential_model x WHERE x.tenant_id = p_tenant AND x.model_id = r.model_id;
    SELECT coalesce(jsonb_agg(jsonb_build_object('rank', c.rank, 'customer', commerce._person_account(p_tenant, c.person_id),
                                                 'score_bp', c.score_bp, 'control', c.control, 'figures', c.features)
                              ORDER BY c.rank), '[]'::jsonb)
      INTO v_rows
      FROM (SELECT * FROM commerce.potential_candidate x WHERE x.tenant_id = p_tenant AND x.run_id = r.run_id
             ORDER BY x.rank OFFSET p_offset LIMIT p_limit) c;
    RETURN jsonb_build_object('run', r.run_id, 'month', to_char(r.month, 'YYYY-MM'), 'status', r.status, 'reason', r.reason,
                              'due_at', r.due_at, 'published_at', r.published_at, 'on_time', r.published_at < r.due_at + interval '1 day',
                              'persons', r.persons, 'listed', r.listed, 'control', r.control,
                              'model', CASE WHEN m.model_id IS NOT NULL THEN jsonb_build_object('version', m.version,
                                  'trained_until', m.trained_until, 'evaluated_to', m.evaluated_to, 'features', to_jsonb(m.features),
                                  'metrics', m.metrics) END,
                              'candidates', v_rows);
END $$;
COMMENT ON FUNCTION commerce.potential_candidates(bigint, bigint, integer, integer) IS
  'A monthly KOC candidate list (K01; the latest unless p_run): its month, whether it was published or skipped (and why), on time (within the first day of the month), members scored, listed and in the control part, the model with its holdout figures, and a page of candidates by rank: account, probability (bp), control or not, the figures it was scored on.';

-- The potential models of a tenant, newest first.
CREATE FUNCTION commerce.potential_models(p_tenant bigint, p_limit integer DEFAULT 12) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_limit, 'p_limit');
    IF p_limit NOT BETWEEN 1 AND 120 THEN
        PERFORM commerce._invalid('p_limit', format('limit %s', p_limit), 'Read 1 to 120 models.');
    END IF;
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object('version', m.version, 'trained_until', m.trained_until,
                                                         'evaluated_to', m.evaluated_to, 'horizon_days', m.horizon_days,
                                                         'persons', m.persons, 'train_persons', m.train_persons,
                                                         'features', to_jsonb(m.features), 'metrics', m.metrics,
                                                         'created_by', m.created_by, 'created_at', m.created_at)
                                      ORDER BY m.model_id DESC), '[]'::jsonb)
              FROM (SELECT * FROM commerce.potential_model x WHERE x.tenant_id = p_tenant ORDER BY x.model_id DESC LIMIT p_limit) m);
END $$;
COMMENT ON FUNCTION commerce.potential_models(bigint, integer) IS
  'The KOC potential models of a tenant, newest first (K01): version, the time split (trained until, evaluated to, horizon), members, the features and the holdout figures (AUC, precision and lift of the top 5%, accuracy beside the base rate''s).';
