/**
 * Test-only driver for the Go chart renderer in ./render (no helm binary can be installed on the
 * project's machines). Builds it once per process into a temp dir in GOPATH mode against Debian's
 * packaged sprig sources (/usr/share/gocode), with a GOCACHE that survives between runs.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';

const run = promisify(execFile);

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const chartDir = join(repoRoot, 'chart');
const gopath = '/usr/share/gocode';

/** Why the Go renderer cannot run here, or undefined when it can. */
export function goUnavailableReason(): string | undefined {
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.error || go.status !== 0) return 'the go toolchain is not installed (apt-get install golang-go)';
  const sprig = spawnSync('test', ['-d', join(gopath, 'src/github.com/Masterminds/sprig')]);
  if (sprig.status !== 0) return 'sprig sources are missing (apt-get install golang-github-masterminds-sprig-dev)';
  return undefined;
}

let built: Promise<string> | undefined;
const tempDirs: string[] = [];

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** Removes the renderer binary and values files this process wrote (the GOCACHE stays). */
export function cleanupRenderer(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  built = undefined;
  valuesDir = undefined;
}

/** Path of the renderer binary, built on first use. */
export function rendererBinary(): Promise<string> {
  built ??= (async () => {
    const out = join(tempDir('callmap-chart-render-'), 'render');
    await run('go', ['build', '-o', out, './test/chart/render'], {
      cwd: repoRoot,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: tmpdir(),
        GO111MODULE: 'off',
        GOPATH: gopath,
        GOFLAGS: '',
        GOCACHE: join(tmpdir(), 'callmap-chart-gocache'),
      },
    });
    return out;
  })();
  return built;
}

export type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
};

export type RenderResult = { source: string; manifests: Manifest[] };

export type RenderOptions = { name?: string; namespace?: string; chart?: string };

let valuesDir: string | undefined;

/** Writes a values override to a temp file and returns its path. */
export function valuesFile(label: string, content: string): string {
  valuesDir ??= tempDir('callmap-chart-values-');
  const path = join(valuesDir, `${label}.yaml`);
  writeFileSync(path, content);
  return path;
}

function args(files: readonly string[], opts: RenderOptions, extra: readonly string[]): string[] {
  return [
    '-chart',
    opts.chart ?? chartDir,
    '-name',
    opts.name ?? 'callmap',
    '-namespace',
    opts.namespace ?? 'observability',
    ...files.flatMap((f) => ['-f', f]),
    ...extra,
  ];
}

/** Renders every template; rejects with the renderer's stderr on template errors. */
export async function renderChart(files: readonly string[] = [], opts: RenderOptions = {}): Promise<RenderResult> {
  const bin = await rendererBinary();
  const { stdout } = await run(bin, args(files, opts, []), { maxBuffer: 16 * 1024 * 1024 });
  const manifests: Manifest[] = [];
  for (const doc of parseAllDocuments(stdout)) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0]?.message}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    manifests.push(value as Manifest);
  }
  return { source: stdout, manifests };
}

/** The rendered NOTES.txt. */
export async function renderNotes(files: readonly string[] = [], opts: RenderOptions = {}): Promise<string> {
  const bin = await rendererBinary();
  return (await run(bin, args(files, opts, ['-notes']))).stdout;
}

/** Values after coalescing the files over values.yaml, as Helm validates them against the schema. */
export async function coalescedValues(files: readonly string[] = [], opts: RenderOptions = {}): Promise<unknown> {
  const bin = await rendererBinary();
  return JSON.parse((await run(bin, args(files, opts, ['-values']))).stdout) as unknown;
}

/** Runs the renderer expecting failure; resolves with stderr. */
export async function renderError(files: readonly string[], opts: RenderOptions = {}): Promise<string> {
  const bin = await rendererBinary();
  try {
    await run(bin, args(files, opts, []));
  } catch (err) {
    return String((err as { stderr?: unknown }).stderr ?? err);
  }
  throw new Error('rendering succeeded but was expected to fail');
}
