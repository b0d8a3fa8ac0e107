-- customers_identity.sql: identity fusion (3.6.1): one-tap login, phones in
-- E.164, verified ids merge into the older person, unverified phones only
-- suggest, masked, virtual and blocklisted values never link, two UnionIDs
-- block a merge as a conflict; benefits and points read through the person;
-- an unmerge restores the partition exactly; bad input refused with its
-- SQLSTATE and nothing changed; the HTTP calls.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(39);
\ir lib/fingerprint.psql
\ir lib/call_as.psql
\o /dev/null

SET LOCAL commerce.now = '2030-03-01 10:00:00+08';
SELECT commerce.grant_api();
SELECT commerce.create_tenant('idf', 'Identity') AS t \gset
SELECT set_config('act.t', :'t', true);
SELECT commerce.upsert_staff(:t, 'op1', 'HQ', 'operator');
\o

-- phones
SELECT is(commerce.normalize_phone('138 0000 1111'), '+8613800001111', 'a mainland mobile with spaces -> E.164');
SELECT is(commerce.normalize_phone('0086-138-0000-1111'), '+8613800001111', '0086 and dashes');
SELECT is(commerce.normalize_phone('+852 9123 4567'), '+85291234567', 'a Hong Kong number keeps its code');
SELECT is(commerce.normalize_phone('138****1111'), NULL, 'a masked number is no number');
SELECT throws_ok($$SELECT commerce.normalize_phone('12345')$$, '22023', 'invalid value for phone', 'not a phone -> 22023');

-- one-tap login
SELECT is((commerce.mini_program_login(:t, 'wechat_mp', 'oA', 'U1', '13800001111', 'Ann')).outcome, 'new', 'Ann logs in: a new person');
SELECT (commerce.mini_program_login(:t, 'wechat_mp', 'oA', 'U1', '13800001111')).person_id AS pa \gset
SELECT is((SELECT count(*) FROM commerce.person WHERE tenant_id = :t), 1::bigint, 'logging in again makes no person');
SELECT is((SELECT string_agg(type || '=' || value, ',' ORDER BY type) FROM commerce.person_identity WHERE tenant_id = :t),
          'phone=+8613800001111,wechat_openid=wechat_mp:oA,wechat_unionid=U1', 'her OpenID, UnionID and verified phone');

-- a verified phone merges; the older person survives
SELECT commerce.upsert_customer(:t, 'h5:ann') \gset
SELECT is((commerce.observe_identities(:t, 'h5:ann', '[{"type":"h5_uid","value":"h5-ann","verified":true},{"type":"phone","value":"13800001111","verified":true}]', 'h5')).outcome,
          'merged', 'her H5 sign-up with the same verified phone merges');
SELECT is((SELECT count(DISTINCT person_id) FROM commerce.customer WHERE tenant_id = :t), 1::bigint, 'two accounts, one person');
SELECT is((SELECT survivor_id FROM commerce.person_merge WHERE tenant_id = :t), :pa::bigint, 'the older person survives');

-- weak evidence only suggests; masked, virtual and blocklisted values never link
SELECT is((commerce.observe_identities(:t, NULL, '[{"type":"taobao_buyer","value":"tb-ann"},{"type":"phone","value":"13800001111"}]', 'taobao')).suggested,
          1, 'a Taobao order with her phone, unverified: a suggestion');
SELECT is((SELECT count(*) FROM commerce.person_merge WHERE tenant_id = :t), 1::bigint, 'not a merge');
SELECT is((commerce.observe_identities(:t, NULL, '[{"type":"douyin_buyer","value":"dy-1"},{"type":"phone","value":"138****1111"}]', 'douyin')).outcome,
          'new', 'a Douyin order with a masked phone: a new person');
SELECT is((commerce.observe_identities(:t, NULL, '[{"type":"pdd_buyer","value":"pdd-1"},{"type":"phone","value":"17012345678","verified":true}]', 'pdd')).outcome,
          'new', 'a virtual number, even "verified", links nothing');
SELECT commerce.block_identity(:t, 'phone', '13800138000', 'the fake number') \gset
SELECT is((commerce.observe_identities(:t, NULL, '[{"type":"taobao_buyer","value":"tb-x"},{"type":"phone","value":"13800138000","verified":true}]', 'taobao')).person_id
          <> (commerce.observe_identities(:t, NULL, '[{"type":"taobao_buyer","value":"tb-y"},{"type":"phone","value":"13800138000","verified":true}]', 'taobao')).person_id,
          true, 'a blocklisted phone joins nobody');
SELECT is((SELECT count(*) FROM commerce.person_identity WHERE tenant_id = :t AND NOT linkable AND person_id IS NULL), 3::bigint,
          'the masked, virtual and blocklisted values are kept, unlinked');

-- two UnionIDs block an automatic merge
SELECT is((commerce.mini_program_login(:t, 'wechat_mp', 'oB', 'U2', '13800001111')).conflicts, 1,
          'another WeChat user (another UnionID) verifying the same phone: a conflict, no merge');
SELECT is((SELECT kind FROM commerce.merge_suggestion WHERE tenant_id = :t AND kind = 'conflict'), 'conflict', 'recorded for review');
SELECT is((SELECT count(*) FROM commerce.check_identity_invariants()), 0::bigint, 'one UnionID per person still');

-- reads through the person: benefits and points of either account
\o /dev/null
SELECT commerce.upsert_product(:t, 'VIP', 'Membership', 'virtual', 'membership_card');
SELECT commerce.upsert_sku(:t, 'VIP', 'VIP-M', 'Monthly', 990);
SELECT commerce.receive_stock(:t, 'r', 'VIP-M', 10);
SELECT commerce.upsert_membership_plan(:t, 'MONTH', 'Monthly', 'VIP-M', 1, 500);
\o
SELECT order_id AS m1 FROM commerce.buy_membership(:t, 'm1', 'wechat_mp:oA', 'MONTH', 'wechat_mp') \gset
SELECT is((commerce.pay_order(:t, :m1, 'pay-m1', 990)).status, 'paid', 'Ann buys a month in the mini-program');
SELECT is(commerce._benefit_bp(:t, (SELECT customer_id FROM commerce.customer WHERE tenant_id = :t AND code = 'h5:ann'), 'member_discount', commerce.now()),
          500, 'her H5 account has the member discount too');
SELECT commerce.earn_points(:t, 'grant', 'g1', 'h5:ann', 100, 'welcome') \gset
SELECT is((SELECT points_available FROM commerce._person_view(:t, :pa)), 100::bigint, 'her person''s points count both accounts');

-- an unmerge restores the partition exactly
SELECT is(commerce.unmerge_persons(:t, (SELECT merge_id FROM commerce.person_merge WHERE tenant_id = :t)) <> :pa, true, 'the merge is undone');
SELECT is((SELECT count(DISTINCT person_id) FROM commerce.customer WHERE tenant_id = :t AND code IN ('wechat_mp:oA', 'h5:ann')), 2::bigint,
          'two persons again');
SELECT is((SELECT string_agg(type, ',' ORDER BY type) FROM commerce.person_identity i JOIN commerce.customer cu ON cu.tenant_id = i.tenant_id
             AND cu.person_id = i.person_id WHERE cu.code = 'h5:ann'), 'h5_uid', 'the H5 uid went back with its account');
SELECT is(commerce._benefit_bp(:t, (SELECT customer_id FROM commerce.customer WHERE tenant_id = :t AND code = 'h5:ann'), 'member_discount', commerce.now()),
          0, 'and the H5 account no longer has her membership''s discount');
SELECT is((commerce.observe_identities(:t, 'h5:ann', '[{"type":"phone","value":"13800001111","verified":true}]', 'h5')).merged, 0,
          'the same evidence does not merge them again silently (the pair is a decided suggestion)') ;
-- staff merge after review
SELECT is(commerce.merge_persons(:t, :pa, (SELECT person_id FROM commerce.customer WHERE tenant_id = :t AND code = 'h5:ann'), 'same person, checked'),
          :pa::bigint, 'staff merge them back');

-- points of both accounts spent together, earliest expiry first
SELECT commerce.earn_points(:t, 'grant', 'g2', 'wechat_mp:oA', 50, 'mini-program welcome', 0, 30) \gset
SELECT is((commerce.spend_points(:t, 's1', 'wechat_mp:oA', 120, 'mall')).available, 0::bigint,
          'Ann spends 120 in the mini-program: its 50 (expiring first) and 70 of her H5 points');
SELECT is((SELECT points_available FROM commerce._person_view(:t, :pa)), 30::bigint, '30 left on her person');
SELECT is((SELECT count(*) FROM commerce.check_points_invariants()), 0::bigint, 'the points invariants hold per account');

-- bad input
SELECT pg_temp.fingerprint() AS fp0 \gset
SELECT throws_ok(format($$SELECT commerce.observe_identities(%s, NULL, '{"type":"phone"}', 'x')$$, :t), '22023', 'invalid value for p_identities',
                 'identities not a list -> 22023');
SELECT throws_ok(format($$SELECT commerce.observe_identities(%s, NULL, '[{"type":"email","value":"a@b"}]', 'x')$$, :t), '22023',
                 'invalid value for p_identities', 'an unknown type -> 22023');
SELECT throws_ok(format($$SELECT commerce.mini_program_login(%s, 'douyin_mp', 'o', NULL)$$, :t), '22023', 'invalid value for p_app',
                 'a login from another app -> 22023');
SELECT is(pg_temp.fingerprint(), :'fp0', 'the refused calls changed nothing');

-- HTTP
SELECT is(pg_temp.call_as('service', 'mp-backend', $$SELECT * FROM commerce_api.mini_program_login('wechat_mp', 'oC', 'U3')$$), 'ok',
          'the mini-program backend logs a customer in');
SELECT is(pg_temp.call_as('customer', 'wechat_mp:oA', $$SELECT 1/(cardinality(accounts) = 2)::int FROM commerce_api.my_person()$$), 'ok',
          'Ann sees her two accounts');
SELECT is(pg_temp.call_as('customer', 'wechat_mp:oA', $$SELECT * FROM commerce_api.observe_identities('[]', 'x')$$),
          '42501: permission denied for function observe_identities', 'a customer reports no identities (42501)');

SELECT * FROM finish();
ROLLBACK;
