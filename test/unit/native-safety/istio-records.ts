/**
 * The JS side of the raw Istio addon's edge handover (ADR 0054), for tests that drive the addon
 * directly: the resolve callback keeps each record it returns in the slot the addon gives (its
 * last argument; engine.ts keeps the Edge there), and each commit's adopted (id, slot) pairs and
 * released ids update what JS holds: id -> record.
 */
export type IstioCommit = [
  number,
  number,
  Uint32Array,
  Float64Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
];

export interface IstioRecords {
  resolve: (...a: unknown[]) => unknown;
  /** What JS holds after the last commit: native edge id -> its record. */
  held: Map<number, string>;
  /** Applies a commit result; returns the changed edges' records (or `unknown id N`), in order. */
  adopt(r: IstioCommit): string[];
}

export function istioRecords(decide: (...a: unknown[]) => unknown): IstioRecords {
  const pending: string[] = [];
  const held = new Map<number, string>();
  return {
    resolve(...a) {
      const r = decide(...a);
      if (typeof r === 'string') pending[a[11] as number] = r;
      return r;
    },
    held,
    adopt(r) {
      const [, , ids, , , adoptIds, adoptSlots, released] = r;
      for (const id of released) held.delete(id);
      for (const [k, id] of adoptIds.entries()) {
        const rec = pending[adoptSlots[k] as number];
        held.set(id, rec ?? `slot ${adoptSlots[k]} never filled`);
      }
      pending.length = 0;
      return Array.from(ids, (id) => held.get(id) ?? `unknown id ${id}`);
    },
  };
}
