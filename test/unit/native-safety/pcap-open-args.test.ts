// open() reads its options object through property getters; a getter that throws must abort the
// open (the exception propagates and no capture is left running behind it).
import test from 'ava';
import { captureFds } from '../../helpers/fds.ts';
import { requireAddon } from './addon.ts';

type Pcap = {
  open(dev: string, filter: string, opts: object, buf: Buffer, cb: () => void): unknown;
  close(h: unknown): void;
};
type Addon = Pcap;

test('open(): an options getter that throws opens nothing (no descriptor left, no handle behind the exception)', (t) => {
  const P = requireAddon<Addon>(t, '@callmap/pcap');
  if (P === undefined) return;
  if (process.getuid?.() !== 0) {
    t.log('not root (a live capture on lo needs CAP_NET_RAW): skipped');
    t.pass();
    return;
  }
  const fds = (): number => captureFds();
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
