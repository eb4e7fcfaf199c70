import test from 'ava';
import fc from 'fast-check';
import { normalizeMethod, normalizePath, templatePath } from '../../../watchers/istio/paths.ts';

test('query strings and fragments are stripped', (t) => {
  t.deepEqual(normalizePath('/a/b?x=1&y=2', false), { ok: true, path: '/a/b' });
  t.deepEqual(normalizePath('/a#frag', false), { ok: true, path: '/a' });
  t.deepEqual(normalizePath('/index.html', false), { ok: true, path: '/index.html' });
});

test('absolute-form targets keep only the path', (t) => {
  t.deepEqual(normalizePath('http://orders:8080/api/x?y', false), { ok: true, path: '/api/x' });
  t.deepEqual(normalizePath('https://h', false), { ok: true, path: '/' });
});

test('no path, not a path, too long', (t) => {
  for (const v of [undefined, '', 'unknown', '-', '*'])
    t.deepEqual(normalizePath(v, false), { ok: false, reason: 'no-path' });
  t.deepEqual(normalizePath('relative/x', false), { ok: false, reason: 'not-absolute' });
  t.deepEqual(normalizePath(`/${'a'.repeat(3000)}`, false), { ok: false, reason: 'too-long' });
});

test('templating collapses numbers, UUIDs and hex ids, not words or versions', (t) => {
  t.is(templatePath('/orders/123'), '/orders/{id}');
  t.is(templatePath('/orders/123/items/9'), '/orders/{id}/items/{id}');
  t.is(templatePath('/u/3f2504e0-4f89-11d3-9a0c-0305e82c3301/x'), '/u/{id}/x');
  t.is(templatePath('/obj/5f2b6c1e9d3a4b0012c3d4e5'), '/obj/{id}');
  t.is(templatePath('/v1/accepted/deadbeef'), '/v1/accepted/deadbeef');
  t.is(templatePath('/api/v2/index.html'), '/api/v2/index.html');
  t.is(templatePath('/'), '/');
});

test('normalised paths always satisfy the contract (start with /, ≤ 2048, no query)', (t) => {
  fc.assert(
    fc.property(fc.string({ maxLength: 3000 }), fc.boolean(), (s, tpl) => {
      const r = normalizePath(s, tpl);
      if (r.ok) return r.path.startsWith('/') && r.path.length <= 2048 && !r.path.includes('?');
      return true;
    }),
  );
  t.pass();
});

test('methods are upper-cased tokens or dropped', (t) => {
  t.is(normalizeMethod('get'), 'GET');
  t.is(normalizeMethod('PATCH'), 'PATCH');
  t.is(normalizeMethod('unknown'), undefined);
  t.is(normalizeMethod(''), undefined);
  t.is(normalizeMethod('GET /x'), undefined);
  t.is(normalizeMethod(undefined), undefined);
});
