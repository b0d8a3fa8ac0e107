-- sql/src/customers/identity.sql: identity fusion (3.6.1). Every customer
-- account belongs to a person; observations (a mini-program login, a
-- platform order's buyer and phone, an H5 sign-up) bring identities that are
-- resolved to persons by rule: platform ids and verified phones merge, an
-- unverified phone only suggests, masked, virtual and blocklisted values
-- never link, and two different UnionIDs block an automatic merge as a
-- conflict for review. A merge keeps the older person, moves customer
-- accounts and identities (recorded, so an unmerge restores the partition)
-- and rewrites nothing else. Identities are locked by (type, value) and
-- persons by id, in that order, so concurrent observations never deadlock.

-- Trigger: a new customer account is a person of its own.
CREATE FUNCTION commerce._new_person() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_WHEN <> 'BEFORE' OR TG_LEVEL <> 'ROW' OR TG_OP <> 'INSERT' THEN
        RAISE EXCEPTION 'commerce._new_person must fire BEFORE INSERT ... FOR EACH ROW';
    END IF;
    INSERT INTO commerce.person (tenant_id, created_at) VALUES (NEW.tenant_id, commerce.now()) RETURNING person_id INTO NEW.person_id;
    RETURN NEW;
END $$;

-- The kinds of identity a person has at most one of (two different values block an automatic merge).
CREATE FUNCTION commerce._identity_single(p_type text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT p_type IN ('wechat_unionid', 'alipay_uid') $$;

-- A phone number in E.164 (+86 for 11-digit mainland numbers), or NULL for a masked one; 22023 for no phone at all.
CREATE FUNCTION commerce.normalize_phone(p_phone text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE v text;
BEGIN
    IF p_phone IS NULL THEN
        RETURN NULL;
    END IF;
    IF p_phone ~ '\*' THEN
        RETURN NULL;    -- masked by the platform (138****1234): not a number
    END IF;
    v := regexp_replace(p_phone, '[\s().-]', '', 'g');
    IF v ~ '^(\+|00)' THEN
        v := '+' || regexp_replace(v, '^(\+|00)', '');
    ELSIF v ~ '^86\d{11}$' THEN
        v := '+' || v;
    ELSIF v ~ '^1\d{10}$' THEN
        v := '+86' || v;
    END IF;
    IF v !~ '^\+[1-9]\d{6,14}$' OR (v ~ '^\+86' AND v !~ '^\+861\d{10}$') THEN
        PERFORM commerce._invalid('phone', format('"%s" is not a phone number.', left(p_phone, 40)),
                                  'Give a mainland mobile (11 digits) or a number with its country code (+852...).');
    END IF;
    RETURN v;
END $$;
COMMENT ON FUNCTION commerce.normalize_phone(text) IS
  'A phone number in E.164: spaces, dashes and brackets dropped, 11-digit mainland mobiles (and 86...) given +86; NULL for a number masked by a platform (138****1234); 22023 for anything else.';

-- What a tenant does when an identity of this type ties an observation to another person.
CREATE FUNCTION commerce._identity_action(p_tenant bigint, p_type text, p_verified boolean) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE v text;
BEGIN
    SELECT action INTO v FROM commerce.identity_rule WHERE tenant_id = p_tenant AND type = p_type AND verified = p_verified;
    RETURN coalesce(v, CASE WHEN p_type <> 'phone' OR p_verified THEN 'merge' ELSE 'suggest' END);
END $$;

-- Set what a tenant does with an identity type, verified or not.
CREATE FUNCTION commerce.set_identity_rule(p_tenant bigint, p_type text, p_verified boolean, p_action text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_type, 'p_type');
    PERFORM commerce._require(p_verified, 'p_verified');
    PERFORM commerce._require(p_action, 'p_action');
    IF p_type NOT IN ('phone', 'wechat_unionid', 'wechat_openid', 'alipay_uid', 'taobao_buyer', 'douyin_buyer', 'xhs_buyer',
                      'pdd_buyer', 'wecom_external', 'h5_uid', 'email') THEN
        PERFORM commerce._invalid('p_type', format('"%s"', left(p_type, 64)),
            'Identity types: phone, wechat_unionid, wechat_openid, alipay_uid, taobao_buyer, douyin_buyer, xhs_buyer, pdd_buyer, wecom_external, h5_uid, email.');
    END IF;
    IF p_action NOT IN ('merge', 'suggest', 'never') THEN
        PERFORM commerce._invalid('p_action', format('"%s"', left(p_action, 64)), 'An identity merges, suggests or never links.');
    END IF;
    INSERT INTO commerce.identity_rule (tenant_id, type, verified, action) VALUES (p_tenant, p_type, p_verified, p_action)
    ON CONFLICT (tenant_id, type, verified) DO UPDATE SET action = EXCLUDED.action;
END $$;
COMMENT ON FUNCTION commerce.set_identity_rule(bigint, text, boolean, text) IS
  'What a tenant does when an identity of p_type (verified by its source or not) ties an observation to another person: merge automatically, suggest a merge for review, or never link. Defaults: platform ids, UnionIDs, OpenIDs and verified phones merge; unverified phones suggest.';

-- Never link a shared or fake value.
CREATE FUNCTION commerce.block_identity(p_tenant bigint, p_type text, p_value text, p_reason text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE v text := p_value;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_type, 'p_type');
    PERFORM commerce._require(p_value, 'p_value');
    IF p_type = 'phone' THEN
        v := commerce.normalize_phone(p_value);
        PERFORM commerce._require(v, 'p_value');
    END IF;
    INSERT INTO commerce.identity_blocklist (tenant_id, type, value, reason) VALUES (p_tenant, p_type, v, left(p_reason, 200))
    ON CONFLICT (tenant_id, type, value) DO UPDATE SET reason = EXCLUDED.reason;
    UPDATE commerce.person_identity SET linkable = false, verified = false WHERE tenant_id = p_tenant AND type = p_type AND value = v;
END $$;
COMMENT ON FUNCTION commerce.block_identity(bigint, text, text, text) IS
  'Blocklist a shared or fake value (a store''s front-desk phone, 13800138000): it is kept where seen but never ties two persons again (merges it caused before stay; unmerge them with commerce.unmerge_persons).';

-- Merge person p_loser into p_survivor (the older); the moves are recorded for an unmerge.
CREATE FUNCTION commerce._merge_persons(p_tenant bigint, p_a bigint, p_b bigint, p_reason text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE v_survivor bigint := least(p_a, p_b); v_loser bigint := greatest(p_a, p_b); v_customers bigint[]; v_identities bigint[];
BEGIN
    IF p_a = p_b THEN
        RETURN p_a;
    END IF;
    PERFORM 1 FROM commerce.person WHERE tenant_id = p_tenant AND person_id IN (v_survivor, v_loser) ORDER BY person_id FOR UPDATE;
    WITH m AS (UPDATE commerce.customer SET person_id = v_survivor WHERE tenant_id = p_tenant AND person_id = v_loser RETURNING customer_id)
    SELECT coalesce(array_agg(customer_id ORDER BY customer_id), '{}') INTO v_customers FROM m;
    WITH m AS (UPDATE commerce.person_identity SET person_id = v_survivor WHERE tenant_id = p_tenant AND person_id = v_loser RETURNING identity_id)
    SELECT coalesce(array_agg(identity_id ORDER BY identity_id), '{}') INTO v_identities FROM m;
    INSERT INTO commerce.person_merge (tenant_id, survivor_id, loser_id, reason, customers, identities, merged_at)
    VALUES (p_tenant, v_survivor, v_loser, left(p_reason, 200), v_customers, v_identities, commerce.now());
    UPDATE commerce.merge_suggestion SET status = 'merged', decided_at = commerce.now()
     WHERE tenant_id = p_tenant AND person_a = v_survivor AND person_b = v_loser AND status = 'open';
    RETURN v_survivor;
END $$;

-- Record a suggestion or conflict between two persons (once per pair).
CREATE FUNCTION commerce._suggest_merge(p_tenant bigint, p_a bigint, p_b bigint, p_kind text, p_reason text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_a = p_b THEN
        RETURN;
    END IF;
    INSERT INTO commerce.merge_suggestion (tenant_id, person_a, person_b, kind, reason, created_at)
    VALUES (p_tenant, least(p_a, p_b), greatest(p_a, p_b), p_kind, left(p_reason, 200), commerce.now())
    ON CONFLICT (tenant_id, person_a, person_b) DO UPDATE
       SET kind = CASE WHEN EXCLUDED.kind = 'conflict' THEN 'conflict' ELSE merge_suggestion.kind END
     WHERE merge_suggestion.status = 'open';
END $$;

-- True when two persons hold different values of a single-valued identity type (two UnionIDs).
CREATE FUNCTION commerce._persons_conflict(p_tenant bigint, p_a bigint, p_b bigint) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE v text;
BEGIN
    SELECT a.type INTO v FROM commerce.person_identity a
     WHERE a.tenant_id = p_tenant AND a.person_id = p_a AND a.linkable AND commerce._identity_single(a.type)
       AND EXISTS (SELECT 1 FROM commerce.person_identity b
                    WHERE b.tenant_id = p_tenant AND b.person_id = p_b AND b.type = a.type AND b.value <> a.value AND b.linkable)
     LIMIT 1;
    RETURN v;
END $$;

-- The outcome of resolving an observation.
CREATE TYPE commerce.identity_result AS (person_id bigint, customer_id bigint, merged integer, suggested integer,
                                         conflicts integer, outcome text);
COMMENT ON TYPE commerce.identity_result IS
  'The outcome of an observation: the person it resolved to, the customer account it came with, how many persons it merged into that one, how many merges it suggested and how many it found blocked by a conflict, and what happened (new: a new person; resolved: an existing one; merged).';

-- Resolve an observation: its identities to one person, by rule.
CREATE FUNCTION commerce.observe_identities(p_tenant bigint, p_customer text, p_identities jsonb, p_source text)
RETURNS commerce.identity_result LANGUAGE plpgsql AS $$
DECLARE v_customer bigint; v_anchor bigint; v_now timestamptz := commerce.now(); e jsonb; r record; x commerce.person_identity%ROWTYPE;
        v_type text; v_value text; v_verified boolean; v_linkable boolean; v_action text; v_conflict text;
        v_merged integer := 0; v_suggested integer := 0; v_conflicts integer := 0; v_new boolean := false;
        v_obs jsonb := '[]'::jsonb;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_identities, 'p_identities');
    PERFORM commerce._require(p_source, 'p_source');
    IF length(p_source) NOT BETWEEN 1 AND 64 THEN
        PERFORM commerce._invalid('p_source', format('%s characters', length(p_source)), 'Name the source in 1 to 64 characters (wechat_mp, taobao, h5).');
    END IF;
    IF jsonb_typeof(p_identities) <> 'array' OR jsonb_array_length(p_identities) NOT BETWEEN 1 AND 20 THEN
        PERFORM commerce._invalid('p_identities', 'The identities are not a list of 1 to 20.',
                                  'Send [{"type":"phone","value":"13800000000","verified":true}, ...].');
    END IF;
    -- the observation, normalized: (type, value, verified, linkable)
    FOR e IN SELECT y FROM jsonb_array_elements(p_identities) y LOOP
        v_type := e ->> 'type';
        IF jsonb_typeof(e) <> 'object' OR v_type IS NULL
           OR v_type NOT IN ('phone', 'wechat_unionid', 'wechat_openid', 'alipay_uid', 'taobao_buyer', 'douyin_buyer', 'xhs_buyer',
                             'pdd_buyer', 'wecom_external', 'h5_uid', 'email')
           OR jsonb_typeof(e -> 'value') IS DISTINCT FROM 'string' OR length(e ->> 'value') NOT BETWEEN 1 AND 200
           OR (e ? 'verified' AND jsonb_typeof(e -> 'verified') <> 'boolean') THEN
            PERFORM commerce._invalid('p_identities', format('Identity %s.', left(e::text, 100)),
                'An identity is {"type": phone | wechat_unionid | wechat_openid | alipay_uid | taobao_buyer | douyin_buyer | xhs_buyer | pdd_buyer | wecom_external | h5_uid | email, "value": "...", "verified": true|false}.');
        END IF;
        v_value := e ->> 'value';
        v_verified := coalesce((e ->> 'verified')::boolean, false);
        v_linkable := true;
        IF v_type = 'phone' THEN
            IF v_value ~ '\*' THEN
                v_linkable := false; v_verified := false;      -- masked: kept as seen, never linked
            ELSIF v_value ~ '^\s*\+?(86)?\s*1(70|71|62|65|67)' OR v_value ~ '[-,#]\d{1,6}$' AND v_value ~ '\d{11}[-,#]' THEN
                v_value := commerce.normalize_phone(regexp_replace(v_value, '[-,#]\d{1,6}$', ''));
                v_linkable := false; v_verified := false;      -- a virtual or privacy number: never linked
            ELSE
                v_value := commerce.normalize_phone(v_value);
            END IF;
        ELSIF v_type = 'email' THEN
            v_value := lower(btrim(v_value));
            IF v_value !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' THEN
                PERFORM commerce._invalid('p_identities', format('"%s" is not an e-mail address.', left(v_value, 64)),
                                          'An e-mail identity is name@domain.');
            END IF;
        END IF;
        IF EXISTS (SELECT 1 FROM commerce.identity_blocklist b WHERE b.tenant_id = p_tenant AND b.type = v_type AND b.value = v_value) THEN
            v_linkable := false; v_verified := false;
        END IF;
        v_obs := v_obs || jsonb_build_object('type', v_type, 'value', v_value, 'verified', v_verified, 'linkable', v_linkable);
    END LOOP;
    IF p_customer IS NOT NULL THEN
        SELECT customer_id INTO v_customer FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
        IF NOT FOUND THEN
            PERFORM commerce._not_found('customer', p_customer, p_tenant);
        END IF;
    END IF;
    -- lock the identities by (type, value), then read them (the order every observation takes)
    PERFORM pg_advisory_xact_lock(hashtextextended(p_tenant || ':' || (o ->> 'type') || ':' || (o ->> 'value'), 0))
       FROM jsonb_array_elements(v_obs) o ORDER BY o ->> 'type', o ->> 'value';
    IF v_customer IS NOT NULL THEN
        SELECT person_id INTO v_anchor FROM commerce.customer WHERE tenant_id = p_tenant AND customer_id = v_customer;
    END IF;
    -- without an account: the oldest person a merging identity names, else a new person
    IF v_anchor IS NULL THEN
        -- (one lookup per identity by its key: a join over the JSON would let the planner scan the table)
        FOR r IN SELECT o ->> 'type' AS type, o ->> 'value' AS value, (o ->> 'verified')::boolean AS verified,
                        (o ->> 'linkable')::boolean AS linkable
                   FROM jsonb_array_elements(v_obs) o LOOP
            CONTINUE WHEN NOT r.linkable OR commerce._identity_action(p_tenant, r.type, r.verified) <> 'merge';
            SELECT * INTO x FROM commerce.person_identity WHERE tenant_id = p_tenant AND type = r.type AND value = r.value;
            IF FOUND AND x.linkable AND x.person_id IS NOT NULL AND (x.type <> 'phone' OR x.verified) THEN
                v_anchor := least(coalesce(v_anchor, x.person_id), x.person_id);
            END IF;
        END LOOP;
    END IF;
    IF v_anchor IS NULL THEN
        INSERT INTO commerce.person (tenant_id, created_at) VALUES (p_tenant, v_now) RETURNING person_id INTO v_anchor;
        v_new := true;
    END IF;
    -- each known identity: the anchor's already, or another person's (merge, suggest or nothing)
    FOR r IN SELECT o ->> 'type' AS type, o ->> 'value' AS value, (o ->> 'verified')::boolean AS verified,
                    (o ->> 'linkable')::boolean AS linkable
               FROM jsonb_array_elements(v_obs) o ORDER BY 1, 2 LOOP
        SELECT * INTO x FROM commerce.person_identity WHERE tenant_id = p_tenant AND type = r.type AND value = r.value;
        CONTINUE WHEN NOT FOUND;
        UPDATE commerce.person_identity SET last_seen = v_now, verified = (verified OR r.verified) AND linkable
         WHERE tenant_id = p_tenant AND identity_id = x.identity_id;
        CONTINUE WHEN NOT (x.linkable AND r.linkable);
        IF x.person_id IS NULL THEN
            UPDATE commerce.person_identity SET person_id = v_anchor WHERE tenant_id = p_tenant AND identity_id = x.identity_id;
            CONTINUE;
        END IF;
        SELECT person_id INTO x.person_id FROM commerce.person_identity WHERE tenant_id = p_tenant AND identity_id = x.identity_id;
        CONTINUE WHEN x.person_id = v_anchor;
        -- the link is as strong as this observation's evidence (a phone on a platform order is not the owner's word)
        v_action := commerce._identity_action(p_tenant, r.type, r.verified);
        IF v_action = 'merge' AND r.type = 'phone' AND r.verified AND NOT x.verified THEN
            -- its owner verified a phone another person only gave on an order: the phone moves to its owner
            UPDATE commerce.person_identity SET person_id = v_anchor, customer_id = coalesce(v_customer, customer_id)
             WHERE tenant_id = p_tenant AND identity_id = x.identity_id;
            PERFORM commerce._suggest_merge(p_tenant, v_anchor, x.person_id, 'suggest',
                                            format('phone %s verified by %s, given unverified by the other', r.value, p_source));
            v_suggested := v_suggested + 1;
            CONTINUE;
        END IF;
        IF v_action = 'merge' THEN
            -- two different values of a single-valued type (the two persons', or this observation's and the other's) block it
            v_conflict := commerce._persons_conflict(p_tenant, v_anchor, x.person_id);
            IF v_conflict IS NULL THEN
                SELECT i.type INTO v_conflict
                  FROM commerce.person_identity i
                 WHERE i.tenant_id = p_tenant AND i.person_id IN (v_anchor, x.person_id) AND i.linkable
                   AND commerce._identity_single(i.type)
                   AND EXISTS (SELECT 1 FROM jsonb_array_elements(v_obs) o
                                WHERE o ->> 'type' = i.type AND o ->> 'value' <> i.value AND (o ->> 'linkable')::boolean)
                 LIMIT 1;
            END IF;
            IF v_conflict IS NULL AND EXISTS (SELECT 1 FROM commerce.merge_suggestion d
                                               WHERE d.tenant_id = p_tenant AND d.status = 'dismissed'
                                                 AND d.person_a = least(v_anchor, x.person_id) AND d.person_b = greatest(v_anchor, x.person_id)) THEN
                CONTINUE;   -- staff separated these two (an unmerge, a dismissal): only staff merge them again
            END IF;
            IF v_conflict IS NOT NULL THEN
                PERFORM commerce._suggest_merge(p_tenant, v_anchor, x.person_id, 'conflict',
                                                format('%s %s ties them, but each has its own %s', r.type, r.value, v_conflict));
                v_conflicts := v_conflicts + 1;
            ELSE
                v_anchor := commerce._merge_persons(p_tenant, v_anchor, x.person_id, format('%s %s (%s)', r.type, r.value, p_source));
                v_merged := v_merged + 1;
            END IF;
        ELSIF v_action = 'suggest' THEN
            PERFORM commerce._suggest_merge(p_tenant, v_anchor, x.person_id, 'suggest', format('%s %s (%s)', r.type, r.value, p_source));
            v_suggested := v_suggested + 1;
        END IF;
    END LOOP;
    -- the new identities join the person the observation resolved to (after its merges); a second
    -- UnionID is kept unattached (the person has one)
    FOR r IN SELECT o ->> 'type' AS type, o ->> 'value' AS value, (o ->> 'verified')::boolean AS verified,
                    (o ->> 'linkable')::boolean AS linkable
               FROM jsonb_array_elements(v_obs) o ORDER BY 1, 2 LOOP
        CONTINUE WHEN EXISTS (SELECT 1 FROM commerce.person_identity i WHERE i.tenant_id = p_tenant AND i.type = r.type AND i.value = r.value);
        INSERT INTO commerce.person_identity (tenant_id, type, value, person_id, customer_id, source, verified, linkable, first_seen, last_seen)
        VALUES (p_tenant, r.type, r.value,
                CASE WHEN r.linkable AND NOT (commerce._identity_single(r.type) AND EXISTS (
                          SELECT 1 FROM commerce.person_identity i WHERE i.tenant_id = p_tenant AND i.person_id = v_anchor
                             AND i.type = r.type AND i.linkable))
                     THEN v_anchor END,
                v_customer, left(p_source, 64), r.verified, r.linkable, v_now, v_now)
        ON CONFLICT (tenant_id, type, value) DO NOTHING;
    END LOOP;
    RETURN ROW(v_anchor, v_customer, v_merged, v_suggested, v_conflicts,
               CASE WHEN v_merged > 0 THEN 'merged' WHEN v_new THEN 'new' ELSE 'resolved' END)::commerce.identity_result;
END $$;
COMMENT ON FUNCTION commerce.observe_identities(bigint, text, jsonb, text) IS
  'Resolve an observation (a login, an order''s buyer, a sign-up) of a customer account (p_customer, or NULL for none: a platform buyer) carrying identities [{"type", "value", "verified"}]: each joins the account''s person; one that belongs to another person merges the two (platform ids, UnionIDs, OpenIDs, verified phones), suggests a merge (unverified phones) or nothing (the tenant''s identity_rule overrides); masked, virtual and blocklisted values are kept but never link; two different UnionIDs block an automatic merge and record a conflict. Phones are stored in E.164. Returns the person (identity_result).';

-- Mini-program one-tap login: the account, its identities and the person in one call.
CREATE FUNCTION commerce.mini_program_login(p_tenant bigint, p_app text, p_openid text, p_unionid text DEFAULT NULL,
                                            p_phone text DEFAULT NULL, p_nickname text DEFAULT NULL)
RETURNS commerce.identity_result LANGUAGE plpgsql AS $$
DECLARE v_code text; v_ids jsonb; v_created boolean := false; r commerce.identity_result;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_app, 'p_app');
    PERFORM commerce._require(p_openid, 'p_openid');
    IF p_app NOT IN ('wechat_mp', 'alipay_mp') THEN
        PERFORM commerce._invalid('p_app', format('"%s"', left(p_app, 64)), 'One-tap login comes from wechat_mp or alipay_mp.');
    END IF;
    IF length(p_openid) NOT BETWEEN 1 AND 128 OR length(p_unionid) NOT BETWEEN 1 AND 128 THEN
        PERFORM commerce._invalid('p_openid', 'An OpenID or UnionID is 1 to 128 characters.', 'Pass the ids the platform returned.');
    END IF;
    v_code := p_app || ':' || p_openid;
    -- the account (an insert only when new: a new account gets a new person)
    UPDATE commerce.customer SET name = coalesce(left(p_nickname, 100), name) WHERE tenant_id = p_tenant AND code = v_code;
    IF NOT FOUND THEN
        INSERT INTO commerce.customer (tenant_id, code, name) VALUES (p_tenant, v_code, left(p_nickname, 100))
        ON CONFLICT (tenant_id, code) DO NOTHING;
        v_created := FOUND;
    END IF;
    v_ids := jsonb_build_array(jsonb_build_object('type', CASE p_app WHEN 'wechat_mp' THEN 'wechat_openid' ELSE 'alipay_uid' END,
                                                  'value', CASE p_app WHEN 'wechat_mp' THEN p_app || ':' || p_openid ELSE p_openid END,
                                                  'verified', true));
    IF p_unionid IS NOT NULL THEN
        v_ids := v_ids || jsonb_build_object('type', 'wechat_unionid', 'value', p_unionid, 'verified', true);
    END IF;
    IF p_phone IS NOT NULL THEN   -- the phone the platform's one-tap button returned: verified by it
        v_ids := v_ids || jsonb_build_object('type', 'phone', 'value', p_phone, 'verified', true);
    END IF;
    r := commerce.observe_identities(p_tenant, v_code, v_ids, p_app);
    IF v_created AND r.outcome = 'resolved' THEN
        r.outcome := 'new';
    END IF;
    RETURN r;
END $$;
COMMENT ON FUNCTION commerce.mini_program_login(bigint, text, text, text, text, text) IS
  'Mini-program one-tap login (WeChat or Alipay): upserts the customer account <app>:<openid>, observes its OpenID (or Alipay user id), UnionID and the phone the platform verified, and returns the person in one call (identity_result).';

-- True when a person holds a customer account or an identity (not merged away).
CREATE FUNCTION commerce._person_live(p_tenant bigint, p_person bigint) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM commerce.customer WHERE tenant_id = p_tenant AND person_id = p_person)
        OR EXISTS (SELECT 1 FROM commerce.person_identity WHERE tenant_id = p_tenant AND person_id = p_person);
END $$;

-- Merge two persons by hand (staff deciding a suggestion or a conflict).
CREATE FUNCTION commerce.merge_persons(p_tenant bigint, p_a bigint, p_b bigint, p_reason text) RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_a, 'p_a');
    PERFORM commerce._require(p_b, 'p_b');
    PERFORM commerce._require(p_reason, 'p_reason');
    IF (SELECT count(*) FROM commerce.person WHERE tenant_id = p_tenant AND person_id IN (p_a, p_b)) <> 2 OR p_a = p_b THEN
        PERFORM commerce._not_found('person pair', p_a || ',' || p_b, p_tenant);
    END IF;
    IF NOT (commerce._person_live(p_tenant, p_a) AND commerce._person_live(p_tenant, p_b)) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'one of the persons was merged away',
            HINT = 'Merge the persons that hold the accounts now (commerce_api.person).';
    END IF;
    RETURN commerce._merge_persons(p_tenant, p_a, p_b, 'staff: ' || p_reason);
END $$;
COMMENT ON FUNCTION commerce.merge_persons(bigint, bigint, bigint, text) IS
  'Staff merge two persons (deciding a suggestion or a conflict): the older survives, the other''s accounts and identities move to it, recorded for an unmerge. Returns the survivor.';

-- Undo a merge: the moved accounts and identities go back.
CREATE FUNCTION commerce.unmerge_persons(p_tenant bigint, p_merge bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE m commerce.person_merge%ROWTYPE;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_merge, 'p_merge');
    SELECT * INTO m FROM commerce.person_merge WHERE tenant_id = p_tenant AND merge_id = p_merge;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('merge', p_merge::text, p_tenant);
    END IF;
    PERFORM 1 FROM commerce.person WHERE tenant_id = p_tenant AND person_id IN (m.survivor_id, m.loser_id) ORDER BY person_id FOR UPDATE;
    SELECT * INTO m FROM commerce.person_merge WHERE tenant_id = p_tenant AND merge_id = p_merge FOR UPDATE;
    IF m.unmerged_at IS NOT NULL THEN
        RETURN m.loser_id;
    END IF;
    -- later merges into the survivor moved what they moved; undo those first, newest first
    IF EXISTS (SELECT 1 FROM commerce.person_merge x WHERE x.tenant_id = p_tenant AND x.merge_id > m.merge_id
                 AND x.unmerged_at IS NULL AND (x.loser_id = m.survivor_id OR x.survivor_id = m.survivor_id)) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('merge %s has later merges of person %s', p_merge, m.survivor_id),
            HINT    = 'Unmerge the later merges first, newest first.';
    END IF;
    UPDATE commerce.customer SET person_id = m.loser_id
     WHERE tenant_id = p_tenant AND customer_id = ANY (m.customers) AND person_id = m.survivor_id;
    -- the identities it moved, and those that came later with the loser's accounts, go back with them
    UPDATE commerce.person_identity SET person_id = m.loser_id
     WHERE tenant_id = p_tenant AND person_id = m.survivor_id
       AND (identity_id = ANY (m.identities) OR customer_id = ANY (m.customers));
    UPDATE commerce.person_merge SET unmerged_at = commerce.now() WHERE tenant_id = p_tenant AND merge_id = p_merge;
    -- the pair is left as a decided suggestion, so the same evidence does not merge it again silently
    INSERT INTO commerce.merge_suggestion (tenant_id, person_a, person_b, kind, reason, status, created_at, decided_at)
    VALUES (p_tenant, m.survivor_id, m.loser_id, 'suggest', 'unmerged: ' || m.reason, 'dismissed', commerce.now(), commerce.now())
    ON CONFLICT (tenant_id, person_a, person_b) DO UPDATE SET status = 'dismissed', decided_at = commerce.now();
    RETURN m.loser_id;
END $$;
COMMENT ON FUNCTION commerce.unmerge_persons(bigint, bigint) IS
  'Undo a merge exactly: the customer accounts and identities it moved (and those that came later with the loser''s accounts) go back to the loser, so the points, memberships and orders read through each person are as before; the pair is recorded as dismissed, so the same evidence never merges it again automatically (staff may). Later merges of the survivor are undone first (PT409). A repeat returns the restored person.';

-- The persons a customer account's reads go through: its person's accounts.
CREATE FUNCTION commerce._person_customers(p_tenant bigint, p_customer bigint) RETURNS bigint[]
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN ARRAY(SELECT c2.customer_id FROM commerce.customer c1
                   JOIN commerce.customer c2 ON c2.tenant_id = c1.tenant_id AND c2.person_id = c1.person_id
                  WHERE c1.tenant_id = p_tenant AND c1.customer_id = p_customer ORDER BY 1);
END $$;

-- Every invariant of the identity graph; no rows means all hold.
CREATE FUNCTION commerce.check_identity_invariants(p_tenant bigint DEFAULT NULL)
RETURNS TABLE (invariant text, detail text) LANGUAGE sql STABLE AS $$
    -- a person holds at most one value of a single-valued type
    SELECT 'one unionid per person', format('person %s: %s %s values', i.person_id, i.type, count(*))
      FROM commerce.person_identity i
     WHERE (p_tenant IS NULL OR i.tenant_id = p_tenant) AND commerce._identity_single(i.type) AND i.linkable AND i.person_id IS NOT NULL
     GROUP BY i.tenant_id, i.person_id, i.type HAVING count(*) > 1
    UNION ALL
    -- an unlinkable value belongs to nobody it could join
    SELECT 'masked and blocklisted values stay unlinked', format('identity %s (%s)', i.identity_id, i.type)
      FROM commerce.person_identity i
     WHERE (p_tenant IS NULL OR i.tenant_id = p_tenant) AND NOT i.linkable AND i.person_id IS NOT NULL
    UNION ALL
    -- a merge in force moved everything of the loser: the loser holds nothing
    SELECT 'a merged person is empty', format('person %s (merged into %s) holds accounts or identities', m.loser_id, m.survivor_id)
      FROM commerce.person_merge m
     WHERE (p_tenant IS NULL OR m.tenant_id = p_tenant) AND m.unmerged_at IS NULL
       AND (EXISTS (SELECT 1 FROM commerce.customer c WHERE c.tenant_id = m.tenant_id AND c.person_id = m.loser_id)
            OR EXISTS (SELECT 1 FROM commerce.person_identity i WHERE i.tenant_id = m.tenant_id AND i.person_id = m.loser_id));
$$;
COMMENT ON FUNCTION commerce.check_identity_invariants(bigint) IS
  'Every invariant of the identity graph: a person holds at most one UnionID (and Alipay user id), masked, virtual and blocklisted values belong to no person, a merged person (merge in force) holds no account or identity. No rows means all hold.';
