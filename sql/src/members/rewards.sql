-- sql/src/members/rewards.sql: rewards (PR13, seed 004 invite rewards): a
-- reward grants points, a coupon, or a blind box prize drawn at random from
-- prize stock with known odds, exactly once per source event (the grant row
-- is written first, so a concurrent repeat waits on its key and then finds
-- it). Invite plays grant their rewards through it when an invite is
-- rewarded.

-- Define a blind box and its prizes (once per code).
CREATE FUNCTION commerce.create_blind_box(p_tenant bigint, p_code text, p_name text, p_prizes jsonb)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_box bigint; e jsonb; n integer := 0; v_batch bigint; v_kind text;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_name, 'p_name');
    PERFORM commerce._require(p_prizes, 'p_prizes');
    IF p_code !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' THEN
        PERFORM commerce._invalid('p_code', format('"%s"', left(p_code, 64)),
                                  'A code is 1 to 63 letters, digits, "_", "." or "-", starting with a letter or digit.');
    END IF;
    SELECT box_id INTO v_box FROM commerce.blind_box WHERE tenant_id = p_tenant AND code = p_code;
    IF FOUND THEN
        RETURN v_box;   -- prizes never change once defined: their odds were shown
    END IF;
    IF jsonb_typeof(p_prizes) <> 'array' OR jsonb_array_length(p_prizes) NOT BETWEEN 1 AND 100 THEN
        PERFORM commerce._invalid('p_prizes', 'The prizes are not a list of 1 to 100.',
            'Send [{"name":..., "kind":"points"|"coupon"|"nothing", "points" or "batch", "weight":<odds>, "quota":<stock>}, ...].');
    END IF;
    INSERT INTO commerce.blind_box (tenant_id, code, name, created_at) VALUES (p_tenant, p_code, left(p_name, 200), commerce.now())
    RETURNING box_id INTO v_box;
    FOR e IN SELECT x FROM jsonb_array_elements(p_prizes) x LOOP
        n := n + 1;
        v_kind := e ->> 'kind';
        IF jsonb_typeof(e) <> 'object' OR v_kind IS NULL OR v_kind NOT IN ('points', 'coupon', 'nothing')
           OR (e ->> 'name') IS NULL OR (v_kind = 'points') <> (e ? 'points') OR (v_kind = 'coupon') <> (e ? 'batch') THEN
            PERFORM commerce._invalid('p_prizes', format('Prize %s is %s.', n, left(e::text, 100)),
                'A prize has a name, a kind (points with "points", coupon with "batch", or nothing), a weight and an optional quota.');
        END IF;
        v_batch := NULL;
        IF v_kind = 'coupon' THEN
            SELECT batch_id INTO v_batch FROM commerce.coupon_batch WHERE tenant_id = p_tenant AND code = e ->> 'batch';
            IF NOT FOUND THEN
                PERFORM commerce._not_found('coupon batch', e ->> 'batch', p_tenant);
            END IF;
        END IF;
        INSERT INTO commerce.blind_box_prize (tenant_id, box_id, prize_no, name, kind, points, batch_id, weight, quota)
        VALUES (p_tenant, v_box, n, left(e ->> 'name', 200), v_kind,
                commerce._json_int(e -> 'points', 'points', 1, 100000000, 'p_prizes'), v_batch,
                coalesce(commerce._json_int(e -> 'weight', 'weight', 1, 1000000, 'p_prizes'), 1),
                commerce._json_int(e -> 'quota', 'quota', 1, 100000000, 'p_prizes'));
    END LOOP;
    RETURN v_box;
END $$;
COMMENT ON FUNCTION commerce.create_blind_box(bigint, text, text, jsonb) IS
  'Define a blind box: p_prizes [{"name", "kind":"points"|"coupon"|"nothing", "points" | "batch" (a coupon batch), "weight" (1 to 10^6: the odds among prizes in stock), "quota" (its stock; absent: unlimited)}]. Prizes never change once defined (the same code again returns the box). Returns the box id.';

-- The outcome of a reward.
CREATE TYPE commerce.reward_result AS (grant_id bigint, kind text, points bigint, coupon_id bigint, prize text,
                                        outcome text);
COMMENT ON TYPE commerce.reward_result IS
  'The outcome of granting a reward: the grant, its kind (points, coupon, blind_box), the points or coupon it gave, the blind box prize drawn, and what happened (granted, or existing: the source event had been rewarded before).';

-- Draw a prize of a blind box (its prizes locked in order; a prize out of stock is not drawn).
CREATE FUNCTION commerce._draw_prize(p_tenant bigint, p_box bigint) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE v_total bigint; v_pick bigint; r record; v_acc bigint := 0;
BEGIN
    PERFORM 1 FROM commerce.blind_box_prize WHERE tenant_id = p_tenant AND box_id = p_box ORDER BY prize_no FOR UPDATE;
    SELECT sum(weight) INTO v_total FROM commerce.blind_box_prize
     WHERE tenant_id = p_tenant AND box_id = p_box AND (quota IS NULL OR issued < quota);
    IF v_total IS NULL THEN
        RETURN NULL;
    END IF;
    v_pick := floor(random() * v_total)::bigint;
    FOR r IN SELECT prize_no, weight FROM commerce.blind_box_prize
              WHERE tenant_id = p_tenant AND box_id = p_box AND (quota IS NULL OR issued < quota) ORDER BY prize_no LOOP
        v_acc := v_acc + r.weight;
        IF v_pick < v_acc THEN
            UPDATE commerce.blind_box_prize SET issued = issued + 1
             WHERE tenant_id = p_tenant AND box_id = p_box AND prize_no = r.prize_no;
            RETURN r.prize_no;
        END IF;
    END LOOP;
    RAISE EXCEPTION 'commerce._draw_prize: pick % beyond the weights % of box %', v_pick, v_total, p_box;
END $$;

-- Grant a reward once per source event: {"points":n}, {"coupon":"<batch>"} or {"blind_box":"<box>"}.
CREATE FUNCTION commerce.grant_reward(p_tenant bigint, p_source_key text, p_customer text, p_reward jsonb)
RETURNS commerce.reward_result LANGUAGE plpgsql AS $$
DECLARE g commerce.reward_grant%ROWTYPE; v_customer bigint; v_kind text; v_box bigint; v_prize integer;
        p commerce.blind_box_prize%ROWTYPE; v_batch text; v_name text;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._request_key(p_source_key, 'p_source_key');
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._require(p_reward, 'p_reward');
    IF jsonb_typeof(p_reward) <> 'object'
       OR (SELECT count(*) FROM jsonb_object_keys(p_reward) k WHERE k IN ('points', 'coupon', 'blind_box')) <> 1
       OR EXISTS (SELECT 1 FROM jsonb_object_keys(p_reward) k WHERE k NOT IN ('points', 'coupon', 'blind_box')) THEN
        PERFORM commerce._invalid('p_reward', format('The reward is %s.', left(p_reward::text, 100)),
                                  'A reward is {"points":<n>}, {"coupon":"<batch>"} or {"blind_box":"<box>"}.');
    END IF;
    v_kind := (SELECT k FROM jsonb_object_keys(p_reward) k);
    SELECT customer_id INTO v_customer FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    IF v_kind = 'blind_box' THEN
        SELECT box_id INTO v_box FROM commerce.blind_box WHERE tenant_id = p_tenant AND code = p_reward ->> 'blind_box';
        IF NOT FOUND THEN
            PERFORM commerce._not_found('blind box', p_reward ->> 'blind_box', p_tenant);
        END IF;
    END IF;
    -- the grant row first: a concurrent repeat of the source waits on its key, then finds it
    INSERT INTO commerce.reward_grant (tenant_id, source_key, customer_id, kind, box_id, outcome, created_at)
    VALUES (p_tenant, p_source_key, v_customer, v_kind, v_box, 'granted', commerce.now())
    ON CONFLICT (tenant_id, source_key) DO NOTHING
    RETURNING * INTO g;
    IF g.grant_id IS NULL THEN
        SELECT * INTO g FROM commerce.reward_grant WHERE tenant_id = p_tenant AND source_key = p_source_key;
        IF g.customer_id <> v_customer OR g.kind <> v_kind THEN
            RAISE EXCEPTION USING ERRCODE = '23505',
                MESSAGE = format('reward key "%s" already rewarded another grant', left(p_source_key, 64)),
                DETAIL  = format('It granted %s to customer %s.', g.kind, g.customer_id),
                HINT    = 'Use a new key for a new reward.';
        END IF;
        RETURN ROW(g.grant_id, g.kind, g.points, g.coupon_id,
                   (SELECT name FROM commerce.blind_box_prize x WHERE x.tenant_id = g.tenant_id AND x.box_id = g.box_id AND x.prize_no = g.prize_no),
                   'existing')::commerce.reward_result;
    END IF;
    IF v_kind = 'points' THEN
        g.points := commerce._json_int(p_reward -> 'points', 'points', 1, 100000000, 'p_reward');
    ELSIF v_kind = 'coupon' THEN
        v_batch := p_reward ->> 'coupon';
        IF v_batch IS NULL THEN
            PERFORM commerce._invalid('p_reward', 'coupon is not a batch code.', 'Pass {"coupon":"<batch code>"}.');
        END IF;
    ELSE
        v_prize := commerce._draw_prize(p_tenant, v_box);
        IF v_prize IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409',
                MESSAGE = format('blind box "%s" has no prize left', left(p_reward ->> 'blind_box', 64)),
                HINT    = 'Nothing was granted; refill the box with a new one.';
        END IF;
        SELECT * INTO p FROM commerce.blind_box_prize WHERE tenant_id = p_tenant AND box_id = v_box AND prize_no = v_prize;
        v_name := p.name;
        g.prize_no := v_prize;
        g.points := p.points;
        IF p.kind = 'coupon' THEN
            SELECT code INTO v_batch FROM commerce.coupon_batch WHERE tenant_id = p_tenant AND batch_id = p.batch_id;
        END IF;
    END IF;
    IF g.points IS NOT NULL THEN
        g.lot_id := commerce.earn_points(p_tenant, 'grant', 'reward:' || p_source_key, p_customer, g.points,
                                         left('reward ' || p_source_key, 200));
    END IF;
    IF v_batch IS NOT NULL THEN
        g.coupon_id := (commerce.issue_coupon(p_tenant, 'reward', p_source_key, v_batch, p_customer)).coupon_id;
    END IF;
    UPDATE commerce.reward_grant SET prize_no = g.prize_no, points = g.points, lot_id = g.lot_id, coupon_id = g.coupon_id
     WHERE tenant_id = p_tenant AND grant_id = g.grant_id;
    RETURN ROW(g.grant_id, v_kind, g.points, g.coupon_id, v_name, 'granted')::commerce.reward_result;
END $$;
COMMENT ON FUNCTION commerce.grant_reward(bigint, text, text, jsonb) IS
  'Grant a customer a reward exactly once per source event p_source_key (a repeat returns the first grant, outcome existing; the key of another reward is 23505): {"points":n} (a lot, available at once), {"coupon":"<batch>"} (within the batch''s quota and the per-customer limit: PT409 otherwise, nothing granted) or {"blind_box":"<box>"} (one prize drawn with probability weight / the weights of the prizes still in stock, never beyond a prize''s stock; PT409 when none is left).';

-- Which rewards an invite play grants in the database when an invite is rewarded.
CREATE FUNCTION commerce.set_invite_rewards(p_tenant bigint, p_play text, p_inviter_reward jsonb, p_invitee_reward jsonb DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE v_config bigint; v_template text;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_play, 'p_play');
    SELECT c.config_id, t.kind INTO v_config, v_template
      FROM commerce.play_config c JOIN commerce.play_template t ON t.tenant_id = c.tenant_id AND t.code = c.template_code
     WHERE c.tenant_id = p_tenant AND c.code = p_play;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('play', p_play, p_tenant);
    END IF;
    IF v_template IS DISTINCT FROM 'invite_reward' THEN
        PERFORM commerce._invalid('p_play', format('Play "%s" is a %s play.', left(p_play, 64), v_template),
                                  'Invite rewards belong to invite plays.');
    END IF;
    IF (p_inviter_reward IS NOT NULL AND (jsonb_typeof(p_inviter_reward) <> 'object' OR NOT p_inviter_reward ?| ARRAY['points', 'coupon', 'blind_box']))
       OR (p_invitee_reward IS NOT NULL AND (jsonb_typeof(p_invitee_reward) <> 'object' OR NOT p_invitee_reward ?| ARRAY['points', 'coupon', 'blind_box'])) THEN
        PERFORM commerce._invalid('p_inviter_reward', 'A reward is not {"points":n}, {"coupon":"<batch>"} or {"blind_box":"<box>"}.',
                                  'Pass a reward for each side, or NULL for none.');
    END IF;
    INSERT INTO commerce.invite_reward_rule (tenant_id, config_id, inviter_reward, invitee_reward)
    VALUES (p_tenant, v_config, p_inviter_reward, p_invitee_reward)
    ON CONFLICT (tenant_id, config_id) DO UPDATE SET inviter_reward = EXCLUDED.inviter_reward, invitee_reward = EXCLUDED.invitee_reward;
END $$;
COMMENT ON FUNCTION commerce.set_invite_rewards(bigint, text, jsonb, jsonb) IS
  'What an invite play (M3) grants in the database when an invite is rewarded, besides its outbox message: a reward for the inviter and one for the invitee (commerce.grant_reward documents), each exactly once per invite.';

-- A reward a trigger grants: granted, or recorded failed with the reason (the payment that earned it is never undone).
CREATE FUNCTION commerce._grant_reward_or_record(p_tenant bigint, p_source_key text, p_customer bigint, p_reward jsonb)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE v_code text; v_error text;
BEGIN
    SELECT code INTO v_code FROM commerce.customer WHERE tenant_id = p_tenant AND customer_id = p_customer;
    BEGIN
        PERFORM commerce.grant_reward(p_tenant, p_source_key, v_code, p_reward);
    EXCEPTION WHEN SQLSTATE 'PT409' OR SQLSTATE 'PT404' OR SQLSTATE '22023' THEN
        v_error := left(SQLSTATE || ': ' || SQLERRM, 300);
        INSERT INTO commerce.reward_grant (tenant_id, source_key, customer_id, kind, box_id, outcome, error, created_at)
        VALUES (p_tenant, p_source_key, p_customer, (SELECT k FROM jsonb_object_keys(p_reward) k LIMIT 1),
                (SELECT box_id FROM commerce.blind_box WHERE tenant_id = p_tenant AND code = p_reward ->> 'blind_box'),
                'failed', v_error, commerce.now())
        ON CONFLICT (tenant_id, source_key) DO NOTHING;
    END;
END $$;

-- play_invite trigger: an invite rewarded grants the play's database rewards, once.
CREATE FUNCTION commerce._invite_rewards() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE r commerce.invite_reward_rule%ROWTYPE;
BEGIN
    IF TG_WHEN <> 'AFTER' OR TG_LEVEL <> 'ROW' OR TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'commerce._invite_rewards must fire AFTER UPDATE ... FOR EACH ROW';
    END IF;
    SELECT * INTO r FROM commerce.invite_reward_rule WHERE tenant_id = NEW.tenant_id AND config_id = NEW.config_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF r.inviter_reward IS NOT NULL THEN
        PERFORM commerce._grant_reward_or_record(NEW.tenant_id, 'invite:' || NEW.invite_id || ':inviter', NEW.inviter_id, r.inviter_reward);
    END IF;
    IF r.invitee_reward IS NOT NULL THEN
        PERFORM commerce._grant_reward_or_record(NEW.tenant_id, 'invite:' || NEW.invite_id || ':invitee', NEW.invitee_id, r.invitee_reward);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER after_10_invite_rewards AFTER UPDATE OF status ON commerce.play_invite
    FOR EACH ROW WHEN (NEW.status = 'rewarded' AND OLD.status IS DISTINCT FROM 'rewarded')
    EXECUTE FUNCTION commerce._invite_rewards();

-- Every invariant of the rewards; no rows means all hold.
CREATE FUNCTION commerce.check_reward_invariants(p_tenant bigint DEFAULT NULL)
RETURNS TABLE (invariant text, detail text) LANGUAGE sql STABLE AS $$
    -- a prize issued exactly the grants that drew it, never beyond its stock
    SELECT 'prize issued = its grants <= quota', format('box %s prize %s: issued %s, grants %s, quota %s', p.box_id, p.prize_no,
                                                        p.issued, coalesce(g.n, 0), coalesce(p.quota::text, '-'))
      FROM commerce.blind_box_prize p
      LEFT JOIN LATERAL (SELECT count(*) AS n FROM commerce.reward_grant x
                          WHERE x.tenant_id = p.tenant_id AND x.box_id = p.box_id AND x.prize_no = p.prize_no
                            AND x.outcome = 'granted') g ON true
     WHERE (p_tenant IS NULL OR p.tenant_id = p_tenant) AND (p.issued <> coalesce(g.n, 0) OR p.issued > p.quota)
    UNION ALL
    -- a granted reward holds what it gave
    SELECT 'granted reward = its points or coupon', format('grant %s (%s)', g.grant_id, g.kind)
      FROM commerce.reward_grant g
      LEFT JOIN commerce.blind_box_prize p ON p.tenant_id = g.tenant_id AND p.box_id = g.box_id AND p.prize_no = g.prize_no
     WHERE (p_tenant IS NULL OR g.tenant_id = p_tenant) AND g.outcome = 'granted'
       AND ((g.kind = 'points' AND g.lot_id IS NULL)
            OR (g.kind = 'coupon' AND g.coupon_id IS NULL)
            OR (g.kind = 'blind_box' AND (g.prize_no IS NULL OR (p.kind = 'points') <> (g.lot_id IS NOT NULL)
                                          OR (p.kind = 'coupon') <> (g.coupon_id IS NOT NULL))));
$$;
COMMENT ON FUNCTION commerce.check_reward_invariants(bigint) IS
  'Every invariant of the rewards (check after stress): each blind box prize issued exactly the grants that drew it and never beyond its stock; each granted reward holds its points lot or coupon. No rows means all hold.';
