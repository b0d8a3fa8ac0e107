-- sql/src/outbox/queue.sql: enqueue, claim with a lease, ack, fail with
-- backoff, requeue from the dead letter.

-- Enqueue a message (deduplicated by dedupe_key) and NOTIFY commerce_outbox.
CREATE FUNCTION commerce.enqueue(p_tenant bigint, p_topic text, p_payload jsonb,
                                 p_dedupe_key text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_id bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_topic, 'p_topic');
    PERFORM commerce._require(p_payload, 'p_payload');
    IF length(p_topic) > 63 OR p_topic !~ '^[a-z0-9][a-z0-9_.-]*$' THEN
        PERFORM commerce._invalid('p_topic', format('Topic "%s" is not a valid name.', p_topic),
                                  'Topics are lower-case words joined by dots, e.g. stock.low.');
    END IF;
    INSERT INTO commerce.outbox (tenant_id, topic, dedupe_key, payload, available_at, created_at)
    VALUES (p_tenant, p_topic, p_dedupe_key, p_payload, commerce.now(), commerce.now())
    ON CONFLICT (tenant_id, topic, dedupe_key) DO NOTHING
    RETURNING message_id INTO v_id;
    IF v_id IS NULL THEN
        SELECT message_id INTO v_id FROM commerce.outbox
         WHERE tenant_id = p_tenant AND topic = p_topic AND dedupe_key = p_dedupe_key;
    ELSE
        PERFORM pg_notify('commerce_outbox', p_topic);
    END IF;
    RETURN v_id;
END $$;
COMMENT ON FUNCTION commerce.enqueue(bigint, text, jsonb, text) IS 'Enqueue an outbox message; idempotent by (topic, dedupe_key); NOTIFY commerce_outbox.';

-- Claim up to p_limit ready messages of a topic for p_worker, with a lease.
CREATE FUNCTION commerce.claim(p_topic text, p_worker text, p_limit integer DEFAULT 10,
                               p_lease interval DEFAULT '5 minutes',
                               p_tenant bigint DEFAULT NULL)
RETURNS SETOF commerce.outbox_row LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._require(p_topic, 'p_topic');
    PERFORM commerce._require(p_worker, 'p_worker');
    PERFORM commerce._require(p_limit, 'p_limit');
    PERFORM commerce._require(p_lease, 'p_lease');
    IF p_limit NOT BETWEEN 1 AND 10000 THEN
        PERFORM commerce._invalid('p_limit', format('%s messages', p_limit),
                                  'Claim between 1 and 10000 messages at a time.');
    END IF;
    IF p_lease <= '0'::interval OR p_lease > '1 day'::interval THEN
        PERFORM commerce._invalid('p_lease', format('lease %s', p_lease),
                                  'A lease is positive and at most 1 day.');
    END IF;
    -- a MATERIALIZED CTE runs once: a locking subquery in UPDATE ... FROM
    -- could be rescanned and claim more rows than it returns
    RETURN QUERY
    WITH c AS MATERIALIZED (
        SELECT tenant_id, message_id FROM commerce.outbox
         WHERE topic = p_topic
           AND (p_tenant IS NULL OR tenant_id = p_tenant)
           AND ((status = 'pending' AND available_at <= commerce.now())
                OR (status = 'claimed' AND lease_until < commerce.now()))
         ORDER BY available_at, message_id
         LIMIT p_limit
         FOR UPDATE SKIP LOCKED)
    UPDATE commerce.outbox o
       SET status = 'claimed', claimed_by = p_worker, attempts = o.attempts + 1,
           lease_until = commerce.now() + p_lease
      FROM c
     WHERE o.tenant_id = c.tenant_id AND o.message_id = c.message_id
    RETURNING o.*;
END $$;
COMMENT ON FUNCTION commerce.claim(text, text, integer, interval, bigint) IS 'Claim ready messages of a topic with a lease (SKIP LOCKED); expired leases are reclaimed.';

-- Lock a claimed message of p_worker for ack/fail; PT404/PT409 otherwise.
CREATE FUNCTION commerce._claimed(p_tenant bigint, p_message bigint, p_worker text)
RETURNS commerce.outbox_row LANGUAGE plpgsql AS $$
DECLARE m commerce.outbox_row;
BEGIN
    PERFORM commerce._require(p_tenant, 'p_tenant');
    PERFORM commerce._require(p_message, 'p_message');
    PERFORM commerce._require(p_worker, 'p_worker');
    SELECT * INTO m FROM commerce.outbox
     WHERE tenant_id = p_tenant AND message_id = p_message FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('outbox message', p_message::text, p_tenant);
    END IF;
    IF m.status <> 'claimed' OR m.claimed_by IS DISTINCT FROM p_worker THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('outbox message %s is not claimed by worker "%s"', p_message, p_worker),
            DETAIL  = format('Status %s, claimed by %s.', m.status, coalesce(m.claimed_by, 'nobody')),
            HINT    = 'The lease may have run out and another worker claimed it; claim again.';
    END IF;
    RETURN m;
END $$;

-- Acknowledge a claimed message as delivered (a repeat by the same worker is a no-op).
CREATE FUNCTION commerce.ack(p_tenant bigint, p_message bigint, p_worker text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM commerce.outbox
                WHERE tenant_id = p_tenant AND message_id = p_message
                  AND status = 'done' AND claimed_by = p_worker) THEN
        RETURN;
    END IF;
    PERFORM commerce._claimed(p_tenant, p_message, p_worker);
    UPDATE commerce.outbox
       SET status = 'done', done_at = commerce.now(), lease_until = NULL
     WHERE tenant_id = p_tenant AND message_id = p_message;
END $$;
COMMENT ON FUNCTION commerce.ack(bigint, bigint, text) IS 'Mark a claimed message delivered.';

-- Report a failed delivery: retry now, in 1 minute, in 1 hour, then dead letter.
CREATE FUNCTION commerce.fail(p_tenant bigint, p_message bigint, p_worker text, p_error text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE m commerce.outbox_row; v_status text;
BEGIN
    m := commerce._claimed(p_tenant, p_message, p_worker);
    IF m.attempts >= 4 THEN
        v_status := 'dead';
        UPDATE commerce.outbox
           SET status = 'dead', last_error = p_error, lease_until = NULL, done_at = commerce.now()
         WHERE tenant_id = p_tenant AND message_id = p_message;
        IF m.topic <> 'outbox.dead' THEN
            PERFORM commerce.enqueue(p_tenant, 'outbox.dead',
                jsonb_build_object('message_id', m.message_id, 'topic', m.topic,
                                   'attempts', m.attempts, 'error', p_error),
                'dead:' || m.message_id);
        END IF;
    ELSE
        v_status := 'pending';
        UPDATE commerce.outbox
           SET status = 'pending', last_error = p_error, lease_until = NULL, claimed_by = NULL,
               available_at = commerce.now() + CASE m.attempts WHEN 1 THEN interval '0'
                                                               WHEN 2 THEN interval '1 minute'
                                                               ELSE interval '1 hour' END
         WHERE tenant_id = p_tenant AND message_id = p_message;
    END IF;
    RETURN v_status;
END $$;
COMMENT ON FUNCTION commerce.fail(bigint, bigint, text, text) IS 'Mark a claimed message failed: retry now, +1 minute, +1 hour, then dead letter and alert (topic outbox.dead).';

-- Put a dead letter back in the queue (after the cause was fixed).
CREATE FUNCTION commerce.requeue(p_tenant bigint, p_message bigint)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE m commerce.outbox_row;
BEGIN
    PERFORM commerce._require(p_tenant, 'p_tenant');
    PERFORM commerce._require(p_message, 'p_message');
    SELECT * INTO m FROM commerce.outbox
     WHERE tenant_id = p_tenant AND message_id = p_message FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('outbox message', p_message::text, p_tenant);
    END IF;
    IF m.status <> 'dead' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('outbox message %s is not a dead letter', p_message),
            DETAIL  = format('Its status is %s.', m.status),
            HINT    = 'Only dead letters can be requeued; look them up with status = ''dead''.';
    END IF;
    UPDATE commerce.outbox
       SET status = 'pending', attempts = 0, available_at = commerce.now(), done_at = NULL,
           claimed_by = NULL
     WHERE tenant_id = p_tenant AND message_id = p_message;
END $$;
