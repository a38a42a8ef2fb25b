/**
 * Loader for the committed test certificates in `fixtures/certs/` (made by
 * `fixtures/certs/make-certs.sh`). For tests only: the private keys are public.
 */
import { readFileSync } from 'node:fs';

/** PEM strings of the test PKI. */
export interface TestCertificates {
  /** The test CA certificate: pass as `ca` to a client to trust {@link TestCertificates.cert}. */
  ca: string;
  /** Server certificate for `localhost`, `127.0.0.1` and `::1`, signed by the test CA. */
  cert: string;
  /** Private key of {@link TestCertificates.cert}. */
  key: string;
  /** Self-signed certificate for `localhost`, NOT signed by the test CA: verification must fail. */
  untrustedCert: string;
  /** Private key of {@link TestCertificates.untrustedCert}. */
  untrustedKey: string;
  /** Client certificate (extendedKeyUsage clientAuth) signed by the test CA. */
  clientCert: string;
  /** Private key of {@link TestCertificates.clientCert}. */
  clientKey: string;
}

let cached: TestCertificates | undefined;

/**
 * Read the test certificates (once; later calls return the same object).
 *
 * Paths are resolved relative to this module (`src/testing/` or `dist/testing/`), two
 * levels up to the package root, then `fixtures/certs/`.
 *
 * @throws Error (ENOENT) when `fixtures/certs/*.pem` is missing: run `fixtures/certs/make-certs.sh`.
 */
export function testCertificates(): TestCertificates {
  if (cached !== undefined) return cached;
  const read = (name: string): string => readFileSync(new URL(`../../fixtures/certs/${name}`, import.meta.url), 'utf8');
  cached = Object.freeze({
    ca: read('ca.pem'),
    cert: read('server.pem'),
    key: read('server-key.pem'),
    untrustedCert: read('untrusted.pem'),
    untrustedKey: read('untrusted-key.pem'),
    clientCert: read('client.pem'),
    clientKey: read('client-key.pem'),
  });
  return cached;
}
