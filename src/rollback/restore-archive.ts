/**
 * The archive side of `restore`: reading a dump's table of contents, what the database has that the
 * dump does not (dropped first, or the next upgrade fails on "already exists"), and the restore itself
 * as ONE transaction (pg_restore --clean --if-exists --no-owner piped into psql --single-transaction
 * with ON_ERROR_STOP): either the database is the dump, or it is untouched.
 */
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import type { DbTarget } from '../db/connect.js';
import { FailedError } from '../errors.js';

/** One entry of `pg_restore --list`: `<id>; <catalog> <oid> <TYPE...> <schema> <name> <owner>`. */
export interface TocEntry {
  line: string;
  type: string;
  schema: string;
  name: string;
}

const OBJECT_TYPES = [
  'MATERIALIZED VIEW',
  'TABLE DATA',
  'SEQUENCE SET',
  'SEQUENCE OWNED BY',
  'TABLE',
  'VIEW',
  'SEQUENCE',
  'TYPE',
  'DOMAIN',
  'SCHEMA',
];

export function parseToc(listing: string): TocEntry[] {
  const out: TocEntry[] = [];
  for (const line of listing.split('\n')) {
    const m = /^\d+; \d+ \d+ (.*)$/.exec(line);
    if (!m) continue;
    const rest = m[1]!;
    const type = OBJECT_TYPES.find((t) => rest.startsWith(t + ' ')) ?? rest.split(' ')[0]!;
    const fields = rest.slice(type.length + 1).split(' ');
    out.push({ line, type, schema: fields[0] ?? '-', name: fields[1] ?? '' });
  }
  return out;
}

export function psqlBin(pgRestore: string): string {
  return pgRestore.includes('/') ? join(dirname(pgRestore), 'psql') : 'psql';
}

/** DROP statements for relations and types in the dump's schemas that the dump does not contain. */
export async function extraObjects(
  client: pg.Client,
  toc: TocEntry[],
  excludeSchema: string,
): Promise<string[]> {
  const schemas = [...new Set(toc.filter((e) => e.schema !== '-').map((e) => e.schema))].filter(
    (s) => s !== excludeSchema,
  );
  const inDump = new Set(toc.map((e) => `${e.schema}.${e.name}`));
  const { rows } = await client.query<{ nspname: string; relname: string; kind: string }>(
    `SELECT n.nspname, c.relname, c.relkind::text AS kind
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ANY($1::text[]) AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('e', 'a', 'i'))
        AND NOT c.relispartition
     UNION ALL
     SELECT n.nspname, t.typname, 'T'
       FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE n.nspname = ANY($1::text[]) AND t.typtype IN ('e', 'd', 'r', 'c')
        AND (t.typtype <> 'c' OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype IN ('e', 'i'))`,
    [schemas],
  );
  const order: Record<string, [number, string]> = {
    v: [0, 'VIEW'],
    m: [1, 'MATERIALIZED VIEW'],
    r: [2, 'TABLE'],
    p: [2, 'TABLE'],
    S: [3, 'SEQUENCE'],
    T: [4, 'TYPE'],
  };
  return rows
    .filter((r) => !inDump.has(`${r.nspname}.${r.relname}`))
    .sort((a, b) => order[a.kind]![0] - order[b.kind]![0])
    .map(
      (r) =>
        `DROP ${order[r.kind]![1]} IF EXISTS ${pg.escapeIdentifier(r.nspname)}.${pg.escapeIdentifier(r.relname)} CASCADE;`,
    );
}

/** `pg_restore --list` of the archive; a file that is not a pg_dump archive is a clear error. */
export async function readToc(pgRestore: string, file: string, description: string): Promise<TocEntry[]> {
  const listed = await execa(pgRestore, ['--list', file], { reject: false, env: { LC_ALL: 'C' } });
  if (listed.exitCode !== 0) {
    throw new FailedError(
      `${description} is not a readable pg_dump archive: ${String(listed.stderr).trim().split('\n').pop()}; pick another with --dump`,
    );
  }
  return parseToc(String(listed.stdout));
}

/** The archive's entries minus the gate's own history schema, as a list file for pg_restore -L. */
export async function writeRestoreList(toc: TocEntry[], historySchema: string, dir: string): Promise<string> {
  const kept = toc.filter(
    (e) => e.schema !== historySchema && !(e.type === 'SCHEMA' && e.name === historySchema),
  );
  const listFile = join(dir, 'restore.list');
  await writeFile(listFile, kept.map((e) => e.line).join('\n') + '\n');
  return listFile;
}

export interface ApplyArchive {
  pgRestore: string;
  file: string;
  listFile: string;
  /** DROP statements run first, in the same transaction. */
  drops: string[];
  target: DbTarget;
  signal?: AbortSignal;
}

/** undefined when restored; else why not (the transaction rolled back, nothing changed). */
export async function applyArchive(
  a: ApplyArchive,
): Promise<{ missingPsql?: string; failure?: string } | undefined> {
  const script = execa(
    a.pgRestore,
    ['--clean', '--if-exists', '--no-owner', `--use-list=${a.listFile}`, '--file=-', a.file],
    {
      reject: false,
      env: { LC_ALL: 'C' },
      stdin: 'ignore',
      buffer: { stdout: false },
      cancelSignal: a.signal,
    },
  );
  const psql = execa(
    psqlBin(a.pgRestore),
    ['--no-psqlrc', '--quiet', '--single-transaction', '-v', 'ON_ERROR_STOP=1', '--file=-'],
    {
      reject: false,
      env: { LC_ALL: 'C', ...a.target.libpqEnv(), PGAPPNAME: 'migration-gate restore' },
      stdin: 'pipe',
      stdout: 'ignore',
      cancelSignal: a.signal,
    },
  );
  psql.stdin!.on('error', () => undefined);
  psql.stdin!.write(['\\set ON_ERROR_STOP on', ...a.drops, ''].join('\n'));
  script.stdout!.pipe(psql.stdin!);
  const [s, p] = await Promise.all([script, psql]);
  if ((p.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT')
    return { missingPsql: psqlBin(a.pgRestore) };
  if (s.exitCode === 0 && p.exitCode === 0) return undefined;
  const why =
    String(p.stderr || s.stderr)
      .trim()
      .split('\n')
      .filter(Boolean)
      .pop() ?? `exit ${p.exitCode ?? s.exitCode}`;
  return { failure: why };
}
