/**
 * Implicit TLS on any port (issue 23): a STARTTLS or plaintext client whose greeting times out writes a TLS
 * ClientHello on that connection; a TLS record back is ERR_SMTP_TLS_MODE_MISMATCH, not retried, within about one
 * greeting timeout — on a random port, not only 465. A silent or SMTP-speaking port stays an ordinary timeout.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SmtpDeliveryStatus } from '../../src/enums.js';
import { ErrorCodes } from '../../src/errors.js';
import { SmtpProtocolHandler } from '../../src/send/handler.js';
import { startScriptedServer } from '../../src/testing/index.js';
import { clientHello, looksLikeTls } from '../../src/transport/tls-probe.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const msg = { fromAddress: 'a@x.example', toAddresses: ['b@x.example'], subject: 's', textBody: 'b' };
const GREETING = 300;

function handlerFor(port: number, encryption: 'tls' | 'none') {
  const handler = new SmtpProtocolHandler({
    hostname: '127.0.0.1',
    port,
    encryption,
    timeouts: { greeting: GREETING },
    retryPolicy: { delays: [20], jitter: 0, maxRetries: 1 },
  });
  cleanup.push(() => handler.close());
  return handler;
}

async function tcpServer(onData: (socket: net.Socket, chunk: Buffer) => void): Promise<number> {
  const server = net.createServer((socket) => {
    socket.on('data', (chunk) => onData(socket, chunk));
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise((resolve) => server.close(resolve)));
  return (server.address() as net.AddressInfo).port;
}

describe('implicit TLS detected on any port', () => {
  for (const encryption of ['tls', 'none'] as const)
    it(`encryption '${encryption}' against an implicit-TLS server on a random port: mismatch, not retried`, async () => {
      const server = await startScriptedServer({ implicitTls: true });
      cleanup.push(() => server.close());
      expect(server.port).not.toBe(465);
      const started = performance.now();
      const result = await handlerFor(server.port, encryption).sendMessage(msg);
      const elapsed = performance.now() - started;
      expect(result.status).toBe(SmtpDeliveryStatus.FAILED);
      expect(result.retryCount).toBe(0);
      expect(result.isRetryable).toBe(false);
      expect(result.error?.code).toBe(ErrorCodes.TLS_MODE_MISMATCH);
      expect(result.smtpError).toContain('answered a TLS ClientHello');
      expect(result.smtpError).toContain('use encryption "ssl"');
      // The greeting timeout, then a probe answered in milliseconds on loopback.
      expect(elapsed).toBeLessThan(GREETING + 700);
    });

  it('a silent port, or one that answers SMTP text, stays an ordinary (retried) greeting timeout', async () => {
    const silent = await tcpServer(() => {});
    const talker = await tcpServer((socket) => socket.write('500 5.5.1 Command unrecognized\r\n'));
    for (const port of [silent, talker]) {
      const result = await handlerFor(port, 'tls').sendMessage(msg);
      expect(result.status).toBe(SmtpDeliveryStatus.TEMP_FAILED);
      expect(result.retryCount).toBe(1);
      expect(result.error?.code).not.toBe(ErrorCodes.TLS_MODE_MISMATCH);
    }
  });

  it('the probe: a well-formed ClientHello record; TLS records told apart from SMTP text', () => {
    const hello = clientHello();
    expect([...hello.subarray(0, 3)]).toEqual([0x16, 0x03, 0x01]);
    expect(hello.readUInt16BE(3)).toBe(hello.length - 5);
    expect(hello[5]).toBe(0x01);
    expect(looksLikeTls(Buffer.from([0x16, 0x03, 0x03, 0x00]))).toBe(true);
    expect(looksLikeTls(Buffer.from([0x15, 0x03, 0x01, 0x00, 0x02]))).toBe(true);
    expect(looksLikeTls(Buffer.from('220 mx ESMTP\r\n'))).toBe(false);
    expect(looksLikeTls(Buffer.from('500 unrecognized\r\n'))).toBe(false);
    expect(looksLikeTls(Buffer.from([0x16, 0x04, 0x00]))).toBe(false);
  });
});
