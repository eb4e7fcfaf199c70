import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { clientConnections, parseProcNetTcp, TCP_ESTABLISHED, TCP_LISTEN } from '../../../sniffer/proc/parse.ts';
import { scanSockets } from '../../../sniffer/proc/scan.ts';

const fixture = (name: string): string =>
  readFileSync(new URL(`../../fixtures/sniffer/proc/${name}`, import.meta.url), 'utf8');

test('parses tcp: addresses in host byte order, states, bad lines counted', (t) => {
  const r = parseProcNetTcp(fixture('tcp'));
  t.is(r.bad, 2);
  t.is(r.sockets.length, 6);
  t.deepEqual(r.sockets[0], {
    localIp: '0.0.0.0',
    localPort: 8080,
    remoteIp: '0.0.0.0',
    remotePort: 0,
    state: TCP_LISTEN,
  });
  t.deepEqual(r.sockets[2], {
    localIp: '10.244.1.5',
    localPort: 40000,
    remoteIp: '10.96.1.10',
    remotePort: 80,
    state: TCP_ESTABLISHED,
  });
});

test('parses tcp6 including v4-mapped addresses', (t) => {
  const r = parseProcNetTcp(fixture('tcp6'));
  t.is(r.bad, 0);
  t.like(r.sockets[1], { localIp: '10.244.1.5', remoteIp: '10.96.1.12', remotePort: 3306 });
  t.like(r.sockets[2], { localIp: 'fdfd::5', remoteIp: 'fdfd::1', remotePort: 8080 });
});

test('big-endian hosts', (t) => {
  const r = parseProcNetTcp('sl local rem st\n 0: 0AF40105:9C40 0A60010A:0050 01 0 0 0\n', false);
  t.like(r.sockets[0], { localIp: '10.244.1.5', remoteIp: '10.96.1.10' });
});

test('client connections: established, not on a listening port, no loopback, deduplicated', (t) => {
  const sockets = [...parseProcNetTcp(fixture('tcp')).sockets, ...parseProcNetTcp(fixture('tcp6')).sockets];
  t.deepEqual(clientConnections(sockets), [
    { clientIp: '10.244.1.5', serverIp: '10.96.1.10', serverPort: 80 },
    { clientIp: '10.244.1.5', serverIp: '10.96.1.12', serverPort: 3306 },
    { clientIp: 'fdfd::5', serverIp: 'fdfd::1', serverPort: 8080 },
  ]);
});

test('garbage input never throws', (t) => {
  for (const s of [
    '',
    '\n\n',
    'x',
    '0: : : :',
    '0: ZZZZZZZZ:0000 00000000:0000 01',
    `0: ${'F'.repeat(40)}:0000 1:1 01`,
  ]) {
    t.notThrows(() => parseProcNetTcp(s));
  }
});

test('scanSockets: one read per network namespace across processes; vanished processes skipped', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'callmap-proc-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const proc = (pid: string, ns: string, tcp: string | undefined, tcp6?: string): void => {
    mkdirSync(join(root, pid, 'ns'), { recursive: true });
    mkdirSync(join(root, pid, 'net'), { recursive: true });
    symlinkSync(`net:[${ns}]`, join(root, pid, 'ns', 'net'));
    if (tcp !== undefined) writeFileSync(join(root, pid, 'net', 'tcp'), tcp);
    if (tcp6 !== undefined) writeFileSync(join(root, pid, 'net', 'tcp6'), tcp6);
  };
  proc('1', '4026531992', fixture('tcp'), fixture('tcp6'));
  proc('2', '4026531992', 'should not be read: same namespace as pid 1');
  proc('30', '4026532500', 'sl\n 0: 0A00F40A:A000 1400600A:01BB 01 0 0 0\n');
  proc('31', '4026532600', undefined); // unreadable files
  mkdirSync(join(root, 'self'));
  mkdirSync(join(root, '99')); // no ns link: vanished process
  const r = await scanSockets(root, true);
  t.is(r.namespaces, 2);
  t.is(r.errors, 2 + 1); // two bad fixture lines + one namespace without readable files
  t.deepEqual(r.connections.map((c) => `${c.clientIp}>${c.serverIp}:${c.serverPort}`).sort(), [
    '10.244.0.10>10.96.0.20:443',
    '10.244.1.5>10.96.1.10:80',
    '10.244.1.5>10.96.1.12:3306',
    'fdfd::5>fdfd::1:8080',
  ]);
  const missing = await scanSockets(join(root, 'nope'));
  t.deepEqual(missing, { connections: [], namespaces: 0, errors: 1 });
});
