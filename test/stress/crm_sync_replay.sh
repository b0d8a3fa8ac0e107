#!/usr/bin/env bash
# Sync replay (issue 14, CRM16): the same remote records delivered twice, out
# of order and by four sessions at once. 1,000 records, each with a name and
# a tag list in five versions; every version of every field is delivered
# twice, in random order, in deliveries carrying one or both fields. The
# oracle (this script's generator) knows the newest value of each field.
# After the run: one link and one customer per record (no duplicate), every
# name and every tag list the newest, every stored field version the highest,
# nothing sent back to the system the records came from, the other system
# told of each person, and the CRM invariants hold.
. "$(dirname "$0")/lib/common.sh"
fresh_db crm_sync_replay
WORK="$(mktemp -d /tmp/commerce-sync.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
RECORDS=${SYNC_RECORDS:-1000}
export PGOPTIONS="-c commerce.now=2030-06-15T10:00:00+08"
start=$(date +%s)
q >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION commerce;
CALL commerce.provision();
SELECT commerce.create_tenant('sync', 'Sync');
SELECT commerce.upsert_tag_category(commerce.tenant_id('sync'), 'c', 'Custom', 'custom');
SELECT commerce.create_tag(commerce.tenant_id('sync'), 't' || i, 'Tag ' || i, 'c') FROM generate_series(1, 5) i;
SELECT commerce.upsert_sync_system(commerce.tenant_id('sync'), 'wl', 'WeLink',
       '{"person": {"code": "LocalCode", "name": "FullName", "tags": "Tags"}}');
SELECT commerce.upsert_sync_system(commerce.tenant_id('sync'), 'bi', 'BI', '{"person": {"code": "id", "name": "name"}}');
SQL
T="$(q -c "SELECT commerce.tenant_id('sync')")"
perl - "$RECORDS" "$T" "$WORK" <<'PERL'
use strict; use warnings;
my ($n, $t, $dir) = @ARGV;
srand(16);
my (@deliveries, %want);
for my $i (1 .. $n) {
    my $r = "R$i";
    my (@names, @tags);
    for my $v (1 .. 5) {
        push @names, "Name $i v$v " . int(rand(1000));
        my @tl = grep { rand() < 0.4 } map { "t$_" } 1 .. 5;
        push @tags, \@tl;
    }
    $want{$r} = [$names[4], join(',', @{$tags[4]})];
    # every version of every field twice, some deliveries carrying both fields
    for my $copy (1 .. 2) {
        for my $v (1 .. 5) {
            my $name = qq{"FullName": {"value": "$names[$v-1]", "version": $v}};
            my $tagv = join(', ', map { qq{"$_"} } @{$tags[$v-1]});
            my $tag = qq{"Tags": {"value": [$tagv], "version": $v}};
            if (rand() < 0.5) { push @deliveries, [$r, "{$name, $tag}"]; }
            else { push @deliveries, [$r, "{$name}"], [$r, "{$tag}"]; }
        }
    }
}
# shuffle (Fisher-Yates), then deal to four sessions
for (my $i = @deliveries - 1; $i > 0; $i--) { my $j = int(rand($i + 1)); @deliveries[$i, $j] = @deliveries[$j, $i]; }
my @fh;
for my $s (0 .. 3) { open $fh[$s], '>', "$dir/session$s.sql" or die; print {$fh[$s]} "\\set ON_ERROR_STOP 1\nSET client_min_messages = warning;\n"; }
my $k = 0;
for my $d (@deliveries) {
    print {$fh[$k++ % 4]} "SELECT commerce.sync_inbound($t, 'wl', '$d->[0]', '$d->[1]');\n";
}
close $_ for @fh;
open my $w, '>', "$dir/want.tsv" or die;
print $w "$_\t$want{$_}[0]\t$want{$_}[1]\n" for sort keys %want;
printf "  %d deliveries of %d records, dealt to 4 sessions\n", scalar(@deliveries), $n;
PERL
t0=$(date +%s%N)
pids=()
for s in 0 1 2 3; do
    psql -X -q -At -f "$WORK/session$s.sql" > "$WORK/session$s.out" 2> "$WORK/session$s.err" & pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
t1=$(date +%s%N)
check "every session ran every delivery" "$rc$(cat "$WORK"/session*.err | grep -c ERROR || true)" "00"
echo "  $(cat "$WORK"/session*.out | wc -l) deliveries in $(( (t1 - t0) / 1000000 )) ms"
chmod a+rx "$WORK"; chmod a+r "$WORK"/want.tsv
q -c "CREATE TABLE want (external_id text, name text, tags text)"
q -c "\copy want FROM '$WORK/want.tsv'"
check "links: one per record" "$(q -c "SELECT count(*) || ' ' || count(DISTINCT local_id) FROM commerce.sync_link")" "$RECORDS $RECORDS"
check "customers: one per record" "$(q -c "SELECT count(*) FROM commerce.customer")" "$RECORDS"
check "names that are not the newest" "$(q -c "
  SELECT count(*) FROM want w JOIN commerce.sync_link l ON l.external_id = w.external_id
    JOIN commerce.customer c ON c.tenant_id = l.tenant_id AND c.person_id = l.local_id
   WHERE c.name IS DISTINCT FROM w.name")" "0"
check "tag lists that are not the newest" "$(q -c "
  SELECT count(*) FROM want w JOIN commerce.sync_link l ON l.external_id = w.external_id
   WHERE w.tags IS DISTINCT FROM coalesce((SELECT string_agg(t.code, ',' ORDER BY t.code) FROM commerce.person_tag pt
                                             JOIN commerce.tag t USING (tenant_id, tag_id)
                                            WHERE pt.tenant_id = l.tenant_id AND pt.person_id = l.local_id), '')")" "0"
check "stored field versions below 5" "$(q -c "SELECT count(*) FROM commerce.sync_field WHERE version <> 5")" "0"
check "stored fields" "$(q -c "SELECT count(*) FROM commerce.sync_field")" "$((RECORDS * 2))"
check "stale deliveries were ignored, not applied" "$(q -c "SELECT (sum(stale) > 0)::text FROM commerce.sync_log WHERE kind = 'inbound'")" "true"
check "messages sent back to wl" "$(q -c "SELECT count(*) FROM commerce.outbox WHERE topic = 'crm.sync.wl'")" "0"
check "persons bi was told of" "$(q -c "SELECT count(DISTINCT payload ->> 'id') FROM commerce.outbox WHERE topic = 'crm.sync.bi'")" "$RECORDS"
check "bi's latest message of each person = its current name" "$(q -c "
  SELECT count(*) FROM commerce.sync_object so JOIN commerce.sync_system s USING (tenant_id, system_id)
    JOIN commerce.outbox m ON m.tenant_id = so.tenant_id AND m.message_id = so.message_id
    JOIN commerce.customer c ON c.tenant_id = so.tenant_id AND c.person_id = so.object_id
   WHERE s.code = 'bi' AND m.payload -> 'data' ->> 'name' IS DISTINCT FROM c.name")" "0"
check "deadlocks" "$(deadlocks)" "0"
check "CRM invariant violations" "$(q -c "SELECT count(*) FROM commerce.check_crm_invariants()")" "0"
echo "  sync replay: $(( $(date +%s) - start )) s"
exit $FAILED
