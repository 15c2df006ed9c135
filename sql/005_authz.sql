-- 005_authz.sql: who submitted each job.
--
-- The scheduler decides what a user may see and do from the job's tenant and
-- its submitter (scheduler/model/authz.c): a submitter cancels only its own
-- jobs, and a job's env values are shown only to its submitter and admins.
-- Jobs submitted before this migration have no submitter (NULL): only an
-- operator or an admin may cancel them. The idempotency tokens of submissions
-- are remembered per (tenant, submitter).

ALTER TABLE jobs
    ADD COLUMN submitted_by text;  -- the user name; in a development install, admin
