-- sql/src/core/jobs.sql: the job list pg_cron runs (commerce.job),
-- schedule_jobs/unschedule_jobs, and the pump runner.

-- Register every commerce job with pg_cron (idempotent), run by p_username (default: the caller).
CREATE FUNCTION commerce.schedule_jobs(p_username name DEFAULT NULL) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE j record;
BEGIN
    IF to_regclass('cron.job') IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '0A000',
            MESSAGE = 'pg_cron is not installed in this database',
            DETAIL  = 'commerce.schedule_jobs() registers its jobs with pg_cron.',
            HINT    = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, restart, then CREATE EXTENSION pg_cron; or, with pg_cron in another database, run there the statements of commerce.cron_commands().';
    END IF;
    IF p_username IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_username AND rolcanlogin) THEN
        PERFORM commerce._invalid('p_username', format('%s', p_username),
            'Run the jobs as a login role (commerce.grant_jobs() creates commerce_jobs).');
    END IF;
    FOR j IN SELECT job_name, schedule, command FROM commerce.job ORDER BY job_name LOOP
        -- a job of the same name is replaced, whoever it ran as before
        EXECUTE 'SELECT cron.unschedule(c.jobid) FROM cron.job c
                  WHERE c.jobname = $1 AND c.database = current_database() AND c.username <> $2'
          USING j.job_name, coalesce(p_username, current_user);
        EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, current_database(), $4)'
          USING j.job_name, j.schedule, j.command, coalesce(p_username, current_user);
        RETURN NEXT j.job_name;
    END LOOP;
END $$;
COMMENT ON FUNCTION commerce.schedule_jobs(name) IS
  'Registers the commerce jobs (commerce.job) with pg_cron in this database, replacing same-named ones, to run as p_username (default: the caller; commerce.grant_jobs() makes the dedicated role commerce_jobs). Raises 0A000 with a hint when pg_cron is not in this database (see commerce.cron_commands()).';

-- The statements that schedule the commerce jobs from the database pg_cron runs in (cron.database_name).
CREATE FUNCTION commerce.cron_commands(p_username name DEFAULT NULL) RETURNS SETOF text
LANGUAGE sql STABLE AS $$
    SELECT format('SELECT cron.schedule_in_database(%L, %L, %L, %L, %L);', j.job_name, j.schedule, j.command,
                  current_database(), coalesce(p_username, current_user))
      FROM commerce.job j ORDER BY j.job_name;
$$;
COMMENT ON FUNCTION commerce.cron_commands(name) IS
  'For pg_cron in another database (cron.database_name): the cron.schedule_in_database statements that run the commerce jobs in this database as p_username; run them there (psql: \gexec). cron.unschedule(<job name>) removes one.';

-- Create (if missing) and entitle the login role the jobs run as: no superuser, what the pumps need.
CREATE FUNCTION commerce.grant_jobs(p_role name DEFAULT 'commerce_jobs') RETURNS name
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._require(p_role, 'p_role');
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_role) THEN
        EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE BYPASSRLS', p_role);
    ELSIF (SELECT rolsuper FROM pg_roles WHERE rolname = p_role) THEN
        PERFORM commerce._invalid('p_role', format('%s is a superuser', p_role),
                                  'Jobs run as an ordinary role; commerce.grant_jobs() creates commerce_jobs.');
    ELSE
        EXECUTE format('ALTER ROLE %I LOGIN BYPASSRLS', p_role);
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA commerce TO %I', p_role);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA commerce TO %I', p_role);
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA commerce TO %I', p_role);
    EXECUTE format('GRANT EXECUTE ON ALL ROUTINES IN SCHEMA commerce TO %I', p_role);
    PERFORM commerce._audit(0, 'grant_jobs', p_role, jsonb_build_object('role', p_role), 'granted');
    RETURN p_role;
END $$;
COMMENT ON FUNCTION commerce.grant_jobs(name) IS
  'Create the login role the jobs run as (default commerce_jobs: not a superuser, BYPASSRLS since the pumps work across tenants) or update it, and grant it what the pumps use: the tables and sequences of schema commerce and its routines. Idempotent: rerun after an upgrade that adds tables. Then commerce.schedule_jobs(''commerce_jobs'').';

-- Remove every commerce job from pg_cron (idempotent).
CREATE FUNCTION commerce.unschedule_jobs() RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE j record;
BEGIN
    IF to_regnamespace('cron') IS NULL OR to_regclass('cron.job') IS NULL THEN
        RETURN;
    END IF;
    -- by id: a job scheduled to run as another role (commerce_jobs) is not found by name
    FOR j IN EXECUTE 'SELECT jobid, jobname FROM cron.job WHERE jobname IN (SELECT job_name FROM commerce.job)
                        AND database = current_database() ORDER BY jobname, jobid' LOOP
        EXECUTE 'SELECT cron.unschedule($1)' USING j.jobid;
        RETURN NEXT j.jobname;
    END LOOP;
END $$;
COMMENT ON FUNCTION commerce.unschedule_jobs() IS 'Removes the commerce jobs of this database from pg_cron, whichever role they run as; a no-op when none are scheduled or pg_cron is absent.';

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
