/**
 * The package as a user installs it (issue 13): `npm pack` (its prepack builds dist/), installed
 * offline into a fresh temp project, then used from ESM and CommonJS, type-checked by tsc under
 * `nodenext` with `exactOptionalPropertyTypes`, and the bin run. No runtime dependency, so the install
 * needs nothing from the registry.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

interface Run {
  code: number;
  stdout: string;
  out: string;
}

function run(file: string, args: readonly string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    // npm_config_* from an enclosing `npm test` would redirect the inner npm (prefix, workspace …).
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));
    execFile(file, args, { cwd, env, timeout: 90_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, out: `${stdout}${stderr}` });
    });
  });
}

let dir: string;
let app: string;
let files: string[];
let version: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'smtpwire-pack-'));
  app = join(dir, 'app');
  version = (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const pack = await run('npm', ['pack', '--json', '--pack-destination', dir], ROOT);
  expect(pack.code, pack.out).toBe(0);
  const json = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('\n[') + 1)) as {
    filename: string;
    files: { path: string }[];
  }[];
  files = json[0]!.files.map((f) => f.path);
  await mkdir(app);
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  const install = await run(
    'npm',
    ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', join(dir, json[0]!.filename)],
    app,
  );
  expect(install.code, install.out).toBe(0);
}, 120_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('ships dist, the run-time certificates and LICENSE; not src, tests or the CA key', () => {
    expect(files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'dist/index.js']));
    expect(files).toEqual(
      expect.arrayContaining([
        'dist/index.d.ts',
        'dist/cli/main.js',
        'dist/compat/nodemailer.js',
        'fixtures/certs/ca.pem',
      ]),
    );
    const unwanted = files.filter(
      (f) => !/^(dist\/|fixtures\/certs\/[a-z-]+\.pem$|LICENSE$|README\.md$|package\.json$)/.test(f),
    );
    expect(unwanted).toEqual([]);
    expect(files).not.toContain('fixtures/certs/ca-key.pem');
    expect(files.some((f) => f.startsWith('dist/demo'))).toBe(false);
  });

  it('source maps carry their sources (src/ is not shipped)', async () => {
    const maps = files.filter((f) => f.endsWith('.js.map'));
    expect(maps.length).toBeGreaterThan(10);
    for (const m of maps) {
      const map = JSON.parse(await readFile(join(app, 'node_modules', 'smtpwire', m), 'utf8')) as {
        sources: string[];
        sourcesContent?: (string | null)[];
      };
      expect(map.sourcesContent?.length, m).toBe(map.sources.length);
      expect(
        map.sourcesContent?.every((c) => typeof c === 'string' && c.length > 0),
        m,
      ).toBe(true);
    }
  });

  it('package.json: MIT, repository, homepage, engines, no runtime dependencies', async () => {
    const pkg = JSON.parse(await readFile(join(app, 'node_modules', 'smtpwire', 'package.json'), 'utf8'));
    expect(pkg.license).toBe('MIT');
    expect(pkg.repository.url).toMatch(/github\.com\/smtpwire\/smtpwire/);
    expect(pkg.homepage).toMatch(/^https:\/\//);
    expect(pkg.engines.node).toBe('>=20');
    expect(pkg.dependencies).toBeUndefined();
    for (const [subpath, entry] of Object.entries(pkg.exports as Record<string, unknown>)) {
      if (subpath === './package.json') continue;
      expect(Object.keys(entry as object), subpath).toEqual(['types', 'default']);
    }
  });

  it('import (ESM): sends a message over STARTTLS to the packaged testing server', async () => {
    await writeFile(
      join(app, 'esm.mjs'),
      `import { SmtpProtocolHandler, ErrorCodes } from 'smtpwire';
import { startScriptedServer } from 'smtpwire/testing';
import nodemailer from 'smtpwire/nodemailer';
const server = await startScriptedServer({ tls: true });
const handler = new SmtpProtocolHandler({
  hostname: 'localhost', port: server.port, encryption: 'tls', tls: { ca: server.ca },
  fromAddress: 'a@example.com',
});
const result = await handler.sendMessage({ toAddresses: ['b@example.com'], subject: 'packed', textBody: 'hi' });
await handler.close();
const t = nodemailer.createTransport({ host: '127.0.0.1', port: server.port, tls: { ca: server.ca, servername: 'localhost' } });
const info = await t.sendMail({ from: 'a@example.com', to: 'c@example.com', subject: 'compat', text: 'hi' });
await t.close();
await server.close();
console.log(result.status, server.lastSession.tls, typeof ErrorCodes.TIMEOUT, info.accepted.join());
`,
    );
    const r = await run(process.execPath, ['esm.mjs'], app);
    expect(r.out.trim()).toBe('success true string c@example.com');
    expect(r.code).toBe(0);
  });

  it('require (CommonJS): the same classes, through the default condition (Node >= 20.19)', async () => {
    await writeFile(
      join(app, 'cjs.cjs'),
      `const { SmtpProtocolHandler, InvalidArgumentError } = require('smtpwire');
const testing = require('smtpwire/testing');
const { createTransport } = require('smtpwire/nodemailer');
try { new SmtpProtocolHandler({ hostname: 'h', auth: { user: 'u', pass: 'p' } }); }
catch (err) { console.log(err instanceof InvalidArgumentError, err.field); }
console.log(typeof testing.startScriptedServer, typeof createTransport);
`,
    );
    const r = await run(process.execPath, ['cjs.cjs'], app);
    expect(
      r.out
        .split('\n')
        .filter((l) => !/ExperimentalWarning|--trace-warnings/.test(l))
        .join('\n')
        .trim(),
    ).toBe('true auth\nfunction function');
    expect(r.code).toBe(0);
  });

  it('types: the README quick start and a CommonJS file compile under nodenext + exactOptionalPropertyTypes', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const quick = /## Quick start\n+```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(quick).toContain('new SmtpProtocolHandler');
    await writeFile(join(app, 'quickstart.ts'), quick!);
    await writeFile(
      join(app, 'require.cts'),
      `import { SmtpProtocolHandler, type SmtpProtocolHandlerOptions } from 'smtpwire';
import { createTransport } from 'smtpwire/nodemailer';
export const transport = createTransport({ host: 'h', auth: { user: 'u', pass: 'p' } });
const options: SmtpProtocolHandlerOptions = { hostname: 'h', password: process.env.P, username: 'u' };
export const handler = new SmtpProtocolHandler(options);
`,
    );
    await writeFile(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          strict: true,
          exactOptionalPropertyTypes: true,
          noEmit: true,
          skipLibCheck: false,
          types: ['node'],
          typeRoots: [join(ROOT, 'node_modules', '@types')],
        },
        files: ['quickstart.ts', 'require.cts'],
      }),
    );
    const r = await run(process.execPath, [TSC, '--noEmit', '-p', 'tsconfig.json'], app);
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
  });

  it('smtpwire/otel without its optional peer installed: importable, instrument() names the missing package', async () => {
    await writeFile(
      join(app, 'otel.mjs'),
      `import { instrument } from 'smtpwire/otel';
try {
  await instrument();
  console.log('instrumented');
} catch (err) {
  console.log(err.code, err.message.includes('@opentelemetry/api'));
}
`,
    );
    const r = await run(process.execPath, ['otel.mjs'], app);
    expect(r.out.trim()).toBe('ERR_SMTP_INVALID_ARGUMENT true');
  });

  it('the bin answers --version', async () => {
    const r = await run(join(app, 'node_modules', '.bin', 'smtpwire'), ['--version'], app);
    expect(r.out.trim()).toBe(`smtpwire ${version}`);
    expect(r.code).toBe(0);
  });
});
