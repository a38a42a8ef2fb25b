/**
 * `smtpwire conform` as a user runs it (spawned), and the text / JUnit renderings of a report.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { formatConformJunit, formatConformText } from '../../src/conform/report.js';
import type { ConformReport } from '../../src/conform/types.js';
import { type ScriptedSmtpServer, startScriptedServer } from '../../src/testing/index.js';
import { type CliRun, runCli } from '../helpers/cli.js';

/** Spawns the CLI exactly as a user would in dev: `node --import tsx src/cli/main.ts …`. */
const cli = (args: string[], env: Record<string, string> = {}): Promise<CliRun> => runCli(args, { env });

const servers: ScriptedSmtpServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
const dir = mkdtempSync(join(tmpdir(), 'smtpwire-conform-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('smtpwire conform (spawned)', () => {
  it('--json: the report shape; exit 2 when a check fails (a server that ends DATA at \\n.\\n)', async () => {
    const server = await startScriptedServer({ quirks: { endOfData: ['\n.\n'] } });
    servers.push(server);
    const run = await cli([
      'conform',
      `127.0.0.1:${server.port}`,
      '--encryption',
      'none',
      '--rcpt',
      'owner@sink.example',
      '--only',
      'smuggling',
      '--timeout',
      '1000',
      '--json',
    ]);
    expect(run.stderr).toBe('');
    const report = JSON.parse(run.stdout) as ConformReport;
    expect(Object.keys(report)).toEqual(['server', 'checks', 'summary']);
    const check = report.checks.find((c) => c.id === 'eod-lf-dot-lf')!;
    expect(Object.keys(check)).toEqual(expect.arrayContaining(['id', 'group', 'status', 'rfc', 'reason', 'evidence']));
    expect(check).toMatchObject({ status: 'fail', group: 'smuggling', evidence: { sent: expect.any(Array) } });
    expect(report.summary.status).toBe('fail');
    expect(run.code).toBe(2);
  });

  it('--junit --output FILE and text -v with the evidence and the password redacted; exit 1 on warnings', async () => {
    const server = await startScriptedServer({ tls: true, users: { alice: 'pw-not-shown' } });
    servers.push(server);
    const ca = join(dir, 'ca.pem');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(ca, server.ca);
    const out = join(dir, 'report.xml');
    const common = ['conform', `localhost:${server.port}`, '--ca', ca, '--user', 'alice', '--pass-env', 'PW'];
    const only = ['--only', 'starttls', '--only', 'reply-syntax'];
    const junit = await cli([...common, ...only, '--junit', '--output', out], { PW: 'pw-not-shown' });
    expect(junit.code).toBe(1); // auth-before-tls warns
    const xml = readFileSync(out, 'utf8');
    expect(xml).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="smtpwire conform localhost:\d+"/);
    expect(xml).toContain('<testcase classname="smtpwire.conform.starttls" name="starttls-injection"');
    expect(xml).not.toContain('pw-not-shown');
    const mixUp = await cli([...common, ...only, '--encryption', 'ssl'], { PW: 'pw-not-shown' });
    // --encryption ssl (implicit TLS) against a STARTTLS port: no session, every check skipped, exit 2.
    expect(mixUp.stdout).toMatch(/note\s+.*plaintext/);
    expect(mixUp.code).toBe(2);
    const verbose = await cli([...common, ...only, '-v'], { PW: 'pw-not-shown' });
    expect(verbose.stdout).toContain('WARN  auth-before-tls');
    expect(verbose.stdout).toMatch(/C: AUTH PLAIN \*\*\*\*/);
    expect(verbose.stdout).not.toContain('pw-not-shown');
    expect(verbose.code).toBe(1);
  });

  it('usage errors: exit 2 for a bad --encryption or --json with --junit; probe --encryption; --list (in process)', async () => {
    const { main } = await import('../../src/cli/main.js');
    const { PassThrough } = await import('node:stream');
    const run = async (args: string[]) => {
      let stdout = '';
      const sink = new PassThrough();
      sink.on('data', (c: Buffer) => (stdout += c.toString()));
      const io = { stdout: sink, stderr: new PassThrough(), stdin: new PassThrough(), env: {} };
      return { code: await main(args, io), stdout: () => stdout };
    };
    expect((await run(['conform', 'localhost', '--encryption', 'starttls'])).code).toBe(2);
    expect((await run(['conform', 'localhost', '--json', '--junit'])).code).toBe(2);
    expect((await run(['conform', 'localhost', '--plain', '--encryption', 'ssl'])).code).toBe(2);
    // probe takes the same spelling.
    const server = await startScriptedServer();
    servers.push(server);
    const probed = await run(['probe', `127.0.0.1:${server.port}`, '--encryption', 'none', '--json']);
    expect(JSON.parse(probed.stdout())).toMatchObject({ encryption: 'none', secure: false });
    expect(server.commands.some((c) => c.verb === 'STARTTLS')).toBe(false);
    const list = await run(['conform', '--list']);
    expect(list.code).toBe(0);
    expect(list.stdout()).toContain('eod-cr-dot-crlf');
  });
});

describe('report renderings', () => {
  const report: ConformReport = {
    server: {
      host: 'mx.example',
      port: 25,
      encryption: 'tls',
      greeting: '220 mx.example ESMTP',
      capabilitiesBeforeTls: ['STARTTLS'],
      capabilities: ['PIPELINING'],
      secure: true,
      unverified: false,
      authenticated: false,
      error: null,
    },
    checks: [
      {
        id: 'eod-lf-dot-lf',
        group: 'smuggling',
        status: 'fail',
        rfc: 'RFC 5321 §4.1.1.4',
        reason: 'DATA ended at "\\n.\\n" <&>',
        evidence: { sent: ['part one\\n.\\n'], received: ['250 ok'] },
        durationMs: 12,
      },
      {
        id: 'relay-open',
        group: 'relay',
        status: 'skipped',
        rfc: 'RFC 5321 §3.9',
        reason: 'opt-in',
        evidence: { sent: [], received: [] },
        durationMs: 0,
      },
      {
        id: 'early-talker',
        group: 'pipelining',
        status: 'warn',
        rfc: 'RFC 5321 §3.1',
        reason: 'answered',
        evidence: { sent: [], received: [] },
        durationMs: 3,
      },
    ],
    summary: { pass: 0, warn: 1, fail: 1, skipped: 1, total: 3, status: 'fail', durationMs: 15 },
  };

  it('JUnit: a failure per failed check, skipped ones skipped, warnings pass unless warnAsFailure; XML escaped', () => {
    const xml = formatConformJunit(report);
    expect(xml).toContain('tests="3" failures="1" errors="0" skipped="1"');
    expect(xml).toContain('<failure message="DATA ended at &quot;\\n.\\n&quot; &lt;&amp;&gt;" type="fail">');
    expect(xml).toContain('<skipped message="opt-in"/>');
    expect(xml).not.toMatch(/<[^>]*<&>/);
    expect(formatConformJunit(report, { warnAsFailure: true })).toContain('failures="2"');
    // Every opened element is closed.
    for (const tag of ['testsuites', 'testsuite', 'testcase', 'system-out', 'failure'])
      expect((xml.match(new RegExp(`<${tag}[ >]`, 'g')) ?? []).length).toBe(
        (xml.match(new RegExp(`</${tag}>`, 'g')) ?? []).length,
      );
  });

  it('text: grouped checks, evidence with -v, the summary line', () => {
    const text = formatConformText(report, { evidence: true });
    expect(text).toContain('FAIL  eod-lf-dot-lf');
    expect(text).toContain('C: part one\\n.\\n');
    expect(text).toContain('S: 250 ok');
    expect(text).toMatch(/summary\s+0 pass, 1 warn, 1 fail, 1 skipped \(3 checks, 0\.0 s\): FAIL/);
  });
});
