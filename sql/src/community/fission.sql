-- sql/src/community/fission.sql: fission campaigns (PR11-PR13): signed
-- poster codes per participant, the invite tree (one row per campaign and
-- invitee, depth fixed at insert), inviter progress counted under the
-- participant's row lock, "new friends only", stages reached at or above their
-- threshold, a reward per (campaign, inviter, stage) exactly once through the
-- members module after the campaign's hold, taken back when an invitee leaves
-- before it went out; tracking per level and channel; the invariants.

-- A non-negative number in base 36 (lower case).
CREATE FUNCTION commerce._base36(p_value bigint) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE v bigint := p_value; s text := '';
BEGIN
    IF v < 0 THEN
        PERFORM commerce._invalid('p_value', format('%s', v), 'Base 36 is for non-negative numbers.');
    END IF;
    LOOP
        s := substr('0123456789abcdefghijklmnopqrstuvwxyz', (v % 36)::integer + 1, 1) || s;
        v := v / 36;
        EXIT WHEN v = 0;
    END LOOP;
    RETURN s;
END $$;
COMMENT ON FUNCTION commerce._base36(bigint) IS 'A non-negative number in base 36, lower case (the ids in signed codes).';

-- The (campaign, person) of a fission code, or NULLs when it is not one of the tenant's signed codes.
CREATE FUNCTION commerce._fission_code_parse(p_tenant bigint, p_code text, OUT campaign_id bigint, OUT person_id bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE m text[]; c numeric := 0; p numeric := 0; ch text;
BEGIN
    m := regexp_match(p_code, '^f([0-9a-z]{1,8})\.([0-9a-z]{1,10})\.([a-z2-9]{13})$');
    IF m IS NULL OR NOT commerce._fields_signed(p_tenant, 'fission', m[1] || '.' || m[2], m[3]) THEN
        RETURN;
    END IF;
    FOREACH ch IN ARRAY regexp_split_to_array(m[1], '') LOOP
        c := c * 36 + strpos('0123456789abcdefghijklmnopqrstuvwxyz', ch) - 1;
    END LOOP;
    FOREACH ch IN ARRAY regexp_split_to_array(m[2], '') LOOP
        p := p * 36 + strpos('0123456789abcdefghijklmnopqrstuvwxyz', ch) - 1;
    END LOOP;
    campaign_id := c::bigint;
    person_id := p::bigint;
END $$;
COMMENT ON FUNCTION commerce._fission_code_parse(bigint, text) IS
  'The campaign and participant a fission code names (f<campaign>.<person>.<signature>, base 36, signed with the tenant''s secret for purpose fission), or NULLs for anything else: a forged or altered code names nobody.';

-- A person and every person merged into it (recursively, merges not undone).
CREATE FUNCTION commerce._person_aliases(p_tenant bigint, p_person bigint) RETURNS bigint[]
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE a(person_id) AS (
        SELECT p_person
        UNION
        SELECT m.loser_id FROM commerce.person_merge m JOIN a ON m.survivor_id = a.person_id
         WHERE m.tenant_id = p_tenant AND m.unmerged_at IS NULL)
    SELECT array_agg(person_id ORDER BY person_id) FROM a;
$$;
COMMENT ON FUNCTION commerce._person_aliases(bigint, bigint) IS
  'A person with every person merged into it (person_merge, recursively; undone merges left out): the fission rows keep the ids they were made with, and a merged person is found under each.';

-- The person a possibly merged-away person is now.
CREATE FUNCTION commerce._person_current(p_tenant bigint, p_person bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE c(person_id, depth) AS (
        SELECT p_person, 0
        UNION ALL
        SELECT m.survivor_id, c.depth + 1 FROM commerce.person_merge m JOIN c ON m.loser_id = c.person_id
         WHERE m.tenant_id = p_tenant AND m.unmerged_at IS NULL AND c.depth < 100)
    SELECT person_id FROM c ORDER BY depth DESC LIMIT 1;
$$;
COMMENT ON FUNCTION commerce._person_current(bigint, bigint) IS
  'The person a person is now: itself, or the survivor it was merged into (following person_merge; undone merges left out).';

-- Lock, in (campaign, person) order, every participant a callback may change: the owners of the codes it
-- carries and the inviters of its persons' invites through what it joins or leaves.
CREATE FUNCTION commerce._fission_lock(p_tenant bigint, p_codes text[], p_persons bigint[], p_source text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE n integer; v_aliases bigint[];
BEGIN
    -- the persons under every id merged into them, computed once (a function in a condition would run per row)
    SELECT coalesce(array_agg(DISTINCT a), '{}') INTO v_aliases FROM unnest(p_persons) x, unnest(commerce._person_aliases(p_tenant, x)) a;
    WITH k AS (
        SELECT k1.campaign_id, k1.person_id FROM unnest(p_codes) c, LATERAL commerce._fission_code_parse(p_tenant, c) k1
         WHERE c ~ '^f[0-9a-z]{1,8}\.' AND k1.campaign_id IS NOT NULL
        UNION
        SELECT i.campaign_id, i.inviter_id FROM commerce.fission_invite i
         WHERE i.tenant_id = p_tenant AND i.source_ref = p_source
           AND i.invitee_id = ANY (v_aliases))
    SELECT count(*) INTO n FROM (
        SELECT 1 FROM commerce.fission_participant p JOIN k ON p.campaign_id = k.campaign_id AND p.person_id = k.person_id
         WHERE p.tenant_id = p_tenant
         ORDER BY p.campaign_id, p.person_id
         FOR NO KEY UPDATE OF p) z;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce._fission_lock(bigint, text[], bigint[], text) IS
  'Lock, in (campaign, person) order and before anything else of the fission, every participant row a callback may change: the owners of the fission codes it carries and the inviters of its persons'' invites through p_source. Every path (callbacks, registrations, the reward pump) locks participants in that order, so no two wait on each other. Returns how many.';

-- Check a stage reward: exactly one of points (1 to 10^8), an existing coupon batch, an existing blind box.
CREATE FUNCTION commerce._fission_reward_arg(p_tenant bigint, p_reward jsonb) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF jsonb_typeof(p_reward) IS DISTINCT FROM 'object'
       OR (SELECT count(*) FROM jsonb_object_keys(p_reward) k) <> 1
       OR NOT (p_reward ?| ARRAY['points', 'coupon', 'blind_box'])
       OR (p_reward ? 'points' AND (jsonb_typeof(p_reward -> 'points') <> 'number' OR (p_reward ->> 'points') !~ '^[1-9][0-9]{0,7}$'))
       OR (p_reward ? 'coupon' AND jsonb_typeof(p_reward -> 'coupon') <> 'string')
       OR (p_reward ? 'blind_box' AND jsonb_typeof(p_reward -> 'blind_box') <> 'string') THEN
        PERFORM commerce._invalid('p_stages', format('reward %s', left(coalesce(p_reward::text, 'missing'), 100)),
                                  'A reward is {"points": 1 to 99999999}, {"coupon": "<batch>"} or {"blind_box": "<box>"}.');
    END IF;
    IF p_reward ? 'coupon' AND NOT EXISTS (SELECT 1 FROM commerce.coupon_batch b WHERE b.tenant_id = p_tenant AND b.code = p_reward ->> 'coupon') THEN
        PERFORM commerce._not_found('coupon batch', p_reward ->> 'coupon', p_tenant);
    END IF;
    IF p_reward ? 'blind_box' AND NOT EXISTS (SELECT 1 FROM commerce.blind_box b WHERE b.tenant_id = p_tenant AND b.code = p_reward ->> 'blind_box') THEN
        PERFORM commerce._not_found('blind box', p_reward ->> 'blind_box', p_tenant);
    END IF;
END $$;
COMMENT ON FUNCTION commerce._fission_reward_arg(bigint, jsonb) IS
  'Check a stage''s reward (22023, PT404): {"points": n} (1 to 99999999), {"coupon": "<batch>"} or {"blind_box": "<box>"}, of batches and boxes that exist.';

-- Create a fission campaign with its stages.
CREATE FUNCTION commerce.create_fission_campaign(p_tenant bigint, p_code text, p_kind text, p_title text, p_counts text,
                                                 p_starts_at timestamptz, p_ends_at timestamptz, p_stages jsonb,
                                                 p_new_only boolean DEFAULT true, p_hold_hours integer DEFAULT 0,
                                                 p_max_depth integer DEFAULT 10, p_userids text[] DEFAULT NULL,
                                                 p_groups text[] DEFAULT NULL, p_koc text DEFAULT NULL,
                                                 p_store text DEFAULT NULL, p_by text DEFAULT 'operator')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_id bigint; v_koc bigint; v_store bigint; v_groups bigint[]; s jsonb; v_n integer := 0; v_last integer := 0;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_kind, 'p_kind');
    PERFORM commerce._require(p_title, 'p_title');
    PERFORM commerce._require(p_counts, 'p_counts');
    PERFORM commerce._require(p_starts_at, 'p_starts_at');
    PERFORM commerce._require(p_ends_at, 'p_ends_at');
    PERFORM commerce._require(p_stages, 'p_stages');
    PERFORM commerce._require(p_new_only, 'p_new_only');
    PERFORM commerce._require(p_hold_hours, 'p_hold_hours');
    PERFORM commerce._require(p_max_depth, 'p_max_depth');
    IF p_code !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' THEN
        PERFORM commerce._invalid('p_code', format('code "%s"', left(p_code, 64)), 'A campaign code is 1 to 63 letters, digits, _ . -.');
    END IF;
    IF p_kind NOT IN ('invite_reward', 'group_forming', 'distribution') THEN
        PERFORM commerce._invalid('p_kind', format('kind "%s"', left(p_kind, 32)), 'A campaign is invite_reward, group_forming or distribution.');
    END IF;
    IF length(p_title) NOT BETWEEN 1 AND 200 THEN
        PERFORM commerce._invalid('p_title', format('%s characters', length(p_title)), 'A title is 1 to 200 characters.');
    END IF;
    IF p_counts NOT IN ('contact', 'group', 'register') THEN
        PERFORM commerce._invalid('p_counts', format('counts "%s"', left(p_counts, 32)),
                                  'An invite counts when the invitee adds a staff contact (contact), joins a group (group) or registers (register).');
    END IF;
    IF NOT (isfinite(p_starts_at) AND isfinite(p_ends_at)) OR p_starts_at >= p_ends_at OR p_ends_at - p_starts_at > interval '366 days' THEN
        PERFORM commerce._invalid('p_ends_at', format('%s to %s', p_starts_at, p_ends_at), 'A campaign runs forward, for at most 366 days.');
    END IF;
    IF p_hold_hours NOT BETWEEN 0 AND 720 OR p_max_depth NOT BETWEEN 1 AND 100 THEN
        PERFORM commerce._invalid('p_hold_hours', format('hold %s hours, depth %s', p_hold_hours, p_max_depth),
                                  'A reward waits 0 to 720 hours; the tree is followed 1 to 100 levels deep.');
    END IF;
    IF (p_userids IS NOT NULL AND (p_counts <> 'contact' OR cardinality(p_userids) NOT BETWEEN 1 AND 100))
       OR (p_groups IS NOT NULL AND (p_counts <> 'group' OR cardinality(p_groups) NOT BETWEEN 1 AND 100)) THEN
        PERFORM commerce._invalid('p_userids', 'staff accounts or groups that do not fit what counts',
                                  'Limit a contact campaign to 1 to 100 staff accounts, a group campaign to 1 to 100 groups.');
    END IF;
    IF p_groups IS NOT NULL THEN
        SELECT array_agg(g.group_id ORDER BY g.group_id) INTO v_groups
          FROM commerce.community_group g WHERE g.tenant_id = p_tenant AND g.code = ANY (p_groups);
        IF cardinality(v_groups) IS DISTINCT FROM (SELECT count(DISTINCT x) FROM unnest(p_groups) x) THEN
            PERFORM commerce._invalid('p_groups', format('groups %s', left(p_groups::text, 80)), 'Name groups that exist, each once.');
        END IF;
    END IF;
    IF jsonb_typeof(p_stages) <> 'array' OR jsonb_array_length(p_stages) NOT BETWEEN 1 AND 20 THEN
        PERFORM commerce._invalid('p_stages', 'not a list of 1 to 20 stages', 'Send [{"threshold": 3, "reward": {"points": 100}}, ...].');
    END IF;
    FOR s IN SELECT x FROM jsonb_array_elements(p_stages) x LOOP
        IF jsonb_typeof(s) <> 'object' OR jsonb_typeof(s -> 'threshold') IS DISTINCT FROM 'number'
           OR (s ->> 'threshold') !~ '^[1-9][0-9]{0,5}$' OR (s ->> 'threshold')::integer > 100000
           OR (s ->> 'threshold')::integer <= v_last OR EXISTS (SELECT 1 FROM jsonb_object_keys(s) k WHERE k NOT IN ('threshold', 'reward')) THEN
            PERFORM commerce._invalid('p_stages', format('stage %s', left(s::text, 100)),
                                      'A stage is {"threshold": 1 to 100000, "reward": {...}}, thresholds rising.');
        END IF;
        PERFORM commerce._fission_reward_arg(p_tenant, s -> 'reward');
        v_last := (s ->> 'threshold')::integer;
    END LOOP;
    v_koc := commerce._koc_ref(p_tenant, p_koc);
    v_store := commerce._store_ref(p_tenant, p_store);
    INSERT INTO commerce.fission_campaign (tenant_id, code, kind, title, counts, new_only, hold_hours, max_depth, userids, group_ids,
                                           koc_id, store_id, starts_at, ends_at, created_by, created_at)
    VALUES (p_tenant, p_code, p_kind, p_title, p_counts, p_new_only, p_hold_hours, p_max_depth, p_userids, v_groups,
            v_koc, v_store, p_starts_at, p_ends_at, left(coalesce(p_by, 'operator'), 200), commerce.now())
    ON CONFLICT (tenant_id, code) DO NOTHING
    RETURNING campaign_id INTO v_id;
    IF v_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('fission campaign "%s" exists', p_code),
            HINT = 'Choose another code: a campaign''s rules never change under its participants.';
    END IF;
    FOR s IN SELECT x FROM jsonb_array_elements(p_stages) x LOOP
        v_n := v_n + 1;
        INSERT INTO commerce.fission_stage (tenant_id, campaign_id, stage_no, threshold, reward)
        VALUES (p_tenant, v_id, v_n, (s ->> 'threshold')::integer, s -> 'reward');
    END LOOP;
    RETURN v_id;
END $$;
COMMENT ON FUNCTION commerce.create_fission_campaign(bigint, text, text, text, text, timestamptz, timestamptz, jsonb, boolean, integer, integer, text[], text[], text, text, text) IS
  'Create a fission campaign (PR11, PR13): its kind (invite_reward, group_forming, distribution), what counts as an invite (a staff contact added, limited to p_userids; a group joined, limited to p_groups; a registration through the link), the window (at most 366 days), stages [{"threshold", "reward"}] with rising thresholds and members-module rewards, new friends only (default), the hours a reward waits before it goes out (0 to 720) and the depth followed (1 to 100). Its rules never change (PT409 for a code that exists).';

-- A participant's signed poster code (the participant is added on first call).
CREATE FUNCTION commerce.fission_code(p_tenant bigint, p_campaign text, p_person bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE c commerce.fission_campaign%ROWTYPE; i commerce.fission_invite%ROWTYPE; v_fields text;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_campaign, 'p_campaign');
    PERFORM commerce._require(p_person, 'p_person');
    SELECT * INTO c FROM commerce.fission_campaign WHERE tenant_id = p_tenant AND code = p_campaign;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('fission campaign', p_campaign, p_tenant);
    END IF;
    -- a person joining and the same person being invited wait for each other (the tree stays a tree)
    PERFORM pg_advisory_xact_lock(hashtextextended('fission:' || p_tenant || ':' || c.campaign_id || ':' || p_person, 0));
    IF NOT EXISTS (SELECT 1 FROM commerce.fission_participant p WHERE p.tenant_id = p_tenant AND p.campaign_id = c.campaign_id AND p.person_id = p_person) THEN
        IF commerce.now() >= c.ends_at THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('fission campaign "%s" has ended', p_campaign),
                HINT = 'Join a running campaign.';
        END IF;
        -- one who was invited takes its invite's place in the tree (its depth was fixed then)
        SELECT * INTO i FROM commerce.fission_invite x WHERE x.tenant_id = p_tenant AND x.campaign_id = c.campaign_id AND x.invitee_id = p_person;
        INSERT INTO commerce.fission_participant (tenant_id, campaign_id, person_id, depth, inviter_id, joined_at)
        VALUES (p_tenant, c.campaign_id, p_person, coalesce(i.depth, 0), i.inviter_id, commerce.now())
        ON CONFLICT DO NOTHING;
    END IF;
    v_fields := commerce._base36(c.campaign_id) || '.' || commerce._base36(p_person);
    RETURN 'f' || v_fields || '.' || commerce._sign_fields(p_tenant, 'fission', v_fields);
END $$;
COMMENT ON FUNCTION commerce.fission_code(bigint, text, bigint) IS
  'A participant''s poster code for a campaign (PR11): f<campaign>.<person>.<signature> (base 36, at most 30 characters, so it is also the state of a WeCom live code), signed with the tenant''s secret. The first call adds the person to the campaign, at its invite''s depth when it was invited (else 0). The same person always gets the same code. PT409 after the campaign ended.';

-- Settle a reward now: grant it through the members module, or leave it pending with why.
CREATE FUNCTION commerce._fission_grant(p_tenant bigint, p_campaign bigint, p_person bigint, p_stage integer) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE v_customer text := commerce._person_account(p_tenant, commerce._person_current(p_tenant, p_person)); v_reward jsonb;
        r commerce.reward_result;
BEGIN
    IF v_customer IS NULL THEN
        UPDATE commerce.fission_reward SET note = 'the person has no account yet', due_at = commerce.now() + interval '1 day'
         WHERE tenant_id = p_tenant AND campaign_id = p_campaign AND person_id = p_person AND stage_no = p_stage;
        RETURN 'no_account';
    END IF;
    SELECT reward INTO v_reward FROM commerce.fission_stage WHERE tenant_id = p_tenant AND campaign_id = p_campaign AND stage_no = p_stage;
    BEGIN
        r := commerce.grant_reward(p_tenant, format('fission:%s:%s:%s', p_campaign, p_person, p_stage), v_customer, v_reward);
    EXCEPTION WHEN OTHERS THEN
        -- a batch given out, a box empty: the reward stays pending and the pump tries again in an hour
        UPDATE commerce.fission_reward SET note = left(SQLERRM, 500), due_at = commerce.now() + interval '1 hour'
         WHERE tenant_id = p_tenant AND campaign_id = p_campaign AND person_id = p_person AND stage_no = p_stage;
        RETURN 'retry';
    END;
    UPDATE commerce.fission_reward SET status = 'granted', settled_at = commerce.now(), outcome = to_jsonb(r), note = NULL
     WHERE tenant_id = p_tenant AND campaign_id = p_campaign AND person_id = p_person AND stage_no = p_stage;
    RETURN 'granted';
END $$;
COMMENT ON FUNCTION commerce._fission_grant(bigint, bigint, bigint, integer) IS
  'Grant a pending stage reward (its row and the participant locked by the caller) through commerce.grant_reward, once per source key fission:<campaign>:<person>:<stage>; without an account, or when the grant fails (a batch given out), it stays pending with a note and is tried again later.';

-- Bring an inviter's rewards in line with its valid invites (its participant row locked by the caller).
CREATE FUNCTION commerce._fission_stages(p_tenant bigint, p_campaign bigint, p_person bigint, p_invites integer, p_at timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE c commerce.fission_campaign%ROWTYPE; s record;
BEGIN
    SELECT * INTO c FROM commerce.fission_campaign WHERE tenant_id = p_tenant AND campaign_id = p_campaign;
    -- a stage reached again after its reward was taken back waits for it again (it is still granted at most once)
    UPDATE commerce.fission_reward w SET status = 'pending', reached_at = p_at, settled_at = NULL, note = NULL,
           due_at = commerce.now() + make_interval(hours => c.hold_hours)
      FROM commerce.fission_stage st
     WHERE w.tenant_id = p_tenant AND w.campaign_id = p_campaign AND w.person_id = p_person AND w.status = 'cancelled'
       AND st.tenant_id = w.tenant_id AND st.campaign_id = w.campaign_id AND st.stage_no = w.stage_no AND st.threshold <= p_invites;
    IF FOUND AND c.hold_hours = 0 THEN
        PERFORM commerce._fission_grant(p_tenant, p_campaign, p_person, w.stage_no)
           FROM commerce.fission_reward w
          WHERE w.tenant_id = p_tenant AND w.campaign_id = p_campaign AND w.person_id = p_person AND w.status = 'pending'
          ORDER BY w.stage_no;
    END IF;
    -- stages reached (at or above the threshold: never skipped), each once
    FOR s IN SELECT st.stage_no FROM commerce.fission_stage st
              WHERE st.tenant_id = p_tenant AND st.campaign_id = p_campaign AND st.threshold <= p_invites
                AND NOT EXISTS (SELECT 1 FROM commerce.fission_reward w WHERE w.tenant_id = p_tenant AND w.campaign_id = p_campaign
                                   AND w.person_id = p_person AND w.stage_no = st.stage_no)
              ORDER BY st.stage_no LOOP
        INSERT INTO commerce.fission_reward (tenant_id, campaign_id, person_id, stage_no, reached_at, due_at)
        VALUES (p_tenant, p_campaign, p_person, s.stage_no, p_at, commerce.now() + make_interval(hours => c.hold_hours));
        IF c.hold_hours = 0 THEN
            PERFORM commerce._fission_grant(p_tenant, p_campaign, p_person, s.stage_no);
        END IF;
    END LOOP;
    -- rewards still waiting whose stage is no longer reached: taken back before they went out
    UPDATE commerce.fission_reward w SET status = 'cancelled', settled_at = commerce.now(),
           note = format('invites fell to %s before the reward went out', p_invites)
      FROM commerce.fission_stage st
     WHERE w.tenant_id = p_tenant AND w.campaign_id = p_campaign AND w.person_id = p_person AND w.status = 'pending'
       AND st.tenant_id = w.tenant_id AND st.campaign_id = w.campaign_id AND st.stage_no = w.stage_no AND st.threshold > p_invites;
END $$;
COMMENT ON FUNCTION commerce._fission_stages(bigint, bigint, bigint, integer, timestamptz) IS
  'After an inviter''s valid invites changed (its participant row locked): every stage reached and not yet rewarded gets its reward row (granted at once without a hold), a stage reached again after its reward was taken back waits for it again, and every pending reward whose threshold is no longer reached is cancelled.';

-- Count an invite (or count again an invitee who came back); the outcome says what happened.
CREATE FUNCTION commerce._fission_invited(p_tenant bigint, p_code text, p_invitee bigint, p_channel text, p_source text,
                                          p_scope text, p_at timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE k record; c commerce.fission_campaign%ROWTYPE; ir commerce.fission_participant%ROWTYPE; i commerce.fission_invite%ROWTYPE;
        v_inserted boolean; v_aliases bigint[];
BEGIN
    SELECT * INTO k FROM commerce._fission_code_parse(p_tenant, p_code);
    IF k.campaign_id IS NULL THEN
        RETURN 'bad_code';
    END IF;
    SELECT * INTO c FROM commerce.fission_campaign WHERE tenant_id = p_tenant AND campaign_id = k.campaign_id;
    IF NOT FOUND THEN
        RETURN 'bad_code';
    END IF;
    IF (c.counts = 'contact') <> (p_channel = 'wecom_contact') OR (c.counts = 'group') <> (p_channel = 'group')
       OR (c.counts = 'contact' AND c.userids IS NOT NULL AND NOT p_scope = ANY (c.userids))
       OR (c.counts = 'group' AND c.group_ids IS NOT NULL AND NOT p_scope::bigint = ANY (c.group_ids)) THEN
        RETURN 'not_counted';
    END IF;
    IF p_at < c.starts_at OR p_at >= c.ends_at THEN
        RETURN 'closed';
    END IF;
    IF k.person_id = p_invitee THEN
        RETURN 'self';
    END IF;
    -- the inviter's row first (callers lock every participant they may touch up front, in order), then the invitee
    SELECT * INTO ir FROM commerce.fission_participant WHERE tenant_id = p_tenant AND campaign_id = c.campaign_id AND person_id = k.person_id
       FOR NO KEY UPDATE;
    IF NOT FOUND OR ir.depth + 1 > c.max_depth THEN
        RETURN CASE WHEN FOUND THEN 'too_deep' ELSE 'bad_code' END;
    END IF;
    -- the invitee under every id merged into it, computed once (a function in a condition would run per row)
    v_aliases := commerce._person_aliases(p_tenant, p_invitee);
    IF k.person_id = ANY (v_aliases) THEN
        RETURN 'self';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('fission:' || p_tenant || ':' || c.campaign_id || ':' || p_invitee, 0));
    -- the same human under another id (merged persons) is invited once
    IF EXISTS (SELECT 1 FROM commerce.fission_invite x WHERE x.tenant_id = p_tenant AND x.campaign_id = c.campaign_id
                  AND x.invitee_id = ANY (v_aliases) AND x.invitee_id <> p_invitee) THEN
        RETURN 'already_invited';
    END IF;
    -- one row per (campaign, invitee): a concurrent invite of the same person waits here and finds it
    INSERT INTO commerce.fission_invite (tenant_id, campaign_id, invitee_id, inviter_id, depth, channel, source_ref, status, invited_at)
    SELECT p_tenant, c.campaign_id, p_invitee, k.person_id, ir.depth + 1, p_channel, p_source, 'valid', p_at
     WHERE NOT EXISTS (SELECT 1 FROM commerce.fission_participant p
                        WHERE p.tenant_id = p_tenant AND p.campaign_id = c.campaign_id
                          AND p.person_id = ANY (v_aliases))
       AND NOT (c.new_only AND (
                EXISTS (SELECT 1 FROM commerce.wecom_contact w WHERE w.tenant_id = p_tenant AND w.person_id = p_invitee AND w.first_added_at < p_at)
             OR EXISTS (SELECT 1 FROM commerce.group_member m WHERE m.tenant_id = p_tenant AND m.person_id = p_invitee AND m.first_joined_at < p_at)
             OR EXISTS (SELECT 1 FROM commerce.crm_feature f WHERE f.tenant_id = p_tenant AND f.person_id = p_invitee AND f.orders_count > 0)))
    ON CONFLICT DO NOTHING
    RETURNING * INTO i;
    v_inserted := i.invitee_id IS NOT NULL;
    IF NOT v_inserted THEN
        SELECT * INTO i FROM commerce.fission_invite x WHERE x.tenant_id = p_tenant AND x.campaign_id = c.campaign_id AND x.invitee_id = p_invitee;
        IF NOT FOUND THEN
            RETURN CASE WHEN EXISTS (SELECT 1 FROM commerce.fission_participant p WHERE p.tenant_id = p_tenant
                                        AND p.campaign_id = c.campaign_id AND p.person_id = ANY (v_aliases))
                        THEN 'already_participant' ELSE 'not_new' END;
        END IF;
        RETURN 'already_invited';
    END IF;
    -- the inviter's progress, under its row lock: concurrent invites never lose a count
    UPDATE commerce.fission_participant SET invites = invites + 1, invites_ever = invites_ever + 1
     WHERE tenant_id = p_tenant AND campaign_id = c.campaign_id AND person_id = k.person_id
    RETURNING * INTO ir;
    PERFORM commerce._fission_stages(p_tenant, c.campaign_id, k.person_id, ir.invites, p_at);
    RETURN 'invited';
END $$;
COMMENT ON FUNCTION commerce._fission_invited(bigint, text, bigint, text, text, text, timestamptz) IS
  'Count an invite through a fission code (PR12): the invitee, what it did (channel wecom_contact, group or link; source_ref: the contact or group; the staff account or group it reached) and when. Once per (campaign, invitee): outcome invited, or why not (bad_code, not_counted, closed, self, too_deep, already_participant, not_new, already_invited). The inviter''s count rises under its row lock and its stages follow.';

-- An invitee came back to what it had left (a re-add, a rejoin): its invite counts again, once.
CREATE FUNCTION commerce._fission_back(p_tenant bigint, p_invitee bigint, p_source text, p_at timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE i record; n integer := 0; v_invites integer; v_aliases bigint[] := commerce._person_aliases(p_tenant, p_invitee);
BEGIN
    FOR i IN SELECT x.campaign_id, x.inviter_id, x.invitee_id FROM commerce.fission_invite x
               JOIN commerce.fission_campaign c ON c.tenant_id = x.tenant_id AND c.campaign_id = x.campaign_id
              WHERE x.tenant_id = p_tenant AND x.invitee_id = ANY (v_aliases)
                AND x.source_ref = p_source AND x.status = 'left' AND p_at < c.ends_at
              ORDER BY x.campaign_id, x.inviter_id FOR UPDATE OF x LOOP
        UPDATE commerce.fission_invite SET status = 'valid', left_at = NULL, changes = changes + 1
         WHERE tenant_id = p_tenant AND campaign_id = i.campaign_id AND invitee_id = i.invitee_id;
        UPDATE commerce.fission_participant SET invites = invites + 1
         WHERE tenant_id = p_tenant AND campaign_id = i.campaign_id AND person_id = i.inviter_id
        RETURNING invites INTO v_invites;
        PERFORM commerce._fission_stages(p_tenant, i.campaign_id, i.inviter_id, v_invites, p_at);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce._fission_back(bigint, bigint, text, timestamptz) IS
  'An invitee (or a person merged into it) re-added the contact or rejoined the group it had left: each of its left invites with that source counts again while its campaign runs (the same row, never a second count), the inviter''s stages follow. Returns how many.';

-- An invitee left what it joined (deleted the contact, quit the group): its invites stop counting.
CREATE FUNCTION commerce._fission_left(p_tenant bigint, p_invitee bigint, p_source text, p_at timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE i record; n integer := 0; v_invites integer; v_aliases bigint[] := commerce._person_aliases(p_tenant, p_invitee);
BEGIN
    FOR i IN SELECT x.campaign_id, x.inviter_id, x.invitee_id FROM commerce.fission_invite x
              WHERE x.tenant_id = p_tenant AND x.invitee_id = ANY (v_aliases)
                AND x.source_ref = p_source AND x.status = 'valid'
              ORDER BY x.campaign_id, x.inviter_id FOR UPDATE LOOP
        UPDATE commerce.fission_invite SET status = 'left', left_at = p_at, changes = changes + 1
         WHERE tenant_id = p_tenant AND campaign_id = i.campaign_id AND invitee_id = i.invitee_id;
        UPDATE commerce.fission_participant SET invites = invites - 1
         WHERE tenant_id = p_tenant AND campaign_id = i.campaign_id AND person_id = i.inviter_id
        RETURNING invites INTO v_invites;
        PERFORM commerce._fission_stages(p_tenant, i.campaign_id, i.inviter_id, v_invites, p_at);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce._fission_left(bigint, bigint, text, timestamptz) IS
  'An invitee deleted the contact or quit the group its invites came through: they stop counting (status left), the inviters'' counts fall under their row locks, and rewards still waiting for a stage no longer reached are cancelled. Returns how many.';

-- An invitee registered through a fission link.
CREATE FUNCTION commerce.fission_accept(p_tenant bigint, p_code text, p_customer text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE v_person bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_customer, 'p_customer');
    SELECT person_id INTO v_person FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    IF length(p_code) > 64 OR (SELECT campaign_id FROM commerce._fission_code_parse(p_tenant, p_code)) IS NULL THEN
        PERFORM commerce._invalid('p_code', format('code "%s"', left(p_code, 64)),
                                  'Use a code made by fission_code; codes cannot be edited.');
    END IF;
    PERFORM commerce._fission_lock(p_tenant, ARRAY[p_code], '{}', 'link');
    RETURN commerce._fission_invited(p_tenant, p_code, v_person, 'link', 'link', NULL, commerce.now());
END $$;
COMMENT ON FUNCTION commerce.fission_accept(bigint, text, text) IS
  'A customer registered through a participant''s fission link (campaigns that count registrations): the invite is counted once per campaign and invitee. Returns the outcome (invited, or why it does not count). 22023 for a code that is not the tenant''s.';

-- One batch of the fission pump: due rewards granted, or cancelled when their stage is no longer reached.
CREATE FUNCTION commerce.fission_release(p_limit integer DEFAULT 1000) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE w record; v_invites integer; v_threshold integer; v_status text; n integer := 0;
BEGIN
    -- the due rewards, taken in participant order (the order every path locks participants in)
    FOR w IN SELECT d.* FROM (SELECT r.tenant_id, r.campaign_id, r.person_id, r.stage_no FROM commerce.fission_reward r
                               WHERE r.status = 'pending' AND r.due_at <= commerce.now()
                               ORDER BY r.due_at LIMIT p_limit) d
              ORDER BY d.tenant_id, d.campaign_id, d.person_id, d.stage_no LOOP
        n := n + 1;
        -- the participant first, then its reward
        SELECT p.invites INTO v_invites FROM commerce.fission_participant p
         WHERE p.tenant_id = w.tenant_id AND p.campaign_id = w.campaign_id AND p.person_id = w.person_id FOR NO KEY UPDATE;
        SELECT r.status INTO v_status FROM commerce.fission_reward r
         WHERE r.tenant_id = w.tenant_id AND r.campaign_id = w.campaign_id AND r.person_id = w.person_id AND r.stage_no = w.stage_no FOR NO KEY UPDATE;
        CONTINUE WHEN v_status <> 'pending';
        SELECT s.threshold INTO v_threshold FROM commerce.fission_stage s
         WHERE s.tenant_id = w.tenant_id AND s.campaign_id = w.campaign_id AND s.stage_no = w.stage_no;
        IF v_invites < v_threshold THEN
            UPDATE commerce.fission_reward SET status = 'cancelled', settled_at = commerce.now(),
                   note = format('invites fell to %s before the reward went out', v_invites)
             WHERE tenant_id = w.tenant_id AND campaign_id = w.campaign_id AND person_id = w.person_id AND stage_no = w.stage_no;
        ELSE
            PERFORM commerce._fission_grant(w.tenant_id, w.campaign_id, w.person_id, w.stage_no);
        END IF;
    END LOOP;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce.fission_release(integer) IS
  'One batch of the fission pump (PR13): up to p_limit due pending rewards, each under its participant''s and its own row lock, granted when the stage is still reached, else cancelled. Returns how many it looked at.';

CREATE PROCEDURE commerce.fission_pump(p_batch integer DEFAULT 1000, p_max_batches integer DEFAULT 100)
LANGUAGE plpgsql AS $$
BEGIN
    CALL commerce.run_pump('commerce.fission_release', p_batch, p_max_batches);
END $$;
COMMENT ON PROCEDURE commerce.fission_pump(integer, integer) IS
  'The fission job (pg_cron, every minute: commerce-fission): grants the stage rewards whose hold has passed, committed per batch.';

INSERT INTO commerce.job (job_name, schedule, command) VALUES
  ('commerce-fission', '* * * * *', 'CALL commerce.fission_pump()');

-- A participant's progress: its code, invites, stages and rewards.
CREATE FUNCTION commerce.fission_progress(p_tenant bigint, p_campaign text, p_person bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v_code text := commerce.fission_code(p_tenant, p_campaign, p_person); c commerce.fission_campaign%ROWTYPE;
        p commerce.fission_participant%ROWTYPE;
BEGIN
    SELECT * INTO c FROM commerce.fission_campaign WHERE tenant_id = p_tenant AND code = p_campaign;
    SELECT * INTO p FROM commerce.fission_participant WHERE tenant_id = p_tenant AND campaign_id = c.campaign_id AND person_id = p_person;
    RETURN jsonb_build_object('campaign', c.code, 'title', c.title, 'code', v_code, 'depth', p.depth, 'invites', p.invites,
        'invites_ever', p.invites_ever, 'ends_at', c.ends_at,
        'stages', (SELECT jsonb_agg(jsonb_build_object('stage', s.stage_no, 'threshold', s.threshold, 'reward', s.reward,
                                                       'status', w.status, 'to_go', greatest(s.threshold - p.invites, 0))
                                    ORDER BY s.stage_no)
                     FROM commerce.fission_stage s
                     LEFT JOIN commerce.fission_reward w ON w.tenant_id = s.tenant_id AND w.campaign_id = s.campaign_id
                          AND w.stage_no = s.stage_no AND w.person_id = p_person
                    WHERE s.tenant_id = p_tenant AND s.campaign_id = c.campaign_id));
END $$;
COMMENT ON FUNCTION commerce.fission_progress(bigint, text, bigint) IS
  'A participant''s poster and progress (PR11, PR12): its code (joining the campaign on first call), depth, valid invites now and ever, and each stage with its reward, the reward''s status (pending, granted, cancelled, or none yet) and the invites still to go.';

-- A campaign's figures: the tree per level and channel, conversion, rewards.
CREATE FUNCTION commerce.fission_stats(p_tenant bigint, p_campaign text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE c commerce.fission_campaign%ROWTYPE;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_campaign, 'p_campaign');
    SELECT * INTO c FROM commerce.fission_campaign WHERE tenant_id = p_tenant AND code = p_campaign;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('fission campaign', p_campaign, p_tenant);
    END IF;
    RETURN jsonb_build_object(
        'campaign', c.code, 'kind', c.kind, 'counts', c.counts, 'starts_at', c.starts_at, 'ends_at', c.ends_at,
        'participants', (SELECT count(*) FROM commerce.fission_participant p WHERE p.tenant_id = p_tenant AND p.campaign_id = c.campaign_id),
        'roots', (SELECT count(*) FROM commerce.fission_participant p WHERE p.tenant_id = p_tenant AND p.campaign_id = c.campaign_id AND p.depth = 0),
        'invitees', (SELECT count(*) FROM commerce.fission_invite i WHERE i.tenant_id = p_tenant AND i.campaign_id = c.campaign_id),
        'valid', (SELECT count(*) FROM commerce.fission_invite i WHERE i.tenant_id = p_tenant AND i.campaign_id = c.campaign_id AND i.status = 'valid'),
        'max_depth', (SELECT coalesce(max(i.depth), 0) FROM commerce.fission_invite i WHERE i.tenant_id = p_tenant AND i.campaign_id = c.campaign_id),
        'levels', coalesce((SELECT jsonb_agg(jsonb_build_object('depth', l.depth, 'invitees', l.n, 'valid', l.valid, 'converted', l.converted,
                                                                'conversion_bp', CASE WHEN l.n > 0 THEN l.converted * 10000 / l.n END)
                                             ORDER BY l.depth)
                              FROM (SELECT i.depth, count(*) AS n, count(*) FILTER (WHERE i.status = 'valid') AS valid,
                                           count(*) FILTER (WHERE EXISTS (
                                               SELECT 1 FROM commerce.customer cu JOIN commerce.orders o
                                                   ON o.tenant_id = cu.tenant_id AND o.customer_id = cu.customer_id
                                                WHERE cu.tenant_id = i.tenant_id AND cu.person_id = i.invitee_id
                                                  AND o.paid_at >= i.invited_at)) AS converted
                                      FROM commerce.fission_invite i WHERE i.tenant_id = p_tenant AND i.campaign_id = c.campaign_id
                                     GROUP BY i.depth) l), '[]'::jsonb),
        'channels', coalesce((SELECT jsonb_object_agg(x.channel, x.n)
                                FROM (SELECT i.channel, count(*) AS n FROM commerce.fission_invite i
                                       WHERE i.tenant_id = p_tenant AND i.campaign_id = c.campaign_id GROUP BY i.channel) x), '{}'::jsonb),
        'invites_per_participant', (SELECT round(avg(p.invites_ever), 2) FROM commerce.fission_participant p
                                     WHERE p.tenant_id = p_tenant AND p.campaign_id = c.campaign_id),
        'rewards', coalesce((SELECT jsonb_agg(jsonb_build_object('stage', s.stage_no, 'threshold', s.threshold,
                                                                 'pending', (SELECT count(*) FROM commerce.fission_reward w WHERE w.tenant_id = s.tenant_id AND w.campaign_id = s.campaign_id AND w.stage_no = s.stage_no AND w.status = 'pending'),
                                                                 'granted', (SELECT count(*) FROM commerce.fission_reward w WHERE w.tenant_id = s.tenant_id AND w.campaign_id = s.campaign_id AND w.stage_no = s.stage_no AND w.status = 'granted'),
                                                                 'cancelled', (SELECT count(*) FROM commerce.fission_reward w WHERE w.tenant_id = s.tenant_id AND w.campaign_id = s.campaign_id AND w.stage_no = s.stage_no AND w.status = 'cancelled'))
                                              ORDER BY s.stage_no)
                               FROM commerce.fission_stage s WHERE s.tenant_id = p_tenant AND s.campaign_id = c.campaign_id), '[]'::jsonb));
END $$;
COMMENT ON FUNCTION commerce.fission_stats(bigint, text) IS
  'A campaign''s tracking (PR12): participants and those who started on their own, invitees and those counting now, the deepest level, per level the invitees, those counting, those converted (a paid order since their invite) and the conversion in bp, invitees per channel, invites per participant (the fission coefficient), and per stage the rewards pending, granted and cancelled.';

-- The fission invariants, recomputed from the rows.
CREATE FUNCTION commerce.check_fission_invariants(p_tenant bigint DEFAULT NULL)
RETURNS TABLE (invariant text, tenant_id bigint, detail text) LANGUAGE sql STABLE AS $$
    SELECT 'participant_invites'::text, p.tenant_id,
           format('campaign %s person %s: %s valid invites counted, %s rows', p.campaign_id, p.person_id, p.invites, x.valid)
      FROM commerce.fission_participant p
      LEFT JOIN LATERAL (SELECT count(*) FILTER (WHERE i.status = 'valid') AS valid, count(*) AS ever
                           FROM commerce.fission_invite i
                          WHERE i.tenant_id = p.tenant_id AND i.campaign_id = p.campaign_id AND i.inviter_id = p.person_id) x ON true
     WHERE (p_tenant IS NULL OR p.tenant_id = p_tenant) AND (p.invites <> x.valid OR p.invites_ever <> x.ever)
    UNION ALL
    SELECT 'invite_depth', i.tenant_id, format('campaign %s invitee %s at depth %s, its inviter at %s', i.campaign_id, i.invitee_id, i.depth, p.depth)
      FROM commerce.fission_invite i
      JOIN commerce.fission_participant p ON p.tenant_id = i.tenant_id AND p.campaign_id = i.campaign_id AND p.person_id = i.inviter_id
     WHERE (p_tenant IS NULL OR i.tenant_id = p_tenant) AND i.depth <> p.depth + 1
    UNION ALL
    SELECT 'participant_place', p.tenant_id, format('campaign %s person %s at depth %s, invited at %s', p.campaign_id, p.person_id, p.depth, i.depth)
      FROM commerce.fission_participant p
      LEFT JOIN commerce.fission_invite i ON i.tenant_id = p.tenant_id AND i.campaign_id = p.campaign_id AND i.invitee_id = p.person_id
     WHERE (p_tenant IS NULL OR p.tenant_id = p_tenant)
       AND (p.depth IS DISTINCT FROM coalesce(i.depth, 0) OR p.inviter_id IS DISTINCT FROM i.inviter_id)
    UNION ALL
    SELECT 'reward_reached', w.tenant_id, format('campaign %s person %s stage %s %s, threshold %s, invites %s (ever %s)', w.campaign_id,
                                                 w.person_id, w.stage_no, w.status, s.threshold, p.invites, p.invites_ever)
      FROM commerce.fission_reward w
      JOIN commerce.fission_stage s ON s.tenant_id = w.tenant_id AND s.campaign_id = w.campaign_id AND s.stage_no = w.stage_no
      JOIN commerce.fission_participant p ON p.tenant_id = w.tenant_id AND p.campaign_id = w.campaign_id AND p.person_id = w.person_id
     WHERE (p_tenant IS NULL OR w.tenant_id = p_tenant)
       AND ((w.status = 'pending' AND p.invites < s.threshold) OR (w.status = 'granted' AND p.invites_ever < s.threshold))
    UNION ALL
    SELECT 'reward_missing', p.tenant_id, format('campaign %s person %s has %s invites but no reward of stage %s', p.campaign_id, p.person_id, p.invites, s.stage_no)
      FROM commerce.fission_participant p
      JOIN commerce.fission_stage s ON s.tenant_id = p.tenant_id AND s.campaign_id = p.campaign_id AND s.threshold <= p.invites
     WHERE (p_tenant IS NULL OR p.tenant_id = p_tenant)
       AND NOT EXISTS (SELECT 1 FROM commerce.fission_reward w WHERE w.tenant_id = p.tenant_id AND w.campaign_id = p.campaign_id
                          AND w.person_id = p.person_id AND w.stage_no = s.stage_no)
    UNION ALL
    SELECT 'reward_granted_once', w.tenant_id, format('campaign %s person %s stage %s granted without its grant', w.campaign_id, w.person_id, w.stage_no)
      FROM commerce.fission_reward w
     WHERE (p_tenant IS NULL OR w.tenant_id = p_tenant) AND w.status = 'granted'
       AND NOT EXISTS (SELECT 1 FROM commerce.reward_grant g WHERE g.tenant_id = w.tenant_id
                          AND g.source_key = format('fission:%s:%s:%s', w.campaign_id, w.person_id, w.stage_no));
$$;
COMMENT ON FUNCTION commerce.check_fission_invariants(bigint) IS
  'The fission invariants (PR12, PR13), recomputed from the rows; no row means they hold: each participant''s counts equal its invite rows (valid now, ever); an invitee''s depth is its inviter''s + 1 and an invited participant sits at its invite''s place; a pending reward''s stage is still reached and a granted one was reached; no reached stage lacks its reward; every granted reward has its one members-module grant.';
