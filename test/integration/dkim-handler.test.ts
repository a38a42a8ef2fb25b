/**
 * DKIM through the handler: what the server receives verifies with mailauth and dkimpy for every body
 * strategy (in memory, replayable file parts read twice, one-shot streams spooled), per-message options
 * override the handler's, and every signing failure is INVALID with nothing sent.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type DkimOptions,
  ErrorCodes,
  InvalidArgumentError,
  SmtpDeliveryStatus,
  SmtpProtocolHandler,
  type SmtpProtocolHandlerOptions,
} from '../../src/index.js';
import { type ScriptedSmtpServer, startScriptedServer } from '../../src/testing/index.js';
import type { ServerName } from '../conformance/servers/index.js';
import { reportUnavailable } from '../conformance/unavailable.js';
import {
  DKIM_KEYS,
  dkimpyUnavailable,
  dkimpyVerify,
  fixtureRecords,
  mailauthVerify,
} from '../helpers/dkim-verifiers.js';

const records = fixtureRecords();
const rsa: DkimOptions = { domainName: 'example.com', keySelector: 'rsa2048', privateKey: DKIM_KEYS.rsa2048 };
const ed: DkimOptions = { domainName: 'example.com', keySelector: 'ed25519', privateKey: DKIM_KEYS.ed25519 };
const msg = { toAddresses: ['rcpt@example.org'], subject: 'Signed ✓', textBody: 'Hello  \nworld\t\n\n\n' };

let server: ScriptedSmtpServer;
let dir: string;
const handlers: SmtpProtocolHandler[] = [];
/** Every message the server received whose signatures must all verify (dkimpy checks them in one batch). */
const received: Buffer[] = [];

beforeAll(async () => {
  server = await startScriptedServer({ script: [] });
  dir = await mkdtemp(join(tmpdir(), 'smtpwire-dkim-test-'));
});
afterEach(async () => {
  for (const h of handlers.splice(0)) await h.close();
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

function handler(options: Partial<SmtpProtocolHandlerOptions> = {}): SmtpProtocolHandler {
  const h = new SmtpProtocolHandler({
    hostname: '127.0.0.1',
    port: server.port,
    encryption: 'none',
    fromAddress: 'sender@example.com',
    retryPolicy: { maxRetries: 0 },
    ...options,
  });
  handlers.push(h);
  return h;
}

/** The last message the server got, checked with mailauth; returns its selectors in order. */
async function lastVerified(): Promise<string[]> {
  const data = server.messages.at(-1)!.data;
  received.push(data);
  const text = data.toString('latin1');
  const selectors = [...text.matchAll(/^DKIM-Signature:[\s\S]*?\bs=([\w-]+);/gm)].map((m) => m[1]!);
  expect(await mailauthVerify(data, records)).toEqual(selectors.map(() => true));
  return selectors;
}

describe('handler dkim option', () => {
  it('signs in-memory builder messages, one or two signatures', async () => {
    const h = handler({ dkim: [rsa, ed] });
    expect((await h.sendMessage(msg)).status).toBe(SmtpDeliveryStatus.SUCCESS);
    expect(await lastVerified()).toEqual(['rsa2048', 'ed25519']);
  });

  it('reads replayable file parts twice (hash, then send) and announces the signed size', async () => {
    const file = join(dir, 'big.bin');
    await writeFile(file, Buffer.alloc(3 * 1024 * 1024, 'trailing space \r\n'));
    const h = handler({ dkim: ed });
    const result = await h.sendMessage({ ...msg, attachments: [{ filename: 'big.bin', path: file }] });
    expect(result.status).toBe(SmtpDeliveryStatus.SUCCESS);
    expect(await lastVerified()).toEqual(['ed25519']);
    const rec = server.messages.at(-1)!;
    expect(Number(rec.mailParams.SIZE)).toBe(rec.data.length);
  });

  it('spools a one-shot stream attachment to a private temp file, deleted after the send', async () => {
    const spool = await mkdtemp(join(dir, 'spool-'));
    const h = handler({ dkim: rsa, dkimSpool: { directory: spool } });
    const content = Readable.from([Buffer.from('streamed '), Buffer.from('bytes\n'.repeat(5000))]);
    const result = await h.sendMessage({ ...msg, attachments: [{ filename: 's.txt', content }] });
    expect(result.status).toBe(SmtpDeliveryStatus.SUCCESS);
    expect(await lastVerified()).toEqual(['rsa2048']);
    expect(await readdir(spool)).toEqual([]);
  });

  it('sendRaw: Buffer with bare LFs, stream factory, one-shot stream', async () => {
    const raw = 'From: sender@example.com\nTo: rcpt@example.org\nSubject: raw\n\nline  \n.dot\n';
    const h = handler({ dkim: [ed, rsa] });
    const envelope = { from: 'sender@example.com', to: ['rcpt@example.org'] };
    expect((await h.sendRaw(envelope, Buffer.from(raw))).status).toBe(SmtpDeliveryStatus.SUCCESS);
    expect(await lastVerified()).toEqual(['ed25519', 'rsa2048']);
    expect((await h.sendRaw(envelope, () => Readable.from([raw.slice(0, 7), raw.slice(7)]))).status).toBe(
      SmtpDeliveryStatus.SUCCESS,
    );
    await lastVerified();
    expect((await h.sendRaw(envelope, Readable.from([Buffer.from(raw)]))).status).toBe(SmtpDeliveryStatus.SUCCESS);
    await lastVerified();
  });

  it('per-message dkim overrides the handler, [] sends unsigned', async () => {
    const h = handler({ dkim: rsa });
    await h.sendMessage({ ...msg, dkim: { ...ed, keySelector: 'ed25519b', privateKey: DKIM_KEYS.ed25519b } });
    expect(await lastVerified()).toEqual(['ed25519b']);
    await h.sendMessage({ ...msg, dkim: [] });
    expect(server.messages.at(-1)!.data.toString('latin1')).not.toMatch(/^DKIM-Signature:/m);
    // An empty handler list signs nothing either (and does not ask for a From header).
    const none = handler({ dkim: [] });
    const raw = await none.sendRaw({ from: 'a@example.com', to: ['b@example.org'] }, 'Subject: no From\r\n\r\nx\r\n');
    expect(raw.status).toBe(SmtpDeliveryStatus.SUCCESS);
  });
});

describe('failures', () => {
  it('a bad key throws at construction with ERR_SMTP_DKIM_KEY', () => {
    expect(() => handler({ dkim: { ...rsa, privateKey: 'not a key' } })).toThrow(InvalidArgumentError);
    let caught: unknown;
    try {
      handler({ dkim: [rsa, { ...ed, algorithm: 'rsa-sha256' }] });
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code: ErrorCodes.DKIM_KEY, field: 'dkim[1].algorithm' });
    expect(() => handler({ dkimSpool: { dir: '/tmp' } as never })).toThrow(/unknown option 'dir'/);
  });

  it('INVALID with nothing sent: bad per-message key, spooling off, over the spool limit, a failing stream', async () => {
    const before = server.messages.length;
    const mails = (): number => server.commands.filter((c) => c.verb === 'MAIL').length;
    const mailsBefore = mails();
    const h = handler({ dkim: ed, dkimSpool: false });
    const badKey = await h.sendMessage({ ...msg, dkim: { ...ed, privateKey: 'nope' } });
    expect(badKey.status).toBe(SmtpDeliveryStatus.INVALID);
    expect(badKey.error?.code).toBe(ErrorCodes.DKIM_KEY);

    const envelope = { from: 'sender@example.com', to: ['rcpt@example.org'] };
    const off = await h.sendRaw(envelope, Readable.from(['From: sender@example.com\r\n\r\nx\r\n']));
    expect(off.status).toBe(SmtpDeliveryStatus.INVALID);
    expect(off.error?.code).toBe(ErrorCodes.DKIM_SIGN);
    // The class the README lists the code under.
    expect(off.error?.name).toBe('InvalidArgumentError');
    expect(off.smtpError).toMatch(/spooling off/);

    const small = handler({ dkim: ed, dkimSpool: { directory: dir, maxSize: 1000 } });
    const big = await small.sendRaw(
      envelope,
      Readable.from([`From: sender@example.com\r\n\r\n${'x'.repeat(2000)}\r\n`]),
    );
    expect(big.status).toBe(SmtpDeliveryStatus.INVALID);
    expect(big.smtpError).toMatch(/spool limit/);

    const failing = new Readable({
      read() {
        this.destroy(new Error('disk on fire'));
      },
    });
    const broken = await small.sendRaw(envelope, failing);
    expect(broken.status).toBe(SmtpDeliveryStatus.INVALID);
    expect(broken.smtpError).toMatch(/disk on fire/);

    const noFrom = await small.sendRaw(envelope, Buffer.from('Subject: x\r\n\r\nbody\r\n'));
    expect(noFrom.error?.code).toBe(ErrorCodes.DKIM_SIGN);

    expect(server.messages.length).toBe(before);
    expect(mails()).toBe(mailsBefore);
    expect((await readdir(dir)).filter((n) => n.startsWith('smtpwire-dkim-'))).toEqual([]);
  });
});

describe('abort', () => {
  it('an AbortSignal stops the hash pass of a large body: ABORTED, nothing sent, spool removed', async () => {
    const mailsBefore = server.commands.filter((c) => c.verb === 'MAIL').length;
    const spool = await mkdtemp(join(dir, 'abort-'));
    const h = handler({ dkim: ed, dkimSpool: { directory: spool } });
    const controller = new AbortController();
    let n = 0;
    const endless = new Readable({
      read() {
        if (++n === 5) controller.abort(new Error('caller gave up'));
        this.push(n === 1 ? 'From: sender@example.com\r\n\r\n' : `${'x'.repeat(1000)}\r\n`);
      },
    });
    const envelope = { from: 'sender@example.com', to: ['rcpt@example.org'] };
    const result = await h.sendRaw(envelope, endless, { signal: controller.signal });
    expect(result.status).not.toBe(SmtpDeliveryStatus.SUCCESS);
    expect(result.status).not.toBe(SmtpDeliveryStatus.INVALID);
    expect(result.error?.code).toBe(ErrorCodes.ABORTED);
    expect(server.commands.filter((c) => c.verb === 'MAIL').length).toBe(mailsBefore);
    expect(await readdir(spool)).toEqual([]);
  });
});

const dkimpyMissing = await dkimpyUnavailable();
describe('dkimpy', () => {
  if (dkimpyMissing !== null) {
    reportUnavailable({ name: 'dkimpy' as ServerName, available: false, reason: dkimpyMissing });
    return;
  }
  it('verifies every message the server received', async () => {
    expect(received.length).toBeGreaterThanOrEqual(7);
    const results = await dkimpyVerify(received, records);
    for (const res of results) {
      expect(res.length).toBeGreaterThan(0);
      expect(res.every(Boolean)).toBe(true);
    }
  });
});
