/**
 * The behaviour every {@linkcode Store} must have, as one suite that each backend's test runs
 * against a real database.
 *
 * @module
 */

import assert from "node:assert/strict";
import { migrate } from "./migrate.ts";
import { MIGRATIONS } from "./migrations/mod.ts";
import { type Store, StoreError, type StoreErrorCode, type StoreTx } from "./store.ts";
import { newId } from "./ids.ts";

/** Opens a store on the same database every time it is called. */
export type MakeStore = () => Promise<Store>;

/** What the backend under test supports beyond the common contract. */
export interface StoreContractOptions {
  /** Data written before `close()` is there after the next `makeStore()`. */
  persistent?: boolean;
  /** Several stores may be open on one database at once (separate processes in production). */
  concurrentOpen?: boolean;
}

/**
 * Runs the store contract as steps of `t`. The first `makeStore()` call must see a database that
 * has never been migrated, so that concurrent first-time migration is exercised.
 */
export async function storeContract(
  t: Deno.TestContext,
  makeStore: MakeStore,
  options: StoreContractOptions = {},
): Promise<void> {
  let store: Store;
  if (options.concurrentOpen) {
    await t.step("migrations run once when several stores open a fresh database at once", async () => {
      const stores = await Promise.all([makeStore(), makeStore(), makeStore()]);
      try {
        const [row] = await stores[0].transaction((tx) =>
          tx.sql.query("SELECT count(*) AS n FROM weir.weir_migrations WHERE version = 1")
        );
        assert.equal(Number(row.n), 1);
      } finally {
        await Promise.all(stores.slice(1).map((s) => s.close()));
      }
      store = stores[0];
    });
  } else {
    store = await makeStore();
  }

  try {
    await t.step("migrations are a no-op when run again", async () => {
      const before = await store.transaction((tx) =>
        tx.sql.query("SELECT version FROM weir.weir_migrations")
      );
      const again = await store.transaction((tx) => migrate(tx.sql));
      assert.deepEqual(again.applied, []);
      assert.ok(again.version >= 1);
      const after = await store.transaction((tx) => tx.sql.query("SELECT version FROM weir.weir_migrations"));
      assert.deepEqual(after, before);
    });

    await t.step("runs", (t) => runsContract(t, store));
    await t.step("dead letters", (t) => deadLettersContract(t, store));
    await t.step("checkpoints", (t) => checkpointsContract(t, store));
    await t.step("jobs", (t) => jobsContract(t, store));
    await t.step("audit", (t) => auditContract(t, store));
    await t.step("idempotency", (t) => idempotencyContract(t, store));
    await t.step("transaction", (t) => transactionContract(t, store));

    await t.step("healthcheck resolves, and rejects once its signal aborts", async () => {
      await store.healthcheck();
      await store.healthcheck(AbortSignal.timeout(5_000));
      await rejectsWith(store.healthcheck(AbortSignal.abort()), "unavailable");
    });

    if (options.persistent) {
      await t.step("data survives close and reopen", async () => {
        const run = await store.runs.create({ pipeline: "persist" });
        const [dl] = await store.deadLetters.add([
          { pipeline: "persist", runId: run.id, stage: "parse", original: bytes(1, 2, 3), errors: [] },
        ]);
        await store.checkpoints.save("persist", [{ partition: 0, offset: "42", state: bytes(9) }]);
        await store.close();
        store = await makeStore();
        assert.equal((await store.runs.get(run.id))?.pipeline, "persist");
        assert.deepEqual((await store.deadLetters.get(dl))?.original, bytes(1, 2, 3));
        assert.deepEqual((await store.checkpoints.load("persist")).map((c) => c.offset), ["42"]);
        const [row] = await store.transaction((tx) =>
          tx.sql.query("SELECT count(*) AS n FROM weir.weir_migrations")
        );
        assert.equal(Number(row.n), MIGRATIONS.length, "each migration applied once");
      });
    }
  } finally {
    await store!.close();
  }

  await t.step("close is idempotent, and a closed store fails with unavailable", async () => {
    await store.close();
    await rejectsWith(store.runs.get("r_01JDZ3KX5M8Q9W2T4V6Y8A0C2E"), "unavailable");
  });
}

async function runsContract(t: Deno.TestContext, store: Store) {
  await t.step("create returns a running run with zero counts", async () => {
    const run = await store.runs.create({ pipeline: "orders", idempotencyKey: "k1" });
    assert.match(run.id, /^r_[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.equal(run.status, "running");
    assert.equal(run.idempotencyKey, "k1");
    assert.deepEqual([run.received, run.accepted, run.rejected, run.bytes], [0, 0, 0, 0]);
    assert.deepEqual(run.timings, {});
    assert.equal(run.finishedAt, null);
    assert.ok(run.startedAt instanceof Date);
    assert.deepEqual(await store.runs.get(run.id), run);
  });

  await t.step("list pages newest first by start, whatever the form of the ids", async () => {
    // A derived id (a key's hash) sorts anywhere among ULIDs; the start time orders them.
    const ids = ["r_kffff0000", "r_01JDZ3KX5M8Q9W2T4V6Y8A0C2E", "r_k0000ffff"];
    for (const id of ids) {
      await store.runs.create({ id, pipeline: "by-start" });
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const first = await store.runs.list({ pipeline: "by-start", limit: 2 });
    assert.deepEqual(first.items.map((r) => r.id), [ids[2], ids[1]]);
    const second = await store.runs.list({ pipeline: "by-start", limit: 2, cursor: first.next });
    assert.deepEqual(second.items.map((r) => r.id), [ids[0]]);
    assert.equal(second.next, null);
  });

  await t.step("create takes a given id, once", async () => {
    const run = await store.runs.create({ id: "r_given_id_1", pipeline: "orders" });
    assert.equal(run.id, "r_given_id_1");
    await assert.rejects(() => store.runs.create({ id: "r_given_id_1", pipeline: "orders" }));
  });

  await t.step("update sets counts and merges timings", async () => {
    const run = await store.runs.create({ pipeline: "orders", status: "pending" });
    await store.runs.update(run.id, { status: "running", received: 10, timings: { parse: 1.5 } });
    const updated = await store.runs.update(run.id, {
      accepted: 9,
      rejected: 1,
      bytes: 2 ** 40,
      timings: { sink: 3 },
      quality: { score: 0.9 },
    });
    assert.equal(updated.status, "running");
    assert.deepEqual([updated.received, updated.accepted, updated.rejected, updated.bytes], [
      10,
      9,
      1,
      2 ** 40,
    ]);
    assert.deepEqual(updated.timings, { parse: 1.5, sink: 3 });
    assert.deepEqual(updated.quality, { score: 0.9 });
  });

  await t.step("finish stamps finishedAt, and a finished run cannot change", async () => {
    const run = await store.runs.create({ pipeline: "orders" });
    const failed = await store.runs.finish(run.id, {
      status: "failed",
      error: { message: "Sink down" },
      received: 3,
    });
    assert.equal(failed.status, "failed");
    assert.ok(failed.finishedAt instanceof Date);
    assert.deepEqual(failed.error, { message: "Sink down" });
    assert.equal(failed.received, 3);
    await rejectsWith(store.runs.finish(run.id, { status: "committed" }), "conflict");
    await rejectsWith(store.runs.update(run.id, { accepted: 1 }), "conflict");
  });

  await t.step("an interrupted run keeps its error, stays active and runs again without it", async () => {
    const run = await store.runs.create({ pipeline: "orders", idempotencyKey: "k-interrupted" });
    const interrupted = await store.runs.update(run.id, {
      status: "interrupted",
      accepted: 4,
      error: { message: "Client disconnected" },
    });
    assert.equal(interrupted.status, "interrupted");
    assert.equal(interrupted.finishedAt, null);
    assert.deepEqual(interrupted.error, { message: "Client disconnected" });
    const listed = await store.runs.list({ idempotencyKey: "k-interrupted", status: "interrupted" });
    assert.deepEqual(listed.items.map((r) => r.id), [run.id]);
    const resumed = await store.runs.update(run.id, { status: "running" });
    assert.equal(resumed.error, null);
    assert.equal(resumed.accepted, 4);
    const committed = await store.runs.finish(run.id, { status: "committed", accepted: 9 });
    assert.deepEqual([committed.status, committed.accepted, committed.error], ["committed", 9, null]);
  });

  await t.step("record stores finished runs in one statement, inside a transaction", async () => {
    const startedAt = new Date(Date.now() - 5_000);
    const ids = [newId("r"), newId("r")];
    await store.transaction((tx) =>
      tx.runs.record([
        {
          id: ids[0],
          pipeline: "events",
          startedAt,
          status: "committed",
          received: 3,
          accepted: 2,
          rejected: 1,
          bytes: 2 ** 40,
          timings: { sink: 1.5 },
        },
        { id: ids[1], pipeline: "events", startedAt, status: "failed", error: { failedChunks: 1 } },
      ])
    );
    const [committed, failed] = await Promise.all(ids.map((id) => store.runs.get(id)));
    assert.equal(committed?.status, "committed");
    assert.deepEqual(
      [committed?.received, committed?.accepted, committed?.rejected, committed?.bytes],
      [3, 2, 1, 2 ** 40],
    );
    assert.deepEqual(committed?.timings, { sink: 1.5 });
    assert.equal(committed?.quality, null);
    assert.equal(committed?.error, null);
    assert.equal(committed?.startedAt.getTime(), startedAt.getTime());
    assert.ok(committed!.finishedAt! >= committed!.startedAt);
    assert.equal(failed?.status, "failed");
    assert.deepEqual(failed?.error, { failedChunks: 1 });
    assert.deepEqual([failed?.received, failed?.accepted], [0, 0]);
    await rejectsWith(store.runs.finish(ids[0], { status: "failed" }), "conflict");
    await store.runs.record([]);
  });

  await t.step("missing runs are null on get and not_found on change", async () => {
    const missing = "r_00000000000000000000000000";
    assert.equal(await store.runs.get(missing), null);
    await rejectsWith(store.runs.update(missing, { accepted: 1 }), "not_found");
  });

  await t.step("list filters and pages newest first without gaps or repeats", async () => {
    const created: string[] = [];
    for (let i = 0; i < 7; i++) created.push((await store.runs.create({ pipeline: "paging" })).id);
    await store.runs.finish(created[0], { status: "committed" });
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Awaited<ReturnType<Store["runs"]["list"]>> = await store.runs.list({
        pipeline: "paging",
        limit: 3,
        cursor,
      });
      seen.push(...page.items.map((r) => r.id));
      cursor = page.next;
      pages++;
    } while (cursor !== null);
    assert.equal(pages, 3);
    assert.deepEqual(seen, [...created].reverse());

    const cases: { name: string; filter: Parameters<Store["runs"]["list"]>[0]; count: number }[] = [
      { name: "one status", filter: { pipeline: "paging", status: "committed" }, count: 1 },
      { name: "several statuses", filter: { pipeline: "paging", status: ["running", "failed"] }, count: 6 },
      { name: "idempotency key", filter: { pipeline: "orders", idempotencyKey: "k1" }, count: 1 },
      { name: "unknown pipeline", filter: { pipeline: "nope" }, count: 0 },
    ];
    for (const c of cases) assert.equal((await store.runs.list(c.filter)).items.length, c.count, c.name);
  });

  await t.step("list rejects a bad cursor or limit", async () => {
    await rejectsWith(store.runs.list({ cursor: "'; DROP TABLE weir.runs; --" }), "invalid");
    await rejectsWith(store.runs.list({ limit: 0 }), "invalid");
    await rejectsWith(store.runs.list({ limit: 1001 }), "invalid");
  });
}

async function deadLettersContract(t: Deno.TestContext, store: Store) {
  const run = await store.runs.create({ pipeline: "dlq" });
  // Not UTF-8 and with a NUL: the bytes must come back exactly.
  const raw = bytes(0x00, 0xff, 0xfe, 0x0a, 0x22, 0x5c, 0xc3);

  await t.step("add returns ids in order and get returns the exact bytes and error chain", async () => {
    const ids = await store.deadLetters.add([
      {
        pipeline: "dlq",
        runId: run.id,
        stage: "validate",
        original: raw,
        line: 17,
        errors: [{ name: "ValidationError", message: "Below min: amount", details: { column: "amount" } }],
      },
      { pipeline: "dlq", stage: "sink.postgres", original: bytes(), errors: [], attempts: 3 },
    ]);
    assert.equal(ids.length, 2);
    assert.ok(ids[0] < ids[1]);
    const first = await store.deadLetters.get(ids[0]);
    assert.ok(first);
    assert.deepEqual(first.original, raw);
    assert.equal(Object.getPrototypeOf(first.original), Uint8Array.prototype);
    assert.equal(first.size, raw.length);
    assert.equal(first.line, 17);
    assert.equal(first.runId, run.id);
    assert.equal(first.attempts, 1);
    assert.deepEqual(first.errors[0].details, { column: "amount" });
    assert.equal(first.replayedAt, null);
    const second = await store.deadLetters.get(ids[1]);
    assert.deepEqual([second?.runId, second?.line, second?.attempts, second?.size], [null, null, 3, 0]);
    assert.equal(await store.deadLetters.get("dl_00000000000000000000000000"), null);
  });

  await t.step("add is all or nothing", async () => {
    const before = await store.deadLetters.list({ pipeline: "dlq-atomic" });
    await rejectsWith(
      store.deadLetters.add([
        { pipeline: "dlq-atomic", stage: "parse", original: raw, errors: [] },
        {
          pipeline: "dlq-atomic",
          runId: "r_NOSUCHRUN0000000000000000",
          stage: "parse",
          original: raw,
          errors: [],
        },
      ]),
      "invalid",
    );
    assert.deepEqual((await store.deadLetters.list({ pipeline: "dlq-atomic" })).items, before.items);
  });

  await t.step("add stores batches larger than one INSERT", async () => {
    const items = Array.from({ length: 2345 }, (_, i) => ({
      pipeline: "dlq-bulk",
      stage: "parse",
      original: new TextEncoder().encode(`row ${i}`),
      line: i + 1,
      errors: [{ name: "CsvSyntaxError", message: `Unclosed quote: line ${i + 1}` }],
    }));
    const ids = await store.deadLetters.add(items);
    assert.equal(new Set(ids).size, items.length);
    const last = await store.deadLetters.get(ids[ids.length - 1]);
    assert.equal(new TextDecoder().decode(last?.original), "row 2344");
    let count = 0;
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<Store["deadLetters"]["list"]>> = await store.deadLetters.list({
        pipeline: "dlq-bulk",
        limit: 1000,
        cursor,
      });
      count += page.items.length;
      cursor = page.next;
    } while (cursor !== null);
    assert.equal(count, items.length);
  });

  await t.step("list filters without returning bytes", async () => {
    const page = await store.deadLetters.list({ pipeline: "dlq", runId: run.id });
    assert.equal(page.items.length, 1);
    assert.equal("original" in page.items[0], false);
    const cases: { filter: Parameters<Store["deadLetters"]["list"]>[0]; count: number }[] = [
      { filter: { pipeline: "dlq" }, count: 2 },
      { filter: { pipeline: "dlq", stage: "sink.postgres" }, count: 1 },
      { filter: { pipeline: "dlq", replayed: false }, count: 2 },
      { filter: { pipeline: "dlq", replayed: true }, count: 0 },
    ];
    for (const c of cases) assert.equal((await store.deadLetters.list(c.filter)).items.length, c.count);
  });

  await t.step("markReplayed stamps and purge deletes by age and replay state", async () => {
    const ids = (await store.deadLetters.list({ pipeline: "dlq" })).items.map((d) => d.id);
    assert.equal(await store.deadLetters.markReplayed([ids[0], "dl_00000000000000000000000000"]), 1);
    assert.ok((await store.deadLetters.get(ids[0]))?.replayedAt instanceof Date);
    assert.equal((await store.deadLetters.list({ pipeline: "dlq", replayed: true })).items.length, 1);
    assert.equal(await store.deadLetters.markReplayed([]), 0);

    const past = new Date(Date.now() - 60_000);
    const future = new Date(Date.now() + 60_000);
    assert.equal(await store.deadLetters.purge({ before: past, pipeline: "dlq" }), 0);
    assert.equal(await store.deadLetters.purge({ before: future, pipeline: "dlq", replayedOnly: true }), 1);
    assert.equal(await store.deadLetters.purge({ before: future, pipeline: "dlq" }), 1);
    assert.equal((await store.deadLetters.list({ pipeline: "dlq" })).items.length, 0);
    assert.equal(await store.deadLetters.purge({ before: future, pipeline: "dlq-bulk" }), 2345);
  });
}

async function checkpointsContract(t: Deno.TestContext, store: Store) {
  await t.step("save upserts several partitions and load returns them in order", async () => {
    assert.deepEqual(await store.checkpoints.load("orders/group"), []);
    await store.checkpoints.save("orders/group", [
      { partition: 2, offset: "100", state: bytes(1) },
      { partition: 0, offset: "9223372036854775807" },
    ]);
    await store.checkpoints.save("orders/group", [{ partition: 2, offset: "150", state: bytes(2, 0, 2) }]);
    const loaded = await store.checkpoints.load("orders/group");
    assert.deepEqual(
      loaded.map((c) => [c.partition, c.offset, c.state]),
      [[0, "9223372036854775807", null], [2, "150", bytes(2, 0, 2)]],
    );
    assert.ok(loaded[0].updatedAt instanceof Date);
    assert.deepEqual((await store.checkpoints.load("orders/group", [2])).map((c) => c.offset), ["150"]);
    assert.deepEqual(await store.checkpoints.load("other/group"), []);
  });

  await t.step("save rejects a partition named twice", async () => {
    await rejectsWith(
      store.checkpoints.save("dup", [{ partition: 1, offset: "1" }, { partition: 1, offset: "2" }]),
      "invalid",
    );
  });
}

async function jobsContract(t: Deno.TestContext, store: Store) {
  await t.step("enqueue applies defaults and a dedupe key returns the existing job", async () => {
    const job = await store.jobs.enqueue({ kind: "defaults" });
    assert.match(job.id, /^j_/);
    assert.deepEqual([job.status, job.attempts, job.maxAttempts, job.payload], ["queued", 0, 5, {}]);
    const a = await store.jobs.enqueue({ kind: "cron", payload: { tick: 1 }, dedupeKey: "cron:x:1" });
    const b = await store.jobs.enqueue({ kind: "cron", payload: { tick: 2 }, dedupeKey: "cron:x:1" });
    assert.equal(b.id, a.id);
    assert.deepEqual(b.payload, { tick: 1 });
  });

  await t.step("claim takes due jobs of the asked kinds in run_at order and leases them", async () => {
    const later = await store.jobs.enqueue({ kind: "order", runAt: new Date(Date.now() + 3_600_000) });
    const second = await store.jobs.enqueue({ kind: "order", runAt: new Date(Date.now() - 1_000) });
    const first = await store.jobs.enqueue({ kind: "order", runAt: new Date(Date.now() - 2_000) });
    await store.jobs.enqueue({ kind: "other" });
    const claimed = await store.jobs.claim("w1", { kinds: ["order"], limit: 10, leaseMs: 60_000 });
    assert.deepEqual(claimed.map((j) => j.id), [first.id, second.id]);
    for (const job of claimed) {
      assert.equal(job.status, "running");
      assert.equal(job.lockedBy, "w1");
      assert.equal(job.attempts, 1);
      assert.ok(job.lockedUntil!.getTime() > Date.now() + 30_000);
    }
    assert.equal((await store.jobs.get(later.id))?.status, "queued");
    assert.deepEqual(await store.jobs.claim("w2", { kinds: ["order"] }), []);
  });

  await t.step("concurrent claimers never get the same job", async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 40; i++) ids.add((await store.jobs.enqueue({ kind: "race", payload: { i } })).id);
    const got: string[] = [];
    await Promise.all(Array.from({ length: 6 }, async (_, w) => {
      for (;;) {
        const jobs = await store.jobs.claim(`racer-${w}`, { kinds: ["race"], limit: 3 });
        if (jobs.length === 0) return;
        got.push(...jobs.map((j) => j.id));
        for (const job of jobs) assert.ok(await store.jobs.complete(job.id, `racer-${w}`));
      }
    }));
    assert.equal(got.length, ids.size);
    assert.deepEqual(new Set(got), ids);
  });

  await t.step("complete, renew and fail only work for the lease holder", async () => {
    const job = await store.jobs.enqueue({ kind: "owned" });
    await store.jobs.claim("owner", { kinds: ["owned"], leaseMs: 1_000 });
    assert.equal(await store.jobs.complete(job.id, "intruder"), false);
    assert.equal(await store.jobs.renew(job.id, "intruder", { leaseMs: 60_000 }), false);
    assert.equal(await store.jobs.fail(job.id, "intruder", new Error("No")), null);
    assert.equal(await store.jobs.renew(job.id, "owner", { leaseMs: 60_000 }), true);
    assert.ok((await store.jobs.get(job.id))!.lockedUntil!.getTime() > Date.now() + 30_000);
    assert.equal(await store.jobs.complete(job.id, "owner"), true);
    const done = await store.jobs.get(job.id);
    assert.deepEqual([done?.status, done?.lockedUntil, done?.lockedBy], ["succeeded", null, "owner"]);
    assert.equal(await store.jobs.complete(job.id, "owner"), false);
  });

  await t.step("fail requeues with backoff and buries the job after maxAttempts", async () => {
    const job = await store.jobs.enqueue({ kind: "flaky", maxAttempts: 2 });
    await store.jobs.claim("w", { kinds: ["flaky"] });
    const cause = new TypeError("Socket closed");
    assert.equal(await store.jobs.fail(job.id, "w", new Error("Sink failed", { cause })), "queued");
    const queued = await store.jobs.get(job.id);
    assert.equal(queued?.status, "queued");
    // Default backoff after the first attempt is one second.
    assert.ok(queued!.runAt.getTime() > Date.now() + 500);
    assert.deepEqual(queued?.lastError?.map((e) => e.name), ["Error", "TypeError"]);
    assert.deepEqual(await store.jobs.claim("w", { kinds: ["flaky"] }), []);

    const retry = await store.jobs.enqueue({ kind: "flaky-now", maxAttempts: 2 });
    await store.jobs.claim("w", { kinds: ["flaky-now"] });
    assert.equal(await store.jobs.fail(retry.id, "w", "First", { retryInMs: 0 }), "queued");
    const [again] = await store.jobs.claim("w", { kinds: ["flaky-now"] });
    assert.equal(again.attempts, 2);
    assert.equal(await store.jobs.fail(retry.id, "w", "Second"), "dead");
    const dead = await store.jobs.get(retry.id);
    assert.deepEqual([dead?.status, dead?.lastError?.[0].message], ["dead", "Second"]);
  });

  await t.step("an expired lease is claimed again, and the old holder is fenced off", async () => {
    const job = await store.jobs.enqueue({ kind: "stall", maxAttempts: 2 });
    await store.jobs.claim("slow", { kinds: ["stall"], leaseMs: 1 });
    await delay(30);
    const [taken] = await store.jobs.claim("fast", { kinds: ["stall"], leaseMs: 1 });
    assert.equal(taken.id, job.id);
    assert.equal(taken.attempts, 2);
    assert.equal(await store.jobs.complete(job.id, "slow"), false);
    await delay(30);
    // The second lease expired on the last attempt: the job is buried, not handed out again.
    assert.deepEqual(await store.jobs.claim("third", { kinds: ["stall"] }), []);
    const dead = await store.jobs.get(job.id);
    assert.deepEqual([dead?.status, dead?.lastError?.[0].name], ["dead", "LeaseExpired"]);
  });

  await t.step("claim rejects a bad limit", async () => {
    await rejectsWith(store.jobs.claim("w", { limit: 0 }), "invalid");
  });
}

async function auditContract(t: Deno.TestContext, store: Store) {
  await t.step("append returns the entry and list pages newest first with filters", async () => {
    const since = new Date(Date.now() - 1_000);
    const first = await store.audit.append({
      actor: "key:ops",
      action: "dlq.replay",
      target: "pipeline:orders",
    });
    assert.deepEqual([first.details, first.target], [{}, "pipeline:orders"]);
    for (let i = 0; i < 4; i++) {
      await store.audit.append({ actor: "key:ci", action: "pipeline.update", details: { version: i } });
    }
    const one = await store.audit.list({ actor: "key:ci", limit: 3 });
    const two = await store.audit.list({ actor: "key:ci", limit: 3, cursor: one.next });
    assert.deepEqual([...one.items, ...two.items].map((e) => e.details.version), [3, 2, 1, 0]);
    assert.equal(two.next, null);
    const cases: { filter: Parameters<Store["audit"]["list"]>[0]; count: number }[] = [
      { filter: { action: "dlq.replay" }, count: 1 },
      { filter: { target: "pipeline:orders" }, count: 1 },
      { filter: { actor: "key:ci", since }, count: 4 },
      { filter: { actor: "key:ci", since: new Date(Date.now() + 60_000) }, count: 0 },
    ];
    for (const c of cases) assert.equal((await store.audit.list(c.filter)).items.length, c.count);
    await rejectsWith(store.audit.list({ cursor: "r_01JDZ3KX5M8Q9W2T4V6Y8A0C2E" }), "invalid");
  });

  await t.step("the database refuses to update or delete audit entries", async () => {
    for (const statement of ["UPDATE weir.audit SET actor = 'mallory'", "DELETE FROM weir.audit"]) {
      await rejectsWith(store.transaction((tx) => tx.sql.query(statement)), "invalid");
    }
    assert.ok((await store.audit.list({ actor: "key:ci" })).items.length === 4);
  });
}

async function idempotencyContract(t: Deno.TestContext, store: Store) {
  await t.step("begin walks new, in_progress, conflict, done", async () => {
    const ref = { pipeline: "orders", key: "batch-7" };
    const steps: { name: string; act: () => Promise<unknown>; expect: unknown }[] = [
      {
        name: "first",
        act: () => store.idempotency.begin({ ...ref, bodyHash: "h1" }),
        expect: { state: "new" },
      },
      {
        name: "retry while running",
        act: () => store.idempotency.begin({ ...ref, bodyHash: "h1" }),
        expect: { state: "in_progress" },
      },
      {
        name: "other body while running",
        act: () => store.idempotency.begin({ ...ref, bodyHash: "h2" }),
        expect: { state: "conflict" },
      },
      {
        name: "complete",
        act: () => store.idempotency.complete(ref, { run: "r_1", accepted: 3 }),
        expect: true,
      },
      { name: "complete twice", act: () => store.idempotency.complete(ref, {}), expect: false },
      {
        name: "retry after done",
        act: () => store.idempotency.begin({ ...ref, bodyHash: "h1" }),
        expect: { state: "done", response: { run: "r_1", accepted: 3 } },
      },
      {
        name: "other body after done",
        act: () => store.idempotency.begin({ ...ref, bodyHash: "h2" }),
        expect: { state: "conflict" },
      },
      {
        name: "same key, other pipeline",
        act: () => store.idempotency.begin({ pipeline: "users", key: "batch-7", bodyHash: "h2" }),
        expect: { state: "new" },
      },
      { name: "abandon done key", act: () => store.idempotency.abandon(ref), expect: false },
    ];
    for (const step of steps) assert.deepEqual(await step.act(), step.expect, step.name);
  });

  await t.step("exactly one of many concurrent begins gets new", async () => {
    const results = await Promise.all(
      Array.from(
        { length: 12 },
        () => store.idempotency.begin({ pipeline: "orders", key: "race", bodyHash: "h" }),
      ),
    );
    assert.equal(results.filter((r) => r.state === "new").length, 1);
    assert.equal(results.filter((r) => r.state === "in_progress").length, 11);
  });

  await t.step("renew keeps a key in progress past its first lease", async () => {
    const ref = { pipeline: "orders", key: "renewed" };
    assert.deepEqual(await store.idempotency.begin({ ...ref, bodyHash: "h", leaseMs: 50 }), { state: "new" });
    assert.equal(await store.idempotency.renew(ref, 60_000), true);
    await delay(80);
    assert.deepEqual(await store.idempotency.begin({ ...ref, bodyHash: "h" }), { state: "in_progress" });
    assert.equal(await store.idempotency.complete(ref, { ok: true }), true);
    assert.equal(await store.idempotency.renew(ref, 60_000), false);
  });

  await t.step("an abandoned key is new again", async () => {
    const ref = { pipeline: "orders", key: "abandoned" };
    assert.deepEqual(await store.idempotency.begin({ ...ref, bodyHash: "h" }), { state: "new" });
    assert.equal(await store.idempotency.abandon(ref), true);
    assert.deepEqual(await store.idempotency.begin({ ...ref, bodyHash: "other" }), { state: "new" });
  });

  await t.step("a lapsed lease can be taken over by the same body only", async () => {
    const ref = { pipeline: "orders", key: "crashed" };
    assert.deepEqual(await store.idempotency.begin({ ...ref, bodyHash: "h", leaseMs: 1 }), { state: "new" });
    await delay(20);
    assert.deepEqual(await store.idempotency.begin({ ...ref, bodyHash: "x" }), { state: "conflict" });
    assert.deepEqual(await store.idempotency.begin({ ...ref, bodyHash: "h" }), { state: "new" });
    assert.deepEqual(await store.idempotency.begin({ ...ref, bodyHash: "h" }), { state: "in_progress" });
  });

  await t.step("expired keys start over and are purged", async () => {
    const ref = { pipeline: "orders", key: "expiring" };
    await store.idempotency.begin({ ...ref, bodyHash: "h", ttlMs: 1 });
    await store.idempotency.complete(ref, { ok: true });
    await delay(20);
    assert.deepEqual(await store.idempotency.begin({ ...ref, bodyHash: "other", ttlMs: 1 }), {
      state: "new",
    });
    await delay(20);
    assert.ok(await store.idempotency.purgeExpired() >= 1);
    assert.deepEqual(await store.idempotency.begin({ ...ref, bodyHash: "h" }), { state: "new" });
  });
}

async function transactionContract(t: Deno.TestContext, store: Store) {
  await t.step("commits when fn resolves and rolls everything back when it throws", async () => {
    const committed = await store.transaction(async (tx) => {
      const run = await tx.runs.create({ pipeline: "tx" });
      await tx.checkpoints.save("tx", [{ partition: 0, offset: "1" }]);
      return run;
    });
    assert.equal((await store.runs.get(committed.id))?.pipeline, "tx");

    let rolledBack = "";
    await assert.rejects(
      store.transaction(async (tx) => {
        rolledBack = (await tx.runs.create({ pipeline: "tx" })).id;
        // Nested work joins the transaction, so it is rolled back too.
        await tx.deadLetters.add([{
          pipeline: "tx",
          runId: rolledBack,
          stage: "s",
          original: bytes(1),
          errors: [],
        }]);
        await tx.checkpoints.save("tx", [{ partition: 0, offset: "2" }]);
        throw new Error("Sink commit failed");
      }),
      /Sink commit failed/,
    );
    assert.equal(await store.runs.get(rolledBack), null);
    assert.equal((await store.deadLetters.list({ pipeline: "tx" })).items.length, 0);
    assert.deepEqual((await store.checkpoints.load("tx")).map((c) => c.offset), ["1"]);
  });

  await t.step("gives raw SQL in the same transaction", async () => {
    const [row] = await store.transaction(async (tx) => {
      const run = await tx.runs.create({ pipeline: "tx-sql" });
      return await tx.sql.query("SELECT pipeline FROM weir.runs WHERE id = $1", [run.id]);
    });
    assert.equal(row.pipeline, "tx-sql");
  });

  await t.step("an unflushed transaction commits like any other, and only it skips the wait", async () => {
    const setting = (tx: StoreTx) =>
      tx.sql.query<{ v: string }>("SELECT current_setting('synchronous_commit') AS v");
    const [inside] = await store.transaction(async (tx) => {
      await tx.checkpoints.save("tx-unflushed", [{ partition: 0, offset: "9" }]);
      return await setting(tx);
    }, { flush: false });
    assert.equal(inside.v, "off");
    assert.deepEqual((await store.checkpoints.load("tx-unflushed")).map((c) => c.offset), ["9"]);
    const [after] = await store.transaction(setting);
    assert.notEqual(after.v, "off");
  });
}

function bytes(...values: number[]): Uint8Array {
  return new Uint8Array(values);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function rejectsWith(promise: Promise<unknown>, code: StoreErrorCode): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof StoreError, `expected a StoreError, got ${error}`);
    assert.equal(error.code, code, error.message);
    return true;
  });
}
