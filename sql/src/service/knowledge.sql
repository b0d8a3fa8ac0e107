-- sql/src/service/knowledge.sql: the knowledge base (3.4.2): articles with
-- the questions customers ask them with, indexed by the terms of
-- commerce._text_terms (CJK character bigrams and unigrams, ASCII words;
-- src/service_text.c says why) of their title, questions and answer, and the
-- matcher: BM25 over those terms, with a confidence = the share of the
-- question's weight the best article covers times its margin over the next.

-- The terms of a text: CJK bigrams and ~unigrams, ASCII words (src/service_text.c).
CREATE FUNCTION commerce._text_terms(p_text text) RETURNS text[]
AS 'MODULE_PATHNAME', 'commerce_text_terms' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION commerce._text_terms(text) IS
  'The terms of a text for the knowledge-base matcher (3.4.2), repeated as they occur: the overlapping bigrams of each run of CJK ideographs and each of its characters prefixed with ~, each run of ASCII letters and digits as one lower-case word (full-width forms folded); punctuation, spaces and other characters separate runs. At most 10000 terms (a CJK text of 5000 characters). UTF8 databases only (0A000 otherwise).';

-- Add or change an article and rewrite its terms.
CREATE FUNCTION commerce.upsert_kb_article(p_tenant bigint, p_code text, p_kind text, p_title text, p_questions text[],
                                           p_answer text, p_store text DEFAULT NULL, p_active boolean DEFAULT true)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_store bigint; v_id bigint; v_terms text[];
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_kind, 'p_kind');
    PERFORM commerce._require(p_title, 'p_title');
    PERFORM commerce._require(p_questions, 'p_questions');
    PERFORM commerce._require(p_answer, 'p_answer');
    PERFORM commerce._require(p_active, 'p_active');
    IF p_code !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' THEN
        PERFORM commerce._invalid('p_code', format('code "%s"', left(p_code, 64)), 'An article code is 1 to 63 letters, digits, _ . -.');
    END IF;
    IF p_kind NOT IN ('answer', 'order_status', 'handoff') THEN
        PERFORM commerce._invalid('p_kind', format('kind "%s"', left(p_kind, 32)), 'An article is an answer, order_status or handoff.');
    END IF;
    IF length(p_title) NOT BETWEEN 1 AND 200 OR length(p_answer) NOT BETWEEN 1 AND 4000 THEN
        PERFORM commerce._invalid('p_title', format('title of %s characters, answer of %s', length(p_title), length(p_answer)),
                                  'A title is 1 to 200 characters, an answer 1 to 4000.');
    END IF;
    IF cardinality(p_questions) IS NULL OR cardinality(p_questions) NOT BETWEEN 1 AND 50
       OR EXISTS (SELECT 1 FROM unnest(p_questions) q WHERE q IS NULL OR length(btrim(q)) NOT BETWEEN 1 AND 500) THEN
        PERFORM commerce._invalid('p_questions', format('%s questions', coalesce(cardinality(p_questions), 0)),
                                  'Give 1 to 50 questions customers ask, each 1 to 500 characters.');
    END IF;
    v_store := commerce._store_ref(p_tenant, p_store);
    -- each field on its own, so that no field's terms crowd out another's (commerce._text_terms stops at 10000)
    v_terms := commerce._text_terms(p_title) || commerce._text_terms(p_answer)
               || ARRAY(SELECT t FROM unnest(p_questions) q, unnest(commerce._text_terms(q)) t);
    IF cardinality(v_terms) = 0 THEN
        PERFORM commerce._invalid('p_questions', 'the title and questions have no letter, digit or CJK character',
                                  'Write the questions as customers type them.');
    END IF;
    INSERT INTO commerce.kb_article AS k (tenant_id, code, kind, title, questions, answer, store_id, active, terms, updated_at)
    VALUES (p_tenant, p_code, p_kind, p_title, p_questions, p_answer, v_store, p_active, cardinality(v_terms), commerce.now())
    ON CONFLICT (tenant_id, code) DO UPDATE
       SET kind = EXCLUDED.kind, title = EXCLUDED.title, questions = EXCLUDED.questions, answer = EXCLUDED.answer,
           store_id = EXCLUDED.store_id, active = EXCLUDED.active, terms = EXCLUDED.terms, updated_at = EXCLUDED.updated_at
    RETURNING article_id INTO v_id;
    DELETE FROM commerce.kb_term WHERE tenant_id = p_tenant AND article_id = v_id;
    INSERT INTO commerce.kb_term (tenant_id, term, article_id, tf)
    SELECT p_tenant, t, v_id, count(*) FROM unnest(v_terms) t GROUP BY t;
    RETURN v_id;
END $$;
COMMENT ON FUNCTION commerce.upsert_kb_article(bigint, text, text, text, text[], text, text, boolean) IS
  'Add or change a knowledge-base article (3.4.2): code, kind (answer, order_status, handoff), title, 1 to 50 questions customers ask it with, the answer (1 to 4000 characters), the store it is for (NULL: all) and whether it is active. Its terms (title, questions and answer) are indexed at once. Returns the article.';

-- The articles that best match a question: BM25 over the terms, with the share of the question's weight each covers.
CREATE FUNCTION commerce.kb_match(p_tenant bigint, p_text text, p_store bigint DEFAULT NULL, p_limit integer DEFAULT 3)
RETURNS TABLE (article_id bigint, code text, kind text, score double precision, confidence_bp integer)
LANGUAGE sql STABLE AS $$
    WITH docs AS (
        SELECT count(*)::float8 AS n, greatest(avg(a.terms), 1)::float8 AS avgdl
          FROM commerce.kb_article a
         WHERE a.tenant_id = p_tenant AND a.active AND (a.store_id IS NULL OR a.store_id = p_store)
    ), q AS (
        SELECT DISTINCT t.term FROM unnest(commerce._text_terms(left(p_text, 2000))) t(term)
    ), hits AS (
        SELECT q.term, k.article_id, k.tf, a.terms
          FROM q
          JOIN commerce.kb_term k ON k.tenant_id = p_tenant AND k.term = q.term
          JOIN commerce.kb_article a ON a.tenant_id = p_tenant AND a.article_id = k.article_id
         WHERE a.active AND (a.store_id IS NULL OR a.store_id = p_store)
    ), w AS (
        -- idf of every term of the question; a term no article has weighs the most
        SELECT q.term, ln(1 + (d.n - coalesce(df.df, 0) + 0.5) / (coalesce(df.df, 0) + 0.5)) AS w
          FROM q CROSS JOIN docs d
          LEFT JOIN (SELECT h.term, count(*)::float8 AS df FROM hits h GROUP BY h.term) df ON df.term = q.term
    ), total AS (
        SELECT sum(w.w) AS w FROM w
    )
    SELECT r.article_id, r.code, r.kind, r.score,
           -- coverage x margin: only the best article can be confident, and only as far as it beats the next
           CASE WHEN r.total > 0 AND r.rank = 1
                THEN least(10000, round(10000 * r.covered / r.total * (1 - coalesce(r.next, 0) / r.score)))::integer
                ELSE 0 END
      FROM (SELECT a.article_id, a.code, a.kind, s.score, s.covered, t.w AS total,
                   row_number() OVER (ORDER BY s.score DESC, a.article_id) AS rank,
                   lead(s.score) OVER (ORDER BY s.score DESC, a.article_id) AS next
              FROM (SELECT h.article_id,
                           sum(w.w * h.tf * 2.2 / (h.tf + 1.2 * (0.25 + 0.75 * h.terms / d.avgdl))) AS score,
                           sum(w.w) AS covered
                      FROM hits h JOIN w ON w.term = h.term CROSS JOIN docs d
                     GROUP BY h.article_id) s
              JOIN commerce.kb_article a ON a.tenant_id = p_tenant AND a.article_id = s.article_id
             CROSS JOIN total t) r
     ORDER BY r.score DESC, r.article_id
     LIMIT least(greatest(p_limit, 1), 20);
$$;
COMMENT ON FUNCTION commerce.kb_match(bigint, text, bigint, integer) IS
  'The knowledge-base articles that best match a customer''s question (3.4.2; a store''s and every store''s, active): BM25 (k1 1.2, b 0.75) over the terms of commerce._text_terms (bigrams, unigrams and words, each weighted by its idf). confidence_bp, for the best article only (0 for the others): the share of the question''s idf weight its terms cover (a term no article has counts against every article) times its margin over the next, 1 - next score / its score. Best first, at most p_limit (1 to 20). The question is read up to its first 2000 characters.';
