/**
 * `callmap list` text, Otterize style: per client workload
 *   `<client> in namespace <ns> calls:` then `  - <server>[ in namespace <ns>]`, and beneath it
 *   HTTP lines (`    GET /path`) and Kafka lines (`    topic: op, op`, denied ones marked).
 * Pure.
 */
import type { Intent } from '../contract/index.ts';

export function formatIntentsList(intents: readonly Intent[]): string {
  const lines: string[] = [];
  let current = '';
  for (const it of intents) {
    const key = `${it.client.namespace}/${it.client.name}`;
    if (key !== current) {
      current = key;
      lines.push(`${it.client.name} in namespace ${it.client.namespace} calls:`);
    }
    if (it.external) {
      const ips = it.external.ips.length > 0 ? ` ${it.external.ips.join(', ')}` : '';
      const ports = it.ports.length > 0 ? ` port ${it.ports.join(', ')}` : '';
      lines.push(`  - ${it.external.domain} (external${ips ? `:${ips}` : ''}${ports ? `,${ports}` : ''})`);
      continue;
    }
    const s = it.server;
    if (!s) continue;
    lines.push(`  - ${s.name}${s.namespace === it.client.namespace ? '' : ` in namespace ${s.namespace}`}`);
    for (const h of it.http) {
      if (h.methods.length === 0) lines.push(`    ${h.path}`);
      for (const m of h.methods) lines.push(`    ${m} ${h.path}`);
    }
    for (const k of it.kafka) {
      if (k.operations.length > 0) lines.push(`    ${k.topic}: ${k.operations.join(', ')}`);
      if (k.deniedOperations.length > 0) lines.push(`    ${k.topic}: ${k.deniedOperations.join(', ')} (denied)`);
    }
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
