-- A chunk that changes is written as one small row instead of its job's whole chunk
-- arrays: a job's row holds its arrays as of change `changes_from`, and the rows of
-- chunk_changes numbered above it, in order, bring them up to date. The store writes
-- the arrays whole again once a job has gathered enough changes, and prunes the rows
-- its jobs' arrays already hold.
CREATE TABLE chunk_changes (
    seq      BIGINT PRIMARY KEY,
    job_id   BIGINT NOT NULL,
    chunk    BIGINT NOT NULL,
    status   BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    node     BIGINT NOT NULL,
    failures BIGINT NOT NULL
);

ALTER TABLE jobs ADD COLUMN changes_from BIGINT NOT NULL DEFAULT 0;
