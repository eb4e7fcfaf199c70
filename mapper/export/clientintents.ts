/**
 * Intent[] → Otterize ClientIntents documents (v2beta1 or v1alpha3), one per client workload.
 * Pure: no I/O. Every document validates against the CRD in shared/reference (tested with ajv).
 */
import { stringify } from 'yaml';
import type { HttpResource, Intent, KafkaOperation } from '../contract/index.ts';

export const OUTPUT_VERSIONS = ['v2beta1', 'v1alpha3'] as const;
export type OutputVersion = (typeof OUTPUT_VERSIONS)[number];
export const EXPORT_FORMATS = ['yaml', 'json'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** HTTP methods the ClientIntents CRD accepts. */
export const CRD_HTTP_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'TRACE', 'PATCH', 'CONNECT'] as const;
/** Methods outside the enum that are authorised by an enum method (HEAD is a body-less GET). */
const METHOD_MAP: Readonly<Record<string, string>> = { HEAD: 'GET' };

export interface ExportOptions {
  outputVersion?: OutputVersion;
  /** Write internet targets for external destinations (v2beta1: `internet`, v1alpha3: `type: internet`). */
  external?: boolean;
  /** Split each client's document per value of this client label. */
  distinctByLabel?: string;
}

export interface ClientIntentsDocument {
  apiVersion: string;
  kind: 'ClientIntents';
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
  spec: Record<string, unknown>;
}

export interface ExportResult {
  documents: ClientIntentsDocument[];
  /** HEAD and other methods rewritten to a CRD method. */
  mappedMethods: number;
  /** Methods with no CRD equivalent, left out. */
  droppedMethods: number;
  /** HTTP paths left out because no method of theirs could be written. */
  droppedPaths: number;
}

interface Target {
  name: string;
  kind?: string;
  http: HttpResource[];
  topics: Array<{ name: string; operations: KafkaOperation[] }>;
  internet?: { domains: string[]; ips: string[]; ports: number[] };
}

const DNS1123 = /[^a-z0-9.-]+/g;

/** A Kubernetes object name from arbitrary text (lower-case DNS-1123 subdomain, ≤ 253). */
export function objectName(s: string): string {
  const n = s
    .toLowerCase()
    .replace(DNS1123, '-')
    .replace(/^[-.]+|[-.]+$/g, '');
  return (n === '' ? 'unnamed' : n).slice(0, 253);
}

export function toClientIntents(intents: readonly Intent[], opts: ExportOptions = {}): ExportResult {
  const version = opts.outputVersion ?? 'v2beta1';
  const res: ExportResult = { documents: [], mappedMethods: 0, droppedMethods: 0, droppedPaths: 0 };
  const groups = new Map<string, { intent: Intent; labelValue: string | undefined; targets: Target[] }>();

  for (const it of intents) {
    if (it.external && !opts.external) continue;
    const labelValue = opts.distinctByLabel ? it.client.labels?.[opts.distinctByLabel] : undefined;
    const gk = `${it.client.namespace}/${it.client.name}\u0000${labelValue ?? ''}`;
    let g = groups.get(gk);
    if (!g) {
      g = { intent: it, labelValue, targets: [] };
      groups.set(gk, g);
    }
    if (it.external) {
      g.targets.push({
        name: it.external.domain,
        http: [],
        topics: [],
        internet: { domains: [it.external.domain], ips: [...it.external.ips], ports: [...it.ports] },
      });
      continue;
    }
    const server = it.server;
    if (!server) continue;
    const name = server.namespace === it.client.namespace ? server.name : `${server.name}.${server.namespace}`;
    const http: HttpResource[] = [];
    for (const h of it.http) {
      const methods = new Set<string>();
      for (const m of h.methods) {
        if ((CRD_HTTP_METHODS as readonly string[]).includes(m)) methods.add(m);
        else if (METHOD_MAP[m]) {
          methods.add(METHOD_MAP[m]);
          res.mappedMethods++;
        } else res.droppedMethods++;
      }
      if (methods.size === 0) res.droppedPaths++;
      else http.push({ path: h.path, methods: [...methods].sort() });
    }
    const topics = it.kafka
      .filter((k) => k.operations.length > 0)
      .map((k) => ({ name: k.topic, operations: [...k.operations] }));
    const t: Target = { name, http, topics };
    if (server.kind !== 'Unknown') t.kind = server.kind;
    g.targets.push(t);
  }

  for (const g of groups.values()) {
    const c = g.intent.client;
    const metadata: ClientIntentsDocument['metadata'] = {
      name: objectName(g.labelValue ? `${c.name}-${g.labelValue}` : c.name),
      namespace: c.namespace,
    };
    if (opts.distinctByLabel && g.labelValue !== undefined) {
      metadata.labels = { [objectName(opts.distinctByLabel).slice(0, 63)]: g.labelValue.slice(0, 63) };
    }
    const doc: ClientIntentsDocument =
      version === 'v2beta1'
        ? {
            apiVersion: 'k8s.otterize.com/v2beta1',
            kind: 'ClientIntents',
            metadata,
            spec: v2beta1Spec(g.intent, g.targets),
          }
        : {
            apiVersion: 'k8s.otterize.com/v1alpha3',
            kind: 'ClientIntents',
            metadata,
            spec: v1alpha3Spec(g.intent, g.targets),
          };
    res.documents.push(doc);
  }
  res.documents.sort((a, b) =>
    a.metadata.namespace === b.metadata.namespace
      ? a.metadata.name.localeCompare(b.metadata.name)
      : a.metadata.namespace.localeCompare(b.metadata.namespace),
  );
  return res;
}

function workloadOf(it: Intent): { name: string; kind?: string } {
  return it.client.kind === 'Unknown' ? { name: it.client.name } : { name: it.client.name, kind: it.client.kind };
}

function v2beta1Spec(it: Intent, targets: Target[]): Record<string, unknown> {
  const out: Record<string, unknown>[] = [];
  for (const t of targets) {
    if (t.internet) {
      const internet: Record<string, unknown> = { domains: t.internet.domains };
      if (t.internet.ips.length > 0) internet['ips'] = t.internet.ips;
      if (t.internet.ports.length > 0) internet['ports'] = t.internet.ports;
      out.push({ internet });
      continue;
    }
    if (t.topics.length > 0) out.push({ kafka: { name: t.name, topics: t.topics } });
    if (t.topics.length === 0 || t.http.length > 0) {
      const k: Record<string, unknown> = { name: t.name };
      if (t.kind) k['kind'] = t.kind;
      if (t.http.length > 0) k['http'] = t.http;
      out.push({ kubernetes: k });
    }
  }
  return { workload: workloadOf(it), targets: out };
}

function v1alpha3Spec(it: Intent, targets: Target[]): Record<string, unknown> {
  const calls: Record<string, unknown>[] = [];
  for (const t of targets) {
    if (t.internet) {
      const internet: Record<string, unknown> = { domains: t.internet.domains };
      if (t.internet.ips.length > 0) internet['ips'] = t.internet.ips;
      if (t.internet.ports.length > 0) internet['ports'] = t.internet.ports;
      calls.push({ type: 'internet', internet });
      continue;
    }
    if (t.topics.length > 0) calls.push({ name: t.name, type: 'kafka', kafkaTopics: t.topics });
    if (t.topics.length === 0 || t.http.length > 0) {
      const c: Record<string, unknown> = { name: t.name };
      if (t.kind) c['kind'] = t.kind;
      if (t.http.length > 0) {
        c['type'] = 'http';
        c['HTTPResources'] = t.http;
      }
      calls.push(c);
    }
  }
  return { service: workloadOf(it), calls };
}

/** Renders documents: YAML multi-document stream, or JSON (one object, or a `List` for several). */
export function renderDocuments(docs: readonly ClientIntentsDocument[], format: ExportFormat): string {
  if (format === 'json') {
    if (docs.length === 1) return `${JSON.stringify(docs[0], null, 2)}\n`;
    return `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: docs }, null, 2)}\n`;
  }
  return docs.map((d) => stringify(d, { lineWidth: 0 })).join('---\n');
}

/** File name for one document in `--output-type dir` mode. */
export function documentFileName(doc: ClientIntentsDocument, format: ExportFormat): string {
  return `${doc.metadata.name}.${doc.metadata.namespace}.${format === 'json' ? 'json' : 'yaml'}`;
}
