/*
 * plays_eligibility.c
 *		Rule layer 3 of the plays (M3): eligibility, checked at
 *		transaction time when a customer joins a group, buys in a flash sale,
 *		starts or helps a bargain or accepts an invitation.
 *
 * In order, each refusal with its own SQLSTATE (docs/errors.md):
 *     blacklist (user, IP, device)          PT403
 *     new customers only                    PT403
 *     a new account without a profile       PT403
 *     per-customer limit of the play        PT409
 *     mutex group overlapping in time       PT409
 *     per-customer rate (actions a minute)  PT429
 *     per-IP rate (actions a minute)        PT429
 *     per-device rate (actions a minute)    PT429
 * An admitted action is recorded as a play_event, which is what the rate
 * limits count (and the dashboard's funnel shows).
 *
 * Races: the checks that count what a customer already has (limit, mutex,
 * rate) run under a transaction advisory lock on (play or mutex group,
 * customer), the per-IP rate under one on (play, IP) and the per-device
 * rate under one on (play, device), so two concurrent
 * actions of one customer are checked one after the other.  These locks are
 * taken after the group's row lock and before any stock slot, the order
 * every play entry point follows.
 */
#include "commerce.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"

/* The actions that are admitted here (and counted by the rate limits). */
static const char *const play_actions[] = {"join", "buy", "start", "help", "invite"};

/*
 * The config and the customer, in one row; the last column says whether the
 * customer is an account younger than the play's min_account_age without a
 * profile (no bound phone on the customer or its person, no paid order).
 */
static CommercePlan plan_context = {
	"SELECT c.code, c.new_users_only, c.per_user_limit::int8, c.mutex_group, c.starts_at, c.ends_at,"
	"       c.activity, c.user_rate_per_minute::int8, c.ip_rate_per_minute::int8, cu.code,"
	"       c.device_rate_per_minute::int8, c.min_account_age::text,"
	"       c.min_account_age IS NOT NULL AND cu.created_at > $4 - c.min_account_age"
	"       AND cu.phone IS NULL"
	"       AND NOT EXISTS (SELECT 1 FROM commerce.person_identity i"
	"                        WHERE i.tenant_id = cu.tenant_id AND i.person_id = cu.person_id AND i.type = 'phone')"
	"       AND NOT EXISTS (SELECT 1 FROM commerce.orders o"
	"                        WHERE o.tenant_id = cu.tenant_id AND o.customer_id = cu.customer_id AND o.paid_at IS NOT NULL)"
	"  FROM commerce.play_config c"
	"  JOIN commerce.customer cu ON cu.tenant_id = c.tenant_id AND cu.customer_id = $3"
	" WHERE c.tenant_id = $1 AND c.config_id = $2",
	4, {INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID}, NULL
};

/*
 * The same for a database whose SQL is still at 0.6.0 (the library is
 * installed before ALTER EXTENSION commerce UPDATE runs): no device rate, no
 * account age.
 */
static CommercePlan plan_context_0_6 = {
	"SELECT c.code, c.new_users_only, c.per_user_limit::int8, c.mutex_group, c.starts_at, c.ends_at,"
	"       c.activity, c.user_rate_per_minute::int8, c.ip_rate_per_minute::int8, cu.code,"
	"       NULL::int8, NULL::text, false"
	"  FROM commerce.play_config c"
	"  JOIN commerce.customer cu ON cu.tenant_id = c.tenant_id AND cu.customer_id = $3"
	" WHERE c.tenant_id = $1 AND c.config_id = $2",
	4, {INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID}, NULL
};

/* Does commerce.play_config have the columns of 0.7.0 (min_account_age)? */
static bool
play_config_is_0_7(void)
{
	Oid			rel = get_relname_relid("play_config", get_namespace_oid("commerce", false));

	return OidIsValid(rel) && get_attnum(rel, "min_account_age") != InvalidAttrNumber;
}

/* The first blacklist entry in force that matches the customer, the IP or the device. */
static CommercePlan plan_blacklist = {
	"SELECT kind, value, reason FROM commerce.play_blacklist"
	" WHERE tenant_id = $1 AND (expires_at IS NULL OR expires_at > $5)"
	"   AND ((kind = 'user' AND value = $2) OR (kind = 'ip' AND value = $3)"
	"        OR (kind = 'device' AND value = $4))"
	" ORDER BY kind DESC LIMIT 1",
	5, {INT8OID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID}, NULL
};

/* Has the customer ever paid an order? */
static CommercePlan plan_has_paid = {
	"SELECT 1 FROM commerce.orders WHERE tenant_id = $1 AND customer_id = $2 AND paid_at IS NOT NULL LIMIT 1",
	2, {INT8OID, INT8OID}, NULL
};

/* What the customer holds of the play: orders that were neither cancelled nor refunded. */
static CommercePlan plan_taken = {
	"SELECT count(*) FROM commerce.orders"
	" WHERE tenant_id = $1 AND customer_id = $2 AND source_activity = $3"
	"   AND status NOT IN ('cancelled', 'refunded')",
	3, {INT8OID, INT8OID, TEXTOID}, NULL
};

/* Another play of the mutex group, overlapping in time, that the customer holds. */
static CommercePlan plan_mutex = {
	"SELECT o.code FROM commerce.play_config o"
	" WHERE o.tenant_id = $1 AND o.mutex_group = $2 AND o.config_id <> $3"
	"   AND o.starts_at < $5 AND $4 < o.ends_at"
	"   AND EXISTS (SELECT 1 FROM commerce.orders x"
	"                WHERE x.tenant_id = $1 AND x.customer_id = $6 AND x.source_activity = o.activity"
	"                  AND x.status NOT IN ('cancelled', 'refunded'))"
	" ORDER BY o.code LIMIT 1",
	6, {INT8OID, TEXTOID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID}, NULL
};

/* Admitted actions of the customer on the play in the last minute. */
static CommercePlan plan_user_rate = {
	"SELECT count(*) FROM commerce.play_event"
	" WHERE tenant_id = $1 AND config_id = $2 AND customer_id = $3 AND kind <> 'view'"
	"   AND at > $4 - interval '1 minute'",
	4, {INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID}, NULL
};

/* Admitted actions from the IP on the play in the last minute. */
static CommercePlan plan_ip_rate = {
	"SELECT count(*) FROM commerce.play_event"
	" WHERE tenant_id = $1 AND config_id = $2 AND ip = $3 AND kind <> 'view'"
	"   AND at > $4 - interval '1 minute'",
	4, {INT8OID, INT8OID, TEXTOID, TIMESTAMPTZOID}, NULL
};

/* Admitted actions from the device on the play in the last minute. */
static CommercePlan plan_device_rate = {
	"SELECT count(*) FROM commerce.play_event"
	" WHERE tenant_id = $1 AND config_id = $2 AND device = $3 AND kind <> 'view'"
	"   AND at > $4 - interval '1 minute'",
	4, {INT8OID, INT8OID, TEXTOID, TIMESTAMPTZOID}, NULL
};

static CommercePlan plan_record = {
	"INSERT INTO commerce.play_event (tenant_id, config_id, kind, customer_id, ip, device, at)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7)",
	7, {INT8OID, INT8OID, TEXTOID, INT8OID, TEXTOID, TEXTOID, TIMESTAMPTZOID}, NULL
};

/* Transaction advisory lock on two 32-bit keys (the space pg_advisory_xact_lock(int4, int4) uses). */
static void
lock_pair(uint32 key1, uint32 key2)
{
	DirectFunctionCall2(pg_advisory_xact_lock_int4,
						Int32GetDatum((int32) key1), Int32GetDatum((int32) key2));
}

/* 32-bit hash of a string, for an advisory lock key. */
static uint32
key_hash(const char *s)
{
	return hash_bytes((const unsigned char *) s, (int) strlen(s));
}

/* Admitted actions of one customer, IP or device (per the plan) on the play in the last minute. */
static int64
admitted_last_minute(CommercePlan *plan, int64 tenant_id, int64 config_id, Datum who, TimestampTz now)
{
	Datum		v[4];

	v[0] = Int64GetDatum(tenant_id);
	v[1] = Int64GetDatum(config_id);
	v[2] = who;
	v[3] = TimestampTzGetDatum(now);
	commerce_exec(plan, v, NULL, 1);
	return commerce_get_int64(0, 1, NULL);
}

/* Datum of a text argument, or NULL. */
static Datum
text_or_null(const char *s, char *nulls, int i)
{
	if (s == NULL)
	{
		nulls[i] = 'n';
		return (Datum) 0;
	}
	return CStringGetTextDatum(s);
}

PG_FUNCTION_INFO_V1(commerce_play_admit);

/*
 * commerce._play_admit(tenant, config_id, customer_id, action, ip, device):
 * check every eligibility rule of the play for the customer, then record the
 * action.  Raises the rule's SQLSTATE on the first refusal.
 */
Datum
commerce_play_admit(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"p_tenant", "p_config_id", "p_customer_id", "p_action"};
	int64		tenant_id;
	int64		config_id;
	int64		customer_id;
	char	   *action;
	char	   *ip;
	char	   *device;
	TimestampTz now = commerce_clock();
	Datum		v[7];
	char		nulls[7];
	bool		isnull;
	char	   *code;
	char	   *customer;
	char	   *mutex;
	char	   *activity;
	bool		new_only;
	int64		per_user_limit;
	bool		has_limit;
	int64		user_rate;
	bool		has_user_rate;
	int64		ip_rate;
	bool		has_ip_rate;
	int64		device_rate;
	bool		has_device_rate;
	char	   *min_age;
	bool		unprofiled_new;
	TimestampTz starts_at;
	TimestampTz ends_at;

	commerce_require_args(fcinfo, 4, names);
	tenant_id = PG_GETARG_INT64(0);
	config_id = PG_GETARG_INT64(1);
	customer_id = PG_GETARG_INT64(2);
	action = text_to_cstring(PG_GETARG_TEXT_PP(3));
	ip = PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4));
	device = PG_ARGISNULL(5) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(5));
	if (commerce_word_index(action, play_actions, lengthof(play_actions)) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for p_action"),
				 errdetail("Unknown play action \"%s\".", commerce_quote(action)),
				 errhint("The play entry points pass join, buy, start, help or invite.")));
	if (ip != NULL && ip[0] == '\0')
		ip = NULL;
	if (device != NULL && device[0] == '\0')
		device = NULL;

	commerce_spi_connect();

	v[0] = Int64GetDatum(tenant_id);
	v[1] = Int64GetDatum(config_id);
	v[2] = Int64GetDatum(customer_id);
	v[3] = TimestampTzGetDatum(now);
	if (commerce_exec(play_config_is_0_7() ? &plan_context : &plan_context_0_6, v, NULL, 1) != 1)
		elog(ERROR, "commerce: play config %lld or customer %lld not found",
			 (long long) config_id, (long long) customer_id);
	code = commerce_get_text(0, 1);
	new_only = commerce_get_bool(0, 2, &isnull);
	per_user_limit = commerce_get_int64(0, 3, &isnull);
	has_limit = !isnull;
	mutex = commerce_get_text(0, 4);
	starts_at = commerce_get_timestamptz(0, 5, NULL);
	ends_at = commerce_get_timestamptz(0, 6, NULL);
	activity = commerce_get_text(0, 7);
	user_rate = commerce_get_int64(0, 8, &isnull);
	has_user_rate = !isnull;
	ip_rate = commerce_get_int64(0, 9, &isnull);
	has_ip_rate = !isnull;
	customer = commerce_get_text(0, 10);
	device_rate = commerce_get_int64(0, 11, &isnull);
	has_device_rate = !isnull;
	min_age = commerce_get_text(0, 12);
	unprofiled_new = commerce_get_bool(0, 13, &isnull);

	/* blacklist: the customer, the IP or the device */
	memset(nulls, ' ', sizeof(nulls));
	v[0] = Int64GetDatum(tenant_id);
	v[1] = CStringGetTextDatum(customer);
	v[2] = text_or_null(ip, nulls, 2);
	v[3] = text_or_null(device, nulls, 3);
	v[4] = TimestampTzGetDatum(now);
	if (commerce_exec(&plan_blacklist, v, nulls, 1) == 1)
	{
		char	   *kind = commerce_get_text(0, 1);
		char	   *value = commerce_get_text(0, 2);
		char	   *reason = commerce_get_text(0, 3);

		ereport(ERROR,
				(errcode(ERRCODE_COMMERCE_BLACKLISTED),
				 errmsg("customer \"%s\" may not take part in play \"%s\"", customer, code),
				 errdetail("The %s %s is on the blacklist: %s.",
						   strcmp(kind, "user") == 0 ? "customer" : kind, value,
						   reason ? reason : "no reason given"),
				 errhint("An operator removes the entry with commerce.unblacklist().")));
	}

	/* new customers only: no paid order, ever (an inviter is not the one the rule is about) */
	if (new_only && strcmp(action, "invite") != 0)
	{
		v[0] = Int64GetDatum(tenant_id);
		v[1] = Int64GetDatum(customer_id);
		if (commerce_exec(&plan_has_paid, v, NULL, 1) == 1)
			ereport(ERROR,
					(errcode(ERRCODE_COMMERCE_NOT_ELIGIBLE),
					 errmsg("play \"%s\" is for new customers only", code),
					 errdetail("Customer \"%s\" has paid orders.", customer),
					 errhint("Show this customer the plays open to everyone.")));
	}

	/* a new account without a profile (M6.2: flash sales keep out freshly made accounts) */
	if (unprofiled_new)
		ereport(ERROR,
				(errcode(ERRCODE_COMMERCE_NOT_ELIGIBLE),
				 errmsg("play \"%s\" is not open to new accounts without a profile", code),
				 errdetail("Customer \"%s\" was created less than %s ago and has no bound phone and no paid order.",
						   customer, min_age),
				 errhint("Bind a phone number to the account, or come back once it is older.")));

	/* what the customer already holds is counted under one lock per customer and play (or mutex group) */
	if (has_limit || mutex != NULL || has_user_rate)
		lock_pair(mutex != NULL ? key_hash(mutex) : (uint32) config_id, (uint32) customer_id);

	if (has_limit)
	{
		int64		taken;

		v[0] = Int64GetDatum(tenant_id);
		v[1] = Int64GetDatum(customer_id);
		v[2] = CStringGetTextDatum(activity);
		commerce_exec(&plan_taken, v, NULL, 1);
		taken = commerce_get_int64(0, 1, NULL);
		if (taken >= per_user_limit)
			ereport(ERROR,
					(errcode(ERRCODE_COMMERCE_LIMIT_REACHED),
					 errmsg("customer \"%s\" has reached the limit of play \"%s\"", customer, code),
					 errdetail("At most %lld per customer; the customer holds %lld.",
							   (long long) per_user_limit, (long long) taken),
					 errhint("The limit counts every order of the play that was neither cancelled nor refunded.")));
	}

	if (mutex != NULL)
	{
		v[0] = Int64GetDatum(tenant_id);
		v[1] = CStringGetTextDatum(mutex);
		v[2] = Int64GetDatum(config_id);
		v[3] = TimestampTzGetDatum(starts_at);
		v[4] = TimestampTzGetDatum(ends_at);
		v[5] = Int64GetDatum(customer_id);
		if (commerce_exec(&plan_mutex, v, NULL, 1) == 1)
			ereport(ERROR,
					(errcode(ERRCODE_COMMERCE_MUTEX),
					 errmsg("play \"%s\" excludes play \"%s\" the customer is in", code, commerce_get_text(0, 1)),
					 errdetail("Both are in mutex group %s and overlap in time.", mutex),
					 errhint("A customer takes one play of a mutex group at a time.")));
	}

	if (has_user_rate)
	{
		int64		n = admitted_last_minute(&plan_user_rate, tenant_id, config_id,
											 Int64GetDatum(customer_id), now);

		if (n >= user_rate)		/* PT429, HTTP 429 with Retry-After through PostgREST */
			commerce_too_many(psprintf("customer \"%s\" is acting too fast on play \"%s\"", customer, code),
							  psprintf("Admitted actions in the last minute: %lld; the play allows %lld.",
									   (long long) n, (long long) user_rate),
							  "The play allows so many actions a minute per customer.", 60);
	}

	if (has_ip_rate && ip != NULL)
	{
		int64		n;

		lock_pair((uint32) config_id, key_hash(ip));
		n = admitted_last_minute(&plan_ip_rate, tenant_id, config_id, CStringGetTextDatum(ip), now);
		if (n >= ip_rate)
			commerce_too_many(psprintf("too many actions from IP %s on play \"%s\"", ip, code),
							  psprintf("Admitted actions from this IP in the last minute: %lld; the play allows %lld.",
									   (long long) n, (long long) ip_rate),
							  "The play allows so many actions a minute per IP.", 60);
	}

	if (has_device_rate && device != NULL)
	{
		int64		n;

		lock_pair((uint32) config_id ^ 0x5a5a5a5aU, key_hash(device));
		n = admitted_last_minute(&plan_device_rate, tenant_id, config_id, CStringGetTextDatum(device), now);
		if (n >= device_rate)
			commerce_too_many(psprintf("too many actions from device \"%s\" on play \"%s\"", commerce_quote(device), code),
							  psprintf("Admitted actions from this device in the last minute: %lld; the play allows %lld.",
									   (long long) n, (long long) device_rate),
							  "The play allows so many actions a minute per device.", 60);
	}

	/* admitted: the event the rate limits and the dashboard count */
	memset(nulls, ' ', sizeof(nulls));
	v[0] = Int64GetDatum(tenant_id);
	v[1] = Int64GetDatum(config_id);
	v[2] = CStringGetTextDatum(action);
	v[3] = Int64GetDatum(customer_id);
	v[4] = text_or_null(ip, nulls, 4);
	v[5] = text_or_null(device, nulls, 5);
	v[6] = TimestampTzGetDatum(now);
	commerce_exec(&plan_record, v, nulls, 0);

	commerce_spi_finish();
	PG_RETURN_VOID();
}
