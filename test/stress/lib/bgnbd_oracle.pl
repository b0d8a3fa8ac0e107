#!/usr/bin/perl
# bgnbd_oracle.pl: the churn model's independent oracle (issue 14).
#
#   bgnbd_oracle.pl gen SEED PEOPLE DAYS HORIZON R ALPHA A B DIR
#       Generates purchase histories from a BG/NBD process with known
#       parameters: each person arrives on a uniform day of the first half of
#       DAYS days and buys then; while alive it buys at rate lambda ~
#       Gamma(R, ALPHA) per day, and after each repeat purchase drops out with
#       probability p ~ Beta(A, B). Writes DIR/people.tsv (code, first day)
#       and DIR/orders.tsv (code, day). Day DAYS is "today"; the cut is DAYS -
#       HORIZON.
#   bgnbd_oracle.pl judge DIR HORIZON R ALPHA A B FITTED_PARAMS DB_SCORES
#       From DIR/orders.tsv alone, computes each buyer's day-level history
#       before the cut and whether it bought from the cut to today; scores
#       them with the true parameters (the oracle) and with the fitted ones;
#       prints the AUC of each, the AUC of the database's own holdout scores
#       (DB_SCORES: code<TAB>p_zero), the log-likelihood at the true and at the
#       fitted parameters, and the largest difference between the database's
#       scores and this program's with the fitted parameters.
# Nothing here reads the database's figures except DB_SCORES, which it judges.
use strict;
use warnings;
use POSIX qw(floor);

# lgamma (Lanczos, g = 7): Perl core has none.
my @LG = (0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
          -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
          1.5056327351493116e-7);
sub lgamma {
    my ($x) = @_;
    if ($x < 0.5) { return log(3.14159265358979323846 / abs(sin(3.14159265358979323846 * $x))) - lgamma(1 - $x); }
    $x -= 1;
    my $s = $LG[0];
    my $t = $x + 7.5;
    $s += $LG[$_] / ($x + $_) for 1 .. 8;
    return 0.5 * log(2 * 3.14159265358979323846) + ($x + 0.5) * log($t) - $t + log($s);
}

sub normal { my $u = 1 - rand(); my $v = rand(); return sqrt(-2 * log($u)) * cos(2 * 3.14159265358979323846 * $v); }

# Gamma(shape, rate) by Marsaglia and Tsang (shape < 1 boosted).
sub gamma_rand {
    my ($k, $rate) = @_;
    if ($k < 1) { my $u = 1 - rand(); return gamma_rand($k + 1, $rate) * $u ** (1 / $k); }
    my $d = $k - 1 / 3; my $c = 1 / sqrt(9 * $d);
    while (1) {
        my ($x, $v);
        do { $x = normal(); $v = 1 + $c * $x; } while ($v <= 0);
        $v = $v ** 3; my $u = 1 - rand();
        return $d * $v / $rate if log($u) < 0.5 * $x * $x + $d - $d * $v + $d * log($v);
    }
}

sub beta_rand { my ($a, $b) = @_; my $x = gamma_rand($a, 1); my $y = gamma_rand($b, 1); return $x / ($x + $y); }

my $cmd = shift @ARGV // die "usage: bgnbd_oracle.pl gen|judge ...\n";
if ($cmd eq 'gen') {
    my ($seed, $people, $days, $horizon, $r, $alpha, $ga, $gb, $dir) = @ARGV;
    srand($seed);
    open my $pf, '>', "$dir/people.tsv" or die;
    open my $of, '>', "$dir/orders.tsv" or die;
    for my $i (1 .. $people) {
        my $code = "p$i";
        my $first = floor(rand($days / 2));
        my $lambda = gamma_rand($r, $alpha);
        my $p = beta_rand($ga, $gb);
        print $pf "$code\t$first\n";
        print $of "$code\t$first\n";
        my $t = $first + rand();     # a time of the first day
        while (1) {
            $t += -log(1 - rand()) / $lambda;
            last if $t >= $days;
            print $of "$code\t" . floor($t) . "\n";
            last if rand() < $p;
        }
    }
    exit 0;
}
die "unknown command $cmd\n" unless $cmd eq 'judge';
my ($dir, $horizon, $r, $alpha, $ta, $tb, $fitted, $dbscores) = @ARGV;
my ($fr, $falpha, $fa, $fb) = split /,/, $fitted;
my (%days, $maxday);
open my $of, '<', "$dir/orders.tsv" or die;
while (<$of>) { chomp; my ($c, $d) = split /\t/; $days{$c}{$d} = 1; }
open my $pf, '<', "$dir/people.tsv" or die;
my $today; { my $dd = `cat "$dir/days"`; chomp $dd; $today = $dd; }
my $cut = $today - $horizon;
my (@rows);
for my $c (sort keys %days) {
    my @d = sort { $a <=> $b } grep { $_ < $today } keys %{$days{$c}};
    my @before = grep { $_ < $cut } @d;
    next unless @before;
    my $x = @before - 1; my $tx = $before[-1] - $before[0]; my $T = $cut - $before[0];
    my $churned = (grep { $_ >= $cut } @d) ? 0 : 1;
    my @now = @d; my $xn = @now - 1; my $txn = $now[-1] - $now[0]; my $Tn = $today - $now[0];
    push @rows, [$c, $x, $tx, $T, $churned, $xn, $txn, $Tn];
}
sub p_zero {
    my ($r, $al, $pa, $pb, $x, $tx, $T, $h) = @_;
    my $alive = $x > 0 ? 1 / (1 + ($pa / ($pb + $x - 1)) * (($al + $T) / ($al + $tx)) ** ($r + $x)) : 1;
    return 1 - $alive + $alive * (($al + $T) / ($al + $T + $h)) ** ($r + $x);
}
sub loglik {
    my ($r, $al, $pa, $pb) = @_;
    my $ll = 0;
    for my $row (@rows) {
        my (undef, $x, $tx, $T) = @$row;
        my $a1 = lgamma($r + $x) - lgamma($r) + $r * log($al);
        my $a2 = lgamma($pa + $pb) + lgamma($pb + $x) - lgamma($pb) - lgamma($pa + $pb + $x);
        my $a3 = -($r + $x) * log($al + $T);
        my $l = $a3;
        if ($x > 0) {
            my $a4 = log($pa) - log($pb + $x - 1) - ($r + $x) * log($al + $tx);
            my $hi = $a3 > $a4 ? $a3 : $a4;
            $l = $hi + log(exp($a3 - $hi) + exp($a4 - $hi));
        }
        $ll += $a1 + $a2 + $l;
    }
    return $ll;
}
sub auc {
    my ($scores, $labels) = @_;
    my @i = sort { $scores->[$a] <=> $scores->[$b] } 0 .. $#$scores;
    my ($rank, $pos, $sum) = (0, 0, 0);
    my $k = 0;
    while ($k < @i) {
        my $j = $k; $j++ while $j < @i && $scores->[$i[$j]] == $scores->[$i[$k]];
        my $mean = ($k + 1 + $j) / 2;
        for my $m ($k .. $j - 1) { if ($labels->[$i[$m]]) { $sum += $mean; $pos++; } }
        $k = $j;
    }
    my $neg = @i - $pos;
    return ($sum - $pos * ($pos + 1) / 2) / ($pos * $neg);
}
my %db;
open my $df, '<', $dbscores or die;
while (<$df>) { chomp; my ($c, $s) = split /\t/; $db{$c} = $s; }
my (@orac, @fit, @dbs, @lab, $maxdiff, $missing);
$maxdiff = 0; $missing = 0;
for my $row (@rows) {
    my ($c, $x, $tx, $T, $ch) = @$row;
    push @orac, p_zero($r, $alpha, $ta, $tb, $x, $tx, $T, $horizon);
    push @fit, p_zero($fr, $falpha, $fa, $fb, $x, $tx, $T, $horizon);
    if (defined $db{$c}) { push @dbs, $db{$c}; my $d = abs($db{$c} - $fit[-1]); $maxdiff = $d if $d > $maxdiff; }
    else { push @dbs, 0; $missing++; }
    push @lab, $ch;
}
my $base = 0; $base += $_ for @lab; $base /= @lab;
printf "buyers %d\nbase_rate %.6f\noracle_auc %.6f\nfitted_auc %.6f\ndb_auc %.6f\nll_true %.4f\nll_fitted %.4f\nmax_score_diff %.9f\nmissing %d\n",
    scalar(@rows), $base, auc(\@orac, \@lab), auc(\@fit, \@lab), auc(\@dbs, \@lab),
    loglik($r, $alpha, $ta, $tb), loglik($fr, $falpha, $fa, $fb), $maxdiff, $missing;
# today's scores of every buyer with the fitted parameters, in bp, for the stored-score check
open my $tf, '>', "$dir/today.tsv" or die;
for my $row (@rows) {
    my ($c, undef, undef, undef, undef, $xn, $txn, $Tn) = @$row;
    printf $tf "%s\t%d\n", $c, floor(10000 * p_zero($fr, $falpha, $fa, $fb, $xn, $txn, $Tn, $horizon) + 0.5);
}
