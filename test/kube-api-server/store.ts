/**
 * In-memory object store of the Kubernetes API test server: objects per resource, a global
 * resourceVersion counter, a bounded event history for watch replay, and per-container pod logs.
 * Synchronous by design: a snapshot plus a subscription taken in one tick never miss an event.
 */
import { randomUUID } from 'node:crypto';
import { CallmapError } from '../../mapper/contract/index.ts';
import { validateObject } from './fixture.ts';
import { type KubeObject, type ResourceDef, resolveResource, resourceByKind } from './resources.ts';

export const EVENT_TYPES = ['ADDED', 'MODIFIED', 'DELETED'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface StoreEvent {
  rv: number;
  type: EventType;
  resource: ResourceDef;
  /** The object after the change (for DELETED: the final object, stamped with the deletion rv). */
  object: KubeObject;
  /** The object before the change (MODIFIED and DELETED). */
  previous: KubeObject | undefined;
}

export interface LogLine {
  /** Nanoseconds since the Unix epoch. */
  timeNs: bigint;
  text: string;
}

export interface LogAppend {
  namespace: string;
  pod: string;
  container: string;
  line: LogLine;
}

export interface StoreOptions {
  /** Events kept for watch replay; older resourceVersions get 410 Gone. */
  historySize: number;
  /** Wall clock in milliseconds (seam for tests). */
  now: () => number;
}

export class NotFoundError extends CallmapError {
  constructor(resource: string, name: string) {
    super('KUBE_NOT_FOUND', `${resource} "${name}" not found`, { status: 404, details: { resource, name } });
    this.name = 'NotFoundError';
  }
}

export class BadRequestError extends CallmapError {
  constructor(message: string) {
    super('KUBE_BAD_REQUEST', message, { status: 400 });
    this.name = 'BadRequestError';
  }
}

const keyOf = (r: ResourceDef) => `${r.group}/${r.plural}`;
const objKey = (ns: string, name: string) => `${ns}/${name}`;

/** RFC3339 with seconds precision, as the API server writes creationTimestamp. */
export const rfc3339 = (ms: number): string =>
  new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

/** RFC3339Nano with a fixed 9-digit fraction, as the kubelet prefixes log lines. */
export function formatLogTime(ns: bigint): string {
  const secs = ns / 1_000_000_000n;
  const frac = ns % 1_000_000_000n;
  const base = new Date(Number(secs) * 1000).toISOString().slice(0, 19);
  return `${base}.${frac.toString().padStart(9, '0')}Z`;
}

/** Parses RFC3339 / RFC3339Nano (any fraction length, Z or ±hh:mm) to epoch nanoseconds. */
export function parseTimeNs(s: string): bigint | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(s.trim());
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (!Number.isFinite(ms)) return undefined;
  const frac = BigInt((m[2] ?? '').padEnd(9, '0'));
  return BigInt(ms) * 1_000_000n + frac;
}

export function containerNames(pod: KubeObject): string[] {
  const spec = pod.spec as { containers?: { name?: unknown }[] } | undefined;
  const list = Array.isArray(spec?.containers) ? spec.containers : [];
  return list.map((c) => c?.name).filter((n): n is string => typeof n === 'string');
}

export class KubeStore {
  #rv = 0;
  /** Smallest resourceVersion a watch may start from. */
  #minRv = 0;
  readonly #history: StoreEvent[] = [];
  readonly #objects = new Map<string, Map<string, KubeObject>>();
  readonly #subs = new Set<(e: StoreEvent) => void>();
  readonly #logs = new Map<string, LogLine[]>();
  readonly #logSubs = new Set<(a: LogAppend) => void>();
  readonly #opts: StoreOptions;
  /** Last log timestamp handed out, so lines appended in the same millisecond stay ordered. */
  #lastLogNs = 0n;
  #subscriberErrors = 0;

  constructor(opts: StoreOptions) {
    this.#opts = opts;
  }

  get resourceVersion(): number {
    return this.#rv;
  }

  get minResourceVersion(): number {
    return this.#minRv;
  }

  now(): number {
    return this.#opts.now();
  }

  /** Creates or replaces an object; fills uid, resourceVersion, creationTimestamp and namespace. */
  apply(input: unknown): KubeObject {
    const obj = structuredClone(validateObject(input, 'object')) as KubeObject;
    const resource = resourceByKind(obj.apiVersion, obj.kind) as ResourceDef;
    if (resource.namespaced) obj.metadata.namespace = obj.metadata.namespace || 'default';
    else delete obj.metadata.namespace;
    const ns = obj.metadata.namespace ?? '';
    let bucket = this.#objects.get(keyOf(resource));
    if (!bucket) {
      bucket = new Map();
      this.#objects.set(keyOf(resource), bucket);
    }
    const previous = bucket.get(objKey(ns, obj.metadata.name));
    obj.metadata.uid = obj.metadata.uid || previous?.metadata.uid || randomUUID();
    obj.metadata.creationTimestamp =
      obj.metadata.creationTimestamp || previous?.metadata.creationTimestamp || rfc3339(this.#opts.now());
    this.#rv++;
    obj.metadata.resourceVersion = String(this.#rv);
    bucket.set(objKey(ns, obj.metadata.name), obj);
    this.#emit({ rv: this.#rv, type: previous ? 'MODIFIED' : 'ADDED', resource, object: obj, previous });
    return structuredClone(obj);
  }

  /** Deletes an object; returns the final object (with the deletion rv) or undefined. */
  remove(resource: ResourceDef, namespace: string, name: string): KubeObject | undefined {
    const ns = resource.namespaced ? namespace || 'default' : '';
    const bucket = this.#objects.get(keyOf(resource));
    const previous = bucket?.get(objKey(ns, name));
    if (!bucket || !previous) return undefined;
    bucket.delete(objKey(ns, name));
    this.#rv++;
    const final = structuredClone(previous);
    final.metadata.resourceVersion = String(this.#rv);
    if (resource.kind === 'Pod') this.#dropLogs(ns, name);
    this.#emit({ rv: this.#rv, type: 'DELETED', resource, object: final, previous });
    return structuredClone(final);
  }

  get(resource: ResourceDef, namespace: string, name: string): KubeObject | undefined {
    const ns = resource.namespaced ? namespace : '';
    const o = this.#objects.get(keyOf(resource))?.get(objKey(ns, name));
    return o === undefined ? undefined : structuredClone(o);
  }

  /** Objects of a resource, optionally in one namespace, sorted by namespace then name. */
  list(resource: ResourceDef, namespace?: string): KubeObject[] {
    const bucket = this.#objects.get(keyOf(resource));
    if (!bucket) return [];
    const out: KubeObject[] = [];
    for (const o of bucket.values()) {
      if (namespace !== undefined && namespace !== '' && o.metadata.namespace !== namespace) continue;
      out.push(structuredClone(o));
    }
    return out.sort(
      (a, b) =>
        (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') ||
        a.metadata.name.localeCompare(b.metadata.name),
    );
  }

  /** Events after `rv`, or undefined when `rv` is older than the retained history (410 Gone). */
  eventsSince(rv: number): StoreEvent[] | undefined {
    if (rv < this.#minRv) return undefined;
    return this.#history.filter((e) => e.rv > rv);
  }

  /** Forgets the history and makes every resourceVersion issued so far too old to watch from. */
  expireHistory(): void {
    this.#history.length = 0;
    this.#rv++;
    this.#minRv = this.#rv;
  }

  subscribe(fn: (e: StoreEvent) => void): () => void {
    this.#subs.add(fn);
    return () => {
      this.#subs.delete(fn);
    };
  }

  #emit(e: StoreEvent): void {
    this.#history.push(e);
    while (this.#history.length > this.#opts.historySize) {
      const dropped = this.#history.shift();
      if (dropped) this.#minRv = dropped.rv;
    }
    for (const fn of [...this.#subs]) this.#safely(() => fn(e));
  }

  /** A failing subscriber (a watch whose client went away mid-write) must not fail the write. */
  #safely(fn: () => void): void {
    try {
      fn();
    } catch {
      this.#subscriberErrors++;
    }
  }

  /** Subscriber callbacks that threw (and were isolated) so far. */
  get subscriberErrors(): number {
    return this.#subscriberErrors;
  }

  // --- pod logs -------------------------------------------------------------------------------

  /** Resolves the container a log call means, with the real server's 400 messages. */
  resolveContainer(pod: KubeObject, container: string | undefined): string {
    const names = containerNames(pod);
    const spec = pod.spec as { initContainers?: { name?: unknown }[] } | undefined;
    const init = (Array.isArray(spec?.initContainers) ? spec.initContainers : [])
      .map((c) => c?.name)
      .filter((n): n is string => typeof n === 'string');
    if (container === undefined || container === '') {
      if (names.length === 1) return names[0] as string;
      if (names.length === 0) throw new BadRequestError(`pod ${pod.metadata.name} has no containers`);
      throw new BadRequestError(
        `a container name must be specified for pod ${pod.metadata.name}, choose one of: [${names.join(' ')}]`,
      );
    }
    if (!names.includes(container) && !init.includes(container)) {
      throw new BadRequestError(`container ${container} is not valid for pod ${pod.metadata.name}`);
    }
    return container;
  }

  /**
   * Appends log lines (split on newlines) for a pod's container. `time` defaults to now; a
   * string must be RFC3339(Nano). Throws NotFoundError for a missing pod, BadRequestError for
   * an ambiguous or unknown container.
   */
  appendLog(namespace: string, pod: string, container: string | undefined, text: string, time?: Date | string): number {
    const podRes = resolveResource('pods') as ResourceDef;
    const obj = this.get(podRes, namespace, pod);
    if (!obj) throw new NotFoundError('pods', pod);
    const c = this.resolveContainer(obj, container);
    let ns: bigint;
    if (time === undefined) {
      ns = BigInt(this.#opts.now()) * 1_000_000n;
      if (ns <= this.#lastLogNs) ns = this.#lastLogNs + 1n;
    } else if (typeof time === 'string') {
      const parsed = parseTimeNs(time);
      if (parsed === undefined) throw new BadRequestError(`log time ${JSON.stringify(time)} is not RFC3339`);
      ns = parsed;
    } else {
      if (!Number.isFinite(time.getTime())) throw new BadRequestError('log time is an invalid Date');
      ns = BigInt(time.getTime()) * 1_000_000n;
    }
    if (ns > this.#lastLogNs) this.#lastLogNs = ns;
    const lines = text.split(/\r?\n/);
    if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
    const key = `${namespace}/${pod}/${c}`;
    let buf = this.#logs.get(key);
    if (!buf) {
      buf = [];
      this.#logs.set(key, buf);
    }
    for (const l of lines) {
      const line = { timeNs: ns, text: l };
      buf.push(line);
      for (const fn of [...this.#logSubs]) this.#safely(() => fn({ namespace, pod, container: c, line }));
    }
    return lines.length;
  }

  logs(namespace: string, pod: string, container: string): LogLine[] {
    return [...(this.#logs.get(`${namespace}/${pod}/${container}`) ?? [])];
  }

  subscribeLogs(fn: (a: LogAppend) => void): () => void {
    this.#logSubs.add(fn);
    return () => {
      this.#logSubs.delete(fn);
    };
  }

  #dropLogs(namespace: string, pod: string): void {
    for (const k of [...this.#logs.keys()]) if (k.startsWith(`${namespace}/${pod}/`)) this.#logs.delete(k);
  }
}
