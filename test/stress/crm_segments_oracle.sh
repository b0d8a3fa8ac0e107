#!/usr/bin/env bash
# Segment oracle (issue 14): 50 random condition trees over 10,000 random people,
# evaluated by an independent program (lib/segment_oracle.pl, which reads
# only the raw rows and computes every figure itself), must equal the stored
# membership: after the full build; after random changes (orders paid and
# refunded, tags set and cleared, groups joined and left, interactions, KOC
# levels, points, manual includes and excludes) applied by the CRM pump
# alone; and a full rebuild after the pump must change nothing (the
# incremental evaluation was already exact). The CRM invariants hold.
. "$(dirname "$0")/lib/common.sh"
fresh_db crm_segments_oracle
WORK="$(mktemp -d /tmp/commerce-segments.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
ORACLE="$(cd "$(dirname "$0")" && pwd)/lib/segment_oracle.pl"
PEOPLE=${ORACLE_PEOPLE:-10000}
TREES=${ORACLE_TREES:-50}
export PGOPTIONS="-c commerce.now=2030-06-15T12:00:00+08 -c TimeZone=UTC"
start=$(date +%s)

q >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION commerce;
CALL commerce.provision();
SELECT commerce.create_tenant('seg', 'Segments');
SELECT commerce.set_growth_levels(commerce.tenant_id('seg'),
    '[{"level":1,"name":"Silver","min_growth":100},{"level":2,"name":"Gold","min_growth":500},{"level":3,"name":"Platinum","min_growth":2000}]');
SELECT commerce.ensure_koc_levels(commerce.tenant_id('seg'));
SELECT commerce.upsert_tag_category(commerce.tenant_id('seg'), 'gen', 'Generated', 'custom');
SELECT commerce.create_tag(commerce.tenant_id('seg'), 't' || i, 'Tag ' || i, 'gen') FROM generate_series(1, 4) i;
SELECT setseed(0.14);
INSERT INTO commerce.customer (tenant_id, code, created_at, birthday)
SELECT commerce.tenant_id('seg'), 'c' || i, commerce.now() - random() * interval '400 days',
       CASE WHEN random() < 0.7 THEN date '1970-01-01' + (random() * 15000)::integer END
  FROM generate_series(1, $PEOPLE) i;
-- 0 to 6 paid orders each in the last 120 days, on two channels
INSERT INTO commerce.orders (tenant_id, channel_id, external_order_id, customer_id, goods_fen, payable_fen, paid_fen, status, paid_at)
SELECT c.tenant_id, ch.channel_id, 'o' || c.customer_id || '-' || k, c.customer_id, a.fen, a.fen, a.fen, 'paid', a.at
  FROM commerce.customer c
  CROSS JOIN LATERAL generate_series(1, (random() * 6)::integer) k
  CROSS JOIN LATERAL (SELECT 1000 + (random() * 80000)::bigint AS fen, commerce.now() - random() * interval '120 days' AS at,
                             CASE WHEN random() < 0.7 THEN 'wechat_mp' ELSE 'h5' END AS chan WHERE k > 0) a
  JOIN commerce.channel ch ON ch.tenant_id = c.tenant_id AND ch.code = a.chan
 WHERE c.tenant_id = commerce.tenant_id('seg');
UPDATE commerce.orders SET refunded_fen = (paid_fen * random())::bigint WHERE random() < 0.15;
INSERT INTO commerce.person_tag (tenant_id, tag_id, person_id, tagged_by, tagged_at)
SELECT c.tenant_id, t.tag_id, c.person_id, 'gen', commerce.now() FROM commerce.customer c, commerce.tag t WHERE random() < 0.2;
SELECT commerce.record_crm_event(c.tenant_id, c.code, 'joined_group', 'j-' || c.code || '-' || g, g, NULL, 'gen',
                                 commerce.now() - random() * interval '60 days')
  FROM commerce.customer c, unnest(ARRAY['g1', 'g2', 'g3']) g WHERE random() < 0.1;
INSERT INTO commerce.crm_event (tenant_id, person_id, kind, ref, source, request_id, at)
SELECT c.tenant_id, c.person_id, CASE WHEN random() < 0.8 THEN 'browse' ELSE 'complaint' END,
       CASE WHEN random() < 0.5 THEN 'TEE' WHEN random() < 0.5 THEN 'CAP' END, 'gen', 'e-' || c.customer_id || '-' || k,
       commerce.now() - random() * interval '35 days'
  FROM commerce.customer c CROSS JOIN LATERAL generate_series(1, (random() * 5)::integer) k;
SELECT commerce.upsert_koc(c.tenant_id, 'K' || c.customer_id, c.code, 'KOC', NULL, (ARRAY['bronze', 'silver', 'gold'])[1 + (random() * 2)::integer])
  FROM commerce.customer c WHERE random() < 0.05;
UPDATE commerce.koc SET status = 'frozen' WHERE random() < 0.2;
SELECT commerce.earn_points(c.tenant_id, 'grant', 'g-' || c.code, c.code, 1 + (random() * 2000)::bigint, 'gen', 0)
  FROM commerce.customer c WHERE random() < 0.1;
SQL
check "people generated" "$(q -c "SELECT count(*) FROM commerce.crm_feature")" "$PEOPLE"

perl "$ORACLE" gen 14 "$TREES" | awk '{ printf "s%03d\t%s\n", NR, $0 }' > "$WORK/trees.txt"
t0=$(date +%s%N)
while IFS=$'\t' read -r code tree; do
    q -c "SELECT commerce.define_segment(commerce.tenant_id('seg'), '$code', '$code', \$\$${tree}\$\$::jsonb)" >/dev/null
done < "$WORK/trees.txt"
t1=$(date +%s%N)
echo "  $TREES segments built over $PEOPLE people in $(( (t1 - t0) / 1000000 )) ms"

dump() {
    q -c "COPY (SELECT commerce._tenant_day(commerce.tenant_id('seg'), commerce.now()) - date '2000-01-01', extract(epoch FROM commerce.now())::bigint) TO STDOUT WITH CSV" > "$WORK/meta.csv"
    q -c "COPY (SELECT person_id, (created_at AT TIME ZONE 'Asia/Shanghai')::date - date '2000-01-01', extract(month FROM birthday)::integer FROM commerce.customer) TO STDOUT WITH CSV" > "$WORK/persons.csv"
    q -c "COPY (SELECT c.person_id, o.order_id, (o.paid_at AT TIME ZONE 'Asia/Shanghai')::date - date '2000-01-01', extract(epoch FROM o.paid_at),
                       o.paid_fen, o.refunded_fen, ch.code
                  FROM commerce.orders o JOIN commerce.customer c USING (tenant_id, customer_id)
                  JOIN commerce.channel ch USING (tenant_id, channel_id) WHERE o.paid_at IS NOT NULL) TO STDOUT WITH CSV" > "$WORK/orders.csv"
    q -c "COPY (SELECT pt.person_id, t.code FROM commerce.person_tag pt JOIN commerce.tag t USING (tenant_id, tag_id)) TO STDOUT WITH CSV" > "$WORK/tags.csv"
    q -c "COPY (SELECT person_id, group_code FROM commerce.person_group) TO STDOUT WITH CSV" > "$WORK/groups.csv"
    q -c "COPY (SELECT person_id, kind, ref, extract(epoch FROM at) FROM commerce.crm_event WHERE kind IN ('browse', 'complaint')) TO STDOUT WITH CSV" > "$WORK/events.csv"
    q -c "COPY (SELECT c.person_id, k.level_code, k.status FROM commerce.koc k JOIN commerce.customer c USING (tenant_id, customer_id)) TO STDOUT WITH CSV" > "$WORK/kocs.csv"
    q -c "COPY (SELECT code, rank FROM commerce.koc_level) TO STDOUT WITH CSV" > "$WORK/koc_levels.csv"
    q -c "COPY (SELECT c.person_id, a.available FROM commerce.points_account a JOIN commerce.customer c USING (tenant_id, customer_id)) TO STDOUT WITH CSV" > "$WORK/points.csv"
    q -c "COPY (SELECT level, min_growth FROM commerce.growth_level) TO STDOUT WITH CSV" > "$WORK/levels.csv"
    q -c "COPY (SELECT g.code, o.person_id, o.mode FROM commerce.segment_override o JOIN commerce.segment g USING (tenant_id, segment_id)) TO STDOUT WITH CSV" > "$WORK/overrides.csv"
    q -c "SELECT g.code || ' ' || m.person_id FROM commerce.segment_member m JOIN commerce.segment g USING (tenant_id, segment_id) WHERE g.kind = 'segment'" | sort > "$WORK/stored.txt"
    perl "$ORACLE" eval "$WORK" > "$WORK/oracle.txt"
}
mismatches() { diff "$WORK/stored.txt" "$WORK/oracle.txt" | grep -c '^[<>]' || true; }

dump
echo "  memberships after the build: $(wc -l < "$WORK/stored.txt") (oracle $(wc -l < "$WORK/oracle.txt"))"
check "segments built, some members in all but few" "$(awk '{print $1}' "$WORK/stored.txt" | sort -u | wc -l | awk -v t="$TREES" '{print ($1 >= t / 2)}')" "1"
check "full build: stored membership = the oracle's" "$(mismatches)" "0"
q -c "SELECT commerce.crm_evaluate(100000)" >/dev/null   # the build's own queue

# random changes, applied by the pump alone
q >/dev/null <<SQL
SET client_min_messages = warning;
SELECT setseed(0.41);
INSERT INTO commerce.orders (tenant_id, channel_id, external_order_id, customer_id, goods_fen, payable_fen, paid_fen, status, paid_at)
SELECT c.tenant_id, ch.channel_id, 'n' || c.customer_id, c.customer_id, 50000, 50000, 50000, 'paid', commerce.now() - interval '1 hour'
  FROM commerce.customer c JOIN commerce.channel ch ON ch.tenant_id = c.tenant_id AND ch.code = 'h5' WHERE random() < 0.1;
UPDATE commerce.orders SET refunded_fen = paid_fen WHERE random() < 0.03;
DELETE FROM commerce.person_tag WHERE random() < 0.1;
INSERT INTO commerce.person_tag (tenant_id, tag_id, person_id, tagged_by, tagged_at)
SELECT c.tenant_id, t.tag_id, c.person_id, 'gen2', commerce.now() FROM commerce.customer c, commerce.tag t WHERE random() < 0.05
ON CONFLICT DO NOTHING;
SELECT commerce.record_crm_event(c.tenant_id, c.code, 'left_group', 'l-' || c.code, 'g1') FROM commerce.customer c
 WHERE random() < 0.3 AND EXISTS (SELECT 1 FROM commerce.person_group g WHERE g.person_id = c.person_id AND g.group_code = 'g1');
INSERT INTO commerce.crm_event (tenant_id, person_id, kind, ref, source, request_id, at)
SELECT c.tenant_id, c.person_id, 'browse', 'TEE', 'gen2', 'e2-' || c.customer_id, commerce.now() - interval '10 minutes'
  FROM commerce.customer c WHERE random() < 0.1;
UPDATE commerce.koc SET level_code = 'gold' WHERE random() < 0.3;
UPDATE commerce.koc SET status = 'active' WHERE status = 'frozen' AND random() < 0.5;
SELECT commerce.spend_points(a.tenant_id, 'sp-' || a.customer_id, c.code, a.available / 2, 'gen')
  FROM commerce.points_account a JOIN commerce.customer c USING (tenant_id, customer_id) WHERE a.available > 1 AND random() < 0.5;
SELECT commerce.override_segment(commerce.tenant_id('seg'), 's' || lpad((1 + (random() * ($TREES - 1))::integer)::text, 3, '0'), c.code,
                                 CASE WHEN random() < 0.5 THEN 'include' ELSE 'exclude' END)
  FROM commerce.customer c WHERE random() < 0.01;
SQL
queued="$(q -c "SELECT count(DISTINCT person_id) FROM commerce.crm_dirty")"
t0=$(date +%s%N)
q -c "CALL commerce.crm_pump(1000)" >/dev/null
t1=$(date +%s%N)
echo "  the pump re-evaluated $queued changed people against $TREES segments in $(( (t1 - t0) / 1000000 )) ms"
check "the pump took every queued change" "$(q -c "SELECT count(*) FROM commerce.crm_dirty")" "0"
dump
check "after the pump: stored membership = the oracle's" "$(mismatches)" "0"
check "a full rebuild after the pump changes nothing" "$(q -c "
  SELECT sum(r.added + r.removed) FROM commerce.segment g, LATERAL commerce.rebuild_segment(g.tenant_id, g.code) r
   WHERE g.kind = 'segment'")" "0"
check "CRM invariant violations" "$(q -c "SELECT count(*) FROM commerce.check_crm_invariants()")" "0"
echo "  segment oracle: $(( $(date +%s) - start )) s"
exit $FAILED
