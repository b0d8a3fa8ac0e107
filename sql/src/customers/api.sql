-- sql/src/customers/api.sql: prices for HTTP clients; a customer sees the
-- price of its own member tier.

-- The shape of a resolved price (an API row type: selects nothing itself).
CREATE VIEW commerce_api.price_quote AS
SELECT NULL::bigint AS price_fen, NULL::text AS source, NULL::bigint AS price_id WHERE false;
COMMENT ON VIEW commerce_api.price_quote IS
  E'@omit all\nThe price of a SKU on a channel now: in fen, where it came from (flash, member, channel or msrp) and the price row (NULL for the list price).';

CREATE FUNCTION commerce_api.price(sku text, channel text, member_tier text DEFAULT NULL)
RETURNS SETOF commerce_api.price_quote LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.price', '{anonymous,customer,koc,store,operator,finance,service}');
        v_tier text := member_tier;
BEGIN
    IF a.kind = 'customer' THEN
        SELECT cu.member_tier INTO v_tier FROM commerce.customer cu
         WHERE cu.tenant_id = a.tenant_id AND cu.code = a.subject;
        IF member_tier IS NOT NULL AND member_tier IS DISTINCT FROM v_tier THEN
            PERFORM commerce._no_identity('a customer sees the price of its own member tier',
                format('member_tier "%s" was given; the customer''s tier is %s.', left(member_tier, 64),
                       coalesce('"' || v_tier || '"', 'none')),
                'Leave member_tier out: it is taken from the customer.');
        END IF;
    END IF;
    RETURN QUERY SELECT * FROM commerce.resolve_price(a.tenant_id, sku, channel, v_tier, NULL);
END $$;
REVOKE ALL ON FUNCTION commerce_api.price(text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.price(text, text, text) IS
  'The price of a SKU on a channel now (channel, member and flash prices resolved). Open to every caller; a signed-in customer gets its own member tier''s price (member_tier left out or its own); other callers may show any tier''s price (what an order pays is resolved from the customer when it is placed).';

-- The shape of a customer's own profile (an API row type: selects nothing itself).
CREATE VIEW commerce_api.customer_profile AS
SELECT NULL::text AS customer, NULL::text AS name, NULL::text AS phone_masked, NULL::text AS member_tier,
       NULL::text AS member_tier_name, NULL::timestamptz AS registered_at
 WHERE false;
COMMENT ON VIEW commerce_api.customer_profile IS
  E'@omit all\nA customer''s own profile: its code (the token''s subject), name, phone masked (138****1234), paid membership tier (code and name; NULL without one) and when it signed up. Returned by sign_up and me.';

-- Sign up (or update one's name and phone): the customer is the token's subject.
CREATE FUNCTION commerce_api.sign_up(name text DEFAULT NULL, phone text DEFAULT NULL)
RETURNS SETOF commerce_api.customer_profile LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.sign_up', '{customer}');
BEGIN
    IF length(sign_up.name) NOT BETWEEN 1 AND 64 THEN
        PERFORM commerce._invalid('name', format('%s characters', length(sign_up.name)), 'A name is 1 to 64 characters.');
    END IF;
    IF sign_up.phone !~ '^\+?[0-9]{6,15}$' THEN
        PERFORM commerce._invalid('phone', format('"%s"', left(sign_up.phone, 32)),
                                  'A phone number is 6 to 15 digits, optionally after +.');
    END IF;
    INSERT INTO commerce.customer AS cu (tenant_id, code, name, phone)
    VALUES (a.tenant_id, a.subject, sign_up.name, sign_up.phone)
    ON CONFLICT (tenant_id, code) DO UPDATE
       SET name = coalesce(EXCLUDED.name, cu.name), phone = coalesce(EXCLUDED.phone, cu.phone);
    RETURN QUERY SELECT * FROM commerce._customer_profile(a);
END $$;
REVOKE ALL ON FUNCTION commerce_api.sign_up(text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.sign_up(text, text) IS
  'Sign up as the customer the token names (its subject, e.g. the mini-program user id), or change one''s name (1 to 64 characters) and phone (6 to 15 digits); an argument left out keeps what is there. The membership tier is never set here. Customers only. Returns the profile (customer_profile).';

-- A customer's profile row.
CREATE FUNCTION commerce._customer_profile(a commerce.actor) RETURNS SETOF commerce_api.customer_profile
LANGUAGE sql STABLE AS $$
    SELECT cu.code, cu.name, commerce.mask_phone(cu.phone), cu.member_tier, t.name, cu.created_at
      FROM commerce.customer cu
      LEFT JOIN commerce.member_tier t ON t.tenant_id = cu.tenant_id AND t.code = cu.member_tier
     WHERE cu.tenant_id = a.tenant_id AND cu.code = a.subject;
$$;

CREATE FUNCTION commerce_api.me()
RETURNS SETOF commerce_api.customer_profile LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.me', '{customer}');
BEGIN
    RETURN QUERY SELECT * FROM commerce._customer_profile(a);
END $$;
REVOKE ALL ON FUNCTION commerce_api.me() FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.me() IS
  'The calling customer''s profile (customer_profile); no row before sign_up. Customers only.';

-- The shape of a catalog entry (an API row type).
CREATE VIEW commerce_api.catalog_item AS
SELECT NULL::text AS sku, NULL::text AS product, NULL::text AS name, NULL::text AS product_name,
       NULL::text AS kind, NULL::text AS virtual_kind, NULL::text AS brand, NULL::text AS category,
       NULL::jsonb AS spec, NULL::bigint AS msrp_fen, NULL::bigint AS price_fen, NULL::text AS price_yuan,
       NULL::text AS price_source, NULL::bigint AS available, NULL::boolean AS presale
 WHERE false;
COMMENT ON VIEW commerce_api.catalog_item IS
  E'@omit all\nA SKU as a shop shows it: codes and names, product kind (physical or virtual and which), brand, category, spec (size, colour, ...), the list price (msrp_fen) and the price now for the caller on the channel (price_fen, price_yuan as an exact string; price_source msrp, channel, member or flash), the units available to order from the shared stock (activities'' own stock not included), and whether it is sold before stock arrives (presale).';

CREATE FUNCTION commerce_api.catalog(channel text, search text DEFAULT NULL, category text DEFAULT NULL,
                                     after_sku text DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.catalog_item LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.catalog', '{anonymous,customer,koc,store,operator,finance,service}');
        v_tier text;
BEGIN
    PERFORM commerce._require(catalog.channel, 'channel');
    PERFORM commerce._api_page(catalog.page_size);
    IF NOT EXISTS (SELECT 1 FROM commerce.channel ch WHERE ch.tenant_id = a.tenant_id AND ch.code = catalog.channel) THEN
        PERFORM commerce._not_found('channel', catalog.channel, a.tenant_id);
    END IF;
    IF a.kind = 'customer' THEN
        SELECT cu.member_tier INTO v_tier FROM commerce.customer cu WHERE cu.tenant_id = a.tenant_id AND cu.code = a.subject;
    END IF;
    RETURN QUERY
    SELECT s.code, p.code, s.name, p.name, p.kind, p.virtual_kind, p.brand, p.category, s.spec, s.msrp_fen,
           r.price_fen, commerce.yuan(r.price_fen), r.source,
           (SELECT coalesce(sum(st.available), 0)::bigint FROM commerce.stock st
             WHERE st.tenant_id = s.tenant_id AND st.sku = s.code AND st.activity IS NULL AND st.status = 'open'),
           s.presale
      FROM commerce.sku s
      JOIN commerce.product p ON p.tenant_id = s.tenant_id AND p.product_id = s.product_id
      CROSS JOIN LATERAL commerce.resolve_price(s.tenant_id, s.code, catalog.channel, v_tier) r
     WHERE s.tenant_id = a.tenant_id AND s.active
       AND (catalog.after_sku IS NULL OR s.code > catalog.after_sku)
       AND (catalog.category IS NULL OR p.category = catalog.category)
       AND (catalog.search IS NULL OR strpos(lower(s.name || ' ' || p.name), lower(left(catalog.search, 64))) > 0)
     ORDER BY s.code
     LIMIT catalog.page_size;
END $$;
REVOKE ALL ON FUNCTION commerce_api.catalog(text, text, text, text, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.catalog(text, text, text, text, integer) IS
  'The active SKUs of the shop on a channel (catalog_item), by SKU code: search matches the SKU or product name, category the product''s; paged by cursor (after_sku: the last sku of the previous page; page_size: 1 to 100, default 20). A signed-in customer sees its own member tier''s price; flash prices apply in their window. Open to every caller.';

-- Hasura's variants of the reads above (commerce_hasura: the session passed as hasura_session).

CREATE FUNCTION commerce_hasura.me(hasura_session json)
RETURNS SETOF commerce_api.customer_profile LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.me();
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.me(json) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.me(json) IS
  'Hasura: commerce_api.me for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

CREATE FUNCTION commerce_hasura.catalog(hasura_session json, channel text, search text DEFAULT NULL, category text DEFAULT NULL, after_sku text DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.catalog_item LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.catalog(catalog.channel, catalog.search, catalog.category, catalog.after_sku, catalog.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.catalog(json, text, text, text, text, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.catalog(json, text, text, text, text, integer) IS
  'Hasura: commerce_api.catalog for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

CREATE FUNCTION commerce_hasura.price(hasura_session json, sku text, channel text, member_tier text DEFAULT NULL)
RETURNS SETOF commerce_api.price_quote LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.price(price.sku, price.channel, price.member_tier);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.price(json, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.price(json, text, text, text) IS
  'Hasura: commerce_api.price for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

CREATE FUNCTION commerce_api.set_birthday(birthday date, customer text DEFAULT NULL)
RETURNS date LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.set_birthday', '{customer,operator,service}');
        v_customer text := set_birthday.customer; v_date date;
BEGIN
    IF a.kind = 'customer' THEN
        v_customer := commerce._actor_subject(a, set_birthday.customer, 'customer');
    END IF;
    PERFORM commerce._require(v_customer, 'customer');
    -- HQ staff (customer service) correct a birthday; a customer and a service set it once
    v_date := commerce.set_birthday(a.tenant_id, v_customer, set_birthday.birthday, a.kind = 'operator');
    IF a.kind = 'operator' THEN
        PERFORM commerce._audit(a.tenant_id, 'set_birthday', v_customer, jsonb_build_object('birthday', v_date), 'corrected');
    END IF;
    RETURN v_date;
END $$;
REVOKE ALL ON FUNCTION commerce_api.set_birthday(date, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.set_birthday(date, text) IS
  'A customer sets its birthday, once (another date later is PT409; a service names the customer); HQ operators correct it (audited). Birthday benefits (double points in the birthday month for members whose plan gives them) read it. Returns the birthday.';

-- Identity fusion for HTTP clients: the mini-program backend logs customers in and platform
-- adapters report buyers (services); a customer reads its own person; HQ reviews suggestions
-- and merges or unmerges (audited).

-- The shape of an observation's outcome.
CREATE VIEW commerce_api.person_resolution AS
SELECT NULL::bigint AS person_id, NULL::text AS customer, NULL::integer AS merged, NULL::integer AS suggested,
       NULL::integer AS conflicts, NULL::text AS outcome
 WHERE false;
COMMENT ON VIEW commerce_api.person_resolution IS
  E'@omit all\nWhat identity resolution made of an observation: the person, the customer account it came with, how many persons it merged into that one, how many merges it suggested and how many a conflict blocked (two UnionIDs), and what happened (new, resolved, merged).';

CREATE FUNCTION commerce_api.mini_program_login(app text, openid text, unionid text DEFAULT NULL, phone text DEFAULT NULL,
                                                nickname text DEFAULT NULL)
RETURNS SETOF commerce_api.person_resolution LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.mini_program_login', '{service}');
        r commerce.identity_result;
BEGIN
    r := commerce.mini_program_login(a.tenant_id, mini_program_login.app, mini_program_login.openid, mini_program_login.unionid,
                                     mini_program_login.phone, mini_program_login.nickname);
    RETURN QUERY SELECT r.person_id, cu.code, r.merged, r.suggested, r.conflicts, r.outcome
                   FROM commerce.customer cu WHERE cu.tenant_id = a.tenant_id AND cu.customer_id = r.customer_id;
END $$;
REVOKE ALL ON FUNCTION commerce_api.mini_program_login(text, text, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.mini_program_login(text, text, text, text, text) IS
  'The mini-program backend (a service), after the platform''s code exchange: one-tap login of WeChat (app wechat_mp: OpenID, UnionID) or Alipay (alipay_mp: user id) with the phone the platform verified; the account <app>:<openid> is created or found, its identities resolved, the person returned (person_resolution). The token it then issues names the account as its subject.';

CREATE FUNCTION commerce_api.observe_identities(identities jsonb, source text, customer text DEFAULT NULL)
RETURNS SETOF commerce_api.person_resolution LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.observe_identities', '{service}');
        r commerce.identity_result;
BEGIN
    r := commerce.observe_identities(a.tenant_id, observe_identities.customer, observe_identities.identities, observe_identities.source);
    RETURN QUERY SELECT r.person_id, observe_identities.customer, r.merged, r.suggested, r.conflicts, r.outcome;
END $$;
REVOKE ALL ON FUNCTION commerce_api.observe_identities(jsonb, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.observe_identities(jsonb, text, text) IS
  'A platform adapter or backend (a service) reports identities seen together: [{"type","value","verified"}] from source (taobao, douyin, h5, wecom, ...), with the customer account if there is one. Resolved by the tenant''s rules (merge, suggest, never; masked, virtual and blocklisted values never link; two UnionIDs block a merge). Returns the person (person_resolution).';

-- The shape of a merge suggestion.
CREATE VIEW commerce_api.merge_review AS
SELECT NULL::bigint AS suggestion_id, NULL::bigint AS person_a, NULL::bigint AS person_b, NULL::text AS kind, NULL::text AS reason,
       NULL::text AS status, NULL::timestamptz AS created_at, NULL::text[] AS accounts_a, NULL::text[] AS accounts_b
 WHERE false;
COMMENT ON VIEW commerce_api.merge_review IS
  E'@omit all\nTwo persons that may be one, for review: kind suggest (an unverified phone tied them) or conflict (a strong identity tied them but each has its own UnionID), why, status (open, merged, dismissed) and the customer accounts of each.';

CREATE FUNCTION commerce_api.merge_suggestions(status text DEFAULT 'open', before_id bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.merge_review LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.merge_suggestions', '{operator,service}');
BEGIN
    PERFORM commerce._api_page(merge_suggestions.page_size);
    RETURN QUERY
    SELECT s.suggestion_id, s.person_a, s.person_b, s.kind, s.reason, s.status, s.created_at,
           ARRAY(SELECT cu.code FROM commerce.customer cu WHERE cu.tenant_id = s.tenant_id AND cu.person_id = s.person_a ORDER BY 1),
           ARRAY(SELECT cu.code FROM commerce.customer cu WHERE cu.tenant_id = s.tenant_id AND cu.person_id = s.person_b ORDER BY 1)
      FROM commerce.merge_suggestion s
     WHERE s.tenant_id = a.tenant_id AND (merge_suggestions.status IS NULL OR s.status = merge_suggestions.status)
       AND (merge_suggestions.before_id IS NULL OR s.suggestion_id < merge_suggestions.before_id)
     ORDER BY s.suggestion_id DESC LIMIT merge_suggestions.page_size;
END $$;
REVOKE ALL ON FUNCTION commerce_api.merge_suggestions(text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.merge_suggestions(text, bigint, integer) IS
  'Merge suggestions and conflicts newest first (merge_review), by status (open by default; NULL: all). HQ operators and services. Paged by cursor: before_id, page_size 1 to 100.';
