/**
 * Test hooks. They exist so that worker-pool tests can make a real instance trap or run long; nothing on
 * the data path calls them.
 */

/** Test hook: traps with `unreachable` when `when` is non-zero, otherwise returns 0. */
export function test_trap(when: i32): i32 {
  if (when != 0) unreachable();
  return 0;
}

// A dependent multiply-add chain cannot be vectorised or folded away; about 250k steps take a millisecond
// on the 2-core CI machine (measured 0.6–1.4 ms). The count is only meant to be roughly right.
const SPIN_STEPS_PER_MS: u64 = 250_000;

/**
 * Test hook: spins for roughly `ms` milliseconds of pure computation (no clock is imported, so this is
 * an estimate) and returns a value derived from the work so it cannot be optimised away.
 */
export function test_spin(ms: u32): u32 {
  let x: u64 = 0x9e3779b97f4a7c15;
  const steps = <u64>ms * SPIN_STEPS_PER_MS;
  for (let i: u64 = 0; i < steps; i++) {
    x = x * 6364136223846793005 + 1442695040888963407;
  }
  return <u32>(x >> 32);
}
