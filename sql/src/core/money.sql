-- sql/src/core/money.sql: money arithmetic for SQL callers: a rate in basis
-- points applied to fen, a fee, a split by the largest remainder, an amount
-- allocated over capped parts (a coupon over order lines). The one
-- implementation is src/core_money.c (commission lines call it directly).

-- floor(amount x rate / 10000), exact.
CREATE FUNCTION commerce.rate_fen(p_amount_fen bigint, p_rate_bp integer) RETURNS bigint
    AS 'MODULE_PATHNAME', 'commerce_rate_fen' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION commerce.rate_fen(bigint, integer) IS
  'A rate applied to an amount: floor(p_amount_fen x p_rate_bp / 10000) in exact integer arithmetic (0 to 10^15 fen, 0 to 10000 bp; 22023 outside, 22004 for NULL). Commissions, fees and shares are all computed this way.';

-- A fee: the rate rounded down, at least the minimum.
CREATE FUNCTION commerce.fee_fen(p_amount_fen bigint, p_fee_bp integer, p_min_fen bigint) RETURNS bigint
    AS 'MODULE_PATHNAME', 'commerce_fee_fen' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION commerce.fee_fen(bigint, integer, bigint) IS
  'A fee: commerce.rate_fen(p_amount_fen, p_fee_bp), at least p_min_fen.';

-- Split an amount in two by basis points with the largest remainder: the parts add up exactly.
CREATE FUNCTION commerce.split_fen(p_amount bigint, p_share_bp integer, OUT share_fen bigint, OUT rest_fen bigint)
    AS 'MODULE_PATHNAME', 'commerce_split_fen' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION commerce.split_fen(bigint, integer) IS
  'Split p_amount fen (0 to 10^15) into share (p_share_bp basis points) and rest by the largest remainder method: share_fen + rest_fen = p_amount always; the fen the floors leave goes to the part with the larger remainder (the rest on a tie).';

-- An amount in fen as the exact yuan figure a display shows.
CREATE FUNCTION commerce.yuan(p_fen bigint) RETURNS text
    AS 'MODULE_PATHNAME', 'commerce_yuan' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION commerce.yuan(bigint) IS
  'An amount in fen written as the exact yuan figure a display shows: 14900 -> "149.00", -5 -> "-0.05" (no rounding, no float; NULL for NULL). The *_yuan fields of the API are made with it.';

-- Split an amount over parts in proportion to weights, each part capped, by the largest remainder.
CREATE FUNCTION commerce.allocate_fen(p_amount bigint, p_weights bigint[], p_caps bigint[]) RETURNS bigint[]
    AS 'MODULE_PATHNAME', 'commerce_allocate_fen' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION commerce.allocate_fen(bigint, bigint[], bigint[]) IS
  'Split p_amount fen over the parts of p_weights (one weight and one cap per part, 0 to 10^15 each) in proportion to the weights by the largest remainder (ties to the earlier part), no part above its cap: what a capped part cannot take is shared among the others again (by their caps when none of them has a weight). The parts add up to p_amount exactly; 22023 when p_amount is more than the caps together. A coupon''s discount over the lines of an order is split this way.';

-- A profit split: fixed parts, then ratios, within the gateway's cap; the owner takes the rest.
CREATE FUNCTION commerce.share_fen(p_base bigint, p_cap bigint, p_fixed bigint[], p_ratio_bp bigint[]) RETURNS bigint[]
    AS 'MODULE_PATHNAME', 'commerce_share_fen' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION commerce.share_fen(bigint, bigint, bigint[], bigint[]) IS
  'Split p_base fen (0 to 10^15) over n parties and the owner: returns n + 1 parts, the owner''s last. Each party''s fixed part (p_fixed) first, in order, each at most what is left of p_cap (the gateway''s limit on what receivers may get in all); then the ratios (p_ratio_bp, 0 to 10000 bp together) of what the fixed parts leave, by the largest remainder with the owner''s weight 10000 - sum last (ties to the earlier party), scaled down in the same proportion when they pass what is left of the cap. The parts add up to p_base exactly, none is negative, the parties'' sum is at most p_cap. 22023 for bad arguments, 22004 for NULL. Profit-sharing splits (sql/src/finance/) are computed by it.';

-- The part of an amount that a part of a whole is: floor(amount x part / whole), exact.
CREATE FUNCTION commerce.prorate_fen(p_amount bigint, p_part bigint, p_whole bigint) RETURNS bigint
    AS 'MODULE_PATHNAME', 'commerce_prorate_fen' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION commerce.prorate_fen(bigint, bigint, bigint) IS
  'floor(p_amount x p_part / p_whole) in exact integer arithmetic (each 0 to 10^15 fen, p_part at most p_whole, p_whole above 0; 22023 otherwise, 22004 for NULL): the share of a fixed amount that is left when part of a line was refunded.';
