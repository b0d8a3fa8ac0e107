-- sql/src/community/api.sql: the community's API (commerce_api): callbacks from
-- the WeCom adapter and platform services, the organisation's bindings,
-- welcome templates, groups, join ways and check-ins, each taking its actor
-- from the verified identity.

-- The KOC a KOC caller is (PT404 when its code names none).
CREATE FUNCTION commerce._api_koc_id(a commerce.actor) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE v bigint;
BEGIN
    SELECT koc_id INTO v FROM commerce.koc WHERE tenant_id = a.tenant_id AND code = a.subject;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('KOC', a.subject, a.tenant_id);
    END IF;
    RETURN v;
END $$;
COMMENT ON FUNCTION commerce._api_koc_id(commerce.actor) IS 'The id of the KOC a KOC caller is (its token''s subject).';

-- A group the caller may manage: a KOC its own, staff limited to stores their stores', HQ and services any (42501 else).
CREATE FUNCTION commerce._api_group(a commerce.actor, p_group text) RETURNS commerce.community_group_row
LANGUAGE plpgsql STABLE AS $$
DECLARE g commerce.community_group_row; v_store text;
BEGIN
    PERFORM commerce._require(p_group, 'group');
    SELECT * INTO g FROM commerce.community_group WHERE tenant_id = a.tenant_id AND code = p_group;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('group', p_group, a.tenant_id);
    END IF;
    IF a.kind = 'koc' AND g.koc_id IS DISTINCT FROM commerce._api_koc_id(a) THEN
        PERFORM commerce._no_identity(format('group "%s" is not run by KOC %s', left(p_group, 64), left(a.subject, 64)),
                                      'A KOC manages only the groups it runs.', 'Name one of your own groups.');
    END IF;
    IF a.kind IN ('store', 'operator', 'finance') AND a.stores IS NOT NULL THEN
        SELECT s.code INTO v_store FROM commerce.store s WHERE s.tenant_id = a.tenant_id AND s.store_id = g.store_id;
        PERFORM commerce._actor_scope(a, v_store, NULL);
    END IF;
    RETURN g;
END $$;
COMMENT ON FUNCTION commerce._api_group(commerce.actor, text) IS
  'The group a caller names, if it may manage it: a KOC only the groups it runs, staff limited to stores only their stores'' groups (a group without a store is HQ''s), HQ staff and services any. PT404 for an unknown group, 42501 for another''s.';

CREATE FUNCTION commerce_api.community_event(event jsonb)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.community_event', '{service}');
BEGIN
    RETURN commerce.community_ingest(a.tenant_id, community_event.event);
END $$;
REVOKE ALL ON FUNCTION commerce_api.community_event(jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.community_event(jsonb) IS
  'The WeCom adapter or a platform service delivers one callback (PR01-PR05, K16): {"type": change_contact | change_external_contact | change_external_chat | group_event, "change", "at", ...} (docs/community.md). Applied once per composite event key: a retry, even concurrent, returns the first outcome with replayed true. Adds and joins queue their welcome (outbox wecom.welcome, community.welcome) in the same transaction.';

CREATE FUNCTION commerce_api.bind_wecom_department(department bigint, store text)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.bind_wecom_department', '{operator}');
BEGIN
    PERFORM commerce._actor_scope(a, bind_wecom_department.store, NULL);
    IF a.stores IS NOT NULL THEN      -- and the store it belongs to now
        PERFORM commerce._actor_scope(a, (SELECT s.code FROM commerce.wecom_department d JOIN commerce.store s
                                             ON s.tenant_id = d.tenant_id AND s.store_id = d.store_id
                                          WHERE d.tenant_id = a.tenant_id AND d.department_id = bind_wecom_department.department), NULL);
    END IF;
    PERFORM commerce.bind_wecom_department(a.tenant_id, bind_wecom_department.department, bind_wecom_department.store);
END $$;
REVOKE ALL ON FUNCTION commerce_api.bind_wecom_department(bigint, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.bind_wecom_department(bigint, text) IS
  'HQ binds a WeCom department to a store (PR01), or unbinds it with store NULL: its staff''s groups belong to that store.';

CREATE FUNCTION commerce_api.link_wecom_user(userid text, staff text)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.link_wecom_user', '{operator}');
BEGIN
    PERFORM commerce._actor_scope(a, NULL, NULL);
    PERFORM commerce.link_wecom_user(a.tenant_id, link_wecom_user.userid, link_wecom_user.staff);
END $$;
REVOKE ALL ON FUNCTION commerce_api.link_wecom_user(text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.link_wecom_user(text, text) IS
  'HQ links a WeCom staff account to a commerce staff member whose code differs from the userid (PR01), or unlinks it with staff NULL.';

CREATE FUNCTION commerce_api.set_welcome_template(code text, body text, link text DEFAULT NULL, attachment jsonb DEFAULT NULL,
                                                  active boolean DEFAULT true)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.set_welcome_template', '{operator}');
BEGIN
    PERFORM commerce._actor_scope(a, NULL, NULL);
    PERFORM commerce.set_welcome_template(a.tenant_id, set_welcome_template.code, set_welcome_template.body, set_welcome_template.link,
                                          set_welcome_template.attachment, set_welcome_template.active);
END $$;
REVOKE ALL ON FUNCTION commerce_api.set_welcome_template(text, text, text, jsonb, boolean) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.set_welcome_template(text, text, text, jsonb, boolean) IS
  'HQ adds or changes a welcome template (PR05): text with {nickname} and {link}, the activity link, a WeCom attachment (image, link, miniprogram, video, file). The template default greets every add and join whose join way and group name none.';

CREATE FUNCTION commerce_api.register_group(platform text, chat_id text, name text, code text, store text DEFAULT NULL,
                                            koc text DEFAULT NULL, welcome text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.register_group', '{koc,store,operator,service}');
        v_koc text := register_group.koc;
BEGIN
    IF a.kind = 'koc' THEN
        v_koc := commerce._actor_subject(a, register_group.koc, 'koc');
        IF register_group.store IS NOT NULL THEN
            PERFORM commerce._no_identity('a KOC registers its groups without a store', format('store "%s" was given.', left(register_group.store, 64)),
                                          'Leave store out: staff file a group under their store with update_group.');
        END IF;
    END IF;
    PERFORM commerce._actor_scope(a, register_group.store, NULL);
    RETURN commerce.register_group(a.tenant_id, register_group.platform, register_group.chat_id, register_group.name,
                                   register_group.code, v_koc, register_group.store, register_group.welcome);
END $$;
REVOKE ALL ON FUNCTION commerce_api.register_group(text, text, text, text, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.register_group(text, text, text, text, text, text, text) IS
  'Register a group of another platform (K16: wechat, discord, other) by its chat id and a code: a KOC registers its own (the KOC is the caller), store staff one of their stores'', HQ and services any. Its joins and quits then come as group_event callbacks. Returns the group id.';

CREATE FUNCTION commerce_api.update_group(group_code text, koc text DEFAULT NULL, store text DEFAULT NULL, welcome text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.update_group', '{store,operator}');
        g commerce.community_group_row := commerce._api_group(a, update_group.group_code);
BEGIN
    PERFORM commerce._actor_scope(a, update_group.store, NULL);
    PERFORM commerce.update_group(a.tenant_id, g.code, update_group.koc, update_group.store, update_group.welcome);
END $$;
REVOKE ALL ON FUNCTION commerce_api.update_group(text, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.update_group(text, text, text, text) IS
  'Staff set who runs a group (K16: the KOC of a WeCom group), its store and its welcome template (NULL clears each); store staff only for groups of their stores, and only to their stores.';

CREATE FUNCTION commerce_api.create_join_way(code text, kind text, title text, userids text[] DEFAULT NULL,
                                             groups text[] DEFAULT NULL, store text DEFAULT NULL, task text DEFAULT NULL,
                                             campaign text DEFAULT NULL, welcome text DEFAULT NULL, koc text DEFAULT NULL)
RETURNS commerce_api.join_way LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.create_join_way', '{koc,store,operator}');
        v_koc text := create_join_way.koc; v_group text;
BEGIN
    IF a.kind = 'koc' THEN
        v_koc := commerce._actor_subject(a, create_join_way.koc, 'koc');
        IF create_join_way.kind IS DISTINCT FROM 'group' OR create_join_way.store IS NOT NULL THEN
            PERFORM commerce._no_identity('a KOC makes join ways to its own groups only',
                                          'A contact way leads to staff accounts, and stores are for staff.',
                                          'Use kind group with your groups.');
        END IF;
    END IF;
    PERFORM commerce._actor_scope(a, create_join_way.store, NULL);
    IF a.stores IS NOT NULL THEN      -- staff limited to stores lead only to their stores' staff accounts
        FOREACH v_group IN ARRAY coalesce(create_join_way.userids, '{}') LOOP
            PERFORM commerce._actor_scope(a, (SELECT s.code FROM commerce.store s
                                               WHERE s.tenant_id = a.tenant_id AND s.store_id = commerce._wecom_user_store(a.tenant_id, v_group)), NULL);
        END LOOP;
    END IF;
    FOREACH v_group IN ARRAY coalesce(create_join_way.groups, '{}') LOOP
        PERFORM commerce._api_group(a, v_group);
    END LOOP;
    RETURN commerce.create_join_way(a.tenant_id, create_join_way.code, create_join_way.kind, create_join_way.title,
                                    create_join_way.userids, create_join_way.groups, create_join_way.store, v_koc,
                                    create_join_way.task, create_join_way.campaign, create_join_way.welcome, commerce._api_by(a));
END $$;
REVOKE ALL ON FUNCTION commerce_api.create_join_way(text, text, text, text[], text[], text, text, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.create_join_way(text, text, text, text[], text[], text, text, text, text, text) IS
  'Create a join way (a live code, PR05, K16) whose state attributes every add or join made through it: kind contact (userids: WeCom staff accounts) or group (groups: 1 to 5 group codes), with the store, KOC task, campaign and welcome template it stands for. A KOC makes group ways to its own groups (attributed to itself); store staff for their stores'' groups, with their store. The WeCom adapter creates the code (outbox wecom.join_way) and reports its QR code.';

CREATE FUNCTION commerce_api.join_way_ready(code text, qr_url text, config_id text)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.join_way_ready', '{service}');
BEGIN
    PERFORM commerce.join_way_ready(a.tenant_id, join_way_ready.code, join_way_ready.qr_url, join_way_ready.config_id);
END $$;
REVOKE ALL ON FUNCTION commerce_api.join_way_ready(text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.join_way_ready(text, text, text) IS
  'The WeCom adapter reports the live code it created for a join way (its QR code URL and config_id).';

CREATE FUNCTION commerce_api.set_join_way_active(code text, active boolean)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.set_join_way_active', '{koc,store,operator}');
        w commerce_api.join_way;
BEGIN
    SELECT * INTO w FROM commerce._join_ways(a.tenant_id, set_join_way_active.code, NULL, NULL, 1);
    IF w.code IS NULL THEN
        PERFORM commerce._not_found('join way', set_join_way_active.code, a.tenant_id);
    END IF;
    IF a.kind = 'koc' AND w.koc IS DISTINCT FROM a.subject THEN
        PERFORM commerce._no_identity(format('join way "%s" is not KOC %s''s', left(w.code, 64), left(a.subject, 64)),
                                      'A KOC changes only its own join ways.', 'Name one of your join ways.');
    END IF;
    IF a.kind <> 'koc' THEN
        PERFORM commerce._actor_scope(a, w.store, NULL);
    END IF;
    PERFORM commerce.set_join_way_active(a.tenant_id, w.code, set_join_way_active.active);
END $$;
REVOKE ALL ON FUNCTION commerce_api.set_join_way_active(text, boolean) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.set_join_way_active(text, boolean) IS
  'Deactivate or reactivate a join way: a KOC its own, store staff their stores'', HQ any.';

CREATE FUNCTION commerce_api.join_ways(code text DEFAULT NULL, page_size integer DEFAULT 50)
RETURNS SETOF commerce_api.join_way LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.join_ways', '{koc,store,operator}');
BEGIN
    PERFORM commerce._require(join_ways.page_size, 'page_size');
    IF join_ways.page_size NOT BETWEEN 1 AND 500 THEN
        PERFORM commerce._invalid('page_size', format('%s join ways', join_ways.page_size), 'A page holds 1 to 500.');
    END IF;
    RETURN QUERY SELECT * FROM commerce._join_ways(a.tenant_id, join_ways.code,
                                                   CASE WHEN a.kind = 'koc' THEN commerce._api_koc_id(a) END,
                                                   CASE WHEN a.kind <> 'koc' THEN a.stores END, join_ways.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_api.join_ways(text, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.join_ways(text, integer) IS
  'Join ways, newest first, with the contacts and joins each brought (PR05, K16): a KOC sees its own, store staff their stores'', HQ all.';

CREATE FUNCTION commerce_api.community_groups(store text DEFAULT NULL, status text DEFAULT NULL, before_group bigint DEFAULT NULL,
                                              page_size integer DEFAULT 50)
RETURNS SETOF commerce_api.community_group LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.community_groups', '{koc,store,operator}');
        v_stores text[];
BEGIN
    IF a.kind <> 'koc' THEN
        IF community_groups.store IS NOT NULL THEN
            PERFORM commerce._actor_scope(a, community_groups.store, NULL);
            v_stores := ARRAY[community_groups.store];
        ELSE
            v_stores := a.stores;
        END IF;
    END IF;
    RETURN QUERY SELECT * FROM commerce.community_groups(a.tenant_id, v_stores,
                                                         CASE WHEN a.kind = 'koc' THEN commerce._api_koc_id(a) END,
                                                         community_groups.status, community_groups.before_group, community_groups.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_api.community_groups(text, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.community_groups(text, text, bigint, integer) IS
  'The group list (PR04): name, owner, store, KOC, members and customers, joins and quits in 7 days, today''s check-ins; newest first, page_size (1 to 500) before the group id before_group. A KOC sees the groups it runs, store staff their stores'', HQ all (or one store).';

CREATE FUNCTION commerce_api.start_group_checkin(group_code text, title text, days integer DEFAULT 7, points integer DEFAULT 5,
                                                 streak_days integer DEFAULT 7, streak_bonus integer DEFAULT 0,
                                                 starts_on date DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.start_group_checkin', '{koc,store,operator}');
        g commerce.community_group_row := commerce._api_group(a, start_group_checkin.group_code);
        r record;
BEGIN
    IF a.kind = 'koc' THEN
        -- a KOC's round earns no more than the tenant's own daily check-in (no rule: no points)
        SELECT coalesce(max(x.points), 0) AS points, coalesce(max(x.streak_bonus), 0) AS bonus INTO r
          FROM commerce.points_checkin_rule x WHERE x.tenant_id = a.tenant_id;
        IF start_group_checkin.points > r.points OR start_group_checkin.streak_bonus > r.bonus THEN
            PERFORM commerce._no_identity('a KOC''s check-in round earns at most the tenant''s daily check-in',
                format('%s points and a bonus of %s were asked; the daily check-in gives %s and %s.', start_group_checkin.points,
                       start_group_checkin.streak_bonus, r.points, r.bonus),
                'Ask for less, or have staff start the round.');
        END IF;
    END IF;
    RETURN commerce.start_group_checkin(a.tenant_id, g.code, start_group_checkin.title, start_group_checkin.days,
                                        start_group_checkin.points, start_group_checkin.streak_days, start_group_checkin.streak_bonus,
                                        start_group_checkin.starts_on, commerce._api_by(a),
                                        CASE WHEN a.kind = 'koc' THEN a.subject END);
END $$;
REVOKE ALL ON FUNCTION commerce_api.start_group_checkin(text, text, integer, integer, integer, integer, date) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.start_group_checkin(text, text, integer, integer, integer, integer, date) IS
  'Start a check-in round in a group (PR10, K17): the KOC who runs it (earning at most the tenant''s daily check-in points and bonus), or staff of its store, or HQ. days from starts_on (today by default), points per check-in, a bonus on every streak_days-th day in a row. One open round per group; one check-in per person and day whatever round. Returns the round.';

CREATE FUNCTION commerce_api.close_group_checkin(round bigint)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.close_group_checkin', '{koc,store,operator}');
        v_group text;
BEGIN
    PERFORM commerce._require(close_group_checkin.round, 'round');
    SELECT g.code INTO v_group FROM commerce.group_checkin_round r
      JOIN commerce.community_group g ON g.tenant_id = r.tenant_id AND g.group_id = r.group_id
     WHERE r.tenant_id = a.tenant_id AND r.round_id = close_group_checkin.round;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('check-in round', close_group_checkin.round::text, a.tenant_id);
    END IF;
    PERFORM commerce._api_group(a, v_group);
    PERFORM commerce.close_group_checkin(a.tenant_id, close_group_checkin.round);
END $$;
REVOKE ALL ON FUNCTION commerce_api.close_group_checkin(bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.close_group_checkin(bigint) IS
  'Close a check-in round early: whoever may start one in its group.';

CREATE FUNCTION commerce_api.group_check_in(group_code text, customer text DEFAULT NULL, member text DEFAULT NULL)
RETURNS commerce.group_checkin_result LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.group_check_in', '{customer,service}');
BEGIN
    IF a.kind = 'customer' THEN
        IF group_check_in.member IS NOT NULL THEN
            PERFORM commerce._no_identity('a customer checks in as itself', 'member was given.', 'Leave member out.');
        END IF;
        RETURN commerce.group_check_in(a.tenant_id, group_check_in.group_code, commerce._actor_subject(a, group_check_in.customer, 'customer'),
                                       NULL, 'mini_program');
    END IF;
    RETURN commerce.group_check_in(a.tenant_id, group_check_in.group_code, group_check_in.customer, group_check_in.member,
                                   CASE WHEN group_check_in.member IS NOT NULL THEN 'group_message' ELSE 'service' END);
END $$;
REVOKE ALL ON FUNCTION commerce_api.group_check_in(text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.group_check_in(text, text, text) IS
  'Check in to a group''s round of today (PR10, K17): a customer for itself in the mini-program (it must be in the group); the bot (a service) names the member by its id in the group when it sees a check-in message, or a service names the customer. Once per person and tenant-local day; points granted once. Returns the day, streak, points and outcome.';

CREATE FUNCTION commerce_api.checkin_board(round bigint)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.checkin_board', '{customer,koc,store,operator,service}');
        v_group bigint; v_code text;
BEGIN
    PERFORM commerce._require(checkin_board.round, 'round');
    SELECT g.group_id, g.code INTO v_group, v_code FROM commerce.group_checkin_round r
      JOIN commerce.community_group g ON g.tenant_id = r.tenant_id AND g.group_id = r.group_id
     WHERE r.tenant_id = a.tenant_id AND r.round_id = checkin_board.round;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('check-in round', checkin_board.round::text, a.tenant_id);
    END IF;
    IF a.kind = 'customer' THEN
        IF NOT EXISTS (SELECT 1 FROM commerce.group_member m JOIN commerce.customer c
                           ON c.tenant_id = m.tenant_id AND c.person_id = m.person_id AND c.code = a.subject
                        WHERE m.tenant_id = a.tenant_id AND m.group_id = v_group AND m.active) THEN
            PERFORM commerce._no_identity('a customer sees the check-ins of its own groups', format('Round %s is of another group.', checkin_board.round),
                                          'Join the group first.');
        END IF;
    ELSIF a.kind <> 'service' THEN
        PERFORM commerce._api_group(a, v_code);
    END IF;
    RETURN commerce.checkin_board(a.tenant_id, checkin_board.round);
END $$;
REVOKE ALL ON FUNCTION commerce_api.checkin_board(bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.checkin_board(bigint) IS
  'The live board of a check-in round (PR10, K17): today''s check-ins, participants, points, check-ins per day and the longest running streaks. Members of the group, its KOC, staff of its store, HQ and services.';

CREATE FUNCTION commerce_api.create_fission_campaign(code text, kind text, title text, counts text, starts_at timestamptz,
                                                     ends_at timestamptz, stages jsonb, new_only boolean DEFAULT true,
                                                     hold_hours integer DEFAULT 0, max_depth integer DEFAULT 10,
                                                     userids text[] DEFAULT NULL, groups text[] DEFAULT NULL,
                                                     store text DEFAULT NULL, koc text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.create_fission_campaign', '{store,operator}');
        v_group text;
BEGIN
    PERFORM commerce._actor_scope(a, create_fission_campaign.store, NULL);
    IF a.stores IS NOT NULL THEN
        -- staff limited to stores reward only their stores' traffic: their groups or staff accounts, no KOC of HQ's
        IF create_fission_campaign.groups IS NULL AND create_fission_campaign.userids IS NULL THEN
            PERFORM commerce._no_identity('staff limited to stores name the groups or staff accounts a campaign counts',
                                          'Neither groups nor userids was given: the campaign would count the whole tenant.',
                                          'Name your store''s groups or staff accounts.');
        END IF;
        IF create_fission_campaign.koc IS NOT NULL THEN
            PERFORM commerce._no_identity('staff limited to stores do not name a campaign''s KOC',
                                          format('KOC "%s" was given.', left(create_fission_campaign.koc, 64)), 'HQ names the KOC of a campaign.');
        END IF;
        FOREACH v_group IN ARRAY coalesce(create_fission_campaign.userids, '{}') LOOP
            PERFORM commerce._actor_scope(a, (SELECT s.code FROM commerce.store s
                                               WHERE s.tenant_id = a.tenant_id AND s.store_id = commerce._wecom_user_store(a.tenant_id, v_group)), NULL);
        END LOOP;
    END IF;
    FOREACH v_group IN ARRAY coalesce(create_fission_campaign.groups, '{}') LOOP
        PERFORM commerce._api_group(a, v_group);
    END LOOP;
    RETURN commerce.create_fission_campaign(a.tenant_id, create_fission_campaign.code, create_fission_campaign.kind,
        create_fission_campaign.title, create_fission_campaign.counts, create_fission_campaign.starts_at,
        create_fission_campaign.ends_at, create_fission_campaign.stages, create_fission_campaign.new_only,
        create_fission_campaign.hold_hours, create_fission_campaign.max_depth, create_fission_campaign.userids,
        create_fission_campaign.groups, create_fission_campaign.koc, create_fission_campaign.store, commerce._api_by(a));
END $$;
REVOKE ALL ON FUNCTION commerce_api.create_fission_campaign(text, text, text, text, timestamptz, timestamptz, jsonb, boolean, integer, integer, text[], text[], text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.create_fission_campaign(text, text, text, text, timestamptz, timestamptz, jsonb, boolean, integer, integer, text[], text[], text, text) IS
  'Create a fission campaign (PR11, PR13): kind (invite_reward, group_forming, distribution), what counts (contact, group, register), the window, stages [{"threshold", "reward": {"points"|"coupon"|"blind_box"}}], new friends only, the hours a reward waits (an invitee leaving meanwhile takes it back), the depth followed, and optionally the staff accounts or groups that count, its store and KOC. Store staff for their store and its groups; HQ any. Returns the campaign id.';

CREATE FUNCTION commerce_api.fission_progress(campaign text, customer text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.fission_progress', '{customer,service}');
        v_code text := commerce._actor_subject(a, fission_progress.customer, 'customer'); v_person bigint;
BEGIN
    PERFORM commerce._require(v_code, 'customer');
    SELECT person_id INTO v_person FROM commerce.customer WHERE tenant_id = a.tenant_id AND code = v_code;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', v_code, a.tenant_id);
    END IF;
    RETURN commerce.fission_progress(a.tenant_id, fission_progress.campaign, v_person);
END $$;
REVOKE ALL ON FUNCTION commerce_api.fission_progress(text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.fission_progress(text, text) IS
  'A customer''s fission poster and progress (PR11, PR12): its signed code (put it on the poster, in the link, or as the state of a live code), depth, valid invites now and ever, and each stage with its reward''s status and the invites still to go. The first call joins the campaign. A customer for itself; a service names it.';

CREATE FUNCTION commerce_api.fission_accept(code text, customer text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.fission_accept', '{customer,service}');
BEGIN
    RETURN commerce.fission_accept(a.tenant_id, fission_accept.code, commerce._actor_subject(a, fission_accept.customer, 'customer'));
END $$;
REVOKE ALL ON FUNCTION commerce_api.fission_accept(text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.fission_accept(text, text) IS
  'A customer registered through a fission link (campaigns that count registrations, PR11): counted once per campaign and invitee. Returns invited, or why it does not count (self, closed, not_new, already_invited, already_participant, too_deep, not_counted).';

CREATE FUNCTION commerce_api.fission_stats(campaign text)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.fission_stats', '{koc,store,operator}');
        v_koc text; v_store text;
BEGIN
    PERFORM commerce._require(fission_stats.campaign, 'campaign');
    SELECT k.code, s.code INTO v_koc, v_store FROM commerce.fission_campaign c
      LEFT JOIN commerce.koc k ON k.tenant_id = c.tenant_id AND k.koc_id = c.koc_id
      LEFT JOIN commerce.store s ON s.tenant_id = c.tenant_id AND s.store_id = c.store_id
     WHERE c.tenant_id = a.tenant_id AND c.code = fission_stats.campaign;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('fission campaign', fission_stats.campaign, a.tenant_id);
    END IF;
    IF a.kind = 'koc' AND v_koc IS DISTINCT FROM a.subject THEN
        PERFORM commerce._no_identity(format('campaign "%s" is not KOC %s''s', left(fission_stats.campaign, 64), left(a.subject, 64)),
                                      'A KOC sees the campaigns run for it.', 'Name one of your campaigns.');
    END IF;
    IF a.kind <> 'koc' THEN
        PERFORM commerce._actor_scope(a, v_store, NULL);
    END IF;
    RETURN commerce.fission_stats(a.tenant_id, fission_stats.campaign);
END $$;
REVOKE ALL ON FUNCTION commerce_api.fission_stats(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.fission_stats(text) IS
  'A fission campaign''s tracking (PR12): participants, invitees, the tree per level with conversion, per channel, the fission coefficient, and rewards per stage. The campaign''s KOC, staff of its store, HQ.';

CREATE FUNCTION commerce_api.set_community_policy(broadcasts_per_day integer DEFAULT 1, broadcasts_per_month integer DEFAULT 30,
                                                  confirm_hours integer DEFAULT 24, dead_days integer DEFAULT 7,
                                                  quit_spike integer DEFAULT 5)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.set_community_policy', '{operator}');
BEGIN
    PERFORM commerce._actor_scope(a, NULL, NULL);
    PERFORM commerce.set_community_policy(a.tenant_id, set_community_policy.broadcasts_per_day, set_community_policy.broadcasts_per_month,
                                          set_community_policy.confirm_hours, set_community_policy.dead_days, set_community_policy.quit_spike);
END $$;
REVOKE ALL ON FUNCTION commerce_api.set_community_policy(integer, integer, integer, integer, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.set_community_policy(integer, integer, integer, integer, integer) IS
  'HQ sets the community rules (PR06, PR07): broadcasts a group may receive per day and month, the hours owners have to confirm a broadcast task, the silent days that make a group dead, the quits in a day that make a spike.';

CREATE FUNCTION commerce_api.schedule_broadcast(code text, title text, content jsonb, groups text[], scheduled_at timestamptz DEFAULT NULL,
                                                partial boolean DEFAULT false, store text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.schedule_broadcast', '{store,operator}');
        v_store text := schedule_broadcast.store;
BEGIN
    IF a.stores IS NOT NULL THEN      -- staff limited to stores broadcast for one of them, to its groups only
        v_store := coalesce(v_store, CASE WHEN cardinality(a.stores) = 1 THEN a.stores[1] END);
        PERFORM commerce._actor_scope(a, v_store, NULL);
    END IF;
    RETURN commerce.schedule_broadcast(a.tenant_id, schedule_broadcast.code, schedule_broadcast.title, schedule_broadcast.content,
                                       schedule_broadcast.groups, schedule_broadcast.scheduled_at, schedule_broadcast.partial, v_store,
                                       commerce._api_by(a));
END $$;
REVOKE ALL ON FUNCTION commerce_api.schedule_broadcast(text, text, jsonb, text[], timestamptz, boolean, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.schedule_broadcast(text, text, jsonb, text[], timestamptz, boolean, text) IS
  'Schedule a broadcast (PR06) of text, an image, a link or a mini-program card to up to 10000 groups, now or later. The quota of each group is checked now: over it is PT409 naming the groups, or with partial => true the others are admitted. Store staff for their store''s groups; HQ any. Each owner gets one task to confirm (outbox wecom.broadcast); results come back through broadcast_report.';

CREATE FUNCTION commerce_api.cancel_broadcast(code text)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.cancel_broadcast', '{store,operator}');
BEGIN
    PERFORM commerce._actor_scope(a, (SELECT s.code FROM commerce.broadcast b JOIN commerce.store s ON s.tenant_id = b.tenant_id AND s.store_id = b.store_id
                                       WHERE b.tenant_id = a.tenant_id AND b.code = cancel_broadcast.code), NULL);
    PERFORM commerce.cancel_broadcast(a.tenant_id, cancel_broadcast.code);
END $$;
REVOKE ALL ON FUNCTION commerce_api.cancel_broadcast(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.cancel_broadcast(text) IS 'Cancel a broadcast that has not gone out (store staff their store''s, HQ any).';

CREATE FUNCTION commerce_api.broadcast_report(code text, owner text, task_id text, confirmed boolean, results jsonb DEFAULT '[]')
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.broadcast_report', '{service}');
BEGIN
    RETURN commerce.broadcast_report(a.tenant_id, broadcast_report.code, broadcast_report.owner, broadcast_report.task_id,
                                     broadcast_report.confirmed, broadcast_report.results);
END $$;
REVOKE ALL ON FUNCTION commerce_api.broadcast_report(text, text, text, boolean, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.broadcast_report(text, text, text, boolean, jsonb) IS
  'The WeCom adapter reports an owner''s broadcast task (PR06): its msgid, whether the owner confirmed it, and per group delivered, failed or pending ([{"chat_id", "status"}]). Forward changes only: a repeated report changes nothing.';

CREATE FUNCTION commerce_api.broadcast_stats(code text)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.broadcast_stats', '{store,operator}');
BEGIN
    PERFORM commerce._actor_scope(a, (SELECT s.code FROM commerce.broadcast b JOIN commerce.store s ON s.tenant_id = b.tenant_id AND s.store_id = b.store_id
                                       WHERE b.tenant_id = a.tenant_id AND b.code = broadcast_stats.code), NULL);
    RETURN commerce.broadcast_stats(a.tenant_id, broadcast_stats.code);
END $$;
REVOKE ALL ON FUNCTION commerce_api.broadcast_stats(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.broadcast_stats(text) IS
  'A broadcast''s figures (PR06): targets admitted and refused, confirmed, delivered, failed, unconfirmed (apart), and the delivery rate = delivered / admitted-and-confirmed in bp.';

CREATE FUNCTION commerce_api.report_group_activity(day date, rows jsonb)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.report_group_activity', '{service}');
BEGIN
    RETURN commerce.report_group_activity(a.tenant_id, report_group_activity.day, report_group_activity.rows);
END $$;
REVOKE ALL ON FUNCTION commerce_api.report_group_activity(date, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.report_group_activity(date, jsonb) IS
  'The adapter reports a finished day''s speakers and messages per group (PR07), from WeCom''s message archive: [{"chat_id", "platform", "messages", "speakers"}]. Returns {applied, unknown}.';

CREATE FUNCTION commerce_api.group_activity(group_code text, from_day date, to_day date)
RETURNS TABLE (day date, members integer, joins integer, quits integer, speakers integer, messages integer, lurker_rate_bp integer)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.group_activity', '{koc,store,operator}');
        g commerce.community_group_row := commerce._api_group(a, group_activity.group_code);
BEGIN
    RETURN QUERY SELECT * FROM commerce.group_activity(a.tenant_id, g.code, group_activity.from_day, group_activity.to_day);
END $$;
REVOKE ALL ON FUNCTION commerce_api.group_activity(text, date, date) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.group_activity(text, date, date) IS
  'A group''s activity per day (PR07): members, joins, quits, speakers, messages and the lurker rate in bp. The KOC who runs it, its store''s staff, HQ.';

CREATE FUNCTION commerce_api.schedule_group_reminder(group_code text, kind text, text text, first_at timestamptz,
                                                     every_days integer DEFAULT NULL, times integer DEFAULT 1)
RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.schedule_group_reminder', '{koc,store,operator}');
        g commerce.community_group_row := commerce._api_group(a, schedule_group_reminder.group_code);
BEGIN
    RETURN commerce.schedule_group_reminder(a.tenant_id, g.code, schedule_group_reminder.kind, schedule_group_reminder.text,
                                            schedule_group_reminder.first_at, schedule_group_reminder.every_days,
                                            schedule_group_reminder.times, commerce._api_by(a));
END $$;
REVOKE ALL ON FUNCTION commerce_api.schedule_group_reminder(text, text, text, timestamptz, integer, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.schedule_group_reminder(text, text, text, timestamptz, integer, integer) IS
  'Schedule the bot''s posts in a group (PR09): a check-in reminder, an activity preview or a custom text, first_at and every every_days after it, times in all. The KOC who runs the group, its store''s staff, HQ. Returns the reminder.';

CREATE FUNCTION commerce_api.cancel_group_reminder(reminder bigint)
RETURNS integer LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.cancel_group_reminder', '{koc,store,operator}');
        v_group text;
BEGIN
    PERFORM commerce._require(cancel_group_reminder.reminder, 'reminder');
    SELECT g.code INTO v_group FROM commerce.group_reminder r JOIN commerce.community_group g ON g.tenant_id = r.tenant_id AND g.group_id = r.group_id
     WHERE r.tenant_id = a.tenant_id AND r.reminder_id = cancel_group_reminder.reminder;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('reminder', cancel_group_reminder.reminder::text, a.tenant_id);
    END IF;
    PERFORM commerce._api_group(a, v_group);
    RETURN commerce.cancel_group_reminder(a.tenant_id, cancel_group_reminder.reminder);
END $$;
REVOKE ALL ON FUNCTION commerce_api.cancel_group_reminder(bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.cancel_group_reminder(bigint) IS
  'Cancel a reminder''s posts not yet sent: whoever may schedule one in its group. Returns how many posts it stopped.';

CREATE FUNCTION commerce_api.upsert_reply_rule(code text, match text, pattern text, reply jsonb, priority integer DEFAULT 0,
                                               hours_from time DEFAULT NULL, hours_to time DEFAULT NULL, groups text[] DEFAULT NULL,
                                               store text DEFAULT NULL, active boolean DEFAULT true)
RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.upsert_reply_rule', '{store,operator}');
        v_store text := upsert_reply_rule.store; v_old text;
BEGIN
    IF a.stores IS NOT NULL THEN      -- staff limited to stores: rules of one of their stores only (and never another's rule)
        v_store := coalesce(v_store, CASE WHEN cardinality(a.stores) = 1 THEN a.stores[1] END);
        PERFORM commerce._actor_scope(a, v_store, NULL);
        SELECT coalesce(s.code, '') INTO v_old FROM commerce.reply_rule r LEFT JOIN commerce.store s ON s.tenant_id = r.tenant_id AND s.store_id = r.store_id
         WHERE r.tenant_id = a.tenant_id AND r.code = upsert_reply_rule.code;
        IF FOUND THEN
            PERFORM commerce._actor_scope(a, nullif(v_old, ''), NULL);
        END IF;
    END IF;
    RETURN commerce.upsert_reply_rule(a.tenant_id, upsert_reply_rule.code, upsert_reply_rule.match, upsert_reply_rule.pattern,
                                      upsert_reply_rule.reply, upsert_reply_rule.priority, upsert_reply_rule.hours_from,
                                      upsert_reply_rule.hours_to, upsert_reply_rule.groups, v_store, upsert_reply_rule.active);
END $$;
REVOKE ALL ON FUNCTION commerce_api.upsert_reply_rule(text, text, text, jsonb, integer, time, time, text[], text, boolean) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.upsert_reply_rule(text, text, text, jsonb, integer, time, time, text[], text, boolean) IS
  'Add or change a keyword auto-reply rule for group messages (PR08): exact, contains or regex (ignoring case), the reply content, priority, active hours and scope (groups, a store''s groups, all). Store staff for their store''s groups; HQ any.';

CREATE FUNCTION commerce_api.auto_reply(platform text, chat_id text, message_id text, member text, text text, at timestamptz DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.auto_reply', '{service}');
BEGIN
    RETURN commerce.auto_reply(a.tenant_id, auto_reply.platform, auto_reply.chat_id, auto_reply.message_id, auto_reply.member,
                               auto_reply.text, auto_reply.at);
END $$;
REVOKE ALL ON FUNCTION commerce_api.auto_reply(text, text, text, text, text, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.auto_reply(text, text, text, text, text, timestamptz) IS
  'The bot delivers a group message to answer (PR08), once per message id: a keyword rule answers at once (outbox wecom.group_message), else the question goes to the AI (outbox ai.request). Returns {log, outcome, rule, message, replayed}.';

CREATE FUNCTION commerce_api.ai_answer(log bigint, answer jsonb)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.ai_answer', '{service}');
BEGIN
    RETURN commerce.ai_answer(a.tenant_id, ai_answer.log, ai_answer.answer);
END $$;
REVOKE ALL ON FUNCTION commerce_api.ai_answer(bigint, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.ai_answer(bigint, jsonb) IS
  'The AI adapter answers an auto-reply request (PR08): the reply content, or NULL for no answer (left to a person). Once per request.';

CREATE FUNCTION commerce_api.reply_stats(from_at timestamptz, to_at timestamptz, store text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.reply_stats', '{store,operator}');
        v_store text := commerce._api_store_scope(a, reply_stats.store); v_id bigint;
BEGIN
    IF v_store IS NOT NULL THEN
        SELECT store_id INTO v_id FROM commerce.store WHERE tenant_id = a.tenant_id AND code = v_store;
        IF NOT FOUND THEN
            PERFORM commerce._not_found('store', v_store, a.tenant_id);
        END IF;
    END IF;
    RETURN commerce.reply_stats(a.tenant_id, reply_stats.from_at, reply_stats.to_at, v_id);
END $$;
REVOKE ALL ON FUNCTION commerce_api.reply_stats(timestamptz, timestamptz, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.reply_stats(timestamptz, timestamptz, text) IS
  'The auto-replies of a period (PR08): messages, answered by rules and by the AI, left to a person, waiting, the resolution rate in bp and hits per rule; for one store''s groups or the tenant''s. Store staff see their stores only.';

-- The quick-reply library (PR03).

CREATE FUNCTION commerce_api.upsert_quick_reply(code text, kind text, title text, body text, link text DEFAULT NULL,
                                                coupon_batch text DEFAULT NULL, card jsonb DEFAULT NULL, store text DEFAULT NULL,
                                                tags text[] DEFAULT '{}', sort integer DEFAULT 0, active boolean DEFAULT true)
RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.upsert_quick_reply', '{store,operator}');
BEGIN
    PERFORM commerce._actor_scope(a, upsert_quick_reply.store, NULL);
    IF a.stores IS NOT NULL AND EXISTS (SELECT 1 FROM commerce.quick_reply r LEFT JOIN commerce.store s ON s.tenant_id = r.tenant_id AND s.store_id = r.store_id
                                         WHERE r.tenant_id = a.tenant_id AND r.code = upsert_quick_reply.code
                                           AND (s.code IS NULL OR NOT s.code = ANY (a.stores))) THEN
        PERFORM commerce._not_found('quick reply', upsert_quick_reply.code, a.tenant_id);     -- another store's or HQ's: not theirs
    END IF;
    -- store staff hand out only coupons anyone may claim; HQ's issue-only batches stay HQ's
    IF a.stores IS NOT NULL AND upsert_quick_reply.coupon_batch IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM commerce.coupon_batch b WHERE b.tenant_id = a.tenant_id AND b.code = upsert_quick_reply.coupon_batch
                          AND b.claimable) THEN
        PERFORM commerce._no_identity(format('coupon batch "%s" is not claimable', left(upsert_quick_reply.coupon_batch, 64)),
            'Staff limited to stores attach only claimable batches to quick replies.',
            'Ask HQ to make the batch claimable or to attach it to an every-store reply.');
    END IF;
    RETURN commerce.upsert_quick_reply(a.tenant_id, upsert_quick_reply.code, upsert_quick_reply.kind, upsert_quick_reply.title,
                                       upsert_quick_reply.body, upsert_quick_reply.link, upsert_quick_reply.coupon_batch,
                                       upsert_quick_reply.card, upsert_quick_reply.store, upsert_quick_reply.tags,
                                       upsert_quick_reply.sort, upsert_quick_reply.active);
END $$;
REVOKE ALL ON FUNCTION commerce_api.upsert_quick_reply(text, text, text, text, text, text, jsonb, text, text[], integer, boolean) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.upsert_quick_reply(text, text, text, text, text, text, jsonb, text, text[], integer, boolean) IS
  'Add or change a quick reply (PR03): a script, a coupon (text and the batch it issues from), an activity link or a mini-program card, with tags and an order. HQ for every store or one; store staff only their own store''s (another''s code is PT404) and only with a claimable coupon batch (42501 for an issue-only one).';

CREATE FUNCTION commerce_api.quick_replies(kind text DEFAULT NULL, search text DEFAULT NULL, store text DEFAULT NULL,
                                           page_size integer DEFAULT 100)
RETURNS SETOF commerce_api.quick_reply_item LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.quick_replies', '{store,operator}');
BEGIN
    RETURN QUERY SELECT * FROM commerce.quick_replies(a.tenant_id, commerce._service_stores(a, quick_replies.store), quick_replies.kind,
                                                      quick_replies.search, quick_replies.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_api.quick_replies(text, text, text, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.quick_replies(text, text, text, integer) IS
  'The quick-reply library (PR03) for the WeCom sidebar and the inbox: every store''s replies and the caller''s stores'' own, of a kind or all, matching a search, by order, with their uses in 30 days.';

CREATE FUNCTION commerce_api.use_quick_reply(code text, request_id text, customer text DEFAULT NULL, wecom_external text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.use_quick_reply', '{store,operator}');
        v_person bigint;
BEGIN
    PERFORM commerce._request_key(use_quick_reply.request_id, 'request_id');
    IF use_quick_reply.customer IS NOT NULL OR use_quick_reply.wecom_external IS NOT NULL THEN
        v_person := commerce.find_person(a.tenant_id, use_quick_reply.customer, NULL, use_quick_reply.wecom_external);
        -- staff limited to stores send coupons only to their stores' WeCom contacts
        IF a.stores IS NOT NULL AND EXISTS (SELECT 1 FROM commerce.quick_reply r WHERE r.tenant_id = a.tenant_id
                                               AND r.code = use_quick_reply.code AND r.kind = 'coupon')
           AND NOT EXISTS (SELECT 1 FROM commerce.wecom_contact wc
                             JOIN commerce.wecom_user wu ON wu.tenant_id = wc.tenant_id AND wu.userid = wc.userid
                             JOIN commerce.wecom_department d ON d.tenant_id = wu.tenant_id AND d.department_id = wu.main_department
                             JOIN commerce.store s ON s.tenant_id = d.tenant_id AND s.store_id = d.store_id
                            WHERE wc.tenant_id = a.tenant_id AND wc.person_id = v_person AND wc.deleted_at IS NULL
                              AND s.code = ANY (a.stores)) THEN
            PERFORM commerce._no_identity('the customer is not a contact of your stores',
                'Staff limited to stores send coupons to their stores'' WeCom contacts only.',
                'Send it from the inbox session the customer opened, or ask HQ.');
        END IF;
    END IF;
    RETURN commerce.use_quick_reply(a.tenant_id, a.stores, use_quick_reply.code, v_person,
                                    'sidebar:' || a.staff_id || ':' || use_quick_reply.request_id, commerce._api_by(a));
END $$;
REVOKE ALL ON FUNCTION commerce_api.use_quick_reply(text, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.use_quick_reply(text, text, text, text) IS
  'The WeCom sidebar sends a quick reply in one click (PR03): the content to pass to WeCom''s sendChatMessage and, for a coupon reply, the coupon issued to the customer (named by customer code or WeCom external userid; for store staff a WeCom contact of their stores, 42501 otherwise; at most 100 a day per staff member), once per request_id of the caller (a repeat returns the first content and coupon).';

-- KOC community tasks and the dashboards (PR14-PR17).

-- The KOC a board or a progress is for: a KOC itself (naming another is 42501), HQ any.
CREATE FUNCTION commerce._api_koc_code(a commerce.actor, p_koc text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF a.kind = 'koc' THEN
        RETURN commerce._actor_subject(a, p_koc, 'koc');
    END IF;
    PERFORM commerce._require(p_koc, 'koc');
    RETURN p_koc;
END $$;
COMMENT ON FUNCTION commerce._api_koc_code(commerce.actor, text) IS
  'The KOC a community board or task progress is read for: a KOC caller itself (another code is 42501), HQ the one it names.';

CREATE FUNCTION commerce_api.set_community_task(task text, kind text, metric text, target bigint, groups text[] DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.set_community_task', '{operator}');
BEGIN
    RETURN commerce.set_community_task(a.tenant_id, set_community_task.task, set_community_task.kind, set_community_task.metric,
                                       set_community_task.target, set_community_task.groups);
END $$;
REVOKE ALL ON FUNCTION commerce_api.set_community_task(text, text, text, bigint, text[]) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.set_community_task(text, text, text, bigint, text[]) IS
  'HQ gives a KOC task a community scope (PR14): start topics, organise an event or bring members, measured in messages, speakers, joins or check-ins against a target, in the KOCs'' groups (or some); the task goes out to the KOCs it targets (outbox koc.task).';

CREATE FUNCTION commerce_api.community_task_progress(task text, koc text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.community_task_progress', '{koc,operator}');
BEGIN
    RETURN commerce.community_task_progress(a.tenant_id, community_task_progress.task,
                                            commerce._api_koc_code(a, community_task_progress.koc));
END $$;
REVOKE ALL ON FUNCTION commerce_api.community_task_progress(text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.community_task_progress(text, text) IS
  'A KOC''s progress on a community task (PR14), per group, from the daily snapshots and check-ins; a KOC reads its own, HQ any.';

CREATE FUNCTION commerce_api.koc_community_board(from_day date, to_day date, koc text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.koc_community_board', '{koc,operator}');
BEGIN
    RETURN commerce.koc_community_board(a.tenant_id, commerce._api_koc_code(a, koc_community_board.koc), koc_community_board.from_day,
                                        koc_community_board.to_day);
END $$;
REVOKE ALL ON FUNCTION commerce_api.koc_community_board(date, date, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.koc_community_board(date, date, text) IS
  'The KOC''s community earnings board (PR15): the traffic its groups brought (members, joins, quits), the orders and GMV of their members, and its redemptions and commission on them from the ledger; a KOC reads its own, HQ any.';

CREATE FUNCTION commerce_api.private_domain_dashboard(from_day date, to_day date, store text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.private_domain_dashboard', '{store,operator}');
BEGIN
    RETURN commerce.private_domain_dashboard(a.tenant_id, private_domain_dashboard.from_day, private_domain_dashboard.to_day,
                                             commerce._service_stores(a, private_domain_dashboard.store));
END $$;
REVOKE ALL ON FUNCTION commerce_api.private_domain_dashboard(date, date, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.private_domain_dashboard(date, date, text) IS
  'The private-domain dashboard (PR16): groups, members, joins and quits, active members, check-ins, buyers, orders and GMV from members, conversion in bp; store staff their stores'', HQ all or one store.';

CREATE FUNCTION commerce_api.community_funnel(grain text, from_day date, to_day date, store text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.community_funnel', '{store,operator}');
BEGIN
    RETURN (SELECT coalesce(jsonb_agg(to_jsonb(f) ORDER BY f.cohort), '[]'::jsonb)
              FROM commerce.community_funnel(a.tenant_id, community_funnel.grain, community_funnel.from_day, community_funnel.to_day,
                                             commerce._service_stores(a, community_funnel.store)) f);
END $$;
REVOKE ALL ON FUNCTION commerce_api.community_funnel(text, date, date, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.community_funnel(text, date, date, text) IS
  'The lifecycle funnel (PR17): per cohort (day, week or month of the first join) the persons who joined a group, made a first order after it, and a repeat order, with the rates in bp and the median days to the first order.';
