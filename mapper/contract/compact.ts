/**
 * The compact intents shape (`GET /api/v1/intents?compact=true`, ADR 0036): workload identities
 * sent once and referenced by index. `compactIntents` is the reference encoder (the mapper's
 * streamed writer is tested byte-for-byte against it); `expandIntents` is what clients use.
 */
import { ContractError } from './errors.ts';
import type { CompactIntent, CompactIntentsResponse, Intent, IntentsResponse, WorkloadIdentity } from './wire.ts';

/** Encodes intents compactly: identities indexed in order of first appearance (client before server). */
export function compactIntents(intents: readonly Intent[]): CompactIntentsResponse {
  const index = new Map<string, number>();
  const workloads: WorkloadIdentity[] = [];
  const ref = (w: WorkloadIdentity): number => {
    const k = JSON.stringify(w);
    let i = index.get(k);
    if (i === undefined) {
      i = workloads.length;
      index.set(k, i);
      workloads.push(w);
    }
    return i;
  };
  const out: CompactIntent[] = [];
  for (const it of intents) {
    // Spread keeps the key order of the full intent; client/server are replaced in place.
    const c = { ...it, client: ref(it.client) } as unknown as CompactIntent;
    if (it.server) c.server = ref(it.server);
    out.push(c);
  }
  return { intents: out, workloads };
}

const typeName = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

/**
 * Turns a parsed intents response back into the full shape. A compact one (with `workloads`) has
 * its indexes replaced by the identity objects (shared between intents: do not mutate them); a
 * full one (an older mapper, or a server that ignored `compact`) is returned as it is.
 * Throws a ContractError naming the field when an index or the framing is wrong.
 */
export function expandIntents(v: unknown): IntentsResponse {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new ContractError('response', `expected an object, got ${typeName(v)}`);
  }
  const r = v as { intents?: unknown; workloads?: unknown };
  if (!Array.isArray(r.intents))
    throw new ContractError('response.intents', `expected an array, got ${typeName(r.intents)}`);
  if (r.workloads === undefined) return r as IntentsResponse;
  if (!Array.isArray(r.workloads)) {
    throw new ContractError('response.workloads', `expected an array, got ${typeName(r.workloads)}`);
  }
  const workloads = r.workloads as unknown[];
  const pick = (x: unknown, path: string): WorkloadIdentity => {
    const w = typeof x === 'number' && Number.isInteger(x) ? workloads[x] : undefined;
    if (typeof w !== 'object' || w === null) {
      throw new ContractError(
        path,
        `expected an index into workloads (0..${workloads.length - 1}), got ${JSON.stringify(x)}`,
      );
    }
    return w as WorkloadIdentity;
  };
  const intents = r.intents as Array<Record<string, unknown>>;
  for (let i = 0; i < intents.length; i++) {
    const it = intents[i];
    if (typeof it !== 'object' || it === null) {
      throw new ContractError(`response.intents[${i}]`, `expected an object, got ${typeName(it)}`);
    }
    it['client'] = pick(it['client'], `response.intents[${i}].client`);
    if (it['server'] !== undefined) it['server'] = pick(it['server'], `response.intents[${i}].server`);
  }
  return { intents: intents as unknown as Intent[] };
}
