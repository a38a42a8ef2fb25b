/**
 * Proves the real-server harness (issue 7) with an independent client, swaks:
 * each server starts, accepts a message over plain, STARTTLS (verifying the test
 * certificate) and implicit TLS with AUTH, refuses REFUSED_RECIPIENT and a wrong
 * password, delivers exactly the bytes sent to a file the harness reads back, and
 * stop() leaves no process, port or directory behind.
 *
 * An unavailable server is skipped with a loud banner, or fails the suite when
 * realServersRequired() (SMTPWIRE_REQUIRE_REAL_SERVERS=1 or CI set).
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { access, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  availableServers,
  type DeliveredMessage,
  REFUSED_RECIPIENT,
  type RealServer,
  startServer,
  stripAddedHeaders,
  TEST_DOMAIN,
  toCrlf,
} from './servers/index.js';
import { CERTS } from './servers/process.js';
import { reportUnavailable } from './unavailable.js';

// SMTPWIRE_SWAKS: another path (a test points it at a missing file to prove the loud skip).
const SWAKS = process.env.SMTPWIRE_SWAKS ?? '/usr/bin/swaks';
const availability = await availableServers();
const swaksReady = await access(SWAKS).then(
  () => true,
  () => false,
);

interface SwaksRun {
  code: number;
  transcript: string;
}

/** Runs swaks and returns its exit code and transcript instead of throwing (codes: swaks(1) EXIT CODES). */
function swaks(args: readonly string[]): Promise<SwaksRun> {
  return new Promise((res) => {
    execFile(SWAKS, [...args, '--timeout', '15'], { timeout: 25_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      res({ code, transcript: `${stdout}${stderr}` });
    });
  });
}

/** A message with a unique Message-ID, a dot-leading line and 8-bit UTF-8 text, CRLF throughout. */
function buildMessage(id: string): Buffer {
  return Buffer.from(
    [
      `Message-ID: <${id}@smtpwire.test>`,
      'From: sender@smtpwire.test',
      `To: bob@${TEST_DOMAIN}`,
      'Subject: harness check',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      '.a line that starts with a dot (dot-stuffed on the wire)',
      'Grüße aus dem Testlabor',
      '',
    ].join('\r\n'),
    'utf8',
  );
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((res) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      res(true);
    });
    socket.once('error', () => res(false));
  });
}

for (const entry of availability) {
  describe(`real server: ${entry.name}`, () => {
    if (!entry.available) {
      reportUnavailable(entry);
      return;
    }
    // The independent client is a Debian tool too: without it these checks cannot run (loud skip, CI failure).
    if (!swaksReady) {
      reportUnavailable({
        ...entry,
        available: false,
        reason: `${SWAKS} (the independent client of these checks) is missing: run .ci/install-servers.sh as root`,
      });
      return;
    }

    let server: RealServer;
    let scratch: string;

    beforeAll(async () => {
      scratch = await mkdtemp(join(tmpdir(), 'smtpwire-swaks-'));
      const t0 = performance.now();
      server = await startServer(entry.name);
      console.info(
        `${entry.name}: started in ${Math.round(performance.now() - t0)} ms on ${server.port}/${server.tlsPort}`,
      );
    });

    afterAll(async () => {
      await server?.stop();
      if (scratch) await rm(scratch, { recursive: true, force: true });
    });

    beforeEach(async () => {
      await server.clearMessages();
    });

    /** Sends one message with swaks and returns it as delivered, after checking the envelope. */
    async function sendAndRead(transport: readonly string[], mechanism: string): Promise<[Buffer, DeliveredMessage]> {
      const id = randomUUID();
      const message = buildMessage(id);
      const file = join(scratch, `${id}.eml`);
      // swaks appends CRLF "." CRLF to data that does not end with the terminating
      // dot line, which would add an empty line; give it the dot line itself.
      await writeFile(file, Buffer.concat([message, Buffer.from('.\r\n')]));
      const user = server.users[0]!;
      const run = await swaks([
        ...transport,
        '--from',
        'sender@smtpwire.test',
        '--to',
        `bob@${TEST_DOMAIN},${REFUSED_RECIPIENT},carol@${TEST_DOMAIN}`,
        '--data',
        file,
        '--auth',
        mechanism,
        '--auth-user',
        user.username,
        '--auth-password',
        user.password,
      ]);
      expect(run.code, run.transcript).toBe(0);
      // The refused recipient got 550 and the others were still accepted.
      expect(run.transcript).toMatch(/^<(?:\*\*|~\*) +550[ -]5\.1\.1/m);
      const [delivered] = await server.waitForMessages(1);
      expect(delivered!.sender).toBe('sender@smtpwire.test');
      expect([...delivered!.recipients].sort()).toEqual([`bob@${TEST_DOMAIN}`, `carol@${TEST_DOMAIN}`]);
      return [message, delivered!];
    }

    /** The delivered bytes minus the server's trace headers, with CRLF line endings. */
    function asSent(delivered: DeliveredMessage): Buffer {
      const crlf = delivered.lineEnding === 'lf' ? toCrlf(delivered.raw) : delivered.raw;
      return stripAddedHeaders(crlf, server.addedHeaders);
    }

    const verifyTls = ['--tls-verify', '--tls-ca-path', CERTS.ca];

    it('delivers over plain SMTP with AUTH PLAIN, byte for byte', async () => {
      const [sent, delivered] = await sendAndRead(['--server', `127.0.0.1:${server.port}`], 'PLAIN');
      expect(asSent(delivered).toString('latin1')).toBe(sent.toString('latin1'));
      for (const header of server.addedHeaders) {
        expect(delivered.raw.toString('latin1')).toMatch(new RegExp(`^${header}:`, 'i'));
      }
    });

    it('delivers over STARTTLS with AUTH LOGIN, verifying the test certificate', async () => {
      expect(server.features.starttls).toBe(true);
      const [sent, delivered] = await sendAndRead(
        ['--server', `127.0.0.1:${server.port}`, '--tls', ...verifyTls],
        'LOGIN',
      );
      expect(asSent(delivered).toString('latin1')).toBe(sent.toString('latin1'));
      if ('tls' in delivered.meta) expect(delivered.meta.tls).toBe(true);
    });

    it('delivers over implicit TLS with AUTH PLAIN', async () => {
      expect(server.features.implicitTls).toBe(true);
      const [sent, delivered] = await sendAndRead(
        ['--server', `127.0.0.1:${server.tlsPort}`, '--tls-on-connect', ...verifyTls],
        'PLAIN',
      );
      expect(asSent(delivered).toString('latin1')).toBe(sent.toString('latin1'));
    });

    it('records the null reverse-path as an empty sender', async () => {
      const run = await swaks(['--server', `127.0.0.1:${server.port}`, '--from', '<>', '--to', `dsn@${TEST_DOMAIN}`]);
      expect(run.code, run.transcript).toBe(0);
      const [delivered] = await server.waitForMessages(1);
      expect([delivered!.sender, delivered!.recipients]).toEqual(['', [`dsn@${TEST_DOMAIN}`]]);
    });

    it('refuses a wrong password with 535 and delivers nothing', async () => {
      const user = server.users[0]!;
      const run = await swaks([
        '--server',
        `127.0.0.1:${server.port}`,
        '--from',
        'sender@smtpwire.test',
        '--to',
        `bob@${TEST_DOMAIN}`,
        '--auth',
        'PLAIN',
        '--auth-user',
        user.username,
        '--auth-password',
        `${user.password}-wrong`,
      ]);
      expect(run.code, run.transcript).toBe(28); // swaks: "error authenticating"
      expect(run.transcript).toMatch(/^<(?:\*\*|~\*) +535/m);
      expect(await server.readMessages()).toEqual([]);
    });

    it('stop() ends the server, frees its ports and removes its work directory', async () => {
      const { port, tlsPort, workDir } = server;
      expect(await portOpen(port)).toBe(true);
      await server.stop();
      expect(await portOpen(port)).toBe(false);
      if (tlsPort !== undefined) expect(await portOpen(tlsPort)).toBe(false);
      await expect(access(workDir)).rejects.toThrow();
      // No process still names the work directory (Postfix's master has it in argv).
      const leftovers: string[] = [];
      for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
        const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
        if (cmdline.includes(workDir)) leftovers.push(`${pid}: ${cmdline.replace(/\0/g, ' ')}`);
      }
      expect(leftovers).toEqual([]);
    });
  });
}
