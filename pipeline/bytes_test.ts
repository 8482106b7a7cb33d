import assert from "node:assert/strict";
import { BufferFreeList, concatBytes } from "./bytes.ts";

Deno.test("concatBytes joins parts in order", () => {
  assert.deepEqual(
    concatBytes([Uint8Array.of(1), new Uint8Array(0), Uint8Array.of(2, 3)]),
    Uint8Array.of(1, 2, 3),
  );
});

Deno.test("BufferFreeList reuses given-back buffers that are large enough", () => {
  const buffers = new BufferFreeList(4);
  const small = buffers.take(100);
  const large = buffers.take(1000);
  assert.ok(small.byteLength >= 100 && large.byteLength >= 1000);
  buffers.give(small);
  buffers.give(large);
  assert.equal(buffers.size, 2);
  // Only the large one fits; the small one stays for a later small request.
  assert.equal(buffers.take(900), large);
  assert.equal(buffers.take(50), small);
  assert.equal(buffers.size, 0);
  assert.notEqual(buffers.take(10), small, "an empty list hands out a new buffer");
});

Deno.test("BufferFreeList gives new buffers headroom, so slightly larger chunks reuse them", () => {
  const buffers = new BufferFreeList(1);
  const first = buffers.take(4096);
  buffers.give(first);
  assert.equal(buffers.take(4096 + 100), first);
});

Deno.test("BufferFreeList drops detached buffers, repeats and buffers past its size", () => {
  const buffers = new BufferFreeList(2);
  const moved = buffers.take(16);
  moved.transfer();
  buffers.give(moved);
  assert.equal(buffers.size, 0, "a detached buffer is not kept");
  const a = buffers.take(16);
  buffers.give(a);
  buffers.give(a);
  assert.equal(buffers.size, 1, "a buffer given back twice is kept once");
  for (let i = 0; i < 3; i++) buffers.give(new ArrayBuffer(16));
  assert.equal(buffers.size, 2, "no more than `keep`");
});

Deno.test("BufferFreeList keeps no more than its byte limit", () => {
  const buffers = new BufferFreeList(4, { maxBytes: 100 });
  buffers.give(new ArrayBuffer(60));
  buffers.give(new ArrayBuffer(60));
  assert.equal(buffers.size, 1, "the second would pass the limit");
  buffers.take(10);
  buffers.give(new ArrayBuffer(100));
  assert.equal(buffers.size, 1, "room again once one is taken");
});

Deno.test("BufferFreeList with minBytes neither keeps nor hands out buffers under it", () => {
  const buffers = new BufferFreeList(4, { minBytes: 1000 });
  const large = new ArrayBuffer(4000);
  buffers.give(new ArrayBuffer(999));
  assert.equal(buffers.size, 0);
  buffers.give(large);
  assert.equal(buffers.size, 1);
  // A small request gets a new buffer: the large one is not pinned by a small result.
  assert.notEqual(buffers.take(10), large);
  assert.equal(buffers.take(1000), large);
});
