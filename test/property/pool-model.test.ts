/**
 * Model test of SmtpConnectionPool: random interleavings of checkouts, releases (some with a reply
 * still pending, as from onHandedOver), connections dying while parked or held, connects and health
 * checks that succeed or fail whenever the model says so, aborted waiters, and clock ticks (acquire
 * timeouts, health-check age, the reaper, staleness). After every step the invariants hold; at the
 * end every request is settled.
 */
import { EventEmitter } from 'node:events';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConnectionError } from '../../src/errors.js';
import { type PoolableConnection, type PoolConnectionParams, SmtpConnectionPool } from '../../src/pool/pool.js';

interface Gate {
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Every async step waits for the model to settle it. */
class ModelConnection extends EventEmitter implements PoolableConnection {
  static next = 0;
  readonly id = ModelConnection.next++;
  readonly createdAt = Date.now();
  readonly messagesSent = 0;
  pendingReplies = 0;
  broken = false;
  open = false;
  retired = false;
  connectGate: Gate | null = null;
  noopGate: Gate | null = null;
  constructor(readonly key: number) {
    super();
  }
  get isBroken(): boolean {
    return this.broken;
  }
  #wait(set: (g: Gate | null) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      set({ resolve, reject });
    }).finally(() => set(null));
  }
  async connect(): Promise<unknown> {
    this.open = true;
    await this.#wait((g) => (this.connectGate = g));
    return {};
  }
  async login(): Promise<void> {}
  async noop(): Promise<unknown> {
    if (this.broken) throw new ConnectionError('broken');
    await this.#wait((g) => (this.noopGate = g));
    return {};
  }
  async close(): Promise<void> {
    this.retired = true;
    this.broken = true;
    // QUIT and the server's close take a while; the socket stays open meanwhile.
    await new Promise((r) => setTimeout(r, 50));
    this.open = false;
  }
  destroy(): void {
    this.retired = true;
    this.kill();
  }
  kill(): void {
    this.open = false;
    if (this.broken) return;
    this.broken = true;
    const err = new ConnectionError('dropped');
    this.connectGate?.reject(err);
    this.noopGate?.reject(err);
    this.emit('close', err);
  }
}

type Cmd =
  | { t: 'get'; key: number; abortable: boolean }
  | { t: 'release'; pick: number; pending: boolean }
  | { t: 'releaseBroken'; pick: number }
  | { t: 'killHeld'; pick: number }
  | { t: 'killParked'; pick: number }
  | { t: 'abort'; pick: number }
  | { t: 'connect'; pick: number; ok: boolean }
  | { t: 'noop'; pick: number; ok: boolean }
  | { t: 'tick'; ms: number };

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      t: fc.constant('get' as const),
      key: fc.integer({ min: 0, max: 1 }),
      abortable: fc.boolean(),
    }),
  },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('release' as const), pick: fc.nat(), pending: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('releaseBroken' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('killHeld' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('killParked' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('abort' as const), pick: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('connect' as const), pick: fc.nat(), ok: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('noop' as const), pick: fc.nat(), ok: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 1500 }) }) },
);

interface Request {
  id: number;
  key: number;
  controller: AbortController | null;
  state: 'pending' | 'fulfilled' | 'rejected';
  /**
   * Got a slot: its connection was created (seen at once: the factory runs in the critical section),
   * or it resolved with a parked one (seen a few microtasks later, so FIFO is checked after a flush).
   */
  served: boolean;
  conn: ModelConnection | null;
}

const KEYS: PoolConnectionParams[] = [
  { host: 'a.example', port: 25, encryption: 'none' },
  { host: 'b.example', port: 25, encryption: 'none', username: 'u', password: 'p' },
];
const flush = () => new Promise<void>((r) => setImmediate(r));
const pick = <T>(xs: readonly T[], n: number): T | undefined => (xs.length === 0 ? undefined : xs[n % xs.length]);

beforeEach(() => {
  // setImmediate stays real: it flushes every microtask between steps.
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('SmtpConnectionPool model', () => {
  it('keeps its invariants under random interleavings', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.constantFrom(2, 5, Infinity),
        fc.array(cmdArb, { minLength: 5, maxLength: 80, size: 'max' }),
        async (max, maxMessages, cmds) => {
          const conns: ModelConnection[] = [];
          const requests: Request[] = [];
          const held = new Set<ModelConnection>();
          const violations: string[] = [];
          /** Checked after the next flush: requests that must be settled by then (FIFO). */
          let fifoChecks: { later: number; earlier: Request[] }[] = [];
          const pool = new SmtpConnectionPool<ModelConnection>({
            maxConnections: max,
            acquireTimeout: 1000,
            healthCheckAfter: 500,
            idleTimeout: 3000,
            staleTimeout: 8000,
            maxMessagesPerConnection: maxMessages,
            connectionFactory: (params) => {
              const key = params.host === 'a.example' ? 0 : 1;
              const c = new ModelConnection(key);
              conns.push(c);
              // The request is named in its (unkeyed) connection options.
              const r = requests[Number(params.connection?.clientName?.slice(1))];
              if (!r || r.key !== key)
                violations.push(`factory called for an unknown request ${params.connection?.clientName}`);
              else served(r);
              return c;
            },
          });

          const served = (r: Request): void => {
            r.served = true;
            const earlier = requests.filter(
              (e) => e.key === r.key && e.id < r.id && e.state === 'pending' && !e.served,
            );
            if (earlier.length > 0) fifoChecks.push({ later: r.id, earlier });
          };

          const get = (key: number, abortable: boolean): void => {
            const r: Request = {
              id: requests.length,
              key,
              controller: abortable ? new AbortController() : null,
              state: 'pending',
              served: false,
              conn: null,
            };
            requests.push(r);
            const params = { ...KEYS[key]!, connection: { clientName: `r${r.id}` } };
            const p = pool.getConnection(params, r.controller ? { signal: r.controller.signal } : {});
            p.then(
              (c) => {
                r.state = 'fulfilled';
                r.conn = c;
                if (!r.served) served(r);
                if (held.has(c)) violations.push(`connection ${c.id} handed to two holders`);
                if (c.isBroken) violations.push(`broken connection ${c.id} handed out`);
                if (c.retired) violations.push(`retired connection ${c.id} handed out`);
                if (c.key !== key) violations.push(`connection ${c.id} of key ${c.key} handed out for key ${key}`);
                held.add(c);
              },
              () => {
                r.state = 'rejected';
              },
            );
          };

          const check = (step: string): void => {
            const stats = pool.getStats();
            if (stats.total !== stats.idle + stats.busy)
              violations.push(`${step}: total ${stats.total} != idle + busy`);
            for (const k of stats.perKey) {
              if (k.total !== k.idle + k.busy) violations.push(`${step}: key total mismatch`);
              if (k.total + k.connecting + k.closing > max)
                violations.push(`${step}: ${k.key} uses ${k.total + k.connecting + k.closing} slots > ${max}`);
            }
            for (const key of [0, 1]) {
              const open = conns.filter((c) => c.key === key && c.open).length;
              if (open > max) violations.push(`${step}: key ${key} has ${open} open sockets > ${max}`);
              const holding = [...held].filter((c) => c.key === key).length;
              const checking = conns.filter((c) => c.key === key && c.noopGate !== null).length;
              const label = stats.perKey.find((k) => k.key.includes(key === 0 ? 'a.example' : 'b.example'));
              const busy = label?.busy ?? 0;
              if (busy !== holding + checking)
                violations.push(`${step}: key ${key} busy ${busy} != held ${holding} + checking ${checking}`);
            }
            for (const f of fifoChecks) {
              for (const e of f.earlier) {
                if (e.state === 'pending' && !e.served)
                  violations.push(`${step}: request ${f.later} served before earlier request ${e.id}`);
              }
            }
            fifoChecks = [];
          };

          for (const [i, cmd] of cmds.entries()) {
            switch (cmd.t) {
              case 'get':
                get(cmd.key, cmd.abortable);
                break;
              case 'release': {
                const c = pick([...held], cmd.pick);
                if (c) {
                  held.delete(c);
                  c.pendingReplies = cmd.pending ? 1 : 0;
                  pool.releaseConnection(c);
                }
                break;
              }
              case 'releaseBroken': {
                const c = pick([...held], cmd.pick);
                if (c) {
                  held.delete(c);
                  c.kill();
                  pool.releaseConnection(c);
                }
                break;
              }
              case 'killHeld':
                pick([...held], cmd.pick)?.kill();
                break;
              case 'killParked':
                pick(
                  conns.filter((c) => !held.has(c) && !c.broken && c.connectGate === null && c.noopGate === null),
                  cmd.pick,
                )?.kill();
                break;
              case 'abort':
                pick(
                  requests.filter((r) => r.state === 'pending' && r.controller && !r.controller.signal.aborted),
                  cmd.pick,
                )?.controller?.abort();
                break;
              case 'connect': {
                const c = pick(
                  conns.filter((x) => x.connectGate),
                  cmd.pick,
                );
                if (cmd.ok) c?.connectGate?.resolve();
                else c?.connectGate?.reject(new ConnectionError('refused'));
                break;
              }
              case 'noop': {
                const c = pick(
                  conns.filter((x) => x.noopGate),
                  cmd.pick,
                );
                if (cmd.ok) c?.noopGate?.resolve();
                else c?.noopGate?.reject(new ConnectionError('reset'));
                break;
              }
              case 'tick':
                // A pending reply arrives some time after the release.
                for (const c of conns) c.pendingReplies = 0;
                await vi.advanceTimersByTimeAsync(cmd.ms);
                break;
            }
            await flush();
            await flush();
            check(`step ${i} ${cmd.t}`);
            if (violations.length > 0) break;
          }

          // Drain: finish every connect and health check, give everything back, let time pass.
          for (let round = 0; round < 40 && requests.some((r) => r.state === 'pending'); round++) {
            for (const c of conns) {
              c.connectGate?.resolve();
              c.noopGate?.resolve();
            }
            for (const c of [...held]) {
              held.delete(c);
              pool.releaseConnection(c);
            }
            await vi.advanceTimersByTimeAsync(100);
            await flush();
            await flush();
            check(`drain ${round}`);
          }
          const starved = requests.filter((r) => r.state === 'pending').map((r) => r.id);
          if (starved.length > 0) violations.push(`requests never settled: ${starved.join(', ')}`);
          const stats = pool.getStats();
          if (stats.waiting !== 0 || stats.connecting !== 0)
            violations.push(`after the drain: waiting ${stats.waiting}, connecting ${stats.connecting}`);

          for (const c of [...held]) pool.releaseConnection(c);
          held.clear();
          const closing = pool.closeAll();
          await vi.advanceTimersByTimeAsync(100);
          await closing;
          if (conns.some((c) => c.open)) violations.push('a socket is still open after closeAll');
          if (pool.getStats().total !== 0) violations.push('connections left after closeAll');
          expect(violations).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });
});
