/**
 * Telling an implicit-TLS port apart after a greeting timeout (issue 23): a plaintext or STARTTLS client
 * waits for a 220 while an implicit-TLS server waits, silent, for a ClientHello. Once the greeting has timed
 * out (the connection is being given up anyway, so nothing is sent early to a slow greeter), a TLS
 * ClientHello is written on that connection: a TLS record back (a ServerHello or an alert) proves the port
 * speaks TLS first, on any port number. Only the record header is looked at; no handshake is made.
 */
import { randomBytes } from 'node:crypto';
import type net from 'node:net';

/** How long the probe waits for a record, at most (and never longer than the greeting or TLS timeout). */
export const TLS_PROBE_WINDOW_MS = 1000;

const u16 = (n: number): number[] => [(n >> 8) & 0xff, n & 0xff];
const withLength16 = (body: number[]): number[] => [...u16(body.length), ...body];

/** A TLS 1.2/1.3 ClientHello record: common suites and groups, so a server answers with a ServerHello or an alert. */
export function clientHello(): Buffer {
  const suites = [0x13, 0x01, 0x13, 0x02, 0xc0, 0x2f, 0xc0, 0x2b, 0xc0, 0x30, 0xc0, 0x2c, 0x00, 0xff];
  const extension = (type: number, data: number[]): number[] => [...u16(type), ...withLength16(data)];
  const extensions = [
    ...extension(0x000a, withLength16([0x00, 0x1d, 0x00, 0x17, 0x00, 0x18])), // supported_groups
    ...extension(0x000b, [0x01, 0x00]), // ec_point_formats: uncompressed
    ...extension(0x000d, withLength16([0x04, 0x03, 0x08, 0x04, 0x04, 0x01, 0x05, 0x03, 0x08, 0x07])), // sig algs
    ...extension(0x002b, [0x04, 0x03, 0x04, 0x03, 0x03]), // supported_versions: 1.3, 1.2
  ];
  const hello = [
    0x03,
    0x03,
    ...randomBytes(32),
    0x00, // no session id
    ...withLength16(suites),
    0x01,
    0x00, // compression: null
    ...withLength16(extensions),
  ];
  const handshake = [0x01, 0x00, ...u16(hello.length), ...hello];
  return Buffer.from([0x16, 0x03, 0x01, ...u16(handshake.length), ...handshake]);
}

/** The bytes start a TLS record (handshake or alert, version 3.x): what an implicit-TLS server answers. */
export function looksLikeTls(chunk: Uint8Array): boolean {
  if (chunk.length === 0 || (chunk[0] !== 0x16 && chunk[0] !== 0x15)) return false;
  return chunk.length < 3 || (chunk[1] === 0x03 && chunk[2]! <= 0x04);
}

/**
 * Writes a ClientHello on `socket` and resolves true when a TLS record comes back within `windowMs`, false on
 * anything else (SMTP text, silence, a close). The caller has taken its own listeners off and destroys the
 * socket afterwards.
 */
export function probeImplicitTls(socket: net.Socket, windowMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (tls: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onGone);
      socket.off('end', onGone);
      resolve(tls);
    };
    const onData = (chunk: Buffer): void => finish(looksLikeTls(chunk));
    const onGone = (): void => finish(false);
    const timer = setTimeout(onGone, windowMs);
    // Kept after the probe: the socket is destroyed by the caller and must not throw meanwhile.
    socket.on('error', onGone);
    socket.on('data', onData);
    socket.on('close', onGone);
    socket.on('end', onGone);
    socket.write(clientHello(), (err) => {
      if (err) finish(false);
    });
  });
}
