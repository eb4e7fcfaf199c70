/**
 * Runs the recording receiver as its own process (so it can live inside a network namespace):
 * prints `listening <url>` and then one JSON line per accepted batch.
 */
import { startReceiver } from '../integration/sniffer/receiver.ts';

const rx = await startReceiver();
rx.onBatch = (b) => process.stdout.write(`${JSON.stringify(b)}\n`);
process.stdout.write(`listening ${rx.url}\n`);
process.on('SIGTERM', () => {
  void rx.close().then(() => process.exit(0));
});
