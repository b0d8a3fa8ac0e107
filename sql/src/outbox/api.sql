-- sql/src/outbox/api.sql: the outbox for a tenant's workers through
-- commerce_api (the service role): claim the tenant's messages of a topic
-- with a lease, then ack or fail each.

-- The shape of an outbox message as a worker gets it.
CREATE VIEW commerce_api.outbox_message AS
SELECT NULL::bigint AS message_id, NULL::text AS topic, NULL::jsonb AS payload, NULL::text AS status,
       NULL::integer AS attempts, NULL::timestamptz AS lease_until, NULL::text AS last_error,
       NULL::timestamptz AS created_at
 WHERE false;
COMMENT ON VIEW commerce_api.outbox_message IS
  E'@omit all\nA message to the outside world (payment intent or refund, payout, WeCom, SMS, waybill, platform write-back) as a worker gets it: id, topic, payload, status (pending, claimed, done, dead), attempts so far, the lease of a claimed message, the last error, when it was queued.';

CREATE FUNCTION commerce_api.claim_messages(topic text, worker text, max integer DEFAULT 10,
                                            lease interval DEFAULT '5 minutes')
RETURNS SETOF commerce_api.outbox_message LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.claim_messages', '{service}');
BEGIN
    RETURN QUERY SELECT m.message_id, m.topic, m.payload, m.status, m.attempts, m.lease_until, m.last_error, m.created_at
                   FROM commerce.claim(claim_messages.topic, left(claim_messages.worker, 100), claim_messages.max,
                                       claim_messages.lease, a.tenant_id) m;
END $$;
REVOKE ALL ON FUNCTION commerce_api.claim_messages(text, text, integer, interval) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.claim_messages(text, text, integer, interval) IS
  'A worker of the tenant (service only) claims up to max (1 to 10000) ready messages of a topic with a lease (default 5 minutes; SKIP LOCKED, so workers never share one); a message whose lease ran out is claimed again. Ack each when delivered, or fail it (retried with backoff, then a dead letter).';

CREATE FUNCTION commerce_api.ack_message(message bigint, worker text)
RETURNS SETOF commerce_api.outbox_message LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.ack_message', '{service}');
BEGIN
    PERFORM commerce.ack(a.tenant_id, ack_message.message, ack_message.worker);
    RETURN QUERY SELECT m.message_id, m.topic, m.payload, m.status, m.attempts, m.lease_until, m.last_error, m.created_at
                   FROM commerce.outbox m WHERE m.tenant_id = a.tenant_id AND m.message_id = ack_message.message;
END $$;
REVOKE ALL ON FUNCTION commerce_api.ack_message(bigint, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.ack_message(bigint, text) IS
  'The worker that holds a message''s lease marks it delivered (service only); PT409 when another worker holds it or it is no longer claimed. Returns the message (outbox_message).';

CREATE FUNCTION commerce_api.fail_message(message bigint, worker text, error text)
RETURNS SETOF commerce_api.outbox_message LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.fail_message', '{service}');
BEGIN
    PERFORM commerce.fail(a.tenant_id, fail_message.message, fail_message.worker, left(fail_message.error, 1000));
    RETURN QUERY SELECT m.message_id, m.topic, m.payload, m.status, m.attempts, m.lease_until, m.last_error, m.created_at
                   FROM commerce.outbox m WHERE m.tenant_id = a.tenant_id AND m.message_id = fail_message.message;
END $$;
REVOKE ALL ON FUNCTION commerce_api.fail_message(bigint, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.fail_message(bigint, text, text) IS
  'The worker that holds a message''s lease reports a failed delivery with the error (service only): retried later with backoff, or a dead letter with an outbox.dead alert after the last attempt. Returns the message (outbox_message).';
