/**
 * Read side of the map: the in-memory edges → `Intent[]` with the query filters applied, and the
 * graph view. Pure over the store's read API (no SQL), so it is cheap enough to run per change.
 */
import {
  type CompactIntent,
  compactGraph,
  compactIntents,
  type GraphEdge,
  type GraphNode,
  type GraphResponse,
  type HttpResource,
  type Intent,
  type KafkaOperation,
  type KafkaTopicAccess,
  type WorkloadIdentity,
  type WorkloadRef,
} from '../contract/index.ts';
import type { EdgeRecord, MapStore } from './types.ts';

export interface LabelSelector {
  key: string;
  /** Absent: the label's presence matches. */
  value?: string;
}

export interface IntentsFilter {
  /** Client namespaces to include (empty/absent: all). */
  namespaces?: readonly string[];
  /** Only intents to this server (matches the workload, or the Service the calls went through). */
  server?: WorkloadRef;
  /** Drop intents whose client or server carries any of these labels. */
  excludeLabels?: readonly LabelSelector[];
  /** Include external (internet) destinations. Default false. */
  external?: boolean;
  /** Report calls to the Kubernetes Service they went through rather than the workload behind it. */
  asKubernetesService?: boolean;
}

/** Parses `k=v,k2` style selectors (already split on commas). */
export function parseLabelSelectors(items: readonly string[]): LabelSelector[] {
  return items.map((s) => {
    const i = s.indexOf('=');
    return i < 0 ? { key: s } : { key: s.slice(0, i), value: s.slice(i + 1) };
  });
}

const hasLabel = (w: WorkloadIdentity | undefined, sel: readonly LabelSelector[]): boolean => {
  const labels = w?.labels;
  if (!labels) return false;
  return sel.some((l) => (l.value === undefined ? l.key in labels : labels[l.key] === l.value));
};

interface Acc {
  intent: Intent;
  http: Map<string, Set<string>>;
  kafka: Map<string, { ok: Set<KafkaOperation>; denied: Set<KafkaOperation> }>;
  ports: Set<number>;
  ips: Set<string>;
  viaSeen: number;
}

function identity(store: MapStore, ref: WorkloadRef): WorkloadIdentity {
  return store.workload(ref) ?? { name: ref.name, namespace: ref.namespace, kind: 'Unknown' };
}

/** Builds the intents list from the store, filtered and merged per (client, target). */
export function buildIntents(store: MapStore, f: IntentsFilter = {}): Intent[] {
  const ns = f.namespaces && f.namespaces.length > 0 ? new Set(f.namespaces) : undefined;
  const exclude = f.excludeLabels && f.excludeLabels.length > 0 ? f.excludeLabels : undefined;
  if (fastFilter(f)) {
    // Common case: reuse the sorted grouping (no per-edge keys, no sort).
    const out: Intent[] = [];
    const keep = groupFilter(store, f);
    for (const g of groupedEdges(store)) if (keep(g)) out.push(groupIntent(store, g));
    return out;
  }
  const groups = new Map<string, Acc>();
  for (const e of store.edges()) {
    if (e.extDomain !== undefined && !f.external) continue;
    if (ns && !ns.has(e.client.namespace)) continue;
    const asService = f.asKubernetesService === true && e.via !== undefined && e.server !== undefined;
    if (f.server) {
      const s = f.server;
      const hit =
        (e.server !== undefined && e.server.name === s.name && e.server.namespace === s.namespace) ||
        (e.via !== undefined && e.via.name === s.name && e.via.namespace === s.namespace);
      if (!hit) continue;
    }
    const client = identity(store, e.client);
    let server: WorkloadIdentity | undefined;
    if (e.server) {
      server = asService
        ? { name: (e.via as WorkloadRef).name, namespace: (e.via as WorkloadRef).namespace, kind: 'Service' }
        : identity(store, e.server);
    }
    if (exclude && (hasLabel(client, exclude) || (e.server && hasLabel(identity(store, e.server), exclude)))) continue;
    const targetKey =
      e.extDomain !== undefined
        ? `ext:${e.extDomain}`
        : `${server?.kind === 'Service' && asService ? 'svc:' : ''}${server?.namespace}/${server?.name}`;
    const key = `${e.client.namespace}/${e.client.name}>${targetKey}`;
    let acc = groups.get(key);
    if (!acc) {
      const intent: Intent = {
        client,
        ports: [],
        http: [],
        kafka: [],
        firstSeen: e.firstSeen,
        lastSeen: e.lastSeen,
        count: 0,
      };
      if (server) intent.server = server;
      if (e.extDomain !== undefined) intent.external = { domain: e.extDomain, ips: [] };
      acc = { intent, http: new Map(), kafka: new Map(), ports: new Set(), ips: new Set(), viaSeen: -1 };
      groups.set(key, acc);
    }
    merge(acc, e);
  }
  const out: Intent[] = [];
  for (const acc of groups.values()) out.push(finish(acc));
  out.sort(compareIntents);
  return out;
}

/** Number of intents (client → server workload or external domain) with external ones, cheaply. */
export function countIntents(store: MapStore): number {
  const keys = new Set<string>();
  for (const e of store.edges()) {
    const target = e.extDomain !== undefined ? `ext:${e.extDomain}` : `${e.server?.namespace}/${e.server?.name}`;
    keys.add(`${e.client.namespace}/${e.client.name}>${target}`);
  }
  return keys.size;
}

function merge(acc: Acc, e: EdgeRecord): void {
  const it = acc.intent;
  if (e.firstSeen < it.firstSeen) it.firstSeen = e.firstSeen;
  if (e.lastSeen > it.lastSeen) it.lastSeen = e.lastSeen;
  it.count += e.count;
  if (e.via && e.lastSeen > acc.viaSeen) {
    acc.viaSeen = e.lastSeen;
    it.viaService = { name: e.via.name, namespace: e.via.namespace };
  }
  for (const p of e.ports) acc.ports.add(p);
  if (e.extIps) for (const ip of e.extIps) acc.ips.add(ip);
  if (e.http)
    for (const h of e.http.values()) {
      let m = acc.http.get(h.path);
      if (!m) {
        m = new Set();
        acc.http.set(h.path, m);
      }
      if (h.method !== '') m.add(h.method);
    }
  if (e.kafka)
    for (const k of e.kafka.values()) {
      let t = acc.kafka.get(k.topic);
      if (!t) {
        t = { ok: new Set(), denied: new Set() };
        acc.kafka.set(k.topic, t);
      }
      (k.allowed ? t.ok : t.denied).add(k.operation);
    }
}

function finish(acc: Acc): Intent {
  const it = acc.intent;
  it.ports = [...acc.ports].sort((a, b) => a - b);
  if (it.external) it.external.ips = [...acc.ips].sort();
  const http: HttpResource[] = [];
  for (const [path, methods] of acc.http) http.push({ path, methods: [...methods].sort() });
  http.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  it.http = http;
  const kafka: KafkaTopicAccess[] = [];
  for (const [topic, t] of acc.kafka) {
    kafka.push({ topic, operations: [...t.ok].sort(), deniedOperations: [...t.denied].sort() });
  }
  kafka.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
  it.kafka = kafka;
  return it;
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export function compareIntents(a: Intent, b: Intent): number {
  return (
    cmp(a.client.namespace, b.client.namespace) ||
    cmp(a.client.name, b.client.name) ||
    cmp(a.server?.namespace ?? '\uffff', b.server?.namespace ?? '\uffff') ||
    cmp(a.server?.name ?? a.external?.domain ?? '', b.server?.name ?? b.external?.domain ?? '') ||
    cmp(a.server?.kind ?? '', b.server?.kind ?? '')
  );
}

export const nodeId = (w: WorkloadIdentity): string =>
  w.kind === 'Service' ? `svc:${w.namespace}/${w.name}` : `${w.namespace}/${w.name}`;

/** Nodes (workloads, services, external domains) and edges of the filtered map. */
export function buildGraph(intents: readonly Intent[]): GraphResponse {
  const nodes = new Map<string, GraphNode>();
  const edges: GraphEdge[] = [];
  for (const it of intents) {
    const source = nodeId(it.client);
    if (!nodes.has(source)) nodes.set(source, { id: source, workload: it.client });
    let target: string;
    if (it.server) {
      target = nodeId(it.server);
      if (!nodes.has(target)) nodes.set(target, { id: target, workload: it.server });
    } else {
      const ext = it.external ?? { domain: '?', ips: [] };
      target = `ext:${ext.domain}`;
      if (!nodes.has(target)) nodes.set(target, { id: target, external: ext });
    }
    const kinds: GraphEdge['kinds'] = [];
    if (it.ports.length > 0 || (it.http.length === 0 && it.kafka.length === 0)) kinds.push('l4');
    if (it.http.length > 0) kinds.push('http');
    if (it.kafka.length > 0) kinds.push('kafka');
    edges.push({ id: `${source}->${target}`, source, target, kinds, intent: it });
  }
  return { nodes: [...nodes.values()].sort((a, b) => cmp(a.id, b.id)), edges };
}

// ---------------------------------------------------------------------------
// Fast paths for `GET /api/v1/intents` and `GET /api/v1/graph` (no `server`/`asKubernetesService`
// filter): edges grouped per (client, target) in output order, kept until edges are added or
// removed; the response is written straight from the edge records into ≤ 1 MiB Buffer chunks
// (no Intent object tree, no whole-response string). An unchanged single edge's intent JSON is
// copied from the last full intents body (the edge record remembers where it is); each workload
// identity's JSON is cached on its (immutable, replaced-on-change) identity object. See ADR 0034.

interface Grouped {
  structure: number;
  groups: EdgeRecord[][];
}

const groupedCache = new WeakMap<MapStore, Grouped>();

const groupKey = (e: EdgeRecord): string =>
  `${e.client.namespace}/${e.client.name}>${e.extDomain !== undefined ? `\uffff${e.extDomain}` : `${e.server?.namespace}/${e.server?.name}`}`;

function compareGroups(a: EdgeRecord[], b: EdgeRecord[]): number {
  const x = a[0] as EdgeRecord;
  const y = b[0] as EdgeRecord;
  return (
    cmp(x.client.namespace, y.client.namespace) ||
    cmp(x.client.name, y.client.name) ||
    cmp(x.server?.namespace ?? '\uffff', y.server?.namespace ?? '\uffff') ||
    cmp(x.server?.name ?? x.extDomain ?? '', y.server?.name ?? y.extDomain ?? '')
  );
}

/** Edges grouped per (client, server workload or external domain), sorted like `buildIntents`. */
export function groupedEdges(store: MapStore): readonly EdgeRecord[][] {
  const c = groupedCache.get(store);
  if (c && c.structure === store.structureVersion) return c.groups;
  const m = new Map<string, EdgeRecord[]>();
  for (const e of store.edges()) {
    const k = groupKey(e);
    const g = m.get(k);
    if (g) g.push(e);
    else m.set(k, [e]);
  }
  const groups = [...m.values()].sort(compareGroups);
  groupedCache.set(store, { structure: store.structureVersion, groups });
  return groups;
}

const isPlain = (group: readonly EdgeRecord[]): boolean =>
  group.length === 1 && (group[0] as EdgeRecord).http === undefined && (group[0] as EdgeRecord).kafka === undefined;

function groupIntent(store: MapStore, group: readonly EdgeRecord[]): Intent {
  const first = group[0] as EdgeRecord;
  if (isPlain(group)) {
    // Plain L4/DNS edge: no merging needed, build it directly (no temporary sets and maps).
    const intent: Intent = {
      client: identity(store, first.client),
      ports: [...first.ports],
      http: [],
      kafka: [],
      firstSeen: first.firstSeen,
      lastSeen: first.lastSeen,
      count: first.count,
    };
    if (first.server) intent.server = identity(store, first.server);
    if (first.extDomain !== undefined)
      intent.external = { domain: first.extDomain, ips: [...(first.extIps ?? [])].sort() };
    if (first.via) intent.viaService = { name: first.via.name, namespace: first.via.namespace };
    return intent;
  }
  const intent: Intent = {
    client: identity(store, first.client),
    ports: [],
    http: [],
    kafka: [],
    firstSeen: first.firstSeen,
    lastSeen: first.lastSeen,
    count: 0,
  };
  if (first.server) intent.server = identity(store, first.server);
  if (first.extDomain !== undefined) intent.external = { domain: first.extDomain, ips: [] };
  const acc: Acc = { intent, http: new Map(), kafka: new Map(), ports: new Set(), ips: new Set(), viaSeen: -1 };
  for (const e of group) merge(acc, e);
  return finish(acc);
}

/**
 * Spare 1 MiB chunks of released bodies and of written stream chunks, reused by the next writer so
 * a rebuilt response does not leave ~14 MB of garbage per store version for the GC to find (at most
 * `POOL_MAX` kept: 24, enough for the compact intents body rebuilt after a change, 14 chunks at
 * 100,000 edges, plus the chunks of streams in flight; no graph body is built since ADR 0046, so
 * the 48 of ADR 0038 only held idle memory).
 */
const pool: ArrayBuffer[] = [];
export const POOL_MAX = 24;

function takeChunk(size: number): Buffer {
  if (size <= CHUNK) {
    const ab = pool.pop();
    if (ab !== undefined) return Buffer.from(ab, 0, CHUNK);
    return Buffer.allocUnsafeSlow(CHUNK);
  }
  return Buffer.allocUnsafeSlow(size);
}

const CHUNK = 1 << 20;
const COMMA = 0x2c;

/** Spare chunks held for reuse (tests). */
export const pooledChunks = (): number => pool.length;

/**
 * A response body written by `ChunkWriter`. Holders (a cache, the copy source, each response
 * being sent) `retain()` it and `release()` it when done; when the count returns to 0 its chunks
 * go back to the pool and the body must not be used again. A body nobody retained is left to GC.
 */
export class JsonBody {
  #refs = 0;
  #chunks: Buffer[];
  readonly length: number;
  /**
   * Where the parts of a compact body are (fast-path compact bodies only), so the default shape
   * can be streamed from its bytes without being built whole (ADR 0039).
   */
  index: CompactIndex | undefined;

  constructor(chunks: Buffer[], length: number) {
    this.#chunks = chunks;
    this.length = length;
  }

  get chunks(): readonly Buffer[] {
    return this.#chunks;
  }

  /** True while some holder retains it (its chunks are still valid). */
  get held(): boolean {
    return this.#refs > 0;
  }

  retain(): void {
    this.#refs++;
  }

  release(): void {
    if (this.#refs <= 0) return;
    if (--this.#refs > 0) return;
    for (const c of this.#chunks) {
      const ab = c.buffer;
      if (ab instanceof ArrayBuffer && ab.byteLength === CHUNK && c.byteOffset === 0 && pool.length < POOL_MAX) {
        pool.push(ab);
      }
    }
    this.#chunks = [];
    // Its index table is reused by the next compact build (2.4 MB per 100,000 intents).
    if (this.index !== undefined && spareTables.length < 2) spareTables.push(this.index.t);
    this.index = undefined;
  }
}

/** Writes JSON text straight into ≤ 1 MiB Buffers (no intermediate strings or concatenation). */
export class ChunkWriter {
  static readonly CHUNK = CHUNK;
  readonly chunks: Buffer[] = [];
  #cur: Buffer | undefined;
  #off = 0;
  #length = 0;
  /**
   * A pending copy: `#pLen` bytes at `#pFrom` of `#pSrc`, not yet written. Consecutive copies of
   * adjacent source ranges (optionally with one separator byte between them that the source has
   * too) are merged, so copying 100,000 unchanged intents costs a few large memcpys.
   */
  #pSrc: SourceBody | undefined;
  #pFrom = 0;
  #pLen = 0;
  /** A separator byte after the pending copy (-1: none). */
  #pSep = -1;

  /** Bytes written so far (pending copies included). */
  get position(): number {
    return this.#length + this.#off + this.#pLen + (this.#pSep >= 0 ? 1 : 0);
  }

  /** Copies `len` bytes at `at` of a finished body (its chunks and their start offsets). */
  copy(src: SourceBody, at: number, len: number): void {
    if (this.#pSrc === src) {
      const end = this.#pFrom + this.#pLen;
      if (this.#pSep < 0 && at === end) {
        this.#pLen += len;
        return;
      }
      if (this.#pSep >= 0 && at === end + 1 && byteAt(src, end) === this.#pSep) {
        this.#pLen += 1 + len;
        this.#pSep = -1;
        return;
      }
    }
    this.flush();
    this.#pSrc = src;
    this.#pFrom = at;
    this.#pLen = len;
  }

  /** Writes one ASCII byte (e.g. the `,` between array items). */
  sep(byte: number): void {
    if (this.#pSrc !== undefined && this.#pSep < 0) {
      this.#pSep = byte;
      return;
    }
    this.flush();
    this.putByte(byte);
  }

  private putByte(byte: number): void {
    if (this.#cur === undefined || this.#off === this.#cur.length) {
      this.seal();
      this.#cur = takeChunk(CHUNK);
    }
    this.#cur[this.#off++] = byte;
  }

  /** Writes the pending copy and separator. */
  private flush(): void {
    const src = this.#pSrc;
    if (src !== undefined) {
      this.#pSrc = undefined;
      let len = this.#pLen;
      this.#pLen = 0;
      let i = chunkIndex(src.starts, this.#pFrom);
      let from = this.#pFrom - (src.starts[i] as number);
      while (len > 0) {
        const c = src.chunks[i] as Buffer;
        if (this.#cur === undefined || this.#off === this.#cur.length) {
          this.seal();
          this.#cur = takeChunk(CHUNK);
        }
        const n = Math.min(len, c.length - from, this.#cur.length - this.#off);
        if (n < 256) {
          // Short copies by a loop: Buffer#copy of a part allocates a view (young garbage per edge).
          const cur = this.#cur;
          const o = this.#off;
          for (let k = 0; k < n; k++) cur[o + k] = c[from + k] as number;
        } else c.copy(this.#cur, this.#off, from, from + n);
        this.#off += n;
        len -= n;
        from += n;
        if (from === c.length) {
          i++;
          from = 0;
        }
      }
    }
    if (this.#pSep >= 0) {
      const b = this.#pSep;
      this.#pSep = -1;
      this.putByte(b);
    }
  }

  write(s: string): void {
    if (this.#pSrc !== undefined || this.#pSep >= 0) this.flush();
    const max = s.length * 3;
    if (this.#cur === undefined || this.#cur.length - this.#off < max) {
      if (max === 0) return;
      this.seal();
      this.#cur = takeChunk(max);
    }
    this.#off += this.#cur.write(s, this.#off);
  }

  /** Writes a short run of ASCII bytes (framing), without a string. */
  raw(b: Uint8Array): void {
    if (this.#pSrc !== undefined || this.#pSep >= 0) this.flush();
    if (this.#cur === undefined || this.#cur.length - this.#off < b.length) {
      this.seal();
      this.#cur = takeChunk(Math.max(CHUNK, b.length));
    }
    const cur = this.#cur;
    const o = this.#off;
    for (let k = 0; k < b.length; k++) cur[o + k] = b[k] as number;
    this.#off = o + b.length;
  }

  /** Writes a non-negative integer's digits, without a string. */
  int(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) {
      this.write(num(n));
      return;
    }
    if (this.#pSrc !== undefined || this.#pSep >= 0) this.flush();
    const len = digits(n);
    if (this.#cur === undefined || this.#cur.length - this.#off < len) {
      this.seal();
      this.#cur = takeChunk(CHUNK);
    }
    const cur = this.#cur;
    let o = this.#off + len;
    this.#off = o;
    do {
      cur[--o] = 0x30 + (n % 10);
      n = Math.floor(n / 10);
    } while (n > 0);
  }

  /** Writes bytes (copied; `b` may be reused afterwards). */
  writeBytes(b: Uint8Array): void {
    if (this.#pSrc !== undefined || this.#pSep >= 0) this.flush();
    let from = 0;
    while (from < b.length) {
      if (this.#cur === undefined || this.#off === this.#cur.length) {
        this.seal();
        this.#cur = takeChunk(CHUNK);
      }
      const n = Math.min(b.length - from, this.#cur.length - this.#off);
      this.#cur.set(b.subarray(from, from + n), this.#off);
      this.#off += n;
      from += n;
    }
  }

  private seal(): void {
    const cur = this.#cur;
    this.#cur = undefined;
    const used = this.#off;
    this.#off = 0;
    if (cur === undefined || used === 0) return;
    // A mostly empty last chunk is copied so the response does not pin a whole MiB.
    const chunk = used < cur.length / 2 ? Buffer.from(cur.subarray(0, used)) : cur.subarray(0, used);
    this.chunks.push(chunk);
    this.#length += chunk.length;
  }

  /** The finished body (the writer is done). */
  end(): JsonBody {
    this.flush();
    this.seal();
    return new JsonBody(this.chunks, this.#length);
  }
}

function byteAt(src: SourceBody, at: number): number {
  const i = chunkIndex(src.starts, at);
  return (src.chunks[i] as Buffer)[at - (src.starts[i] as number)] ?? -1;
}

/** A workload identity's JSON, graph node id and quoted node id. */
interface IdentityText {
  json: string;
  id: string;
  qid: string;
  /** Its graph node JSON, made on first use. */
  node?: string;
  /** `json` and `qid` as bytes, made on first use (the default shapes copy them, ADR 0039). */
  bytes?: Buffer;
  qbytes?: Buffer;
}

/** Cached per identity object (the store replaces, never mutates, them). */
const identityTextCache = new WeakMap<WorkloadIdentity, IdentityText>();

function identityText(store: MapStore, ref: WorkloadRef): IdentityText {
  const w = store.workload(ref);
  let t = w === undefined ? undefined : identityTextCache.get(w);
  if (t === undefined) {
    const ident = w ?? identity(store, ref);
    const id = nodeId(ident);
    t = { json: JSON.stringify(ident), id, qid: JSON.stringify(id) };
    if (w !== undefined) identityTextCache.set(w, t);
  }
  return t;
}

const identityJson = (store: MapStore, ref: WorkloadRef): string => identityText(store, ref).json;

const num = (n: number): string => (Number.isFinite(n) ? String(n) : 'null');

/** A finished full intents body whose bytes later responses copy (see EdgeRecord.jsonGen). */
export interface SourceBody {
  gen: number;
  body: JsonBody;
  chunks: readonly Buffer[];
  /** Byte offset of each chunk. */
  starts: readonly number[];
}

function chunkIndex(starts: readonly number[], at: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((starts[mid] as number) <= at) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Per store: the last full intents body (only one is kept). */
const sources = new WeakMap<MapStore, SourceBody>();
let nextGen = 1;

/** `JSON.stringify(groupIntent(store, group))`, plain edges written directly. */
function groupIntentJson(store: MapStore, group: readonly EdgeRecord[]): string {
  return isPlain(group) ? plainIntentJson(store, group[0] as EdgeRecord) : JSON.stringify(groupIntent(store, group));
}

/**
 * Writes one group's intent JSON: a single edge unchanged since the last full body is copied from
 * it; otherwise serialised. With `record`, the edge's position in this body is remembered.
 */
function writeGroupIntent(
  w: ChunkWriter,
  store: MapStore,
  group: readonly EdgeRecord[],
  src: SourceBody | undefined,
  record: number | undefined,
  cs?: CompactSource,
): void {
  if (group.length !== 1) {
    w.write(groupIntentJson(store, group));
    return;
  }
  const e = group[0] as EdgeRecord;
  const idv = store.identityVersion;
  const at = w.position;
  if (src !== undefined && e.jsonGen === src.gen && e.jsonRev === e.rev && e.jsonIdv === idv) {
    w.copy(src, e.jsonAt, e.jsonLen);
  } else if (derivable(cs, e)) {
    writeFullFromCompact(w, store, cs, e);
  } else {
    w.write(groupIntentJson(store, group));
  }
  if (record !== undefined) {
    e.jsonRev = e.rev;
    e.jsonIdv = idv;
    e.jsonGen = record;
    e.jsonAt = at;
    e.jsonLen = w.position - at;
  }
}

/** The intent JSON of a plain edge, written directly (same bytes as stringifying groupIntent). */
function plainIntentJson(store: MapStore, e: EdgeRecord): string {
  let s = `{"client":${identityJson(store, e.client)},"ports":[${e.ports.map(num).join(',')}],"http":[],"kafka":[],"firstSeen":${num(e.firstSeen)},"lastSeen":${num(e.lastSeen)},"count":${num(e.count)}`;
  if (e.server) s += `,"server":${identityJson(store, e.server)}`;
  if (e.extDomain !== undefined)
    s += `,"external":${JSON.stringify({ domain: e.extDomain, ips: [...(e.extIps ?? [])].sort() })}`;
  if (e.via) s += `,"viaService":${JSON.stringify({ name: e.via.name, namespace: e.via.namespace })}`;
  return `${s}}`;
}

/** True when the fast paths can serve this filter (no re-keying of intents). */
export const fastFilter = (f: IntentsFilter): boolean => !f.asKubernetesService && !f.server;

/**
 * Which groups a fast-path filter keeps (callers walk `groupedEdges` in output order; a plain loop
 * over the array allocates nothing per group, unlike a generator's iterator results).
 */
function groupFilter(store: MapStore, f: IntentsFilter): (g: readonly EdgeRecord[]) => boolean {
  const ns = f.namespaces && f.namespaces.length > 0 ? new Set(f.namespaces) : undefined;
  const exclude = f.excludeLabels && f.excludeLabels.length > 0 ? f.excludeLabels : undefined;
  const external = f.external === true;
  return (g) => {
    const e = g[0] as EdgeRecord;
    if (e.extDomain !== undefined && !external) return false;
    if (ns && !ns.has(e.client.namespace)) return false;
    return !(
      exclude &&
      (hasLabel(store.workload(e.client), exclude) || (e.server && hasLabel(store.workload(e.server), exclude)))
    );
  };
}

/** The `IntentsResponse` JSON as Buffer chunks; same bytes as `JSON.stringify({ intents: buildIntents(store, f) })`. */
export function intentsJsonChunks(store: MapStore, f: IntentsFilter = {}, copySource = true): JsonBody {
  const w = new ChunkWriter();
  if (!fastFilter(f)) {
    w.write(JSON.stringify({ intents: buildIntents(store, f) }));
    return w.end();
  }
  if (!copySource) {
    // No copy source kept (ADR 0038): drop one left by an earlier call.
    sources.get(store)?.body.release();
    sources.delete(store);
  }
  const src = sources.get(store);
  // Without a source of its own, unchanged plain edges come from the last compact body (ADR 0038).
  const cs = copySource ? undefined : compactSources.get(store);
  // Only a body of the whole map (external or not) becomes the next source.
  const full =
    copySource && !(f.namespaces && f.namespaces.length > 0) && !(f.excludeLabels && f.excludeLabels.length > 0);
  const gen = full ? nextGen++ : undefined;
  w.write('{"intents":[');
  let first = true;
  const keep = groupFilter(store, f);
  for (const g of groupedEdges(store)) {
    if (!keep(g)) continue;
    if (!first) w.sep(COMMA);
    writeGroupIntent(w, store, g, src, gen, cs);
    first = false;
  }
  w.write(']}');
  const out = w.end();
  if (gen !== undefined) {
    out.retain();
    sources.set(store, { gen, body: out, chunks: out.chunks, starts: chunkStarts(out) });
    src?.body.release();
  }
  return out;
}

/** The last full compact body per store, with what its identity indexes depend on. */
interface CompactSource extends SourceBody {
  structure: number;
  external: boolean;
  /** Identity indexes of that body (the same for the next one while `structure` holds). */
  index: Map<WorkloadRef, number>;
  order: WorkloadRef[];
}
const compactSources = new WeakMap<MapStore, CompactSource>();

/** Body of a group's compact intent (everything after `"client":N`). */
function compactIntentJson(store: MapStore, g: readonly EdgeRecord[], ci: number, si: number | undefined): string {
  const e = g[0] as EdgeRecord;
  if (!isPlain(g)) {
    const c = { ...groupIntent(store, g), client: ci } as unknown as CompactIntent;
    if (si !== undefined) c.server = si;
    return JSON.stringify(c);
  }
  return plainCompactIntentJson(e, ci, si);
}

/** Where the indexes sit in the string `plainCompactIntentJson` returned last (all ASCII before them). */
const plainOffsets = { clientEnd: -1, serverAt: -1, serverEnd: -1 };

/** A plain edge's compact intent JSON; sets `plainOffsets`. */
function plainCompactIntentJson(e: EdgeRecord, ci: number, si: number | undefined): string {
  const head = `{"client":${ci}`;
  let s = `${head},"ports":[${e.ports.map(num).join(',')}],"http":[],"kafka":[],"firstSeen":${num(e.firstSeen)},"lastSeen":${num(e.lastSeen)},"count":${num(e.count)}`;
  plainOffsets.clientEnd = head.length;
  plainOffsets.serverAt = -1;
  plainOffsets.serverEnd = -1;
  if (si !== undefined) {
    plainOffsets.serverAt = s.length;
    s += `,"server":${si}`;
    plainOffsets.serverEnd = s.length;
  }
  if (e.extDomain !== undefined)
    s += `,"external":${JSON.stringify({ domain: e.extDomain, ips: [...(e.extIps ?? [])].sort() })}`;
  if (e.via) s += `,"viaService":${JSON.stringify({ name: e.via.name, namespace: e.via.namespace })}`;
  return `${s}}`;
}

/** True when a single plain edge's bytes in the last compact body are current (ADR 0038). */
function derivable(cs: CompactSource | undefined, e: EdgeRecord): cs is CompactSource {
  return cs !== undefined && e.compactGen === cs.gen && e.compactRev === e.rev && e.compactClientEnd >= 0;
}

/** A plain edge's full intent: its compact bytes with the current identity JSON in place of the indexes. */
function writeFullFromCompact(w: ChunkWriter, store: MapStore, cs: CompactSource, e: EdgeRecord): void {
  const at = e.compactAt;
  const len = e.compactLen;
  const mid = e.compactServerAt >= 0 ? e.compactServerAt : len;
  w.write('{"client":');
  w.write(identityJson(store, e.client));
  w.copy(cs, at + e.compactClientEnd, mid - e.compactClientEnd);
  if (e.compactServerAt >= 0 && e.server !== undefined) {
    w.write(',"server":');
    w.write(identityJson(store, e.server));
    w.copy(cs, at + e.compactServerEnd, len - e.compactServerEnd);
  }
}

/** A plain edge's compact graph intent: its compact bytes without `client` and `server`. */
function writeGraphIntentFromCompact(w: ChunkWriter, cs: CompactSource, e: EdgeRecord): number {
  const at = e.compactAt;
  const len = e.compactLen;
  const mid = e.compactServerAt >= 0 ? e.compactServerAt : len;
  w.raw(B_OPEN);
  w.copy(cs, at + e.compactClientEnd + 1, mid - e.compactClientEnd - 1);
  /** Where the server was left out. */
  const ins = w.position;
  if (e.compactServerAt >= 0) w.copy(cs, at + e.compactServerEnd, len - e.compactServerEnd);
  return ins;
}

/**
 * The `CompactIntentsResponse` JSON as Buffer chunks (ADR 0036); same bytes as
 * `JSON.stringify(compactIntents(buildIntents(store, f)))`. Written straight from the edge records:
 * each intent names its client and server by index, and the identities follow once, after the
 * intents. As for the full shape (ADR 0034), a single edge unchanged since the last full-map compact
 * body is copied from it: its bytes hold no identity, only indexes, which stay valid while no edge
 * is added or removed (same `structureVersion`, same `external` choice).
 */
export function compactIntentsJsonChunks(store: MapStore, f: IntentsFilter = {}): JsonBody {
  const w = new ChunkWriter();
  if (!fastFilter(f)) {
    w.write(JSON.stringify(compactIntents(buildIntents(store, f))));
    return w.end();
  }
  const full = !(f.namespaces && f.namespaces.length > 0) && !(f.excludeLabels && f.excludeLabels.length > 0);
  const external = f.external === true;
  const gen = full ? nextGen++ : undefined;
  let src = full ? compactSources.get(store) : undefined;
  if (src !== undefined && (src.structure !== store.structureVersion || src.external !== external)) src = undefined;
  // Workloads by the store's interned ref object (one identity per ref), in order of appearance;
  // with a valid source the order is the source's (same groups in the same order).
  const index = src?.index ?? new Map<WorkloadRef, number>();
  const order = src?.order ?? [];
  const ref = (r: WorkloadRef): number => {
    let i = index.get(r);
    if (i === undefined) {
      i = order.length;
      index.set(r, i);
      order.push(r);
    }
    return i;
  };
  const srcIndex = src?.body.index;
  if (srcIndex?.kind !== 'intents') src = undefined;
  const sT = srcIndex?.kind === 'intents' ? srcIndex.t : undefined;
  // Per intent: where it is and where its indexes are (see IntentsIndex).
  let t = takeTable(IX * Math.max(16, groupedEdges(store).length));
  let n = 0;
  w.write('{"intents":[');
  let first = true;
  const keep = groupFilter(store, f);
  for (const g of groupedEdges(store)) {
    if (!keep(g)) continue;
    const e = g[0] as EdgeRecord;
    if (!first) w.sep(COMMA);
    first = false;
    const at = w.position;
    const k = n * IX;
    if (k + IX > t.length) {
      const bigger = new Int32Array(t.length * 2);
      bigger.set(t);
      t = bigger;
    }
    n++;
    t[k] = at;
    if (src !== undefined && sT !== undefined && g.length === 1 && e.compactGen === src.gen && e.compactRev === e.rev) {
      // Copied: its indexes were assigned when the source was built (no look-ups needed); the
      // same groups in the same order, so its index entry is the source's entry of the same rank.
      w.copy(src, e.compactAt, e.compactLen);
      for (let x = 1; x < IX; x++) t[k + x] = sT[k + x] as number;
    } else {
      const ci = ref(e.client);
      const si = e.server === undefined ? undefined : ref(e.server);
      t[k + IX_CI] = ci;
      t[k + IX_SI] = si ?? -1;
      t[k + IX_CEND] = 10 + digits(ci);
      if (g.length !== 1 || !isPlain(g)) {
        const s = compactIntentJson(store, g, ci, si);
        w.write(s);
        // `,"` never occurs inside a JSON string (the quote is escaped), and no nested object has
        // a `server` key, so this is the top-level key; its byte offset is its character offset
        // when everything before it is ASCII.
        const sAt = si === undefined ? -1 : s.indexOf(',"server":');
        t[k + IX_SAT] = sAt <= 0 ? sAt : asciiPrefix(s, sAt) ? sAt : Buffer.byteLength(s.slice(0, sAt));
        if (g.length === 1 && gen !== undefined) e.compactClientEnd = -1;
      } else {
        w.write(plainCompactIntentJson(e, ci, si));
        t[k + IX_SAT] = plainOffsets.serverAt;
        if (gen !== undefined) {
          e.compactClientEnd = plainOffsets.clientEnd;
          e.compactServerAt = plainOffsets.serverAt;
          e.compactServerEnd = plainOffsets.serverEnd;
        }
      }
    }
    const len = w.position - at;
    t[k + IX_LEN] = len;
    if (gen !== undefined && g.length === 1) {
      e.compactGen = gen;
      e.compactAt = at;
      e.compactRev = e.rev;
      e.compactLen = len;
    }
  }
  w.write('],"workloads":[');
  // Identity JSON is cached per identity; written in batches of 256 (fewer native writes). The
  // index keeps each identity's bytes (cached on the identity object, which is immutable).
  const ids: Buffer[] = [];
  for (let i = 0; i < order.length; i += 256) {
    const part: string[] = [];
    for (let j = i; j < Math.min(order.length, i + 256); j++) {
      const it = identityText(store, order[j] as WorkloadRef);
      it.bytes ??= Buffer.from(it.json);
      ids.push(it.bytes);
      part.push(it.json);
    }
    w.write(i === 0 ? part.join(',') : `,${part.join(',')}`);
  }
  w.write(']}');
  const out = w.end();
  out.index = intentsIndex(fitTable(t, n * IX), n, ids);
  if (gen !== undefined) {
    out.retain();
    const old = compactSources.get(store);
    compactSources.set(store, {
      gen,
      body: out,
      chunks: out.chunks,
      starts: chunkStarts(out),
      structure: store.structureVersion,
      external,
      index,
      order,
    });
    old?.body.release();
  }
  return out;
}

// ---------------------------------------------------------------------------
// Default shapes streamed from the compact bodies (ADR 0039). A compact body records where its
// parts are (`JsonBody.index`); the full intents and graph shapes are then the compact bytes with
// each index replaced by the identity's JSON (and the graph's ids and framing), written chunk by
// chunk into pooled buffers while the socket drains: the default body is never whole in memory,
// and a stream reads only the (immutable, retained) compact body, so a map change during a stream
// cannot mix two versions in one response.

/**
 * Index tables of released compact bodies, reused (they are large and would wait for the GC); two
 * kept, one per kind in the steady state (each is 2.4 MB at 100,000 edges).
 */
const spareTables: Int32Array[] = [];

/** An index table of at least `len` numbers (a spare one when one is large enough, not far larger). */
function takeTable(len: number): Int32Array {
  for (let i = 0; i < spareTables.length; i++) {
    const t = spareTables[i] as Int32Array;
    if (t.length >= len && t.length <= 2 * len + 1024) {
      spareTables.splice(i, 1);
      return t;
    }
  }
  return new Int32Array(len);
}

/** `t` when mostly used, else a copy of its first `len` numbers (and `t` goes back to the spares). */
function fitTable(t: Int32Array, len: number): Int32Array {
  if (len >= t.length / 2) return t;
  const small = t.slice(0, len);
  if (spareTables.length < 2) spareTables.push(t);
  return small;
}

/** Int32 fields per intent of an IntentsIndex. */
const IX = 6;
const IX_LEN = 1;
const IX_CI = 2;
const IX_SI = 3;
const IX_CEND = 4;
const IX_SAT = 5;

/** Where the parts of a compact intents body are. */
export interface IntentsIndex {
  kind: 'intents';
  /** Intents. */
  n: number;
  /**
   * Per intent, `IX` numbers: its byte offset in the body, its length, the client index, the
   * server index (-1: none), the end of `{"client":N` and the start of `,"server":M` (-1: none),
   * both relative to the intent.
   */
  t: Int32Array;
  /** Each identity's JSON (the bytes written in `workloads`), by index. */
  ids: readonly Buffer[];
  /** Bytes of the full (`IntentsResponse`) shape. */
  fullLength: number;
}

/** Int32 fields per edge of a GraphIndex. */
const GX = 6;
const GX_T = 1;
const GX_IAT = 2;
const GX_IEND = 3;
const GX_SINS = 4;
const GX_FLAGS = 5;
const F_L4 = 1;
const F_HTTP = 2;
const F_KAFKA = 4;
const F_CLIENT = 8;
const F_SERVER = 16;

/** Where the parts of a compact graph body are. */
export interface GraphIndex {
  kind: 'graph';
  /** Edges. */
  n: number;
  /** Bytes up to and with `],"edges":[` (the same in both shapes). */
  head: number;
  /**
   * Per edge, `GX` numbers: source and target node, the byte offsets of the first byte inside its
   * intent and of the intent's closing brace, where `,"server":…` goes back (-1: nowhere) and flags
   * (kinds; client / server left out of the compact intent).
   */
  t: Int32Array;
  /** Each node's quoted id and workload JSON (empty for an external node), as written in `nodes`. */
  qids: readonly Buffer[];
  wls: readonly Buffer[];
  fullLength: number;
}

export type CompactIndex = IntentsIndex | GraphIndex;

const digits = (n: number): number => {
  let d = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    d++;
  }
  return d;
};

function asciiPrefix(s: string, end: number): boolean {
  for (let i = 0; i < end; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

function intentsIndex(t: Int32Array, n: number, ids: readonly Buffer[]): IntentsIndex {
  let full = '{"intents":[]}'.length + Math.max(0, n - 1);
  for (let k = 0; k < n * IX; k += IX) full += fullIntentLength(t, k, ids);
  return { kind: 'intents', n, t, ids, fullLength: full };
}

function fullIntentLength(t: Int32Array, k: number, ids: readonly Buffer[]): number {
  const ci = t[k + IX_CI] as number;
  const si = t[k + IX_SI] as number;
  let len = (t[k + IX_LEN] as number) - digits(ci) + (ids[ci] as Buffer).length;
  if (si >= 0) len += (ids[si] as Buffer).length - digits(si);
  return len;
}

const kindsText = [
  '',
  '"l4"',
  '"http"',
  '"l4","http"',
  '"kafka"',
  '"l4","kafka"',
  '"http","kafka"',
  '"l4","http","kafka"',
];
const kindsLen = kindsText.map((x) => x.length);

function graphIndex(
  t: Int32Array,
  n: number,
  head: number,
  qids: readonly Buffer[],
  wls: readonly Buffer[],
): GraphIndex {
  const x: GraphIndex = { kind: 'graph', n, head, t, qids, wls, fullLength: 0 };
  let full = head + 2 + Math.max(0, n - 1);
  for (let k = 0; k < n * GX; k += GX) full += fullEdgeLength(x, k);
  x.fullLength = full;
  return x;
}

function fullEdgeLength(x: GraphIndex, k: number): number {
  const t = x.t;
  const s = t[k] as number;
  const d = t[k + GX_T] as number;
  const flags = t[k + GX_FLAGS] as number;
  const qs = (x.qids[s] as Buffer).length;
  const qt = (x.qids[d] as Buffer).length;
  let len = 6 + qs - 1 + 2 + qt - 1 + 10 + qs + 10 + qt + 10 + (kindsLen[flags & 7] as number) + 12;
  if (flags & F_CLIENT) len += 9 + (x.wls[s] as Buffer).length + 1;
  len += (t[k + GX_IEND] as number) - (t[k + GX_IAT] as number);
  if (flags & F_SERVER) len += 10 + (x.wls[d] as Buffer).length;
  return len + 2;
}

const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');
const B_INTENTS = ascii('{"intents":[');
const B_CLIENT = ascii('{"client":');
const B_SERVER = ascii(',"server":');
const B_END = ascii(']}');
const B_ID = ascii('{"id":');
const B_SOURCE = ascii(',"source":');
const B_TARGET = ascii(',"target":');
const B_KINDS = ascii(',"kinds":[');
const B_INTENT = ascii('],"intent":{');
const B_CLIENT_KEY = ascii('"client":');
const B_CLOSE2 = ascii('}}');
const B_BRACE = ascii('}');
const EMPTY = Buffer.alloc(0);
const B_OPEN = ascii('{');
const B_G_SOURCE0 = ascii('{"source":');
const B_G_SOURCE = ascii(',{"source":');
const B_G_TARGET = ascii(',"target":');
const B_G_INTENT = ascii('],"intent":');

/** An edge group's kinds as F_L4 | F_HTTP | F_KAFKA (as buildGraph decides them). */
function kindFlags(g: readonly EdgeRecord[]): number {
  if (isPlain(g)) return F_L4;
  let hasPorts = false;
  let hasHttp = false;
  let hasKafka = false;
  for (const e of g) {
    if (e.ports.length > 0) hasPorts = true;
    if (e.http !== undefined && e.http.size > 0) hasHttp = true;
    if (e.kafka !== undefined && e.kafka.size > 0) hasKafka = true;
  }
  return (hasPorts || (!hasHttp && !hasKafka) ? F_L4 : 0) | (hasHttp ? F_HTTP : 0) | (hasKafka ? F_KAFKA : 0);
}
const B_KINDS_TEXT = kindsText.map(ascii);

/**
 * Copies body bytes [at, at + len) to `dst` at `d` (a few native copies: one per body chunk).
 * Used for whole batches, not per item.
 */
function stage(
  chunks: readonly Buffer[],
  starts: readonly number[],
  at: number,
  len: number,
  dst: Buffer,
  d: number,
): void {
  let i = chunkIndex(starts, at);
  let from = at - (starts[i] as number);
  while (len > 0) {
    const c = chunks[i] as Buffer;
    const n = Math.min(len, c.length - from);
    dst.set(n === c.length ? c : c.subarray(from, from + n), d);
    d += n;
    len -= n;
    from = 0;
    i++;
  }
}

/**
 * Writes the default shape of a compact body into the chunks it is given. Items (intents, graph
 * edges) are written in batches: the compact bytes of a batch are first copied to the end of the
 * chunk with one native copy, then each item is assembled at the front from them
 * (`copyWithin`, no allocation) and from per-identity views (`set`, no allocation). The output of
 * a batch ends before its staged bytes begin, so nothing is overwritten before it is read.
 */
interface Expander {
  /** True once the whole body has been written. */
  readonly done: boolean;
  /** Writes whole parts into `dst`; returns the bytes written, or minus the size `dst` must have when not even one part fits. */
  fill(dst: Buffer): number;
}

/**
 * The end `k1` of the batch of intents [k, k1) of a compact intents body whose output (`outLen`
 * bytes each, plus separators, after the `d` bytes already written) and staged compact bytes fit
 * side by side in `cap` bytes; minus the size needed when not even intent `k` fits an empty buffer.
 */
function intentBatchEnd(
  t: Int32Array,
  k: number,
  n: number,
  d: number,
  cap: number,
  outLen: (j: number) => number,
): number {
  const at0 = t[k * IX] as number;
  let o = d;
  let k1 = k;
  while (k1 < n) {
    const b = k1 * IX;
    const out = (k1 > 0 ? 1 : 0) + outLen(k1);
    const span = (t[b] as number) + (t[b + IX_LEN] as number) - at0;
    if (o + out + span > cap) {
      if (k1 === k && d === 0) return -(out + span);
      break;
    }
    o += out;
    k1++;
  }
  return k1;
}

class IntentsExpander implements Expander {
  #x: IntentsIndex;
  #chunks: readonly Buffer[];
  #starts: readonly number[];
  /** Each identity's JSON. */
  #ids: readonly Buffer[];
  /** -1: the head; 0..n-1: intents; n: the tail; n+1: done. */
  #k = -1;

  constructor(body: JsonBody, x: IntentsIndex) {
    this.#x = x;
    this.#chunks = body.chunks;
    this.#starts = chunkStarts(body);
    this.#ids = x.ids;
  }

  get done(): boolean {
    return this.#k > this.#x.n;
  }

  fill(dst: Buffer): number {
    const x = this.#x;
    const t = x.t;
    const ids = this.#ids;
    const cap = dst.length;
    let d = 0;
    if (this.#k < 0) {
      if (cap < B_INTENTS.length) return -B_INTENTS.length;
      dst.set(B_INTENTS, 0);
      d = B_INTENTS.length;
      this.#k = 0;
    }
    let k = this.#k;
    while (k < x.n) {
      const at0 = t[k * IX] as number;
      const k1 = intentBatchEnd(t, k, x.n, d, cap, (j) => fullIntentLength(t, j * IX, x.ids));
      if (k1 < 0) return k1;
      if (k1 === k) break;
      const last = (k1 - 1) * IX;
      const span = (t[last] as number) + (t[last + IX_LEN] as number) - at0;
      const base = cap - span - at0;
      stage(this.#chunks, this.#starts, at0, span, dst, cap - span);
      for (let j = k; j < k1; j++) {
        if (j > 0) dst[d++] = COMMA;
        const b = j * IX;
        const at = base + (t[b] as number);
        const len = t[b + IX_LEN] as number;
        const ci = t[b + IX_CI] as number;
        const si = t[b + IX_SI] as number;
        const cEnd = t[b + IX_CEND] as number;
        const sAt = t[b + IX_SAT] as number;
        dst.set(B_CLIENT, d);
        d += 10;
        const cv = ids[ci] as Buffer;
        dst.set(cv, d);
        d += cv.length;
        if (si < 0 || sAt < 0) {
          dst.copyWithin(d, at + cEnd, at + len);
          d += len - cEnd;
          continue;
        }
        dst.copyWithin(d, at + cEnd, at + sAt);
        d += sAt - cEnd;
        dst.set(B_SERVER, d);
        d += 10;
        const sv = ids[si] as Buffer;
        dst.set(sv, d);
        d += sv.length;
        const sEnd = sAt + 10 + digits(si);
        dst.copyWithin(d, at + sEnd, at + len);
        d += len - sEnd;
      }
      k = k1;
    }
    this.#k = k;
    if (k === x.n) {
      if (d + 2 > cap) return d === 0 ? -2 : d;
      dst.set(B_END, d);
      d += 2;
      this.#k = k + 1;
    }
    return d;
  }
}

class GraphExpander implements Expander {
  #x: GraphIndex;
  #chunks: readonly Buffer[];
  #starts: readonly number[];
  /** Each node's quoted id and workload JSON (empty for external nodes). */
  #qids: readonly Buffer[];
  #wls: readonly Buffer[];
  /** -1: the head (nodes); 0..n-1: edges; n: the tail; n+1: done. */
  #k = -1;
  /** Head bytes written. */
  #h = 0;

  constructor(body: JsonBody, x: GraphIndex) {
    this.#x = x;
    this.#chunks = body.chunks;
    this.#starts = chunkStarts(body);
    this.#qids = x.qids;
    this.#wls = x.wls;
  }

  get done(): boolean {
    return this.#k > this.#x.n;
  }

  fill(dst: Buffer): number {
    const x = this.#x;
    const cap = dst.length;
    let d = 0;
    if (this.#k < 0) {
      // The nodes: the same bytes in both shapes.
      const n = Math.min(cap, x.head - this.#h);
      stage(this.#chunks, this.#starts, this.#h, n, dst, 0);
      this.#h += n;
      if (this.#h < x.head) return n;
      d = n;
      this.#k = 0;
    }
    const t = x.t;
    const qids = this.#qids;
    const wls = this.#wls;
    let k = this.#k;
    while (k < x.n) {
      const at0 = t[k * GX + GX_IAT] as number;
      let o = d;
      let k1 = k;
      while (k1 < x.n) {
        const b = k1 * GX;
        const out = (k1 > 0 ? 1 : 0) + fullEdgeLength(x, b);
        const span = (t[b + GX_IEND] as number) - at0;
        if (o + out + span > cap) {
          if (k1 === k && d === 0) return -(out + span);
          break;
        }
        o += out;
        k1++;
      }
      if (k1 === k) break;
      const span = (t[(k1 - 1) * GX + GX_IEND] as number) - at0;
      const base = cap - span - at0;
      stage(this.#chunks, this.#starts, at0, span, dst, cap - span);
      for (let j = k; j < k1; j++) {
        if (j > 0) dst[d++] = COMMA;
        const b = j * GX;
        const s = t[b] as number;
        const tg = t[b + GX_T] as number;
        const flags = t[b + GX_FLAGS] as number;
        d = writeDefaultEdgeHead(dst, d, qids[s] as Buffer, qids[tg] as Buffer, flags);
        dst.set(B_INTENT, d);
        d += 12;
        if (flags & F_CLIENT) {
          dst.set(B_CLIENT_KEY, d);
          d += 9;
          const w = wls[s] as Buffer;
          dst.set(w, d);
          d += w.length;
          dst[d++] = COMMA;
        }
        const iAt = base + (t[b + GX_IAT] as number);
        const iEnd = base + (t[b + GX_IEND] as number);
        if (flags & F_SERVER) {
          const ins = base + (t[b + GX_SINS] as number);
          dst.copyWithin(d, iAt, ins);
          d += ins - iAt;
          dst.set(B_SERVER, d);
          d += 10;
          const w = wls[tg] as Buffer;
          dst.set(w, d);
          d += w.length;
          dst.copyWithin(d, ins, iEnd);
          d += iEnd - ins;
        } else {
          dst.copyWithin(d, iAt, iEnd);
          d += iEnd - iAt;
        }
        dst.set(B_CLOSE2, d);
        d += 2;
      }
      k = k1;
    }
    this.#k = k;
    if (k === x.n) {
      if (d + 2 > cap) return d === 0 ? -2 : d;
      dst.set(B_END, d);
      d += 2;
      this.#k = k + 1;
    }
    return d;
  }
}

/**
 * The default shape of a compact body, produced chunk by chunk (ADR 0039). The stream retains the
 * compact body until `close()`; each chunk handed out by `next()` is a pooled 1 MiB buffer (or a
 * larger one for a single larger part) that the caller gives back with `recycle()` once it is
 * written. `length` is known in advance (the response's Content-Length).
 */
export class DefaultShapeStream {
  readonly length: number;
  #body: JsonBody | undefined;
  #ex: Expander;
  #written = 0;

  /**
   * With `graph`, `body` is a compact intents body and the stream is its graph (ADR 0046): the
   * compact graph, or the default one with `full`.
   */
  constructor(body: JsonBody, graph?: { table: GraphTable; full: boolean }) {
    const x = body.index;
    if (x === undefined) throw new Error('DefaultShapeStream: the body has no compact index');
    if (graph !== undefined) {
      if (x.kind !== 'intents') throw new Error('DefaultShapeStream: a graph is streamed from an intents body');
      this.length = graph.full ? graph.table.fullLength : graph.table.compactLength;
      this.#ex = new GraphFromIntents(body, x, graph.table, graph.full);
    } else {
      this.length = x.fullLength;
      this.#ex = x.kind === 'intents' ? new IntentsExpander(body, x) : new GraphExpander(body, x);
    }
    body.retain();
    this.#body = body;
    defaultShapeStreams.open++;
  }

  /** True when the body can be streamed (a fast-path compact body). */
  static canStream(body: Buffer | JsonBody): body is JsonBody {
    return !Buffer.isBuffer(body) && body.index !== undefined;
  }

  /**
   * The next chunk, or undefined when the body is complete. `size` (tests): chunks of that many
   * bytes, not pooled, instead of pooled 1 MiB ones.
   */
  next(size?: number): Buffer | undefined {
    if (this.#body === undefined) return undefined;
    if (this.#ex.done) {
      if (this.#written !== this.length) {
        throw new Error(`DefaultShapeStream: wrote ${this.#written} bytes, expected ${this.length}`);
      }
      this.close();
      return undefined;
    }
    let chunk = size === undefined ? takeChunk(CHUNK) : Buffer.alloc(size);
    let d = this.#ex.fill(chunk);
    if (d < 0) {
      // One part larger than a chunk: a buffer of its own (not pooled).
      this.recycle(chunk);
      chunk = Buffer.allocUnsafeSlow(-d);
      d = this.#ex.fill(chunk);
    }
    this.#written += d;
    defaultShapeStreams.bytes += d;
    return chunk.subarray(0, d);
  }

  /** Gives a chunk from `next()` back once it has been written (its bytes must not be read again). */
  recycle(chunk: Buffer): void {
    const ab = chunk.buffer;
    if (ab instanceof ArrayBuffer && ab.byteLength === CHUNK && chunk.byteOffset === 0 && pool.length < POOL_MAX) {
      pool.push(ab);
    }
  }

  /** Done (complete or abandoned): releases the compact body. Idempotent. */
  close(): void {
    const b = this.#body;
    if (b === undefined) return;
    this.#body = undefined;
    defaultShapeStreams.open--;
    b.release();
  }
}

/** Default-shape streams not closed yet, and bytes produced by all of them (tests). */
export const defaultShapeStreams = { open: 0, bytes: 0 };

/**
 * The default shape of a compact body in one chunked body (small bodies, cached; tests); with
 * `graph`, the graph of a compact intents body (ADR 0046).
 */
export function expandCompactBody(body: JsonBody, graph?: { table: GraphTable; full: boolean }): JsonBody {
  const s = new DefaultShapeStream(body, graph);
  const w = new ChunkWriter();
  try {
    for (let c = s.next(); c !== undefined; c = s.next()) {
      w.writeBytes(c);
      s.recycle(c);
    }
  } finally {
    s.close();
  }
  return w.end();
}

function chunkStarts(b: JsonBody): number[] {
  const starts: number[] = [];
  let n = 0;
  for (const c of b.chunks) {
    starts.push(n);
    n += c.length;
  }
  return starts;
}

/** The `IntentsResponse` JSON in one Buffer (tests, small maps). */
export function intentsJson(store: MapStore, f: IntentsFilter = {}): Buffer {
  return Buffer.concat([...intentsJsonChunks(store, f).chunks]);
}

/** The intent JSON of a group, `client` and `server` left out unless asked for (compact graph edges, ADR 0038). */
function graphIntentJson(store: MapStore, g: readonly EdgeRecord[], withClient: boolean, withServer: boolean): string {
  if (isPlain(g) && !withClient && !withServer) {
    const e = g[0] as EdgeRecord;
    let s = `{"ports":[${e.ports.map(num).join(',')}],"http":[],"kafka":[],"firstSeen":${num(e.firstSeen)},"lastSeen":${num(e.lastSeen)},"count":${num(e.count)}`;
    if (e.extDomain !== undefined)
      s += `,"external":${JSON.stringify({ domain: e.extDomain, ips: [...(e.extIps ?? [])].sort() })}`;
    if (e.via) s += `,"viaService":${JSON.stringify({ name: e.via.name, namespace: e.via.namespace })}`;
    return `${s}}`;
  }
  const it: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(groupIntent(store, g))) {
    if ((k === 'server' && !withServer) || (k === 'client' && !withClient)) continue;
    it[k] = v;
  }
  return JSON.stringify(it);
}

/**
 * The graph's nodes of the kept groups, first occurrence winning as in buildGraph (unsorted), and
 * the identity each workload node was made from (an intent whose identity differs keeps it).
 */
function graphNodes(
  store: MapStore,
  keep: (g: readonly EdgeRecord[]) => boolean,
): { nodes: Map<string, string>; nodeWorkload: Map<string, IdentityText> } {
  const nodes = new Map<string, string>();
  const nodeWorkload = new Map<string, IdentityText>();
  for (const g of groupedEdges(store)) {
    if (!keep(g)) continue;
    const e = g[0] as EdgeRecord;
    const source = identityText(store, e.client);
    if (!nodes.has(source.id)) {
      source.node ??= `{"id":${source.qid},"workload":${source.json}}`;
      nodes.set(source.id, source.node);
      nodeWorkload.set(source.id, source);
    }
    let target: IdentityText | string;
    if (e.server) {
      target = identityText(store, e.server);
      if (!nodes.has(target.id)) {
        target.node ??= `{"id":${target.qid},"workload":${target.json}}`;
        nodes.set(target.id, target.node);
        nodeWorkload.set(target.id, target);
      }
    } else {
      target = `ext:${e.extDomain ?? '?'}`;
      if (!nodes.has(target)) {
        const ips = new Set<string>();
        for (const x of g) if (x.extIps) for (const ip of x.extIps) ips.add(ip);
        const external = { domain: e.extDomain ?? '?', ips: [...ips].sort() };
        nodes.set(target, `{"id":${JSON.stringify(target)},"external":${JSON.stringify(external)}}`);
      }
    }
  }
  return { nodes, nodeWorkload };
}

/**
 * The `GraphResponse` JSON as Buffer chunks; same bytes as
 * `JSON.stringify(buildGraph(buildIntents(store, f)))`, without the intents or graph object tree.
 * With `compact`, the `CompactGraphResponse` (ADR 0038): same bytes as
 * `JSON.stringify(compactGraph(buildGraph(buildIntents(store, f))))`.
 */
export function graphJsonChunks(store: MapStore, f: IntentsFilter = {}, compact = false): JsonBody {
  const w = new ChunkWriter();
  if (!fastFilter(f)) {
    const g = buildGraph(buildIntents(store, f));
    w.write(JSON.stringify(compact ? compactGraph(g) : g));
    return w.end();
  }
  const body = compact ? undefined : sources.get(store);
  const cs = compactSources.get(store);
  // No per-edge arrays are kept between the passes (they would outlive a scavenge and grow the old
  // generation on every large build): pass 2 walks the same cached groups again.
  const keep = groupFilter(store, f);
  const { nodes, nodeWorkload } = graphNodes(store, keep);
  const ids = [...nodes.keys()].sort(cmp);
  const position = new Map<string, number>();
  w.write('{"nodes":[');
  // Compact: each node's quoted id and workload JSON as bytes, for the default shape (ADR 0039);
  // cached on the (immutable) identity object, so not rebuilt per version.
  const qids: Buffer[] | undefined = compact ? [] : undefined;
  const wls: Buffer[] | undefined = compact ? [] : undefined;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i] as string;
    const n = nodes.get(id) as string;
    if (compact) position.set(id, i);
    if (i > 0) w.write(',');
    if (qids !== undefined && wls !== undefined) {
      const it = nodeWorkload.get(id);
      if (it !== undefined) {
        it.qbytes ??= Buffer.from(it.qid);
        it.bytes ??= Buffer.from(it.json);
        qids.push(it.qbytes);
        wls.push(it.bytes);
      } else {
        qids.push(Buffer.from(JSON.stringify(id)));
        wls.push(EMPTY);
      }
    }
    w.write(n);
  }
  nodes.clear();
  w.write('],"edges":[');
  // Compact: where each edge's parts are, so the default shape can be streamed from it (ADR 0039).
  const head = w.position;
  let t = compact ? takeTable(GX * Math.max(16, groupedEdges(store).length)) : undefined;
  let n = 0;
  // Pass 2: edges with their intent.
  let i = -1;
  for (const g of groupedEdges(store)) {
    if (!keep(g)) continue;
    i++;
    const first = g[0] as EdgeRecord;
    const src = identityText(store, first.client);
    const tgt: IdentityText | string = first.server
      ? identityText(store, first.server)
      : `ext:${first.extDomain ?? '?'}`;
    let kinds = '"l4"';
    if (!isPlain(g)) {
      let hasPorts = false;
      let hasHttp = false;
      let hasKafka = false;
      for (const e of g) {
        if (e.ports.length > 0) hasPorts = true;
        if (e.http !== undefined && e.http.size > 0) hasHttp = true;
        if (e.kafka !== undefined && e.kafka.size > 0) hasKafka = true;
      }
      const k: string[] = [];
      if (hasPorts || (!hasHttp && !hasKafka)) k.push('"l4"');
      if (hasHttp) k.push('"http"');
      if (hasKafka) k.push('"kafka"');
      kinds = k.join(',');
    }
    if (t !== undefined) {
      const tid = typeof tgt === 'string' ? tgt : tgt.id;
      const si = position.get(src.id) as number;
      const ti = position.get(tid) as number;
      // The node of an id holds the identity first seen with that id; an intent naming another
      // identity with the same id (not produced by the store, checked anyway) keeps its own.
      const withClient = nodeWorkload.get(src.id)?.json !== src.json;
      const kf = kindFlags(g);
      // `{"source":S,"target":T,"kinds":[…],"intent":` written as bytes (no string per edge).
      w.raw(i === 0 ? B_G_SOURCE0 : B_G_SOURCE);
      w.int(si);
      w.raw(B_G_TARGET);
      w.int(ti);
      w.raw(B_KINDS);
      w.raw(B_KINDS_TEXT[kf] as Buffer);
      w.raw(B_G_INTENT);
      const withServer = typeof tgt !== 'string' && nodeWorkload.get(tgt.id)?.json !== tgt.json;
      const serverLeftOut = typeof tgt !== 'string' && !withServer;
      const e = g[0] as EdgeRecord;
      const at = w.position;
      let ins = -1;
      if (g.length === 1 && !withClient && !withServer && derivable(cs, e)) ins = writeGraphIntentFromCompact(w, cs, e);
      else {
        const j = graphIntentJson(store, g, withClient, withServer);
        w.write(j);
        if (serverLeftOut) {
          // The full intent has `server` after `count` and before `viaService` (and `external`,
          // which an intent with a server has not). `,"` never occurs inside a JSON string.
          const v = j.lastIndexOf(',"viaService":');
          const c = v >= 0 ? v : j.length - 1;
          ins = at + (asciiPrefix(j, c) ? c : Buffer.byteLength(j.slice(0, c)));
        }
      }
      const k = n * GX;
      if (k + GX > t.length) {
        const bigger = new Int32Array(t.length * 2);
        bigger.set(t);
        t = bigger;
      }
      n++;
      t[k] = si;
      t[k + GX_T] = ti;
      t[k + GX_IAT] = at + 1;
      t[k + GX_IEND] = w.position - 1;
      t[k + GX_SINS] = serverLeftOut ? ins : -1;
      t[k + GX_FLAGS] = kf | (withClient ? 0 : F_CLIENT) | (serverLeftOut ? F_SERVER : 0);
      w.raw(B_BRACE);
      continue;
    }
    const tq = typeof tgt === 'string' ? JSON.stringify(tgt) : tgt.qid;
    // JSON.stringify(`${a}->${b}`) is the two quoted ids joined (node ids hold no lone surrogates).
    const id = `${src.qid.slice(0, -1)}->${tq.slice(1)}`;
    w.write(`${i === 0 ? '{' : ',{'}"id":${id},"source":${src.qid},"target":${tq},"kinds":[${kinds}],"intent":`);
    writeGroupIntent(w, store, g, body, undefined, cs);
    w.write('}');
  }
  w.write(']}');
  const out = w.end();
  if (t !== undefined && qids !== undefined && wls !== undefined) {
    out.index = graphIndex(fitTable(t, n * GX), n, head, qids, wls);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Both graph shapes streamed from the compact intents body (ADR 0046). Graph edge k is intent k
// of the compact intents body of the same filter: its intent is those bytes with the identity
// indexes left out (compact graph) or replaced by the identities' JSON (default graph). What the
// intents body does not hold — node list, node of each edge end, kinds, which identities a node
// already holds — is a `GraphTable` (≈ 1.2 MB per 100,000 edges plus the node list) computed from
// the store at the body's version, instead of a second 16 MB body repeating every intent.

/** Int32 fields per edge of a GraphTable: source node, target node, flags (kinds, F_CLIENT, F_SERVER). */
const TX = 3;

/** The graph of a compact intents body: everything but the intents. */
export interface GraphTable {
  /** Edges (= intents of the body). */
  n: number;
  /** `{"nodes":[…],"edges":[` (the same bytes in both shapes). */
  head: Buffer;
  t: Int32Array;
  /** Each node's quoted id. */
  qids: readonly Buffer[];
  /** Bytes of the compact graph and of the default graph. */
  compactLength: number;
  fullLength: number;
}

/** Bytes of edge `k`'s compact-graph intent (the compact intent without the identities its nodes hold). */
function graphIntentLength(x: IntentsIndex, g: GraphTable, k: number): number {
  const t = x.t;
  const b = k * IX;
  const flags = g.t[k * TX + 2] as number;
  const len = t[b + IX_LEN] as number;
  const ci = t[b + IX_CI] as number;
  const si = t[b + IX_SI] as number;
  const cEnd = t[b + IX_CEND] as number;
  const sAt = t[b + IX_SAT] as number;
  // `{"client":N` → `{` (left out, with its comma) or `{"client":<json>`.
  let out = flags & F_CLIENT ? len - cEnd : len + (x.ids[ci] as Buffer).length - digits(ci);
  if (si >= 0 && sAt >= 0) {
    // `,"server":M` → nothing (left out) or `,"server":<json>`.
    out += flags & F_SERVER ? -(10 + digits(si)) : (x.ids[si] as Buffer).length - digits(si);
  }
  return out;
}

function compactEdgeLength(x: IntentsIndex, g: GraphTable, k: number): number {
  const s = g.t[k * TX] as number;
  const d = g.t[k * TX + 1] as number;
  const flags = g.t[k * TX + 2] as number;
  // {"source":S,"target":T,"kinds":[…],"intent":…}
  return 10 + digits(s) + 10 + digits(d) + 10 + (kindsLen[flags & 7] as number) + 11 + graphIntentLength(x, g, k) + 1;
}

function defaultEdgeLength(x: IntentsIndex, g: GraphTable, k: number): number {
  const qs = (g.qids[g.t[k * TX] as number] as Buffer).length;
  const qt = (g.qids[g.t[k * TX + 1] as number] as Buffer).length;
  const flags = g.t[k * TX + 2] as number;
  // {"id":"s->t","source":"s","target":"t","kinds":[…],"intent":<full intent>}
  return (
    6 +
    qs -
    1 +
    2 +
    qt -
    1 +
    10 +
    qs +
    10 +
    qt +
    10 +
    (kindsLen[flags & 7] as number) +
    11 +
    fullIntentLength(x.t, k * IX, x.ids) +
    1
  );
}

/**
 * The graph table of `body` (a fast-path compact intents body of filter `f`), computed from the
 * store, which must be at the version the body was built at (the query cache holds one version).
 */
export function graphTable(store: MapStore, f: IntentsFilter, body: JsonBody): GraphTable {
  const x = body.index;
  if (x === undefined || x.kind !== 'intents') throw new Error('graphTable: not a compact intents body');
  const keep = groupFilter(store, f);
  const { nodes, nodeWorkload } = graphNodes(store, keep);
  const ids = [...nodes.keys()].sort(cmp);
  const position = new Map<string, number>();
  const qids: Buffer[] = [];
  const head: string[] = ['{"nodes":['];
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i] as string;
    position.set(id, i);
    const it = nodeWorkload.get(id);
    if (it !== undefined) {
      it.qbytes ??= Buffer.from(it.qid);
      qids.push(it.qbytes);
    } else qids.push(Buffer.from(JSON.stringify(id)));
    head.push(i > 0 ? `,${nodes.get(id)}` : (nodes.get(id) as string));
  }
  head.push('],"edges":[');
  nodes.clear();
  const t = new Int32Array(TX * x.n);
  let n = 0;
  for (const g of groupedEdges(store)) {
    if (!keep(g)) continue;
    if (n >= x.n) throw new Error('graphTable: the store has more intents than the body');
    const first = g[0] as EdgeRecord;
    const src = identityText(store, first.client);
    const tgt: IdentityText | undefined = first.server ? identityText(store, first.server) : undefined;
    const tid = tgt === undefined ? `ext:${first.extDomain ?? '?'}` : tgt.id;
    const clientLeftOut = nodeWorkload.get(src.id)?.json === src.json;
    const serverLeftOut = tgt !== undefined && nodeWorkload.get(tgt.id)?.json === tgt.json;
    t[n * TX] = position.get(src.id) as number;
    t[n * TX + 1] = position.get(tid) as number;
    t[n * TX + 2] = kindFlags(g) | (clientLeftOut ? F_CLIENT : 0) | (serverLeftOut ? F_SERVER : 0);
    n++;
  }
  if (n !== x.n) throw new Error(`graphTable: the store has ${n} intents, the body ${x.n}`);
  const g: GraphTable = { n, head: Buffer.from(head.join('')), t, qids, compactLength: 0, fullLength: 0 };
  let compactLength = g.head.length + 2 + Math.max(0, n - 1);
  let fullLength = compactLength;
  for (let k = 0; k < n; k++) {
    compactLength += compactEdgeLength(x, g, k);
    fullLength += defaultEdgeLength(x, g, k);
  }
  g.compactLength = compactLength;
  g.fullLength = fullLength;
  return g;
}

const B_G_INTENT_OPEN = ascii('],"intent":');

/** Writes a graph shape (compact or default) from a compact intents body and its graph table. */
class GraphFromIntents implements Expander {
  #x: IntentsIndex;
  #g: GraphTable;
  #full: boolean;
  #chunks: readonly Buffer[];
  #starts: readonly number[];
  /** -1: the head (nodes); 0..n-1: edges; n: the tail; n+1: done. */
  #k = -1;
  /** Head bytes written. */
  #h = 0;

  constructor(body: JsonBody, x: IntentsIndex, g: GraphTable, full: boolean) {
    this.#x = x;
    this.#g = g;
    this.#full = full;
    this.#chunks = body.chunks;
    this.#starts = chunkStarts(body);
  }

  get done(): boolean {
    return this.#k > this.#g.n;
  }

  fill(dst: Buffer): number {
    const x = this.#x;
    const g = this.#g;
    const cap = dst.length;
    let d = 0;
    if (this.#k < 0) {
      const n = Math.min(cap, g.head.length - this.#h);
      dst.set(n === g.head.length ? g.head : g.head.subarray(this.#h, this.#h + n), 0);
      this.#h += n;
      if (this.#h < g.head.length) return n;
      d = n;
      this.#k = 0;
    }
    const t = x.t;
    const gt = g.t;
    const ids = x.ids;
    const qids = g.qids;
    const full = this.#full;
    let k = this.#k;
    while (k < g.n) {
      const at0 = t[k * IX] as number;
      const k1 = intentBatchEnd(t, k, g.n, d, cap, (j) =>
        full ? defaultEdgeLength(x, g, j) : compactEdgeLength(x, g, j),
      );
      if (k1 < 0) return k1;
      if (k1 === k) break;
      const last = (k1 - 1) * IX;
      const span = (t[last] as number) + (t[last + IX_LEN] as number) - at0;
      const base = cap - span - at0;
      stage(this.#chunks, this.#starts, at0, span, dst, cap - span);
      for (let j = k; j < k1; j++) {
        if (j > 0) dst[d++] = COMMA;
        const s = gt[j * TX] as number;
        const tg = gt[j * TX + 1] as number;
        const flags = gt[j * TX + 2] as number;
        if (full) d = writeDefaultEdgeHead(dst, d, qids[s] as Buffer, qids[tg] as Buffer, flags);
        else {
          dst.set(B_G_SOURCE0, d);
          d += 10;
          d = writeInt(dst, d, s);
          dst.set(B_G_TARGET, d);
          d += 10;
          d = writeInt(dst, d, tg);
          d = writeKinds(dst, d, flags);
        }
        dst.set(B_G_INTENT_OPEN, d);
        d += 11;
        const b = j * IX;
        const at = base + (t[b] as number);
        const len = t[b + IX_LEN] as number;
        const ci = t[b + IX_CI] as number;
        const si = t[b + IX_SI] as number;
        const cEnd = t[b + IX_CEND] as number;
        const sAt = t[b + IX_SAT] as number;
        // The client: `{` (left out: the comma after it goes too) or `{"client":<json>`.
        let from: number;
        if (!full && flags & F_CLIENT) {
          dst[d++] = 0x7b;
          from = cEnd + 1;
        } else {
          dst.set(B_CLIENT, d);
          d += 10;
          const cv = ids[ci] as Buffer;
          dst.set(cv, d);
          d += cv.length;
          from = cEnd;
        }
        if (si >= 0 && sAt >= 0) {
          dst.copyWithin(d, at + from, at + sAt);
          d += sAt - from;
          if (full || !(flags & F_SERVER)) {
            dst.set(B_SERVER, d);
            d += 10;
            const sv = ids[si] as Buffer;
            dst.set(sv, d);
            d += sv.length;
          }
          from = sAt + 10 + digits(si);
        }
        dst.copyWithin(d, at + from, at + len);
        d += len - from;
        dst[d++] = 0x7d;
      }
      k = k1;
    }
    this.#k = k;
    if (k === g.n) {
      if (d + 2 > cap) return d === 0 ? -2 : d;
      dst.set(B_END, d);
      d += 2;
      this.#k = k + 1;
    }
    return d;
  }
}

/** `,"kinds":[…` of an edge's flags at `d`; returns the end. */
function writeKinds(dst: Buffer, d: number, flags: number): number {
  dst.set(B_KINDS, d);
  d += 10;
  const kinds = B_KINDS_TEXT[flags & 7] as Buffer;
  dst.set(kinds, d);
  return d + kinds.length;
}

/**
 * A default-shape graph edge up to its kinds, `{"id":"s->t","source":"s","target":"t","kinds":[…`,
 * from the nodes' quoted ids (the quotes between the two ids in `id` replaced); returns the end.
 */
function writeDefaultEdgeHead(dst: Buffer, d: number, qs: Buffer, qt: Buffer, flags: number): number {
  dst.set(B_ID, d);
  d += 6;
  dst.set(qs, d);
  d += qs.length - 1;
  dst[d++] = 0x2d;
  const gt = d;
  dst.set(qt, d);
  dst[gt] = 0x3e;
  d += qt.length;
  dst.set(B_SOURCE, d);
  d += 10;
  dst.set(qs, d);
  d += qs.length;
  dst.set(B_TARGET, d);
  d += 10;
  dst.set(qt, d);
  d += qt.length;
  return writeKinds(dst, d, flags);
}

/** Writes the decimal digits of `n` (≥ 0) at `d`; returns the end. */
function writeInt(dst: Buffer, d: number, n: number): number {
  const len = digits(n);
  for (let i = d + len - 1; i >= d; i--) {
    dst[i] = 0x30 + (n % 10);
    n = Math.floor(n / 10);
  }
  return d + len;
}
