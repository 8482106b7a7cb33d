/**
 * The PostgreSQL store against the real server on 127.0.0.1:5432: the store contract in a fresh
 * database per run (dropped afterwards), and the start-up errors a user sees.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { ConfigError } from "../../pipeline/errors.ts";
import { createPostgresStore } from "../../storage/postgres.ts";
import { StoreError } from "../../storage/store.ts";
import { storeContract } from "../../storage/store_contract.ts";

// DATABASE_URL may point elsewhere; the test needs rights to create and drop a database there.
const ADMIN_URL = Deno.env.get("WEIR_TEST_DATABASE_URL") ?? "postgres://postgres@127.0.0.1:5432/test";

Deno.test("postgres store passes the store contract in a fresh database", async (t) => {
  const name = `weir_test_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  try {
    await storeContract(t, () => createPostgresStore({ url: url.href, max: 8 }), {
      persistent: true,
      concurrentOpen: true,
    });
  } finally {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
});

Deno.test("postgres store fails to start with one clear error", async (t) => {
  const cases: {
    name: string;
    url: string;
    type: typeof StoreError | typeof ConfigError;
    message: RegExp;
  }[] = [
    {
      name: "nothing listening",
      url: "postgres://weir:s3cret@127.0.0.1:1/weir",
      type: StoreError,
      message: /^Cannot reach PostgreSQL at 127\.0\.0\.1:1\/weir: connection refused$/,
    },
    {
      name: "unknown host",
      url: "postgres://weir:s3cret@no-such-host.invalid:5432/weir",
      type: StoreError,
      message:
        /^Cannot reach PostgreSQL at no-such-host\.invalid:5432\/weir: host (not found|lookup failed)$/,
    },
    {
      name: "missing database",
      url: "postgres://postgres:s3cret@127.0.0.1:5432/weir_no_such_database",
      type: StoreError,
      message:
        /^Cannot open PostgreSQL at 127\.0\.0\.1:5432\/weir_no_such_database: database .* does not exist$/,
    },
    {
      name: "not a URL",
      url: "postgres://weir:s3cret@db:port/weir",
      type: ConfigError,
      message: /^Database URL is not a valid URL/,
    },
    {
      name: "wrong scheme",
      url: "mysql://weir:s3cret@db/weir",
      type: ConfigError,
      message: /^Database URL must/,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      await assert.rejects(createPostgresStore({ url: c.url, connectTimeoutMs: 5_000 }), (error: unknown) => {
        assert.ok(error instanceof c.type, `expected ${c.type.name}, got ${error}`);
        assert.match(error.message, c.message);
        assert.doesNotMatch(error.message, /s3cret/);
        if (error instanceof StoreError) {
          assert.equal(error.code, "unavailable");
          assert.equal(error.component, "storage.postgres");
        }
        return true;
      });
    });
  }
});
