/**
 * The ingest hot-path shortcuts of issue #3, second round, against the code they replaced:
 * - validation builds a field path only when a value is rejected and builds `tcp` observations
 *   directly: the previous generic implementation (copied below as the oracle) must give the same
 *   value (same keys in the same order) or the same ContractError (path and message) for random
 *   good and bad input;
 * - edge keys of resolved calls are looked up by identity object (`pairKey`) instead of being
 *   built per observation: always equal to `edgeKey`, also past the per-client bound;
 * - the pipeline with the key cache builds the same map and the same database as with
 *   `keyCache: false` (the previous path) from random batch sequences.
 */
import path from 'node:path';
import test from 'ava';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import {
  ContractError,
  isIp,
  type Observation,
  parseObservation,
  parseReportBatch,
  REPORTER_COMPONENTS,
  TCP_SOURCES,
  type WorkloadIdentity,
  type WorkloadRef,
} from '../../../mapper/contract/index.ts';
import { createIngestPipeline } from '../../../mapper/ingest/index.ts';
import { pairKey } from '../../../mapper/ingest/pipeline.ts';
import { buildIntents, edgeKey, openMapStore } from '../../../mapper/store/index.ts';
import { StaticResolver } from '../../helpers/static-resolver.ts';
import { arbTcp, T0, tempDir } from './fixtures.ts';

// ---- the previous validation code (tcp observations and the batch envelope), verbatim in behaviour

type Obj = Record<string, unknown>;
const typeName = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
function oObj(v: unknown, p: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new ContractError(p, `expected an object, got ${typeName(v)}`);
  }
  return v as Obj;
}
function oStr(o: Obj, key: string, path: string, opts: { optional?: boolean; min?: number } = {}): string | undefined {
  const v = o[key];
  const p = `${path}.${key}`;
  if (v === undefined && opts.optional) return undefined;
  if (typeof v !== 'string') throw new ContractError(p, `expected a string, got ${typeName(v)}`);
  if (v.length < (opts.min ?? 1)) throw new ContractError(p, 'must not be empty');
  if (v.length > 2048) throw new ContractError(p, 'longer than 2048 characters');
  return v;
}
const oReqStr = (o: Obj, key: string, path: string): string => oStr(o, key, path) as string;
function oInt(o: Obj, key: string, path: string, min: number, max: number, optional = false): number | undefined {
  const v = o[key];
  const p = `${path}.${key}`;
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v))
    throw new ContractError(p, `expected an integer, got ${typeName(v)}`);
  if (v < min || v > max) throw new ContractError(p, `must be between ${min} and ${max}, got ${v}`);
  return v;
}
function oOneOf(o: Obj, key: string, path: string, allowed: readonly string[], optional = false): string | undefined {
  const v = o[key];
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string' || !allowed.includes(v)) {
    throw new ContractError(`${path}.${key}`, `must be one of ${allowed.join(', ')}; got ${JSON.stringify(v)}`);
  }
  return v;
}
function oIp(o: Obj, key: string, path: string): string {
  const v = oReqStr(o, key, path);
  if (!isIp(v)) throw new ContractError(`${path}.${key}`, `not an IP address: ${JSON.stringify(v)}`);
  return v;
}
function oWithOptional<T extends object>(base: T, extra: Record<string, unknown>): T {
  for (const k in extra) {
    const v = extra[k];
    if (v !== undefined) (base as Record<string, unknown>)[k] = v;
  }
  return base;
}
const MIN_TIME = 946_684_800_000;
const MAX_TIME = 7_258_118_400_000;
function oldTcp(v: unknown, path: string): unknown {
  const o = oObj(v, path);
  if (o['kind'] !== 'tcp') throw new Error('oracle covers tcp only');
  return oWithOptional(
    {
      kind: 'tcp',
      clientIp: oIp(o, 'clientIp', path),
      serverIp: oIp(o, 'serverIp', path),
      serverPort: oInt(o, 'serverPort', path, 1, 65535) as number,
      source: oOneOf(o, 'source', path, TCP_SOURCES),
      time: oInt(o, 'time', path, MIN_TIME, MAX_TIME) as number,
    },
    { count: oInt(o, 'count', path, 1, Number.MAX_SAFE_INTEGER, true) },
  );
}

/** Outcome of a validation call as one comparable value (key order included). */
function outcome(f: () => unknown): unknown {
  try {
    const v = f();
    return { ok: JSON.stringify(v), keys: Object.keys(v as object) };
  } catch (e) {
    if (!(e instanceof ContractError)) throw e;
    return { path: e.path, message: e.message };
  }
}

const anyValue = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.constantFrom('', 'x', '10.0.0.1', 'fd00::1', '999.1.1.1', 'capture', 'tcp', 'a'.repeat(2049)),
  fc.integer({ min: -5, max: 70_000 }),
  fc.constantFrom(0, 1, 80, 65535, 65536, 1.5, T0, MIN_TIME - 1, MAX_TIME + 1, Number.NaN),
  fc.constant([]),
  fc.constant({}),
);
const goodTcp = fc.record({
  kind: fc.constant('tcp'),
  clientIp: fc.constantFrom('10.0.0.1', '192.168.1.20', 'fd00::5'),
  serverIp: fc.constantFrom('10.0.0.2', '::ffff:10.0.0.3'),
  serverPort: fc.integer({ min: 1, max: 65535 }),
  source: fc.constantFrom('capture', 'socket-scan', 'other'),
  time: fc.integer({ min: T0, max: T0 + 1000 }),
  count: fc.option(fc.integer({ min: 1, max: 9 }), { nil: undefined }),
  extra: fc.option(fc.string(), { nil: undefined }),
});
/** A good observation with up to two fields replaced by arbitrary values (or removed). */
const mutatedTcp = fc
  .tuple(
    goodTcp,
    fc.array(fc.tuple(fc.constantFrom('clientIp', 'serverIp', 'serverPort', 'source', 'time', 'count'), anyValue), {
      maxLength: 2,
    }),
  )
  .map(([o, muts]) => {
    const out: Record<string, unknown> = { ...o };
    for (const [k, v] of muts) out[k] = v;
    return out;
  });

test('tcp validation gives the same value or the same error as the previous generic code', (t) => {
  for (const source of TCP_SOURCES) {
    const o = { kind: 'tcp', clientIp: '10.0.0.1', serverIp: '10.0.0.2', serverPort: 1, source, time: T0 };
    t.deepEqual(
      outcome(() => parseObservation(o, '$')),
      outcome(() => oldTcp(o, '$')),
    );
  }
  fc.assert(
    fc.property(mutatedTcp, (o) => {
      t.deepEqual(
        outcome(() => parseObservation(o, '$')),
        outcome(() => oldTcp(o, '$')),
      );
    }),
    { numRuns: 3000 },
  );
});

test('batch validation: same batch or same error (envelope and tcp observations) as the previous code', (t) => {
  const oldBatch = (v: unknown): unknown => {
    const o = oObj(v, 'batch');
    const batchId = oReqStr(o, 'batchId', 'batch');
    if (!/^[A-Za-z0-9._:-]{1,128}$/.test(batchId))
      throw new ContractError('batch.batchId', 'must match [A-Za-z0-9._:-]{1,128}');
    const obs = o['observations'] as unknown[];
    const r = oObj(o['reporter'], 'batch.reporter');
    return {
      batchId,
      reporter: oWithOptional(
        {
          component: oOneOf(r, 'component', 'batch.reporter', REPORTER_COMPONENTS),
          instance: oReqStr(r, 'instance', 'batch.reporter'),
        },
        { version: oStr(r, 'version', 'batch.reporter', { optional: true }) },
      ),
      sentAt: oInt(o, 'sentAt', 'batch', MIN_TIME, MAX_TIME) as number,
      observations: obs.map((x, i) => {
        try {
          return oldTcp(x, '$');
        } catch (e) {
          if (!(e instanceof ContractError)) throw e;
          throw new ContractError(`batch.observations[${i}]${e.path.slice(1)}`, e.message.slice(e.path.length + 2));
        }
      }),
    };
  };
  const envelope = fc.record({
    batchId: fc.oneof(fc.constantFrom('b-1', 'x:y.z', ''), anyValue),
    reporter: fc.oneof(
      fc.record({
        component: fc.oneof(fc.constantFrom('sniffer', 'demo', 'cli'), anyValue),
        instance: fc.oneof(fc.constant('node-a'), anyValue),
        version: fc.oneof(fc.constant(undefined), fc.constant('1.0'), anyValue),
      }),
      anyValue,
    ),
    sentAt: fc.oneof(fc.constant(T0), anyValue),
    observations: fc.array(fc.oneof(goodTcp, mutatedTcp), { maxLength: 4 }),
  });
  fc.assert(
    fc.property(envelope, (b) => {
      t.deepEqual(
        outcome(() => parseReportBatch(b)),
        outcome(() => oldBatch(b)),
      );
    }),
    { numRuns: 2000 },
  );
});

// ---- edge keys by identity object

test('pairKey always equals edgeKey, with and without a Service, past the per-client bound too', (t) => {
  const ids: WorkloadIdentity[] = Array.from({ length: 12 }, (_, i) => ({
    name: `w-${i % 5}`,
    namespace: `ns-${i % 3}`,
    kind: i % 2 === 0 ? 'Deployment' : 'Unknown',
  }));
  const vias: Array<WorkloadRef | undefined> = [
    undefined,
    { name: 'svc', namespace: 'ns-0' },
    { name: 's', namespace: 'x' },
  ];
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(11), fc.nat(11), fc.nat(2)), { minLength: 1, maxLength: 200 }), (calls) => {
      for (const [c, s, v] of calls) {
        const client = ids[c] as WorkloadIdentity;
        const server = ids[s] as WorkloadIdentity;
        const via = vias[v];
        t.is(pairKey(client, server, via), edgeKey(client, server, via));
      }
    }),
  );
  // One client calling more servers than a client's map holds (4096): cleared, still right.
  const client: WorkloadIdentity = { name: 'c', namespace: 'n', kind: 'Deployment' };
  const servers = Array.from({ length: 5000 }, (_, i) => ({ name: `s${i}`, namespace: 'n', kind: 'Deployment' }));
  for (let round = 0; round < 2; round++) {
    for (const s of servers) {
      if (pairKey(client, s, undefined) !== edgeKey(client, s)) t.fail(`wrong key for ${s.name}`);
    }
  }
  t.pass();
});

// ---- the pipeline with and without the key cache

const WL = Array.from(
  { length: 6 },
  (_, i): WorkloadIdentity => ({
    name: `w-${i % 4}`,
    namespace: `ns-${i % 2}`,
    kind: 'Deployment',
    labels: { app: `w-${i}` },
  }),
);
function resolver(): StaticResolver {
  const ips: Record<string, { workload: WorkloadIdentity; service?: WorkloadRef }> = {};
  for (let i = 0; i < WL.length; i++) {
    ips[`10.0.0.${i}`] = { workload: WL[i] as WorkloadIdentity };
    ips[`10.96.0.${i}`] = { workload: WL[i] as WorkloadIdentity, service: { name: `svc-${i}`, namespace: 'ns-0' } };
  }
  const workloads: Record<string, WorkloadIdentity> = {};
  for (const w of WL) workloads[`${w.namespace}/${w.name}`] = w;
  return new StaticResolver({ ips, workloads });
}

const arbObs: fc.Arbitrary<Observation> = fc.oneof(
  // s = 6: an unknown server IP (unresolved)
  arbTcp({ clients: 6, servers: 6, ports: 4 }),
  fc.record({ c: fc.nat(5), s: fc.nat(5), port: fc.integer({ min: 1, max: 4 }), t: fc.nat(1000) }).map(
    ({ c, s, port, t }): Observation => ({
      kind: 'workload-tcp',
      client: { name: (WL[c] as WorkloadIdentity).name, namespace: (WL[c] as WorkloadIdentity).namespace },
      server: { name: (WL[s] as WorkloadIdentity).name, namespace: (WL[s] as WorkloadIdentity).namespace },
      port,
      count: 1,
      time: T0 + t,
    }),
  ),
  fc.record({ c: fc.nat(5), s: fc.nat(5), path: fc.constantFrom('/a', '/b'), t: fc.nat(1000) }).map(
    ({ c, s, path, t }): Observation => ({
      kind: 'http',
      client: { name: (WL[c] as WorkloadIdentity).name, namespace: (WL[c] as WorkloadIdentity).namespace },
      server: { name: (WL[s] as WorkloadIdentity).name, namespace: (WL[s] as WorkloadIdentity).namespace },
      serverService: `svc-${s}`,
      method: 'GET',
      path,
      count: 2,
      time: T0 + t,
    }),
  ),
);

function dump(file: string): string {
  const db = new Database(file, { readonly: true });
  try {
    const out: Record<string, unknown> = {};
    for (const table of ['edges', 'edge_stats', 'edge_http', 'workloads', 'batches']) {
      out[table] = db.prepare(`SELECT * FROM ${table} ORDER BY 1, 2, 3`).all();
    }
    return JSON.stringify(out, (k, v) => (k === 'accepted_at' || k === 'seq' ? undefined : v));
  } finally {
    db.close();
  }
}

test('pipeline: the key cache builds the same map and database as the previous path (random batches)', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(arbObs, { minLength: 1, maxLength: 30 }), { minLength: 1, maxLength: 6 }),
      async (batches) => {
        const dir = tempDir();
        const out: string[] = [];
        for (const keyCache of [true, false]) {
          const file = path.join(dir, `${keyCache}.db`);
          const store = openMapStore({ path: file, writer: 'thread' });
          const pipe = createIngestPipeline({ resolver: resolver(), store, clock: () => T0, keyCache });
          // two at a time: batches share groups and groups are planned while others commit
          for (let i = 0; i < batches.length; i += 2) {
            await Promise.all(
              batches.slice(i, i + 2).map((observations, j) =>
                pipe.ingest({
                  batchId: `b-${i + j}`,
                  reporter: { component: 'sniffer', instance: 't' },
                  sentAt: T0,
                  observations,
                }),
              ),
            );
          }
          const map = JSON.stringify({ intents: buildIntents(store), stats: pipe.stats() });
          store.close();
          out.push(`${map}\n${dump(file)}`);
        }
        t.is(out[0], out[1]);
      },
    ),
    { numRuns: 40 },
  );
});
