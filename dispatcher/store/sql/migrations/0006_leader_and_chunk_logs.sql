-- Schema version 6 makes PostgreSQL's hot-standby tables (the leader row and its
-- epochs) and its table of chunk logs. A SQLite store has neither: one dispatcher
-- owns the file (no leader to choose, no epoch to fence with) and its chunk logs
-- are files in its data directory (DATA_DIR/logs). Nothing changes here, and the
-- version is kept so that both dialects count the same migrations.
SELECT 1;
