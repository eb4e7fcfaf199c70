// Pure helpers of the live web map (no DOM, no cytoscape): labels, search, call lists, and the
// position merge that keeps the map stable across live updates. Unit-tested in Node.

/** Title and subtitle of a graph node. */
export function nodeLabel(node) {
  if (node.workload) return { title: `${node.workload.name}.${node.workload.namespace}`, subtitle: node.workload.kind };
  if (node.external) return { title: node.external.domain, subtitle: 'external' };
  return { title: node.id, subtitle: 'unknown' };
}

/** Style class of an edge: http > kafka (denied when nothing was allowed) > l4. */
export function edgeClass(edge) {
  if (edge.kinds.includes('http')) return 'http';
  if (edge.kinds.includes('kafka')) {
    const k = edge.intent.kafka;
    return k.length > 0 && k.every((t) => t.operations.length === 0) ? 'denied' : 'kafka';
  }
  return 'l4';
}

/** Short edge label (shown when a node is selected): a few paths/topics, `+N more`, or ports. */
export function edgeSummary(edge, max = 2) {
  const it = edge.intent;
  const lines = [];
  const limit = (items) => (items.length <= max ? items : [...items.slice(0, max), `+${items.length - max} more`]);
  if (it.http.length > 0) lines.push(...limit(it.http.map((h) => `${h.methods.join(',')} ${h.path}`.trim())));
  if (it.kafka.length > 0) lines.push(...limit(it.kafka.map((k) => k.topic)));
  if (lines.length === 0 && it.ports.length > 0) lines.push(it.ports.map((p) => `:${p}`).join(' '));
  return lines.join('\n');
}

/** Does the node match the (lower-cased, trimmed) query? Matches name, namespace, domain, and paths/topics it serves or calls. */
export function matches(node, query, edges) {
  if (query === '') return false;
  const { title, subtitle } = nodeLabel(node);
  if (title.toLowerCase().includes(query) || subtitle.toLowerCase().includes(query)) return true;
  for (const e of edges) {
    if (e.source !== node.id && e.target !== node.id) continue;
    if (e.intent.http.some((h) => h.path.toLowerCase().includes(query))) return true;
    if (e.intent.kafka.some((k) => k.topic.toLowerCase().includes(query))) return true;
  }
  return false;
}

/** Nodes matching a query, best first (name prefix, then name contains, then anything else). */
export function search(graph, rawQuery, limit = 20) {
  const query = rawQuery.trim().toLowerCase();
  if (query === '') return [];
  const scored = [];
  for (const n of graph.nodes) {
    if (!matches(n, query, graph.edges)) continue;
    const title = nodeLabel(n).title.toLowerCase();
    scored.push({ node: n, score: title.startsWith(query) ? 0 : title.includes(query) ? 1 : 2, title });
  }
  scored.sort((a, b) => a.score - b.score || a.title.localeCompare(b.title));
  return scored.slice(0, limit).map((s) => s.node);
}

/** Calls out of and into a node, each with the peer node and the edge. */
export function callsOf(graph, id) {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const out = [];
  const inn = [];
  for (const e of graph.edges) {
    if (e.source === id) out.push({ peer: byId.get(e.target), edge: e });
    if (e.target === id) inn.push({ peer: byId.get(e.source), edge: e });
  }
  const byPeer = (a, b) => nodeLabel(a.peer ?? { id: '' }).title.localeCompare(nodeLabel(b.peer ?? { id: '' }).title);
  return { out: out.filter((c) => c.peer).sort(byPeer), in: inn.filter((c) => c.peer).sort(byPeer) };
}

const overlaps = (a, b, gap) =>
  Math.abs(a.x - b.x) * 2 < a.width + b.width + gap * 2 && Math.abs(a.y - b.y) * 2 < a.height + b.height + gap * 2;

/**
 * Positions after a live update. `previous`: id → {x,y} currently on screen; `layout`: id →
 * {x,y,width,height} from a fresh Graphviz layout. Nodes already on screen keep their place; new
 * nodes take their fresh position shifted by the average offset between the two layouts (so they
 * land next to the neighbours they were laid out with), then move down until they overlap nothing.
 */
export function mergePositions(previous, layout, gap = 12) {
  let dx = 0;
  let dy = 0;
  let n = 0;
  for (const [id, p] of Object.entries(layout)) {
    const old = previous[id];
    if (!old) continue;
    dx += old.x - p.x;
    dy += old.y - p.y;
    n++;
  }
  if (n > 0) {
    dx /= n;
    dy /= n;
  }
  const out = {};
  const placed = [];
  for (const [id, p] of Object.entries(layout)) {
    const old = previous[id];
    if (old) {
      out[id] = { x: old.x, y: old.y };
      placed.push({ x: old.x, y: old.y, width: p.width, height: p.height });
    }
  }
  const fresh = Object.keys(layout)
    .filter((id) => !previous[id])
    .sort();
  for (const id of fresh) {
    const p = layout[id];
    const box = { x: p.x + dx, y: p.y + dy, width: p.width, height: p.height };
    for (let i = 0; i < 1000 && placed.some((q) => overlaps(box, q, gap)); i++) box.y += p.height + gap;
    placed.push(box);
    out[id] = { x: box.x, y: box.y };
  }
  return out;
}

/** Query string for the current filter (used by map.json and the export links). */
export function filterQuery(namespaces, external) {
  const params = new URLSearchParams();
  if (namespaces.length > 0) params.set('namespaces', [...namespaces].sort().join(','));
  params.set('external', external ? 'true' : 'false');
  return params.toString();
}

/** Export links for the current filter. */
export function exportLinks(namespaces, external) {
  const ci = new URLSearchParams({ format: 'yaml' });
  if (namespaces.length > 0) ci.set('namespaces', [...namespaces].sort().join(','));
  if (external) ci.set('external', 'true');
  return { yaml: `api/v1/clientintents?${ci}`, svg: `visualize.svg?${filterQuery(namespaces, external)}` };
}
