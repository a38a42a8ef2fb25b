/**
 * Proof both ways (issue 17): every conform check against the scripted server configured to pass
 * it, and configured to fail it (a `warn` where the check never fails). Each case runs only its
 * own check (`only: [id]`), so a case is one or two short sessions.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CONFORM_CHECKS, conform } from '../../src/conform/conform.js';
import { CONFORM_CHECK_IDS, type ConformOptions, type ConformStatus } from '../../src/conform/types.js';
import {
  type ScriptedServerOptions,
  type ScriptedSmtpServer,
  type SessionRecord,
  startScriptedServer,
} from '../../src/testing/index.js';

const servers: ScriptedSmtpServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const RCPT = 'owner@sink.example';

interface Setup {
  server?: ScriptedServerOptions;
  options?: Partial<ConformOptions>;
}

interface Case {
  id: string;
  pass: Setup;
  bad: Setup;
  /** What the badly configured server gets: `fail`, or `warn` for checks that never fail. */
  badStatus: ConformStatus;
}

async function run(id: string, setup: Setup) {
  const server = await startScriptedServer(setup.server);
  servers.push(server);
  const tls = setup.server?.tls !== undefined || setup.server?.implicitTls === true;
  const report = await conform({
    host: 'localhost',
    port: server.port,
    ...(tls ? { tls: { ca: server.ca } } : { encryption: 'none' }),
    rcpt: RCPT,
    replyTimeout: 1000,
    checkTimeout: 8000,
    only: [id],
    ...setup.options,
  });
  expect(report.checks.map((c) => c.id)).toEqual([id]);
  return { report, check: report.checks[0]!, server };
}

/** A hook that refuses any command line ending in a bare LF, as Postfix with smtpd_forbid_bare_newline. */
const refuseBareLf: ScriptedServerOptions['onCommand'] = (session: SessionRecord) =>
  session.commands.at(-1)?.crlf === false
    ? { reply: '521 5.5.2 Error: bare <LF> received', action: 'drop-after-reply' }
    : undefined;

const withCapability =
  (keyword: string) =>
  (defaults: string[]): string[] => [...defaults, keyword];

const EOD_CASES: Case[] = CONFORM_CHECKS.filter((c) => c.id.startsWith('eod-')).map((c) => ({
  id: c.id,
  pass: {},
  bad: { server: { quirks: { endOfData: [eodBytes(c.id)] } } },
  badStatus: 'fail',
}));

/** `eod-lf-dot-crlf` → `\n.\r\n`: the id names the bytes. */
function eodBytes(id: string): string {
  const words: Record<string, string> = { lf: '\n', cr: '\r', crlf: '\r\n', dot: '.', nul: '\0', sp: ' ' };
  return id
    .slice(4)
    .replace(/^lf-only-/, '')
    .split('-')
    .map((w) => words[w]!)
    .join('');
}

const CASES: Case[] = [
  ...EOD_CASES,
  {
    id: 'data-bare-lf',
    pass: { server: { script: [{ on: 'DATA_END', reply: '550 5.6.11 bare LF' }] } },
    bad: {},
    badStatus: 'warn',
  },
  {
    id: 'data-bare-cr',
    pass: { server: { script: [{ on: 'DATA_END', reply: '550 5.6.11 bare CR' }] } },
    bad: {},
    badStatus: 'warn',
  },
  {
    id: 'data-nul',
    pass: { server: { script: [{ on: 'DATA_END', action: 'drop' }] } },
    bad: {},
    badStatus: 'warn',
  },
  { id: 'cmd-bare-lf', pass: { server: { onCommand: refuseBareLf } }, bad: {}, badStatus: 'warn' },
  {
    id: 'cmd-bare-cr',
    pass: {},
    bad: { server: { script: [{ on: '*', match: /\r/, raw: '250 2.0.0 OK\r\n250 2.0.0 OK\r\n' }] } },
    badStatus: 'warn',
  },
  {
    id: 'cmd-nul',
    pass: { server: { script: [{ on: 'EHLO', match: /\0/, reply: '501 5.5.4 Invalid domain' }] } },
    bad: {},
    badStatus: 'warn',
  },
  { id: 'limit-command-line', pass: {}, bad: { server: { maxLineLength: 200 } }, badStatus: 'fail' },
  {
    id: 'limit-text-line',
    pass: { server: { script: [{ on: 'DATA_END', nth: 2, reply: '552 5.3.4 Line too long' }] } },
    bad: { server: { script: [{ on: 'DATA_END', nth: 1, reply: '554 5.6.0 Line too long' }] } },
    badStatus: 'fail',
  },
  { id: 'limit-recipients', pass: {}, bad: { server: { maxRecipients: 50 } }, badStatus: 'fail' },
  {
    id: 'size-declared',
    pass: { server: { maxMessageSize: 5000 } },
    bad: { server: { maxMessageSize: 5000, script: [{ on: 'MAIL', match: /SIZE=/, reply: '250 2.1.0 OK' }] } },
    badStatus: 'fail',
  },
  {
    id: 'size-enforced',
    pass: { server: { maxMessageSize: 5000 } },
    bad: { server: { maxMessageSize: 5000, script: [{ on: 'DATA_END', reply: '250 2.0.0 OK' }] } },
    badStatus: 'fail',
  },
  {
    id: 'limit-unknown-commands',
    pass: { server: { script: [{ on: 'XSMTPWIRE3', reply: '421 4.7.0 Too many errors' }] } },
    bad: { server: { script: [{ on: 'XSMTPWIRE1', reply: '250 2.0.0 OK' }] } },
    badStatus: 'fail',
  },
  {
    id: 'starttls-offered',
    pass: { server: { tls: true } },
    bad: { options: { encryption: undefined } },
    badStatus: 'warn',
  },
  {
    id: 'starttls-injection',
    pass: { server: { tls: true } },
    bad: { server: { tls: true, quirks: { starttlsKeepsPlaintext: true } } },
    badStatus: 'fail',
  },
  {
    id: 'starttls-capabilities',
    pass: { server: { tls: true } },
    bad: {
      server: { tls: true, capabilities: (d) => (d.includes('STARTTLS') ? d : [...d, 'STARTTLS']) },
    },
    badStatus: 'fail',
  },
  {
    id: 'auth-before-tls',
    pass: { server: { tls: true, users: { alice: 'pw' }, authRequiresTls: true } },
    bad: { server: { tls: true, users: { alice: 'pw' } } },
    badStatus: 'warn',
  },
  ...(['tls-v1.0', 'tls-v1.1'] as const).map(
    (id): Case => ({
      id,
      pass: { server: { tls: true } },
      bad: { server: { tls: { minVersion: 'TLSv1', ciphers: 'DEFAULT:@SECLEVEL=0' } } },
      badStatus: 'warn',
    }),
  ),
  { id: 'tls-certificate', pass: { server: { tls: true } }, bad: { server: { tls: 'untrusted' } }, badStatus: 'fail' },
  {
    id: 'pipelining-mail-rcpt-data',
    pass: {},
    bad: { server: { script: [{ on: 'DATA', action: 'silent' }] } },
    badStatus: 'fail',
  },
  {
    id: 'pipelining-reply-order',
    pass: {},
    bad: { server: { script: [{ on: 'XSMTPWIRE-ORDER', reply: '250 2.0.0 OK' }] } },
    badStatus: 'fail',
  },
  { id: 'early-talker', pass: { server: { quirks: { rejectEarlyTalkers: 150 } } }, bad: {}, badStatus: 'warn' },
  {
    id: 'ext-8bitmime',
    pass: {},
    bad: { server: { script: [{ on: 'MAIL', match: /BODY=8BITMIME/, reply: '555 5.5.4 Unsupported' }] } },
    badStatus: 'fail',
  },
  {
    id: 'ext-smtputf8',
    pass: {},
    bad: {
      server: {
        capabilities: (d) => d.filter((k) => k !== 'SMTPUTF8'),
        script: [{ on: 'MAIL', match: /ü/, reply: '250 2.1.0 OK' }],
      },
    },
    badStatus: 'fail',
  },
  {
    id: 'ext-chunking',
    pass: {},
    bad: { server: { script: [{ on: 'BDAT_LAST', match: /^BDAT 0 /, reply: '554 5.5.1 Empty chunk' }] } },
    badStatus: 'fail',
  },
  {
    id: 'ext-dsn',
    pass: { server: { capabilities: withCapability('DSN') } },
    bad: {
      server: {
        capabilities: withCapability('DSN'),
        script: [{ on: 'MAIL', match: /RET=/, reply: '555 5.5.4 Unsupported' }],
      },
    },
    badStatus: 'fail',
  },
  {
    id: 'ext-enhancedstatuscodes',
    pass: {},
    bad: { server: { quirks: { omitEnhancedCodes: [5] } } },
    badStatus: 'fail',
  },
  {
    id: 'ext-requiretls',
    pass: {},
    bad: {
      server: {
        capabilities: withCapability('REQUIRETLS'),
        script: [{ on: 'MAIL', match: /REQUIRETLS/, reply: '555 5.5.4 Unsupported' }],
      },
    },
    badStatus: 'fail',
  },
  {
    id: 'relay-open',
    pass: {
      server: { script: [{ on: 'RCPT', match: /example\.net/, reply: '554 5.7.1 Relay access denied' }] },
      options: { relayTest: true },
    },
    bad: { options: { relayTest: true } },
    badStatus: 'fail',
  },
  {
    id: 'cmd-unknown',
    pass: {},
    bad: { server: { script: [{ on: 'XSMTPWIREPROBE', reply: '250 2.0.0 OK' }] } },
    badStatus: 'fail',
  },
  {
    id: 'vrfy-disclosure',
    pass: {},
    bad: { server: { script: [{ on: 'VRFY', reply: '250 2.1.5 Postmaster <postmaster@sink.example>' }] } },
    badStatus: 'warn',
  },
  {
    id: 'reply-syntax',
    pass: {},
    bad: { server: { script: [{ on: 'NOOP', reply: '250 5.0.0 OK' }] } },
    badStatus: 'fail',
  },
];

describe('every conform check, proven both ways against the scripted server', () => {
  it('covers every check', () => {
    expect(CASES.map((c) => c.id).sort()).toEqual(CONFORM_CHECKS.map((c) => c.id).sort());
  });

  it('the typed id registry lists exactly the defined checks, in report order', () => {
    expect(CONFORM_CHECKS.map((c) => c.id)).toEqual([...CONFORM_CHECK_IDS]);
  });

  for (const c of CASES) {
    it(`${c.id}: pass when conforming, ${c.badStatus} when not`, async () => {
      const good = await run(c.id, c.pass);
      expect(good.check.status, `${c.id} (good): ${good.check.reason}`).toBe('pass');
      const bad = await run(c.id, c.bad);
      expect(bad.check.status, `${c.id} (bad): ${bad.check.reason}`).toBe(c.badStatus);
      expect(bad.check.evidence.sent.length).toBeGreaterThan(0);
      // Whatever was delivered went to the operator's own mailbox only.
      for (const server of [good.server, bad.server])
        for (const m of server.messages) expect(m.rcptTo.every((r) => r === RCPT)).toBe(true);
    });
  }
});

describe('how the verdicts are reached', () => {
  it('eod: a server that ends DATA at \\n.\\n accepts the smuggled second message — to the operator only', async () => {
    const { check, server } = await run('eod-lf-dot-lf', { server: { quirks: { endOfData: ['\n.\n'] } } });
    expect(check.reason).toMatch(/smuggled message was accepted/);
    expect(server.messages).toHaveLength(2);
    expect(server.messages[1]?.data.toString()).toContain('smuggled part');
    expect(check.evidence.sent.join('')).toContain('part one\\n.\\nMAIL FROM:<conform@smtpwire.invalid>');
  });

  it('eod-lf-only: a server that ends DATA at \\n.\\n only in LF framing (Exim) passes the CRLF-framed variant and fails this one', async () => {
    const quirks = { endOfDataInLfFraming: true };
    const crlf = await run('eod-lf-dot-lf', { server: { quirks } });
    expect(crlf.check.status, crlf.check.reason).toBe('pass');
    const lf = await run('eod-lf-only-lf-dot-lf', { server: { quirks } });
    expect(lf.check.status, lf.check.reason).toBe('fail');
    expect(lf.check.reason).toMatch(/smuggled message was accepted/);
    expect(lf.check.evidence.sent.join('')).toContain('part one\\n.\\nMAIL FROM:<conform@smtpwire.invalid>\\nRCPT');
  });

  it('limit-command-line reads every reply to the long line: a split is a desync (fail), a silent cut a warning that says so', async () => {
    const split = await run('limit-command-line', { server: { quirks: { longCommandLines: 'split' } } });
    expect(split.check.status, split.check.reason).toBe('fail');
    expect(split.check.reason).toMatch(/replies .*split it and ran the rest as another command/);
    const cut = await run('limit-command-line', { server: { quirks: { longCommandLines: 'truncate' } } });
    expect(cut.check.status, cut.check.reason).toBe('warn');
    expect(cut.check.reason).toMatch(/cut the line silently/);
    const unlimited = await run('limit-command-line', { server: { maxLineLength: 30_000 } });
    expect(unlimited.check.status, unlimited.check.reason).toBe('warn');
    expect(unlimited.check.reason).toMatch(/whole 20000-octet line was read.*no line length limit/);
    const refused = await run('limit-command-line', {});
    expect(refused.check.reason).toMatch(/20000 octets refused \(500 5\.5\.2/);
  });

  it('size-enforced overshoots by more than the CR count: a server counting without CRs (Exim) still refuses', async () => {
    const { check } = await run('size-enforced', {
      server: { maxMessageSize: 500_000, quirks: { sizeWithoutCr: true } },
    });
    expect(check.status, check.reason).toBe('pass');
    expect(check.reason).toMatch(/without CRs\) over SIZE 500000 refused: 552/);
  });

  it('size-enforced runs at the usual 10,240,000 SIZE, streamed, within its budget', async () => {
    const started = performance.now();
    const good = await run('size-enforced', { server: { maxMessageSize: 10_240_000 } });
    expect(good.check.status, good.check.reason).toBe('pass');
    const bad = await run('size-enforced', {
      server: { maxMessageSize: 10_240_000, script: [{ on: 'DATA_END', reply: '250 2.0.0 OK' }] },
    });
    expect(bad.check.status, bad.check.reason).toBe('fail');
    expect(performance.now() - started).toBeLessThan(15_000);
  }, 30_000);

  it('ext-enhancedstatuscodes also judges the 4xx replies earlier checks met (452 from limit-recipients)', async () => {
    const server = await startScriptedServer({ quirks: { omitEnhancedCodes: [4] } });
    servers.push(server);
    const options = { host: '127.0.0.1', port: server.port, encryption: 'none', replyTimeout: 1000 } as const;
    const alone = await conform({ ...options, only: ['ext-enhancedstatuscodes'] });
    expect(alone.checks[0]).toMatchObject({ status: 'pass', reason: /no 4xx reply seen/ });
    const after = await conform({ ...options, only: ['limit-recipients', 'ext-enhancedstatuscodes'] });
    expect(after.checks[1]).toMatchObject({ status: 'fail', reason: /4xx replies of the run \(452 Too many/ });
  });

  it('falls back to HELO when EHLO is not recognised', async () => {
    const server = await startScriptedServer({ script: [{ on: 'EHLO', reply: '502 5.5.1 EHLO not implemented' }] });
    servers.push(server);
    const report = await conform({ host: '127.0.0.1', port: server.port, encryption: 'none', only: ['reply-syntax'] });
    expect(report.server.capabilities).toEqual([]);
    expect(report.checks[0]?.status).toBe('pass');
  });

  it('sends no mail without --rcpt: the checks that would are skipped, nothing is delivered', async () => {
    const server = await startScriptedServer();
    servers.push(server);
    const report = await conform({ host: '127.0.0.1', port: server.port, encryption: 'none', replyTimeout: 1000 });
    const needRcpt = CONFORM_CHECKS.filter((c) => c.needs === 'rcpt').map((c) => c.id);
    for (const id of needRcpt)
      expect(report.checks.find((c) => c.id === id)).toMatchObject({ status: 'skipped', reason: /--rcpt/ });
    expect(server.messages).toHaveLength(0);
    expect(server.commands.some((c) => c.verb === 'DATA' || c.verb === 'BDAT')).toBe(false);
  });

  it('reports the whole run with a summary, unique ids and redacted credentials', async () => {
    const server = await startScriptedServer({ tls: true, users: { alice: 'hunter2-secret' }, requireAuth: true });
    servers.push(server);
    const report = await conform({
      host: 'localhost',
      port: server.port,
      tls: { ca: server.ca },
      username: 'alice',
      password: 'hunter2-secret',
      rcpt: RCPT,
      replyTimeout: 1000,
    });
    expect(report.server).toMatchObject({ secure: true, authenticated: true, error: null });
    const ids = report.checks.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(CONFORM_CHECKS.map((c) => c.id));
    const { pass, warn, fail, skipped, total } = report.summary;
    expect(pass + warn + fail + skipped).toBe(total);
    expect(report.summary.status).toBe(fail > 0 ? 'fail' : warn > 0 ? 'warn' : 'pass');
    const json = JSON.stringify(report);
    expect(json).not.toContain('hunter2-secret');
    expect(json).not.toContain(Buffer.from('\0alice\0hunter2-secret').toString('base64'));
    expect(json).toContain('AUTH PLAIN ****');
    // The transaction checks really ran, authenticated (requireAuth would refuse MAIL otherwise).
    expect(report.checks.find((c) => c.id === 'eod-lf-dot-lf')?.status).toBe('pass');
  });

  it('is bounded: a silent server makes each check inconclusive within its timeout, and the budget skips the rest', async () => {
    const server = await startScriptedServer({ script: [{ on: ['NOOP', 'RSET', 'MAIL'], action: 'silent' }] });
    servers.push(server);
    const started = performance.now();
    const report = await conform({
      host: '127.0.0.1',
      port: server.port,
      encryption: 'none',
      replyTimeout: 200,
      checkTimeout: 400,
      budget: 800,
      only: ['bare-characters', 'limits', 'pipelining', 'reply-syntax'],
    });
    expect(performance.now() - started).toBeLessThan(4000);
    expect(report.checks.find((c) => c.id === 'cmd-bare-lf')).toMatchObject({ status: 'warn', reason: /inconclusive/ });
    expect(report.checks.some((c) => c.status === 'skipped' && /budget/.test(c.reason))).toBe(true);
  });

  it('reports an unreachable server without throwing, every check skipped', async () => {
    const server = await startScriptedServer();
    const port = server.port;
    await server.close();
    const report = await conform({ host: '127.0.0.1', port, encryption: 'none', replyTimeout: 500 });
    expect(report.server.error).toMatch(/cannot connect/);
    expect(report.checks.every((c) => c.status === 'skipped')).toBe(true);
    expect(report.summary.status).toBe('fail');
  });

  it('runs over implicit TLS', async () => {
    const server = await startScriptedServer({ implicitTls: true, tls: true });
    servers.push(server);
    const report = await conform({
      host: 'localhost',
      port: server.port,
      encryption: 'ssl',
      tls: { ca: server.ca },
      rcpt: RCPT,
      replyTimeout: 1000,
      only: ['starttls', 'eod-lf-dot-lf'],
    });
    expect(report.server).toMatchObject({ secure: true, capabilitiesBeforeTls: null });
    expect(report.checks.find((c) => c.id === 'tls-certificate')?.status).toBe('pass');
    expect(report.checks.find((c) => c.id === 'starttls-offered')?.status).toBe('skipped');
    expect(report.checks.find((c) => c.id === 'eod-lf-dot-lf')?.status).toBe('pass');
  });

  it('refuses unknown options with a did-you-mean, and addresses that would inject a command', async () => {
    await expect(conform({ host: 'x', rcpt_to: 'a@b' } as never)).rejects.toMatchObject({
      code: 'ERR_SMTP_INVALID_ARGUMENT',
    });
    await expect(conform({ host: 'x', rcpt: 'a@b>\r\nRSET' })).rejects.toMatchObject({
      code: 'ERR_SMTP_HEADER_INJECTION',
    });
    await expect(conform({ host: 'x', rcpt: 'a@b> RSET' })).rejects.toMatchObject({
      code: 'ERR_SMTP_INVALID_ARGUMENT',
    });
    await expect(conform({ host: 'x', only: ['no-such-check'] })).rejects.toThrow(/no-such-check/);
  });
});
