/**
 * DKIM keys: the private key parsed and checked once (at construction, never at send time), and the DNS
 * TXT record that publishes its public half. `node:crypto` only.
 *
 * RFC 8301 §3.2: RSA keys under 1024 bits must not be used (2048 recommended); RFC 8463: Ed25519 keys,
 * published as the raw 32-byte public key in base64 with `k=ed25519`.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { ErrorCodes, InvalidArgumentError } from '../../errors.js';

/** The signing algorithms (RFC 6376 §3.3, RFC 8463 §3). */
export type DkimAlgorithm = 'rsa-sha256' | 'ed25519-sha256';
export const DKIM_ALGORITHMS: readonly DkimAlgorithm[] = ['rsa-sha256', 'ed25519-sha256'];

/** RFC 8301 §3.2: shorter RSA keys are refused. */
export const MIN_RSA_BITS = 1024;

/** A private key as accepted: PEM text, PEM or DER bytes, or a KeyObject. */
export type DkimPrivateKeyInput = string | Buffer | KeyObject;

export interface DkimKey {
  key: KeyObject;
  algorithm: DkimAlgorithm;
}

function keyError(message: string, field: string, cause?: unknown): InvalidArgumentError {
  return new InvalidArgumentError(message, { field, code: ErrorCodes.DKIM_KEY, ...(cause ? { cause } : {}) });
}

function isKeyObject(value: unknown): value is KeyObject {
  return typeof value === 'object' && value !== null && typeof (value as KeyObject).asymmetricKeyType === 'string';
}

/**
 * Parses and checks a DKIM private key; the algorithm follows from the key unless given, and must match it.
 * Error messages never quote the key.
 * @throws InvalidArgumentError `ERR_SMTP_DKIM_KEY`: unreadable key, a public key, an unsupported key type,
 *   an RSA key under 1024 bits, or an algorithm that does not fit the key.
 */
export function loadDkimKey(input: unknown, algorithm: unknown, field = 'dkim'): DkimKey {
  let key: KeyObject;
  if (isKeyObject(input)) {
    if (input.type !== 'private') throw keyError(`${field}.privateKey must be a private key`, `${field}.privateKey`);
    key = input;
  } else if (typeof input === 'string' || Buffer.isBuffer(input)) {
    try {
      const text = typeof input === 'string' ? input : input.toString('latin1');
      key = text.includes('-----BEGIN')
        ? createPrivateKey({ key: input, format: 'pem' })
        : createPrivateKey({
            key: Buffer.isBuffer(input) ? input : Buffer.from(input, 'base64'),
            format: 'der',
            type: 'pkcs8',
          });
    } catch (err) {
      // The cause is kept for debugging; its message names the format problem, not the key's bytes.
      throw keyError(
        `${field}.privateKey is not a readable private key (PEM or PKCS#8 DER)`,
        `${field}.privateKey`,
        err,
      );
    }
  } else throw keyError(`${field}.privateKey must be a PEM string, a Buffer or a KeyObject`, `${field}.privateKey`);

  const type = key.asymmetricKeyType;
  let natural: DkimAlgorithm;
  if (type === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) {
      throw keyError(
        `${field}.privateKey: an RSA key of ${bits} bits is refused (RFC 8301: at least ${MIN_RSA_BITS}; 2048 recommended)`,
        `${field}.privateKey`,
      );
    }
    natural = 'rsa-sha256';
  } else if (type === 'ed25519') natural = 'ed25519-sha256';
  else {
    throw keyError(
      `${field}.privateKey: key type ${JSON.stringify(type)} cannot sign DKIM (RSA or Ed25519 only)`,
      `${field}.privateKey`,
    );
  }
  if (algorithm !== undefined && algorithm !== natural) {
    if (!DKIM_ALGORITHMS.includes(algorithm as DkimAlgorithm)) {
      throw keyError(`${field}.algorithm must be one of ${DKIM_ALGORITHMS.join(', ')}`, `${field}.algorithm`);
    }
    throw keyError(
      `${field}.algorithm ${algorithm} does not fit an ${type} key (use ${natural})`,
      `${field}.algorithm`,
    );
  }
  return { key, algorithm: natural };
}

/**
 * The `p=` and `k=` of a key's DNS record: RSA as base64 SubjectPublicKeyInfo DER (RFC 6376 §3.6.1),
 * Ed25519 as the raw 32-byte public key (RFC 8463 §4).
 */
export function publicKeyTag(key: KeyObject): { k: 'rsa' | 'ed25519'; p: string } {
  const pub = key.type === 'public' ? key : createPublicKey(key);
  if (pub.asymmetricKeyType === 'ed25519') {
    const jwk = pub.export({ format: 'jwk' });
    return { k: 'ed25519', p: Buffer.from(jwk.x ?? '', 'base64url').toString('base64') };
  }
  return { k: 'rsa', p: (pub.export({ format: 'der', type: 'spki' }) as Buffer).toString('base64') };
}

/**
 * The TXT record to publish at `<selector>._domainkey.<domain>` for a key (private or public):
 * `v=DKIM1; k=rsa; p=…`.
 * @throws InvalidArgumentError `ERR_SMTP_DKIM_KEY` for an unusable key.
 */
export function dkimDnsRecord(input: DkimPrivateKeyInput): string {
  let key: KeyObject;
  if (isKeyObject(input) && input.type === 'public') key = input;
  else if ((typeof input === 'string' || Buffer.isBuffer(input)) && /-----BEGIN PUBLIC KEY/.test(String(input))) {
    key = createPublicKey(input);
  } else key = loadDkimKey(input, undefined, 'key').key;
  const { k, p } = publicKeyTag(key);
  return `v=DKIM1; k=${k}; p=${p}`;
}
