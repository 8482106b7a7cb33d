-- Runs list newest first by when they started: ids derived from an idempotency key or a file's content are
-- hashes, not time-ordered ULIDs, so the id alone cannot order them.
DROP INDEX weir.runs_pipeline_id;
CREATE INDEX runs_started ON weir.runs (started_at DESC, id DESC);
CREATE INDEX runs_pipeline_started ON weir.runs (pipeline, started_at DESC, id DESC);
