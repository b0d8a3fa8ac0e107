-- sql/src/core/guards.sql: the generic C triggers: append-only tables and
-- state machines declared as data (state_guard).

-- Ledgers are append-only: refuse UPDATE and DELETE.
CREATE FUNCTION commerce.append_only_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'commerce_append_only_guard' LANGUAGE C;

CREATE FUNCTION commerce.state_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'commerce_state_guard' LANGUAGE C;
COMMENT ON FUNCTION commerce.state_guard() IS
  'Generic state-machine trigger: state_guard(''<column>'', ''<initial,states>'', [''qualifier=<column>'',] ''[<value>:]from>to'', ...). New rows start in an initial state; a change of the column must be a listed transition (PT412 otherwise); a transition prefixed with a value applies only to rows whose qualifier column has that value.';
