/**
 * `restore`: runbook step 10, put a safety dump back into DATABASE_URL.
 *
 * What "right" means here:
 * - one transaction (psql --single-transaction, ON_ERROR_STOP): either the database is the dump, or it
 *   is untouched; never half restored;
 * - --clean --if-exists drops only what the dump contains, so objects created after the dump (the
 *   tables of the migration being undone) are dropped first in the same transaction, or the next
 *   `alembic upgrade` would fail on "already exists";
 * - the gate's history schema is left out of the restore: it is the record of what happened, this
 *   restore included;
 * - --no-owner (the restoring role owns what it recreates); grants are kept;
 * - the gate's advisory lock is held, and a fresh safety dump of the current state comes first.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import type { RenderEnv, Settings } from '../config/settings.js';
import { connect, describeTarget, parseDatabaseUrl, redact } from '../db/connect.js';
import { formatBytes } from '../db/dump.js';
import { ensureHistory, startRun, updateRun, type RunDump } from '../db/history.js';
import { acquireGateLock, type GateLock } from '../db/lock.js';
import { readCurrentRevisions } from '../db/version.js';
import { ConfigError, FailedError } from '../errors.js';
import { settleEarlierRuns } from '../gate/settle.js';
import { resolveDumpSource } from '../rehearse/source.js';
import { failedRun, requireDumpTarget, safetyDumpBefore, type Say } from './common.js';

export interface RestoreOptions {
  settings: Settings;
  render: RenderEnv;
  dump: string;
  yes: boolean;
  say: Say;
  signal?: AbortSignal;
}

export interface RestoreResult {
  applied: boolean;
  fromRevisions: string[];
  reachedRevisions: string[];
  safetyDump?: RunDump;
  runId?: number;
}

/** One entry of `pg_restore --list`: `<id>; <catalog> <oid> <TYPE...> <schema> <name> <owner>`. */
interface TocEntry {
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

function psqlBin(pgRestore: string): string {
  return pgRestore.includes('/') ? join(dirname(pgRestore), 'psql') : 'psql';
}

/** DROP statements for relations and types in the dump's schemas that the dump does not contain. */
async function extraObjects(client: pg.Client, toc: TocEntry[], excludeSchema: string): Promise<string[]> {
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

export async function restoreDump(opts: RestoreOptions): Promise<RestoreResult> {
  const { settings, say } = opts;
  if (!settings.databaseUrl)
    throw new ConfigError('restore needs DATABASE_URL: the database to restore into');
  const target = parseDatabaseUrl(settings.databaseUrl);
  const secrets = target.password ? [target.password] : [];
  const scrub = (s: string) => redact(s, secrets);
  if (opts.yes) requireDumpTarget(settings, 'restore');

  const source = await resolveDumpSource({
    dump: opts.dump,
    dumpTargetUrl: settings.dumpTarget,
    pgDump: settings.pgDump,
    signal: opts.signal,
    log: say,
  });
  const client = await connect(target, {
    connectTimeoutMs: settings.connectTimeoutMs,
    applicationName: 'migration-gate restore',
  });
  const versionOpts = { table: settings.versionTable, schema: settings.versionTableSchema };
  let lock: GateLock | undefined;
  let runId = 0;
  let recorded = false;
  const dir = await mkdtemp(join(tmpdir(), 'mg-restore-'));
  try {
    const current = await readCurrentRevisions(client, versionOpts);
    const listed = await execa(settings.pgRestore, ['--list', source.file], {
      reject: false,
      env: { LC_ALL: 'C' },
    });
    if (listed.exitCode !== 0) {
      throw new FailedError(
        `${source.description} is not a readable pg_dump archive: ${String(listed.stderr).trim().split('\n').pop()}; pick another with --dump`,
      );
    }
    const toc = parseToc(String(listed.stdout));
    const dumpRevs = source.stored?.meta?.fromRevisions;
    say(`Restore plan:`);
    say(
      `  dump:     ${source.description}, ${formatBytes(source.bytes)}, ${toc.length} archive entries${dumpRevs !== undefined ? `, taken at revision ${dumpRevs || 'base'}` : ''}`,
    );
    say(`  into:     ${target.redacted} (${describeTarget(target)})`);
    say(`  current revision: ${current.join(', ') || 'base'}`);
    say(
      `  how: a safety dump of the current state first, then one transaction: drop what the dump does not contain, pg_restore --clean --if-exists --no-owner (the ${settings.historySchema} history is kept)`,
    );
    if (!opts.yes) {
      say('Nothing was changed. Re-run with --yes to restore.');
      return { applied: false, fromRevisions: current, reachedRevisions: current };
    }

    await ensureHistory(client, settings.historySchema);
    runId = await startRun(client, settings.historySchema, {
      command: 'restore',
      service: opts.render.service ?? null,
      serviceId: opts.render.serviceId ?? null,
      commit: opts.render.commit ?? null,
      fromRevisions: current,
    });
    lock = await acquireGateLock(client, { waitMs: settings.lockWaitMs, signal: opts.signal });
    await settleEarlierRuns({
      client,
      schema: settings.historySchema,
      versionTable: versionOpts,
      runId,
      waitMs: settings.lockWaitMs,
      warn: say,
      scrub,
      signal: opts.signal,
    });
    const safety = await safetyDumpBefore({
      settings,
      render: opts.render,
      target,
      client,
      current,
      next: current,
      say,
      signal: opts.signal,
    });
    await updateRun(client, settings.historySchema, runId, { dump: safety });

    // The archive minus the gate's history, as a TOC list for pg_restore -L.
    const kept = toc.filter(
      (e) =>
        e.schema !== settings.historySchema && !(e.type === 'SCHEMA' && e.name === settings.historySchema),
    );
    const listFile = join(dir, 'restore.list');
    await writeFile(listFile, kept.map((e) => e.line).join('\n') + '\n');
    const drops = await extraObjects(client, toc, settings.historySchema);
    if (drops.length > 0)
      say(
        `Dropping ${drops.length} object(s) created after the dump: ${drops.map((d) => d.split(' IF EXISTS ')[1]!.replace(' CASCADE;', '')).join(', ')}`,
      );

    const script = execa(
      settings.pgRestore,
      ['--clean', '--if-exists', '--no-owner', `--use-list=${listFile}`, '--file=-', source.file],
      {
        reject: false,
        env: { LC_ALL: 'C' },
        stdin: 'ignore',
        buffer: { stdout: false },
        cancelSignal: opts.signal,
      },
    );
    const prelude = ['\\set ON_ERROR_STOP on', ...drops, ''].join('\n');
    const psql = execa(
      psqlBin(settings.pgRestore),
      ['--no-psqlrc', '--quiet', '--single-transaction', '-v', 'ON_ERROR_STOP=1', '--file=-'],
      {
        reject: false,
        env: { LC_ALL: 'C', ...target.libpqEnv(), PGAPPNAME: 'migration-gate restore' },
        stdin: 'pipe',
        stdout: 'ignore',
        cancelSignal: opts.signal,
      },
    );
    psql.stdin!.on('error', () => undefined);
    psql.stdin!.write(prelude);
    script.stdout!.pipe(psql.stdin!);
    const t0 = Date.now();
    const [s, p] = await Promise.all([script, psql]);
    const reached = await readCurrentRevisions(client, versionOpts);
    const fail = async (message: string): Promise<never> => {
      recorded = true;
      await updateRun(client, settings.historySchema, runId, {
        outcome: 'failed',
        finishedAt: new Date(),
        reachedRevisions: reached,
        error: message,
      });
      throw new FailedError(message);
    };
    if (opts.signal?.aborted)
      await fail('restore interrupted (signal): its transaction rolled back, the database is unchanged');
    if ((p.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
      await fail(
        `${psqlBin(settings.pgRestore)} was not found: install the PostgreSQL client tools (apt-get install postgresql-client); nothing was changed`,
      );
    }
    if (s.exitCode !== 0 || p.exitCode !== 0) {
      const why =
        String(p.stderr || s.stderr)
          .trim()
          .split('\n')
          .filter(Boolean)
          .pop() ?? `exit ${p.exitCode ?? s.exitCode}`;
      await fail(
        `restore failed and was rolled back, the database is unchanged (at ${reached.join(', ') || 'base'}): ${scrub(why)}`,
      );
    }
    await updateRun(client, settings.historySchema, runId, {
      outcome: 'restored',
      finishedAt: new Date(),
      reachedRevisions: reached,
      upgradeMs: Date.now() - t0,
    });
    say(
      `Restored ${source.description} into ${describeTarget(target)} in ${((Date.now() - t0) / 1000).toFixed(1)}s. The database is now at revision ${reached.join(', ') || 'base'} (was ${current.join(', ') || 'base'}); the state before the restore is in safety dump ${safety.id}.`,
    );
    return { applied: true, fromRevisions: current, reachedRevisions: reached, safetyDump: safety, runId };
  } catch (err) {
    throw await failedRun({
      client,
      schema: settings.historySchema,
      runId,
      recorded,
      command: 'restore',
      err,
      signal: opts.signal,
      scrub,
    });
  } finally {
    await lock?.release();
    await client.end().catch(() => undefined);
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    await source.cleanup();
  }
}
