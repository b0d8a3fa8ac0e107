-- sql/src/members/api.sql: points for HTTP clients. A customer reads its own
-- balance and history; HQ grants points as itself; spending is the points
-- mall's backend (a service), once per request_id.

-- The shape of a points balance (an API row type: selects nothing itself).
CREATE VIEW commerce_api.points_balance AS
SELECT NULL::text AS customer, NULL::bigint AS available, NULL::bigint AS pending, NULL::bigint AS earned,
       NULL::bigint AS spent, NULL::bigint AS expired, NULL::bigint AS reversed,
       NULL::timestamptz AS next_expiry_at, NULL::bigint AS next_expiry_points
 WHERE false;
COMMENT ON VIEW commerce_api.points_balance IS
  E'@omit all\nA customer''s points: available to spend, pending (earned by purchases still in their return window), and all earned, spent, expired and reversed by refunds; when the next available points expire and how many.';

-- A customer's balance as a points_balance row.
CREATE FUNCTION commerce._points_balance(p_tenant bigint, p_customer text) RETURNS SETOF commerce_api.points_balance
LANGUAGE sql STABLE AS $$
    SELECT cu.code, coalesce(a.available, 0), coalesce(a.pending, 0), coalesce(a.earned, 0), coalesce(a.spent, 0),
           coalesce(a.expired, 0), coalesce(a.reversed, 0), n.expires_at, n.points
      FROM commerce.customer cu
      LEFT JOIN commerce.points_account a ON a.tenant_id = cu.tenant_id AND a.customer_id = cu.customer_id
      LEFT JOIN LATERAL (SELECT l.expires_at, sum(l.remaining)::bigint AS points FROM commerce.points_lot l
                          WHERE l.tenant_id = cu.tenant_id AND l.customer_id = cu.customer_id AND l.status = 'available'
                          GROUP BY l.expires_at ORDER BY l.expires_at LIMIT 1) n ON true
     WHERE cu.tenant_id = p_tenant AND cu.code = p_customer;
$$;

CREATE FUNCTION commerce_api.points(customer text DEFAULT NULL)
RETURNS SETOF commerce_api.points_balance LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.points', '{customer,store,operator,service}');
        v_customer text := points.customer;
BEGIN
    IF a.kind = 'customer' THEN
        v_customer := commerce._actor_subject(a, points.customer, 'customer');
    END IF;
    PERFORM commerce._require(v_customer, 'customer');
    RETURN QUERY SELECT * FROM commerce._points_balance(a.tenant_id, v_customer);
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', v_customer, a.tenant_id);
    END IF;
END $$;
REVOKE ALL ON FUNCTION commerce_api.points(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.points(text) IS
  'A customer''s points (points_balance): a customer its own (customer left out or its own); store staff at the counter, operators and services name the customer.';

-- The shape of a movement of points.
CREATE VIEW commerce_api.points_entry AS
SELECT NULL::bigint AS entry_id, NULL::text AS kind, NULL::bigint AS delta_available, NULL::bigint AS delta_pending,
       NULL::text AS source, NULL::text AS reason, NULL::timestamptz AS created_at
 WHERE false;
COMMENT ON VIEW commerce_api.points_entry IS
  E'@omit all\nOne movement of a customer''s points: kind (earn, release: pending became available, spend, expire, reverse: a refund took them back, unrecovered: a refund found them already spent), the change to available and to pending points, the source of the lot (purchase, grant, interaction, checkin, task), the reason, when.';

CREATE FUNCTION commerce_api.points_history(customer text DEFAULT NULL, before_id bigint DEFAULT NULL,
                                            page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.points_entry LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.points_history', '{customer,operator,service}');
        v_customer text := points_history.customer; v_id bigint;
BEGIN
    PERFORM commerce._api_page(points_history.page_size);
    IF a.kind = 'customer' THEN
        v_customer := commerce._actor_subject(a, points_history.customer, 'customer');
    END IF;
    PERFORM commerce._require(v_customer, 'customer');
    SELECT cu.customer_id INTO v_id FROM commerce.customer cu WHERE cu.tenant_id = a.tenant_id AND cu.code = v_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', v_customer, a.tenant_id);
    END IF;
    RETURN QUERY
    SELECT g.entry_id, g.kind, g.delta_available, g.delta_pending, l.source, g.reason, g.created_at
      FROM commerce.points_ledger g
      LEFT JOIN commerce.points_lot l ON l.tenant_id = g.tenant_id AND l.lot_id = g.lot_id
     WHERE g.tenant_id = a.tenant_id AND g.customer_id = v_id
       AND (points_history.before_id IS NULL OR g.entry_id < points_history.before_id)
     ORDER BY g.entry_id DESC
     LIMIT points_history.page_size;
END $$;
REVOKE ALL ON FUNCTION commerce_api.points_history(text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.points_history(text, bigint, integer) IS
  'A customer''s movements of points newest first (points_entry): a customer its own; operators and services name the customer. Paged by cursor: before_id is the last entry_id of the previous page, page_size 1 to 100 (default 20).';

CREATE FUNCTION commerce_api.grant_points(request_id text, customer text, points bigint, reason text,
                                          expire_days integer DEFAULT 365)
RETURNS SETOF commerce_api.points_balance LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.grant_points', '{operator,service}');
BEGIN
    PERFORM commerce.earn_points(a.tenant_id, 'grant', grant_points.request_id, grant_points.customer, grant_points.points,
                                 left(grant_points.reason, 150) || ' (' || coalesce(a.subject, a.kind) || ')', 0,
                                 grant_points.expire_days);
    RETURN QUERY SELECT * FROM commerce._points_balance(a.tenant_id, grant_points.customer);
END $$;
REVOKE ALL ON FUNCTION commerce_api.grant_points(text, text, bigint, text, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.grant_points(text, text, bigint, text, integer) IS
  'HQ grants a customer points (goodwill, a campaign), available at once for expire_days (1 to 3650), with a reason recorded under the operator''s code. Once per request_id. HQ operators and services. Returns the balance (points_balance).';

CREATE FUNCTION commerce_api.spend_points(request_id text, customer text, points bigint, reason text)
RETURNS SETOF commerce_api.points_balance LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.spend_points', '{service}');
BEGIN
    PERFORM commerce.spend_points(a.tenant_id, spend_points.request_id, spend_points.customer, spend_points.points,
                                  spend_points.reason);
    RETURN QUERY SELECT * FROM commerce._points_balance(a.tenant_id, spend_points.customer);
END $$;
REVOKE ALL ON FUNCTION commerce_api.spend_points(text, text, bigint, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.spend_points(text, text, bigint, text) IS
  'The points mall''s backend (service only) spends a customer''s points, earliest expiry first, never more than it has (PT409, nothing spent). Once per request_id. Returns the balance (points_balance).';

-- The shape of a check-in.
CREATE VIEW commerce_api.checkin AS
SELECT NULL::date AS day, NULL::integer AS streak, NULL::bigint AS points, NULL::text AS outcome WHERE false;
COMMENT ON VIEW commerce_api.checkin IS
  E'@omit all\nA daily check-in: the tenant-local day, the streak (days in a row, this one included), the points it earned and what happened (checked_in, or already: checked in before that day, nothing earned).';

CREATE FUNCTION commerce_api.check_in(customer text DEFAULT NULL)
RETURNS SETOF commerce_api.checkin LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.check_in', '{customer,service}');
BEGIN
    RETURN QUERY SELECT * FROM commerce.check_in(a.tenant_id, commerce._actor_subject(a, check_in.customer, 'customer'));
END $$;
REVOKE ALL ON FUNCTION commerce_api.check_in(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.check_in(text) IS
  'The daily check-in (checkin): a customer for itself (a service names the customer), once a tenant-local day, with its streak and points. PT409 when the tenant has no check-in.';

-- Hasura's variants of the reads above (commerce_hasura: the session passed as hasura_session).

CREATE FUNCTION commerce_hasura.points(hasura_session json, customer text DEFAULT NULL)
RETURNS SETOF commerce_api.points_balance LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.points(points.customer);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.points(json, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.points(json, text) IS
  'Hasura: commerce_api.points for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

CREATE FUNCTION commerce_hasura.points_history(hasura_session json, customer text DEFAULT NULL,
                                               before_id bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.points_entry LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.points_history(points_history.customer, points_history.before_id,
                                                           points_history.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.points_history(json, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.points_history(json, text, bigint, integer) IS
  'Hasura: commerce_api.points_history for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
