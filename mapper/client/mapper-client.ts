/**
 * Typed client for the mapper's query API, used by the CLI, reports and the demo.
 * Network failures become CallmapError MAPPER_UNREACHABLE; error responses become a
 * CallmapError carrying the mapper's own code and message.
 */
import {
  CallmapError,
  type ErrorBody,
  expandGraph,
  expandIntents,
  type GraphResponse,
  type IntentsResponse,
} from '../contract/index.ts';
import { httpTransport, type Transport, unreachable } from './transport.ts';

export type QueryValue = string | number | boolean | readonly string[] | undefined;
export type Query = Record<string, QueryValue>;

export function queryString(q: Query): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined || v === false) continue;
    if (Array.isArray(v)) {
      if (v.length > 0) params.set(k, v.join(','));
    } else params.set(k, String(v));
  }
  const s = params.toString();
  return s === '' ? '' : `?${s}`;
}

export interface IntentsQuery {
  namespaces?: readonly string[];
  server?: string;
  excludeLabels?: readonly string[];
  distinctByLabel?: string;
  external?: boolean;
  asKubernetesService?: boolean;
}

export interface ClientIntentsQuery extends IntentsQuery {
  format?: 'yaml' | 'json';
  outputVersion?: 'v2beta1' | 'v1alpha3';
}

export class MapperClient {
  readonly baseUrl: string;
  readonly #transport: Transport;

  constructor(baseUrl: string, opts: { transport?: Transport; timeoutMs?: number } = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.#transport = opts.transport ?? httpTransport(this.baseUrl, { timeoutMs: opts.timeoutMs ?? 30_000 });
  }

  /** Raw request; returns the body text of a 2xx answer. */
  async requestText(method: 'GET' | 'POST', path: string, body?: unknown, signal?: AbortSignal): Promise<string> {
    let res: Awaited<ReturnType<Transport['send']>>;
    try {
      res = await this.#transport.send(method, path, body === undefined ? undefined : JSON.stringify(body), signal);
    } catch (e) {
      throw unreachable(this.baseUrl, e);
    }
    if (res.status >= 200 && res.status < 300) return res.body;
    let parsed: Partial<ErrorBody> | undefined;
    try {
      parsed = JSON.parse(res.body) as Partial<ErrorBody>;
    } catch {
      parsed = undefined;
    }
    const err = parsed?.error;
    if (err && typeof err.code === 'string' && typeof err.message === 'string') {
      throw new CallmapError(err.code, `mapper: ${err.message}`, {
        status: res.status,
        ...(err.details ? { details: err.details } : {}),
      });
    }
    throw new CallmapError(
      'MAPPER_ERROR',
      `mapper answered HTTP ${res.status} for ${method} ${path}: ${res.body.slice(0, 200)}`,
      {
        status: res.status,
      },
    );
  }

  async requestJson<T>(method: 'GET' | 'POST', path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const text = await this.requestText(method, path, body, signal);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CallmapError(
        'MAPPER_BAD_RESPONSE',
        `mapper sent invalid JSON for ${method} ${path}; is ${this.baseUrl} really a callmap mapper?`,
      );
    }
  }

  /**
   * Asks for the compact shape (identities once, ADR 0036) and expands it; an older mapper that
   * ignores `compact` answers the full shape, which is returned as it is.
   */
  intents(q: IntentsQuery = {}, signal?: AbortSignal): Promise<IntentsResponse> {
    return this.getCompact('intents', `/api/v1/intents${queryString({ ...q, compact: true })}`, expandIntents, signal);
  }

  /** Asks for the compact graph (ADR 0038) and expands it; a full-shape answer is accepted too. */
  graph(q: IntentsQuery = {}, signal?: AbortSignal): Promise<GraphResponse> {
    return this.getCompact('graph', `/api/v1/graph${queryString({ ...q, compact: true })}`, expandGraph, signal);
  }

  /** GET of a compact shape, expanded by the contract's decoder (a bad body is MAPPER_BAD_RESPONSE). */
  async getCompact<T>(what: string, path: string, expand: (v: unknown) => T, signal?: AbortSignal): Promise<T> {
    const body = await this.requestJson<unknown>('GET', path, undefined, signal);
    try {
      return expand(body);
    } catch (e) {
      throw new CallmapError(
        'MAPPER_BAD_RESPONSE',
        `mapper sent an unexpected ${what} body for GET ${path} (${(e as Error).message}); is ${this.baseUrl} really a callmap mapper of this version?`,
        { cause: e },
      );
    }
  }

  clientIntents(q: ClientIntentsQuery = {}, signal?: AbortSignal): Promise<string> {
    return this.requestText('GET', `/api/v1/clientintents${queryString({ ...q })}`, undefined, signal);
  }

  reset(signal?: AbortSignal): Promise<{ removed: number }> {
    return this.requestJson('POST', '/api/v1/reset', {}, signal);
  }

  async healthy(signal?: AbortSignal): Promise<boolean> {
    try {
      await this.requestText('GET', '/healthz', undefined, signal);
      return true;
    } catch {
      return false;
    }
  }

  close(): Promise<void> {
    return this.#transport.close();
  }
}
