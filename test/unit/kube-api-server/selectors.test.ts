import test from 'ava';
import {
  matchFields,
  matchLabels,
  parseFieldSelector,
  parseLabelSelector,
  SelectorError,
} from '../../kube-api-server/selectors.ts';

const labels = { app: 'web', tier: 'frontend', 'example.com/team': 'shop', replicas: '3' };
const sel = (s: string, l: Record<string, string> = labels) => matchLabels(parseLabelSelector(s), l);

test('label selector operators', (t) => {
  t.true(sel(''));
  t.true(sel('app=web'));
  t.true(sel('app==web'));
  t.false(sel('app=db'));
  t.true(sel('app!=db'));
  t.false(sel('app!=web'));
  t.true(sel('missing!=x'), '!= matches when the label is absent');
  t.true(sel('app in (db, web)'));
  t.false(sel('app in (db,cache)'));
  t.true(sel('app notin (db,cache)'));
  t.false(sel('app notin (web)'));
  t.true(sel('missing notin (web)'));
  t.false(sel('missing in (web)'));
  t.true(sel('app'));
  t.false(sel('missing'));
  t.true(sel('!missing'));
  t.false(sel('!app'));
  t.true(sel('example.com/team=shop'));
  t.true(sel('replicas>2'));
  t.false(sel('replicas<3'));
  t.false(sel('app>1'), 'Gt on a non-numeric label never matches');
  t.true(sel('app=web,tier in (frontend,backend),!canary, example.com/team'));
  t.false(sel('app=web,tier=backend'));
  t.true(sel('app=', { app: '' }));
  t.false(sel('app=', labels));
});

test('label selector parse results', (t) => {
  t.deepEqual(parseLabelSelector('a in (x,y),b!=z,!c'), [
    { key: 'a', op: 'in', values: ['x', 'y'] },
    { key: 'b', op: '!=', values: ['z'] },
    { key: 'c', op: '!exists', values: [] },
  ]);
});

test('bad label selectors are SelectorErrors with status 400', (t) => {
  for (const bad of [
    'app in (',
    'app in ()',
    'app in (a))',
    'app===x',
    'a b',
    'app=web,',
    ',app',
    '-bad=x',
    'app=bad value',
    `app=${'x'.repeat(64)}`,
    'Bad_Prefix/app=x',
    'replicas>three',
    'app=(x)',
  ]) {
    const e = t.throws(() => parseLabelSelector(bad), { instanceOf: SelectorError }, bad);
    t.is(e?.status, 400);
    t.is(e?.code, 'KUBE_BAD_SELECTOR');
  }
});

test('field selectors: known fields, != and escapes', (t) => {
  const known = ['spec.nodeName', 'status.phase'];
  const fields: Record<string, string> = {
    'metadata.name': 'a,b=c',
    'metadata.namespace': 'shop',
    'spec.nodeName': 'node-a',
    'status.phase': 'Running',
  };
  const m = (s: string) => matchFields(parseFieldSelector(s, known), (f) => fields[f] ?? '');
  t.true(m(''));
  t.true(m('spec.nodeName=node-a'));
  t.true(m('spec.nodeName==node-a,status.phase!=Pending'));
  t.false(m('status.phase=Pending'));
  t.true(m('metadata.namespace=shop'));
  t.true(m('metadata.name=a\\,b\\=c'));
  t.deepEqual(parseFieldSelector('status.phase!=Failed', known), [
    { field: 'status.phase', op: '!=', value: 'Failed' },
  ]);
});

test('bad field selectors are rejected', (t) => {
  const known = ['spec.nodeName'];
  t.throws(() => parseFieldSelector('status.phase=Running', known), {
    instanceOf: SelectorError,
    message: /field label not supported: status.phase/,
  });
  t.throws(() => parseFieldSelector('spec.nodeName', known), { instanceOf: SelectorError });
  t.throws(() => parseFieldSelector('spec.nodeName=a=b', known), { instanceOf: SelectorError, message: /unescaped/ });
  t.throws(() => parseFieldSelector('spec.nodeName=a\\x', known), { instanceOf: SelectorError, message: /escape/ });
});
