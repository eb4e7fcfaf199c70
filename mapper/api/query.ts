/** Query-string parsing for the read endpoints. Pure; bad values are 400 CallmapErrors. */
import { CallmapError } from '../contract/index.ts';
import { EXPORT_FORMATS, type ExportFormat, OUTPUT_VERSIONS, type OutputVersion } from '../export/clientintents.ts';
import { type IntentsFilter, parseLabelSelectors } from '../store/intents.ts';

export type RawQuery = Record<string, unknown>;

export interface IntentsQuery {
  filter: IntentsFilter;
  distinctByLabel?: string;
  /** `compact=true`: identities once, referenced by index (`GET /api/v1/intents` only, ADR 0036). */
  compact: boolean;
  /** Canonical form, used as the cache key. */
  key: string;
  /** The key of the same query with `compact=true` (the default shapes are streamed from it, ADR 0039). */
  compactKey: string;
}

export interface ClientIntentsQuery extends IntentsQuery {
  format: ExportFormat;
  outputVersion: OutputVersion;
}

const bad = (param: string, problem: string): CallmapError =>
  new CallmapError('BAD_QUERY', `query parameter ${param}: ${problem}`, { status: 400, details: { param } });

function values(q: RawQuery, name: string): string[] {
  const v = q[name];
  if (v === undefined) return [];
  const arr = Array.isArray(v) ? v : [v];
  const out: string[] = [];
  for (const x of arr) {
    if (typeof x !== 'string') throw bad(name, 'must be a string');
    for (const part of x.split(',')) {
      const s = part.trim();
      if (s !== '') out.push(s);
    }
  }
  return out;
}

function single(q: RawQuery, name: string): string | undefined {
  const v = values(q, name);
  if (v.length > 1) throw bad(name, 'give it once');
  return v[0];
}

function bool(q: RawQuery, name: string): boolean {
  const v = single(q, name);
  if (v === undefined) return false;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw bad(name, `must be true or false, got ${JSON.stringify(v)}`);
}

export function parseIntentsQuery(q: RawQuery): IntentsQuery {
  const filter: IntentsFilter = {};
  const namespaces = values(q, 'namespaces');
  if (namespaces.length > 0) filter.namespaces = [...new Set(namespaces)].sort();
  const server = single(q, 'server');
  if (server !== undefined) {
    const i = server.indexOf('.');
    if (i <= 0 || i === server.length - 1) throw bad('server', `must be name.namespace, got ${JSON.stringify(server)}`);
    filter.server = { name: server.slice(0, i), namespace: server.slice(i + 1) };
  }
  const exclude = values(q, 'excludeLabels');
  if (exclude.length > 0) {
    const sel = parseLabelSelectors(exclude);
    if (sel.some((s) => s.key === '')) throw bad('excludeLabels', 'each item must be key=value or key');
    filter.excludeLabels = sel;
  }
  if (bool(q, 'external')) filter.external = true;
  if (bool(q, 'asKubernetesService')) filter.asKubernetesService = true;
  const distinctByLabel = single(q, 'distinctByLabel');
  const compact = bool(q, 'compact');
  const key = JSON.stringify([filter, distinctByLabel ?? null, compact]);
  const compactKey = JSON.stringify([filter, distinctByLabel ?? null, true]);
  const out: IntentsQuery = { filter, compact, key, compactKey };
  if (distinctByLabel !== undefined) out.distinctByLabel = distinctByLabel;
  return out;
}

export function parseClientIntentsQuery(q: RawQuery): ClientIntentsQuery {
  const base = parseIntentsQuery(q);
  const format = single(q, 'format') ?? 'yaml';
  if (!(EXPORT_FORMATS as readonly string[]).includes(format)) {
    throw bad('format', `must be one of ${EXPORT_FORMATS.join(', ')}, got ${JSON.stringify(format)}`);
  }
  const outputVersion = single(q, 'outputVersion') ?? 'v2beta1';
  if (!(OUTPUT_VERSIONS as readonly string[]).includes(outputVersion)) {
    throw bad('outputVersion', `must be one of ${OUTPUT_VERSIONS.join(', ')}, got ${JSON.stringify(outputVersion)}`);
  }
  return {
    ...base,
    format: format as ExportFormat,
    outputVersion: outputVersion as OutputVersion,
    key: JSON.stringify([base.key, format, outputVersion]),
  };
}
