/**
 * SCRAM (RFC 5802) with SHA-1 and SHA-256 (RFC 7677), and the -PLUS variants' channel binding
 * (RFC 5802 §6, RFC 5929, RFC 9266). The password never crosses the wire; the server proves it
 * knows the same salted password by its signature (`v=`), checked in constant time.
 *
 *   C: n,,n=user,r=<cnonce>                                   client-first (gs2 header + bare)
 *   S: r=<cnonce><snonce>,s=<salt>,i=<iterations>             server-first
 *   C: c=<base64(gs2 header [+ cb data])>,r=<nonce>,p=<proof> client-final
 *   S: v=<server signature>                                   server-final, then 235
 *
 * PBKDF2 runs asynchronously (crypto.pbkdf2, off the event loop) and its result is cached per
 * (hash, password, salt, iterations): a pool's connections log in with the server's same salt and
 * pay the key stretching once — also when they log in at the same moment (one derivation in flight per
 * key). Derivations run one at a time in the process, so SCRAM never holds more than one of libuv's
 * threads (DNS, files and zlib share them), and a server's iteration count is capped.
 */
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { AuthError, ErrorCodes, InvalidArgumentError } from '../../errors.js';
import { requirePassword } from './credentials.js';
import { saslprep } from './saslprep.js';
import { type AuthMethod, b64, type ChannelBinding, type Mechanism, type MechanismContext, unb64 } from './types.js';

export type ScramHash = 'sha1' | 'sha256';

/** RFC 7677 §4: at least 4096 iterations for SHA-256 (RFC 5802 §5.1 says the same for SHA-1). */
export const SCRAM_MIN_ITERATIONS = 4096;
/**
 * A server asking for more than this is refused (ERR_SMTP_AUTH_CHALLENGE): 1,000,000 is above any deployed
 * setting (RFC 7677's 4096, OWASP's 600,000 for PBKDF2-SHA-256) and costs a fraction of a second on one thread.
 */
export const SCRAM_MAX_ITERATIONS = 1_000_000;

const HASH_LENGTH: Record<ScramHash, number> = { sha1: 20, sha256: 32 };

/** Salted passwords by key; bounded (least recently used goes first). Values are secret-equivalent: never logged. */
const cache = new Map<string, Buffer>();
const CACHE_LIMIT = 64;
let pbkdf2Runs = 0;
/** Derivations in flight by key, and the tail of the one-at-a-time queue. */
const inFlight = new Map<string, Promise<Buffer>>();
let queue: Promise<void> = Promise.resolve();

/** How many PBKDF2 computations ran in this process (for tests of the cache). */
export function scramPbkdf2Runs(): number {
  return pbkdf2Runs;
}

/**
 * `Hi(Normalize(password), salt, i)` of RFC 5802 §2.2 (PBKDF2-HMAC), cached. `password` must be
 * SASLprep'd already.
 */
export async function saltedPassword(
  password: string,
  salt: Buffer,
  iterations: number,
  hash: ScramHash,
): Promise<Buffer> {
  // The key is a digest, so the cache does not hold the password itself.
  const key = createHash('sha256')
    .update(`${hash}\0${iterations}\0${salt.toString('base64')}\0`)
    .update(password, 'utf8')
    .digest('base64');
  const hit = cache.get(key);
  if (hit) {
    cache.delete(key);
    cache.set(key, hit);
    return hit;
  }
  let running = inFlight.get(key);
  if (!running) {
    running = queue.then(
      () =>
        new Promise<Buffer>((resolve, reject) => {
          pbkdf2Runs++;
          pbkdf2(password, salt, iterations, HASH_LENGTH[hash], hash, (err, out) => (err ? reject(err) : resolve(out)));
        }),
    );
    queue = running.then(
      () => {},
      () => {},
    );
    inFlight.set(key, running);
    running.then(
      (derived) => {
        inFlight.delete(key);
        cache.set(key, derived);
        if (cache.size > CACHE_LIMIT) cache.delete(cache.keys().next().value!);
      },
      () => inFlight.delete(key),
    );
  }
  return running;
}

const hmac = (hash: ScramHash, key: Buffer, data: string): Buffer => createHmac(hash, key).update(data).digest();

/** The keys and signatures of RFC 5802 §3 for one exchange; shared by the client and the testing server. */
export function scramProof(
  hash: ScramHash,
  salted: Buffer,
  authMessage: string,
): { clientProof: Buffer; serverSignature: Buffer; storedKey: Buffer; serverKey: Buffer } {
  const clientKey = hmac(hash, salted, 'Client Key');
  const storedKey = createHash(hash).update(clientKey).digest();
  const clientSignature = hmac(hash, storedKey, authMessage);
  const clientProof = Buffer.alloc(clientKey.length);
  for (let i = 0; i < clientKey.length; i++) clientProof[i] = clientKey[i]! ^ clientSignature[i]!;
  const serverKey = hmac(hash, salted, 'Server Key');
  return { clientProof, serverSignature: hmac(hash, serverKey, authMessage), storedKey, serverKey };
}

/** RFC 5802 §5.1 saslname: `=` and `,` escaped. */
export const saslName = (name: string): string => name.replace(/=/g, '=3D').replace(/,/g, '=2C');

/** Parses `k=v,k=v` attributes (RFC 5802 §5.1); the value may hold `=`. */
export function scramAttributes(message: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of message.split(',')) {
    const eq = part.indexOf('=');
    if (eq !== 1) continue;
    if (!out.has(part[0]!)) out.set(part[0]!, part.slice(2));
  }
  return out;
}

/** The GS2 header (RFC 5802 §7): `p=<cb>` when binding, `y` when we could but the server offers no -PLUS, else `n`. */
export function gs2Header(flag: 'n' | 'y' | { binding: ChannelBinding['type'] }): string {
  return `${typeof flag === 'string' ? flag : `p=${flag.binding}`},,`;
}

export interface ScramOptions {
  hash: ScramHash;
  plus: boolean;
  /** Fixed client nonce, for test vectors only. */
  nonce?: string;
}

const challengeError = (message: string): AuthError =>
  new AuthError(message, { code: ErrorCodes.AUTH_CHALLENGE, command: 'AUTH' });

/** Creates a SCRAM client. Needs a password; `-PLUS` needs channel binding data. */
export function scram(ctx: MechanismContext, options: ScramOptions): Mechanism {
  const name: AuthMethod =
    options.hash === 'sha1' ? 'SCRAM-SHA-1' : options.plus ? 'SCRAM-SHA-256-PLUS' : 'SCRAM-SHA-256';
  if (options.hash === 'sha1' && options.plus)
    throw new InvalidArgumentError('SCRAM-SHA-1-PLUS is not supported', { field: 'authMethod' });
  const password = saslprep(requirePassword(ctx.credentials, name), 'password');
  const username = saslprep(ctx.credentials.username, 'username');
  const minIterations = ctx.scramMinIterations ?? SCRAM_MIN_ITERATIONS;
  const binding = ctx.channelBinding;
  if (options.plus && binding === null) {
    throw new InvalidArgumentError(`${name} needs TLS channel binding, which this connection cannot give`, {
      field: 'authMethod',
    });
  }
  // RFC 5802 §6: with binding data at hand, "y" when the server did not advertise -PLUS (a server that
  // does support it then knows the list was tampered with); "n" when -PLUS was offered and not chosen.
  const plusOffered = ctx.advertised.includes(`${options.hash === 'sha1' ? 'SCRAM-SHA-1' : 'SCRAM-SHA-256'}-PLUS`);
  const flag: Parameters<typeof gs2Header>[0] =
    options.plus && binding ? { binding: binding.type } : binding !== null && !plusOffered ? 'y' : 'n';
  const header = gs2Header(flag);
  const clientNonce = options.nonce ?? randomBytes(24).toString('base64');
  const clientFirstBare = `n=${saslName(username)},r=${clientNonce}`;
  let expectedSignature: Buffer | null = null;
  let verified = false;
  let step = 0;

  return {
    name,
    initialResponse: () => b64(header + clientFirstBare),
    async respond(challenge) {
      const decoded = unb64(challenge);
      if (decoded === null) throw challengeError(`${name}: the challenge is not base64`);
      const text = decoded.toString('utf8');
      const attrs = scramAttributes(text);
      if (step++ === 0) {
        if (attrs.has('m')) throw challengeError(`${name}: the server requires an extension we do not know`);
        if (attrs.has('e')) throw challengeError(`${name}: the server reported ${JSON.stringify(attrs.get('e'))}`);
        const nonce = attrs.get('r');
        const saltB64 = attrs.get('s');
        const iterText = attrs.get('i');
        // The server's nonce must extend ours (§5.1), or this is a replay of another exchange.
        const extendsOurs =
          typeof nonce === 'string' && nonce.startsWith(clientNonce) && nonce.length > clientNonce.length;
        if (!extendsOurs || /[^\x21-\x2b\x2d-\x7e]/.test(nonce))
          throw challengeError(`${name}: the server nonce does not extend the client nonce`);
        const salt = saltB64 === undefined ? null : unb64(saltB64);
        if (salt === null || salt.length === 0) throw challengeError(`${name}: missing or malformed salt`);
        if (iterText === undefined || !/^[1-9]\d{0,9}$/.test(iterText))
          throw challengeError(`${name}: missing or malformed iteration count`);
        const iterations = Number(iterText);
        if (iterations < minIterations) {
          throw challengeError(
            `${name}: the server asks for ${iterations} PBKDF2 iterations, below the minimum of ${minIterations} (scramMinIterations)`,
          );
        }
        if (iterations > SCRAM_MAX_ITERATIONS)
          throw challengeError(`${name}: the server asks for ${iterations} iterations, above ${SCRAM_MAX_ITERATIONS}`);
        const cbInput =
          options.plus && binding ? Buffer.concat([Buffer.from(header), binding.data]) : Buffer.from(header);
        const withoutProof = `c=${cbInput.toString('base64')},r=${nonce}`;
        const authMessage = `${clientFirstBare},${text},${withoutProof}`;
        const salted = await saltedPassword(password, salt, iterations, options.hash);
        const { clientProof, serverSignature } = scramProof(options.hash, salted, authMessage);
        expectedSignature = serverSignature;
        return b64(`${withoutProof},p=${clientProof.toString('base64')}`);
      }
      if (step === 2 && expectedSignature) {
        if (attrs.has('e'))
          throw new AuthError(`${name}: the server refused: ${JSON.stringify(attrs.get('e'))}`, { command: 'AUTH' });
        const v = attrs.get('v');
        const got = v === undefined ? null : unb64(v);
        if (got === null || got.length !== expectedSignature.length || !timingSafeEqual(got, expectedSignature)) {
          throw new AuthError(`${name}: the server's signature is wrong: it does not know the password (RFC 5802 §9)`, {
            code: ErrorCodes.AUTH_SERVER_PROOF,
            command: 'AUTH',
          });
        }
        verified = true;
        return '';
      }
      throw challengeError(`${name}: unexpected extra challenge`);
    },
    finish() {
      if (!verified) {
        // RFC 5802 §9: success without the server's proof is not success.
        throw new AuthError(`${name}: the server said 235 without proving it knows the password`, {
          code: ErrorCodes.AUTH_SERVER_PROOF,
          command: 'AUTH',
        });
      }
    },
  };
}
