/**
 * Durability of the ingest path with the writer thread (ADR 0100), through the HTTP API:
 * `callmap mapper` killed with SIGKILL right after a burst of concurrent 202s keeps every
 * acknowledged batch (and knows their ids after the restart); a commit that SQLite refuses is a
 * 503 with an ErrorBody and nothing of the batch is stored or counted.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import Database from 'better-sqlite3';
import type { IntentsResponse, Observation } from '../../../mapper/contract/index.ts';
import { openMapStore } from '../../../mapper/store/index.ts';
import { eventually } from '../../helpers/eventually.ts';
import { startKubeApiServer } from '../../kube-api-server/index.ts';
import { batch, tcp, tempDir } from '../../unit/mapper/fixtures.ts';
import { spawnMapper, startTestMapper } from './harness.ts';

const FIXTURE = fileURLToPath(new URL('../../fixtures/k8s/resolution.yaml', import.meta.url));

const post = (url: string, body: unknown): Promise<Response> =>
  fetch(`${url}/api/v1/reports`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

test('callmap mapper: SIGKILL right after a burst of concurrent 202s loses none of them; their ids stay known', async (t) => {
  const kube = await startKubeApiServer({ fixture: FIXTURE, bookmarkIntervalMs: 500 });
  t.teardown(() => kube.close());
  const db = path.join(tempDir(), 'kill.db');
  const args = ['--db', db, '--kubeconfig', kube.kubeconfigPath];
  const m1 = await spawnMapper(args);
  t.teardown(() => {
    m1.child.kill('SIGKILL');
  });
  t.true(await eventually(async () => (await fetch(`${m1.url}/readyz`)).status === 200), m1.stderr());

  const now = Date.now();
  // web pod → bare pod: one edge; every batch adds `count` to it, and a port of its own.
  const batches = Array.from({ length: 24 }, (_, i) =>
    batch(
      Array.from(
        { length: 50 },
        (_, j): Observation => ({
          kind: 'tcp',
          clientIp: '10.50.0.11',
          serverIp: '10.50.0.20',
          serverPort: 8000 + i,
          source: 'capture',
          time: now + j,
        }),
      ),
      `kill-${i}`,
    ),
  );
  const answers = await Promise.all(batches.map((b) => post(m1.url, b)));
  t.deepEqual(
    answers.map((r) => r.status),
    batches.map(() => 202),
  );
  m1.child.kill('SIGKILL'); // no shutdown, no flush: only what was committed before each 202 survives
  await m1.exited;

  const m2 = await spawnMapper(args);
  t.teardown(() => {
    m2.child.kill('SIGKILL');
  });
  const intents = ((await (await fetch(`${m2.url}/api/v1/intents`)).json()) as IntentsResponse).intents;
  const edge = intents.find((i) => i.client.name === 'web' && i.server?.name === 'checkout-svc');
  t.is(edge?.count, 24 * 50);
  t.deepEqual(
    edge?.ports,
    batches.map((_, i) => 8000 + i),
  );
  t.true(await eventually(async () => (await fetch(`${m2.url}/readyz`)).status === 200), m2.stderr());
  const again = await post(m2.url, batches[7]);
  t.is(again.status, 202);
  t.deepEqual(await again.json(), { batchId: 'kill-7', accepted: 50, duplicate: true });
  m2.child.kill('SIGTERM');
  t.is(await m2.exited, 0, m2.stderr());
});

test('a commit SQLite refuses is a 503 ErrorBody with Retry-After; nothing of it is stored or counted; later batches commit', async (t) => {
  const dbPath = path.join(tempDir(), 'refuse.db');
  openMapStore({ path: dbPath, writer: 'inline' }).close();
  const raw = new Database(dbPath);
  raw.exec(`CREATE TRIGGER refuse BEFORE INSERT ON batches WHEN NEW.batch_id LIKE 'refused-%'
            BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END;`);
  raw.close();
  const m = await startTestMapper({ dbPath });
  t.teardown(() => m.close());

  const bad = batch([tcp('10.0.0.1', '10.0.0.3', 443)], 'refused-1');
  const res = await m.post(bad);
  t.is(res.status, 503);
  t.is(res.headers.get('retry-after'), '2');
  const body = (await res.json()) as { error: { code: string; message: string } };
  t.is(body.error.code, 'DB_WRITE_FAILED');
  t.regex(body.error.message, /refused by the test trigger.*nothing of it was stored, retry/);
  // the same id again: still not known, still refused (it was never acknowledged)
  t.is((await m.post(bad)).status, 503);

  const good = batch([tcp('10.0.0.1', '10.0.0.2', 80)]);
  const ok = await m.post(good);
  t.is(ok.status, 202);
  t.deepEqual(await ok.json(), { batchId: good.batchId, accepted: 1, duplicate: false });
  const intents = ((await (await m.get('/api/v1/intents')).json()) as IntentsResponse).intents;
  t.deepEqual(
    intents.map((i) => `${i.client.name}>${i.server?.name}`),
    ['frontend>checkout'],
  );
  const metrics = await (await m.get('/metrics')).text();
  t.regex(metrics, /callmap_observations_total\{kind="tcp"\} 1\n/);
  t.regex(metrics, /callmap_reports_rejected_total\{source="sniffer",reason="internal"\} 2\n/);
});
