-- outbox: enqueue (deduplicated), claim with a lease (SKIP LOCKED), ack,
-- fail with backoff (immediately, +1 minute, +1 hour, then dead letter and
-- an alert), reclaim after a lease runs out, requeue a dead letter.
CREATE EXTENSION commerce;
CALL commerce.provision();
\set SHOW_CONTEXT never
SET timezone = 'Asia/Shanghai';
SET commerce.now = '2026-11-11 09:00:00+08';
SELECT commerce.create_tenant('ob', 'Outbox test') AS t \gset

SELECT commerce.enqueue(:t, 'sms.send', '{"to":"13800001234","text":"shipped"}', 'order-1:shipped') AS m1 \gset
SELECT commerce.enqueue(:t, 'sms.send', '{"to":"13800001234","text":"shipped"}', 'order-1:shipped') = :m1 AS deduplicated;
SELECT commerce.enqueue(:t, 'sms.send', '{"to":"13900005678","text":"shipped"}') AS m2 \gset
SELECT commerce.enqueue(:t, 'wecom.notify', '{"group":"fans-1"}') > 0 AS other_topic;

-- two workers claim without overlap
SELECT message_id = :m1 AS first, status, attempts, lease_until
  FROM commerce.claim('sms.send', 'worker-a', 1);
SELECT message_id = :m2 AS second, claimed_by FROM commerce.claim('sms.send', 'worker-b', 10);
SELECT count(*) AS nothing_left FROM commerce.claim('sms.send', 'worker-c', 10);

-- ack, and acking what another worker holds is refused
SELECT commerce.ack(:t, :m1, 'worker-a');
-- a retried ack is a no-op
SELECT commerce.ack(:t, :m1, 'worker-a');
SELECT status, claimed_by, attempts FROM commerce.outbox WHERE message_id = :m1;
SELECT commerce.ack(:t, :m2, 'worker-a');

-- failures back off: immediately, then 1 minute, then 1 hour, then dead
SELECT commerce.fail(:t, :m2, 'worker-b', 'gateway timeout') AS status;
SELECT available_at, last_error FROM commerce.outbox WHERE message_id = :m2;
SELECT attempts FROM commerce.claim('sms.send', 'worker-b', 1);
SELECT commerce.fail(:t, :m2, 'worker-b', 'gateway timeout') AS status;
SELECT available_at FROM commerce.outbox WHERE message_id = :m2;
SELECT count(*) AS not_yet FROM commerce.claim('sms.send', 'worker-b', 1);
SET commerce.now = '2026-11-11 09:01:00+08';
SELECT attempts FROM commerce.claim('sms.send', 'worker-b', 1);
SELECT commerce.fail(:t, :m2, 'worker-b', 'gateway timeout') AS status;
SELECT available_at FROM commerce.outbox WHERE message_id = :m2;
SET commerce.now = '2026-11-11 10:01:00+08';
SELECT attempts FROM commerce.claim('sms.send', 'worker-b', 1);
SELECT commerce.fail(:t, :m2, 'worker-b', 'number unreachable') AS status;
SELECT topic, payload, status FROM commerce.outbox WHERE tenant_id = :t AND topic = 'outbox.dead';

-- a lease that runs out lets another worker take the message over
SELECT message_id AS m3 FROM commerce.claim('wecom.notify', 'worker-a', 1, '30 seconds') \gset
SELECT count(*) AS still_leased FROM commerce.claim('wecom.notify', 'worker-b', 1);
SET commerce.now = '2026-11-11 10:02:00+08';
SELECT message_id = :m3 AS taken_over, claimed_by, attempts FROM commerce.claim('wecom.notify', 'worker-b', 1);
SELECT commerce.ack(:t, :m3, 'worker-a');
SELECT commerce.ack(:t, :m3, 'worker-b');

-- a dead letter goes back in the queue once the cause is fixed
SELECT commerce.requeue(:t, :m2);
SELECT status, attempts FROM commerce.outbox WHERE message_id = :m2;
SELECT commerce.requeue(:t, :m2);

SELECT topic, status, attempts FROM commerce.outbox WHERE tenant_id = :t ORDER BY message_id;
SET client_min_messages = warning;
DROP SCHEMA commerce CASCADE;
