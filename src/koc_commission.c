/*
 * koc_commission.c
 *		The commission ledger (K13, K15): one earn line when an attributed
 *		order is redeemed, one reversing line per refund.
 *
 * Every line records the rule that computed it.  A reversal applies the
 * rule of its order's earn line (commission_rule), so a rule added later
 * never changes what an old line gives back; an unknown rule is refused.
 * The arithmetic is core_money.c's (commerce_money_rate_floor).
 *
 * Rule "floor-v1":
 *     commission(base) = floor(base x rate_bp / 10000) + bounty
 *     rate_bp          = min(task rate (or the tenant's koc_rate_bp) + level bonus, 10000)
 * snapshotted on the earn line with the level and task.  A refund of r fen
 * lowers the remaining base B to B' = max(B - r, 0) and adds the line
 *     -(floor(B x rate / 10000) - floor(B' x rate / 10000)) - (bounty if B' = 0)
 * so that whatever the refunds, the KOC keeps commission(remaining base),
 * exactly, and never less than zero.
 *
 * Lines are numbered per KOC (seq) under the KOC's account row lock; the
 * settlement takes prefixes of that numbering (koc_settlement.c).  Earn lines
 * become payable settle_hold (T+0.5 = 12 hours) after the redemption,
 * reversals at once.
 */
#include "commerce.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "utils/builtins.h"
#include "utils/rel.h"

/*
 * A commission rule: the amount of an earn line, and of the line that
 * reverses part of it when the order's remaining base drops from
 * remaining_fen to after_fen.
 */
typedef struct CommissionRule
{
	const char *name;
	int64		(*earn) (int64 base_fen, int64 rate_bp, int64 bounty_fen);
	int64		(*reverse) (int64 remaining_fen, int64 after_fen, int64 rate_bp, int64 bounty_fen);
} CommissionRule;

/* floor-v1: floor(base x rate / 10000) + bounty. */
static int64
floor_v1_earn(int64 base_fen, int64 rate_bp, int64 bounty_fen)
{
	return commerce_money_rate_floor(base_fen, rate_bp) + bounty_fen;
}

/* floor-v1: take back the difference of the floors, and the bounty when nothing is left. */
static int64
floor_v1_reverse(int64 remaining_fen, int64 after_fen, int64 rate_bp, int64 bounty_fen)
{
	return -(commerce_money_rate_floor(remaining_fen, rate_bp) -
			 commerce_money_rate_floor(after_fen, rate_bp)) -
		(after_fen == 0 ? bounty_fen : 0);
}

static const CommissionRule commission_rules[] = {
	{"floor-v1", floor_v1_earn, floor_v1_reverse},
};

/* The rule new earn lines are computed with. */
#define CURRENT_RULE (&commission_rules[0])

/* The rule a line names; refuse one this library does not know (0A000). */
static const CommissionRule *
commission_rule(const char *name, int64 order_id)
{
	for (int i = 0; i < (int) lengthof(commission_rules); i++)
		if (name != NULL && strcmp(commission_rules[i].name, name) == 0)
			return &commission_rules[i];
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("commission rule \"%s\" of order " INT64_FORMAT " is unknown",
					name ? name : "NULL", order_id),
			 errdetail("The order's earn line was computed by a rule this library does not have; "
					   "its refunds must be reversed by the same rule."),
			 errhint("Install the commerce library that wrote the line.")));
	pg_unreachable();
}

/* What the earn line of an order needs: the KOC's level, the task and the tenant's settings. */
static CommercePlan plan_earn_context = {
	"SELECT lv.code, lv.bonus_bp::int8,"
	"       coalesce(t.rate_bp, tn.koc_rate_bp)::int8, coalesce(t.bounty_fen, 0),"
	"       ($5::timestamptz + tn.settle_hold),"
	"       NOT EXISTS (SELECT 1 FROM commerce.orders p"
	"                    WHERE p.tenant_id = $1 AND p.customer_id = $4 AND p.order_id <> $6"
	"                      AND p.paid_at < $7)"
	"  FROM commerce.tenant tn"
	"  JOIN commerce.koc k ON k.tenant_id = tn.tenant_id AND k.koc_id = $2"
	"  JOIN commerce.koc_level lv ON lv.tenant_id = k.tenant_id AND lv.code = k.level_code"
	"  LEFT JOIN commerce.koc_task t ON t.tenant_id = tn.tenant_id AND t.task_id = $3"
	" WHERE tn.tenant_id = $1",
	7, {INT8OID, INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID, INT8OID, TIMESTAMPTZOID}, NULL
};

/* The lines of an order so far, earn line first. */
static CommercePlan plan_order_lines = {
	"SELECT koc_id, kind, base_fen, rate_bp::int8, bounty_fen, task_id, customer_id,"
	"       task_rate_bp::int8, level_code, level_bonus_bp::int8, source_key, rule"
	"  FROM commerce.commission_line"
	" WHERE tenant_id = $1 AND order_id = $2"
	" ORDER BY seq",
	2, {INT8OID, INT8OID}, NULL
};

/* Take the KOC's next line number (creating the account), locking the account row. */
static CommercePlan plan_next_seq = {
	"INSERT INTO commerce.koc_account AS a (tenant_id, koc_id, next_seq, due_at, unsettled_fen,"
	"                                       last_payable_at)"
	" VALUES ($1, $2, 2, $3, $4, $3)"
	" ON CONFLICT (tenant_id, koc_id) DO UPDATE"
	"   SET next_seq = a.next_seq + 1, due_at = least(a.due_at, EXCLUDED.due_at),"
	"       unsettled_fen = a.unsettled_fen + EXCLUDED.unsettled_fen,"
	"       last_payable_at = greatest(a.last_payable_at, EXCLUDED.last_payable_at)"
	" RETURNING next_seq - 1",
	4, {INT8OID, INT8OID, TIMESTAMPTZOID, INT8OID}, NULL
};

static CommercePlan plan_insert_line = {
	"INSERT INTO commerce.commission_line (tenant_id, koc_id, seq, kind, source_key, order_id, task_id,"
	" customer_id, new_customer, base_fen, task_rate_bp, level_code, level_bonus_bp, rate_bp, bounty_fen,"
	" amount_fen, rule, occurred_at, payable_at)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::int4, $12, $13::int4, $14::int4, $15, $16,"
	" $19, $17, $18)",
	19, {INT8OID, INT8OID, INT8OID, TEXTOID, TEXTOID, INT8OID, INT8OID, INT8OID, BOOLOID, INT8OID,
		 INT8OID, TEXTOID, INT8OID, INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID}, NULL
};

/* A commission line about to be written. */
typedef struct Line
{
	int64		tenant_id;
	int64		koc_id;
	const char *kind;
	const char *source_key;
	int64		order_id;
	int64		task_id;		/* 0: none */
	int64		customer_id;	/* 0: none */
	bool		new_customer;
	int64		base_fen;
	int64		task_rate_bp;
	const char *level_code;
	int64		level_bonus_bp;
	int64		rate_bp;
	int64		bounty_fen;
	int64		amount_fen;
	TimestampTz occurred_at;
	TimestampTz payable_at;
	const CommissionRule *rule;	/* the rule that computed the line */
} Line;

/* Number the line under the KOC's account lock and insert it. */
static void
write_line(Line *l)
{
	Datum		v[19];
	char		n[20] = "                   ";
	bool		isnull;

	v[0] = Int64GetDatum(l->tenant_id);
	v[1] = Int64GetDatum(l->koc_id);
	v[2] = TimestampTzGetDatum(l->payable_at);
	v[3] = Int64GetDatum(l->amount_fen);
	if (commerce_exec(&plan_next_seq, v, NULL, 1) != 1)
		elog(ERROR, "commerce: could not number a commission line");
	v[2] = Int64GetDatum(commerce_get_int64(0, 1, &isnull));
	v[3] = CStringGetTextDatum(l->kind);
	v[4] = CStringGetTextDatum(l->source_key);
	v[5] = Int64GetDatum(l->order_id);
	v[6] = Int64GetDatum(l->task_id);
	n[6] = l->task_id == 0 ? 'n' : ' ';
	v[7] = Int64GetDatum(l->customer_id);
	n[7] = l->customer_id == 0 ? 'n' : ' ';
	v[8] = BoolGetDatum(l->new_customer);
	v[9] = Int64GetDatum(l->base_fen);
	v[10] = Int64GetDatum(l->task_rate_bp);
	v[11] = CStringGetTextDatum(l->level_code);
	v[12] = Int64GetDatum(l->level_bonus_bp);
	v[13] = Int64GetDatum(l->rate_bp);
	v[14] = Int64GetDatum(l->bounty_fen);
	v[15] = Int64GetDatum(l->amount_fen);
	v[16] = TimestampTzGetDatum(l->occurred_at);
	v[17] = TimestampTzGetDatum(l->payable_at);
	v[18] = CStringGetTextDatum(l->rule->name);
	commerce_exec(&plan_insert_line, v, n, 0);
}

/* The columns of commerce.orders the earn line reads (OC_* numbers), kept per relation. */
static const char *const order_column_names[] = {
	"tenant_id", "order_id", "koc_id", "koc_task_id", "customer_id",
	"goods_fen", "discount_fen", "refunded_fen", "paid_at"
};
enum
{
	OC_TENANT_ID, OC_ORDER_ID, OC_KOC_ID, OC_KOC_TASK_ID, OC_CUSTOMER_ID,
	OC_GOODS_FEN, OC_DISCOUNT_FEN, OC_REFUNDED_FEN, OC_PAID_AT
};
static CommerceColumns order_columns = COMMERCE_COLUMNS(order_column_names);

/* The columns of commerce.order_event the reversing line reads (EV_* numbers). */
static const char *const event_column_names[] = {
	"tenant_id", "order_id", "amount_fen", "source_key"
};
enum
{
	EV_TENANT_ID, EV_ORDER_ID, EV_AMOUNT_FEN, EV_SOURCE_KEY
};
static CommerceColumns event_columns = COMMERCE_COLUMNS(event_column_names);

PG_FUNCTION_INFO_V1(commerce_commission_on_redeem);

/*
 * AFTER UPDATE OF status ON commerce.orders FOR EACH ROW WHEN (the order
 * becomes completed and is attributed): write its earn line, once.
 */
Datum
commerce_commission_on_redeem(PG_FUNCTION_ARGS)
{
	TriggerData *td = commerce_trigger_check(fcinfo, "commission_on_redeem", false,
											 COMMERCE_ON_UPDATE, 0);
	HeapTuple	o = td->tg_newtuple;
	TupleDesc	desc = td->tg_relation->rd_att;
	const int  *att = commerce_columns(&order_columns, td->tg_relation);
	bool		isnull;
	Line		l;
	int64		goods;
	int64		discount;
	int64		refunded;
	TimestampTz paid_at;
	Datum		v[7];
	char		n[8] = "       ";

	memset(&l, 0, sizeof(l));
	l.tenant_id = commerce_attr_int64(o, desc, att[OC_TENANT_ID], &isnull);
	l.order_id = commerce_attr_int64(o, desc, att[OC_ORDER_ID], &isnull);
	l.koc_id = commerce_attr_int64(o, desc, att[OC_KOC_ID], &isnull);
	if (isnull)
		return PointerGetDatum(NULL);
	l.task_id = commerce_attr_int64(o, desc, att[OC_KOC_TASK_ID], &isnull);
	l.customer_id = commerce_attr_int64(o, desc, att[OC_CUSTOMER_ID], &isnull);
	goods = commerce_attr_int64(o, desc, att[OC_GOODS_FEN], &isnull);
	discount = commerce_attr_int64(o, desc, att[OC_DISCOUNT_FEN], &isnull);
	refunded = commerce_attr_int64(o, desc, att[OC_REFUNDED_FEN], &isnull);
	paid_at = commerce_attr_timestamptz(o, desc, att[OC_PAID_AT], &isnull);
	l.occurred_at = commerce_clock();
	l.kind = "earn";
	l.source_key = psprintf("order:" INT64_FORMAT, l.order_id);
	/* the goods paid for, less what was refunded before the redemption */
	l.base_fen = Max(goods - discount - refunded, 0);

	commerce_spi_connect();
	v[0] = Int64GetDatum(l.tenant_id);
	v[1] = Int64GetDatum(l.order_id);
	if (commerce_exec(&plan_order_lines, v, NULL, 1) > 0)
	{
		/* redeemed before (completed, after-sale, completed again): one line only */
		commerce_spi_finish();
		return PointerGetDatum(NULL);
	}
	v[1] = Int64GetDatum(l.koc_id);
	v[2] = Int64GetDatum(l.task_id);
	n[2] = l.task_id == 0 ? 'n' : ' ';
	v[3] = Int64GetDatum(l.customer_id);
	n[3] = l.customer_id == 0 ? 'n' : ' ';
	v[4] = TimestampTzGetDatum(l.occurred_at);
	v[5] = Int64GetDatum(l.order_id);
	v[6] = TimestampTzGetDatum(paid_at);
	n[6] = paid_at == 0 ? 'n' : ' ';
	if (commerce_exec(&plan_earn_context, v, n, 1) != 1)
		elog(ERROR, "commerce: KOC " INT64_FORMAT " of order " INT64_FORMAT " has no level",
			 l.koc_id, l.order_id);
	l.level_code = commerce_get_text(0, 1);
	l.level_bonus_bp = commerce_get_int64(0, 2, &isnull);
	l.task_rate_bp = commerce_get_int64(0, 3, &isnull);
	l.bounty_fen = commerce_get_int64(0, 4, &isnull);
	l.payable_at = commerce_get_timestamptz(0, 5, &isnull);
	l.new_customer = l.customer_id != 0 && commerce_get_bool(0, 6, &isnull);
	l.rate_bp = Min(l.task_rate_bp + l.level_bonus_bp, COMMERCE_BP_SCALE);
	if (l.base_fen == 0)
		l.bounty_fen = 0;		/* nothing was bought in the end */
	l.rule = CURRENT_RULE;
	l.amount_fen = l.rule->earn(l.base_fen, l.rate_bp, l.bounty_fen);
	write_line(&l);
	commerce_spi_finish();
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(commerce_commission_on_refund);

/*
 * AFTER INSERT ON commerce.order_event FOR EACH ROW WHEN (a refund): when
 * the order already has its earn line, write the reversing line.  A refund
 * before the redemption needs none: the earn line is computed on what is
 * left.
 */
Datum
commerce_commission_on_refund(PG_FUNCTION_ARGS)
{
	TriggerData *td = commerce_trigger_check(fcinfo, "commission_on_refund", false,
											 COMMERCE_ON_INSERT, 0);
	HeapTuple	e = td->tg_trigtuple;
	TupleDesc	desc = td->tg_relation->rd_att;
	const int  *att = commerce_columns(&event_columns, td->tg_relation);
	bool		isnull;
	int64		refund;
	int64		remaining;
	int64		after;
	Line		l;
	Datum		v[2];

	memset(&l, 0, sizeof(l));
	l.tenant_id = commerce_attr_int64(e, desc, att[EV_TENANT_ID], &isnull);
	l.order_id = commerce_attr_int64(e, desc, att[EV_ORDER_ID], &isnull);
	refund = commerce_attr_int64(e, desc, att[EV_AMOUNT_FEN], &isnull);
	if (refund <= 0)
		return PointerGetDatum(NULL);

	commerce_spi_connect();
	v[0] = Int64GetDatum(l.tenant_id);
	v[1] = Int64GetDatum(l.order_id);
	if (commerce_exec(&plan_order_lines, v, NULL, 0) == 0)
	{
		commerce_spi_finish();
		return PointerGetDatum(NULL);
	}
	/* row 0 is the earn line; the others are earlier reversals */
	if (strcmp(commerce_get_text(0, 2), "earn") != 0)
		elog(ERROR, "commerce: the first commission line of order " INT64_FORMAT " is not an earn line",
			 l.order_id);
	remaining = 0;
	for (uint64 i = 0; i < SPI_processed; i++)
		remaining += commerce_get_int64(i, 3, &isnull);
	l.koc_id = commerce_get_int64(0, 1, &isnull);
	l.rate_bp = commerce_get_int64(0, 4, &isnull);
	l.task_id = commerce_get_int64(0, 6, &isnull);
	l.customer_id = commerce_get_int64(0, 7, &isnull);
	l.task_rate_bp = commerce_get_int64(0, 8, &isnull);
	l.level_code = commerce_get_text(0, 9);
	l.level_bonus_bp = commerce_get_int64(0, 10, &isnull);
	if (remaining <= 0)
	{
		commerce_spi_finish();
		return PointerGetDatum(NULL);	/* nothing left to take back */
	}
	/* the refund is reversed by the rule that computed the earn line */
	l.rule = commission_rule(commerce_get_text(0, 12), l.order_id);
	after = Max(remaining - refund, 0);
	l.kind = "reverse";
	l.source_key = psprintf("refund:%s", commerce_attr_text(e, desc, att[EV_SOURCE_KEY]));
	l.base_fen = after - remaining;
	l.bounty_fen = after == 0 ? -commerce_get_int64(0, 5, &isnull) : 0;
	l.amount_fen = l.rule->reverse(remaining, after, l.rate_bp, commerce_get_int64(0, 5, &isnull));
	l.occurred_at = commerce_clock();
	l.payable_at = l.occurred_at;
	write_line(&l);
	commerce_spi_finish();
	return PointerGetDatum(NULL);
}
