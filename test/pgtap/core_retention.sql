-- core_retention.sql: the purge job (issue 11, finding 6). Rows that only
-- serve operations are deleted once past their retention, in bounded
-- batches, per tenant overrides; ledgers, orders and money are never touched
-- (their counts and checksums are compared before and after); bad settings
-- are refused with their SQLSTATE and change nothing.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(23);
\o /dev/null
-- a year ago: stock, orders, clicks, funnel events, delivered messages
SET LOCAL commerce.now = '2029-01-10 10:00:00+08';
SELECT commerce.create_tenant('ret', 'Retention') AS t \gset
SELECT commerce.create_tenant('ret2', 'Retention two') AS t2 \gset
SELECT commerce.upsert_store(t, 'S1', 'Store', 'Zhejiang', 'Hangzhou') FROM (VALUES (:t), (:t2)) x(t);
SELECT commerce.upsert_product(t, 'P', 'Tee'), commerce.upsert_sku(t, 'P', 'TEE', 'Tee', 100),
       commerce.receive_stock(t, 'old-in', 'TEE', 50), commerce.upsert_customer(t, 'fan')
  FROM (VALUES (:t), (:t2)) x(t);
SELECT commerce.pay_order(:t, o.order_id, 'pay-old', 100)
  FROM commerce.place_order(:t, 'o-old', 'wechat_mp', '{"lines":[{"sku":"TEE","qty":1}]}', 'fan') o;
SELECT commerce.enqueue(t, 'test.topic', '{}', 'old-' || n) FROM (VALUES (:t), (:t2)) x(t), generate_series(1, 3) n;
SELECT commerce.ack(m.tenant_id, m.message_id, 'w') FROM commerce.claim('test.topic', 'w', 100) m;
SELECT commerce.enqueue(:t, 'other.topic', '{}', 'old-pending');
SELECT commerce.ensure_play_templates(:t);
SELECT commerce.configure_play(:t, 'cfg-f', 'F', 'FLASH_SALE', 'S1', 'TEE', 'Flash', 50, 10, '2029-01-01', '2031-01-01', '{}');
SELECT commerce.record_play_view(:t, 'F', 'fan', '10.0.0.1') FROM generate_series(1, 4);
-- (idempotency keys are stamped with the real clock: here they are dated as the test clock says)
UPDATE commerce.request_log SET created_at = '2029-01-10 10:00:00+08';
-- now: the same once more, fresh
SET LOCAL commerce.now = '2030-01-10 10:00:00+08';
SELECT commerce.receive_stock(t, 'new-in', 'TEE', 5) FROM (VALUES (:t), (:t2)) x(t);
SELECT commerce.enqueue(:t, 'test.topic', '{}', 'new-1');
SELECT commerce.ack(m.tenant_id, m.message_id, 'w') FROM commerce.claim('test.topic', 'w', 100) m;
SELECT commerce.record_play_view(:t, 'F', 'fan', '10.0.0.1');
UPDATE commerce.request_log SET created_at = '2030-01-10 10:00:00+08' WHERE created_at <> '2029-01-10 10:00:00+08';
-- tenant 2 keeps its idempotency keys for two years
SELECT commerce.set_retention(:t2, 'request_log', '2 years');
-- visitors' days (record_events folds the front end's events into them): tenant 1 keeps them 300 days
INSERT INTO commerce.visit_day (tenant_id, day, channel_id, visitor, views, first_at, last_at)
SELECT :t, d::date, c.channel_id, 'v1', 3, d, d
  FROM commerce.channel c, (VALUES (timestamptz '2029-01-10 10:00+08'), (timestamptz '2030-01-10 10:00+08')) x(d)
 WHERE c.tenant_id = :t AND c.code = 'wechat_mp';
SELECT commerce.set_retention(:t, 'visit_day', '300 days');
CREATE TEMP TABLE ledger_before AS
SELECT 'stock_movement' AS t, count(*) AS n, md5(string_agg(x::text, ',' ORDER BY x::text)) AS h FROM commerce.stock_movement x
UNION ALL SELECT 'order_status_history', count(*), md5(string_agg(x::text, ',' ORDER BY x::text)) FROM commerce.order_status_history x
UNION ALL SELECT 'orders', count(*), md5(string_agg(x::text, ',' ORDER BY x::text)) FROM commerce.orders x
UNION ALL SELECT 'reservation', count(*), md5(string_agg(x::text, ',' ORDER BY x::text)) FROM commerce.reservation x
UNION ALL SELECT 'customer', count(*), md5(string_agg(x::text, ',' ORDER BY x::text)) FROM commerce.customer x;
\o

SELECT is((SELECT string_agg(what || '=' || coalesce(rows_due::text, '-'), ' ' ORDER BY what) FROM commerce.retention_report()),
          'click=0 cron.job_run_details=- outbox.dead=0 outbox.done=6 play_event=4 request_log=2 visit_day=1',
          'retention_report: what is due (tenant 2''s old key is kept by its own retention)');
SELECT is((SELECT count(*) FROM commerce.request_log), 5::bigint, 'before: five idempotency keys');
-- a bounded batch
SELECT is(commerce.purge_batch(3), 3, 'purge_batch(3) deletes three rows');
SELECT is((SELECT sum(rows_due)::integer FROM commerce.retention_report()), 10, 'and leaves the rest due');
SELECT is(commerce.purge_batch(1000), 10, 'the next batch deletes the rest');
SELECT is(commerce.purge_batch(1000), 0, 'then nothing is due');
SELECT is((SELECT string_agg(tenant_id || ':' || request_id, ' ' ORDER BY tenant_id, request_id) FROM commerce.request_log),
          format('%s:new-in %s:new-in %s:old-in', :t, :t2, :t2), 'idempotency keys: the fresh ones and tenant 2''s old one stay');
SELECT is((SELECT string_agg(dedupe_key, ' ' ORDER BY dedupe_key) FROM commerce.outbox WHERE topic = 'test.topic'),
          'new-1', 'delivered messages: the fresh one stays');
SELECT is((SELECT status FROM commerce.outbox WHERE dedupe_key = 'old-pending'), 'pending',
          'an undelivered message is never purged, however old');
SELECT is((SELECT count(*) FROM commerce.play_event), 1::bigint, 'funnel events: the fresh one stays');
SELECT is((SELECT string_agg(day::text, ' ') FROM commerce.visit_day), '2030-01-10', 'visitors'' days: the one within 300 days stays');
SELECT is((SELECT string_agg(t || ' ' || n, ', ' ORDER BY t) FROM ledger_before),
          (SELECT string_agg(t || ' ' || n, ', ' ORDER BY t) FROM (
              SELECT 'stock_movement' AS t, count(*) AS n FROM commerce.stock_movement
              UNION ALL SELECT 'order_status_history', count(*) FROM commerce.order_status_history
              UNION ALL SELECT 'orders', count(*) FROM commerce.orders
              UNION ALL SELECT 'reservation', count(*) FROM commerce.reservation
              UNION ALL SELECT 'customer', count(*) FROM commerce.customer) x),
          'ledgers, orders, reservations and customers: every row kept');
SELECT is((SELECT md5(string_agg(h, ',' ORDER BY t)) FROM ledger_before),
          (SELECT md5(string_agg(h, ',' ORDER BY t)) FROM (
              SELECT 'stock_movement' AS t, md5(string_agg(x::text, ',' ORDER BY x::text)) AS h FROM commerce.stock_movement x
              UNION ALL SELECT 'order_status_history', md5(string_agg(x::text, ',' ORDER BY x::text)) FROM commerce.order_status_history x
              UNION ALL SELECT 'orders', md5(string_agg(x::text, ',' ORDER BY x::text)) FROM commerce.orders x
              UNION ALL SELECT 'reservation', md5(string_agg(x::text, ',' ORDER BY x::text)) FROM commerce.reservation x
              UNION ALL SELECT 'customer', md5(string_agg(x::text, ',' ORDER BY x::text)) FROM commerce.customer x) y),
          'and unchanged');
SELECT is((SELECT count(*) FROM commerce.check_stock_invariants()) + (SELECT count(*) FROM commerce.check_order_invariants()),
          0::bigint, 'the invariants hold after the purge');
-- the job (its pump commits per batch: test/stress/core_cron.sh runs it)
SELECT is((SELECT count(*) FROM commerce.job WHERE job_name = 'commerce-purge' AND command = 'CALL commerce.purge_pump()'),
          1::bigint, 'the purge is a job of commerce.job');
-- settings: refused with their SQLSTATE, nothing changed
SELECT throws_ok($$SELECT commerce.set_retention(1, 'orders', '1 day')$$, '22023', 'invalid value for p_what',
                 'set_retention: orders are never purged -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_retention(%s, 'click', '1 hour')$$, :t), '22023', 'invalid value for p_keep',
                 'set_retention: less than a day -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_retention(%s, 'click', '30 years')$$, :t), '22023', 'invalid value for p_keep',
                 'set_retention: more than 20 years -> 22023');
SELECT throws_ok($$SELECT commerce.set_retention(0, 'click', NULL)$$, '22004', 'argument p_keep must not be null',
                 'set_retention: the default cannot be removed -> 22004');
SELECT throws_ok($$SELECT commerce.set_retention(999999, 'click', '1 year')$$, 'PT404', 'tenant "999999" not found',
                 'set_retention: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.set_retention(%s, 'cron.job_run_details', '1 year')$$, :t), '22023',
                 'invalid value for p_tenant', 'set_retention: pg_cron''s details have one retention -> 22023');
SELECT throws_ok($$SELECT commerce.purge_batch(0)$$, '22023', 'invalid value for p_limit', 'purge_batch: a batch of 0 -> 22023');
SELECT is((SELECT string_agg(tenant_id || ' ' || what || ' ' || keep, ', ' ORDER BY tenant_id, what) FROM commerce.retention WHERE tenant_id <> 0),
          format('%s visit_day 300 days, %s request_log 2 years', :t, :t2), 'the refused settings changed nothing');

SELECT * FROM finish();
ROLLBACK;
