-- plays_group_hold.sql: a customer who joins a group before paying holds a
-- place: it counts toward the target, the group succeeds only when every
-- place is paid, an unpaid cancellation gives the place back, and the
-- deadline job waits until the held places are paid or lapsed. The
-- storefront API refuses bad input with its SQLSTATE and changes nothing.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(27);
\ir lib/fingerprint.psql
\o /dev/null

SET LOCAL commerce.now = '2030-01-10 10:00:00+08';
SELECT commerce.create_tenant('gh', 'Group holds') AS t \gset
SELECT commerce.upsert_store(:t, 'S1', 'Store one', 'Zhejiang', 'Hangzhou');
SELECT commerce.upsert_product(:t, 'P', 'Course', 'virtual', 'course');
SELECT commerce.upsert_sku(:t, 'P', 'C10', '10 lessons', 10000);
SELECT commerce.receive_stock(:t, 'r', 'C10', 20);
SELECT commerce.ensure_play_templates(:t);
SELECT commerce.upsert_customer(:t, c) FROM unnest(ARRAY['a', 'b', 'c', 'd']) c;
SELECT commerce.configure_play(:t, 'cfg-g', 'G', 'GROUP_BUY', 'S1', 'C10', 'Group', 8000, 6, '2030-01-01', '2030-02-01',
                               '{"target_size":2,"hours":2}', p_asset_type => 'COURSE');
\o

-- two places held: the group is full but not a success
SELECT is((commerce.join_group(:t, 'j-a', 'G', 'a', NULL)).outcome, 'opened_held', 'a opens the group holding a place');
SELECT max(instance_id) AS g FROM commerce.play_instance \gset
SELECT is((SELECT status FROM commerce.play_participant WHERE tenant_id = :t AND request_id = 'j-a'), 'held', 'a''s place is held');
SELECT ok((SELECT o.pay_deadline <= i.deadline FROM commerce.orders o JOIN commerce.play_instance i ON i.tenant_id = o.tenant_id
            AND i.instance_id = o.source_instance_id WHERE o.request_id = 'play:j-a'),
          'the held order must be paid by the group''s deadline at the latest');
SELECT is((commerce.join_group(:t, 'j-b', 'G', 'b', NULL, :g)).outcome, 'held', 'b holds the last place');
SELECT is((SELECT status || ' ' || current || '/' || target FROM commerce.play_instance WHERE instance_id = :g), 'active 2/2',
          'full with places held: still active');
SELECT throws_ok($$SELECT commerce.join_group(commerce.tenant_id('gh'), 'j-c', 'G', 'c', NULL, (SELECT max(instance_id) FROM commerce.play_instance))$$,
                 'PT409', NULL, 'c finds the group full (PT409)');
SELECT is((commerce.pay_order(:t, (SELECT order_id FROM commerce.orders WHERE request_id = 'play:j-a'), 'pay-a', 8000)).status, 'paid', 'a pays');
SELECT is((SELECT status FROM commerce.play_participant WHERE tenant_id = :t AND request_id = 'j-a'), 'joined', 'a''s payment makes it a member');
SELECT is((SELECT status FROM commerce.play_instance WHERE instance_id = :g), 'active', 'b''s place still awaits payment');

-- b cancels: the place is given back, c takes it and pays, the group succeeds
SELECT is((commerce.cancel_order(:t, (SELECT order_id FROM commerce.orders WHERE request_id = 'play:j-b'))).status, 'cancelled', 'b cancels its unpaid order');
SELECT is((SELECT current FROM commerce.play_instance WHERE instance_id = :g), 1, 'b''s place is given back');
SELECT is((SELECT count(*) FROM commerce.play_participant WHERE tenant_id = :t AND request_id = 'j-b'), 0::bigint, 'b is no longer in the group');
SELECT is((commerce.join_group(:t, 'j-c2', 'G', 'c', NULL, :g)).outcome, 'held', 'c takes the place');
SELECT is((commerce.pay_order(:t, (SELECT order_id FROM commerce.orders WHERE request_id = 'play:j-c2'), 'pay-c', 8000)).status, 'paid', 'c pays');
SELECT is((SELECT status FROM commerce.play_instance WHERE instance_id = :g), 'success', 'the last payment completes the group');
SELECT is((SELECT count(*) FROM commerce.user_asset WHERE tenant_id = :t AND source_instance_id = :g), 2::bigint,
          'both paying members get their asset, once');
SELECT is((SELECT count(*) FROM commerce.outbox WHERE tenant_id = :t AND topic = 'play.group_succeeded'), 1::bigint, 'one success message');

-- the deadline job waits for a held place; the unpaid-order job lapses it; then the group fails
SELECT is((commerce.join_group(:t, 'j-d', 'G', 'd', NULL)).outcome, 'opened_held', 'd opens a group and does not pay');
SELECT max(instance_id) AS g2 FROM commerce.play_instance \gset
SET LOCAL commerce.now = '2030-01-10 12:00:01+08';
SELECT is(commerce.end_expired_groups(100), 0, 'past the deadline, the job leaves a group with a held place alone');
SELECT is((SELECT status FROM commerce.play_instance WHERE instance_id = :g2), 'active', 'the group waits');
SELECT is(commerce.cancel_unpaid_orders(100), 1, 'the unpaid-order job cancels d''s order (its deadline is the group''s)');
SELECT is((SELECT current FROM commerce.play_instance WHERE instance_id = :g2), 0, 'd''s place is given back');
SELECT is(commerce.end_expired_groups(100), 1, 'then the job ends the group');
SELECT is((SELECT status FROM commerce.play_instance WHERE instance_id = :g2), 'failed', 'the group failed, with nobody to refund');
SELECT is((SELECT count(*) FROM commerce.check_play_invariants()), 0::bigint, 'every play invariant holds');

-- the storefront API: bad input changes nothing
SELECT set_config('request.jwt.claims', format('{"tenant_id":"%s","sub":"a","role":"commerce_customer"}', :t), true) IS NOT NULL AS as_a \gset
SELECT pg_temp.fingerprint() AS fp0 \gset
SELECT throws_ok($$SELECT commerce_api.join_group('j-x', 'G', NULL, 'made-up')$$, '42501', 'a customer never names a payment',
                 'a customer naming a payment -> 42501');
SELECT is(pg_temp.fingerprint(), :'fp0', 'refused: nothing changed');
SELECT * FROM finish();
ROLLBACK;
