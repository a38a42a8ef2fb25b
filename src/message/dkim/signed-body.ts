/**
 * The send path's one call for DKIM: sign a message once, before the attempts, and give back a body
 * factory that sends the signature field(s) followed by the message — without ever holding a large
 * message in memory.
 *
 * The body hash must be known before the first header goes out, so the body is read twice or kept:
 *
 *   in memory           hashed in place; the signed bytes are reused by every attempt
 *   replayable source   (builder parts that are Buffers, strings, file paths; a stream factory)
 *                       hashed in a first streaming pass, sent in a second: constant memory
 *   one-shot stream     spooled to a private temp file while it is hashed (bounded by `maxSize`), sent
 *                       from the file (so a retry can resend it too), deleted by `dispose()`; with
 *                       spooling off it is refused: a one-shot stream cannot be both hashed and sent
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AbortError, InvalidArgumentError } from '../../errors.js';
import { assertKnownKeys } from '../../options.js';
import { DkimMessageHasher } from './message.js';
import { type DkimSigner, signError } from './sign.js';

type Chunks = AsyncIterable<Uint8Array | string>;

/** Where the message to sign comes from. */
export type SignSource =
  | { kind: 'memory'; bytes: Uint8Array }
  /** A fresh stream of the same bytes per call. */
  | { kind: 'replayable'; open: () => Chunks }
  | { kind: 'once'; stream: Chunks };

/** Spooling of one-shot streams; `false` refuses them. */
export type DkimSpoolOptions = false | { directory?: string; maxSize?: number };

export interface SignedMessage {
  /** The `DKIM-Signature` field(s), CRLF-terminated, as prepended. */
  signatureHeaders: string;
  /** Octets added in front of the message (for SIZE=). */
  addedSize: number;
  /** The whole signed message, fresh per call (each attempt reads it again). */
  body: () => Uint8Array | Chunks;
  /** Deletes the spool file, if any. Idempotent; call it once the send is over (retries included). */
  dispose: () => Promise<void>;
}

/**
 * The signature, then the message, opened only once the first chunk has been taken: an attempt that never
 * reaches DATA (every recipient refused) opens no file and holds no descriptor.
 */
async function* prepend(head: Buffer, open: () => Chunks): AsyncGenerator<Uint8Array | string> {
  yield head;
  yield* open();
}

const nothing = async (): Promise<void> => {};

/**
 * Signs `source` with every signer (one pass over the body) and returns the signed message's body factory.
 * @throws InvalidArgumentError `ERR_SMTP_DKIM_SIGN`: a one-shot stream with spooling off or over
 *   `maxSize`, a message without From, an over-long header block; AbortError when `signal` fires; read
 *   errors of the source propagate.
 */
export async function signMessage(
  source: SignSource,
  signers: readonly DkimSigner[],
  options: { spool: DkimSpoolOptions; now?: Date; signal?: AbortSignal | undefined },
): Promise<SignedMessage> {
  const { signal } = options;
  // Checked between chunks: reading a large body must stop when the caller gives up.
  const checkAbort = (): void => {
    if (signal?.aborted) throw new AbortError('aborted while DKIM-signing the message', { cause: signal.reason });
  };
  checkAbort();
  const hasher = new DkimMessageHasher(signers);
  if (source.kind === 'memory') {
    hasher.update(source.bytes);
    const signatureHeaders = await hasher.finishAsync(options.now);
    const head = Buffer.from(signatureHeaders, 'latin1');
    const signed = Buffer.concat([head, source.bytes]);
    return { signatureHeaders, addedSize: head.length, body: () => signed, dispose: nothing };
  }
  if (source.kind === 'replayable') {
    for await (const chunk of source.open()) {
      checkAbort();
      hasher.update(chunk);
    }
    const signatureHeaders = await hasher.finishAsync(options.now);
    const head = Buffer.from(signatureHeaders, 'latin1');
    return {
      signatureHeaders,
      addedSize: head.length,
      body: () => prepend(head, () => source.open()),
      dispose: nothing,
    };
  }
  if (options.spool === false) {
    throw signError(
      'a one-shot stream cannot be DKIM-signed with spooling off (dkimSpool: false): give a Buffer, a stream factory or replayable parts',
    );
  }
  const maxSize = options.spool.maxSize ?? Number.POSITIVE_INFINITY;
  // A private directory (mode 0700) per message: the spooled mail is readable by this user only.
  const dir = await mkdtemp(join(options.spool.directory ?? tmpdir(), 'smtpwire-dkim-'));
  const dispose = async (): Promise<void> => rm(dir, { recursive: true, force: true });
  const path = join(dir, 'message.eml');
  try {
    const out = createWriteStream(path, { mode: 0o600 });
    const failed = once(out, 'error').then(([err]) => {
      throw err;
    });
    failed.catch(nothing);
    let size = 0;
    try {
      for await (const chunk of source.stream) {
        checkAbort();
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
        size += bytes.length;
        if (size > maxSize) throw signError(`the message is over the DKIM spool limit of ${maxSize} bytes`);
        hasher.update(bytes);
        if (!out.write(bytes)) await Promise.race([once(out, 'drain'), failed]);
      }
    } finally {
      out.end();
    }
    await Promise.race([once(out, 'finish'), failed]);
    const signatureHeaders = await hasher.finishAsync(options.now);
    const head = Buffer.from(signatureHeaders, 'latin1');
    return {
      signatureHeaders,
      addedSize: head.length,
      body: () => prepend(head, () => createReadStream(path)),
      dispose,
    };
  } catch (err) {
    await dispose();
    throw err;
  }
}

/**
 * The spool limit when none is given: the largest message the validator's limits allow (text and HTML
 * bodies, plus every attachment base64-encoded in 76-character lines: × 4/3 × 78/76).
 */
export function defaultSpoolLimit(limits: { maxBodySize: number; maxTotalAttachmentSize: number }): number {
  return 2 * limits.maxBodySize + Math.ceil((limits.maxTotalAttachmentSize * 4 * 78) / (3 * 76)) + 1024 * 1024;
}

/**
 * The handler's `dkimSpool` option checked (keys and values), with the default limit filled in.
 * @throws InvalidArgumentError naming the field.
 */
export function resolveDkimSpool(
  option: unknown,
  limits: { maxBodySize: number; maxTotalAttachmentSize: number },
): DkimSpoolOptions {
  if (option === false) return false;
  if (option === undefined) return { maxSize: defaultSpoolLimit(limits) };
  if (option === null || typeof option !== 'object' || Array.isArray(option))
    throw new InvalidArgumentError('dkimSpool must be false or { directory?, maxSize? }', { field: 'dkimSpool' });
  assertKnownKeys(option, ['directory', 'maxSize'], 'dkimSpool');
  const { directory, maxSize } = option as { directory?: unknown; maxSize?: unknown };
  if (directory !== undefined && (typeof directory !== 'string' || directory === ''))
    throw new InvalidArgumentError('dkimSpool.directory must be a directory path', { field: 'dkimSpool.directory' });
  if (maxSize !== undefined && !(typeof maxSize === 'number' && maxSize > 0))
    throw new InvalidArgumentError('dkimSpool.maxSize must be a positive number of bytes', {
      field: 'dkimSpool.maxSize',
    });
  return {
    ...(directory === undefined ? {} : { directory: directory as string }),
    maxSize: (maxSize as number | undefined) ?? defaultSpoolLimit(limits),
  };
}
