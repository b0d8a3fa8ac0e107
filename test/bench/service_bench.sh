#!/usr/bin/env bash
# make bench, the one inbox (issue 15), in the run's database copies (bench.sh
# passes TENANT, CLIENTS, SECONDS_PER, JOBS and the fresh() copy):
#   answer   CLIENTS channel adapters each deliver customers' questions, drawn
#            from the 402 labelled questions of test/fixtures/service, to the
#            59-article knowledge base (commerce.service_ingest: the dedupe, the
#            session, the identity graph for a new customer, the match, the
#            answer logged and the reply queued): p50 and p95 of the whole call
#            from pgbench's per-transaction log.
#   match    commerce.kb_match alone, against the 59 articles and against 2,006
#            (the 59 and 33 variants of each): its p95 from one client (the
#            lookup's own cost) and its rate from CLIENTS clients.
# Prints those lines on stdout.
set -euo pipefail
cd "$(dirname "$0")"
: "${TENANT:?}" "${CLIENTS:?}" "${SECONDS_PER:?}" "${JOBS:?}"
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
tps() { sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$1"; }
pct() { cat "$@" 2>/dev/null | awk '$3 ~ /^[0-9]+$/ { print $3 }' | sort -n |
        awk '{ a[NR] = $1 } END { printf "%.2f %.2f\n", a[int(NR * 0.50) + 1] / 1000, a[int(NR * 0.95) + 1] / 1000 }'; }
out="$(mktemp -d /tmp/commerce-service-bench.XXXXXX)"
trap 'rm -rf "$out"' EXIT
FIX="$(cd ../fixtures/service && pwd)"

load() {
    q >/dev/null <<SQL
CREATE TABLE bench_kb (code text, kind text, title text, questions text, answer text);
\copy bench_kb FROM '$FIX/kb_articles.tsv' WITH (FORMAT csv, DELIMITER E'\t', HEADER true, QUOTE E'\x01')
CREATE TABLE bench_q (question text, expected text, split text);
\copy bench_q FROM '$FIX/kb_questions.tsv' WITH (FORMAT csv, DELIMITER E'\t', HEADER true, QUOTE E'\x01')
CREATE TABLE bench_question AS SELECT row_number() OVER (ORDER BY question) AS n, question FROM bench_q;
ALTER TABLE bench_question ADD PRIMARY KEY (n);
SELECT count(commerce.upsert_kb_article($TENANT, code, kind, title, string_to_array(questions, ' | '), answer)) FROM bench_kb;
ANALYZE commerce.kb_term; ANALYZE commerce.kb_article;
SQL
}

# answer: questions from new and returning customers on the mini-program
fresh
load
cat > "$out/answer.sql" <<'SQL'
\set u random(1, 100000)
\set n random(1, 402)
\set m random(1, 2000000000)
SELECT commerce.service_ingest(:tenant, jsonb_build_object('channel', 'miniprogram', 'account', 'wxapp', 'user', 'u' || :u,
         'message_id', 'm-' || :client_id || '-' || :m, 'text', (SELECT question FROM bench_question WHERE n = :n)));
SQL
(cd "$out" && pgbench -n -c "$CLIENTS" -j "$JOBS" -T "$SECONDS_PER" -M prepared -D tenant="$TENANT" -l --log-prefix=answer \
    -f answer.sql > "$out/answer.out" 2>&1) || { cat "$out/answer.out" >&2; exit 1; }
read -r P50 P95 < <(pct "$out"/answer.*[0-9])
printf 'service_messages_per_s: %.0f\n' "$(tps "$out/answer.out")"
echo "service_answer_p50_ms: $P50"
echo "service_answer_p95_ms: $P95"
echo "service_answers_logged: $(q -c "SELECT count(*) FROM commerce.service_answer") for $(q -c "SELECT count(*) FROM commerce.service_message WHERE direction = 'in'") messages in $(q -c "SELECT count(*) FROM commerce.conversation") sessions"

# match: kb_match alone, 59 articles and 2,006
cat > "$out/match.sql" <<'SQL'
\set n random(1, 402)
SELECT count(*) FROM commerce.kb_match(:tenant, (SELECT question FROM bench_question WHERE n = :n), NULL, 3);
SQL
match() {   # $1: label; prints "p95_ms rate_per_s"
    (cd "$out" && pgbench -n -c 1 -j 1 -T "$SECONDS_PER" -M prepared -D tenant="$TENANT" -l --log-prefix="$1" \
        -f match.sql > "$out/$1.out" 2>&1) || { cat "$out/$1.out" >&2; exit 1; }
    (cd "$out" && pgbench -n -c "$CLIENTS" -j "$JOBS" -T "$SECONDS_PER" -M prepared -D tenant="$TENANT" \
        -f match.sql > "$out/$1-rate.out" 2>&1) || { cat "$out/$1-rate.out" >&2; exit 1; }
    read -r _ p95 < <(pct "$out"/"$1".*[0-9])
    echo "$p95 $(tps "$out/$1-rate.out")"
}
read -r M59 R59 < <(match m59)
q -c "SELECT count(commerce.upsert_kb_article($TENANT, code || '-v' || i, kind, title || ' ' || i,
        ARRAY(SELECT x FROM unnest(string_to_array(questions, ' | ')) x ORDER BY md5(x || i)), answer))
        FROM bench_kb, generate_series(1, 33) i" >/dev/null
q -c "ANALYZE commerce.kb_term" -c "ANALYZE commerce.kb_article" >/dev/null
read -r M2K R2K < <(match m2k)
echo "kb_match_p95_ms: $M59 (59 articles, one client)"
printf 'kb_match_per_s: %.0f (59 articles, %s clients)\n' "$R59" "$CLIENTS"
echo "kb_match_2k_p95_ms: $M2K ($(q -c "SELECT count(*) FROM commerce.kb_article") articles, one client)"
printf 'kb_match_2k_per_s: %.0f (%s clients)\n' "$R2K" "$CLIENTS"
