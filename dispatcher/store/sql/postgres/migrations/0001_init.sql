-- The queue: one row per job with its chunks' states as compact byte strings,
-- one row per attempt that ran, the render nodes, the users. JSON documents are
-- kept as the bytes the dispatcher wrote (bytea), as SQLite keeps them.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE jobs (
    id             BIGINT PRIMARY KEY,
    spec           BYTEA NOT NULL,
    chunk_status   BYTEA NOT NULL,
    chunk_attempts BYTEA NOT NULL,
    chunk_nodes    BYTEA NOT NULL,
    chunk_failures BYTEA NOT NULL
);

CREATE TABLE runs (
    job_id    BIGINT NOT NULL,
    chunk     BIGINT NOT NULL,
    attempt   BIGINT NOT NULL,
    node_id   BIGINT NOT NULL,
    state     TEXT NOT NULL,
    started   DOUBLE PRECISION,
    finished  DOUBLE PRECISION,
    exit_code BIGINT,
    error     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, chunk, attempt)
);

CREATE TABLE nodes (
    id       BIGINT PRIMARY KEY,
    name     TEXT NOT NULL,
    instance BIGINT NOT NULL,
    info     BYTEA NOT NULL,
    UNIQUE (name, instance)
);

CREATE TABLE users (
    name TEXT PRIMARY KEY,
    info BYTEA NOT NULL
);
