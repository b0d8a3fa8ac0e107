-- service_bad_input.sql: the one inbox's and the quick replies' entry points
-- (issue 15) refuse bad input with their SQLSTATE and change nothing; store staff see and act on
-- their stores' sessions only, a session is replied in only by the staff
-- member who took it, the reply window is enforced for everyone; customers,
-- KOCs and anonymous callers reach none of it.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(56);
\ir lib/fingerprint.psql
\ir lib/call_as.psql
\o /dev/null

SET LOCAL commerce.now = '2030-06-15 10:00:00+08';
SELECT commerce.grant_api();
SELECT commerce.create_tenant('sv', 'Service bad input') AS t \gset
SELECT commerce.create_tenant('sv2', 'Other') AS t2 \gset
SELECT set_config('act.t', :'t', true);
SELECT commerce.upsert_store(:t, 'S1', 'Store one');
SELECT commerce.upsert_store(:t, 'S2', 'Store two');
SELECT commerce.upsert_staff(:t, 'op1', 'HQ', 'operator');
SELECT commerce.upsert_staff(:t, 'st1', 'Store one staff', 'store', ARRAY['S1']);
SELECT commerce.upsert_staff(:t, 'st2', 'Store two staff', 'store', ARRAY['S2']);
SELECT commerce.upsert_staff(:t, 'st2b', 'Store two, another', 'store', ARRAY['S2']);
SELECT commerce.upsert_staff(:t, 'op-s1', 'HQ for S1', 'operator', ARRAY['S1']);
SELECT commerce.upsert_customer(:t, 'c1', 'C1');
SELECT commerce.upsert_kb_article(:t, 'invoice', 'answer', '发票怎么开', ARRAY['怎么开发票'], '订单完成后在订单详情页申请电子发票。');
SELECT commerce.create_coupon_template(:t, 'BIG', '{"name":"500 off","kind":"amount","amount_fen":50000,"threshold_fen":0,"valid_days":30}');
SELECT commerce.create_coupon_batch(:t, 'BIG', 'hq-only', NULL, false);
SELECT commerce.create_coupon_batch(:t, 'BIG', 'open', 1000);
SELECT commerce.upsert_quick_reply(:t, 'open-coupon', 'coupon', 'Coupon', 'A coupon for you', p_coupon_batch => 'open');
SELECT commerce.service_ingest(:t, '{"channel":"wecom_kf","account":"kf1","user":"wm-1","message_id":"k1","text":"在吗","store":"S2"}');
SELECT conversation_id AS s2conv FROM commerce.conversation WHERE external_user = 'wm-1' \gset
SELECT commerce.service_ingest(:t2, '{"channel":"wecom_kf","account":"kf9","user":"wm-9","message_id":"x1","text":"在吗"}');
SELECT conversation_id AS t2conv FROM commerce.conversation WHERE external_user = 'wm-9' \gset
\o
SELECT pg_temp.fingerprint() AS fp \gset

-- the channel adapter's entry
SELECT throws_ok(format($$SELECT commerce.service_ingest(%s, NULL)$$, :t), '22004', 'argument p_event must not be null', 'ingest: NULL');
SELECT throws_ok(format($$SELECT commerce.service_ingest(%s, '[]')$$, :t), '22023', 'invalid value for p_event', 'ingest: not an object');
SELECT throws_ok(format($$SELECT commerce.service_ingest(%s, '{"channel":"fax","account":"a","user":"u","message_id":"m","text":"x"}')$$, :t), '22023', 'invalid value for channel', 'ingest: an unknown channel');
SELECT throws_ok(format($$SELECT commerce.service_ingest(%s, '{"channel":"h5","user":"u","message_id":"m","text":"x"}')$$, :t), '22023', 'invalid value for user', 'ingest: no account');
SELECT throws_ok(format($$SELECT commerce.service_ingest(%s, '{"channel":"h5","account":"a","message_id":"m","text":"x"}')$$, :t), '22023', 'invalid value for user', 'ingest: no user');
SELECT throws_ok(format($$SELECT commerce.service_ingest(%s, '{"channel":"h5","account":"a","user":"u","text":"x"}')$$, :t), '22023', 'invalid value for message_id', 'ingest: no channel message id');
SELECT throws_ok(format($$SELECT commerce.service_ingest(%s, jsonb_build_object('channel', 'h5', 'account', 'a', 'user', 'u', 'message_id', repeat('m', 201), 'text', 'x'))$$, :t), '22023', 'invalid value for message_id', 'ingest: a message id of 201 characters');
SELECT throws_ok(format($$SELECT commerce.service_ingest(%s, '{"channel":"h5","account":"a","user":"u","message_id":"m"}')$$, :t), '22023', 'invalid value for kind', 'ingest: a text without text');
SELECT throws_ok(format($$SELECT commerce.service_ingest(%s, jsonb_build_object('channel', 'h5', 'account', 'a', 'user', 'u', 'message_id', 'm', 'text', repeat('x', 4001)))$$, :t), '22023', 'invalid value for kind', 'ingest: a text of 4001 characters');
SELECT throws_ok(format($$SELECT commerce.service_ingest(%s, '{"channel":"h5","account":"a","user":"u","message_id":"m","kind":"sticker"}')$$, :t), '22023', 'invalid value for kind', 'ingest: an unknown kind');
SELECT throws_ok(format($$SELECT commerce.service_ingest(%s, '{"channel":"h5","account":"a","user":"u","message_id":"m","text":"x","sent_at":"2031-01-01T00:00:00Z"}')$$, :t), '22023', 'invalid value for sent_at', 'ingest: sent in the future');
SELECT throws_ok(format($$SELECT commerce.service_ingest(%s, '{"channel":"h5","account":"a","user":"u","message_id":"m","text":"x","sent_at":"yesterday-ish"}')$$, :t), '22023', 'invalid value for sent_at', 'ingest: a time that is none');
SELECT throws_ok(format($$SELECT commerce.service_ingest(%s, '{"channel":"h5","account":"a","user":"u","message_id":"m","text":"x","identities":{"a":1}}')$$, :t), '22023', 'invalid value for identities', 'ingest: identities not a list');
SELECT throws_ok(format($$SELECT commerce.service_ingest(%s, '{"channel":"h5","account":"a","user":"u","message_id":"m","text":"x","verified":"yes"}')$$, :t), '22023', 'invalid value for verified', 'ingest: verified not a boolean');
SELECT throws_ok(format($$SELECT commerce.service_ingest(%s, '{"channel":"h5","account":"a","user":"u","message_id":"m","text":"x","store":"S9"}')$$, :t), 'PT404', 'store "S9" not found', 'ingest: an unknown store');

-- the workbench
SELECT throws_ok(format($$SELECT commerce.service_reply(%s, NULL, %s, (SELECT staff_id FROM commerce.staff WHERE code = 'op1'), 'hi')$$, :t, :s2conv), 'PT409', NULL, 'reply: in a session nobody took');
SELECT throws_ok(format($$SELECT commerce.service_reply(%s, NULL, %s, (SELECT staff_id FROM commerce.staff WHERE code = 'op1'), '   ')$$, :t, :s2conv), '22023', 'invalid value for p_text', 'reply: blank');
SELECT throws_ok(format($$SELECT commerce.service_release(%s, NULL, %s, (SELECT staff_id FROM commerce.staff WHERE code = 'op1'))$$, :t, :s2conv), 'PT409', NULL, 'release: a session not taken');
SELECT throws_ok(format($$SELECT commerce.service_end(%s, NULL, %s, 'bored')$$, :t, :s2conv), '22023', 'invalid value for p_reason', 'end: an unknown reason');
SELECT throws_ok(format($$SELECT commerce.service_accept(%s, NULL, %s, (SELECT staff_id FROM commerce.staff WHERE code = 'op1'))$$, :t, :t2conv), 'PT404', NULL, 'accept: another tenant''s session');
SELECT throws_ok(format($$SELECT * FROM commerce.service_inbox(%s, NULL, '{open}')$$, :t), '22023', 'invalid value for p_status', 'inbox: an unknown state');
SELECT throws_ok(format($$SELECT * FROM commerce.service_inbox(%s, NULL, NULL, now(), NULL)$$, :t), '22023', 'invalid value for p_limit', 'inbox: half a cursor');
SELECT throws_ok(format($$SELECT commerce.service_feedback(%s, 999999, true)$$, :t), 'PT404', 'answer "999999" not found', 'feedback: an unknown answer');
SELECT throws_ok(format($$SELECT commerce.upsert_kb_article(%s, 'k', 'faq', 't', '{q}', 'a')$$, :t), '22023', 'invalid value for p_kind', 'article: an unknown kind');
SELECT throws_ok(format($$SELECT commerce.upsert_kb_article(%s, 'k', 'answer', 't', ARRAY[NULL]::text[], 'a')$$, :t), '22023', 'invalid value for p_questions', 'article: a NULL question');
SELECT throws_ok(format($$SELECT commerce.upsert_kb_article(%s, 'k', 'answer', '！！', '{？？}', '。')$$, :t), '22023', 'invalid value for p_questions', 'article: nothing to index');
SELECT throws_ok(format($$SELECT commerce.set_service_policy(%s, 'wecom_kf', interval '0 seconds', 5)$$, :t), '22023', 'invalid value for p_reply_window', 'policy: an empty window');
SELECT throws_ok(format($$SELECT commerce.set_service_policy(%s, 'sms', NULL, NULL)$$, :t), '22023', 'invalid value for p_channel', 'policy: an unknown channel');

-- the API: actors from the token, stores from the staff row
SELECT matches(pg_temp.call_as('store', 'st1', format($$SELECT commerce_api.service_accept(%s)$$, :s2conv)), '^PT404: conversation', 'a store''s staff cannot take another store''s session');
SELECT matches(pg_temp.call_as('store', 'st1', format($$SELECT commerce_api.service_conversation(%s)$$, :s2conv)), '^PT404: conversation', '... nor read it');
SELECT is(pg_temp.call_as('store', 'st1', $q$DO $$ BEGIN IF (SELECT count(*) FROM commerce_api.service_inbox()) <> 0 THEN RAISE EXCEPTION 'leak'; END IF; END $$$q$), 'ok', '... and its inbox shows none of store S2''s sessions');
SELECT is(pg_temp.call_as('store', 'st2', $q$DO $$ BEGIN IF (SELECT count(*) FROM commerce_api.service_inbox()) <> 1 THEN RAISE EXCEPTION 'missing'; END IF; END $$$q$), 'ok', 'store S2''s staff see their session');
SELECT matches(pg_temp.call_as('store', 'st1', $$SELECT * FROM commerce_api.service_inbox(store => 'S2')$$), '^42501', '... and asking for store S2 is refused');
SELECT matches(pg_temp.call_as('store', 'st1', $$SELECT commerce_api.upsert_kb_article('k', 'answer', 't', '{q}', 'a')$$), '^42501', 'store staff do not edit the knowledge base');
SELECT matches(pg_temp.call_as('customer', 'c1', $$SELECT commerce_api.service_message('{"channel":"h5","account":"a","user":"c1","message_id":"m","text":"x"}')$$), '^42501', 'a customer cannot post as a channel adapter');
SELECT matches(pg_temp.call_as('customer', 'c1', $$SELECT commerce_api.service_feedback(1, true)$$), '^42501', '... nor rate answers');
SELECT matches(pg_temp.call_as('anonymous', NULL, $$SELECT commerce_api.kb_search('发票')$$), '^42501', 'anonymous callers do not search the knowledge base');
SELECT matches(pg_temp.call_as('store', 'st2', $$SELECT commerce_api.kb_search(repeat('x', 2001))$$), '^22023', 'kb_search: a question of 2001 characters');
-- quick replies (PR03)
SELECT throws_ok(format($$SELECT commerce.upsert_quick_reply(%s, 'q', 'link', 't', 'b')$$, :t), '22023', 'invalid value for p_link', 'quick reply: a link without its link');
SELECT throws_ok(format($$SELECT commerce.upsert_quick_reply(%s, 'q', 'script', 't', 'b', p_link => 'http://plain.example.com')$$, :t), '22023', 'invalid value for p_link', 'quick reply: a script with a link');
SELECT throws_ok(format($$SELECT commerce.upsert_quick_reply(%s, 'q', 'miniprogram', 't', 'b', p_card => '{"appid":"wx"}')$$, :t), '22023', 'invalid value for p_card', 'quick reply: a card without its page');
SELECT throws_ok(format($$SELECT commerce.upsert_quick_reply(%s, 'q', 'coupon', 't', 'b', p_coupon_batch => 'nope')$$, :t), 'PT404', 'coupon batch "nope" not found', 'quick reply: an unknown coupon batch');
SELECT throws_ok(format($$SELECT * FROM commerce.quick_replies(%s, NULL, 'sticker')$$, :t), '22023', 'invalid value for p_kind', 'quick replies: an unknown kind');
SELECT throws_ok(format($$SELECT commerce.use_quick_reply(%s, NULL, 'nope', NULL, 'k', 'x')$$, :t), 'PT404', 'quick reply "nope" not found', 'quick reply: an unknown one');
SELECT matches(pg_temp.call_as('store', 'st1', $$SELECT commerce_api.upsert_quick_reply('q', 'script', 't', 'b', store => 'S2')$$), '^42501', 'store staff cannot write another store''s quick reply');
SELECT matches(pg_temp.call_as('store', 'st1', $$SELECT commerce_api.upsert_quick_reply('q', 'script', 't', 'b')$$), '^42501', '... nor one for every store');
SELECT matches(pg_temp.call_as('store', 'st2', format($$SELECT commerce_api.service_quick_reply(%s, 'q', 'r1')$$, :s2conv)), '^PT409', 'a quick reply only in a session the caller took');
SELECT matches(pg_temp.call_as('store', 'st1', $$SELECT commerce_api.upsert_quick_reply('mine', 'coupon', 't', 'b', coupon_batch => 'hq-only', store => 'S1')$$), '^42501: coupon batch "hq-only" is not claimable', 'store staff cannot hand out HQ''s issue-only coupons');
SELECT matches(pg_temp.call_as('store', 'st1', $$SELECT commerce_api.use_quick_reply('open-coupon', 'r1', customer => 'c1')$$), '^42501: the customer is not a contact of your stores', 'store staff cannot send a coupon to someone who is not their stores'' contact');
SELECT is((SELECT count(*) FROM commerce.coupon), 0::bigint, '... and no coupon was issued');
SELECT matches(pg_temp.call_as('operator', 'op-s1', $$SELECT commerce_api.upsert_kb_article('invoice', 'answer', 't', '{q}', 'a', store => 'S1', active => false)$$), '^42501', 'HQ staff limited to S1 cannot take over every store''s article');
SELECT matches(pg_temp.call_as('operator', 'op-s1', $$SELECT commerce_api.set_service_policy('h5', NULL, NULL, false)$$), '^42501', '... nor change a channel''s rules for the tenant');
SELECT is(pg_temp.fingerprint(), :'fp', 'the refused calls changed nothing');

-- the store's staff take, reply and end their store's session; the window holds for them too
SELECT is(pg_temp.call_as('store', 'st2', format($$SELECT commerce_api.service_accept(%s)$$, :s2conv)), 'ok', 'store S2''s staff take its session');
SELECT matches(pg_temp.call_as('store', 'st2b', format($$SELECT commerce_api.service_end(%s)$$, :s2conv)), '^PT409: conversation \d+ is not yours to end', '... and a colleague cannot end it');
SELECT is(pg_temp.call_as('store', 'st2', format($$SELECT commerce_api.service_end(%s)$$, :s2conv)), 'ok', '... the one handling it can');
SELECT * FROM finish();
ROLLBACK;
