/*
 * koc_rules.c
 *		KOC level promotion rules (K05): JSON rule documents parsed
 *		and validated with jansson, and evaluated against a KOC's figures.
 *
 * A rule is a condition or a combination:
 *     {"metric": "redemptions", "op": ">=", "value": 20}
 *     {"all": [rule, ...]}      every rule holds
 *     {"any": [rule, ...]}      at least one holds
 * Metrics: redemptions, new_customers (referred), repurchase_rate_bp (of
 * referred customers, basis points), gmv_fen.  Operators: >=, >, <=, <, =.
 * Values are JSON integers (no floats touch money or rates).  A bad
 * document is refused with 22023 naming the JSON path of the offending
 * field, e.g. "$.all[1].any[0].op".  Depth is at most 8 and a rule has at
 * most 64 conditions.
 */
#include "commerce.h"

#include <jansson.h>

static const char *const metrics[] = {"redemptions", "new_customers", "repurchase_rate_bp", "gmv_fen"};
static const char *const ops[] = {">=", ">", "<=", "<", "="};
static const char *const rule_args[] = {"p_rule", "p_figures"};

static void rule_error(const char *path, const char *problem, const char *hint) pg_attribute_noreturn();

/* Raise 22023 for a rule field, naming its JSON path. */
static void
rule_error(const char *path, const char *problem, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid level rule: %s: %s", path, problem),
			 errhint("%s", hint)));
}

/* Validate one rule node at path; counts conditions. */
static void
validate_node(json_t *node, const char *path, int depth, int *conditions)
{
	const char *key;
	json_t	   *value;

	if (depth > COMMERCE_MAX_RULE_DEPTH)
		rule_error(path, "nested too deep", "A rule nests all/any at most " CppAsString2(COMMERCE_MAX_RULE_DEPTH) " levels.");
	if (!json_is_object(node))
		rule_error(path, "expected an object",
				   "A rule is {\"metric\",\"op\",\"value\"}, {\"all\":[...]} or {\"any\":[...]}.");

	if (json_object_get(node, "all") != NULL || json_object_get(node, "any") != NULL)
	{
		const char *comb = json_object_get(node, "all") ? "all" : "any";
		json_t	   *list = json_object_get(node, comb);
		size_t		i;
		json_t	   *child;

		if (json_object_size(node) != 1)
			rule_error(path, "a combination has exactly one key, all or any",
					   "Write {\"all\":[...]} or {\"any\":[...]} alone.");
		if (!json_is_array(list) || json_array_size(list) == 0)
			rule_error(psprintf("%s.%s", path, comb), "expected a non-empty array",
					   "List the rules to combine.");
		json_array_foreach(list, i, child)
			validate_node(child, psprintf("%s.%s[%zu]", path, comb, i), depth + 1, conditions);
		return;
	}

	json_object_foreach(node, key, value)
	{
		if (strcmp(key, "metric") != 0 && strcmp(key, "op") != 0 && strcmp(key, "value") != 0)
			rule_error(psprintf("%s.%.40s", path, key), "unknown key",
					   "A condition has metric, op and value.");
	}
	value = json_object_get(node, "metric");
	if (value == NULL || !json_is_string(value))
		rule_error(psprintf("%s.metric", path), "expected a metric name",
				   "Metrics: redemptions, new_customers, repurchase_rate_bp, gmv_fen.");
	if (commerce_word_index(json_string_value(value), metrics, lengthof(metrics)) < 0)
		rule_error(psprintf("%s.metric", path), psprintf("unknown metric \"%.40s\"", json_string_value(value)),
				   "Metrics: redemptions, new_customers, repurchase_rate_bp, gmv_fen.");
	value = json_object_get(node, "op");
	if (value == NULL || !json_is_string(value) ||
		commerce_word_index(json_string_value(value), ops, lengthof(ops)) < 0)
		rule_error(psprintf("%s.op", path),
				   value && json_is_string(value) ?
				   psprintf("unknown operator \"%.10s\"", json_string_value(value)) :
				   "expected an operator",
				   "Operators: >=, >, <=, <, =.");
	value = json_object_get(node, "value");
	if (value == NULL || !json_is_integer(value))
		rule_error(psprintf("%s.value", path), "expected an integer",
				   "Values are whole numbers: counts, fen, basis points (2.5 or \"3\" are refused).");
	if (json_integer_value(value) < 0)
		rule_error(psprintf("%s.value", path), "negative", "Values are 0 or more.");
	if (strcmp(json_string_value(json_object_get(node, "metric")), "repurchase_rate_bp") == 0 &&
		json_integer_value(value) > COMMERCE_BP_SCALE)
		rule_error(psprintf("%s.value", path), "a rate above " CppAsString2(COMMERCE_BP_SCALE) " basis points",
				   "Rates are basis points from 0 to " CppAsString2(COMMERCE_BP_SCALE) ".");
	if (++(*conditions) > COMMERCE_MAX_RULE_CONDITIONS)
		rule_error(path, "too many conditions", "A rule has at most " CppAsString2(COMMERCE_MAX_RULE_CONDITIONS) " conditions.");
}

/* Parse a rule document (resetting the jansson context); 22P02 if not JSON. */
static json_t *
parse_rule(text *doc)
{
	json_error_t err;
	json_t	   *root;

	commerce_json_reset();
	root = json_loadb(VARDATA_ANY(doc), VARSIZE_ANY_EXHDR(doc),
					  JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
	if (root == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("malformed level rule JSON"),
				 errdetail("%s at line %d, column %d.", err.text, err.line, err.column),
				 errhint("Send {\"all\":[{\"metric\":\"redemptions\",\"op\":\">=\",\"value\":20}, ...]}.")));
	return root;
}

PG_FUNCTION_INFO_V1(commerce_validate_level_rule);

/* commerce._validate_level_rule(text): the rule normalized as JSON text, or 22023 naming the bad field. */
Datum
commerce_validate_level_rule(PG_FUNCTION_ARGS)
{
	text	   *doc;
	json_t	   *root;
	int			conditions = 0;
	char	   *normalized;

	commerce_require_args(fcinfo, 1, rule_args);
	doc = PG_GETARG_TEXT_PP(0);
	root = parse_rule(doc);
	validate_node(root, "$", 1, &conditions);
	normalized = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	if (normalized == NULL)
		elog(ERROR, "commerce: could not serialize a level rule");
	{
		size_t		len = strlen(normalized);
		text	   *result = (text *) palloc(len + VARHDRSZ);

		SET_VARSIZE(result, len + VARHDRSZ);
		memcpy(VARDATA(result), normalized, len);
		pfree(normalized);
		json_decref(root);
		PG_RETURN_TEXT_P(result);
	}
}

/* The figure of a metric in the figures object (0 when absent). */
static int64
figure(json_t *figures, const char *metric)
{
	json_t	   *v = json_object_get(figures, metric);

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid figures: %s is not an integer", metric),
				 errhint("Figures are whole numbers: counts, fen, basis points.")));
	return (int64) json_integer_value(v);
}

/* Evaluate a validated rule node against the figures. */
static bool
evaluate(json_t *node, json_t *figures)
{
	json_t	   *list;
	size_t		i;
	json_t	   *child;
	int64		have;
	int64		want;
	const char *op;

	if ((list = json_object_get(node, "all")) != NULL)
	{
		json_array_foreach(list, i, child)
			if (!evaluate(child, figures))
				return false;
		return true;
	}
	if ((list = json_object_get(node, "any")) != NULL)
	{
		json_array_foreach(list, i, child)
			if (evaluate(child, figures))
				return true;
		return false;
	}
	have = figure(figures, json_string_value(json_object_get(node, "metric")));
	want = (int64) json_integer_value(json_object_get(node, "value"));
	op = json_string_value(json_object_get(node, "op"));
	switch (commerce_word_index(op, ops, lengthof(ops)))
	{
		case 0:
			return have >= want;
		case 1:
			return have > want;
		case 2:
			return have <= want;
		case 3:
			return have < want;
		default:
			return have == want;
	}
}

PG_FUNCTION_INFO_V1(commerce_level_rule_holds);

/* commerce.level_rule_holds(rule, figures): whether the figures meet the rule. */
Datum
commerce_level_rule_holds(PG_FUNCTION_ARGS)
{
	json_t	   *rule;
	json_t	   *figures;
	json_error_t err;
	int			conditions = 0;
	text	   *fig;
	bool		result;

	commerce_require_args(fcinfo, 2, rule_args);
	rule = parse_rule(PG_GETARG_TEXT_PP(0));
	validate_node(rule, "$", 1, &conditions);
	fig = PG_GETARG_TEXT_PP(1);
	figures = json_loadb(VARDATA_ANY(fig), VARSIZE_ANY_EXHDR(fig), JSON_REJECT_DUPLICATES, &err);
	if (figures == NULL || !json_is_object(figures))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("malformed figures JSON"),
				 errdetail("%s", figures ? "The figures are not an object." : err.text),
				 errhint("Send {\"redemptions\":25,\"gmv_fen\":800000, ...}.")));
	result = evaluate(rule, figures);
	json_decref(rule);
	json_decref(figures);
	PG_RETURN_BOOL(result);
}

/*
 * A compiled rule: the validated document as a tree of C nodes allocated in
 * the caller's memory context, so that several rules (one per level) can be
 * held while the jansson context is reused.
 */
struct CommerceLevelRule
{
	int			kind;			/* 0 condition, 1 all, 2 any */
	int			metric;			/* index into metrics[] */
	int			op;				/* index into ops[] */
	int64		value;
	int			nchildren;
	struct CommerceLevelRule **children;
};

/* Copy a validated jansson node into a C node tree. */
static CommerceLevelRule *
compile_node(json_t *node)
{
	CommerceLevelRule *r = palloc0(sizeof(CommerceLevelRule));
	json_t	   *list;
	json_t	   *child;
	size_t		i;

	if ((list = json_object_get(node, "all")) != NULL || (list = json_object_get(node, "any")) != NULL)
	{
		r->kind = json_object_get(node, "all") != NULL ? 1 : 2;
		r->nchildren = (int) json_array_size(list);
		r->children = palloc(sizeof(CommerceLevelRule *) * r->nchildren);
		json_array_foreach(list, i, child)
			r->children[i] = compile_node(child);
		return r;
	}
	r->metric = commerce_word_index(json_string_value(json_object_get(node, "metric")), metrics, lengthof(metrics));
	r->op = commerce_word_index(json_string_value(json_object_get(node, "op")), ops, lengthof(ops));
	r->value = (int64) json_integer_value(json_object_get(node, "value"));
	return r;
}

/* Parse, validate (22023 naming the bad field) and compile a rule document. */
CommerceLevelRule *
commerce_level_rule_compile(text *doc)
{
	json_t	   *root = parse_rule(doc);
	int			conditions = 0;
	CommerceLevelRule *r;

	validate_node(root, "$", 1, &conditions);
	r = compile_node(root);
	json_decref(root);
	return r;
}

/* Whether figures (COMMERCE_LEVEL_METRICS values, in metric order) meet a compiled rule. */
bool
commerce_level_rule_eval(const CommerceLevelRule *r, const int64 *figures)
{
	int64		have;

	if (r->kind == 1)
	{
		for (int i = 0; i < r->nchildren; i++)
			if (!commerce_level_rule_eval(r->children[i], figures))
				return false;
		return true;
	}
	if (r->kind == 2)
	{
		for (int i = 0; i < r->nchildren; i++)
			if (commerce_level_rule_eval(r->children[i], figures))
				return true;
		return false;
	}
	have = figures[r->metric];
	switch (r->op)
	{
		case 0:
			return have >= r->value;
		case 1:
			return have > r->value;
		case 2:
			return have <= r->value;
		case 3:
			return have < r->value;
		default:
			return have == r->value;
	}
}
