/**
 * The compact intents shape (`GET /api/v1/intents?compact=true`, ADR 0036): workload identities
 * sent once and referenced by index. `compactIntents` is the reference encoder (the mapper's
 * streamed writer is tested byte-for-byte against it); `expandIntents` is what clients use.
 */
import { ContractError } from './errors.ts';
import type {
  CompactGraphEdge,
  CompactGraphIntent,
  CompactGraphResponse,
  CompactIntent,
  CompactIntentsResponse,
  GraphEdge,
  GraphNode,
  GraphResponse,
  Intent,
  IntentsResponse,
  WorkloadIdentity,
} from './wire.ts';

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

// ---------------------------------------------------------------------------
// The compact graph shape (`GET /api/v1/graph?compact=true`, ADR 0038).

/**
 * Encodes a graph compactly: edges name their ends by index into `nodes`, lose their `id` (it is
 * `${source id}->${target id}`), and their intent loses `client` / `server` when it is the
 * workload of the source / target node (compared by JSON; kept in full otherwise).
 */
export function compactGraph(g: GraphResponse): CompactGraphResponse {
  const index = new Map<string, number>();
  const json: Array<string | undefined> = [];
  g.nodes.forEach((n, i) => {
    if (!index.has(n.id)) index.set(n.id, i);
    json.push(n.workload === undefined ? undefined : JSON.stringify(n.workload));
  });
  const at = (id: string, path: string): number => {
    const i = index.get(id);
    if (i === undefined) throw new ContractError(path, `names no node: ${JSON.stringify(id)}`);
    return i;
  };
  const edges: CompactGraphEdge[] = g.edges.map((e, k) => {
    const source = at(e.source, `graph.edges[${k}].source`);
    const target = at(e.target, `graph.edges[${k}].target`);
    const intent: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(e.intent)) {
      if (key === 'client' && JSON.stringify(v) === json[source]) continue;
      if (key === 'server' && JSON.stringify(v) === json[target]) continue;
      intent[key] = v;
    }
    return { source, target, kinds: e.kinds, intent: intent as unknown as CompactGraphIntent };
  });
  return { nodes: g.nodes, edges };
}

/**
 * Turns a parsed graph response back into the full shape. Compact edges (numeric `source`) get
 * their `id`, `source`/`target` ids and their intent's `client`/`server` back (identity objects
 * shared with the nodes: do not mutate them), keys in the order of the full shape; full edges
 * (an older mapper) are returned as they are. Throws a ContractError naming the field when an
 * index or the framing is wrong.
 */
export function expandGraph(v: unknown): GraphResponse {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new ContractError('response', `expected an object, got ${typeName(v)}`);
  }
  const r = v as { nodes?: unknown; edges?: unknown };
  if (!Array.isArray(r.nodes)) throw new ContractError('response.nodes', `expected an array, got ${typeName(r.nodes)}`);
  if (!Array.isArray(r.edges)) throw new ContractError('response.edges', `expected an array, got ${typeName(r.edges)}`);
  const nodes = r.nodes as unknown[];
  const node = (x: unknown, path: string): GraphNode => {
    const n = typeof x === 'number' && Number.isInteger(x) ? nodes[x] : undefined;
    if (typeof n !== 'object' || n === null || typeof (n as GraphNode).id !== 'string') {
      throw new ContractError(path, `expected an index into nodes (0..${nodes.length - 1}), got ${JSON.stringify(x)}`);
    }
    return n as GraphNode;
  };
  const edges = r.edges as unknown[];
  const out: GraphEdge[] = [];
  for (let i = 0; i < edges.length; i++) {
    const e = edges[i] as Record<string, unknown> | null;
    if (typeof e !== 'object' || e === null) {
      throw new ContractError(`response.edges[${i}]`, `expected an object, got ${typeName(e)}`);
    }
    if (typeof e['source'] !== 'number') {
      out.push(e as unknown as GraphEdge);
      continue;
    }
    const s = node(e['source'], `response.edges[${i}].source`);
    const t = node(e['target'], `response.edges[${i}].target`);
    const ci = e['intent'] as Record<string, unknown> | null;
    if (typeof ci !== 'object' || ci === null) {
      throw new ContractError(`response.edges[${i}].intent`, `expected an object, got ${typeName(ci)}`);
    }
    // Key order of the full intent: client, ports, http, kafka, firstSeen, lastSeen, count, server, …
    const intent: Record<string, unknown> = { client: ci['client'] ?? s.workload };
    const server = ci['server'] ?? t.workload;
    let placed = false;
    for (const [k, x] of Object.entries(ci)) {
      if (k === 'client' || k === 'server') continue;
      if (!placed && server !== undefined && (k === 'external' || k === 'viaService')) {
        intent['server'] = server;
        placed = true;
      }
      intent[k] = x;
    }
    if (!placed && server !== undefined) intent['server'] = server;
    if (intent['client'] === undefined) {
      throw new ContractError(`response.edges[${i}].intent.client`, 'missing, and the source node has no workload');
    }
    out.push({
      id: `${s.id}->${t.id}`,
      source: s.id,
      target: t.id,
      kinds: e['kinds'] as GraphEdge['kinds'],
      intent: intent as unknown as Intent,
    });
  }
  return { nodes: nodes as GraphNode[], edges: out };
}
