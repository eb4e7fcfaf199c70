/**
 * The synthetic map both mapper benchmarks use: 10,000 workloads, each client calling 10 servers
 * (100,000 distinct edges), as `tcp` observations resolved by a static table.
 */
import type { Observation } from '../../mapper/contract/index.ts';
import { StaticResolver } from '../../test/helpers/static-resolver.ts';

export const WORKLOADS = 10_000;
export const EDGES_PER_CLIENT = 10;
export const BATCH = 1_000;
export const T0 = 1_750_000_000_000;

export const ipOf = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

export function syntheticResolver(): StaticResolver {
  const ips: Record<string, { name: string; namespace: string; kind: string; labels: Record<string, string> }> = {};
  for (let i = 0; i < WORKLOADS; i++) {
    ips[ipOf(i)] = {
      name: `w-${i % 100}`,
      namespace: `ns-${Math.floor(i / 100)}`,
      kind: 'Deployment',
      labels: { app: `w-${i}` },
    };
  }
  return new StaticResolver({ ips });
}

/** Observation n of the run: client n/10 mod 10k, its (n mod 10)-th server. */
export function observation(n: number): Observation {
  const client = Math.floor(n / EDGES_PER_CLIENT) % WORKLOADS;
  const k = n % EDGES_PER_CLIENT;
  const server = (client + 1 + k * 997) % WORKLOADS;
  return {
    kind: 'tcp',
    clientIp: ipOf(client),
    serverIp: ipOf(server),
    serverPort: 8000 + k,
    source: 'capture',
    time: T0 + n,
  };
}
