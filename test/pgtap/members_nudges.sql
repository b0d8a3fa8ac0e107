-- members_nudges.sql: private-traffic nudges and subscription messages
-- (3.6.4), and the person's profile (3.6.1): a shipped platform order queues
-- its channel's package card once; a subscription message goes out only on a
-- credit the customer granted, once per event; the profile's derived
-- preferences and tags; bad input refused with its SQLSTATE.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(17);
\ir lib/fingerprint.psql
\o /dev/null

SET LOCAL commerce.now = '2030-01-01 08:00:00+08';
SELECT commerce.create_tenant('ndg', 'Nudges') AS t \gset
SELECT commerce.upsert_product(:t, 'P', 'Tee', p_category => 'apparel');
SELECT commerce.upsert_sku(:t, 'P', 'A1', 'Tee', 1000);
SELECT commerce.receive_stock(:t, 'r', 'A1', 100);
SELECT commerce.upsert_customer(:t, 'c1');
SELECT commerce.create_coupon_template(:t, 'W5', '{"name":"5 off for our WeCom friends","kind":"amount","amount_fen":500,"valid_days":30}');
SELECT commerce.create_coupon_batch(:t, 'W5', 'WECOM5', NULL, false);
\o

-- a shipped platform order queues the package card, once
SELECT commerce.set_nudge_rule(:t, 'taobao', 'package_card', 'Add our WeCom for a 5 yuan coupon', 'WECOM5');
SELECT (commerce.ingest_platform_order(:t, 'taobao', '{"tid": "TB1001", "status": "WAIT_SELLER_SEND_GOODS",
             "created": "2029-12-31 23:00:00", "modified": "2029-12-31 23:10:00", "buyer_nick": "tb_fan_01",
             "receiver_name": "Zhang San", "receiver_mobile": "13800001234", "receiver_state": "Zhejiang", "receiver_city": "Hangzhou",
             "receiver_address": "Wensan Road 1", "total_fee": "20.00", "discount_fee": "0.00", "post_fee": "0.00", "payment": "20.00",
             "orders": {"order": [{"oid": "TB1001-1", "outer_sku_id": "A1", "num": 2, "price": "10.00", "title": "Tee"}]}}')).order_id AS o_tb \gset
SELECT is((SELECT count(*) FROM commerce.outbox WHERE tenant_id = :t AND topic LIKE 'nudge.%'), 0::bigint, 'nothing before it ships');
SELECT is((commerce.ship_order(:t, :o_tb, 'ship-1')).order_id, :o_tb::bigint, 'the Taobao order ships');
SELECT is((SELECT payload ->> 'message' || ' / ' || (payload ->> 'coupon_batch') FROM commerce.outbox WHERE tenant_id = :t AND topic = 'nudge.package_card'),
          'Add our WeCom for a 5 yuan coupon / WECOM5', 'its package card is queued with the coupon batch');
SELECT is((SELECT count(*) FROM commerce.outbox WHERE tenant_id = :t AND topic LIKE 'nudge.%'), 1::bigint, 'once');
SELECT throws_ok(format($$SELECT commerce.set_nudge_rule(%s, 'wechat_mp', 'sms', 'hi')$$, :t), '22023', 'invalid value for p_channel',
                 'a nudge for our own channel -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_nudge_rule(%s, 'taobao', 'fax', 'hi')$$, :t), '22023', 'invalid value for p_kind',
                 'a nudge by fax -> 22023');

-- subscription messages only on a credit, once per event
SELECT is((commerce.issue_coupon(:t, 'issue', 'i-1', 'WECOM5', 'c1')).outcome, 'issued', 'c1 gets a coupon without a subscription');
SELECT is((SELECT count(*) FROM commerce.outbox WHERE tenant_id = :t AND topic = 'mp.subscribe_message'), 0::bigint, 'no message: no credit');
SELECT is(commerce.grant_subscription(:t, 'c1', 'coupon_arrived', 2), 2, 'c1 accepts two coupon messages');
SELECT is((commerce.issue_coupon(:t, 'issue', 'i-2', 'WECOM5', 'c1')).outcome, 'issued', 'another coupon');
SELECT is((SELECT count(*) FROM commerce.outbox WHERE tenant_id = :t AND topic = 'mp.subscribe_message'), 1::bigint, 'one message queued');
SELECT is((SELECT credits || '/' || used FROM commerce.subscription_credit WHERE tenant_id = :t), '1/1', 'one credit used, one left');
SELECT is(commerce.notify_subscriber(:t, (SELECT customer_id FROM commerce.customer WHERE tenant_id = :t AND code = 'c1'), 'coupon_arrived',
                                     '{}', 'coupon:' || (SELECT max(coupon_id) FROM commerce.coupon WHERE tenant_id = :t)), 'existing',
          'the same event again sends nothing and uses no credit');
SELECT throws_ok(format($$SELECT commerce.grant_subscription(%s, 'c1', 'marketing', 1)$$, :t), '22023', 'invalid value for p_template',
                 'an unknown template -> 22023');

-- the profile
\o /dev/null
SELECT order_id AS o1 FROM commerce.place_order(:t, 'o1', 'wechat_mp', '{"lines":[{"sku":"A1","qty":3}]}', 'c1') \gset
SELECT commerce.pay_order(:t, :o1, 'pay-1', 3000);
\o
SELECT is((commerce.set_person_profile(:t, 'c1', '{"gender":"female","age_band":"25_34","region":"Hangzhou"}')) ->> 'age_band', '25_34',
          'c1 sets its profile');
SELECT is((SELECT p - 'person_id' FROM commerce.person_profile(:t, (SELECT person_id FROM commerce.customer WHERE tenant_id = :t AND code = 'c1')) p),
          '{"tags": ["fan_of_wechat_mp"], "gender": "female", "orders": 1, "region": "Hangzhou", "age_band": "25_34", "birthday": null, "nickname": null, "spent_fen": 3000, "top_categories": ["apparel"], "average_order_fen": 3000, "orders_last_365_days": 1}'::jsonb,
          'its derived preferences and tags');
SELECT throws_ok(format($$SELECT commerce.set_person_profile(%s, 'c1', '{"gender":"robot"}')$$, :t), '22023', 'invalid value for p_profile',
                 'an unknown gender -> 22023');

SELECT * FROM finish();
ROLLBACK;
