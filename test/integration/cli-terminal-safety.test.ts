/**
 * No server byte reaches a terminal raw (issue 23): a hostile server's greeting, EHLO, replies and
 * refusals carry ESC/CSI/OSC sequences, BEL, NUL, a C1 CSI (U+009B) and bidi overrides; every text
 * path of the CLI (probe and conform, plain and -v; send, plain and -v; error messages) prints them
 * escaped. `--json` keeps the values and escapes what JSON leaves raw (DEL, C1, bidi) as `\uXXXX`;
 * `--junit` carries the evidence escaped as the text report does.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type ScriptedSmtpServer, startScriptedServer } from '../../src/testing/index.js';
import { escapeTerminalText } from '../../src/util/terminal-text.js';
import { runCli, runMain } from '../helpers/cli.js';

/** What a terminal would act on: C0, DEL, C1, bidi controls. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
/** Printed output may contain line breaks of its own, and nothing else from the set above. */
const unsafeIn = (text: string): RegExpExecArray | null => UNSAFE.exec(text.replace(/\n/g, ''));

/** OSC retitle + BEL, CSI clear screen, a C1 CSI, a bidi override, a NUL and a forged line. */
const HOSTILE = '\x1b]0;pwned\x07\x1b[2J\u009b31m\u202eevil\0 text\rPASS  forged';

const servers: ScriptedSmtpServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function hostile(): Promise<ScriptedSmtpServer> {
  const server = await startScriptedServer({
    greeting: `220 ${HOSTILE}`,
    capabilities: (defaults) => [...defaults, `X-HOSTILE ${HOSTILE.replace(/[\r\0]/g, '')}`],
    script: [
      { on: 'VRFY', reply: `252 ${HOSTILE}` },
      { on: 'XSMTPWIREPROBE', reply: `500 ${HOSTILE}` },
      { on: 'RCPT', match: /bad@/, reply: `550 5.1.1 ${HOSTILE}` },
      { on: 'DATA_END', reply: `554 5.6.0 ${HOSTILE}` },
    ],
  });
  servers.push(server);
  return server;
}

const run = runMain;

describe('escapeTerminalText', () => {
  it('escapes C0, DEL, C1 and bidi controls readably, keeps letters, and is idempotent', () => {
    expect(escapeTerminalText('a\x1b[2Jb\x07\0\r\n\t\x7f\u009b\u202e\u2066é日')).toBe(
      'a\\x1b[2Jb\\x07\\0\\r\\n\\t\\x7f\\u009b\\u202e\\u2066é日',
    );
    const once = escapeTerminalText(HOSTILE);
    expect(escapeTerminalText(once)).toBe(once);
    expect(escapeTerminalText('a\\x1b', { backslash: true })).toBe('a\\\\x1b');
    for (let c = 0; c < 0x10000; c++) {
      const ch = String.fromCharCode(c);
      if (c >= 0xd800 && c <= 0xdfff) continue;
      expect(UNSAFE.test(escapeTerminalText(ch)), `U+${c.toString(16)}`).toBe(false);
    }
  });
});

describe('the CLI prints server bytes escaped', () => {
  it('probe, text and -v', async () => {
    const server = await hostile();
    for (const extra of [[], ['-v']]) {
      const r = await run(['probe', `127.0.0.1:${server.port}`, '--plain', '--timeout', '2000', ...extra]);
      expect(unsafeIn(r.stdout), r.stdout).toBeNull();
      expect(unsafeIn(r.stderr)).toBeNull();
      expect(r.stdout).toContain('\\x1b]0;pwned\\x07');
      expect(r.stdout).toContain('\\u009b31m\\u202eevil');
      expect(r.stdout).not.toMatch(/^PASS {2}forged/m);
    }
  });

  it('conform, text and -v', async () => {
    const server = await hostile();
    for (const extra of [[], ['-v']]) {
      const r = await run([
        'conform',
        `127.0.0.1:${server.port}`,
        '--plain',
        '--only',
        'limits',
        '--only',
        'reply-syntax',
        '--timeout',
        '2000',
        ...extra,
      ]);
      expect(unsafeIn(r.stdout), r.stdout).toBeNull();
      expect(r.stdout).toContain('\\x1b]0;pwned\\x07');
      if (extra.length) expect(r.stdout).toContain('S: 220 \\x1b]0;pwned');
    }
  });

  it('--json and --junit: the same values, escaped for a terminal (conform, probe, send)', async () => {
    const server = await hostile();
    const target = `127.0.0.1:${server.port}`;
    const conformArgs = ['conform', target, '--plain', '--only', 'reply-syntax', '--timeout', '2000'];
    const runs = [
      [...conformArgs, '--json'],
      [...conformArgs, '--junit'],
      ['probe', target, '--plain', '--timeout', '2000', '--json'],
      ['send', '--plain', '--from', 'a@example.com', '--to', 'b@example.org', '--text', 'hi', '--json', target],
    ];
    for (const argv of runs) {
      const r = await run(argv);
      expect(unsafeIn(r.stdout), `${argv.join(' ')}: ${r.stdout}`).toBeNull();
      // JSON: a \uXXXX escape, the value a program reads unchanged; JUnit: the evidence as the text report has it.
      expect(r.stdout).toContain('\\u009b31m\\u202eevil');
    }
  });

  it('send, text and -v (a refused recipient and a refused message)', async () => {
    const server = await hostile();
    const r = await run([
      'send',
      '--plain',
      '--from',
      'a@example.com',
      '--to',
      'b@example.org',
      '--to',
      'bad@example.org',
      '--text',
      'hi',
      '-v',
      `127.0.0.1:${server.port}`,
    ]);
    expect(r.code).toBe(2);
    expect(unsafeIn(r.stdout), r.stdout).toBeNull();
    expect(unsafeIn(r.stderr), r.stderr).toBeNull();
    expect(r.stdout).toContain('\\u009b31m');
    expect(r.stderr).toContain('S: 220 \\x1b]0;pwned');
  });

  it('an error message quoting the server (spawned, as a user runs it)', async () => {
    const server = await startScriptedServer({ greeting: `554 ${HOSTILE}` });
    servers.push(server);
    const r = await runCli(['probe', `127.0.0.1:${server.port}`, '--plain', '--timeout', '2000']);
    expect(r.code).toBe(2);
    expect(unsafeIn(r.stdout), r.stdout).toBeNull();
    expect(unsafeIn(r.stderr), r.stderr).toBeNull();
    expect(r.stdout).toContain('\\x1b[2J');
  });
});
