-- name: get_meta
SELECT key, value FROM meta;

-- name: put_meta
INSERT INTO meta (key, value) VALUES (?, ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value;

-- name: load_jobs
SELECT id, spec, chunk_status, chunk_attempts, chunk_nodes, chunk_failures FROM jobs ORDER BY id;

-- name: put_job
INSERT INTO jobs (id, spec, chunk_status, chunk_attempts, chunk_nodes, chunk_failures,
    changes_from)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET spec = excluded.spec, chunk_status = excluded.chunk_status,
    chunk_attempts = excluded.chunk_attempts, chunk_nodes = excluded.chunk_nodes,
    chunk_failures = excluded.chunk_failures, changes_from = excluded.changes_from;

-- name: put_job_chunks
UPDATE jobs SET chunk_status = ?, chunk_attempts = ?, chunk_nodes = ?, chunk_failures = ?,
    changes_from = ?
WHERE id = ?;

-- name: delete_job
DELETE FROM jobs WHERE id = ?;

-- name: delete_job_runs
DELETE FROM runs WHERE job_id = ?;

-- name: delete_job_chunk_failures
DELETE FROM chunk_failures WHERE job_id = ?;

-- name: delete_job_node_failures
DELETE FROM node_failures WHERE job_id = ?;

-- name: get_job
SELECT id, spec, chunk_status, chunk_attempts, chunk_nodes, chunk_failures FROM jobs WHERE id = ?;

-- name: put_run
INSERT INTO runs (job_id, chunk, attempt, node_id, state, started, finished, exit_code, error,
    frames_done, warnings, errors)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (job_id, chunk, attempt) DO UPDATE SET node_id = excluded.node_id,
    state = excluded.state, started = excluded.started, finished = excluded.finished,
    exit_code = excluded.exit_code, error = excluded.error,
    frames_done = excluded.frames_done, warnings = excluded.warnings, errors = excluded.errors;

-- name: load_runs
SELECT job_id, chunk, attempt, node_id, state, started, finished, exit_code, error,
    frames_done, warnings, errors
FROM runs WHERE job_id = ? ORDER BY chunk, attempt;

-- name: load_runs_between
-- The attempts of the chunks first..last of a job (one page's worth).
SELECT job_id, chunk, attempt, node_id, state, started, finished, exit_code, error,
    frames_done, warnings, errors
FROM runs WHERE job_id = ? AND chunk BETWEEN ? AND ? ORDER BY chunk, attempt;

-- name: load_runs_of_chunks
-- The attempts of some chunks of a job (a JSON array of chunk indexes): one page's worth.
SELECT job_id, chunk, attempt, node_id, state, started, finished, exit_code, error,
    frames_done, warnings, errors
FROM runs WHERE job_id = ? AND chunk IN (SELECT value FROM json_each(?)) ORDER BY chunk, attempt;

-- name: load_nodes
SELECT id, name, instance, info FROM nodes ORDER BY id;

-- name: put_node
INSERT INTO nodes (id, name, instance, info) VALUES (?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET name = excluded.name, instance = excluded.instance,
    info = excluded.info;

-- name: delete_node
DELETE FROM nodes WHERE id = ?;

-- name: get_node
SELECT id, name, instance, info FROM nodes WHERE id = ?;

-- name: get_user
SELECT info FROM users WHERE name = ?;

-- name: get_record
SELECT info FROM records WHERE kind = ? AND name = ?;

-- name: load_users
SELECT name, info FROM users ORDER BY name;

-- name: put_user
INSERT INTO users (name, info) VALUES (?, ?)
ON CONFLICT (name) DO UPDATE SET info = excluded.info;

-- name: delete_user
DELETE FROM users WHERE name = ?;

-- name: load_records
SELECT kind, name, info FROM records ORDER BY kind, name;

-- name: put_record
INSERT INTO records (kind, name, info) VALUES (?, ?, ?)
ON CONFLICT (kind, name) DO UPDATE SET info = excluded.info;

-- name: delete_record
DELETE FROM records WHERE kind = ? AND name = ?;

-- name: put_statistic
INSERT INTO statistics (time, info) VALUES (?, ?);

-- name: put_history
INSERT INTO history (time, job_id, event, info) VALUES (?, ?, ?, ?);

-- name: statistics_bounds
SELECT MIN(time), MAX(time), COUNT(*) FROM statistics;

-- name: history_bounds
SELECT MIN(time), MAX(time), COUNT(*) FROM history;

-- name: clear_statistics
DELETE FROM statistics WHERE time >= ? AND time <= ?;

-- name: clear_history
DELETE FROM history WHERE time >= ? AND time <= ?;

-- name: load_history
SELECT time, job_id, event, info FROM history WHERE time >= ? AND time <= ? ORDER BY time;

-- name: statistics_range
SELECT rowid, time, info FROM statistics
WHERE time >= ? AND time <= ? AND rowid > ? ORDER BY rowid LIMIT ?;

-- name: history_range
SELECT rowid, time, job_id, event, info FROM history
WHERE time >= ? AND time <= ? AND rowid > ? ORDER BY rowid LIMIT ?;

-- name: load_chunk_failures
SELECT job_id, chunk, failed_on, memory_needed FROM chunk_failures;

-- name: load_node_failures
SELECT job_id, node_id, failures FROM node_failures;

-- name: job_chunk_failures
SELECT job_id, chunk, failed_on, memory_needed FROM chunk_failures WHERE job_id = ?;

-- name: job_node_failures
SELECT job_id, node_id, failures FROM node_failures WHERE job_id = ?;

-- name: node_node_failures
SELECT job_id, node_id, failures FROM node_failures WHERE node_id = ?;

-- name: put_chunk_failures
INSERT INTO chunk_failures (job_id, chunk, failed_on, memory_needed) VALUES (?, ?, ?, ?)
ON CONFLICT (job_id, chunk) DO UPDATE SET failed_on = excluded.failed_on,
    memory_needed = excluded.memory_needed;

-- name: forget_chunk_failures
DELETE FROM chunk_failures WHERE job_id = ? AND chunk = ?;

-- name: put_node_failures
INSERT INTO node_failures (job_id, node_id, failures) VALUES (?, ?, ?)
ON CONFLICT (job_id, node_id) DO UPDATE SET failures = excluded.failures;

-- name: forget_node_failures
DELETE FROM node_failures WHERE node_id = ? AND job_id = ?;

-- name: forget_all_node_failures
DELETE FROM node_failures WHERE node_id = ?;

-- name: probe
INSERT INTO meta (key, value) VALUES ('store_probe', ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value;

-- name: unprobe
DELETE FROM meta WHERE key = 'store_probe';

-- name: put_chunk_changes
INSERT INTO chunk_changes (seq, job_id, cells) VALUES (?, ?, ?);

-- name: load_chunk_changes
-- The changes that the stored arrays of their jobs do not hold yet, in order.
SELECT c.seq, c.job_id, c.cells
FROM chunk_changes c JOIN jobs j ON j.id = c.job_id
WHERE c.seq > j.changes_from ORDER BY c.seq;

-- name: jobs_chunk_changes
-- load_chunk_changes of some jobs (a JSON array of ids): one pass over the table.
SELECT c.seq, c.job_id, c.cells
FROM chunk_changes c JOIN jobs j ON j.id = c.job_id
WHERE c.job_id IN (SELECT value FROM json_each(?)) AND c.seq > j.changes_from
ORDER BY c.seq;

-- name: last_chunk_change
SELECT max(COALESCE((SELECT max(seq) FROM chunk_changes), 0),
    COALESCE((SELECT max(changes_from) FROM jobs), 0));

-- name: prune_chunk_changes
-- The changes that their jobs' arrays hold (and those of deleted jobs, up to ?).
DELETE FROM chunk_changes
WHERE seq <= COALESCE((SELECT changes_from FROM jobs WHERE jobs.id = chunk_changes.job_id), ?);

-- name: jobs_with_chunk_changes
-- The jobs whose stored arrays do not hold all their changes yet.
SELECT DISTINCT c.job_id
FROM chunk_changes c JOIN jobs j ON j.id = c.job_id
WHERE c.seq > j.changes_from ORDER BY c.job_id;

-- name: check_chunk_changes
-- Every change row with its job's chunk count and changes_from (NULL: no such job).
SELECT c.seq, c.job_id, c.cells, length(j.chunk_status), j.changes_from
FROM chunk_changes c LEFT JOIN jobs j ON j.id = c.job_id ORDER BY c.seq;
