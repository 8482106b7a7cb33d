-- `interrupted`: a run stopped before its end (its client disconnected, the store or a worker failed, Ctrl-C)
-- whose id a later attempt derives again (an idempotency key, a file's content), so that attempt continues it.
-- Not final: finished_at stays NULL, and the run is active like `pending` and `running`.
ALTER TABLE weir.runs DROP CONSTRAINT runs_status_check;
ALTER TABLE weir.runs ADD CONSTRAINT runs_status_check
  CHECK (status IN ('pending', 'running', 'interrupted', 'committed', 'failed'));
DROP INDEX weir.runs_active;
CREATE INDEX runs_active ON weir.runs (status, id DESC) WHERE status IN ('pending', 'running', 'interrupted');
