import test from 'ava';
import {
  MapperClient,
  queryString,
  resolveMapperUrl,
  retryAfterMs,
  retryingTransport,
  type Transport,
  type TransportResponse,
} from '../../../mapper/client/index.ts';
import { CallmapError } from '../../../mapper/contract/index.ts';

const scripted = (answers: Array<TransportResponse | Error>): Transport & { calls: number } => {
  const t = {
    calls: 0,
    async send() {
      const a = answers[Math.min(t.calls, answers.length - 1)] as TransportResponse | Error;
      t.calls += 1;
      if (a instanceof Error) throw a;
      return a;
    },
    async close() {},
  };
  return t;
};
const res = (status: number, headers: Record<string, string> = {}, body = '{}'): TransportResponse => ({
  status,
  headers,
  body,
});

test('retryAfterMs parses seconds and HTTP dates', (t) => {
  t.is(retryAfterMs('3', 0), 3000);
  t.is(retryAfterMs(new Date(10_000).toUTCString(), 4000), 6000);
  t.is(retryAfterMs('soon', 0), undefined);
  t.is(retryAfterMs(undefined, 0), undefined);
});

test('retries network errors and 5xx with growing jittered delays, then returns success', async (t) => {
  const delays: number[] = [];
  const inner = scripted([Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }), res(502), res(503), res(202)]);
  const tr = retryingTransport(inner, {
    initialDelayMs: 100,
    random: () => 1,
    sleep: async (ms) => {
      delays.push(ms);
    },
  });
  const r = await tr.send('POST', '/x', '{}');
  t.is(r.status, 202);
  t.deepEqual(delays, [100, 200, 400]);
});

test('does not retry 4xx other than 408/425/429', async (t) => {
  const inner = scripted([res(400), res(202)]);
  const r = await retryingTransport(inner, { sleep: async () => {} }).send('POST', '/x');
  t.is(r.status, 400);
  t.is(inner.calls, 1);
});

test('429 Retry-After sets a floor on the delay', async (t) => {
  const delays: number[] = [];
  const inner = scripted([res(429, { 'retry-after': '5' }), res(200)]);
  await retryingTransport(inner, {
    initialDelayMs: 10,
    random: () => 0,
    sleep: async (ms) => void delays.push(ms),
  }).send('GET', '/');
  t.deepEqual(delays, [5000]);
});

test('gives up after maxAttempts and surfaces the last network error', async (t) => {
  const inner = scripted([new Error('down')]);
  await t.throwsAsync(retryingTransport(inner, { maxAttempts: 3, sleep: async () => {} }).send('GET', '/'), {
    message: 'down',
  });
  t.is(inner.calls, 3);
});

test('resolveMapperUrl merges option > env > default and rejects junk', (t) => {
  t.is(resolveMapperUrl(undefined, {}), 'http://localhost:9090');
  t.is(resolveMapperUrl(undefined, { CALLMAP_MAPPER_URL: 'http://m:1/' }), 'http://m:1');
  t.is(resolveMapperUrl('http://o:2', { CALLMAP_MAPPER_URL: 'http://m:1' }), 'http://o:2');
  t.throws(() => resolveMapperUrl('not a url', {}), { instanceOf: CallmapError, message: /not a URL/ });
  t.throws(() => resolveMapperUrl('ftp://x', {}), { message: /http/ });
});

test('queryString drops empty values and joins lists', (t) => {
  t.is(
    queryString({ namespaces: ['a', 'b'], server: undefined, external: true, x: false, e: [] }),
    '?namespaces=a%2Cb&external=true',
  );
  t.is(queryString({}), '');
});

test('MapperClient maps error bodies and network failures to CallmapErrors', async (t) => {
  const c1 = new MapperClient('http://m', {
    transport: scripted([res(400, {}, '{"error":{"code":"BAD_FILTER","message":"bad"}}')]),
  });
  await t.throwsAsync(c1.intents(), { instanceOf: CallmapError, message: 'mapper: bad' });
  const c2 = new MapperClient('http://m', {
    transport: scripted([Object.assign(new Error('x'), { code: 'ECONNREFUSED' })]),
  });
  const e = await t.throwsAsync(c2.graph());
  t.is((e as CallmapError).code, 'MAPPER_UNREACHABLE');
  t.regex(e?.message ?? '', /callmap mapper/);
  const c3 = new MapperClient('http://m', { transport: scripted([res(502, {}, '<html>')]) });
  t.is(((await t.throwsAsync(c3.reset())) as CallmapError).code, 'MAPPER_ERROR');
  const c4 = new MapperClient('http://m', { transport: scripted([res(200, {}, 'not json')]) });
  t.is(((await t.throwsAsync(c4.intents())) as CallmapError).code, 'MAPPER_BAD_RESPONSE');
});
