import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { isCallmapError } from '../../../mapper/contract/index.ts';
import { firstKubeconfigFile, loadKubeConfig } from '../../../watchers/common/kubeconfig.ts';

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "http://127.0.0.1:1", insecure-skip-tls-verify: true } }]
users: [{ name: u, user: { token: t } }]
contexts: [{ name: x, context: { cluster: c, user: u } }]
current-context: x
`;

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'callmap-kc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('firstKubeconfigFile: the first listed file that exists; undefined when none or empty', (t) => {
  const exists = (p: string) => p === '/b' || p === '/c';
  t.is(firstKubeconfigFile('/a:/b:/c', exists), '/b');
  t.is(firstKubeconfigFile('::/c', exists), '/c');
  t.is(firstKubeconfigFile('/a', exists), undefined);
  t.is(firstKubeconfigFile('', exists), undefined);
  t.is(firstKubeconfigFile(undefined, exists), undefined);
});

test('loadKubeConfig: a valid file gives its current cluster', (t) => {
  const path = join(tmp(t), 'kubeconfig');
  writeFileSync(path, KUBECONFIG);
  const kc = loadKubeConfig({ path, code: 'X_KC', hint: 'do this' });
  t.is(kc.getCurrentCluster()?.server, 'http://127.0.0.1:1');
});

test('loadKubeConfig: missing file, a directory, garbage, no current cluster → one CallmapError with the caller code and hint', (t) => {
  const dir = tmp(t);
  const garbage = join(dir, 'garbage');
  writeFileSync(garbage, '{{{ not yaml');
  const noContext = join(dir, 'no-context');
  writeFileSync(noContext, KUBECONFIG.replace('current-context: x\n', ''));
  for (const path of [join(dir, 'missing'), dir, garbage, noContext]) {
    const e = t.throws(() => loadKubeConfig({ path, code: 'X_KC', hint: 'do this' }));
    t.true(isCallmapError(e), path);
    t.is((e as { code?: string }).code, 'X_KC');
    t.true(e?.message.includes(path), e?.message);
    t.true(e?.message.endsWith('; do this'), e?.message);
    t.false(e?.message.includes('\n'), 'one line');
  }
});
