-- sql/src/core/api.sql: the commerce_api schema (who calls it:
-- sql/src/core/actors.sql).

CREATE SCHEMA commerce_api;
COMMENT ON SCHEMA commerce_api IS
  'The HTTP/GraphQL face of commerce: functions that take their actor (tenant, customer, KOC, staff member or service) from the verified identity. commerce.grant_api() grants each to the actor roles it is open to.';
