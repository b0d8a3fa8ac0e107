-- sql/src/coupons/api.sql: coupons for HTTP clients. Anyone of the tenant
-- sees the batches open for claims; a customer claims for itself and reads its
-- own coupons; HQ defines templates and batches and issues coupons as itself
-- (audited). Coupons are used by naming them in place_order.

-- The shape of a batch open for claims.
CREATE VIEW commerce_api.coupon_offer AS
SELECT NULL::text AS batch, NULL::text AS template, NULL::text AS name, NULL::text AS kind, NULL::bigint AS amount_fen,
       NULL::integer AS percent_off_bp, NULL::bigint AS max_off_fen, NULL::bigint AS threshold_fen,
       NULL::text AS threshold_yuan, NULL::text AS stacking, NULL::integer AS per_customer_limit,
       NULL::timestamptz AS valid_from, NULL::timestamptz AS valid_until, NULL::integer AS valid_days,
       NULL::bigint AS quota, NULL::bigint AS remaining, NULL::boolean AS claimable, NULL::timestamptz AS claim_from,
       NULL::timestamptz AS claim_until, NULL::text AS status
 WHERE false;
COMMENT ON VIEW commerce_api.coupon_offer IS
  E'@omit all\nA batch of coupons: its template (kind amount: amount_fen off from threshold_fen up; percent: percent_off_bp off, at most max_off_fen), how it stacks, how many one customer may hold, how long a coupon lasts (a window, or valid_days after the claim), how many the batch holds and has left (quota, remaining; NULL: no limit), whether customers claim it themselves and when, and its status (open, closed).';

-- Batches as coupon_offer rows.
CREATE FUNCTION commerce._coupon_offers(p_tenant bigint, p_batch text, p_claimable_only boolean)
RETURNS SETOF commerce_api.coupon_offer LANGUAGE sql STABLE AS $$
    SELECT b.code, t.code, t.name, t.kind, t.amount_fen, t.percent_off_bp, t.max_off_fen, t.threshold_fen,
           commerce.yuan(t.threshold_fen), t.stacking, t.per_customer_limit, t.valid_from, t.valid_until, t.valid_days,
           b.quota, b.quota - s.issued, b.claimable, b.claim_from, b.claim_until,
           CASE WHEN b.status = 'open' AND t.active THEN 'open' ELSE 'closed' END
      FROM commerce.coupon_batch b
      JOIN commerce.coupon_template t ON t.tenant_id = b.tenant_id AND t.template_id = b.template_id
      CROSS JOIN LATERAL (SELECT sum(x.issued)::bigint AS issued FROM commerce.coupon_slot x
                           WHERE x.tenant_id = b.tenant_id AND x.batch_id = b.batch_id) s
     WHERE b.tenant_id = p_tenant AND (p_batch IS NULL OR b.code = p_batch)
       AND (NOT p_claimable_only
            OR (b.claimable AND b.status = 'open' AND t.active
                AND (b.claim_from IS NULL OR b.claim_from <= commerce.now())
                AND (b.claim_until IS NULL OR b.claim_until > commerce.now())))
     ORDER BY b.code;
$$;

CREATE FUNCTION commerce_api.coupon_batches(after_batch text DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.coupon_offer LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.coupon_batches', '{anonymous,customer,operator,service}');
BEGIN
    PERFORM commerce._api_page(coupon_batches.page_size);
    RETURN QUERY SELECT * FROM commerce._coupon_offers(a.tenant_id, NULL, a.kind IN ('anonymous', 'customer')) o
                  WHERE coupon_batches.after_batch IS NULL OR o.batch > coupon_batches.after_batch
                  LIMIT coupon_batches.page_size;
END $$;
REVOKE ALL ON FUNCTION commerce_api.coupon_batches(text, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.coupon_batches(text, integer) IS
  'The coupon batches of the tenant (coupon_offer) by batch code: visitors and customers see those they can claim now (open, claimable, in their claim window); HQ operators and services see all. Paged by cursor: after_batch is the last batch of the previous page, page_size 1 to 100 (default 20).';

-- The shape of a customer's coupon.
CREATE VIEW commerce_api.my_coupon AS
SELECT NULL::bigint AS coupon_id, NULL::text AS batch, NULL::text AS name, NULL::text AS kind, NULL::bigint AS amount_fen,
       NULL::text AS amount_yuan, NULL::integer AS percent_off_bp, NULL::bigint AS max_off_fen,
       NULL::bigint AS threshold_fen, NULL::text AS stacking, NULL::text AS status, NULL::timestamptz AS valid_from,
       NULL::timestamptz AS valid_until, NULL::bigint AS order_id, NULL::text AS source, NULL::timestamptz AS issued_at,
       NULL::text AS outcome
 WHERE false;
COMMENT ON VIEW commerce_api.my_coupon IS
  E'@omit all\nA coupon a customer holds: what it takes off (kind amount: amount_fen, amount_yuan the exact string, from threshold_fen up; percent: percent_off_bp, at most max_off_fen), how it stacks, its status (issued: usable in its validity; locked: held by order_id until that order is paid or cancelled; used; expired), validity, where it came from (claim, issue, reward, redeem, flow) and when; outcome after a claim or issue (issued, or existing: that request had issued it before).';

-- A customer's coupons as my_coupon rows.
CREATE FUNCTION commerce._my_coupons(p_tenant bigint, p_customer bigint, p_status text, p_before bigint, p_limit integer,
                                     p_coupon bigint, p_outcome text)
RETURNS SETOF commerce_api.my_coupon LANGUAGE sql STABLE AS $$
    SELECT c.coupon_id, b.code, t.name, t.kind, t.amount_fen, commerce.yuan(t.amount_fen), t.percent_off_bp, t.max_off_fen,
           t.threshold_fen, t.stacking, c.status, c.valid_from, c.valid_until, c.order_id, c.source, c.issued_at, p_outcome
      FROM commerce.coupon c
      JOIN commerce.coupon_batch b ON b.tenant_id = c.tenant_id AND b.batch_id = c.batch_id
      JOIN commerce.coupon_template t ON t.tenant_id = c.tenant_id AND t.template_id = c.template_id
     WHERE c.tenant_id = p_tenant AND c.customer_id = p_customer
       AND (p_coupon IS NULL OR c.coupon_id = p_coupon)
       AND (p_status IS NULL OR c.status = p_status)
       AND (p_before IS NULL OR c.coupon_id < p_before)
     ORDER BY c.coupon_id DESC
     LIMIT p_limit;
$$;

-- The customer an API call is for: a customer itself, other actors name it (PT404 when unknown; 42501 for a customer naming another).
CREATE FUNCTION commerce._api_customer(a commerce.actor, p_customer text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE v_code text := p_customer; v_id bigint;
BEGIN
    IF a.kind = 'customer' THEN
        v_code := commerce._actor_subject(a, p_customer, 'customer');
    END IF;
    PERFORM commerce._require(v_code, 'customer');
    SELECT customer_id INTO v_id FROM commerce.customer WHERE tenant_id = a.tenant_id AND code = v_code;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', v_code, a.tenant_id);
    END IF;
    RETURN v_id;
END $$;

CREATE FUNCTION commerce_api.my_coupons(status text DEFAULT NULL, customer text DEFAULT NULL, before_id bigint DEFAULT NULL,
                                        page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.my_coupon LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.my_coupons', '{customer,store,operator,service}');
        v_customer bigint;
BEGIN
    PERFORM commerce._api_page(my_coupons.page_size);
    IF my_coupons.status IS NOT NULL AND my_coupons.status NOT IN ('issued', 'locked', 'used', 'expired') THEN
        PERFORM commerce._invalid('status', format('"%s"', left(my_coupons.status, 64)),
                                  'A coupon is issued, locked, used or expired; leave status out for all.');
    END IF;
    v_customer := commerce._api_customer(a, my_coupons.customer);
    RETURN QUERY SELECT * FROM commerce._my_coupons(a.tenant_id, v_customer, my_coupons.status, my_coupons.before_id,
                                                    my_coupons.page_size, NULL, NULL);
END $$;
REVOKE ALL ON FUNCTION commerce_api.my_coupons(text, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.my_coupons(text, text, bigint, integer) IS
  'A customer''s coupons newest first (my_coupon), optionally of one status (issued, locked, used, expired): a customer its own; store staff at the counter, operators and services name the customer. Paged by cursor: before_id is the last coupon_id of the previous page, page_size 1 to 100 (default 20).';

CREATE FUNCTION commerce_api.claim_coupon(request_id text, batch text, customer text DEFAULT NULL)
RETURNS SETOF commerce_api.my_coupon LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.claim_coupon', '{customer,service}');
        v_code text := commerce._actor_subject(a, claim_coupon.customer, 'customer'); r commerce.coupon_issue_result;
BEGIN
    PERFORM commerce._require(v_code, 'customer');
    r := commerce.issue_coupon(a.tenant_id, 'claim', claim_coupon.request_id, claim_coupon.batch, v_code);
    RETURN QUERY SELECT * FROM commerce._my_coupons(a.tenant_id, commerce._api_customer(a, v_code), NULL, NULL, 1,
                                                    r.coupon_id, r.outcome);
END $$;
REVOKE ALL ON FUNCTION commerce_api.claim_coupon(text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.claim_coupon(text, text, text) IS
  'A customer claims a coupon of a claimable batch for itself (a service names the customer), once per request_id (a retry returns the coupon, outcome existing). Never more than the batch holds (PT409: all claimed, nothing changed), never more than the template allows one customer (PT409); PT403 for a batch that is only issued, PT409 outside its claim window. Returns the coupon (my_coupon).';

CREATE FUNCTION commerce_api.issue_coupon(request_id text, batch text, customer text, reason text)
RETURNS SETOF commerce_api.my_coupon LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.issue_coupon', '{operator,service}');
        r commerce.coupon_issue_result;
BEGIN
    PERFORM commerce._require(issue_coupon.reason, 'reason');
    r := commerce.issue_coupon(a.tenant_id, 'issue', issue_coupon.request_id, issue_coupon.batch, issue_coupon.customer);
    IF r.outcome = 'issued' THEN
        PERFORM commerce._audit(a.tenant_id, 'issue_coupon', r.coupon_id::text,
                                jsonb_build_object('batch', issue_coupon.batch, 'customer', issue_coupon.customer,
                                                   'reason', left(issue_coupon.reason, 200)), 'issued');
    END IF;
    RETURN QUERY SELECT * FROM commerce._my_coupons(a.tenant_id, commerce._api_customer(a, issue_coupon.customer), NULL,
                                                    NULL, 1, r.coupon_id, r.outcome);
END $$;
REVOKE ALL ON FUNCTION commerce_api.issue_coupon(text, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.issue_coupon(text, text, text, text) IS
  'HQ issues a coupon of a batch (claimable or not) to a customer (goodwill, a campaign) with a reason, audited under the operator; once per request_id; the batch''s quota and the per-customer limit hold (PT409). HQ operators and services. Returns the coupon (my_coupon).';

CREATE FUNCTION commerce_api.create_coupon_template(code text, spec jsonb)
RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.create_coupon_template', '{operator,service}');
        v_id bigint;
BEGIN
    PERFORM commerce._actor_scope(a, NULL, NULL);
    -- an operator limited to some channels defines coupons of those channels only
    IF a.channels IS NOT NULL THEN
        IF jsonb_typeof(create_coupon_template.spec -> 'channels') IS DISTINCT FROM 'array' THEN
            PERFORM commerce._actor_scope(a, NULL, '(every channel)');
        END IF;
        PERFORM commerce._actor_scope(a, NULL, e) FROM jsonb_array_elements_text(create_coupon_template.spec -> 'channels') e;
    END IF;
    v_id := commerce.create_coupon_template(a.tenant_id, create_coupon_template.code, create_coupon_template.spec);
    PERFORM commerce._audit(a.tenant_id, 'create_coupon_template', create_coupon_template.code,
                            jsonb_build_object('spec', create_coupon_template.spec), 'defined');
    RETURN v_id;
END $$;
REVOKE ALL ON FUNCTION commerce_api.create_coupon_template(text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.create_coupon_template(text, jsonb) IS
  'HQ defines a coupon template by code (audited; an operator limited to some channels names channels among them, 42501 otherwise): spec {"name", "kind":"amount"|"percent", "amount_fen" | "percent_off_bp" (+ "max_off_fen"), "threshold_fen", "valid_from"+"valid_until" or "valid_days", "channels", "products", "skus", "stores" (codes), "stacking":"exclusive"|"stackable", "per_customer_limit"}. Terms never change (the same terms again: the same template; other terms: PT409). HQ operators and services. Returns the template id.';

CREATE FUNCTION commerce_api.create_coupon_batch(code text, template text, quota bigint, claimable boolean DEFAULT true,
                                                 claim_from timestamptz DEFAULT NULL, claim_until timestamptz DEFAULT NULL)
RETURNS SETOF commerce_api.coupon_offer LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.create_coupon_batch', '{operator,service}');
BEGIN
    PERFORM commerce._actor_scope(a, NULL, NULL);
    PERFORM commerce.create_coupon_batch(a.tenant_id, create_coupon_batch.template, create_coupon_batch.code,
                                         create_coupon_batch.quota, create_coupon_batch.claimable,
                                         create_coupon_batch.claim_from, create_coupon_batch.claim_until);
    PERFORM commerce._audit(a.tenant_id, 'create_coupon_batch', create_coupon_batch.code,
                            jsonb_build_object('template', create_coupon_batch.template, 'quota', create_coupon_batch.quota,
                                               'claimable', create_coupon_batch.claimable), 'created');
    RETURN QUERY SELECT * FROM commerce._coupon_offers(a.tenant_id, create_coupon_batch.code, false);
END $$;
REVOKE ALL ON FUNCTION commerce_api.create_coupon_batch(text, text, bigint, boolean, timestamptz, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.create_coupon_batch(text, text, bigint, boolean, timestamptz, timestamptz) IS
  'HQ creates a batch of a template (audited): quota coupons (NULL: no limit), claimable by customers between claim_from and claim_until, or issued only (claimable false). The same terms again return the batch; other terms PT409. HQ operators and services. Returns the batch (coupon_offer).';

CREATE FUNCTION commerce_api.redeem_store_coupon(coupon_id bigint, store text, customer text)
RETURNS SETOF commerce_api.my_coupon LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.redeem_store_coupon', '{store,service}');
        r commerce.coupon_issue_result;
BEGIN
    PERFORM commerce._actor_scope(a, redeem_store_coupon.store, NULL);
    r := commerce.redeem_store_coupon(a.tenant_id, redeem_store_coupon.coupon_id, redeem_store_coupon.store,
                                      redeem_store_coupon.customer);
    RETURN QUERY SELECT * FROM commerce._my_coupons(a.tenant_id, commerce._api_customer(a, redeem_store_coupon.customer),
                                                    NULL, NULL, 1, r.coupon_id, r.outcome);
END $$;
REVOKE ALL ON FUNCTION commerce_api.redeem_store_coupon(bigint, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.redeem_store_coupon(bigint, text, text) IS
  'Store staff redeem at their store''s counter a store-scoped coupon the customer presents (its coupon id, from the customer''s my_coupons QR code): the customer''s own, valid at that store, issued and in its validity; once. Store staff of that store (42501 for another) and services. Returns the coupon (my_coupon).';

-- Hasura's variants of the reads above (commerce_hasura: the session passed as hasura_session).

CREATE FUNCTION commerce_hasura.coupon_batches(hasura_session json, after_batch text DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.coupon_offer LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.coupon_batches(coupon_batches.after_batch, coupon_batches.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.coupon_batches(json, text, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.coupon_batches(json, text, integer) IS
  'Hasura: commerce_api.coupon_batches for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

CREATE FUNCTION commerce_hasura.my_coupons(hasura_session json, status text DEFAULT NULL, customer text DEFAULT NULL,
                                           before_id bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.my_coupon LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.my_coupons(my_coupons.status, my_coupons.customer, my_coupons.before_id,
                                                       my_coupons.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.my_coupons(json, text, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.my_coupons(json, text, text, bigint, integer) IS
  'Hasura: commerce_api.my_coupons for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
