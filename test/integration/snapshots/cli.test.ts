/** `callmap report` and the mapper's snapshot flags as child processes against a real mapper on loopback. */
import fs from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import test from 'ava';
import type { SnapshotMeta } from '../../../mapper/snapshots/types.ts';
import { tempDir } from '../../unit/mapper/fixtures.ts';
import { runCli, runMain } from '../mapper/harness.ts';
import { checkoutToPayments, external, frontendToCheckout, http, kafka, startSnapshotMapper } from './harness.ts';

const schema = JSON.parse(
  fs.readFileSync(new URL('../../../mapper/snapshots/report.schema.json', import.meta.url), 'utf8'),
);
const validate = new Ajv2020({ strict: false, allErrors: true, validateFormats: false }).compile(schema);

/** A webhook receiver on 127.0.0.1:0 answering `statuses` in turn (the last one repeats). */
async function webhook(statuses: number[]) {
  const bodies: string[] = [];
  const server = createServer((req, res) => {
    let b = '';
    req.on('data', (d) => {
      b += String(d);
    });
    req.on('end', () => {
      bodies.push(b);
      const status = statuses[Math.min(bodies.length - 1, statuses.length - 1)] ?? 200;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'nope');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook?token=abc`;
  return { url, bodies, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function loaded(t: import('ava').ExecutionContext) {
  const m = await startSnapshotMapper();
  t.teardown(() => m.close());
  t.is(await m.feed([frontendToCheckout(), http('GET', '/cart'), kafka('orders', 'produce', true)]), 202);
  return m;
}

test('first report to stdout (Markdown), second report as JSON in --out with the diff; --fail-on-new-edges exits 4', async (t) => {
  const m = await loaded(t);
  const first = await runCli(['report', '--mapper-url', m.url, '--fail-on-new-edges']);
  t.is(first.code, 0, `${first.stderr}\nthe first snapshot sets the baseline, nothing to fail on`);
  t.regex(first.stdout, /^# callmap report: snapshot 1$/m);
  t.regex(first.stdout, /First snapshot with this namespace filter/);
  t.regex(first.stdout, /- shop\/frontend → shop\/checkout \(ports 8080\)\n {2}- HTTP GET `\/cart`/);
  t.regex(first.stderr, /snapshot 1 \(2 edges\): first snapshot; delivered to stdout/);

  t.is(
    await m.feed([checkoutToPayments(), http('POST', '/cart'), kafka('orders', 'consume', false), ...external()]),
    202,
  );
  const out = path.join(tempDir(), 'reports', 'nested');
  const second = await runCli([
    'report',
    '--mapper-url',
    m.url,
    '--format',
    'json',
    '--out',
    out,
    '--fail-on-new-edges',
  ]);
  t.is(second.code, 4, second.stderr);
  t.is(second.stdout, '', 'with --out nothing goes to stdout');
  t.regex(second.stderr, /2 new edge\(s\) since snapshot 1 \(--fail-on-new-edges\)/);
  const files = fs.readdirSync(out);
  t.is(files.length, 1);
  t.regex(files[0] ?? '', /^callmap-report-\d{8}T\d{6}Z-2\.json$/);
  const report = JSON.parse(fs.readFileSync(path.join(out, files[0] ?? ''), 'utf8'));
  t.true(validate(report), JSON.stringify(validate.errors));
  t.is(report.snapshot.id, 2);
  t.is(report.previous.id, 1);
  t.is(report.diff.totals.newEdges, 2);
  t.is(report.diff.totals.newDeniedKafka, 1);
  t.deepEqual(
    report.diff.newExternals.map((e: { domain: string }) => e.domain),
    ['api.stripe.com'],
  );
  t.deepEqual(
    report.diff.newHttp.map((h: { path: string; methods: string[] }) => [h.path, h.methods]),
    [['/cart', ['POST']]],
  );

  const third = await runCli(['report', '--mapper-url', m.url, '-n', 'shop', '--format', 'md', '--fail-on-new-edges']);
  t.is(third.code, 0, 'a new namespace filter starts its own baseline');
  t.regex(third.stdout, /namespaces shop/);
});

test('webhook that fails twice then accepts: exit 0, the JSON report delivered once accepted', async (t) => {
  const m = await loaded(t);
  const hook = await webhook([503, 500, 200]);
  t.teardown(() => hook.close());
  const r = await runCli(['report', '--mapper-url', m.url, '--webhook', hook.url]);
  t.is(r.code, 0, r.stderr);
  t.is(hook.bodies.length, 3);
  t.regex(r.stderr, /webhook attempt 1 failed \(HTTP 503\); retrying/);
  t.regex(r.stderr, /webhook attempt 2 failed \(HTTP 500\); retrying/);
  t.regex(r.stderr, /delivered to stdout, webhook \(HTTP 200, 3 attempt\(s\)\)/);
  const body = JSON.parse(hook.bodies[2] ?? '{}');
  t.true(validate(body), JSON.stringify(validate.errors));
  t.is(body.kind, 'callmap.report');
  t.is(body.snapshot.id, 1);
  t.regex(r.stdout, /^# callmap report/m, 'stdout still gets the Markdown report');
});

test('webhook that always fails: exit 3, the snapshot stays listed in the mapper', async (t) => {
  const m = await loaded(t);
  const hook = await webhook([500]);
  t.teardown(() => hook.close());
  // The URL from the environment this time (the chart passes it from a Secret).
  const r = await runCli(['report', '--mapper-url', m.url, '--webhook-retries', '2', '--format', 'json'], {
    CALLMAP_REPORT_WEBHOOK: hook.url,
  });
  t.is(r.code, 3, r.stderr);
  t.is(hook.bodies.length, 3);
  t.regex(
    r.stderr,
    /webhook http:\/\/127\.0\.0\.1:\d+\/hook answered HTTP 500 after 3 attempt\(s\); the snapshot is kept in the mapper \[WEBHOOK_FAILED\]/,
  );
  t.false(r.stderr.includes('token=abc'), 'the query string (often a secret) is not printed');
  const list = (await m.json<{ snapshots: SnapshotMeta[] }>('GET', '/api/v1/snapshots')).body.snapshots;
  t.deepEqual(
    list.map((s) => s.id),
    [1],
  );
  t.is(JSON.parse(r.stdout).snapshot.id, 1);
});

test('an --out that cannot be written: exit 3, the snapshot stays in the mapper', async (t) => {
  const m = await loaded(t);
  const file = path.join(tempDir(), 'not-a-dir');
  fs.writeFileSync(file, 'x');
  const r = await runCli(['report', '--mapper-url', m.url, '--out', file]);
  t.is(r.code, 3, r.stderr);
  t.regex(
    r.stderr,
    /cannot write the report into .*not-a-dir.*snapshot 1 is kept in the mapper \[REPORT_WRITE_FAILED\]/,
  );
  t.is((await m.json<{ snapshots: SnapshotMeta[] }>('GET', '/api/v1/snapshots')).body.snapshots.length, 1);
});

test('mapper unreachable: exit 2 with one clear line', async (t) => {
  const m = await startSnapshotMapper();
  const url = m.url;
  await m.close();
  const r = await runCli(['report', '--mapper-url', url]);
  t.is(r.code, 2, r.stderr);
  t.regex(
    r.stderr,
    /^callmap report: cannot reach the mapper at http:\/\/127\.0\.0\.1:\d+ .*\[MAPPER_UNREACHABLE\]\n$/,
  );
  t.is(r.stdout, '');
});

test('bad flags: exit 64 with a clear message; --help documents exit codes', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['report', '--format', 'pdf'], /--format must be one of md, json, html/],
    [['report', '--webhook', 'ftp://x/'], /--webhook must be an http/],
    [['report', '--webhook-retries', 'many'], /--webhook-retries must be an integer/],
    [['report', '-n', 'Bad_NS'], /not a Kubernetes namespace name/],
    [
      ['mapper', '--snapshot-schedule', 'every hour'],
      /--snapshot-schedule: snapshot schedule "every hour" is not a valid cron expression/,
    ],
    [['mapper', '--snapshot-schedule', '61 * * * *'], /is not a valid cron expression/],
    [['mapper', '--snapshot-keep', '1'], /--snapshot-keep must be at least 2/],
    [['mapper', '--snapshot-max-age', 'forever'], /--snapshot-max-age must be a duration/],
  ];
  // In-process (same dispatcher as the binary) to keep the suite light; one case as a child process.
  for (const [args, re] of cases) {
    const r = await runMain(args);
    t.is(r.code, 64, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, re);
  }
  const child = await runCli(['report', '--format', 'pdf']);
  t.is(child.code, 64);
  t.regex(child.stderr, /^callmap report: --format must be one of md, json, html; got "pdf"\n$/);
  const help = await runMain(['report', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /Exit codes: 0 ok, 1 other failure, 2 mapper unreachable, 3 delivery failed/);
  t.regex(help.stdout, /4 new edges found with --fail-on-new-edges/);
  const mapperHelp = await runMain(['mapper', '--help']);
  t.regex(mapperHelp.stdout, /--snapshot-schedule CRON/);
});

test('a mapper without snapshot support or with a malformed answer: exit 1 with a clear line, nothing written', async (t) => {
  // An "old mapper": 404 error body for the snapshots route; a "broken mapper": a diff without lists.
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/old/')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ error: { code: 'NOT_FOUND', message: 'no such API endpoint: POST /api/v1/snapshots' } }),
      );
      return;
    }
    res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'application/json' });
    res.end(
      req.method === 'POST'
        ? JSON.stringify({
            id: 1,
            takenAt: 0,
            namespaces: [],
            trigger: 'api',
            mapVersion: 0,
            totals: {},
            intents: [],
            kafkaAcl: [],
          })
        : JSON.stringify({ totals: {} }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const out = path.join(tempDir(), 'out');
  const broken = await runMain(['report', '--mapper-url', base, '--out', out]);
  t.is(broken.code, 1, broken.stderr);
  t.regex(broken.stderr, /not a snapshot diff.*\[MAPPER_BAD_RESPONSE\]/);
  t.false(fs.existsSync(out));
  const old = await runMain(['report', '--mapper-url', `${base}/old`]);
  t.is(old.code, 1, old.stderr);
  t.regex(old.stderr, /mapper: no such API endpoint: POST \/api\/v1\/snapshots \[NOT_FOUND\]/);
});
