/**
 * The pure helpers of the real-server harness: line-ending normalisation and trace
 * header stripping (used to compare a delivered file with what was sent), the
 * spool reader, and the skip-or-fail policy for unavailable servers.
 */

import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { type ChildServerSpec, startChildServer } from './servers/child-server.js';
import { realServersRequired, ServerStartError, unavailableBanner } from './servers/index.js';
import { clearSpool, readSpool, stripAddedHeaders, toCrlf, waitForSpool } from './servers/spool.js';

/** Bytes rich in CR, LF, dots and header-ish text. */
const messyBytes = fc
  .array(fc.constantFrom('\r', '\n', '\r\n', '.', 'a', ':', ' ', '\t', 'Received', 'é'), { maxLength: 60 })
  .map((parts) => Buffer.from(parts.join(''), 'utf8'));

describe('toCrlf', () => {
  it('leaves no LF without a CR before it', () => {
    fc.assert(
      fc.property(messyBytes, (raw) => {
        const out = toCrlf(raw);
        for (let i = 0; i < out.length; i++) if (out[i] === 0x0a) expect(out[i - 1]).toBe(0x0d);
      }),
    );
  });

  it('only inserts CRs before bare LFs: removing them gives the input back', () => {
    fc.assert(
      fc.property(messyBytes, (raw) => {
        const bareLfs = raw.toString('latin1').replace(/\r\n/g, '').split('\n').length - 1;
        const out = toCrlf(raw);
        expect(out.length).toBe(raw.length + bareLfs);
        expect(out.toString('latin1').replace(/\r\n/g, '\n')).toBe(raw.toString('latin1').replace(/\r\n/g, '\n'));
      }),
    );
  });

  it('is idempotent and keeps a bare CR inside a line', () => {
    fc.assert(
      fc.property(messyBytes, (raw) => {
        expect(toCrlf(toCrlf(raw)).equals(toCrlf(raw))).toBe(true);
      }),
    );
    expect(toCrlf(Buffer.from('a\rb\nc\r\n')).toString()).toBe('a\rb\r\nc\r\n');
  });
});

describe('stripAddedHeaders', () => {
  const received =
    'Received: from vm (unknown [127.0.0.1])\n\tby postfix.smtpwire.test (Postfix) with ESMTPSA id 1\n\tfor <b@test.example>; Fri, 27 Nov 2026 04:14:42 +0000 (UTC)\n';

  it('drops leading trace headers with their folded lines, and nothing else', () => {
    const body = 'Message-ID: <x@y>\nSubject: Received: not a trace header\n\nReceived: in the body\n';
    expect(stripAddedHeaders(Buffer.from(received + received + body), ['Received']).toString()).toBe(body);
    expect(stripAddedHeaders(Buffer.from(body), ['Received']).toString()).toBe(body);
  });

  it('is case-insensitive on names and a no-op without names', () => {
    const raw = Buffer.from('received: x\r\nFrom: a@b\r\n\r\nhi\r\n');
    expect(stripAddedHeaders(raw, ['RECEIVED']).toString()).toBe('From: a@b\r\n\r\nhi\r\n');
    expect(stripAddedHeaders(raw, [])).toBe(raw);
  });

  it('restores any message that did not start with an added header', () => {
    const header = fc.stringMatching(/^X-[A-Za-z]{1,8}: [ -~]{0,20}\r\n$/);
    fc.assert(
      fc.property(fc.array(header, { minLength: 1, maxLength: 5 }), fc.nat(3), (headers, traces) => {
        const message = `${headers.join('')}\r\nbody\r\n`;
        const raw = Buffer.from('Received: by x;\r\n\t folded\r\n'.repeat(traces) + message);
        expect(stripAddedHeaders(raw, ['Received']).toString()).toBe(message);
      }),
    );
  });
});

describe('spool reader', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('returns complete messages in id order and ignores in-progress files', async () => {
    dir = await mkdtemp(join(tmpdir(), 'smtpwire-spooltest-'));
    await writeFile(join(dir, '2.eml'), 'second\n');
    await writeFile(join(dir, '2.json'), JSON.stringify({ sender: 's@x', recipients: ['b@y'], lineEnding: 'lf' }));
    await writeFile(join(dir, '1.eml'), 'first\r\n');
    await writeFile(join(dir, '1.json'), JSON.stringify({ sender: '', recipients: ['a@y', 'c@y'] }));
    await writeFile(join(dir, '3.eml'), 'no json yet: not complete');
    await writeFile(join(dir, '.4.json.tmp'), '{');
    const messages = await readSpool(dir, 'postfix');
    expect(messages.map((m) => [m.id, m.raw.toString(), m.sender, m.recipients, m.lineEnding])).toEqual([
      ['1', 'first\r\n', '', ['a@y', 'c@y'], 'crlf'],
      ['2', 'second\n', 's@x', ['b@y'], 'lf'],
    ]);
    await clearSpool(dir);
    expect(await readSpool(dir, 'postfix')).toEqual([]);
  });

  it('waitForSpool fails with the count seen and the log tail', async () => {
    dir = await mkdtemp(join(tmpdir(), 'smtpwire-spooltest-'));
    await expect(waitForSpool(dir, 'aiosmtpd', 1, 60, async () => 'LOG TAIL')).rejects.toThrow(
      /aiosmtpd: expected 1 delivered message\(s\) within 60 ms, found 0[\s\S]*LOG TAIL/,
    );
  });
});

describe('unavailable servers', () => {
  it.each([
    [{}, false],
    [{ CI: 'true' }, true],
    [{ CI: '1' }, true],
    [{ CI: 'false' }, false],
    [{ CI: '' }, false],
    [{ SMTPWIRE_REQUIRE_REAL_SERVERS: '1' }, true],
    [{ SMTPWIRE_REQUIRE_REAL_SERVERS: '0', CI: 'true' }, false],
  ])('realServersRequired(%o) is %s', (env, expected) => {
    expect(realServersRequired(env)).toBe(expected);
  });

  it('names the server and the reason in a banner', () => {
    const text = unavailableBanner({ name: 'postfix', available: false, reason: 'not root' });
    expect(text).toMatch(/postfix IS NOT AVAILABLE/);
    expect(text).toMatch(/reason: not root/);
  });
});

describe('start failures', () => {
  const spec = (script: string): ChildServerSpec => ({
    name: 'smtp-server',
    command: process.execPath,
    args: ['-e', script],
    hostname: 'x.smtpwire.test',
    features: {
      starttls: true,
      implicitTls: true,
      authMechanisms: ['PLAIN'],
      pipelining: true,
      chunking: false,
      smtputf8: true,
      eightBitMime: true,
    },
    notes: [],
  });

  it('reports a child that dies with its output, and removes the work directory', async () => {
    // A private temp dir: the real servers of other test files create and remove work dirs in the
    // shared one at the same time, which made a before/after comparison there flaky.
    const privateTmp = await mkdtemp(join(tmpdir(), 'smtpwire-harness-'));
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = privateTmp;
    try {
      const err = await startChildServer(spec('console.error("boom: cannot bind"); process.exit(3)'), {}).catch(
        (e) => e,
      );
      expect(err).toBeInstanceOf(ServerStartError);
      expect(err.message).toMatch(/^smtp-server failed to start: exited \(code 3/);
      expect(err.logTail).toContain('boom: cannot bind');
      expect(await readdir(privateTmp)).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
      await rm(privateTmp, { recursive: true, force: true });
    }
  });

  it('gives up on a silent child after startTimeoutMs and kills it', async () => {
    const err = await startChildServer(spec('setInterval(() => {}, 1000)'), { startTimeoutMs: 200 }).catch((e) => e);
    expect(err).toBeInstanceOf(ServerStartError);
    expect(err.message).toMatch(/not ready within 200 ms/);
  });
});
