#!/usr/bin/env bash
# make bench, community (issue 15), in the run's database copies (bench.sh
# passes TENANT, CLIENTS, SECONDS_PER, JOBS and the fresh() copy):
#   welcome   CLIENTS WeCom adapters each deliver contact-add callbacks of new
#             customers (commerce.community_ingest: the event log, the identity
#             graph, the contact, the welcome queued on wecom.welcome). The
#             welcome is claimable when the callback's transaction commits, so
#             the callback-to-claimable latency is the call's latency: its p50
#             and p99 from pgbench's per-transaction log.
#   fission   new members join groups through a participant's poster code
#             (commerce.community_ingest add_member with the code as state): all
#             CLIENTS on ONE inviter (its progress row is the hot row) vs each
#             client on its own inviter; each client joins its own group, so the
#             inviter is the only shared row. fission_one_vs_many is their ratio.
#   broadcast one broadcast to 5,000 groups of 50 owners: scheduling (the quota
#             of each group checked) and the fan-out (one task per owner, every
#             target marked sent), targets per second.
# Prints those lines on stdout; the fission invariants after the runs.
set -euo pipefail
cd "$(dirname "$0")"
: "${TENANT:?}" "${CLIENTS:?}" "${SECONDS_PER:?}" "${JOBS:?}"
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
tps() { sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$1"; }
out="$(mktemp -d /tmp/commerce-community-bench.XXXXXX)"
trap 'rm -rf "$out"' EXIT

# welcome: contact adds of new customers, one welcome each
fresh
q -c "SELECT commerce.set_welcome_template($TENANT, 'default', 'Hi {nickname}, welcome: {link}', 'https://m.example.com/new')" >/dev/null
cat > "$out/welcome.sql" <<'SQL'
\set m random(1, 2000000000)
SELECT commerce.community_ingest(:tenant, jsonb_build_object('type', 'change_external_contact', 'change', 'add_external_contact',
         'at', extract(epoch FROM now())::bigint, 'user_id', 'staff' || :client_id, 'external_user_id', 'wm-' || :client_id || '-' || :m,
         'welcome_code', 'wc-' || :client_id || '-' || :m, 'name', 'Fan ' || :m));
SQL
(cd "$out" && pgbench -n -c "$CLIENTS" -j "$JOBS" -T "$SECONDS_PER" -M prepared -D tenant="$TENANT" -l --log-prefix=welcome \
    -f welcome.sql > "$out/welcome.out" 2>&1) || { cat "$out/welcome.out" >&2; exit 1; }
WELCOME_TPS=$(tps "$out/welcome.out")
# pgbench's log: client, transaction, latency in microseconds, ...
read -r P50 P99 < <(cat "$out"/welcome.* 2>/dev/null | awk '$3 ~ /^[0-9]+$/ { print $3 }' | sort -n |
    awk '{ a[NR] = $1 } END { printf "%.1f %.1f\n", a[int(NR * 0.50) + 1] / 1000, a[int(NR * 0.99) + 1] / 1000 }')
WELCOMES=$(q -c "SELECT count(*) FROM commerce.outbox WHERE topic = 'wecom.welcome'")
CONTACTS=$(q -c "SELECT count(*) FROM commerce.wecom_contact")
printf 'welcome_callbacks_per_s: %.0f\n' "$WELCOME_TPS"
echo "welcome_claimable_p50_ms: $P50"
echo "welcome_claimable_p99_ms: $P99"
echo "welcomes_queued: $WELCOMES for $CONTACTS contacts"

# fission: joins through one inviter's code vs each client's own inviter
setup_fission() {
    fresh
    q >/dev/null <<SQL
SELECT commerce.create_fission_campaign($TENANT, 'bench', 'group_forming', 'Bench', 'group', now() - interval '1 day', now() + interval '30 days',
       '[{"threshold":10,"reward":{"points":10}},{"threshold":100,"reward":{"points":100}},{"threshold":1000,"reward":{"points":1000}}]',
       p_new_only => false);
SELECT count(commerce.upsert_customer($TENANT, 'inviter' || i, 'Inviter ' || i)) FROM generate_series(1, $CLIENTS) i;
SELECT count(commerce.community_ingest($TENANT, jsonb_build_object('type', 'change_external_chat', 'change', 'create',
         'at', extract(epoch FROM now())::bigint - 60, 'chat_id', 'g' || i, 'name', 'Group ' || i, 'owner', 'staff')))
  FROM generate_series(1, $CLIENTS) i;
CREATE TABLE public.fission_code_of AS
SELECT i AS client, commerce.fission_code($TENANT, 'bench', c.person_id) AS code
  FROM generate_series(1, $CLIENTS) i JOIN commerce.customer c ON c.tenant_id = $TENANT AND c.code = 'inviter' || i;
SQL
}
cat > "$out/fission.sql" <<'SQL'
\set m random(1, 2000000000)
SELECT commerce.community_ingest(:tenant, jsonb_build_object('type', 'change_external_chat', 'change', 'update', 'update_detail', 'add_member',
         'at', extract(epoch FROM now())::bigint, 'chat_id', 'g' || :client_id + 1, 'cur_mem_ver', (:m)::text,
         'members', jsonb_build_array(jsonb_build_object('id', 'wm-' || :client_id || '-' || :m, 'type', 'external',
                                                         'state', (SELECT code FROM public.fission_code_of WHERE client = :inviter)))));
SQL
sed 's/:inviter/:client_id + 1/' "$out/fission.sql" > "$out/fission_many.sql"
sed 's/:inviter/1/' "$out/fission.sql" > "$out/fission_one.sql"
setup_fission
pgbench -n -c "$CLIENTS" -j "$JOBS" -T "$SECONDS_PER" -M prepared -D tenant="$TENANT" -f "$out/fission_one.sql" > "$out/one.out" 2>&1 || { cat "$out/one.out" >&2; exit 1; }
ONE=$(tps "$out/one.out")
INV1=$(q -c "SELECT count(*) FROM commerce.check_fission_invariants()")
setup_fission
pgbench -n -c "$CLIENTS" -j "$JOBS" -T "$SECONDS_PER" -M prepared -D tenant="$TENANT" -f "$out/fission_many.sql" > "$out/many.out" 2>&1 || { cat "$out/many.out" >&2; exit 1; }
MANY=$(tps "$out/many.out")
INV2=$(q -c "SELECT count(*) FROM commerce.check_fission_invariants()")
printf 'fission_join_one_inviter_per_s: %.0f\n' "$ONE"
printf 'fission_join_many_inviters_per_s: %.0f\n' "$MANY"
awk -v a="$ONE" -v b="$MANY" 'BEGIN { printf "fission_one_vs_many: %.2f\n", a / b }'
echo "fission_invariant_violations: $((INV1 + INV2))"

# broadcast: schedule and fan out one broadcast to 5,000 groups
fresh
q -c "SELECT count(commerce.community_ingest($TENANT, jsonb_build_object('type', 'change_external_chat', 'change', 'create',
        'at', extract(epoch FROM now())::bigint - 60, 'chat_id', 'bg' || i, 'name', 'Group ' || i, 'owner', 'owner' || (i % 50))))
        FROM generate_series(1, 5000) i" >/dev/null
t0=$(date +%s%N)
q -c "SELECT commerce.schedule_broadcast($TENANT, 'bench', 'Bench', '{\"msgtype\":\"text\",\"text\":\"Hello\"}',
        (SELECT array_agg(code) FROM commerce.community_group WHERE tenant_id = $TENANT), NULL)" >/dev/null
t1=$(date +%s%N)
q -c "SELECT commerce.broadcast_release(10)" >/dev/null
t2=$(date +%s%N)
SENT=$(q -c "SELECT count(*) FROM commerce.broadcast_target WHERE status = 'sent'")
awk -v n="$SENT" -v ns="$((t1 - t0))" 'BEGIN { printf "broadcast_schedule_targets_per_s: %.0f\n", n / (ns / 1e9) }'
awk -v n="$SENT" -v ns="$((t2 - t1))" 'BEGIN { printf "broadcast_fanout_targets_per_s: %.0f\n", n / (ns / 1e9) }'
echo "broadcast_tasks: $(q -c "SELECT count(*) FROM commerce.outbox WHERE topic = 'wecom.broadcast'") for $SENT targets"
