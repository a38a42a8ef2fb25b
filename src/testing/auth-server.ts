/**
 * The server side of SMTP AUTH for the scripted test server (RFC 4954): PLAIN, LOGIN, CRAM-MD5,
 * XOAUTH2, OAUTHBEARER (RFC 7628) and SCRAM-SHA-1/-SHA-256(-PLUS) (RFC 5802, RFC 7677), with
 * channel binding checked against the server's own TLS session. The session owns the line I/O;
 * this module only decides what to ask and whether the answers prove the user.
 *
 * Passwords are the `users` map's plaintext; SCRAM derives its keys from them with a salt fixed
 * per user and server name, so repeated logins hit the client's salted-password cache.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { saslprep } from '../protocol/sasl/saslprep.js';
import { type ScramHash, saltedPassword, scramAttributes, scramProof } from '../protocol/sasl/scram.js';
import { tlsServerEndPoint } from '../protocol/sasl/tls-server-end-point.js';

/** A password SASLprep refuses cannot log in with SCRAM; it is then compared as given (and fails). */
const prepared = (password: string): string => {
  try {
    return saslprep(password);
  } catch {
    return `\0${password}`;
  }
};

/** What a mechanism needs from the session. */
export interface AuthIo {
  /** Sends `334 <challenge>` and resolves with the client's line, or null when the exchange is over. */
  ask(challenge: string): Promise<string | null>;
  /** Decodes a base64 client line, answering 501 and resolving null when it is not base64. */
  decode(line: string): Promise<Buffer | null>;
  /** Ends the exchange: 235 for a user name, 535 for null. */
  finish(user: string | null): Promise<void>;
  /** Ends it with another reply (504, 535 with a reason …). */
  fail(code: number, enhanced: string, text: string): Promise<void>;
  /** User name → password (for XOAUTH2 / OAUTHBEARER: the valid bearer token). */
  users: Readonly<Record<string, string>>;
  hostname: string;
  /** The mechanisms advertised, upper case (for SCRAM's downgrade flag `y`). */
  advertised: readonly string[];
  /** The TLS socket when TLS is active (for channel binding), else null. */
  tlsSocket: import('node:tls').TLSSocket | null;
  /** SCRAM iteration count to ask for. */
  scramIterations: number;
}

const b64 = (text: string | Buffer): string => Buffer.from(text).toString('base64');

/** Runs the exchange for `mechanism` (already checked as advertised); `initial` is the decoded-later initial response. */
export async function serveAuth(mechanism: string, initial: string | undefined, io: AuthIo): Promise<void> {
  const { users } = io;
  const check = (user: string, password: string): string | null =>
    Object.hasOwn(users, user) && users[user] === password ? user : null;
  const first = async (): Promise<Buffer | null> => {
    const response = initial ?? (await io.ask(''));
    return response === null ? null : io.decode(response);
  };
  switch (mechanism) {
    case 'PLAIN': {
      const decoded = await first();
      if (decoded === null) return;
      const parts = decoded.toString('utf8').split('\0');
      if (parts.length !== 3) return io.finish(null);
      const [authzid = '', user = '', password = ''] = parts;
      return io.finish(authzid === '' || authzid === user ? check(user, password) : null);
    }
    case 'LOGIN': {
      const userB64 = initial ?? (await io.ask('VXNlcm5hbWU6')); // "Username:"
      if (userB64 === null) return;
      const user = await io.decode(userB64);
      if (user === null) return;
      const passwordB64 = await io.ask('UGFzc3dvcmQ6'); // "Password:"
      if (passwordB64 === null) return;
      const password = await io.decode(passwordB64);
      if (password === null) return;
      return io.finish(check(user.toString('utf8'), password.toString('utf8')));
    }
    case 'CRAM-MD5': {
      // RFC 2195: the challenge is a unique msg-id; the answer is "user hex(hmac-md5)".
      const challenge = `<${randomBytes(8).toString('hex')}.${Date.now()}@${io.hostname}>`;
      const response = await io.ask(b64(challenge));
      if (response === null) return;
      const decoded = await io.decode(response);
      if (decoded === null) return;
      const text = decoded.toString('utf8');
      const space = text.lastIndexOf(' ');
      const user = text.slice(0, space);
      const digest = text.slice(space + 1).toLowerCase();
      const password = Object.hasOwn(users, user) ? users[user] : undefined;
      const expected = password === undefined ? null : createHmac('md5', password).update(challenge).digest('hex');
      return io.finish(space > 0 && expected === digest ? user : null);
    }
    case 'XOAUTH2': {
      const decoded = await first();
      if (decoded === null) return;
      const m = /^user=([^\x01]*)\x01auth=Bearer ([^\x01]*)\x01\x01$/.exec(decoded.toString('utf8'));
      const user = m === null ? null : check(m[1] ?? '', m[2] ?? '');
      if (user !== null) return io.finish(user);
      // Google's behaviour: a 334 with a JSON error, an empty client line, then 535.
      const error = JSON.stringify({ status: '401', schemes: 'bearer', scope: 'https://mail.google.com/' });
      if ((await io.ask(b64(error))) === null) return;
      return io.finish(null);
    }
    case 'OAUTHBEARER':
      return oauthbearer(io, await first(), check);
    case 'SCRAM-SHA-1':
    case 'SCRAM-SHA-256':
    case 'SCRAM-SHA-256-PLUS':
    case 'SCRAM-SHA-1-PLUS':
      return scram(io, mechanism, initial);
    default:
      // A mechanism configured in authMechanisms that this server does not implement.
      await io.fail(504, '5.5.4', 'Unrecognized authentication type');
  }
}

/** RFC 7628 §3.1 initial response: `gs2-header \x01 (key=value \x01)* \x01`. */
async function oauthbearer(
  io: AuthIo,
  decoded: Buffer | null,
  check: (user: string, token: string) => string | null,
): Promise<void> {
  if (decoded === null) return;
  const m = /^n,(?:a=([^,]*))?,\x01((?:[A-Za-z]+=[^\x01]*\x01)*)\x01$/.exec(decoded.toString('utf8'));
  const fields = new Map<string, string>();
  for (const kv of (m?.[2] ?? '').split('\x01')) {
    const eq = kv.indexOf('=');
    if (eq > 0) fields.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  const user = (m?.[1] ?? '').replace(/=2C/g, ',').replace(/=3D/g, '=');
  const bearer = /^Bearer (.+)$/.exec(fields.get('auth') ?? '');
  const ok = m !== null && bearer !== null ? check(user, bearer[1]!) : null;
  if (ok !== null) return io.finish(ok);
  // §3.2.2: the error as JSON in a challenge; the client must answer with a lone \x01 (§3.2.3).
  const error = {
    status: 'invalid_token',
    scope: 'mail',
    'openid-configuration': `https://${io.hostname}/.well-known/openid-configuration`,
  };
  const dummy = await io.ask(b64(JSON.stringify(error)));
  if (dummy === null) return;
  const bytes = await io.decode(dummy);
  if (bytes === null) return;
  if (!bytes.equals(Buffer.from([1]))) return io.fail(501, '5.5.2', 'Expected the %x01 response (RFC 7628 §3.2.3)');
  return io.finish(null);
}

/** SCRAM server (RFC 5802 §5): client-first → server-first → client-final → server-final (`v=`) → 235. */
async function scram(io: AuthIo, mechanism: string, initial: string | undefined): Promise<void> {
  const plus = mechanism.endsWith('-PLUS');
  const hash: ScramHash = mechanism.startsWith('SCRAM-SHA-1') ? 'sha1' : 'sha256';
  const response = initial ?? (await io.ask(''));
  if (response === null) return;
  const firstBytes = await io.decode(response);
  if (firstBytes === null) return;
  const clientFirst = firstBytes.toString('utf8');
  const gs2 = /^(n|y|p=([A-Za-z0-9.-]+)),(a=[^,]*)?,(n=[^,]*,r=([\x21-\x2b\x2d-\x7e]+)(?:,.*)?)$/.exec(clientFirst);
  if (gs2 === null) return io.fail(501, '5.5.2', 'Malformed SCRAM client-first-message');
  const [, flag = '', cbName, , bare = '', clientNonce = ''] = gs2;
  const header = clientFirst.slice(0, clientFirst.length - bare.length);
  // RFC 5802 §6: "y" while we offer -PLUS over TLS means someone stripped -PLUS from our list.
  if (flag === 'y' && io.tlsSocket !== null && io.advertised.includes(`${mechanism}-PLUS`))
    return io.fail(535, '5.7.8', 'SCRAM channel binding downgrade detected');
  let cbData: Buffer | null = null;
  if (plus !== flag.startsWith('p='))
    return io.fail(535, '5.7.8', 'SCRAM channel binding flag does not match mechanism');
  if (plus) {
    cbData = serverChannelBinding(io.tlsSocket, cbName ?? '');
    if (cbData === null) return io.fail(535, '5.7.8', `Channel binding type ${cbName} not supported here`);
  }
  const username = (/^n=([^,]*)/.exec(bare)?.[1] ?? '').replace(/=2C/g, ',').replace(/=3D/g, '=');
  const known = Object.hasOwn(io.users, username);
  // A fixed salt per user and server: an unknown user looks the same as a known one.
  const salt = createHash('sha256').update(`${io.hostname}\0${username}`).digest().subarray(0, 16);
  const nonce = clientNonce + randomBytes(18).toString('base64');
  const serverFirst = `r=${nonce},s=${salt.toString('base64')},i=${io.scramIterations}`;
  const finalLine = await io.ask(b64(serverFirst));
  if (finalLine === null) return;
  const finalBytes = await io.decode(finalLine);
  if (finalBytes === null) return;
  const clientFinal = finalBytes.toString('utf8');
  const proofAt = clientFinal.lastIndexOf(',p=');
  if (proofAt === -1) return io.fail(501, '5.5.2', 'Malformed SCRAM client-final-message');
  const withoutProof = clientFinal.slice(0, proofAt);
  const attrs = scramAttributes(clientFinal);
  const expectedC = Buffer.concat([Buffer.from(header), cbData ?? Buffer.alloc(0)]).toString('base64');
  if (attrs.get('c') !== expectedC || attrs.get('r') !== nonce) return io.finish(null);
  const password = known ? io.users[username]! : randomBytes(16).toString('hex');
  const salted = await saltedPassword(prepared(password), salt, io.scramIterations, hash);
  const { clientProof, serverSignature } = scramProof(hash, salted, `${bare},${serverFirst},${withoutProof}`);
  const proof = Buffer.from(attrs.get('p') ?? '', 'base64');
  if (!known || proof.length !== clientProof.length || !timingSafeEqual(proof, clientProof)) return io.finish(null);
  // RFC 4954 §4: additional data with success goes in a 334; the client answers with an empty line.
  const ack = await io.ask(b64(`v=${serverSignature.toString('base64')}`));
  if (ack === null) return;
  if (ack !== '' && ack !== '=') return io.fail(501, '5.5.2', 'Expected an empty response after the server signature');
  return io.finish(username);
}

/** The server's view of the channel binding (RFC 9266 / RFC 5929 §4.1), or null when unsupported. */
function serverChannelBinding(socket: import('node:tls').TLSSocket | null, type: string): Buffer | null {
  if (socket === null) return null;
  if (type === 'tls-exporter' && socket.getProtocol() === 'TLSv1.3')
    return socket.exportKeyingMaterial(32, 'EXPORTER-Channel-Binding', Buffer.alloc(0));
  if (type === 'tls-server-end-point') {
    const cert = socket.getX509Certificate();
    return cert ? tlsServerEndPoint(cert.raw) : null;
  }
  return null;
}
