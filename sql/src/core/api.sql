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
