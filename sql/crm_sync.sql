-- crm sync (CRM16, CRM17): every change of a person, a KOC or an order is one
-- outbox message per mapped system and committing transaction, in the
-- system's field names, versioned; the adapter's result moves the object to
-- synced or failed; the monitor counts; a manual retry sends a new version;
-- what a system sends in is applied field by field when newer and is not
-- sent back to it (but goes to the other systems).
CREATE EXTENSION commerce;
CALL commerce.provision();
\set SHOW_CONTEXT never
SET timezone = 'Asia/Shanghai';
SET commerce.now = '2030-06-15 10:00:00+08';
SELECT commerce.create_tenant('sy', 'Sync test') AS t \gset
SELECT commerce.upsert_product(:t, 'P', 'Tee') IS NOT NULL AS product;
SELECT commerce.upsert_sku(:t, 'P', 'TEE', 'Tee', 30000) IS NOT NULL AS sku;
SELECT commerce.receive_stock(:t, 'r', 'TEE', 100) IS NOT NULL AS stock;
SELECT commerce.upsert_tag_category(:t, 'c', 'Custom', 'custom');
SELECT commerce.create_tag(:t, 'vip', 'VIP', 'c') IS NOT NULL AS vip;
SELECT commerce.create_tag(:t, 'gold', 'Gold', 'c') IS NOT NULL AS gold;
SELECT commerce.upsert_customer(:t, 'ann', 'Ann') IS NOT NULL AS ann_before_sync;

-- two systems: wl maps persons and orders, bi only persons
SELECT commerce.upsert_sync_system(:t, 'wl', 'WeLink CRM',
  '{"person": {"code": "LocalCode", "name": "FullName", "level": "Level", "spent_fen": "TotalSpent", "tags": "Tags"},
    "order": {"order_id": "OrderRef", "status": "State", "paid_fen": "Paid", "customer": "Buyer"}}') IS NOT NULL AS wl;
SELECT commerce.upsert_sync_system(:t, 'bi', 'BI warehouse', '{"person": {"code": "id", "spent_fen": "spent", "name": "name"}}') IS NOT NULL AS bi;
-- a bad map is refused with its path
SELECT commerce.upsert_sync_system(:t, 'x', 'X', '{"person": {"nmae": "FullName"}}');
SELECT commerce.upsert_sync_system(:t, 'x', 'X', '{"person": {"name": "A", "code": "A"}}');
SELECT commerce.upsert_sync_system(:t, 'x', 'X', '{"contact": {"name": "A"}}');

-- a new customer: one message per system, version 1
SELECT commerce.upsert_customer(:t, 'bob', 'Bob') IS NOT NULL AS bob;
SELECT topic, dedupe_key, payload - 'changed_at' - 'queued_at' - 'id' AS payload FROM commerce.outbox WHERE topic LIKE 'crm.sync.%' ORDER BY message_id;

-- an order placed and paid in one transaction: one order message (its latest state) and one person message per system
BEGIN;
SELECT order_id AS o1 FROM commerce.place_order(:t, 'o1', 'wechat_mp', '{"lines":[{"sku":"TEE","qty":1}]}', 'bob') \gset
SELECT commerce.pay_order(:t, :o1, 'pay-1', 30000) IS NOT NULL AS paid;
COMMIT;
SELECT topic, split_part(dedupe_key, ':', 1) AS kind, split_part(dedupe_key, ':', 3) AS version,
       (payload -> 'data') - 'OrderRef' AS data
  FROM commerce.outbox WHERE topic LIKE 'crm.sync.%' AND created_at IS NOT NULL ORDER BY message_id OFFSET 2;
SELECT o.object_type, s.code, o.version, o.status FROM commerce.sync_object o JOIN commerce.sync_system s USING (tenant_id, system_id)
 ORDER BY s.code, o.object_type, o.object_id;

-- the wl adapter delivers bob's person messages: the older first, reporting the system's id
SELECT count(*) AS claimed FROM commerce.claim('crm.sync.wl', 'adapter', 100);
SELECT commerce.sync_result(:t, m.message_id, 'adapter', true, NULL, 'W-' || (m.payload ->> 'id'))
  FROM commerce.outbox m WHERE m.topic = 'crm.sync.wl' AND m.payload ->> 'object' = 'person' ORDER BY m.message_id;
-- the order message fails on the remote side
SELECT commerce.sync_result(:t, m.message_id, 'adapter', false, 'HTTP 503 from WeLink')
  FROM commerce.outbox m WHERE m.topic = 'crm.sync.wl' AND m.payload ->> 'object' = 'order';
SELECT o.object_type, o.version, o.acked_version, o.status, o.failures, o.last_error, o.external_id IS NOT NULL AS has_external_id
  FROM commerce.sync_object o JOIN commerce.sync_system s USING (tenant_id, system_id) WHERE s.code = 'wl' ORDER BY 1, o.object_id;
SELECT object_type, objects, synced, pending, failed, acked, failures, inbound, delay_p95_ms IS NOT NULL AS has_delay
  FROM commerce.sync_monitor(:t, 'wl');
SELECT object_type, version, failures, last_error FROM commerce.sync_failures(:t, 'wl');
-- the same report repeated (its answer was lost) is answered again, changing nothing
SELECT commerce.sync_result(:t, m.message_id, 'adapter', true) FROM commerce.outbox m
 WHERE m.topic = 'crm.sync.wl' AND m.payload ->> 'object' = 'person' ORDER BY m.message_id LIMIT 1;
-- a manual retry sends the order's current state as version 2
SELECT commerce.sync_retry(:t, 'wl', 'order', :o1) AS retried_version;
SELECT m.message_id IS NOT NULL AS queued, m.payload ->> 'version' AS version, m.payload -> 'data' ->> 'State' AS state
  FROM commerce.outbox m WHERE m.topic = 'crm.sync.wl' AND m.dedupe_key = 'order:' || :o1 || ':2';
SELECT count(*) AS claimed FROM commerce.claim('crm.sync.wl', 'adapter', 100);
SELECT commerce.sync_result(:t, m.message_id, 'adapter', true, NULL, 'WO-1') FROM commerce.outbox m
 WHERE m.topic = 'crm.sync.wl' AND m.dedupe_key = 'order:' || :o1 || ':2';
SELECT status, failures, last_error FROM commerce.sync_object WHERE object_type = 'order';

-- wl sends bob in: a newer name and tags are applied; they go to bi, not back to wl
SELECT count(*) AS wl_before FROM commerce.outbox WHERE topic = 'crm.sync.wl' \gset
SELECT count(*) AS bi_before FROM commerce.outbox WHERE topic = 'crm.sync.bi' \gset
SELECT commerce.sync_inbound(:t, 'wl', 'W-' || (SELECT person_id FROM commerce.customer WHERE code = 'bob'),
       '{"FullName": {"value": "Bob Li", "version": 5}, "Tags": {"value": ["vip", "nosuch"], "version": 5}, "Level": {"value": 9, "version": 5}}');
SELECT name FROM commerce.customer WHERE code = 'bob';
SELECT t.code, pt.tagged_by FROM commerce.person_tag pt JOIN commerce.tag t USING (tenant_id, tag_id)
  JOIN commerce.customer c ON c.tenant_id = pt.tenant_id AND c.person_id = pt.person_id WHERE c.code = 'bob';
SELECT (SELECT count(*) FROM commerce.outbox WHERE topic = 'crm.sync.wl') - :wl_before AS echoed_to_wl,
       (SELECT count(*) FROM commerce.outbox WHERE topic = 'crm.sync.bi') - :bi_before AS sent_to_bi;
-- a replay and an older version change nothing; a newer tag list replaces the one wl gave
SELECT commerce.sync_inbound(:t, 'wl', 'W-' || (SELECT person_id FROM commerce.customer WHERE code = 'bob'),
       '{"FullName": {"value": "Bob Li", "version": 5}, "Tags": {"value": [], "version": 4}}');
SELECT commerce.sync_inbound(:t, 'wl', 'W-' || (SELECT person_id FROM commerce.customer WHERE code = 'bob'),
       '{"FullName": {"value": "Robert", "version": 3}, "Tags": {"value": ["gold"], "version": 6}}');
SELECT c.name, string_agg(t.code, ',' ORDER BY t.code) AS tags FROM commerce.customer c
  LEFT JOIN commerce.person_tag pt ON pt.tenant_id = c.tenant_id AND pt.person_id = c.person_id
  LEFT JOIN commerce.tag t ON t.tenant_id = pt.tenant_id AND t.tag_id = pt.tag_id WHERE c.code = 'bob' GROUP BY c.name;
-- an unknown id carrying our code links to that customer; one without makes a new customer
SELECT commerce.sync_inbound(:t, 'wl', 'W-ann', '{"LocalCode": {"value": "ann", "version": 1}, "FullName": {"value": "Ann Wu", "version": 1}}');
SELECT commerce.sync_inbound(:t, 'wl', 'W-new', '{"FullName": {"value": "Cai", "version": 1}}');
SELECT code, name FROM commerce.customer ORDER BY customer_id;
SELECT external_id, object_type FROM commerce.sync_link ORDER BY external_id;
SELECT object_type, inbound, stale_fields FROM commerce.sync_monitor(:t, 'wl') WHERE object_type = 'person';
-- bad inbound records change nothing
SELECT commerce.sync_inbound(:t, 'wl', 'W-bad', '{"FullName": "Cai"}');
SELECT commerce.sync_inbound(:t, 'wl', 'W-bad', '{"FullName": {"value": "Cai", "version": -1}}');
SELECT commerce.sync_inbound(:t, 'nosuch', 'W-bad', '{}');
SELECT commerce.sync_inbound(:t, 'bi', '', '{}');
SELECT count(*) AS links FROM commerce.sync_link;
-- a disabled system gets nothing
SELECT commerce.upsert_sync_system(:t, 'bi', 'BI warehouse', '{"person": {"code": "id", "spent_fen": "spent", "name": "name"}}', false) IS NOT NULL AS disabled;
SELECT count(*) AS bi_before FROM commerce.outbox WHERE topic = 'crm.sync.bi' \gset
SELECT commerce.upsert_customer(:t, 'dan', 'Dan') IS NOT NULL AS dan;
SELECT (SELECT count(*) FROM commerce.outbox WHERE topic = 'crm.sync.bi') - :bi_before AS sent_to_disabled_bi;
-- an acknowledgement naming another object's id is refused and changes nothing
UPDATE commerce.customer SET name = 'Bob L.' WHERE code = 'bob';
SELECT count(*) > 0 AS claimed FROM commerce.claim('crm.sync.wl', 'adapter', 100);
SELECT commerce.sync_result(:t, m.message_id, 'adapter', true, NULL, 'W-new') FROM commerce.outbox m
 WHERE m.topic = 'crm.sync.wl' AND m.status = 'claimed' AND m.payload ->> 'data' LIKE '%Bob L.%';
SELECT commerce.sync_result(:t, m.message_id, 'adapter', true, NULL, 'W-' || (m.payload ->> 'id')) FROM commerce.outbox m
 WHERE m.topic = 'crm.sync.wl' AND m.status = 'claimed' AND m.payload ->> 'data' LIKE '%Bob L.%';
SELECT version, acked_version, status FROM commerce.sync_object o JOIN commerce.sync_system s USING (tenant_id, system_id)
 WHERE s.code = 'wl' AND o.object_type = 'person' AND o.object_id = (SELECT person_id FROM commerce.customer WHERE code = 'bob');
-- a change of nothing wl maps (the phone) sends no new version
SELECT count(*) AS wl_before FROM commerce.outbox WHERE topic = 'crm.sync.wl' \gset
UPDATE commerce.customer SET phone = '13900001111' WHERE code = 'bob';
SELECT (SELECT count(*) FROM commerce.outbox WHERE topic = 'crm.sync.wl') - :wl_before AS sent_for_a_phone_change;
SELECT count(*) AS crm_invariant_violations FROM commerce.check_crm_invariants();
SET client_min_messages = warning;
DROP SCHEMA commerce CASCADE;
