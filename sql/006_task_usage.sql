-- 006_task_usage.sql: what each task attempt used, as its worker's cgroup measured it.
--
-- The tasks row holds a task's latest attempt: its peak memory (KiB), its CPU
-- time (user + system, ms) and why it ended when it failed (e.g. "killed: out
-- of memory (limit 256 MiB)"). NULL figures: unknown (the node has no cgroup,
-- or the attempt has not ended). When a job is requeued, each task's ending
-- attempt is kept in an event of kind 'attempt' whose message reads
-- "<STATE> exit=<N|-> signal=<N> peak_mem_kib=<N|-> cpu_ms=<N|-> reason=<text>" (scheduler/model/record.c
-- parses it back for `strata show`): a retry costs one event row per task, and
-- a task end that is not retried costs nothing more than its row.

ALTER TABLE tasks
    ADD COLUMN peak_mem_kib bigint CHECK (peak_mem_kib >= 0),
    ADD COLUMN cpu_ms       bigint CHECK (cpu_ms >= 0),
    ADD COLUMN reason       text;
