import test from 'ava';
import fc from 'fast-check';
import { backoffDelay, pickContainer } from '../../../watchers/kafka/podlog.ts';
import { ResumeTracker, stampKey } from '../../../watchers/kafka/resume.ts';

const L = (stamp: string, text: string) => `${stamp} ${text}`;

test('stampKey sorts by time whatever the fraction length or zone', (t) => {
  const a = stampKey(L('2024-05-01T12:00:00.5Z', 'x')) as string;
  const b = stampKey(L('2024-05-01T12:00:00.123456789Z', 'x')) as string;
  const c = stampKey(L('2024-05-01T14:00:01+02:00', 'x')) as string;
  t.true(b < a && a < c);
  t.is(stampKey('no stamp here'), undefined);
  t.is(stampKey('2024-05-01T12:00:00Zglued'), undefined, 'a stamp must be followed by a space');
});

test('sinceTime is the last stamp truncated to seconds', (t) => {
  const r = new ResumeTracker();
  t.is(r.sinceTime(), undefined);
  r.accept(L('2024-05-01T12:00:07.987654321Z', 'a'));
  t.is(r.sinceTime(), '2024-05-01T12:00:07Z');
});

test('after a reconnect, re-sent lines are dropped and new ones kept (multiset at the boundary)', (t) => {
  const r = new ResumeTracker();
  const first = [
    L('2024-05-01T12:00:07.100Z', 'a'),
    L('2024-05-01T12:00:07.200Z', 'b'),
    L('2024-05-01T12:00:07.200Z', 'b'),
  ];
  for (const l of first) t.true(r.accept(l));
  r.reconnect();
  // the server re-sends everything from 12:00:07 on, plus a new line with the same last stamp
  const resent = [...first, L('2024-05-01T12:00:07.200Z', 'b'), L('2024-05-01T12:00:07.200Z', 'c')];
  t.deepEqual(
    resent.map((l) => r.accept(l)),
    [false, false, false, true, true],
  );
  t.true(r.accept(L('2024-05-01T12:00:08Z', 'd')));
  t.true(r.accept(L('2024-05-01T12:00:07.100Z', 'late out-of-order line after replay ended')));
});

test('reset() forgets everything (a new pod)', (t) => {
  const r = new ResumeTracker();
  r.accept(L('2024-05-01T12:00:07Z', 'a'));
  r.reset();
  r.reconnect();
  t.is(r.sinceTime(), undefined);
  t.true(r.accept(L('2024-05-01T12:00:01Z', 'older but new pod')));
});

test('lines without a stamp are never dropped', (t) => {
  const r = new ResumeTracker();
  r.accept(L('2024-05-01T12:00:07Z', 'a'));
  r.reconnect();
  t.true(r.accept('plain'));
});

test('property: any cut point + seconds-granular replay delivers every line exactly once', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 2 }), fc.constantFrom('x', 'y')), {
        minLength: 1,
        maxLength: 30,
      }),
      fc.array(fc.nat(), { maxLength: 4 }),
      (spec, cutsRaw) => {
        // non-decreasing stamps, some identical (same second, same nanos), some identical text
        let sec = 0;
        let ns = 0;
        const lines = spec.map(([ds, dn, text]) => {
          sec += ds;
          ns = ds > 0 ? dn : ns + dn;
          return L(`2024-05-01T12:00:${String(sec).padStart(2, '0')}.${String(ns).padStart(9, '0')}Z`, text);
        });
        const cuts = [...new Set(cutsRaw.map((c) => c % (lines.length + 1)))].sort((a, b) => a - b);
        const r = new ResumeTracker();
        const out: string[] = [];
        let from = 0;
        for (const cut of [...cuts, lines.length]) {
          const since = r.sinceTime();
          r.reconnect();
          // what the API server returns for sinceTime: every line with stamp >= since
          const sinceKey = since === undefined ? '' : (stampKey(L(since, '')) as string);
          const served = lines.filter((l) => (stampKey(l) as string) >= sinceKey);
          // the stream is cut after the first `cut` lines overall
          for (const l of served.slice(0, served.length - (lines.length - Math.max(cut, from)))) {
            if (r.accept(l)) out.push(l);
          }
          from = Math.max(cut, from);
        }
        return JSON.stringify(out) === JSON.stringify(lines);
      },
    ),
    { numRuns: 500 },
  );
  t.pass();
});

test('pickContainer: requested, single, "kafka", first', (t) => {
  const p = (containers: string[]) => ({ name: 'p', namespace: 'n', uid: 'u', containers, restarts: {}, labels: {} });
  t.is(pickContainer(p(['a', 'b']), 'b'), 'b');
  t.is(pickContainer(p(['a', 'b']), 'c'), undefined);
  t.is(pickContainer(p(['only']), undefined), 'only');
  t.is(pickContainer(p(['sidecar', 'kafka']), undefined), 'kafka');
  t.is(pickContainer(p(['x', 'y']), undefined), 'x');
  t.is(pickContainer(p([]), undefined), undefined);
});

test('backoff: jittered, exponential, capped', (t) => {
  const b = { initialMs: 100, maxMs: 1000 };
  t.is(
    backoffDelay(0, b, () => 0),
    50,
  );
  t.is(
    backoffDelay(0, b, () => 1),
    100,
  );
  t.is(
    backoffDelay(3, b, () => 1),
    800,
  );
  t.is(
    backoffDelay(10, b, () => 1),
    1000,
  );
  t.is(
    backoffDelay(1000, b, () => 0.5),
    750,
  );
});
