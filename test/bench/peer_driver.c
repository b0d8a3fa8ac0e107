/*
 * test/bench/peer_driver.c: the load driver that runs the same concurrency
 * against the seeds' Redis design and against commerce.reserve_sku
 * (issue 17). One thread per client, each with its own connections.
 *
 *   commerce      SELECT commerce.reserve_sku(...) on one connection per
 *                 client: answered when the reservation is committed.
 *   redis_sync    (a') the seeds' Lua pre-decrement in Redis, then the
 *                 reservation row INSERTed into PostgreSQL and committed
 *                 before the buyer is answered; the counter is incremented
 *                 back when the insert fails.
 *   redis_async   (a) the seeds' design as written: the Lua script
 *                 decrements and queues the order on a Redis list (the MQ)
 *                 and the buyer is answered at once; writer threads move
 *                 the queue into PostgreSQL in batches (a batch that fails
 *                 is put back and retried, inserts are idempotent).
 *
 * The Lua script is idempotent per request id (SET NX), as the seeds ask.
 * Each acknowledged request id can be logged (-a FILE) so that a crash run
 * can count what was acknowledged but never stored. Connection failures are
 * survived: a client reconnects and goes on, a request whose outcome it did
 * not see is not acknowledged.
 *
 * usage: peer_driver -m MODE -c CLIENTS -T SECONDS [-t TENANT] [-s SKU]
 *                    [-r REDIS_SOCKET] [-w WRITERS] [-a ACKLOG] [-d DRAIN_S]
 * PostgreSQL is reached through libpq's environment (PGHOST, PGDATABASE...).
 * Prints "acked N", "rate R" (acknowledged per second over the run),
 * "refused N", "errors N", "p50_ms" and "p99_ms" (how long a buyer waited
 * for an acknowledged reservation, in 10 us buckets) and, for redis_async, "backlog N" (still queued
 * when the clients stop) and "drain_s S" (time to empty it).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

static const char *LUA =
	"if redis.call('SET', KEYS[3] .. ARGV[2], '1', 'NX', 'EX', 600) == false then return -1 end "
	"local s = tonumber(redis.call('GET', KEYS[1]) or '0') "
	"local q = tonumber(ARGV[1]) "
	"if s < q then redis.call('DEL', KEYS[3] .. ARGV[2]) return 0 end "
	"redis.call('DECRBY', KEYS[1], q) "
	"if ARGV[3] == '1' then redis.call('RPUSH', KEYS[2], ARGV[2]) end "
	"return 1";

static const char *mode;
static int	clients = 16;
static int	seconds = 20;
static int	writers = 2;
static int	drain_limit = 60;
static const char *tenant = "1";
static const char *sku = "HOT";
static const char *redis_socket = "/tmp/commerce-redis.sock";
static const char *acklog_path;

static atomic_long acked;
static atomic_long refused;
static atomic_long errors;
static atomic_int stop_clients;
static atomic_int stop_writers;
#define LAT_BUCKETS 100001	/* 10 us each, the last one for 1 s and more */
static atomic_long lat[LAT_BUCKETS];
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *acklog;

/* Seconds since an arbitrary start, monotonic. */
static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Connect to PostgreSQL through the environment; NULL when it is down. */
static PGconn *
pg_connect(void)
{
	PGconn	   *c = PQconnectdb("");

	if (PQstatus(c) != CONNECTION_OK)
	{
		PQfinish(c);
		return NULL;
	}
	return c;
}

/* Connect to Redis on its unix socket; NULL when it is down. */
static redisContext *
redis_connect(void)
{
	redisContext *r = redisConnectUnix(redis_socket);

	if (r == NULL || r->err)
	{
		if (r)
			redisFree(r);
		return NULL;
	}
	return r;
}

/* Record an acknowledged request id and how long the buyer waited for it. */
static void
ack(const char *id, double started)
{
	long		b = (long) ((now_s() - started) * 1e5);

	atomic_fetch_add(&lat[b < LAT_BUCKETS - 1 ? b : LAT_BUCKETS - 1], 1);
	atomic_fetch_add(&acked, 1);
	if (acklog)
	{
		pthread_mutex_lock(&log_lock);
		fprintf(acklog, "%s\n", id);
		pthread_mutex_unlock(&log_lock);
	}
}

/* Run the Lua pre-decrement: 1 taken, 0 sold out, -1 a repeat, -2 an error. */
static int
redis_take(redisContext **r, const char *id, int queue)
{
	redisReply *rep;
	int			out;

	if (*r == NULL && (*r = redis_connect()) == NULL)
		return -2;
	rep = redisCommand(*r, "EVAL %s 3 stock:%s orders: rq: 1 %s %s", LUA, sku, id, queue ? "1" : "0");
	if (rep == NULL)
	{
		redisFree(*r);
		*r = NULL;
		return -2;
	}
	out = rep->type == REDIS_REPLY_INTEGER ? (int) rep->integer : -2;
	freeReplyObject(rep);
	return out;
}

/* Give units back to the Redis counter (the design's increment-back). */
static void
redis_give_back(redisContext **r, long n)
{
	redisReply *rep;

	if (*r == NULL && (*r = redis_connect()) == NULL)
		return;
	rep = redisCommand(*r, "INCRBY stock:%s %ld", sku, n);
	if (rep == NULL)
	{
		redisFree(*r);
		*r = NULL;
		return;
	}
	freeReplyObject(rep);
}

/* One client: reserve one unit at a time until told to stop. */
static void *
client_main(void *arg)
{
	long		me = (long) arg;
	long		seq = 0;
	PGconn	   *pg = NULL;
	redisContext *r = NULL;
	char		id[64];
	int			is_commerce = strcmp(mode, "commerce") == 0;
	int			is_sync = strcmp(mode, "redis_sync") == 0;

	while (!atomic_load(&stop_clients))
	{
		double		started = now_s();

		snprintf(id, sizeof(id), "%d-%ld-%ld", getpid(), me, seq++);
		if (is_commerce || is_sync)
		{
			if (pg == NULL && (pg = pg_connect()) != NULL)
			{
				PGresult   *p;

				if (is_commerce)
					p = PQprepare(pg, "take",
								  "SELECT reservation_id FROM commerce.reserve_sku($1::bigint, $2, 'bench', $3, 1)", 3, NULL);
				else
					p = PQprepare(pg, "take",
								  "INSERT INTO public.peer_reservation (request_id, sku, qty) VALUES ($1, $2, 1)", 2, NULL);
				if (PQresultStatus(p) != PGRES_COMMAND_OK)
				{
					PQfinish(pg);
					pg = NULL;
				}
				PQclear(p);
			}
			if (pg == NULL)
			{
				atomic_fetch_add(&errors, 1);
				usleep(100000);
				continue;
			}
		}
		if (is_commerce)
		{
			const char *v[3] = {tenant, id, sku};
			PGresult   *res = PQexecPrepared(pg, "take", 3, v, NULL, NULL, 0);

			if (PQresultStatus(res) == PGRES_TUPLES_OK)
				ack(id, started);
			else
			{
				const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);

				if (st && strcmp(st, "PT409") == 0)
					atomic_fetch_add(&refused, 1);
				else
					atomic_fetch_add(&errors, 1);
				if (PQstatus(pg) != CONNECTION_OK)
				{
					PQfinish(pg);
					pg = NULL;
				}
			}
			PQclear(res);
			continue;
		}
		/* the Redis designs */
		{
			int			got = redis_take(&r, id, !is_sync);

			if (got == 0)
			{
				atomic_fetch_add(&refused, 1);
				continue;
			}
			if (got != 1)
			{
				atomic_fetch_add(&errors, 1);
				if (r == NULL)
					usleep(100000);
				continue;
			}
			if (!is_sync)
			{
				ack(id, started);
				continue;
			}
			{
				const char *v[2] = {id, sku};
				PGresult   *res = PQexecPrepared(pg, "take", 2, v, NULL, NULL, 0);

				if (PQresultStatus(res) == PGRES_COMMAND_OK)
					ack(id, started);
				else
				{
					/* the design: give the unit back when the write failed */
					atomic_fetch_add(&errors, 1);
					redis_give_back(&r, 1);
					if (PQstatus(pg) != CONNECTION_OK)
					{
						PQfinish(pg);
						pg = NULL;
					}
				}
				PQclear(res);
			}
		}
	}
	if (pg)
		PQfinish(pg);
	if (r)
		redisFree(r);
	return NULL;
}

/* One asynchronous writer: move queued orders into PostgreSQL in batches. */
static void *
writer_main(void *arg)
{
	PGconn	   *pg = NULL;
	redisContext *r = NULL;

	(void) arg;
	for (;;)
	{
		redisReply *rep;
		size_t		i,
					len = 2;
		char	   *arr;
		PGresult   *res;
		const char *v[2];

		if (r == NULL && (r = redis_connect()) == NULL)
		{
			if (atomic_load(&stop_writers))
				break;
			usleep(100000);
			continue;
		}
		if (pg == NULL && (pg = pg_connect()) == NULL)
		{
			if (atomic_load(&stop_writers))
				break;
			usleep(100000);
			continue;
		}
		rep = redisCommand(r, "LPOP orders: 200");
		if (rep == NULL)
		{
			redisFree(r);
			r = NULL;
			continue;
		}
		if (rep->type != REDIS_REPLY_ARRAY || rep->elements == 0)
		{
			freeReplyObject(rep);
			if (atomic_load(&stop_writers))
				break;
			usleep(200);
			continue;
		}
		for (i = 0; i < rep->elements; i++)
			len += rep->element[i]->len + 3;
		arr = malloc(len);
		strcpy(arr, "{");
		for (i = 0; i < rep->elements; i++)
		{
			if (i)
				strcat(arr, ",");
			strcat(arr, "\"");
			strcat(arr, rep->element[i]->str);
			strcat(arr, "\"");
		}
		strcat(arr, "}");
		v[0] = arr;
		v[1] = sku;
		res = PQexecParams(pg,
						   "INSERT INTO public.peer_reservation (request_id, sku, qty) "
						   "SELECT x, $2, 1 FROM unnest($1::text[]) x ON CONFLICT DO NOTHING",
						   2, NULL, v, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
		{
			/* put the batch back at the head of the queue and retry */
			for (i = rep->elements; i > 0; i--)
			{
				redisReply *p = redisCommand(r, "LPUSH orders: %s", rep->element[i - 1]->str);

				if (p)
					freeReplyObject(p);
			}
			if (PQstatus(pg) != CONNECTION_OK)
			{
				PQfinish(pg);
				pg = NULL;
			}
			usleep(100000);
		}
		PQclear(res);
		free(arr);
		freeReplyObject(rep);
	}
	if (pg)
		PQfinish(pg);
	if (r)
		redisFree(r);
	return NULL;
}

/* The latency (ms) under which a share q of the acknowledged requests were answered. */
static double
percentile(double q)
{
	long		total = atomic_load(&acked),
				seen = 0,
				i;

	for (i = 0; i < LAT_BUCKETS; i++)
	{
		seen += atomic_load(&lat[i]);
		if (seen > 0 && seen >= q * total)
			return (i + 1) / 100.0;
	}
	return 0;
}

/* Length of the queue, -1 when Redis cannot be reached. */
static long
backlog(void)
{
	redisContext *r = redis_connect();
	redisReply *rep;
	long		n = -1;

	if (r == NULL)
		return -1;
	rep = redisCommand(r, "LLEN orders:");
	if (rep && rep->type == REDIS_REPLY_INTEGER)
		n = rep->integer;
	if (rep)
		freeReplyObject(rep);
	redisFree(r);
	return n;
}

int
main(int argc, char **argv)
{
	int			opt,
				i;
	pthread_t  *ct,
			   *wt = NULL;
	double		t0,
				t1;

	while ((opt = getopt(argc, argv, "m:c:T:t:s:r:w:a:d:")) != -1)
	{
		switch (opt)
		{
			case 'm': mode = optarg; break;
			case 'c': clients = atoi(optarg); break;
			case 'T': seconds = atoi(optarg); break;
			case 't': tenant = optarg; break;
			case 's': sku = optarg; break;
			case 'r': redis_socket = optarg; break;
			case 'w': writers = atoi(optarg); break;
			case 'a': acklog_path = optarg; break;
			case 'd': drain_limit = atoi(optarg); break;
			default:
				fprintf(stderr, "usage: %s -m commerce|redis_sync|redis_async -c N -T S\n", argv[0]);
				return 2;
		}
	}
	if (mode == NULL || (strcmp(mode, "commerce") && strcmp(mode, "redis_sync") && strcmp(mode, "redis_async"))
		|| clients < 1 || seconds < 1)
	{
		fprintf(stderr, "%s: -m commerce|redis_sync|redis_async, -c >= 1, -T >= 1\n", argv[0]);
		return 2;
	}
	/* a write to a killed Redis must fail, not end the driver */
	signal(SIGPIPE, SIG_IGN);
	if (acklog_path && (acklog = fopen(acklog_path, "w")) == NULL)
	{
		fprintf(stderr, "%s: %s: %s\n", argv[0], acklog_path, strerror(errno));
		return 2;
	}
	ct = calloc(clients, sizeof(pthread_t));
	if (strcmp(mode, "redis_async") == 0)
	{
		wt = calloc(writers, sizeof(pthread_t));
		for (i = 0; i < writers; i++)
			pthread_create(&wt[i], NULL, writer_main, NULL);
	}
	t0 = now_s();
	for (i = 0; i < clients; i++)
		pthread_create(&ct[i], NULL, client_main, (void *) (long) i);
	while (now_s() - t0 < seconds)
		usleep(10000);
	atomic_store(&stop_clients, 1);
	for (i = 0; i < clients; i++)
		pthread_join(ct[i], NULL);
	t1 = now_s();
	printf("acked %ld\nrate %.1f\nrefused %ld\nerrors %ld\np50_ms %.2f\np99_ms %.2f\n", atomic_load(&acked),
		   atomic_load(&acked) / (t1 - t0), atomic_load(&refused), atomic_load(&errors),
		   percentile(0.50), percentile(0.99));
	if (wt)
	{
		long		left = backlog();
		double		d0 = now_s();

		printf("backlog %ld\n", left);
		while (now_s() - d0 < drain_limit && backlog() != 0)
			usleep(10000);
		atomic_store(&stop_writers, 1);
		for (i = 0; i < writers; i++)
			pthread_join(wt[i], NULL);
		printf("drain_s %.2f\n", now_s() - d0);
	}
	if (acklog)
		fclose(acklog);
	return 0;
}
