/**
 * Small pure helpers of the scripted server's wire: reply bytes from a script action, the code a
 * reply carries, cutting a reply into segments, and the tests the command handlers share.
 */

export function toBuffer(value: string | Uint8Array): Buffer {
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
}

export function toLines(reply: string | readonly string[]): readonly string[] {
  return typeof reply === 'string' ? reply.split('\n').map((l) => l.replace(/\r$/, '')) : reply;
}

/** The reply code in the first three bytes, or 0 when they are not digits. */
export function replyCode(bytes: Buffer): number {
  if (bytes.length < 3) return 0;
  const text = bytes.toString('latin1', 0, 3);
  return /^\d{3}$/.test(text) ? Number(text) : 0;
}

/** 2xx or 3xx (RFC 5321 §4.2.1). */
export function isPositive(code: number): boolean {
  return code >= 200 && code < 400;
}

export function isAscii(value: string): boolean {
  return /^[\x00-\x7f]*$/.test(value);
}

/** Cut `bytes` at the given offsets (sorted, out-of-range ignored) or into single bytes. */
export function cut(bytes: Buffer, split: readonly number[] | 'byte'): Buffer[] {
  if (split === 'byte') {
    const out: Buffer[] = [];
    for (let i = 0; i < bytes.length; i++) out.push(bytes.subarray(i, i + 1));
    return out;
  }
  const offsets = [...new Set(split)].filter((o) => o > 0 && o < bytes.length).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let start = 0;
  for (const offset of offsets) {
    out.push(bytes.subarray(start, offset));
    start = offset;
  }
  out.push(bytes.subarray(start));
  return out;
}
