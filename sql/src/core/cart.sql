-- sql/src/core/cart.sql: the one reader of carts and of an order's lines
-- (src/core_json.c): shape, SKU and warehouse codes, whole quantities from 1
-- to 1,000,000, at most 200 lines. commerce.reserve parses its cart with the
-- same C code.

CREATE FUNCTION commerce._cart_lines(p_cart text)
RETURNS TABLE (line_no integer, sku text, qty bigint, warehouse text)
    AS 'MODULE_PATHNAME', 'commerce_cart_lines' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION commerce._cart_lines(text) IS
  'The lines of a cart ({"lines":[...]} or the bare array) or of an order, checked by the cart parser commerce.reserve uses: 22023 naming the JSON path of the first bad field (invalid cart: lines[0].qty: expected an integer), 22P02 for text that is not JSON. A quantity is a whole number: 2, 2.0 and 2e0 are two units.';
