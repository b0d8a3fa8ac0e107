/*
 * inventory_pool_cache.c
 *		What a reservation needs to know about a SKU's stock pool (its id,
 *		slots, hold, low-stock threshold and the tenant's holds), kept per
 *		backend between calls instead of read by a statement each time.
 *
 * The lookup it saves was the largest statement of a reservation (170,000
 * of 602,000 instructions, callgrind).  An entry is kept until a row of
 * commerce.stock_pool or commerce.tenant changes: a trigger on each
 * (before_90_pool_cache) registers a relcache invalidation of its table,
 * which PostgreSQL delivers to every backend when the change commits (and to
 * the writer at once, and again if it aborts), and the relcache callback
 * below forgets every entry.  A transaction reads invalidations when it
 * starts, so a reservation runs on the pool facts of every change whose
 * commit had sent its invalidation by then (PostgreSQL sends it during the
 * commit, just after the change became visible: a transaction starting in
 * between uses the facts from before, as if it had started a moment
 * earlier).  SKU and warehouse codes name the
 * same row for ever (they are upserted, never renamed or deleted), so a SKU
 * or warehouse change needs no invalidation.
 *
 * Only what the lookup found for one open pool is kept.  What a pool has
 * available is never kept: it is read under the slot locks.  (Even a stale
 * slot count would be harmless: slots are only ever added, and the count
 * only picks the slot a backend tries first.)  An entry
 * remembers that its pool refused a line as sold out, so that the next call
 * checks the committed total before writing anything, as an uncached call
 * does (the sold-out fast path).
 */
#include "commerce.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

/* Keys longer than this (a tenant, SKU and scope past 500 bytes) are not cached. */
#define POOL_CACHE_KEY_LEN 512
/* More entries than this and the cache starts again empty. */
#define POOL_CACHE_MAX_ENTRIES 1024

typedef struct PoolCacheEntry
{
	char		key[POOL_CACHE_KEY_LEN];	/* tenant, scope, SKU; see make_key */
	CommercePoolInfo info;
} PoolCacheEntry;

static HTAB *pool_cache = NULL;
static Oid	pool_relid = InvalidOid;	/* commerce.stock_pool, once looked up */
static Oid	tenant_relid = InvalidOid;	/* commerce.tenant */

/*
 * Counts the invalidations that concern the cache.  A lookup's result is
 * kept only if the count did not move while it ran: an invalidation taken
 * in during the lookup may be of a change its snapshot did not see.
 */
static uint64 pool_cache_generation = 0;

/* Forget every entry. */
static void
pool_cache_reset(void)
{
	if (pool_cache != NULL)
		hash_destroy(pool_cache);
	pool_cache = NULL;
}

/*
 * Relcache invalidation of relid (InvalidOid: of every relation, as after
 * an overflow of the invalidation queue).  While the two tables' ids are
 * unknown, every invalidation counts.  The ids are forgotten with the
 * entries and looked up again: a dropped and recreated extension has new
 * ones, and a queue overflow may have hidden the drop.
 */
static void
pool_cache_relcache_callback(Datum arg, Oid relid)
{
	if (!OidIsValid(pool_relid) || !OidIsValid(tenant_relid) ||
		relid == InvalidOid || relid == pool_relid || relid == tenant_relid)
	{
		pool_cache_generation++;
		pool_cache_reset();
		pool_relid = tenant_relid = InvalidOid;
	}
}

/*
 * The invalidation count to pass to inventory_pool_cache_put after a lookup
 * (read it before the lookup runs).  Looks the two tables' ids up if needed.
 */
uint64
inventory_pool_cache_generation(void)
{
	if (!OidIsValid(pool_relid) || !OidIsValid(tenant_relid))
	{
		Oid			nsp = get_namespace_oid("commerce", false);
		Oid			pool = get_relname_relid("stock_pool", nsp);
		Oid			tenant = get_relname_relid("tenant", nsp);

		if (!OidIsValid(pool) || !OidIsValid(tenant))
			elog(ERROR, "commerce: tables stock_pool and tenant not found");
		pool_relid = pool;
		tenant_relid = tenant;
		pool_cache_generation++;	/* what ran before the ids were known */
	}
	return pool_cache_generation;
}

/* Register the relcache callback (from _PG_init). */
void
inventory_pool_cache_init(void)
{
	CacheRegisterRelcacheCallback(pool_cache_relcache_callback, (Datum) 0);
}

/*
 * The key of a lookup: the tenant; "a" and the activity, "w" and the
 * warehouse, or "n" (a root pool in any warehouse); the SKU code.  Each
 * string comes after its length, so no two lookups share a key.  False
 * when it would not fit.
 */
static bool
make_key(char *key, int64 tenant_id, const char *sku, const char *warehouse,
		 const char *activity)
{
	const char *scope = activity ? activity : (warehouse ? warehouse : "");
	int			len;

	memset(key, 0, POOL_CACHE_KEY_LEN);
	len = snprintf(key, POOL_CACHE_KEY_LEN, INT64_FORMAT " %s%zu:%s %zu:%s", tenant_id,
				   activity ? "a" : (warehouse ? "w" : "n"), strlen(scope), scope,
				   strlen(sku), sku);
	return len > 0 && len < POOL_CACHE_KEY_LEN;
}

/* The entry of a lookup, or NULL. */
static PoolCacheEntry *
find_entry(int64 tenant_id, const char *sku, const char *warehouse, const char *activity)
{
	char		key[POOL_CACHE_KEY_LEN];

	if (pool_cache == NULL || !make_key(key, tenant_id, sku, warehouse, activity))
		return NULL;
	return hash_search(pool_cache, key, HASH_FIND, NULL);
}

/*
 * Copy the kept facts of a lookup into *info; false when there are none.
 * Never keep the entry's address: an invalidation may free it at the next
 * statement.
 */
bool
inventory_pool_cache_get(int64 tenant_id, const char *sku, const char *warehouse,
						 const char *activity, CommercePoolInfo *info)
{
	PoolCacheEntry *e = find_entry(tenant_id, sku, warehouse, activity);

	if (e == NULL)
		return false;
	*info = e->info;
	return true;
}

/*
 * Keep what a lookup found (an open pool, the only one of its key), unless
 * an invalidation came in since generation was read, or the transaction
 * reads one snapshot throughout (REPEATABLE READ, SERIALIZABLE: its lookup
 * may predate changes whose invalidations it has already taken in).
 */
void
inventory_pool_cache_put(int64 tenant_id, const char *sku, const char *warehouse,
						 const char *activity, const CommercePoolInfo *info, uint64 generation)
{
	char		key[POOL_CACHE_KEY_LEN];
	PoolCacheEntry *e;

	if (generation != pool_cache_generation || IsolationUsesXactSnapshot() ||
		!make_key(key, tenant_id, sku, warehouse, activity))
		return;
	if (pool_cache != NULL && hash_get_num_entries(pool_cache) >= POOL_CACHE_MAX_ENTRIES)
		pool_cache_reset();
	if (pool_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = POOL_CACHE_KEY_LEN;
		ctl.entrysize = sizeof(PoolCacheEntry);
		ctl.hcxt = CacheMemoryContext;
		pool_cache = hash_create("commerce pool cache", 64, &ctl,
								 HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	e = hash_search(pool_cache, key, HASH_ENTER, NULL);
	e->info = *info;
}

/* Remember whether a kept pool last refused a line as sold out. */
void
inventory_pool_cache_soldout(int64 tenant_id, const char *sku, const char *warehouse,
							 const char *activity, bool soldout)
{
	PoolCacheEntry *e = find_entry(tenant_id, sku, warehouse, activity);

	if (e != NULL)
		e->info.soldout = soldout;
}

PG_FUNCTION_INFO_V1(commerce_pool_cache_invalidate);

/*
 * BEFORE INSERT OR UPDATE OR DELETE (per row) or BEFORE TRUNCATE on
 * commerce.stock_pool and commerce.tenant: every backend forgets its kept
 * pool facts when this transaction commits (this one at its next command).
 */
Datum
commerce_pool_cache_invalidate(PG_FUNCTION_ARGS)
{
	TriggerData *td = commerce_trigger_check(fcinfo, "pool_cache_invalidate", true,
											 COMMERCE_ON_INSERT | COMMERCE_ON_UPDATE |
											 COMMERCE_ON_DELETE, COMMERCE_ON_TRUNCATE);

	CacheInvalidateRelcache(td->tg_relation);
	if (!TRIGGER_FIRED_FOR_ROW(td->tg_event))
		return PointerGetDatum(NULL);
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		return PointerGetDatum(td->tg_newtuple);
	return PointerGetDatum(td->tg_trigtuple);
}
