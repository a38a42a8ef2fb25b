/** The domain scan's TLS findings claim only what a handshake showed. */
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { scanTls } from '../../src/conform/domain/tls-scan.js';
import { startScriptedServer, testCertificates } from '../../src/testing/index.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('scanTls', () => {
  it('a TLS 1.0/1.1 attempt met with silence is inconclusive, not "refused"', async () => {
    const server = await startScriptedServer({ tls: true });
    cleanups.push(() => server.close());
    // The first connection reaches the server; every later one is accepted and never answered.
    let connections = 0;
    const silent: net.Socket[] = [];
    const proxy = net.createServer((client) => {
      if (connections++ > 0) {
        silent.push(client);
        return;
      }
      const upstream = net.connect(server.port, '127.0.0.1');
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => {
      for (const s of silent) s.destroy();
      proxy.close();
    });
    const findings = await scanTls('127.0.0.1', 'localhost', {
      port: (proxy.address() as AddressInfo).port,
      ca: testCertificates().ca,
      timeout: 300,
      clientName: 'scan.test',
      dane: { kind: 'none', reason: 'not looked up' },
      pkixRequired: false,
      now: new Date(),
    });
    expect(findings.find((f) => f.id === 'starttls-offered')?.status).toBe('pass');
    const legacy = findings.find((f) => f.id === 'tls-legacy-versions');
    expect(legacy).toMatchObject({ status: 'skipped', reason: expect.stringMatching(/^inconclusive/) });
  });
});
