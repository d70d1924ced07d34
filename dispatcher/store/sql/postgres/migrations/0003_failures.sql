-- What failed attempts taught, kept across restarts: per chunk, the nodes it
-- failed on (JSON list of node ids) and the free memory its retry needs after an
-- out-of-memory kill (bytes, 0: none). Per (job, node), the failures counted
-- toward excluding the node from the job.
CREATE TABLE chunk_failures (
    job_id        BIGINT NOT NULL,
    chunk         BIGINT NOT NULL,
    failed_on     BYTEA NOT NULL,
    memory_needed BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, chunk)
);

CREATE TABLE node_failures (
    job_id   BIGINT NOT NULL,
    node_id  BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    PRIMARY KEY (job_id, node_id)
);

CREATE INDEX node_failures_node ON node_failures (node_id);
