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
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
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
  const res = await readPcapFile(file, (buf, off, len, lt, sec, ms) => proc.handleAt(buf, off, len, lt, sec, ms));
  observations += proc.drain().length;
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  process.stdout.write(
    `${JSON.stringify({ ms, cpuMs, packets: res.packets, answers: proc.stats.dnsAnswers, observations, maxRssKb: process.resourceUsage().maxRSS })}\n`,
  );
}

interface Measured {
  wallMs: number;
  /** user + system CPU, ms (undefined when /usr/bin/time is missing). */
  cpuMs: number | undefined;
}

/** Runs a command with stdout discarded; wall time plus CPU time via /usr/bin/time when present. */
function timeCmd(cmd: string, args: string[]): Measured {
  const haveTime = existsSync('/usr/bin/time');
  const t0 = performance.now();
  const r = haveTime
    ? spawnSync('/usr/bin/time', ['-f', '%U %S', cmd, ...args], {
        stdio: ['ignore', 'ignore', 'pipe'],
        encoding: 'utf8',
      })
    : spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'ignore'] });
  const wallMs = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed with ${r.status}`);
  const m = haveTime ? /(\d+\.\d+) (\d+\.\d+)\s*$/.exec(String(r.stderr)) : null;
  return { wallMs, cpuMs: m ? (Number(m[1]) + Number(m[2])) * 1000 : undefined };
}

/**
 * Compiles this file (and what it imports, including the sniffer CLI) to plain JavaScript, as
 * `npm run build` would, so the measured processes carry no TypeScript loader. Falls back to tsx.
 */
function compile(outDir: string): string[] {
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  // biome-ignore format: one flag per pair
  const args = [tsc, '--outDir', outDir, '--rootDir', root, '--module', 'nodenext', '--moduleResolution', 'nodenext',
    '--target', 'es2022', '--rewriteRelativeImportExtensions', '--allowImportingTsExtensions', '--skipLibCheck',
    '--types', 'node', '--noCheck', self];
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
  const js = join(outDir, 'bench', 'sniffer-replay.bench.js');
  if (existsSync(js)) return [js];
  console.log(`(tsc emit failed, measuring through tsx: ${r.stdout.split('\n')[0]})`);
  return ['--import=tsx', self];
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** `--live-child`: the real `callmap sniffer` command, idle on `lo`. */
async function liveChild(): Promise<void> {
  const { command } = await import('../sniffer/cli.ts');
  const ac = new AbortController();
  process.on('SIGTERM', () => ac.abort());
  const code = await command.run(
    [
      '--interface=lo',
      '--mapper-url=http://127.0.0.1:9',
      '--metrics-host=127.0.0.1',
      '--metrics-port=0',
      '--no-socket-scan',
      '--report-interval=60s',
    ],
    { env: {}, stdout: process.stdout, stderr: process.stderr, signal: ac.signal },
  );
  process.exitCode = code;
}

async function idleLiveRssMb(entry: string[]): Promise<number | string> {
  if (process.getuid?.() !== 0) return 'skipped (needs root for capture)';
  const p = spawn(process.execPath, [...entry, '--live-child'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
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
  if (p.exitCode === null && p.signalCode === null) {
    p.kill('SIGTERM');
    await new Promise((r) => p.once('exit', r));
  }
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
    // inside the repo so the compiled files resolve node_modules (@callmap/pcap, prom-client, undici)
    const jsDir = join(root, 'node_modules', '.cache', `callmap-bench-sniffer-${process.pid}`);
    const entry = compile(jsDir);
    const runs = 3;
    const ours: Array<{ ms: number; cpuMs: number; maxRssKb: number; answers: number; observations: number }> = [];
    const text: Measured[] = [];
    const floor: Measured[] = [];
    for (let i = 0; i < runs; i++) {
      const r = spawnSync(process.execPath, [...entry, '--child', file], { encoding: 'utf8', cwd: root });
      if (r.status !== 0) throw new Error(`replay child failed: ${r.stderr}`);
      ours.push(JSON.parse(r.stdout.trim().split('\n').pop()!));
      text.push(timeCmd('tcpdump', ['-nr', file]));
      floor.push(timeCmd('tcpdump', ['-r', file, '-w', '/dev/null']));
    }
    const oursMs = median(ours.map((o) => o.ms));
    const oursCpu = median(ours.map((o) => o.cpuMs));
    const textMs = median(text.map((x) => x.wallMs));
    const floorMs = median(floor.map((x) => x.wallMs));
    const cpuOf = (xs: Measured[]): number | undefined =>
      xs.every((x) => x.cpuMs !== undefined) ? median(xs.map((x) => x.cpuMs!)) : undefined;
    const textCpu = cpuOf(text);
    const floorCpu = cpuOf(floor);
    const peakMb = Math.max(...ours.map((o) => o.maxRssKb)) / 1024;
    const f = (x: number | undefined, d = 0): string => (x === undefined ? 'n/a' : x.toFixed(d));
    console.log(
      `load average at start: ${loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')} on ${cpus().length} CPUs`,
    );
    console.log(
      `callmap replay (read+decode+dedupe+aggregate): wall ${f(oursMs)} ms, CPU ${f(oursCpu)} ms for ${packets} packets ` +
        `(${f((oursCpu * 1e6) / packets)} ns CPU/packet; ${ours[0]?.answers} answers → ${ours[0]?.observations} observations)`,
    );
    console.log(`tcpdump -nr (text decode):        wall ${f(textMs)} ms, CPU ${f(textCpu)} ms`);
    console.log(`tcpdump -r -w /dev/null (floor):  wall ${f(floorMs)} ms, CPU ${f(floorCpu)} ms`);
    console.log(
      `ratio vs text decode: wall ${f(oursMs / textMs, 3)}x, CPU ${textCpu ? f(oursCpu / textCpu, 3) : 'n/a'}x (target ≤ 0.10x)`,
    );
    console.log(
      `ratio vs read floor:  wall ${f(oursMs / floorMs, 2)}x, CPU ${floorCpu ? f(oursCpu / floorCpu, 2) : 'n/a'}x (target ≤ 4x)`,
    );
    console.log(`peak RSS of replay child: ${peakMb.toFixed(1)} MB (target ≤ 120 MB)`);
    const idle = await idleLiveRssMb(entry);
    console.log(
      `idle live sniffer RSS (lo, 5 s): ${typeof idle === 'number' ? `${idle.toFixed(1)} MB (target ≤ 70 MB)` : idle}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(join(root, 'node_modules', '.cache', `callmap-bench-sniffer-${process.pid}`), {
      recursive: true,
      force: true,
    });
  }
}

if (process.argv[2] === '--child') {
  await child(process.argv[3]!);
} else if (process.argv[2] === '--live-child') {
  await liveChild();
} else {
  await main();
}
