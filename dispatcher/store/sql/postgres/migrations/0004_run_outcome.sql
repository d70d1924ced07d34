-- What an attempt achieved, as its render client reported it: frames completed,
-- warnings and errors the template's checks found.
ALTER TABLE runs ADD COLUMN frames_done BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN warnings BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN errors BIGINT NOT NULL DEFAULT 0;
