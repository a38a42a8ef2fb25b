/**
 * Private Redis topologies for the outbox suites, every process on 127.0.0.1, free ports, its own temp dir,
 * `appendonly yes` + `appendfsync always`, SIGKILLed by `stop()`:
 * - Sentinel: a primary, `replicas` replicas and three sentinels (`redis-sentinel`, quorum 2, down after 1 s);
 * - Cluster: three primaries with one replica each (`cluster-enabled`, node timeout 1 s).
 */
import type { ChildProcess } from 'node:child_process';
import { access, constants, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerAvailability } from '../conformance/servers/index.js';
import { canBind, freePort } from '../conformance/servers/process.js';
import { durableArgs, REDIS_SERVER_BIN, spawnRedis } from './redis.js';

export const REDIS_SENTINEL_BIN = '/usr/bin/redis-sentinel';
export const SENTINEL_NAME = 'smtpwire';

/** Whether redis-server and redis-sentinel can run here (for `reportUnavailable`). */
export async function sentinelAvailability(): Promise<ServerAvailability> {
  for (const bin of [REDIS_SERVER_BIN, REDIS_SENTINEL_BIN]) {
    try {
      await access(bin, constants.X_OK);
    } catch {
      return {
        name: 'redis-sentinel' as never,
        available: false,
        reason: `${bin} not installed (redis-server, redis-sentinel; run .ci/install-servers.sh as root)`,
      };
    }
  }
  return { name: 'redis-sentinel' as never, available: true };
}

/** Sends one inline command and returns the raw reply (enough for PING / INFO / CLUSTER INFO here). */
export function command(port: number, line: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    let data = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no reply from ${port} to ${line}`));
    }, timeoutMs);
    s.once('connect', () => s.write(`${line}\r\n`));
    s.on('data', (d) => {
      data += d.toString();
      // A bulk reply is complete once its announced length arrived; simple replies end at the first CRLF.
      const bulk = /^\$(\d+)\r\n/.exec(data);
      if (bulk ? data.length >= bulk[0].length + Number(bulk[1]) + 2 : data.includes('\r\n')) {
        clearTimeout(timer);
        s.destroy();
        resolve(data);
      }
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Proc {
  port: number;
  child: ChildProcess;
  log: () => string;
}

function kill(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((r) => p.child.once('exit', () => r()));
  p.child.kill('SIGKILL');
  return exited;
}

const SERVER_ARGS = (dir: string, port: number): string[] => ['--port', String(port), ...durableArgs(dir)];

/**
 * Resolves once the node restarted on `port` is a synced replica: until then it holds its old data, and a
 * failover that promoted it would lose everything written since (a next run would find no job at all).
 */
function syncedReplica(port: number): Promise<void> {
  return until(
    `${port} to be a synced replica`,
    async () => {
      const info = await command(port, 'INFO replication');
      return /role:slave/.test(info) && /master_link_status:up/.test(info) && !/master_sync_in_progress:1/.test(info);
    },
    30_000,
  );
}

async function startServer(root: string, name: string, extra: string[] = [], again?: number): Promise<Proc> {
  const dir = join(root, name);
  if (again === undefined) await import('node:fs/promises').then((fs) => fs.mkdir(dir));
  // A cluster node also listens on port + 10000 (its bus), which freePort does not check, and which another
  // process may take meanwhile (it is in the ephemeral range): a new port is tried when the start fails.
  const cluster = extra.includes('--cluster-enabled');
  for (let attempt = 1; ; attempt++) {
    const port = again ?? (cluster ? await clusterPort() : await freePort());
    const p = { port, ...spawnRedis(REDIS_SERVER_BIN, [...SERVER_ARGS(dir, port), ...extra]) };
    try {
      await until(`redis-server on ${port}`, async () => /^\+PONG/.test(await command(port, 'PING')), 10_000);
      return p;
    } catch (e) {
      p.child.kill('SIGKILL');
      if (again !== undefined || attempt === 3 || !/Address already in use/.test(p.log()))
        throw new Error(`${(e as Error).message}\n${p.log()}`);
    }
  }
}

/** A free port whose cluster bus port (+10000) is free too. */
async function clusterPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port + 10000 <= 65535 && (await canBind(port + 10000))) return port;
  }
}

/**
 * A TCP relay for the first replica's replication link (primary → replica), to stand for a network between
 * them: `freeze()` holds what the primary sends, `thaw()` lets it through, `cut()` drops what is held and the
 * link (a partition: what the primary sent never arrives). A SIGKILLed primary alone loses nothing in flight:
 * the kernel still delivers what it wrote.
 */
export interface ReplicationLink {
  freeze(): void;
  thaw(): void;
  cut(): void;
}

function relay(upstreamPort: number): Promise<ReplicationLink & { port: number; close(): void }> {
  let frozen = false;
  let held: Buffer[] = [];
  let cutAll = false;
  const pairs = new Set<{ down: import('node:net').Socket; up: import('node:net').Socket }>();
  const server = createServer((down) => {
    const up = createConnection({ port: upstreamPort, host: '127.0.0.1' });
    const pair = { down, up };
    pairs.add(pair);
    const drop = (): void => {
      pairs.delete(pair);
      down.destroy();
      up.destroy();
    };
    if (cutAll) return drop();
    up.on('data', (d: Buffer) => (frozen ? held.push(d) : down.write(d)));
    down.on('data', (d: Buffer) => up.write(d));
    up.on('error', drop).on('close', drop);
    down.on('error', drop).on('close', drop);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as { port: number }).port,
        freeze: () => {
          frozen = true;
        },
        thaw: () => {
          frozen = false;
          for (const { down } of pairs) for (const d of held) down.write(d);
          held = [];
        },
        cut: () => {
          cutAll = true;
          held = [];
          for (const { down, up } of pairs) {
            down.destroy();
            up.destroy();
          }
        },
        close: () => {
          for (const { down, up } of pairs) {
            down.destroy();
            up.destroy();
          }
          server.close();
        },
      }),
    ),
  );
}

export interface SentinelSet {
  /** The first replica's replication link. */
  readonly link: ReplicationLink;
  readonly sentinels: { host: string; port: number }[];
  /** The data nodes' ports: the first primary, then the replicas. */
  readonly ports: number[];
  /** Sends a signal to the data node on `port` at once (SIGKILL, SIGSTOP, SIGCONT). */
  signal(port: number, signal: NodeJS.Signals): void;
  /**
   * Starts a killed data node again on its port and directory (Sentinel makes it a replica); with `synced`,
   * resolves only once it is a synced replica (before a run that may fail over to it).
   */
  restart(port: number, options?: { synced?: boolean }): Promise<void>;
  /** The port of the current primary, as the sentinels say. */
  primaryPort(): Promise<number>;
  /** SIGKILLs the current primary and waits until the sentinels promoted the replica. */
  killPrimary(): Promise<{ killed: number; promoted: number; failoverMs: number }>;
  stop(): Promise<void>;
}

/**
 * @param replicas how many replicas (2 lets a claim still WAIT for one after a failover).
 * @param minReplicasToWrite the primary's `min-replicas-to-write` (0: off).
 */
export async function startSentinelSet({ replicas = 1, minReplicasToWrite = 0 } = {}): Promise<SentinelSet> {
  const root = await mkdtemp(join(tmpdir(), 'smtpwire-sentinel-'));
  const procs: Proc[] = [];
  try {
    const primaryArgs = minReplicasToWrite > 0 ? ['--min-replicas-to-write', String(minReplicasToWrite)] : [];
    const primary = await startServer(root, 'primary', primaryArgs);
    procs.push(primary);
    // A replica would accept writes once promoted; the same guard applies to it then.
    const link = await relay(primary.port);
    for (let i = 0; i < replicas; i++) {
      const replica = await startServer(root, `replica${i}`, [
        '--replicaof',
        '127.0.0.1',
        String(i === 0 ? link.port : primary.port),
        ...primaryArgs,
      ]);
      procs.push(replica);
      await until(
        'the replica in sync',
        async () => /master_link_status:up/.test(await command(replica.port, 'INFO replication')),
        10_000,
      );
    }
    const sentinels: Proc[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const dir = join(root, `sentinel${i}`);
      await import('node:fs/promises').then((fs) => fs.mkdir(dir));
      const conf = join(dir, 'sentinel.conf');
      await writeFile(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          'protected-mode no',
          `dir ${dir}`,
          `sentinel monitor ${SENTINEL_NAME} 127.0.0.1 ${primary.port} 2`,
          `sentinel down-after-milliseconds ${SENTINEL_NAME} 1000`,
          `sentinel failover-timeout ${SENTINEL_NAME} 4000`,
          `sentinel parallel-syncs ${SENTINEL_NAME} 1`,
          'loglevel warning',
          '',
        ].join('\n'),
      );
      const p = { port, ...spawnRedis(REDIS_SENTINEL_BIN, [conf]) };
      sentinels.push(p);
      procs.push(p);
    }
    const primaryPort = async (): Promise<number> => {
      const reply = await command(sentinels[0]!.port, `SENTINEL get-master-addr-by-name ${SENTINEL_NAME}`);
      return Number(/\r\n(\d+)\r\n$/.exec(reply)?.[1] ?? 0);
    };
    await until(
      'the sentinels to see each other and the replica',
      async () => {
        const info = await command(sentinels[0]!.port, 'INFO sentinel');
        return /sentinels=3/.test(info) && new RegExp(`slaves=${replicas}`).test(info);
      },
      15_000,
    );
    const data = procs.slice(0, 1 + replicas);
    const names = ['primary', ...Array.from({ length: replicas }, (_, i) => `replica${i}`)];
    return {
      sentinels: sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })),
      link,
      ports: data.map((p) => p.port),
      signal(port, signal) {
        data.find((p) => p.port === port)!.child.kill(signal);
      },
      async restart(port, { synced = false } = {}) {
        const i = data.findIndex((p) => p.port === port);
        // Sentinel rewrites its view; the node comes back as a replica of whoever is primary now.
        const p = await startServer(root, names[i]!, primaryArgs, port);
        data[i] = p;
        procs.push(p);
        if (synced) await syncedReplica(port);
      },
      primaryPort,
      async killPrimary() {
        const killed = await primaryPort();
        const victim = procs.find((p) => p.port === killed)!;
        const t0 = Date.now();
        await kill(victim);
        await until('the failover', async () => (await primaryPort()) !== killed, 20_000);
        const promoted = await primaryPort();
        await until(
          'the promoted replica to take writes',
          async () => /role:master/.test(await command(promoted, 'INFO replication')),
          10_000,
        );
        return { killed, promoted, failoverMs: Date.now() - t0 };
      },
      async stop() {
        link.close();
        await Promise.all(procs.map(kill));
        await rm(root, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await Promise.all(procs.map(kill));
    await rm(root, { recursive: true, force: true });
    throw err;
  }
}

export interface RedisCluster {
  readonly nodes: { host: string; port: number }[];
  /** Starts a killed node again on its port and directory: it rejoins as a replica of whoever took over. */
  restart(port: number, options?: { synced?: boolean }): Promise<void>;
  /** SIGKILLs the primary serving `slotKey`'s slot and waits until its replica took over. */
  killPrimaryOf(slotKey: string): Promise<{ killed: number; promoted: number; failoverMs: number }>;
  /** The ports of the replicas of the primary serving `slotKey`'s slot. */
  replicasOf(slotKey: string): Promise<number[]>;
  /** Sends a signal to the node on `port` (SIGSTOP, SIGCONT). */
  signal(port: number, signal: NodeJS.Signals): void;
  stop(): Promise<void>;
}

/** Three primaries, each with one replica; slots split evenly. */
export async function startCluster(): Promise<RedisCluster> {
  const root = await mkdtemp(join(tmpdir(), 'smtpwire-cluster-'));
  const procs: Proc[] = [];
  try {
    const clusterArgs = (i: number): string[] => [
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      join(root, `node${i}`, 'nodes.conf'),
      '--cluster-node-timeout',
      '1000',
    ];
    for (let i = 0; i < 6; i++) procs.push(await startServer(root, `node${i}`, clusterArgs(i)));
    const ports = procs.map((p) => p.port);
    const create = spawnRedis('/usr/bin/redis-cli', [
      '--cluster',
      'create',
      ...procs.map((p) => `127.0.0.1:${p.port}`),
      '--cluster-replicas',
      '1',
      '--cluster-yes',
    ]);
    const code = await new Promise<number | null>((r) => create.child.once('exit', r));
    if (code !== 0) throw new Error(`redis-cli --cluster create failed:\n${create.log()}`);
    await until(
      'the cluster state ok on every node',
      async () => {
        for (const p of procs) if (!/cluster_state:ok/.test(await command(p.port, 'CLUSTER INFO'))) return false;
        return true;
      },
      20_000,
    );
    const live = (): Proc[] => procs.filter((p) => p.child.exitCode === null && p.child.signalCode === null);
    return {
      nodes: procs.slice(0, 3).map((p) => ({ host: '127.0.0.1', port: p.port })),
      async restart(port, { synced = false } = {}) {
        const i = ports.indexOf(port);
        procs.push(await startServer(root, `node${i}`, clusterArgs(i), port));
        if (synced) await syncedReplica(port);
      },
      async replicasOf(slotKey: string) {
        const asked = live()[0]!;
        const slot = Number(/:(\d+)/.exec(await command(asked.port, `CLUSTER KEYSLOT ${slotKey}`))?.[1]);
        const lines = (await command(asked.port, 'CLUSTER NODES')).split('\n').map((l) => l.split(' '));
        const serves = (f: string[]): boolean =>
          f.slice(8).some((range) => {
            const [a, b] = range.split('-').map(Number);
            return slot >= a! && slot <= (b ?? a)!;
          });
        const primary = lines.find((f) => f[2]?.includes('master') && !f[2].includes('fail') && serves(f));
        return lines
          .filter((f) => f[2]?.includes('slave') && f[3] === primary?.[0])
          .map((f) => Number(/:(\d+)@/.exec(f[1]!)?.[1]));
      },
      signal(port, signal) {
        live()
          .find((p) => p.port === port)!
          .child.kill(signal);
      },
      async killPrimaryOf(slotKey: string) {
        const asked = live()[0]!;
        const slot = Number(/:(\d+)/.exec(await command(asked.port, `CLUSTER KEYSLOT ${slotKey}`))?.[1]);
        const owner = async (port: number): Promise<number> => {
          const nodes = await command(port, 'CLUSTER NODES');
          for (const line of nodes.split('\n')) {
            const f = line.split(' ');
            if (!f[2]?.includes('master') || f[2].includes('fail')) continue;
            for (const range of f.slice(8)) {
              const [a, b] = range.split('-').map(Number);
              if (slot >= a! && slot <= (b ?? a)!) return Number(/:(\d+)@/.exec(f[1]!)?.[1]);
            }
          }
          return 0;
        };
        const killed = await owner(asked.port);
        const victim = procs.find((p) => p.port === killed)!;
        const t0 = Date.now();
        await kill(victim);
        let promoted = 0;
        await until(
          'the replica to take over the slot',
          async () => {
            const other = live()[0]!;
            promoted = await owner(other.port);
            return (
              promoted !== 0 &&
              promoted !== killed &&
              /cluster_state:ok/.test(await command(other.port, 'CLUSTER INFO'))
            );
          },
          20_000,
        );
        return { killed, promoted, failoverMs: Date.now() - t0 };
      },
      async stop() {
        await Promise.all(procs.map(kill));
        await rm(root, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await Promise.all(procs.map(kill));
    await rm(root, { recursive: true, force: true });
    throw err;
  }
}
