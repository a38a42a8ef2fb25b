import { createPrivateKey, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { testCertificates } from '../../src/testing/certs.js';

describe('testCertificates', () => {
  const certs = testCertificates();
  const ca = new X509Certificate(certs.ca);
  const server = new X509Certificate(certs.cert);
  const untrusted = new X509Certificate(certs.untrustedCert);

  it('server certificate is signed by the test CA for localhost, 127.0.0.1 and ::1', () => {
    expect(ca.ca).toBe(true);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.checkIssued(ca)).toBe(true);
    expect(server.checkHost('localhost')).toBe('localhost');
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(server.checkIP('::1')).toBe('::1');
    expect(server.checkPrivateKey(createPrivateKey(certs.key))).toBe(true);
  });

  it('client certificate is signed by the CA', () => {
    expect(new X509Certificate(certs.clientCert).verify(ca.publicKey)).toBe(true);
  });

  it('untrusted certificate names localhost but is not signed by the CA', () => {
    expect(untrusted.checkHost('localhost')).toBe('localhost');
    expect(untrusted.verify(ca.publicKey)).toBe(false);
    expect(untrusted.checkPrivateKey(createPrivateKey(certs.untrustedKey))).toBe(true);
  });

  it('stays valid for decades', () => {
    const fiftyYears = Date.now() + 50 * 365 * 24 * 3600 * 1000;
    for (const cert of [ca, server, untrusted]) expect(new Date(cert.validTo).getTime()).toBeGreaterThan(fiftyYears);
  });

  it('is read once', () => {
    expect(testCertificates()).toBe(certs);
  });
});
