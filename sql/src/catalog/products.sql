-- sql/src/catalog/products.sql: upserts of channels, member tiers, products
-- and SKUs.

-- Create or update a sales channel by code.
CREATE FUNCTION commerce.upsert_channel(p_tenant bigint, p_code text, p_name text,
                                        p_kind text DEFAULT 'platform')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_id bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_name, 'p_name');
    PERFORM commerce._require(p_kind, 'p_kind');
    IF p_kind NOT IN ('self_operated', 'platform') THEN
        PERFORM commerce._invalid('p_kind', format('Channel kind "%s" is unknown.', p_kind),
                                  'Use self_operated or platform.');
    END IF;
    INSERT INTO commerce.channel (tenant_id, code, name, kind)
    VALUES (p_tenant, p_code, p_name, p_kind)
    ON CONFLICT (tenant_id, code) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind
    RETURNING channel_id INTO v_id;
    RETURN v_id;
END $$;

-- Create or update a member tier by code.
CREATE FUNCTION commerce.upsert_member_tier(p_tenant bigint, p_code text, p_name text,
                                            p_rank integer DEFAULT 0)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_name, 'p_name');
    INSERT INTO commerce.member_tier (tenant_id, code, name, rank)
    VALUES (p_tenant, p_code, p_name, coalesce(p_rank, 0))
    ON CONFLICT (tenant_id, code) DO UPDATE SET name = EXCLUDED.name, rank = EXCLUDED.rank;
    RETURN p_code;
END $$;

-- Create or update a product by code.
CREATE FUNCTION commerce.upsert_product(p_tenant bigint, p_code text, p_name text,
                                        p_kind text DEFAULT 'physical',
                                        p_virtual_kind text DEFAULT NULL,
                                        p_brand text DEFAULT NULL,
                                        p_category text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_id bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_name, 'p_name');
    PERFORM commerce._require(p_kind, 'p_kind');
    IF p_kind NOT IN ('physical', 'virtual') THEN
        PERFORM commerce._invalid('p_kind', format('Product kind "%s" is unknown.', p_kind),
                                  'Use physical or virtual.');
    END IF;
    IF (p_kind = 'virtual') <> (p_virtual_kind IS NOT NULL)
       OR p_virtual_kind NOT IN ('course', 'activation_code', 'membership_card', 'live_ticket') THEN
        PERFORM commerce._invalid('p_virtual_kind',
            format('kind %s with virtual_kind %s', p_kind, coalesce(p_virtual_kind, 'NULL')),
            'Virtual products need a virtual_kind (course, activation_code, membership_card, live_ticket); physical ones none.');
    END IF;
    INSERT INTO commerce.product (tenant_id, code, name, kind, virtual_kind, brand, category)
    VALUES (p_tenant, p_code, p_name, p_kind, p_virtual_kind, p_brand, p_category)
    ON CONFLICT (tenant_id, code) DO UPDATE
       SET name = EXCLUDED.name, kind = EXCLUDED.kind, virtual_kind = EXCLUDED.virtual_kind,
           brand = EXCLUDED.brand, category = EXCLUDED.category
    RETURNING product_id INTO v_id;
    RETURN v_id;
END $$;

-- Create or update a SKU by code (the floor guard checks MSRP and prices).
CREATE FUNCTION commerce.upsert_sku(p_tenant bigint, p_product text, p_code text, p_name text,
                                    p_msrp_fen bigint, p_floor_fen bigint DEFAULT 0,
                                    p_cost_fen bigint DEFAULT NULL,
                                    p_weight_g integer DEFAULT NULL,
                                    p_volume_cm3 integer DEFAULT NULL,
                                    p_spec jsonb DEFAULT '{}')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_product bigint; v_id bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_product, 'p_product');
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_name, 'p_name');
    PERFORM commerce._require(p_msrp_fen, 'p_msrp_fen');
    IF p_msrp_fen < 0 OR coalesce(p_floor_fen, 0) < 0 OR p_cost_fen < 0
       OR p_weight_g < 0 OR p_volume_cm3 < 0 THEN
        PERFORM commerce._invalid('SKU amounts',
            'Prices, cost, weight and volume cannot be negative.',
            'Amounts are integer fen (1 yuan = 100 fen); weight in grams, volume in cm3.');
    END IF;
    SELECT product_id INTO v_product FROM commerce.product
     WHERE tenant_id = p_tenant AND code = p_product;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('product', p_product, p_tenant);
    END IF;
    INSERT INTO commerce.sku (tenant_id, product_id, code, name, msrp_fen, floor_fen,
                              cost_fen, weight_g, volume_cm3, spec)
    VALUES (p_tenant, v_product, p_code, p_name, p_msrp_fen, coalesce(p_floor_fen, 0),
            p_cost_fen, p_weight_g, p_volume_cm3, coalesce(p_spec, '{}'))
    ON CONFLICT (tenant_id, code) DO UPDATE
       SET product_id = EXCLUDED.product_id, name = EXCLUDED.name,
           msrp_fen = EXCLUDED.msrp_fen, floor_fen = EXCLUDED.floor_fen,
           cost_fen = EXCLUDED.cost_fen, weight_g = EXCLUDED.weight_g,
           volume_cm3 = EXCLUDED.volume_cm3, spec = EXCLUDED.spec
    RETURNING sku_id INTO v_id;
    RETURN v_id;
END $$;
