-- recs schema, version 3: every run leaves a trace. A run refused for bad
-- input or configuration (after the config itself loaded) is recorded with
-- its own status, and each run keeps the figures of its closing summary.

-- The paragraph the run ended with, as JSON: what was imported, trained,
-- evaluated by the gate and published (churn and coverage included).
ALTER TABLE runs ADD COLUMN summary TEXT NOT NULL DEFAULT '{}';

-- Status 'refused'. SQLite cannot alter a CHECK constraint, and rebuilding
-- runs (create, copy, drop, rename) is impossible inside the migration's
-- transaction while models and publication reference it with foreign keys
-- on (the drop fails, and foreign_keys cannot be switched off inside a
-- transaction). Widening an IN list changes no stored row and no index, so
-- this is the edit of the schema text that SQLite's ALTER TABLE
-- documentation allows for such changes (writable_schema); RESET reloads
-- the schema on this connection, and the ADD COLUMN above has already
-- changed the schema cookie, so every other connection reloads it too.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(sql, '''failed'', ''abandoned'')', '''failed'', ''abandoned'', ''refused'')')
WHERE type = 'table' AND name = 'runs';
PRAGMA writable_schema = RESET;
