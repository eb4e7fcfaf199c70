import test from 'ava';
import { applyPatch, jsonPatch, mergePatch, strategicMergePatch } from '../../kube-api-server/patch.ts';

const obj = () => ({
  metadata: { name: 'p', labels: { a: '1', b: '2' } },
  spec: { containers: [{ name: 'x' }, { name: 'y' }] },
});

test('merge patch: set, delete with null, replace lists, leaves the input alone', (t) => {
  const o = obj();
  const out = mergePatch(o, { metadata: { labels: { a: null, c: '3' } }, spec: { containers: [{ name: 'z' }] } });
  t.deepEqual(out, { metadata: { name: 'p', labels: { b: '2', c: '3' } }, spec: { containers: [{ name: 'z' }] } });
  t.deepEqual(o, obj());
  t.is(mergePatch(o, 'scalar'), 'scalar');
});

test('json patch operations', (t) => {
  const out = jsonPatch(obj(), [
    { op: 'add', path: '/metadata/labels/d', value: '4' },
    { op: 'remove', path: '/metadata/labels/a' },
    { op: 'replace', path: '/spec/containers/0/name', value: 'x2' },
    { op: 'add', path: '/spec/containers/-', value: { name: 'w' } },
    { op: 'add', path: '/spec/containers/0', value: { name: 'first' } },
    { op: 'test', path: '/metadata/name', value: 'p' },
    { op: 'copy', from: '/metadata/name', path: '/metadata/generateName' },
    { op: 'move', from: '/metadata/labels/b', path: '/metadata/labels/e~1f' },
  ]);
  t.deepEqual(out, {
    metadata: { name: 'p', generateName: 'p', labels: { d: '4', 'e/f': '2' } },
    spec: { containers: [{ name: 'first' }, { name: 'x2' }, { name: 'y' }, { name: 'w' }] },
  });
});

test('json patch errors', (t) => {
  const bad: unknown[] = [
    {},
    [{ op: 'remove', path: '/metadata/nope' }],
    [{ op: 'add', path: '/nope/deeper', value: 1 }],
    [{ op: 'replace', path: '/spec/containers/9', value: 1 }],
    [{ op: 'test', path: '/metadata/name', value: 'q' }],
    [{ op: 'frobnicate', path: '/a' }],
    [{ op: 'add' }],
    [{ op: 'add', path: 'no-slash', value: 1 }],
    [{ op: 'move', path: '/a' }],
    [{ op: 'remove', path: '' }],
  ];
  for (const ops of bad) t.throws(() => jsonPatch(obj(), ops), { code: 'KUBE_BAD_REQUEST' }, JSON.stringify(ops));
});

test('applyPatch picks the format from the content type', (t) => {
  t.deepEqual(applyPatch({ a: 1 }, 'application/merge-patch+json', '{"b":2}'), { a: 1, b: 2 });
  t.deepEqual(applyPatch({ a: 1 }, 'application/strategic-merge-patch+json; charset=utf-8', '{"a":null}'), {});
  t.deepEqual(
    applyPatch({ l: [{ name: 'a', v: 1 }] }, 'application/strategic-merge-patch+json', '{"l":[{"name":"a","w":2}]}'),
    { l: [{ name: 'a', v: 1, w: 2 }] },
  );
  t.deepEqual(applyPatch({ l: [{ name: 'a', v: 1 }] }, 'application/merge-patch+json', '{"l":[{"name":"a","w":2}]}'), {
    l: [{ name: 'a', w: 2 }],
  });
  t.deepEqual(applyPatch({ a: 1 }, 'application/json-patch+json', '[{"op":"replace","path":"/a","value":3}]'), {
    a: 3,
  });
  t.throws(() => applyPatch({}, 'application/json', '{}'), { code: 'KUBE_UNSUPPORTED_MEDIA_TYPE' });
  t.throws(() => applyPatch({}, undefined, '{}'), { code: 'KUBE_UNSUPPORTED_MEDIA_TYPE' });
  t.throws(() => applyPatch({}, 'application/merge-patch+json', '{'), { code: 'KUBE_BAD_REQUEST' });
});

test('strategic merge patch: lists merge by key, directives are honoured and never stored', (t) => {
  const target = {
    metadata: { labels: { a: '1' }, finalizers: ['x', 'y', 'z'] },
    spec: {
      containers: [
        { name: 'app', image: 'app:1', ports: [{ containerPort: 80, name: 'http' }] },
        { name: 'sidecar', image: 'envoy:1' },
      ],
      tolerations: [{ key: 't' }],
    },
  };
  const out = strategicMergePatch(target, {
    metadata: { labels: { b: '2' }, '$deleteFromPrimitiveList/finalizers': ['y'] },
    spec: {
      '$setElementOrder/containers': [{ name: 'sidecar' }, { name: 'app' }, { name: 'new' }],
      containers: [
        { name: 'app', image: 'app:2' },
        { name: 'new', image: 'new:1', env: [{ name: 'A', value: '1', $patch: 'keep' }] },
      ],
      tolerations: [{ key: 'u' }],
    },
  });
  t.deepEqual(out, {
    metadata: { labels: { a: '1', b: '2' }, finalizers: ['x', 'z'] },
    spec: {
      containers: [
        { name: 'sidecar', image: 'envoy:1' },
        { name: 'app', image: 'app:2', ports: [{ containerPort: 80, name: 'http' }] },
        { name: 'new', image: 'new:1', env: [{ name: 'A', value: '1' }] },
      ],
      tolerations: [{ key: 'u' }],
    },
  });
  t.deepEqual(strategicMergePatch(target, { spec: { containers: [{ name: 'sidecar', $patch: 'delete' }] } }), {
    ...target,
    spec: { ...target.spec, containers: [target.spec.containers[0]] },
  });
  t.deepEqual(strategicMergePatch(target, { spec: { $patch: 'replace', containers: [] } }), {
    ...target,
    spec: { containers: [] },
  });
  t.deepEqual(strategicMergePatch(target, { spec: { tolerations: { $patch: 'delete' } } }), {
    ...target,
    spec: { containers: target.spec.containers },
  });
  t.deepEqual(strategicMergePatch({ a: 1 }, { a: null, $retainKeys: ['b'], b: 2 }), { b: 2 });
  t.is(JSON.stringify(strategicMergePatch(target, { spec: { x: [{ $patch: 'delete' }] } })).includes('$'), false);
});
