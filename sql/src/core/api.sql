-- sql/src/core/api.sql: the commerce_api schema (who calls it:
-- sql/src/core/actors.sql).

CREATE SCHEMA commerce_api;
COMMENT ON SCHEMA commerce_api IS
  'The HTTP/GraphQL face of commerce: functions that take their actor (tenant, customer, KOC, staff member or service) from the verified identity. commerce.grant_api() grants each to the actor roles it is open to.';

-- PostgREST's pre-request hook: refuse a request without a usable identity before any function runs.
CREATE FUNCTION commerce_api.pre_request() RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.pre_request', '{anonymous,customer,koc,store,operator,finance,service}');
BEGIN
    PERFORM a;   -- the identity is checked; staff must be active
END $$;
REVOKE ALL ON FUNCTION commerce_api.pre_request() FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.pre_request() IS
  'PostgREST''s db-pre-request hook (db-pre-request = "commerce_api.pre_request"): checks the verified identity of every request once, before the function it calls, so a token without a tenant, a usable subject or an active staff member is refused with 42501 whatever it calls. Returns nothing.';

-- Check a page size of a list function: 1 to 100 (22004, 22023).
CREATE FUNCTION commerce._api_page(p_page_size integer) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    PERFORM commerce._require(p_page_size, 'page_size');
    IF p_page_size NOT BETWEEN 1 AND 100 THEN
        PERFORM commerce._invalid('page_size', format('%s rows', p_page_size),
                                  'Ask for 1 to 100 rows a page; page on with the cursor argument (after_sku, before_id).');
    END IF;
END $$;

-- Hasura's entry points for reads: Hasura sets hasura.user for mutations only, and passes the
-- session to a query only as an argument of the function (session_argument: hasura_session).
CREATE SCHEMA commerce_hasura;
COMMENT ON SCHEMA commerce_hasura IS
  'Hasura''s variants of the commerce_api reads: each takes the session variables as its first argument hasura_session (track it with session_argument: hasura_session) and returns what the commerce_api function of the same name returns, for the actor of those variables. Executable by the gateways'' login roles only (commerce.grant_api grants them to commerce_authenticator), never by the actor roles PostgREST and PostGraphile switch to.';

-- Take a Hasura query's session variables as this request's claims (hasura.user, for this transaction).
CREATE FUNCTION commerce._hasura_session(p_session json) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('role') <> 'none' OR NOT commerce._session_trusted()
       OR EXISTS (SELECT 1 FROM commerce.role_binding rb WHERE rb.role_name = session_user) THEN
        PERFORM commerce._no_identity('hasura_session is for Hasura''s own database user',
            format('The session is %s, role %s.', left(session_user::text, 64), left(current_setting('role'), 64)),
            'Call commerce_hasura functions through Hasura connected as the role given to commerce.grant_api(); others call commerce_api.');
    END IF;
    IF p_session IS NULL OR json_typeof(p_session) <> 'object' THEN
        PERFORM commerce._no_identity('no Hasura session', format('hasura_session: %s', coalesce(left(p_session::text, 100), 'NULL')),
            'Track the function with session_argument: hasura_session.');
    END IF;
    PERFORM set_config('hasura.user', p_session::text, true);
END $$;
COMMENT ON FUNCTION commerce._hasura_session(json) IS
  'The first statement of every commerce_hasura function: in a session of Hasura''s database user (trusted, a member of commerce_authenticator, no role switched, not bound) the session variables Hasura passes (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id) become this transaction''s hasura.user, which commerce._identity() reads as Hasura''s claims; anywhere else 42501.';
