-- orders_status_reason.sql: the reason of a status change is passed in the
-- statement that makes it (orders.status_reason), written to the history by
-- the state machine and cleared, never taken from a hidden setting or carried
-- over from an earlier change in the same transaction (0.6.0 did both).
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(9);

\o /dev/null
SET LOCAL commerce.now = '2030-01-01 10:00:00+08';
SELECT commerce.create_tenant('sr', 'Reasons') AS t \gset
SELECT commerce.upsert_product(:t, 'P', 'Goods') > 0;
SELECT commerce.upsert_sku(:t, 'P', 'A1', 'A1', 100) > 0;
SELECT commerce.receive_stock(:t, 'r', 'A1', 10) > 0;
SELECT order_id AS o FROM commerce.place_order(:t, 'o1', 'h5', '{"lines":[{"sku":"A1","qty":1}]}') \gset
SELECT commerce.pay_order(:t, :o, 'pay-1', 100);
\o
CREATE FUNCTION pg_temp.history(p_order bigint) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(coalesce(from_status::text, '-') || '>' || to_status || ':' || coalesce(reason, 'NULL'), ' ' ORDER BY history_id)
      FROM commerce.order_status_history WHERE order_id = p_order $$;

SELECT is(pg_temp.history(:o), '->pending_payment:placed pending_payment>paid:paid: pay-1',
          'the entry points pass their reasons: placed, paid');
SELECT is((SELECT status_reason FROM commerce.orders WHERE order_id = :o), NULL, 'the row keeps no reason');

-- a later change in the same transaction that gives no reason records none
UPDATE commerce.orders SET status = 'shipped' WHERE order_id = :o;
SELECT is(pg_temp.history(:o), '->pending_payment:placed pending_payment>paid:paid: pay-1 paid>shipped:NULL',
          'a status change without a reason records NULL, not the reason of the change before it');
-- a change with a reason records it
UPDATE commerce.orders SET status = 'completed', status_reason = 'picked up at the store' WHERE order_id = :o;
SELECT is(split_part(pg_temp.history(:o), ' ', 5), 'shipped>completed:picked', 'a reason given in the statement is recorded');
SELECT is((SELECT reason FROM commerce.order_status_history WHERE order_id = :o ORDER BY history_id DESC LIMIT 1),
          'picked up at the store', 'in full');
SELECT is((SELECT status_reason FROM commerce.orders WHERE order_id = :o), NULL, 'and cleared on the row');
-- a reason without a status change is not kept
UPDATE commerce.orders SET status_reason = 'nothing happened' WHERE order_id = :o;
SELECT is((SELECT status_reason FROM commerce.orders WHERE order_id = :o), NULL, 'a reason without a status change is not kept');
-- the setting of 0.6.0 no longer feeds the history
SET LOCAL commerce.reason = 'hidden';
\o /dev/null
SELECT order_id AS o2 FROM commerce.place_order(:t, 'o2', 'h5', '{"lines":[{"sku":"A1","qty":1}]}') \gset
SELECT commerce.cancel_order(:t, :o2, 'buyer changed mind');
\o
SELECT is(pg_temp.history(:o2), '->pending_payment:placed pending_payment>cancelled:buyer changed mind',
          'commerce.reason is ignored: each change has the reason its statement gave');
SELECT hasnt_function('commerce', '_reason', ARRAY['text'], 'the setter of the hidden reason is gone');

SELECT * FROM finish();
ROLLBACK;
