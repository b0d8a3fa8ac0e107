/*
 * core_json.c
 *		jansson glue: allocation from a dedicated memory context, and the
 *		one parser of carts: commerce.reserve reads its cart with it, and
 *		commerce.place_order (and every entry point that orders) reads the
 *		lines of an order through commerce._cart_lines (core_cart.c), which
 *		calls it too.
 *
 * It also writes the one error that carries an HTTP header: too many
 * requests (PT429), which PostgREST answers with status 429 and Retry-After
 * when it comes in PostgREST's own error form (commerce_too_many).
 *
 * jansson allocates through the functions set once in _PG_init.  No json_t
 * outlives the call that parsed it, so each parse starts by resetting the
 * context; whatever an error (longjmp) left behind is reclaimed there.
 */
#include "commerce.h"

#include <jansson.h>

#include <math.h>

#include "mb/pg_wchar.h"
#include "utils/guc.h"
#include "utils/memutils.h"

static MemoryContext CommerceJsonContext = NULL;

/* jansson's malloc: NULL on out-of-memory, as jansson expects. */
static void *
commerce_json_malloc(size_t size)
{
	return MemoryContextAllocExtended(CommerceJsonContext, size, MCXT_ALLOC_NO_OOM);
}

/* jansson's free. */
static void
commerce_json_free(void *ptr)
{
	if (ptr != NULL)
		pfree(ptr);
}

/* Create the jansson memory context and install the allocator (from _PG_init). */
void
commerce_json_init(void)
{
	CommerceJsonContext = AllocSetContextCreate(TopMemoryContext,
												"commerce jansson",
												ALLOCSET_SMALL_SIZES);
	json_set_alloc_funcs(commerce_json_malloc, commerce_json_free);
}

/* Free whatever jansson allocated before: call before each parse. */
void
commerce_json_reset(void)
{
	MemoryContextReset(CommerceJsonContext);
}

/*
 * Refuse a request made too often: PT429 with the message, detail and hint,
 * and when to retry.  Called through PostgREST (it sets request.method for
 * every request) the error is PostgREST's custom form, SQLSTATE PGRST with
 * the body as JSON in the message and the status and headers in the detail,
 * so the client gets HTTP 429 with Retry-After and code PT429 in the body;
 * every other caller gets PT429 itself, the delay in the hint.
 */
void
commerce_too_many(const char *message, const char *detail, const char *hint, int retry_after)
{
	const char *method = GetConfigOption("request.method", true, false);

	/* a caller's text is cut to 300 bytes (whole characters), as every refusal does */
	message = pnstrdup(message, pg_mbcliplen(message, strlen(message), 300));
	detail = pnstrdup(detail, pg_mbcliplen(detail, strlen(detail), 300));
	hint = pnstrdup(hint, pg_mbcliplen(hint, strlen(hint), 300));
	if (retry_after < 1)
		retry_after = 1;
	if (method != NULL && method[0] != '\0')
	{
		json_t	   *body;
		json_t	   *status;
		char	   *body_text;
		char	   *status_text;

		commerce_json_reset();
		body = json_pack("{s:s, s:s, s:s, s:s}", "code", "PT429", "message", message,
						 "details", detail, "hint", psprintf("%s Retry after %d seconds.", hint, retry_after));
		status = json_pack("{s:i, s:{s:s}}", "status", 429, "headers", "Retry-After",
						   psprintf("%d", retry_after));
		body_text = body ? json_dumps(body, JSON_COMPACT) : NULL;
		status_text = status ? json_dumps(status, JSON_COMPACT) : NULL;
		if (body_text != NULL && status_text != NULL)
			ereport(ERROR,
					(errcode(MAKE_SQLSTATE('P', 'G', 'R', 'S', 'T')),
					 errmsg_internal("%s", body_text),
					 errdetail_internal("%s", status_text)));
	}
	ereport(ERROR,
			(errcode(COMMERCE_PT429),
			 errmsg("%s", message),
			 errdetail("%s", detail),
			 errhint("%s Retry after %d seconds.", hint, retry_after)));
	pg_unreachable();
}

static void cart_error(const char *path, const char *problem, const char *hint) pg_attribute_noreturn();

/* Raise 22023 for a cart field, naming its JSON path. */
static void
cart_error(const char *path, const char *problem, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid cart: %s: %s", path, problem),
			 errhint("%s", hint)));
}

/* A required or optional string member of a line, copied out of jansson. */
static char *
cart_string(json_t *line, const char *key, int index, bool required)
{
	json_t	   *v = json_object_get(line, key);
	char		path[64];

	snprintf(path, sizeof(path), "lines[%d].%s", index, key);
	if (v == NULL || json_is_null(v))
	{
		if (required)
			cart_error(path, "missing", "Every line names a SKU code: {\"sku\":\"A1\",\"qty\":1}.");
		return NULL;
	}
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > COMMERCE_MAX_CODE_LEN)
		cart_error(path, "expected a code (a string of 1 to " CppAsString2(COMMERCE_MAX_CODE_LEN) " characters)",
				   "Codes are strings such as \"A1\" or \"main\".");
	return pstrdup(json_string_value(v));
}

/*
 * A line's quantity: a whole number of units from 1 to COMMERCE_MAX_QTY.
 * Only the value counts, not how the JSON spells it: 2, 2.0 and 2e0 are two
 * units (a jsonb document keeps no spelling, so every entry point can apply
 * this rule); 2.5, "2" and null are refused, and 10^20 is out of range
 * rather than malformed.
 */
static int64
cart_qty(json_t *qty, const char *path)
{
	double		d;

	/* numbers are decoded as doubles (JSON_DECODE_INT_AS_REAL): exact below 2^53 */
	if (!json_is_real(qty) || (d = json_real_value(qty), d != floor(d)))
		cart_error(path, "expected an integer",
				   "Quantities are whole units, e.g. 2 (not 2.5 or \"2\").");
	if (d < 1 || d > COMMERCE_MAX_QTY)
		cart_error(path, "out of range", "A line quantity is 1 to " CppAsString2(COMMERCE_MAX_QTY) ".");
	return (int64) d;
}

/*
 * Parse a cart: {"lines":[{"sku":"A1","qty":2,"warehouse":"main"},...]} or
 * the bare array.  Quantities are whole numbers from 1 to COMMERCE_MAX_QTY
 * (cart_qty).
 * Returns the number of lines; *lines is palloc'd in the caller's context.
 */
int
commerce_parse_cart(const char *json, size_t len, CommerceCartLine **lines)
{
	json_error_t err;
	json_t	   *root;
	json_t	   *array;
	CommerceCartLine *out;
	size_t		n;

	commerce_json_reset();
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &err);
	if (root == NULL && json_error_code(&err) == json_error_numeric_overflow)
		cart_error("lines", "a number is out of range",
				   "A line quantity is 1 to " CppAsString2(COMMERCE_MAX_QTY) ".");
	if (root == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("malformed cart JSON"),
				 errdetail("%s at line %d, column %d.", err.text, err.line, err.column),
				 errhint("Send {\"lines\":[{\"sku\":\"<code>\",\"qty\":<n>}, ...]}.")));

	if (json_is_array(root))
		array = root;
	else if (json_is_object(root))
	{
		const char *key;
		json_t	   *value;

		json_object_foreach(root, key, value)
		{
			if (strcmp(key, "lines") != 0)
				cart_error(key, "unknown key", "A cart object has only \"lines\".");
		}
		array = json_object_get(root, "lines");
		if (array == NULL || !json_is_array(array))
			cart_error("lines", "expected an array of lines",
					   "Send {\"lines\":[{\"sku\":\"<code>\",\"qty\":<n>}, ...]}.");
	}
	else
		cart_error("$", "expected an object or an array",
				   "Send {\"lines\":[{\"sku\":\"<code>\",\"qty\":<n>}, ...]}.");

	n = json_array_size(array);
	if (n == 0 || n > COMMERCE_MAX_LINES)
		cart_error("lines", n == 0 ? "empty" : "too many lines",
				   "A cart has 1 to " CppAsString2(COMMERCE_MAX_LINES) " lines.");

	out = palloc0(sizeof(CommerceCartLine) * n);
	for (size_t i = 0; i < n; i++)
	{
		json_t	   *line = json_array_get(array, i);
		json_t	   *qty;
		const char *key;
		json_t	   *value;
		char		path[64];

		snprintf(path, sizeof(path), "lines[%zu]", i);
		if (!json_is_object(line))
			cart_error(path, "expected an object", "A line is {\"sku\":\"<code>\",\"qty\":<n>}.");
		json_object_foreach(line, key, value)
		{
			if (strcmp(key, "sku") != 0 && strcmp(key, "qty") != 0 &&
				strcmp(key, "warehouse") != 0)
			{
				snprintf(path, sizeof(path), "lines[%zu].%.40s", i, key);
				cart_error(path, "unknown key", "A line has sku, qty and optionally warehouse.");
			}
		}
		out[i].sku = cart_string(line, "sku", (int) i, true);
		out[i].warehouse = cart_string(line, "warehouse", (int) i, false);

		snprintf(path, sizeof(path), "lines[%zu].qty", i);
		qty = json_object_get(line, "qty");
		if (qty == NULL)
			cart_error(path, "missing", "Every line has a quantity: {\"sku\":\"A1\",\"qty\":1}.");
		out[i].qty = cart_qty(qty, path);
	}
	json_decref(root);
	*lines = out;
	return (int) n;
}
