/**
 * `callmap kube-test-server` in-process (flags, kubeconfig-out, graceful stop on ctx.signal) and
 * the standalone `main.ts` as a child process (SIGTERM, exit codes, bad fixture).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import test from 'ava';
import { UsageError } from '../../../mapper/cli/command.ts';
import { command } from '../../kube-api-server/cli.ts';

const FIXTURE = 'test/fixtures/kube/basic.yaml';

function ctx(signal: AbortSignal) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  stderr.resume();
  return { ctx: { env: {}, stdout, stderr, signal }, out: () => out };
}

async function waitFor<T>(what: string, f: () => T | undefined, timeoutMs = 8000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('runs until the signal aborts, writes --kubeconfig-out, then stops serving', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'callmap-kts-'));
  try {
    const out = join(dir, 'kc.yaml');
    const ac = new AbortController();
    const c = ctx(ac.signal);
    const running = command.run(['--fixture', FIXTURE, '--port', '0', '--kubeconfig-out', out], c.ctx);
    const url = await waitFor('URL', () => /listening on (http:\/\/\S+)/.exec(c.out())?.[1]);
    t.regex(c.out(), /\(4 ns, 2 no, 11 po, 7 svc, 4 deploy\)/);
    t.regex(c.out(), new RegExp(`kubeconfig: ${out}`));
    t.regex(await readFile(out, 'utf8'), new RegExp(`server: ${url}`));
    const pods = (await (await fetch(`${url}/api/v1/pods`)).json()) as { items: unknown[] };
    t.is(pods.items.length, 11);
    ac.abort();
    t.is(await running, 0);
    t.regex(c.out(), /shutting down/);
    await t.throwsAsync(fetch(`${url}/version`));
    t.true(existsSync(out), '--kubeconfig-out is left in place');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('bad flags are usage errors; a bad fixture or kubeconfig path is a clear error', async (t) => {
  const ac = new AbortController();
  ac.abort();
  const run = (...argv: string[]) => command.run(argv, ctx(ac.signal).ctx);
  await t.throwsAsync(run('--port', 'http'), { instanceOf: UsageError, message: /--port must be a port/ });
  await t.throwsAsync(run('--port', '70000'), { instanceOf: UsageError });
  await t.throwsAsync(run('--bogus'), { instanceOf: UsageError });
  await t.throwsAsync(run('--host', ' '), { instanceOf: UsageError });
  await t.throwsAsync(run('--fixture', '/nonexistent.yaml'), { code: 'KUBE_FIXTURE_INVALID' });
  await t.throwsAsync(run('--kubeconfig-out', '/nonexistent/dir/kc.yaml'), {
    code: 'KUBE_KUBECONFIG_WRITE',
    message: /--kubeconfig-out/,
  });
  await t.throwsAsync(run('--host', 'no-such-host.invalid'), {
    code: 'KUBE_LISTEN',
    message: /^cannot listen on no-such-host\.invalid port 0 \(E[A-Z_]+\); choose a free --port/,
  });
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  try {
    const busyPort = String((busy.address() as AddressInfo).port);
    await t.throwsAsync(run('--port', busyPort), {
      code: 'KUBE_LISTEN',
      message: `cannot listen on 127.0.0.1 port ${busyPort} (EADDRINUSE); choose a free --port (0 = any) or another --host`,
    });
  } finally {
    await new Promise<void>((r) => busy.close(() => r()));
  }
  const help = ctx(ac.signal);
  t.is(await command.run(['--help'], help.ctx), 0);
  t.regex(help.out(), /Usage: callmap kube-test-server/);
  // With the signal already aborted the server starts and stops at once.
  t.is(await run('--fixture', FIXTURE), 0);
});

function spawnMain(...args: string[]) {
  const child = spawn(process.execPath, ['--import=tsx', 'test/kube-api-server/main.ts', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exited };
}

test('standalone main.ts serves until SIGTERM and exits 0', async (t) => {
  const p = spawnMain('--port', '0', '--fixture', FIXTURE);
  try {
    const url = await waitFor('URL', () => /listening on (http:\/\/\S+)/.exec(p.out())?.[1], 15_000);
    const kubeconfig = await waitFor('kubeconfig', () => /kubeconfig: (\S+)/.exec(p.out())?.[1]);
    t.true(existsSync(kubeconfig));
    const v = (await (await fetch(`${url}/version`)).json()) as { gitVersion: string };
    t.is(v.gitVersion, 'v1.32.4');
    p.child.kill('SIGTERM');
    t.is(await p.exited, 0);
    t.false(existsSync(kubeconfig), 'the temp kubeconfig is removed on shutdown');
  } finally {
    p.child.kill('SIGKILL');
  }
});

test('standalone main.ts with a malformed fixture exits 1 naming the document', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'callmap-kts-'));
  try {
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\nkind: [\n');
    const p = spawnMain('--fixture', bad);
    t.is(await p.exited, 1);
    t.regex(p.err(), /fixture .*bad\.yaml: document 2: invalid YAML/);
    const u = spawnMain('--port', 'nope');
    t.is(await u.exited, 64);
    t.regex(u.err(), /--port must be a port/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
