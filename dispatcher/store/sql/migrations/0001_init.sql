-- The queue: one row per job with its chunks' states as compact blobs,
-- one row per attempt that ran, the render nodes, the users.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE jobs (
    id             INTEGER PRIMARY KEY,
    spec           TEXT NOT NULL,
    chunk_status   BLOB NOT NULL,
    chunk_attempts BLOB NOT NULL,
    chunk_nodes    BLOB NOT NULL,
    chunk_failures BLOB NOT NULL
);

CREATE TABLE runs (
    job_id    INTEGER NOT NULL,
    chunk     INTEGER NOT NULL,
    attempt   INTEGER NOT NULL,
    node_id   INTEGER NOT NULL,
    state     TEXT NOT NULL,
    started   REAL,
    finished  REAL,
    exit_code INTEGER,
    error     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, chunk, attempt)
) WITHOUT ROWID;

CREATE TABLE nodes (
    id       INTEGER PRIMARY KEY,
    name     TEXT NOT NULL,
    instance INTEGER NOT NULL,
    info     TEXT NOT NULL,
    UNIQUE (name, instance)
);

CREATE TABLE users (
    name TEXT PRIMARY KEY,
    info TEXT NOT NULL
);
