/**
 * Standalone entry: `npm run kube-test-server -- --port 8001 --fixture test/fixtures/kube/basic.yaml`.
 * Same flags and exit codes as `callmap kube-test-server` (it runs that command as the process).
 */
import { runAsProcess } from '../../mapper/cli/process.ts';

runAsProcess(['kube-test-server', ...process.argv.slice(2)]);
