import { type AddressInfo, connect, createServer as createNetServer, type Socket } from 'node:net';
import type { CliContext } from '../../../mapper/cli/command.ts';
import type { KafkaObservation, Observation } from '../../../mapper/contract/index.ts';
import { captureCtx, type MapperStub, startMapperStub } from '../../helpers/mapper-stub.ts';

export interface Receiver extends Omit<MapperStub, 'observations'> {
  /** The Kafka observations accepted. */
  observations(): KafkaObservation[];
}

/** A minimal mapper stand-in on 127.0.0.1 (test/helpers/mapper-stub.ts) that reads back Kafka observations. */
export async function startReceiver(): Promise<Receiver> {
  const stub = await startMapperStub();
  return Object.assign(stub, {
    observations: () =>
      stub.batches.flatMap((b) => b.observations).filter((o: Observation): o is KafkaObservation => o.kind === 'kafka'),
  });
}

/** Sum of counts per (client, topic, operation, allowed) key. */
export function countsByKey(obs: readonly KafkaObservation[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of obs) {
    const k = `${o.serverPod.name}.${o.serverPod.namespace} ${o.clientIp} ${o.resourceType}:${o.resourceName} ${o.operation} ${o.allowed ? 'allowed' : 'denied'}`;
    out[k] = (out[k] ?? 0) + o.count;
  }
  return out;
}

export interface CuttingProxy {
  url: string;
  /**
   * The next server→client data containing `needle` is forwarded only up to the middle of the
   * needle, then both sides of that connection are destroyed (a stream cut mid-line).
   */
  cutAt(needle: string): Promise<void>;
  /** Connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

/** A TCP proxy on 127.0.0.1 in front of `target` that can cut a connection mid-line on demand. */
export async function startCuttingProxy(target: string): Promise<CuttingProxy> {
  const t = new URL(target);
  const sockets = new Set<Socket>();
  let pending: { needle: Buffer; done: () => void } | undefined;
  let accepted = 0;
  const server = createNetServer((client) => {
    accepted++;
    const upstream = connect(Number(t.port), t.hostname);
    sockets.add(client);
    sockets.add(upstream);
    const kill = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', kill);
    upstream.on('error', kill);
    client.on('close', kill);
    upstream.on('close', kill);
    client.on('data', (d: Buffer) => upstream.write(d));
    upstream.on('data', (d: Buffer) => {
      const p = pending;
      const at = p === undefined ? -1 : d.indexOf(p.needle);
      if (p !== undefined && at >= 0) {
        pending = undefined;
        client.write(d.subarray(0, at + Math.floor(p.needle.length / 2)), () => {
          kill();
          p.done();
        });
        return;
      }
      client.write(d);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    cutAt: (needle) =>
      new Promise<void>((resolve) => {
        pending = { needle: Buffer.from(needle), done: resolve };
      }),
    connections: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface FakeCtx {
  ctx: CliContext;
  out: () => string;
  err: () => string;
  abort: () => void;
}

export function fakeCtx(env: Record<string, string | undefined> = {}): FakeCtx {
  const ctx = captureCtx(env);
  return { ctx, out: ctx.out, err: ctx.err, abort: ctx.abort };
}

/** Polls `cond` every 20 ms until true or `ms` elapse. */
export async function until(cond: () => boolean, ms = 8000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
