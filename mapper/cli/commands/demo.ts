/** `callmap demo`: the whole product on an embedded demo cluster, in one command. */
import { runDemo } from '../../demo/run.ts';
import { duration, parseCli, port } from '../args.ts';
import type { Command } from '../command.ts';
import { main } from '../main.ts';

const usage = `Usage: callmap demo [options]

Maps the embedded demo cluster with the real components, on this machine only (no cluster, no
root, no network): a Kubernetes API test server serves the demo shop (frontend, cart, checkout,
currency, email, payment, product catalog, recommendation, shipping, ad, redis, load generator,
a Kafka StatefulSet and two Kafka clients); the sniffer replays demo traffic from a capture; the
Istio watcher scrapes demo Envoy stats; the Kafka watcher follows demo authorizer logs through the
pod-log API. Then it prints the map (callmap list), writes a picture, and serves the live web map
until Ctrl-C.

Options:
      --port N         Port of the demo mapper and live map (default 9090; 0 = any free port)
      --host ADDR      Address to bind (default 127.0.0.1)
      --svg PATH       Where to write the picture (default callmap-demo.svg)
      --no-svg         Do not write a picture
      --exit           Stop after printing the map (no live map)
      --round DURATION Interval of new demo traffic while serving (default 10s)
  -h, --help           This help

Exit codes: 0 done (or stopped with Ctrl-C), 1 a step failed (port in use, loopback range missing),
64 bad flag, 130 interrupted while starting.
`;

export const command: Command = {
  name: 'demo',
  summary: 'Run everything on the embedded demo cluster and show the map',
  usage,
  async run(argv, ctx) {
    const { values } = parseCli(argv, {
      port: { type: 'string' },
      host: { type: 'string' },
      svg: { type: 'string' },
      'no-svg': { type: 'boolean' },
      exit: { type: 'boolean' },
      round: { type: 'string' },
    });
    return runDemo(
      {
        host: values.host ?? '127.0.0.1',
        port: port('port', values.port, 9090),
        svgPath: values['no-svg'] ? undefined : (values.svg ?? 'callmap-demo.svg'),
        exit: values.exit ?? false,
        roundMs: duration('round', values.round, 10_000),
        run: main,
      },
      ctx,
    );
  },
};
