/**
 * Runtime validation for the wire contract. Pure, dependency-free, and precise: every rejection
 * is a ContractError whose path names the offending field (`observations[3].serverPort`).
 */
import { ContractError } from './errors.ts';
import {
  ISTIO_REPORTERS,
  KAFKA_OPERATIONS,
  KAFKA_PATTERN_TYPES,
  KAFKA_RESOURCE_TYPES,
  type Observation,
  REPORTER_COMPONENTS,
  type ReportBatch,
  type ReporterIdentity,
  TCP_SOURCES,
  type WorkloadRef,
} from './wire.ts';

/** Upper bounds that keep one batch from exhausting the mapper. */
export const LIMITS = {
  observationsPerBatch: 50_000,
  stringLength: 2048,
  ipsPerAnswer: 256,
} as const;

type Obj = Record<string, unknown>;

const typeName = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

function obj(v: unknown, path: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new ContractError(path, `expected an object, got ${typeName(v)}`);
  }
  return v as Obj;
}

// The field path (`${path}.${key}`) is built only when a value is rejected: these run several
// times per observation on the ingest hot path.

const OPTIONAL = { optional: true } as const;

function str(o: Obj, key: string, path: string, opts?: { optional?: boolean; min?: number }): string | undefined {
  const v = o[key];
  if (v === undefined && opts?.optional) return undefined;
  if (typeof v !== 'string') throw new ContractError(`${path}.${key}`, `expected a string, got ${typeName(v)}`);
  if (v.length < (opts?.min ?? 1)) throw new ContractError(`${path}.${key}`, 'must not be empty');
  if (v.length > LIMITS.stringLength)
    throw new ContractError(`${path}.${key}`, `longer than ${LIMITS.stringLength} characters`);
  return v;
}

function reqStr(o: Obj, key: string, path: string): string {
  const v = o[key];
  if (typeof v === 'string' && v.length >= 1 && v.length <= LIMITS.stringLength) return v;
  return str(o, key, path) as string;
}

function int(o: Obj, key: string, path: string, min: number, max: number, optional = false): number | undefined {
  const v = o[key];
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v))
    throw new ContractError(`${path}.${key}`, `expected an integer, got ${typeName(v)}`);
  if (v < min || v > max) throw new ContractError(`${path}.${key}`, `must be between ${min} and ${max}, got ${v}`);
  return v;
}

function oneOf<T extends string>(
  o: Obj,
  key: string,
  path: string,
  allowed: readonly T[],
  optional = false,
): T | undefined {
  const v = o[key];
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new ContractError(`${path}.${key}`, `must be one of ${allowed.join(', ')}; got ${JSON.stringify(v)}`);
  }
  return v as T;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^[0-9a-fA-F:.]{2,45}$/;

/** True for a textual IPv4 or IPv6 address (IPv6 checked for shape, including `::ffff:1.2.3.4`). */
export function isIp(s: string): boolean {
  if (IPV4.test(s)) return true;
  if (!s.includes(':') || !IPV6.test(s)) return false;
  const halves = s.split('::');
  if (halves.length > 2) return false;
  let groups = 0;
  for (const [hi, half] of halves.entries()) {
    if (half === '') continue;
    const parts = half.split(':');
    for (const [i, g] of parts.entries()) {
      const last = hi === halves.length - 1 && i === parts.length - 1;
      if (last && IPV4.test(g)) groups += 2;
      else if (/^[0-9a-fA-F]{1,4}$/.test(g)) groups += 1;
      else return false;
    }
  }
  return halves.length === 2 ? groups <= 7 : groups === 8;
}

function ip(o: Obj, key: string, path: string): string {
  const v = reqStr(o, key, path);
  if (!isIp(v)) throw new ContractError(`${path}.${key}`, `not an IP address: ${JSON.stringify(v)}`);
  return v;
}

// Times: reject absurd values (before 2000 or more than a day in the future of year 2200).
const MIN_TIME = 946_684_800_000;
const MAX_TIME = 7_258_118_400_000;
const time = (o: Obj, path: string): number => int(o, 'time', path, MIN_TIME, MAX_TIME) as number;
const count = (o: Obj, path: string, optional: boolean): number | undefined =>
  int(o, 'count', path, 1, Number.MAX_SAFE_INTEGER, optional);

function workloadRef(v: unknown, path: string): WorkloadRef {
  const o = obj(v, path);
  return { name: reqStr(o, 'name', path), namespace: reqStr(o, 'namespace', path) };
}

function withOptional<T extends object>(base: T, extra: Record<string, unknown>): T {
  for (const k in extra) {
    const v = extra[k];
    if (v !== undefined) (base as Record<string, unknown>)[k] = v;
  }
  return base;
}

/** Validates one observation and returns a clean copy (unknown fields dropped). */
export function parseObservation(v: unknown, path = 'observation'): Observation {
  const o = obj(v, path);
  const kind = o['kind'];
  switch (kind) {
    case 'dns': {
      const ipsRaw = o['ips'];
      if (!Array.isArray(ipsRaw)) throw new ContractError(`${path}.ips`, `expected an array, got ${typeName(ipsRaw)}`);
      if (ipsRaw.length > LIMITS.ipsPerAnswer)
        throw new ContractError(`${path}.ips`, `more than ${LIMITS.ipsPerAnswer} addresses`);
      const ips = ipsRaw.map((x, i) => {
        if (typeof x !== 'string' || !isIp(x))
          throw new ContractError(`${path}.ips[${i}]`, `not an IP address: ${JSON.stringify(x)}`);
        return x;
      });
      return withOptional(
        {
          kind,
          clientIp: ip(o, 'clientIp', path),
          name: reqStr(o, 'name', path).toLowerCase(),
          ips,
          time: time(o, path),
        },
        { ttl: int(o, 'ttl', path, 0, 2 ** 31 - 1, true), count: count(o, path, true) },
      );
    }
    case 'tcp': {
      // The most frequent kind: built directly (same fields, same order as withOptional gives).
      const out: Extract<Observation, { kind: 'tcp' }> = {
        kind,
        clientIp: ip(o, 'clientIp', path),
        serverIp: ip(o, 'serverIp', path),
        serverPort: int(o, 'serverPort', path, 1, 65535) as number,
        source: oneOf(o, 'source', path, TCP_SOURCES) as (typeof TCP_SOURCES)[number],
        time: time(o, path),
      };
      const n = count(o, path, true);
      if (n !== undefined) out.count = n;
      return out;
    }
    case 'http': {
      const method = str(o, 'method', path, OPTIONAL);
      if (method !== undefined && !/^[A-Z]{1,16}$/.test(method)) {
        throw new ContractError(`${path}.method`, `expected an upper-case HTTP method, got ${JSON.stringify(method)}`);
      }
      const p = str(o, 'path', path, OPTIONAL);
      if (p !== undefined && !p.startsWith('/'))
        throw new ContractError(`${path}.path`, `must start with "/", got ${JSON.stringify(p)}`);
      return withOptional(
        {
          kind,
          client: workloadRef(o['client'], `${path}.client`),
          server: workloadRef(o['server'], `${path}.server`),
          count: count(o, path, false) as number,
          time: time(o, path),
        },
        {
          serverService: str(o, 'serverService', path, OPTIONAL),
          method,
          path: p,
          port: int(o, 'port', path, 1, 65535, true),
          reporter: oneOf(o, 'reporter', path, ISTIO_REPORTERS, true),
        },
      );
    }
    case 'workload-tcp':
      return withOptional(
        {
          kind,
          client: workloadRef(o['client'], `${path}.client`),
          server: workloadRef(o['server'], `${path}.server`),
          count: count(o, path, false) as number,
          time: time(o, path),
        },
        { port: int(o, 'port', path, 1, 65535, true) },
      );
    case 'kafka': {
      const allowed = o['allowed'];
      if (typeof allowed !== 'boolean')
        throw new ContractError(`${path}.allowed`, `expected a boolean, got ${typeName(allowed)}`);
      return withOptional(
        {
          kind,
          clientIp: ip(o, 'clientIp', path),
          serverPod: workloadRef(o['serverPod'], `${path}.serverPod`),
          resourceType: oneOf(o, 'resourceType', path, KAFKA_RESOURCE_TYPES) as (typeof KAFKA_RESOURCE_TYPES)[number],
          resourceName: reqStr(o, 'resourceName', path),
          patternType: oneOf(o, 'patternType', path, KAFKA_PATTERN_TYPES) as (typeof KAFKA_PATTERN_TYPES)[number],
          operation: oneOf(o, 'operation', path, KAFKA_OPERATIONS) as (typeof KAFKA_OPERATIONS)[number],
          allowed,
          count: count(o, path, false) as number,
          time: time(o, path),
        },
        { principal: str(o, 'principal', path, OPTIONAL) },
      );
    }
    default:
      throw new ContractError(
        `${path}.kind`,
        `must be one of dns, tcp, http, workload-tcp, kafka; got ${JSON.stringify(kind)}`,
      );
  }
}

const BATCH_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function reporter(v: unknown, path: string): ReporterIdentity {
  const o = obj(v, path);
  return withOptional(
    {
      component: oneOf(o, 'component', path, REPORTER_COMPONENTS) as (typeof REPORTER_COMPONENTS)[number],
      instance: reqStr(o, 'instance', path),
    },
    { version: str(o, 'version', path, OPTIONAL) },
  );
}

/** Validates a whole report batch. Throws ContractError naming the first bad field. */
export function parseReportBatch(v: unknown): ReportBatch {
  const o = obj(v, 'batch');
  const batchId = reqStr(o, 'batchId', 'batch');
  if (!BATCH_ID.test(batchId)) throw new ContractError('batch.batchId', 'must match [A-Za-z0-9._:-]{1,128}');
  const obs = o['observations'];
  if (!Array.isArray(obs)) throw new ContractError('batch.observations', `expected an array, got ${typeName(obs)}`);
  if (obs.length > LIMITS.observationsPerBatch) {
    throw new ContractError(
      'batch.observations',
      `${obs.length} observations; split batches at ${LIMITS.observationsPerBatch}`,
    );
  }
  return {
    batchId,
    reporter: reporter(o['reporter'], 'batch.reporter'),
    sentAt: int(o, 'sentAt', 'batch', MIN_TIME, MAX_TIME) as number,
    // The field path is only built when an observation is rejected (this runs per observation on
    // the ingest hot path).
    observations: obs.map((x, i) => {
      try {
        return parseObservation(x, '$');
      } catch (e) {
        if (!(e instanceof ContractError)) throw e;
        throw new ContractError(`batch.observations[${i}]${e.path.slice(1)}`, e.message.slice(e.path.length + 2));
      }
    }),
  };
}
