-- sql/src/community/ingest.sql: one idempotent entry for every community
-- callback (PR01-PR05, K16): WeCom's organisation (change_contact), external
-- contact (change_external_contact) and customer group (change_external_chat)
-- callbacks, and the group events of other platforms (group_event), each
-- applied once per composite event key; joins and adds queue their welcome in
-- the same transaction.

-- A callback's time: epoch seconds (WeCom's CreateTime) or an ISO timestamp.
CREATE FUNCTION commerce._community_time(p_value jsonb) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF jsonb_typeof(p_value) = 'number' AND (p_value::text)::numeric BETWEEN 946684800 AND 4102444800 THEN
        RETURN to_timestamp((p_value::text)::numeric);
    END IF;
    IF jsonb_typeof(p_value) = 'string' AND p_value #>> '{}' ~ '^\d{4}-\d\d-\d\d[T ]\d\d:\d\d' THEN
        BEGIN
            RETURN (p_value #>> '{}')::timestamptz;
        EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format OR invalid_time_zone_displacement_value THEN
            RETURN NULL;
        END;
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION commerce._community_time(jsonb) IS
  'The time of a community callback: epoch seconds (WeCom''s CreateTime, 2000 to 2100) or an ISO 8601 timestamp; NULL for anything else.';

-- The composite key of a callback: its type, change and time, and a digest of the fields it carries.
CREATE FUNCTION commerce._community_event_key(e jsonb, p_at timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT left(e ->> 'type', 32) || ':' || left(e ->> 'change', 32) || ':' || extract(epoch FROM p_at)::bigint || ':'
        || md5((SELECT coalesce(jsonb_object_agg(k, CASE WHEN jsonb_typeof(e -> k) IN ('array', 'object') THEN e -> k
                                                        ELSE to_jsonb(e ->> k) END), '{}'::jsonb)
                  FROM unnest(ARRAY['id', 'name', 'parent_id', 'user_id', 'new_user_id', 'department', 'main_department',
                                    'external_user_id', 'state', 'welcome_code', 'unionid', 'tags', 'chat_id', 'update_detail',
                                    'owner', 'join_scene', 'quit_scene', 'cur_mem_ver', 'platform', 'event_id', 'members']) k
                 WHERE e ? k AND jsonb_typeof(e -> k) <> 'null'
                   -- the members of a create are read from the group by the adapter, not carried by the callback
                   AND NOT (k = 'members' AND e ->> 'change' = 'create'))::text);
$$;
COMMENT ON FUNCTION commerce._community_event_key(jsonb, timestamptz) IS
  'The composite key a callback is applied once by: <type>:<change>:<epoch>:<md5 of the fields it carries> (every field the callbacks define, numbers and strings alike as text; the members of a group''s create, which the adapter reads from WeCom, left out). A retried callback has the same key whatever the adapter adds to it or however it writes the time; two callbacks that differ in any field have two.';

-- A text field of a callback: absent or a string of 1 to p_max characters.
CREATE FUNCTION commerce._community_text(e jsonb, p_field text, p_max integer, p_required boolean) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF e -> p_field IS NULL OR jsonb_typeof(e -> p_field) = 'null' THEN
        IF p_required THEN
            PERFORM commerce._invalid('p_event', format('%s %s without %s', e ->> 'type', e ->> 'change', p_field),
                                      format('A %s %s callback carries %s.', e ->> 'type', e ->> 'change', p_field));
        END IF;
        RETURN NULL;
    END IF;
    IF jsonb_typeof(e -> p_field) NOT IN ('string', 'number') OR length(e ->> p_field) NOT BETWEEN 1 AND p_max THEN
        PERFORM commerce._invalid('p_event', format('%s is %s', p_field, left((e -> p_field)::text, 80)),
                                  format('%s is a string of 1 to %s characters.', p_field, p_max));
    END IF;
    RETURN e ->> p_field;
END $$;
COMMENT ON FUNCTION commerce._community_text(jsonb, text, integer, boolean) IS
  'A text field of a callback: NULL when absent (22023 when required), else a string (or number) of 1 to p_max characters, or 22023 naming the field.';

-- The staff account of a userid, added (inactive until the organisation sync names it) when a callback names it first.
CREATE FUNCTION commerce._wecom_user(p_tenant bigint, p_userid text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO commerce.wecom_user (tenant_id, userid, name, staff_id, active, updated_at)
    SELECT p_tenant, p_userid, p_userid,
           (SELECT s.staff_id FROM commerce.staff s WHERE s.tenant_id = p_tenant AND s.code = p_userid
               AND NOT EXISTS (SELECT 1 FROM commerce.wecom_user u WHERE u.tenant_id = p_tenant AND u.staff_id = s.staff_id)),
           false, '-infinity'
    ON CONFLICT (tenant_id, userid) DO NOTHING;
    RETURN p_userid;
END $$;
COMMENT ON FUNCTION commerce._wecom_user(bigint, text) IS
  'Make sure a WeCom userid a callback names has its wecom_user row (a contact or group callback may arrive before the organisation sync): named by its userid, inactive and older than any organisation callback (so the sync''s create_user applies whenever it arrives), linked to the staff member of that code. Never locks an existing row.';

-- The store of a staff account: its main department's.
CREATE FUNCTION commerce._wecom_user_store(p_tenant bigint, p_userid text) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT d.store_id FROM commerce.wecom_user u
      JOIN commerce.wecom_department d ON d.tenant_id = u.tenant_id AND d.department_id = u.main_department
     WHERE u.tenant_id = p_tenant AND u.userid = p_userid AND d.deleted_at IS NULL;
$$;
COMMENT ON FUNCTION commerce._wecom_user_store(bigint, text) IS 'The store of a WeCom staff account: the store its main department is bound to (NULL: none).';

-- The person of a WeCom external contact (and its UnionID when WeCom gives one), through the identity graph.
CREATE FUNCTION commerce._wecom_person(p_tenant bigint, p_external text, p_unionid text) RETURNS bigint
LANGUAGE sql AS $$
    SELECT (commerce.observe_identities(p_tenant, NULL,
                jsonb_build_array(jsonb_build_object('type', 'wecom_external', 'value', p_external, 'verified', true))
                || CASE WHEN p_unionid IS NULL THEN '[]'::jsonb
                        ELSE jsonb_build_array(jsonb_build_object('type', 'wechat_unionid', 'value', p_unionid, 'verified', true)) END,
                'wecom')).person_id;
$$;
COMMENT ON FUNCTION commerce._wecom_person(bigint, text, text) IS
  'The person a WeCom external userid (and UnionID) resolves to through the identity graph (observe_identities, source wecom): the UnionID joins the contact to the person''s mini-program and shop accounts.';

-- Fill a welcome template for one member.
CREATE FUNCTION commerce._welcome_text(p_body text, p_nickname text, p_link text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT replace(replace(p_body, '{nickname}', coalesce(p_nickname, '')), '{link}', coalesce(p_link, ''));
$$;
COMMENT ON FUNCTION commerce._welcome_text(text, text, text) IS 'A welcome template''s text with {nickname} and {link} filled in.';

-- Queue one welcome (the first template of p_codes that is active), deduplicated by p_key; NULL when none applies.
CREATE FUNCTION commerce._queue_welcome(p_tenant bigint, p_topic text, p_codes text[], p_key text, p_nickname text,
                                        p_target jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE w commerce.welcome_template%ROWTYPE;
BEGIN
    SELECT t.* INTO w FROM commerce.welcome_template t
      JOIN unnest(p_codes) WITH ORDINALITY c(code, n) ON c.code = t.code
     WHERE t.tenant_id = p_tenant AND t.active
     ORDER BY c.n LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN commerce.enqueue(p_tenant, p_topic,
        p_target || jsonb_build_object('template', w.code, 'text', commerce._welcome_text(w.body, p_nickname, w.link),
                                       'link', w.link, 'attachment', w.attachment),
        p_key);
END $$;
COMMENT ON FUNCTION commerce._queue_welcome(bigint, text, text[], text, text, jsonb) IS
  'Queue the welcome of one add or join (PR05) on its fast topic, in the caller''s transaction: the first active template of p_codes (the join way''s, the group''s, default), filled in for the member, once per p_key (the contact''s add or the member''s join number). NULL when no template applies.';

-- Apply an organisation callback (departments and staff accounts).
CREATE FUNCTION commerce._ingest_org(p_tenant bigint, e jsonb, p_at timestamptz) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v_change text := e ->> 'change'; v_id bigint; v_user text; v_deps bigint[]; v_main bigint; v_name text; v_new text;
BEGIN
    IF v_change IN ('create_party', 'update_party', 'delete_party') THEN
        IF jsonb_typeof(e -> 'id') IS DISTINCT FROM 'number' OR (e ->> 'id')::numeric NOT BETWEEN 1 AND 9007199254740991
           OR (e ->> 'id')::numeric <> trunc((e ->> 'id')::numeric) THEN
            PERFORM commerce._invalid('p_event', format('department id %s', left(coalesce((e -> 'id')::text, 'missing'), 40)),
                                      'A department callback carries its WeCom id, a positive integer.');
        END IF;
        v_id := (e ->> 'id')::bigint;
        IF v_change = 'delete_party' THEN
            UPDATE commerce.wecom_department SET deleted_at = p_at, updated_at = p_at
             WHERE tenant_id = p_tenant AND department_id = v_id AND deleted_at IS NULL AND updated_at <= p_at;
            RETURN jsonb_build_object('department', v_id, 'deleted', FOUND);
        END IF;
        IF e ? 'parent_id' AND (jsonb_typeof(e -> 'parent_id') <> 'number' OR (e ->> 'parent_id')::numeric < 0
                                OR (e ->> 'parent_id')::numeric <> trunc((e ->> 'parent_id')::numeric)) THEN
            PERFORM commerce._invalid('p_event', format('parent_id %s', left((e -> 'parent_id')::text, 40)),
                                      'parent_id is the WeCom id of the parent department.');
        END IF;
        v_name := commerce._community_text(e, 'name', 200, v_change = 'create_party');
        INSERT INTO commerce.wecom_department AS d (tenant_id, department_id, name, parent_id, updated_at)
        VALUES (p_tenant, v_id, coalesce(v_name, v_id::text), (e ->> 'parent_id')::bigint, p_at)
        ON CONFLICT (tenant_id, department_id) DO UPDATE
           SET name = coalesce(v_name, d.name), parent_id = coalesce(EXCLUDED.parent_id, d.parent_id),
               deleted_at = NULL, updated_at = p_at
         WHERE d.updated_at <= p_at;
        RETURN jsonb_build_object('department', v_id, 'applied', FOUND);
    END IF;
    -- create_user, update_user, delete_user
    v_user := commerce._community_text(e, 'user_id', 64, true);
    IF v_change = 'delete_user' THEN
        PERFORM commerce._wecom_user(p_tenant, v_user);
        UPDATE commerce.wecom_user SET active = false, updated_at = p_at
         WHERE tenant_id = p_tenant AND userid = v_user AND updated_at <= p_at;
        RETURN jsonb_build_object('user', v_user, 'active', false);
    END IF;
    IF e ? 'department' THEN
        IF jsonb_typeof(e -> 'department') <> 'array' OR jsonb_array_length(e -> 'department') > 100
           OR EXISTS (SELECT 1 FROM jsonb_array_elements(e -> 'department') x
                       WHERE jsonb_typeof(x) <> 'number' OR x::text !~ '^[1-9][0-9]{0,15}$') THEN
            PERFORM commerce._invalid('p_event', format('department %s', left((e -> 'department')::text, 80)),
                                      'department lists the WeCom ids of the user''s departments (at most 100).');
        END IF;
        SELECT array_agg(x::text::bigint ORDER BY n) INTO v_deps FROM jsonb_array_elements(e -> 'department') WITH ORDINALITY d(x, n);
    END IF;
    IF e ? 'main_department' THEN
        IF jsonb_typeof(e -> 'main_department') <> 'number' OR (e ->> 'main_department') !~ '^[1-9][0-9]{0,15}$' THEN
            PERFORM commerce._invalid('p_event', format('main_department %s', left((e -> 'main_department')::text, 40)),
                                      'main_department is the WeCom id of the user''s main department.');
        END IF;
        v_main := (e ->> 'main_department')::bigint;
    END IF;
    v_name := commerce._community_text(e, 'name', 200, v_change = 'create_user');
    v_new := commerce._community_text(e, 'new_user_id', 64, false);
    PERFORM commerce._wecom_user(p_tenant, v_user);
    IF v_change = 'update_user' AND v_new IS NOT NULL AND v_new <> v_user THEN
        -- WeCom renamed the account: its contacts, groups and join ways follow it to the new userid
        PERFORM commerce._wecom_user(p_tenant, v_new);
        UPDATE commerce.wecom_user n SET name = o.name, departments = o.departments, main_department = o.main_department,
                                         active = o.active, updated_at = o.updated_at
          FROM commerce.wecom_user o
         WHERE n.tenant_id = p_tenant AND n.userid = v_new AND o.tenant_id = p_tenant AND o.userid = v_user;
        UPDATE commerce.wecom_user SET staff_id = NULL, active = false WHERE tenant_id = p_tenant AND userid = v_user;
        UPDATE commerce.wecom_user n SET staff_id = coalesce(n.staff_id, (SELECT s.staff_id FROM commerce.staff s
                                                                           WHERE s.tenant_id = p_tenant AND s.code = v_new))
         WHERE n.tenant_id = p_tenant AND n.userid = v_new;
        UPDATE commerce.wecom_contact SET userid = v_new WHERE tenant_id = p_tenant AND userid = v_user
           AND NOT EXISTS (SELECT 1 FROM commerce.wecom_contact x WHERE x.tenant_id = p_tenant AND x.userid = v_new
                              AND x.external_userid = wecom_contact.external_userid);
        UPDATE commerce.community_group SET owner_userid = v_new WHERE tenant_id = p_tenant AND owner_userid = v_user;
        UPDATE commerce.join_way SET userids = array_replace(userids, v_user, v_new) WHERE tenant_id = p_tenant AND v_user = ANY (userids);
        UPDATE commerce.fission_campaign SET userids = array_replace(userids, v_user, v_new) WHERE tenant_id = p_tenant AND v_user = ANY (userids);
        v_user := v_new;
    END IF;
    UPDATE commerce.wecom_user
       SET name = coalesce(v_name, name), departments = coalesce(v_deps, departments),
           main_department = coalesce(v_main, main_department, v_deps[1]), active = true, updated_at = p_at
     WHERE tenant_id = p_tenant AND userid = v_user AND updated_at <= p_at;
    RETURN jsonb_build_object('user', v_user, 'applied', FOUND, 'store',
                              (SELECT s.code FROM commerce.store s
                                WHERE s.tenant_id = p_tenant AND s.store_id = commerce._wecom_user_store(p_tenant, v_user)));
END $$;
COMMENT ON FUNCTION commerce._ingest_org(bigint, jsonb, timestamptz) IS
  'Apply a WeCom change_contact callback (PR01): create_party / update_party / delete_party {id, name, parent_id}, create_user / update_user / delete_user {user_id, name, department: [ids], main_department, new_user_id}. An update older than the row''s last one changes nothing; a deleted user stays, inactive; a renamed one (new_user_id) takes its contacts, groups, join ways and fission campaigns to the new userid.';

-- Apply an external contact callback: an add (queuing its welcome), an edit of tags, a delete by either side.
CREATE FUNCTION commerce._ingest_contact(p_tenant bigint, e jsonb, p_at timestamptz, p_key text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v_change text := e ->> 'change'; v_user text; v_ext text; v_state text; v_code text; v_unionid text; v_nick text;
        c commerce.wecom_contact%ROWTYPE; w commerce.join_way%ROWTYPE; v_person bigint; v_welcome bigint; v_outcome text;
        v_tags text[]; v_fission text;
BEGIN
    v_user := commerce._community_text(e, 'user_id', 64, true);
    v_ext := commerce._community_text(e, 'external_user_id', 64, true);
    v_state := commerce._community_text(e, 'state', 30, false);
    v_code := commerce._community_text(e, 'welcome_code', 200, false);
    v_unionid := commerce._community_text(e, 'unionid', 200, false);
    v_nick := commerce._community_text(e, 'name', 200, false);
    IF v_change NOT IN ('add_external_contact', 'add_half_external_contact', 'edit_external_contact',
                        'del_external_contact', 'del_follow_user') THEN
        RETURN jsonb_build_object('ignored', v_change);      -- transfer results and the like: logged only
    END IF;
    PERFORM commerce._wecom_user(p_tenant, v_user);
    SELECT * INTO c FROM commerce.wecom_contact WHERE tenant_id = p_tenant AND userid = v_user AND external_userid = v_ext FOR UPDATE;
    IF v_change IN ('del_external_contact', 'del_follow_user') THEN
        IF c.contact_id IS NULL THEN
            -- never seen added: remember the delete, so an add reported late is not counted
            INSERT INTO commerce.wecom_contact (tenant_id, userid, external_userid, person_id, adds, deleted_at, deleted_by, changed_at)
            VALUES (p_tenant, v_user, v_ext, commerce._wecom_person(p_tenant, v_ext, v_unionid), 0, p_at,
                    CASE v_change WHEN 'del_external_contact' THEN 'staff' ELSE 'customer' END, p_at)
            ON CONFLICT DO NOTHING;
            RETURN jsonb_build_object('contact', NULL, 'outcome', 'unknown_contact');
        END IF;
        IF c.changed_at > p_at THEN
            RETURN jsonb_build_object('contact', c.contact_id, 'outcome', 'stale');
        END IF;
        IF c.deleted_at IS NOT NULL THEN
            -- deleted already (an add in between was not reported): older callbacks stay stale
            UPDATE commerce.wecom_contact SET changed_at = p_at WHERE tenant_id = p_tenant AND contact_id = c.contact_id;
            RETURN jsonb_build_object('contact', c.contact_id, 'outcome', 'already_deleted');
        END IF;
        UPDATE commerce.wecom_contact
           SET deleted_at = p_at, deleted_by = CASE v_change WHEN 'del_external_contact' THEN 'staff' ELSE 'customer' END, changed_at = p_at
         WHERE tenant_id = p_tenant AND contact_id = c.contact_id;
        PERFORM commerce._fission_lock(p_tenant, '{}', ARRAY[c.person_id], 'contact:' || c.contact_id);
        RETURN jsonb_build_object('contact', c.contact_id, 'person', c.person_id, 'outcome', 'deleted',
                                  'fission_left', commerce._fission_left(p_tenant, c.person_id, 'contact:' || c.contact_id, p_at));
    END IF;
    IF v_change = 'edit_external_contact' THEN
        IF c.contact_id IS NULL THEN
            RETURN jsonb_build_object('contact', NULL, 'outcome', 'unknown_contact');
        END IF;
        IF e ? 'tags' THEN
            IF jsonb_typeof(e -> 'tags') <> 'array' OR jsonb_array_length(e -> 'tags') > 100
               OR EXISTS (SELECT 1 FROM jsonb_array_elements(e -> 'tags') x WHERE jsonb_typeof(x) <> 'string' OR length(x #>> '{}') NOT BETWEEN 1 AND 64) THEN
                PERFORM commerce._invalid('p_event', format('tags %s', left((e -> 'tags')::text, 80)),
                                          'tags lists the contact''s WeCom tag ids (at most 100 strings).');
            END IF;
            SELECT coalesce(array_agg(DISTINCT x #>> '{}' ORDER BY x #>> '{}'), '{}') INTO v_tags FROM jsonb_array_elements(e -> 'tags') x;
            UPDATE commerce.wecom_contact SET tags = v_tags, changed_at = greatest(changed_at, p_at)
             WHERE tenant_id = p_tenant AND contact_id = c.contact_id AND changed_at <= p_at;
        END IF;
        RETURN jsonb_build_object('contact', c.contact_id, 'outcome', 'edited');
    END IF;
    -- an add: a new contact, a re-add after a delete (the same contact again), or a repeat of an add
    IF c.contact_id IS NOT NULL AND c.changed_at > p_at THEN
        RETURN jsonb_build_object('contact', c.contact_id, 'person', c.person_id, 'outcome', 'stale');
    END IF;
    IF c.contact_id IS NOT NULL AND c.deleted_at IS NULL
       AND NOT (p_at > c.changed_at AND v_code IS NOT NULL AND v_code IS DISTINCT FROM c.welcome_code) THEN
        -- in the contacts already (the half-contact callback of the same add, or the same add again): older callbacks stay stale
        UPDATE commerce.wecom_contact SET changed_at = p_at WHERE tenant_id = p_tenant AND contact_id = c.contact_id AND changed_at < p_at;
        RETURN jsonb_build_object('contact', c.contact_id, 'person', c.person_id, 'outcome', 'already_added');
    END IF;
    -- (an add with a new welcome code while in the contacts: WeCom issues one per add, so a delete in between was not reported)
    IF v_state IS NOT NULL THEN
        SELECT * INTO w FROM commerce.join_way j WHERE j.tenant_id = p_tenant AND j.state = v_state;
    END IF;
    IF c.contact_id IS NULL THEN
        v_person := commerce._wecom_person(p_tenant, v_ext, v_unionid);
        INSERT INTO commerce.wecom_contact (tenant_id, userid, external_userid, person_id, join_way_id, state, welcome_code,
                                            first_added_at, added_at, changed_at)
        VALUES (p_tenant, v_user, v_ext, v_person, w.join_way_id, v_state, v_code, p_at, p_at, p_at)
        ON CONFLICT (tenant_id, userid, external_userid) DO NOTHING
        RETURNING * INTO c;
        IF c.contact_id IS NULL THEN     -- another callback added it a moment ago: that add is this one's
            SELECT * INTO c FROM commerce.wecom_contact WHERE tenant_id = p_tenant AND userid = v_user AND external_userid = v_ext;
            RETURN jsonb_build_object('contact', c.contact_id, 'person', c.person_id, 'outcome', 'already_added');
        END IF;
        v_outcome := 'added';
    ELSE
        UPDATE commerce.wecom_contact
           SET added_at = p_at, first_added_at = coalesce(first_added_at, p_at), adds = adds + 1, deleted_at = NULL,
               deleted_by = NULL, changed_at = p_at, welcome_code = v_code,
               join_way_id = CASE WHEN adds = 0 THEN w.join_way_id ELSE join_way_id END,
               state = CASE WHEN adds = 0 THEN v_state ELSE state END
         WHERE tenant_id = p_tenant AND contact_id = c.contact_id
        RETURNING * INTO c;
        v_outcome := CASE WHEN c.adds = 1 THEN 'added' ELSE 're_added' END;
    END IF;
    -- fission: a re-added invitee counts again (its one row); a poster code in the state counts a new invite;
    -- the participants either may change are locked first, in order
    PERFORM commerce._fission_lock(p_tenant, ARRAY[v_state], ARRAY[c.person_id], 'contact:' || c.contact_id);
    IF v_outcome = 're_added' THEN
        PERFORM commerce._fission_back(p_tenant, c.person_id, 'contact:' || c.contact_id, p_at);
    END IF;
    IF v_state ~ '^f[0-9a-z]{1,8}\.' THEN
        v_fission := commerce._fission_invited(p_tenant, v_state, c.person_id, 'wecom_contact', 'contact:' || c.contact_id, v_user, p_at);
    END IF;
    v_welcome := commerce._queue_welcome(p_tenant, 'wecom.welcome', ARRAY[w.welcome, 'default'],
        format('contact:%s:%s', c.contact_id, c.adds), v_nick,
        jsonb_build_object('kind', 'contact', 'platform', 'wecom', 'user_id', v_user, 'external_user_id', v_ext,
                           'welcome_code', v_code, 'join_way', w.code, 'state', v_state, 'event_key', p_key,
                           'callback_at', p_at));
    RETURN jsonb_build_object('contact', c.contact_id, 'person', c.person_id, 'outcome', v_outcome, 'adds', c.adds,
                              'join_way', w.code, 'welcome', v_welcome, 'fission', v_fission);
END $$;
COMMENT ON FUNCTION commerce._ingest_contact(bigint, jsonb, timestamptz, text) IS
  'Apply a WeCom change_external_contact callback (PR01, PR05): add_external_contact / add_half_external_contact {user_id, external_user_id, state, welcome_code, name, unionid} resolves the contact to a person, attributes it to the join way of its state and queues its one welcome (wecom.welcome, key contact:<id>:<adds>); a delete and re-add is the same contact added again (adds + 1, first_added_at kept); edit_external_contact {tags}; del_external_contact (by the staff) and del_follow_user (by the customer). A callback older than the contact''s last change changes nothing.';

-- The group of a platform's chat, locked (a WeCom group is created when a callback names it first).
CREATE FUNCTION commerce._lock_group(p_tenant bigint, p_platform text, p_chat text, p_create boolean, p_at timestamptz)
RETURNS commerce.community_group_row LANGUAGE plpgsql AS $$
DECLARE g commerce.community_group_row;
BEGIN
    SELECT * INTO g FROM commerce.community_group WHERE tenant_id = p_tenant AND platform = p_platform AND chat_id = p_chat FOR UPDATE;
    IF FOUND OR NOT p_create THEN
        IF NOT FOUND THEN
            PERFORM commerce._not_found('group', p_platform || ':' || p_chat, p_tenant);
        END IF;
        RETURN g;
    END IF;
    INSERT INTO commerce.community_group (tenant_id, platform, chat_id, code, name, created_at)
    VALUES (p_tenant, p_platform, p_chat, left(p_platform || '-' || p_chat, 200), left(p_chat, 200), p_at)
    ON CONFLICT DO NOTHING;
    SELECT * INTO g FROM commerce.community_group WHERE tenant_id = p_tenant AND platform = p_platform AND chat_id = p_chat FOR UPDATE;
    RETURN g;
END $$;
COMMENT ON FUNCTION commerce._lock_group(bigint, text, text, boolean, timestamptz) IS
  'Lock the group of a chat (its row orders every change of its members and counts); a WeCom group a callback names before its create callback arrived is created, named by its chat id; another platform''s unknown group is PT404 (register it first).';

-- A member of a callback: {id, type, name, state, unionid, customer}.
CREATE FUNCTION commerce._group_member_arg(p_platform text, x jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE m jsonb := CASE jsonb_typeof(x) WHEN 'string' THEN jsonb_build_object('id', x) ELSE x END; v_type text;
BEGIN
    v_type := CASE WHEN jsonb_typeof(m) = 'object' THEN coalesce(m ->> 'type', CASE WHEN p_platform = 'wecom' THEN 'external' ELSE 'other' END) END;
    IF v_type IS NULL OR jsonb_typeof(m -> 'id') IS DISTINCT FROM 'string' OR length(m ->> 'id') NOT BETWEEN 1 AND 128
       OR (p_platform = 'wecom' AND v_type NOT IN ('external', 'staff')) OR (p_platform <> 'wecom' AND v_type <> 'other')
       OR length(m ->> 'name') > 200 OR length(m ->> 'state') > 30 OR length(m ->> 'unionid') > 200 OR length(m ->> 'customer') > 64 THEN
        PERFORM commerce._invalid('p_event', format('member %s', left(x::text, 100)),
            'A member is {"id": "...", "type": "external" | "staff" (WeCom) or "other", "name", "state", "unionid", "customer"}, or its id alone.');
    END IF;
    RETURN m || jsonb_build_object('type', v_type);
END $$;
COMMENT ON FUNCTION commerce._group_member_arg(text, jsonb) IS
  'A member of a group callback, checked (22023): {"id", "type": external | staff on WeCom, other elsewhere, "name", "state" (the join way''s), "unionid", "customer" (a customer code a service resolved)}; an id alone is a customer of the platform.';

-- A member joins a locked group: counted once per change, attributed to its join way, welcomed once.
CREATE FUNCTION commerce._group_join(p_tenant bigint, g commerce.community_group_row, m jsonb, p_scene text,
                                     p_at timestamptz, p_key text, p_welcome boolean) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE x commerce.group_member%ROWTYPE; w commerce.join_way%ROWTYPE; v_person bigint; v_key text := m ->> 'id';
BEGIN
    SELECT * INTO x FROM commerce.group_member WHERE tenant_id = p_tenant AND group_id = g.group_id AND member_key = v_key;
    IF FOUND AND x.changed_at > p_at THEN
        RETURN 'stale';
    END IF;
    IF FOUND AND x.active THEN
        -- in the group already: older callbacks stay stale
        UPDATE commerce.group_member SET changed_at = p_at
         WHERE tenant_id = p_tenant AND group_id = g.group_id AND member_key = v_key AND changed_at < p_at;
        RETURN 'already_in';
    END IF;
    IF m ->> 'state' IS NOT NULL THEN
        SELECT * INTO w FROM commerce.join_way j WHERE j.tenant_id = p_tenant AND j.state = m ->> 'state';
    END IF;
    v_person := x.person_id;
    IF v_person IS NULL AND m ->> 'type' = 'external' THEN
        v_person := commerce._wecom_person(p_tenant, v_key, m ->> 'unionid');
    ELSIF v_person IS NULL AND m ->> 'customer' IS NOT NULL THEN
        SELECT c.person_id INTO v_person FROM commerce.customer c WHERE c.tenant_id = p_tenant AND c.code = m ->> 'customer';
        IF NOT FOUND THEN
            PERFORM commerce._not_found('customer', m ->> 'customer', p_tenant);
        END IF;
    END IF;
    INSERT INTO commerce.group_member AS gm (tenant_id, group_id, member_key, member_type, person_id, nickname, active, joins,
                                             join_way_id, state, first_joined_at, joined_at, changed_at)
    VALUES (p_tenant, g.group_id, v_key, m ->> 'type', v_person, m ->> 'name', true, 1, w.join_way_id, m ->> 'state', p_at, p_at, p_at)
    ON CONFLICT (tenant_id, group_id, member_key) DO UPDATE
       SET active = true, joins = gm.joins + 1, member_type = EXCLUDED.member_type, person_id = coalesce(gm.person_id, EXCLUDED.person_id),
           nickname = coalesce(EXCLUDED.nickname, gm.nickname), join_way_id = EXCLUDED.join_way_id, state = EXCLUDED.state,
           first_joined_at = coalesce(gm.first_joined_at, EXCLUDED.first_joined_at), joined_at = p_at, quit_at = NULL, changed_at = p_at
    RETURNING * INTO x;
    INSERT INTO commerce.group_member_event (tenant_id, group_id, member_key, kind, person_id, join_way_id, scene, at, event_key)
    VALUES (p_tenant, g.group_id, v_key, 'join', x.person_id, w.join_way_id, p_scene, p_at, p_key);
    UPDATE commerce.community_group SET joins = joins + 1, members = members + 1, last_join_at = greatest(last_join_at, p_at)
     WHERE tenant_id = p_tenant AND group_id = g.group_id;
    IF x.person_id IS NOT NULL THEN
        -- fission: a rejoining invitee counts again (its one row); a poster code in the state counts a new invite
        IF x.joins > 1 THEN
            PERFORM commerce._fission_back(p_tenant, x.person_id, 'group:' || g.group_id, p_at);
        END IF;
        IF m ->> 'state' ~ '^f[0-9a-z]{1,8}\.' THEN
            PERFORM commerce._fission_invited(p_tenant, m ->> 'state', x.person_id, 'group', 'group:' || g.group_id, g.group_id::text, p_at);
        END IF;
        PERFORM commerce._person_event(p_tenant, x.person_id, 'joined_group', format('group:%s:%s:%s', g.group_id, v_key, x.joins),
                                       g.code, w.code, 'community', p_at);
    END IF;
    IF p_welcome AND x.member_type <> 'staff' THEN
        PERFORM commerce._queue_welcome(p_tenant, CASE g.platform WHEN 'wecom' THEN 'wecom.welcome' ELSE 'community.welcome' END,
            ARRAY[w.welcome, g.welcome, 'default'], format('group:%s:%s:%s', g.group_id, v_key, x.joins), x.nickname,
            jsonb_build_object('kind', 'group', 'platform', g.platform, 'chat_id', g.chat_id, 'group', g.code,
                               'member', v_key, 'join_way', w.code, 'state', m ->> 'state', 'event_key', p_key, 'callback_at', p_at));
    END IF;
    RETURN CASE WHEN x.joins = 1 THEN 'joined' ELSE 'rejoined' END;
END $$;
COMMENT ON FUNCTION commerce._group_join(bigint, commerce.community_group_row, jsonb, text, timestamptz, text, boolean) IS
  'A member joins a group whose row the caller locked (PR04, PR05): joined or rejoined (one join event, the counts, the CRM''s joined_group, and one welcome per join number unless p_welcome is off or it is staff); already_in for a member in the group, stale for a callback older than the member''s last change.';

-- A member quits a locked group: counted once.
CREATE FUNCTION commerce._group_quit(p_tenant bigint, g commerce.community_group_row, m jsonb, p_scene text,
                                     p_at timestamptz, p_key text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE x commerce.group_member%ROWTYPE; v_key text := m ->> 'id';
BEGIN
    SELECT * INTO x FROM commerce.group_member WHERE tenant_id = p_tenant AND group_id = g.group_id AND member_key = v_key;
    IF NOT FOUND THEN
        -- never seen joining: remember the quit, so a join reported late is not counted
        INSERT INTO commerce.group_member (tenant_id, group_id, member_key, member_type, person_id, nickname, active, joins,
                                           quit_at, changed_at)
        VALUES (p_tenant, g.group_id, v_key, CASE WHEN m ->> 'type' = 'external' THEN 'other' ELSE m ->> 'type' END, NULL,
                m ->> 'name', false, 0, p_at, p_at);
        RETURN 'unknown_member';
    END IF;
    IF x.changed_at > p_at THEN
        RETURN 'stale';
    END IF;
    IF NOT x.active THEN
        -- out already (a join in between was not reported): older callbacks stay stale
        UPDATE commerce.group_member SET changed_at = p_at WHERE tenant_id = p_tenant AND group_id = g.group_id AND member_key = v_key;
        RETURN 'already_out';
    END IF;
    UPDATE commerce.group_member SET active = false, quit_at = p_at, changed_at = p_at
     WHERE tenant_id = p_tenant AND group_id = g.group_id AND member_key = v_key;
    INSERT INTO commerce.group_member_event (tenant_id, group_id, member_key, kind, person_id, join_way_id, scene, at, event_key)
    VALUES (p_tenant, g.group_id, v_key, 'quit', x.person_id, x.join_way_id, p_scene, p_at, p_key);
    UPDATE commerce.community_group SET quits = quits + 1, members = members - 1 WHERE tenant_id = p_tenant AND group_id = g.group_id;
    IF x.person_id IS NOT NULL THEN
        PERFORM commerce._fission_left(p_tenant, x.person_id, 'group:' || g.group_id, p_at);
    END IF;
    IF x.person_id IS NOT NULL AND NOT EXISTS (
           SELECT 1 FROM commerce.group_member o
            WHERE o.tenant_id = p_tenant AND o.group_id = g.group_id AND o.person_id = x.person_id AND o.active) THEN
        PERFORM commerce._person_event(p_tenant, x.person_id, 'left_group', format('group:%s:%s:%s:quit', g.group_id, v_key, x.joins),
                                       g.code, NULL, 'community', p_at);
    END IF;
    RETURN 'quit';
END $$;
COMMENT ON FUNCTION commerce._group_quit(bigint, commerce.community_group_row, jsonb, text, timestamptz, text) IS
  'A member quits a group whose row the caller locked (PR04): one quit event, the counts and the CRM''s left_group (when the person has no other id in the group); already_out, stale, or unknown_member (a quit before any join: remembered as a row with no joins).';

-- Apply a group callback: WeCom's change_external_chat or another platform's group_event.
CREATE FUNCTION commerce._ingest_group(p_tenant bigint, e jsonb, p_at timestamptz, p_key text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v_platform text; v_chat text; v_change text := e ->> 'change'; v_detail text; g commerce.community_group_row;
        v_name text; v_owner text; x jsonb; v_outcomes jsonb := '{}'::jsonb; v_o text; v_scene text; v_members jsonb;
BEGIN
    IF e ->> 'type' = 'change_external_chat' THEN
        v_platform := 'wecom';
        IF v_change NOT IN ('create', 'update', 'dismiss') THEN
            RETURN jsonb_build_object('ignored', v_change);
        END IF;
        v_detail := CASE WHEN v_change = 'update' THEN commerce._community_text(e, 'update_detail', 32, true) END;
        IF v_detail IS NOT NULL AND v_detail NOT IN ('add_member', 'del_member', 'change_owner', 'change_name', 'change_notice') THEN
            RETURN jsonb_build_object('ignored', v_detail);
        END IF;
    ELSE
        v_platform := commerce._community_text(e, 'platform', 16, true);
        IF v_platform NOT IN ('wechat', 'discord', 'other') THEN
            PERFORM commerce._invalid('p_event', format('platform %s', left(v_platform, 32)),
                                      'A group_event is of a wechat, discord or other group; WeCom groups report change_external_chat.');
        END IF;
        IF v_change NOT IN ('join', 'quit', 'rename', 'dismiss') THEN
            PERFORM commerce._invalid('p_event', format('group_event change %s', left(v_change, 32)),
                                      'A group_event is a join, quit, rename or dismiss of a registered group.');
        END IF;
        v_detail := CASE v_change WHEN 'join' THEN 'add_member' WHEN 'quit' THEN 'del_member' WHEN 'rename' THEN 'change_name' END;
    END IF;
    v_chat := commerce._community_text(e, 'chat_id', 128, true);
    IF v_chat !~ '^[A-Za-z0-9_.:-]+$' THEN
        PERFORM commerce._invalid('p_event', format('chat_id %s', left(v_chat, 64)), 'A chat id is letters, digits, _ . : -.');
    END IF;
    v_name := commerce._community_text(e, 'name', 200, false);
    v_owner := commerce._community_text(e, 'owner', 64, false);
    v_scene := coalesce(commerce._community_text(e, 'join_scene', 32, false), commerce._community_text(e, 'quit_scene', 32, false));
    v_members := CASE WHEN e ? 'members' THEN e -> 'members' ELSE '[]'::jsonb END;
    IF jsonb_typeof(v_members) <> 'array' OR jsonb_array_length(v_members) > 2000 THEN
        PERFORM commerce._invalid('p_event', 'members is not a list of at most 2000', 'members lists the members the change is about.');
    END IF;
    IF v_detail IN ('add_member', 'del_member') AND jsonb_array_length(v_members) = 0 THEN
        PERFORM commerce._invalid('p_event', format('%s without members', v_detail), 'A join or quit names its members.');
    END IF;
    -- the members checked before anything is changed
    SELECT coalesce(jsonb_agg(commerce._group_member_arg(v_platform, y) ORDER BY coalesce(y ->> 'id', y #>> '{}')), '[]'::jsonb)
      INTO v_members FROM jsonb_array_elements(v_members) y;
    IF v_owner IS NOT NULL THEN
        PERFORM commerce._wecom_user(p_tenant, v_owner);
    END IF;
    g := commerce._lock_group(p_tenant, v_platform, v_chat, v_platform = 'wecom', p_at);
    IF g.status = 'dismissed' THEN
        RETURN jsonb_build_object('group', g.code, 'outcome', 'dismissed');
    END IF;
    -- the fission participants this callback may change, locked first, in order: the owners of the codes its
    -- members carry and the inviters of the members' invites through this group
    PERFORM commerce._fission_lock(p_tenant,
        ARRAY(SELECT y ->> 'state' FROM jsonb_array_elements(v_members) y WHERE y ->> 'state' IS NOT NULL),
        ARRAY(SELECT m.person_id FROM commerce.group_member m
               WHERE m.tenant_id = p_tenant AND m.group_id = g.group_id AND m.person_id IS NOT NULL
                 AND (v_change = 'dismiss' OR m.member_key IN (SELECT y ->> 'id' FROM jsonb_array_elements(v_members) y))),
        'group:' || g.group_id);
    IF v_change = 'dismiss' THEN
        -- everyone is out (counted as quits, the CRM told), the open round closed, then the group
        FOR x IN SELECT jsonb_build_object('id', m.member_key, 'type', m.member_type) FROM commerce.group_member m
                  WHERE m.tenant_id = p_tenant AND m.group_id = g.group_id AND m.active ORDER BY m.member_key LOOP
            v_o := commerce._group_quit(p_tenant, g, x, 'dismiss', greatest(p_at, (SELECT m.changed_at FROM commerce.group_member m
                                         WHERE m.tenant_id = p_tenant AND m.group_id = g.group_id AND m.member_key = x ->> 'id')), p_key);
            v_outcomes := jsonb_set(v_outcomes, ARRAY[v_o], to_jsonb(coalesce((v_outcomes ->> v_o)::integer, 0) + 1));
        END LOOP;
        UPDATE commerce.group_checkin_round SET closed_at = commerce.now()
         WHERE tenant_id = p_tenant AND group_id = g.group_id AND closed_at IS NULL;
        UPDATE commerce.community_group SET status = 'dismissed', dismissed_at = p_at WHERE tenant_id = p_tenant AND group_id = g.group_id;
        RETURN jsonb_build_object('group', g.code, 'outcome', 'dismissed', 'members', v_outcomes);
    END IF;
    IF v_name IS NOT NULL OR v_owner IS NOT NULL THEN
        UPDATE commerce.community_group
           SET name = coalesce(v_name, name), owner_userid = coalesce(v_owner, owner_userid),
               store_id = coalesce(store_id, commerce._wecom_user_store(p_tenant, coalesce(v_owner, owner_userid)))
         WHERE tenant_id = p_tenant AND group_id = g.group_id
        RETURNING * INTO g;
    END IF;
    FOR x IN SELECT y FROM jsonb_array_elements(v_members) y LOOP
        IF v_change = 'create' OR v_detail = 'add_member' THEN
            v_o := commerce._group_join(p_tenant, g, x, coalesce(v_scene, v_change), p_at, p_key, v_change <> 'create');
        ELSIF v_detail = 'del_member' THEN
            v_o := commerce._group_quit(p_tenant, g, x, v_scene, p_at, p_key);
        ELSE
            CONTINUE;
        END IF;
        v_outcomes := jsonb_set(v_outcomes, ARRAY[v_o], to_jsonb(coalesce((v_outcomes ->> v_o)::integer, 0) + 1));
    END LOOP;
    RETURN jsonb_build_object('group', g.code, 'outcome', coalesce(v_detail, v_change), 'members', v_outcomes);
END $$;
COMMENT ON FUNCTION commerce._ingest_group(bigint, jsonb, timestamptz, text) IS
  'Apply a group callback (PR04, PR05, K16): WeCom''s change_external_chat (create {chat_id, name, owner, members}; update with update_detail add_member / del_member {members, join_scene or quit_scene}, change_owner, change_name; dismiss) or another platform''s group_event (join, quit, rename, dismiss of a registered group {platform, chat_id, members}). The group''s row lock orders its members'' changes; returns the outcome per member.';

-- Ingest one community callback, once per composite event key.
CREATE FUNCTION commerce.community_ingest(p_tenant bigint, p_event jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v_type text; v_change text; v_at timestamptz; v_key text; v_prior jsonb; v_outcome jsonb;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_event, 'p_event');
    IF jsonb_typeof(p_event) <> 'object' OR length(p_event::text) > 262144 THEN
        PERFORM commerce._invalid('p_event', 'The callback is not a JSON object of at most 256 kB.',
                                  'Send the callback as {"type": ..., "change": ..., "at": ..., ...} (docs/community.md).');
    END IF;
    v_type := p_event ->> 'type';
    IF v_type IS NULL OR v_type NOT IN ('change_contact', 'change_external_contact', 'change_external_chat', 'group_event') THEN
        PERFORM commerce._invalid('p_event', format('type %s', coalesce(left(v_type, 40), 'missing')),
                                  'type is change_contact, change_external_contact, change_external_chat (WeCom''s Event) or group_event.');
    END IF;
    v_change := commerce._community_text(p_event, 'change', 64, true);
    IF v_type = 'change_contact' AND v_change NOT IN ('create_party', 'update_party', 'delete_party',
                                                      'create_user', 'update_user', 'delete_user', 'update_tag') THEN
        PERFORM commerce._invalid('p_event', format('change_contact %s', left(v_change, 40)),
                                  'change is WeCom''s ChangeType: create_party, update_party, delete_party, create_user, update_user, delete_user, update_tag.');
    END IF;
    v_at := commerce._community_time(p_event -> 'at');
    IF v_at IS NULL THEN
        PERFORM commerce._invalid('p_event', format('at %s', left(coalesce((p_event -> 'at')::text, 'missing'), 40)),
                                  'at is the callback''s CreateTime: epoch seconds or an ISO 8601 timestamp.');
    END IF;
    IF v_at > commerce.now() + interval '1 hour' THEN
        PERFORM commerce._invalid('p_event', format('at %s is in the future', v_at), 'at is when the platform sent the callback.');
    END IF;
    v_key := commerce._community_event_key(p_event, v_at);
    -- deliveries of one callback wait for each other here; the later one finds the first's outcome
    PERFORM pg_advisory_xact_lock(hashtextextended('community:' || p_tenant || ':' || v_key, 0));
    SELECT outcome INTO v_prior FROM commerce.community_event WHERE tenant_id = p_tenant AND event_key = v_key;
    IF FOUND THEN
        RETURN v_prior || jsonb_build_object('replayed', true);
    END IF;
    v_outcome := CASE v_type
        WHEN 'change_contact' THEN CASE WHEN v_change = 'update_tag' THEN jsonb_build_object('ignored', v_change)
                                        ELSE commerce._ingest_org(p_tenant, p_event, v_at) END
        WHEN 'change_external_contact' THEN commerce._ingest_contact(p_tenant, p_event, v_at, v_key)
        ELSE commerce._ingest_group(p_tenant, p_event, v_at, v_key) END;
    v_outcome := v_outcome || jsonb_build_object('event_key', v_key);
    INSERT INTO commerce.community_event (tenant_id, event_key, type, change, at, payload, outcome, received_at)
    VALUES (p_tenant, v_key, v_type, v_change, v_at, p_event, v_outcome, commerce.now());
    RETURN v_outcome || jsonb_build_object('replayed', false);
END $$;
COMMENT ON FUNCTION commerce.community_ingest(bigint, jsonb) IS
  'The one entry for community callbacks (PR01-PR05, K16): {"type": change_contact | change_external_contact | change_external_chat (WeCom''s Event, fields in snake case) | group_event (other platforms), "change": WeCom''s ChangeType or join / quit / rename / dismiss, "at": the callback''s time, ...}. Applied once per composite event key (a retry, even concurrent, returns the first outcome with replayed true); a bad callback is 22023 and changes nothing. Adds and joins queue their welcome in the same transaction.';
