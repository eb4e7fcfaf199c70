/** The report as Markdown for humans (pure). Data never breaks out of code spans or table cells. */
import type { Intent, WorkloadRef } from '../contract/index.ts';
import type { Report } from './report.ts';
import type { DiffTotals, EdgeRef, SnapshotMeta } from './types.ts';

const CONTROL = /[\u0000-\u001f\u007f\u2028\u2029]+/g;

/** A Markdown code span that holds any text on one line (backticks and pipes included). */
export function code(s: string): string {
  const text = s.replace(CONTROL, ' ').replace(/\|/g, '\\|');
  const runs = text.match(/`+/g) ?? [];
  const fence = '`'.repeat(Math.max(0, ...runs.map((r) => r.length)) + 1);
  const pad = text.startsWith('`') || text.endsWith('`') || text === '' ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

/** Plain text with Markdown punctuation escaped. */
export function text(s: string): string {
  return s.replace(CONTROL, ' ').replace(/[\\`*_{}[\]()<>#+!|~]/g, (c) => `\\${c}`);
}

const w = (r: WorkloadRef): string => text(`${r.namespace}/${r.name}`);

export function edgeName(e: EdgeRef): string {
  const target = e.server ? w(e.server) : `${text(e.external ?? '?')} (external)`;
  return `${w(e.client)} → ${target}`;
}

const intentTarget = (it: Intent): EdgeRef =>
  it.server ? { client: it.client, server: it.server } : { client: it.client, external: it.external?.domain ?? '?' };

export const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

export const nsLabel = (s: SnapshotMeta): string =>
  s.namespaces.length === 0 ? 'all namespaces' : `namespaces ${s.namespaces.map(text).join(', ')}`;

const ports = (p: readonly number[]): string => (p.length > 0 ? ` (ports ${p.join(', ')})` : '');

export const DIFF_LABELS: Record<keyof DiffTotals, string> = {
  newEdges: 'New edges',
  vanishedEdges: 'Vanished edges',
  newPorts: 'New ports on known edges',
  newHttp: 'New HTTP paths/methods',
  removedHttp: 'Removed HTTP paths/methods',
  newKafka: 'New Kafka topics/operations',
  removedKafka: 'Removed Kafka topics/operations',
  newDeniedKafka: 'Newly seen denied Kafka attempts',
  newExternals: 'New external destinations',
};

export function renderMarkdown(r: Report): string {
  const out: string[] = [];
  const s = r.snapshot;
  const d = r.diff;
  out.push(`# callmap report: snapshot ${s.id}`, '');
  out.push(`- Taken: ${iso(s.takenAt)} (${nsLabel(s)}, trigger ${s.trigger})`);
  out.push(`- Mapper: ${text(r.mapperUrl)}`);
  out.push(
    r.previous
      ? `- Compared with snapshot ${r.previous.id} taken ${iso(r.previous.takenAt)}`
      : '- First snapshot with this namespace filter: nothing to compare with, everything below counts as new',
  );
  out.push('');

  out.push('## Changes', '');
  out.push('| Change | Count |', '| --- | ---: |');
  for (const [k, label] of Object.entries(DIFF_LABELS) as Array<[keyof DiffTotals, string]>) {
    out.push(`| ${label} | ${d.totals[k]} |`);
  }
  out.push('');

  const section = (title: string, lines: string[]): void => {
    if (lines.length === 0) return;
    out.push(`### ${title} (${lines.length})`, '', ...lines, '');
  };
  section(
    DIFF_LABELS.newEdges,
    d.newEdges.map((e) => `- ${edgeName(e)}${ports(e.ports)}`),
  );
  section(
    DIFF_LABELS.vanishedEdges,
    d.vanishedEdges.map((e) => `- ${edgeName(e)}${ports(e.ports)}`),
  );
  section(
    DIFF_LABELS.newPorts,
    d.newPorts.map((e) => `- ${edgeName(e)}: ${e.ports.join(', ')}`),
  );
  const http = (h: (typeof d.newHttp)[number]): string =>
    `- ${edgeName(h)}: ${h.methods.length > 0 ? `${h.methods.join(', ')} ` : ''}${code(h.path)}${h.wholePath ? '' : ' (new methods on a known path)'}`;
  section(DIFF_LABELS.newHttp, d.newHttp.map(http));
  section(
    DIFF_LABELS.removedHttp,
    d.removedHttp.map(
      (h) => `- ${edgeName(h)}: ${h.methods.length > 0 ? `${h.methods.join(', ')} ` : ''}${code(h.path)}`,
    ),
  );
  section(
    DIFF_LABELS.newKafka,
    d.newKafka.map((k) => `- ${edgeName(k)}: topic ${code(k.topic)} ${k.operations.join(', ')}`),
  );
  section(
    DIFF_LABELS.removedKafka,
    d.removedKafka.map((k) => `- ${edgeName(k)}: topic ${code(k.topic)} ${k.operations.join(', ')}`),
  );
  section(
    DIFF_LABELS.newDeniedKafka,
    d.newDeniedKafka.map(
      (k) => `- ${edgeName(k)}: ${text(k.resourceType)} ${code(k.resourceName)} denied ${k.operations.join(', ')}`,
    ),
  );
  section(
    DIFF_LABELS.newExternals,
    d.newExternals.map(
      (e) =>
        `- ${code(e.domain)}${e.ips.length > 0 ? ` (${e.ips.join(', ')})` : ''} from ${e.clients.map(w).join(', ')}`,
    ),
  );

  out.push('## Per-namespace summary', '');
  out.push(
    '| Namespace | Workloads | Edges | HTTP paths | Kafka topics | Denied Kafka | Externals | New edges | Vanished edges |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  const diffNs = new Map(d.namespaces.map((n) => [n.namespace, n] as const));
  const names = [...new Set([...r.summary.namespaces.map((n) => n.namespace), ...diffNs.keys()])].sort();
  const cur = new Map(r.summary.namespaces.map((n) => [n.namespace, n] as const));
  for (const n of names) {
    const c = cur.get(n);
    const x = diffNs.get(n);
    out.push(
      `| ${text(n)} | ${c?.workloads ?? 0} | ${c?.edges ?? 0} | ${c?.httpPaths ?? 0} | ${c?.kafkaTopics ?? 0} | ${c?.deniedKafka ?? 0} | ${c?.externals ?? 0} | ${x?.newEdges ?? 0} | ${x?.vanishedEdges ?? 0} |`,
    );
  }
  const t = r.summary.totals;
  out.push(
    `| **total** | ${t.workloads} | ${t.edges} | ${t.httpPaths} | ${t.kafkaTopics} | ${t.deniedKafka} | ${t.externals} | ${d.totals.newEdges} | ${d.totals.vanishedEdges} |`,
  );
  out.push('');

  out.push('## Map', '');
  if (r.intents.length === 0) out.push('No edges.', '');
  for (const it of r.intents) {
    out.push(`- ${edgeName(intentTarget(it))}${ports(it.ports)}`);
    for (const h of it.http)
      out.push(`  - HTTP ${h.methods.length > 0 ? `${h.methods.join(', ')} ` : ''}${code(h.path)}`);
    for (const k of it.kafka) {
      const parts = [];
      if (k.operations.length > 0) parts.push(k.operations.join(', '));
      if (k.deniedOperations.length > 0) parts.push(`denied ${k.deniedOperations.join(', ')}`);
      out.push(`  - Kafka topic ${code(k.topic)}: ${parts.join('; ')}`);
    }
    if (it.external && it.external.ips.length > 0) out.push(`  - IPs ${it.external.ips.join(', ')}`);
  }
  const denied = r.kafkaAcl.filter((a) => !a.allowed);
  if (denied.length > 0) {
    out.push('', '### Denied Kafka decisions on other resources', '');
    for (const a of denied) {
      out.push(
        `- ${w(a.client)} → ${w(a.server)}: ${text(a.resourceType)} ${code(a.resourceName)} ${text(a.operation)}`,
      );
    }
  }
  out.push('');
  return out.join('\n');
}
