/**
 * The stub resolver against fake DNS servers on loopback: an answer with the wrong ID is ignored, a
 * truncated UDP answer is asked again over TCP, SERVFAIL is a temporary DnsError, the AD bit counts
 * only from a trusted resolver, silence times out with a typed error.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DnsResolver } from '../../src/dns/client.js';
import { type DnsMessage, decodeMessage, encodeMessage, RecordType } from '../../src/dns/message.js';
import { DnsError, ErrorCodes } from '../../src/errors.js';

type Answer = (q: DnsMessage, via: 'udp' | 'tcp') => DnsMessage | DnsMessage[] | null;

const closers: (() => void)[] = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

function reply(q: DnsMessage, patch: Partial<DnsMessage> & { rcode?: number; ad?: boolean; tc?: boolean }): DnsMessage {
  return {
    id: q.id,
    flags: {
      qr: true,
      opcode: 0,
      aa: false,
      tc: patch.tc ?? false,
      rd: true,
      ra: true,
      ad: patch.ad ?? false,
      cd: false,
      rcode: patch.rcode ?? 0,
    },
    questions: q.questions,
    answers: patch.answers ?? [],
    authority: [],
    additional: [],
    edns: null,
  };
}

/**
 * A UDP server and a TCP server on the same loopback port. The kernel picks a free UDP port; the same TCP
 * port may be taken by another process (tests run side by side), so a few ports are tried.
 */
async function fakeDns(answer: Answer): Promise<number> {
  for (let tries = 1; ; tries++) {
    try {
      return await fakeDnsOnce(answer);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || tries === 5) throw err;
    }
  }
}

async function fakeDnsOnce(answer: Answer): Promise<number> {
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
  const port = udp.address().port;
  udp.on('message', (msg, rinfo) => {
    const out = answer(decodeMessage(msg), 'udp');
    for (const m of out === null ? [] : Array.isArray(out) ? out : [out])
      udp.send(encodeMessage(m), rinfo.port, rinfo.address);
  });
  const tcp = net.createServer((s) => {
    s.once('data', (buf: Buffer) => {
      const out = answer(decodeMessage(buf.subarray(2, 2 + buf.readUInt16BE(0))), 'tcp');
      if (out === null || Array.isArray(out)) return;
      const body = encodeMessage(out);
      const len = Buffer.alloc(2);
      len.writeUInt16BE(body.length);
      s.end(Buffer.concat([len, body]));
    });
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(port, '127.0.0.1', () => resolve());
  }).catch((err: unknown) => {
    udp.close();
    throw err;
  });
  closers.push(
    () => udp.close(),
    () => tcp.close(),
  );
  return port;
}

const a = (name: string, address: string) => ({ name, class: 1, ttl: 60, type: 1 as const, address });

describe('DnsResolver', () => {
  it('ignores an answer with another ID, takes the matching one', async () => {
    const port = await fakeDns((q) => [
      { ...reply(q, { answers: [a('x.test', '192.0.2.66')] }), id: (q.id + 1) % 65536 },
      reply(q, { answers: [a('x.test', '192.0.2.1')] }),
    ]);
    const r = new DnsResolver({ servers: [`127.0.0.1:${port}`], timeout: 5000 });
    const got = await r.lookup('x.test', RecordType.A);
    expect(got.records.map((x) => ('address' in x ? x.address : ''))).toEqual(['192.0.2.1']);
  });

  it('asks again over TCP when the UDP answer is truncated', async () => {
    const vias: string[] = [];
    const port = await fakeDns((q, via) => {
      vias.push(via);
      return via === 'udp' ? reply(q, { tc: true }) : reply(q, { answers: [a('x.test', '192.0.2.2')] });
    });
    const r = new DnsResolver({ servers: [{ host: '127.0.0.1', port }], timeout: 5000 });
    const got = await r.lookup('x.test', RecordType.A);
    expect(vias).toEqual(['udp', 'tcp']);
    expect(got.records).toHaveLength(1);
  });

  it('follows a CNAME in the answer and trusts AD only from a trusted resolver', async () => {
    const port = await fakeDns((q) =>
      reply(q, {
        ad: true,
        answers: [{ name: 'x.test', class: 1, ttl: 60, type: 5, target: 'y.test' }, a('y.test', '192.0.2.3')],
      }),
    );
    const untrusted = await new DnsResolver({ servers: [`127.0.0.1:${port}`] }).lookup('x.test', RecordType.A);
    expect(untrusted).toMatchObject({ canonical: 'y.test', authenticated: false });
    const trusted = await new DnsResolver({ servers: [`127.0.0.1:${port}`], trusted: true }).lookup(
      'x.test',
      RecordType.A,
    );
    expect(trusted.authenticated).toBe(true);
  });

  it('SERVFAIL and silence are temporary DnsErrors', async () => {
    const port = await fakeDns((q) => (q.questions[0]?.name === 'quiet.test' ? null : reply(q, { rcode: 2 })));
    // A generous timeout for the answer (a loaded CI machine), a short one for the silence.
    const patient = new DnsResolver({ servers: [`127.0.0.1:${port}`], timeout: 5000, tries: 1 });
    const r = new DnsResolver({ servers: [`127.0.0.1:${port}`], timeout: 150, tries: 1 });
    await expect(patient.lookup('x.test', RecordType.A)).rejects.toMatchObject({
      code: ErrorCodes.DNS,
      temporary: true,
      rcode: 'SERVFAIL',
    });
    const err = await r.lookup('quiet.test', RecordType.A).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DnsError);
    expect((err as DnsError).message).toMatch(/no answer within 150 ms/);
  });

  it('refuses a server that is not an IP address', () => {
    expect(() => new DnsResolver({ servers: ['dns.example'] })).toThrow(/not an address/);
  });
});
