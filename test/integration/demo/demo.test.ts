/**
 * `callmap demo --exit` end to end, as a child process: every real component runs (API test
 * server, mapper with informers, sniffer replay, Istio and Kafka watchers, list, visualize).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { DEMO_CALLS, DEMO_EXTERNAL, DEMO_KAFKA } from '../../../mapper/demo/cluster.ts';

function runDemo(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import=tsx', 'mapper/cli/bin.ts', 'demo', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const kill = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('close', (code) => {
      clearTimeout(kill);
      resolve({ code, stdout, stderr });
    });
  });
}

test('callmap demo --exit prints the whole demo map with HTTP paths, Kafka topics and externals', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'callmap-demo-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const svg = join(dir, 'map.svg');
  const r = await runDemo(['--exit', '--port', '0', '--svg', svg]);
  t.is(r.code, 0, r.stderr);
  const out = r.stdout;
  // Every described call appears under its client.
  const blocks = new Map<string, string>();
  for (const block of out.split(/\n(?=\S)/)) blocks.set(block.split(' ')[0] ?? '', `${block.trimEnd()}\n`);
  for (const c of DEMO_CALLS) {
    const block = blocks.get(c.from) ?? '';
    t.regex(block, new RegExp(`\\n  - ${c.to}( in namespace \\w+)?\\n`), `${c.from} -> ${c.to}`);
    for (const h of c.http ?? [])
      t.true(block.includes(`    ${h.method} ${h.path}\n`), `${c.from}: ${h.method} ${h.path}`);
  }
  t.regex(blocks.get('checkoutservice') ?? '', /orders: describe, produce/);
  t.regex(blocks.get('fraud-detector') ?? '', /payments: consume \(denied\)/);
  t.is(DEMO_KAFKA.length, 5);
  for (const e of DEMO_EXTERNAL)
    t.regex(blocks.get(e.from) ?? '', new RegExp(`${e.domain.replace(/\./g, '\\.')} \\(external`));
  // Progress went to stderr, one line per step.
  for (let i = 1; i <= 7; i++) t.true(r.stderr.includes(`[${i}/7]`));
  t.regex(r.stderr, /sniffer: replayed .*0 malformed/);
  // The picture names every workload.
  const picture = readFileSync(svg, 'utf8').replace(/&#45;/g, '-');
  t.true(picture.startsWith('<?xml') || picture.startsWith('<svg'));
  for (const name of ['frontend.shop', 'kafka.kafka', 'redis-cart.shop', 'loadgenerator.shop'])
    t.true(picture.includes(name), name);
});

test('callmap demo reports a busy port in one clear line', async (t) => {
  const { createServer } = await import('node:net');
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as { port: number }).port;
  const r = await runDemo(['--exit', '--port', String(port), '--no-svg']);
  t.is(r.code, 1);
  t.regex(r.stderr, /port \d+ is in use; run `callmap demo --port 0`/);
});
