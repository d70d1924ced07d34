-- Every job row carries its UUID in its spec. A row written before jobs had one
-- gets the identity it was shown under since (derived from the job's id and submit
-- time), so it never changes: with_job_uuid, a function the store registers, returns
-- the spec with that UUID added, or NULL when the spec has its own.
UPDATE jobs
SET spec = with_job_uuid(id, spec)
WHERE with_job_uuid(id, spec) IS NOT NULL;
