/**
 * bullmq is an optional peer dependency of `smtpwire/outbox` only: importing `smtpwire` (or running a
 * CLI command other than outbox-worker) must never load it, and only src/outbox/ may import it.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SRC = join(ROOT, 'src');
const run = promisify(execFile);

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Static (not type-only) import specifiers of a file. */
function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s+(?!type\s)(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm))
    out.push(m[1]!);
  return out;
}

/** A resolve hook that fails the process when anything asks for bullmq, ioredis, node-redis or pg. */
const HOOK = `data:text/javascript,${encodeURIComponent(`
import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(\`
export async function resolve(specifier, context, next) {
  if (/^(bullmq|ioredis|redis|pg|@redis\\\\/client)(\\\\/|$)/.test(specifier)) throw new Error('LOADED ' + specifier + ' from ' + context.parentURL);
  return next(specifier, context);
}\`));
`)}`;

describe('bullmq stays behind smtpwire/outbox', () => {
  it('only src/outbox/ imports bullmq', () => {
    const offenders = sources(SRC)
      .filter((f) =>
        imports(f).some(
          (s) => s === 'bullmq' || s.startsWith('bullmq/') || s === 'ioredis' || s === 'redis' || s === 'pg',
        ),
      )
      .map((f) => relative(SRC, f))
      .filter((f) => !f.startsWith('outbox/'));
    expect(offenders).toEqual([]);
  });

  it('the static import graph of src/index.ts reaches no outbox module', () => {
    const seen = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const s of imports(file)) {
        if (s.startsWith('.')) visit(resolve(dirname(file), s.replace(/\.js$/, '.ts')));
        else expect(s.startsWith('node:'), `${relative(SRC, file)} imports ${s}`).toBe(true);
      }
    };
    visit(join(SRC, 'index.ts'));
    expect(seen.size).toBeGreaterThan(10);
    expect([...seen].filter((f) => f.includes(`${join(SRC, 'outbox')}`))).toEqual([]);
  });

  it('importing smtpwire and the CLI loads no bullmq, ioredis, node-redis or pg (resolve hook in a child process)', async () => {
    const script = `await import(${JSON.stringify(join(SRC, 'index.ts'))}); await import(${JSON.stringify(join(SRC, 'cli/main.ts'))}); console.log('clean');`;
    const { stdout } = await run(
      process.execPath,
      ['--import', HOOK, '--import', 'tsx', '--input-type=module', '-e', script],
      {
        cwd: ROOT,
        timeout: 30_000,
      },
    );
    expect(stdout.trim()).toBe('clean');
    // The hook does catch a load: the outbox entry fails under it.
    const outbox = `await import(${JSON.stringify(join(SRC, 'outbox/index.ts'))});`;
    await expect(
      run(process.execPath, ['--import', HOOK, '--import', 'tsx', '--input-type=module', '-e', outbox], {
        cwd: ROOT,
        timeout: 30_000,
      }),
    ).rejects.toThrow(/LOADED bullmq/);
  });
});
