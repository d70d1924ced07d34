-- The chunks of a job that a batch changed are written as one small row (`cells`:
-- their indexes and new values, store/chunk_changes.py) instead of the job's whole
-- chunk arrays: a job's row holds its arrays as of change `changes_from`, and the
-- rows of chunk_changes numbered above it, in order, bring them up to date. The
-- store writes the arrays whole again once a job has gathered enough changes, and
-- prunes the rows its jobs' arrays already hold.
CREATE TABLE chunk_changes (
    seq    BIGINT PRIMARY KEY,
    job_id BIGINT NOT NULL,
    cells  BYTEA NOT NULL
);

ALTER TABLE jobs ADD COLUMN changes_from BIGINT NOT NULL DEFAULT 0;
