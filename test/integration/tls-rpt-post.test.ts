/** A TLS-RPT report POSTed to an https rua (RFC 8460 §5.4): gzipped JSON, the RFC's media type, certificate checked. */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { postTlsRptReport } from '../../src/mx/tls-rpt.js';
import { testCertificates } from '../../src/testing/index.js';

const servers: https.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function collector(): Promise<{ url: string; got: { type?: string; body: unknown }[] }> {
  const certs = testCertificates();
  const got: { type?: string; body: unknown }[] = [];
  const server = https.createServer({ cert: certs.cert, key: certs.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({
        type: req.headers['content-type'],
        body: JSON.parse(gunzipSync(Buffer.concat(chunks)).toString('utf8')),
      });
      res.writeHead(201).end();
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/v1/tlsrpt`, got };
}

describe('postTlsRptReport', () => {
  it('POSTs the report gzipped as application/tlsrpt+gzip', async () => {
    const c = await collector();
    const status = await postTlsRptReport(c.url, { 'report-id': 'r1', policies: [] }, { ca: testCertificates().ca });
    expect(status).toBe(201);
    expect(c.got).toEqual([{ type: 'application/tlsrpt+gzip', body: { 'report-id': 'r1', policies: [] } }]);
  });

  it('gives up on a collector that trickles its answer, within the timeout for the whole exchange', async () => {
    const certs = testCertificates();
    const timers: NodeJS.Timeout[] = [];
    const server = https.createServer({ cert: certs.cert, key: certs.key }, (req, res) => {
      req.resume();
      res.writeHead(200);
      // One byte every 50 ms, for ever: never idle long enough for a per-silence timeout.
      timers.push(setInterval(() => res.write('.'), 50));
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/v1/tlsrpt`;
    try {
      const started = Date.now();
      await expect(postTlsRptReport(url, {}, { ca: certs.ca, timeout: 400 })).rejects.toMatchObject({
        code: 'ERR_SMTP_TIMEOUT',
        message: expect.stringMatching(/within 400 ms/),
      });
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      for (const t of timers) clearInterval(t);
      server.closeAllConnections();
    }
  });

  it('refuses a collector whose certificate is not trusted', async () => {
    const c = await collector();
    await expect(postTlsRptReport(c.url, {})).rejects.toMatchObject({
      code: 'ERR_SMTP_CONNECTION',
      message: expect.stringMatching(/certificate|self-signed|issuer/i),
    });
    expect(c.got).toEqual([]);
  });

  it('refuses a rua that is not https (or not a URL) with a typed error, before any request', async () => {
    for (const url of ['http://127.0.0.1/v1/tlsrpt', 'mailto:tlsrpt@example.com', 'not a url'])
      await expect(postTlsRptReport(url, {})).rejects.toMatchObject({
        code: 'ERR_SMTP_INVALID_ARGUMENT',
        field: 'url',
      });
  });
});
