/**
 * `tls-server-end-point` channel binding data (RFC 5929 §4.1) from the server certificate's DER:
 * the certificate hashed with its signature's hash, except that MD5 and SHA-1 become SHA-256.
 * Pure (a few lines of DER reading); the transport hands in the certificate bytes.
 */
import { createHash } from 'node:crypto';

/** Signature algorithm OIDs → the hash RFC 5929 §4.1 says to use. */
const SIGNATURE_HASH: Readonly<Record<string, string>> = {
  '1.2.840.113549.1.1.4': 'sha256', // md5WithRSAEncryption → SHA-256
  '1.2.840.113549.1.1.5': 'sha256', // sha1WithRSAEncryption → SHA-256
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.113549.1.1.14': 'sha224',
  '1.2.840.10045.4.1': 'sha256', // ecdsa-with-SHA1 → SHA-256
  '1.2.840.10045.4.3.1': 'sha224',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.2.840.10040.4.3': 'sha256', // dsa-with-sha1 → SHA-256
  '2.16.840.1.101.3.4.3.2': 'sha256', // dsa-with-sha256
};

interface Tlv {
  tag: number;
  start: number;
  end: number;
}

function readTlv(der: Buffer, at: number): Tlv {
  const tag = der[at]!;
  let len = der[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new Error('unsupported DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[start + i]!;
    start += n;
  }
  if (start + len > der.length) throw new Error('truncated DER');
  return { tag, start, end: start + len };
}

function decodeOid(bytes: Buffer): string {
  const parts = [Math.floor(bytes[0]! / 40), bytes[0]! % 40];
  let value = 0;
  for (let i = 1; i < bytes.length; i++) {
    value = value * 128 + (bytes[i]! & 0x7f);
    if (!(bytes[i]! & 0x80)) {
      parts.push(value);
      value = 0;
    }
  }
  return parts.join('.');
}

/** The signatureAlgorithm OID of an X.509 certificate (RFC 5280 §4.1.1.2), or null when unreadable. */
export function certificateSignatureOid(der: Buffer): string | null {
  try {
    const cert = readTlv(der, 0); // Certificate ::= SEQUENCE
    const tbs = readTlv(der, cert.start); // tbsCertificate
    const algorithm = readTlv(der, tbs.end); // AlgorithmIdentifier ::= SEQUENCE
    const oid = readTlv(der, algorithm.start);
    if (cert.tag !== 0x30 || tbs.tag !== 0x30 || algorithm.tag !== 0x30 || oid.tag !== 0x06) return null;
    return decodeOid(der.subarray(oid.start, oid.end));
  } catch {
    return null;
  }
}

/**
 * RFC 5929 §4.1 binding data for a certificate, or null when its signature hash is not defined
 * there (Ed25519, RSASSA-PSS): the caller then offers no -PLUS rather than a wrong binding.
 */
export function tlsServerEndPoint(der: Buffer): Buffer | null {
  const oid = certificateSignatureOid(der);
  const hash = oid === null ? undefined : SIGNATURE_HASH[oid];
  return hash === undefined ? null : createHash(hash).update(der).digest();
}
