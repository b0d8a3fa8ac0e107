-- sql/src/core/idempotency.sql: request_id idempotency for entry points
-- without a row of their own (request_log).

-- Idempotency: NULL if this request is new (and now recorded), else the
-- stored result of the first call; 23505 if reused with other parameters.
CREATE FUNCTION commerce._request_seen(p_tenant bigint, p_operation text,
                                       p_request_id text, p_params jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE r commerce.request_log;
BEGIN
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    INSERT INTO commerce.request_log (tenant_id, operation, request_id, params)
    VALUES (p_tenant, p_operation, p_request_id, p_params)
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        RETURN NULL;
    END IF;
    SELECT * INTO r FROM commerce.request_log
     WHERE tenant_id = p_tenant AND operation = p_operation
       AND request_id = p_request_id;
    IF r.params IS DISTINCT FROM p_params THEN
        RAISE EXCEPTION USING ERRCODE = '23505',
            MESSAGE = format('request_id "%s" was already used for a different %s',
                             p_request_id, p_operation),
            DETAIL  = format('First call: %s; this call: %s.', r.params, p_params),
            HINT    = 'Generate a new request_id for a new operation; reuse one only to retry the same call.';
    END IF;
    RETURN r.result;
END $$;

-- Record the result of a request first seen by _request_seen.
CREATE FUNCTION commerce._request_done(p_tenant bigint, p_operation text,
                                       p_request_id text, p_result jsonb)
RETURNS void LANGUAGE sql AS $$
    UPDATE commerce.request_log SET result = p_result
     WHERE tenant_id = p_tenant AND operation = p_operation
       AND request_id = p_request_id;
$$;
