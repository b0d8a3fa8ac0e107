-- koc_money_bad_input.sql: bad calls of the KOC money entry points
-- (complete_order, set_koc_settings, settle_commissions, record_payout,
-- request_withdrawal, review_withdrawal, recalculate_levels and the
-- commerce_api wrappers) and direct writes to the ledgers are refused with
-- the documented SQLSTATE and change nothing.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(88);
\ir lib/fingerprint.psql
\ir lib/or_undo.psql
\o /dev/null

SET LOCAL commerce.now = '2030-01-10 10:00:00+08';
SELECT commerce.create_tenant('m1', 'Money one') AS t \gset
SELECT commerce.create_tenant('m2', 'Money two') AS t2 \gset
SELECT commerce.upsert_product(:t, 'P', 'Goods') > 0;
SELECT commerce.upsert_sku(:t, 'P', 'TEE', 'Tee', 10000) > 0;
SELECT commerce.receive_stock(:t, 'r', 'TEE', 50) > 0;
SELECT commerce.upsert_customer(:t, c) FROM unnest(ARRAY['u-k', 'u-j', 'b1', 'b2']) c;
SELECT commerce.upsert_customer(:t2, 'u-x');
SELECT commerce.upsert_koc(:t, 'K', 'u-k', 'K') AS k \gset
SELECT commerce.upsert_koc(:t, 'J', 'u-j', 'J') AS j \gset
SELECT commerce.upsert_koc(:t2, 'X', 'u-x', 'X');
SELECT commerce.upsert_koc_task(:t, 'T', 'T', '2030-01-01', '2030-03-01', 1000) > 0;
SELECT commerce.publish_agreement(:t, 'A', 'text') AS v \gset
SELECT commerce.sign_agreement(:t, c, :v, encode(sha256('text'), 'hex'), c) FROM unnest(ARRAY['K', 'J']) c;
-- K: two redemptions; settled; one payout paid, the other failed (balance 2000 fen)
CREATE FUNCTION pg_temp.sale(p_t bigint, p_req text, p_koc text, p_buyer text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE o commerce.order_result;
BEGIN
    PERFORM commerce.record_click(p_t, commerce.tracking_link(p_t, p_koc, 'T'), p_buyer);
    o := commerce.place_order(p_t, p_req, 'h5', '{"lines":[{"sku":"TEE","qty":2}]}', p_buyer);
    PERFORM commerce.pay_order(p_t, o.order_id, 'pay-' || p_req, 20000);
    RETURN o.order_id;
END $$;
SELECT pg_temp.sale(:t, 'o1', 'K', 'b1') AS o1 \gset
SELECT status FROM commerce.complete_order(:t, :o1);
SET LOCAL commerce.now = '2030-01-11 00:00:00+08';
SELECT commerce.settle_commissions(10);
SELECT batch_id AS b1 FROM commerce.settle_batch \gset
SELECT commerce.record_payout(:t, 'batch:' || :b1, 'failed', NULL, 'no account');
SELECT pg_temp.sale(:t, 'o2', 'J', 'b2') AS o2 \gset
SELECT status FROM commerce.complete_order(:t, :o2);
SET LOCAL commerce.now = '2030-01-12 00:00:00+08';
SELECT commerce.settle_commissions(10);
SELECT max(batch_id) AS b2 FROM commerce.settle_batch \gset
SELECT commerce.record_payout(:t, 'batch:' || :b2, 'paid', 'wx-1');
SELECT withdrawal_id AS w1 FROM commerce.request_withdrawal(:t, 'w1', 'K', 500, 'wechat', '{"openid":"o-k"}') \gset
SELECT order_id AS o_unpaid FROM commerce.place_order(:t, 'o3', 'h5', '{"lines":[{"sku":"TEE","qty":1}]}', 'b1') \gset
SELECT order_id AS o_cancelled FROM commerce.place_order(:t, 'o4', 'h5', '{"lines":[{"sku":"TEE","qty":1}]}', 'b2') \gset
SELECT commerce.cancel_order(:t, :o_cancelled, 'test') IS NOT NULL;
SELECT pg_temp.fingerprint() AS fp0 \gset
\o

-- complete_order
SELECT throws_ok(format($$SELECT commerce.complete_order(NULL, %s)$$, :o1), '22004', 'argument p_tenant must not be null', 'complete: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.complete_order(%s, NULL)$$, :t), '22004', 'argument p_order must not be null', 'complete: NULL order -> 22004');
SELECT throws_ok(format($$SELECT commerce.complete_order(%s, 999999)$$, :t), 'PT404', 'order "999999" not found', 'complete: unknown order -> PT404');
SELECT throws_ok(format($$SELECT commerce.complete_order(%s, %s)$$, :t2, :o1), 'PT404', format('order "%s" not found', :o1), 'complete: another tenant''s order -> PT404');
SELECT throws_ok(format($$SELECT commerce.complete_order(%s, %s)$$, :t, :o_unpaid), 'PT409', format('order %s cannot be completed from pending_payment', :o_unpaid), 'complete: unpaid order -> PT409');
SELECT throws_ok(format($$SELECT commerce.complete_order(%s, %s)$$, :t, :o_cancelled), 'PT409', format('order %s cannot be completed from cancelled', :o_cancelled), 'complete: cancelled order -> PT409');
SELECT is(pg_temp.fingerprint(), :'fp0', 'complete: nothing changed');

-- set_koc_settings
SELECT throws_ok($$SELECT commerce.set_koc_settings(NULL)$$, '22004', 'argument p_tenant must not be null', 'settings: NULL tenant -> 22004');
SELECT throws_ok($$SELECT commerce.set_koc_settings(999999, 100)$$, 'PT404', 'tenant "999999" not found', 'settings: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.set_koc_settings(%s, p_koc_rate_bp => -1)$$, :t), '22023', 'invalid value for p_koc_rate_bp', 'settings: negative rate -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_koc_settings(%s, p_koc_rate_bp => 10001)$$, :t), '22023', 'invalid value for p_koc_rate_bp', 'settings: rate above 100%% -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_koc_settings(%s, p_settle_hold => '-1 hour')$$, :t), '22023', 'invalid value for p_settle_hold', 'settings: negative hold -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_koc_settings(%s, p_settle_hold => '91 days')$$, :t), '22023', 'invalid value for p_settle_hold', 'settings: hold above 90 days -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_koc_settings(%s, p_withdraw_min_fen => 0)$$, :t), '22023', 'invalid value for p_withdraw_min_fen', 'settings: zero minimum -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_koc_settings(%s, p_withdraw_fee_bp => 10001)$$, :t), '22023', 'invalid value for p_withdraw_fee_bp', 'settings: fee above 100%% -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_koc_settings(%s, p_withdraw_fee_min_fen => -1)$$, :t), '22023', 'invalid value for p_withdraw_fee_min_fen', 'settings: negative minimum fee -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_koc_settings(%s, p_level_demotion => 'sometimes')$$, :t), '22023', 'invalid value for p_level_demotion', 'settings: unknown demotion rule -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_koc_settings(%s, p_attribution_window => '0')$$, :t), '22023', 'invalid value for p_attribution_window', 'settings: empty window -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_koc_settings(%s, p_self_referral => 'maybe')$$, :t), '22023', 'invalid value for p_self_referral', 'settings: unknown self-referral rule -> 22023');
SELECT is(pg_temp.fingerprint(), :'fp0', 'settings: nothing changed');

-- settle_commissions
SELECT throws_ok($$SELECT commerce.settle_commissions(NULL)$$, '22004', 'argument p_limit must not be null', 'settle: NULL limit -> 22004');
SELECT throws_ok($$SELECT commerce.settle_commissions(0)$$, '22023', 'invalid value for p_limit', 'settle: zero limit -> 22023');
SELECT throws_ok($$SELECT commerce.settle_commissions(100001)$$, '22023', 'invalid value for p_limit', 'settle: huge limit -> 22023');
SELECT is(commerce.settle_commissions(10), 0, 'settle: nothing due -> 0 KOCs');
SELECT is(pg_temp.fingerprint(), :'fp0', 'settle: nothing changed');

-- record_payout
SELECT throws_ok(format($$SELECT commerce.record_payout(NULL, 'batch:%s', 'paid')$$, :b1), '22004', 'argument p_tenant must not be null', 'payout: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.record_payout(999999, 'batch:%s', 'paid')$$, :b1), 'PT404', 'tenant "999999" not found', 'payout: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.record_payout(%s, NULL, 'paid')$$, :t), '22004', 'argument p_payout_ref must not be null', 'payout: NULL ref -> 22004');
SELECT throws_ok(format($$SELECT commerce.record_payout(%s, 'batch:%s', NULL)$$, :t, :b1), '22004', 'argument p_status must not be null', 'payout: NULL status -> 22004');
SELECT throws_ok(format($$SELECT commerce.record_payout(%s, 'batch:%s', 'done')$$, :t, :b1), '22023', 'invalid value for p_status', 'payout: unknown status -> 22023');
SELECT throws_ok(format($$SELECT commerce.record_payout(%s, 'batch:%s', 'failed')$$, :t, :b2), '22023', 'invalid value for p_reason', 'payout: failure without a reason -> 22023');
SELECT throws_ok(format($$SELECT commerce.record_payout(%s, 'batch:x', 'paid')$$, :t), '22023', 'invalid value for p_payout_ref', 'payout: malformed ref -> 22023');
SELECT throws_ok(format($$SELECT commerce.record_payout(%s, 'refund:1', 'paid')$$, :t), '22023', 'invalid value for p_payout_ref', 'payout: unknown kind of ref -> 22023');
SELECT throws_ok(format($$SELECT commerce.record_payout(%s, 'batch:999999', 'paid')$$, :t), 'PT404', 'settlement batch "999999" not found', 'payout: unknown batch -> PT404');
SELECT throws_ok(format($$SELECT commerce.record_payout(%s, 'batch:%s', 'paid')$$, :t2, :b1), 'PT404', format('settlement batch "%s" not found', :b1), 'payout: another tenant''s batch -> PT404');
SELECT throws_ok(format($$SELECT commerce.record_payout(%s, 'withdrawal:999999', 'paid')$$, :t), 'PT404', 'withdrawal "999999" not found', 'payout: unknown withdrawal -> PT404');
SELECT throws_ok(format($$SELECT commerce.record_payout(%s, 'batch:%s', 'paid')$$, :t, :b1), 'PT409', 'settle_batch cannot go from failed to paid', 'payout: failed batch reported paid -> PT409');
SELECT throws_ok(format($$SELECT commerce.record_payout(%s, 'batch:%s', 'failed', NULL, 'late')$$, :t, :b2), 'PT409', 'settle_batch cannot go from paid to failed', 'payout: paid batch reported failed -> PT409');
SELECT throws_ok(format($$SELECT commerce.record_payout(%s, 'withdrawal:%s', 'paid')$$, :t, :w1), 'PT409', format('withdrawal %s has not been approved', :w1), 'payout: unreviewed withdrawal -> PT409');
SELECT is(pg_temp.fingerprint(), :'fp0', 'payout: nothing changed');

-- request_withdrawal
SELECT throws_ok($$SELECT commerce.request_withdrawal(NULL, 'w', 'K', 500, 'wechat', '{"openid":"o"}')$$, '22004', 'argument p_tenant must not be null', 'withdraw: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.request_withdrawal(%s, NULL, 'K', 500, 'wechat', '{"openid":"o"}')$$, :t), '22004', 'argument p_request_id must not be null', 'withdraw: NULL request_id -> 22004');
SELECT throws_ok(format($$SELECT commerce.request_withdrawal(%s, 'w', NULL, 500, 'wechat', '{"openid":"o"}')$$, :t), '22004', 'argument p_koc must not be null', 'withdraw: NULL KOC -> 22004');
SELECT throws_ok(format($$SELECT commerce.request_withdrawal(%s, 'w', 'K', NULL, 'wechat', '{"openid":"o"}')$$, :t), '22004', 'argument p_amount_fen must not be null', 'withdraw: NULL amount -> 22004');
SELECT throws_ok(format($$SELECT commerce.request_withdrawal(%s, 'w', 'K', 500, NULL, '{"openid":"o"}')$$, :t), '22004', 'argument p_method must not be null', 'withdraw: NULL method -> 22004');
SELECT throws_ok(format($$SELECT commerce.request_withdrawal(%s, 'w', 'K', 500, 'wechat', NULL)$$, :t), '22004', 'argument p_payee must not be null', 'withdraw: NULL payee -> 22004');
SELECT throws_ok($$SELECT commerce.request_withdrawal(999999, 'w', 'K', 500, 'wechat', '{"openid":"o"}')$$, 'PT404', 'tenant "999999" not found', 'withdraw: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.request_withdrawal(%s, 'w', 'NOBODY', 500, 'wechat', '{"openid":"o"}')$$, :t), 'PT404', 'KOC "NOBODY" not found', 'withdraw: unknown KOC -> PT404');
SELECT throws_ok(format($$SELECT commerce.request_withdrawal(%s, 'w', 'X', 500, 'wechat', '{"openid":"o"}')$$, :t), 'PT404', 'KOC "X" not found', 'withdraw: another tenant''s KOC -> PT404');
SELECT throws_ok(format($$SELECT commerce.request_withdrawal(%s, repeat('r', 201), 'K', 500, 'wechat', '{"openid":"o"}')$$, :t), '22023', 'invalid value for p_request_id', 'withdraw: request_id too long -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_withdrawal(%s, 'w', 'K', 0, 'wechat', '{"openid":"o"}')$$, :t), '22023', 'invalid value for p_amount_fen', 'withdraw: zero amount -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_withdrawal(%s, 'w', 'K', -500, 'wechat', '{"openid":"o"}')$$, :t), '22023', 'invalid value for p_amount_fen', 'withdraw: negative amount -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_withdrawal(%s, 'w', 'K', 99, 'wechat', '{"openid":"o"}')$$, :t), '22023', 'invalid value for p_amount_fen', 'withdraw: below the minimum -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_withdrawal(%s, 'w', 'K', 1501, 'wechat', '{"openid":"o"}')$$, :t), 'PT409', 'KOC "K" has 1500 fen to withdraw, not 1501', 'withdraw: above the balance -> PT409');
SELECT throws_ok(format($$SELECT commerce.request_withdrawal(%s, 'w', 'J', 500, 'wechat', '{"openid":"o"}')$$, :t), 'PT409', 'KOC "J" has 0 fen to withdraw, not 500', 'withdraw: nothing in the balance -> PT409');
SELECT throws_ok(format($$SELECT commerce.request_withdrawal(%s, 'w', 'K', 500, 'paypal', '{"openid":"o"}')$$, :t), '22023', 'invalid value for p_method', 'withdraw: unknown method -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_withdrawal(%s, 'w', 'K', 500, 'wechat', '["o"]')$$, :t), '22023', 'invalid value for p_payee', 'withdraw: payee not an object -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_withdrawal(%s, 'w', 'K', 500, 'wechat', '{"account":"a"}')$$, :t), '22023', 'invalid value for p_payee', 'withdraw: wechat without openid -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_withdrawal(%s, 'w', 'K', 500, 'bank_card', '{"bank":"B","card_no":"12ab","holder":"H"}')$$, :t), '22023', 'invalid value for p_payee', 'withdraw: bad card number -> 22023');
SELECT throws_ok(format($$SELECT commerce.request_withdrawal(%s, 'w1', 'K', 600, 'wechat', '{"openid":"o-k"}')$$, :t), '23505', 'request_id "w1" was already used for another withdrawal', 'withdraw: request_id reused with another amount -> 23505');
SELECT throws_ok(format($$SELECT commerce.request_withdrawal(%s, 'w1', 'J', 500, 'wechat', '{"openid":"o-k"}')$$, :t), '23505', 'request_id "w1" was already used for another withdrawal', 'withdraw: request_id reused by another KOC -> 23505');
SELECT is(pg_temp.fingerprint(), :'fp0', 'withdraw: nothing changed');
-- the fee would eat the whole amount; a frozen KOC
UPDATE commerce.tenant SET withdraw_fee_min_fen = 500 WHERE tenant_id = :t;
SELECT throws_ok(format($$SELECT commerce.request_withdrawal(%s, 'w', 'K', 500, 'wechat', '{"openid":"o"}')$$, :t), '22023', 'invalid value for p_amount_fen', 'withdraw: fee >= amount -> 22023');
UPDATE commerce.tenant SET withdraw_fee_min_fen = 0 WHERE tenant_id = :t;
UPDATE commerce.koc SET status = 'frozen' WHERE tenant_id = :t AND code = 'K';
SELECT throws_ok(format($$SELECT commerce.request_withdrawal(%s, 'w', 'K', 500, 'wechat', '{"openid":"o"}')$$, :t), 'PT409', 'KOC "K" is frozen', 'withdraw: frozen KOC -> PT409');

-- review_withdrawal
SELECT throws_ok(format($$SELECT commerce.review_withdrawal(%s, %s, true, 'f')$$, :t, :w1), 'PT409', 'KOC "K" is frozen', 'review: approving a frozen KOC''s withdrawal -> PT409');
UPDATE commerce.koc SET status = 'active' WHERE tenant_id = :t AND code = 'K';
SELECT is(pg_temp.fingerprint(), :'fp0', 'withdraw and review of a frozen KOC: nothing changed');
SELECT throws_ok(format($$SELECT commerce.review_withdrawal(NULL, %s, true, 'f')$$, :w1), '22004', 'argument p_tenant must not be null', 'review: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.review_withdrawal(%s, NULL, true, 'f')$$, :t), '22004', 'argument p_withdrawal must not be null', 'review: NULL withdrawal -> 22004');
SELECT throws_ok(format($$SELECT commerce.review_withdrawal(%s, %s, NULL, 'f')$$, :t, :w1), '22004', 'argument p_approve must not be null', 'review: NULL decision -> 22004');
SELECT throws_ok(format($$SELECT commerce.review_withdrawal(%s, %s, true, NULL)$$, :t, :w1), '22004', 'argument p_reviewer must not be null', 'review: NULL reviewer -> 22004');
SELECT throws_ok(format($$SELECT commerce.review_withdrawal(%s, 999999, true, 'f')$$, :t), 'PT404', 'withdrawal "999999" not found', 'review: unknown withdrawal -> PT404');
SELECT throws_ok(format($$SELECT commerce.review_withdrawal(%s, %s, false, 'f', ' ')$$, :t, :w1), '22023', 'invalid value for p_reason', 'review: rejection without a reason -> 22023');
SELECT is(pg_temp.fingerprint(), :'fp0', 'review: nothing changed');
SELECT is((commerce.review_withdrawal(:t, :w1, false, 'f', 'no')).status, 'rejected', 'review: rejected');
SELECT throws_ok(format($$SELECT commerce.review_withdrawal(%s, %s, true, 'f')$$, :t, :w1), 'PT409', 'withdrawal cannot go from rejected to approved', 'review: approving a rejected withdrawal -> PT409');
SELECT pg_temp.fingerprint() AS fp1 \gset

-- recalculate_levels
SELECT throws_ok($$SELECT commerce.recalculate_levels(NULL, '2030-01-01')$$, '22004', 'argument p_tenant must not be null', 'levels: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.recalculate_levels(%s, NULL)$$, :t), '22004', 'argument p_month must not be null', 'levels: NULL month -> 22004');
SELECT throws_ok($$SELECT commerce.recalculate_levels(999999, '2029-12-01')$$, 'PT404', 'tenant "999999" not found', 'levels: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.recalculate_levels(%s, '2030-01-01')$$, :t), 'PT409', NULL, 'levels: month not closed -> PT409');
SELECT is(pg_temp.fingerprint(), :'fp1', 'levels: nothing changed');

-- the ledgers refuse direct writes
SELECT throws_ok($$SELECT pg_temp.or_undo('UPDATE commerce.commission_line SET amount_fen = amount_fen + 1')$$, 'PT403', 'commission_line is append-only', 'ledger: commission line update -> PT403');
SELECT throws_ok($$SELECT pg_temp.or_undo('DELETE FROM commerce.koc_ledger')$$, 'PT403', 'koc_ledger is append-only', 'ledger: ledger delete -> PT403');
SELECT throws_ok($$SELECT pg_temp.or_undo('TRUNCATE commerce.commission_line CASCADE')$$, 'PT403', 'commission_line is append-only', 'ledger: truncate -> PT403');
SELECT throws_ok(format($$SELECT pg_temp.or_undo('UPDATE commerce.settle_batch SET status = ''netted'' WHERE batch_id = %s')$$, :b2), 'PT409', 'settle_batch cannot go from paid to netted', 'batch: illegal state change -> PT409');

-- the API takes the tenant from the request
SELECT throws_ok($$SELECT commerce_api.request_withdrawal('w', 'K', 500, 'wechat', '{"openid":"o"}')$$, '42501', 'no tenant in the request', 'api: withdrawal without a tenant claim -> 42501');
SELECT throws_ok($$SELECT commerce_api.record_payout('batch:1', 'paid')$$, '42501', 'no tenant in the request', 'api: payout without a tenant claim -> 42501');
SELECT is(pg_temp.fingerprint(), :'fp1', 'ledgers and API: nothing changed');
SELECT is_empty($$SELECT * FROM commerce.check_koc_invariants()$$, 'the books balance');

SELECT * FROM finish();
ROLLBACK;
