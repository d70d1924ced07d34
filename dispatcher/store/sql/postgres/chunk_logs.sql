-- Chunk logs in the database (dispatcher/shared_logs.py): with PostgreSQL and no
-- shared log folder, every dispatcher of the farm writes and reads them here. One
-- row per piece of output, in the order written (seq).

-- name: chunk_logs_table
CREATE TABLE IF NOT EXISTS corral_chunk_logs (
    seq BIGSERIAL PRIMARY KEY,
    job BIGINT NOT NULL,
    chunk INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    data BYTEA NOT NULL
);

-- name: chunk_logs_index
CREATE INDEX IF NOT EXISTS corral_chunk_logs_attempt
    ON corral_chunk_logs (job, chunk, attempt, seq);

-- name: append_chunk_logs
INSERT INTO corral_chunk_logs (job, chunk, attempt, data)
SELECT * FROM unnest($1::BIGINT[], $2::INTEGER[], $3::INTEGER[], $4::BYTEA[]);

-- name: chunk_log_attempts
SELECT DISTINCT attempt FROM corral_chunk_logs WHERE job = $1 AND chunk = $2 ORDER BY attempt;

-- name: chunk_log_tail
-- The last pieces of an attempt's log holding at least $4 bytes (all of it if less).
SELECT seq, data FROM (
    SELECT seq, data, SUM(length(data)) OVER (ORDER BY seq DESC) AS tail_bytes
    FROM corral_chunk_logs WHERE job = $1 AND chunk = $2 AND attempt = $3
) AS pieces
WHERE tail_bytes - length(data) < $4
ORDER BY seq;

-- name: chunk_log_after
-- The pieces of an attempt's log written after piece $4, at most $5 of them.
SELECT seq, data FROM corral_chunk_logs
WHERE job = $1 AND chunk = $2 AND attempt = $3 AND seq > $4
ORDER BY seq LIMIT $5;

-- name: chunk_log_last_seq
SELECT COALESCE(MAX(seq), 0) FROM corral_chunk_logs
WHERE job = $1 AND chunk = $2 AND attempt = $3;

-- name: remove_chunk_logs
DELETE FROM corral_chunk_logs WHERE job = $1;

-- name: chunk_logs_bytes
SELECT COUNT(*), COALESCE(SUM(length(data)), 0) FROM corral_chunk_logs;
