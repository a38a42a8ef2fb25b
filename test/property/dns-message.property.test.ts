/**
 * The DNS codec (src/dns/message.ts): every message round-trips, and no byte string makes the
 * decoder do anything but return a message or throw ERR_SMTP_DNS_MALFORMED (no other exception, no hang).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type DnsMessage,
  type DnsRecord,
  decodeMessage,
  encodeMessage,
  encodeQuery,
  nameToLabels,
  RecordType,
} from '../../src/dns/message.js';
import { DnsError, ErrorCodes } from '../../src/errors.js';

const label = fc.stringMatching(/^[a-z0-9_-]{1,20}$/);
const name = fc.array(label, { minLength: 0, maxLength: 5 }).map((l) => l.join('.'));
const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
const ipv6 = fc.ipV6().map((a) => {
  // The decoder prints RFC 5952 text: normalise through the codec itself on the way in.
  const m = decodeMessage(
    encodeMessage({
      id: 0,
      flags: { qr: true, opcode: 0, aa: false, tc: false, rd: false, ra: false, ad: false, cd: false, rcode: 0 },
      questions: [],
      answers: [{ name: '', class: 1, ttl: 0, type: 28, address: a }],
      authority: [],
      additional: [],
      edns: null,
    }),
  );
  return (m.answers[0] as { address: string }).address;
});
const base = { name, class: fc.constantFrom(1, 3), ttl: fc.nat(2 ** 31 - 1) };
const record: fc.Arbitrary<DnsRecord> = fc.oneof(
  fc.record({ ...base, type: fc.constant(1 as const), address: ipv4 }),
  fc.record({ ...base, type: fc.constant(28 as const), address: ipv6 }),
  fc.record({ ...base, type: fc.constant(5 as const), target: name }),
  fc.record({ ...base, type: fc.constant(15 as const), preference: fc.nat(65535), exchange: name }),
  fc.record({
    ...base,
    type: fc.constant(16 as const),
    strings: fc.array(fc.stringMatching(/^[\x00-\xff]{0,60}$/), { minLength: 1, maxLength: 4 }),
  }),
  fc.record({
    ...base,
    type: fc.constant(52 as const),
    usage: fc.nat(255),
    selector: fc.nat(255),
    matchingType: fc.nat(255),
    data: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
  }),
  fc.record({
    ...base,
    type: fc.constant(99 as const),
    raw: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
  }),
);
const flags = fc.record({
  qr: fc.boolean(),
  opcode: fc.nat(15),
  aa: fc.boolean(),
  tc: fc.boolean(),
  rd: fc.boolean(),
  ra: fc.boolean(),
  ad: fc.boolean(),
  cd: fc.boolean(),
  rcode: fc.nat(15),
});
const message: fc.Arbitrary<DnsMessage> = fc.record({
  id: fc.nat(65535),
  flags,
  questions: fc.array(fc.record({ name, type: fc.nat(65535), class: fc.constant(1) }), { maxLength: 2 }),
  answers: fc.array(record, { maxLength: 4 }),
  authority: fc.array(record, { maxLength: 2 }),
  additional: fc.array(record, { maxLength: 2 }),
  edns: fc.option(
    fc.record({
      udpPayloadSize: fc.nat(65535),
      dnssecOk: fc.boolean(),
      version: fc.nat(255),
      extendedRcode: fc.nat(255),
    }),
    { nil: null },
  ),
});

describe('DNS message codec', () => {
  it('decode(encode(m)) equals m', () => {
    fc.assert(
      fc.property(message, (m) => {
        expect(decodeMessage(encodeMessage(m))).toEqual(m);
      }),
      { numRuns: 300 },
    );
  });

  it('arbitrary bytes decode or throw ERR_SMTP_DNS_MALFORMED, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          decodeMessage(Buffer.from(bytes));
        } catch (err) {
          expect(err).toBeInstanceOf(DnsError);
          expect((err as DnsError).code).toBe(ErrorCodes.DNS_MALFORMED);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('a corrupted valid message (one byte changed, or cut) decodes or throws the typed error', () => {
    fc.assert(
      fc.property(message, fc.nat(), fc.nat(255), fc.boolean(), (m, at, value, cut) => {
        const buf = encodeMessage(m);
        const bad = cut ? buf.subarray(0, at % (buf.length + 1)) : Buffer.from(buf);
        if (!cut && bad.length > 0) bad[at % bad.length] = value;
        try {
          decodeMessage(bad);
        } catch (err) {
          expect((err as DnsError).code).toBe(ErrorCodes.DNS_MALFORMED);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('DNS message codec: fixed cases', () => {
  it('follows a compression pointer and refuses a pointer loop', () => {
    // Header, one question "a.b" (offset 12), one answer whose owner is a pointer to offset 12.
    const q = Buffer.from([1, 0x61, 1, 0x62, 0, 0, 1, 0, 1]);
    const answer = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
    const header = Buffer.from([0, 7, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
    const m = decodeMessage(Buffer.concat([header, q, answer]));
    expect(m.answers[0]).toMatchObject({ name: 'a.b', type: 1, address: '192.0.2.1' });
    const loop = Buffer.concat([
      Buffer.from([0, 7, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0]),
      Buffer.from([0xc0, 12, 0, 1, 0, 1]),
    ]);
    expect(() => decodeMessage(loop)).toThrow(/compression pointer/);
  });

  it('a query carries EDNS0 with the DO bit and AD set', () => {
    const m = decodeMessage(encodeQuery(0x1234, 'example.com', RecordType.TLSA));
    expect(m.flags).toMatchObject({ qr: false, rd: true, ad: true });
    expect(m.questions).toEqual([{ name: 'example.com', type: 52, class: 1 }]);
    expect(m.edns).toMatchObject({ dnssecOk: true, udpPayloadSize: 1232 });
  });

  it('refuses over-long labels and names', () => {
    expect(() => nameToLabels(`${'a'.repeat(64)}.com`)).toThrow(/label/);
    expect(() => nameToLabels(Array(130).fill('ab').join('.'))).toThrow(/255/);
    expect(nameToLabels('a\\.b.c').map(String)).toEqual(['a.b', 'c']);
  });
});
