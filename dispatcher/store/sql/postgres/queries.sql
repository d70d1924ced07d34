-- The store's statements in PostgreSQL's dialect, named as in ../queries.sql.

-- name: get_meta
SELECT key, value FROM meta;

-- name: put_meta
INSERT INTO meta (key, value) VALUES ($1, $2)
ON CONFLICT (key) DO UPDATE SET value = excluded.value;

-- name: load_jobs
SELECT id, spec, chunk_status, chunk_attempts, chunk_nodes, chunk_failures FROM jobs ORDER BY id;

-- name: put_job
INSERT INTO jobs (id, spec, chunk_status, chunk_attempts, chunk_nodes, chunk_failures,
    changes_from)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (id) DO UPDATE SET spec = excluded.spec, chunk_status = excluded.chunk_status,
    chunk_attempts = excluded.chunk_attempts, chunk_nodes = excluded.chunk_nodes,
    chunk_failures = excluded.chunk_failures, changes_from = excluded.changes_from;

-- name: put_job_chunks
UPDATE jobs SET chunk_status = $1, chunk_attempts = $2, chunk_nodes = $3, chunk_failures = $4,
    changes_from = $5
WHERE id = $6;

-- name: delete_job
DELETE FROM jobs WHERE id = $1;

-- name: delete_job_runs
DELETE FROM runs WHERE job_id = $1;

-- name: delete_job_chunk_failures
DELETE FROM chunk_failures WHERE job_id = $1;

-- name: delete_job_node_failures
DELETE FROM node_failures WHERE job_id = $1;

-- name: get_job
SELECT id, spec, chunk_status, chunk_attempts, chunk_nodes, chunk_failures FROM jobs WHERE id = $1;

-- name: put_run
INSERT INTO runs (job_id, chunk, attempt, node_id, state, started, finished, exit_code, error,
    frames_done, warnings, errors)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (job_id, chunk, attempt) DO UPDATE SET node_id = excluded.node_id,
    state = excluded.state, started = excluded.started, finished = excluded.finished,
    exit_code = excluded.exit_code, error = excluded.error,
    frames_done = excluded.frames_done, warnings = excluded.warnings, errors = excluded.errors;

-- name: load_runs
SELECT job_id, chunk, attempt, node_id, state, started, finished, exit_code, error,
    frames_done, warnings, errors
FROM runs WHERE job_id = $1 ORDER BY chunk, attempt;

-- name: load_runs_between
-- The attempts of the chunks first..last of a job (one page's worth).
SELECT job_id, chunk, attempt, node_id, state, started, finished, exit_code, error,
    frames_done, warnings, errors
FROM runs WHERE job_id = $1 AND chunk BETWEEN $2 AND $3 ORDER BY chunk, attempt;

-- name: load_runs_of_chunks
-- The attempts of some chunks of a job (an array of chunk indexes): one page's worth.
SELECT job_id, chunk, attempt, node_id, state, started, finished, exit_code, error,
    frames_done, warnings, errors
FROM runs WHERE job_id = $1 AND chunk = ANY($2::bigint[]) ORDER BY chunk, attempt;

-- name: load_nodes
SELECT id, name, instance, info FROM nodes ORDER BY id;

-- name: put_node
INSERT INTO nodes (id, name, instance, info) VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE SET name = excluded.name, instance = excluded.instance,
    info = excluded.info;

-- name: delete_node
DELETE FROM nodes WHERE id = $1;

-- name: get_node
SELECT id, name, instance, info FROM nodes WHERE id = $1;

-- name: get_user
SELECT info FROM users WHERE name = $1;

-- name: get_record
SELECT info FROM records WHERE kind = $1 AND name = $2;

-- name: load_users
SELECT name, info FROM users ORDER BY name;

-- name: put_user
INSERT INTO users (name, info) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET info = excluded.info;

-- name: delete_user
DELETE FROM users WHERE name = $1;

-- name: load_records
SELECT kind, name, info FROM records ORDER BY kind, name;

-- name: put_record
INSERT INTO records (kind, name, info) VALUES ($1, $2, $3)
ON CONFLICT (kind, name) DO UPDATE SET info = excluded.info;

-- name: delete_record
DELETE FROM records WHERE kind = $1 AND name = $2;

-- name: put_statistic
INSERT INTO statistics (time, info) VALUES ($1, $2);

-- name: put_history
INSERT INTO history (time, job_id, event, info) VALUES ($1, $2, $3, $4);

-- name: statistics_bounds
SELECT MIN(time), MAX(time), COUNT(*) FROM statistics;

-- name: history_bounds
SELECT MIN(time), MAX(time), COUNT(*) FROM history;

-- name: clear_statistics
DELETE FROM statistics WHERE time >= $1 AND time <= $2;

-- name: clear_history
DELETE FROM history WHERE time >= $1 AND time <= $2;

-- name: load_history
SELECT time, job_id, event, info FROM history WHERE time >= $1 AND time <= $2 ORDER BY time, seq;

-- name: statistics_range
SELECT seq, time, info FROM statistics
WHERE time >= $1 AND time <= $2 AND seq > $3 ORDER BY seq LIMIT $4;

-- name: history_range
SELECT seq, time, job_id, event, info FROM history
WHERE time >= $1 AND time <= $2 AND seq > $3 ORDER BY seq LIMIT $4;

-- name: load_chunk_failures
SELECT job_id, chunk, failed_on, memory_needed FROM chunk_failures;

-- name: load_node_failures
SELECT job_id, node_id, failures FROM node_failures;

-- name: job_chunk_failures
SELECT job_id, chunk, failed_on, memory_needed FROM chunk_failures WHERE job_id = $1;

-- name: job_node_failures
SELECT job_id, node_id, failures FROM node_failures WHERE job_id = $1;

-- name: node_node_failures
SELECT job_id, node_id, failures FROM node_failures WHERE node_id = $1;

-- name: put_chunk_failures
INSERT INTO chunk_failures (job_id, chunk, failed_on, memory_needed) VALUES ($1, $2, $3, $4)
ON CONFLICT (job_id, chunk) DO UPDATE SET failed_on = excluded.failed_on,
    memory_needed = excluded.memory_needed;

-- name: forget_chunk_failures
DELETE FROM chunk_failures WHERE job_id = $1 AND chunk = $2;

-- name: put_node_failures
INSERT INTO node_failures (job_id, node_id, failures) VALUES ($1, $2, $3)
ON CONFLICT (job_id, node_id) DO UPDATE SET failures = excluded.failures;

-- name: forget_node_failures
DELETE FROM node_failures WHERE node_id = $1 AND job_id = $2;

-- name: forget_all_node_failures
DELETE FROM node_failures WHERE node_id = $1;

-- name: probe
INSERT INTO meta (key, value) VALUES ('store_probe', $1)
ON CONFLICT (key) DO UPDATE SET value = excluded.value;

-- name: unprobe
DELETE FROM meta WHERE key = 'store_probe';

-- name: schema_table
CREATE TABLE IF NOT EXISTS corral_schema (version INTEGER NOT NULL);

-- name: schema_version
SELECT COALESCE(MAX(version), 0) FROM corral_schema;

-- name: set_schema_version
INSERT INTO corral_schema (version) VALUES ($1);

-- name: try_lock
-- The lock one dispatcher holds on its database for as long as it runs (a second
-- dispatcher on the same database is refused). The key spells "corral".
SELECT pg_try_advisory_lock(99111114114097108);

-- name: lock_holder
-- The application name of the session holding the lock above (NULL: none, or not
-- visible): a dispatcher alone names its writing connection 'corral-alone'. The
-- 64-bit key is split as pg_locks shows it (classid: high half, objid: low half).
SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND (l.classid::bigint << 32) + l.objid::bigint = 99111114114097108;

-- name: migrate_lock
SELECT pg_advisory_xact_lock(99111114114097109);

-- name: take_lead
-- Run by the dispatcher that holds the leader lock: the next epoch is its own. The
-- update waits for any batch of the old epoch still holding the row (fence), so
-- every batch of the old epoch committed before the new epoch exists.
UPDATE corral_leader
SET epoch = epoch + 1, http_url = $1, render_address = $2,
    taken_at = extract(epoch FROM clock_timestamp())
WHERE id = 1
RETURNING epoch;

-- name: record_epoch
INSERT INTO corral_epochs (epoch, http_url, taken_at) VALUES ($1, $2, clock_timestamp());

-- name: advertise
UPDATE corral_leader SET http_url = $2, render_address = $3 WHERE id = 1 AND epoch = $1;

-- name: leader
SELECT epoch, http_url, render_address, taken_at FROM corral_leader WHERE id = 1;

-- name: fence
-- The first statement of every batch of a leader: it counts the batch under the
-- leader's epoch only while the leader row still holds that epoch, and keeps the
-- row share-locked until the batch commits (a new leader's take_lead waits for it).
WITH current AS (SELECT epoch FROM corral_leader WHERE id = 1 FOR SHARE)
UPDATE corral_epochs
SET batches = batches + 1, last_commit_at = clock_timestamp()
WHERE corral_epochs.epoch = $1 AND corral_epochs.epoch = (SELECT epoch FROM current)
RETURNING corral_epochs.epoch;

-- name: epochs
SELECT epoch, http_url, taken_at, batches, last_commit_at FROM corral_epochs ORDER BY epoch;

-- name: put_chunk_changes
INSERT INTO chunk_changes (seq, job_id, cells) VALUES ($1, $2, $3);

-- name: load_chunk_changes
-- The changes that the stored arrays of their jobs do not hold yet, in order.
SELECT c.seq, c.job_id, c.cells
FROM chunk_changes c JOIN jobs j ON j.id = c.job_id
WHERE c.seq > j.changes_from ORDER BY c.seq;

-- name: jobs_chunk_changes
-- load_chunk_changes of some jobs (an array of ids): one pass over the table.
SELECT c.seq, c.job_id, c.cells
FROM chunk_changes c JOIN jobs j ON j.id = c.job_id
WHERE c.job_id = ANY($1::bigint[]) AND c.seq > j.changes_from
ORDER BY c.seq;

-- name: last_chunk_change
SELECT GREATEST(COALESCE((SELECT max(seq) FROM chunk_changes), 0),
    COALESCE((SELECT max(changes_from) FROM jobs), 0));

-- name: prune_chunk_changes
-- The changes that their jobs' arrays hold (and those of deleted jobs, up to $1).
DELETE FROM chunk_changes
WHERE seq <= COALESCE((SELECT changes_from FROM jobs WHERE jobs.id = chunk_changes.job_id), $1);

-- name: check_chunk_changes
-- Every change row with its job's chunk count and changes_from (NULL: no such job).
SELECT c.seq, c.job_id, c.cells, length(j.chunk_status), j.changes_from
FROM chunk_changes c LEFT JOIN jobs j ON j.id = c.job_id ORDER BY c.seq;

-- name: jobs_with_chunk_changes
-- The jobs whose stored arrays do not hold all their changes yet.
SELECT DISTINCT c.job_id
FROM chunk_changes c JOIN jobs j ON j.id = c.job_id
WHERE c.seq > j.changes_from ORDER BY c.job_id;
