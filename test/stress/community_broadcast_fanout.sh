#!/usr/bin/env bash
# Broadcast fan-out and group joins at scale (issue 15, PR05, PR06): 10,000
# WeCom groups of 50 owners; 10,000 members join them from four sessions,
# each join welcomed once; one broadcast to all 10,000 groups is scheduled
# (the quota checked for each), fanned out (one task per owner), confirmed and
# reported by every owner, and settled. The oracle is the script's own
# arithmetic: 10,000 targets, 50 tasks each naming its owner's 200 groups,
# every target's task naming its group, delivered + failed = the reported
# figures, a second broadcast the same day refused as a whole (nothing
# changed), every welcome once. Prints the join rate, the welcome latency
# p99 and the fan-out rate.
. "$(dirname "$0")/lib/common.sh"
fresh_db community_broadcast_fanout
WORK="$(mktemp -d /tmp/commerce-fanout.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
NGROUPS=${FANOUT_GROUPS:-10000}
OWNERS=50
export PGOPTIONS="-c commerce.now=2030-06-15T10:00:00+08"
start=$(date +%s)
q >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION commerce;
CALL commerce.provision();
SELECT commerce.create_tenant('fo', 'Fan-out');
SELECT commerce.set_welcome_template(commerce.tenant_id('fo'), 'default', 'Welcome {nickname}');
SELECT count(commerce.community_ingest(commerce.tenant_id('fo'), jsonb_build_object('type', 'change_external_chat', 'change', 'create',
         'at', 1907715600, 'chat_id', 'g' || i, 'name', 'Group ' || i, 'owner', 'owner' || (i % $OWNERS))))
  FROM generate_series(1, $NGROUPS) i;
SQL
T="$(q -c "SELECT commerce.tenant_id('fo')")"
# 10,000 joins, one member per group, from four sessions, each timed
for s in 0 1 2 3; do
    {
        echo "\\set ON_ERROR_STOP 1"
        echo "SET client_min_messages = warning;"
        echo "\\timing on"
        for i in $(seq $((s + 1)) 4 "$NGROUPS"); do
            echo "SELECT commerce.community_ingest($T, '{\"type\":\"change_external_chat\",\"change\":\"update\",\"update_detail\":\"add_member\",\"at\":1907716000,\"chat_id\":\"g$i\",\"members\":[{\"id\":\"wm$i\",\"type\":\"external\",\"name\":\"Fan $i\"}]}') IS NOT NULL;"
        done
    } > "$WORK/joins$s.sql"
done
t0=$(date +%s%N)
pids=()
for s in 0 1 2 3; do psql -X -q -At -f "$WORK/joins$s.sql" > "$WORK/joins$s.out" 2> "$WORK/joins$s.err" & pids+=($!); done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
t1=$(date +%s%N)
check "every join callback ran" "$rc$(cat "$WORK"/joins*.err | grep -c ERROR || true)" "00"
P99=$(cat "$WORK"/joins*.out | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | sort -n | awk '{ a[NR] = $1 } END { printf "%.1f", a[int(NR * 0.99) + 1] }')
echo "  $NGROUPS joins in $(( (t1 - t0) / 1000000 )) ms ($(( NGROUPS * 1000000000 / (t1 - t0 + 1) )) joins/s), callback-to-claimable p99 $P99 ms"
check "welcomes: one per join" "$(q -c "SELECT count(*) || ' ' || count(DISTINCT dedupe_key) FROM commerce.outbox WHERE topic = 'wecom.welcome'")" "$NGROUPS $NGROUPS"
check "members counted" "$(q -c "SELECT sum(members) FROM commerce.community_group")" "$NGROUPS"

# one broadcast to every group
q -c "SELECT string_agg(code, ',' ORDER BY group_id) FROM commerce.community_group" > "$WORK/groups"
GLIST="$(cat "$WORK/groups")"
t0=$(date +%s%N)
q -c "SELECT commerce.schedule_broadcast($T, 'all', 'To everyone', '{\"msgtype\":\"text\",\"text\":\"Summer sale tonight\"}', '{$GLIST}', NULL) ->> 'admitted'" > "$WORK/admitted"
t1=$(date +%s%N)
check "targets admitted" "$(cat "$WORK/admitted")" "$NGROUPS"
echo "  scheduled for $NGROUPS groups (quota checked for each) in $(( (t1 - t0) / 1000000 )) ms"
fp="$(q -c "SELECT count(*) || ':' || coalesce(sum(broadcast_id), 0) FROM commerce.broadcast_target")"
check "a second broadcast the same day is refused" "$(q -c "DO \$\$ BEGIN PERFORM commerce.schedule_broadcast($T, 'again', 'Again', '{\"msgtype\":\"text\",\"text\":\"x\"}', '{$GLIST}', NULL);
    EXCEPTION WHEN SQLSTATE 'PT409' THEN RAISE NOTICE 'refused'; END \$\$" 2>&1 | grep -c refused)" "1"
check "and changed nothing" "$(q -c "SELECT count(*) || ':' || coalesce(sum(broadcast_id), 0) FROM commerce.broadcast_target")" "$fp"
t0=$(date +%s%N)
q -c "SELECT commerce.broadcast_release(10)" >/dev/null
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
echo "  fanned out to $NGROUPS groups in $ms ms ($(( NGROUPS * 1000 / (ms + 1) )) targets/s)"
check "one task per owner" "$(q -c "SELECT count(*) || ' ' || count(DISTINCT payload ->> 'owner') FROM commerce.outbox WHERE topic = 'wecom.broadcast'")" "$OWNERS $OWNERS"
check "targets sent" "$(q -c "SELECT count(*) FROM commerce.broadcast_target WHERE status = 'sent'")" "$NGROUPS"
check "targets whose task does not name their group or owner" "$(q -c "
  SELECT count(*) FROM commerce.broadcast_target t JOIN commerce.community_group g USING (tenant_id, group_id)
    JOIN commerce.outbox m ON m.tenant_id = t.tenant_id AND m.message_id = t.message_id
   WHERE NOT (m.payload -> 'chat_ids') ? g.chat_id OR m.payload ->> 'owner' IS DISTINCT FROM g.owner_userid")" "0"
# every owner but one confirms; each reports its groups delivered except every tenth failed
q -c "SELECT count(commerce.broadcast_report($T, 'all', m.payload ->> 'owner', 'task-' || m.message_id, true,
          (SELECT jsonb_agg(jsonb_build_object('chat_id', c, 'status', CASE WHEN substr(c, 2)::integer % 10 = 0 THEN 'failed' ELSE 'delivered' END))
             FROM jsonb_array_elements_text(m.payload -> 'chat_ids') c)))
        FROM commerce.outbox m WHERE m.topic = 'wecom.broadcast' AND m.payload ->> 'owner' <> 'owner0'" >/dev/null
q -c "SET commerce.now = '2030-06-16 10:30:00+08'; SELECT commerce.broadcast_settle(10)" >/dev/null
per=$(( NGROUPS / OWNERS ))
want_failed=$(q -c "SELECT count(*) FROM generate_series(1, $NGROUPS) i WHERE i % $OWNERS <> 0 AND i % 10 = 0")
check "unconfirmed = owner0's groups" "$(q -c "SELECT commerce.broadcast_stats($T, 'all') ->> 'unconfirmed'")" "$per"
check "failed = the reported failures" "$(q -c "SELECT commerce.broadcast_stats($T, 'all') ->> 'failed'")" "$want_failed"
check "delivered + failed + unconfirmed = targets" "$(q -c "SELECT (s ->> 'delivered')::int + (s ->> 'failed')::int + (s ->> 'unconfirmed')::int FROM commerce.broadcast_stats($T, 'all') s")" "$NGROUPS"
check "delivery rate (bp) = delivered / confirmed" "$(q -c "SELECT s ->> 'delivery_rate_bp' = ((s ->> 'delivered')::int * 10000 / (s ->> 'confirmed')::int)::text FROM commerce.broadcast_stats($T, 'all') s")" "t"
check "the broadcast is done" "$(q -c "SELECT status FROM commerce.broadcast WHERE code = 'all'")" "done"
check "deadlocks" "$(deadlocks)" "0"
echo "  broadcast fan-out: $(( $(date +%s) - start )) s"
exit $FAILED
