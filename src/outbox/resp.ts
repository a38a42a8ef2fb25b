/**
 * RESP2, the Redis wire protocol (https://redis.io/docs/reference/protocol-spec/): a command encoder
 * and an incremental reply parser. Pure: bytes in, values out, no socket.
 *
 * Replies map as ioredis maps them, because BullMQ's scripts expect that shape: bulk and simple
 * strings → string (UTF-8), integers → number, nil → null, error replies → {@link RespReplyError}
 * (inside an EXEC array too), arrays → arrays.
 */

/** A decoded reply. */
export type RespValue = string | number | null | RespReplyError | RespValue[];

/** An argument of a command: strings go as UTF-8, numbers as decimal text, Buffers as they are. */
export type RespArg = string | number | Buffer;

/** An error reply (`-ERR …`, `-NOSCRIPT …`): the server refused one command, the connection is fine. */
export class RespReplyError extends Error {
  override name = 'ReplyError';
}

/** The protocol itself broke (a reply type byte we do not know): the connection must be dropped. */
export class RespProtocolError extends Error {
  override name = 'RespProtocolError';
}

const CRLF = Buffer.from('\r\n');

/** `*<n>\r\n$<len>\r\n<arg>\r\n…`: the one form of a command every Redis accepts. */
export function encodeCommand(args: readonly RespArg[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = Buffer.isBuffer(arg) ? arg : Buffer.from(String(arg), 'utf8');
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, CRLF);
  }
  return Buffer.concat(parts);
}

/** Marks "the reply is not complete yet": parsing restarts from the reply's first byte on more input. */
const INCOMPLETE = Symbol('incomplete');

/**
 * Incremental reply parser: `push(chunk)` returns every reply completed by the chunk, in order, and
 * keeps the unconsumed bytes.
 * @throws RespProtocolError on a reply type it does not know.
 */
export class RespParser {
  #buffer: Buffer = Buffer.alloc(0);
  #offset = 0;

  push(chunk: Buffer): RespValue[] {
    this.#buffer =
      this.#offset < this.#buffer.length ? Buffer.concat([this.#buffer.subarray(this.#offset), chunk]) : chunk;
    this.#offset = 0;
    const out: RespValue[] = [];
    while (this.#offset < this.#buffer.length) {
      const start = this.#offset;
      const value = this.#read();
      if (value === INCOMPLETE) {
        this.#offset = start;
        break;
      }
      out.push(value);
    }
    return out;
  }

  #line(): string | typeof INCOMPLETE {
    const end = this.#buffer.indexOf(CRLF, this.#offset);
    if (end === -1) return INCOMPLETE;
    const line = this.#buffer.toString('utf8', this.#offset, end);
    this.#offset = end + 2;
    return line;
  }

  #read(): RespValue | typeof INCOMPLETE {
    const type = this.#buffer[this.#offset++];
    const line = this.#line();
    if (line === INCOMPLETE) return INCOMPLETE;
    switch (type) {
      case 0x2b: // '+'
        return line;
      case 0x2d: // '-'
        return new RespReplyError(line);
      case 0x3a: // ':'
        return Number(line);
      case 0x24: {
        // '$'
        const length = Number(line);
        if (length < 0) return null;
        if (this.#offset + length + 2 > this.#buffer.length) return INCOMPLETE;
        const text = this.#buffer.toString('utf8', this.#offset, this.#offset + length);
        this.#offset += length + 2;
        return text;
      }
      case 0x2a: {
        // '*'
        const count = Number(line);
        if (count < 0) return null;
        const items: RespValue[] = [];
        for (let i = 0; i < count; i++) {
          if (this.#offset >= this.#buffer.length) return INCOMPLETE;
          const item = this.#read();
          if (item === INCOMPLETE) return INCOMPLETE;
          items.push(item);
        }
        return items;
      }
      default:
        throw new RespProtocolError(`unexpected RESP reply type ${JSON.stringify(String.fromCharCode(type ?? 0))}`);
    }
  }
}
