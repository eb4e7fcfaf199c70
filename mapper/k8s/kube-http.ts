/**
 * Kubernetes API access for identity resolution without loading @kubernetes/client-node in the
 * common cases (ADR 0046): the credentials of an in-cluster service account or of a kubeconfig
 * that uses only a server URL, CA, bearer token (or token file) and client certificate are read
 * here (the `yaml` package parses the file), and list/watch are plain HTTP GETs over node:http(s)
 * with JSON bodies. Anything else in a kubeconfig (exec plugins, auth providers, proxies, basic
 * auth, impersonation) is handed to client-node's `KubeConfig`, imported only then; a ready
 * `KubeConfig` object (tests, embedders) is used the same way.
 *
 * Why: importing client-node costs ≈ 27 MB of V8 heap and ≈ 70 MB of RSS (its generated models),
 * and its typed list calls build a typed object per item; the mapper needs neither.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { dirname, isAbsolute, join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { CallmapError } from '../contract/index.ts';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** Where the Kubernetes credentials come from. Built by the entry point (it may read env), never here. */
export type KubeconfigSource =
  | { kind: 'file'; path: string; context?: string }
  | { kind: 'in-cluster'; host: string; port: string; serviceAccountDir?: string }
  | { kind: 'object'; kubeConfig: KubeConfig };

export interface RequestSetup {
  agent: http.Agent;
  headers: Record<string, string>;
}

/** A cluster to talk to: its URL and what each request needs (credentials are fetched per request). */
export interface KubeEndpoint {
  /** `https://host:port`, no trailing slash. */
  readonly server: string;
  /** `own`: read here; `client-node`: exec plugins, auth providers, proxies… through its KubeConfig. */
  readonly credentials: 'own' | 'client-node';
  setup(): Promise<RequestSetup>;
}

type Rec = Record<string, unknown>;
const rec = (v: unknown): Rec | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Rec) : undefined;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** Keys of a kubeconfig `cluster` / `user` this file handles itself; any other key goes to client-node. */
const OWN_CLUSTER_KEYS = new Set([
  'server',
  'certificate-authority',
  'certificate-authority-data',
  'insecure-skip-tls-verify',
  'tls-server-name',
  'extensions',
  'disable-compression',
]);
const OWN_USER_KEYS = new Set([
  'token',
  'tokenFile',
  'client-certificate',
  'client-certificate-data',
  'client-key',
  'client-key-data',
  'extensions',
]);

function bad(where: string, why: string, cause?: unknown): CallmapError {
  return new CallmapError(
    'K8S_BAD_KUBECONFIG',
    `Cannot load Kubernetes credentials from ${where}: ${why}. Check the file or pass another with --kubeconfig.`,
    cause === undefined ? undefined : { cause },
  );
}

const NO_CLUSTER =
  'The kubeconfig has no current cluster: set current-context (or pass --context) to a context whose cluster exists.';

function named(list: unknown, name: string | undefined, field: string): Rec | undefined {
  if (name === undefined || !Array.isArray(list)) return undefined;
  for (const e of list) {
    const r = rec(e);
    if (r !== undefined && r['name'] === name) return rec(r[field]) ?? {};
  }
  return undefined;
}

function agentFor(server: string, tls: https.AgentOptions): http.Agent {
  return server.startsWith('https:')
    ? new https.Agent({ keepAlive: true, ...tls })
    : new http.Agent({ keepAlive: true });
}

/** Credentials from client-node's KubeConfig (its `applyToHTTPSOptions`: headers, TLS, proxy agent). */
function viaClientNode(server: string, load: () => Promise<KubeConfig>): KubeEndpoint {
  let kc: Promise<KubeConfig> | undefined;
  return {
    server,
    credentials: 'client-node',
    async setup() {
      kc ??= load();
      const opts: https.RequestOptions = {};
      await (await kc).applyToHTTPSOptions(opts);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(opts.headers ?? {}))
        if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : String(v);
      if (typeof opts.auth === 'string')
        headers['authorization'] = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
      return { agent: (opts.agent as http.Agent | undefined) ?? agentFor(server, {}), headers };
    },
  };
}

function fromFile(path: string, context: string | undefined): KubeEndpoint {
  let doc: Rec | undefined;
  try {
    doc = rec(parseYaml(readFileSync(path, 'utf8')));
  } catch (err) {
    throw bad(path, err instanceof Error ? err.message : String(err), err);
  }
  if (doc === undefined) throw bad(path, 'not a kubeconfig (no mapping at the top)');
  const ctxName = context ?? str(doc['current-context']);
  const ctx = named(doc['contexts'], ctxName, 'context');
  if (context !== undefined && ctx === undefined) throw bad(path, `no context named ${context}`);
  const cluster = named(doc['clusters'], str(ctx?.['cluster']), 'cluster');
  const server = str(cluster?.['server'])?.replace(/\/+$/, '');
  if (cluster === undefined || server === undefined) throw new CallmapError('K8S_BAD_KUBECONFIG', NO_CLUSTER);
  const user = named(doc['users'], str(ctx?.['user']), 'user') ?? {};
  const skipTls = cluster['insecure-skip-tls-verify'] === true;
  const own =
    Object.keys(cluster).every((k) => OWN_CLUSTER_KEYS.has(k)) && Object.keys(user).every((k) => OWN_USER_KEYS.has(k));
  if (!own) {
    return viaClientNode(server, async () => {
      const { KubeConfig } = await import('@kubernetes/client-node');
      const kc = new KubeConfig();
      kc.loadFromFile(path);
      if (context !== undefined) kc.setCurrentContext(context);
      return kc;
    });
  }
  if (server.startsWith('http:') && !skipTls)
    throw bad(path, `plain http server ${server} needs insecure-skip-tls-verify: true`);
  // Paths in a kubeconfig are relative to the file (kubectl's rule).
  const file = (v: unknown): string | undefined => {
    const p = str(v);
    return p === undefined || isAbsolute(p) ? p : join(dirname(path), p);
  };
  const bytes = (fileKey: string, dataKey: string, from: Rec): Buffer | undefined => {
    const f = file(from[fileKey]);
    if (f !== undefined) {
      try {
        return readFileSync(f);
      } catch (err) {
        throw bad(path, `cannot read ${fileKey} ${f} (${err instanceof Error ? err.message : String(err)})`, err);
      }
    }
    const d = str(from[dataKey]);
    return d === undefined ? undefined : Buffer.from(d, 'base64');
  };
  const tls: https.AgentOptions = {};
  const ca = bytes('certificate-authority', 'certificate-authority-data', cluster);
  if (ca !== undefined) tls.ca = ca;
  const cert = bytes('client-certificate', 'client-certificate-data', user);
  if (cert !== undefined) tls.cert = cert;
  const key = bytes('client-key', 'client-key-data', user);
  if (key !== undefined) tls.key = key;
  if (skipTls) tls.rejectUnauthorized = false;
  const servername = str(cluster['tls-server-name']);
  if (servername !== undefined) tls.servername = servername;
  const agent = agentFor(server, tls);
  const token = str(user['token']);
  const tokenFile = file(user['tokenFile']);
  return {
    server,
    credentials: 'own',
    async setup() {
      const headers: Record<string, string> = {};
      // A token file is re-read per request: projected service-account tokens rotate.
      const bearer = tokenFile !== undefined ? readFileSync(tokenFile, 'utf8').trim() : token;
      if (bearer !== undefined && bearer !== '') headers['authorization'] = `Bearer ${bearer}`;
      return { agent, headers };
    },
  };
}

function inCluster(host: string, port: string, dir: string): KubeEndpoint {
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  let agent: http.Agent | undefined;
  return {
    server,
    credentials: 'own',
    async setup() {
      // Read at the first request (and retried with it if missing), like client-node's caFile.
      agent ??= new https.Agent({ keepAlive: true, ca: readFileSync(join(dir, 'ca.crt')) });
      const token = readFileSync(join(dir, 'token'), 'utf8').trim();
      const headers: Record<string, string> = {};
      if (token !== '') headers['authorization'] = `Bearer ${token}`;
      return { agent, headers };
    },
  };
}

/** The endpoint for a credentials source; throws K8S_BAD_KUBECONFIG when it cannot be used. */
export function loadKubeEndpoint(source: KubeconfigSource): KubeEndpoint {
  switch (source.kind) {
    case 'file':
      return fromFile(source.path, source.context);
    case 'in-cluster':
      return inCluster(source.host, source.port, source.serviceAccountDir ?? SERVICE_ACCOUNT_DIR);
    case 'object': {
      const server = source.kubeConfig.getCurrentCluster()?.server?.replace(/\/+$/, '');
      if (server === undefined || server === '') throw new CallmapError('K8S_BAD_KUBECONFIG', NO_CLUSTER);
      const kc = source.kubeConfig;
      return viaClientNode(server, async () => kc);
    }
  }
}

/** An HTTP error with the status the informer looks at (`statusOf`: 410 → relist). */
export class KubeHttpError extends Error {
  readonly statusCode: number;
  constructor(statusCode: number, body: string) {
    let detail = '';
    try {
      detail = str(rec(JSON.parse(body))?.['message']) ?? '';
    } catch {
      detail = body.slice(0, 200);
    }
    super(`${statusCode} ${http.STATUS_CODES[statusCode] ?? ''}${detail === '' ? '' : `: ${detail}`}`.trim());
    this.statusCode = statusCode;
  }
}

function request(setup: RequestSetup, url: URL): http.ClientRequest {
  const mod = url.protocol === 'https:' ? https : http;
  return mod.request(url, {
    method: 'GET',
    agent: setup.agent,
    headers: { ...setup.headers, accept: 'application/json' },
  });
}

/** GET a JSON document (a list page). Rejects with `KubeHttpError` on a non-200 answer. */
export async function getJson(
  ep: KubeEndpoint,
  path: string,
  query: Record<string, string | number>,
): Promise<unknown> {
  const url = new URL(ep.server + path);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, String(v));
  const setup = await ep.setup();
  return new Promise((resolve, reject) => {
    const req = request(setup, url);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) {
          reject(new KubeHttpError(res.statusCode ?? 0, text));
          return;
        }
        try {
          resolve(JSON.parse(text));
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Open a watch stream: one JSON event per line, handed to `onEvent(type, object)`. `onDone` is
 * called once: null when the server ends the stream, an error otherwise (`KubeHttpError` for a
 * non-200 answer). Resolves as soon as the request is sent; `abort()` closes it without `onDone`.
 */
export async function watchStream(
  ep: KubeEndpoint,
  path: string,
  query: Record<string, string | number | boolean>,
  onEvent: (type: string, obj: unknown) => void,
  onDone: (err: unknown) => void,
): Promise<{ abort(): void }> {
  const url = new URL(ep.server + path);
  url.searchParams.set('watch', 'true');
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, String(v));
  const setup = await ep.setup();
  let done = false;
  const finish = (err: unknown): void => {
    if (done) return;
    done = true;
    req.destroy();
    onDone(err);
  };
  const line = (text: string): void => {
    if (done || text.trim() === '') return;
    let ev: Rec | undefined;
    try {
      ev = rec(JSON.parse(text));
    } catch {
      return; // not JSON: skipped, as client-node's Watch does
    }
    const type = str(ev?.['type']);
    if (type !== undefined) onEvent(type, ev?.['object']);
  };
  const req = request(setup, url);
  req.on('socket', (s) => s.setKeepAlive(true, 30_000));
  req.on('response', (res) => {
    res.setEncoding('utf8');
    if (res.statusCode !== 200) {
      let body = '';
      res.on('data', (c: string) => {
        if (body.length < 4096) body += c;
      });
      res.on('end', () => finish(new KubeHttpError(res.statusCode ?? 0, body)));
      res.on('error', finish);
      return;
    }
    let pending = '';
    res.on('data', (chunk: string) => {
      let start = 0;
      for (let nl = chunk.indexOf('\n'); nl !== -1; nl = chunk.indexOf('\n', start)) {
        line(pending === '' ? chunk.slice(start, nl) : pending + chunk.slice(start, nl));
        pending = '';
        start = nl + 1;
      }
      if (start < chunk.length) pending += chunk.slice(start);
    });
    res.on('end', () => {
      line(pending);
      finish(null);
    });
    res.on('error', finish);
    res.on('close', () => finish(res.complete ? null : new Error('watch stream closed before its end')));
  });
  req.on('error', finish);
  req.end();
  return {
    abort() {
      done = true;
      req.destroy();
    },
  };
}
