/**
 * Envoy admin JSON stats (`/stats?format=json`): `{"stats":[{"name":"…","value":N},…]}`.
 *
 * Istio's stats filter names a counter `istiocustom.<metric>` and appends each tag as
 * `.<tag_name>.<value>` (Envoy joins the metric name and its tags with dots before tag
 * extraction). Values may themselves contain dots (`/index.html`, `reviews.default.svc.cluster.local`,
 * `spiffe://cluster.local/ns/…`), so a value runs until the next dot that is followed by a known,
 * not yet seen tag name and a dot, never just to the next dot. Older Wasm-based proxies used
 * `reporter=.=source;.;…;.;istio_requests_total`; that form is read too.
 */
import { type Aggregator, emptyRawSeries, ISTIO_METRICS, type IstioMetric, setLabel } from './series.ts';

/** Tags the Istio stats filter emits (in its order), plus the usual `tagOverrides` additions. */
export const ISTIO_TAGS = [
  'reporter',
  'source_workload',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_canonical_service',
  'source_canonical_revision',
  'source_cluster',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_service',
  'destination_service_name',
  'destination_service_namespace',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_cluster',
  'request_protocol',
  'response_flags',
  'connection_security_policy',
  'response_code',
  'grpc_response_status',
  'request_path',
  'request_url_path',
  'request_method',
  'request_host',
  'request_operation',
  'destination_port',
  'source_port',
] as const;

const TAG_SET: ReadonlySet<string> = new Set(ISTIO_TAGS);
const PREFIX = 'istiocustom.';

export interface DecodedStat {
  metric: IstioMetric;
  tags: Map<string, string>;
}

/** Decodes one Envoy stat name into metric and tags; `undefined` when it is not a wanted Istio counter. */
export function decodeIstioStatName(
  name: string,
  metrics: readonly IstioMetric[] = ISTIO_METRICS,
): DecodedStat | undefined {
  if (name.includes('=.=')) return decodeLegacy(name, metrics);
  if (!name.startsWith(PREFIX)) return undefined;
  let metric: IstioMetric | undefined;
  for (const m of metrics) {
    if (name.startsWith(m, PREFIX.length)) {
      const after = name.charCodeAt(PREFIX.length + m.length);
      if (Number.isNaN(after) || after === 46 /* . */) {
        metric = m;
        break;
      }
    }
  }
  if (metric === undefined) return undefined;
  const tags = new Map<string, string>();
  let p = PREFIX.length + metric.length + 1; // start of the first tag name
  while (p < name.length) {
    const dot = name.indexOf('.', p);
    if (dot < 0) break; // a trailing tag name without a value: ignore it
    const tag = name.slice(p, dot);
    const vs = dot + 1;
    // The value ends at the first ".<unseen known tag>." after it (or at the end of the name).
    let end = name.length;
    let next = -1;
    for (let d = name.indexOf('.', vs); d >= 0; d = name.indexOf('.', d + 1)) {
      const d2 = name.indexOf('.', d + 1);
      if (d2 < 0) break;
      const cand = name.slice(d + 1, d2);
      if (cand !== tag && TAG_SET.has(cand) && !tags.has(cand)) {
        end = d;
        next = d + 1;
        break;
      }
    }
    tags.set(tag, name.slice(vs, end));
    if (next < 0) break;
    p = next;
  }
  return { metric, tags };
}

function decodeLegacy(name: string, metrics: readonly IstioMetric[]): DecodedStat | undefined {
  const parts = name.split(';.;');
  const last = parts.pop() ?? '';
  const metric = metrics.find((m) => last === m || last.endsWith(`.${m}`) || last.endsWith(`_${m}`));
  if (metric === undefined) return undefined;
  const tags = new Map<string, string>();
  for (const part of parts) {
    const i = part.indexOf('=.=');
    if (i > 0) tags.set(part.slice(0, i), part.slice(i + 3));
  }
  return { metric, tags };
}

/**
 * Parses a whole Envoy admin JSON page into the aggregator. Returns false (and counts nothing)
 * when the document is not JSON of the expected shape; bad entries are skipped and counted.
 */
export function parseEnvoyStatsJson(
  page: Buffer | string,
  sink: Aggregator,
  metrics: readonly IstioMetric[] = ISTIO_METRICS,
): boolean {
  let doc: unknown;
  try {
    doc = JSON.parse(typeof page === 'string' ? page : page.toString('utf8'));
  } catch {
    return false;
  }
  const stats = (doc as { stats?: unknown } | null)?.stats;
  if (!Array.isArray(stats)) return false;
  for (const entry of stats) {
    if (typeof entry !== 'object' || entry === null) continue;
    const { name, value } = entry as { name?: unknown; value?: unknown };
    if (typeof name !== 'string') continue; // e.g. the {"histograms":…} entry
    const decoded = decodeIstioStatName(name, metrics);
    if (!decoded) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      sink.skip('invalid-value');
      continue;
    }
    const s = emptyRawSeries(decoded.metric);
    for (const [k, v] of decoded.tags) setLabel(s, k, v);
    s.value = value;
    sink.add(s);
  }
  return true;
}
