-- 003_models.sql: job dependencies and fine-tuned model versions.
--
-- A finetune job whose spec names output_model registers its checkpoint as
-- the next version of that model when it SUCCEEDS, in the same transaction as
-- that state change. Model names are per tenant. A version never changes; the
-- scheduler loads every one at start-up.
-- A job's dependencies are in its spec (depends_on); nothing here repeats them.

CREATE TABLE model_versions (
    tenant         text NOT NULL REFERENCES tenants (name),
    name           text NOT NULL CHECK (name ~ '^[A-Za-z0-9._/-]{1,128}$' AND name <> 'auto'),
    version        integer NOT NULL CHECK (version >= 1),
    job_id         bigint NOT NULL UNIQUE REFERENCES jobs (id),  -- the finetune job that made it
    checkpoint     text,          -- its STRATA_CHECKPOINT_DIR; NULL: it had none
    pool           text NOT NULL, -- where it was trained
    jurisdiction   text,          -- that pool's jurisdiction then; the checkpoint is read only there
    base_variant   text,          -- the model variant it was trained from; NULL: none
    -- the training data's (the stricter of the job's own and of the model it used)
    classification text NOT NULL CHECK (classification IN ('public', 'internal', 'confidential', 'restricted')),
    residency      text[] NOT NULL DEFAULT '{}',   -- '{}': any jurisdiction
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, name, version)
);

ALTER TABLE jobs
    -- the fine-tuned model version the job uses, 'NAME:VERSION', fixed once its
    -- dependencies have SUCCEEDED (a retry uses the same one)
    ADD COLUMN model_ref text;
