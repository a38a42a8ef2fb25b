/**
 * Defaults that answer in seconds (issue 13): a refused connection, a STARTTLS client on the
 * implicit-TLS port 465, and a program that forgets close(). Real sockets and short real timings.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes, SmtpDeliveryStatus, SmtpProtocolHandler, TimeoutError } from '../../src/index.js';
import { isRetryable } from '../../src/send/retry.js';
import { type ScriptedSmtpServer, startScriptedServer } from '../../src/testing/index.js';

const msg = { toAddresses: ['rcpt@example.com'], subject: 'Hi', textBody: 'Body', fromAddress: 'a@example.com' };
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0)) await fn();
});

/** A port where nothing listens: bound, then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A server that accepts and stays silent, as an implicit-TLS port does for a plaintext client. */
async function silentServer(port: number): Promise<net.Server | null> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
  } catch {
    return null;
  }
  cleanup.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return server;
}

describe('defaults that answer in seconds', () => {
  it('a closed port fails within seconds with the default retry policy (one retry of ECONNREFUSED)', async () => {
    const port = await closedPort();
    const handler = new SmtpProtocolHandler({ hostname: '127.0.0.1', port, encryption: 'none' });
    cleanup.push(() => handler.close());
    const started = performance.now();
    const result = await handler.sendMessage(msg);
    const elapsed = performance.now() - started;
    expect(result.status).toBe(SmtpDeliveryStatus.TEMP_FAILED);
    expect(result.isRetryable).toBe(true);
    expect(result.retryCount).toBe(1);
    expect(result.smtpError).toContain('ECONNREFUSED');
    // One retry after delays[0] (1 s ± 10 %): well under the 37 s of the full backoff.
    expect(elapsed).toBeGreaterThan(850);
    expect(elapsed).toBeLessThan(5000);
  });

  it('refusedRetries: 0 fails a closed port at once; other failures keep maxRetries', async () => {
    const port = await closedPort();
    const handler = new SmtpProtocolHandler({
      hostname: '127.0.0.1',
      port,
      encryption: 'none',
      retryPolicy: { refusedRetries: 0 },
    });
    cleanup.push(() => handler.close());
    const result = await handler.sendMessage(msg);
    expect(result.retryCount).toBe(0);
    expect(result.status).toBe(SmtpDeliveryStatus.TEMP_FAILED);
  });

  it('a greeting timeout on port 465 with STARTTLS says "this port expects implicit TLS" and is not retried', async () => {
    // Port 465 itself when this process may bind it (root, or a low ip_unprivileged_port_start).
    const server = await silentServer(465);
    const port = server ? 465 : ((await silentServer(0))!.address() as net.AddressInfo).port;
    const handler = new SmtpProtocolHandler({
      hostname: '127.0.0.1',
      port,
      encryption: 'tls',
      timeouts: { greeting: 300 },
      retryPolicy: { delays: [50], jitter: 0 },
    });
    cleanup.push(() => handler.close());
    const started = performance.now();
    const result = await handler.sendMessage(msg);
    const elapsed = performance.now() - started;
    expect(result.error).toBeInstanceOf(TimeoutError);
    if (port === 465) {
      expect(result.status).toBe(SmtpDeliveryStatus.FAILED);
      expect(result.retryCount).toBe(0);
      expect(result.error?.code).toBe(ErrorCodes.TLS_MODE_MISMATCH);
      expect(result.smtpError).toContain('this port expects implicit TLS, use encryption "ssl"');
      expect(elapsed).toBeLessThan(2000);
    } else {
      // Any other port: the same silence may be a slow server, so it is retried, with the hint.
      console.warn('defaults.test: cannot bind 127.0.0.1:465 here; checked the non-465 path only');
      expect(result.status).toBe(SmtpDeliveryStatus.TEMP_FAILED);
      expect(result.retryCount).toBe(3);
      expect(result.smtpError).toContain('if this port expects implicit TLS');
    }
  });

  it('the 465 rule itself: a mismatch timeout is never retryable, a plain greeting timeout is', () => {
    const mismatch = new TimeoutError('x', { phase: 'greeting', timeout: 1, code: ErrorCodes.TLS_MODE_MISMATCH });
    expect(isRetryable(mismatch)).toBe(false);
    expect(isRetryable(new TimeoutError('x', { phase: 'greeting', timeout: 1 }))).toBe(true);
  });

  it('a program that forgets close() exits: parked pooled sockets are unref()ed', async () => {
    const server: ScriptedSmtpServer = await startScriptedServer({});
    cleanup.push(() => server.close());
    const child = fileURLToPath(new URL('../helpers/forgets-close.ts', import.meta.url));
    const started = performance.now();
    const proc = spawn(process.execPath, ['--import', 'tsx', child, String(server.port)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
    });
    proc.stderr.on('data', (d) => {
      out += d;
    });
    const killer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    const code = await new Promise<number | null>((resolve) => proc.on('exit', (c) => resolve(c)));
    clearTimeout(killer);
    expect(out).toContain('sent success');
    expect(code).toBe(0);
    // The pool's idle timeout is 5 min: only unref() lets it exit this soon.
    expect(performance.now() - started).toBeLessThan(15_000);
    expect(server.messages).toHaveLength(1);
  }, 30_000);
});
