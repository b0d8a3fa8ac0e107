#!/usr/bin/perl
# test/stress/lib/segment_oracle.pl: the independent program of the segment
# oracle (test/stress/crm_segments_oracle.sh). It shares no code with the
# extension: it reads the raw rows (accounts, paid orders, tags, groups,
# events, KOCs, points) as CSV, computes every person's figures itself and
# evaluates the condition trees by the semantics docs/crm.md gives them.
#
#   segment_oracle.pl gen SEED COUNT   random trees, one JSON per line
#   segment_oracle.pl eval DIR         "code person" for every match, sorted
#
# DIR holds trees.txt (code<TAB>tree), meta.csv (today as a day number, now
# as epoch seconds), persons.csv, orders.csv, tags.csv, groups.csv,
# events.csv, kocs.csv, koc_levels.csv, points.csv, levels.csv, overrides.csv.
use strict;
use warnings;
use JSON::PP;

my $json = JSON::PP->new->canonical(1);

sub pick { return $_[int(rand(@_))]; }

# A random leaf over the fields, windows, tags, groups, events and KOC levels of the generated data.
sub leaf {
    my @cmp = ('=', '!=', '>', '>=', '<', '<=');
    my $k = int(rand(15));
    if ($k == 0) { my $op = pick(@cmp, 'in'); return {field => 'level', op => $op, value => $op eq 'in' ? [pick(0, 1), pick(2, 3)] : int(rand(4))}; }
    if ($k == 1) { return {field => 'growth', op => pick(@cmp), value => int(rand(3000))}; }
    if ($k == 2) { my %n = (field => 'orders', op => pick(@cmp), value => int(rand(5))); $n{days} = pick(7, 30, 60, 90) if rand() < 0.6; return \%n; }
    if ($k == 3) { my %n = (field => 'spent', op => pick(@cmp), value => int(rand(200000))); $n{days} = pick(7, 30, 60, 90) if rand() < 0.6; return \%n; }
    if ($k == 4) { return {field => pick('refunded', 'points'), op => pick(@cmp), value => int(rand(2000)) * pick(1, 10)}; }
    if ($k == 5) { return {field => pick('days_since_order', 'days_since_registered'), op => pick(@cmp), value => int(rand(200))}; }
    if ($k == 6) { my $op = pick(@cmp, 'in'); return {field => 'birthday_month', op => $op, value => $op eq 'in' ? [1 + int(rand(6)), 7 + int(rand(6))] : 1 + int(rand(12))}; }
    if ($k == 7) { my $op = pick('=', '!=', 'in'); return {field => 'source', op => $op, value => $op eq 'in' ? ['h5', 'nowhere'] : pick('wechat_mp', 'h5')}; }
    if ($k == 8) { return {field => pick('koc', 'member'), op => pick('=', '!='), value => rand() < 0.5 ? JSON::PP::true : JSON::PP::false}; }
    if ($k == 9) { return {field => 'koc_level', op => pick(@cmp), value => pick('bronze', 'silver', 'gold', 'diamond')}; }
    if ($k == 10 || $k == 11) { return {tag => pick('t1', 't2', 't3', 't4')}; }
    if ($k == 12) { return {group => pick('g1', 'g2', 'g3')}; }
    my %e = (event => pick('browse', 'complaint'), days => pick(1, 7, 14, 30), op => pick(@cmp), value => int(rand(4)));
    $e{ref} = pick('TEE', 'CAP') if rand() < 0.4;
    return \%e;
}

sub tree {
    my ($depth) = @_;
    my $r = rand();
    return leaf() if $depth >= 3 || $r < 0.35;
    return {not => tree($depth + 1)} if $r < 0.45;
    my @kids = map { tree($depth + 1) } 1 .. (2 + int(rand(3)));
    return {($r < 0.75 ? 'and' : 'or') => \@kids};
}

sub csv {
    my ($file) = @_;
    open(my $fh, '<', $file) or die "$file: $!";
    my @rows;
    while (my $line = <$fh>) {
        chomp $line;
        push @rows, [map { $_ eq '' ? undef : $_ } split(/,/, $line, -1)];
    }
    return @rows;
}

sub cmpop {
    my ($have, $op, $want) = @_;
    return 0 unless defined $have;
    if ($op eq 'in') { return scalar grep { $_ eq $have } @$want; }
    my $num = ($have =~ /^-?\d+$/ && $want =~ /^-?\d+$/);
    my $c = $num ? ($have <=> $want) : ($have cmp $want);
    return $op eq '=' ? $c == 0 : $op eq '!=' ? $c != 0 : $op eq '>' ? $c > 0 : $op eq '>=' ? $c >= 0 : $op eq '<' ? $c < 0 : $c <= 0;
}

if ($ARGV[0] eq 'gen') {
    srand($ARGV[1]);
    print $json->encode(tree(0)), "\n" for 1 .. $ARGV[2];
    exit 0;
}

my $dir = $ARGV[1];
my ($meta) = csv("$dir/meta.csv");
my ($today, $now) = @$meta;
my %p;      # person -> figures
for (csv("$dir/persons.csv")) {
    my ($person, $reg_day, $bmonth) = @$_;
    my $f = $p{$person} //= {orders => [], tags => {}, groups => {}, events => [], points => 0};
    $f->{reg} = $reg_day if !defined $f->{reg} || $reg_day < $f->{reg};
    $f->{bmonth} = $bmonth if defined $bmonth && !defined $f->{bmonth};
}
for (csv("$dir/orders.csv")) {
    my ($person, $order, $day, $at, $paid, $refunded, $channel) = @$_;
    push @{$p{$person}{orders}}, {order => $order, day => $day, at => $at, net => $paid - $refunded, refunded => $refunded, channel => $channel};
}
$p{$_->[0]}{tags}{$_->[1]} = 1 for csv("$dir/tags.csv");
$p{$_->[0]}{groups}{$_->[1]} = 1 for csv("$dir/groups.csv");
push @{$p{$_->[0]}{events}}, {kind => $_->[1], ref => $_->[2], at => $_->[3]} for csv("$dir/events.csv");
my %rank = map { $_->[0] => $_->[1] } csv("$dir/koc_levels.csv");
for (csv("$dir/kocs.csv")) {
    my ($person, $level, $status) = @$_;
    next unless $status eq 'active';
    $p{$person}{koc} = $rank{$level} if !defined $p{$person}{koc} || $rank{$level} > $p{$person}{koc};
}
$p{$_->[0]}{points} += $_->[1] for csv("$dir/points.csv");
my @levels = sort { $a->[1] <=> $b->[1] } csv("$dir/levels.csv");
my %over;
$over{$_->[0]}{$_->[1]} = $_->[2] for csv("$dir/overrides.csv");

# the figures of a person, as the design defines them
for my $f (values %p) {
    my @o = sort { $a->{at} <=> $b->{at} || $a->{order} <=> $b->{order} } @{$f->{orders}};
    $f->{n} = scalar @o;
    my ($spent, $ref) = (0, 0);
    $spent += $_->{net} for @o;
    $ref += $_->{refunded} for @o;
    $f->{spent} = $spent;
    $f->{refunded} = $ref;
    $f->{growth} = int(($spent > 0 ? $spent : 0) / 100);
    $f->{level} = 0;
    for (@levels) { $f->{level} = $_->[0] if $f->{growth} >= $_->[1]; }
    $f->{last_day} = @o ? (sort { $b <=> $a } map { $_->{day} } @o)[0] : undef;
    $f->{source} = @o ? $o[0]{channel} : undef;
}

sub holds {
    my ($n, $f) = @_;
    return (grep { holds($_, $f) } @{$n->{and}}) == @{$n->{and}} if exists $n->{and};
    return (grep { holds($_, $f) } @{$n->{or}}) > 0 if exists $n->{or};
    return !holds($n->{not}, $f) if exists $n->{not};
    return exists $f->{tags}{$n->{tag}} ? 1 : 0 if exists $n->{tag};
    return exists $f->{groups}{$n->{group}} ? 1 : 0 if exists $n->{group};
    if (exists $n->{event}) {
        my $c = grep { $_->{kind} eq $n->{event} && $_->{at} > $now - $n->{days} * 86400
                       && (!exists $n->{ref} || (defined $_->{ref} && $_->{ref} eq $n->{ref})) } @{$f->{events}};
        return cmpop($c, $n->{op}, $n->{value});
    }
    my ($fld, $op, $v) = ($n->{field}, $n->{op}, $n->{value});
    my $have;
    if ($fld eq 'orders' || $fld eq 'spent') {
        my @o = @{$f->{orders}};
        @o = grep { $_->{day} > $today - $n->{days} } @o if exists $n->{days};
        if ($fld eq 'orders') { $have = scalar @o; } else { $have = 0; $have += $_->{net} for @o; }
    }
    elsif ($fld eq 'level') { $have = $f->{level}; }
    elsif ($fld eq 'growth') { $have = $f->{growth}; }
    elsif ($fld eq 'refunded') { $have = $f->{refunded}; }
    elsif ($fld eq 'points') { $have = $f->{points}; }
    elsif ($fld eq 'days_since_order') { $have = defined $f->{last_day} ? $today - $f->{last_day} : undef; }
    elsif ($fld eq 'days_since_registered') { $have = $today - $f->{reg}; }
    elsif ($fld eq 'birthday_month') { $have = $f->{bmonth}; }
    elsif ($fld eq 'source') { $have = $f->{source}; }
    elsif ($fld eq 'koc') { my $is = defined $f->{koc} ? 1 : 0; return ($op eq '=') == ($is == ($v ? 1 : 0)) ? 1 : 0; }
    elsif ($fld eq 'member') { my $is = 0; return ($op eq '=') == ($is == ($v ? 1 : 0)) ? 1 : 0; }
    elsif ($fld eq 'koc_level') { return 0 unless defined $f->{koc} && exists $rank{$v}; return cmpop($f->{koc}, $op, $rank{$v}); }
    else { die "unknown field $fld"; }
    return cmpop($have, $op, $v);
}

my @out;
open(my $tf, '<', "$dir/trees.txt") or die;
while (my $line = <$tf>) {
    chomp $line;
    my ($code, $tree) = split(/\t/, $line, 2);
    my $t = $json->decode($tree);
    for my $person (keys %p) {
        my $o = $over{$code}{$person} // '';
        my $in = $o eq 'include' ? 1 : $o eq 'exclude' ? 0 : holds($t, $p{$person});
        push @out, "$code $person" if $in;
    }
}
print "$_\n" for sort @out;
