/**
 * Large query bodies are chunked, pooled and reference-counted (ADR 0034): a response still being
 * written must keep its bytes while the map changes and new bodies are built from pooled chunks.
 */
import http from 'node:http';
import test from 'ava';
import { expandIntents, type GraphResponse, type IntentsResponse } from '../../../mapper/contract/index.ts';
import { batch, T0 } from '../../unit/mapper/fixtures.ts';
import { startTestMapper, syntheticCluster } from './harness.ts';

const WORKLOADS = 4_000;
const EDGES = 40_000; // ≈ 10 MB of intents JSON: more than loopback socket buffers hold

const { resolver, edge } = syntheticCluster(WORKLOADS, (i) => ({ app: `w-${i}` }));

/** Starts a GET and stops reading after the headers; `finish()` reads the rest. */
function slowGet(url: string): Promise<{ finish: () => Promise<Buffer> }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        res.pause();
        const chunks: Buffer[] = [];
        resolve({
          finish: () =>
            new Promise<Buffer>((done, fail) => {
              res.on('data', (c: Buffer) => chunks.push(c));
              res.on('end', () => done(Buffer.concat(chunks)));
              res.on('error', fail);
              res.resume();
            }),
        });
      })
      .on('error', reject);
  });
}

test('a response being written keeps its bytes while the map changes and bodies are rebuilt', async (t) => {
  const m = await startTestMapper({ resolver: resolver() });
  t.teardown(() => m.close());
  for (let b = 0; b < EDGES / 1000; b++) {
    const res = await m.post(batch(Array.from({ length: 1000 }, (_, i) => edge(b * 1000 + i))));
    t.is(res.status, 202);
  }
  const before = Buffer.from(await (await m.get('/api/v1/intents')).arrayBuffer());
  t.true(before.length > 8_000_000);
  const count = (JSON.parse(before.toString()) as IntentsResponse).intents.length;
  const slow = await slowGet(`${m.url}/api/v1/intents`);
  const slowGraph = await slowGet(`${m.url}/api/v1/graph`);
  const graphBefore = Buffer.from(await (await m.get('/api/v1/graph')).arrayBuffer());
  const slowCompact = await slowGet(`${m.url}/api/v1/intents?compact=true`);
  const compactBefore = Buffer.from(await (await m.get('/api/v1/intents?compact=true')).arrayBuffer());
  t.deepEqual(expandIntents(JSON.parse(compactBefore.toString())), JSON.parse(before.toString()));

  // Change the map and rebuild full bodies several times (each rebuild takes pooled chunks).
  for (let r = 0; r < 4; r++) {
    t.is((await m.post(batch([edge(r * 997, T0 + 10_000_000 + r)]))).status, 202);
    const now = (await (await m.get('/api/v1/intents')).json()) as IntentsResponse;
    t.is(now.intents.length, count);
    const g = (await (await m.get('/api/v1/graph')).json()) as GraphResponse;
    t.is(g.edges.length, now.intents.length);
    // The compact body of this version is copied from the previous one; it expands to the same map.
    t.deepEqual(expandIntents(await (await m.get('/api/v1/intents?compact=true')).json()), now);
  }

  const got = await slow.finish();
  t.is(got.length, before.length);
  t.true(got.equals(before), 'the in-flight intents body was overwritten');
  const gotGraph = await slowGraph.finish();
  t.true(gotGraph.equals(graphBefore), 'the in-flight graph body was overwritten');
  t.true((await slowCompact.finish()).equals(compactBefore), 'the in-flight compact body was overwritten');
  const latest = (await (await m.get('/api/v1/intents')).json()) as IntentsResponse;
  t.true(latest.intents.some((it) => it.lastSeen === T0 + 10_000_003));
});
