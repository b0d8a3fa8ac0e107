-- sql/src/core/tenants.sql: creating a tenant with its default channels and
-- warehouse; stores and warehouses.

-- Check that a tenant exists; raise PT404 if not.
CREATE FUNCTION commerce._tenant(p_tenant bigint)
RETURNS commerce.tenant_row LANGUAGE plpgsql STABLE AS $$
DECLARE t commerce.tenant_row;
BEGIN
    PERFORM commerce._require(p_tenant, 'p_tenant');
    SELECT * INTO t FROM commerce.tenant WHERE tenant_id = p_tenant;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'PT404',
            MESSAGE = format('tenant "%s" not found', p_tenant),
            DETAIL  = 'No tenant with that id exists.',
            HINT    = 'Create it with commerce.create_tenant(code, name); look ids up with commerce.tenant_id(code).';
    END IF;
    RETURN t;
END $$;

-- Create (or rename) a tenant; seeds the default channels and warehouse.
CREATE FUNCTION commerce.create_tenant(p_code text, p_name text,
                                       p_time_zone text DEFAULT 'Asia/Shanghai')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_id bigint;
BEGIN
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_name, 'p_name');
    PERFORM commerce._require(p_time_zone, 'p_time_zone');
    IF NOT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = p_time_zone) THEN
        PERFORM commerce._invalid('p_time_zone',
            format('"%s" is not a known time zone.', p_time_zone),
            'Use an IANA name such as Asia/Shanghai.');
    END IF;
    INSERT INTO commerce.tenant (code, name, time_zone)
    VALUES (p_code, p_name, p_time_zone)
    ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, time_zone = EXCLUDED.time_zone
    RETURNING tenant_id INTO v_id;
    INSERT INTO commerce.channel (tenant_id, code, name, kind)
    VALUES (v_id, 'wechat_mp', 'WeChat mini-program', 'self_operated'),
           (v_id, 'alipay_mp', 'Alipay mini-program', 'self_operated'),
           (v_id, 'h5',        'H5 site',             'self_operated'),
           (v_id, 'taobao',    'Taobao/Tmall',        'platform'),
           (v_id, 'douyin',    'Douyin',              'platform'),
           (v_id, 'xiaohongshu','Xiaohongshu',        'platform'),
           (v_id, 'pdd',       'PDD',                 'platform')
    ON CONFLICT DO NOTHING;
    INSERT INTO commerce.warehouse (tenant_id, code, name)
    VALUES (v_id, 'main', 'Main warehouse')
    ON CONFLICT DO NOTHING;
    RETURN v_id;
END $$;

-- Tenant id for a tenant code (PT404 if unknown).
CREATE FUNCTION commerce.tenant_id(p_code text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE v_id bigint;
BEGIN
    PERFORM commerce._require(p_code, 'p_code');
    SELECT tenant_id INTO v_id FROM commerce.tenant WHERE code = p_code;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'PT404',
            MESSAGE = format('tenant "%s" not found', CASE WHEN length(p_code) > 64 THEN left(p_code, 64) || '...' ELSE p_code END),
            HINT = 'Create it with commerce.create_tenant(code, name).';
    END IF;
    RETURN v_id;
END $$;

-- Create or update a store by code.
CREATE FUNCTION commerce.upsert_store(p_tenant bigint, p_code text, p_name text,
                                      p_region text DEFAULT NULL, p_city text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_id bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_name, 'p_name');
    INSERT INTO commerce.store (tenant_id, code, name, region, city)
    VALUES (p_tenant, p_code, p_name, p_region, p_city)
    ON CONFLICT (tenant_id, code) DO UPDATE
       SET name = EXCLUDED.name, region = EXCLUDED.region, city = EXCLUDED.city
    RETURNING store_id INTO v_id;
    RETURN v_id;
END $$;

-- Create or update a warehouse by code.
CREATE FUNCTION commerce.upsert_warehouse(p_tenant bigint, p_code text, p_name text,
                                          p_region text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_id bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_name, 'p_name');
    INSERT INTO commerce.warehouse (tenant_id, code, name, region)
    VALUES (p_tenant, p_code, p_name, p_region)
    ON CONFLICT (tenant_id, code) DO UPDATE
       SET name = EXCLUDED.name, region = EXCLUDED.region
    RETURNING warehouse_id INTO v_id;
    RETURN v_id;
END $$;
