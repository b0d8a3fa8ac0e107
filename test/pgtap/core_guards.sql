-- core_guards.sql: the cross-cutting declarations. Every append-only table is
-- declared by commerce._declare_append_only, so each refuses UPDATE, DELETE
-- and TRUNCATE (PT403); every trigger's name states when it fires
-- (before_NN_ / after_NN_: PostgreSQL fires same-kind triggers in name order).
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(31);

-- the append-only tables, as the design names them
SELECT is(
    (SELECT array_agg(c.relname::text ORDER BY c.relname)
       FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
      WHERE t.tgname = 'before_10_append_only' AND c.relnamespace = 'commerce'::regnamespace),
    ARRAY['agreement', 'agreement_signature', 'audit_log', 'commission_line', 'community_alert', 'community_event', 'community_task_done', 'consumption_log', 'crm_event',
          'crm_model', 'crm_recall', 'crm_rfm_change', 'flow_step_run', 'flow_version', 'group_checkin', 'group_member_event',
          'koc_audit', 'koc_ledger', 'koc_level_change', 'material_asset', 'material_version', 'membership_period', 'membership_refund', 'order_event',
          'order_status_history', 'payroll_line', 'payroll_run', 'play_help', 'points_ledger', 'potential_candidate', 'potential_model',
          'potential_run', 'profit_split_line', 'quick_reply_use', 'recruit_campaign',
          'segment_run', 'service_message', 'share_click', 'sharing_order', 'sharing_rule_party', 'site_page_version', 'stock_movement',
          'sync_log', 'tag_change', 'ticket_event'],
    'the forty-five append-only tables are declared append-only');
SELECT is(
    (SELECT count(*)::int FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
      WHERE t.tgname = 'before_10_append_only_truncate' AND c.relnamespace = 'commerce'::regnamespace
        AND t.tgfoid = 'commerce.append_only_guard'::regproc
        AND t.tgtype & 32 = 32),   -- TRIGGER_TYPE_TRUNCATE
    45, 'every append-only table has its TRUNCATE guard');
SELECT is(
    (SELECT count(*)::int FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
      WHERE t.tgname = 'before_10_append_only' AND c.relnamespace = 'commerce'::regnamespace
        AND t.tgfoid = 'commerce.append_only_guard'::regproc
        AND t.tgtype & (8 | 16) = (8 | 16) AND t.tgtype & 1 = 1),   -- DELETE | UPDATE, FOR EACH ROW
    45, 'every append-only table has its row guard for UPDATE and DELETE');
-- no other trigger runs the append-only guard (one declaration, not copies)
SELECT is(
    (SELECT count(*)::int FROM pg_trigger t
      WHERE t.tgfoid = 'commerce.append_only_guard'::regproc
        AND t.tgname NOT IN ('before_10_append_only', 'before_10_append_only_truncate')),
    0, 'the append-only guard is attached by the helper only');

-- TRUNCATE of each is refused (CASCADE: some are referenced by others), including
-- agreement, agreement_signature, koc_level_change and play_help, which 0.6.0 let through
SELECT throws_ok(format('TRUNCATE commerce.%I CASCADE', t), 'PT403', NULL,
                 format('TRUNCATE %s -> PT403', t))
  FROM unnest(ARRAY['agreement', 'agreement_signature', 'commission_line', 'consumption_log', 'koc_audit',
                    'koc_ledger', 'koc_level_change', 'order_event', 'order_status_history', 'play_help',
                    'stock_movement', 'crm_event', 'segment_run', 'tag_change', 'ticket_event', 'flow_version', 'flow_step_run']) t;

-- UPDATE and DELETE of a row are refused too
SELECT commerce.create_tenant('g1', 'Guards') AS t \gset
SELECT commerce.publish_agreement(:t, 'A', 'text') AS v \gset
SELECT throws_ok($$UPDATE commerce.agreement SET title = 'B'$$, 'PT403', 'agreement is append-only',
                 'UPDATE of an agreement -> PT403');
SELECT throws_ok($$DELETE FROM commerce.agreement$$, 'PT403', 'agreement is append-only',
                 'DELETE of an agreement -> PT403');
SELECT is((SELECT count(*)::int FROM commerce.agreement WHERE tenant_id = :t), 1, 'the agreement is still there');

-- the helper is idempotent and refuses what is not a table
SELECT lives_ok($$SELECT commerce._declare_append_only('commerce.agreement')$$, 'declaring twice is harmless');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'commerce.agreement'::regclass AND NOT tgisinternal),
          2, 'and leaves two triggers');
SELECT throws_ok($$SELECT commerce._declare_append_only('commerce.no_such_table')$$, '42P01', NULL,
                 'an unknown table -> 42P01');

-- every trigger on a commerce table says when it fires
SELECT is(
    (SELECT coalesce(string_agg(c.relname || '.' || t.tgname, ', ' ORDER BY c.relname, t.tgname), '')
       FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
      WHERE c.relnamespace = 'commerce'::regnamespace AND NOT t.tgisinternal
        AND t.tgname !~ '^(before|after)_[0-9]{2}_[a-z0-9_]+$'),
    '', 'every trigger is named before_NN_<what> or after_NN_<what>');
SELECT is(
    (SELECT coalesce(string_agg(c.relname || '.' || t.tgname, ', '), '')
       FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
      WHERE c.relnamespace = 'commerce'::regnamespace AND NOT t.tgisinternal
        AND (t.tgname LIKE 'before%') <> (t.tgtype & 2 = 2)),   -- TRIGGER_TYPE_BEFORE
    '', 'a before_ trigger fires before, an after_ trigger after');
-- on orders: attribution before the state guard; commission before the play effects
SELECT is(
    (SELECT array_agg(tgname::text ORDER BY tgname) FROM pg_trigger
      WHERE tgrelid = 'commerce.orders'::regclass AND NOT tgisinternal),
    ARRAY['after_05_coupons', 'after_10_commission_on_redeem', 'after_20_play_paid', 'after_21_play_paid_insert',
          'after_30_play_refunded', 'after_31_play_cancelled', 'after_40_points', 'after_41_points_insert', 'after_42_membership', 'after_43_membership_refunded',
          'after_50_nudge', 'after_51_nudge_insert', 'after_52_notify_shipped', 'after_53_redemption_returned',
          'after_60_crm', 'after_61_crm_insert', 'after_70_sync', 'after_71_sync_update', 'after_80_sharing_paid',
          'after_81_sharing_completed', 'before_10_attribution', 'before_20_state_guard'],
    'orders: the twenty-two triggers in their firing order');
SELECT is(
    (SELECT array_agg(tgname::text ORDER BY tgname) FROM pg_trigger
      WHERE tgrelid = 'commerce.play_config'::regclass AND NOT tgisinternal),
    ARRAY['before_10_state_guard', 'before_20_terms'],
    'play_config: the state guard before the kind-specific terms');

SELECT * FROM finish();
ROLLBACK;
