/**
 * Pure checks of the chart's values contract (no Go needed): values.yaml against values.schema.json
 * with ajv (draft-07, as Helm validates it), typos and bad values rejected, every `.Values` path a
 * template reads exists in values.yaml, and the offline manifest validator itself catches errors.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import test from 'ava';
import { parse } from 'yaml';
import { chartDir } from '../../chart/render.ts';
import { modelName, unknownFields, validateManifest } from '../../chart/validate.ts';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const schema = JSON.parse(readFileSync(join(chartDir, 'values.schema.json'), 'utf8')) as Record<string, unknown>;
const defaults = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Record<string, Json>;
const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);

function isMap(v: Json | undefined): v is { [key: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Helm's coalescing of a user values file over values.yaml (maps merge, null deletes). */
function coalesce(base: { [key: string]: Json }, override: { [key: string]: Json }): { [key: string]: Json } {
  const out: { [key: string]: Json } = { ...base };
  for (const [key, value] of Object.entries(override)) {
    const current = out[key];
    if (value === null) delete out[key];
    else if (isMap(current) && isMap(value)) out[key] = coalesce(current, value);
    else out[key] = value;
  }
  return out;
}

function errorsFor(overrideYaml: string): string[] {
  const merged = coalesce(defaults, parse(overrideYaml) as { [key: string]: Json });
  if (validate(merged)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`);
}

test('the schema is JSON Schema draft-07 and closes the top level', (t) => {
  t.is(schema.$schema, 'http://json-schema.org/draft-07/schema#');
  t.is(schema.additionalProperties, false);
});

test('values.yaml satisfies values.schema.json', (t) => {
  t.true(validate(defaults), JSON.stringify(validate.errors, null, 2));
});

/** [label, override, instancePath every error must start with] */
const bad: ReadonlyArray<readonly [string, string, string]> = [
  ['top-level typo', 'mapperr: {port: 9090}', ''],
  ['nested typo', 'mapper: {persistance: {enabled: true}}', '/mapper'],
  ['port as a string', 'mapper: {port: "9090"}', '/mapper/port'],
  ['port out of range', 'sniffer: {metricsPort: 70000}', '/sniffer/metricsPort'],
  ['memory that is no quantity', 'mapper: {resources: {limits: {memory: lots}}}', '/mapper/resources/limits/memory'],
  ['unknown resource name', 'mapper: {resources: {limits: {gpu: 1}}}', '/mapper/resources/limits'],
  ['pull policy typo', 'image: {pullPolicy: Sometimes}', '/image/pullPolicy'],
  ['kafka on without servers', 'kafka: {enabled: true}', '/kafka/servers'],
  ['kafka server without namespace', 'kafka: {servers: [kafka-0]}', '/kafka/servers/0'],
  ['bad interval', 'istio: {interval: soon}', '/istio/interval'],
  ['bad cron', 'reports: {schedule: "every monday"}', '/reports/schedule'],
  ['webhook that is no URL', 'reports: {webhook: {url: "hooks.example"}}', '/reports/webhook/url'],
  ['report destination typo', 'reports: {destination: {type: pvc}}', '/reports/destination/type'],
  [
    'namespace name with capitals',
    'networkPolicy: {allowedNamespaces: [Monitoring]}',
    '/networkPolicy/allowedNamespaces/0',
  ],
  ['CIDR without prefix', 'networkPolicy: {nodeCIDRs: [10.0.0.1]}', '/networkPolicy/nodeCIDRs/0'],
  ['sysPtrace as a string', 'sniffer: {sysPtrace: "yes"}', '/sniffer/sysPtrace'],
  ['extra peer with an unknown key', 'networkPolicy: {extraPeers: [{podSelectr: {}}]}', '/networkPolicy/extraPeers/0'],
  ['toleration typo', 'sniffer: {tolerations: [{operater: Exists}]}', '/sniffer/tolerations/0'],
];

for (const [label, yaml, path] of bad) {
  test(`the schema rejects ${label}`, (t) => {
    const errors = errorsFor(yaml);
    t.not(errors.length, 0);
    t.true(
      errors.some((e) => e.startsWith(`${path} `) || e.startsWith(`${path}/`)),
      errors.join('\n'),
    );
  });
}

test('the schema accepts every documented toggle turned on', (t) => {
  const errors = errorsFor(`
mapper: {persistence: {enabled: true, storageClass: fast}, snapshotSchedule: "0 * * * *", serviceNameAnnotation: a/b}
sniffer: {sysPtrace: true, tolerations: [{operator: Exists}], maxUnavailable: "10%"}
istio: {enabled: true}
kafka: {enabled: true, servers: [kafka-0.kafka]}
reports: {enabled: true, destination: {type: persistentVolumeClaim}, webhook: {url: "https://hooks.example/x"}}
networkPolicy: {enabled: true, nodeCIDRs: [10.0.0.0/16], allowedNamespaces: [monitoring]}
`);
  t.deepEqual(errors, []);
});

function hasPath(values: Json, path: readonly string[]): boolean {
  let cur: Json | undefined = values;
  for (const key of path) {
    if (!isMap(cur) || !(key in cur)) return false;
    cur = cur[key];
  }
  return true;
}

test('every .Values path in the templates exists in values.yaml', (t) => {
  const dir = join(chartDir, 'templates');
  const missing: string[] = [];
  let seen = 0;
  for (const file of readdirSync(dir)) {
    const text = readFileSync(join(dir, file), 'utf8');
    for (const m of text.matchAll(/\.Values\.([A-Za-z0-9_.]+)/g)) {
      seen += 1;
      const path = m[1]!.replace(/\.$/, '').split('.');
      if (!hasPath(defaults, path)) missing.push(`${file}: .Values.${path.join('.')}`);
    }
  }
  t.true(seen > 20);
  t.deepEqual(missing, []);
});

test('the manifest validator maps apiVersion/kind to client-node models', (t) => {
  t.is(modelName('apps/v1', 'Deployment'), 'V1Deployment');
  t.is(modelName('v1', 'Service'), 'V1Service');
  t.is(modelName('rbac.authorization.k8s.io/v1', 'ClusterRole'), 'V1ClusterRole');
});

test('the manifest validator reports unknown fields at any depth', (t) => {
  const fields = unknownFields(
    {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'x', labelz: {} },
      spec: {
        selector: {},
        template: { spec: { containers: [{ name: 'a', securityContext: { capabilities: { addd: ['NET_RAW'] } } }] } },
      },
    },
    'V1DaemonSet',
  );
  t.deepEqual(fields, ['/metadata/labelz', '/spec/template/spec/containers/0/securityContext/capabilities/addd']);
});

test('the manifest validator enforces OpenAPI types and required fields', async (t) => {
  const problems = await validateManifest({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'x' },
    spec: { selector: {}, replicas: 'one', template: { spec: { containers: [{ image: 'a' }] } } },
  });
  t.true(
    problems.some((p) => p.includes('replicas must be integer')),
    problems.join('\n'),
  );
  t.true(problems.some((p) => p.includes("required property 'name'") || p.includes('required property name')));
});

test('the manifest validator accepts a minimal valid object and rejects unknown kinds', async (t) => {
  t.deepEqual(await validateManifest({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'x' } }), []);
  t.deepEqual(await validateManifest({ apiVersion: 'v1', kind: 'Nonsense', metadata: { name: 'x' } }), [
    'unknown kind v1 Nonsense',
  ]);
});
