-- Hot standby and shared chunk logs, as schema version 6.
--
-- corral_leader holds the one row naming the leader and its epoch, corral_epochs
-- one row per epoch counting the batches its leader committed
-- (dispatcher/leadership.py, the store's fence). corral_chunk_logs holds chunk
-- logs when no shared log folder is set (dispatcher/shared_logs.py), one row per
-- piece of output in the order written (seq).
--
-- Before version 6 a dispatcher made these tables itself when it first competed
-- for the lead or started its chunk logs: IF NOT EXISTS keeps such a database's
-- tables and rows as they are.
CREATE TABLE IF NOT EXISTS corral_leader (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    epoch BIGINT NOT NULL,
    http_url TEXT NOT NULL,
    render_address TEXT NOT NULL,
    taken_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS corral_epochs (
    epoch BIGINT PRIMARY KEY,
    http_url TEXT NOT NULL,
    taken_at TIMESTAMPTZ NOT NULL,
    batches BIGINT NOT NULL DEFAULT 0,
    last_commit_at TIMESTAMPTZ
);
INSERT INTO corral_leader (id, epoch, http_url, render_address, taken_at)
VALUES (1, 0, '', '', 0) ON CONFLICT (id) DO NOTHING;
CREATE TABLE IF NOT EXISTS corral_chunk_logs (
    seq BIGSERIAL PRIMARY KEY,
    job BIGINT NOT NULL,
    chunk INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    data BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS corral_chunk_logs_attempt
    ON corral_chunk_logs (job, chunk, attempt, seq);
