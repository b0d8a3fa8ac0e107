/*
 * commerce 0.6.0 -> 0.7.0 (open: the upgrade script of the version under
 * development).
 *
 * Every change to an object goes into its module source under sql/src/ (the
 * one definition, from which make builds commerce--0.7.0.sql) AND here, as
 * the statements that turn a 0.6.0 database into the same thing. `make test`
 * proves that a fresh install and 0.1.0 + every upgrade script give the same
 * catalog (test/upgrade/).
 *
 * Rules for this file:
 *  - Columns added to a table go last in its CREATE TABLE in the module
 *    source, in the order they are added here (functions return row types,
 *    so column order is part of the interface).
 *  - A function whose signature or return type changes is dropped and
 *    created again here; its COMMENT and its GRANTs/REVOKEs are repeated.
 *  - Functions keep their C symbols: the library serves every released
 *    script, so a C function a released script names is never removed.
 */

\echo Use "ALTER EXTENSION commerce UPDATE TO '0.7.0'" to load this file. \quit

-- ===========================================================================
-- triggers: names that state their firing order; every append-only table
-- declared by one helper, with its TRUNCATE guard (agreement,
-- agreement_signature, koc_level_change and play_help had none)
-- ===========================================================================

CREATE FUNCTION commerce._declare_append_only(p_table regclass)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE OR REPLACE TRIGGER before_10_append_only BEFORE UPDATE OR DELETE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION commerce.append_only_guard()', p_table);
    EXECUTE format('CREATE OR REPLACE TRIGGER before_10_append_only_truncate BEFORE TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION commerce.append_only_guard()', p_table);
END $$;
COMMENT ON FUNCTION commerce._declare_append_only(regclass) IS
  'Make a table append-only: triggers before_10_append_only (UPDATE, DELETE) and before_10_append_only_truncate (TRUNCATE) with commerce.append_only_guard (PT405). Idempotent.';
REVOKE ALL ON FUNCTION commerce._declare_append_only(regclass) FROM PUBLIC;

ALTER TRIGGER price_floor_guard ON commerce.price RENAME TO before_10_floor_guard;
ALTER TRIGGER sku_floor_guard ON commerce.sku RENAME TO before_10_floor_guard;
ALTER TRIGGER reservation_state_guard ON commerce.reservation RENAME TO before_10_state_guard;
DROP TRIGGER stock_movement_append_only ON commerce.stock_movement;
DROP TRIGGER stock_movement_no_truncate ON commerce.stock_movement;
ALTER TRIGGER order_attribution ON commerce.orders RENAME TO before_10_attribution;
ALTER TRIGGER koc_account_rearm_on_sign ON commerce.agreement_signature RENAME TO after_10_koc_account_rearm;
ALTER TRIGGER koc_account_rearm_on_active ON commerce.koc RENAME TO after_10_account_rearm;
ALTER TRIGGER commission_on_redeem ON commerce.orders RENAME TO after_10_commission_on_redeem;
ALTER TRIGGER commission_on_refund ON commerce.order_event RENAME TO after_10_commission_on_refund;
ALTER TRIGGER koc_application_state ON commerce.koc_application RENAME TO before_10_state_guard;
DROP TRIGGER agreement_append_only ON commerce.agreement;
DROP TRIGGER agreement_signature_append_only ON commerce.agreement_signature;
DROP TRIGGER commission_line_append_only ON commerce.commission_line;
DROP TRIGGER commission_line_no_truncate ON commerce.commission_line;
ALTER TRIGGER settle_batch_state ON commerce.settle_batch RENAME TO before_10_state_guard;
ALTER TRIGGER withdrawal_state ON commerce.withdrawal RENAME TO before_10_state_guard;
DROP TRIGGER koc_ledger_append_only ON commerce.koc_ledger;
DROP TRIGGER koc_ledger_no_truncate ON commerce.koc_ledger;
DROP TRIGGER koc_level_change_append_only ON commerce.koc_level_change;
ALTER TRIGGER koc_risk_flag_state ON commerce.koc_risk_flag RENAME TO before_10_state_guard;
DROP TRIGGER koc_audit_append_only ON commerce.koc_audit;
DROP TRIGGER koc_audit_no_truncate ON commerce.koc_audit;
ALTER TRIGGER order_state_guard ON commerce.orders RENAME TO before_20_state_guard;
DROP TRIGGER order_status_history_append_only ON commerce.order_status_history;
DROP TRIGGER order_status_history_no_truncate ON commerce.order_status_history;
ALTER TRIGGER after_sale_state ON commerce.after_sale RENAME TO before_10_state_guard;
DROP TRIGGER order_event_append_only ON commerce.order_event;
DROP TRIGGER order_event_no_truncate ON commerce.order_event;
ALTER TRIGGER play_config_terms ON commerce.play_config RENAME TO before_20_terms;
ALTER TRIGGER orders_play_paid ON commerce.orders RENAME TO after_20_play_paid;
ALTER TRIGGER orders_play_paid_insert ON commerce.orders RENAME TO after_21_play_paid_insert;
ALTER TRIGGER orders_play_refunded ON commerce.orders RENAME TO after_30_play_refunded;
ALTER TRIGGER play_config_state ON commerce.play_config RENAME TO before_10_state_guard;
ALTER TRIGGER play_instance_state ON commerce.play_instance RENAME TO before_10_state_guard;
DROP TRIGGER consumption_log_append_only ON commerce.consumption_log;
DROP TRIGGER consumption_log_no_truncate ON commerce.consumption_log;
DROP TRIGGER play_help_append_only ON commerce.play_help;
ALTER TRIGGER play_invite_state ON commerce.play_invite RENAME TO before_10_state_guard;
ALTER TRIGGER play_settlement_state ON commerce.play_settlement RENAME TO before_10_state_guard;
SELECT commerce._declare_append_only('commerce.stock_movement');
SELECT commerce._declare_append_only('commerce.agreement');
SELECT commerce._declare_append_only('commerce.agreement_signature');
SELECT commerce._declare_append_only('commerce.commission_line');
SELECT commerce._declare_append_only('commerce.koc_ledger');
SELECT commerce._declare_append_only('commerce.koc_level_change');
SELECT commerce._declare_append_only('commerce.koc_audit');
SELECT commerce._declare_append_only('commerce.order_status_history');
SELECT commerce._declare_append_only('commerce.order_event');
SELECT commerce._declare_append_only('commerce.consumption_log');
SELECT commerce._declare_append_only('commerce.play_help');
