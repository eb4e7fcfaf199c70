import test from 'ava';
import {
  duration,
  list,
  MAX_TIMER_MS,
  nameDotNamespace,
  oneOf,
  parseCli,
  port,
  positiveInt,
} from '../../../mapper/cli/args.ts';
import { UsageError } from '../../../mapper/cli/command.ts';

test('durations: units, bare seconds, and clear errors for junk, zero and timer overflow', (t) => {
  t.is(duration('interval', '500ms', 1), 500);
  t.is(duration('interval', '30s', 1), 30_000);
  t.is(duration('interval', '5m', 1), 300_000);
  t.is(duration('interval', '2', 1), 2000);
  t.is(duration('interval', undefined, 7), 7);
  t.is(duration('interval', '24d', 1), 24 * 86_400_000);
  t.throws(() => duration('interval', 'soon', 1), { instanceOf: UsageError, message: /--interval must be a duration/ });
  t.throws(() => duration('interval', '0s', 1), { instanceOf: UsageError, message: /greater than zero/ });
  t.throws(() => duration('interval', '30d', 1), { instanceOf: UsageError, message: /at most 24d/ });
  t.is(duration('interval', `${MAX_TIMER_MS}ms`, 1), MAX_TIMER_MS);
  t.throws(() => duration('interval', `${MAX_TIMER_MS + 1}ms`, 1), { instanceOf: UsageError });
});

test('a flag value that starts with "-" gets a one-line hint instead of parseArgs jargon', (t) => {
  const e = t.throws(() => parseCli(['--interval', '-5s'], { interval: { type: 'string' } }), {
    instanceOf: UsageError,
  });
  t.regex(e?.message ?? '', /^--interval needs a value; write a value that starts with "-" as --interval=VALUE/);
  t.throws(() => parseCli(['--nope'], { interval: { type: 'string' } }), {
    instanceOf: UsageError,
    message: /--nope.*see --help/,
  });
});

test('ports, positive integers, enums, lists and name.namespace', (t) => {
  t.is(port('port', '0', 1), 0);
  t.throws(() => port('port', '70000', 1), { message: /--port must be a port/ });
  t.throws(() => positiveInt('n', '-1', 1), { message: /positive integer/ });
  t.is(oneOf('format', undefined, ['a', 'b'] as const, 'a'), 'a');
  t.throws(() => oneOf('format', 'c', ['a', 'b'] as const, 'a'), { message: /one of a, b/ });
  t.deepEqual(list(['a,b', ' c ', ',']), ['a', 'b', 'c']);
  t.deepEqual(nameDotNamespace('server', 'kafka-0.kafka'), { name: 'kafka-0', namespace: 'kafka' });
  t.throws(() => nameDotNamespace('server', 'nodot'), { message: /name\.namespace/ });
});
