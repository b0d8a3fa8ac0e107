/*
 * plays_schema.c
 *		Rule schemas of play templates and the rules of store play configs
 *		(M1.2, M2.1), with jansson.
 *
 * A template's rule schema is a subset of JSON Schema:
 *     {"type": "object",
 *      "properties": {"<name>": <schema>, ...},
 *      "required": ["<name>", ...],
 *      "additionalProperties": false}
 * where a property <schema> has a "type" of integer, string, boolean, array
 * or object and, by type: minimum/maximum (integer), minLength/maxLength
 * and enum (string, integer), items (array, a <schema>), properties and
 * required (object); and optionally default, title, description.  There
 * are no floats: money is fen, rates are basis points.
 *
 * commerce._check_play_schema(schema) validates a schema (22023 naming the
 * JSON path of the first bad keyword, e.g. $.properties.target_size.minimum)
 * and returns it normalized.  commerce._apply_play_schema(schema, rules)
 * validates a store's rules against it (22023 naming the bad field, e.g.
 * $.target_size), fills in defaults and returns the rules normalized.
 */
#include "commerce.h"

#include <jansson.h>

static const char *const types[] = {"integer", "string", "boolean", "array", "object"};
static const char *const schema_args[] = {"p_schema"};
static const char *const apply_args[] = {"p_schema", "p_rules"};

static void schema_error(const char *path, const char *problem, const char *hint) pg_attribute_noreturn();

/* Raise 22023 for a schema keyword, naming its JSON path. */
static void
schema_error(const char *path, const char *problem, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid rule schema: %s: %s", path, problem),
			 errhint("%s", hint)));
}

/* What check_value is checking: store rules, or a default inside a schema. */
static const char *value_kind = "rules";

static void rules_error(const char *path, const char *problem, const char *hint) pg_attribute_noreturn();

/* Raise 22023 for a field of the rules (or a schema default), naming its JSON path. */
static void
rules_error(const char *path, const char *problem, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid %s: %s: %s", value_kind, path, problem),
			 errhint("%s", hint)));
}

/* Parse a JSON document (resetting the jansson context); 22P02 if it is not JSON. */
static json_t *
parse_doc(text *doc, const char *what)
{
	json_error_t err;
	json_t	   *root;

	root = json_loadb(VARDATA_ANY(doc), VARSIZE_ANY_EXHDR(doc),
					  JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
	if (root == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("malformed %s JSON", what),
				 errdetail("%s at line %d, column %d.", err.text, err.line, err.column),
				 errhint("Send a JSON object.")));
	return root;
}

/* A non-negative integer keyword, or -1 when absent. */
static int64
count_keyword(json_t *schema, const char *key, const char *path)
{
	json_t	   *v = json_object_get(schema, key);

	if (v == NULL)
		return -1;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		schema_error(psprintf("%s.%s", path, key), "expected an integer of 0 or more",
					 "Lengths are whole numbers.");
	return (int64) json_integer_value(v);
}

static void check_value(json_t *schema, json_t *value, const char *path);

/* Validate one schema node at path. */
static void
check_schema(json_t *schema, const char *path, int depth, bool top)
{
	const char *key;
	json_t	   *v;
	json_t	   *type;
	int			t;

	if (depth > COMMERCE_MAX_SCHEMA_DEPTH)
		schema_error(path, "nested too deep", "A rule schema nests at most " CppAsString2(COMMERCE_MAX_SCHEMA_DEPTH) " levels.");
	if (!json_is_object(schema))
		schema_error(path, "expected an object", "A schema is {\"type\": ..., ...}.");
	type = json_object_get(schema, "type");
	if (type == NULL || !json_is_string(type) ||
		(t = commerce_word_index(json_string_value(type), types, lengthof(types))) < 0)
		schema_error(psprintf("%s.type", path),
					 type && json_is_string(type) ?
					 psprintf("unknown type \"%.40s\"", json_string_value(type)) : "expected a type",
					 "Types: integer, string, boolean, array, object (no floats: fen and basis points are integers).");
	if (top && t != 4)
		schema_error(psprintf("%s.type", path), "the rules are an object", "Start with {\"type\":\"object\",\"properties\":{...}}.");

	json_object_foreach(schema, key, v)
	{
		static const char *const common[] = {"type", "default", "title", "description"};
		static const char *const by_type[5][5] = {
			{"minimum", "maximum", "enum", NULL, NULL},	/* integer */
			{"minLength", "maxLength", "enum", NULL, NULL},	/* string */
			{NULL, NULL, NULL, NULL, NULL},	/* boolean */
			{"items", "minItems", "maxItems", NULL, NULL},	/* array */
			{"properties", "required", "additionalProperties", NULL, NULL},	/* object */
		};
		bool		known = commerce_word_index(key, common, lengthof(common)) >= 0;

		for (int i = 0; !known && i < 5 && by_type[t][i] != NULL; i++)
			known = strcmp(key, by_type[t][i]) == 0;
		if (!known)
			schema_error(psprintf("%s.%.40s", path, key),
						 psprintf("keyword not allowed for type %s", types[t]),
						 "The schema subset has type, default, title, description; minimum, maximum, enum (integer); minLength, maxLength, enum (string); items, minItems, maxItems (array); properties, required, additionalProperties (object).");
		if ((strcmp(key, "title") == 0 || strcmp(key, "description") == 0) && !json_is_string(v))
			schema_error(psprintf("%s.%s", path, key), "expected a string", "Titles and descriptions are text.");
	}

	if (t == 0)
	{
		json_t	   *min = json_object_get(schema, "minimum");
		json_t	   *max = json_object_get(schema, "maximum");

		if (min != NULL && !json_is_integer(min))
			schema_error(psprintf("%s.minimum", path), "expected an integer", "Bounds are whole numbers.");
		if (max != NULL && !json_is_integer(max))
			schema_error(psprintf("%s.maximum", path), "expected an integer", "Bounds are whole numbers.");
		if (min != NULL && max != NULL && json_integer_value(min) > json_integer_value(max))
			schema_error(psprintf("%s.maximum", path), "below the minimum", "Make maximum at least minimum.");
	}
	if (t == 1)
	{
		int64		min = count_keyword(schema, "minLength", path);
		int64		max = count_keyword(schema, "maxLength", path);

		if (min >= 0 && max >= 0 && min > max)
			schema_error(psprintf("%s.maxLength", path), "below minLength", "Make maxLength at least minLength.");
	}
	if ((v = json_object_get(schema, "enum")) != NULL)
	{
		size_t		i;
		json_t	   *e;

		if (!json_is_array(v) || json_array_size(v) == 0)
			schema_error(psprintf("%s.enum", path), "expected a non-empty array", "List the allowed values.");
		json_array_foreach(v, i, e)
			if ((t == 0 && !json_is_integer(e)) || (t == 1 && !json_is_string(e)))
				schema_error(psprintf("%s.enum[%zu]", path, i), psprintf("not a value of type %s", types[t]),
							 "Enum values have the property's type.");
	}
	if (t == 3)
	{
		json_t	   *items = json_object_get(schema, "items");

		count_keyword(schema, "minItems", path);
		count_keyword(schema, "maxItems", path);
		if (items == NULL)
			schema_error(psprintf("%s.items", path), "missing", "An array says what its items are: \"items\": {schema}.");
		check_schema(items, psprintf("%s.items", path), depth + 1, false);
	}
	if (t == 4)
	{
		json_t	   *props = json_object_get(schema, "properties");
		json_t	   *req = json_object_get(schema, "required");
		json_t	   *extra = json_object_get(schema, "additionalProperties");
		const char *name;
		json_t	   *sub;
		size_t		i;
		json_t	   *r;

		if (props == NULL || !json_is_object(props))
			schema_error(psprintf("%s.properties", path), "expected an object", "List the properties: \"properties\": {\"name\": {schema}}.");
		json_object_foreach(props, name, sub)
		{
			if (strlen(name) == 0 || strlen(name) > COMMERCE_MAX_PROPERTY_LEN)
				schema_error(psprintf("%s.properties", path), "a property name is empty or longer than " CppAsString2(COMMERCE_MAX_PROPERTY_LEN) " characters",
							 "Name properties with short words.");
			check_schema(sub, psprintf("%s.properties.%s", path, name), depth + 1, false);
		}
		if (req != NULL)
		{
			if (!json_is_array(req))
				schema_error(psprintf("%s.required", path), "expected an array", "List the required property names.");
			json_array_foreach(req, i, r)
				if (!json_is_string(r) || json_object_get(props, json_string_value(r)) == NULL)
					schema_error(psprintf("%s.required[%zu]", path, i), "not a property of this object",
								 "Required names must be listed in properties.");
		}
		if (extra != NULL && !json_is_boolean(extra))
			schema_error(psprintf("%s.additionalProperties", path), "expected true or false",
						 "Only true or false is supported.");
	}
	/* a default must itself be valid */
	if ((v = json_object_get(schema, "default")) != NULL)
	{
		value_kind = "rule schema";
		check_value(schema, v, psprintf("%s.default", path));
		value_kind = "rules";
	}
}

/* Validate a value against a (valid) schema at path, filling in defaults of object properties. */
static void
check_value(json_t *schema, json_t *value, const char *path)
{
	const char *type = json_string_value(json_object_get(schema, "type"));
	int			t = commerce_word_index(type, types, lengthof(types));
	json_t	   *v;

	switch (t)
	{
		case 0:
			if (!json_is_integer(value))
				rules_error(path, "expected an integer", "Amounts are fen, rates basis points, counts whole numbers.");
			if ((v = json_object_get(schema, "minimum")) != NULL && json_integer_value(value) < json_integer_value(v))
				rules_error(path, psprintf("%" JSON_INTEGER_FORMAT " is below the minimum %" JSON_INTEGER_FORMAT,
										   json_integer_value(value), json_integer_value(v)),
							"Stay within the template's bounds.");
			if ((v = json_object_get(schema, "maximum")) != NULL && json_integer_value(value) > json_integer_value(v))
				rules_error(path, psprintf("%" JSON_INTEGER_FORMAT " is above the maximum %" JSON_INTEGER_FORMAT,
										   json_integer_value(value), json_integer_value(v)),
							"Stay within the template's bounds.");
			break;
		case 1:
			{
				int64		min = json_integer_value(json_object_get(schema, "minLength"));
				json_t	   *maxv = json_object_get(schema, "maxLength");

				if (!json_is_string(value))
					rules_error(path, "expected a string", "Send text.");
				if ((int64) json_string_length(value) < min)
					rules_error(path, "too short", psprintf("At least " INT64_FORMAT " characters.", min));
				if (maxv != NULL && (int64) json_string_length(value) > (int64) json_integer_value(maxv))
					rules_error(path, "too long", psprintf("At most %" JSON_INTEGER_FORMAT " characters.",
														   json_integer_value(maxv)));
				break;
			}
		case 2:
			if (!json_is_boolean(value))
				rules_error(path, "expected true or false", "Send a JSON boolean.");
			break;
		case 3:
			{
				size_t		i;
				json_t	   *item;
				json_t	   *minv = json_object_get(schema, "minItems");
				json_t	   *maxv = json_object_get(schema, "maxItems");

				if (!json_is_array(value))
					rules_error(path, "expected an array", "Send a JSON array.");
				if (minv != NULL && (json_int_t) json_array_size(value) < json_integer_value(minv))
					rules_error(path, "too few items", psprintf("At least %" JSON_INTEGER_FORMAT " items.", json_integer_value(minv)));
				if (maxv != NULL && (json_int_t) json_array_size(value) > json_integer_value(maxv))
					rules_error(path, "too many items", psprintf("At most %" JSON_INTEGER_FORMAT " items.", json_integer_value(maxv)));
				json_array_foreach(value, i, item)
					check_value(json_object_get(schema, "items"), item, psprintf("%s[%zu]", path, i));
				break;
			}
		default:
			{
				json_t	   *props = json_object_get(schema, "properties");
				json_t	   *req = json_object_get(schema, "required");
				json_t	   *extra = json_object_get(schema, "additionalProperties");
				const char *name;
				json_t	   *sub;
				size_t		i;
				json_t	   *r;

				if (!json_is_object(value))
					rules_error(path, "expected an object", "Send a JSON object.");
				if (req != NULL)
					json_array_foreach(req, i, r)
						if (json_object_get(value, json_string_value(r)) == NULL)
							rules_error(psprintf("%s.%s", path, json_string_value(r)), "missing",
										"The template requires it.");
				json_object_foreach(value, name, sub)
				{
					json_t	   *ps = json_object_get(props, name);

					if (ps == NULL)
					{
						if (extra == NULL || json_is_false(extra))
							rules_error(psprintf("%s.%.40s", path, name), "not a rule of this template",
										"Use the template's properties only.");
						continue;
					}
					check_value(ps, sub, psprintf("%s.%s", path, name));
				}
				/* defaults of absent properties */
				json_object_foreach(props, name, sub)
				{
					json_t	   *d = json_object_get(sub, "default");

					if (json_object_get(value, name) == NULL && d != NULL)
						json_object_set(value, name, d);
				}
				break;
			}
	}
	if ((v = json_object_get(schema, "enum")) != NULL)
	{
		size_t		i;
		json_t	   *e;
		bool		found = false;

		json_array_foreach(v, i, e)
			if (json_equal(e, value))
				found = true;
		if (!found)
			rules_error(path, "not one of the allowed values", "Use a value of the template's enum.");
	}
}

/* Return a jansson document as text (palloc'd). */
static text *
dump_text(json_t *root)
{
	char	   *s = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	size_t		len;
	text	   *result;

	if (s == NULL)
		elog(ERROR, "commerce: could not serialize a rule document");
	len = strlen(s);
	result = (text *) palloc(len + VARHDRSZ);
	SET_VARSIZE(result, len + VARHDRSZ);
	memcpy(VARDATA(result), s, len);
	pfree(s);
	return result;
}

PG_FUNCTION_INFO_V1(commerce_check_play_schema);

/* commerce._check_play_schema(schema text): the schema normalized, or 22023 naming the bad keyword. */
Datum
commerce_check_play_schema(PG_FUNCTION_ARGS)
{
	json_t	   *schema;
	text	   *result;

	commerce_require_args(fcinfo, 1, schema_args);
	value_kind = "rules";
	commerce_json_reset();
	schema = parse_doc(PG_GETARG_TEXT_PP(0), "rule schema");
	check_schema(schema, "$", 1, true);
	result = dump_text(schema);
	json_decref(schema);
	PG_RETURN_TEXT_P(result);
}

PG_FUNCTION_INFO_V1(commerce_apply_play_schema);

/* commerce._apply_play_schema(schema text, rules text): the rules with defaults, or 22023 naming the bad field. */
Datum
commerce_apply_play_schema(PG_FUNCTION_ARGS)
{
	json_t	   *schema;
	json_t	   *rules;
	text	   *result;

	commerce_require_args(fcinfo, 2, apply_args);
	value_kind = "rules";
	commerce_json_reset();
	schema = parse_doc(PG_GETARG_TEXT_PP(0), "rule schema");
	check_schema(schema, "$", 1, true);
	rules = parse_doc(PG_GETARG_TEXT_PP(1), "rules");
	check_value(schema, rules, "$");
	result = dump_text(rules);
	json_decref(schema);
	json_decref(rules);
	PG_RETURN_TEXT_P(result);
}
