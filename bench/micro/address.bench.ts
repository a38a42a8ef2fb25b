/**
 * Micro-benchmark of the address path (`npx vitest bench bench/micro/address.bench.ts`): what the
 * handler's `AddressCache` saves per message (a parse and a first check against a map lookup and a
 * remembered verdict), and `prepareRaw`'s envelope with and without it. It is the measurement behind
 * keeping one cache per handler (there is no module-level cache).
 */
import { bench, describe } from 'vitest';
import { AddressCache, parseAddress } from '../../src/message/address.js';
import { prepareRaw } from '../../src/message/prepare.js';
import { DEFAULT_VALIDATION_LIMITS } from '../../src/message/validation-limits.js';

const sender = '"Newsletter, Example" <news@bücher.example>';
const env = { from: sender, to: ['reader@example.com'] };
const raw = Buffer.from(
  `From: ${sender}\r\nTo: reader@example.com\r\nSubject: hi\r\nMessage-ID: <a@b>\r\n\r\n${`${'x'.repeat(76)}\r\n`.repeat(12)}`,
);
const cache = new AddressCache();

describe('address values', () => {
  bench('parse + check + wire, no cache', () => {
    const a = parseAddress(sender);
    a.check(DEFAULT_VALIDATION_LIMITS);
    void a.wire;
  });
  bench('parse + check + wire, AddressCache hit', () => {
    const a = cache.mailbox(sender);
    a.check(DEFAULT_VALIDATION_LIMITS);
    void a.wire;
  });
  bench('prepareRaw 1 KB, no cache', () => {
    prepareRaw(env, raw);
  });
  bench('prepareRaw 1 KB, AddressCache', () => {
    prepareRaw(env, raw, { addresses: cache });
  });
});
