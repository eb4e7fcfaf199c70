/**
 * The report as one self-contained HTML page: inline CSS, the map as inline SVG, no scripts and no
 * external assets (a Content-Security-Policy forbids loading anything). Pure; the SVG is passed in.
 */
import type { Intent, WorkloadRef } from '../contract/index.ts';
import { DIFF_LABELS, iso } from './markdown.ts';
import type { Report } from './report.ts';
import type { DiffTotals, EdgeRef } from './types.ts';

const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g;

export function esc(s: string): string {
  return s
    .replace(CONTROL, ' ')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** Graphviz SVG → an element to inline: no XML declaration, DOCTYPE, comments or scripts. */
export function inlineSvg(svg: string): string {
  const start = svg.indexOf('<svg');
  const end = svg.lastIndexOf('</svg>');
  if (start < 0 || end < start) return '';
  return svg
    .slice(start, end + 6)
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/<script[\s\S]*?<\/script>/gi, '')
    .replace(/\son[a-z]+\s*=\s*("[^"]*"|'[^']*')/gi, '');
}

const decodeXml = (s: string): string =>
  s.replace(/&(#x[0-9a-f]+|#[0-9]+|amp|lt|gt|quot|apos);/gi, (m, e: string) => {
    const k = e.toLowerCase();
    if (k === 'amp') return '&';
    if (k === 'lt') return '<';
    if (k === 'gt') return '>';
    if (k === 'quot') return '"';
    if (k === 'apos') return "'";
    const n = k.startsWith('#x') ? Number.parseInt(k.slice(2), 16) : Number.parseInt(k.slice(1), 10);
    return Number.isFinite(n) && n >= 0 && n <= 0x10ffff ? String.fromCodePoint(n) : m;
  });

/** The Graphviz edge name of a diff edge (`buildGraph` ids: `ns/name`, `ext:domain`). */
export const graphEdgeId = (e: EdgeRef): string =>
  `${e.client.namespace}/${e.client.name}->${e.server ? `${e.server.namespace}/${e.server.name}` : `ext:${e.external ?? ''}`}`;

/** Adds class `new` to the Graphviz edge groups whose `<title>` names one of `ids`. */
export function markEdges(svg: string, ids: ReadonlySet<string>): string {
  if (ids.size === 0) return svg;
  return svg.replace(
    /(<g id="[^"]*" class="edge)([^"]*)(">\s*<title>)([^<]*)(<\/title>)/g,
    (all, a: string, rest: string, b: string, title: string, c: string) =>
      ids.has(decodeXml(title)) ? `${a}${rest} new${b}${title}${c}` : all,
  );
}

const w = (r: WorkloadRef): string => esc(`${r.namespace}/${r.name}`);
const edge = (e: EdgeRef): string =>
  `${w(e.client)} → ${e.server ? w(e.server) : `${esc(e.external ?? '?')} <span class="ext">external</span>`}`;
const ports = (p: readonly number[]): string =>
  p.length > 0 ? ` <span class="ports">ports ${p.join(', ')}</span>` : '';
const codeEl = (s: string): string => `<code>${esc(s)}</code>`;
const list = (items: string[]): string => `<ul>${items.map((i) => `<li>${i}</li>`).join('')}</ul>`;

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px;color:#111827;background:#fff}
h1{font-size:22px;margin:0 0 8px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #e5e7eb;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}table{border-collapse:collapse;margin:6px 0}
th,td{border:1px solid #e5e7eb;padding:4px 8px;text-align:left}td.n,th.n{text-align:right}
code{background:#f3f4f6;padding:0 3px;border-radius:3px;font-size:13px}
.meta{color:#4b5563}.ext{color:#6b7280;font-size:12px}.ports{color:#6b7280}
.new{color:#047857}.gone{color:#b91c1c}.denied{color:#b91c1c}
figure{margin:12px 0;border:1px solid #e5e7eb;border-radius:6px;padding:8px;overflow:auto}
figure svg{max-width:100%;height:auto}
figure svg g.edge.new path{stroke:#047857;stroke-width:3}figure svg g.edge.new polygon{fill:#047857;stroke:#047857}
`;

export function renderHtml(r: Report, svg: string | undefined, pictureError?: string): string {
  const s = r.snapshot;
  const d = r.diff;
  const out: string[] = [];
  out.push(
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>callmap report: snapshot ${s.id}</title>`,
    `<style>${CSS}</style></head><body>`,
    `<h1>callmap report: snapshot ${s.id}</h1>`,
    `<p class="meta">Taken ${esc(iso(s.takenAt))} · ${s.namespaces.length === 0 ? 'all namespaces' : `namespaces ${esc(s.namespaces.join(', '))}`} · mapper ${esc(r.mapperUrl)}<br>`,
    r.previous
      ? `Compared with snapshot ${r.previous.id} taken ${esc(iso(r.previous.takenAt))}</p>`
      : 'First snapshot with this namespace filter: nothing to compare with, everything counts as new.</p>',
  );

  out.push('<h2>Map</h2>');
  // Highlight new edges only against a real baseline (on a first snapshot everything is "new").
  const fresh = new Set(r.previous ? d.newEdges.map(graphEdgeId) : []);
  const body = svg ? markEdges(inlineSvg(svg), fresh) : '';
  const note =
    r.previous && d.newEdges.length > 0
      ? `<p class="meta">Edges new since snapshot ${r.previous.id} are drawn <span class="new">thick green</span>.</p>`
      : '';
  out.push(
    body !== ''
      ? `<figure id="map" aria-label="map of who talks to whom">${body}</figure>${note}`
      : `<p id="map-missing">The picture could not be drawn${pictureError ? `: ${esc(pictureError)}` : ''}.</p>`,
  );

  out.push('<h2>Changes</h2><table id="changes"><tr><th>Change</th><th class="n">Count</th></tr>');
  for (const [k, label] of Object.entries(DIFF_LABELS) as Array<[keyof DiffTotals, string]>) {
    out.push(`<tr><td>${label}</td><td class="n">${d.totals[k]}</td></tr>`);
  }
  out.push('</table>');
  const section = (title: string, cls: string, items: string[]): void => {
    if (items.length > 0) out.push(`<h3 class="${cls}">${title} (${items.length})</h3>`, list(items));
  };
  section(
    DIFF_LABELS.newEdges,
    'new',
    d.newEdges.map((e) => `${edge(e)}${ports(e.ports)}`),
  );
  section(
    DIFF_LABELS.vanishedEdges,
    'gone',
    d.vanishedEdges.map((e) => `${edge(e)}${ports(e.ports)}`),
  );
  section(
    DIFF_LABELS.newPorts,
    'new',
    d.newPorts.map((e) => `${edge(e)}: ${e.ports.join(', ')}`),
  );
  section(
    DIFF_LABELS.newHttp,
    'new',
    d.newHttp.map((h) => `${edge(h)}: ${esc(h.methods.join(', '))} ${codeEl(h.path)}`),
  );
  section(
    DIFF_LABELS.removedHttp,
    'gone',
    d.removedHttp.map((h) => `${edge(h)}: ${esc(h.methods.join(', '))} ${codeEl(h.path)}`),
  );
  section(
    DIFF_LABELS.newKafka,
    'new',
    d.newKafka.map((k) => `${edge(k)}: topic ${codeEl(k.topic)} ${esc(k.operations.join(', '))}`),
  );
  section(
    DIFF_LABELS.removedKafka,
    'gone',
    d.removedKafka.map((k) => `${edge(k)}: topic ${codeEl(k.topic)} ${esc(k.operations.join(', '))}`),
  );
  section(
    DIFF_LABELS.newDeniedKafka,
    'denied',
    d.newDeniedKafka.map(
      (k) => `${edge(k)}: ${esc(k.resourceType)} ${codeEl(k.resourceName)} denied ${esc(k.operations.join(', '))}`,
    ),
  );
  section(
    DIFF_LABELS.newExternals,
    'new',
    d.newExternals.map((e) => `${codeEl(e.domain)} ${esc(e.ips.join(', '))} from ${e.clients.map(w).join(', ')}`),
  );

  out.push(
    '<h2>Per-namespace summary</h2><table id="namespaces"><tr><th>Namespace</th><th class="n">Workloads</th><th class="n">Edges</th><th class="n">HTTP paths</th><th class="n">Kafka topics</th><th class="n">Denied Kafka</th><th class="n">Externals</th><th class="n">New edges</th><th class="n">Vanished edges</th></tr>',
  );
  const diffNs = new Map(d.namespaces.map((n) => [n.namespace, n] as const));
  const cur = new Map(r.summary.namespaces.map((n) => [n.namespace, n] as const));
  for (const n of [...new Set([...cur.keys(), ...diffNs.keys()])].sort()) {
    const c = cur.get(n);
    const x = diffNs.get(n);
    const cells = [
      c?.workloads,
      c?.edges,
      c?.httpPaths,
      c?.kafkaTopics,
      c?.deniedKafka,
      c?.externals,
      x?.newEdges,
      x?.vanishedEdges,
    ];
    out.push(`<tr><td>${esc(n)}</td>${cells.map((v) => `<td class="n">${v ?? 0}</td>`).join('')}</tr>`);
  }
  const t = r.summary.totals;
  const totals = [
    t.workloads,
    t.edges,
    t.httpPaths,
    t.kafkaTopics,
    t.deniedKafka,
    t.externals,
    d.totals.newEdges,
    d.totals.vanishedEdges,
  ];
  out.push(`<tr><th>total</th>${totals.map((v) => `<th class="n">${v}</th>`).join('')}</tr></table>`);

  out.push('<h2>Edges</h2>');
  if (r.intents.length === 0) out.push('<p>No edges.</p>');
  else out.push(list(r.intents.map(intentItem)));
  out.push('</body></html>', '');
  return out.join('\n');
}

function intentItem(it: Intent): string {
  const ref: EdgeRef = it.server
    ? { client: it.client, server: it.server }
    : { client: it.client, external: it.external?.domain ?? '?' };
  const sub: string[] = [];
  for (const h of it.http) sub.push(`HTTP ${esc(h.methods.join(', '))} ${codeEl(h.path)}`);
  for (const k of it.kafka) {
    const parts: string[] = [];
    if (k.operations.length > 0) parts.push(esc(k.operations.join(', ')));
    if (k.deniedOperations.length > 0)
      parts.push(`<span class="denied">denied ${esc(k.deniedOperations.join(', '))}</span>`);
    sub.push(`Kafka topic ${codeEl(k.topic)}: ${parts.join('; ')}`);
  }
  if (it.external && it.external.ips.length > 0) sub.push(`IPs ${esc(it.external.ips.join(', '))}`);
  return `${edge(ref)}${ports(it.ports)}${sub.length > 0 ? list(sub) : ''}`;
}
