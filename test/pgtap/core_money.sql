-- core_money.sql: money arithmetic has one home (src/core_money.c), exposed as
-- commerce.rate_fen, fee_fen and split_fen. Each is checked against an
-- independent numeric computation over edges and 20,000 random cases; bad
-- input is refused (22023, 22004). A commission reversal applies the rule of
-- its order's earn line, and a rule the library does not know is refused
-- rather than reversed by another formula.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(43);
\ir lib/fingerprint.psql

-- rate_fen = floor(a x r / 10000), exactly, for any amount
SELECT is(commerce.rate_fen(0, 10000), 0::bigint, 'rate_fen: nothing');
SELECT is(commerce.rate_fen(112050, 500), 5602::bigint, 'rate_fen: 5% of 1120.50 yuan is 56.02 (rounded down)');
SELECT is(commerce.rate_fen(1000000000000000, 10000), 1000000000000000::bigint, 'rate_fen: 10^15 fen at 100% (no overflow)');
SELECT is(commerce.rate_fen(999999999999999, 9999), 999899999999999::bigint, 'rate_fen: near the limits');
SELECT is((SELECT count(*)::int FROM (
            SELECT (random() * 1e15)::bigint AS a, (random() * 10000)::int AS r FROM generate_series(1, 10000)
          ) x WHERE commerce.rate_fen(a, r) <> floor(a::numeric * r / 10000)),
          0, 'rate_fen agrees with numeric floor(a x r / 10000) on 10,000 random cases');
-- fee_fen = max(rate_fen, minimum)
SELECT is(commerce.fee_fen(1000, 30, 5), 5::bigint, 'fee_fen: the minimum fee');
SELECT is(commerce.fee_fen(1000000, 30, 5), 3000::bigint, 'fee_fen: 0.3% of 10000 yuan');
-- split_fen: the parts add up; the fen the floors leave goes to the larger remainder
SELECT is((SELECT share_fen || '/' || rest_fen FROM commerce.split_fen(1000000000000000, 10000)),
          '1000000000000000/0', 'split_fen: 10^15 fen at 10000 bp (0.6.0 overflowed: 22003)');
SELECT is((SELECT share_fen || '/' || rest_fen FROM commerce.split_fen(1, 5000)), '0/1', 'split_fen: a tie goes to the rest');
SELECT is((SELECT share_fen || '/' || rest_fen FROM commerce.split_fen(179400, 3333)), '59794/119606', 'split_fen: 33.33% of 1794 yuan');
SELECT is((SELECT count(*)::int FROM (
            SELECT (random() * 1e15)::bigint AS a, (random() * 10000)::int AS r FROM generate_series(1, 10000)
          ) x, commerce.split_fen(a, r) s
          WHERE s.share_fen + s.rest_fen <> a
             OR s.share_fen <> floor(a::numeric * r / 10000)
                              + CASE WHEN mod(a::numeric * r, 10000) > mod(a::numeric * (10000 - r), 10000) THEN 1 ELSE 0 END),
          0, 'split_fen agrees with the numeric largest-remainder split on 10,000 random cases');

-- bad input
SELECT throws_ok($$SELECT commerce.rate_fen(-1, 100)$$, '22023', 'invalid value for p_amount_fen', 'rate_fen: a negative amount -> 22023');
SELECT is(commerce.rate_fen(9223372036854775807, 10000), 9223372036854775807::bigint, 'rate_fen: any bigint amount, even at 10000 bp, without overflow');
SELECT throws_ok($$SELECT commerce.rate_fen(100, 10001)$$, '22023', 'invalid value for p_rate_bp', 'rate_fen: above 10000 bp -> 22023');
SELECT throws_ok($$SELECT commerce.rate_fen(100, -1)$$, '22023', 'invalid value for p_rate_bp', 'rate_fen: a negative rate -> 22023');
SELECT throws_ok($$SELECT commerce.rate_fen(NULL, 100)$$, '22004', 'argument p_amount_fen must not be null', 'rate_fen: NULL amount -> 22004');
SELECT throws_ok($$SELECT commerce.rate_fen(100, NULL)$$, '22004', 'argument p_rate_bp must not be null', 'rate_fen: NULL rate -> 22004');
SELECT is(commerce.fee_fen(100, 10, 2000000000000000), 2000000000000000::bigint, 'fee_fen: a minimum above 10^15 fen is allowed');
SELECT throws_ok($$SELECT commerce.fee_fen(100, 10, -1)$$, '22023', 'invalid value for p_min_fen', 'fee_fen: a negative minimum -> 22023');
SELECT throws_ok($$SELECT commerce.fee_fen(100, 10, NULL)$$, '22004', 'argument p_min_fen must not be null', 'fee_fen: NULL minimum -> 22004');
SELECT throws_ok($$SELECT commerce.split_fen(1000000000000001, 5000)$$, '22023', 'invalid value for p_amount', 'split_fen: above 10^15 fen -> 22023');
SELECT throws_ok($$SELECT commerce.split_fen(100, NULL)$$, '22004', 'argument p_share_bp must not be null', 'split_fen: NULL share -> 22004');

-- the withdrawal fee goes through fee_fen
\o /dev/null
SET LOCAL commerce.now = '2030-01-10 10:00:00+08';
SELECT commerce.create_tenant('mo', 'Money') AS t \gset
SELECT commerce.set_koc_settings(:t, p_withdraw_fee_bp => 60, p_withdraw_fee_min_fen => 100);
\o
SELECT is(commerce.withdrawal_fee(:t, 10000), 100::bigint, 'withdrawal_fee: at least the minimum');
SELECT is(commerce.withdrawal_fee(:t, 1000000), 6000::bigint, 'withdrawal_fee: 0.6% rounded down');
SELECT is(commerce.withdrawal_fee(:t, NULL), 100::bigint, 'withdrawal_fee: no amount -> the minimum fee (as in 0.6.0)');

-- commission lines: a reversal uses its earn line's rule
\o /dev/null
SELECT commerce.upsert_product(:t, 'P', 'Goods') > 0;
SELECT commerce.upsert_sku(:t, 'P', 'TEE', 'Tee', 11205) > 0;
SELECT commerce.receive_stock(:t, 'r', 'TEE', 50) > 0;
SELECT commerce.upsert_customer(:t, c) FROM unnest(ARRAY['u-k', 'b1', 'b2']) c;
SELECT commerce.upsert_koc(:t, 'K', 'u-k', 'K') AS k \gset
SELECT commerce.upsert_koc_task(:t, 'T', 'T', '2030-01-01', '2030-03-01', 500) > 0;
SELECT commerce.publish_agreement(:t, 'A', 'text') AS v \gset
SELECT commerce.sign_agreement(:t, 'K', :v, encode(sha256('text'), 'hex'), 'K');
CREATE FUNCTION pg_temp.sale(p_t bigint, p_req text, p_buyer text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE o commerce.order_result;
BEGIN
    PERFORM commerce.record_click(p_t, commerce.tracking_link(p_t, 'K', 'T'), p_buyer);
    o := commerce.place_order(p_t, p_req, 'h5', '{"lines":[{"sku":"TEE","qty":10}]}', p_buyer);
    PERFORM commerce.pay_order(p_t, o.order_id, 'pay-' || p_req, o.payable_fen);
    RETURN o.order_id;
END $$;
CREATE FUNCTION pg_temp.refund(p_t bigint, p_req text, p_order bigint, p_fen bigint) RETURNS text LANGUAGE plpgsql AS $$
DECLARE a bigint;
BEGIN
    SELECT after_sale_id INTO a FROM commerce.request_after_sale(p_t, p_req, p_order, 'refund_only', p_fen, 'test');
    PERFORM commerce.decide_after_sale(p_t, a, true);
    RETURN (commerce.complete_refund(p_t, a)).status;
END $$;
SELECT pg_temp.sale(:t, 'o1', 'b1') AS o1 \gset
SELECT commerce.complete_order(:t, :o1);
SELECT pg_temp.refund(:t, 'rf1', :o1, 50000);
\o
SELECT is((SELECT string_agg(kind || ':' || amount_fen || ':' || rule, ' ' ORDER BY seq)
             FROM commerce.commission_line WHERE order_id = :o1),
          'earn:5602:floor-v1 reverse:-2500:floor-v1',
          'an earn line (5% of 1120.50 yuan) and its partial reversal, both by floor-v1');
-- an order whose earn line names a rule this library does not have
\o /dev/null
SELECT pg_temp.sale(:t, 'o2', 'b2') AS o2 \gset
INSERT INTO commerce.commission_line (tenant_id, koc_id, seq, kind, source_key, order_id, base_fen,
    task_rate_bp, level_code, level_bonus_bp, rate_bp, bounty_fen, amount_fen, rule, occurred_at, payable_at)
VALUES (:t, :k, 1000, 'earn', 'order:' || :o2, :o2, 112050, 500, 'bronze', 0, 500, 0, 5603, 'round-v2',
        commerce.now(), commerce.now());
SELECT pg_temp.fingerprint() AS fp \gset
\o
SELECT throws_ok(format($$SELECT pg_temp.refund(%s, 'rf2', %s, 1000)$$, :t, :o2), '0A000',
                 format('commission rule "round-v2" of order %s is unknown', :o2),
                 'a refund of an order whose earn line has an unknown rule -> 0A000, not reversed by floor-v1');
SELECT is(pg_temp.fingerprint(), :'fp', 'and nothing changed (no refund, no reversal line)');
SELECT is((SELECT count(*)::int FROM commerce.commission_line WHERE order_id = :o2), 1, 'the order still has its one line');

-- one home: no SQL function or C file computes a rate by itself
SELECT is((SELECT coalesce(string_agg(p.oid::regprocedure::text, ', '), '')
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace AND n.nspname = 'commerce'
            WHERE p.prosrc ~ '\*\s*\w*(bp|share|rate)\w*\s*/\s*10000'
               OR p.prosrc ~ '(bp|share|rate)\w*\s*\*[^;]*\)\s*/\s*10000'),
          '', 'no SQL or PL/pgSQL function applies a rate in basis points itself');
SELECT is(commerce.rate_fen(5, 10000), 5::bigint, 'rate_fen: 100% of 5 fen');
SELECT is(commerce.rate_fen(9999, 1), 0::bigint, 'rate_fen: 0.01% of 99.99 yuan rounds down to 0');
SELECT is(commerce.fee_fen(0, 10000, 0), 0::bigint, 'fee_fen: no amount, no minimum');
SELECT is((SELECT share_fen || '/' || rest_fen FROM commerce.split_fen(999, 0)), '0/999', 'split_fen: 0 bp');

-- allocate_fen: proportional by the largest remainder, capped, adding up exactly
SELECT is(commerce.allocate_fen(100, '{1,1,1}', '{100,100,100}'), '{34,33,33}'::bigint[], 'allocate_fen: 100 over three equal parts, the fen left to the first');
SELECT is(commerce.allocate_fen(2000, '{9900,3333}', '{4900,3333}'), '{1496,504}'::bigint[], 'allocate_fen: in proportion to the weights');
SELECT is(commerce.allocate_fen(100, '{5,1,0}', '{10,100,100}'), '{10,90,0}'::bigint[], 'allocate_fen: a capped part gives the rest to the others, a weightless part takes none');
SELECT is(commerce.allocate_fen(7, '{0,0}', '{3,4}'), '{3,4}'::bigint[], 'allocate_fen: without weights, by the caps');
SELECT is(commerce.allocate_fen(0, '{1,2}', '{0,0}'), '{0,0}'::bigint[], 'allocate_fen: nothing to allocate');
SELECT is((SELECT sum(x) FROM unnest(commerce.allocate_fen(999999999999999, '{3,7,11,13}', '{999999999999999,999999999999999,999999999999999,999999999999999}')) x),
          999999999999999::numeric, 'allocate_fen: 10^15 - 1 fen over four parts adds up exactly');
SELECT throws_ok($$SELECT commerce.allocate_fen(10, '{1,1}', '{4,5}')$$, '22023', 'invalid value for p_amount', 'allocate_fen: more than the caps -> 22023');
SELECT throws_ok($$SELECT commerce.allocate_fen(10, '{1,1}', '{10}')$$, '22023', 'invalid value for p_caps', 'allocate_fen: a cap per weight -> 22023');
SELECT throws_ok($$SELECT commerce.allocate_fen(10, '{1,NULL}', '{10,10}')$$, '22004', NULL, 'allocate_fen: a NULL weight -> 22004');

SELECT * FROM finish();
ROLLBACK;
