import test from 'ava';
import {
  backoffDelay,
  type InformerOptions,
  type ListResult,
  type ListWatchSource,
  ResilientInformer,
  statusOf,
  type WatchHandle,
} from '../../../mapper/k8s/informer.ts';

interface OpenWatch {
  rv: string;
  timeoutSeconds: number;
  onEvent: (type: string, obj: unknown) => void;
  onDone: (err: unknown) => void;
  aborted: boolean;
}

class FakeSource implements ListWatchSource {
  listCalls = 0;
  listImpl: (n: number) => Promise<ListResult> = async () => ({ items: [], resourceVersion: '1' });
  watches: OpenWatch[] = [];
  /** When set, watch() waits for this promise before "connecting". */
  connectGate: Promise<void> | undefined;

  list(): Promise<ListResult> {
    return this.listImpl(++this.listCalls);
  }

  async watch(
    rv: string,
    timeoutSeconds: number,
    onEvent: OpenWatch['onEvent'],
    onDone: OpenWatch['onDone'],
  ): Promise<WatchHandle> {
    const w: OpenWatch = { rv, timeoutSeconds, onEvent, onDone, aborted: false };
    this.watches.push(w);
    if (this.connectGate !== undefined) await this.connectGate;
    return { abort: () => (w.aborted = true) };
  }

  last(): OpenWatch {
    const w = this.watches[this.watches.length - 1];
    if (w === undefined) throw new Error('no watch yet');
    return w;
  }
}

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}

const FAST: InformerOptions = { backoffInitialMs: 2, backoffMaxMs: 10, minHealthyWatchMs: 0 };

function setup(opts: InformerOptions = {}) {
  const source = new FakeSource();
  const replaced: unknown[][] = [];
  const events: Array<[string, unknown]> = [];
  const errors: unknown[] = [];
  const inf = new ResilientInformer(
    'Pod',
    source,
    { replace: (items) => replaced.push([...items]), event: (type, obj) => events.push([type, obj]) },
    { ...FAST, onError: (_k, e) => errors.push(e), ...opts },
  );
  return { source, inf, replaced, events, errors };
}

const obj = (name: string, rv: string) => ({ metadata: { name, namespace: 'd', resourceVersion: rv } });

test('lists, becomes synced, then watches from the list resourceVersion', async (t) => {
  const { source, inf, replaced } = setup();
  source.listImpl = async () => ({ items: [obj('a', '5')], resourceVersion: '7' });
  t.false(inf.synced());
  inf.start();
  t.true(await inf.waitForSync(1000));
  await until(() => source.watches.length === 1);
  t.deepEqual(replaced, [[obj('a', '5')]]);
  t.is(source.last().rv, '7');
  t.true(source.last().timeoutSeconds >= 300 && source.last().timeoutSeconds <= 600);
  await inf.shutdown();
  t.true(source.last().aborted);
});

test('events are applied and advance the resourceVersion; bookmarks only advance it', async (t) => {
  const { source, inf, events } = setup();
  inf.start();
  await until(() => source.watches.length === 1);
  const w = source.last();
  w.onEvent('ADDED', obj('a', '10'));
  w.onEvent('MODIFIED', obj('a', '11'));
  w.onEvent('BOOKMARK', { metadata: { resourceVersion: '15' } });
  w.onEvent('WEIRD', obj('z', '99'));
  t.deepEqual(
    events.map((e) => e[0]),
    ['ADDED', 'MODIFIED'],
  );
  t.is(inf.stats().resourceVersion, '15');
  t.is(inf.stats().events, 2);
  await inf.shutdown();
});

test('a watch error restarts the watch from the last resourceVersion after a backoff, without relisting', async (t) => {
  const { source, inf, errors } = setup();
  inf.start();
  await until(() => source.watches.length === 1);
  source.last().onEvent('ADDED', obj('a', '20'));
  source.last().onDone(new Error('socket hang up'));
  await until(() => source.watches.length === 2);
  t.is(source.last().rv, '20');
  t.is(source.listCalls, 1);
  t.is(inf.stats().restarts, 1);
  t.is(errors.length, 1);
  t.regex(inf.stats().lastError ?? '', /socket hang up/);
  await inf.shutdown();
});

test('410 Gone (HTTP status) relists from scratch', async (t) => {
  const { source, inf, replaced } = setup();
  source.listImpl = async (n) => ({ items: [obj(`gen${n}`, '1')], resourceVersion: String(100 * n) });
  inf.start();
  await until(() => source.watches.length === 1);
  source.last().onDone(Object.assign(new Error('Gone'), { statusCode: 410 }));
  await until(() => source.watches.length === 2);
  t.is(source.listCalls, 2);
  t.is(source.last().rv, '200');
  t.is(replaced.length, 2);
  t.is(inf.stats().gone, 1);
  await inf.shutdown();
});

test('an ERROR event with code 410 relists; other ERROR events back off and re-watch', async (t) => {
  const { source, inf } = setup();
  inf.start();
  await until(() => source.watches.length === 1);
  source.last().onEvent('ERROR', { kind: 'Status', code: 410, reason: 'Expired' });
  await until(() => source.watches.length === 2);
  t.is(source.listCalls, 2);
  t.true(source.watches[0]!.aborted, 'the expired watch is closed');
  source.last().onEvent('ERROR', { kind: 'Status', code: 500 });
  await until(() => source.watches.length === 3);
  t.is(source.listCalls, 2);
  t.is(inf.stats().restarts, 2);
  await inf.shutdown();
});

test('a failing list is retried with backoff until it succeeds; not synced meanwhile', async (t) => {
  const { source, inf } = setup();
  source.listImpl = async (n) => {
    if (n < 4) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    return { items: [], resourceVersion: '3' };
  };
  inf.start();
  t.false(await inf.waitForSync(1));
  await until(() => inf.synced());
  t.is(source.listCalls, 4);
  t.is(inf.stats().restarts, 3);
  await inf.shutdown();
});

test('a hung list is abandoned after listTimeoutMs and retried', async (t) => {
  const { source, inf } = setup({ listTimeoutMs: 20 });
  source.listImpl = (n) =>
    n === 1 ? new Promise<ListResult>(() => {}) : Promise.resolve({ items: [], resourceVersion: '9' });
  inf.start();
  await until(() => inf.synced());
  t.is(source.listCalls, 2);
  t.regex(inf.stats().lastError ?? '', /longer than 20 ms/);
  await inf.shutdown();
});

test('a clean end after a healthy watch re-watches at once without counting a restart', async (t) => {
  const { source, inf } = setup({ minHealthyWatchMs: 10_000 });
  inf.start();
  await until(() => source.watches.length === 1);
  source.last().onEvent('ADDED', obj('a', '30'));
  source.last().onDone(null);
  await until(() => source.watches.length === 2);
  t.is(inf.stats().restarts, 0);
  t.is(source.last().rv, '30');
  // An end right away with no events is suspicious: counted and backed off.
  source.last().onDone(null);
  await until(() => source.watches.length === 3);
  t.is(inf.stats().restarts, 1);
  await inf.shutdown();
});

test('a silent watch is restarted after the idle timeout', async (t) => {
  const { source, inf } = setup({ idleTimeoutMs: 30 });
  inf.start();
  await until(() => source.watches.length === 2);
  t.true(source.watches[0]!.aborted);
  t.regex(inf.stats().lastError ?? '', /silent/);
  await inf.shutdown();
});

test('a watch that never connects is abandoned; its late handle is aborted when it arrives', async (t) => {
  const { source, inf } = setup({ idleTimeoutMs: 30 });
  let open!: () => void;
  source.connectGate = new Promise<void>((r) => {
    open = r;
  });
  inf.start();
  await until(() => source.watches.length === 2);
  source.connectGate = undefined;
  open();
  await until(() => source.watches[0]!.aborted && source.watches[1]!.aborted);
  await until(() => source.watches.length >= 3);
  t.pass();
  await inf.shutdown();
});

test('a watch() that rejects is treated like any error', async (t) => {
  const { source, inf } = setup();
  const real = source.watch.bind(source);
  let fail = true;
  source.watch = async (...args) => {
    if (fail) {
      fail = false;
      throw new Error('No currently active cluster');
    }
    return real(...args);
  };
  inf.start();
  await until(() => source.watches.length === 1);
  t.is(inf.stats().restarts, 1);
  await inf.shutdown();
});

test('a throwing handler is counted and the loop goes on', async (t) => {
  const source = new FakeSource();
  const inf = new ResilientInformer(
    'Pod',
    source,
    {
      replace: () => {
        throw new Error('bad list');
      },
      event: () => {
        throw new Error('bad event');
      },
    },
    FAST,
  );
  inf.start();
  await until(() => source.watches.length === 1);
  source.last().onEvent('ADDED', obj('a', '2'));
  t.is(inf.stats().handlerErrors, 2);
  t.true(inf.synced());
  t.is(inf.stats().resourceVersion, '2');
  await inf.shutdown();
});

test('backoffDelay grows exponentially, is capped, and jitters between half and full', (t) => {
  t.deepEqual(
    [1, 2, 3, 4, 5, 6, 50].map((n) => backoffDelay(n, 250, 30_000, 1)),
    [250, 500, 1000, 2000, 4000, 8000, 30_000],
  );
  t.is(backoffDelay(3, 250, 30_000, 0), 500);
  t.is(backoffDelay(3, 250, 30_000, 0.5), 750);
  t.is(backoffDelay(0, 250, 30_000, 1), 250);
});

test('consecutive failures grow the delay; a watch that worked before failing starts the backoff afresh', async (t) => {
  const { source, inf } = setup({
    backoffInitialMs: 1,
    backoffMaxMs: 1000,
    random: () => 1,
    minHealthyWatchMs: 60_000,
  });
  source.listImpl = async (n) => {
    if (n <= 3) throw new Error('down');
    return { items: [], resourceVersion: '1' };
  };
  inf.start();
  await until(() => source.watches.length === 1);
  t.is(inf.stats().lastBackoffMs, 4, 'three list failures: 1, 2, 4 ms');
  source.last().onDone(new Error('reset before any event'));
  await until(() => source.watches.length === 2);
  t.is(inf.stats().lastBackoffMs, 1, 'the successful list reset the attempt count');
  source.last().onDone(new Error('reset again'));
  await until(() => source.watches.length === 3);
  t.is(inf.stats().lastBackoffMs, 2, 'consecutive unhealthy watches grow the delay');
  source.last().onEvent('ADDED', obj('a', '5'));
  source.last().onDone(Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' }));
  await until(() => source.watches.length === 4);
  t.is(inf.stats().lastBackoffMs, 1, 'a watch that delivered events starts afresh');
  await inf.shutdown();
});

test('a permanently failing list keeps retrying (never synced, restarts counted)', async (t) => {
  const { source, inf } = setup({ backoffInitialMs: 1, backoffMaxMs: 4 });
  source.listImpl = async () => {
    throw new Error('down');
  };
  inf.start();
  await until(() => source.listCalls >= 6, 3000);
  await inf.shutdown();
  t.true(inf.stats().restarts >= 5);
  t.false(inf.synced());
});

test('shutdown during a long backoff returns promptly and resolves pending waitForSync', async (t) => {
  const { source, inf } = setup({ backoffInitialMs: 60_000, backoffMaxMs: 60_000 });
  source.listImpl = async () => {
    throw new Error('down');
  };
  inf.start();
  const waiting = inf.waitForSync(60_000);
  await until(() => source.listCalls === 1);
  const started = Date.now();
  await inf.shutdown();
  t.false(await waiting);
  t.true(Date.now() - started < 5000);
  t.is(source.listCalls, 1);
});

test('shutdown does not wait for a hung list', async (t) => {
  const { source, inf } = setup({ listTimeoutMs: 600_000 });
  source.listImpl = () => new Promise<ListResult>(() => {});
  inf.start();
  await until(() => source.listCalls === 1);
  const started = Date.now();
  await inf.shutdown();
  t.true(Date.now() - started < 5000);
  t.false(inf.synced());
});

test('start is idempotent', async (t) => {
  const { source, inf } = setup();
  inf.start();
  inf.start();
  await until(() => source.watches.length === 1);
  await new Promise((r) => setTimeout(r, 20));
  t.is(source.listCalls, 1);
  await inf.shutdown();
});

test('statusOf reads statusCode / code / status', (t) => {
  t.is(statusOf({ statusCode: 410 }), 410);
  t.is(statusOf({ code: 403 }), 403);
  t.is(statusOf({ code: 'ECONNRESET' }), undefined);
  t.is(statusOf(null), undefined);
  t.is(statusOf('x'), undefined);
});
