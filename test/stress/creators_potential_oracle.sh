#!/usr/bin/env bash
# KOC potential oracle (issue 16, K01): a year of member behaviour generated
# by lib/potential_oracle.pl with a hidden promoter trait and a known
# probability of bringing a paying customer over the horizon is loaded into
# the tables the features come from (accounts, paid days, shares and their
# clicks, group joins and check-ins, fission invites); the model is fitted in
# the database on a strict time split. Checked against the generator: every
# member's figures before the cut and its outcome (0 differences). Printed
# beside their baselines: the model's AUC against the oracle AUC (the true
# probability's, on the same holdout members), precision and lift of the top
# 5% against random (lift 1) and against the obvious rule (rank by customers
# already brought, then shares), and the PRD's "accuracy" beside the accuracy
# of always answering no. Then the month's list: ranked, its control part
# about holdout_bp, once a month, the CRM model tag on exactly the listed.
. "$(dirname "$0")/lib/common.sh"
fresh_db creators_potential_oracle
WORK="$(mktemp -d /tmp/commerce-potential.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
ORACLE="$(cd "$(dirname "$0")" && pwd)/lib/potential_oracle.pl"
PEOPLE=${POTENTIAL_PEOPLE:-20000}
DAYS=365
HORIZON=90
export PGOPTIONS="-c commerce.now=2030-06-15T10:00:00+08 -c TimeZone=UTC"
start=$(date +%s)
perl "$ORACLE" 16 "$PEOPLE" "$DAYS" "$HORIZON" "$WORK"
chmod a+rx "$WORK"; chmod a+r "$WORK"/*.tsv

q >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION commerce CASCADE;
CALL commerce.provision();
SELECT commerce.create_tenant('pot', 'Potential');
CREATE TABLE gen_people (code text, created integer, theta float8, p float8, y integer, newcomer integer);
CREATE TABLE gen_orders (code text, day integer);
CREATE TABLE gen_shares (share_no integer, code text, day integer, kind text);
CREATE TABLE gen_clicks (share_no integer, visitor text, day integer);
CREATE TABLE gen_members (code text, group_no integer, day integer);
CREATE TABLE gen_checkins (code text, day integer);
CREATE TABLE gen_invites (inviter text, invitee text, day integer);
CREATE TABLE gen_expect (code text, order_days bigint, orders bigint, shares bigint, clicks bigint, customers_brought bigint,
                         checkins bigint, groups_joined bigint, content bigint, y integer);
\copy gen_people FROM '$WORK/people.tsv'
\copy gen_orders FROM '$WORK/orders.tsv'
\copy gen_shares FROM '$WORK/shares.tsv'
\copy gen_clicks FROM '$WORK/clicks.tsv'
\copy gen_members FROM '$WORK/members.tsv'
\copy gen_checkins FROM '$WORK/checkins.tsv'
\copy gen_invites FROM '$WORK/invites.tsv'
\copy gen_expect FROM '$WORK/expect.tsv'
CREATE FUNCTION gen_at(d integer) RETURNS timestamptz LANGUAGE sql IMMUTABLE AS
  \$\$ SELECT ((date '2029-06-15' + d) + time '12:00') AT TIME ZONE 'Asia/Shanghai' \$\$;
INSERT INTO commerce.customer (tenant_id, code, created_at)
SELECT commerce.tenant_id('pot'), p.code, gen_at(p.created) - interval '3 hours' FROM gen_people p ORDER BY p.code;
CREATE TABLE gen_map AS SELECT c.code, c.customer_id, c.person_id FROM commerce.customer c WHERE c.tenant_id = commerce.tenant_id('pot');
CREATE UNIQUE INDEX ON gen_map (code);
INSERT INTO commerce.crm_day (tenant_id, person_id, day, orders, spent_fen)
SELECT commerce.tenant_id('pot'), m.person_id, date '2029-06-15' + o.day, 1, 9900 FROM gen_orders o JOIN gen_map m USING (code);
INSERT INTO commerce.share (tenant_id, share_id, request_id, person_id, customer_id, kind, ref, platform, clicks, first_click_at,
                            last_click_at, shared_at)
SELECT commerce.tenant_id('pot'), s.share_no, 'gen-' || s.share_no, m.person_id, m.customer_id, s.kind, 'P1', 'wechat',
       count(c.visitor), min(gen_at(c.day)), max(gen_at(c.day)), gen_at(s.day) - interval '1 hour'
  FROM gen_shares s JOIN gen_map m USING (code) LEFT JOIN gen_clicks c ON c.share_no = s.share_no
 GROUP BY s.share_no, s.kind, s.day, m.person_id, m.customer_id;
INSERT INTO commerce.share_click (tenant_id, share_id, visitor_id, clicked_at)
SELECT commerce.tenant_id('pot'), c.share_no, c.visitor, gen_at(c.day) FROM gen_clicks c;
INSERT INTO commerce.community_group (tenant_id, group_id, platform, chat_id, code, name, created_at)
SELECT commerce.tenant_id('pot'), g, 'other', 'chat-' || g, 'g' || g, 'Group ' || g, gen_at(0) - interval '1 day' FROM generate_series(1, 20) g;
INSERT INTO commerce.group_member (tenant_id, group_id, member_key, member_type, person_id, active, joins, first_joined_at, joined_at, changed_at)
SELECT commerce.tenant_id('pot'), g.group_no, g.code, 'external', m.person_id, true, 1, gen_at(g.day), gen_at(g.day), gen_at(g.day)
  FROM gen_members g JOIN gen_map m USING (code);
INSERT INTO commerce.group_member_event (tenant_id, group_id, member_key, kind, person_id, at, event_key)
SELECT commerce.tenant_id('pot'), g.group_no, g.code, 'join', m.person_id, gen_at(g.day), 'gen:' || g.code || ':' || g.group_no
  FROM gen_members g JOIN gen_map m USING (code);
INSERT INTO commerce.group_checkin_round (tenant_id, round_id, group_id, title, starts_on, ends_on, points, streak_days, streak_bonus,
                                          started_by, created_at)
VALUES (commerce.tenant_id('pot'), 1, 1, 'Daily', '2029-06-15', '2030-06-14', 0, 7, 0, 'gen', gen_at(0) - interval '1 day');
INSERT INTO commerce.group_checkin (tenant_id, round_id, group_id, person_id, day, streak, points, via, at)
SELECT commerce.tenant_id('pot'), 1, 1, m.person_id, date '2029-06-15' + k.day, 1, 0, 'mini_program', gen_at(k.day)
  FROM gen_checkins k JOIN gen_map m USING (code);
INSERT INTO commerce.fission_campaign (tenant_id, campaign_id, code, kind, title, counts, new_only, hold_hours, max_depth, starts_at,
                                       ends_at, created_by, created_at)
VALUES (commerce.tenant_id('pot'), 1, 'gen', 'invite_reward', 'Invite', 'register', false, 0, 1, '2029-01-01', '2031-01-01', 'gen', '2029-01-01');
INSERT INTO commerce.fission_participant (tenant_id, campaign_id, person_id, depth, joined_at)
SELECT DISTINCT commerce.tenant_id('pot'), 1, m.person_id, 0, timestamptz '2029-01-01' FROM gen_invites i JOIN gen_map m ON m.code = i.inviter;
INSERT INTO commerce.fission_invite (tenant_id, campaign_id, invitee_id, inviter_id, depth, channel, source_ref, status, invited_at)
SELECT commerce.tenant_id('pot'), 1, e.person_id, r.person_id, 1, 'link', 'gen', 'valid', gen_at(i.day) - interval '2 hours'
  FROM gen_invites i JOIN gen_map r ON r.code = i.inviter JOIN gen_map e ON e.code = i.invitee;
ANALYZE;
SQL
echo "  generated $PEOPLE members and $(q -c "SELECT count(*) FROM gen_people WHERE newcomer = 1") newcomers: $(q -c "SELECT count(*) FROM gen_orders") paid days, $(q -c "SELECT count(*) FROM gen_shares") shares, $(q -c "SELECT count(*) FROM gen_clicks") clicks, $(q -c "SELECT count(*) FROM gen_invites") invites (cut at day $((DAYS - HORIZON)))"

# the figures and outcomes the database reads = the generator's
check "members' figures before the cut differing from the generator's" "$(q -c "
  SELECT count(*) FROM gen_expect e JOIN gen_map m USING (code)
  FULL JOIN commerce._potential_features(commerce.tenant_id('pot'), date '2030-06-15' - $HORIZON) f ON f.person_id = m.person_id
   WHERE e.code IS NULL OR f.person_id IS NULL
      OR f.figures IS DISTINCT FROM jsonb_build_object('order_days', e.order_days, 'orders', e.orders, 'shares', e.shares,
                                       'clicks', e.clicks, 'customers_brought', e.customers_brought, 'checkins', e.checkins,
                                       'groups_joined', e.groups_joined, 'content', e.content)")" "0"
check "outcomes over the horizon differing from the generator's" "$(q -c "
  SELECT count(*) FROM gen_expect e JOIN gen_map m USING (code)
  LEFT JOIN commerce._potential_brought(commerce.tenant_id('pot'), date '2030-06-15' - $HORIZON, '2030-06-15') b ON b.person_id = m.person_id
   WHERE (coalesce(b.customers, 0) > 0) <> (e.y = 1)")" "0"

t0=$(date +%s%N)
model="$(q -c "SELECT commerce.train_potential(commerce.tenant_id('pot'), 'stress')")"
t1=$(date +%s%N)
m() { q -c "SELECT metrics ->> '$1' FROM commerce.potential_model WHERE model_id = $model"; }
echo "  fitted in $(( (t1 - t0) / 1000000 )) ms on $(m train_persons) members ($(m train_positives) positives), judged on $(m n): steps $(q -c "SELECT params[4] FROM commerce.potential_model WHERE model_id = $model")"
# the oracle on the same holdout members: the true probability
oracle="$(q -c "
  SELECT commerce._binary_metrics(array_agg(p.p ORDER BY m.person_id), array_agg(p.y = 1 ORDER BY m.person_id)) ->> 'auc'
    FROM gen_people p JOIN gen_map m USING (code) WHERE p.newcomer = 0 AND NOT commerce._potential_train($model, m.person_id)")"
# the obvious rule on the same members: customers already brought, then shares
rule="$(q -c "
  WITH s AS (SELECT f.person_id, (f.figures ->> 'customers_brought')::float8 + (f.figures ->> 'shares')::float8 / 1000 AS score, e.y = 1 AS y
               FROM commerce._potential_features(commerce.tenant_id('pot'), date '2030-06-15' - $HORIZON) f
               JOIN gen_map g ON g.person_id = f.person_id JOIN gen_expect e ON e.code = g.code
              WHERE NOT commerce._potential_train($model, f.person_id)),
  r AS (SELECT s.*, row_number() OVER (ORDER BY s.score DESC, s.person_id) AS rn, count(*) OVER () AS n FROM s)
  SELECT (commerce._binary_metrics(array_agg(r.score / (1 + (SELECT max(score) FROM s))), array_agg(r.y)) ->> 'auc') || ' '
         || round((count(*) FILTER (WHERE r.y AND r.rn <= ceil(r.n * 0.05))::numeric / max(ceil(r.n * 0.05)))
                  / (count(*) FILTER (WHERE r.y)::numeric / count(*)), 4)
    FROM r")"
read -r rule_auc rule_lift <<< "$rule"
echo "  base rate $(m base_rate): oracle AUC $oracle; model AUC $(m auc); rule AUC $rule_auc; random 0.5"
echo "  top 5%: precision $(m top_5pct_precision), lift $(m top_5pct_lift) (rule $rule_lift, random 1.0); top-decile lift $(m top_decile_lift)"
echo "  accuracy at 0.5: $(m accuracy) (always no: $(m accuracy_of_base_rate)); calibration error $(m calibration_error)"
ratio="$(awk -v a="$(m auc)" -v o="$oracle" 'BEGIN { printf "%.4f", a / o }')"
echo "  potential_auc_vs_oracle: $ratio"
echo "  potential_top5_lift: $(m top_5pct_lift)"
check "the model's AUC >= 90% of the oracle AUC" "$(awk -v r="$ratio" 'BEGIN { print (r >= 0.90) ? "yes" : "no (" r ")" }')" "yes"
check "the model beats the obvious rule (AUC)" "$(awk -v a="$(m auc)" -v b="$rule_auc" 'BEGIN { print (a > b) ? "yes" : "no (" a " <= " b ")" }')" "yes"
check "the top 5% lift over random >= 3" "$(awk -v l="$(m top_5pct_lift)" 'BEGIN { print (l >= 3) ? "yes" : "no (" l ")" }')" "yes"
check "holdout members: 30% of the members +- 2%" "$(awk -v n="$(m n)" -v p="$PEOPLE" 'BEGIN { r = n / p; print (r > 0.28 && r < 0.32) ? "yes" : "no (" r ")" }')" "yes"

# the month's list
run="$(q -c "SELECT commerce.publish_candidates(commerce.tenant_id('pot'), 'stress', $model)")"
total="$(q -c "SELECT count(*) FROM gen_people")"
check "the list: 5% of the scored members, ranked by score" "$(q -c "
  SELECT r.persons || ' ' || r.listed || ' ' || bool_and(c.score_bp <= coalesce(p.score_bp, 10000))
    FROM commerce.potential_run r JOIN commerce.potential_candidate c ON c.tenant_id = r.tenant_id AND c.run_id = r.run_id
    LEFT JOIN commerce.potential_candidate p ON p.tenant_id = c.tenant_id AND p.run_id = c.run_id AND p.rank = c.rank - 1
   WHERE r.run_id = $run GROUP BY r.persons, r.listed")" "$total $(( (total * 500 + 9999) / 10000 )) true"
check "the control part: 1000 bp of the list +- 3 points" "$(q -c "
  SELECT abs(r.control::numeric / r.listed - 0.1) < 0.03 FROM commerce.potential_run r WHERE r.run_id = $run")" "t"
check "the koc_potential tag = the listed members" "$(q -c "
  SELECT count(*) FROM ((SELECT c.person_id FROM commerce.potential_candidate c WHERE c.run_id = $run
                         EXCEPT SELECT pt.person_id FROM commerce.person_tag pt JOIN commerce.tag t USING (tenant_id, tag_id) WHERE t.code = 'koc_potential')
                        UNION ALL
                        (SELECT pt.person_id FROM commerce.person_tag pt JOIN commerce.tag t USING (tenant_id, tag_id) WHERE t.code = 'koc_potential'
                         EXCEPT SELECT c.person_id FROM commerce.potential_candidate c WHERE c.run_id = $run)) x")" "0"
check "the hourly job: nothing more this month" "$(q -c "CALL commerce.potential_pump()" >/dev/null; q -c "SELECT count(*) FROM commerce.potential_run")" "1"
check "creator invariant violations" "$(q -c "SELECT count(*) FROM commerce.check_creators_invariants()")" "0"
echo "  potential oracle: $(( $(date +%s) - start )) s"
exit $FAILED
