/**
 * Ordered lanes over the durable `jobs` queue. `JobQueue.claim` hands out any due job (the right thing for
 * independent work); a lane hands out only the oldest unfinished job of one kind, and only while no one else
 * holds it, so the jobs of a lane run one at a time, in enqueue order, across processes and restarts. The
 * spooled bodies of `ack: accepted` use one lane per pipeline, which keeps their sink writes in arrival order.
 *
 * A job that is not finished (a crash, a clean stop) stays at the head: its lease runs out (crash) or it is
 * released (stop), and the next claim of the lane gets the same job again.
 *
 * @module
 */
import type { JsonValue, Store } from "./store.ts";

/** A claimed job of a lane. */
export interface LaneJob {
  /** The job id. */
  id: string;
  /** The job's arguments. */
  payload: JsonValue;
  /** Claims so far, this one included (a clean release does not count). */
  attempts: number;
}

/** One lane: the jobs of `kind`, oldest first. */
export class JobLane {
  readonly #store: Store;
  readonly #kind: string;

  /** A lane over the jobs of `kind` in `store`. */
  constructor(store: Store, kind: string) {
    this.#store = store;
    this.#kind = kind;
  }

  /** The kind of job this lane runs. */
  get kind(): string {
    return this.#kind;
  }

  /**
   * Leases the head of the lane to `workerId` for `leaseMs`: the oldest job of the kind that is queued or
   * running, provided it is queued or its lease ran out. `null` when the lane is empty or its head is held.
   */
  async claimHead(workerId: string, leaseMs: number): Promise<LaneJob | null> {
    // FOR UPDATE without SKIP LOCKED: a concurrent claimer waits for the head, then sees it running and stops,
    // rather than skipping to the second job, which would break the order.
    const rows = await this.#store.transaction((tx) =>
      tx.sql.query(
        `WITH head AS (
           SELECT id FROM weir.jobs
            WHERE kind = $1 AND status IN ('queued', 'running')
            ORDER BY id
            LIMIT 1
            FOR UPDATE
         )
         UPDATE weir.jobs AS j SET
           status = 'running', locked_by = $2, attempts = j.attempts + 1, updated_at = now(),
           locked_until = now() + $3::float8 * interval '1 millisecond'
         FROM head
         WHERE j.id = head.id AND (j.status = 'queued' OR j.locked_until < now())
         RETURNING j.id, j.payload, j.attempts`,
        [this.#kind, workerId, leaseMs],
      )
    );
    if (rows.length === 0) return null;
    const row = rows[0];
    return {
      id: String(row.id),
      payload: (typeof row.payload === "string" ? JSON.parse(row.payload) : row.payload) as JsonValue,
      attempts: Number(row.attempts),
    };
  }

  /**
   * Gives a job back unfinished (a clean stop): queued again at the head of its lane, the claim not counted as
   * an attempt. `false` when `workerId` does not hold it.
   */
  async release(id: string, workerId: string): Promise<boolean> {
    const rows = await this.#store.transaction((tx) =>
      tx.sql.query(
        `UPDATE weir.jobs SET status = 'queued', locked_by = NULL, locked_until = NULL,
                attempts = greatest(attempts - 1, 0), updated_at = now()
          WHERE id = $1 AND locked_by = $2 AND status = 'running'
          RETURNING id`,
        [id, workerId],
      )
    );
    return rows.length > 0;
  }

  /** Jobs of the lane not finished yet (queued or running). */
  async pending(): Promise<number> {
    const rows = await this.#store.transaction((tx) =>
      tx.sql.query(
        `SELECT count(*)::int AS n FROM weir.jobs WHERE kind = $1 AND status IN ('queued', 'running')`,
        [this.#kind],
      )
    );
    return Number(rows[0].n);
  }
}
