-- sql/src/customers/benefits.sql: a customer's benefits as data (paid
-- membership grants them; checkout, payment and points read them at the
-- moment of use) and the birthday a customer sets once.

-- The largest rate of a customer's benefits of one kind in force at a moment (0 when none), read
-- through its person: a membership bought in the mini-program counts on the H5 site too.
CREATE FUNCTION commerce._benefit_bp(p_tenant bigint, p_customer bigint, p_kind text, p_at timestamptz)
RETURNS integer LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN coalesce((SELECT max(b.rate_bp) FROM commerce.customer_benefit b
                      WHERE b.tenant_id = p_tenant AND b.customer_id = ANY (commerce._person_customers(p_tenant, p_customer))
                        AND b.kind = p_kind
                        AND b.valid_until > p_at AND b.valid_from <= p_at), 0);
END $$;

-- True when a customer (through its person) has a benefit of that kind at a moment.
CREATE FUNCTION commerce._has_benefit(p_tenant bigint, p_customer bigint, p_kind text, p_at timestamptz)
RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM commerce.customer_benefit b
                    WHERE b.tenant_id = p_tenant AND b.customer_id = ANY (commerce._person_customers(p_tenant, p_customer))
                      AND b.kind = p_kind
                      AND b.valid_until > p_at AND b.valid_from <= p_at);
END $$;

-- Grant (or move the end of) a benefit of a source: one row per source and kind.
CREATE FUNCTION commerce._set_benefit(p_tenant bigint, p_customer bigint, p_kind text, p_rate_bp integer, p_label text,
                                      p_source text, p_from timestamptz, p_until timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO commerce.customer_benefit AS b (tenant_id, customer_id, kind, rate_bp, label, source, valid_from, valid_until)
    VALUES (p_tenant, p_customer, p_kind, coalesce(p_rate_bp, 0), p_label, p_source, p_from, greatest(p_from, p_until))
    ON CONFLICT (tenant_id, source, kind) DO UPDATE
       SET rate_bp = EXCLUDED.rate_bp, label = EXCLUDED.label, valid_until = greatest(b.valid_from, EXCLUDED.valid_until);
END $$;

-- A customer sets its birthday, once.
CREATE FUNCTION commerce.set_birthday(p_tenant bigint, p_customer text, p_birthday date, p_correct boolean DEFAULT false)
RETURNS date LANGUAGE plpgsql AS $$
DECLARE v_old date; v_id bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._require(p_birthday, 'p_birthday');
    IF p_birthday NOT BETWEEN '1900-01-01' AND (commerce.now())::date THEN
        PERFORM commerce._invalid('p_birthday', format('%s', p_birthday), 'A birthday is a past date after 1900.');
    END IF;
    SELECT customer_id, birthday INTO v_id, v_old FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    IF v_old = p_birthday THEN
        RETURN v_old;
    END IF;
    IF v_old IS NOT NULL AND NOT coalesce(p_correct, false) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('customer "%s" has set a birthday already', left(p_customer, 64)),
            DETAIL  = 'A birthday is set once, so that birthday benefits cannot be moved from month to month.',
            HINT    = 'Customer service corrects a wrong birthday (commerce.set_birthday with p_correct).';
    END IF;
    UPDATE commerce.customer SET birthday = p_birthday WHERE tenant_id = p_tenant AND customer_id = v_id;
    RETURN p_birthday;
END $$;
COMMENT ON FUNCTION commerce.set_birthday(bigint, text, date, boolean) IS
  'Set a customer''s birthday (a past date after 1900; 22023 otherwise), once: the same date again is a repeat, another date PT409 unless customer service corrects it (p_correct). Birthday benefits (double points in the birthday month) read it.';
