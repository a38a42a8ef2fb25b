/**
 * The message body on its way out: the DATA pump (source → encoder → socket, with backpressure and
 * the `dataIdle` limit), the BDAT chunker (RFC 3030), and the checks a stream's undeclared needs
 * require while it streams. The final write (dot or `BDAT … LAST`) is the connection's one
 * hand-over path; everything before it lives here.
 */
import { isAscii } from 'node:buffer';
import type { Readable } from 'node:stream';
import { ErrorCodes, InvalidArgumentError, SmtpError, TimeoutError } from '../errors.js';
import type { BodyEncoder } from '../protocol/dot-stuff.js';
import { type Reply, replyMatches } from '../protocol/reply.js';
import { eightBitRefused, type MessageBody, type StreamWatch, sizeExceeded } from './transaction-plan.js';

/** Default BDAT chunk size: big enough that a chunk's round trip is noise, small enough to bound memory. */
export const DEFAULT_CHUNK_SIZE = 256 * 1024;
/** BDAT chunks written before waiting for the oldest one's reply (with PIPELINING). */
export const BDAT_WINDOW = 4;
/** In-memory bodies up to this size go out in the one write that carries the final dot. */
export const FINAL_WRITE_MAX = 64 * 1024;
export const LONE_DOT = Buffer.from('.\r\n');

const noop = (): void => {};

/** What the pump needs from the connection. */
export interface PumpHost {
  /** No progress for this long fails the send (`dataIdle`, RFC 5321 §4.5.3.2.5). */
  idleMs: number;
  /** Poisons the connection (the idle timeout). */
  fail(err: SmtpError): void;
  /** The error that broke the connection, if any: a stalled source must not outlive it. */
  broken(): SmtpError | null;
}

/**
 * Pulls the body from its source, encodes it and hands it to `sink`, with backpressure. The source
 * is read only as fast as the socket drains; `dataIdle` bounds any stall on either side.
 */
export async function pumpBody(
  body: MessageBody,
  encode: (chunk: Uint8Array) => Buffer,
  sink: (buf: Buffer) => Promise<void>,
  host: PumpHost,
): Promise<number> {
  const source = toAsyncIterable(body);
  const iterator = source[Symbol.asyncIterator]();
  const idleMs = host.idleMs;
  let stalled: (() => void) | null = null;
  const idle = setTimeout(() => {
    host.fail(
      new TimeoutError(`no progress sending the message body for ${idleMs} ms`, {
        phase: 'dataIdle',
        timeout: idleMs,
      }),
    );
    stalled?.();
  }, idleMs);
  let total = 0;
  let done = false;
  try {
    for (;;) {
      const next = iterator.next();
      // A stalled source must not outlive a broken connection.
      const step = await Promise.race([
        next,
        new Promise<never>((_, reject) => {
          stalled = () => reject(host.broken());
          if (host.broken()) stalled();
        }),
      ]);
      stalled = null;
      if (step.done) {
        done = true;
        break;
      }
      let out: Buffer;
      try {
        const value = step.value as Uint8Array | string;
        out = encode(typeof value === 'string' ? Buffer.from(value, 'utf8') : value);
      } catch (err) {
        throw err instanceof SmtpError
          ? err
          : new SmtpError('message body chunk could not be encoded', { code: ErrorCodes.BODY_SOURCE, cause: err });
      }
      total += out.length;
      await sink(out);
      idle.refresh();
    }
  } catch (err) {
    if (err instanceof SmtpError) throw err;
    throw new SmtpError(`reading the message body failed: ${(err as Error)?.message ?? err}`, {
      code: ErrorCodes.BODY_SOURCE,
      cause: err,
    });
  } finally {
    clearTimeout(idle);
    if (!done) {
      // Not awaited: a stream's return() can wait for a read that never comes. Destroy streams
      // outright, so a file or socket behind the body is released now.
      Promise.resolve(iterator.return?.()).catch(noop);
      const stream = body as Partial<Readable>;
      if (typeof stream.destroy === 'function' && stream.destroyed === false) stream.destroy();
    }
  }
  return total;
}

/** What the BDAT chunker needs from the connection. */
export interface ChunkHost extends PumpHost {
  chunkSize: number;
  /** Chunks in flight before waiting for the oldest reply (1 without PIPELINING). */
  window: number;
  /** Writes `BDAT n` and the chunk; resolves with its reply. */
  sendChunk(chunk: Buffer): Promise<Reply>;
}

/** Where the chunker stopped: the bytes left for `BDAT … LAST`, or the reply that refused a chunk. */
export interface ChunkResult {
  last: Buffer;
  bytesSent: number;
  refusal: Reply | null;
}

/**
 * RFC 3030: the body (already encoded, or a source encoded here) in `BDAT n` chunks of `chunkSize`,
 * up to `window` in flight; what remains is returned for the final `BDAT n LAST`. A refused chunk
 * stops the send (`refusal`); the caller resets. Every chunk's reply is awaited before returning.
 */
export async function sendChunks(
  encoded: Buffer | null,
  body: MessageBody,
  encode: (chunk: Uint8Array) => Buffer,
  end: () => Buffer,
  host: ChunkHost,
): Promise<ChunkResult> {
  const { chunkSize } = host;
  const inFlight: Promise<Reply>[] = [];
  let held: Buffer[] = [];
  let heldBytes = 0;
  let refusal: Reply | null = null;
  let bytesSent = 0;
  const awaitOldest = async (): Promise<void> => {
    const reply = await inFlight.shift()!;
    if (!refusal && !replyMatches(reply, 2)) refusal = reply;
  };
  const flush = async (): Promise<void> => {
    const all = Buffer.concat(held, heldBytes);
    const chunk = all.subarray(0, chunkSize);
    held = chunk.length < all.length ? [all.subarray(chunkSize)] : [];
    heldBytes = all.length - chunk.length;
    const reply = host.sendChunk(chunk);
    reply.catch(noop); // awaited in order below
    inFlight.push(reply);
    while (inFlight.length >= host.window) await awaitOldest();
  };
  const collect = async (buf: Buffer): Promise<void> => {
    if (buf.length === 0) return;
    held.push(buf);
    heldBytes += buf.length;
    bytesSent += buf.length;
    while (heldBytes >= chunkSize && refusal === null) await flush();
    if (refusal) throw new BdatRefused();
  };
  try {
    if (encoded) await collect(encoded);
    else {
      await pumpBody(body, encode, collect, host);
      await collect(end());
    }
  } catch (err) {
    // Drain what is in flight either way, so the reply FIFO stays aligned for the RSET.
    while (inFlight.length > 0) await awaitOldest().catch(noop);
    if (!(err instanceof BdatRefused)) throw err;
  }
  while (inFlight.length > 0) await awaitOldest();
  return { last: Buffer.concat(held, heldBytes), bytesSent, refusal };
}

class BdatRefused extends Error {}

/**
 * The body encoder, plus what a stream's undeclared needs require while it streams: an 8-bit octet
 * for a server without 8BITMIME, or more octets than its SIZE, fail before the final dot.
 */
export function watched(
  encoder: BodyEncoder,
  watch: StreamWatch | null,
  host: string,
  dotStuffed: boolean,
): (chunk: Uint8Array) => Buffer {
  if (watch === null) return (chunk) => encoder.encode(chunk);
  let octets = 0;
  return (chunk) => {
    if (watch.refuseEightBit && !isAscii(chunk)) throw eightBitRefused(host);
    const out = encoder.encode(chunk);
    if (watch.maxSize !== null) {
      octets += out.length;
      const transmitted = dotStuffed ? octets - encoder.dotsAdded : octets;
      if (transmitted > watch.maxSize) throw sizeExceeded(transmitted, watch.maxSize, true);
    }
    return out;
  };
}

export const identity = (chunk: Uint8Array): Buffer => chunk as Buffer;

/** A buffer as consecutive slices of at most `size` octets, for writing with backpressure. */
export async function* slices(buf: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

export function toAsyncIterable(body: MessageBody): AsyncIterable<Uint8Array | string> {
  if (typeof body === 'string' || body instanceof Uint8Array) {
    return (async function* () {
      yield body;
    })();
  }
  if (body && typeof (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function')
    return body as AsyncIterable<Uint8Array | string>;
  throw new InvalidArgumentError('body must be a Buffer, Uint8Array, string, Readable or async iterable', {
    field: 'body',
  });
}
