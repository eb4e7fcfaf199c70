/** Absurd flag values for `callmap watch …` give one clear line and exit 64 or 1, never a stack trace. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { main } from '../../../mapper/cli/main.ts';
import { captureCtx, startMapperStub } from './helpers.ts';

const oneLine = (s: string): boolean => s.trim().split('\n').length === 1 && !/\n\s+at /.test(s);

test('callmap watch --help and -h print the watcher list and exit 0', async (t) => {
  for (const flag of ['--help', '-h']) {
    const ctx = captureCtx();
    t.is(await main(['watch', flag], ctx), 0);
    t.regex(ctx.out(), /Usage: callmap watch <istio\|kafka>/);
    t.is(ctx.err(), '');
  }
});

test('callmap watch with an unknown watcher: exit 64', async (t) => {
  const ctx = captureCtx();
  t.is(await main(['watch', 'nginx'], ctx), 64);
  t.regex(ctx.err(), /expected istio or kafka, got "nginx"/);
});

const USAGE_CASES: [string, string[], RegExp][] = [
  ['istio zero interval', ['watch', 'istio', '--interval', '0'], /--interval must be greater than zero/],
  ['istio negative interval', ['watch', 'istio', '--interval=-5s'], /--interval must be a duration/],
  ['istio interval over the timer limit', ['watch', 'istio', '--interval', '30d'], /--interval must be at most 24d/],
  ['istio timeout over the timer limit', ['watch', 'istio', '--timeout', '25d'], /--timeout must be at most 24d/],
  ['istio port 70000', ['watch', 'istio', '--metrics-port', '70000'], /--metrics-port must be a port 0-65535/],
  ['istio concurrency 0', ['watch', 'istio', '--concurrency', '0'], /--concurrency must be a positive integer/],
  ['istio empty --stats-url', ['watch', 'istio', '--stats-url', ''], /--stats-url must not be empty/],
  ['istio empty --stats-file', ['watch', 'istio', '--stats-file', ' '], /--stats-file must not be empty/],
  ['istio ftp --stats-url', ['watch', 'istio', '--stats-url', 'ftp://x'], /--stats-url must be an http\(s\) URL/],
  ['istio bad namespace', ['watch', 'istio', '--namespace', 'Not_A_NS'], /--namespace must be Kubernetes/],
  ['kafka no source', ['watch', 'kafka'], /choose exactly one source/],
  ['kafka empty --server', ['watch', 'kafka', '--server', ''], /choose exactly one source/],
  ['kafka --server without namespace', ['watch', 'kafka', '--server', 'foo'], /--server must be name\.namespace/],
  ['kafka empty --selector', ['watch', 'kafka', '--selector', ''], /--selector must not be empty/],
  [
    'kafka zero report interval',
    ['watch', 'kafka', '--server', 'a.b', '--report-interval', '0'],
    /--report-interval must be greater than zero/,
  ],
  [
    'kafka negative pod-check interval',
    ['watch', 'kafka', '--server', 'a.b', '--pod-check-interval=-1s'],
    /--pod-check-interval must be a duration/,
  ],
  [
    'kafka report interval over the timer limit',
    ['watch', 'kafka', '--server', 'a.b', '--report-interval', '30d'],
    /--report-interval must be at most 24d/,
  ],
  [
    'kafka pod-check interval over the timer limit',
    ['watch', 'kafka', '--server', 'a.b', '--pod-check-interval', '999999999d'],
    /--pod-check-interval must be at most 24d/,
  ],
  [
    'kafka port 70000',
    ['watch', 'kafka', '--server', 'a.b', '--metrics-port', '70000'],
    /--metrics-port must be a port 0-65535/,
  ],
  ['kafka --log-file without --server-name', ['watch', 'kafka', '--log-file', 'x'], /needs --server-name/],
];

for (const [name, argv, message] of USAGE_CASES) {
  test(`exit 64, one line: ${name}`, async (t) => {
    const ctx = captureCtx({});
    t.is(await main(argv, ctx), 64);
    t.regex(ctx.err(), message);
    t.true(oneLine(ctx.err()), ctx.err());
  });
}

test('a metrics port in use: exit 1 with one METRICS_LISTEN line (both watchers)', async (t) => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const mapper = await startMapperStub();
  t.teardown(async () => {
    await new Promise<void>((r) => busy.close(() => r()));
    await mapper.close();
  });
  const port = String((busy.address() as AddressInfo).port);
  for (const argv of [
    ['watch', 'kafka', '--log-file', '/dev/null', '--server-name', 'k.ns', '--metrics-host', '127.0.0.1'],
    ['watch', 'kafka', '--log-file', '/dev/null', '--server-name', 'k.ns'],
  ]) {
    const ctx = captureCtx({ CALLMAP_MAPPER_URL: mapper.url });
    t.is(await main([...argv, '--metrics-port', port], ctx), 1, argv.join(' '));
    t.regex(ctx.err(), /cannot serve metrics on .* port \d+ \(EADDRINUSE\).*\[METRICS_LISTEN\]/);
    t.true(oneLine(ctx.err()), ctx.err());
  }
  const ctx = captureCtx({ CALLMAP_MAPPER_URL: mapper.url });
  t.is(await main(['watch', 'istio', '--stats-file', '/dev/null', '--metrics-port', port], ctx), 1);
  t.regex(ctx.err(), /cannot serve metrics on all interfaces port \d+ \(EADDRINUSE\).*\[METRICS_LISTEN\]/);
  t.true(oneLine(ctx.err()), ctx.err());
});

test('a metrics host that does not resolve: exit 1 with one METRICS_LISTEN line', async (t) => {
  const mapper = await startMapperStub();
  t.teardown(() => mapper.close());
  const ctx = captureCtx({ CALLMAP_MAPPER_URL: mapper.url });
  const argv = ['watch', 'kafka', '--log-file', '/dev/null', '--server-name', 'k.ns', '--metrics-port', '0'];
  t.is(await main([...argv, '--metrics-host', 'no-such-host.invalid'], ctx), 1);
  t.regex(ctx.err(), /cannot serve metrics on no-such-host\.invalid port 0 .*\[METRICS_LISTEN\]/);
  t.true(oneLine(ctx.err()), ctx.err());
});

test('unreadable inputs: exit 1 with one line (kubeconfig directory, garbage kubeconfig, log file directory)', async (t) => {
  const mapper = await startMapperStub();
  t.teardown(() => mapper.close());
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(`${tmpdir()}/callmap-flags-`);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(`${dir}/garbage`, '{{{ not yaml\n: : :\n');
  const cases: [string[], RegExp][] = [
    [['watch', 'istio', '--once', '--kubeconfig', dir], /cannot load kubeconfig .*\[KUBECONFIG_INVALID\]/],
    [['watch', 'istio', '--once', '--kubeconfig', `${dir}/garbage`], /kubeconfig .*\[KUBECONFIG_INVALID\]/],
    [
      ['watch', 'kafka', '--once', '--server', 'a.b', '--kubeconfig', dir],
      /cannot load kubeconfig .*\[KAFKA_KUBECONFIG\]/,
    ],
    [['watch', 'kafka', '--once', '--log-file', dir, '--server-name', 'a.b'], /\[KAFKA_LOG_FILE\]/],
    [['watch', 'kafka', '--once', '--log-file', `${dir}/missing`, '--server-name', 'a.b'], /\[KAFKA_LOG_FILE\]/],
    [['watch', 'istio', '--once', '--stats-file', `${dir}/missing`], /\[STATS_UNREADABLE\]/],
  ];
  for (const [argv, message] of cases) {
    const ctx = captureCtx({ CALLMAP_MAPPER_URL: mapper.url });
    t.is(await main(argv, ctx), 1, argv.join(' '));
    const last = ctx.err().trim().split('\n').at(-1) ?? '';
    t.regex(last, message, argv.join(' '));
    t.false(/\n\s+at /.test(ctx.err()), `no stack trace: ${ctx.err()}`);
  }
});
