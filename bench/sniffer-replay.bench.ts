/**
 * Sniffer replay benchmark. Generates a 1,000,000-packet pcap of DNS responses in a temp dir,
 * then times the replay path (read + decode + dedupe + aggregate, no HTTP) in a child process
 * against, in the same run, `tcpdump -nr FILE` (text decode) and `tcpdump -r FILE -w /dev/null`
 * (libpcap read floor). Also measures the idle RSS of a live sniffer capturing on `lo`.
 * Targets: ≤ 0.10× text decode, ≤ 4× read floor, peak RSS ≤ 120 MB, idle live RSS ≤ 70 MB.
 *
 *   node --import=tsx bench/sniffer-replay.bench.ts [packets]
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readPcapFile } from '../sniffer/pcap/reader.ts';
import { PacketProcessor } from '../sniffer/processor.ts';
import { writeDnsPcap } from '../test/helpers/pcap-traffic.ts';

const self = fileURLToPath(import.meta.url);
const root = join(self, '..', '..');

async function child(file: string): Promise<void> {
  let observations = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const proc: PacketProcessor = new PacketProcessor({ onFull: () => (observations += proc.drain().length) });
  const res = await readPcapFile(file, (buf, off, len, lt, time) => proc.handle(buf, off, len, lt, time));
  observations += proc.drain().length;
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  process.stdout.write(
    `${JSON.stringify({ ms, cpuMs, packets: res.packets, answers: proc.stats.dnsAnswers, observations, maxRssKb: process.resourceUsage().maxRSS })}\n`,
  );
}

function timeCmd(cmd: string, args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'ignore'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed with ${r.status}`);
  return performance.now() - t0;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function idleLiveRssMb(): Promise<number | string> {
  if (process.getuid?.() !== 0) return 'skipped (needs root for capture)';
  const p = spawn(
    process.execPath,
    [
      '--import=tsx',
      join(root, 'mapper/cli/bin.ts'),
      'sniffer',
      '--interface=lo',
      '--mapper-url=http://127.0.0.1:9',
      '--metrics-host=127.0.0.1',
      '--metrics-port=0',
      '--no-socket-scan',
      '--report-interval=60s',
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise((r) => setTimeout(r, 5000));
  let hwmKb = 0;
  try {
    const status = readFileSync(`/proc/${p.pid}/status`, 'utf8');
    hwmKb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  } catch {
    // process died; reported below
  }
  p.kill('SIGTERM');
  await new Promise((r) => p.once('exit', r));
  if (hwmKb === 0) return `failed: ${err.trim().split('\n').pop()}`;
  return hwmKb / 1024;
}

async function main(): Promise<void> {
  const packets = Number(process.argv[2] ?? 1_000_000);
  const dir = mkdtempSync(join(tmpdir(), 'callmap-bench-'));
  try {
    const file = join(dir, 'dns.pcap');
    const g0 = performance.now();
    writeDnsPcap(file, { packets, clients: 200, names: 50, seed: 7 });
    console.log(
      `generated ${packets} DNS responses (${(statSync(file).size / 1e6).toFixed(1)} MB) in ${((performance.now() - g0) / 1000).toFixed(1)} s`,
    );
    const runs = 3;
    const ours: Array<{ ms: number; maxRssKb: number; answers: number; observations: number }> = [];
    const text: number[] = [];
    const floor: number[] = [];
    for (let i = 0; i < runs; i++) {
      const r = spawnSync(process.execPath, ['--import=tsx', self, '--child', file], { encoding: 'utf8', cwd: root });
      if (r.status !== 0) throw new Error(`replay child failed: ${r.stderr}`);
      ours.push(JSON.parse(r.stdout.trim().split('\n').pop()!));
      text.push(timeCmd('tcpdump', ['-nr', file]));
      floor.push(timeCmd('tcpdump', ['-r', file, '-w', '/dev/null']));
    }
    const oursMs = median(ours.map((o) => o.ms));
    const textMs = median(text);
    const floorMs = median(floor);
    const peakMb = Math.max(...ours.map((o) => o.maxRssKb)) / 1024;
    console.log(
      `callmap replay (decode+aggregate): ${oursMs.toFixed(0)} ms for ${packets} packets ` +
        `(${((oursMs * 1e6) / packets).toFixed(0)} ns/packet, ${ours[0]?.answers} answers → ${ours[0]?.observations} observations)`,
    );
    console.log(`tcpdump -nr (text decode):        ${textMs.toFixed(0)} ms`);
    console.log(`tcpdump -r -w /dev/null (floor):  ${floorMs.toFixed(0)} ms`);
    console.log(`ratio vs text decode: ${(oursMs / textMs).toFixed(3)}x (target ≤ 0.10x)`);
    console.log(`ratio vs read floor:  ${(oursMs / floorMs).toFixed(2)}x (target ≤ 4x)`);
    console.log(`peak RSS of replay child: ${peakMb.toFixed(1)} MB (target ≤ 120 MB)`);
    const idle = await idleLiveRssMb();
    console.log(
      `idle live sniffer RSS (lo, 5 s): ${typeof idle === 'number' ? `${idle.toFixed(1)} MB (target ≤ 70 MB)` : idle}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  await child(process.argv[3]!);
} else {
  await main();
}
