-- sql/src/core/jobs.sql: the job list pg_cron runs (commerce.job),
-- schedule_jobs/unschedule_jobs, and the pump runner.

-- Register every commerce job with pg_cron (idempotent).
CREATE FUNCTION commerce.schedule_jobs() RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE j record;
BEGIN
    IF to_regclass('cron.job') IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '0A000',
            MESSAGE = 'pg_cron is not installed in this database',
            DETAIL  = 'commerce.schedule_jobs() registers its jobs with pg_cron.',
            HINT    = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, restart, then CREATE EXTENSION pg_cron.';
    END IF;
    FOR j IN SELECT job_name, schedule, command FROM commerce.job ORDER BY job_name LOOP
        -- cron.schedule(name, ...) replaces a job of the same name
        EXECUTE 'SELECT cron.schedule($1, $2, $3)' USING j.job_name, j.schedule, j.command;
        RETURN NEXT j.job_name;
    END LOOP;
END $$;
COMMENT ON FUNCTION commerce.schedule_jobs() IS
  'Registers the commerce jobs with pg_cron (replacing same-named ones); raises 0A000 with a hint when pg_cron is absent.';

-- Remove every commerce job from pg_cron (idempotent).
CREATE FUNCTION commerce.unschedule_jobs() RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE j record;
BEGIN
    IF to_regnamespace('cron') IS NULL OR to_regclass('cron.job') IS NULL THEN
        RETURN;
    END IF;
    FOR j IN EXECUTE 'SELECT jobname FROM cron.job WHERE jobname IN (SELECT job_name FROM commerce.job) ORDER BY jobname' LOOP
        EXECUTE 'SELECT cron.unschedule($1)' USING j.jobname;
        RETURN NEXT j.jobname;
    END LOOP;
END $$;
COMMENT ON FUNCTION commerce.unschedule_jobs() IS 'Removes the commerce jobs from pg_cron; a no-op when none are scheduled or pg_cron is absent.';

-- A pump: run a batch function (taking the batch size, returning how many it
-- did) until a batch comes back short, committing after each batch.
CREATE PROCEDURE commerce.run_pump(p_batch_function regproc, p_batch integer, p_max_batches integer)
LANGUAGE plpgsql AS $$
DECLARE n integer; i integer := 0;
BEGIN
    PERFORM commerce._require(p_batch, 'p_batch');
    PERFORM commerce._require(p_max_batches, 'p_max_batches');
    IF p_batch NOT BETWEEN 1 AND 100000 OR p_max_batches < 1 THEN
        PERFORM commerce._invalid('p_batch', format('batch %s, max_batches %s', p_batch, p_max_batches),
                                  'Use a batch of 1 to 100000 and at least one batch.');
    END IF;
    LOOP
        EXECUTE format('SELECT %s($1)', p_batch_function) INTO n USING p_batch;
        i := i + 1;
        COMMIT;
        EXIT WHEN n < p_batch OR i >= p_max_batches;
    END LOOP;
END $$;
COMMENT ON PROCEDURE commerce.run_pump(regproc, integer, integer) IS
  'The shape of every job: run a batch function until a batch comes back short (or p_max_batches), committing after each batch.';
