-- sql/src/creators/recruit.sql: recruitment notices (K02). A campaign sends
-- the candidates of a monthly list (never its control part) into a CRM flow
-- taking one-click sends; the flow's message steps put the notice in the
-- outbox with its benefits, joining guide and signed link (the run's
-- context). Triggers follow each notice: sent or not sent (and why) as the
-- flow acts, delivered or failed as receipts come back, the application it
-- led to. The report gives delivered / sent per channel, failures by reason,
-- and the application rate of the notified against the control.

-- The notice of a notice code, or NULL when it is not one of the tenant's signed codes.
CREATE FUNCTION commerce._notice_code_parse(p_tenant bigint, p_code text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE m text[]; v numeric := 0; ch text;
BEGIN
    m := regexp_match(p_code, '^r([0-9a-z]{1,12})\.([a-z2-9]{13})$');
    IF m IS NULL OR NOT commerce._fields_signed(p_tenant, 'recruit', m[1], m[2]) THEN
        RETURN NULL;
    END IF;
    FOREACH ch IN ARRAY regexp_split_to_array(m[1], '') LOOP
        v := v * 36 + strpos('0123456789abcdefghijklmnopqrstuvwxyz', ch) - 1;
    END LOOP;
    RETURN CASE WHEN v <= 9223372036854775807 THEN v::bigint END;
END $$;
COMMENT ON FUNCTION commerce._notice_code_parse(bigint, text) IS
  'The recruitment notice a notice code names (r<notice>.<signature>, base 36), or NULL when the code is malformed or not signed by the tenant.';

-- Send the candidates of a list into a flow: one notice each, with the benefits, guide and signed link.
CREATE FUNCTION commerce.recruit_candidates(p_tenant bigint, p_code text, p_flow text, p_benefits text, p_guide_url text,
                                            p_run bigint DEFAULT NULL, p_window_days integer DEFAULT 30,
                                            p_by text DEFAULT 'operator') RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE fl record; r commerce.potential_run%ROWTYPE; c commerce.recruit_campaign%ROWTYPE; v_now timestamptz := commerce.now();
        v_persons bigint[]; v_control integer; v_id bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_flow, 'p_flow');
    PERFORM commerce._require(p_benefits, 'p_benefits');
    PERFORM commerce._require(p_guide_url, 'p_guide_url');
    PERFORM commerce._require(p_window_days, 'p_window_days');
    PERFORM commerce._require(p_by, 'p_by');
    IF p_code !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' THEN
        PERFORM commerce._invalid('p_code', format('code "%s"', left(p_code, 64)), 'A campaign code is 1 to 63 letters, digits, _ . -.');
    END IF;
    IF length(p_benefits) NOT BETWEEN 1 AND 2000 THEN
        PERFORM commerce._invalid('p_benefits', format('benefits of %s characters', length(p_benefits)),
            'Say what a KOC gets (commission, levels, perks) in 1 to 2000 characters.');
    END IF;
    IF p_guide_url !~ '^https://[^[:space:]]+$' OR length(p_guide_url) > 500 THEN
        PERFORM commerce._invalid('p_guide_url', format('"%s"', left(p_guide_url, 64)), 'The joining guide is an https:// URL of at most 500 characters.');
    END IF;
    IF p_window_days NOT BETWEEN 1 AND 90 THEN
        PERFORM commerce._invalid('p_window_days', format('%s days', p_window_days),
            'An application counts as coming from a notice 1 to 90 days after it.');
    END IF;
    SELECT * INTO c FROM commerce.recruit_campaign x WHERE x.tenant_id = p_tenant AND x.code = p_code;
    IF FOUND THEN
        IF c.run_id IS DISTINCT FROM coalesce(p_run, c.run_id)
           OR c.flow_id IS DISTINCT FROM (SELECT f.flow_id FROM commerce.flow f WHERE f.tenant_id = p_tenant AND f.code = p_flow)
           OR (c.benefits, c.guide_url, c.window_days) IS DISTINCT FROM (p_benefits, p_guide_url, p_window_days) THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('campaign "%s" exists with other settings', left(p_code, 64)),
                DETAIL = format('It sent list %s through flow %s.', c.run_id, c.flow_id),
                HINT = 'A campaign is sent once; use a new code for another.';
        END IF;
        RETURN jsonb_build_object('campaign', c.code, 'run', c.run_id, 'notices', c.notices, 'control', c.control, 'outcome', 'repeat');
    END IF;
    SELECT * INTO r FROM commerce.potential_run x
     WHERE x.tenant_id = p_tenant AND x.status = 'published' AND (p_run IS NULL OR x.run_id = p_run)
     ORDER BY x.run_id DESC LIMIT 1;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('candidate list', coalesce(p_run::text, 'latest'), p_tenant);
    END IF;
    SELECT f.flow_id, f.status, v.trigger_on INTO fl FROM commerce.flow f
      JOIN commerce.flow_version v ON v.tenant_id = f.tenant_id AND v.flow_id = f.flow_id AND v.version = f.version
     WHERE f.tenant_id = p_tenant AND f.code = p_flow;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('flow', p_flow, p_tenant);
    END IF;
    IF fl.status <> 'active' OR fl.trigger_on <> 'recall' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('flow "%s" does not take one-click sends', left(p_flow, 64)),
            DETAIL = format('It is %s and starts on %s.', fl.status, fl.trigger_on),
            HINT = 'Send notices through an active flow whose trigger is {"on": "recall"} and whose message steps carry the recruitment template.';
    END IF;
    -- one campaign of a list at a time: the list's campaigns never notify a member twice
    PERFORM pg_advisory_xact_lock(hashtextextended('commerce.recruit:' || p_tenant || ':' || r.run_id, 0));
    SELECT array_agg(pc.person_id ORDER BY pc.rank) INTO v_persons
      FROM commerce.potential_candidate pc
     WHERE pc.tenant_id = p_tenant AND pc.run_id = r.run_id AND NOT pc.control
       AND NOT EXISTS (SELECT 1 FROM commerce.customer cu JOIN commerce.koc k ON k.tenant_id = cu.tenant_id AND k.customer_id = cu.customer_id
                        WHERE cu.tenant_id = p_tenant AND cu.person_id = pc.person_id)
       AND NOT EXISTS (SELECT 1 FROM commerce.customer cu
                         JOIN commerce.koc_application a ON a.tenant_id = cu.tenant_id AND a.customer_id = cu.customer_id
                        WHERE cu.tenant_id = p_tenant AND cu.person_id = pc.person_id AND a.status = 'submitted')
       AND NOT EXISTS (SELECT 1 FROM commerce.recruit_notice n JOIN commerce.recruit_campaign rc
                              ON rc.tenant_id = n.tenant_id AND rc.campaign_id = n.campaign_id
                        WHERE n.tenant_id = p_tenant AND n.person_id = pc.person_id AND rc.run_id = r.run_id
                          AND (n.status, n.reason) IS DISTINCT FROM ('not_sent', 'not_started'));
    v_persons := coalesce(v_persons, '{}'::bigint[]);
    SELECT count(*) INTO v_control FROM commerce.potential_candidate pc WHERE pc.tenant_id = p_tenant AND pc.run_id = r.run_id AND pc.control;
    v_id := nextval(pg_get_serial_sequence('commerce.recruit_campaign', 'campaign_id'));
    INSERT INTO commerce.recruit_campaign (tenant_id, campaign_id, code, run_id, flow_id, benefits, guide_url, window_days, notices, control,
                                           created_by, created_at)
    VALUES (p_tenant, v_id, p_code, r.run_id, fl.flow_id, p_benefits, p_guide_url, p_window_days, cardinality(v_persons), v_control,
            left(p_by, 200), v_now)
    RETURNING * INTO c;
    WITH n AS (
        INSERT INTO commerce.recruit_notice (tenant_id, campaign_id, person_id, queued_at)
        SELECT p_tenant, v_id, u.person_id, v_now FROM unnest(v_persons) WITH ORDINALITY u(person_id, ord) ORDER BY u.ord
        RETURNING notice_id, person_id)
    INSERT INTO commerce.flow_trigger (tenant_id, person_id, kind, ref, key, origin_flow, at, context)
    SELECT p_tenant, n.person_id, 'recall', p_flow, 'recruit:' || n.notice_id, NULL, v_now,
           jsonb_build_object('kind', 'koc_recruit', 'campaign', p_code, 'benefits', p_benefits, 'guide_url', p_guide_url,
                              'notice', 'r' || commerce._base36(n.notice_id) || '.'
                                        || commerce._sign_fields(p_tenant, 'recruit', commerce._base36(n.notice_id)))
      FROM n ORDER BY n.notice_id;
    RETURN jsonb_build_object('campaign', c.code, 'run', c.run_id, 'notices', c.notices, 'control', c.control, 'outcome', 'created');
END $$;
COMMENT ON FUNCTION commerce.recruit_candidates(bigint, text, text, text, text, bigint, integer, text) IS
  'Recruit the candidates of a monthly list (K02; the latest published unless p_run): every listed member outside the control part who is not a KOC, has no open application and got no notice of this list yet (one the flow never started does not count) is sent into the active flow p_flow (its trigger {"on": "recall"}) once, with a context its messages carry: the benefits, the joining guide (https URL) and the notice''s signed code for the link. An application within p_window_days of the notice is attributed to it. The same code again returns the campaign (outcome repeat; PT409 with other settings). Returns {campaign, run, notices, control, outcome}.';

-- A flow's message step for a notice: sent with its message, or the reason it was not (kept until the run ends).
CREATE FUNCTION commerce._recruit_on_step() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE v_key text;
BEGIN
    IF TG_OP <> 'INSERT' OR TG_LEVEL <> 'ROW' OR TG_WHEN <> 'AFTER' THEN
        RAISE EXCEPTION USING ERRCODE = '39P01', MESSAGE = '_recruit_on_step must fire AFTER INSERT FOR EACH ROW';
    END IF;
    SELECT r.trigger_key INTO v_key FROM commerce.flow_run r WHERE r.tenant_id = NEW.tenant_id AND r.run_id = NEW.run_id;
    IF v_key IS NULL OR v_key !~ '^recruit:[0-9]{1,18}$' THEN
        RETURN NULL;
    END IF;
    IF NEW.outcome = 'done' AND NEW.message_id IS NOT NULL THEN
        UPDATE commerce.recruit_notice n
           SET status = 'sent', reason = NULL, message_id = NEW.message_id, sent_at = NEW.at,
               channel = (SELECT o.payload ->> 'channel' FROM commerce.outbox o
                           WHERE o.tenant_id = NEW.tenant_id AND o.message_id = NEW.message_id)
         WHERE n.tenant_id = NEW.tenant_id AND n.notice_id = substr(v_key, 9)::bigint AND n.status = 'queued';
    ELSE
        UPDATE commerce.recruit_notice n SET reason = NEW.outcome
         WHERE n.tenant_id = NEW.tenant_id AND n.notice_id = substr(v_key, 9)::bigint AND n.status = 'queued';
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION commerce._recruit_on_step() IS
  'After a flow''s message step of a recruitment run (trigger key recruit:<notice>): the notice is sent (its message and channel) if the step put a message in the outbox; otherwise the step''s outcome (opted_out, no_address, capped, failed) is kept as the reason, and the notice stays queued for a later message step of the run. A notice is sent once: later message steps leave it.';

CREATE TRIGGER after_70_recruit AFTER INSERT ON commerce.flow_step_run
    FOR EACH ROW WHEN (NEW.kind = 'message') EXECUTE FUNCTION commerce._recruit_on_step();

-- A recruitment run that ended without sending: the notice is not sent, with the last reason.
CREATE FUNCTION commerce._recruit_on_run_end() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' OR TG_LEVEL <> 'ROW' OR TG_WHEN <> 'AFTER' THEN
        RAISE EXCEPTION USING ERRCODE = '39P01', MESSAGE = '_recruit_on_run_end must fire AFTER UPDATE FOR EACH ROW';
    END IF;
    IF NEW.trigger_key !~ '^recruit:[0-9]{1,18}$' THEN
        RETURN NULL;
    END IF;
    UPDATE commerce.recruit_notice n SET status = 'not_sent', reason = coalesce(n.reason, 'no_message')
     WHERE n.tenant_id = NEW.tenant_id AND n.notice_id = substr(NEW.trigger_key, 9)::bigint AND n.status = 'queued';
    RETURN NULL;
END $$;
COMMENT ON FUNCTION commerce._recruit_on_run_end() IS
  'After a recruitment run ends (done or exited) with its notice still queued: the notice is not sent, for the reason its last message step gave (opted_out, no_address, capped, failed) or no_message when the run sent none.';

CREATE TRIGGER after_70_recruit AFTER UPDATE OF status ON commerce.flow_run
    FOR EACH ROW WHEN (NEW.status IN ('done', 'exited') AND OLD.status IN ('active', 'waiting') AND NEW.trigger_key LIKE 'recruit:%')
    EXECUTE FUNCTION commerce._recruit_on_run_end();

-- Queued notices whose trigger the flow pump took without starting a run end as not started.
CREATE FUNCTION commerce.recruit_sweep(p_limit integer DEFAULT 10000) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE n integer;
BEGIN
    PERFORM commerce._require(p_limit, 'p_limit');
    WITH stuck AS (
        SELECT x.tenant_id, x.notice_id FROM commerce.recruit_notice x
          JOIN commerce.recruit_campaign c ON c.tenant_id = x.tenant_id AND c.campaign_id = x.campaign_id
         WHERE x.status = 'queued'
           AND NOT EXISTS (SELECT 1 FROM commerce.flow_trigger t WHERE t.tenant_id = x.tenant_id AND t.key = 'recruit:' || x.notice_id)
           AND NOT EXISTS (SELECT 1 FROM commerce.flow_run r
                            WHERE r.tenant_id = x.tenant_id AND r.flow_id = c.flow_id AND r.trigger_key = 'recruit:' || x.notice_id)
         ORDER BY x.tenant_id, x.notice_id LIMIT p_limit
           FOR NO KEY UPDATE OF x SKIP LOCKED)
    UPDATE commerce.recruit_notice n SET status = 'not_sent', reason = coalesce(n.reason, 'not_started')
      FROM stuck WHERE n.tenant_id = stuck.tenant_id AND n.notice_id = stuck.notice_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce.recruit_sweep(integer) IS
  'End the queued recruitment notices whose trigger the flow pump took without starting a run (the member had a live run of the flow, or the flow allows no re-entry; the flow was paused): not sent, reason not_started. Run hourly by the commerce-potential job. Returns how many it ended.';

-- A delivery receipt of a notice's message from the gateway.
CREATE FUNCTION commerce.record_notice_receipt(p_tenant bigint, p_message_id bigint, p_status text, p_reason text DEFAULT NULL,
                                               p_at timestamptz DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE n commerce.recruit_notice%ROWTYPE; v_at timestamptz := coalesce(p_at, commerce.now()); v_changed boolean := false;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_message_id, 'p_message_id');
    PERFORM commerce._require(p_status, 'p_status');
    IF p_status NOT IN ('delivered', 'failed') THEN
        PERFORM commerce._invalid('p_status', format('status "%s"', left(p_status, 64)), 'A receipt says delivered or failed.');
    END IF;
    IF p_status = 'failed' AND (p_reason IS NULL OR length(p_reason) NOT BETWEEN 1 AND 200) THEN
        PERFORM commerce._invalid('p_reason', 'a failure without a reason (or of more than 200 characters)',
            'Pass the gateway''s reason: blocked, invalid_number, unsubscribed, template_rejected, ...');
    END IF;
    IF NOT isfinite(v_at) THEN
        PERFORM commerce._invalid('p_at', format('%s', v_at), 'Pass the time the gateway reported, or NULL for now.');
    END IF;
    SELECT * INTO n FROM commerce.recruit_notice x WHERE x.tenant_id = p_tenant AND x.message_id = p_message_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('recruitment notice of message', p_message_id::text, p_tenant);
    END IF;
    IF p_status = 'delivered' AND n.status IN ('sent', 'failed') THEN
        UPDATE commerce.recruit_notice x SET status = 'delivered', reason = NULL, receipt_at = v_at
         WHERE x.tenant_id = p_tenant AND x.notice_id = n.notice_id RETURNING * INTO n;
        v_changed := true;
    ELSIF p_status = 'failed' AND n.status = 'sent' THEN
        UPDATE commerce.recruit_notice x SET status = 'failed', reason = p_reason, receipt_at = v_at
         WHERE x.tenant_id = p_tenant AND x.notice_id = n.notice_id RETURNING * INTO n;
        v_changed := true;
    END IF;
    RETURN jsonb_build_object('notice', n.notice_id, 'status', n.status, 'reason', n.reason, 'channel', n.channel, 'changed', v_changed);
END $$;
COMMENT ON FUNCTION commerce.record_notice_receipt(bigint, bigint, text, text, timestamptz) IS
  'A delivery receipt for the outbox message of a recruitment notice (K02): delivered, or failed with the gateway''s reason; a failure later delivered (a retry) becomes delivered; a delivered notice stays delivered, and a repeated receipt changes nothing (changed false). PT404 for a message that is not a notice''s. Returns {notice, status, reason, channel, changed}.';

-- A candidate opens its notice's link: the campaign's benefits and guide.
CREATE FUNCTION commerce.open_recruit_notice(p_tenant bigint, p_code text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v_id bigint; n record;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    v_id := commerce._notice_code_parse(p_tenant, p_code);
    IF v_id IS NULL THEN
        PERFORM commerce._invalid('p_code', format('"%s" is not a recruitment notice code of this tenant', left(p_code, 64)),
            'Pass the code the notice carried, unaltered.');
    END IF;
    UPDATE commerce.recruit_notice x SET opened_at = coalesce(x.opened_at, commerce.now())
     WHERE x.tenant_id = p_tenant AND x.notice_id = v_id;
    SELECT c.code, c.benefits, c.guide_url, x.opened_at, x.application_id IS NOT NULL AS applied INTO n
      FROM commerce.recruit_notice x JOIN commerce.recruit_campaign c ON c.tenant_id = x.tenant_id AND c.campaign_id = x.campaign_id
     WHERE x.tenant_id = p_tenant AND x.notice_id = v_id;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('recruitment notice', p_code, p_tenant);
    END IF;
    RETURN jsonb_build_object('campaign', n.code, 'benefits', n.benefits, 'guide_url', n.guide_url, 'opened_at', n.opened_at,
                              'applied', n.applied);
END $$;
COMMENT ON FUNCTION commerce.open_recruit_notice(bigint, text) IS
  'The landing page of a recruitment notice''s link (K02): the campaign''s benefits and joining guide, whether the candidate applied; the first opening is recorded. 22023 for a code that is not the tenant''s signed notice code.';

-- An application attributed to the member's latest notice within its campaign's window.
CREATE FUNCTION commerce._recruit_on_application() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE v_notice bigint;
BEGIN
    IF TG_OP <> 'INSERT' OR TG_LEVEL <> 'ROW' OR TG_WHEN <> 'AFTER' THEN
        RAISE EXCEPTION USING ERRCODE = '39P01', MESSAGE = '_recruit_on_application must fire AFTER INSERT FOR EACH ROW';
    END IF;
    SELECT n.notice_id INTO v_notice
      FROM commerce.customer cu
      JOIN commerce.recruit_notice n ON n.tenant_id = cu.tenant_id AND n.person_id = cu.person_id
      JOIN commerce.recruit_campaign c ON c.tenant_id = n.tenant_id AND c.campaign_id = n.campaign_id
     WHERE cu.tenant_id = NEW.tenant_id AND cu.customer_id = NEW.customer_id
       AND n.sent_at IS NOT NULL AND n.application_id IS NULL
       AND n.sent_at <= NEW.created_at AND NEW.created_at < n.sent_at + make_interval(days => c.window_days)
     ORDER BY n.sent_at DESC, n.notice_id DESC LIMIT 1
       FOR NO KEY UPDATE OF n;
    IF v_notice IS NOT NULL THEN
        UPDATE commerce.recruit_notice n SET application_id = NEW.application_id, applied_at = NEW.created_at
         WHERE n.tenant_id = NEW.tenant_id AND n.notice_id = v_notice;
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION commerce._recruit_on_application() IS
  'After a KOC application is submitted (K02): it is attributed to the applicant''s latest recruitment notice that was sent within its campaign''s window before, and not yet attributed.';

CREATE TRIGGER after_70_recruit AFTER INSERT ON commerce.koc_application
    FOR EACH ROW EXECUTE FUNCTION commerce._recruit_on_application();

-- The delivery and the lift of a campaign.
CREATE FUNCTION commerce.recruit_report(p_tenant bigint, p_campaign text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE c commerce.recruit_campaign%ROWTYPE; v_channels jsonb; v_not_sent jsonb; v_totals record; v_lift record;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_campaign, 'p_campaign');
    SELECT * INTO c FROM commerce.recruit_campaign x WHERE x.tenant_id = p_tenant AND x.code = p_campaign;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('recruitment campaign', p_campaign, p_tenant);
    END IF;
    SELECT coalesce(jsonb_agg(jsonb_build_object('channel', q.channel, 'sent', q.sent, 'delivered', q.delivered, 'failed', q.failed,
                                                 'awaiting_receipt', q.sent - q.delivered - q.failed,
                                                 'delivery_rate', round(q.delivered::numeric / q.sent, 4),
                                                 'failures', q.failures) ORDER BY q.channel), '[]'::jsonb)
      INTO v_channels
      FROM (SELECT n.channel, count(*) AS sent, count(*) FILTER (WHERE n.status = 'delivered') AS delivered,
                   count(*) FILTER (WHERE n.status = 'failed') AS failed,
                   coalesce((SELECT jsonb_object_agg(f.reason, f.k) FROM (
                       SELECT m.reason, count(*) AS k FROM commerce.recruit_notice m
                        WHERE m.tenant_id = p_tenant AND m.campaign_id = c.campaign_id AND m.channel = n.channel
                          AND m.status = 'failed' GROUP BY m.reason) f), '{}'::jsonb) AS failures
              FROM commerce.recruit_notice n
             WHERE n.tenant_id = p_tenant AND n.campaign_id = c.campaign_id AND n.status IN ('sent', 'delivered', 'failed')
             GROUP BY n.channel) q;
    SELECT coalesce(jsonb_object_agg(q.reason, q.k), '{}'::jsonb) INTO v_not_sent
      FROM (SELECT n.reason, count(*) AS k FROM commerce.recruit_notice n
             WHERE n.tenant_id = p_tenant AND n.campaign_id = c.campaign_id AND n.status = 'not_sent' GROUP BY n.reason) q;
    SELECT count(*) AS notices, count(*) FILTER (WHERE n.status = 'queued') AS queued,
           count(*) FILTER (WHERE n.status IN ('sent', 'delivered', 'failed')) AS sent,
           count(*) FILTER (WHERE n.status = 'delivered') AS delivered, count(*) FILTER (WHERE n.opened_at IS NOT NULL) AS opened,
           count(*) FILTER (WHERE n.application_id IS NOT NULL) AS attributed
      INTO v_totals FROM commerce.recruit_notice n WHERE n.tenant_id = p_tenant AND n.campaign_id = c.campaign_id;
    -- the lift: members applying within the window after the campaign, notified against the list's control part
    WITH grp AS (
        SELECT n.person_id, false AS control FROM commerce.recruit_notice n
         WHERE n.tenant_id = p_tenant AND n.campaign_id = c.campaign_id
        UNION ALL
        SELECT pc.person_id, true FROM commerce.potential_candidate pc
         WHERE pc.tenant_id = p_tenant AND pc.run_id = c.run_id AND pc.control),
    applied AS (
        SELECT g.control, g.person_id,
               EXISTS (SELECT 1 FROM commerce.customer cu
                         JOIN commerce.koc_application a ON a.tenant_id = cu.tenant_id AND a.customer_id = cu.customer_id
                        WHERE cu.tenant_id = p_tenant AND cu.person_id = g.person_id
                          AND a.created_at >= c.created_at AND a.created_at < c.created_at + make_interval(days => c.window_days)) AS applied
          FROM grp g)
    SELECT count(*) FILTER (WHERE NOT a.control) AS notified, count(*) FILTER (WHERE NOT a.control AND a.applied) AS notified_applied,
           count(*) FILTER (WHERE a.control) AS control, count(*) FILTER (WHERE a.control AND a.applied) AS control_applied
      INTO v_lift FROM applied a;
    RETURN jsonb_build_object(
        'campaign', c.code, 'run', c.run_id, 'flow', (SELECT f.code FROM commerce.flow f WHERE f.tenant_id = p_tenant AND f.flow_id = c.flow_id),
        'created_at', c.created_at, 'window_days', c.window_days,
        'notices', v_totals.notices, 'queued', v_totals.queued, 'not_sent', v_not_sent, 'sent', v_totals.sent,
        'delivered', v_totals.delivered, 'delivery_rate', CASE WHEN v_totals.sent > 0 THEN round(v_totals.delivered::numeric / v_totals.sent, 4) END,
        'channels', v_channels, 'opened', v_totals.opened, 'applications_attributed', v_totals.attributed,
        'notified', v_lift.notified, 'notified_applied', v_lift.notified_applied,
        'notified_rate', CASE WHEN v_lift.notified > 0 THEN round(v_lift.notified_applied::numeric / v_lift.notified, 4) END,
        'control', v_lift.control, 'control_applied', v_lift.control_applied,
        'control_rate', CASE WHEN v_lift.control > 0 THEN round(v_lift.control_applied::numeric / v_lift.control, 4) END,
        'lift', CASE WHEN v_lift.notified > 0 AND v_lift.control_applied > 0
                     THEN round((v_lift.notified_applied::numeric / v_lift.notified) / (v_lift.control_applied::numeric / v_lift.control), 4) END);
END $$;
COMMENT ON FUNCTION commerce.recruit_report(bigint, text) IS
  'A recruitment campaign''s figures (K02): notices queued, not sent by reason, sent, delivered and the delivery rate (delivered / sent) in all and per channel with failures by reason and those awaiting a receipt; notices opened and applications attributed; and the lift of recruiting: the share of notified members who applied within the window after the campaign against the share of the list''s control part who did (lift NULL while no control member applied).';

-- The hourly job: the sweep, then the month's lists.
CREATE PROCEDURE commerce.potential_pump()
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce.recruit_sweep();
    COMMIT;
    WHILE commerce.potential_due(1) > 0 LOOP
        COMMIT;     -- one tenant per transaction: a large tenant's list does not hold back the others'
    END LOOP;
END $$;
COMMENT ON PROCEDURE commerce.potential_pump() IS
  'The KOC potential job (pg_cron, hourly): recruitment notices the flow pump never started end as not_started (commerce.recruit_sweep), then every enabled tenant whose current month has no candidate list gets one, one tenant per transaction (commerce.potential_due).';

INSERT INTO commerce.job (job_name, schedule, command) VALUES
  ('commerce-potential', '25 * * * *', 'CALL commerce.potential_pump()');
