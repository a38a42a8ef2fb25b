/**
 * Signing a whole message in one streaming pass: the raw bytes go through the engine's own line-ending
 * normalisation (`BodyEncoder` without dot-stuffing: what the server receives, before transparency), the
 * header block is kept (it is small and bounded), and the body is hashed chunk by chunk for each body
 * canonicalization the signers use. Memory does not depend on the body size.
 */
import { createHash, type Hash } from 'node:crypto';
import { BodyEncoder } from '../../protocol/dot-stuff.js';
import { BodyCanonicalizer, type Canonicalization, type HeaderField, parseHeaderFields } from './canonicalize.js';
import { type BodyHash, createDkimSigners, type DkimOptions, type DkimSigner, signError } from './sign.js';

/** The header block is held in memory to sign it; beyond this it is refused (no real header block is close). */
export const MAX_HEADER_BLOCK = 1024 * 1024;

const SEPARATOR = Buffer.from('\r\n\r\n', 'latin1');

/**
 * Feeds a raw message (headers and body, any line endings) chunk by chunk, then gives the
 * `DKIM-Signature` field(s) to prepend.
 */
export class DkimMessageHasher {
  readonly #signers: readonly DkimSigner[];
  readonly #normaliser = new BodyEncoder({ dotStuff: false, maxLineLength: Number.POSITIVE_INFINITY });
  readonly #bodies = new Map<Canonicalization, { canonicalizer: BodyCanonicalizer; hash: Hash }>();
  /** Header bytes until the empty line is found; null once in the body. */
  #head: Buffer[] | null = [];
  #headLength = 0;
  /** The last 3 header bytes seen, where a separator split across chunks begins. */
  #tail: Buffer = Buffer.alloc(0);
  #headerBlock = '';
  #finished = false;
  readonly #hashes = new Map<Canonicalization, BodyHash>();

  constructor(signers: readonly DkimSigner[]) {
    this.#signers = signers;
    for (const s of signers) {
      const c = s.bodyCanonicalization;
      if (this.#bodies.has(c)) continue;
      const hash = createHash('sha256');
      this.#bodies.set(c, { hash, canonicalizer: new BodyCanonicalizer(c, (bytes) => hash.update(bytes)) });
    }
  }

  /** @throws InvalidArgumentError `ERR_SMTP_DKIM_SIGN` when the header block exceeds {@link MAX_HEADER_BLOCK}. */
  update(chunk: Uint8Array | string): void {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    this.#consume(this.#normaliser.encode(bytes));
  }

  #consume(normal: Buffer): void {
    if (normal.length === 0) return;
    if (this.#head === null) {
      for (const b of this.#bodies.values()) b.canonicalizer.update(normal);
      return;
    }
    // A message starting with CRLF has an empty header block. (The normaliser never splits a CRLF.)
    if (this.#headLength === 0 && normal[0] === 0x0d && normal[1] === 0x0a) {
      this.#head = null;
      this.#consume(normal.subarray(2));
      return;
    }
    // Search the new bytes plus the last 3 before them for the CRLF CRLF that ends the header block:
    // linear in the header size whatever the chunking.
    const tail = this.#tail;
    const window = tail.length > 0 ? Buffer.concat([tail, normal]) : normal;
    const at = window.indexOf(SEPARATOR);
    if (at === -1) {
      this.#head.push(normal);
      this.#headLength += normal.length;
      if (this.#headLength > MAX_HEADER_BLOCK)
        throw signError(`the header block is over ${MAX_HEADER_BLOCK} bytes: refused for DKIM signing`);
      this.#tail = Buffer.from(window.subarray(Math.max(window.length - 3, 0)));
      return;
    }
    // In `normal`'s coordinates the separator starts at at - tail.length (down to -3: it began earlier).
    const separator = at - tail.length;
    const all = Buffer.concat([...this.#head, normal]);
    this.#headerBlock = all.toString('latin1', 0, this.#headLength + separator + 2);
    this.#head = null;
    this.#consume(normal.subarray(separator + 4));
  }

  /**
   * Ends the message and signs it: the `DKIM-Signature` field(s), folded and CRLF-terminated, in the
   * order of the signers.
   * @throws InvalidArgumentError `ERR_SMTP_DKIM_SIGN` when the message has no From field (RFC 6376 §5.4).
   */
  finish(now: Date = new Date()): string {
    const fields = this.#end();
    return this.#signers.map((s) => s.sign(fields, this.#hashes.get(s.bodyCanonicalization)!, now)).join('');
  }

  /** {@link finish} with the private-key operations on the thread pool (see `DkimSigner.signAsync`). */
  async finishAsync(now: Date = new Date()): Promise<string> {
    const fields = this.#end();
    const signatures = this.#signers.map((s) => s.signAsync(fields, this.#hashes.get(s.bodyCanonicalization)!, now));
    return (await Promise.all(signatures)).join('');
  }

  /** Ends the message: its header fields, and the body hashes in {@link #hashes}. */
  #end(): HeaderField[] {
    if (this.#finished) throw signError('this message was already signed');
    this.#finished = true;
    this.#consume(this.#normaliser.end());
    if (this.#head !== null) {
      // No empty line: the whole message is a header block and the body is empty.
      this.#headerBlock = Buffer.concat(this.#head).toString('latin1');
      this.#head = null;
    }
    const fields = parseHeaderFields(this.#headerBlock);
    if (!fields.some((f) => f.key === 'from'))
      throw signError('the message has no From header field, which DKIM must sign (RFC 6376 §5.4)');
    for (const [c, b] of this.#bodies) {
      b.canonicalizer.end();
      this.#hashes.set(c, { hash: b.hash.digest(), length: b.canonicalizer.length });
    }
    return fields;
  }
}

/**
 * The `DKIM-Signature` field(s) for a raw RFC 5322 message: one per entry of `options`, each folded within
 * 78 columns and CRLF-terminated, ready to prepend. The body is hashed as smtpwire transmits it (line ends
 * normalised to CRLF, before dot-stuffing).
 * @throws InvalidArgumentError naming the option (`ERR_SMTP_DKIM_KEY` for an unusable key or algorithm),
 *   or `ERR_SMTP_DKIM_SIGN` for a message that cannot be signed (no From field).
 * @see RFC 6376, RFC 8463, RFC 8301
 */
export async function dkimSign(
  message: Buffer | string,
  options: DkimOptions | readonly DkimOptions[],
): Promise<string> {
  const signers = createDkimSigners(options);
  if (typeof message !== 'string' && !Buffer.isBuffer(message))
    throw signError('dkimSign takes the message as a Buffer or a string');
  const hasher = new DkimMessageHasher(signers);
  hasher.update(message);
  return hasher.finishAsync();
}
