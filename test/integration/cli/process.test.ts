/**
 * The `callmap` process itself (mapper/cli/process.ts): a daemon whose only pending work is an
 * unref'd retry timer must keep running until a signal, and one-shot commands must still exit.
 */
import { spawn } from 'node:child_process';
import test from 'ava';
import { startKubeApiServer } from '../../kube-api-server/index.ts';

const bin = ['--import=tsx', 'mapper/cli/bin.ts'];

test('a Kafka watcher waiting for a missing broker pod keeps running until SIGTERM, then exits 0', async (t) => {
  const kube = await startKubeApiServer({ objects: [] });
  t.teardown(() => kube.close());
  const child = spawn(
    process.execPath,
    [
      ...bin,
      'watch',
      'kafka',
      '--server',
      'kafka-0.kafka',
      '--kubeconfig',
      kube.kubeconfigPath,
      '--mapper-url',
      'http://127.0.0.1:1',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  // Wait (generously: CI machines are loaded) until the watcher says it is waiting, then give the
  // event loop time to drain: the old bug exited right after that line, with only unref'd timers.
  const waiting = /kafka-0\.kafka not found .*waiting for it to appear/;
  for (let i = 0; i < 600 && !gone && !waiting.test(out); i++) await new Promise((r) => setTimeout(r, 100));
  t.regex(out, waiting);
  await new Promise((r) => setTimeout(r, 2000));
  t.false(gone, `the watcher exited while it should be waiting for its pod:\n${out}`);
  child.kill('SIGTERM');
  t.is(await exited, 0, out);
});

test('a one-shot command still exits on its own', async (t) => {
  const child = spawn(process.execPath, [...bin, '--version'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  t.is(code, 0);
});
