#!/usr/bin/env bash
# Fission joins (issue 15, PR12, PR13): 1,000 invitees join one WeCom group
# through the poster codes of 100 inviters, from four sessions at once. Every
# join callback is delivered twice (the copy to another session, so the two
# race), a fifth of the invitees quit and rejoin, a tenth quit for good, and
# one in twenty joins a second time through another inviter's code; then 400
# more join in pairs whose two codes name two inviters in either order (every
# callback locks its inviters in one order, so none deadlocks). The
# oracle (this script's generator) knows each invitee's first inviter and
# whether it is in the group at the end. After the run: one invite row per
# invitee, with that inviter; each inviter's valid and ever counts equal the
# oracle's; no stage rewarded twice, every stage at or below the final count
# rewarded, none above the ever count; one members-module grant and one points
# lot per reward; the group's counts equal its rows; no deadlock; the fission,
# points and identity invariants hold.
. "$(dirname "$0")/lib/common.sh"
fresh_db community_fission_joins
WORK="$(mktemp -d /tmp/commerce-fission.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
INVITERS=${FISSION_INVITERS:-100}
INVITEES=${FISSION_INVITEES:-1000}
export PGOPTIONS="-c commerce.now=2030-06-15T10:00:00+08"
start=$(date +%s)
q >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION commerce;
CALL commerce.provision();
SELECT commerce.create_tenant('fx', 'Fission stress');
SELECT commerce.set_welcome_template(commerce.tenant_id('fx'), 'default', 'Welcome {nickname}');
SELECT commerce.community_ingest(commerce.tenant_id('fx'), '{"type":"change_external_chat","change":"create","at":1907700000,"chat_id":"g1","name":"Big group","owner":"lily"}');
SELECT commerce.create_fission_campaign(commerce.tenant_id('fx'), 'c', 'group_forming', 'Fill the group', 'group',
       '2030-06-01', '2030-07-01',
       '[{"threshold":3,"reward":{"points":10}},{"threshold":6,"reward":{"points":20}},{"threshold":9,"reward":{"points":30}},{"threshold":12,"reward":{"points":40}}]');
SELECT count(commerce.mini_program_login(commerce.tenant_id('fx'), 'wechat_mp', 'o-' || i, 'u-' || i, NULL, 'Inviter ' || i))
  FROM generate_series(1, $INVITERS) i;
CREATE TABLE inviter AS
SELECT i, c.person_id, commerce.fission_code(commerce.tenant_id('fx'), 'c', c.person_id) AS code
  FROM generate_series(1, $INVITERS) i JOIN commerce.customer c ON c.code = 'wechat_mp:o-' || i;
SQL
T="$(q -c "SELECT commerce.tenant_id('fx')")"
q -c "\copy (SELECT i, code FROM inviter ORDER BY i) TO '$WORK/codes.tsv'"
perl - "$INVITEES" "$T" "$WORK" <<'PERL'
use strict; use warnings;
my ($n, $t, $dir) = @ARGV;
srand(15);
my %code;
open my $c, '<', "$dir/codes.tsv" or die;
while (<$c>) { chomp; my ($i, $k) = split /\t/; $code{$i} = $k; }
my @inviters = sort { $a <=> $b } keys %code;
my (@s, %want);
$s[$_] = [] for 0 .. 3;
my $at = 1907701000;
for my $i (1 .. $n) {
    my $m = "wm-$i";
    my $first = $inviters[int(rand(@inviters))];
    my $u = "u-invitee-$i";
    my $home = $i % 4;
    my $join = sub {
        my ($who, $when, $ver) = @_;
        qq{SELECT commerce.community_ingest($t, '{"type":"change_external_chat","change":"update","update_detail":"add_member","at":$when,"chat_id":"g1","cur_mem_ver":"$ver","members":[{"id":"$m","type":"external","unionid":"$u","state":"$code{$who}"}]}');\n};
    };
    my $quit = sub {
        my ($when, $ver) = @_;
        qq{SELECT commerce.community_ingest($t, '{"type":"change_external_chat","change":"update","update_detail":"del_member","at":$when,"chat_id":"g1","cur_mem_ver":"$ver","members":["$m"]}');\n};
    };
    my @mine;
    my $j = $join->($first, $at + $i * 10, "j$i");
    push @mine, $j;
    push @{$s[($home + 1 + int(rand(3))) % 4]}, $j;          # the retry, racing in another session
    my $in = 1;
    my $r = rand();
    if ($r < 0.2) {                                           # quits and rejoins (through the same code or none)
        push @mine, $quit->($at + $i * 10 + 1, "q$i");
        push @mine, $join->($first, $at + $i * 10 + 2, "r$i");
    } elsif ($r < 0.3) {                                      # quits for good
        push @mine, $quit->($at + $i * 10 + 1, "q$i");
        $in = 0;
    }
    if (rand() < 0.05 && $in) {                               # a second inviter's code: already invited
        my $other = $inviters[int(rand(@inviters))];
        push @mine, $quit->($at + $i * 10 + 3, "x$i");
        push @mine, $join->($other, $at + $i * 10 + 4, "y$i");
    }
    push @{$s[$home]}, @mine;
    $want{$i} = [$first, $in];
}
for my $k (0 .. 3) {
    open my $fh, '>', "$dir/session$k.sql" or die;
    print $fh "\\set ON_ERROR_STOP 1\nSET client_min_messages = warning;\n", @{$s[$k]};
    close $fh;
}
open my $w, '>', "$dir/want.tsv" or die;
print $w "wm-$_\t$want{$_}[0]\t$want{$_}[1]\n" for sort { $a <=> $b } keys %want;
my $total = 0; $total += @{$s[$_]} for 0 .. 3;
printf "  %d callbacks for %d invitees of %d inviters, dealt to 4 sessions\n", $total, $n, scalar(@inviters);
PERL
t0=$(date +%s%N)
pids=()
for s in 0 1 2 3; do
    psql -X -q -At -f "$WORK/session$s.sql" > "$WORK/session$s.out" 2> "$WORK/session$s.err" & pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
t1=$(date +%s%N)
n=$(cat "$WORK"/session*.out | wc -l)
check "every session ran every callback" "$rc$(cat "$WORK"/session*.err | grep -c ERROR || true)" "00"
echo "  $n callbacks in $(( (t1 - t0) / 1000000 )) ms ($(( n * 1000000000 / (t1 - t0 + 1) )) callbacks/s)"
# a second wave: 400 new invitees join in pairs, each pair's two codes of two inviters in random order, from
# four sessions at once (every callback locks both inviters: in one order, whatever order its members come in)
perl - "$T" "$WORK" "$INVITEES" <<'PERL'
use strict; use warnings;
my ($t, $dir, $base) = @ARGV;
srand(151);
my %code;
open my $c, '<', "$dir/codes.tsv" or die;
while (<$c>) { chomp; my ($i, $k) = split /\t/; $code{$i} = $k; }
my @inviters = sort { $a <=> $b } keys %code;
my @fh;
for my $s (0 .. 3) { open $fh[$s], '>', "$dir/pairs$s.sql" or die; print {$fh[$s]} "\\set ON_ERROR_STOP 1\nSET client_min_messages = warning;\n"; }
open my $w, '>>', "$dir/want.tsv" or die;
for my $p (1 .. 200) {
    my ($a, $b) = ($inviters[int(rand(@inviters))], $inviters[int(rand(@inviters))]);
    my ($x, $y) = ($base + 2 * $p - 1, $base + 2 * $p);
    my $at = 1907718000 + $p;
    print {$fh[$p % 4]} qq{SELECT commerce.community_ingest($t, '{"type":"change_external_chat","change":"update","update_detail":"add_member","at":$at,"chat_id":"g1","cur_mem_ver":"p$p","members":[{"id":"wm-$x","type":"external","unionid":"u-invitee-$x","state":"$code{$a}"},{"id":"wm-$y","type":"external","unionid":"u-invitee-$y","state":"$code{$b}"}]}');\n};
    print $w "wm-$x\t$a\t1\nwm-$y\t$b\t1\n";
}
close $_ for @fh;
PERL
pids=()
for s in 0 1 2 3; do
    psql -X -q -At -f "$WORK/pairs$s.sql" > "$WORK/pairs$s.out" 2> "$WORK/pairs$s.err" & pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
check "every pair callback ran (no deadlock)" "$rc$(cat "$WORK"/pairs*.err | grep -c ERROR || true)" "00"
INVITEES=$((INVITEES + 400))
chmod a+rx "$WORK"; chmod a+r "$WORK"/want.tsv
q -c "CREATE TABLE want (member text, inviter integer, in_group integer)"
q -c "\copy want FROM '$WORK/want.tsv'"
check "invite rows: one per invitee" "$(q -c "SELECT count(*) || ' ' || count(DISTINCT invitee_id) FROM commerce.fission_invite")" "$INVITEES $INVITEES"
check "invites whose inviter is not the first code's" "$(q -c "
  SELECT count(*) FROM want w
    JOIN commerce.group_member m ON m.member_key = w.member
    JOIN commerce.fission_invite fi ON fi.invitee_id = m.person_id
    JOIN inviter i ON i.person_id = fi.inviter_id
   WHERE i.i <> w.inviter")" "0"
check "inviters whose counts differ from the oracle's" "$(q -c "
  SELECT count(*) FROM inviter i
    JOIN commerce.fission_participant p ON p.person_id = i.person_id
    LEFT JOIN (SELECT inviter, count(*) AS ever, sum(in_group) AS valid FROM want GROUP BY inviter) o ON o.inviter = i.i
   WHERE p.invites <> coalesce(o.valid, 0) OR p.invites_ever <> coalesce(o.ever, 0)")" "0"
check "members in the group = the oracle's" "$(q -c "SELECT count(*) FILTER (WHERE m.active) || ' ' || (SELECT sum(in_group) FROM want)
                                                      FROM commerce.group_member m WHERE m.member_key LIKE 'wm-%'")" "$(q -c "SELECT sum(in_group) || ' ' || sum(in_group) FROM want")"
check "group counts = its rows" "$(q -c "SELECT (g.members = (SELECT count(*) FROM commerce.group_member m WHERE m.group_id = g.group_id AND m.active))::text
                                         FROM commerce.community_group g")" "true"
check "stages rewarded twice" "$(q -c "SELECT count(*) FROM (SELECT person_id, stage_no FROM commerce.fission_reward GROUP BY 1, 2 HAVING count(*) > 1) x")" "0"
check "stages reached at the end but not rewarded" "$(q -c "
  SELECT count(*) FROM commerce.fission_participant p JOIN commerce.fission_stage s ON s.campaign_id = p.campaign_id AND s.threshold <= p.invites
   WHERE NOT EXISTS (SELECT 1 FROM commerce.fission_reward w WHERE w.person_id = p.person_id AND w.stage_no = s.stage_no AND w.status = 'granted')")" "0"
check "rewards above the ever count" "$(q -c "
  SELECT count(*) FROM commerce.fission_reward w JOIN commerce.fission_stage s USING (tenant_id, campaign_id, stage_no)
    JOIN commerce.fission_participant p USING (tenant_id, campaign_id, person_id) WHERE s.threshold > p.invites_ever")" "0"
check "grants and points lots = granted rewards" "$(q -c "SELECT (SELECT count(*) FROM commerce.reward_grant WHERE source_key LIKE 'fission:%') || ' '
                                                              || (SELECT count(*) FROM commerce.points_lot WHERE source = 'grant')")" "$(q -c "SELECT count(*) || ' ' || count(*) FROM commerce.fission_reward WHERE status = 'granted'")"
check "points granted = the stages' points" "$(q -c "SELECT (SELECT coalesce(sum(points), 0) FROM commerce.points_lot WHERE source = 'grant')
                                                      = (SELECT coalesce(sum((s.reward ->> 'points')::integer), 0) FROM commerce.fission_reward w
                                                           JOIN commerce.fission_stage s USING (tenant_id, campaign_id, stage_no) WHERE w.status = 'granted')")" "t"
check "welcomes: one per join" "$(q -c "SELECT (SELECT count(*) FROM commerce.outbox WHERE topic = 'wecom.welcome') = (SELECT count(*) FROM commerce.group_member_event WHERE kind = 'join')")" "t"
check "deadlocks" "$(deadlocks)" "0"
check "fission invariant violations" "$(q -c "SELECT count(*) FROM commerce.check_fission_invariants()")" "0"
check "points invariant violations" "$(q -c "SELECT count(*) FROM commerce.check_points_invariants()")" "0"
check "identity invariant violations" "$(q -c "SELECT count(*) FROM commerce.check_identity_invariants()")" "0"
echo "  fission joins: $(( $(date +%s) - start )) s"
exit $FAILED
