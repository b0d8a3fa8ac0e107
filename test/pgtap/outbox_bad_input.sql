-- outbox_bad_input.sql: bad calls of enqueue, claim, ack, fail and requeue
-- are refused with the documented SQLSTATE and change no message.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(52);

\ir lib/fingerprint.psql

-- Every message: id:topic:status:attempts:claimed_by.
CREATE FUNCTION pg_temp.messages() RETURNS text LANGUAGE sql AS $ms$
    SELECT coalesce(string_agg(format('%s:%s:%s:%s:%s', message_id, topic, status, attempts,
                                      coalesce(claimed_by, '-')), ' '
                               ORDER BY tenant_id, message_id), '')
      FROM commerce.outbox;
$ms$;

-- fixtures. Tenant t1: m3 (mail.send) failed four times and is dead, which
-- enqueued an outbox.dead alert; m4 (order.paid) claimed and acked (done);
-- m1 (order.paid) pending; m2 (stock.sync) claimed by worker w1.
-- Tenant t2 has no messages.
SET LOCAL commerce.now = '2030-01-01 00:00:00+00';
SELECT commerce.create_tenant('t1', 'Tenant one') AS t \gset
SELECT commerce.create_tenant('t2', 'Tenant two') AS t2 \gset
SELECT commerce.enqueue(:t, 'mail.send', '{"to":"a@example.com"}') AS m3 \gset
SELECT count(*) AS n FROM commerce.claim('mail.send', 'w1') \gset
SELECT commerce.fail(:t, :m3, 'w1', 'smtp down') AS f1 \gset
SELECT count(*) AS n FROM commerce.claim('mail.send', 'w1') \gset
SELECT commerce.fail(:t, :m3, 'w1', 'smtp down') AS f2 \gset
SET LOCAL commerce.now = '2030-01-01 00:02:00+00';
SELECT count(*) AS n FROM commerce.claim('mail.send', 'w1') \gset
SELECT commerce.fail(:t, :m3, 'w1', 'smtp down') AS f3 \gset
SET LOCAL commerce.now = '2030-01-01 01:03:00+00';
SELECT count(*) AS n FROM commerce.claim('mail.send', 'w1') \gset
SELECT commerce.fail(:t, :m3, 'w1', 'smtp down') AS f4 \gset
SET LOCAL commerce.now = '2030-01-01 02:00:00+00';
SELECT commerce.enqueue(:t, 'order.paid', '{"order":4}') AS m4 \gset
SELECT count(*) AS n FROM commerce.claim('order.paid', 'w1') \gset
SELECT commerce.ack(:t, :m4, 'w1') AS ack4 \gset
SELECT commerce.enqueue(:t, 'order.paid', '{"order":1}', 'order-1') AS m1 \gset
SELECT commerce.enqueue(:t, 'stock.sync', '{"sku":"A1"}') AS m2 \gset
SELECT count(*) AS n FROM commerce.claim('stock.sync', 'w1', 10, '5 minutes') \gset

SELECT pg_temp.fingerprint() AS fp0 \gset
SELECT pg_temp.messages() AS ms0 \gset
SELECT is(:'f1' || '/' || :'f2' || '/' || :'f3' || '/' || :'f4', 'pending/pending/pending/dead',
    'fixture: m3 died on its fourth failure');
SELECT is((SELECT string_agg(status, ',' ORDER BY message_id) FROM commerce.outbox WHERE message_id IN (:m1, :m2, :m3, :m4)),
    'dead,done,pending,claimed', 'fixture: m3 dead, m4 done, m1 pending, m2 claimed');

-- enqueue ----------------------------------------------------------------
SELECT throws_ok($$SELECT commerce.enqueue(NULL, 'order.paid', '{}')$$,
    '22004', 'argument p_tenant must not be null', 'enqueue: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.enqueue(%s, NULL, '{}')$$, :t),
    '22004', 'argument p_topic must not be null', 'enqueue: NULL topic -> 22004');
SELECT throws_ok(format($$SELECT commerce.enqueue(%s, 'order.paid', NULL)$$, :t),
    '22004', 'argument p_payload must not be null', 'enqueue: NULL payload -> 22004');
SELECT throws_ok(format($$SELECT commerce.enqueue(%s, 'Bad Topic', '{}')$$, :t),
    '22023', 'invalid value for p_topic', 'enqueue: topic ''Bad Topic'' -> 22023');
SELECT throws_ok(format($$SELECT commerce.enqueue(%s, '', '{}')$$, :t),
    '22023', 'invalid value for p_topic', 'enqueue: empty topic -> 22023');
SELECT throws_ok(format($$SELECT commerce.enqueue(%s, '.order', '{}')$$, :t),
    '22023', 'invalid value for p_topic', 'enqueue: topic starting with a dot -> 22023');
SELECT throws_ok(format($$SELECT commerce.enqueue(%s, repeat('a', 64), '{}')$$, :t),
    '22023', 'invalid value for p_topic', 'enqueue: 64-character topic -> 22023');
SELECT throws_ok(format($$SELECT commerce.enqueue(%s, E'order.paid\n', '{}')$$, :t),
    '22023', 'invalid value for p_topic', 'enqueue: topic ending in a newline -> 22023');
-- the table's own check (issue 17 wrote it without a bounded repetition): the same names
SELECT throws_ok(format($$INSERT INTO commerce.outbox (tenant_id, topic, payload) VALUES (%s, repeat('a', 64), '{}')$$, :t),
    '23514', NULL, 'outbox: a 64-character topic breaks its check -> 23514');
SELECT throws_ok(format($$INSERT INTO commerce.outbox (tenant_id, topic, payload) VALUES (%s, 'order.Paid', '{}')$$, :t),
    '23514', NULL, 'outbox: an upper-case topic breaks its check -> 23514');
SAVEPOINT longest;
SELECT lives_ok(format($$SELECT commerce.enqueue(%s, 'a' || repeat('b.', 31), '{}')$$, :t),
    'enqueue: a 63-character topic is accepted (rolled back)');
ROLLBACK TO SAVEPOINT longest;
SELECT throws_ok($$SELECT commerce.enqueue(999999, 'order.paid', '{}')$$,
    'PT404', 'tenant "999999" not found', 'enqueue: unknown tenant -> PT404');

-- claim --------------------------------------------------------------------
SELECT throws_ok($$SELECT commerce.claim(NULL, 'w1')$$,
    '22004', 'argument p_topic must not be null', 'claim: NULL topic -> 22004');
SELECT throws_ok($$SELECT commerce.claim('order.paid', NULL)$$,
    '22004', 'argument p_worker must not be null', 'claim: NULL worker -> 22004');
SELECT throws_ok($$SELECT commerce.claim('order.paid', 'w1', 0)$$,
    '22023', 'invalid value for p_limit', 'claim: limit 0 -> 22023');
SELECT throws_ok($$SELECT commerce.claim('order.paid', 'w1', -1)$$,
    '22023', 'invalid value for p_limit', 'claim: negative limit -> 22023');
SELECT throws_ok($$SELECT commerce.claim('order.paid', 'w1', 10001)$$,
    '22023', 'invalid value for p_limit', 'claim: limit 10001 -> 22023');
SELECT throws_ok($$SELECT commerce.claim('order.paid', 'w1', 10, '0 seconds')$$,
    '22023', 'invalid value for p_lease', 'claim: lease 0 -> 22023');
SELECT throws_ok($$SELECT commerce.claim('order.paid', 'w1', 10, '-5 minutes')$$,
    '22023', 'invalid value for p_lease', 'claim: negative lease -> 22023');
SELECT throws_ok($$SELECT commerce.claim('order.paid', 'w1', 10, '2 days')$$,
    '22023', 'invalid value for p_lease', 'claim: lease over 1 day -> 22023');
SELECT is(pg_temp.messages(), :'ms0', 'enqueue/claim: no message enqueued or claimed by bad calls');

-- ack ----------------------------------------------------------------------
SELECT throws_ok(format($$SELECT commerce.ack(NULL, %s, 'w1')$$, :m2),
    '22004', 'argument p_tenant must not be null', 'ack: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.ack(%s, NULL, 'w1')$$, :t),
    '22004', 'argument p_message must not be null', 'ack: NULL message -> 22004');
SELECT throws_ok(format($$SELECT commerce.ack(%s, %s, NULL)$$, :t, :m2),
    '22004', 'argument p_worker must not be null', 'ack: NULL worker -> 22004');
SELECT throws_ok(format($$SELECT commerce.ack(%s, 999999, 'w1')$$, :t),
    'PT404', 'outbox message "999999" not found', 'ack: unknown message -> PT404');
SELECT throws_ok(format($$SELECT commerce.ack(%s, %s, 'w1')$$, :t2, :m2),
    'PT404', format('outbox message "%s" not found', :m2), 'ack: other tenant''s message -> PT404');
SELECT throws_ok(format($$SELECT commerce.ack(%s, %s, 'w1')$$, :t, :m1),
    'PT409', format('outbox message %s is not claimed by worker "w1"', :m1), 'ack: unclaimed (pending) message -> PT409');
SELECT throws_ok(format($$SELECT commerce.ack(%s, %s, 'w2')$$, :t, :m2),
    'PT409', format('outbox message %s is not claimed by worker "w2"', :m2), 'ack: message claimed by another worker -> PT409');
SELECT lives_ok(format($$SELECT commerce.ack(%s, %s, 'w1')$$, :t, :m4),
    'ack: a retried ack of a done message by the same worker is a no-op');
SELECT throws_ok(format($$SELECT commerce.ack(%s, %s, 'w2')$$, :t, :m4),
    'PT409', format('outbox message %s is not claimed by worker "w2"', :m4), 'ack: a done message by another worker -> PT409');
SELECT throws_ok(format($$SELECT commerce.ack(%s, %s, 'w1')$$, :t, :m3),
    'PT409', format('outbox message %s is not claimed by worker "w1"', :m3), 'ack: dead letter -> PT409');

-- fail ---------------------------------------------------------------------
SELECT throws_ok(format($$SELECT commerce.fail(NULL, %s, 'w1', 'e')$$, :m2),
    '22004', 'argument p_tenant must not be null', 'fail: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.fail(%s, NULL, 'w1', 'e')$$, :t),
    '22004', 'argument p_message must not be null', 'fail: NULL message -> 22004');
SELECT throws_ok(format($$SELECT commerce.fail(%s, %s, NULL, 'e')$$, :t, :m2),
    '22004', 'argument p_worker must not be null', 'fail: NULL worker -> 22004');
SELECT throws_ok(format($$SELECT commerce.fail(%s, 999999, 'w1', 'e')$$, :t),
    'PT404', 'outbox message "999999" not found', 'fail: unknown message -> PT404');
SELECT throws_ok(format($$SELECT commerce.fail(%s, %s, 'w1', 'e')$$, :t2, :m2),
    'PT404', format('outbox message "%s" not found', :m2), 'fail: other tenant''s message -> PT404');
SELECT throws_ok(format($$SELECT commerce.fail(%s, %s, 'w1', 'e')$$, :t, :m1),
    'PT409', format('outbox message %s is not claimed by worker "w1"', :m1), 'fail: unclaimed (pending) message -> PT409');
SELECT throws_ok(format($$SELECT commerce.fail(%s, %s, 'w2', 'e')$$, :t, :m2),
    'PT409', format('outbox message %s is not claimed by worker "w2"', :m2), 'fail: message claimed by another worker -> PT409');
SELECT throws_ok(format($$SELECT commerce.fail(%s, %s, 'w1', 'e')$$, :t, :m3),
    'PT409', format('outbox message %s is not claimed by worker "w1"', :m3), 'fail: dead letter -> PT409');

-- requeue ------------------------------------------------------------------
SELECT throws_ok(format($$SELECT commerce.requeue(%s, %s)$$, :t, :m1),
    'PT409', format('outbox message %s is not a dead letter', :m1), 'requeue: pending message -> PT409');
SELECT throws_ok(format($$SELECT commerce.requeue(%s, %s)$$, :t, :m2),
    'PT409', format('outbox message %s is not a dead letter', :m2), 'requeue: claimed message -> PT409');
SELECT throws_ok(format($$SELECT commerce.requeue(%s, %s)$$, :t, :m4),
    'PT409', format('outbox message %s is not a dead letter', :m4), 'requeue: done message -> PT409');
SELECT throws_ok(format($$SELECT commerce.requeue(%s, 999999)$$, :t),
    'PT404', 'outbox message "999999" not found', 'requeue: unknown message -> PT404');
SELECT throws_ok(format($$SELECT commerce.requeue(%s, %s)$$, :t2, :m3),
    'PT404', format('outbox message "%s" not found', :m3), 'requeue: other tenant''s dead letter -> PT404');
SELECT throws_ok(format($$SELECT commerce.requeue(NULL, %s)$$, :m3),
    '22004', 'argument p_tenant must not be null', 'requeue: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.requeue(%s, NULL)$$, :t),
    '22004', 'argument p_message must not be null', 'requeue: NULL message -> 22004');

-- nothing changed ----------------------------------------------------------
SELECT is(pg_temp.messages(), :'ms0', 'outbox: every message kept its status, attempts and worker');
SELECT is(pg_temp.fingerprint(), :'fp0', 'outbox: no commerce table changed');
-- the good calls still work
SELECT lives_ok(format($$SELECT commerce.requeue(%s, %s)$$, :t, :m3), 'requeue: a dead letter can be requeued');
SELECT lives_ok(format($$SELECT commerce.ack(%s, %s, 'w1')$$, :t, :m2), 'ack: the claiming worker can ack');

SELECT * FROM finish();
ROLLBACK;
