-- The hourly missing-order check of the platform channels (H3.2.1): each
-- full hour since a channel's last check is asked of the adapter once
-- (platform.list_orders), the adapter's list is compared with the orders
-- commerce holds, what is missing is fetched and alerted, an unanswered check
-- turns late with an alert once, a late answer still counts, and the pump
-- catches up at most a day after an outage.
CREATE EXTENSION commerce;
CALL commerce.provision();
\set SHOW_CONTEXT never
SET timezone = 'Asia/Shanghai';
SET client_min_messages = warning;
SET commerce.now = '2030-06-01 10:20:00+08';
SELECT commerce.create_tenant('pc', 'Platform checks') AS t \gset
SELECT commerce.upsert_product(:t, 'HOODIE', 'Logo hoodie') > 0 AS product, commerce.upsert_sku(:t, 'HOODIE', 'HOODIE-L', 'L', 21900) > 0 AS sku;
SELECT commerce.receive_stock(:t, 'r1', 'HOODIE-L', 10) > 0 AS received;
-- Taobao, Douyin and PDD have sent orders (their adapters are connected); PDD is then switched off;
-- Xiaohongshu has sent none: only Taobao and Douyin are checked
\set taobao `cat test/fixtures/platform/taobao.json`
\set douyin `cat test/fixtures/platform/douyin.json`
\set pdd `cat test/fixtures/platform/pdd.json`
\set xhs `cat test/fixtures/platform/xiaohongshu.json`
SELECT outcome FROM commerce.ingest_platform_order(:t, 'taobao', :'taobao');
SELECT outcome FROM commerce.ingest_platform_order(:t, 'douyin', :'douyin');
SELECT outcome FROM commerce.ingest_platform_order(:t, 'pdd', :'pdd');
UPDATE commerce.channel SET active = false WHERE tenant_id = :t AND code = 'pdd';
CREATE TEMP VIEW checks AS
SELECT c.code AS channel, to_char(x.window_from, 'MM-DD HH24:MI') AS hour, x.status, x.listed, x.missing, x.missing_ids
  FROM commerce.platform_check x JOIN commerce.channel c USING (tenant_id, channel_id)
 WHERE x.tenant_id = :t ORDER BY x.window_from, c.code;
CREATE TEMP VIEW messages AS
SELECT topic, payload - 'check_id' - 'from' - 'to' - 'requested_at' AS payload, dedupe_key IS NOT NULL AS keyed
  FROM commerce.outbox WHERE topic LIKE 'platform.%' OR topic IN ('alert.missing_orders', 'alert.platform_check_late')
 ORDER BY message_id;

-- at 10:20 the first check of each active platform asks for 09:00-10:00, once
SELECT commerce.platform_checks_due() AS requested;
SELECT commerce.platform_checks_due() AS again;
SELECT * FROM checks;
SELECT topic, payload, keyed FROM messages;
SELECT payload ->> 'from' AS "from", payload ->> 'to' AS "to" FROM commerce.outbox WHERE topic = 'platform.list_orders' ORDER BY message_id LIMIT 1;

-- Taobao has sold two hoodies in that hour; commerce has one of them
SELECT check_id AS tb FROM commerce.platform_check x JOIN commerce.channel c USING (tenant_id, channel_id) WHERE c.code = 'taobao' \gset
SELECT check_id AS dy FROM commerce.platform_check x JOIN commerce.channel c USING (tenant_id, channel_id) WHERE c.code = 'douyin' \gset
SET commerce.now = '2030-06-01 10:25:00+08';
SELECT r ->> 'outcome' AS outcome, r ->> 'status' AS status, r ->> 'listed' AS listed, r ->> 'missing' AS missing,
       r -> 'missing_ids' AS missing_ids, r ->> 'still_missing' AS still_missing
  FROM commerce.record_platform_listing(:t, :tb, ARRAY['2983749283749001', 'T-404', 'T-404']) r;
SELECT topic, payload, keyed FROM messages WHERE topic <> 'platform.list_orders';
-- the adapter retries the same answer (in another order): nothing new; another list is refused
SELECT commerce.record_platform_listing(:t, :tb, ARRAY['T-404', '2983749283749001']) ->> 'outcome' AS retried;
SELECT count(*) AS fetches FROM commerce.outbox WHERE topic = 'platform.fetch_orders';
SELECT commerce.record_platform_listing(:t, :tb, ARRAY['T-404']);
SELECT commerce.record_platform_listing(:t, 999999, ARRAY['T-404']);
SELECT commerce.record_platform_listing(:t, :dy, ARRAY['D-1', NULL]);
SELECT commerce.record_platform_listing(:t, :dy, ARRAY['']);
-- another tenant cannot answer this tenant's check
SELECT commerce.create_tenant('pc2', 'Other') AS t2 \gset
SELECT commerce.record_platform_listing(:t2, :dy, ARRAY['D-1']);
SELECT * FROM checks;

-- the adapter fetches T-404: it is no longer missing
SELECT outcome FROM commerce.ingest_platform_order(:t, 'taobao', jsonb_set(jsonb_set(:'taobao', '{tid}', '"T-404"'), '{orders,order,0,oid}', '"T-404-1"'));
SELECT commerce.record_platform_listing(:t, :tb, ARRAY['T-404', '2983749283749001']) ->> 'still_missing' AS still_missing;

-- Douyin's adapter is down: at 11:30 its 09:00 check is late (alert once); 10:00 is asked for
SET commerce.now = '2030-06-01 11:30:00+08';
SELECT commerce.platform_checks_late() AS late, commerce.platform_checks_late() AS late_again;
SELECT commerce.platform_checks_due() AS requested;
SELECT topic, payload, keyed FROM messages WHERE topic = 'alert.platform_check_late';
-- it comes back and answers late: the check counts
SELECT r ->> 'outcome' AS outcome, r ->> 'status' AS status, r ->> 'missing' AS missing
  FROM commerce.record_platform_listing(:t, :dy, ARRAY[]::text[]) r;
SELECT * FROM checks;

-- after a three-day outage of the database's jobs the pump catches up a day per channel, no more
SET commerce.now = '2030-06-04 12:10:00+08';
CALL commerce.platform_check_pump();
SELECT c.code AS channel, count(*) AS checks, to_char(min(x.window_from), 'MM-DD HH24:MI') AS first, to_char(max(x.window_from), 'MM-DD HH24:MI') AS last,
       count(*) FILTER (WHERE x.status = 'late') AS late
  FROM commerce.platform_check x JOIN commerce.channel c USING (tenant_id, channel_id)
 WHERE x.tenant_id = :t GROUP BY c.code ORDER BY c.code;
SELECT count(*) AS list_requests FROM commerce.outbox WHERE topic = 'platform.list_orders';
CALL commerce.platform_check_pump();
SELECT count(*) AS list_requests FROM commerce.outbox WHERE topic = 'platform.list_orders';
-- Xiaohongshu's first order: its first check is of the last full hour
SELECT outcome FROM commerce.ingest_platform_order(:t, 'xiaohongshu', :'xhs');
SELECT commerce.platform_checks_due() AS requested;
SELECT hour, status FROM checks WHERE channel = 'xiaohongshu';

-- the operators' report: a span's checks, newest first, and their totals
SELECT r - 'checks' AS totals, jsonb_array_length(r -> 'checks') AS checks
  FROM commerce.platform_checks(:t, '2030-06-01 00:00+08', '2030-06-02 00:00+08') r;
SELECT c ->> 'channel' AS channel, c ->> 'status' AS status, c ->> 'listed' AS listed, c ->> 'missing' AS missing, c ->> 'still_missing' AS still
  FROM jsonb_array_elements(commerce.platform_checks(:t, '2030-06-01 00:00+08', '2030-06-01 12:00+08', 'taobao') -> 'checks') c;
SELECT commerce.platform_checks(:t, '2030-06-01', '2030-07-15');
SELECT commerce.platform_checks(:t, '2030-06-02', '2030-06-01');
SELECT commerce.platform_checks(:t, '2030-06-01', '2030-06-02', 'nope');
SELECT commerce.platform_checks(:t2, '2030-06-01', '2030-06-02') - 'checks' AS other_tenant;
SELECT count(*) AS other_tenant_checks FROM commerce.platform_check WHERE tenant_id = :t2;

-- the guard: an answered check cannot go back
UPDATE commerce.platform_check SET status = 'requested', answered_at = NULL, listed = NULL, missing = NULL, missing_ids = NULL, listed_md5 = NULL
 WHERE tenant_id = :t AND check_id = :tb;
SET client_min_messages = warning;
DROP SCHEMA commerce CASCADE;
