-- finance_bad_input.sql: the profit-sharing and payroll entry points (issue
-- 16) refuse bad input with their SQLSTATE and change nothing; the gateway's
-- limits are refused when a rule is saved; splits move only along their state
-- machine; store-level staff, customers and KOCs reach none of it, and no
-- tenant sees another's splits.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(85);
\ir lib/fingerprint.psql
\ir lib/call_as.psql
\o /dev/null

SET LOCAL commerce.now = '2030-06-01 10:00:00+08';
SELECT commerce.grant_api();
SELECT commerce.create_tenant('fi', 'Finance bad input') AS t \gset
SELECT commerce.create_tenant('fi2', 'Other') AS t2 \gset
SELECT set_config('act.t', :'t', true);
SELECT commerce.upsert_store(:t, 'S1', 'Store one');
SELECT commerce.upsert_staff(:t, 'op1', 'HQ', 'operator');
SELECT commerce.upsert_staff(:t, 'fin1', 'HQ finance', 'finance');
SELECT commerce.upsert_staff(:t, 'fin-s1', 'Store one finance', 'finance', ARRAY['S1']);
SELECT commerce.upsert_staff(:t, 'op-s1', 'Store one operator', 'operator', ARRAY['S1']);
SELECT commerce.upsert_staff(:t, 'fin-ch', 'Douyin finance', 'finance', NULL, ARRAY['douyin']);
SELECT commerce.upsert_customer(:t, 'c1', 'C1');
SELECT commerce.upsert_product(:t, 'P', 'Collab');
SELECT commerce.upsert_sku(:t, 'P', 'A', 'A', 10000);
SELECT commerce.upsert_sku(:t, 'P', 'CHEAP', 'Cheap', 100);
SELECT commerce.receive_stock(:t, 'r1', 'A', 100);
SELECT commerce.upsert_sharing_receiver(:t, 'studio', 'merchant', 'mch-1', 'Studio');
SELECT commerce.upsert_sharing_receiver(:t, 'person', 'personal', 'openid-1', 'Person');
SELECT commerce.upsert_sharing_receiver(:t, 'gone', 'personal', 'openid-2', 'Gone', p_active => false);
SELECT commerce.set_sharing_rule(:t, 'sku', 'A', '[{"receiver":"studio","ratio_bp":2000},{"receiver":"person","fixed_fen":100}]', 7);
SELECT (commerce.place_order(:t, 'o1', 'wechat_mp', '{"lines":[{"sku":"A","qty":1}]}')).order_id AS o1 \gset
SELECT commerce.pay_order(:t, :o1, 'wx-1', 10000);
SELECT commerce.complete_order(:t, :o1);
SELECT split_id AS s1 FROM commerce.profit_split WHERE order_id = :o1 \gset
-- another tenant's split
SELECT commerce.upsert_product(:t2, 'P', 'Other');
SELECT commerce.upsert_sku(:t2, 'P', 'A', 'A', 10000);
SELECT commerce.receive_stock(:t2, 'r1', 'A', 10);
SELECT commerce.upsert_sharing_receiver(:t2, 'studio', 'merchant', 'mch-9', 'Studio 9');
SELECT commerce.set_sharing_rule(:t2, 'sku', 'A', '[{"receiver":"studio","ratio_bp":1000}]', 7);
SELECT (commerce.place_order(:t2, 'x1', 'wechat_mp', '{"lines":[{"sku":"A","qty":1}]}')).order_id AS x1 \gset
SELECT commerce.pay_order(:t2, :x1, 'wx-9', 10000);
SELECT commerce.complete_order(:t2, :x1);
SELECT split_id AS x_split, request_no AS x_req FROM commerce.profit_split WHERE order_id = :x1 \gset
\o
SELECT pg_temp.fingerprint() AS fp \gset

-- the arithmetic
SELECT throws_ok($$SELECT commerce.share_fen(NULL, 0, '{}', '{}')$$, '22004', NULL, 'share_fen: NULL base');
SELECT throws_ok($$SELECT commerce.share_fen(-1, 0, '{}', '{}')$$, '22023', 'invalid value for p_base', 'share_fen: a negative base');
SELECT throws_ok($$SELECT commerce.share_fen(100, -1, '{}', '{}')$$, '22023', 'invalid value for p_cap', 'share_fen: a negative cap');
SELECT throws_ok($$SELECT commerce.share_fen(100, 10, '{1}', '{}')$$, '22023', 'invalid value for p_ratio_bp', 'share_fen: parts of different lengths');
SELECT throws_ok($$SELECT commerce.share_fen(100, 10, '{0,0}', '{6000,5000}')$$, '22023', 'invalid value for p_ratio_bp', 'share_fen: ratios above 10000 together');
SELECT throws_ok($$SELECT commerce.share_fen(100, 10, '{NULL}', '{1}')$$, '22004', NULL, 'share_fen: a NULL part');
SELECT throws_ok($$SELECT commerce.share_fen(100, 10, '{-5}', '{1}')$$, '22023', NULL, 'share_fen: a negative fixed part');
SELECT throws_ok($$SELECT commerce.prorate_fen(100, 3, 2)$$, '22023', 'invalid value for p_part', 'prorate_fen: a part above the whole');
SELECT throws_ok($$SELECT commerce.prorate_fen(100, 0, 0)$$, '22023', 'invalid value for p_part', 'prorate_fen: a whole of 0');
SELECT is(commerce.share_fen(1000000000000000, 1000000000000000, '{1000000000000}', '{10000}'), '{1000000000000000,0}'::bigint[], 'share_fen: 10^15 fen, all to the parties');

-- the gateway's limits
SELECT throws_ok(format($$SELECT commerce.set_sharing_gateway(%s, 10001)$$, :t), '22023', 'invalid value for p_max_share_bp', 'gateway: a share above 10000 bp');
SELECT throws_ok(format($$SELECT commerce.set_sharing_gateway(%s, p_freeze_days => 0)$$, :t), '22023', 'invalid value for p_freeze_days', 'gateway: no freeze');
SELECT throws_ok(format($$SELECT commerce.set_sharing_gateway(%s, p_margin_days => 30)$$, :t), '22023', 'invalid value for p_margin_days', 'gateway: a margin as long as the freeze');
SELECT throws_ok(format($$SELECT commerce.set_sharing_gateway(%s, p_fee_bp => -1)$$, :t), '22023', 'invalid value for p_fee_bp', 'gateway: a negative fee');
SELECT throws_ok(format($$SELECT commerce.set_sharing_gateway(%s, 1000)$$, :t), '22023', 'invalid value for p_max_share_bp', 'gateway: below a rule in force');
SELECT throws_ok($$SELECT commerce.set_sharing_gateway(999999)$$, 'PT404', NULL, 'gateway: an unknown tenant');

-- receivers
SELECT throws_ok(format($$SELECT commerce.upsert_sharing_receiver(%s, 'bad code', 'merchant', 'm', 'n')$$, :t), '22023', 'invalid value for p_code', 'receiver: a bad code');
SELECT throws_ok(format($$SELECT commerce.upsert_sharing_receiver(%s, 'r', 'bank', 'm', 'n')$$, :t), '22023', 'invalid value for p_kind', 'receiver: an unknown kind');
SELECT throws_ok(format($$SELECT commerce.upsert_sharing_receiver(%s, 'r', 'merchant', 'a b', 'n')$$, :t), '22023', 'invalid value for p_account', 'receiver: an account with a space');
SELECT throws_ok(format($$SELECT commerce.upsert_sharing_receiver(%s, 'r', 'merchant', repeat('a', 129), 'n')$$, :t), '22023', 'invalid value for p_account', 'receiver: an account of 129 characters');
SELECT throws_ok(format($$SELECT commerce.upsert_sharing_receiver(%s, 'r', 'merchant', 'm', '')$$, :t), '22023', 'invalid value for p_name', 'receiver: an empty name');
SELECT throws_ok(format($$SELECT commerce.upsert_sharing_receiver(%s, 'r', 'personal', 'm', 'n', 'NOKOC')$$, :t), 'PT404', NULL, 'receiver: an unknown KOC');
SELECT throws_ok(format($$SELECT commerce.upsert_sharing_receiver(%s, 'studio', 'personal', 'mch-1', 'Studio')$$, :t), 'PT409', 'receiver studio is a merchant receiver', 'receiver: its kind never changes');
SELECT throws_ok(format($$SELECT commerce.upsert_sharing_receiver(%s, NULL, 'merchant', 'm', 'n')$$, :t), '22004', NULL, 'receiver: NULL code');

-- rules
SELECT throws_ok(format($$SELECT commerce.set_sharing_rule(%s, 'galaxy', 'A', '[{"receiver":"studio","ratio_bp":1}]', 7)$$, :t), '22023', 'invalid value for p_scope', 'rule: an unknown scope');
SELECT throws_ok(format($$SELECT commerce.set_sharing_rule(%s, 'sku', 'NOPE', '[{"receiver":"studio","ratio_bp":1}]', 7)$$, :t), 'PT404', NULL, 'rule: an unknown SKU');
SELECT throws_ok(format($$SELECT commerce.set_sharing_rule(%s, 'product', 'NOPE', '[{"receiver":"studio","ratio_bp":1}]', 7)$$, :t), 'PT404', NULL, 'rule: an unknown product');
SELECT throws_ok(format($$SELECT commerce.set_sharing_rule(%s, 'play', 'NOPE', '[{"receiver":"studio","ratio_bp":1}]', 7)$$, :t), 'PT404', NULL, 'rule: an unknown play');
SELECT throws_ok(format($$SELECT commerce.set_sharing_rule(%s, 'sku', 'A', '[{"receiver":"studio","ratio_bp":1}]', 10)$$, :t), '22023', 'invalid value for p_cycle_days', 'rule: T+10');
SELECT throws_ok(format($$SELECT commerce.set_sharing_rule(%s, 'sku', 'A', '[{"receiver":"studio","ratio_bp":1}]', 7, 'later')$$, :t), '22023', 'invalid value for p_late_parts', 'rule: an unknown late_parts');
SELECT throws_ok(format($$SELECT commerce.set_sharing_rule(%s, 'sku', 'A', '[]', 7)$$, :t), '22023', 'invalid value for p_parties', 'rule: no parties');
SELECT throws_ok(format($$SELECT commerce.set_sharing_rule(%s, 'sku', 'A', '{"receiver":"studio"}', 7)$$, :t), '22023', 'invalid value for p_parties', 'rule: parties not a list');
SELECT throws_ok(format($$SELECT commerce.set_sharing_rule(%s, 'sku', 'A', (SELECT jsonb_agg(jsonb_build_object('receiver', 'studio', 'ratio_bp', 1)) FROM generate_series(1, 21)), 7)$$, :t), '22023', 'invalid value for p_parties', 'rule: 21 parties');
SELECT throws_ok(format($$SELECT commerce.set_sharing_rule(%s, 'sku', 'A', '[{"receiver":"studio","ratio_bp":100,"fixed_fen":1}]', 7)$$, :t), '22023', 'invalid value for p_parties', 'rule: a party with a ratio and a fixed part');
SELECT throws_ok(format($$SELECT commerce.set_sharing_rule(%s, 'sku', 'A', '[{"receiver":"studio"}]', 7)$$, :t), '22023', 'invalid value for p_parties', 'rule: a party with neither');
SELECT throws_ok(format($$SELECT commerce.set_sharing_rule(%s, 'sku', 'A', '[{"receiver":"studio","ratio_bp":100,"bonus":1}]', 7)$$, :t), '22023', 'invalid value for p_parties', 'rule: an unknown key');
SELECT throws_ok(format($$SELECT commerce.set_sharing_rule(%s, 'sku', 'A', '[{"receiver":"studio","ratio_bp":0}]', 7)$$, :t), '22023', 'invalid value for p_parties', 'rule: a ratio of 0');
SELECT throws_ok(format($$SELECT commerce.set_sharing_rule(%s, 'sku', 'A', '[{"receiver":"studio","ratio_bp":-5}]', 7)$$, :t), '22023', NULL, 'rule: a negative ratio');
SELECT throws_ok(format($$SELECT commerce.set_sharing_rule(%s, 'sku', 'A', '[{"receiver":"studio","ratio_bp":10.5}]', 7)$$, :t), '22023', NULL, 'rule: a fractional ratio');
SELECT throws_ok(format($$SELECT commerce.set_sharing_rule(%s, 'sku', 'A', '[{"receiver":"studio","ratio_bp":"20"}]', 7)$$, :t), '22023', NULL, 'rule: a ratio as a string');
SELECT throws_ok(format($$SELECT commerce.set_sharing_rule(%s, 'sku', 'A', '[{"receiver":"studio","fixed_fen":0}]', 7)$$, :t), '22023', 'invalid value for p_parties', 'rule: a fixed part of 0');
SELECT throws_ok(format($$SELECT commerce.set_sharing_rule(%s, 'sku', 'A', '[{"receiver":"nobody","ratio_bp":100}]', 7)$$, :t), 'PT404', NULL, 'rule: an unknown receiver');
SELECT throws_ok(format($$SELECT commerce.set_sharing_rule(%s, 'sku', 'A', '[{"receiver":"gone","ratio_bp":100}]', 7)$$, :t), '22023', 'invalid value for p_parties', 'rule: an inactive receiver');
SELECT throws_ok(format($$SELECT commerce.set_sharing_rule(%s, 'sku', 'A', '[{"receiver":"studio","ratio_bp":100},{"receiver":"studio","ratio_bp":100}]', 7)$$, :t), '22023', 'invalid value for p_parties', 'rule: a receiver twice');
SELECT throws_ok(format($$SELECT commerce.set_sharing_rule(%s, 'sku', 'A', '[{"receiver":"studio","ratio_bp":2000},{"receiver":"person","ratio_bp":1001}]', 7)$$, :t), '22023', 'invalid value for p_parties', 'rule: ratios above the gateway''s 30%');
SELECT throws_ok(format($$SELECT commerce.set_sharing_rule(%s, 'sku', 'CHEAP', '[{"receiver":"studio","fixed_fen":31}]', 7)$$, :t), '22023', 'invalid value for p_parties', 'rule: a fixed part above the cap at the SKU''s price');
SELECT throws_ok(format($$SELECT commerce.set_sharing_rule(%s, 'sku', 'A', '[{"receiver":"studio","ratio_bp":1}]', 7, 'cap', repeat('n', 501))$$, :t), '22023', 'invalid value for p_note', 'rule: a note of 501 characters');
SELECT throws_ok(format($$SELECT commerce.retire_sharing_rule(%s, 'sku', 'CHEAP')$$, :t), 'PT404', NULL, 'retire: no rule in force');

-- the state machine
SELECT throws_ok(format($$SELECT commerce.review_split(%s, %s, 'fin1')$$, :t, :s1), 'PT409', NULL, 'review: a waiting split');
SELECT throws_ok(format($$SELECT commerce.decide_split(%s, %s, true, 'fin1')$$, :t, :s1), 'PT409', NULL, 'decide: a waiting split');
SELECT throws_ok(format($$SELECT commerce.decide_split(%s, %s, false, 'fin1', '  ')$$, :t, :s1), '22023', 'invalid value for p_reason', 'decide: a rejection without a reason');
SELECT throws_ok(format($$SELECT commerce.submit_split(%s, %s)$$, :t, :s1), 'PT409', NULL, 'submit: a waiting split');
SELECT throws_ok(format($$SELECT commerce.review_split(%s, 0, 'fin1')$$, :t), 'PT404', NULL, 'review: an unknown split');
SELECT throws_ok(format($$SELECT commerce.review_split(%s, %s, 'fin1')$$, :t, :x_split), 'PT404', NULL, 'review: another tenant''s split is unknown');
SELECT throws_ok(format($$SELECT commerce.record_split_result(%s, %L, 'finished')$$, :t, :'x_req'), 'PT404', NULL, 'result: another tenant''s request number is unknown');
SELECT throws_ok(format($$SELECT commerce.record_split_result(%s, 'PS%s-1', 'finished')$$, :t, :o1), 'PT409', NULL, 'result: for a split not submitted');
SELECT throws_ok(format($$SELECT commerce.record_split_result(%s, 'PS%s-1', 'paid')$$, :t, :o1), '22023', 'invalid value for p_status', 'result: an unknown status');
SELECT throws_ok(format($$SELECT commerce.record_split_result(%s, 'PS%s-1', 'failed')$$, :t, :o1), '22023', 'invalid value for p_reason', 'result: a failure without a reason');
SELECT throws_ok(format($$SELECT commerce.record_split_return(%s, 'nope', 'returned')$$, :t), 'PT404', NULL, 'return: an unknown return number');
SELECT throws_ok(format($$SELECT commerce.record_split_return(%s, 'nope', 'lost')$$, :t), '22023', 'invalid value for p_status', 'return: an unknown status');
SELECT throws_ok(format($$UPDATE commerce.profit_split SET status = 'submitted' WHERE split_id = %s$$, :s1), 'PT409', NULL, 'a split cannot skip review by hand');
SELECT throws_ok(format($$UPDATE commerce.profit_split SET base_fen = base_fen + 1 WHERE split_id = %s$$, :s1), '23514', NULL, 'a split''s parts always add up to its base');
SELECT throws_ok($$DELETE FROM commerce.sharing_rule_party$$, 'PT403', NULL, 'a rule''s parties are append-only');

-- the split bill and the payroll export
SELECT throws_ok(format($$SELECT commerce.reconcile_split_bill(%s, '2030-06-01', '{}')$$, :t), '22023', 'invalid value for p_lines', 'bill: not a list');
SELECT throws_ok(format($$SELECT commerce.reconcile_split_bill(%s, '2030-06-01', '[{"account":"m","amount_fen":1}]')$$, :t), '22023', 'invalid value for p_lines', 'bill: a line without a request number');
SELECT throws_ok(format($$SELECT commerce.reconcile_split_bill(%s, '2030-06-01', '[{"request_no":"x","account":"m","kind":"fee","amount_fen":1}]')$$, :t), '22023', 'invalid value for p_lines', 'bill: an unknown kind');
SELECT throws_ok(format($$SELECT commerce.reconcile_split_bill(%s, '2030-06-01', '[{"request_no":"x","account":"m","amount_fen":-1}]')$$, :t), '22023', NULL, 'bill: a negative amount');
SELECT throws_ok(format($$SELECT commerce.payroll_export(%s, '2030-06-01')$$, :t), 'PT409', NULL, 'payroll: a month not over');
SELECT throws_ok(format($$SELECT commerce.payroll_export(%s, '-infinity')$$, :t), '22023', 'invalid value for p_month', 'payroll: minus infinity');
SELECT throws_ok(format($$SELECT commerce.reconcile_split_bill(%s, 'infinity', '[]')$$, :t), '22023', 'invalid value for p_date', 'bill: an infinite day');
SELECT throws_ok(format($$SELECT commerce.reconcile_split_bill(%s, '2030-06-01', '[{"request_no":"x","account":"m"}]')$$, :t), '22023', 'invalid value for p_lines', 'bill: a line without an amount');
SELECT throws_ok(format($$SELECT commerce.payroll_export(%s, '2030-05-02')$$, :t), '22023', 'invalid value for p_month', 'payroll: not the first of a month');
SELECT throws_ok(format($$SELECT * FROM commerce.payroll_lines(%s, '2030-04-01')$$, :t), 'PT404', NULL, 'payroll lines: before the export');
SELECT throws_ok(format($$SELECT commerce.profit_splits(%s, p_limit => 501)$$, :t), '22023', 'invalid value for p_limit', 'splits: a page of 501');
SELECT throws_ok(format($$SELECT commerce.profit_splits(%s, ARRAY['paid'])$$, :t), '22023', 'invalid value for p_status', 'splits: an unknown state');
SELECT is(pg_temp.fingerprint(), :'fp', 'the refused calls changed nothing');

-- who may call what
SELECT matches(pg_temp.call_as('finance', 'fin-s1', $$SELECT commerce_api.profit_splits()$$), '^42501: fin-s1 is staff of stores', 'store-level finance staff see no splits');
SELECT matches(pg_temp.call_as('operator', 'op-s1', $$SELECT commerce_api.set_sharing_rule('sku', 'A', '[{"receiver":"studio","ratio_bp":1}]', 7)$$), '^42501', '... nor do store-level operators set rules');
SELECT matches(pg_temp.call_as('customer', 'c1', $$SELECT commerce_api.record_split_result('x', 'finished')$$), '^42501', 'a customer cannot report a split paid');
SELECT matches(pg_temp.call_as('finance', 'fin-ch', $$SELECT commerce_api.profit_splits()$$), '^42501: fin-ch is staff of stores all and channels douyin', 'channel-limited finance staff see no splits');
SELECT matches(pg_temp.call_as('finance', 'fin1', $$SELECT commerce_api.upsert_sharing_receiver('studio', 'merchant', 'mch-evil', 'Studio')$$), '^42501', 'finance, who approves splits, cannot change where they go');
SELECT matches(pg_temp.call_as('operator', 'op1', format($$SELECT commerce_api.decide_split(%s, true)$$, :s1)), '^42501', 'an operator cannot approve a split (finance does)');
SELECT is(pg_temp.call_as('finance', 'fin1', $q$DO $$ BEGIN IF jsonb_array_length(commerce_api.profit_splits()) <> 1 THEN RAISE EXCEPTION 'leak'; END IF; END $$$q$), 'ok', 'finance sees its own tenant''s split only');
SELECT matches(pg_temp.call_as('finance', 'fin1', format($$SELECT commerce_api.submit_split(%s)$$, :x_split)), '^PT404', '... and cannot submit another tenant''s');
SELECT is(pg_temp.fingerprint(), :'fp', 'the refused API calls changed nothing');

SELECT * FROM finish();
ROLLBACK;
