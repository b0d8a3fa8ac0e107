-- sql/src/catalog/api.sql: HQ's catalog through commerce_api: products, SKUs
-- and prices, by HQ operators as themselves (audited where the table is).

CREATE FUNCTION commerce_api.upsert_product(code text, name text, kind text DEFAULT 'physical',
                                            virtual_kind text DEFAULT NULL, brand text DEFAULT NULL,
                                            category text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.upsert_product', '{operator,service}');
BEGIN
    RETURN commerce.upsert_product(a.tenant_id, upsert_product.code, left(upsert_product.name, 200), upsert_product.kind,
                                   upsert_product.virtual_kind, left(upsert_product.brand, 100),
                                   left(upsert_product.category, 100));
END $$;
REVOKE ALL ON FUNCTION commerce_api.upsert_product(text, text, text, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.upsert_product(text, text, text, text, text, text) IS
  'HQ creates or changes a product by code: name, kind (physical, virtual), virtual_kind (course, activation_code, membership_card, live_ticket), brand, category. HQ operators and services. Returns the product id.';

CREATE FUNCTION commerce_api.upsert_sku(product text, code text, name text, msrp_fen bigint, floor_fen bigint DEFAULT 0,
                                        cost_fen bigint DEFAULT NULL, weight_g integer DEFAULT NULL,
                                        volume_cm3 integer DEFAULT NULL, spec jsonb DEFAULT '{}')
RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.upsert_sku', '{operator,service}');
BEGIN
    RETURN commerce.upsert_sku(a.tenant_id, upsert_sku.product, upsert_sku.code, left(upsert_sku.name, 200),
                               upsert_sku.msrp_fen, upsert_sku.floor_fen, upsert_sku.cost_fen, upsert_sku.weight_g,
                               upsert_sku.volume_cm3, upsert_sku.spec);
END $$;
REVOKE ALL ON FUNCTION commerce_api.upsert_sku(text, text, text, bigint, bigint, bigint, integer, integer, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.upsert_sku(text, text, text, bigint, bigint, bigint, integer, integer, jsonb) IS
  'HQ creates or changes a SKU of a product: name, list price (msrp_fen), the floor no price may go below (floor_fen; 23514 otherwise), cost, weight, volume and spec ({"size":"L"}). HQ operators and services. Returns the SKU id.';

CREATE FUNCTION commerce_api.set_price(sku text, kind text, price_fen bigint, channel text DEFAULT NULL,
                                       member_tier text DEFAULT NULL, valid_from timestamptz DEFAULT '-infinity',
                                       valid_to timestamptz DEFAULT 'infinity')
RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.set_price', '{operator,service}');
BEGIN
    PERFORM commerce._actor_scope(a, NULL, set_price.channel);
    RETURN commerce.set_price(a.tenant_id, set_price.sku, set_price.kind, set_price.price_fen, set_price.channel,
                              set_price.member_tier, set_price.valid_from, set_price.valid_to);
END $$;
REVOKE ALL ON FUNCTION commerce_api.set_price(text, text, bigint, text, text, timestamptz, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.set_price(text, text, bigint, text, text, timestamptz, timestamptz) IS
  'HQ sets a price of a SKU (H3.1.2): kind channel (with channel), member (with member_tier) or flash (with its window), in fen, never below the SKU''s floor (23514). An operator limited to some channels sets prices of those only (42501). Audited. HQ operators and services. Returns the price id.';
