import { spawn } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { clientConnections, parseProcNetTcp, TCP_ESTABLISHED, TCP_LISTEN } from '../../../sniffer/proc/parse.ts';
import { netnsKey, scanSockets } from '../../../sniffer/proc/scan.ts';

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

test('scanSockets: one read per network namespace (keyed by the net/tcp inode); vanished processes skipped', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'callmap-proc-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const proc = (pid: string, tcp: string | undefined, tcp6?: string): void => {
    mkdirSync(join(root, pid, 'net'), { recursive: true });
    if (tcp !== undefined) writeFileSync(join(root, pid, 'net', 'tcp'), tcp);
    if (tcp6 !== undefined) writeFileSync(join(root, pid, 'net', 'tcp6'), tcp6);
  };
  proc('1', fixture('tcp'), fixture('tcp6'));
  // pid 2 shares pid 1's namespace: the same net/tcp inode, so its tcp6 must not be read
  proc('2', undefined, 'sl\n 0: 0A00F40A:A001 6300600A:01BB 01 0 0 0\n');
  linkSync(join(root, '1', 'net', 'tcp'), join(root, '2', 'net', 'tcp'));
  proc('30', 'sl\n 0: 0A00F40A:A000 1400600A:01BB 01 0 0 0\n');
  proc('31', undefined); // net/tcp cannot be read (a directory here) and there is no tcp6
  mkdirSync(join(root, '31', 'net', 'tcp'));
  // no ns/net link anywhere: the scan must not need it (reading it needs ptrace access)
  mkdirSync(join(root, 'self'));
  mkdirSync(join(root, '99')); // no net/tcp: vanished process
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

test('scanSockets: a namespace unreadable through one process is read through the next', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'callmap-proc-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, '10', 'net', 'tcp'), { recursive: true }); // unreadable
  mkdirSync(join(root, '11', 'net'), { recursive: true });
  writeFileSync(join(root, '11', 'net', 'tcp'), 'sl\n 0: 0A00F40A:A000 1400600A:01BB 01 0 0 0\n');
  const r = await scanSockets(root, true);
  t.is(r.namespaces, 1);
  t.is(r.errors, 1);
  t.deepEqual(r.connections, [{ clientIp: '10.244.0.10', serverIp: '10.96.0.20', serverPort: 443 }]);
});

test('netnsKey on the real /proc: same key for two processes in one namespace, undefined when gone', async (t) => {
  if (!existsSync('/proc/self/net/tcp')) {
    t.log('skipped: no /proc/self/net/tcp on this system');
    t.pass();
    return;
  }
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10000)'], { stdio: 'ignore' });
  t.teardown(() => child.kill('SIGKILL'));
  const own = await netnsKey('/proc', String(process.pid));
  t.regex(own ?? '', /^\d+:\d+$/);
  t.is(await netnsKey('/proc', String(child.pid)), own);
  t.is(await netnsKey('/proc', '999999999'), undefined);
});
