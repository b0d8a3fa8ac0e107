#!/usr/bin/env bash
# Identity benchmark (3.6.1): 3,000 generated people with 1 to 5 identities
# each (mini-program OpenID, UnionID and verified phone; H5 uid with its
# verified phone; Taobao and Douyin buyer ids whose orders carry the
# receiver's phone unverified: their own, a family member's, a mistyped one,
# a masked one, or the blocklisted fake 13800138000), fed as observations in
# random order with duplicates, twice (two tenants, two orders). The truth is
# this script's own: who each identity belongs to. Printed and checked over
# the identities that make a person (accounts, platform ids, phones their
# owner verified; an unverified phone on an order is a contact, never merge
# evidence): the precision of the merged pairs (>= 99.9%), the recall on verified ids
# (>= 98%), the same partition for both orders, the invariants, and the cost
# of one resolution in microseconds.
. "$(dirname "$0")/lib/common.sh"
fresh_db identity_bench

q >/dev/null <<'SQL'
CREATE EXTENSION commerce;
CALL commerce.provision();
SELECT commerce.create_tenant('id1', 'Order one'), commerce.create_tenant('id2', 'Order two');
SELECT setseed(0.42);
-- the people: who has which identity
CREATE TABLE public.person_truth AS
SELECT k, random() < 0.8 AS mp, random() < 0.9 AS has_union, random() < 0.9 AS has_phone, random() < 0.7 AS mp_phone,
       random() < 0.5 AS tb, random() < 0.3 AS dy, random() < 0.4 AS h5, '1' || (3500000000 + k * 7)::text AS phone
  FROM generate_series(1, 3000) k;
UPDATE public.person_truth SET tb = true WHERE NOT mp AND NOT h5 AND NOT dy;   -- everyone is somewhere
-- the observations: (person, account, identities, source)
CREATE TABLE public.obs (obs_id bigserial, k int, app text, account text, ids jsonb, source text);
INSERT INTO public.obs (k, app, account, ids, source)
SELECT k, 'wechat_mp', 'o' || k,
       jsonb_build_array() || CASE WHEN has_union THEN jsonb_build_array(jsonb_build_object('u', 'U' || k)) ELSE '[]' END
                           || CASE WHEN has_phone AND mp_phone THEN jsonb_build_array(jsonb_build_object('p', phone)) ELSE '[]' END,
       'wechat_mp'
  FROM public.person_truth WHERE mp;
INSERT INTO public.obs (k, app, account, ids, source)
SELECT k, 'h5', 'h5:' || k,
       jsonb_build_array(jsonb_build_object('type', 'h5_uid', 'value', 'h5-' || k, 'verified', true))
       || CASE WHEN has_phone THEN jsonb_build_array(jsonb_build_object('type', 'phone', 'value', phone, 'verified', true)) ELSE '[]' END,
       'h5'
  FROM public.person_truth WHERE h5;
-- platform orders (1 to 3 per buyer): the receiver's phone, unverified
INSERT INTO public.obs (k, app, account, ids, source)
SELECT t.k, NULL, NULL,
       jsonb_build_array(jsonb_build_object('type', 'taobao_buyer', 'value', 'tb-' || t.k))
       || CASE WHEN r < 0.55 AND t.has_phone THEN jsonb_build_array(jsonb_build_object('type', 'phone', 'value', t.phone))
               WHEN r < 0.70 THEN jsonb_build_array(jsonb_build_object('type', 'phone', 'value', f.phone))          -- a family member's
               WHEN r < 0.80 THEN jsonb_build_array(jsonb_build_object('type', 'phone', 'value', '199' || lpad((t.k * 13)::text, 8, '0')))  -- mistyped
               WHEN r < 0.90 THEN jsonb_build_array(jsonb_build_object('type', 'phone', 'value', '138****' || lpad((t.k % 10000)::text, 4, '0')))
               ELSE jsonb_build_array(jsonb_build_object('type', 'phone', 'value', '13800138000')) END,
       'taobao'
  FROM public.person_truth t JOIN public.person_truth f ON f.k = (t.k % 3000) + 1
  CROSS JOIN LATERAL generate_series(1, 1 + (t.k % 3)) n
  CROSS JOIN LATERAL (SELECT random() + n * 0 AS r) x
 WHERE t.tb;
INSERT INTO public.obs (k, app, account, ids, source)
SELECT k, NULL, NULL,
       jsonb_build_array(jsonb_build_object('type', 'douyin_buyer', 'value', 'dy-' || k),
                         jsonb_build_object('type', 'phone', 'value', '15' || '*****' || lpad((k % 10000)::text, 4, '0'))),
       'douyin'
  FROM public.person_truth WHERE dy;
-- duplicates: a third of the observations arrive twice
INSERT INTO public.obs (k, app, account, ids, source) SELECT k, app, account, ids, source FROM public.obs WHERE obs_id % 3 = 0;
-- feed one tenant in one random order
CREATE FUNCTION public.feed(p_tenant bigint, p_seed float8) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE o record; n bigint := 0; v_ids jsonb;
BEGIN
    PERFORM setseed(p_seed);
    PERFORM commerce.block_identity(p_tenant, 'phone', '13800138000', 'a fake number buyers type');
    FOR o IN SELECT * FROM public.obs ORDER BY random() LOOP
        IF o.app = 'wechat_mp' THEN
            PERFORM commerce.mini_program_login(p_tenant, 'wechat_mp', o.account,
                        (SELECT e ->> 'u' FROM jsonb_array_elements(o.ids) e WHERE e ? 'u'),
                        (SELECT e ->> 'p' FROM jsonb_array_elements(o.ids) e WHERE e ? 'p'));
        ELSIF o.app = 'h5' THEN
            PERFORM commerce.upsert_customer(p_tenant, o.account);
            PERFORM commerce.observe_identities(p_tenant, o.account, o.ids, 'h5');
        ELSE
            PERFORM commerce.observe_identities(p_tenant, NULL, o.ids, o.source);
        END IF;
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
SQL

n=$(q -c "SELECT count(*) FROM public.obs")
start=$(date +%s%N)
q -c "SELECT public.feed(commerce.tenant_id('id1'), 0.11)" >/dev/null
ms=$(( ($(date +%s%N) - start) / 1000000 ))
q -c "SELECT public.feed(commerce.tenant_id('id2'), 0.77)" >/dev/null
echo "identity benchmark: $n observations per order; first order in ${ms} ms: $(( ms * 1000 / n )) us per resolution"

# the truth of each linkable identity, the prediction, and the pair counts
q >/dev/null <<'SQL'
CREATE TABLE public.truth AS
SELECT 'wechat_openid' AS type, 'wechat_mp:o' || k AS value, k FROM public.person_truth WHERE mp
UNION ALL SELECT 'wechat_unionid', 'U' || k, k FROM public.person_truth WHERE mp AND has_union
UNION ALL SELECT 'h5_uid', 'h5-' || k, k FROM public.person_truth WHERE h5
UNION ALL SELECT 'phone', '+86' || phone, k FROM public.person_truth WHERE has_phone
UNION ALL SELECT 'taobao_buyer', 'tb-' || k, k FROM public.person_truth WHERE tb
UNION ALL SELECT 'douyin_buyer', 'dy-' || k, k FROM public.person_truth WHERE dy;
-- the ids the owner verified (logins, SMS) and tied together by one of them: these must end up together
-- (a login's OpenID, UnionID and phone; an H5 uid and its phone; both when they share the phone)
CREATE TABLE public.verified_truth AS
SELECT type, value, k, k || CASE WHEN linked THEN 'x' ELSE side END AS comp FROM (
    SELECT 'wechat_openid' AS type, 'wechat_mp:o' || k AS value, k, 'm' AS side, mp AND h5 AND has_phone AND mp_phone AS linked FROM public.person_truth WHERE mp
    UNION ALL SELECT 'wechat_unionid', 'U' || k, k, 'm', mp AND h5 AND has_phone AND mp_phone FROM public.person_truth WHERE mp AND has_union
    UNION ALL SELECT 'h5_uid', 'h5-' || k, k, 'h', mp AND h5 AND has_phone AND mp_phone FROM public.person_truth WHERE h5
    UNION ALL SELECT 'phone', '+86' || phone, k, CASE WHEN h5 THEN 'h' ELSE 'm' END, mp AND h5 AND has_phone AND mp_phone
      FROM public.person_truth WHERE has_phone AND (h5 OR (mp AND mp_phone))) v;
-- the identities that make a person: accounts and ids, and phones their owner verified (an unverified
-- phone on an order is a contact kept with the person it came with, never evidence that merges)
CREATE VIEW public.pred AS
SELECT i.tenant_id, i.type, i.value, i.person_id, t.k FROM commerce.person_identity i
  JOIN public.truth t ON t.type = i.type AND t.value = i.value WHERE i.person_id IS NOT NULL AND (i.type <> 'phone' OR i.verified);
SQL
for tn in id1 id2; do
    tid=$(q -c "SELECT commerce.tenant_id('$tn')")
    read -r pairs tp <<<"$(q -F ' ' -c "SELECT sum(n * (n - 1) / 2), (SELECT sum(m * (m - 1) / 2) FROM (SELECT count(*) AS m FROM public.pred WHERE tenant_id = $tid GROUP BY person_id, k) y)
                                         FROM (SELECT count(*) AS n FROM public.pred WHERE tenant_id = $tid GROUP BY person_id) x")"
    read -r vpairs vtp <<<"$(q -F ' ' -c "SELECT sum(n * (n - 1) / 2), (SELECT sum(m * (m - 1) / 2) FROM (SELECT count(*) AS m FROM public.verified_truth v JOIN public.pred p ON p.type = v.type AND p.value = v.value AND p.tenant_id = $tid GROUP BY v.comp, p.person_id) y)
                                           FROM (SELECT count(*) AS n FROM public.verified_truth GROUP BY comp) x")"
    precision=$(q -c "SELECT round(100.0 * $tp / greatest($pairs, 1), 3)")
    recall=$(q -c "SELECT round(100.0 * $vtp / greatest($vpairs, 1), 3)")
    echo "identity_precision_$tn: ${precision}% of $pairs merged pairs; identity_recall_verified_$tn: ${recall}% of $vpairs verified pairs"
    check "precision >= 99.9% ($tn)" "$(q -c "SELECT $tp * 1000 >= 999 * $pairs")" "t"
    check "recall on verified ids >= 98% ($tn)" "$(q -c "SELECT $vtp * 100 >= 98 * $vpairs")" "t"
done
# the same partition whatever the order: each identity labelled by the smallest identity of its person
check "the same partition for both orders" "$(q -c "
  WITH lab AS (SELECT i.tenant_id, i.type, i.value,
                      min(i.type || ':' || i.value) OVER (PARTITION BY i.tenant_id, i.person_id) AS label
                 FROM commerce.person_identity i WHERE i.person_id IS NOT NULL AND (i.type <> 'phone' OR i.verified)),
       l1 AS (SELECT * FROM lab WHERE tenant_id = commerce.tenant_id('id1')),
       l2 AS (SELECT * FROM lab WHERE tenant_id = commerce.tenant_id('id2'))
  SELECT count(*) FROM l1 FULL JOIN l2 ON l2.type = l1.type AND l2.value = l1.value
   WHERE l1.label IS DISTINCT FROM l2.label")" "0"
check "suggestions opened (unverified phones) in order one" "$(q -c "SELECT count(*) > 0 FROM commerce.merge_suggestion WHERE tenant_id = commerce.tenant_id('id1')")" "t"
check "the blocklisted phone joins nobody" "$(q -c "SELECT count(*) FROM commerce.person_identity WHERE value = '+8613800138000' AND person_id IS NOT NULL")" "0"
check "invariant violations" "$(q -c "SELECT count(*) FROM commerce.check_identity_invariants()")" "0"
exit $FAILED
