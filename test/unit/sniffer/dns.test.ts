import test from 'ava';
import {
  answerName,
  DNS_IGNORED,
  DNS_MALFORMED,
  DNS_OK,
  type DnsAnswer,
  decodeDnsResponse,
  newDnsAnswer,
} from '../../../sniffer/decode/dns.ts';
import { formatIpv4, formatIpv6 } from '../../../sniffer/decode/ip.ts';
import { buildDnsMessage, type DnsResponseSpec } from '../../../sniffer/index.ts';

function decode(msg: Buffer): { status: number; a: DnsAnswer; name: string; ips: string[] } {
  const a = newDnsAnswer();
  const status = decodeDnsResponse(msg, 0, msg.length, a);
  const ips: string[] = [];
  for (let i = 0; i < a.v4Count; i++) ips.push(formatIpv4(a.v4[i]!));
  for (let i = 0; i < a.v6Count; i++) ips.push(formatIpv6(msg, a.v6Off[i]!));
  return { status, a, name: status === DNS_OK ? answerName(a, msg) : '', ips };
}

const msg = (spec: Omit<DnsResponseSpec, 'clientIp'>): Buffer => buildDnsMessage({ clientIp: '10.0.0.1', ...spec });

test('plain A answer: question name and address', (t) => {
  const r = decode(
    msg({ name: 'Web.Default.svc.cluster.local', answers: [{ type: 'A', value: '10.96.1.2', ttl: 42 }] }),
  );
  t.is(r.status, DNS_OK);
  t.is(r.name, 'web.default.svc.cluster.local');
  t.deepEqual(r.ips, ['10.96.1.2']);
  t.is(r.a.ttl, 42);
});

test('CNAME chain: observation names the question, IPs are the final A records, TTL is the chain minimum', (t) => {
  const r = decode(
    msg({
      name: 'api',
      answers: [
        { type: 'CNAME', value: 'api.prod.svc.cluster.local', ttl: 300 },
        { type: 'CNAME', value: 'api-v2.prod.svc.cluster.local', ttl: 60 },
        { type: 'A', value: '10.96.3.3', ttl: 120 },
        { type: 'A', value: '10.96.3.4', ttl: 90 },
      ],
    }),
  );
  t.is(r.status, DNS_OK);
  t.is(r.name, 'api');
  t.deepEqual(r.ips, ['10.96.3.3', '10.96.3.4']);
  t.is(r.a.ttl, 60);
});

test('CNAME chain in any order and without compression', (t) => {
  const r = decode(
    msg({
      name: 'a.example.com',
      compress: false,
      answers: [
        { type: 'A', name: 'c.example.com', value: '192.0.2.7' },
        { type: 'CNAME', name: 'b.example.com', value: 'c.example.com' },
        { type: 'CNAME', name: 'A.EXAMPLE.COM', value: 'b.example.com' },
        { type: 'A', name: 'unrelated.example.com', value: '192.0.2.99' },
      ],
    }),
  );
  t.is(r.status, DNS_OK);
  t.deepEqual(r.ips, ['192.0.2.7']);
});

test('AAAA answers', (t) => {
  const r = decode(msg({ name: 'v6.example.com', qtype: 'AAAA', answers: [{ type: 'AAAA', value: '2001:db8::1' }] }));
  t.is(r.status, DNS_OK);
  t.deepEqual(r.ips, ['2001:db8::1']);
});

test('empty NOERROR answer is an observation with no addresses', (t) => {
  const r = decode(msg({ name: 'nothing.example.com', answers: [] }));
  t.is(r.status, DNS_OK);
  t.deepEqual(r.ips, []);
  t.is(r.a.ttl, -1);
});

test('NXDOMAIN, queries and truncated (TC) responses are ignored, not malformed', (t) => {
  t.is(decode(msg({ name: 'x.example.com', rcode: 3 })).status, DNS_IGNORED);
  const q = msg({ name: 'x.example.com' });
  q[2] = 0x01; // QR = 0
  t.is(decode(q).status, DNS_IGNORED);
  const tc = msg({ name: 'x.example.com', answers: [{ type: 'A', value: '1.2.3.4' }] });
  tc[2]! |= 0x02;
  t.is(decode(tc).status, DNS_IGNORED);
});

test('non-A/AAAA questions are ignored', (t) => {
  const m = msg({ name: 'x.example.com' });
  m.writeUInt16BE(33, m.length - 4); // SRV
  t.is(decode(m).status, DNS_IGNORED);
});

test('truncated message at every length is malformed or ignored, never a crash', (t) => {
  const full = msg({
    name: 'api',
    answers: [
      { type: 'CNAME', value: 'api.prod.svc.cluster.local' },
      { type: 'A', value: '10.96.3.3' },
    ],
  });
  for (let n = 0; n < full.length; n++) {
    const r = decode(full.subarray(0, n));
    t.not(r.status, DNS_OK, `length ${n}`);
  }
});

test('compression loop is malformed', (t) => {
  // question "a" then an answer whose owner is a pointer to itself
  const m = Buffer.from([
    0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0x61, 0, 0, 1, 0, 1,
    // answer at offset 19: owner = pointer to 19 (itself)
    0xc0, 19, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 1, 2, 3, 4,
  ]);
  t.is(decode(m).status, DNS_MALFORMED);
  // two labels that point at each other: 19 → "b" then pointer to 22, 22 → pointer to 19
  const m2 = Buffer.from([
    0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0x61, 0, 0, 1, 0, 1, 1, 0x62, 0xc0, 19, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4,
    1, 2, 3, 4,
  ]);
  t.is(decode(m2).status, DNS_MALFORMED);
});

test('pointers into the header or beyond the message are malformed', (t) => {
  const base = [0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0x61, 0, 0, 1, 0, 1];
  const tail = [0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 1, 2, 3, 4];
  t.is(decode(Buffer.from([...base, 0xc0, 2, ...tail])).status, DNS_MALFORMED);
  t.is(decode(Buffer.from([...base, 0xff, 0xff, ...tail])).status, DNS_MALFORMED);
  t.is(decode(Buffer.from([...base, 0x80, 12, ...tail])).status, DNS_MALFORMED); // reserved label type
  // a question name that is itself a pointer
  t.is(decode(Buffer.from([0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1])).status, DNS_MALFORMED);
});

test('absurd counts are malformed', (t) => {
  const m = msg({ name: 'x.example.com', answers: [{ type: 'A', value: '1.2.3.4' }] });
  m.writeUInt16BE(65535, 6); // ancount
  t.is(decode(m).status, DNS_MALFORMED);
  const m2 = msg({ name: 'x.example.com' });
  m2.writeUInt16BE(60000, 4); // qdcount
  t.is(decode(m2).status, DNS_MALFORMED);
});

test('A record with a wrong rdlength is malformed', (t) => {
  const m = msg({ name: 'x.example.com', answers: [{ type: 'A', value: '1.2.3.4' }] });
  // rdlength is the 2 bytes before the 4 address bytes
  m.writeUInt16BE(3, m.length - 6);
  t.is(decode(m.subarray(0, m.length - 1)).status, DNS_MALFORMED);
});

test('non-DNS payload on port 53 is malformed or ignored', (t) => {
  for (const text of ['SSH-2.0-OpenSSH_9.6\r\n', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', '\u0000\u0001']) {
    t.not(decode(Buffer.from(text, 'latin1')).status, DNS_OK);
  }
});

test('names with control bytes or dots inside labels are malformed', (t) => {
  const m = msg({ name: 'ab.example.com', answers: [] });
  m[13] = 0x2e; // "." inside the first label
  t.is(decode(m).status, DNS_MALFORMED);
  m[13] = 0x07;
  t.is(decode(m).status, DNS_MALFORMED);
});

test('every label length and byte position: bad bytes are malformed, good ones decode (word-wise checks)', (t) => {
  const good = 'aZ09-_~!';
  const bad = [0x00, 0x07, 0x20, 0x2e, 0x7f, 0x80, 0xc1, 0xff];
  for (let len = 1; len <= 13; len++) {
    const label = Array.from({ length: len }, (_, i) => good[i % good.length]).join('');
    const m = msg({ name: `x.${label}.svc`, answers: [{ type: 'A', value: '10.0.0.9' }] });
    const r = decode(m);
    t.is(r.status, DNS_OK, label);
    t.is(r.name, `x.${label.toLowerCase()}.svc`);
    t.is(r.a.nameLen, r.name.length);
    for (let pos = 0; pos < len; pos++) {
      for (const b of bad) {
        const copy = Buffer.from(m);
        copy[12 + 2 + 1 + pos] = b; // header, "x" label (2 bytes), length byte of the label
        t.is(decode(copy).status, DNS_MALFORMED, `len ${len} pos ${pos} byte ${b}`);
      }
    }
  }
});

test('name hashes: case-insensitive, and differ for different names and label splits', (t) => {
  const hash = (name: string): string => {
    const r = decode(msg({ name, answers: [] }));
    t.is(r.status, DNS_OK, name);
    return `${r.a.nameHash}:${r.a.nameHash2}:${r.a.nameLen}`;
  };
  t.is(hash('Web.Default.SVC.cluster.local'), hash('web.default.svc.cluster.local'));
  const names = [
    'ab.c',
    'a.bc',
    'abc',
    'abca',
    'abc.a',
    'web.default.svc.cluster.local',
    'web.default.svc.cluster.locak',
    'wfb.default.svc.cluster.local',
    'a',
    'b',
    'aaaa',
    'aaaaa',
  ];
  const seen = new Map<string, string>();
  for (const n of names) {
    const h = hash(n);
    t.is(seen.get(h), undefined, `${n} collides with ${seen.get(h)}`);
    seen.set(h, n);
  }
});
