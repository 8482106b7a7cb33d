import assert from "node:assert/strict";
import { Hono } from "hono";
import { createApp } from "./mod.ts";
import { HttpError } from "./errors.ts";
import { createLogger } from "../observability/logger.ts";
import type { Dependency } from "../server/dependencies.ts";
import type { Phase } from "./health.ts";

const silent = createLogger({ write: () => {} });
const up: Dependency = { name: "store", kind: "pglite", check: () => Promise.resolve() };
const down: Dependency = {
  name: "kafka",
  kind: "kafka",
  check: () => Promise.reject(new Error("Connection refused")),
};
const hanging: Dependency = { name: "redis", kind: "upstash", check: () => new Promise(() => {}) };

Deno.test("healthz answers 200 whatever the dependencies", async () => {
  const app = createApp({ logger: silent, readiness: () => ({ phase: "serving", dependencies: [down] }) });
  const response = await app.request("/healthz");
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { status: "ok" });
});

Deno.test("readyz reports each dependency", async (t) => {
  const cases: { name: string; dependencies: Dependency[]; phase?: Phase; status: number; state: string }[] =
    [
      { name: "all up", dependencies: [up], status: 200, state: "ready" },
      { name: "one down", dependencies: [up, down], status: 503, state: "unready" },
      { name: "one hanging past its deadline", dependencies: [up, hanging], status: 503, state: "unready" },
      { name: "starting", dependencies: [up], phase: "starting", status: 503, state: "starting" },
      { name: "draining", dependencies: [up], phase: "draining", status: 503, state: "draining" },
    ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const app = createApp({
        logger: silent,
        readiness: () => ({ phase: c.phase ?? "serving", dependencies: c.dependencies }),
        checkTimeoutMs: 100,
      });
      const response = await app.request("/readyz");
      assert.equal(response.status, c.status);
      const body = await response.json();
      assert.equal(body.status, c.state);
      assert.equal(body.dependencies.store.status, "up");
      if (c.dependencies.includes(down)) assert.equal(body.dependencies.kafka.error, "Connection refused");
      if (c.dependencies.includes(hanging)) assert.match(body.dependencies.redis.error, /No answer within/);
    });
  }
});

Deno.test("version names weir and the runtime", async () => {
  const app = createApp({ logger: silent, readiness: () => ({ phase: "serving", dependencies: [] }) });
  const body = await (await app.request("/v1/version")).json();
  assert.equal(body.name, "weir");
  assert.match(body.version, /^\d+\.\d+\.\d+/);
  assert.equal(body.deno, Deno.version.deno);
});

Deno.test("errors map to one JSON shape", async (t) => {
  const app = createApp({ logger: silent, readiness: () => ({ phase: "serving", dependencies: [] }) });
  const probe = new Hono();
  probe.get("/teapot", () => {
    throw new HttpError(429, {
      code: "overloaded",
      message: "Too many ingests",
      headers: { "retry-after": "3" },
    });
  });
  probe.get("/boom", () => {
    throw new Error("secret detail");
  });
  app.route("/probe", probe);
  await t.step("unknown route is 404 JSON", async () => {
    const response = await app.request("/nope");
    assert.equal(response.status, 404);
    assert.equal((await response.json()).error.code, "not_found");
  });
  await t.step("HttpError keeps status, code and headers", async () => {
    const response = await app.request("/probe/teapot");
    assert.equal(response.status, 429);
    assert.equal(response.headers.get("retry-after"), "3");
    assert.deepEqual((await response.json()).error.code, "overloaded");
  });
  await t.step("an unexpected error hides its detail", async () => {
    const response = await app.request("/probe/boom");
    assert.equal(response.status, 500);
    const body = await response.json();
    assert.equal(body.error.code, "internal");
    assert.doesNotMatch(body.error.message, /secret/);
    assert.ok(body.error.requestId);
  });
});

Deno.test("metrics counts requests by route pattern", async () => {
  const app = createApp({ logger: silent, readiness: () => ({ phase: "serving", dependencies: [] }) });
  await (await app.request("/healthz")).body?.cancel();
  await (await app.request("/healthz")).body?.cancel();
  const response = await app.request("/metrics");
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /text\/plain/);
  const text = await response.text();
  assert.match(
    text,
    /weir_http_server_request_duration_seconds_count\{http_request_method="GET",http_route="\/healthz",http_response_status_code="200"\} 2/,
  );
});
