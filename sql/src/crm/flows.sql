-- sql/src/crm/flows.sql: automation (CRM10-CRM12). A flow is a trigger and
-- steps (wait, condition, split, action, exit) in versions; the flow pump
-- starts one run per trigger and person (re-entry only when the flow allows
-- it, numbered), and advances due runs, each step once: the step's record,
-- its effect (a coupon, points, a tag, an outbox message under the channel's
-- daily cap and the person's opt-outs) and the run's new position commit
-- together, so duplicate triggers, two pumps and a crash mid-pump act once.

-- The step index a step id names in a list of step ids (0: end); 22023 for an unknown id.
CREATE FUNCTION commerce._flow_target(p_ids text[], p_id jsonb, p_path text, p_default integer) RETURNS integer
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE v integer;
BEGIN
    IF p_id IS NULL THEN
        RETURN p_default;
    END IF;
    IF jsonb_typeof(p_id) <> 'string' THEN
        PERFORM commerce._invalid('p_definition', format('%s is %s.', p_path, left(p_id::text, 64)), 'Name a step by its id, or "end".');
    END IF;
    IF p_id #>> '{}' = 'end' THEN
        RETURN 0;
    END IF;
    v := array_position(p_ids, p_id #>> '{}');
    IF v IS NULL THEN
        PERFORM commerce._invalid('p_definition', format('%s names no step: "%s".', p_path, left(p_id #>> '{}', 64)),
                                  'Name a step of this flow by its id, or "end".');
    END IF;
    RETURN v;
END $$;
COMMENT ON FUNCTION commerce._flow_target(text[], jsonb, text, integer) IS
  'The 1-based index of the step a "next", "then" or "else" names (0 for "end"; p_default when absent); 22023 naming the JSON path for an unknown step.';

-- Check a flow definition and compile its steps (conditions into segment programs).
CREATE FUNCTION commerce._flow_compile(p_tenant bigint, p_def jsonb,
                                       OUT trigger_on text, OUT trigger_ref text, OUT reentry_after interval, OUT steps jsonb)
LANGUAGE plpgsql AS $$
DECLARE v_ids text[] := ARRAY[]::text[]; st jsonb; i integer := 0; p text; v_kinds text[]; k text; v_next integer;
        v_step jsonb; prog commerce.segment_program; b jsonb; v_total integer; v_branches jsonb; a jsonb; v_min integer;
        v_tr jsonb := p_def -> 'trigger';
BEGIN
    PERFORM commerce._require(p_def, 'p_definition');
    IF jsonb_typeof(p_def) <> 'object' OR NOT p_def ?& ARRAY['trigger', 'steps']
       OR EXISTS (SELECT 1 FROM jsonb_object_keys(p_def) x WHERE x NOT IN ('trigger', 'steps', 'reentry')) THEN
        PERFORM commerce._invalid('p_definition', 'A flow is {"trigger", "steps"[, "reentry"]}.',
            'Send {"trigger":{"on":"registered"},"steps":[{"id":"welcome","action":{"coupon":"WELCOME"}}, ...]}.');
    END IF;
    -- the trigger
    IF jsonb_typeof(v_tr) <> 'object' OR NOT v_tr ? 'on'
       OR v_tr ->> 'on' NOT IN ('registered', 'birthday', 'purchase', 'event', 'entered_segment', 'recall')
       OR EXISTS (SELECT 1 FROM jsonb_object_keys(v_tr) x WHERE x NOT IN ('on', 'ref')) THEN
        PERFORM commerce._invalid('p_definition', format('$.trigger is %s.', left(v_tr::text, 100)),
            'A trigger is {"on": registered | birthday | purchase | event | entered_segment | recall[, "ref"]}.');
    END IF;
    trigger_on := v_tr ->> 'on';
    trigger_ref := v_tr ->> 'ref';
    IF trigger_on IN ('event', 'entered_segment') AND trigger_ref IS NULL THEN
        PERFORM commerce._invalid('p_definition', format('$.trigger.ref is missing for %s.', trigger_on),
            'An event trigger names the interaction kind (browse, joined_group, custom.<name>, ...); entered_segment names the segment.');
    END IF;
    IF trigger_on = 'event' AND trigger_ref !~ '^(browse|consultation|complaint|praise|activity|koc_promotion|joined_group|left_group|custom\.[a-z0-9_]{1,55})$' THEN
        PERFORM commerce._invalid('p_definition', format('$.trigger.ref is "%s".', left(trigger_ref, 64)),
            'Kinds: browse, consultation, complaint, praise, activity, koc_promotion, joined_group, left_group, custom.<name>.');
    END IF;
    IF trigger_on = 'entered_segment'
       AND NOT EXISTS (SELECT 1 FROM commerce.segment g WHERE g.tenant_id = p_tenant AND g.kind = 'segment' AND g.code = trigger_ref) THEN
        PERFORM commerce._not_found('segment', trigger_ref, p_tenant);
    END IF;
    IF trigger_on IN ('registered', 'birthday', 'recall') AND trigger_ref IS NOT NULL THEN
        PERFORM commerce._invalid('p_definition', '$.trigger.ref is given for a trigger without one.', 'Leave ref out.');
    END IF;
    -- re-entry: false (once per person) or {"after_days": n}
    IF p_def ? 'reentry' AND p_def -> 'reentry' <> 'false'::jsonb THEN
        IF jsonb_typeof(p_def -> 'reentry') <> 'object' OR NOT p_def -> 'reentry' ? 'after_days' THEN
            PERFORM commerce._invalid('p_definition', format('$.reentry is %s.', left((p_def -> 'reentry')::text, 64)),
                                      'Re-entry is false (once per person) or {"after_days": n}, n from 1 to 3650.');
        END IF;
        reentry_after := make_interval(days => commerce._json_int(p_def #> '{reentry,after_days}', '$.reentry.after_days', 1, 3650,
                                                                  'p_definition')::integer);
    END IF;
    -- the steps: ids first (targets may point forward)
    IF jsonb_typeof(p_def -> 'steps') <> 'array' OR jsonb_array_length(p_def -> 'steps') NOT BETWEEN 1 AND 50 THEN
        PERFORM commerce._invalid('p_definition', '$.steps is not a list of 1 to 50 steps.', 'Send "steps": [{"id": ..., ...}, ...].');
    END IF;
    FOR st IN SELECT x FROM jsonb_array_elements(p_def -> 'steps') x LOOP
        p := format('$.steps[%s]', i);
        IF jsonb_typeof(st) <> 'object' OR jsonb_typeof(st -> 'id') IS DISTINCT FROM 'string'
           OR (st ->> 'id') !~ '^[a-z0-9][a-z0-9_-]{0,31}$' OR st ->> 'id' = 'end' OR (st ->> 'id') = ANY (v_ids) THEN
            PERFORM commerce._invalid('p_definition', format('%s.id is missing, repeated or not a name.', p),
                                      'Each step has a unique id of lower-case letters, digits, _ and - (at most 32), not "end".');
        END IF;
        v_ids := v_ids || (st ->> 'id');
        i := i + 1;
    END LOOP;
    steps := '[]'::jsonb;
    i := 0;
    FOR st IN SELECT x FROM jsonb_array_elements(p_def -> 'steps') x LOOP
        p := format('$.steps[%s]', i);
        SELECT array_agg(x) INTO v_kinds FROM jsonb_object_keys(st) x WHERE x IN ('wait', 'if', 'split', 'action', 'exit');
        IF coalesce(array_length(v_kinds, 1), 0) <> 1
           OR EXISTS (SELECT 1 FROM jsonb_object_keys(st) x
                       WHERE x NOT IN ('id', 'wait', 'if', 'then', 'else', 'split', 'action', 'exit', 'next')) THEN
            PERFORM commerce._invalid('p_definition', format('%s has %s.', p, coalesce(array_to_string(v_kinds, ' and '), 'no kind')),
                'A step is exactly one of wait, if (with then / else), split, action, exit, with an id and an optional next.');
        END IF;
        k := v_kinds[1];
        v_next := commerce._flow_target(v_ids, st -> 'next', p || '.next', CASE WHEN i + 2 <= array_length(v_ids, 1) THEN i + 2 ELSE 0 END);
        v_step := jsonb_build_object('id', st ->> 'id', 'kind', k, 'next', v_next);
        IF k = 'wait' THEN
            IF jsonb_typeof(st -> 'wait') <> 'object' THEN
                PERFORM commerce._invalid('p_definition', format('%s.wait is not an object.', p),
                                          'Wait {"days": n}, {"hours": n}, {"minutes": n} (together at most a year) or {"until": "HH:MM"} (local time).');
            END IF;
            IF st -> 'wait' ? 'until' THEN
                IF (SELECT count(*) FROM jsonb_object_keys(st -> 'wait')) <> 1
                   OR (st #>> '{wait,until}') !~ '^([01][0-9]|2[0-3]):[0-5][0-9]$' THEN
                    PERFORM commerce._invalid('p_definition', format('%s.wait.until is %s.', p, left((st #> '{wait,until}')::text, 32)),
                                              'Wait until a local time "HH:MM" (alone).');
                END IF;
                v_step := v_step || jsonb_build_object('until', st #>> '{wait,until}');
            ELSE
                IF EXISTS (SELECT 1 FROM jsonb_object_keys(st -> 'wait') x WHERE x NOT IN ('days', 'hours', 'minutes')) THEN
                    PERFORM commerce._invalid('p_definition', format('%s.wait has an unknown key.', p), 'Wait days, hours, minutes or until.');
                END IF;
                v_min := coalesce(commerce._json_int(st #> '{wait,days}', p || '.wait.days', 0, 366, 'p_definition'), 0) * 1440
                       + coalesce(commerce._json_int(st #> '{wait,hours}', p || '.wait.hours', 0, 8784, 'p_definition'), 0) * 60
                       + coalesce(commerce._json_int(st #> '{wait,minutes}', p || '.wait.minutes', 0, 527040, 'p_definition'), 0);
                IF v_min NOT BETWEEN 1 AND 527040 THEN
                    PERFORM commerce._invalid('p_definition', format('%s.wait is %s minutes.', p, v_min), 'A wait is 1 minute to a year.');
                END IF;
                v_step := v_step || jsonb_build_object('minutes', v_min);
            END IF;
        ELSIF k = 'if' THEN
            BEGIN
                prog := commerce.compile_segment(st -> 'if');
            EXCEPTION WHEN invalid_parameter_value THEN
                PERFORM commerce._invalid('p_definition', format('%s.if: %s', p, SQLERRM), 'A condition is a segment condition tree (docs/crm.md).');
            END;
            IF EXISTS (SELECT 1 FROM unnest(prog.tags) c WHERE NOT EXISTS (SELECT 1 FROM commerce.tag t WHERE t.tenant_id = p_tenant AND t.code = c)) THEN
                PERFORM commerce._invalid('p_definition', format('%s.if names an unknown tag.', p), 'Create the tags first.');
            END IF;
            v_step := jsonb_build_object('id', st ->> 'id', 'kind', 'condition', 'next', v_next,
                                         'then', commerce._flow_target(v_ids, st -> 'then', p || '.then', v_next),
                                         'else', commerce._flow_target(v_ids, st -> 'else', p || '.else', 0),
                                         'select_some', prog.select_some, 'nums', to_jsonb(prog.nums), 'strs', to_jsonb(prog.strs));
        ELSIF k = 'split' THEN
            IF jsonb_typeof(st -> 'split') <> 'array' OR jsonb_array_length(st -> 'split') NOT BETWEEN 2 AND 10 THEN
                PERFORM commerce._invalid('p_definition', format('%s.split is not a list of 2 to 10 branches.', p),
                                          'Split [{"weight": 50, "next": "a"}, {"weight": 50, "next": "b"}] (weights add up to 100).');
            END IF;
            v_total := 0;
            v_branches := '[]'::jsonb;
            FOR b IN SELECT x FROM jsonb_array_elements(st -> 'split') x LOOP
                v_total := v_total + commerce._json_int(b -> 'weight', p || '.split.weight', 1, 100, 'p_definition');
                v_branches := v_branches || jsonb_build_object('upto', v_total,
                                                               'next', commerce._flow_target(v_ids, b -> 'next', p || '.split.next', v_next));
            END LOOP;
            IF v_total <> 100 THEN
                PERFORM commerce._invalid('p_definition', format('%s.split weights add up to %s.', p, v_total), 'The weights of a split add up to 100.');
            END IF;
            v_step := v_step || jsonb_build_object('kind', 'split', 'branches', v_branches);
        ELSIF k = 'action' THEN
            a := st -> 'action';
            IF jsonb_typeof(a) <> 'object' OR (SELECT count(*) FROM jsonb_object_keys(a) x WHERE x IN ('coupon', 'points', 'message', 'tag')) <> 1 THEN
                PERFORM commerce._invalid('p_definition', format('%s.action is %s.', p, left(a::text, 100)),
                    'An action is {"coupon": "<batch>"}, {"points": n}, {"message": {"channel": sms | mini_program | email | wecom, "template": "..."}} or {"tag": "<manual tag>"}.');
            END IF;
            IF a ? 'coupon' THEN
                IF NOT EXISTS (SELECT 1 FROM commerce.coupon_batch cb WHERE cb.tenant_id = p_tenant AND cb.code = a ->> 'coupon') THEN
                    PERFORM commerce._not_found('coupon batch', a ->> 'coupon', p_tenant);
                END IF;
                v_step := v_step || jsonb_build_object('kind', 'coupon', 'batch', a ->> 'coupon');
            ELSIF a ? 'points' THEN
                v_step := v_step || jsonb_build_object('kind', 'points',
                    'points', commerce._json_int(a -> 'points', p || '.action.points', 1, 100000, 'p_definition'),
                    'expire_days', coalesce(commerce._json_int(a -> 'expire_days', p || '.action.expire_days', 1, 3650, 'p_definition'), 365));
            ELSIF a ? 'message' THEN
                IF jsonb_typeof(a -> 'message') <> 'object' OR (a #>> '{message,channel}') IS NULL
                   OR (a #>> '{message,channel}') NOT IN ('sms', 'mini_program', 'email', 'wecom')
                   OR jsonb_typeof(a #> '{message,template}') IS DISTINCT FROM 'string'
                   OR length(a #>> '{message,template}') NOT BETWEEN 1 AND 100 THEN
                    PERFORM commerce._invalid('p_definition', format('%s.action.message is %s.', p, left((a -> 'message')::text, 100)),
                        'A message is {"channel": sms | mini_program | email | wecom, "template": "<1 to 100 characters>"}.');
                END IF;
                v_step := v_step || jsonb_build_object('kind', 'message', 'channel', a #>> '{message,channel}',
                                                       'template', a #>> '{message,template}');
            ELSE
                IF NOT EXISTS (SELECT 1 FROM commerce.tag t WHERE t.tenant_id = p_tenant AND t.code = a ->> 'tag' AND t.source = 'manual') THEN
                    PERFORM commerce._invalid('p_definition', format('%s.action.tag "%s" is not a manual tag.', p, left(a ->> 'tag', 64)),
                                              'A flow sets manual tags (create it with commerce.create_tag).');
                END IF;
                v_step := v_step || jsonb_build_object('kind', 'tag', 'tag', a ->> 'tag');
            END IF;
        ELSE
            IF st -> 'exit' <> 'true'::jsonb THEN
                PERFORM commerce._invalid('p_definition', format('%s.exit is not true.', p), 'An exit step is {"id": ..., "exit": true}.');
            END IF;
            v_step := v_step || jsonb_build_object('kind', 'exit');
        END IF;
        steps := steps || jsonb_build_array(v_step);
        i := i + 1;
    END LOOP;
END $$;
COMMENT ON FUNCTION commerce._flow_compile(bigint, jsonb) IS
  'Check a flow definition (docs/crm.md, automation) and compile it: its trigger, re-entry interval, and steps with their targets as step numbers (0: end) and conditions as segment programs. 22023 names the JSON path of the first bad part; PT404 for an unknown segment or coupon batch.';

-- Define a flow or give it a new version (runs keep the version they started on).
CREATE FUNCTION commerce.define_flow(p_tenant bigint, p_code text, p_name text, p_definition jsonb) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE c record; f commerce.flow%ROWTYPE; v_now timestamptz := commerce.now(); v_version integer;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_name, 'p_name');
    PERFORM commerce._crm_code(p_code);
    PERFORM commerce._crm_name(p_name);
    SELECT * INTO c FROM commerce._flow_compile(p_tenant, p_definition);
    SELECT * INTO f FROM commerce.flow x WHERE x.tenant_id = p_tenant AND x.code = p_code FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO commerce.flow (tenant_id, code, name, version, created_at, updated_at)
        VALUES (p_tenant, p_code, p_name, 1, v_now, v_now)
        ON CONFLICT (tenant_id, code) DO NOTHING
        RETURNING * INTO f;
        IF f.flow_id IS NULL THEN      -- defined concurrently: this call becomes a new version
            RETURN commerce.define_flow(p_tenant, p_code, p_name, p_definition);
        END IF;
        v_version := 1;
    ELSIF (SELECT v.definition FROM commerce.flow_version v
            WHERE v.tenant_id = p_tenant AND v.flow_id = f.flow_id AND v.version = f.version) = p_definition THEN
        UPDATE commerce.flow x SET name = p_name, updated_at = v_now WHERE x.tenant_id = p_tenant AND x.flow_id = f.flow_id;
        RETURN f.version;
    ELSE
        v_version := f.version + 1;
    END IF;
    INSERT INTO commerce.flow_version (tenant_id, flow_id, version, definition, trigger_on, trigger_ref, reentry_after, steps, created_at)
    VALUES (p_tenant, f.flow_id, v_version, p_definition, c.trigger_on, c.trigger_ref, c.reentry_after, c.steps, v_now);
    UPDATE commerce.flow x SET version = v_version, name = p_name, updated_at = v_now WHERE x.tenant_id = p_tenant AND x.flow_id = f.flow_id;
    RETURN v_version;
END $$;
COMMENT ON FUNCTION commerce.define_flow(bigint, text, text, jsonb) IS
  'Define an automated flow (CRM10) or give it a new version: {"trigger": {"on": registered | birthday | purchase | event | entered_segment, "ref"}, "reentry": false | {"after_days": n}, "steps": [...]} (docs/crm.md). New runs start on the new version; runs under way keep theirs. The same definition again changes nothing. Returns the version.';

-- Pause, resume or archive a flow (archiving exits its runs under way).
CREATE FUNCTION commerce.set_flow_status(p_tenant bigint, p_code text, p_status text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE v_flow bigint; n integer := 0; v_now timestamptz := commerce.now();
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_status, 'p_status');
    IF p_status NOT IN ('active', 'paused', 'archived') THEN
        PERFORM commerce._invalid('p_status', format('"%s"', left(p_status, 64)), 'A flow is active, paused or archived.');
    END IF;
    UPDATE commerce.flow f SET status = p_status, updated_at = v_now
     WHERE f.tenant_id = p_tenant AND f.code = p_code AND (f.status <> 'archived' OR p_status = 'archived')
    RETURNING f.flow_id INTO v_flow;
    IF v_flow IS NULL THEN
        IF EXISTS (SELECT 1 FROM commerce.flow f WHERE f.tenant_id = p_tenant AND f.code = p_code) THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('flow %s is archived', p_code),
                DETAIL = 'An archived flow stays archived.', HINT = 'Define a flow with another code.';
        END IF;
        PERFORM commerce._not_found('flow', p_code, p_tenant);
    END IF;
    IF p_status = 'archived' THEN
        WITH live AS (
            SELECT r.run_id FROM commerce.flow_run r
             WHERE r.tenant_id = p_tenant AND r.flow_id = v_flow AND r.status IN ('active', 'waiting')
             ORDER BY r.run_id FOR UPDATE)
        UPDATE commerce.flow_run r SET status = 'exited', wake_at = NULL, ended_at = v_now, updated_at = v_now
          FROM live WHERE r.tenant_id = p_tenant AND r.run_id = live.run_id;
        GET DIAGNOSTICS n = ROW_COUNT;
    END IF;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce.set_flow_status(bigint, text, text) IS
  'Pause a flow (it starts nothing and its runs wait), resume it (active), or archive it for good (its runs under way exit). Returns the runs exited.';

-- Whether an active flow of the tenant listens for a kind of trigger (and ref).
CREATE FUNCTION commerce._flow_listens(p_tenant bigint, p_kind text, p_ref text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM commerce.flow f
                     JOIN commerce.flow_version v ON v.tenant_id = f.tenant_id AND v.flow_id = f.flow_id AND v.version = f.version
                    WHERE f.tenant_id = p_tenant AND f.status = 'active' AND v.trigger_on = p_kind
                      AND (v.trigger_ref IS NULL OR v.trigger_ref = p_ref));
$$;
COMMENT ON FUNCTION commerce._flow_listens(bigint, text, text) IS
  'Whether an active flow of the tenant listens for this kind of trigger (and ref): triggers are queued only then.';

-- Queue a trigger for the flow pump (once per key), when an active flow listens for it.
CREATE FUNCTION commerce._flow_trigger(p_tenant bigint, p_person bigint, p_kind text, p_ref text, p_key text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_person IS NULL OR NOT commerce._flow_listens(p_tenant, p_kind, p_ref) THEN
        RETURN;
    END IF;
    INSERT INTO commerce.flow_trigger (tenant_id, person_id, kind, ref, key, origin_flow, at)
    VALUES (p_tenant, p_person, p_kind, p_ref, p_key, nullif(current_setting('commerce_flow.origin', true), '')::bigint, commerce.now())
    ON CONFLICT (tenant_id, key) DO NOTHING;
END $$;
COMMENT ON FUNCTION commerce._flow_trigger(bigint, bigint, text, text, text) IS
  'Queue a trigger (registered, birthday, purchase, event, entered_segment) of a person for the flow pump, once per key, when an active flow listens for it; a trigger raised inside a flow''s own action carries that flow (origin_flow), which it does not start.';

-- AFTER INSERT ON commerce.crm_event: an interaction may trigger flows.
CREATE FUNCTION commerce._flow_on_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._flow_trigger(NEW.tenant_id, NEW.person_id, 'event', NEW.kind, 'event:' || NEW.event_id);
    RETURN NULL;
END $$;
COMMENT ON FUNCTION commerce._flow_on_event() IS
  'Trigger on commerce.crm_event (after_64_flow): an interaction queues an event trigger (ref: its kind) when an active flow listens for that kind.';

CREATE TRIGGER after_64_flow AFTER INSERT ON commerce.crm_event
    FOR EACH ROW EXECUTE FUNCTION commerce._flow_on_event();

-- AFTER INSERT ON commerce.segment_member (per statement): people who entered a segment may trigger flows.
CREATE FUNCTION commerce._flow_on_segment() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO commerce.flow_trigger (tenant_id, person_id, kind, ref, key, origin_flow, at)
    SELECT n.tenant_id, n.person_id, 'entered_segment', g.code,
           format('segment:%s:%s:%s', n.segment_id, n.person_id, extract(epoch FROM n.since)), NULL, commerce.now()
      FROM entered n
      JOIN commerce.segment g ON g.tenant_id = n.tenant_id AND g.segment_id = n.segment_id AND g.kind = 'segment'
     WHERE commerce._flow_listens(n.tenant_id, 'entered_segment', g.code)
    ON CONFLICT (tenant_id, key) DO NOTHING;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION commerce._flow_on_segment() IS
  'Statement trigger on commerce.segment_member (after_64_flow, with the inserted rows as a transition table): every person who entered a segment an active flow listens on gets an entered_segment trigger.';

CREATE TRIGGER after_64_flow AFTER INSERT ON commerce.segment_member
    REFERENCING NEW TABLE AS entered FOR EACH STATEMENT EXECUTE FUNCTION commerce._flow_on_segment();

-- Queue today's birthday triggers, once a day per tenant with an active birthday flow.
CREATE FUNCTION commerce._flow_birthdays() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE d record; n integer := 0; k integer;
BEGIN
    FOR d IN
        INSERT INTO commerce.flow_birthday_run AS r (tenant_id, day, queued, at)
        SELECT t.tenant_id, (commerce.now() AT TIME ZONE t.time_zone)::date, 0, commerce.now()
          FROM commerce.tenant t
         WHERE commerce._flow_listens(t.tenant_id, 'birthday', NULL)
        ON CONFLICT (tenant_id, day) DO NOTHING
        RETURNING r.tenant_id, r.day
    LOOP
        -- born on 29 February: the 28th in a year without one
        INSERT INTO commerce.flow_trigger (tenant_id, person_id, kind, ref, key, origin_flow, at)
        SELECT DISTINCT ON (c.person_id) c.tenant_id, c.person_id, 'birthday', NULL,
               format('birthday:%s:%s', extract(year FROM d.day), c.person_id), NULL, commerce.now()
          FROM commerce.customer c
         WHERE c.tenant_id = d.tenant_id AND c.birthday IS NOT NULL
           AND (to_char(c.birthday, 'MM-DD') = to_char(d.day, 'MM-DD')
                OR (to_char(c.birthday, 'MM-DD') = '02-29' AND to_char(d.day, 'MM-DD') = '02-28'
                    AND extract(day FROM (date_trunc('year', d.day) + interval '2 months' - interval '1 day')) = 28))
         ORDER BY c.person_id
        ON CONFLICT (tenant_id, key) DO NOTHING;
        GET DIAGNOSTICS k = ROW_COUNT;
        UPDATE commerce.flow_birthday_run r SET queued = k WHERE r.tenant_id = d.tenant_id AND r.day = d.day;
        n := n + k;
    END LOOP;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce._flow_birthdays() IS
  'Queue a birthday trigger (keyed by year and person) for every person whose birthday is today in its tenant''s calendar (29 February: on the 28th in other years), once a day per tenant with an active birthday flow (flow_birthday_run); a birthday flow defined later that day starts with the next day''s birthdays.';

-- One batch of the flow pump, part 1: queued triggers start runs.
CREATE FUNCTION commerce.flow_intake(p_limit integer DEFAULT 1000) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE n integer := 0; t record; f record; v_now timestamptz := commerce.now(); v_run_no integer;
BEGIN
    PERFORM commerce._require(p_limit, 'p_limit');
    IF p_limit NOT BETWEEN 1 AND 100000 THEN
        PERFORM commerce._invalid('p_limit', format('batch %s', p_limit), 'Use a batch of 1 to 100000.');
    END IF;
    FOR t IN
        WITH taken AS (
            DELETE FROM commerce.flow_trigger x
             WHERE (x.tenant_id, x.trigger_id) IN (SELECT y.tenant_id, y.trigger_id FROM commerce.flow_trigger y
                                                    ORDER BY y.trigger_id LIMIT p_limit FOR UPDATE SKIP LOCKED)
            RETURNING x.*)
        SELECT * FROM taken ORDER BY tenant_id, person_id, trigger_id
    LOOP
        n := n + 1;
        -- the person's row orders every start of a run of it (another pump waits here)
        PERFORM 1 FROM commerce.person p WHERE p.tenant_id = t.tenant_id AND p.person_id = t.person_id FOR NO KEY UPDATE;
        FOR f IN SELECT fl.flow_id, v.version, v.reentry_after FROM commerce.flow fl
                   JOIN commerce.flow_version v ON v.tenant_id = fl.tenant_id AND v.flow_id = fl.flow_id AND v.version = fl.version
                  WHERE fl.tenant_id = t.tenant_id AND fl.status = 'active' AND v.trigger_on = t.kind
                    AND (v.trigger_ref IS NULL OR v.trigger_ref = t.ref) AND fl.flow_id IS DISTINCT FROM t.origin_flow
                    AND (t.kind <> 'recall' OR fl.code = t.ref)     -- a recall names its flow
                  ORDER BY fl.flow_id LOOP
            -- one live run per flow and person; once ever, or again only reentry_after after the last ended
            CONTINUE WHEN EXISTS (SELECT 1 FROM commerce.flow_run r
                                   WHERE r.tenant_id = t.tenant_id AND r.flow_id = f.flow_id AND r.person_id = t.person_id
                                     AND (f.reentry_after IS NULL OR r.status IN ('active', 'waiting')
                                          OR r.ended_at > v_now - f.reentry_after));
            SELECT coalesce(max(r.run_no), 0) + 1 INTO v_run_no FROM commerce.flow_run r
             WHERE r.tenant_id = t.tenant_id AND r.flow_id = f.flow_id AND r.person_id = t.person_id;
            INSERT INTO commerce.flow_run (tenant_id, flow_id, version, person_id, run_no, trigger_key, wake_at, started_at, updated_at,
                                           context)
            VALUES (t.tenant_id, f.flow_id, f.version, t.person_id, v_run_no, t.key, v_now, v_now, v_now, t.context)
            ON CONFLICT DO NOTHING;
        END LOOP;
    END LOOP;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce.flow_intake(integer) IS
  'One batch of the flow pump, part 1: take up to p_limit queued triggers and start a run of every active flow listening for each (on its current version, numbered per person), unless the person has a live run of that flow, ran it once and the flow allows no re-entry, or ended one less than its re-entry interval ago; a trigger starts at most one run per flow (unique per trigger key). Returns the triggers taken.';

-- The customer account a flow acts on for a person (its first).
CREATE FUNCTION commerce._person_account(p_tenant bigint, p_person bigint) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT c.code FROM commerce.customer c WHERE c.tenant_id = p_tenant AND c.person_id = p_person ORDER BY c.customer_id LIMIT 1;
$$;
COMMENT ON FUNCTION commerce._person_account(bigint, bigint) IS 'The code of a person''s first customer account (the one flows issue coupons and points to).';

-- Send a flow's message: opt-outs, an address and the channel's daily cap are checked here, with the send.
CREATE FUNCTION commerce._flow_message(p_tenant bigint, p_run bigint, p_seq integer, p_person bigint, p_channel text,
                                       p_template text, p_flow text, OUT outcome text, OUT message_id bigint)
LANGUAGE plpgsql AS $$
DECLARE v_cap integer; v_day date := commerce._tenant_day(p_tenant, commerce.now()); v_sent integer; v_to boolean;
BEGIN
    IF EXISTS (SELECT 1 FROM commerce.contact_optout o
                WHERE o.tenant_id = p_tenant AND o.person_id = p_person AND o.channel IN ('all', p_channel)) THEN
        outcome := 'opted_out';
        RETURN;
    END IF;
    v_to := CASE p_channel
        WHEN 'sms' THEN EXISTS (SELECT 1 FROM commerce.person_identity i WHERE i.tenant_id = p_tenant AND i.person_id = p_person AND i.type = 'phone' AND i.linkable)
                        OR EXISTS (SELECT 1 FROM commerce.customer c WHERE c.tenant_id = p_tenant AND c.person_id = p_person AND c.phone IS NOT NULL)
        WHEN 'mini_program' THEN EXISTS (SELECT 1 FROM commerce.person_identity i WHERE i.tenant_id = p_tenant AND i.person_id = p_person AND i.type = 'wechat_openid')
        WHEN 'email' THEN EXISTS (SELECT 1 FROM commerce.person_identity i WHERE i.tenant_id = p_tenant AND i.person_id = p_person AND i.type = 'email')
        ELSE EXISTS (SELECT 1 FROM commerce.person_identity i WHERE i.tenant_id = p_tenant AND i.person_id = p_person AND i.type = 'wecom_external') END;
    IF NOT v_to THEN
        outcome := 'no_address';
        RETURN;
    END IF;
    SELECT cc.per_day INTO v_cap FROM commerce.contact_cap cc WHERE cc.tenant_id = p_tenant AND cc.channel = p_channel;
    -- the day's count is taken under its row's lock: two pumps never pass the cap together
    INSERT INTO commerce.contact_count AS k (tenant_id, person_id, channel, day, sent)
    VALUES (p_tenant, p_person, p_channel, v_day, 1)
    ON CONFLICT (tenant_id, person_id, channel, day) DO UPDATE SET sent = k.sent + 1
     WHERE v_cap IS NULL OR k.sent < v_cap
    RETURNING k.sent INTO v_sent;
    IF v_sent IS NULL OR (v_cap IS NOT NULL AND v_sent > v_cap) THEN
        IF v_sent IS NOT NULL THEN      -- a first message of the day over a cap of 0
            UPDATE commerce.contact_count k SET sent = k.sent - 1
             WHERE k.tenant_id = p_tenant AND k.person_id = p_person AND k.channel = p_channel AND k.day = v_day;
        END IF;
        outcome := 'capped';
        RETURN;
    END IF;
    message_id := commerce.enqueue(p_tenant, 'crm.message',
        jsonb_build_object('channel', p_channel, 'template', p_template, 'customer', commerce._person_account(p_tenant, p_person),
                           'person_id', p_person, 'flow', p_flow, 'run_id', p_run, 'seq', p_seq)
        || coalesce((SELECT jsonb_build_object('context', r.context) FROM commerce.flow_run r
                      WHERE r.tenant_id = p_tenant AND r.run_id = p_run AND r.context IS NOT NULL), '{}'::jsonb),
        format('flow:%s:%s', p_run, p_seq));
    outcome := 'done';
END $$;
COMMENT ON FUNCTION commerce._flow_message(bigint, bigint, integer, bigint, text, text, text) IS
  'Send a flow step''s message through the outbox (crm.message with the run''s context, deduplicated by run and step): not when the person opted out of the channel or of all (opted_out), has no address on it (no_address), or reached the channel''s daily cap (capped, counted under the day''s row lock). Returns the outcome and the message.';

-- Advance one run as far as it goes now (to a wait or its end), each step recorded once.
CREATE FUNCTION commerce._flow_advance(p_tenant bigint, p_run bigint) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE r commerce.flow_run%ROWTYPE; v commerce.flow_version%ROWTYPE; v_code text; st jsonb; v_now timestamptz := commerce.now();
        v_outcome text; v_detail text; v_msg bigint; v_target integer; v_bucket integer; v_tz text; v_local timestamp;
        v_steps integer := 0; v_match boolean; v_customer text; v_pid bigint;
BEGIN
    SELECT * INTO r FROM commerce.flow_run x WHERE x.tenant_id = p_tenant AND x.run_id = p_run;
    SELECT * INTO v FROM commerce.flow_version x WHERE x.tenant_id = p_tenant AND x.flow_id = r.flow_id AND x.version = r.version;
    SELECT f.code INTO v_code FROM commerce.flow f WHERE f.tenant_id = p_tenant AND f.flow_id = r.flow_id;
    SELECT t.time_zone INTO v_tz FROM commerce.tenant t WHERE t.tenant_id = p_tenant;
    LOOP
        IF r.step_no = 0 OR r.step_no > jsonb_array_length(v.steps) THEN
            r.status := 'done';
            EXIT;
        END IF;
        IF v_steps >= 50 THEN       -- a loop of steps without a wait: go on in the next round
            r.wake_at := v_now + interval '1 minute';
            EXIT;
        END IF;
        v_steps := v_steps + 1;
        st := v.steps -> (r.step_no - 1);
        v_msg := NULL; v_detail := NULL; v_target := (st ->> 'next')::integer;
        IF st ->> 'kind' = 'wait' THEN
            IF r.status = 'waiting' THEN        -- the wait is over
                r.status := 'active';
                r.step_no := v_target;
                CONTINUE;
            END IF;
            IF st ? 'until' THEN
                v_local := (v_now AT TIME ZONE v_tz)::date + (st ->> 'until')::time;
                IF v_local <= v_now AT TIME ZONE v_tz THEN
                    v_local := v_local + interval '1 day';
                END IF;
                r.wake_at := v_local AT TIME ZONE v_tz;
            ELSE
                r.wake_at := v_now + make_interval(mins => (st ->> 'minutes')::integer);
            END IF;
            r.status := 'waiting';
            v_outcome := 'waiting';
            v_detail := 'until ' || to_char(r.wake_at AT TIME ZONE v_tz, 'YYYY-MM-DD HH24:MI');
        ELSIF st ->> 'kind' = 'condition' THEN
            EXECUTE st ->> 'select_some' INTO v_pid
              USING p_tenant, commerce._tenant_day(p_tenant, v_now), v_now,
                    ARRAY(SELECT x::bigint FROM jsonb_array_elements_text(st -> 'nums') x),
                    ARRAY(SELECT x FROM jsonb_array_elements_text(st -> 'strs') x), ARRAY[r.person_id];
            v_match := v_pid IS NOT NULL;
            v_outcome := CASE WHEN v_match THEN 'yes' ELSE 'no' END;
            v_target := CASE WHEN v_match THEN (st ->> 'then')::integer ELSE (st ->> 'else')::integer END;
        ELSIF st ->> 'kind' = 'split' THEN
            -- the same run always takes the same branch (a hash of the run and step, 0 to 99)
            v_bucket := mod(mod(hashtextextended(r.run_id || ':' || (st ->> 'id'), 14), 100) + 100, 100);
            SELECT (b ->> 'next')::integer INTO v_target FROM jsonb_array_elements(st -> 'branches') b
             WHERE (b ->> 'upto')::integer > v_bucket ORDER BY (b ->> 'upto')::integer LIMIT 1;
            v_outcome := 'branch';
            v_detail := format('bucket %s', v_bucket);
        ELSIF st ->> 'kind' = 'exit' THEN
            v_outcome := 'exited';
            r.status := 'exited';
        ELSE
            v_customer := commerce._person_account(p_tenant, r.person_id);
            -- effects of this action are the flow's own: triggers they raise do not start it again
            PERFORM set_config('commerce_flow.origin', r.flow_id::text, true);
            BEGIN
                IF v_customer IS NULL THEN
                    v_outcome := 'no_address';
                ELSIF st ->> 'kind' = 'coupon' THEN
                    v_detail := 'coupon ' || (commerce.issue_coupon(p_tenant, 'flow', format('flow:%s:%s', r.run_id, st ->> 'id'),
                                                                     st ->> 'batch', v_customer)).coupon_id;
                    v_outcome := 'done';
                ELSIF st ->> 'kind' = 'points' THEN
                    v_detail := 'lot ' || commerce.earn_points(p_tenant, 'grant', format('flow:%s:%s', r.run_id, st ->> 'id'), v_customer,
                                                                (st ->> 'points')::bigint, 'flow ' || v_code, 0, (st ->> 'expire_days')::integer);
                    v_outcome := 'done';
                ELSIF st ->> 'kind' = 'tag' THEN
                    PERFORM commerce.set_person_tag(p_tenant, v_customer, st ->> 'tag', true, 'flow:' || v_code);
                    v_outcome := 'done';
                ELSE
                    SELECT x.outcome, x.message_id INTO v_outcome, v_msg
                      FROM commerce._flow_message(p_tenant, r.run_id, r.seq + 1, r.person_id, st ->> 'channel', st ->> 'template', v_code) x;
                END IF;
            EXCEPTION
                WHEN SQLSTATE 'PT429' THEN
                    -- busy (a coupon batch's slots held by claims in flight): nothing done, the step is tried again
                    v_outcome := NULL;
                WHEN SQLSTATE 'PT409' OR SQLSTATE 'PT404' THEN
                    -- the batch is all claimed, the tag inactive, ...: recorded, and the run goes on
                    v_outcome := 'failed';
                    v_detail := left(SQLERRM, 200);
            END;
            PERFORM set_config('commerce_flow.origin', '', true);
            IF v_outcome IS NULL THEN
                r.status := 'active';
                r.wake_at := v_now + interval '30 seconds';
                EXIT;
            END IF;
        END IF;
        r.seq := r.seq + 1;
        INSERT INTO commerce.flow_step_run (tenant_id, run_id, seq, step_id, kind, outcome, detail, message_id, at)
        VALUES (p_tenant, r.run_id, r.seq, st ->> 'id',
                CASE st ->> 'kind' WHEN 'condition' THEN 'condition' ELSE st ->> 'kind' END, v_outcome, v_detail, v_msg, v_now);
        EXIT WHEN r.status IN ('waiting', 'exited');
        r.step_no := coalesce(v_target, 0);
        IF r.step_no = 0 THEN
            r.status := 'done';
            EXIT;
        END IF;
    END LOOP;
    UPDATE commerce.flow_run x
       SET status = r.status, step_no = greatest(r.step_no, 1), seq = r.seq, updated_at = v_now,
           wake_at = CASE WHEN r.status IN ('active', 'waiting') THEN coalesce(r.wake_at, v_now) END,
           ended_at = CASE WHEN r.status IN ('done', 'exited') THEN v_now END
     WHERE x.tenant_id = p_tenant AND x.run_id = p_run;
    RETURN v_steps;
END $$;
COMMENT ON FUNCTION commerce._flow_advance(bigint, bigint) IS
  'Advance a run (locked by the caller) from where it is: waits end when due, conditions are evaluated for the person (the compiled tree), splits take a branch fixed by the run, actions act once (coupon and points keyed by run and step; a message through _flow_message; a manual tag; an action refused for good, PT409 or PT404, is recorded as failed and the run goes on; one that is only busy, PT429, is tried again 30 seconds later), exit ends it; each step a flow_step_run row; at most 50 steps per call. Returns the steps taken.';

-- One batch of the flow pump, part 2: due runs advance.
CREATE FUNCTION commerce.flow_advance(p_limit integer DEFAULT 1000) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE n integer := 0; r record;
BEGIN
    PERFORM commerce._require(p_limit, 'p_limit');
    IF p_limit NOT BETWEEN 1 AND 100000 THEN
        PERFORM commerce._invalid('p_limit', format('batch %s', p_limit), 'Use a batch of 1 to 100000.');
    END IF;
    FOR r IN SELECT x.tenant_id, x.run_id FROM commerce.flow_run x
              WHERE x.status IN ('active', 'waiting') AND x.wake_at <= commerce.now()
                AND EXISTS (SELECT 1 FROM commerce.flow f WHERE f.tenant_id = x.tenant_id AND f.flow_id = x.flow_id AND f.status = 'active')
              ORDER BY x.wake_at, x.run_id LIMIT p_limit FOR UPDATE OF x SKIP LOCKED LOOP
        PERFORM commerce._flow_advance(r.tenant_id, r.run_id);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce.flow_advance(integer) IS
  'One batch of the flow pump, part 2: up to p_limit runs of active flows whose time has come (started, or a wait over), each locked (SKIP LOCKED: two pumps never take the same run) and advanced to its next wait or its end. Returns the runs advanced.';

CREATE PROCEDURE commerce.flow_pump(p_batch integer DEFAULT 1000, p_max_batches integer DEFAULT 1000)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._flow_birthdays();
    COMMIT;
    CALL commerce.run_pump('commerce.flow_intake', p_batch, p_max_batches);
    CALL commerce.run_pump('commerce.flow_advance', p_batch, p_max_batches);
END $$;
COMMENT ON PROCEDURE commerce.flow_pump(integer, integer) IS
  'The flow job (pg_cron, every minute: commerce-flows): queues today''s birthday triggers, starts runs from queued triggers, and advances due runs, committed per batch.';

INSERT INTO commerce.job (job_name, schedule, command) VALUES
  ('commerce-flows', '* * * * *', 'CALL commerce.flow_pump()');

-- Set a channel's daily cap of marketing messages per person (NULL: no cap).
CREATE FUNCTION commerce.set_contact_cap(p_tenant bigint, p_channel text, p_per_day integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_channel, 'p_channel');
    IF p_channel NOT IN ('sms', 'mini_program', 'email', 'wecom') THEN
        PERFORM commerce._invalid('p_channel', format('"%s"', left(p_channel, 64)), 'Channels: sms, mini_program, email, wecom.');
    END IF;
    IF p_per_day IS NULL THEN
        DELETE FROM commerce.contact_cap c WHERE c.tenant_id = p_tenant AND c.channel = p_channel;
        RETURN;
    END IF;
    IF p_per_day NOT BETWEEN 0 AND 1000 THEN
        PERFORM commerce._invalid('p_per_day', format('%s a day', p_per_day), 'A cap is 0 to 1000 messages a day (NULL: none).');
    END IF;
    INSERT INTO commerce.contact_cap (tenant_id, channel, per_day) VALUES (p_tenant, p_channel, p_per_day)
    ON CONFLICT (tenant_id, channel) DO UPDATE SET per_day = EXCLUDED.per_day;
END $$;
COMMENT ON FUNCTION commerce.set_contact_cap(bigint, text, integer) IS
  'Cap the marketing messages flows send a person on a channel per tenant-local day (0: none at all; NULL: no cap).';

-- A person opts out of marketing on a channel (or all), or back in.
CREATE FUNCTION commerce.set_contact_optout(p_tenant bigint, p_customer text, p_channel text, p_out boolean, p_source text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE v_person bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._require(p_channel, 'p_channel');
    PERFORM commerce._require(p_out, 'p_out');
    PERFORM commerce._require(p_source, 'p_source');
    IF p_channel NOT IN ('all', 'sms', 'mini_program', 'email', 'wecom') THEN
        PERFORM commerce._invalid('p_channel', format('"%s"', left(p_channel, 64)), 'Channels: all, sms, mini_program, email, wecom.');
    END IF;
    SELECT c.person_id INTO v_person FROM commerce.customer c WHERE c.tenant_id = p_tenant AND c.code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    IF p_out THEN
        INSERT INTO commerce.contact_optout (tenant_id, person_id, channel, source, at)
        VALUES (p_tenant, v_person, p_channel, left(p_source, 200), commerce.now()) ON CONFLICT DO NOTHING;
    ELSE
        DELETE FROM commerce.contact_optout o WHERE o.tenant_id = p_tenant AND o.person_id = v_person AND o.channel = p_channel;
    END IF;
    RETURN FOUND;
END $$;
COMMENT ON FUNCTION commerce.set_contact_optout(bigint, text, text, boolean, text) IS
  'A customer''s person opts out of marketing messages on a channel (or all: p_channel all), or back in (p_out false); true when something changed. Every flow send checks it in its own transaction.';

-- A flow's figures: runs by state, and per action type its execution rate.
CREATE FUNCTION commerce.flow_stats(p_tenant bigint, p_code text)
RETURNS TABLE (action text, attempted bigint, delivered bigint, pending bigint, capped bigint, ineligible bigint, failed bigint,
               execution_rate_bp integer)
LANGUAGE plpgsql STABLE AS $$
DECLARE v_flow bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    SELECT f.flow_id INTO v_flow FROM commerce.flow f WHERE f.tenant_id = p_tenant AND f.code = p_code;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('flow', p_code, p_tenant);
    END IF;
    RETURN QUERY
    WITH s AS (
        SELECT sr.kind, sr.outcome, o.status AS message_status
          FROM commerce.flow_run r
          JOIN commerce.flow_step_run sr ON sr.tenant_id = r.tenant_id AND sr.run_id = r.run_id
          LEFT JOIN commerce.outbox o ON o.tenant_id = sr.tenant_id AND o.message_id = sr.message_id
         WHERE r.tenant_id = p_tenant AND r.flow_id = v_flow AND sr.kind IN ('coupon', 'points', 'message', 'tag')),
    a AS (
        SELECT s.kind, count(*) AS attempted,
               count(*) FILTER (WHERE s.outcome = 'done' AND (s.kind <> 'message' OR s.message_status = 'done')) AS delivered,
               count(*) FILTER (WHERE s.outcome = 'done' AND s.kind = 'message' AND s.message_status IS DISTINCT FROM 'done') AS pending,
               count(*) FILTER (WHERE s.outcome = 'capped') AS capped,
               count(*) FILTER (WHERE s.outcome IN ('opted_out', 'no_address')) AS ineligible,
               count(*) FILTER (WHERE s.outcome = 'failed') AS failed
          FROM s GROUP BY s.kind)
    SELECT a.kind, a.attempted, a.delivered, a.pending, a.capped, a.ineligible, a.failed,
           CASE WHEN a.attempted > a.ineligible THEN (a.delivered * 10000 / (a.attempted - a.ineligible))::integer END
      FROM a ORDER BY a.kind;
END $$;
COMMENT ON FUNCTION commerce.flow_stats(bigint, text) IS
  'A flow''s actions by type (CRM12): attempted, delivered (coupons, points and tags when done; messages when the sending worker acknowledged them), pending (messages not acknowledged yet), capped, permanently ineligible (opted out, no address), failed, and the execution rate = delivered / (attempted - permanently ineligible), in basis points.';
