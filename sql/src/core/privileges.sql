-- sql/src/core/privileges.sql: nothing of schema commerce is executable by
-- PUBLIC (issue 11): every function and procedure the modules above created
-- is closed here, last in the manifest; a role is granted what it needs (the
-- commerce_api wrappers run as their owner). Every upgrade script ends with
-- the same statement, so the functions it adds are closed too.

REVOKE ALL ON ALL ROUTINES IN SCHEMA commerce FROM PUBLIC;
