// open() reads its options object through property getters; a getter that throws must abort the
// open (the exception propagates and no capture is left running behind it).
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import test from 'ava';

type Pcap = {
  open(dev: string, filter: string, opts: object, buf: Buffer, cb: () => void): unknown;
  close(h: unknown): void;
};
const load = (): Pcap | undefined => {
  try {
    return createRequire(import.meta.url)('@callmap/pcap');
  } catch {
    return undefined;
  }
};

test('open(): an options getter that throws opens nothing (no descriptor left, no handle behind the exception)', (t) => {
  const P = load();
  if (P === undefined) {
    t.log('@callmap/pcap not built: skipped');
    t.pass();
    return;
  }
  if (process.getuid?.() !== 0) {
    t.log('not root (a live capture on lo needs CAP_NET_RAW): skipped');
    t.pass();
    return;
  }
  // Packet sockets this process holds: its socket fds whose inode is listed in /proc/net/packet
  // (counting all fds is racy: the runner opens and closes its own meanwhile).
  const fds = (): number => {
    const packet = new Set(
      readFileSync('/proc/net/packet', 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.trim().split(/\s+/).at(-1)),
    );
    let n = 0;
    for (const fd of readdirSync('/proc/self/fd')) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
        if (m && packet.has(m[1])) n++;
      } catch {
        // closed meanwhile
      }
    }
    return n;
  };
  const before = fds();
  // The counter sees a real capture (so the final check can fail).
  const h = P.open('lo', 'udp port 9', {}, Buffer.alloc(4096), () => {});
  t.is(fds(), before + 1, 'an open capture holds one packet socket');
  P.close(h);
  t.is(fds(), before);
  for (const name of ['snaplen', 'bufferSize', 'timeoutMs', 'immediate', 'promisc']) {
    const opts = Object.defineProperty({}, name, {
      enumerable: true,
      get() {
        throw new Error(`getter ${name}`);
      },
    });
    t.throws(() => P.open('lo', 'udp port 9', opts, Buffer.alloc(4096), () => {}), { message: `getter ${name}` });
  }
  t.is(fds(), before, 'no capture (packet socket) left open');
});
