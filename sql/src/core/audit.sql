-- sql/src/core/audit.sql: the audit log of sensitive operations. Tables
-- whose changes are sensitive are declared audited (commerce._declare_audited):
-- an AFTER trigger writes who changed which of the named columns, so every
-- writer is covered, the API, SQL backends and DBAs alike. Operations with
-- no row of their own (role grants, reads of personal data, exports) call
-- commerce._audit directly.

-- The identity of the session when it has one; NULLs otherwise (audit rows are written for every writer).
CREATE FUNCTION commerce._audit_identity() RETURNS commerce.identity
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN commerce._identity();
EXCEPTION WHEN insufficient_privilege OR invalid_text_representation THEN
    RETURN NULL;
END $$;

-- Write one audit row (tenant 0: cluster level).
CREATE FUNCTION commerce._audit(p_tenant bigint, p_operation text, p_object text, p_params jsonb, p_outcome text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE i commerce.identity := commerce._audit_identity();
BEGIN
    INSERT INTO commerce.audit_log (tenant_id, operation, object_key, actor_kind, actor_subject, acting_role,
                                    forwarded_for, params, outcome)
    VALUES (coalesce(p_tenant, 0), left(p_operation, 64), left(p_object, 200), i.kind, left(i.subject, 64),
            coalesce(nullif(current_setting('role'), 'none'), session_user::text),
            left(nullif(current_setting('request.headers', true), '')::jsonb ->> 'x-forwarded-for', 200),
            coalesce(p_params, '{}'), left(p_outcome, 200));
END $$;
COMMENT ON FUNCTION commerce._audit(bigint, text, text, jsonb, text) IS
  'Append one row to commerce.audit_log: the operation, its object and parameters, the outcome, with the verified actor (when the session has one), the database and acting roles, the client address and X-Forwarded-For. Runs as the owner, so any writer is logged; the caller needs EXECUTE.';

-- The audit trigger: a row inserted, deleted, or changed in one of the columns named in TG_ARGV.
CREATE FUNCTION commerce.audit_trigger() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE v_old jsonb; v_new jsonb; v_changed jsonb := '{}'::jsonb; c text; v_key text; v_row jsonb;
BEGIN
    IF TG_WHEN <> 'AFTER' OR TG_LEVEL <> 'ROW' OR TG_NARGS < 2 THEN
        RAISE EXCEPTION USING ERRCODE = '39P01',
            MESSAGE = 'commerce.audit_trigger must fire AFTER ... FOR EACH ROW with a key column and audited columns';
    END IF;
    v_old := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
    v_new := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
    v_row := coalesce(v_new, v_old);
    FOREACH c IN ARRAY TG_ARGV[1:] LOOP
        IF v_old -> c IS DISTINCT FROM v_new -> c THEN
            v_changed := v_changed || jsonb_build_object(c, jsonb_build_object('old', v_old -> c, 'new', v_new -> c));
        END IF;
    END LOOP;
    IF TG_OP = 'UPDATE' AND v_changed = '{}'::jsonb THEN
        RETURN NULL;
    END IF;
    v_key := v_row ->> TG_ARGV[0];
    PERFORM commerce._audit((v_row ->> 'tenant_id')::bigint, TG_TABLE_NAME || '.' || lower(TG_OP), v_key, v_changed,
                            coalesce(v_row ->> 'status', CASE WHEN TG_OP = 'DELETE' THEN 'deleted' END));
    RETURN NULL;
END $$;
COMMENT ON FUNCTION commerce.audit_trigger() IS
  'AFTER row trigger of audited tables (commerce._declare_audited): writes an audit row for an insert, a delete, or an update of one of the audited columns (TG_ARGV[1:], TG_ARGV[0] is the key column), with the old and new values and the row''s status as the outcome.';

-- Declare a table audited: trigger after_90_audit logs changes of the named columns.
CREATE FUNCTION commerce._declare_audited(p_table regclass, p_key text, p_columns text[],
                                          p_inserts boolean DEFAULT true) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._require(p_table, 'p_table');
    PERFORM commerce._require(p_key, 'p_key');
    PERFORM commerce._require(p_columns, 'p_columns');
    PERFORM commerce._require(p_inserts, 'p_inserts');
    EXECUTE format('CREATE OR REPLACE TRIGGER after_90_audit AFTER %s ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION commerce.audit_trigger(%s)',
                   CASE WHEN p_inserts THEN 'INSERT OR UPDATE OR DELETE' ELSE 'UPDATE OR DELETE' END, p_table,
                   (SELECT string_agg(quote_literal(x), ', ') FROM unnest(p_key || p_columns) x));
END $$;
COMMENT ON FUNCTION commerce._declare_audited(regclass, text, text[], boolean) IS
  'Make a table audited: trigger after_90_audit (commerce.audit_trigger) logs every delete, every update of one of p_columns and (p_inserts) every insert to commerce.audit_log, keyed by p_key. Idempotent.';
