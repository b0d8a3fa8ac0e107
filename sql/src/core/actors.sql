-- sql/src/core/actors.sql: who is calling. Every commerce_api function takes
-- its actor (tenant, kind, subject) from the verified identity: the binding
-- of a login role (commerce.bind_role), or the claims a gateway's login role
-- (a member of commerce_authenticator) set after verifying a token. The trust
-- model is in docs/operations.md ("Roles and the trust model").

-- The verified identity of a session: tenant, kind of actor, subject, and where it came from.
CREATE TYPE commerce.identity AS (tenant_id bigint, kind text, subject text, source text);
COMMENT ON TYPE commerce.identity IS
  'The verified identity of a call: tenant, kind of actor (anonymous, customer, koc, store, operator, finance, service), subject (a customer, KOC or staff code, a service name) and its source (binding, postgrest, postgraphile, hasura, setting).';

-- An actor with what it may act on (staff: its stores and channels).
CREATE TYPE commerce.actor AS (tenant_id bigint, kind text, subject text, staff_id bigint, stores text[],
                               channels text[]);
COMMENT ON TYPE commerce.actor IS
  'The actor of a commerce_api call: its identity, and for staff the staff row''s id, stores and channels (NULL: all).';

-- The kinds of actor, each with its NOLOGIN role commerce_<kind>.
CREATE FUNCTION commerce.actor_kinds() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY['anonymous', 'customer', 'koc', 'store', 'operator', 'finance', 'service']::text[];
$$;
COMMENT ON FUNCTION commerce.actor_kinds() IS
  'The kinds of actor: anonymous (no token), customer (a mini-program or H5 user), koc, store (store staff), operator (HQ), finance, service (payment, payout and platform callbacks, workers). Each acts through the NOLOGIN role commerce_<kind>.';

-- Raise 42501 for a call without a usable identity.
CREATE FUNCTION commerce._no_identity(p_message text, p_detail text, p_hint text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = left(p_message, 300), DETAIL = left(p_detail, 300),
                          HINT = left(p_hint, 300);
END $$;

-- The claims of a request as a gateway set them: where from, and the tenant, subject and role claimed.
CREATE TYPE commerce.claims AS (source text, tenant text, subject text, role text);
COMMENT ON TYPE commerce.claims IS
  'The claims of a request, unverified by themselves: their source (postgrest, postgraphile, hasura, setting), the tenant, the subject and the role claimed. commerce._identity() believes them only in a trusted session.';

-- Whether this session's claims may be believed: a superuser's, or a gateway's login role's.
CREATE FUNCTION commerce._session_trusted() RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user), false) THEN
        RETURN true;
    END IF;
    RETURN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'commerce_authenticator')
           AND pg_has_role(session_user, 'commerce_authenticator', 'MEMBER');
END $$;

-- The claims of this request: the first source present is the only one read (a claim without a
-- tenant does not fall through); commerce.tenant_id only for a superuser (p_super).
CREATE FUNCTION commerce._claims(p_super boolean) RETURNS commerce.claims
LANGUAGE plpgsql STABLE AS $$
DECLARE c jsonb;
BEGIN
    c := nullif(current_setting('request.jwt.claims', true), '')::jsonb;                    -- PostgREST
    IF c IS NOT NULL AND c <> '{}' THEN
        RETURN ROW('postgrest', c ->> 'tenant_id', c ->> 'sub', c ->> 'role')::commerce.claims;
    END IF;
    IF coalesce(nullif(current_setting('jwt.claims.tenant_id', true), ''),
                nullif(current_setting('jwt.claims.sub', true), '')) IS NOT NULL THEN      -- PostGraphile
        RETURN ROW('postgraphile', nullif(current_setting('jwt.claims.tenant_id', true), ''),
                   nullif(current_setting('jwt.claims.sub', true), ''),
                   nullif(current_setting('jwt.claims.role', true), ''))::commerce.claims;
    END IF;
    c := nullif(current_setting('hasura.user', true), '')::jsonb;                           -- Hasura
    IF c IS NOT NULL AND c <> '{}' THEN
        RETURN ROW('hasura', c ->> 'x-hasura-tenant-id', c ->> 'x-hasura-user-id', c ->> 'x-hasura-role')::commerce.claims;
    END IF;
    IF p_super AND nullif(current_setting('commerce.tenant_id', true), '') IS NOT NULL THEN   -- superusers only
        RETURN ROW('setting', current_setting('commerce.tenant_id', true), NULL, NULL)::commerce.claims;
    END IF;
    RETURN ROW(NULL, NULL, NULL, NULL)::commerce.claims;
END $$;
COMMENT ON FUNCTION commerce._claims(boolean) IS
  'The claims of this request, from the first source present only: PostgREST request.jwt.claims, PostGraphile jwt.claims.*, Hasura hasura.user, and for a superuser (p_super) the commerce.tenant_id setting. Not verified: commerce._identity() and commerce._rls_tenant() believe them only in a trusted session.';

-- The verified identity of this session (binding, else a trusted gateway's claims); 42501 without one.
CREATE FUNCTION commerce._identity() RETURNS commerce.identity
LANGUAGE plpgsql STABLE AS $$
DECLARE
    b record; cl commerce.claims; v_src text; v_tenant text; v_sub text; v_kind text; v_claim_role text;
    v_role text := current_setting('role'); v_super boolean;
BEGIN
    -- 1. a login role bound to a tenant: the binding, whatever is set or claimed
    SELECT rb.tenant_id, rb.kind, rb.subject INTO b FROM commerce.role_binding rb WHERE rb.role_name = session_user;
    IF FOUND THEN
        RETURN ROW(b.tenant_id, b.kind, b.subject, 'binding')::commerce.identity;
    END IF;
    -- 2. claims, trusted only in a session of a gateway's login role (or of a superuser)
    IF NOT commerce._session_trusted() THEN
        PERFORM commerce._no_identity(format('no verified identity for role %s', left(session_user::text, 64)),
            'Claims and settings are trusted only in sessions of a gateway''s login role (a member of commerce_authenticator); this role is not one, and it is not bound to a tenant.',
            'Call through PostgREST, PostGraphile or Hasura connected as the login role given to commerce.grant_api(), or bind this login role with commerce.bind_role(role, tenant, kind, subject).');
    END IF;
    SELECT r.rolsuper INTO v_super FROM pg_roles r WHERE r.rolname = session_user;
    cl := commerce._claims(coalesce(v_super, false));
    v_src := cl.source; v_tenant := cl.tenant; v_sub := cl.subject; v_claim_role := cl.role;
    -- the kind: the actor role the gateway switched to (SET ROLE); for a superuser the role claim
    -- when it names a kind, else service; Hasura's role claim (Hasura does not switch roles)
    IF v_role LIKE 'commerce\_%' AND substr(v_role, 10) = ANY (commerce.actor_kinds()) THEN
        v_kind := substr(v_role, 10);
    ELSIF coalesce(v_super, false) THEN
        v_kind := CASE WHEN v_claim_role LIKE 'commerce\_%' THEN substr(v_claim_role, 10) ELSE v_claim_role END;
        IF v_kind IS NULL OR NOT v_kind = ANY (commerce.actor_kinds()) THEN
            v_kind := 'service';
        END IF;
    ELSIF v_role = 'none' AND v_src = 'hasura' THEN
        v_kind := v_claim_role;
    END IF;
    IF v_kind IS NULL OR NOT v_kind = ANY (commerce.actor_kinds()) THEN
        PERFORM commerce._no_identity(format('role %s is not an actor role',
                                             left(coalesce(nullif(v_role, 'none'), session_user::text), 64)),
            format('A gateway must switch to one of the roles commerce_%s.', array_to_string(commerce.actor_kinds(), ', commerce_')),
            'Give the token a role claim naming one of them (PostgREST, PostGraphile: role; Hasura: x-hasura-role with the kind).');
    END IF;
    -- anonymous callers name the shop they browse by a request header
    IF v_tenant IS NULL AND v_kind = 'anonymous' THEN
        v_tenant := nullif(current_setting('request.headers', true), '')::jsonb ->> 'x-tenant-id';
    END IF;
    IF v_tenant IS NULL OR v_tenant !~ '^[0-9]{1,18}$' THEN
        PERFORM commerce._no_identity('no tenant in the request', format('tenant claim: %s', coalesce(v_tenant, 'absent')),
            'Put tenant_id in the JWT claims (PostgREST, PostGraphile), x-hasura-tenant-id in the Hasura session, or SET commerce.tenant_id.');
    END IF;
    IF v_kind NOT IN ('anonymous', 'service') AND (v_sub IS NULL OR length(v_sub) NOT BETWEEN 1 AND 64) THEN
        PERFORM commerce._no_identity('the token has no usable subject',
            format('A %s acts as the customer, KOC or staff member its token''s subject names (sub: %s).', v_kind,
                   coalesce(left(v_sub, 64), 'absent')),
            'Issue tokens with sub set to the code of the customer, KOC or staff member (1 to 64 characters).');
    END IF;
    RETURN ROW(v_tenant::bigint, v_kind, v_sub, coalesce(v_src, 'none'))::commerce.identity;
END $$;
COMMENT ON FUNCTION commerce._identity() IS
  'The verified identity of this session: the binding of a login role (commerce.bind_role) whatever is set; else, in a session of a gateway''s login role (a member of commerce_authenticator) or of a superuser, the first claims source present (PostgREST request.jwt.claims, PostGraphile jwt.claims.*, Hasura hasura.user; commerce.tenant_id for superusers), with the kind from the actor role switched to. 42501 otherwise.';

-- The tenant row level security shows this session: its binding's, else (trusted sessions) the claims'; else NULL.
CREATE FUNCTION commerce._rls_tenant() RETURNS bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE v_tenant bigint; v_claim text;
BEGIN
    SELECT rb.tenant_id INTO v_tenant FROM commerce.role_binding rb WHERE rb.role_name = session_user;
    IF FOUND THEN
        RETURN v_tenant;
    END IF;
    IF NOT commerce._session_trusted() THEN
        RETURN NULL;
    END IF;
    v_claim := (commerce._claims(coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user), false))).tenant;
    RETURN CASE WHEN v_claim ~ '^[0-9]{1,18}$' THEN v_claim::bigint END;
END $$;
COMMENT ON FUNCTION commerce._rls_tenant() IS
  'The tenant whose rows row level security shows this session: a bound login role''s tenant, whatever is set; in a trusted session (a gateway''s login role, a superuser) the tenant of the first claims source present; otherwise NULL, which shows nothing.';

-- The caller's tenant (the verified identity's).
CREATE FUNCTION commerce.current_tenant() RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT (commerce._identity()).tenant_id;
$$;
COMMENT ON FUNCTION commerce.current_tenant() IS
  'The tenant of the verified identity of this session (commerce._identity()); 42501 without one.';

-- The actor of a commerce_api function open to p_kinds; 42501 for any other kind or an unknown staff member.
CREATE FUNCTION commerce._api_actor(p_function text, p_kinds text[]) RETURNS commerce.actor
LANGUAGE plpgsql STABLE AS $$
DECLARE i commerce.identity := commerce._identity(); s record;
BEGIN
    IF NOT i.kind = ANY (p_kinds) THEN
        PERFORM commerce._no_identity(format('%s is not open to %s callers', p_function, i.kind),
            format('It is open to: %s.', array_to_string(p_kinds, ', ')),
            'Call it with a token of one of those kinds of actor (docs/operations.md, the API matrix).');
    END IF;
    IF i.kind IN ('store', 'operator', 'finance') THEN
        SELECT st.staff_id, st.stores, st.channels INTO s FROM commerce.staff st
         WHERE st.tenant_id = i.tenant_id AND st.code = i.subject AND st.kind = i.kind AND st.active;
        IF NOT FOUND THEN
            PERFORM commerce._no_identity(format('"%s" is not active %s staff of tenant %s', left(i.subject, 64), i.kind,
                                                 i.tenant_id),
                'The token''s subject must be the code of an active staff member of that kind.',
                'Add the staff member with commerce.upsert_staff(tenant, code, name, kind, stores, channels).');
        END IF;
        RETURN ROW(i.tenant_id, i.kind, i.subject, s.staff_id, s.stores, s.channels)::commerce.actor;
    END IF;
    RETURN ROW(i.tenant_id, i.kind, i.subject, NULL, NULL, NULL)::commerce.actor;
END $$;
COMMENT ON FUNCTION commerce._api_actor(text, text[]) IS
  'The actor of a commerce_api function open to the kinds p_kinds (its first statement names them; commerce.grant_api grants by it): the verified identity, with the staff row for store, operator and finance. 42501 for another kind or an unknown or inactive staff member.';

-- Who a person calling acts as: itself (p_given NULL or its own subject); a service names it.
CREATE FUNCTION commerce._actor_subject(a commerce.actor, p_given text, p_name text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF a.kind = 'service' THEN
        RETURN p_given;
    END IF;
    IF p_given IS NOT NULL AND p_given IS DISTINCT FROM a.subject THEN
        PERFORM commerce._no_identity(format('a %s acts only as itself', a.kind),
            format('%s "%s" was given; the token''s subject is "%s".', p_name, left(p_given, 64), left(a.subject, 64)),
            format('Leave %s out (or NULL): it is taken from the token.', p_name));
    END IF;
    RETURN a.subject;
END $$;
COMMENT ON FUNCTION commerce._actor_subject(commerce.actor, text, text) IS
  'The customer, KOC or staff member a call acts as (the argument p_name): a person calling acts as its own subject, and naming another is refused with 42501; a service caller names it.';

-- Refuse a store or channel outside a staff member's scope (42501).
CREATE FUNCTION commerce._actor_scope(a commerce.actor, p_store text, p_channel text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF a.kind IN ('store', 'operator', 'finance') THEN
        IF a.stores IS NOT NULL AND (p_store IS NULL OR NOT p_store = ANY (a.stores)) THEN
            PERFORM commerce._no_identity(format('store %s is outside the scope of %s', coalesce(left(p_store, 64), '(none)'),
                                                 left(a.subject, 64)),
                format('%s may act for stores %s.', left(a.subject, 64), left(array_to_string(a.stores, ', '), 200)),
                'Act only on your own stores; HQ staff have no store list.');
        END IF;
        IF a.channels IS NOT NULL AND p_channel IS NOT NULL AND NOT p_channel = ANY (a.channels) THEN
            PERFORM commerce._no_identity(format('channel %s is outside the scope of %s', left(p_channel, 64), left(a.subject, 64)),
                format('%s may act on channels %s.', left(a.subject, 64), left(array_to_string(a.channels, ', '), 200)),
                'Act only on the channels you are authorised for.');
        END IF;
    END IF;
END $$;
COMMENT ON FUNCTION commerce._actor_scope(commerce.actor, text, text) IS
  'For staff callers: refuse (42501) a store not in the staff member''s stores and a channel not in its channels (NULL lists: all). Other kinds pass.';

-- The client's address: from the gateway's request headers for end users, as given for a service.
CREATE FUNCTION commerce._client_ip(a commerce.actor, p_given text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE h jsonb := nullif(current_setting('request.headers', true), '')::jsonb; v text;
BEGIN
    IF a.kind = 'service' AND p_given IS NOT NULL THEN
        v := p_given;     -- a backend passes its end user's address
    ELSE
        v := btrim(coalesce(split_part(h ->> 'x-forwarded-for', ',', 1), h ->> 'x-real-ip'));
    END IF;
    IF v IS NULL OR v = '' OR length(v) > 45 THEN
        RETURN NULL;
    END IF;
    BEGIN
        RETURN host(v::inet);
    EXCEPTION WHEN invalid_text_representation THEN
        RETURN NULL;      -- not an address: none
    END;
END $$;
COMMENT ON FUNCTION commerce._client_ip(commerce.actor, text) IS
  'The client address a call is judged by (blacklists, per-IP rates, clicks): for customers, KOCs, staff and anonymous callers the first X-Forwarded-For hop (else X-Real-IP) of the gateway''s request.headers, whatever the body says; for a service the address it passes (a backend''s end user), else the headers. NULL when there is none or it is not an address.';

-- The client's device id and user agent: from the request headers for end users, as given for a service.
CREATE FUNCTION commerce._client_header(a commerce.actor, p_given text, p_header text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT left(CASE WHEN a.kind = 'service' AND p_given IS NOT NULL THEN p_given
                     ELSE nullif(current_setting('request.headers', true), '')::jsonb ->> p_header END, 512);
$$;
COMMENT ON FUNCTION commerce._client_header(commerce.actor, text, text) IS
  'A client header a call is judged by (x-device-id for devices, user-agent for clicks): from the gateway''s request.headers for end users, whatever the body says; the value a service passes, else the header. At most 512 characters.';

-- Add or change a staff member (store staff, HQ operator, finance) with its stores and channels.
CREATE FUNCTION commerce.upsert_staff(p_tenant bigint, p_code text, p_name text, p_kind text,
                                      p_stores text[] DEFAULT NULL, p_channels text[] DEFAULT NULL,
                                      p_active boolean DEFAULT true)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_id bigint; v_bad text;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_name, 'p_name');
    PERFORM commerce._require(p_kind, 'p_kind');
    PERFORM commerce._require(p_active, 'p_active');
    IF p_kind NOT IN ('store', 'operator', 'finance') THEN
        PERFORM commerce._invalid('p_kind', format('"%s"', left(p_kind, 64)), 'A staff member is store, operator or finance.');
    END IF;
    IF p_kind = 'store' AND p_stores IS NULL THEN
        PERFORM commerce._invalid('p_stores', 'NULL', 'Store staff list the stores they act for.');
    END IF;
    SELECT string_agg(x, ', ') INTO v_bad FROM unnest(p_stores) x
     WHERE NOT EXISTS (SELECT 1 FROM commerce.store s WHERE s.tenant_id = p_tenant AND s.code = x);
    IF v_bad IS NOT NULL THEN
        PERFORM commerce._not_found('store', v_bad, p_tenant);
    END IF;
    SELECT string_agg(x, ', ') INTO v_bad FROM unnest(p_channels) x
     WHERE NOT EXISTS (SELECT 1 FROM commerce.channel ch WHERE ch.tenant_id = p_tenant AND ch.code = x);
    IF v_bad IS NOT NULL THEN
        PERFORM commerce._not_found('channel', v_bad, p_tenant);
    END IF;
    INSERT INTO commerce.staff AS st (tenant_id, code, name, kind, stores, channels, active)
    VALUES (p_tenant, p_code, p_name, p_kind, p_stores, p_channels, p_active)
    ON CONFLICT (tenant_id, code) DO UPDATE
       SET name = EXCLUDED.name, kind = EXCLUDED.kind, stores = EXCLUDED.stores, channels = EXCLUDED.channels,
           active = EXCLUDED.active, updated_at = now()
    RETURNING st.staff_id INTO v_id;
    RETURN v_id;
END $$;
COMMENT ON FUNCTION commerce.upsert_staff(bigint, text, text, text, text[], text[], boolean) IS
  'Add or change a staff member: kind store (store staff, limited to p_stores), operator (HQ) or finance; p_channels limits the channels (NULL: all). A token whose subject is the code acts as this staff member; p_active false stops it at once.';

-- Bind a login role to one tenant and actor, for a backend that calls commerce_api over plain SQL.
CREATE FUNCTION commerce.bind_role(p_role name, p_tenant bigint, p_kind text, p_subject text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_role, 'p_role');
    PERFORM commerce._require(p_kind, 'p_kind');
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_role) THEN
        PERFORM commerce._not_found('role', p_role::text, p_tenant);
    END IF;
    IF p_kind NOT IN ('customer', 'koc', 'store', 'operator', 'finance', 'service') THEN
        PERFORM commerce._invalid('p_kind', format('"%s"', left(p_kind, 64)),
                                  'A bound role acts as a customer, koc, store, operator, finance or service.');
    END IF;
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = p_role) THEN
        PERFORM commerce._invalid('p_role', format('%s is a superuser', p_role),
                                  'Bind an ordinary login role; superusers are never limited.');
    END IF;
    INSERT INTO commerce.role_binding (tenant_id, role_name, kind, subject)
    VALUES (p_tenant, p_role, p_kind, p_subject)
    ON CONFLICT (role_name) DO UPDATE SET tenant_id = EXCLUDED.tenant_id, kind = EXCLUDED.kind,
                                          subject = EXCLUDED.subject;
    EXECUTE format('GRANT %I TO %I', 'commerce_' || p_kind, p_role);
    EXECUTE format('GRANT USAGE ON SCHEMA commerce TO %I', p_role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION commerce._rls_tenant() TO %I', p_role);
END $$;
COMMENT ON FUNCTION commerce.bind_role(name, bigint, text, text) IS
  'Bind a login role to one tenant and actor (kind and subject) and grant it the actor role commerce_<kind> (run commerce.grant_api() first): its sessions act so whatever they set or claim, and row level security shows them that tenant only. For backends that call commerce_api over plain SQL.';

-- The actor kinds each commerce_api function is open to, read from its _api_actor call.
CREATE FUNCTION commerce.api_matrix()
RETURNS TABLE (function regprocedure, kinds text[])
LANGUAGE sql STABLE AS $$
    SELECT p.oid::regprocedure,
           string_to_array((regexp_match(p.prosrc, '_api_actor\(''[^'']+'', ''\{([a-z,]+)\}''\)'))[1], ',')
      FROM pg_proc p
     WHERE p.pronamespace = 'commerce_api'::regnamespace
     ORDER BY 1::text;
$$;
COMMENT ON FUNCTION commerce.api_matrix() IS
  'Every commerce_api function with the kinds of actor it is open to, as its own commerce._api_actor call names them (NULL: none, it is granted to no actor role). commerce.grant_api grants by it.';

-- Create the actor roles and grant them the API by the matrix; give them to a gateway's login role.
CREATE FUNCTION commerce.grant_api(p_authenticator name DEFAULT NULL)
RETURNS TABLE (role name, functions integer)
LANGUAGE plpgsql AS $$
DECLARE k text; r name; m record; n integer;
BEGIN
    IF p_authenticator IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_authenticator) THEN
        PERFORM commerce._not_found('role', p_authenticator::text, NULL);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'commerce_authenticator') THEN
        CREATE ROLE commerce_authenticator NOLOGIN;
    END IF;
    FOREACH k IN ARRAY commerce.actor_kinds() LOOP
        r := 'commerce_' || k;
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
        EXECUTE format('GRANT USAGE ON SCHEMA commerce_api, commerce TO %I', r);
        EXECUTE format('GRANT EXECUTE ON FUNCTION commerce._rls_tenant() TO %I', r);   -- the policies call it
        n := 0;
        FOR m IN SELECT * FROM commerce.api_matrix() LOOP
            IF k = ANY (m.kinds) THEN
                EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', m.function, r);
                n := n + 1;
            ELSE
                EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM %I', m.function, r);
            END IF;
        END LOOP;
        IF p_authenticator IS NOT NULL THEN
            EXECUTE format('GRANT %I TO %I', r, p_authenticator);
        END IF;
        role := r; functions := n;
        RETURN NEXT;
    END LOOP;
    -- Hasura's read variants: for the gateways' login roles, not for the actor roles
    GRANT USAGE ON SCHEMA commerce_hasura TO commerce_authenticator;
    GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA commerce_hasura TO commerce_authenticator;
    IF p_authenticator IS NOT NULL THEN
        EXECUTE format('GRANT commerce_authenticator TO %I', p_authenticator);
    END IF;
    PERFORM commerce._audit(0, 'grant_api', p_authenticator, jsonb_build_object('authenticator', p_authenticator), 'granted');
END $$;
COMMENT ON FUNCTION commerce.grant_api(name) IS
  'Create the NOLOGIN actor roles (commerce_anonymous, _customer, _koc, _store, _operator, _finance, _service and commerce_authenticator) if missing, grant each exactly the commerce_api functions open to it (commerce.api_matrix()) and revoke the rest, and commerce_authenticator Hasura''s read variants (commerce_hasura); with p_authenticator, make that login role a trusted gateway that may switch to every actor role. Audited. Idempotent: rerun after every ALTER EXTENSION UPDATE.';
