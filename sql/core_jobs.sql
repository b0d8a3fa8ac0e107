-- jobs: CREATE EXTENSION works without pg_cron; schedule_jobs then says how
-- to get it, unschedule_jobs is a no-op. (test/stress/core_cron.sh runs the job
-- under pg_cron for real.)
CREATE EXTENSION commerce;
CALL commerce.provision();
\set SHOW_CONTEXT never
SELECT job_name, schedule, command FROM commerce.job ORDER BY job_name;
SELECT * FROM commerce.schedule_jobs();
SELECT * FROM commerce.unschedule_jobs();
-- the pump runs with nothing to do
CALL commerce.expire_pump();
SET client_min_messages = warning;
DROP SCHEMA commerce CASCADE;
