/**
 * Follows one Kafka broker pod's log through the Kubernetes API.
 *
 * - `follow=true&timestamps=true`, the container chosen by `--container` (else the only one, else
 *   one named `kafka`, else the first).
 * - A cut stream is resumed with `sinceTime` and boundary de-duplication (resume.ts): no line is
 *   read twice or skipped; the half line at the cut is dropped and read again whole.
 * - A replaced pod (new uid) is read from the start; a restarted container (restartCount) is
 *   followed in its new instance. The pod is re-checked every `podCheckMs` while streaming, since
 *   a log stream does not always end when the container does.
 * - A missing pod or an unreachable API: one clear log line per state change, retry with jittered
 *   exponential backoff, forever (follow mode) — or a CallmapError (once mode).
 */

import { sleep } from '../../mapper/client/index.ts';
import { CallmapError, type WorkloadRef } from '../../mapper/contract/index.ts';
import { describeKubeError, KUBE_ERROR_CODES, type KubeAccess, type PodInfo } from './kube.ts';
import { LineScanner } from './lines.ts';
import { type KafkaNativeAddon, NativeLineFeed } from './native.ts';
import type { KafkaLineProcessor } from './processor.ts';
import { ResumeTracker } from './resume.ts';
import type { KafkaStats } from './stats.ts';

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

export interface PodLogFollowerOptions {
  kube: KubeAccess;
  pod: WorkloadRef;
  container?: string;
  processor: KafkaLineProcessor;
  stats: KafkaStats;
  log: (line: string) => void;
  /** Read what is there now and return (no follow). */
  once: boolean;
  backoff?: BackoffOptions;
  /** How often the pod is re-read while its log is streaming. Default 10 s. */
  podCheckMs?: number;
  random?: () => number;
  /** The native scanner (it also de-duplicates); without it LineScanner + ResumeTracker are used. */
  native?: KafkaNativeAddon;
}

export const KAFKA_POD_NOT_FOUND = 'KAFKA_POD_NOT_FOUND';
export const KAFKA_CONTAINER_NOT_FOUND = 'KAFKA_CONTAINER_NOT_FOUND';

/** The container to read: the requested one, else the only one, else `kafka`, else the first. */
export function pickContainer(pod: PodInfo, requested: string | undefined): string | undefined {
  if (requested !== undefined) return pod.containers.includes(requested) ? requested : undefined;
  if (pod.containers.length <= 1) return pod.containers[0];
  return pod.containers.find((c) => c === 'kafka') ?? pod.containers[0];
}

/** Full-jitter exponential backoff: attempt 0 → [initial/2, initial]. */
export function backoffDelay(attempt: number, b: BackoffOptions, random: () => number): number {
  const step = Math.min(b.maxMs, b.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(step / 2 + (random() * step) / 2);
}

type StreamEnd = 'ended' | 'cut' | 'pod-changed' | 'aborted';

export class PodLogFollower {
  readonly #o: PodLogFollowerOptions;
  readonly #backoff: BackoffOptions;
  readonly #random: () => number;
  readonly #resume: Pick<ResumeTracker, 'sinceTime' | 'reconnect' | 'reset'>;
  readonly #scanner: LineScanner | NativeLineFeed;
  #uid: string | undefined;
  #restarts: number | undefined;
  #problem = '';
  #linesSeen = 0;

  constructor(o: PodLogFollowerOptions) {
    this.#o = o;
    this.#backoff = o.backoff ?? { initialMs: 500, maxMs: 30_000 };
    this.#random = o.random ?? Math.random;
    if (o.native !== undefined) {
      const feed = new NativeLineFeed({ addon: o.native, processor: o.processor, stats: o.stats, mode: 'pod' });
      this.#scanner = feed;
      this.#resume = feed;
      return;
    }
    const resume = new ResumeTracker();
    this.#resume = resume;
    this.#scanner = new LineScanner(
      {
        line: (l, b, s, e) => {
          if (!resume.accept(l)) {
            this.#o.stats.duplicateLines++;
            return;
          }
          this.#o.stats.linesRead++;
          this.#linesSeen++;
          this.#o.processor.lineBytes(l, b, s, e);
        },
        tooLong: () => {
          this.#o.stats.linesRead++;
          this.#o.processor.tooLong();
        },
      },
      { all: true },
    );
  }

  get name(): string {
    return `${this.#o.pod.name}.${this.#o.pod.namespace}`;
  }

  /** Logs a problem once until the state changes. */
  #report(problem: string, retryMs?: number): void {
    if (problem === this.#problem) return;
    this.#problem = problem;
    this.#o.log(`kafka watcher: ${problem}${retryMs === undefined ? '' : `; retrying (next in ${retryMs} ms)`}`);
  }

  /** Lines accepted so far (not duplicates). */
  get #seen(): number {
    return this.#scanner instanceof NativeLineFeed ? this.#scanner.accepted : this.#linesSeen;
  }

  /**
   * Follow mode: runs until `signal` aborts and never rejects. Once mode: reads the current log
   * and resolves, or rejects with a CallmapError (pod missing, API unreachable).
   */
  async run(signal: AbortSignal): Promise<void> {
    try {
      await this.#run(signal);
    } finally {
      if (this.#scanner instanceof NativeLineFeed) this.#scanner.close();
    }
  }

  async #run(signal: AbortSignal): Promise<void> {
    const { kube, pod: ref, once } = this.#o;
    let attempt = 0;
    while (!signal.aborted) {
      let pod: PodInfo | undefined;
      try {
        pod = await kube.getPod(ref.namespace, ref.name);
      } catch (e) {
        const why = describeKubeError(e);
        if (once)
          throw new CallmapError(
            KUBE_ERROR_CODES.unreachable,
            `cannot read kafka server pod ${this.name} from the Kubernetes API (${why}); check --kubeconfig and that the API server is reachable`,
            { cause: e },
          );
        const d = backoffDelay(attempt++, this.#backoff, this.#random);
        this.#report(`cannot read kafka server pod ${this.name} from the Kubernetes API (${why})`, d);
        await sleep(d, signal);
        continue;
      }
      if (pod === undefined) {
        if (once)
          throw new CallmapError(
            KAFKA_POD_NOT_FOUND,
            `kafka server pod ${this.name} not found; check --server (pod.namespace) or --selector`,
          );
        const d = backoffDelay(attempt++, this.#backoff, this.#random);
        this.#report(`kafka server pod ${this.name} not found (is --server right? waiting for it to appear)`, d);
        await sleep(d, signal);
        continue;
      }
      const container = pickContainer(pod, this.#o.container);
      if (container === undefined) {
        const msg = `kafka server pod ${this.name} has no container ${JSON.stringify(this.#o.container ?? '')} (containers: ${pod.containers.join(', ') || 'none'}); fix --container`;
        if (once) throw new CallmapError(KAFKA_CONTAINER_NOT_FOUND, msg);
        const d = backoffDelay(attempt++, this.#backoff, this.#random);
        this.#report(msg, d);
        await sleep(d, signal);
        continue;
      }
      if (this.#uid !== pod.uid) {
        if (this.#uid !== undefined) this.#o.log(`kafka watcher: pod ${this.name} was replaced; reading its new log`);
        this.#uid = pod.uid;
        this.#restarts = undefined;
        this.#resume.reset();
      }
      const restarts = pod.restarts[container];
      if (this.#restarts !== undefined && restarts !== undefined && restarts !== this.#restarts) {
        this.#o.log(`kafka watcher: container ${container} of ${this.name} restarted; following the new instance`);
      }
      if (restarts !== undefined) this.#restarts = restarts;

      const seenBefore = this.#seen;
      const started = Date.now();
      let end: StreamEnd;
      try {
        end = await this.#stream(pod, container, signal);
      } catch (e) {
        if (once)
          throw new CallmapError(
            KUBE_ERROR_CODES.unreachable,
            `cannot read the log of kafka server pod ${this.name} (${describeKubeError(e)})`,
            { cause: e },
          );
        end = 'cut';
        const d = backoffDelay(attempt, this.#backoff, this.#random);
        this.#report(`cannot read the log of kafka server pod ${this.name} (${describeKubeError(e)})`, d);
      }
      if (once) {
        this.#scanner.end();
        return;
      }
      if (this.#scanner.discard() > 0) this.#o.stats.partialLinesDiscarded++;
      if (end === 'aborted' || signal.aborted) return;
      if (this.#seen > seenBefore || Date.now() - started > 10_000) {
        attempt = 0;
        this.#problem = '';
      }
      this.#o.stats.reconnects++;
      await sleep(end === 'pod-changed' ? 0 : backoffDelay(attempt++, this.#backoff, this.#random), signal);
    }
  }

  /** One log request; resolves with why it ended. Rejects when the request itself fails. */
  async #stream(pod: PodInfo, container: string, signal: AbortSignal): Promise<StreamEnd> {
    const { kube, once } = this.#o;
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    const sinceTime = once ? undefined : this.#resume.sinceTime();
    this.#resume.reconnect();
    let check: NodeJS.Timeout | undefined;
    try {
      const stream = await kube.openLog(
        pod.namespace,
        pod.name,
        { container, follow: !once, ...(sinceTime === undefined ? {} : { sinceTime }) },
        ac.signal,
      );
      this.#problem = '';
      return await new Promise<StreamEnd>((resolve) => {
        let settled = false;
        const finish = (why: StreamEnd) => {
          if (settled) return;
          settled = true;
          if (check) clearInterval(check);
          stream.body.removeAllListeners('data');
          if (why !== 'ended') stream.abort();
          resolve(why);
        };
        stream.body.on('data', (c: Buffer) => this.#scanner.push(c));
        stream.body.on('end', () => finish('ended'));
        stream.body.on('error', () => finish(signal.aborted ? 'aborted' : 'cut'));
        stream.body.on('close', () => finish(signal.aborted ? 'aborted' : stream.body.complete ? 'ended' : 'cut'));
        ac.signal.addEventListener('abort', () => finish('aborted'), { once: true });
        if (!once) {
          let checking = false;
          check = setInterval(() => {
            if (checking) return;
            checking = true;
            kube
              .getPod(pod.namespace, pod.name)
              .then((now) => {
                const r = now?.restarts[container];
                if (now === undefined || now.uid !== pod.uid || (r !== undefined && r !== this.#restarts))
                  finish('pod-changed');
              })
              .catch(() => {
                // the API is down: the stream will tell us if it is cut too
              })
              .finally(() => {
                checking = false;
              });
          }, this.#o.podCheckMs ?? 10_000);
          check.unref();
        }
      });
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }
}
