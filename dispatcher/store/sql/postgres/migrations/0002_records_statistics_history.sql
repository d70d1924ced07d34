-- Named records the hook API manages (pools, repositories, groups, stored
-- settings, the LDAP configuration), statistics samples and job history. The
-- time-ranged tables number their rows in the order written (SQLite's rowid).
CREATE TABLE records (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    info BYTEA NOT NULL,
    PRIMARY KEY (kind, name)
);

CREATE TABLE statistics (
    seq  BIGSERIAL PRIMARY KEY,
    time DOUBLE PRECISION NOT NULL,
    info BYTEA NOT NULL
);

CREATE INDEX statistics_time ON statistics (time);

CREATE TABLE history (
    seq    BIGSERIAL PRIMARY KEY,
    time   DOUBLE PRECISION NOT NULL,
    job_id BIGINT NOT NULL,
    event  TEXT NOT NULL,
    info   BYTEA NOT NULL
);

CREATE INDEX history_time ON history (time);
