/**
 * The DNS message codec (RFC 1035 §4, EDNS0 RFC 6891, the AD/CD bits RFC 4035 §3.2): values in, bytes
 * out and back. Pure: no socket, no clock. The decoder is bounded by the input: every read is checked
 * against the buffer, compression pointers may only point backwards (so a loop cannot exist), a name
 * is at most 255 octets. Malformed input throws DnsError `ERR_SMTP_DNS_MALFORMED`, never anything else.
 *
 * Names are in presentation form without the final dot (`mx1.example.com`; the root is `''`), bytes
 * outside letters, digits, `-`, `_` and `*` written `\DDD` (RFC 1035 §5.1), so every label round-trips.
 */
import { DnsError, ErrorCodes } from '../errors.js';

/** The record types this codec reads into fields; any other type keeps its RDATA as bytes. */
export const RecordType = Object.freeze({
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  OPT: 41,
  RRSIG: 46,
  TLSA: 52,
} as const);

/** RFC 1035 §4.1.1, RFC 2136, RFC 6895. */
export const RCODE_NAMES: Readonly<Record<number, string>> = Object.freeze({
  0: 'NOERROR',
  1: 'FORMERR',
  2: 'SERVFAIL',
  3: 'NXDOMAIN',
  4: 'NOTIMP',
  5: 'REFUSED',
});

export type RecordData =
  | { type: 1; address: string }
  | { type: 28; address: string }
  | { type: 2 | 5; target: string }
  | { type: 15; preference: number; exchange: string }
  | { type: 16; strings: string[] }
  | { type: 52; usage: number; selector: number; matchingType: number; data: Buffer }
  | { type: number; raw: Buffer };

export type DnsRecord = RecordData & { name: string; class: number; ttl: number };

export interface DnsQuestion {
  name: string;
  type: number;
  class: number;
}

export interface DnsFlags {
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  /** Authentic Data: the resolver validated the answer (meaningful only from a trusted resolver). */
  ad: boolean;
  /** Checking Disabled. */
  cd: boolean;
  /** The 4-bit RCODE of the header (EDNS0 extends it; see `DnsMessage.rcode`). */
  rcode: number;
}

export interface EdnsInfo {
  udpPayloadSize: number;
  /** DNSSEC OK (RFC 3225). */
  dnssecOk: boolean;
  version: number;
  extendedRcode: number;
}

export interface DnsMessage {
  id: number;
  flags: DnsFlags;
  questions: DnsQuestion[];
  answers: DnsRecord[];
  authority: DnsRecord[];
  /** Additional records, without the OPT pseudo-record (that is `edns`). */
  additional: DnsRecord[];
  edns: EdnsInfo | null;
}

/** RFC 1035 §2.3.4. */
const MAX_NAME = 255;
const MAX_LABEL = 63;

function malformed(why: string): DnsError {
  return new DnsError(`malformed DNS message: ${why}`, { temporary: true, code: ErrorCodes.DNS_MALFORMED });
}

// ── names ───────────────────────────────────────────────────────────────────────────────────

const PLAIN = /^[A-Za-z0-9_*-]$/;

function labelToText(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) {
    const ch = String.fromCharCode(b);
    out += PLAIN.test(ch) ? ch : `\\${String(b).padStart(3, '0')}`;
  }
  return out;
}

/** Presentation form → wire labels. @throws DnsError for a label over 63 or a name over 255 octets. */
export function nameToLabels(name: string): Buffer[] {
  const labels: Buffer[] = [];
  if (name === '' || name === '.') return labels;
  const text = name.endsWith('.') && !name.endsWith('\\.') ? name.slice(0, -1) : name;
  let current: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\') {
      const digits = /^\d{3}/.exec(text.slice(i + 1));
      if (digits) {
        const v = Number(digits[0]);
        if (v > 255) throw malformed(`bad escape in name ${JSON.stringify(name)}`);
        current.push(v);
        i += 3;
      } else if (i + 1 < text.length) {
        current.push(text.charCodeAt(++i) & 0xff);
      } else throw malformed(`bad escape in name ${JSON.stringify(name)}`);
    } else if (c === '.') {
      labels.push(Buffer.from(current));
      current = [];
    } else {
      const code = c.charCodeAt(0);
      if (code > 0x7f) throw malformed(`non-ASCII name ${JSON.stringify(name)} (use its A-label)`);
      current.push(code);
    }
  }
  labels.push(Buffer.from(current));
  let total = 1;
  for (const l of labels) {
    if (l.length === 0 || l.length > MAX_LABEL) throw malformed(`bad label length in ${JSON.stringify(name)}`);
    total += l.length + 1;
  }
  if (total > MAX_NAME) throw malformed(`name longer than ${MAX_NAME} octets`);
  return labels;
}

/** Lower-case ASCII, no final dot: the form names are compared in (RFC 4343). */
export function canonicalName(name: string): string {
  const n = name.endsWith('.') && !name.endsWith('\\.') ? name.slice(0, -1) : name;
  return n.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

// ── encoding ────────────────────────────────────────────────────────────────────────────────

class Writer {
  readonly #chunks: Buffer[] = [];
  #length = 0;
  get length(): number {
    return this.#length;
  }
  bytes(b: Uint8Array): void {
    const buf = Buffer.from(b);
    this.#chunks.push(buf);
    this.#length += buf.length;
  }
  u8(v: number): void {
    this.bytes(Buffer.from([v & 0xff]));
  }
  u16(v: number): void {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v & 0xffff);
    this.bytes(b);
  }
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0);
    this.bytes(b);
  }
  name(name: string): void {
    for (const label of nameToLabels(name)) {
      this.u8(label.length);
      this.bytes(label);
    }
    this.u8(0);
  }
  done(): Buffer {
    return Buffer.concat(this.#chunks, this.#length);
  }
}

function encodeRdata(r: DnsRecord): Buffer {
  const w = new Writer();
  if ('raw' in r) w.bytes(r.raw);
  else if (r.type === RecordType.A) w.bytes(ipv4Bytes(r.address));
  else if (r.type === RecordType.AAAA) w.bytes(ipv6Bytes(r.address));
  else if ('target' in r) w.name(r.target);
  else if ('exchange' in r) {
    w.u16(r.preference);
    w.name(r.exchange);
  } else if ('strings' in r) {
    for (const s of r.strings) {
      const b = Buffer.from(s, 'latin1');
      if (b.length > 255) throw malformed('TXT string longer than 255 octets');
      w.u8(b.length);
      w.bytes(b);
    }
  } else if ('usage' in r) {
    w.u8(r.usage);
    w.u8(r.selector);
    w.u8(r.matchingType);
    w.bytes(r.data);
  }
  return w.done();
}

function writeRecord(w: Writer, r: DnsRecord): void {
  w.name(r.name);
  w.u16(r.type);
  w.u16(r.class);
  w.u32(r.ttl);
  const rdata = encodeRdata(r);
  if (rdata.length > 0xffff) throw malformed('RDATA longer than 65535 octets');
  w.u16(rdata.length);
  w.bytes(rdata);
}

/** Encodes a message (no name compression: always legal, RFC 1035 §4.1.4 makes it optional). */
export function encodeMessage(m: DnsMessage): Buffer {
  const w = new Writer();
  const f = m.flags;
  w.u16(m.id);
  w.u16(
    (f.qr ? 0x8000 : 0) |
      ((f.opcode & 0xf) << 11) |
      (f.aa ? 0x400 : 0) |
      (f.tc ? 0x200 : 0) |
      (f.rd ? 0x100 : 0) |
      (f.ra ? 0x80 : 0) |
      (f.ad ? 0x20 : 0) |
      (f.cd ? 0x10 : 0) |
      (f.rcode & 0xf),
  );
  w.u16(m.questions.length);
  w.u16(m.answers.length);
  w.u16(m.authority.length);
  w.u16(m.additional.length + (m.edns ? 1 : 0));
  for (const q of m.questions) {
    w.name(q.name);
    w.u16(q.type);
    w.u16(q.class);
  }
  for (const r of m.answers) writeRecord(w, r);
  for (const r of m.authority) writeRecord(w, r);
  for (const r of m.additional) writeRecord(w, r);
  if (m.edns) {
    // RFC 6891 §6.1.2: root owner, CLASS = payload size, TTL = extended RCODE | version | DO | Z.
    w.u8(0);
    w.u16(RecordType.OPT);
    w.u16(m.edns.udpPayloadSize);
    w.u8(m.edns.extendedRcode);
    w.u8(m.edns.version);
    w.u16(m.edns.dnssecOk ? 0x8000 : 0);
    w.u16(0);
  }
  return w.done();
}

export interface QueryOptions {
  /** Recursion desired; default true. */
  recursionDesired?: boolean;
  /** EDNS0 with the DO bit (RFC 3225), asking a validating resolver for DNSSEC; default true. */
  dnssecOk?: boolean;
  /** Advertised UDP payload size; default 1232 (the DNS flag day 2020 value). */
  udpPayloadSize?: number;
}

/** A standard query for one name and type, with EDNS0 (the DO bit) and AD set (RFC 6840 §5.7). */
export function encodeQuery(id: number, name: string, type: number, options: QueryOptions = {}): Buffer {
  const dnssecOk = options.dnssecOk ?? true;
  return encodeMessage({
    id,
    flags: {
      qr: false,
      opcode: 0,
      aa: false,
      tc: false,
      rd: options.recursionDesired ?? true,
      ra: false,
      ad: dnssecOk,
      cd: false,
      rcode: 0,
    },
    questions: [{ name, type, class: 1 }],
    answers: [],
    authority: [],
    additional: [],
    edns: { udpPayloadSize: options.udpPayloadSize ?? 1232, dnssecOk, version: 0, extendedRcode: 0 },
  });
}

// ── decoding ────────────────────────────────────────────────────────────────────────────────

class Reader {
  #pos = 0;
  constructor(readonly buf: Buffer) {}
  get pos(): number {
    return this.#pos;
  }
  need(n: number): void {
    if (this.#pos + n > this.buf.length) throw malformed('truncated');
  }
  u8(): number {
    this.need(1);
    return this.buf[this.#pos++]!;
  }
  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.#pos);
    this.#pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.#pos);
    this.#pos += 4;
    return v;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return Buffer.from(b);
  }
  /** A name, following compression pointers (RFC 1035 §4.1.4) that point strictly backwards. */
  name(): string {
    const labels: string[] = [];
    let pos = this.#pos;
    let end = -1;
    let total = 1;
    let limit = pos;
    for (;;) {
      if (pos >= this.buf.length) throw malformed('truncated name');
      const len = this.buf[pos]!;
      if ((len & 0xc0) === 0xc0) {
        if (pos + 1 >= this.buf.length) throw malformed('truncated pointer');
        const target = ((len & 0x3f) << 8) | this.buf[pos + 1]!;
        if (end < 0) end = pos + 2;
        // Backwards only, and before every earlier jump: no loop can exist.
        if (target >= limit) throw malformed('forward or looping compression pointer');
        limit = target;
        pos = target;
        continue;
      }
      if ((len & 0xc0) !== 0) throw malformed('reserved label type');
      if (len === 0) {
        pos += 1;
        break;
      }
      if (pos + 1 + len > this.buf.length) throw malformed('truncated label');
      total += len + 1;
      if (total > MAX_NAME) throw malformed(`name longer than ${MAX_NAME} octets`);
      labels.push(labelToText(this.buf.subarray(pos + 1, pos + 1 + len)));
      pos += 1 + len;
    }
    this.#pos = end >= 0 ? end : pos;
    return labels.join('.');
  }
  seek(pos: number): void {
    this.#pos = pos;
  }
}

function decodeRecordData(r: Reader, type: number, length: number): RecordData {
  const start = r.pos;
  const end = start + length;
  r.need(length);
  let data: RecordData;
  switch (type) {
    case RecordType.A:
      if (length !== 4) throw malformed('A record of the wrong length');
      data = { type, address: [...r.bytes(4)].join('.') };
      break;
    case RecordType.AAAA:
      if (length !== 16) throw malformed('AAAA record of the wrong length');
      data = { type, address: ipv6Text(r.bytes(16)) };
      break;
    case RecordType.NS:
    case RecordType.CNAME:
      data = { type, target: r.name() };
      break;
    case RecordType.MX:
      data = { type, preference: r.u16(), exchange: r.name() };
      break;
    case RecordType.TXT: {
      const strings: string[] = [];
      while (r.pos < end) strings.push(r.bytes(r.u8()).toString('latin1'));
      data = { type, strings };
      break;
    }
    case RecordType.TLSA:
      if (length < 3) throw malformed('TLSA record too short');
      data = { type, usage: r.u8(), selector: r.u8(), matchingType: r.u8(), data: r.bytes(length - 3) };
      break;
    default:
      data = { type, raw: r.bytes(length) };
  }
  if (r.pos !== end) throw malformed(`RDATA of type ${type} does not fill its length`);
  return data;
}

function readRecord(r: Reader): DnsRecord & { opt?: EdnsInfo } {
  const name = r.name();
  const type = r.u16();
  const cls = r.u16();
  const ttl = r.u32();
  const length = r.u16();
  if (type === RecordType.OPT) {
    r.bytes(length); // EDNS options (none used here)
    return {
      name,
      type,
      class: cls,
      ttl,
      raw: Buffer.alloc(0),
      opt: {
        udpPayloadSize: cls,
        extendedRcode: ttl >>> 24,
        version: (ttl >>> 16) & 0xff,
        dnssecOk: (ttl & 0x8000) !== 0,
      },
    };
  }
  return { name, class: cls, ttl, ...decodeRecordData(r, type, length) } as DnsRecord;
}

/** Decodes a whole message. @throws DnsError `ERR_SMTP_DNS_MALFORMED`. */
export function decodeMessage(buf: Buffer): DnsMessage {
  const r = new Reader(buf);
  const id = r.u16();
  const bits = r.u16();
  const counts = [r.u16(), r.u16(), r.u16(), r.u16()] as const;
  // Each question takes at least 5 octets and each record 11: a count the buffer cannot hold is malformed.
  if (counts[0] * 5 + (counts[1] + counts[2] + counts[3]) * 11 > buf.length - 12) throw malformed('counts too large');
  const questions: DnsQuestion[] = [];
  for (let i = 0; i < counts[0]; i++) questions.push({ name: r.name(), type: r.u16(), class: r.u16() });
  const section = (n: number): DnsRecord[] => {
    const out: DnsRecord[] = [];
    for (let i = 0; i < n; i++) out.push(readRecord(r));
    return out;
  };
  const answers = section(counts[1]);
  const authority = section(counts[2]);
  let edns: EdnsInfo | null = null;
  const additional: DnsRecord[] = [];
  for (const rec of section(counts[3]) as (DnsRecord & { opt?: EdnsInfo })[]) {
    if (rec.opt) {
      if (edns) throw malformed('two OPT records');
      edns = rec.opt;
    } else additional.push(rec);
  }
  return {
    id,
    flags: {
      qr: (bits & 0x8000) !== 0,
      opcode: (bits >> 11) & 0xf,
      aa: (bits & 0x400) !== 0,
      tc: (bits & 0x200) !== 0,
      rd: (bits & 0x100) !== 0,
      ra: (bits & 0x80) !== 0,
      ad: (bits & 0x20) !== 0,
      cd: (bits & 0x10) !== 0,
      rcode: bits & 0xf,
    },
    questions,
    answers,
    authority,
    additional,
    edns,
  };
}

/** The full RCODE (EDNS0 extends the header's 4 bits, RFC 6891 §6.1.3) as a name (`SERVFAIL`) or `RCODE<n>`. */
export function rcodeName(m: DnsMessage): string {
  const code = ((m.edns?.extendedRcode ?? 0) << 4) | m.flags.rcode;
  return RCODE_NAMES[code] ?? `RCODE${code}`;
}

// ── addresses ───────────────────────────────────────────────────────────────────────────────

function ipv4Bytes(address: string): Buffer {
  const parts = address.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255))
    throw malformed(`bad IPv4 address ${JSON.stringify(address)}`);
  return Buffer.from(parts.map(Number));
}

function ipv6Bytes(address: string): Buffer {
  // An embedded IPv4 tail (`::ffff:192.0.2.1`) is two groups.
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  if (v4) {
    const b = ipv4Bytes(v4[2]!);
    address = `${v4[1]}${b.readUInt16BE(0).toString(16)}:${b.readUInt16BE(2).toString(16)}`;
  }
  const [head, tail, extra] = address.split('::');
  if (extra !== undefined) throw malformed(`bad IPv6 address ${JSON.stringify(address)}`);
  const groups = (s: string | undefined): number[] =>
    s === undefined || s === '' ? [] : s.split(':').map((g) => (/^[0-9a-f]{1,4}$/i.test(g) ? parseInt(g, 16) : NaN));
  const h = groups(head);
  const t = groups(tail);
  const fill = tail === undefined ? 0 : 8 - h.length - t.length;
  const all = [...h, ...new Array<number>(Math.max(fill, 0)).fill(0), ...t];
  if (all.length !== 8 || all.some(Number.isNaN) || (tail !== undefined && fill < 1))
    throw malformed(`bad IPv6 address ${JSON.stringify(address)}`);
  const b = Buffer.alloc(16);
  for (let i = 0; i < 8; i++) b.writeUInt16BE(all[i]!, i * 2);
  return b;
}

/** RFC 5952 text: lower case, the longest run of two or more zero groups as `::`. */
function ipv6Text(b: Buffer): string {
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push(b.readUInt16BE(i));
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}
