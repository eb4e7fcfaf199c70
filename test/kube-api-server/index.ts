/**
 * Kubernetes API test server: a fixture cluster served over the real Kubernetes REST wire
 * protocol (discovery, list, get, watch, pod logs) for kubectl, @kubernetes/client-node and
 * callmap's watchers. Tests drive it through the returned handle; other processes through the
 * `/_callmap/*` control API (docs/kube-api-server.md).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CallmapError } from '../../mapper/contract/index.ts';
import { readFixtureFile } from './fixture.ts';
import type { KubeObject, ResourceDef } from './resources.ts';
import { resolveResource } from './resources.ts';
import { createHandler, type OpenStream } from './server.ts';
import { KubeStore } from './store.ts';

export { FixtureError, parseFixture, readFixtureFile } from './fixture.ts';
export type { KubeObject, ObjectMeta } from './resources.ts';
export { RESOURCES, resolveResource } from './resources.ts';
export { parseFieldSelector, parseLabelSelector, SelectorError } from './selectors.ts';

export interface KubeApiServerOptions {
  /** Path of a multi-document YAML fixture to load at start. */
  fixture?: string;
  /** Objects to load at start (after the fixture, if both are given). */
  objects?: readonly object[];
  /** Port to bind; 0 (default) picks a free one. */
  port?: number;
  /** Address to bind; default 127.0.0.1. */
  host?: string;
  /** Watch events kept for replay (default 1000); older resourceVersions get 410 Gone. */
  historySize?: number;
  /** Interval of BOOKMARK events on watches that allow them (default 5000 ms). */
  bookmarkIntervalMs?: number;
  /** Where to write the kubeconfig; default a fresh temp directory removed by close(). */
  kubeconfigPath?: string;
  /** Wall clock in ms (default Date.now). */
  now?: () => number;
  /** gitVersion reported by /version (default v1.32.4). */
  gitVersion?: string;
}

export interface KubeApiTestServer {
  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  readonly port: number;
  /** Temp kubeconfig with cluster `server: <url>`, insecure-skip-tls-verify, user and context. */
  readonly kubeconfigPath: string;
  readonly kubeconfigYaml: string;
  /** Creates or replaces an object (ADDED / MODIFIED); returns the stored object. */
  apply(obj: object): KubeObject;
  /** Deletes an object (DELETED with the final object); returns it, or undefined if absent. */
  remove(kind: string, namespace: string | undefined, name: string): KubeObject | undefined;
  get(kind: string, namespace: string | undefined, name: string): KubeObject | undefined;
  list(kind: string, namespace?: string): KubeObject[];
  /**
   * Appends log lines (text is split on newlines) to a pod container; `container` may be
   * omitted for single-container pods. Followers receive them at once. Returns lines appended.
   */
  appendLog(namespace: string, pod: string, container: string | undefined, line: string, time?: Date | string): number;
  /**
   * Ends every open watch. `abort` (default) destroys the connections without a final chunk, as a
   * crashed API server or proxy does; `end` closes them cleanly as a watch timeout does.
   * Returns how many were ended.
   */
  breakWatches(mode?: 'abort' | 'end'): number;
  /** Makes every resourceVersion issued so far too old: the next watch from one gets 410 Expired. */
  expireHistory(): void;
  /** Current global resourceVersion. */
  resourceVersion(): string;
  /** Number of open watch and log-follow streams. */
  openStreams(): { watches: number; logs: number };
  /** Ends open streams, stops the server, removes the temp kubeconfig. Idempotent. */
  close(): Promise<void>;
}

export function kubeconfigYaml(url: string, namespace = 'default'): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'preferences: {}',
    'clusters:',
    '- name: callmap-test',
    '  cluster:',
    `    server: ${url}`,
    '    insecure-skip-tls-verify: true',
    'users:',
    '- name: callmap-test',
    '  user: {}',
    'contexts:',
    '- name: callmap-test',
    '  context:',
    '    cluster: callmap-test',
    '    user: callmap-test',
    `    namespace: ${namespace}`,
    'current-context: callmap-test',
    '',
  ].join('\n');
}

function mustResolve(kind: string): ResourceDef {
  const r = resolveResource(kind);
  if (!r) throw new CallmapError('KUBE_UNKNOWN_KIND', `unknown kind ${JSON.stringify(kind)}; use e.g. Pod, pods or po`);
  return r;
}

export async function startKubeApiServer(options: KubeApiServerOptions = {}): Promise<KubeApiTestServer> {
  const store = new KubeStore({ historySize: options.historySize ?? 1000, now: options.now ?? Date.now });
  if (options.fixture !== undefined) for (const o of await readFixtureFile(options.fixture)) store.apply(o);
  for (const o of options.objects ?? []) store.apply(o);

  const streams = new Set<OpenStream>();
  const breakWatches = (mode: 'abort' | 'end' = 'abort') => {
    let n = 0;
    for (const s of [...streams]) {
      if (s.kind !== 'watch') continue;
      n++;
      if (mode === 'end') s.end();
      else s.abort();
    }
    return n;
  };
  const server: Server = createServer(
    { keepAlive: true },
    createHandler({
      store,
      streams,
      bookmarkIntervalMs: options.bookmarkIntervalMs ?? 5000,
      gitVersion: options.gitVersion ?? 'v1.32.4',
      breakWatches,
    }),
  );
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const yaml = kubeconfigYaml(url);
  let tempDir: string | undefined;
  let kubeconfigPath = options.kubeconfigPath;
  try {
    if (kubeconfigPath === undefined) {
      tempDir = await mkdtemp(join(tmpdir(), 'callmap-kube-'));
      kubeconfigPath = join(tempDir, 'kubeconfig.yaml');
    }
    await writeFile(kubeconfigPath, yaml, { mode: 0o600 });
  } catch (e) {
    server.close();
    throw new CallmapError(
      'KUBE_KUBECONFIG_WRITE',
      `cannot write kubeconfig ${kubeconfigPath}: ${(e as Error).message}`,
    );
  }

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      for (const s of [...streams]) s.end();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (tempDir !== undefined) await rm(tempDir, { recursive: true, force: true });
    })();
    return closing;
  };

  return {
    url,
    port,
    kubeconfigPath,
    kubeconfigYaml: yaml,
    apply: (obj) => store.apply(obj),
    remove: (kind, namespace, name) => store.remove(mustResolve(kind), namespace ?? '', name),
    get: (kind, namespace, name) => store.get(mustResolve(kind), namespace || 'default', name),
    list: (kind, namespace) => store.list(mustResolve(kind), namespace),
    appendLog: (namespace, pod, container, line, time) => store.appendLog(namespace, pod, container, line, time),
    breakWatches,
    expireHistory: () => store.expireHistory(),
    resourceVersion: () => String(store.resourceVersion),
    openStreams: () => {
      let watches = 0;
      let logs = 0;
      for (const s of streams) {
        if (s.kind === 'watch') watches++;
        else logs++;
      }
      return { watches, logs };
    },
    close,
  };
}
