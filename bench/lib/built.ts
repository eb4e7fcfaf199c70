/**
 * Compiles a benchmark file (and what it imports) with the project's tsc settings into a temporary
 * directory, so the mapper child process runs plain JavaScript the way the product does
 * (`npm run build` → `dist/`), not through the tsx loader, whose own resident memory (≈ 35 MB)
 * would otherwise be counted as the mapper's. `--tsx` on a benchmark's command line skips this.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface BuiltChild {
  /** Entry to fork. */
  file: string;
  /** Node flags for the child (the tsx loader only when not built). */
  execArgv: string[];
  /** `compiled JavaScript (tsc)` or `tsx loader`. */
  mode: string;
  cleanup(): void;
}

/** The compiled form of `benchFile` (absolute path of a .ts file in this repo), or tsx when `--tsx` is given. */
export function builtChild(benchFile: string): BuiltChild {
  if (process.argv.includes('--tsx')) {
    return { file: benchFile, execArgv: ['--import=tsx'], mode: 'tsx loader (--tsx)', cleanup: () => {} };
  }
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'callmap-bench-build-'));
  const tsconfig = path.join(out, 'tsconfig.json');
  fs.writeFileSync(
    tsconfig,
    JSON.stringify({
      extends: path.join(root, 'tsconfig.json'),
      compilerOptions: {
        outDir: path.join(out, 'js'),
        rootDir: root,
        sourceMap: false,
        typeRoots: [path.join(root, 'node_modules', '@types')],
      },
      include: [],
      // Worker entries are loaded by URL, not imported: list them so tsc emits them too.
      files: [benchFile, path.join(root, 'mapper', 'store', 'writer-thread-worker.ts')],
    }),
  );
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  // Type errors elsewhere in a work-in-progress tree do not stop emitting; a missing output does.
  spawnSync(process.execPath, [tsc, '-p', tsconfig], { stdio: 'ignore' });
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(out, 'js', 'node_modules'));
  const file = path.join(out, 'js', path.relative(root, benchFile)).replace(/\.ts$/, '.js');
  if (!fs.existsSync(file)) throw new Error(`tsc did not emit ${file}; run with --tsx instead`);
  return {
    file,
    execArgv: [],
    mode: 'compiled JavaScript (tsc, as npm run build)',
    cleanup: () => fs.rmSync(out, { recursive: true, force: true }),
  };
}
