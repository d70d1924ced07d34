-- Every job row carries its UUID in its spec. PostgreSQL stores hold no row from
-- before jobs had one: Corral writes every job's UUID, and `corral store migrate`
-- copies a SQLite store only once it has been brought to the latest version. The
-- version is kept so that both dialects count the same migrations.
SELECT 1;
