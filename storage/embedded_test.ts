import assert from "node:assert/strict";
import { createEmbeddedStore } from "./embedded.ts";
import { StoreError } from "./store.ts";
import { storeContract } from "./store_contract.ts";

Deno.test("embedded store", async (t) => {
  const dataDir = await Deno.makeTempDir({ prefix: "weir_pglite_" });
  try {
    await t.step("passes the store contract, persisted in a directory", async (t) => {
      await storeContract(t, () => createEmbeddedStore({ dataDir }), { persistent: true });
    });

    await t.step("refuses a directory another store has open", async () => {
      const first = await createEmbeddedStore({ dataDir });
      try {
        await assert.rejects(createEmbeddedStore({ dataDir }), (error: unknown) => {
          assert.ok(error instanceof StoreError);
          assert.equal(error.code, "unavailable");
          assert.equal(
            error.message,
            `Cannot open embedded database at ${dataDir}: another weir process is using it`,
          );
          return true;
        });
      } finally {
        await first.close();
      }
      // Closing released the directory.
      await (await createEmbeddedStore({ dataDir, migrate: false })).close();
    });
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }

  await t.step("opens memory:// without touching the disk", async () => {
    const store = await createEmbeddedStore({ dataDir: "memory://" });
    try {
      assert.equal(store.kind, "pglite");
      const run = await store.runs.create({ pipeline: "memory" });
      assert.equal((await store.runs.get(run.id))?.pipeline, "memory");
    } finally {
      await store.close();
    }
    await assert.rejects(Deno.stat("memory:"), Deno.errors.NotFound);
  });
});
