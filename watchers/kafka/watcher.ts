/**
 * The Kafka watcher: sources (pod logs or a file) → one line processor per broker pod → the
 * ObservationReporter, drained every report interval by a non-overlapping periodic loop.
 */

import { sleep } from '../../mapper/client/index.ts';
import { CallmapError, type Observation, type WorkloadRef } from '../../mapper/contract/index.ts';
import { createPeriodic, type Periodic } from '../common/periodic.ts';
import { FileTailer } from './file.ts';
import type { KubeAccess } from './kube.ts';
import { type KafkaNativeAddon, loadKafkaNative, type ReadMode } from './native.ts';
import { type BackoffOptions, PodLogFollower } from './podlog.ts';
import { KafkaLineProcessor } from './processor.ts';
import type { KafkaStats } from './stats.ts';

export type KafkaSource =
  | { kind: 'servers'; servers: WorkloadRef[] }
  | { kind: 'selector'; selector: string; namespace?: string }
  | { kind: 'file'; path: string; server: WorkloadRef };

export interface KafkaWatcherConfig {
  source: KafkaSource;
  container?: string;
  once: boolean;
  reportIntervalMs: number;
  /** Pod re-check while streaming (default 10 s). */
  podCheckMs?: number;
  /** Selector re-list interval (default 10 s). */
  selectorPollMs?: number;
  /** File poll interval (default 500 ms). */
  filePollMs?: number;
  /** File source, native scanner: 2 = a backlog of 32 MiB or more is scanned on two threads (default 1). */
  fileScanThreads?: 1 | 2;
  /** Tests: the backlog from which fileScanThreads 2 splits (default 32 MiB). */
  fileSplitMin?: number;
  /** Tests: how the native scanner reads the file (default `auto`: mapped from 256 KiB, ADR 0065). */
  fileRead?: ReadMode;
  backoff?: BackoffOptions;
}

/** What the watcher needs from the reporter (ObservationReporter fits). */
export interface ObservationSink {
  add(o: Observation): void;
  flush(signal?: AbortSignal): Promise<void>;
}

export interface KafkaWatcherDeps {
  sink: ObservationSink;
  stats: KafkaStats;
  log: (line: string) => void;
  now: () => number;
  /** Required for the `servers` and `selector` sources. */
  kube?: KubeAccess;
  /**
   * The line scanner: omitted = the native one when built, else TypeScript (the choice is logged
   * once); `null` = always TypeScript; an addon = that one.
   */
  native?: KafkaNativeAddon | null;
}

export const KAFKA_SELECTOR_EMPTY = 'KAFKA_SELECTOR_EMPTY';

const podKey = (p: WorkloadRef) => `${p.namespace}/${p.name}`;

export class KafkaWatcher {
  readonly #c: KafkaWatcherConfig;
  readonly #d: KafkaWatcherDeps;
  readonly #processors = new Map<string, KafkaLineProcessor>();
  #periodic: Periodic | undefined;
  readonly #native: KafkaNativeAddon | undefined;

  constructor(config: KafkaWatcherConfig, deps: KafkaWatcherDeps) {
    this.#c = config;
    this.#d = deps;
    if (deps.native === undefined) {
      const n = loadKafkaNative();
      this.#native = n.addon;
      this.parser = n.addon ? n.why : `TypeScript line scanner (${n.why})`;
    } else {
      this.#native = deps.native ?? undefined;
      this.parser = deps.native ? 'native scanner (callmap_kafka)' : 'TypeScript line scanner';
    }
  }

  /** Which line scanner the sources use, for the start-up log line. */
  readonly parser: string;

  #processor(pod: WorkloadRef): KafkaLineProcessor {
    const k = podKey(pod);
    let p = this.#processors.get(k);
    if (p === undefined) {
      p = new KafkaLineProcessor({
        serverPod: { name: pod.name, namespace: pod.namespace },
        stats: this.#d.stats,
        now: this.#d.now,
        overflow: (obs) => this.#hand(obs),
      });
      this.#processors.set(k, p);
    }
    return p;
  }

  #hand(obs: Observation[]): void {
    for (const o of obs) this.#d.sink.add(o);
    this.#d.stats.observationsReported += obs.length;
  }

  /** Hands every pending observation to the sink (does not flush it). */
  drain(): number {
    let n = 0;
    for (const p of this.#processors.values()) {
      const obs = p.drain();
      n += obs.length;
      this.#hand(obs);
    }
    return n;
  }

  #follower(pod: WorkloadRef, once: boolean): PodLogFollower {
    const kube = this.#d.kube;
    if (kube === undefined) throw new Error('KafkaWatcher: a KubeAccess is required for pod sources');
    return new PodLogFollower({
      kube,
      pod,
      ...(this.#c.container === undefined ? {} : { container: this.#c.container }),
      processor: this.#processor(pod),
      stats: this.#d.stats,
      log: this.#d.log,
      once,
      ...(this.#c.backoff === undefined ? {} : { backoff: this.#c.backoff }),
      ...(this.#c.podCheckMs === undefined ? {} : { podCheckMs: this.#c.podCheckMs }),
      ...(this.#native === undefined ? {} : { native: this.#native }),
    });
  }

  /**
   * Once mode: reads what is available, hands it to the sink and resolves (rejects with the first
   * source error, after handing over what the other sources read). Follow mode: runs until
   * `signal` aborts, draining every report interval; never rejects.
   */
  async run(signal: AbortSignal): Promise<void> {
    if (this.#c.once) return this.#runOnce(signal);
    this.#periodic = createPeriodic({
      intervalMs: this.#c.reportIntervalMs,
      run: async (sig) => {
        this.drain();
        await this.#d.sink.flush(sig);
      },
      onError: (e) => this.#d.log(`kafka watcher: report tick failed: ${String(e)}`),
      // A slow mapper must not have its batch aborted every short interval (it would be re-sent).
      timeoutMs: Math.max(this.#c.reportIntervalMs, 30_000),
    });
    this.#periodic.start();
    try {
      await this.#runSources(signal);
    } finally {
      await this.#periodic.shutdown();
      this.drain();
    }
  }

  async #runOnce(signal: AbortSignal): Promise<void> {
    const s = this.#c.source;
    const tasks: Array<Promise<void>> = [];
    if (s.kind === 'file') {
      tasks.push(this.#file(s.path, s.server, true).run(signal));
    } else {
      const pods = s.kind === 'servers' ? s.servers : await this.#select(s.selector, s.namespace);
      if (pods.length === 0)
        throw new CallmapError(
          KAFKA_SELECTOR_EMPTY,
          `no pods match --selector ${s.kind === 'selector' ? s.selector : ''}${s.kind === 'selector' && s.namespace ? ` in namespace ${s.namespace}` : ''}; check the labels of your Kafka pods`,
        );
      for (const p of pods) tasks.push(this.#follower(p, true).run(signal));
    }
    const results = await Promise.allSettled(tasks);
    this.drain();
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  #file(path: string, server: WorkloadRef, once: boolean): FileTailer {
    return new FileTailer({
      path,
      processor: this.#processor(server),
      stats: this.#d.stats,
      log: this.#d.log,
      once,
      ...(this.#c.filePollMs === undefined ? {} : { pollMs: this.#c.filePollMs }),
      ...(this.#c.fileScanThreads === undefined ? {} : { scanThreads: this.#c.fileScanThreads }),
      ...(this.#c.fileSplitMin === undefined ? {} : { splitMin: this.#c.fileSplitMin }),
      ...(this.#c.fileRead === undefined ? {} : { read: this.#c.fileRead }),
      ...(this.#native === undefined ? {} : { native: this.#native }),
    });
  }

  async #select(selector: string, namespace: string | undefined): Promise<WorkloadRef[]> {
    const kube = this.#d.kube;
    if (kube === undefined) throw new Error('KafkaWatcher: a KubeAccess is required for pod sources');
    const pods = await kube.listPods(namespace, selector);
    return pods.map((p) => ({ name: p.name, namespace: p.namespace }));
  }

  async #runSources(signal: AbortSignal): Promise<void> {
    const s = this.#c.source;
    if (s.kind === 'file') return this.#file(s.path, s.server, false).run(signal);
    if (s.kind === 'servers') {
      await Promise.all(s.servers.map((p) => this.#follower(p, false).run(signal)));
      return;
    }
    // selector: re-list periodically; start followers for new pods, stop those that left
    const running = new Map<string, { ac: AbortController; done: Promise<void> }>();
    let lastProblem = '';
    const interval = this.#c.selectorPollMs ?? 10_000;
    while (!signal.aborted) {
      try {
        const pods = await this.#select(s.selector, s.namespace);
        const want = new Set(pods.map(podKey));
        for (const p of pods) {
          const k = podKey(p);
          if (running.has(k)) continue;
          this.#d.log(`kafka watcher: following pod ${p.name}.${p.namespace} (matches ${s.selector})`);
          const ac = new AbortController();
          const done = this.#follower(p, false).run(ac.signal);
          running.set(k, { ac, done });
        }
        for (const [k, r] of running) {
          if (want.has(k)) continue;
          r.ac.abort();
          running.delete(k);
          this.#d.log(`kafka watcher: pod ${k} no longer matches ${s.selector}; stopped following it`);
        }
        if (pods.length === 0 && lastProblem !== 'empty') {
          this.#d.log(`kafka watcher: no pods match --selector ${s.selector} yet; waiting`);
          lastProblem = 'empty';
        } else if (pods.length > 0) lastProblem = '';
      } catch (e) {
        const msg = `kafka watcher: cannot list pods for --selector ${s.selector}: ${String((e as Error)?.message ?? e)}; retrying`;
        if (lastProblem !== msg) this.#d.log(msg);
        lastProblem = msg;
      }
      await sleep(interval, signal);
    }
    for (const r of running.values()) r.ac.abort();
    await Promise.all([...running.values()].map((r) => r.done));
  }
}
