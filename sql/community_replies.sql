-- community auto-replies (PR08): rules match exactly, by substring or by a
-- regular expression, ignoring case; the highest priority in scope and in its
-- hours answers; a message nobody's rule answers goes to the AI through the
-- outbox and its answer comes back once; every message is logged once per
-- platform message id, so a retried webhook answers nothing twice; the
-- resolution rate counts rule and AI answers over settled messages.
CREATE EXTENSION commerce;
CALL commerce.provision();
\set SHOW_CONTEXT never
SET timezone = 'Asia/Shanghai';
SET commerce.now = '2030-06-15 10:00:00+08';
SELECT commerce.create_tenant('ar', 'Auto-reply test') AS t \gset
SELECT commerce.upsert_store(:t, 'S1', 'Store one') IS NOT NULL AS store;
SELECT count(commerce.community_ingest(:t, jsonb_build_object('type', 'change_external_chat', 'change', 'create', 'at', 1907715600,
         'chat_id', c, 'name', 'Group ' || c, 'owner', 'lily'))) AS groups FROM unnest(ARRAY['g1', 'g2']) c;
SELECT commerce.update_group(:t, 'wecom-g1', NULL, 'S1', NULL);

-- rules: a store's exact "hours?", a contains "shipping" for all groups, a regex for coupons in g2 only, a night rule
SELECT commerce.upsert_reply_rule(:t, 'hours', 'exact', 'Hours?', '{"msgtype":"text","text":"We are open 10:00-22:00."}', p_store => 'S1') IS NOT NULL AS hours;
SELECT commerce.upsert_reply_rule(:t, 'shipping', 'contains', 'shipping', '{"msgtype":"text","text":"Orders ship within 48 hours."}') IS NOT NULL AS shipping;
SELECT commerce.upsert_reply_rule(:t, 'coupon', 'regex', '(coupon|voucher|优惠券)', '{"msgtype":"link","url":"https://m.example.com/coupons","title":"Today''s coupons"}',
                                  10, p_groups => '{wecom-g2}') IS NOT NULL AS coupon;
SELECT commerce.upsert_reply_rule(:t, 'night', 'contains', 'shipping', '{"msgtype":"text","text":"We answer in the morning."}', 5,
                                  '22:00', '08:00') IS NOT NULL AS night;
-- a pattern that is no regular expression, and bad hours, are refused
SELECT commerce.upsert_reply_rule(:t, 'bad', 'regex', '(unclosed', '{"msgtype":"text","text":"x"}');
SELECT commerce.upsert_reply_rule(:t, 'bad', 'contains', 'x', '{"msgtype":"text","text":"x"}', 0, '09:00', NULL);

SELECT commerce.auto_reply(:t, 'wecom', 'g1', 'm1', 'wm-a', '  hours?  ') - 'log' - 'message' AS exact_in_store;
SELECT commerce.auto_reply(:t, 'wecom', 'g2', 'm2', 'wm-a', 'hours?') - 'log' - 'message' AS exact_other_store;
SELECT commerce.auto_reply(:t, 'wecom', 'g2', 'm3', 'wm-b', 'When does SHIPPING start? Any coupon?') - 'log' - 'message' AS priority_wins;
SELECT commerce.auto_reply(:t, 'wecom', 'g1', 'm4', 'wm-b', '有优惠券吗 shipping') - 'log' - 'message' AS out_of_scope_regex;
-- the webhook delivered again: nothing answered twice
SELECT commerce.auto_reply(:t, 'wecom', 'g1', 'm4', 'wm-b', '有优惠券吗 shipping') ->> 'replayed' AS replayed;
SELECT count(*) AS replies FROM commerce.outbox WHERE topic = 'wecom.group_message';
-- at night the night rule answers shipping questions
SELECT commerce.auto_reply(:t, 'wecom', 'g1', 'm5', 'wm-c', 'shipping?', '2030-06-14 23:30:00+08') ->> 'rule' AS at_night;
-- nothing matches: an AI request; one answer comes back (once), another question stays unanswered
SELECT commerce.auto_reply(:t, 'wecom', 'g1', 'm6', 'wm-c', 'Is the hoodie warm?') - 'log' - 'message' AS to_the_ai;
SELECT commerce.auto_reply(:t, 'wecom', 'g1', 'm7', 'wm-d', 'Can I return it after a month?') ->> 'outcome' AS to_the_ai_too;
SELECT payload ->> 'question' AS question FROM commerce.outbox WHERE topic = 'ai.request' ORDER BY message_id;
SELECT commerce.ai_answer(:t, (SELECT log_id FROM commerce.reply_log WHERE message_key = 'm6'), '{"msgtype":"text","text":"Yes: 400 g fleece."}') - 'log' - 'message' AS answered;
SELECT commerce.ai_answer(:t, (SELECT log_id FROM commerce.reply_log WHERE message_key = 'm6'), '{"msgtype":"text","text":"Twice?"}') - 'log' - 'message' AS answered_again;
SELECT commerce.ai_answer(:t, (SELECT log_id FROM commerce.reply_log WHERE message_key = 'm7'), NULL) - 'log' - 'message' AS handed_to_a_person;
SELECT payload -> 'content' ->> 'text' AS text, payload ->> 'by' AS by FROM commerce.outbox WHERE topic = 'wecom.group_message' ORDER BY message_id;
SELECT commerce.reply_stats(:t, '2030-06-14', '2030-06-16') AS stats;
SELECT commerce.reply_stats(:t, '2030-06-14', '2030-06-16', (SELECT store_id FROM commerce.store WHERE code = 'S1')) ->> 'messages' AS s1_messages;
SELECT commerce.auto_reply(:t, 'wecom', 'nope', 'm9', 'wm-a', 'x');
SELECT commerce.auto_reply(:t, 'wecom', 'g1', 'm9', 'wm-a', repeat('x', 2001));

SET client_min_messages = warning;
DROP SCHEMA commerce CASCADE;
