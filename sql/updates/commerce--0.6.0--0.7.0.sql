/*
 * commerce 0.6.0 -> 0.7.0 (open: the upgrade script of the version under
 * development).
 *
 * Every change to an object goes into its module source under sql/src/ (the
 * one definition, from which make builds commerce--0.7.0.sql) AND here, as
 * the statements that turn a 0.6.0 database into the same thing. `make test`
 * proves that a fresh install and 0.1.0 + every upgrade script give the same
 * catalog (test/upgrade/).
 *
 * Rules for this file:
 *  - Columns added to a table go last in its CREATE TABLE in the module
 *    source, in the order they are added here (functions return row types,
 *    so column order is part of the interface).
 *  - A function whose signature or return type changes is dropped and
 *    created again here; its COMMENT and its GRANTs/REVOKEs are repeated.
 *  - Functions keep their C symbols: the library serves every released
 *    script, so a C function a released script names is never removed.
 */

\echo Use "ALTER EXTENSION commerce UPDATE TO '0.7.0'" to load this file. \quit
