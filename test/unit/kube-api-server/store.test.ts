import test from 'ava';
import { resolveResource } from '../../kube-api-server/resources.ts';
import { BadRequestError, formatLogTime, KubeStore, NotFoundError, parseTimeNs } from '../../kube-api-server/store.ts';
import { humanDuration, wantsTable } from '../../kube-api-server/table.ts';

const POD = resolveResource('po');
const NOW = Date.parse('2026-11-21T20:00:00Z');
const store = (historySize = 100) => new KubeStore({ historySize, now: () => NOW });
const pod = (name: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'shop' },
  spec: { containers: [{ name: 'app' }, { name: 'sidecar' }] },
  ...extra,
});

test('apply fills uid, resourceVersion, creationTimestamp and keeps them across replace', (t) => {
  const s = store();
  const a = s.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' } });
  t.is(a.metadata.namespace, 'default');
  t.is(a.metadata.resourceVersion, '1');
  t.is(a.metadata.creationTimestamp, '2026-11-21T20:00:00Z');
  t.regex(a.metadata.uid ?? '', /^[0-9a-f-]{36}$/);
  const b = s.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, status: { phase: 'Running' } });
  t.is(b.metadata.uid, a.metadata.uid);
  t.is(b.metadata.resourceVersion, '2');
  const ns = s.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x', namespace: 'ignored' } });
  t.is(ns.metadata.namespace, undefined, 'cluster-scoped objects have no namespace');
  t.is(s.resourceVersion, 3);
  // Returned objects are copies: mutating them does not change the store.
  b.metadata.name = 'changed';
  t.truthy(s.get(POD!, 'default', 'p'));
});

test('history replays events after a resourceVersion; a bounded history expires old ones', (t) => {
  const s = store(3);
  s.apply(pod('a')); // rv 1
  s.apply(pod('b')); // rv 2
  s.apply(pod('a', { status: { phase: 'Running' } })); // rv 3
  const gone = s.remove(POD!, 'shop', 'b'); // rv 4
  t.is(gone?.metadata.resourceVersion, '4', 'the DELETED object carries the deletion rv');
  t.deepEqual(
    s.eventsSince(2)?.map((e) => `${e.rv} ${e.type} ${e.object.metadata.name}`),
    ['3 MODIFIED a', '4 DELETED b'],
  );
  t.is(s.eventsSince(0), undefined, 'rv 0 replay needs the dropped event 1');
  t.deepEqual(s.eventsSince(1)?.length, 3);
  t.deepEqual(s.eventsSince(4), []);
  t.is(s.remove(POD!, 'shop', 'b'), undefined);
});

test('expireHistory makes every issued resourceVersion too old but not the next list', (t) => {
  const s = store();
  s.apply(pod('a'));
  const rv = s.resourceVersion;
  s.expireHistory();
  t.is(s.eventsSince(rv), undefined);
  t.deepEqual(s.eventsSince(s.resourceVersion), []);
  s.apply(pod('b'));
  t.is(s.eventsSince(rv + 1)?.length, 1);
});

test('subscribers get every event synchronously; unsubscribe stops them', (t) => {
  const s = store();
  const seen: string[] = [];
  const off = s.subscribe((e) => seen.push(`${e.type} ${e.object.metadata.name}`));
  s.apply(pod('a'));
  s.remove(POD!, 'shop', 'a');
  off();
  s.apply(pod('c'));
  t.deepEqual(seen, ['ADDED a', 'DELETED a']);
  s.subscribe(() => {
    throw new Error('subscriber bug');
  });
  t.notThrows(() => s.apply(pod('d')));
  t.is(s.subscriberErrors, 1);
});

test('logs: container resolution, ordering, splitting, explicit times, and errors', (t) => {
  const s = store();
  s.apply(pod('multi'));
  s.apply({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'one', namespace: 'shop' },
    spec: { containers: [{ name: 'c' }] },
  });
  t.is(s.appendLog('shop', 'one', undefined, 'x\ny\n'), 2);
  t.is(s.appendLog('shop', 'one', undefined, 'z'), 1);
  const lines = s.logs('shop', 'one', 'c');
  t.deepEqual(
    lines.map((l) => l.text),
    ['x', 'y', 'z'],
  );
  t.true((lines[2]?.timeNs ?? 0n) > (lines[0]?.timeNs ?? 0n), 'same-millisecond appends keep increasing times');
  s.appendLog('shop', 'multi', 'sidecar', 'at', '2026-11-21T20:00:00.5+01:00');
  t.is(formatLogTime(s.logs('shop', 'multi', 'sidecar')[0]?.timeNs ?? 0n), '2026-11-21T19:00:00.500000000Z');
  t.throws(() => s.appendLog('shop', 'multi', undefined, 'x'), {
    instanceOf: BadRequestError,
    message: 'a container name must be specified for pod multi, choose one of: [app sidecar]',
  });
  t.throws(() => s.appendLog('shop', 'multi', 'nope', 'x'), { message: 'container nope is not valid for pod multi' });
  t.throws(() => s.appendLog('shop', 'ghost', undefined, 'x'), {
    instanceOf: NotFoundError,
    message: 'pods "ghost" not found',
  });
  t.throws(() => s.appendLog('shop', 'one', undefined, 'x', 'yesterday'), { instanceOf: BadRequestError });
  s.remove(POD!, 'shop', 'one');
  t.deepEqual(s.logs('shop', 'one', 'c'), [], 'logs go with the pod');
});

test('time parsing and formatting', (t) => {
  t.is(parseTimeNs('2026-11-21T20:00:00.123456789Z'), 1795291200123456789n);
  t.is(parseTimeNs('2026-11-21T20:00:00Z'), 1795291200000000000n);
  t.is(formatLogTime(1795291200000000001n), '2026-11-21T20:00:00.000000001Z');
  t.is(parseTimeNs('2026-11-21 20:00:00Z'), undefined);
  t.is(parseTimeNs('2026-11-21T20:00:00.1234567891Z'), undefined);
  t.is(parseTimeNs('2026-13-41T20:00:00Z'), undefined);
});

test('table helpers', (t) => {
  t.is(humanDuration(5_000), '5s');
  t.is(humanDuration(119_000), '119s');
  t.is(humanDuration(150_000), '2m30s');
  t.is(humanDuration(45 * 60_000), '45m');
  t.is(humanDuration(5 * 3_600_000 + 60_000), '5h1m');
  t.is(humanDuration(30 * 3_600_000), '30h');
  t.is(humanDuration(3 * 86_400_000), '3d');
  t.is(humanDuration(400 * 86_400_000), '400d');
  t.is(humanDuration(-5), '0s');
  t.true(wantsTable('application/json;as=Table;v=v1;g=meta.k8s.io,application/json'));
  t.false(wantsTable('application/json'));
  t.false(wantsTable(undefined));
});
