/*
 * crm_segments.c
 *		Segment condition trees (CRM08) compiled once into one set-based
 *		SELECT of the persons who match.
 *
 * A tree is a JSON document of nodes:
 *     {"and": [node, ...]}  {"or": [node, ...]}  {"not": node}
 *     {"field": "level", "op": ">", "value": 3}
 *     {"field": "spent", "days": 30, "op": ">", "value": 50000}
 *     {"tag": "vip"}   {"group": "wecom-g1"}
 *     {"event": "browse", "days": 7, "op": ">=", "value": 3, "ref": "sku-1"}
 * (docs/crm.md lists the fields, their types and operators).  The compiler
 * emits SQL over commerce.crm_feature f and, only when the tree needs them,
 * one pre-aggregated join per source (daily rollups, events, points, KOC
 * levels): the same shape as a hand-written scan-and-aggregate pass, so a
 * full rebuild costs about one scan.  Every value of the tree is a
 * parameter, never text in the SQL: $1 tenant, $2 the tenant's local date,
 * $3 the time of evaluation, $4 the tree's numbers (bigint[]), $5 its
 * strings (text[]), and in the per-person form $6 the persons (bigint[]).
 * Identifiers come only from the field table below.  Each leaf is
 * two-valued (coalesce(..., false)), so "not" means what it says for a
 * person without the figure.  A bad tree is refused with 22023 naming the
 * JSON path of the offending node, e.g. "$.and[1].or[0].op".
 */
#include "commerce.h"

#include <jansson.h>

#include "access/htup_details.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"

#define SEG_MAX_DEPTH		8
#define SEG_MAX_CONDITIONS	64
#define SEG_MAX_DAYS		3650
#define SEG_MAX_IN			100
#define SEG_MAX_TEXT		200
#define SEG_MAX_NUMBER		INT64CONST(1000000000000000)

typedef enum SegType
{
	SEG_INT, SEG_TEXT, SEG_BOOL, SEG_RANK
} SegType;

/* The sources a field reads beside crm_feature. */
#define SEG_JOIN_DAY	0x01		/* crm_day windows */
#define SEG_JOIN_POINTS 0x02		/* points_account through the person's customers */
#define SEG_JOIN_KOC	0x04		/* koc and koc_level through the person's customers */

typedef struct SegField
{
	const char *name;
	SegType		type;
	const char *expr;			/* SQL over f (and the joins), NULL: built */
	bool		windowed;		/* takes "days" (then read from crm_day) */
	int			joins;
} SegField;

static const SegField seg_fields[] = {
	{"level", SEG_INT, "f.level", false, 0},
	{"growth", SEG_INT, "f.growth", false, 0},
	{"orders", SEG_INT, "f.orders_count", true, 0},
	{"spent", SEG_INT, "f.spent_fen", true, 0},
	{"refunded", SEG_INT, "f.refunded_fen", false, 0},
	{"days_since_order", SEG_INT, "($2 - f.last_order_day)", false, 0},
	{"days_since_registered", SEG_INT, "($2 - f.registered_day)", false, 0},
	{"birthday_month", SEG_INT, "f.birthday_month", false, 0},
	{"points", SEG_INT, "coalesce(p.available, 0)", false, SEG_JOIN_POINTS},
	{"source", SEG_TEXT, "f.source", false, 0},
	{"rfm_tier", SEG_TEXT, "f.rfm_tier", false, 0},
	{"churn_risk_bp", SEG_INT, "f.churn_risk_bp", false, 0},
	{"member", SEG_BOOL, NULL, false, 0},
	{"membership_plan", SEG_TEXT, NULL, false, 0},
	{"koc", SEG_BOOL, "(k.rank IS NOT NULL)", false, SEG_JOIN_KOC},
	{"koc_level", SEG_RANK, "k.rank", false, SEG_JOIN_KOC},
};

static const char *const seg_ops[] = {"=", "!=", ">", ">=", "<", "<=", "in"};
static const char *const seg_args[] = {"p_tree"};

/* A window of the daily rollups or of the events a tree reads. */
typedef struct SegWindow
{
	int			metric;			/* 0 orders, 1 spent (crm_day); 2 events */
	int64		days;
	int			kind_str;		/* events: $5 index of the kind */
	int			ref_str;		/* events: $5 index of the ref, 0: any */
	int			days_num;		/* $4 index of days */
} SegWindow;

typedef struct SegCompiler
{
	StringInfoData expr;
	int64	   *nums;
	int			nnums;
	int			maxnums;
	char	  **strs;
	int			nstrs;
	int			maxstrs;
	SegWindow	windows[SEG_MAX_CONDITIONS];
	int			nwindows;
	char	   *tags[SEG_MAX_CONDITIONS];
	int			ntags;
	int			joins;
	int			conditions;
} SegCompiler;

static void seg_error(const char *path, const char *problem, const char *hint) pg_attribute_noreturn();

/* A text datum of a C string (utils/builtins.h clashes with jansson.h). */
static Datum
seg_text_datum(const char *s)
{
	size_t		len = strlen(s);
	text	   *t = (text *) palloc(len + VARHDRSZ);

	SET_VARSIZE(t, len + VARHDRSZ);
	memcpy(VARDATA(t), s, len);
	return PointerGetDatum(t);
}

/* Raise 22023 for a node of a tree, naming its JSON path. */
static void
seg_error(const char *path, const char *problem, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid segment condition at %s: %s", path, problem),
			 errhint("%s", hint)));
}

/* The path of a child: path.key or path.key[i]. */
static char *
seg_path(const char *path, const char *key, int index)
{
	if (index < 0)
		return psprintf("%s.%s", path, key);
	return psprintf("%s.%s[%d]", path, key, index);
}

/* Add a number parameter; its $4 index (1-based). */
static int
seg_num(SegCompiler *c, int64 v)
{
	if (c->nnums == c->maxnums)
	{
		c->maxnums *= 2;
		c->nums = repalloc(c->nums, sizeof(int64) * c->maxnums);
	}
	c->nums[c->nnums++] = v;
	return c->nnums;
}

/* Add a string parameter; its $5 index (1-based). */
static int
seg_str(SegCompiler *c, const char *s)
{
	if (c->nstrs == c->maxstrs)
	{
		c->maxstrs *= 2;
		c->strs = repalloc(c->strs, sizeof(char *) * c->maxstrs);
	}
	c->strs[c->nstrs++] = pstrdup(s);
	return c->nstrs;
}

/* A JSON integer within the tree's bounds. */
static int64
seg_int(json_t *v, const char *path, int64 lo, int64 hi, const char *hint)
{
	int64		n;

	if (!json_is_integer(v))
		seg_error(path, "expected an integer", hint);
	n = (int64) json_integer_value(v);
	if (n < lo || n > hi)
		seg_error(path, psprintf("%lld is out of range " INT64_FORMAT " to " INT64_FORMAT, (long long) n, lo, hi), hint);
	return n;
}

/* A JSON string of 1 to SEG_MAX_TEXT characters. */
static const char *
seg_text(json_t *v, const char *path, const char *hint)
{
	const char *s;
	int			len;

	if (!json_is_string(v))
		seg_error(path, "expected a string", hint);
	s = json_string_value(v);
	len = (int) strlen(s);
	if (len == 0 || pg_mbstrlen_with_len(s, len) > SEG_MAX_TEXT)
		seg_error(path, "a string of 1 to 200 characters is expected", hint);
	return s;
}

/* Refuse keys of an object outside the allowed list. */
static void
seg_keys(json_t *node, const char *path, const char *const *allowed, int n, const char *hint)
{
	const char *key;
	json_t	   *value;

	json_object_foreach(node, key, value)
	{
		if (commerce_word_index(key, allowed, n) < 0)
			seg_error(seg_path(path, key, -1), "unknown key", hint);
	}
}

/* The window of a metric over days, added once; its index in c->windows. */
static int
seg_window(SegCompiler *c, int metric, int64 days, int kind_str, int ref_str)
{
	for (int i = 0; i < c->nwindows; i++)
	{
		SegWindow  *w = &c->windows[i];

		if (w->metric == metric && w->days == days && metric < 2)
			return i;
	}
	c->windows[c->nwindows].metric = metric;
	c->windows[c->nwindows].days = days;
	c->windows[c->nwindows].kind_str = kind_str;
	c->windows[c->nwindows].ref_str = ref_str;
	c->windows[c->nwindows].days_num = seg_num(c, days);
	return c->nwindows++;
}

/* Write "lhs op value" for a comparison; the value (or list) becomes parameters. */
static void
seg_compare(SegCompiler *c, const char *lhs, SegType type, const char *op, json_t *value,
			const char *path)
{
	StringInfo	s = &c->expr;
	char	   *vpath = seg_path(path, "value", -1);
	const char *hint_int = "Compare an integer field with an integer (amounts in fen).";
	const char *hint_text = "Compare a text field with a string.";

	if (strcmp(op, "in") == 0)
	{
		size_t		i;
		json_t	   *item;
		int			first = 0;

		if (type == SEG_BOOL || type == SEG_RANK)
			seg_error(seg_path(path, "op", -1), "\"in\" takes an integer or text field",
					  "Use = or != for yes/no fields and comparisons for koc_level.");
		if (!json_is_array(value) || json_array_size(value) == 0 || json_array_size(value) > SEG_MAX_IN)
			seg_error(vpath, "\"in\" takes a list of 1 to 100 values", "Write \"value\": [1, 2, 3].");
		json_array_foreach(value, i, item)
		{
			char	   *ipath = psprintf("%s[%d]", vpath, (int) i);
			int			idx;

			if (type == SEG_INT)
				idx = seg_num(c, seg_int(item, ipath, -SEG_MAX_NUMBER, SEG_MAX_NUMBER, hint_int));
			else
				idx = seg_str(c, seg_text(item, ipath, hint_text));
			if (i == 0)
				first = idx;
		}
		appendStringInfo(s, "coalesce(%s = ANY ($%d[%d:%d]), false)", lhs, type == SEG_INT ? 4 : 5,
						 first, first + (int) json_array_size(value) - 1);
		return;
	}
	switch (type)
	{
		case SEG_INT:
			appendStringInfo(s, "coalesce(%s %s $4[%d], false)", lhs, strcmp(op, "!=") == 0 ? "<>" : op,
							 seg_num(c, seg_int(value, vpath, -SEG_MAX_NUMBER, SEG_MAX_NUMBER, hint_int)));
			break;
		case SEG_TEXT:
			if (strcmp(op, "=") != 0 && strcmp(op, "!=") != 0)
				seg_error(seg_path(path, "op", -1), "a text field takes =, != or in",
						  "Compare text with =, != or in.");
			appendStringInfo(s, "coalesce(%s %s $5[%d], false)", lhs, strcmp(op, "!=") == 0 ? "<>" : "=",
							 seg_str(c, seg_text(value, vpath, hint_text)));
			break;
		case SEG_BOOL:
			if (strcmp(op, "=") != 0 && strcmp(op, "!=") != 0)
				seg_error(seg_path(path, "op", -1), "a yes/no field takes = or !=", "Write \"op\": \"=\", \"value\": true.");
			if (!json_is_boolean(value))
				seg_error(vpath, "expected true or false", "A yes/no field compares with true or false.");
			appendStringInfo(s, "(%s%s)", (json_is_true(value) == (strcmp(op, "=") == 0)) ? "" : "NOT ", lhs);
			break;
		case SEG_RANK:
			/* a KOC level compares by its rank; an unknown level code matches nobody */
			appendStringInfo(s, "coalesce(%s %s (SELECT l.rank FROM commerce.koc_level l WHERE l.tenant_id = $1 AND l.code = $5[%d]), false)",
							 lhs, strcmp(op, "!=") == 0 ? "<>" : op,
							 seg_str(c, seg_text(value, vpath, "Name a KOC level by its code.")));
			break;
	}
}

/* Compile one node at path into c->expr. */
static void
seg_node(SegCompiler *c, json_t *node, const char *path, int depth)
{
	static const char *const field_keys[] = {"field", "op", "value", "days"};
	static const char *const event_keys[] = {"event", "op", "value", "days", "ref"};
	const char *node_hint = "A node is {\"and\":[...]}, {\"or\":[...]}, {\"not\":{...}}, {\"field\",\"op\",\"value\"[,\"days\"]}, {\"tag\"}, {\"group\"} or {\"event\",\"days\",\"op\",\"value\"[,\"ref\"]}.";
	json_t	   *v;

	if (depth > SEG_MAX_DEPTH)
		seg_error(path, "nested too deep", "A tree nests and/or/not at most 8 levels.");
	if (!json_is_object(node))
		seg_error(path, "expected an object", node_hint);

	if ((v = json_object_get(node, "and")) != NULL || (v = json_object_get(node, "or")) != NULL)
	{
		const char *comb = json_object_get(node, "and") ? "and" : "or";
		size_t		i;
		json_t	   *child;

		if (json_object_size(node) != 1)
			seg_error(path, "and/or stands alone in its object", "Write {\"and\":[...]} or {\"or\":[...]} with no other key.");
		if (!json_is_array(v) || json_array_size(v) == 0)
			seg_error(seg_path(path, comb, -1), "expected a non-empty list", "Write {\"and\":[node, ...]}.");
		appendStringInfoChar(&c->expr, '(');
		json_array_foreach(v, i, child)
		{
			if (i > 0)
				appendStringInfo(&c->expr, " %s ", strcmp(comb, "and") == 0 ? "AND" : "OR");
			seg_node(c, child, seg_path(path, comb, (int) i), depth + 1);
		}
		appendStringInfoChar(&c->expr, ')');
		return;
	}
	if ((v = json_object_get(node, "not")) != NULL)
	{
		if (json_object_size(node) != 1)
			seg_error(path, "not stands alone in its object", "Write {\"not\":{...}} with no other key.");
		appendStringInfoString(&c->expr, "(NOT ");
		seg_node(c, v, seg_path(path, "not", -1), depth + 1);
		appendStringInfoChar(&c->expr, ')');
		return;
	}

	if (++c->conditions > SEG_MAX_CONDITIONS)
		seg_error(path, "too many conditions", "A tree has at most 64 conditions.");

	if ((v = json_object_get(node, "tag")) != NULL || (v = json_object_get(node, "group")) != NULL)
	{
		bool		is_tag = json_object_get(node, "tag") != NULL;
		const char *code;
		int			idx;

		if (json_object_size(node) != 1)
			seg_error(path, is_tag ? "tag stands alone in its object" : "group stands alone in its object",
					  "Write {\"tag\":\"<code>\"} or {\"group\":\"<code>\"}; wrap it in not for the opposite.");
		code = seg_text(v, seg_path(path, is_tag ? "tag" : "group", -1), "Name the tag or group by its code.");
		idx = seg_str(c, code);
		if (is_tag)
		{
			bool		seen = false;

			for (int i = 0; i < c->ntags; i++)
				seen = seen || strcmp(c->tags[i], code) == 0;
			if (!seen)
				c->tags[c->ntags++] = pstrdup(code);
			appendStringInfo(&c->expr,
							 "EXISTS (SELECT 1 FROM commerce.person_tag pt JOIN commerce.tag t ON t.tenant_id = pt.tenant_id AND t.tag_id = pt.tag_id"
							 " WHERE pt.tenant_id = $1 AND pt.person_id = f.person_id AND t.code = $5[%d])", idx);
		}
		else
			appendStringInfo(&c->expr,
							 "EXISTS (SELECT 1 FROM commerce.person_group pg WHERE pg.tenant_id = $1 AND pg.person_id = f.person_id"
							 " AND pg.group_code = $5[%d])", idx);
		return;
	}

	if ((v = json_object_get(node, "event")) != NULL)
	{
		const char *kind;
		int			kind_str;
		int			ref_str = 0;
		int64		days;
		const char *op;
		int			w;
		char	   *lhs;
		json_t	   *ref = json_object_get(node, "ref");
		const char *ev_hint = "Write {\"event\":\"browse\",\"days\":7,\"op\":\">=\",\"value\":3} (optionally \"ref\").";

		seg_keys(node, path, event_keys, lengthof(event_keys), ev_hint);
		kind = seg_text(v, seg_path(path, "event", -1), ev_hint);
		if (json_object_get(node, "days") == NULL || json_object_get(node, "op") == NULL || json_object_get(node, "value") == NULL)
			seg_error(path, "an event condition needs days, op and value", ev_hint);
		days = seg_int(json_object_get(node, "days"), seg_path(path, "days", -1), 1, SEG_MAX_DAYS, "A window is 1 to 3650 days.");
		if (!json_is_string(json_object_get(node, "op")) ||
			commerce_word_index(json_string_value(json_object_get(node, "op")), seg_ops, lengthof(seg_ops) - 1) < 0)
			seg_error(seg_path(path, "op", -1), "unknown operator", "Count events with =, !=, >, >=, < or <=.");
		op = json_string_value(json_object_get(node, "op"));
		kind_str = seg_str(c, kind);
		if (ref != NULL)
			ref_str = seg_str(c, seg_text(ref, seg_path(path, "ref", -1), ev_hint));
		w = seg_window(c, 2, days, kind_str, ref_str);
		lhs = psprintf("coalesce(e.w%d, 0)", w);
		seg_compare(c, lhs, SEG_INT, op, json_object_get(node, "value"), path);
		return;
	}

	if ((v = json_object_get(node, "field")) != NULL)
	{
		const SegField *fld = NULL;
		const char *name;
		const char *op;
		json_t	   *days = json_object_get(node, "days");
		char	   *lhs;
		StringInfoData names;

		seg_keys(node, path, field_keys, lengthof(field_keys), "A field condition is {\"field\",\"op\",\"value\"} with \"days\" for windowed fields.");
		if (!json_is_string(v))
			seg_error(seg_path(path, "field", -1), "expected a field name", "Name a field (docs/crm.md, segments).");
		name = json_string_value(v);
		for (int i = 0; i < (int) lengthof(seg_fields); i++)
			if (strcmp(seg_fields[i].name, name) == 0)
				fld = &seg_fields[i];
		if (fld == NULL)
		{
			initStringInfo(&names);
			for (int i = 0; i < (int) lengthof(seg_fields); i++)
				appendStringInfo(&names, "%s%s", i ? ", " : "", seg_fields[i].name);
			seg_error(seg_path(path, "field", -1), psprintf("unknown field \"%s\"", commerce_quote(name)),
					  psprintf("The fields are: %s.", names.data));
		}
		if (!json_is_string(json_object_get(node, "op")) ||
			commerce_word_index(json_string_value(json_object_get(node, "op")), seg_ops, lengthof(seg_ops)) < 0)
			seg_error(seg_path(path, "op", -1), "unknown operator", "The operators are =, !=, >, >=, <, <= and in.");
		op = json_string_value(json_object_get(node, "op"));
		if (json_object_get(node, "value") == NULL)
			seg_error(path, "a field condition needs a value", "Write {\"field\",\"op\",\"value\"}.");
		c->joins |= fld->joins;
		if (days != NULL)
		{
			int64		d;
			int			w;

			if (!fld->windowed)
				seg_error(seg_path(path, "days", -1), psprintf("field \"%s\" has no window", name),
						  "Only orders and spent take \"days\" (the last n days, today included).");
			d = seg_int(days, seg_path(path, "days", -1), 1, SEG_MAX_DAYS, "A window is 1 to 3650 days.");
			w = seg_window(c, strcmp(name, "orders") == 0 ? 0 : 1, d, 0, 0);
			c->joins |= SEG_JOIN_DAY;
			lhs = psprintf("coalesce(w.w%d, 0)", w);
		}
		else if (strcmp(name, "member") == 0 || strcmp(name, "membership_plan") == 0)
		{
			/* a paid membership whose benefits last: active, past_due (grace) or cancelled (to period_end) */
			const char *exists = "EXISTS (SELECT 1 FROM commerce.membership ms JOIN commerce.customer mc ON mc.tenant_id = ms.tenant_id AND mc.customer_id = ms.customer_id"
				"%s WHERE ms.tenant_id = $1 AND mc.person_id = f.person_id AND ms.status IN ('active', 'past_due', 'cancelled')%s)";

			if (strcmp(name, "member") == 0)
			{
				lhs = psprintf(exists, "", "");
				seg_compare(c, lhs, SEG_BOOL, op, json_object_get(node, "value"), path);
				return;
			}
			if (strcmp(op, "=") != 0 && strcmp(op, "in") != 0)
				seg_error(seg_path(path, "op", -1), "membership_plan takes = or in",
						  "Wrap it in not for \"not on this plan\".");
			if (strcmp(op, "=") == 0)
				lhs = psprintf(exists, " JOIN commerce.membership_plan mp ON mp.tenant_id = ms.tenant_id AND mp.plan_id = ms.plan_id",
							   psprintf(" AND mp.code = $5[%d]", seg_str(c, seg_text(json_object_get(node, "value"), seg_path(path, "value", -1), "Name the plan by its code."))));
			else
			{
				json_t	   *list = json_object_get(node, "value");
				size_t		i;
				json_t	   *item;
				int			first = 0;

				if (!json_is_array(list) || json_array_size(list) == 0 || json_array_size(list) > SEG_MAX_IN)
					seg_error(seg_path(path, "value", -1), "\"in\" takes a list of 1 to 100 values", "Write \"value\": [\"annual\", \"monthly\"].");
				json_array_foreach(list, i, item)
				{
					int			idx = seg_str(c, seg_text(item, psprintf("%s.value[%d]", path, (int) i), "Name the plan by its code."));

					if (i == 0)
						first = idx;
				}
				lhs = psprintf(exists, " JOIN commerce.membership_plan mp ON mp.tenant_id = ms.tenant_id AND mp.plan_id = ms.plan_id",
							   psprintf(" AND mp.code = ANY ($5[%d:%d])", first, first + (int) json_array_size(list) - 1));
			}
			appendStringInfoString(&c->expr, lhs);
			return;
		}
		else
			lhs = pstrdup(fld->expr);
		seg_compare(c, lhs, fld->type, op, json_object_get(node, "value"), path);
		return;
	}
	seg_error(path, "not a condition", node_hint);
}

/*
 * The SELECT of the persons matching: all of the tenant's (each source
 * aggregated once over its widest window, joined by hash), or those in $6
 * (each source read per person through its index, LATERAL).
 */
static char *
seg_select(SegCompiler *c, bool some, int day_max, int event_max, int kinds_lo, int kinds_hi)
{
	StringInfoData s;
	bool		first;

	initStringInfo(&s);
	appendStringInfoString(&s, "SELECT f.person_id FROM commerce.crm_feature f");
	if (c->joins & SEG_JOIN_DAY)
	{
		appendStringInfoString(&s, some ? " LEFT JOIN LATERAL (SELECT 1 AS one" : " LEFT JOIN (SELECT d.person_id");
		for (int i = 0; i < c->nwindows; i++)
			if (c->windows[i].metric < 2)
				appendStringInfo(&s, ", sum(d.%s) FILTER (WHERE d.day > $2 - ($4[%d])::integer) AS w%d",
								 c->windows[i].metric == 0 ? "orders" : "spent_fen", c->windows[i].days_num, i);
		appendStringInfo(&s, " FROM commerce.crm_day d WHERE d.tenant_id = $1 AND d.day > $2 - ($4[%d])::integer", day_max);
		appendStringInfoString(&s, some ? " AND d.person_id = f.person_id) w ON true"
							   : " GROUP BY d.person_id) w ON w.person_id = f.person_id");
	}
	first = true;
	for (int i = 0; i < c->nwindows; i++)
	{
		SegWindow  *w = &c->windows[i];

		if (w->metric != 2)
			continue;
		if (first)
			appendStringInfoString(&s, some ? " LEFT JOIN LATERAL (SELECT 1 AS one" : " LEFT JOIN (SELECT e.person_id");
		first = false;
		appendStringInfo(&s, ", count(*) FILTER (WHERE e.kind = $5[%d] AND e.at > $3 - make_interval(days => ($4[%d])::integer)",
						 w->kind_str, w->days_num);
		if (w->ref_str > 0)
			appendStringInfo(&s, " AND e.ref = $5[%d]", w->ref_str);
		appendStringInfo(&s, ") AS w%d", i);
	}
	if (!first)
	{
		appendStringInfo(&s, " FROM commerce.crm_event e WHERE e.tenant_id = $1 AND e.at > $3 - make_interval(days => ($4[%d])::integer)"
						 " AND e.kind = ANY ($5[%d:%d])", event_max, kinds_lo, kinds_hi);
		appendStringInfoString(&s, some ? " AND e.person_id = f.person_id) e ON true"
							   : " GROUP BY e.person_id) e ON e.person_id = f.person_id");
	}
	if (c->joins & SEG_JOIN_POINTS)
		appendStringInfo(&s, " LEFT JOIN %s(SELECT %ssum(a.available) AS available FROM commerce.points_account a"
						 " JOIN commerce.customer c ON c.tenant_id = a.tenant_id AND c.customer_id = a.customer_id"
						 " WHERE a.tenant_id = $1%s) p ON %s",
						 some ? "LATERAL " : "", some ? "" : "c.person_id, ",
						 some ? " AND c.person_id = f.person_id" : " GROUP BY c.person_id",
						 some ? "true" : "p.person_id = f.person_id");
	if (c->joins & SEG_JOIN_KOC)
		appendStringInfo(&s, " LEFT JOIN %s(SELECT %smax(l.rank) AS rank FROM commerce.koc k"
						 " JOIN commerce.customer c ON c.tenant_id = k.tenant_id AND c.customer_id = k.customer_id"
						 " JOIN commerce.koc_level l ON l.tenant_id = k.tenant_id AND l.code = k.level_code"
						 " WHERE k.tenant_id = $1 AND k.status = 'active'%s) k ON %s",
						 some ? "LATERAL " : "", some ? "" : "c.person_id, ",
						 some ? " AND c.person_id = f.person_id" : " GROUP BY c.person_id",
						 some ? "true" : "k.person_id = f.person_id");
	appendStringInfo(&s, " WHERE f.tenant_id = $1%s AND %s", some ? " AND f.person_id = ANY ($6)" : "", c->expr.data);
	return s.data;
}

PG_FUNCTION_INFO_V1(commerce_segment_compile);

/*
 * commerce._segment_compile(tree text): (select_all, select_some, nums,
 * strs, tags, conditions), or 22P02 / 22023 naming the bad node.
 */
Datum
commerce_segment_compile(PG_FUNCTION_ARGS)
{
	text	   *doc;
	json_t	   *root;
	json_error_t err;
	SegCompiler c;
	int			day_max = 0;
	int			event_max = 0;
	int			kinds_lo = 0;
	int			kinds_hi = 0;
	int64		dmax = 0;
	int64		emax = 0;
	TupleDesc	desc;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};
	Datum	   *d;

	commerce_require_args(fcinfo, 1, seg_args);
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "commerce: _segment_compile must return a composite type");
	doc = PG_GETARG_TEXT_PP(0);
	commerce_json_reset();
	root = json_loadb(VARDATA_ANY(doc), VARSIZE_ANY_EXHDR(doc), JSON_REJECT_DUPLICATES, &err);
	if (root == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("malformed segment condition JSON"),
				 errdetail("%s at line %d, column %d.", err.text, err.line, err.column),
				 errhint("Send {\"and\":[{\"field\":\"level\",\"op\":\">\",\"value\":3}, ...]}.")));

	memset(&c, 0, sizeof(c));
	initStringInfo(&c.expr);
	c.maxnums = 16;
	c.nums = palloc(sizeof(int64) * c.maxnums);
	c.maxstrs = 16;
	c.strs = palloc(sizeof(char *) * c.maxstrs);
	seg_node(&c, root, "$", 1);
	json_decref(root);

	/* the widest windows bound the scans; the event kinds are one slice of $5 */
	for (int i = 0; i < c.nwindows; i++)
	{
		if (c.windows[i].metric < 2)
			dmax = Max(dmax, c.windows[i].days);
		else
			emax = Max(emax, c.windows[i].days);
	}
	if (dmax > 0)
		day_max = seg_num(&c, dmax);
	if (emax > 0)
	{
		event_max = seg_num(&c, emax);
		for (int i = 0; i < c.nwindows; i++)
			if (c.windows[i].metric == 2)
			{
				int			idx = seg_str(&c, c.strs[c.windows[i].kind_str - 1]);

				if (kinds_lo == 0)
					kinds_lo = idx;
				kinds_hi = idx;
			}
	}

	values[0] = seg_text_datum(seg_select(&c, false, day_max, event_max, kinds_lo, kinds_hi));
	values[1] = seg_text_datum(seg_select(&c, true, day_max, event_max, kinds_lo, kinds_hi));
	d = palloc(sizeof(Datum) * Max(c.nnums, 1));
	for (int i = 0; i < c.nnums; i++)
		d[i] = Int64GetDatum(c.nums[i]);
	values[2] = commerce_make_array(d, NULL, c.nnums, INT8OID);
	d = palloc(sizeof(Datum) * Max(c.nstrs, 1));
	for (int i = 0; i < c.nstrs; i++)
		d[i] = seg_text_datum(c.strs[i]);
	values[3] = commerce_make_array(d, NULL, c.nstrs, TEXTOID);
	d = palloc(sizeof(Datum) * Max(c.ntags, 1));
	for (int i = 0; i < c.ntags; i++)
		d[i] = seg_text_datum(c.tags[i]);
	values[4] = commerce_make_array(d, NULL, c.ntags, TEXTOID);
	values[5] = Int32GetDatum(c.conditions);
	desc = BlessTupleDesc(desc);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
