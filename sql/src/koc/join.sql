-- sql/src/koc/join.sql: KOC applications and their review (K03).

-- Create or update a KOC (the application and agreement workflow comes next).
CREATE FUNCTION commerce.upsert_koc(p_tenant bigint, p_code text, p_customer text, p_name text,
                                    p_region text DEFAULT NULL, p_level text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_customer bigint; v_level text; v_id bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._require(p_name, 'p_name');
    SELECT customer_id INTO v_customer FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    PERFORM commerce.ensure_koc_levels(p_tenant);
    IF EXISTS (SELECT 1 FROM commerce.koc WHERE tenant_id = p_tenant AND code = p_code
                 AND customer_id IS DISTINCT FROM v_customer) THEN
        RAISE EXCEPTION USING ERRCODE = '23505',
            MESSAGE = format('KOC "%s" belongs to another customer', p_code),
            HINT = 'A KOC code stays with its customer; use a new code.';
    END IF;
    IF p_level IS NULL THEN
        SELECT code INTO v_level FROM commerce.koc_level WHERE tenant_id = p_tenant ORDER BY rank LIMIT 1;
    ELSE
        SELECT code INTO v_level FROM commerce.koc_level WHERE tenant_id = p_tenant AND code = p_level;
        IF NOT FOUND THEN
            PERFORM commerce._not_found('KOC level', p_level, p_tenant);
        END IF;
    END IF;
    INSERT INTO commerce.koc (tenant_id, code, customer_id, name, region, level_code, joined_at)
    VALUES (p_tenant, p_code, v_customer, p_name, p_region, v_level, commerce.now())
    ON CONFLICT (tenant_id, code) DO UPDATE
       SET name = EXCLUDED.name, region = EXCLUDED.region,
           level_code = CASE WHEN p_level IS NULL THEN commerce.koc.level_code ELSE EXCLUDED.level_code END
    RETURNING koc_id INTO v_id;
    RETURN v_id;
END $$;
COMMENT ON FUNCTION commerce.upsert_koc(bigint, text, text, text, text, text) IS
  'Create (at the lowest level) or update a KOC for a customer, by code.';

-- Apply to become a KOC.
CREATE FUNCTION commerce.apply_koc(p_tenant bigint, p_request_id text, p_customer text,
                                   p_social_accounts jsonb, p_note text DEFAULT NULL)
RETURNS commerce.koc_application_row LANGUAGE plpgsql AS $$
DECLARE a commerce.koc_application_row; v_customer bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._require(p_social_accounts, 'p_social_accounts');
    -- one customer's applications are made one at a time
    SELECT customer_id INTO v_customer FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer
       FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    SELECT * INTO a FROM commerce.koc_application WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF FOUND THEN
        IF a.customer_id <> v_customer THEN
            RAISE EXCEPTION USING ERRCODE = '23505',
                MESSAGE = format('request_id "%s" was already used for another application', p_request_id),
                HINT = 'Use a new request_id for a new application.';
        END IF;
        RETURN a;
    END IF;
    IF jsonb_typeof(p_social_accounts) <> 'array' OR jsonb_array_length(p_social_accounts) = 0
       OR EXISTS (SELECT 1 FROM jsonb_array_elements(p_social_accounts) x
                   WHERE jsonb_typeof(x) <> 'object'
                      OR x ->> 'platform' IS NULL
                      OR x ->> 'platform' NOT IN ('wechat', 'douyin', 'xiaohongshu', 'bilibili', 'weibo',
                                                  'kuaishou', 'taobao')
                      OR coalesce(length(x ->> 'handle'), 0) NOT BETWEEN 1 AND 100
                      OR (x ? 'followers' AND (jsonb_typeof(x -> 'followers') <> 'number'
                                               OR (x ->> 'followers')::numeric < 0))) THEN
        PERFORM commerce._invalid('p_social_accounts', format('%s', p_social_accounts),
            'Pass [{"platform":"wechat|douyin|xiaohongshu|bilibili|weibo|kuaishou|taobao","handle":"...","followers":<n>}, ...].');
    END IF;
    IF EXISTS (SELECT 1 FROM commerce.koc WHERE tenant_id = p_tenant AND customer_id = v_customer) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('customer "%s" is already a KOC', p_customer),
            HINT = 'Look the KOC up instead of applying again.';
    END IF;
    IF EXISTS (SELECT 1 FROM commerce.koc_application
                WHERE tenant_id = p_tenant AND customer_id = v_customer AND status = 'submitted') THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('customer "%s" already has an application under review', p_customer),
            HINT = 'Wait for the review of the open application.';
    END IF;
    INSERT INTO commerce.koc_application (tenant_id, request_id, customer_id, social_accounts, note, created_at)
    VALUES (p_tenant, p_request_id, v_customer, p_social_accounts, p_note, commerce.now())
    RETURNING * INTO a;
    RETURN a;
END $$;
COMMENT ON FUNCTION commerce.apply_koc(bigint, text, text, jsonb, text) IS
  'A customer applies to become a KOC with their social accounts (K03). Idempotent by request_id.';

-- Approve (creating the KOC at the lowest level) or reject (with a reason) an application.
CREATE FUNCTION commerce.review_koc_application(p_tenant bigint, p_application bigint, p_approve boolean,
                                                p_reviewer text, p_reason text DEFAULT NULL,
                                                p_koc_code text DEFAULT NULL)
RETURNS commerce.koc_application_row LANGUAGE plpgsql AS $$
DECLARE a commerce.koc_application_row; c commerce.customer; v_koc bigint; v_target text;
BEGIN
    PERFORM commerce._require(p_tenant, 'p_tenant');
    PERFORM commerce._require(p_application, 'p_application');
    PERFORM commerce._require(p_approve, 'p_approve');
    PERFORM commerce._require(p_reviewer, 'p_reviewer');
    SELECT * INTO a FROM commerce.koc_application
     WHERE tenant_id = p_tenant AND application_id = p_application FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('KOC application', p_application::text, p_tenant);
    END IF;
    v_target := CASE WHEN p_approve THEN 'approved' ELSE 'rejected' END;
    IF a.status = v_target THEN
        RETURN a;
    END IF;
    IF NOT p_approve AND coalesce(length(trim(p_reason)), 0) = 0 THEN
        PERFORM commerce._invalid('p_reason', 'A rejection gives a reason.', 'Tell the applicant why.');
    END IF;
    IF p_approve THEN
        SELECT * INTO c FROM commerce.customer WHERE tenant_id = p_tenant AND customer_id = a.customer_id;
        v_koc := commerce.upsert_koc(p_tenant, coalesce(p_koc_code, 'KOC-' || a.application_id), c.code,
                                     coalesce(c.name, c.code));
    END IF;
    UPDATE commerce.koc_application
       SET status = v_target, reviewer = p_reviewer,
           decision_reason = p_reason, reviewed_at = commerce.now(), koc_id = v_koc
     WHERE tenant_id = p_tenant AND application_id = p_application
    RETURNING * INTO a;
    RETURN a;
END $$;
COMMENT ON FUNCTION commerce.review_koc_application(bigint, bigint, boolean, text, text, text) IS
  'A reviewer approves an application (the KOC is created at the lowest level, code KOC-<application> unless given) or rejects it with a reason. Deciding the same way again is a no-op; the other way is refused (PT409).';
