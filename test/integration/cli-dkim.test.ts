/**
 * The CLI's DKIM: `smtpwire dkim-record` prints the TXT record a verifier accepts, and `send --dkim-*`
 * (repeatable) dual-signs what the server receives. Run in process through `main()`.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dkimDnsRecord } from '../../src/index.js';
import { type ScriptedSmtpServer, startScriptedServer } from '../../src/testing/index.js';
import { runMain } from '../helpers/cli.js';
import { DKIM_KEYS, mailauthVerify } from '../helpers/dkim-verifiers.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/dkim/', import.meta.url));

const run = runMain;

let server: ScriptedSmtpServer;
beforeAll(async () => {
  server = await startScriptedServer({ script: [] });
});
afterAll(async () => server.close());

describe('smtpwire dkim-record', () => {
  it('prints the zone-file TXT record, split into 255-octet strings', async () => {
    const rsa = await run([
      'dkim-record',
      '--key',
      `${FIXTURES}rsa-2048.pem`,
      '--selector',
      's1',
      '--domain',
      'example.com',
    ]);
    expect(rsa.code).toBe(0);
    const m = /^s1\._domainkey\.example\.com\. IN TXT ((?:"[^"]{1,255}" ?)+)\n$/.exec(rsa.stdout);
    expect(m).not.toBeNull();
    const joined = [...m![1]!.matchAll(/"([^"]*)"/g)].map((x) => x[1]).join('');
    expect(joined).toBe(dkimDnsRecord(DKIM_KEYS.rsa2048));
    const ed = await run([
      'dkim-record',
      '--key',
      `${FIXTURES}ed25519.pem`,
      '--selector',
      'e',
      '--domain',
      'example.com',
    ]);
    expect(ed.stdout).toMatch(/^e\._domainkey\.example\.com\. IN TXT "v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}="\n$/);
  });

  it('usage errors exit 2', async () => {
    expect((await run(['dkim-record', '--key', `${FIXTURES}ed25519.pem`])).code).toBe(2);
    const missing = await run(['dkim-record', '--key', '/nonexistent.pem', '--selector', 's', '--domain', 'd.example']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read the key file/);
  });
});

describe('smtpwire send --dkim-*', () => {
  it('dual-signs with repeated --dkim-key (one domain for both), and the message verifies', async () => {
    const res = await run([
      'send',
      '--plain',
      '--from',
      'sender@example.com',
      '--to',
      'rcpt@example.org',
      '--subject',
      'cli signed',
      '--text',
      'hello',
      '--dkim-domain',
      'example.com',
      '--dkim-selector',
      'rsa2048',
      '--dkim-key',
      `${FIXTURES}rsa-2048.pem`,
      '--dkim-selector',
      'ed25519',
      '--dkim-key',
      `${FIXTURES}ed25519.pem`,
      `127.0.0.1:${server.port}`,
    ]);
    expect(res.code, res.stderr).toBe(0);
    const data = server.messages.at(-1)!.data;
    const records = {
      'rsa2048._domainkey.example.com': dkimDnsRecord(DKIM_KEYS.rsa2048),
      'ed25519._domainkey.example.com': dkimDnsRecord(DKIM_KEYS.ed25519),
    };
    expect(await mailauthVerify(data, records)).toEqual([true, true]);
  });

  it('flags that do not pair up are a usage error', async () => {
    const res = await run([
      'send',
      '--plain',
      '--from',
      'a@example.com',
      '--to',
      'b@example.org',
      '--dkim-domain',
      'example.com',
      `127.0.0.1:${server.port}`,
    ]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/need --dkim-key/);
  });
});
