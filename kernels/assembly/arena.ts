/**
 * A bump arena over linear memory. The host resets it before each job, allocates regions for the input,
 * the state blocks and the outputs, and reads the outputs back before the next reset. Kernels never keep
 * managed objects across calls, so there is nothing to free one by one.
 *
 * The arena owns everything above `__heap_base`. The stub runtime's own allocator starts there too, so
 * kernels must not allocate managed objects (`new`, strings, arrays) or the two would overlap.
 */

const ALIGN_MASK: u64 = 15;
const PAGE_BITS: u64 = 16;
// wasm32 can address at most 65536 pages.
const MEMORY_LIMIT: u64 = 1 << 32;

let arenaBase: usize = (__heap_base + <usize>ALIGN_MASK) & ~(<usize>ALIGN_MASK);
let arenaTop: usize = arenaBase;

/** Forgets every allocation; the memory is kept for the next job. */
export function arena_reset(): void {
  arenaTop = arenaBase;
}

/**
 * Returns a 16-byte-aligned pointer to `size` bytes, growing memory as needed, or 0 when memory cannot
 * grow. The bytes are not zeroed: a reused arena holds the previous job's data.
 */
export function arena_alloc(size: u32): usize {
  const start = <u64>arenaTop;
  const end = (start + <u64>size + ALIGN_MASK) & ~ALIGN_MASK;
  if (end > MEMORY_LIMIT) return 0;
  const have = <u64>memory.size() << PAGE_BITS;
  if (end > have) {
    const pages = <i32>((end - have + 0xffff) >> PAGE_BITS);
    if (memory.grow(pages) < 0) return 0;
  }
  arenaTop = <usize>end;
  return <usize>start;
}

/** Bytes currently allocated from the arena, for tests and memory statistics. */
export function arena_used(): u32 {
  return <u32>(arenaTop - arenaBase);
}

/**
 * Frees everything allocated after the arena held `used` bytes (a value from {@link arena_used}), so a
 * kernel can work above data that must stay in place, then give its scratch back.
 */
export function arena_release(used: u32): void {
  const top = arenaBase + <usize>used;
  if (top < arenaTop) arenaTop = top;
}
