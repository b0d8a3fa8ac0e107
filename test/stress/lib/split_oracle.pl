#!/usr/bin/perl
# test/stress/lib/split_oracle.pl: the profit-split oracle, written from the
# rule in docs/finance.md and not from src/core_money.c.
#   gen N SEED FILE   random cases: id, base, cap, fixed parts, ratios (bp)
#   judge CASES DB    recompute every case and compare with the database's parts
# A case: a line paid `net` fen, of which `refund` came back; base = left -
# floor(left x fee / 10000), cap = floor(left x max / 10000), fixed parts
# prorated to what is left. judge prints "cases N", "mismatch M" and the
# property counts (sum, negative, cap).
use strict;
use warnings;
use integer;

# largest remainder over weights, each part at most its cap; what a capped part
# cannot take goes to the others (by their caps when none has a weight); ties to
# the lower index
sub allocate {
    my ($amount, $w, $c) = @_;
    my $n = @$w;
    my @out = (0) x $n;
    my @done = map { $c->[$_] <= 0 ? 1 : 0 } 0 .. $n - 1;
    my $left = $amount;
    while ($left > 0) {
        my $wt = 0;
        $wt += $w->[$_] for grep { !$done[$_] } 0 .. $n - 1;
        my $bycap = $wt == 0;
        if ($bycap) { $wt += $c->[$_] for grep { !$done[$_] } 0 .. $n - 1; }
        die "nothing can take $left" if $wt == 0;
        my (@share, @rem);
        my $placed = 0;
        for my $i (0 .. $n - 1) {
            $share[$i] = 0; $rem[$i] = -1;
            next if $done[$i];
            my $x = $bycap ? $c->[$i] : $w->[$i];
            # $left x $x can pass 2^63 only for amounts above 10^15 x 10^4: not generated
            $share[$i] = ($left * $x) / $wt;
            $rem[$i] = ($left * $x) % $wt;
            $placed += $share[$i];
        }
        while ($placed < $left) {
            my $best = -1;
            for my $i (0 .. $n - 1) {
                next if $done[$i] || ($bycap ? $c->[$i] : $w->[$i]) <= 0;
                $best = $i if $best < 0 || $rem[$i] > $rem[$best];
            }
            die "no part for the remainder" if $best < 0;
            $share[$best]++; $rem[$best] = -1; $placed++;
        }
        my $capped = 0;
        for my $i (0 .. $n - 1) {
            if (!$done[$i] && $share[$i] > 0 && $out[$i] + $share[$i] >= $c->[$i]) {
                $left -= $c->[$i] - $out[$i];
                $out[$i] = $c->[$i]; $done[$i] = 1; $capped = 1;
            }
        }
        next if $capped;
        $out[$_] += $share[$_] for grep { !$done[$_] } 0 .. $n - 1;
        $left = 0;
    }
    return @out;
}

sub share {
    my ($base, $cap, $fixed, $ratio) = @_;
    my $n = @$fixed;
    my $capleft = $cap < $base ? $cap : $base;
    my @out;
    my $parties = 0;
    my $owner_w = 10000;
    for my $i (0 .. $n - 1) {
        my $f = $fixed->[$i] < $capleft ? $fixed->[$i] : $capleft;
        $out[$i] = $f; $capleft -= $f; $parties += $f; $owner_w -= $ratio->[$i];
    }
    my $rest = $base - $parties;
    my @r = allocate($rest, [@$ratio, $owner_w], [($rest) x ($n + 1)]);
    my $rt = 0; $rt += $r[$_] for 0 .. $n - 1;
    if ($rt > $capleft) {
        @r = allocate($capleft, [@$ratio], [@r[0 .. $n - 1]]);
        $rt = $capleft;
    }
    $out[$_] += $r[$_] for 0 .. $n - 1;
    push @out, $base - $parties - $rt;
    return @out;
}

my $mode = shift @ARGV;
if ($mode eq 'gen') {
    my ($n, $seed, $file) = @ARGV;
    no integer;
    srand($seed);
    open my $fh, '>', $file or die "$file: $!";
    for my $id (1 .. $n) {
        # amounts from 0 to 10^8 fen on a log scale, 1 to 6 parties, ratios within the cap
        my $net = int(10 ** (rand(8.3)));
        $net = 0 if rand() < 0.01;
        my $refund = rand() < 0.2 ? $net : (rand() < 0.4 ? int(rand($net + 1)) : 0);
        my $max_bp = (3000, 3000, 10000, 1500, 0)[int(rand(5))];
        my $fee_bp = (60, 60, 0, 38)[int(rand(4))];
        my $qty = 1 + int(rand(5));
        my $np = 1 + int(rand(6));
        my (@fixed, @ratio);
        my $ratio_left = $max_bp;
        for (1 .. $np) {
            if (rand() < 0.35) {
                push @fixed, 1 + int(rand(($net / $qty / 4) + 1)); push @ratio, 0;
            } else {
                my $r = $ratio_left > 0 ? 1 + int(rand($ratio_left)) : 0;
                $r = 1 if $r == 0 && rand() < 0.5;
                $ratio_left -= $r; $ratio_left = 0 if $ratio_left < 0;
                push @fixed, 0; push @ratio, $r;
            }
        }
        my $rsum = 0; $rsum += $_ for @ratio;
        if ($rsum > 10000) { @ratio = map { 0 } @ratio; }
        print $fh join("\t", $id, $net, $refund, $max_bp, $fee_bp, $qty, '{' . join(',', @fixed) . '}',
                       '{' . join(',', @ratio) . '}'), "\n";
    }
    close $fh;
} elsif ($mode eq 'judge') {
    my ($cases, $db) = @ARGV;
    open my $c, '<', $cases or die; open my $d, '<', $db or die;
    my ($n, $mismatch, $sum, $neg, $capx, $full, $fullbad) = (0) x 7;
    while (my $l = <$c>) {
        chomp $l;
        my ($id, $net, $refund, $max_bp, $fee_bp, $qty, $fx, $rx) = split /\t/, $l;
        my @fixed = $fx =~ /(\d+)/g; my @ratio = $rx =~ /(\d+)/g;
        my $left = $net - $refund;
        my $base = $left - ($left * $fee_bp) / 10000;
        my $cap = ($left * $max_bp) / 10000;
        my @f = map { my $t = $_ * $qty; $t = 1000000000000000 if $t > 1000000000000000; $net == 0 ? 0 : ($t * $left) / $net } @fixed;
        my @want = share($base, $cap, \@f, \@ratio);
        my $dl = <$d>; chomp $dl;
        my ($did, $parts) = split /\t/, $dl;
        die "case order: $id vs $did" unless $id == $did;
        my @got = $parts =~ /(-?\d+)/g;
        $n++;
        $mismatch++ if join(',', @got) ne join(',', @want);
        my $s = 0; $s += $_ for @got; $sum++ if $s != $base;
        $neg++ if grep { $_ < 0 } @got;
        my $p = $s - $got[-1]; $capx++ if $p > $cap;
        if ($refund == $net) { $full++; $fullbad++ if grep { $_ != 0 } @got; }
    }
    print "cases $n\nmismatch $mismatch\nsum_off $sum\nnegative $neg\nabove_cap $capx\nfull_refunds $full\nfull_refund_nonzero $fullbad\n";
}
