-- sql/src/community/checkins.sql: group check-ins (PR10, K17): rounds started
-- by staff or the group's KOC, one check-in per person and tenant-local day,
-- streaks, points granted once through the members module, live counts.

-- The shape of a check-in's outcome.
CREATE TYPE commerce.group_checkin_result AS (round_id bigint, day date, streak integer, points bigint, outcome text);
COMMENT ON TYPE commerce.group_checkin_result IS
  'The outcome of a group check-in: the round, the tenant-local day, the streak (days in a row in the round, this one included), the points it earned, and what happened: checked_in, checked_in_no_account (counted, but the person has no account to earn points on) or already (this person checked in today; nothing earned).';

-- Start a check-in round in a group.
CREATE FUNCTION commerce.start_group_checkin(p_tenant bigint, p_group text, p_title text, p_days integer, p_points integer,
                                             p_streak_days integer, p_streak_bonus integer, p_starts_on date, p_by text,
                                             p_koc text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE g commerce.community_group%ROWTYPE; v_koc bigint; v_today date := commerce._tenant_day(p_tenant, commerce.now());
        v_id bigint; v_start date := coalesce(p_starts_on, v_today);
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_group, 'p_group');
    PERFORM commerce._require(p_title, 'p_title');
    PERFORM commerce._require(p_days, 'p_days');
    PERFORM commerce._require(p_points, 'p_points');
    PERFORM commerce._require(p_streak_days, 'p_streak_days');
    PERFORM commerce._require(p_streak_bonus, 'p_streak_bonus');
    PERFORM commerce._require(p_by, 'p_by');
    IF length(p_title) NOT BETWEEN 1 AND 200 THEN
        PERFORM commerce._invalid('p_title', format('%s characters', length(p_title)), 'A title is 1 to 200 characters.');
    END IF;
    IF p_days NOT BETWEEN 1 AND 366 THEN
        PERFORM commerce._invalid('p_days', format('%s days', p_days), 'A round lasts 1 to 366 days.');
    END IF;
    IF p_points NOT BETWEEN 0 AND 100000 OR p_streak_bonus NOT BETWEEN 0 AND 100000 THEN
        PERFORM commerce._invalid('p_points', format('%s points, bonus %s', p_points, p_streak_bonus),
                                  'A check-in earns 0 to 100000 points, a streak bonus 0 to 100000.');
    END IF;
    IF p_streak_days NOT BETWEEN 2 AND 365 THEN
        PERFORM commerce._invalid('p_streak_days', format('%s days', p_streak_days), 'A streak is 2 to 365 days.');
    END IF;
    IF v_start < v_today OR v_start > v_today + 90 THEN
        PERFORM commerce._invalid('p_starts_on', format('%s (today is %s)', v_start, v_today),
                                  'A round starts today or within 90 days.');
    END IF;
    SELECT * INTO g FROM commerce.community_group WHERE tenant_id = p_tenant AND code = p_group FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('group', p_group, p_tenant);
    END IF;
    IF g.status <> 'active' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('group "%s" is dismissed', p_group),
            HINT = 'Start check-ins in an active group.';
    END IF;
    v_koc := commerce._koc_ref(p_tenant, p_koc);
    -- a round past its last day is over: close it, so the group may start the next one
    UPDATE commerce.group_checkin_round SET closed_at = commerce.now()
     WHERE tenant_id = p_tenant AND group_id = g.group_id AND closed_at IS NULL AND ends_on < v_today;
    IF EXISTS (SELECT 1 FROM commerce.group_checkin_round r WHERE r.tenant_id = p_tenant AND r.group_id = g.group_id AND r.closed_at IS NULL) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('group "%s" has an open check-in round', p_group),
            DETAIL = format('Round %s runs until %s.',
                            (SELECT r.round_id FROM commerce.group_checkin_round r WHERE r.tenant_id = p_tenant AND r.group_id = g.group_id AND r.closed_at IS NULL),
                            (SELECT r.ends_on FROM commerce.group_checkin_round r WHERE r.tenant_id = p_tenant AND r.group_id = g.group_id AND r.closed_at IS NULL)),
            HINT = 'Close it with close_group_checkin first, or wait until it ends.';
    END IF;
    INSERT INTO commerce.group_checkin_round (tenant_id, group_id, title, starts_on, ends_on, points, streak_days, streak_bonus,
                                              started_by, koc_id, created_at)
    VALUES (p_tenant, g.group_id, p_title, v_start, v_start + p_days - 1, p_points, p_streak_days, p_streak_bonus,
            left(p_by, 200), v_koc, commerce.now())
    RETURNING round_id INTO v_id;
    RETURN v_id;
END $$;
COMMENT ON FUNCTION commerce.start_group_checkin(bigint, text, text, integer, integer, integer, integer, date, text, text) IS
  'Start a check-in round in a group (PR10, K17): p_days tenant-local days from p_starts_on (today by default, at most 90 days ahead), p_points per check-in (0 to 100000) plus p_streak_bonus on every p_streak_days-th day in a row. One open round per group (PT409); a round past its last day is closed by the next start.';

-- Close a round before its last day.
CREATE FUNCTION commerce.close_group_checkin(p_tenant bigint, p_round bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_round, 'p_round');
    UPDATE commerce.group_checkin_round SET closed_at = commerce.now()
     WHERE tenant_id = p_tenant AND round_id = p_round AND closed_at IS NULL;
    IF NOT FOUND AND NOT EXISTS (SELECT 1 FROM commerce.group_checkin_round r WHERE r.tenant_id = p_tenant AND r.round_id = p_round) THEN
        PERFORM commerce._not_found('check-in round', p_round::text, p_tenant);
    END IF;
END $$;
COMMENT ON FUNCTION commerce.close_group_checkin(bigint, bigint) IS 'Close a check-in round (no more check-ins; closing a closed round is harmless).';

-- Check a group member in for today.
CREATE FUNCTION commerce.group_check_in(p_tenant bigint, p_group text, p_customer text, p_member text, p_via text)
RETURNS commerce.group_checkin_result LANGUAGE plpgsql AS $$
DECLARE g commerce.community_group%ROWTYPE; r commerce.group_checkin_round%ROWTYPE; c commerce.group_checkin%ROWTYPE;
        v_person bigint; v_customer bigint; v_day date := commerce._tenant_day(p_tenant, commerce.now()); v_streak integer;
        v_points bigint; v_lot bigint; v_code text;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_group, 'p_group');
    PERFORM commerce._require(p_via, 'p_via');
    IF num_nonnulls(p_customer, p_member) <> 1 THEN
        PERFORM commerce._invalid('p_customer', format('%s members named', num_nonnulls(p_customer, p_member)),
                                  'Name the member by its customer account or by its id in the group, not both.');
    END IF;
    IF p_via NOT IN ('mini_program', 'group_message', 'service') THEN
        PERFORM commerce._invalid('p_via', format('via "%s"', left(p_via, 32)), 'A check-in comes via mini_program, group_message or service.');
    END IF;
    SELECT * INTO g FROM commerce.community_group WHERE tenant_id = p_tenant AND code = p_group;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('group', p_group, p_tenant);
    END IF;
    IF g.status <> 'active' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('group "%s" is dismissed', p_group),
            HINT = 'Check in to an active group.';
    END IF;
    SELECT * INTO r FROM commerce.group_checkin_round
     WHERE tenant_id = p_tenant AND group_id = g.group_id AND closed_at IS NULL AND v_day BETWEEN starts_on AND ends_on;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('group "%s" has no check-in today', p_group),
            DETAIL = format('No open round of the group covers %s.', v_day),
            HINT = 'Staff or the group''s KOC start one with start_group_checkin.';
    END IF;
    IF p_customer IS NOT NULL THEN
        SELECT customer_id, person_id INTO v_customer, v_person FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
        IF NOT FOUND THEN
            PERFORM commerce._not_found('customer', p_customer, p_tenant);
        END IF;
        IF NOT EXISTS (SELECT 1 FROM commerce.group_member m WHERE m.tenant_id = p_tenant AND m.group_id = g.group_id
                          AND m.person_id = v_person AND m.active) THEN
            RAISE EXCEPTION USING ERRCODE = 'PT403',
                MESSAGE = format('customer "%s" is not a member of group "%s"', p_customer, p_group),
                HINT = 'Only members of the group check in; join it first.';
        END IF;
    ELSE
        SELECT person_id INTO v_person FROM commerce.group_member m
         WHERE m.tenant_id = p_tenant AND m.group_id = g.group_id AND m.member_key = p_member AND m.active;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'PT403',
                MESSAGE = format('"%s" is not a member of group "%s"', left(p_member, 64), p_group),
                HINT = 'Only members of the group check in.';
        END IF;
        IF v_person IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409',
                MESSAGE = format('member "%s" of group "%s" is not linked to a person', left(p_member, 64), p_group),
                HINT = 'Staff do not check in; a member of another platform checks in by its customer account.';
        END IF;
        SELECT customer_id INTO v_customer FROM commerce.customer WHERE tenant_id = p_tenant AND person_id = v_person
         ORDER BY customer_id LIMIT 1;
    END IF;
    -- one check-in per group, person and day (whatever round): a second one (another account, another id, a retry, a
    -- round started after the first was closed) waits here and finds the first
    PERFORM pg_advisory_xact_lock(hashtextextended('group_checkin:' || p_tenant || ':' || g.group_id || ':' || v_person, 0));
    SELECT * INTO c FROM commerce.group_checkin WHERE tenant_id = p_tenant AND group_id = g.group_id AND person_id = v_person AND day = v_day;
    IF FOUND THEN
        RETURN ROW(c.round_id, c.day, c.streak, c.points, 'already')::commerce.group_checkin_result;
    END IF;
    v_streak := coalesce((SELECT x.streak FROM commerce.group_checkin x
                           WHERE x.tenant_id = p_tenant AND x.round_id = r.round_id AND x.person_id = v_person AND x.day = v_day - 1), 0) + 1;
    v_points := r.points + CASE WHEN v_streak % r.streak_days = 0 THEN r.streak_bonus ELSE 0 END;
    IF v_customer IS NULL OR v_points = 0 THEN
        v_points := 0;
    ELSE
        v_lot := commerce._earn_points(p_tenant, v_customer, 'checkin', format('group:%s:%s:%s', g.group_id, v_person, v_day),
                                       v_points, interval '0', interval '365 days', NULL, NULL,
                                       format('group check-in %s, day %s in a row', g.code, v_streak));
    END IF;
    INSERT INTO commerce.group_checkin (tenant_id, round_id, group_id, person_id, day, streak, points, customer_id, lot_id, via, at)
    VALUES (p_tenant, r.round_id, g.group_id, v_person, v_day, v_streak, v_points, CASE WHEN v_lot IS NOT NULL THEN v_customer END, v_lot,
            p_via, commerce.now());
    v_code := CASE WHEN v_customer IS NULL THEN 'checked_in_no_account' ELSE 'checked_in' END;
    RETURN ROW(r.round_id, v_day, v_streak, v_points, v_code)::commerce.group_checkin_result;
END $$;
COMMENT ON FUNCTION commerce.group_check_in(bigint, text, text, text, text) IS
  'A group member checks in (PR10, K17) in the group''s open round that covers today (tenant-local): by customer account (the mini-program; the person must be in the group) or by its id in the group (the bot saw its check-in message). Once per group, person and day, whatever account, id or round: a repeat returns the first, outcome already. The streak counts consecutive days in the round; the points (plus the streak bonus) are granted once through the members module (a checkin lot keyed group:<group>:<person>:<day>) to the account that checked in, or the person''s first account when the bot saw it, lasting 365 days. PT409 when no round is open today or the group is dismissed, PT403 for a non-member.';

-- The live board of a round.
CREATE FUNCTION commerce.checkin_board(p_tenant bigint, p_round bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE r commerce.group_checkin_round%ROWTYPE; v_day date := commerce._tenant_day(p_tenant, commerce.now()); v jsonb;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_round, 'p_round');
    SELECT * INTO r FROM commerce.group_checkin_round WHERE tenant_id = p_tenant AND round_id = p_round;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('check-in round', p_round::text, p_tenant);
    END IF;
    SELECT jsonb_build_object(
        'round', r.round_id, 'group', g.code, 'title', r.title, 'starts_on', r.starts_on, 'ends_on', r.ends_on,
        'open', r.closed_at IS NULL AND v_day <= r.ends_on, 'members', g.members,
        'today', (SELECT count(*) FROM commerce.group_checkin c WHERE c.tenant_id = p_tenant AND c.round_id = p_round AND c.day = v_day),
        'checkins', (SELECT count(*) FROM commerce.group_checkin c WHERE c.tenant_id = p_tenant AND c.round_id = p_round),
        'participants', (SELECT count(DISTINCT c.person_id) FROM commerce.group_checkin c WHERE c.tenant_id = p_tenant AND c.round_id = p_round),
        'points', (SELECT coalesce(sum(c.points), 0) FROM commerce.group_checkin c WHERE c.tenant_id = p_tenant AND c.round_id = p_round),
        'days', coalesce((SELECT jsonb_agg(jsonb_build_object('day', d.day, 'checkins', d.n) ORDER BY d.day)
                            FROM (SELECT c.day, count(*) AS n FROM commerce.group_checkin c
                                   WHERE c.tenant_id = p_tenant AND c.round_id = p_round GROUP BY c.day) d), '[]'),
        'streaks', coalesce((SELECT jsonb_agg(jsonb_build_object('nickname', s.nickname, 'streak', s.streak) ORDER BY s.streak DESC, s.nickname)
                               FROM (SELECT t.streak,
                                            (SELECT m.nickname FROM commerce.group_member m
                                              WHERE m.tenant_id = p_tenant AND m.group_id = r.group_id AND m.person_id = t.person_id
                                              ORDER BY m.joined_at DESC NULLS LAST LIMIT 1) AS nickname
                                       FROM (SELECT DISTINCT ON (c.person_id) c.person_id, c.streak
                                               FROM commerce.group_checkin c
                                              WHERE c.tenant_id = p_tenant AND c.round_id = p_round AND c.day >= v_day - 1
                                              ORDER BY c.person_id, c.day DESC) t
                                      WHERE t.streak >= 2
                                      ORDER BY t.streak DESC, t.person_id
                                      LIMIT 20) s), '[]'))
      INTO v
      FROM commerce.community_group g WHERE g.tenant_id = p_tenant AND g.group_id = r.group_id;
    RETURN v;
END $$;
COMMENT ON FUNCTION commerce.checkin_board(bigint, bigint) IS
  'The live board of a check-in round (PR10, K17): whether it is open, the group''s members, today''s check-ins, all check-ins, participants and points granted, check-ins per day, and the 20 longest running streaks of two days or more (by nickname; a streak runs while its last check-in is today or yesterday).';
