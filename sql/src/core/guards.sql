-- sql/src/core/guards.sql: the generic C triggers: append-only tables and
-- state machines declared as data (state_guard).

-- Ledgers are append-only: refuse UPDATE and DELETE.
CREATE FUNCTION commerce.append_only_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'commerce_append_only_guard' LANGUAGE C;

-- Declare a table append-only: the guard refuses UPDATE and DELETE of a row
-- and TRUNCATE of the table (PT403). Every append-only table is declared by
-- this one helper, so none can miss a trigger. Trigger names say when they
-- fire: PostgreSQL fires triggers of the same event and timing in name order,
-- so names are before_NN_<what> / after_NN_<what> (docs/architecture.md).
CREATE FUNCTION commerce._declare_append_only(p_table regclass)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._require(p_table, 'p_table');
    EXECUTE format('CREATE OR REPLACE TRIGGER before_10_append_only BEFORE UPDATE OR DELETE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION commerce.append_only_guard()', p_table);
    EXECUTE format('CREATE OR REPLACE TRIGGER before_10_append_only_truncate BEFORE TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION commerce.append_only_guard()', p_table);
END $$;
COMMENT ON FUNCTION commerce._declare_append_only(regclass) IS
  'Make a table append-only: triggers before_10_append_only (UPDATE, DELETE) and before_10_append_only_truncate (TRUNCATE) with commerce.append_only_guard (PT403). Idempotent.';
REVOKE ALL ON FUNCTION commerce._declare_append_only(regclass) FROM PUBLIC;

CREATE FUNCTION commerce.state_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'commerce_state_guard' LANGUAGE C;
COMMENT ON FUNCTION commerce.state_guard() IS
  'Generic state-machine trigger: state_guard(''<column>'', ''<initial,states>'', [''qualifier=<column>'',] ''[<value>:]from>to'', ...). New rows start in an initial state; a change of the column must be a listed transition (PT409 otherwise); a transition prefixed with a value applies only to rows whose qualifier column has that value.';
