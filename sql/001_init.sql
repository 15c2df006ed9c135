-- 001_init.sql: Strata's core schema.
--
-- The scheduler is the only writer. Every job state change updates jobs.state
-- with a guard on the old state and appends a row to events in the same
-- transaction; events is append-only (a trigger refuses UPDATE and DELETE).

CREATE TABLE schema_version (
    version     integer PRIMARY KEY,
    description text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tenants (
    name        text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9._-]{1,64}$'),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE queues (
    name        text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9._-]{1,64}$'),
    weight      real NOT NULL DEFAULT 1 CHECK (weight > 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Pools are created when a worker of the pool first registers; the placement
-- engine adds site kind, region, jurisdiction, clearance and prices.
CREATE TABLE pools (
    name        text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9._-]{1,64}$'),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE nodes (
    name          text PRIMARY KEY,
    pool          text NOT NULL REFERENCES pools (name),
    state         text NOT NULL CHECK (state IN ('UP', 'LOST')),
    cpus_milli    integer NOT NULL CHECK (cpus_milli >= 0),
    mem_mb        bigint NOT NULL CHECK (mem_mb >= 0),
    gpus          integer NOT NULL CHECK (gpus >= 0),
    gpu_type      text NOT NULL DEFAULT '',
    labels        jsonb NOT NULL DEFAULT '{}',
    epoch         bigint NOT NULL DEFAULT 0,
    instance      text NOT NULL DEFAULT '',   -- the registered worker process (decimal u64)
    hostname      text NOT NULL DEFAULT '',
    version       text NOT NULL DEFAULT '',
    registered_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE jobs (
    id               bigint PRIMARY KEY,
    name             text NOT NULL,
    tenant           text NOT NULL REFERENCES tenants (name),
    queue            text NOT NULL REFERENCES queues (name),
    kind             text NOT NULL CHECK (kind IN ('command', 'finetune', 'inference')),
    priority         integer NOT NULL,
    state            text NOT NULL CHECK (state IN ('PENDING', 'SCHEDULED', 'STARTING', 'RUNNING',
                                                    'SUCCEEDED', 'FAILED', 'CANCELLED', 'PREEMPTED', 'LOST')),
    reason           text NOT NULL DEFAULT '',
    ranks            integer NOT NULL CHECK (ranks >= 1),
    cpus_milli       integer NOT NULL,
    mem_mb           bigint NOT NULL,
    gpus             integer NOT NULL,
    attempt          integer NOT NULL DEFAULT 0,
    max_attempts     integer NOT NULL CHECK (max_attempts >= 1),
    exit_code        integer,
    cancel_requested boolean NOT NULL DEFAULT false,
    spec             jsonb NOT NULL,
    submit_token     text,        -- the client's idempotency token, if it sent one
    created_at       timestamptz NOT NULL,
    started_at       timestamptz,
    finished_at      timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
-- The scheduler loads the unfinished jobs at start-up.
CREATE INDEX jobs_active ON jobs (id) WHERE state NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED');
CREATE INDEX jobs_tenant ON jobs (tenant, id DESC);
CREATE INDEX jobs_state ON jobs (state, id DESC);
-- A resent submission never makes a second job.
CREATE UNIQUE INDEX jobs_submit_token ON jobs (tenant, submit_token) WHERE submit_token IS NOT NULL;

-- One row per rank (or shard); a new attempt overwrites the row and the
-- history stays in events.
CREATE TABLE tasks (
    job_id       bigint NOT NULL REFERENCES jobs (id),
    idx          integer NOT NULL CHECK (idx >= 0),
    attempt      integer NOT NULL,
    state        text NOT NULL,
    node         text,
    pid          integer,
    exit_code    integer,
    term_signal  integer,
    started_at   timestamptz,
    finished_at  timestamptz,
    PRIMARY KEY (job_id, idx)
);
CREATE INDEX tasks_node ON tasks (node) WHERE node IS NOT NULL;

CREATE TABLE events (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    job_id      bigint,
    task_idx    integer,
    attempt     integer,
    kind        text NOT NULL,
    from_state  text,
    to_state    text,
    node        text,
    message     text NOT NULL DEFAULT ''
);
CREATE INDEX events_job ON events (job_id, id);

CREATE FUNCTION strata_events_append_only () RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only';
END $$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION strata_events_append_only ();

-- Lets a batched statement abort its whole transaction when a guard fails
-- (e.g. a job was not in the state the scheduler expected).
CREATE FUNCTION strata_assert (ok boolean, what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF NOT ok THEN
        RAISE EXCEPTION 'strata guard failed: %', what;
    END IF;
END $$;

INSERT INTO tenants (name) VALUES ('default');
INSERT INTO queues (name) VALUES ('default');
