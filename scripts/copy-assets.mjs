// Copies non-TypeScript runtime assets next to the compiled output and marks the CLI executable.
import { chmodSync, cpSync, existsSync } from 'node:fs';

const assets = ['mapper/web/static', 'mapper/openapi.yaml', 'mapper/demo/data', 'test/fixtures/kube'];
for (const a of assets) if (existsSync(a)) cpSync(a, `dist/${a}`, { recursive: true });
if (existsSync('dist/mapper/cli/bin.js')) chmodSync('dist/mapper/cli/bin.js', 0o755);
