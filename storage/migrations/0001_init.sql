-- weir's own tables. Shared by PostgreSQL and PGlite, so plain PostgreSQL 15 SQL only.
-- Ids of runs, dead letters and jobs are prefixed ULIDs made by the application: they sort by time,
-- so keyset paging on the primary key alone gives newest-first pages with no second sort key.
-- The runner has already created the `weir` schema and holds the migration lock.

CREATE TABLE weir.runs (
  -- COLLATE "C": ids compare bytewise, which is their time order, whatever the database locale.
  id              text COLLATE "C" PRIMARY KEY,
  pipeline        text NOT NULL,
  status          text NOT NULL DEFAULT 'running'
                  CHECK (status IN ('pending', 'running', 'committed', 'failed')),
  idempotency_key text,
  started_at      timestamptz NOT NULL DEFAULT now(),
  finished_at     timestamptz,
  received_rows   bigint NOT NULL DEFAULT 0 CHECK (received_rows >= 0),
  accepted_rows   bigint NOT NULL DEFAULT 0 CHECK (accepted_rows >= 0),
  rejected_rows   bigint NOT NULL DEFAULT 0 CHECK (rejected_rows >= 0),
  bytes           bigint NOT NULL DEFAULT 0 CHECK (bytes >= 0),
  timings         jsonb NOT NULL DEFAULT '{}',
  quality         jsonb,
  error           jsonb,
  -- A run is finished exactly when it reached a final status.
  CONSTRAINT runs_finished_when_final
    CHECK ((status IN ('committed', 'failed')) = (finished_at IS NOT NULL))
);
CREATE INDEX runs_pipeline_id ON weir.runs (pipeline, id DESC);
-- Small: only active runs, which a restarted process looks for to fail or resume them.
CREATE INDEX runs_active ON weir.runs (status, id DESC) WHERE status IN ('pending', 'running');
CREATE INDEX runs_idempotency_key ON weir.runs (pipeline, idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE weir.dead_letters (
  id          text COLLATE "C" PRIMARY KEY,
  pipeline    text NOT NULL,
  -- Kept when old runs are deleted: the bytes matter more than the run row.
  run_id      text COLLATE "C" REFERENCES weir.runs (id) ON DELETE SET NULL,
  stage       text NOT NULL,
  original    bytea NOT NULL,
  line        bigint CHECK (line >= 1),
  errors      jsonb NOT NULL DEFAULT '[]',
  attempts    integer NOT NULL DEFAULT 1 CHECK (attempts >= 0),
  created_at  timestamptz NOT NULL DEFAULT now(),
  replayed_at timestamptz
);
CREATE INDEX dead_letters_pipeline_id ON weir.dead_letters (pipeline, id DESC);
CREATE INDEX dead_letters_run_id ON weir.dead_letters (run_id, id DESC) WHERE run_id IS NOT NULL;
CREATE INDEX dead_letters_created_at ON weir.dead_letters (created_at);

CREATE TABLE weir.checkpoints (
  consumer    text NOT NULL,
  partition   integer NOT NULL CHECK (partition >= 0),
  -- The next position to read; text because it is opaque (Kafka int64 offsets, REST cursors).
  next_offset text NOT NULL,
  state       bytea,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, partition)
);

CREATE TABLE weir.jobs (
  id           text COLLATE "C" PRIMARY KEY,
  kind         text NOT NULL,
  payload      jsonb NOT NULL DEFAULT '{}',
  status       text NOT NULL DEFAULT 'queued'
               CHECK (status IN ('queued', 'running', 'succeeded', 'dead')),
  run_at       timestamptz NOT NULL DEFAULT now(),
  attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  max_attempts integer NOT NULL DEFAULT 5 CHECK (max_attempts >= 1),
  locked_by    text,
  locked_until timestamptz,
  last_error   jsonb,
  -- Unique so that two schedulers enqueueing the same cron tick make one job.
  dedupe_key   text UNIQUE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT jobs_leased_when_running CHECK ((status = 'running') = (locked_until IS NOT NULL))
);
-- Claiming scans these two partial indexes only, however many finished jobs pile up.
CREATE INDEX jobs_due ON weir.jobs (run_at, id) WHERE status = 'queued';
CREATE INDEX jobs_leases ON weir.jobs (locked_until) WHERE status = 'running';

CREATE TABLE weir.audit (
  id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at      timestamptz NOT NULL DEFAULT now(),
  actor   text NOT NULL,
  action  text NOT NULL,
  target  text,
  details jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_at ON weir.audit (at);
CREATE INDEX audit_actor_id ON weir.audit (actor, id DESC);
CREATE INDEX audit_target_id ON weir.audit (target, id DESC) WHERE target IS NOT NULL;

-- Append-only is enforced here, not by convention. TRUNCATE (retention by an operator) still works.
CREATE FUNCTION weir.audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'weir.audit is append-only: % is not allowed', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON weir.audit
  FOR EACH ROW EXECUTE FUNCTION weir.audit_append_only();

CREATE TABLE weir.idempotency (
  pipeline     text NOT NULL,
  key          text NOT NULL,
  body_hash    text NOT NULL,
  status       text NOT NULL CHECK (status IN ('in_progress', 'done')),
  response     jsonb,
  created_at   timestamptz NOT NULL DEFAULT now(),
  -- While in progress: after this a retry may take the key over (the first request's process died).
  locked_until timestamptz,
  expires_at   timestamptz NOT NULL,
  PRIMARY KEY (pipeline, key),
  CONSTRAINT idempotency_response_when_done CHECK ((status = 'done') = (response IS NOT NULL))
);
CREATE INDEX idempotency_expires_at ON weir.idempotency (expires_at);
