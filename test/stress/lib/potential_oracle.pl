#!/usr/bin/perl
# potential_oracle.pl: a year of member behaviour with a known truth for the
# KOC potential model (K01, test/stress/creators_potential_oracle.sh).
#
#   perl potential_oracle.pl SEED PEOPLE DAYS HORIZON DIR
#
# Every member has a hidden promoter trait theta ~ N(0, 1). Before the cut
# (day DAYS - HORIZON) it buys, shares (and its shares draw visitors),
# writes reviews, checks in and joins groups, and brings paying customers
# (fission invitees whose first paid order follows the invite), each count
# Poisson with a mean rising with theta. Over the horizon it brings a
# paying customer with the true probability p = 1 / (1 + exp(3.2 - 1.3 theta));
# those customers are newcomers whose account and first order come after the
# cut. Written as TSV for the database (people, orders, shares, clicks,
# members, checkins, invites) with what the database must find: each
# member's figures before the cut and its outcome (expect.tsv: the oracle
# knows p, so the AUC of p on the same members is the best any model can do).
use strict;
use warnings;

my ($seed, $people, $days, $horizon, $dir) = @ARGV;
die "usage: $0 SEED PEOPLE DAYS HORIZON DIR\n" unless defined $dir;
srand($seed);
my $cut = $days - $horizon;

sub gauss { my $u = 1 - rand(); my $v = rand(); return sqrt(-2 * log($u)) * cos(6.283185307179586 * $v); }
sub poisson { my ($m) = @_; my ($l, $k, $p) = (exp(-$m), 0, 1); do { $k++; $p *= rand(); } while ($p > $l); return $k - 1; }
sub distinct_days { my ($n, $from, $to) = @_; my %d; my $span = $to - $from; return () if $span <= 0;
                    $n = $span if $n > $span; $d{$from + int(rand($span))} = 1 while keys(%d) < $n; return sort { $a <=> $b } keys %d; }

open(my $P, '>', "$dir/people.tsv") or die;
open(my $O, '>', "$dir/orders.tsv") or die;
open(my $S, '>', "$dir/shares.tsv") or die;
open(my $C, '>', "$dir/clicks.tsv") or die;
open(my $M, '>', "$dir/members.tsv") or die;
open(my $K, '>', "$dir/checkins.tsv") or die;
open(my $I, '>', "$dir/invites.tsv") or die;
open(my $E, '>', "$dir/expect.tsv") or die;

my (@code, @created, @theta, @first, %fig);
my $share_no = 0;
for my $i (1 .. $people) {
    my $code = sprintf('m%06d', $i);
    my $t = gauss();
    my $created = int(rand($cut / 2));
    push @code, $code; push @theta, $t; push @created, $created;
    my %f = (order_days => 0, orders => 0, shares => 0, clicks => 0, customers_brought => 0, checkins => 0, groups_joined => 0,
             content => 0);
    my @od = distinct_days(poisson(1.0 * exp(0.4 * $t)), $created, $cut);
    print $O "$code\t$_\n" for @od;
    $f{order_days} = $f{orders} = scalar @od;
    push @first, (@od ? $od[0] : -1);
    for my $kind ('product', 'review') {
        my $n = $kind eq 'product' ? poisson(0.6 * exp(0.8 * $t)) : poisson(0.3 * exp(0.6 * $t));
        for (1 .. $n) {
            my $d = $created + int(rand($cut - $created));
            $share_no++;
            print $S "$share_no\t$code\t$d\t$kind\n";
            $f{shares}++; $f{content}++ if $kind eq 'review';
            my $v = poisson(1.5 * exp(0.5 * $t));
            for my $j (1 .. $v) {
                my $cd = $d + int(rand(7));
                next if $cd >= $days;
                print $C "$share_no\tv$share_no-$j\t$cd\n";
                $f{clicks}++ if $cd < $cut;
            }
        }
    }
    my @kd = distinct_days(poisson(1.0 * exp(0.5 * $t)), $created, $cut);
    print $K "$code\t$_\n" for @kd;
    $f{checkins} = scalar @kd;
    my %g; my $ng = poisson(0.5 * exp(0.3 * $t)); $ng = 20 if $ng > 20;
    $g{1 + int(rand(20))} = 1 while keys(%g) < $ng;
    print $M "$code\t$_\t" . ($created + int(rand($cut - $created))) . "\n" for sort { $a <=> $b } keys %g;
    $f{groups_joined} = $ng;
    $fig{$code} = \%f;
}
# customers brought before the cut: members who paid, each invited once, a few days before its first order
my @pool = grep { $first[$_] >= 0 } 0 .. $people - 1;
for (my $k = $#pool; $k > 0; $k--) { my $j = int(rand($k + 1)); @pool[$k, $j] = @pool[$j, $k]; }
my %invited;
for my $i (0 .. $people - 1) {
    my $n = poisson(0.2 * exp(0.9 * $theta[$i]));
    while ($n > 0 && @pool) {
        my $j = shift @pool;
        if ($j == $i) { push @pool, $j; last if @pool == 1; next; }
        my $d = $first[$j] - int(rand(4)); $d = 0 if $d < 0;
        print $I "$code[$i]\t$code[$j]\t$d\n";
        $fig{$code[$i]}{customers_brought}++;
        $invited{$j} = 1;
        $n--;
    }
}
# the horizon: the outcome with its true probability, each positive bringing 1 + Poisson(0.5) newcomers
my $newcomer = 0;
for my $i (0 .. $people - 1) {
    my $p = 1 / (1 + exp(3.2 - 1.3 * $theta[$i]));
    my $y = rand() < $p ? 1 : 0;
    if ($y) {
        for (1 .. 1 + poisson(0.5)) {
            my $d = $cut + int(rand($horizon));
            my $nc = sprintf('n%06d', ++$newcomer);
            print $P "$nc\t$d\t\\N\t\\N\t\\N\t1\n";
            print $O "$nc\t$d\n";
            print $I "$code[$i]\t$nc\t$d\n";
        }
    }
    print $P "$code[$i]\t$created[$i]\t$theta[$i]\t$p\t$y\t0\n";
    my $f = $fig{$code[$i]};
    print $E join("\t", $code[$i], map { $f->{$_} } qw(order_days orders shares clicks customers_brought checkins groups_joined content)),
             "\t$y\n";
}
close($_) for ($P, $O, $S, $C, $M, $K, $I, $E);
