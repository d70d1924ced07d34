-- What failed attempts taught, kept across restarts: per chunk, the nodes it
-- failed on (JSON list of node ids) and the free memory its retry needs after an
-- out-of-memory kill (bytes, 0: none). Per (job, node), the failures counted
-- toward excluding the node from the job.
CREATE TABLE chunk_failures (
    job_id        INTEGER NOT NULL,
    chunk         INTEGER NOT NULL,
    failed_on     TEXT NOT NULL,
    memory_needed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, chunk)
) WITHOUT ROWID;

CREATE TABLE node_failures (
    job_id   INTEGER NOT NULL,
    node_id  INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    PRIMARY KEY (job_id, node_id)
) WITHOUT ROWID;

CREATE INDEX node_failures_node ON node_failures (node_id);
