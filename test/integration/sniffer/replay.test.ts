import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import test from 'ava';
import { main } from '../../../mapper/cli/main.ts';
import type { DnsObservation, TcpObservation } from '../../../mapper/contract/index.ts';
import { encodePcap } from '../../../sniffer/index.ts';
import { mixedPackets, writeDnsPcap } from '../../helpers/pcap-traffic.ts';
import { startReceiver } from './receiver.ts';

const root = new URL('../../../', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'callmap-replay-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import=tsx', join(root, 'mapper/cli/bin.ts'), 'sniffer', ...args], {
      cwd: root,
      env: { ...process.env, NODE_NAME: 'node-from-env', CALLMAP_MAPPER_URL: 'http://127.0.0.1:9' },
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('replay reports every answer to the receiver and prints a one-line summary', async (t) => {
  const rx = await startReceiver();
  t.teardown(() => rx.close());
  const file = join(dir, 'dns.pcap');
  const { pairs } = writeDnsPcap(file, { packets: 20_000, clients: 60, names: 30, seed: 3 });
  const r = await cli(['--pcap', file, '--mapper-url', rx.url]);
  t.is(r.code, 0, r.stderr);
  t.regex(
    r.stdout.trim(),
    /^replayed .*dns\.pcap: 20000 packets, 20000 DNS answers, 0 TCP connections, 0 malformed skipped/,
  );
  t.is(r.stdout.trim().split('\n').length, 1);
  t.deepEqual(rx.invalid, []);
  const obs = rx.observations() as DnsObservation[];
  t.is(obs.length, pairs);
  t.is(
    obs.reduce((n, o) => n + (o.count ?? 1), 0),
    20_000,
  );
  t.true(obs.every((o) => o.kind === 'dns' && o.name.endsWith('.svc.cluster.local') && o.ips.length > 0));
  t.true(rx.batches.every((b) => b.reporter.component === 'sniffer' && b.reporter.instance === 'node-from-env'));
  t.true(rx.batches.every((b) => b.observations.length <= 1000));
});

test('replay of a mixed capture with a corrupt record: counted, the rest reported', async (t) => {
  const rx = await startReceiver();
  t.teardown(() => rx.close());
  const pk = mixedPackets();
  const buf = encodePcap(pk);
  let off = 24;
  for (let i = 0; i < 5; i++) off += 16 + pk[i]!.data.length;
  buf.writeUInt32LE(0x7ffffff0, off + 8); // record 5 (a SYN) gets an absurd length
  const file = join(dir, 'mixed.pcap');
  writeFileSync(file, buf);
  const r = await cli(['--pcap', file, '--mapper-url', rx.url, '--node-name', 'n1']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /6 packets, 3 DNS answers, 1 TCP connections, 1 malformed skipped/);
  const obs = rx.observations();
  const tcp = obs.filter((o): o is TcpObservation => o.kind === 'tcp');
  t.deepEqual(
    tcp.map((o) => [o.clientIp, o.serverIp, o.serverPort, o.source]),
    [['10.244.1.5', '10.96.0.20', 80, 'capture']],
  );
  t.is(obs.filter((o) => o.kind === 'dns').length, 3);
  t.is(rx.batches[0]?.reporter.instance, 'n1');
});

test('receiver restarted mid-run: nothing is lost within the retry window', async (t) => {
  const rx = await startReceiver();
  t.teardown(() => rx.close());
  const file = join(dir, 'restart.pcap');
  // ~4000 distinct pairs → several batches of ≤ 1000
  const { pairs } = writeDnsPcap(file, { packets: 30_000, clients: 200, names: 25, seed: 9 });
  let restarted: Promise<void> | undefined;
  rx.onBatch = () => {
    if (restarted) return;
    restarted = (async () => {
      await new Promise((r) => setImmediate(r));
      await rx.stop();
      await new Promise((r) => setTimeout(r, 1500));
      await rx.restart();
    })();
  };
  const r = await cli(['--pcap', file, '--mapper-url', rx.url]);
  await restarted;
  t.is(r.code, 0, r.stderr);
  t.truthy(restarted, 'the receiver was restarted');
  t.regex(r.stderr, /mapper unreachable|ECONNREFUSED|ECONNRESET|retry/i);
  const obs = rx.observations();
  t.is(obs.length, pairs);
  t.is(
    obs.reduce((n, o) => n + (o.count ?? 1), 0),
    30_000,
  );
});

/** Runs `callmap sniffer …` in this process (cheaper than a child for quick failures). */
async function inProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const sink = (f: (s: string) => void) =>
    new Writable({
      write(chunk, _enc, cb) {
        f(String(chunk));
        cb();
      },
    });
  const code = await main(['sniffer', ...args], {
    env: {},
    stdout: sink((x) => (stdout += x)),
    stderr: sink((x) => (stderr += x)),
    signal: new AbortController().signal,
  });
  return { code, stdout, stderr };
}

test('bad flags, missing files and unknown devices are clear errors', async (t) => {
  const bad = await inProcess(['--report-interval', 'often']);
  t.is(bad.code, 64);
  t.regex(bad.stderr, /--report-interval must be a duration/);
  const missing = await inProcess(['--pcap', join(dir, 'nope.pcap'), '--mapper-url', 'http://127.0.0.1:9']);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /cannot open .*nope\.pcap.*SNIFFER_PCAP_OPEN/);
  const notPcap = join(dir, 'text.pcap');
  writeFileSync(notPcap, 'just some text, definitely not a capture');
  const wrong = await inProcess(['--pcap', notPcap, '--mapper-url', 'http://127.0.0.1:9']);
  t.is(wrong.code, 1);
  t.regex(wrong.stderr, /not a pcap or pcapng file/);
  const noDevice = await inProcess(['--interface', 'nope0', '--metrics-port', '0', '--metrics-host', '127.0.0.1']);
  t.is(noDevice.code, 1);
  t.regex(
    noDevice.stderr,
    /no capture device "nope0"|callmap.s libpcap binding \(@callmap\/pcap\), which is not built/,
  );
  const help = await inProcess(['--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /--pcap FILE/);
});
