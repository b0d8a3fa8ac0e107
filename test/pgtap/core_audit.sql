-- core_audit.sql: the audit log of sensitive operations (issue 11, seed
-- 003 4.3) and encrypted exports. Each audited operation leaves one row with
-- its actor, roles, client and outcome; masked reads leave none; the log is
-- append-only; exports encrypt the receiver with AES-256 under the caller's
-- key (pgcrypto) and are refused without it or with a short key.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(29);
\o /dev/null
SET LOCAL commerce.now = '2030-01-10 10:00:00+08';
SELECT commerce.grant_api();
SELECT commerce.create_tenant('aud', 'Audit') AS t \gset
SELECT commerce.upsert_product(:t, 'P', 'Tee'), commerce.upsert_sku(:t, 'P', 'TEE', 'Tee', 9900),
       commerce.receive_stock(:t, 'in', 'TEE', 10), commerce.upsert_customer(:t, 'fan');
SELECT order_id AS o FROM commerce.place_order(:t, 'o1', 'wechat_mp',
  '{"lines":[{"sku":"TEE","qty":1}],"receiver":{"name":"Zhang San","phone":"13800001234","region":"Zhejiang","city":"Hangzhou","address":"Wensan Road 1"}}',
  'fan') \gset
SELECT commerce.pay_order(:t, :o, 'pay-1', 9900);
SELECT order_id AS o2 FROM commerce.place_order(:t, 'o2', 'wechat_mp', '{"lines":[{"sku":"TEE","qty":1}]}', 'fan') \gset
SELECT commerce.pay_order(:t, :o2, 'pay-2', 9900);
SELECT commerce.upsert_staff(:t, 'op1', 'Operator', 'operator');
SELECT commerce.upsert_staff(:t, 'op2', 'Taobao operator', 'operator');
SELECT max(audit_id) AS a0 FROM commerce.audit_log \gset
-- the operator acts through the gateway: claims and the actor role
SELECT set_config('request.jwt.claims', json_build_object('role', 'commerce_operator', 'sub', 'op1', 'tenant_id', :'t')::text, true);
SELECT set_config('request.headers', '{"x-forwarded-for":"203.0.113.7"}', true);
SELECT after_sale_id AS a FROM commerce.request_after_sale(:t, 'as1', :o, 'refund_only', 9900, 'broken') \gset
SELECT commerce.decide_after_sale(:t, :a, true, 'ok by op1');
SELECT commerce.set_price(:t, 'TEE', 'channel', 8900, 'wechat_mp');
SELECT set_config('request.jwt.claims', '', true);
SELECT set_config('request.headers', '', true);
\o

SELECT is((SELECT string_agg(operation || ':' || coalesce(outcome, '-'), ' ' ORDER BY audit_id) FROM commerce.audit_log WHERE audit_id > :a0),
          'after_sale.insert:requested after_sale.update:approved after_sale.decide:approved price.insert:-',
          'a refund request, its approval and a price change are audited, in order');
SELECT is((SELECT actor_kind || ' ' || actor_subject || ' ' || db_role || ' ' || forwarded_for FROM commerce.audit_log
            WHERE operation = 'after_sale.update' AND audit_id > :a0),
          'operator op1 ' || session_user || ' 203.0.113.7', 'the row names the verified actor, the database role and the client');
SELECT is((SELECT params -> 'status' ->> 'old' || '>' || (params -> 'status' ->> 'new') FROM commerce.audit_log
            WHERE operation = 'after_sale.update' AND audit_id > :a0), 'requested>approved', 'with the old and new values');
SELECT is((SELECT object_key FROM commerce.audit_log WHERE operation = 'after_sale.update' AND audit_id > :a0), :'a',
          'keyed by the request');
-- a direct SQL writer (no identity) is logged too
SELECT max(audit_id) AS a1 FROM commerce.audit_log \gset
SELECT commerce.set_price(:t, 'TEE', 'channel', 8800, 'wechat_mp') IS NOT NULL AS p \gset
SELECT is((SELECT coalesce(actor_kind, 'service') || ' ' || db_role FROM commerce.audit_log WHERE audit_id > :a1 ORDER BY audit_id LIMIT 1),
          'service ' || session_user, 'a superuser''s direct call is logged with its role');
-- staff, bindings, retention, role grants
SELECT max(audit_id) AS a2 FROM commerce.audit_log \gset
SELECT commerce.upsert_staff(:t, 'op2', 'Taobao operator', 'operator', NULL, ARRAY['taobao']) > 0 AS s \gset
SELECT commerce.set_retention(:t, 'click', '2 years') IS NOT NULL AS r \gset
CREATE ROLE aud_backend LOGIN;
SELECT commerce.bind_role('aud_backend', :t, 'service', 'backend');
SELECT count(*) > 0 AS g FROM commerce.grant_api() \gset
SELECT is((SELECT string_agg(operation, ' ' ORDER BY audit_id) FROM commerce.audit_log WHERE audit_id > :a2),
          'staff.update retention.insert role_binding.insert grant_api', 'staff, retention, role bindings and grants are audited');
SELECT is((SELECT params -> 'channels' ->> 'new' FROM commerce.audit_log WHERE audit_id > :a2 AND operation = 'staff.update'),
          '["taobao"]', 'the staff change shows the new channels');
SELECT is((SELECT tenant_id FROM commerce.audit_log WHERE audit_id > :a2 AND operation = 'grant_api'), 0::bigint,
          'grants are cluster-level (tenant 0)');
-- personal data: an unmasked read is audited, a masked one is not
SELECT max(audit_id) AS a3 FROM commerce.audit_log \gset
SELECT masked AS m FROM commerce.order_contact(:t, :o) \gset
SELECT is(:'m'::text, 'f', 'a superuser reads the contact unmasked');
SELECT is((SELECT operation || ' ' || object_key || ' ' || outcome FROM commerce.audit_log WHERE audit_id > :a3),
          'pii.read ' || :o || ' unmasked', 'and the read is audited');
SELECT max(audit_id) AS a4 FROM commerce.audit_log \gset
SET LOCAL ROLE commerce_operator;
SELECT set_config('request.jwt.claims', json_build_object('role', 'commerce_operator', 'sub', 'op1', 'tenant_id', :'t')::text, true) IS NOT NULL AS c \gset
SELECT is((SELECT masked FROM commerce_api.order_contact(:o)), true, 'an operator without commerce_pii_reader gets it masked through the API');
RESET ROLE;
SELECT set_config('request.jwt.claims', '', true) IS NOT NULL AS c \gset
SELECT is((SELECT count(*) FROM commerce.audit_log WHERE audit_id > :a4), 0::bigint, 'a masked read leaves no audit row');
-- the log is append-only
SELECT throws_ok('UPDATE commerce.audit_log SET outcome = ''x''', 'PT403', NULL, 'the audit log cannot be changed');
SELECT throws_ok('DELETE FROM commerce.audit_log', 'PT403', NULL, 'nor deleted from');
SELECT is((SELECT string_agg(c.relname, ' ' ORDER BY c.relname) FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
            WHERE g.tgname = 'after_90_audit'),
          'after_sale channel_spend koc_risk_flag play_settlement price retention role_binding settle_batch staff withdrawal',
          'refunds, channel spend, risk decisions, play settlements, prices, retention, bindings, payout batches, staff and withdrawals are audited');
-- refunds from 50.00 yuan need a second, different approver
SELECT throws_ok(format('SELECT commerce.set_refund_approval(%s, -1)', :t), '22023', 'invalid value for p_threshold_fen',
                 'a negative threshold -> 22023');
SELECT is(commerce.set_refund_approval(:t, 5000), 5000::bigint, 'the threshold is set');
SELECT after_sale_id AS big FROM commerce.request_after_sale(:t, 'as2', :o2, 'refund_only', 9900, 'too big') \gset
SELECT set_config('request.jwt.claims', json_build_object('role', 'commerce_operator', 'sub', 'op1', 'tenant_id', :'t')::text, true) IS NOT NULL AS c \gset
SELECT is((SELECT status || ' ' || first_approver FROM commerce.decide_after_sale(:t, :big, true, 'first')), 'requested op1',
          'the first approval of a large refund is recorded; the request stays requested');
SELECT throws_ok(format('SELECT commerce.decide_after_sale(%s, %s, true)', :t, :big), '42501',
                 format('refund %s needs a second, different approver', :big), 'the same approver again -> 42501');
SELECT set_config('request.jwt.claims', json_build_object('role', 'commerce_operator', 'sub', 'op2', 'tenant_id', :'t')::text, true) IS NOT NULL AS c \gset
SELECT is((SELECT status FROM commerce.decide_after_sale(:t, :big, true, 'second')), 'approved', 'a second, different approver approves it');
SELECT set_config('request.jwt.claims', '', true) IS NOT NULL AS c \gset
SELECT is((SELECT string_agg(operation || ':' || outcome || coalesce(':' || (params ->> 'approver'), ''), ' ' ORDER BY audit_id)
             FROM commerce.audit_log
            WHERE (operation IN ('after_sale.update', 'after_sale.decide') AND object_key = :'big')
               OR (operation = 'refund_approval.set' AND object_key = :'t')),
          'refund_approval.set:set after_sale.update:requested after_sale.decide:first_approval:op1 after_sale.update:approved after_sale.decide:approved:op2',
          'both approvals, by name, and the threshold are audited');
-- exports
SELECT throws_ok(format($$SELECT * FROM commerce.export_orders(%s, '2030-01-01', '2030-01-31', 'a key of sixteen+')$$, :t),
                 '0A000', 'pgcrypto is not installed in this database', 'export without pgcrypto -> 0A000');
CREATE EXTENSION pgcrypto;
SELECT throws_ok(format($$SELECT * FROM commerce.export_orders(%s, '2030-01-01', '2030-01-31', 'short')$$, :t),
                 '22023', 'invalid value for p_key', 'export with a short key -> 22023');
SELECT throws_ok(format($$SELECT * FROM commerce.export_orders(%s, '2030-01-31', '2030-01-01', 'a key of sixteen+')$$, :t),
                 '22023', 'invalid value for p_to', 'export of a reversed period -> 22023');
SELECT max(audit_id) AS a5 FROM commerce.audit_log \gset
CREATE TEMP TABLE exported AS SELECT * FROM commerce.export_orders(:t, '2030-01-01', '2030-01-31', 'a key of sixteen+');
SELECT is((SELECT count(*) FROM exported), 2::bigint, 'the orders of the period are exported');
SELECT is((SELECT position('13800001234' IN encode(receiver_phone, 'escape')) FROM exported WHERE order_id = :o), 0,
          'the phone is not in the export in clear');
SELECT is((SELECT pgp_sym_decrypt(receiver_phone, 'a key of sixteen+') || ' ' || pgp_sym_decrypt(receiver_address, 'a key of sixteen+') FROM exported WHERE order_id = :o),
          '13800001234 Wensan Road 1', 'it decrypts with the key');
SELECT throws_ok($$SELECT pgp_sym_decrypt(receiver_phone, 'another key of 16') FROM exported WHERE receiver_phone IS NOT NULL$$, '39000', NULL,
                 'and not with another key');
SELECT is((SELECT operation || ' ' || (params ->> 'rows') FROM commerce.audit_log WHERE audit_id > :a5), 'pii.export 2',
          'the export is audited with its row count');

SELECT * FROM finish();
ROLLBACK;
