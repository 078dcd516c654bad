/**
 * `pg_dump --schema-only` of the scratch database, normalised for comparison: the roundtrip check
 * compares the schema before the upgrade with the schema after downgrading back to the start.
 */
import { execa } from 'execa';
import type { DbTarget } from '../db/connect.js';
import { FailedError } from '../errors.js';

export async function dumpSchema(
  target: DbTarget,
  opts: { pgDump?: string; excludeSchemas?: string[]; signal?: AbortSignal },
): Promise<string> {
  const args = ['--schema-only', '--no-owner', '--no-acl', '--no-password'];
  for (const s of opts.excludeSchemas ?? []) args.push(`--exclude-schema=${s}`);
  const r = await execa(opts.pgDump ?? 'pg_dump', args, {
    env: { LC_ALL: 'C', ...target.libpqEnv() },
    reject: false,
    stdin: 'ignore',
    cancelSignal: opts.signal,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.exitCode !== 0) {
    throw new FailedError(
      `pg_dump --schema-only of the scratch database failed: ${String(r.stderr).trim().split('\n').pop() ?? r.shortMessage}`,
    );
  }
  return String(r.stdout);
}

/**
 * The schema as a multiset of lines: comments, session settings and blank lines dropped, trailing
 * commas removed (a column re-added at the end of a table is the same column).
 */
export function normaliseSchema(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim().replace(/,$/, ''))
    .filter((l) => l !== '' && !l.startsWith('--') && !l.startsWith('SET ') && !l.startsWith('\\'))
    .filter((l) => !l.startsWith('SELECT pg_catalog.set_config('));
}

/** `- line` for what the start had and the end lacks, `+ line` for what the end has extra. */
export function schemaDiff(start: string, end: string): string[] {
  const count = (lines: string[]) => {
    const m = new Map<string, number>();
    for (const l of lines) m.set(l, (m.get(l) ?? 0) + 1);
    return m;
  };
  const a = count(normaliseSchema(start));
  const b = count(normaliseSchema(end));
  const out: string[] = [];
  for (const [line, n] of a) for (let i = b.get(line) ?? 0; i < n; i++) out.push(`- ${line}`);
  for (const [line, n] of b) for (let i = a.get(line) ?? 0; i < n; i++) out.push(`+ ${line}`);
  return out;
}
