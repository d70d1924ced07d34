-- Named records the hook API manages (pools, repositories, groups, stored
-- settings, the LDAP configuration), statistics samples and job history.
CREATE TABLE records (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    info TEXT NOT NULL,
    PRIMARY KEY (kind, name)
) WITHOUT ROWID;

CREATE TABLE statistics (
    time REAL NOT NULL,
    info TEXT NOT NULL
);

CREATE INDEX statistics_time ON statistics (time);

CREATE TABLE history (
    time   REAL NOT NULL,
    job_id INTEGER NOT NULL,
    event  TEXT NOT NULL,
    info   TEXT NOT NULL
);

CREATE INDEX history_time ON history (time);
