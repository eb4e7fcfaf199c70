/**
 * GraphResponse → Graphviz DOT (pure). Left-to-right layout, one box per workload labelled
 * `name.namespace` and its kind, one cluster per namespace, external domains in their own cluster,
 * edges styled by kind (L4 plain grey, HTTP blue with a few paths, Kafka dashed amber with topics).
 */
import type { GraphEdge, GraphNode, GraphResponse, Intent } from '../contract/index.ts';
import { cleanGraph } from './graph.ts';

export interface DotOptions {
  /** How many HTTP paths / Kafka topics an edge label lists before `+N more`. Default 3. */
  maxLabelLines?: number;
  /** Optional caption drawn at the top of the picture. */
  title?: string;
  /** Draw edge labels (default true). The web map turns them off: it lays out without them. */
  edgeLabels?: boolean;
  /** Draw a legend of the edge styles under the map (default true when there are edges). */
  legend?: boolean;
}

/** Graph label: optional title above a one-line legend of the edge styles, as an HTML-like label. */
function graphLabel(title: string | undefined, kinds: ReadonlySet<keyof typeof EDGE_STYLE>): string {
  const entries: Array<[keyof typeof EDGE_STYLE, string, string]> = [
    ['l4', '——', 'TCP'],
    ['http', '——', 'HTTP'],
    ['kafka', '- - -', 'Kafka'],
    ['denied', '- - -', 'Kafka, all denied'],
  ];
  const cells = entries
    .filter(([k]) => kinds.has(k))
    .map(
      ([k, line, text]) =>
        `<TD><FONT COLOR="${EDGE_STYLE[k].color}"><B>${line}</B></FONT>&#160;&#160;<FONT COLOR="#374151">${text}</FONT>&#160;&#160;</TD>`,
    )
    .join('');
  const rows = [];
  if (title) rows.push(`<TR><TD COLSPAN="4"><B>${htmlText(title)}</B></TD></TR>`);
  if (cells) rows.push(`<TR>${cells}</TR>`);
  return `<<TABLE BORDER="0" CELLSPACING="8" CELLPADDING="0">${rows.join('')}</TABLE>>`;
}

export const EDGE_STYLE = {
  l4: { color: '#6b7280', fontcolor: '#4b5563', style: 'solid', penwidth: '1.0' },
  http: { color: '#2563eb', fontcolor: '#1d4ed8', style: 'solid', penwidth: '1.4' },
  kafka: { color: '#d97706', fontcolor: '#b45309', style: 'dashed', penwidth: '1.4' },
  denied: { color: '#dc2626', fontcolor: '#b91c1c', style: 'dashed', penwidth: '1.4' },
} as const;

const FONT = 'Helvetica';

/** Characters that would break out of a label or make it unreadable: control chars and line breaks. */
const CONTROL = /[\u0000-\u001f\u007f\u2028\u2029]+/g;

/** Collapses control characters (including CR/LF) into a single space. */
export function singleLine(s: string): string {
  return s.replace(CONTROL, ' ');
}

/**
 * A DOT double-quoted string. Backslashes are doubled so data never triggers Graphviz escString
 * sequences (`\N`, `\G`, `\l`, …), quotes are escaped and control characters become spaces.
 */
export function dotString(s: string): string {
  return `"${singleLine(s).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** Text inside a Graphviz HTML-like label: XML-escaped, one line. */
export function htmlText(s: string): string {
  return singleLine(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Escapes one line for a quoted label and terminates it with `\l` (left-justified line break). */
const labelLine = (s: string): string => `${singleLine(s).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}\\l`;

export function nodeLabelText(n: GraphNode): { title: string; subtitle: string } {
  if (n.workload) return { title: `${n.workload.name}.${n.workload.namespace}`, subtitle: n.workload.kind };
  if (n.external) return { title: n.external.domain, subtitle: 'external' };
  return { title: n.id, subtitle: 'unknown' };
}

/** The kind that decides an edge's style: HTTP beats Kafka beats L4; Kafka with only denials is `denied`. */
export function edgeStyleKind(e: GraphEdge): keyof typeof EDGE_STYLE {
  if (e.kinds.includes('http')) return 'http';
  if (e.kinds.includes('kafka')) {
    const k = e.intent.kafka;
    return k.length > 0 && k.every((t) => t.operations.length === 0) ? 'denied' : 'kafka';
  }
  return 'l4';
}

/** The lines shown on an edge (without escaping): HTTP `METHODS path`, Kafka `topic: ops`, or ports. */
export function edgeLabelLines(intent: Intent, kinds: GraphEdge['kinds'], max = 3): string[] {
  const lines: string[] = [];
  const limit = (items: string[]): string[] =>
    items.length <= max ? items : [...items.slice(0, max), `+${items.length - max} more`];
  if (kinds.includes('http') && intent.http.length > 0) {
    const http = [...intent.http]
      .sort((a, b) => a.path.localeCompare(b.path))
      .map((h) => (h.methods.length > 0 ? `${[...h.methods].sort().join(',')} ${h.path}` : h.path));
    lines.push(...limit(http));
  }
  if (kinds.includes('kafka') && intent.kafka.length > 0) {
    const kafka = [...intent.kafka]
      .sort((a, b) => a.topic.localeCompare(b.topic))
      .map((k) => {
        const ops = k.operations.length > 0 ? `: ${k.operations.join(', ')}` : '';
        const denied = k.deniedOperations.length > 0 ? ` (denied: ${k.deniedOperations.join(', ')})` : '';
        return `${k.topic}${ops}${denied}`;
      });
    lines.push(...limit(kafka));
  }
  if (lines.length === 0 && intent.ports.length > 0) {
    const ports = [...intent.ports].sort((a, b) => a - b).map((p) => `:${p}`);
    lines.push(ports.length <= max ? ports.join(' ') : `${ports.slice(0, max).join(' ')} +${ports.length - max}`);
  }
  return lines;
}

/** An attribute value that is already valid DOT (an HTML label or a pre-escaped quoted string). */
interface Raw {
  raw: string;
}

const attrs = (a: Record<string, string | Raw>): string =>
  Object.entries(a)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? dotString(v) : v.raw}`)
    .join(', ');

function nodeStatement(n: GraphNode, indent: string): string {
  const { title, subtitle } = nodeLabelText(n);
  const label = {
    raw: `<<B>${htmlText(title)}</B><BR/><FONT POINT-SIZE="9" COLOR="#6b7280">${htmlText(subtitle)}</FONT>>`,
  };
  const style = n.external
    ? { style: 'rounded,filled,dashed', fillcolor: '#fefce8', color: '#a16207' }
    : { style: 'rounded,filled', fillcolor: '#ffffff', color: '#374151' };
  return `${indent}${dotString(n.id)} [${attrs({ label, ...style, tooltip: title, class: n.external ? 'external' : 'workload' })}];`;
}

/** The DOT source for a graph. Deterministic: same graph (in any order) → same text. */
export function graphToDot(graph: GraphResponse, opts: DotOptions = {}): string {
  const max = opts.maxLabelLines ?? 3;
  const { nodes, edges } = cleanGraph(graph);
  const byNs = new Map<string, GraphNode[]>();
  const externals: GraphNode[] = [];
  for (const n of nodes) {
    if (n.workload) {
      const list = byNs.get(n.workload.namespace) ?? [];
      list.push(n);
      byNs.set(n.workload.namespace, list);
    } else externals.push(n);
  }
  const byId = (a: GraphNode, b: GraphNode) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const out: string[] = [];
  out.push('digraph callmap {');
  const kinds = new Set(edges.map(edgeStyleKind));
  const legend = opts.legend !== false && kinds.size > 0;
  const label: Record<string, Raw> =
    legend || opts.title ? { label: { raw: graphLabel(opts.title, legend ? kinds : new Set()) } } : {};
  out.push(
    `  graph [${attrs({ rankdir: 'LR', fontname: FONT, fontsize: '12', nodesep: '0.3', ranksep: '1.0', pad: '0.3', bgcolor: 'white', newrank: 'true', labelloc: 'b', labeljust: 'l', ...label })}];`,
  );
  out.push(
    `  node [${attrs({ shape: 'box', fontname: FONT, fontsize: '11', margin: '0.16,0.06', penwidth: '1.2' })}];`,
  );
  out.push(`  edge [${attrs({ fontname: FONT, fontsize: '9', arrowsize: '0.7' })}];`);
  let i = 0;
  for (const ns of [...byNs.keys()].sort()) {
    out.push(`  subgraph ${dotString(`cluster_ns_${i++}`)} {`);
    out.push(
      `    graph [${attrs({ label: `namespace: ${ns}`, labelloc: 't', labeljust: 'c', style: 'rounded,filled', fillcolor: '#f3f4f6', color: '#d1d5db', fontcolor: '#374151', class: 'namespace' })}];`,
    );
    for (const n of (byNs.get(ns) ?? []).sort(byId)) out.push(nodeStatement(n, '    '));
    out.push('  }');
  }
  if (externals.length > 0) {
    out.push(`  subgraph "cluster_external" {`);
    out.push(
      `    graph [${attrs({ label: 'external', labelloc: 't', labeljust: 'c', style: 'rounded,dashed', color: '#a16207', fontcolor: '#a16207', class: 'namespace' })}];`,
    );
    for (const n of externals.sort(byId)) out.push(nodeStatement(n, '    '));
    out.push('  }');
  }
  for (const e of [...edges].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    const kind = edgeStyleKind(e);
    const st = EDGE_STYLE[kind];
    const lines = edgeLabelLines(e.intent, e.kinds, max);
    const a: Record<string, string | Raw> = {
      color: st.color,
      fontcolor: st.fontcolor,
      style: st.style,
      penwidth: st.penwidth,
      class: kind,
    };
    if (lines.length > 0 && opts.edgeLabels !== false) a.label = { raw: `"${lines.map(labelLine).join('')}"` };
    out.push(`  ${dotString(e.source)} -> ${dotString(e.target)} [${attrs(a)}];`);
  }
  out.push('}');
  return `${out.join('\n')}\n`;
}
