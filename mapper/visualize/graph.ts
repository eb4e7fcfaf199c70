/**
 * Pure helpers over the mapper's graph model: build a GraphResponse from intents (for callers that
 * only have `/api/v1/intents`), filter it by namespace / external destinations, and clean up
 * inconsistent input (dangling edges, duplicate ids) so renderers never see it.
 */
import type { GraphEdge, GraphNode, GraphResponse, Intent, WorkloadRef } from '../contract/index.ts';

export type EdgeKind = GraphEdge['kinds'][number];

export const workloadNodeId = (w: WorkloadRef): string => `w:${w.namespace}/${w.name}`;
export const externalNodeId = (domain: string): string => `x:${domain}`;

/** Kinds of calls one intent carries, as the mapper reports them: `l4` when ports are known (or nothing else is), plus `http`/`kafka`. */
export function intentKinds(intent: Intent): EdgeKind[] {
  const kinds: EdgeKind[] = [];
  if (intent.ports.length > 0 || (intent.http.length === 0 && intent.kafka.length === 0)) kinds.push('l4');
  if (intent.http.length > 0) kinds.push('http');
  if (intent.kafka.length > 0) kinds.push('kafka');
  return kinds;
}

/** Builds the same shape `/api/v1/graph` returns from a list of intents. Intents without a target are skipped. */
export function intentsToGraph(intents: readonly Intent[]): GraphResponse {
  const nodes = new Map<string, GraphNode>();
  const edges: GraphEdge[] = [];
  for (const intent of intents) {
    const source = workloadNodeId(intent.client);
    let target: string;
    if (intent.server) {
      target = workloadNodeId(intent.server);
      if (!nodes.has(target)) nodes.set(target, { id: target, workload: intent.server });
    } else if (intent.external) {
      target = externalNodeId(intent.external.domain);
      if (!nodes.has(target)) nodes.set(target, { id: target, external: intent.external });
    } else {
      continue;
    }
    if (!nodes.has(source)) nodes.set(source, { id: source, workload: intent.client });
    edges.push({ id: `${source}->${target}`, source, target, kinds: intentKinds(intent), intent });
  }
  return { nodes: [...nodes.values()], edges };
}

export interface CleanGraph extends GraphResponse {
  /** Edges dropped because an end was missing from `nodes`, plus duplicate node/edge ids. */
  skipped: number;
}

/** Drops duplicate node ids (first wins), duplicate edge ids and edges whose ends are not nodes. */
export function cleanGraph(graph: GraphResponse): CleanGraph {
  let skipped = 0;
  const nodes = new Map<string, GraphNode>();
  for (const n of graph.nodes ?? []) {
    if (!n || typeof n.id !== 'string' || nodes.has(n.id)) {
      skipped++;
      continue;
    }
    nodes.set(n.id, n);
  }
  const edgeIds = new Set<string>();
  const edges: GraphEdge[] = [];
  for (const e of graph.edges ?? []) {
    if (!e || !nodes.has(e.source) || !nodes.has(e.target) || edgeIds.has(e.id) || !e.intent) {
      skipped++;
      continue;
    }
    edgeIds.add(e.id);
    edges.push(e);
  }
  return { nodes: [...nodes.values()], edges, skipped };
}

export interface GraphFilter {
  /** Keep only calls whose client or server workload is in one of these namespaces (empty = all). */
  namespaces?: readonly string[];
  /** Keep external (outside-the-cluster) destinations. Default true. */
  external?: boolean;
}

/**
 * Filters a graph: an edge stays when its client or server workload lives in a selected namespace
 * (and, for external targets, when externals are wanted); a node stays when it is in a selected
 * namespace or is the end of a kept edge.
 */
export function filterGraph(graph: GraphResponse, filter: GraphFilter): GraphResponse {
  const ns = new Set(filter.namespaces ?? []);
  const external = filter.external ?? true;
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const inNs = (n: GraphNode | undefined): boolean =>
    ns.size === 0 ? n !== undefined && !n.external : n?.workload !== undefined && ns.has(n.workload.namespace);
  const edges = graph.edges.filter((e) => {
    const s = byId.get(e.source);
    const t = byId.get(e.target);
    if (!s || !t) return false;
    if (!external && (s.external || t.external)) return false;
    return inNs(s) || inNs(t);
  });
  const keep = new Set<string>();
  for (const e of edges) {
    keep.add(e.source);
    keep.add(e.target);
  }
  const nodes = graph.nodes.filter(
    (n) => keep.has(n.id) || (ns.size === 0 ? !n.external || external : n.workload && ns.has(n.workload.namespace)),
  );
  return { nodes, edges };
}

/** Sorted namespaces of the workload nodes. */
export function namespacesOf(graph: GraphResponse): string[] {
  const s = new Set<string>();
  for (const n of graph.nodes) if (n.workload) s.add(n.workload.namespace);
  return [...s].sort();
}
