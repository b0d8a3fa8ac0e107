/*
 * core_cart.c
 *		commerce._cart_lines: the lines of a cart or an order, checked by the
 *		one cart parser (commerce_parse_cart in core_json.c), for the SQL
 *		entry points.  Apart from core_json.c because PostgreSQL's and
 *		jansson's headers both declare json_object.
 */
#include "commerce.h"

#include "funcapi.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(commerce_cart_lines);

/*
 * SQL: commerce._cart_lines(p_cart text) RETURNS TABLE (line_no integer, sku
 * text, qty bigint, warehouse text): the lines of a cart or of an order's
 * "lines", checked by commerce_parse_cart, numbered from 1.
 */
Datum
commerce_cart_lines(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"p_cart"};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *cart;
	CommerceCartLine *lines;
	int			n;

	commerce_require_args(fcinfo, lengthof(names), names);
	cart = PG_GETARG_TEXT_PP(0);
	n = commerce_parse_cart(VARDATA_ANY(cart), VARSIZE_ANY_EXHDR(cart), &lines);
	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < n; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = Int32GetDatum(i + 1);
		values[1] = CStringGetTextDatum(lines[i].sku);
		values[2] = Int64GetDatum(lines[i].qty);
		if (lines[i].warehouse != NULL)
			values[3] = CStringGetTextDatum(lines[i].warehouse);
		else
			nulls[3] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
