import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ScriptedSmtpServer, startScriptedServer } from '../../src/testing/index.js';
import { type CliRun, runCli } from '../helpers/cli.js';

/** Spawns the CLI exactly as a user would in dev: `node --import tsx src/cli/main.ts …`. */
const cli = (args: string[], env: Record<string, string> = {}): Promise<CliRun> => runCli(args, { env });

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'smtpwire-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const servers: ScriptedSmtpServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
async function scripted(options: Parameters<typeof startScriptedServer>[0] = {}): Promise<ScriptedSmtpServer> {
  const s = await startScriptedServer(options);
  servers.push(s);
  return s;
}

describe('smtpwire (spawned)', () => {
  it('prints usage and exits 2 on an unknown command or option', async () => {
    const unknown = await cli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command');
    const badOption = await cli(['probe', '127.0.0.1', '--bogus']);
    expect(badOption.code).toBe(2);
    expect(badOption.stderr).toMatch(/bogus/);
  });

  it('probe --json: exit 0 when every check passes, with the report shape and a verified certificate', async () => {
    const server = await scripted({
      tls: true,
      users: { alice: 'secret' },
      script: [{ on: 'DATA_END', reply: '554 5.6.11 bare LF' }],
    });
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, server.ca);
    const run = await cli(
      [
        'probe',
        `localhost:${server.port}`,
        '--ca',
        ca,
        '--user',
        'alice',
        '--pass-env',
        'SMTP_PW',
        '--bare-lf-to',
        'p@sink.example',
        '--json',
      ],
      {
        SMTP_PW: 'secret',
      },
    );
    expect(run.stderr).toBe('');
    const report = JSON.parse(run.stdout);
    expect(report).toMatchObject({
      host: 'localhost',
      port: server.port,
      status: 'ok',
      error: null,
      greeting: '220 localhost ESMTP',
      secure: true,
      auth: { attempted: true, ok: true },
      tls: { mode: 'starttls', certificate: { verified: true } },
    });
    expect(report.checks.map((c: { status: string }) => c.status)).toEqual(Array(7).fill('pass'));
    expect(run.stdout).not.toContain('secret');
    expect(run.code).toBe(0);
  });

  it('probe text: exit 1 on warnings, transcript with -v and the AUTH payload redacted', async () => {
    const server = await scripted({ users: { alice: 'secret' } });
    const run = await cli(['probe', `127.0.0.1:${server.port}`, '--user', 'alice', '--pass-env', 'SMTP_PW', '-v'], {
      SMTP_PW: 'secret',
    });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('WARN  starttls');
    expect(run.stdout).toContain('auth          OK');
    expect(run.stdout).toMatch(/C: AUTH \S+ \*{4}/);
    expect(run.stdout).not.toContain(Buffer.from('\0alice\0secret').toString('base64'));
    expect(run.stdout).not.toContain('secret');
  });

  it('probe: exit 2 when the server refuses the connection', async () => {
    const server = await scripted();
    const port = server.port;
    await server.close();
    const run = await cli(['probe', `127.0.0.1:${port}`, '--plain', '--json']);
    expect(run.code).toBe(2);
    expect(JSON.parse(run.stdout)).toMatchObject({ status: 'failure', error: { code: 'ERR_SMTP_CONNECTION' } });
  });

  it('send --json: one message with an attachment, the DeliveryResult as JSON, exit 0', async () => {
    const server = await scripted();
    const file = join(dir, 'note.txt');
    writeFileSync(file, 'attached text\n');
    const run = await cli([
      'send',
      '--plain',
      '--from',
      'Alice <alice@a.example>',
      '--to',
      'bob@b.example',
      '--subject',
      'hello',
      '--text',
      'body text',
      '--attach',
      file,
      '--json',
      `127.0.0.1:${server.port}`,
    ]);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result).toMatchObject({ status: 'success', smtpCode: 250 });
    expect(result.messageId).toMatch(/^<.+>$/);
    expect(server.messages).toHaveLength(1);
    const data = server.messages[0]!.data.toString();
    expect(data).toContain('Subject: hello');
    expect(data).toMatch(/filename="?note\.txt"?/);
    expect(data).toContain(Buffer.from('attached text\n').toString('base64').slice(0, 12));
    expect(server.messages[0]!.rcptTo).toEqual(['bob@b.example']);
  });

  it('send: exit 2 and the reply when the message is refused; exit 2 for a missing --to', async () => {
    const server = await scripted({ script: [{ on: 'DATA_END', reply: '554 5.7.1 spam' }] });
    const run = await cli([
      'send',
      '--plain',
      '--from',
      'a@a.example',
      '--to',
      'b@b.example',
      '--text',
      'x',
      `127.0.0.1:${server.port}`,
    ]);
    expect(run.code).toBe(2);
    expect(run.stdout).toContain('status      failed');
    expect(run.stdout).toContain('554 5.7.1');
    const usage = await cli(['send', '--plain', '--from', 'a@a.example', `127.0.0.1:${server.port}`]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--to');
  });
});
