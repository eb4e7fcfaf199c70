/** Loading the optional in-tree addons in tests: a test without its addon says so and passes. */
import { createRequire } from 'node:module';
import type { ExecutionContext } from 'ava';

const req = createRequire(import.meta.url);

export type AddonId = '@callmap/pcap' | '@callmap/watchers-native';

/** The addon's entry file for a child process or worker, or undefined when it is not built. */
export function addonPath(id: AddonId): string | undefined {
  try {
    req(id); // throws when the compiled module is missing
    return req.resolve(id);
  } catch {
    return undefined;
  }
}

/** The addon, or undefined after logging that the test is skipped because it is not built. */
export function requireAddon<T>(t: ExecutionContext, id: AddonId): T | undefined {
  try {
    return req(id) as T;
  } catch {
    t.log(`${id} not built: skipped`);
    t.pass();
    return undefined;
  }
}

/** A copy in a buffer of exactly its length (Buffer.allocUnsafeSlow: not a pool slice, so under AddressSanitizer a read past its end is reported). */
export const exact = (b: Buffer): Buffer => {
  const o = Buffer.allocUnsafeSlow(b.length);
  b.copy(o);
  return o;
};

/** `b` cut at the offsets `cuts` (ascending), each piece an exact-size buffer. */
export const splitAt = (b: Buffer, cuts: readonly number[]): Buffer[] => {
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of cuts) {
    out.push(exact(b.subarray(prev, c)));
    prev = c;
  }
  out.push(exact(b.subarray(prev)));
  return out;
};
