-- 002_placement.sql: the placement engine's cluster description, and what each
-- job's placement cost.
--
-- The cluster description (strata-scheduler --cluster FILE) is written here at
-- start-up by st_store_save_cluster, replacing the previous one; a pool that a
-- worker registered but the file does not name stays, as an implicit pool with
-- the defaults below (a node's registration inserts only the name). The
-- scheduler keeps the description in memory; these tables are for people,
-- reports and other tools.

ALTER TABLE pools
    ADD COLUMN site             text NOT NULL DEFAULT 'onprem'
        CHECK (site IN ('onprem', 'private_cloud', 'public_cloud', 'edge')),
    ADD COLUMN region           text CHECK (char_length (region) BETWEEN 1 AND 128),
    ADD COLUMN jurisdiction     text CHECK (char_length (jurisdiction) BETWEEN 1 AND 64),
    ADD COLUMN clearance        text NOT NULL DEFAULT 'public'
        CHECK (clearance IN ('public', 'internal', 'confidential', 'restricted')),
    ADD COLUMN cost_gpu_hour    double precision NOT NULL DEFAULT 0 CHECK (cost_gpu_hour >= 0),
    ADD COLUMN cost_cpu_hour    double precision NOT NULL DEFAULT 0 CHECK (cost_cpu_hour >= 0),
    ADD COLUMN pue              double precision NOT NULL DEFAULT 1 CHECK (pue >= 1),
    ADD COLUMN carbon_g_per_kwh double precision NOT NULL DEFAULT 0 CHECK (carbon_g_per_kwh >= 0),
    -- the placement engine's draws for a pool the file does not describe (policy/cluster.c)
    ADD COLUMN gpu_watts        double precision NOT NULL DEFAULT 400 CHECK (gpu_watts >= 0),
    ADD COLUMN cpu_watts        double precision NOT NULL DEFAULT 10 CHECK (cpu_watts >= 0),
    ADD COLUMN storage_root     text,
    -- true: not in the cluster file (created by a node's registration, or left
    -- from an earlier file); its attributes are the defaults above.
    ADD COLUMN implicit         boolean NOT NULL DEFAULT true,
    ADD COLUMN updated_at       timestamptz NOT NULL DEFAULT now();

CREATE TABLE regions (
    name        text PRIMARY KEY CHECK (char_length (name) BETWEEN 1 AND 128)
);

-- Measured or assumed round-trip latency between two regions, one row per
-- direction (a missing pair is unknown).
CREATE TABLE latency (
    from_region text NOT NULL REFERENCES regions (name) ON DELETE CASCADE,
    to_region   text NOT NULL REFERENCES regions (name) ON DELETE CASCADE,
    ms          double precision NOT NULL CHECK (ms >= 0),
    PRIMARY KEY (from_region, to_region)
);

CREATE TABLE model_families (
    name        text PRIMARY KEY CHECK (char_length (name) BETWEEN 1 AND 128)
);

-- A variant belongs to one family; its name is unique across the registry.
CREATE TABLE model_variants (
    name          text PRIMARY KEY CHECK (char_length (name) BETWEEN 1 AND 128),
    family        text NOT NULL REFERENCES model_families (name) ON DELETE CASCADE,
    position      integer NOT NULL CHECK (position >= 0),     -- preference order within the family
    jurisdictions text[] NOT NULL DEFAULT '{}',               -- where it may run
    uri           text,                                       -- weights location
    UNIQUE (family, position)
);

ALTER TABLE tenants
    ADD COLUMN weight    double precision NOT NULL DEFAULT 1 CHECK (weight > 0),   -- fair-share weight
    ADD COLUMN gpu_quota integer CHECK (gpu_quota >= 0);                          -- NULL: no quota

ALTER TABLE jobs
    ADD COLUMN pool        text,               -- pool of the current or last placement
    ADD COLUMN variant     text,               -- model variant chosen there
    -- estimates at placement, over the time limit (one hour when none)
    ADD COLUMN est_cost    double precision CHECK (est_cost >= 0),
    ADD COLUMN est_kwh     double precision CHECK (est_kwh >= 0),
    ADD COLUMN est_co2_g   double precision CHECK (est_co2_g >= 0),
    -- actual figures over every attempt, once the job has ended
    ADD COLUMN cost        double precision CHECK (cost >= 0),
    ADD COLUMN kwh         double precision CHECK (kwh >= 0),
    ADD COLUMN co2_g       double precision CHECK (co2_g >= 0),
    ADD COLUMN placement   jsonb,              -- the score against the runners-up (sp_explain_placement)
    ADD COLUMN preemptions integer NOT NULL DEFAULT 0 CHECK (preemptions >= 0);
CREATE INDEX jobs_pool ON jobs (pool, id DESC) WHERE pool IS NOT NULL;
