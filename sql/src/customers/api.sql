-- sql/src/customers/api.sql: prices for HTTP clients; a customer sees the
-- price of its own member tier.

CREATE FUNCTION commerce_api.price(sku text, channel text, member_tier text DEFAULT NULL)
RETURNS commerce.resolved_price LANGUAGE plpgsql STABLE SECURITY DEFINER
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
    RETURN commerce.resolve_price(a.tenant_id, sku, channel, v_tier, NULL);
END $$;
REVOKE ALL ON FUNCTION commerce_api.price(text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.price(text, text, text) IS
  'The price of a SKU on a channel now (channel, member and flash prices resolved). Open to every caller; a signed-in customer gets its own member tier''s price (member_tier left out or its own); other callers may show any tier''s price (what an order pays is resolved from the customer when it is placed).';
