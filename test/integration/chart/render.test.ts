/**
 * The test-only chart renderer (test/chart/render) must behave like Helm for everything the chart
 * relies on; these tests pin that on a small fixture chart (test/chart/fixture).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import test from 'ava';
import {
  cleanupRenderer,
  coalescedValues,
  goUnavailableReason,
  renderChart,
  renderError,
  renderNotes,
  repoRoot,
  valuesFile,
} from '../../chart/render.ts';

const chart = join(repoRoot, 'test/chart/fixture');
const opts = { chart, name: 'rel', namespace: 'ns' };

const skipReason = goUnavailableReason();
if (skipReason) {
  process.stdout.write(`test/integration/chart: skipping the renderer tests: ${skipReason}\n`);
  test.skip(`renderer (skipped: ${skipReason})`, () => {});
} else {
  test.after.always(cleanupRenderer);
  const need = valuesFile('fixture-need', 'need: x\n');

  test('renders documents with Source lines, skipping partials, NOTES and comment-only documents', async (t) => {
    const { source, manifests } = await renderChart([need], opts);
    t.deepEqual(
      manifests.map((m) => m.metadata.name),
      ['demo', 'first', 'second'],
    );
    t.deepEqual(
      [...source.matchAll(/^# Source: (.+)$/gm)].map((m) => m[1]),
      ['fixture/templates/config.yaml', 'fixture/templates/two.yaml', 'fixture/templates/two.yaml'],
    );
    t.false(source.includes('_helpers'));
    t.false(source.includes('Installed'));
  });

  test('implements .Release, .Chart, .Template, .Capabilities, include, tpl, fromYaml, toJson, default', async (t) => {
    const { manifests } = await renderChart([need], opts);
    const cm = manifests[0]!;
    t.deepEqual(cm.metadata, { name: 'demo', namespace: 'ns', labels: { app: 'demo', release: 'rel' } });
    t.like(cm.data as object, {
      port: '8080',
      rendered: 'demo-rel',
      chart: 'fixture-1.2.3-9.9',
      template: 'fixture/templates/config.yaml',
      kube: 'v1.31.0',
      hasApps: 'true',
      missing: '',
      default: 'fallback',
      json: '["a","b"]',
    });
  });

  test('numbers behave as in Helm: float64 values, integral ones printed as integers by toYaml', async (t) => {
    const { manifests } = await renderChart([need], opts);
    const data = manifests[0]!.data as Record<string, string>;
    // Helm reads values through JSON, so 1000000 is a float64 and `quote` prints 1e+06.
    t.is(data.big, '1e+06');
    t.is(data.numbers, 'big: 1000000\nport: 8080\nratio: 0.5\n');
  });

  test('values files coalesce like Helm: maps merge, lists replace, null deletes', async (t) => {
    const override = valuesFile('fixture-override', 'nested: {drop: null, list: [c], extra: 1}\nname: other\n');
    t.deepEqual(await coalescedValues([need, override], opts), {
      name: 'other',
      port: 8080,
      big: 1000000,
      ratio: 0.5,
      nested: { keep: 'yes-kept', list: ['c'], extra: 1 },
      template: '{{ .Values.name }}-{{ .Release.Name }}',
      enabled: false,
      need: 'x',
    });
    const { manifests } = await renderChart([need, override], opts);
    t.is((manifests[0]!.data as Record<string, string>).nested, 'extra: 1\nkeep: yes-kept\nlist:\n- c\n');
  });

  test('required fails rendering with its message; conditional templates follow values', async (t) => {
    t.regex(await renderError([], opts), /need is required/);
    const { manifests } = await renderChart([need, valuesFile('fixture-on', 'enabled: true\n')], opts);
    t.true(manifests.some((m) => m.metadata.name === 'optional'));
  });

  test('renders NOTES.txt on request', async (t) => {
    t.is(await renderNotes([need], opts), 'Installed rel (fixture).\n');
  });

  test('the renderer source is gofmt-clean', (t) => {
    const r = spawnSync('gofmt', ['-l', join(repoRoot, 'test/chart/render')], { encoding: 'utf8' });
    if (r.error) {
      t.log(`gofmt not found: ${r.error.message}`);
      t.pass();
      return;
    }
    t.is(r.stdout, '');
  });
}
