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
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path, { join } from 'node:path';
import type pg from 'pg';
import type { RenderEnv, Settings } from '../config/settings.js';
import { connect, describeTarget, parseDatabaseUrl, redact, type DbTarget } from '../db/connect.js';
import { ensureHistory, lastMigrated, startRun, updateRun, type RunDump } from '../db/history.js';
import type { GateLock } from '../db/lock.js';
import { readCurrentRevisions } from '../db/version.js';
import { ConfigError, FailedError } from '../errors.js';
import { loadProject } from '../gate/project.js';
import { isLocalDumpFile, resolveDumpSource, type DumpSource } from '../rehearse/source.js';
import { provenanceOf } from '../storage/provenance.js';
import { selectDump } from '../storage/select.js';
import { failedRun, lockAndSettle, requireDumpTarget, safetyDumpBefore, type Say } from './common.js';
import { applyArchive, extraObjects, readToc, writeRestoreList, type TocEntry } from './restore-archive.js';
import { restorePlanLines, sourceDumpRecord, type RestorePlanInput } from './restore-plan.js';
import { RecoverySteps } from './steps.js';

export { parseToc } from './restore-archive.js';

export interface RestoreOptions {
  settings: Settings;
  render: RenderEnv;
  /** `<id>`, `latest` (before the last deploy that migrated), `newest`, or a local file. */
  dump: string;
  yes: boolean;
  say: Say;
  /** Step lines with their timings (default: said with the rest). The CLI sends them to the log. */
  progress?: Say;
  /** Where ALEMBIC_CONFIG is resolved from, to compare the dump with the code's heads (default: cwd). */
  cwd?: string;
  signal?: AbortSignal;
}

export interface RestoreResult {
  applied: boolean;
  fromRevisions: string[];
  reachedRevisions: string[];
  safetyDump?: RunDump;
  runId?: number;
  /** What was restored (also in the history row's source_dump). */
  source?: ReturnType<typeof sourceDumpRecord>;
}

interface Ctx {
  opts: RestoreOptions;
  settings: Settings;
  target: DbTarget;
  client: pg.Client;
  steps: RecoverySteps;
  scrub: (text: string) => string;
  versionTable: { table: string; schema?: string };
}

interface Loaded {
  current: string[];
  source: DumpSource;
  toc: TocEntry[];
  plan: RestorePlanInput;
}

/** load: where the database is, which dump (`latest` from history), its contents, the code's heads. */
async function loadStep(ctx: Ctx): Promise<Loaded> {
  const { settings, opts } = ctx;
  const current = await readCurrentRevisions(ctx.client, ctx.versionTable);
  const local = isLocalDumpFile(opts.dump);
  const lastDumpId = local
    ? null
    : ((await lastMigrated(ctx.client, settings.historySchema))?.dump?.id ?? null);
  const source = await resolveDumpSource({
    dump: opts.dump,
    dumpTargetUrl: settings.dumpTarget,
    pgDump: settings.pgDump,
    signal: opts.signal,
    log: opts.say,
    lastMigratedDumpId: lastDumpId,
  });
  try {
    const toc = await readToc(settings.pgRestore, source.file, source.description);
    // The same choice on the chosen dump alone gives the words for how `latest` / `newest` resolved.
    const reason = source.stored
      ? selectDump([source.stored], opts.dump, { where: '', lastMigratedDumpId: lastDumpId }).reason
      : undefined;
    const plan: RestorePlanInput = {
      source,
      ...(reason ? { reason } : {}),
      tocEntries: toc.length,
      current,
      ...(await codeHeads(settings, opts.cwd ?? process.cwd())),
      into: `${ctx.target.redacted} (${describeTarget(ctx.target)})`,
      historySchema: settings.historySchema,
    };
    return { current, source, toc, plan };
  } catch (err) {
    await source.cleanup();
    throw err;
  }
}

/** The code's heads, to compare the dump with; a missing or broken project only costs the comparison. */
async function codeHeads(
  settings: Settings,
  cwd: string,
): Promise<Pick<RestorePlanInput, 'code' | 'codeProblem'>> {
  const ini = path.resolve(cwd, settings.alembicConfig);
  try {
    const loaded = await loadProject(ini);
    return { code: { heads: loaded.graph.resolve('heads'), graph: loaded.graph } };
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0]! : String(err);
    return {
      codeProblem: `cannot read the migrations at ${ini}: ${why}; run restore from the app's directory or set ALEMBIC_CONFIG`,
    };
  }
}

/** lock: the history row (with what is restored), the gate lock, then whatever killed runs left. */
async function lockStep(ctx: Ctx, loaded: Loaded): Promise<{ runId: number; lock: GateLock }> {
  const { settings, opts, client } = ctx;
  await ensureHistory(client, settings.historySchema);
  const source = sourceDumpRecord(loaded.source);
  const runId = await startRun(client, settings.historySchema, {
    command: 'restore',
    service: opts.render.service ?? null,
    serviceId: opts.render.serviceId ?? null,
    commit: opts.render.commit ?? null,
    fromRevisions: loaded.current,
    ...(source.revisions ? { toRevisions: source.revisions } : {}),
    sourceDump: source,
    step: 'lock',
  });
  ctx.steps.attach(client, settings.historySchema, runId);
  const lock = await lockAndSettle(ctx, runId);
  return { runId, lock };
}

/** restore: one transaction; a failure is recorded here with the revision the database is at. */
async function restoreStep(
  ctx: Ctx,
  loaded: Loaded,
  runId: number,
  dir: string,
): Promise<{ reached: string[]; ms: number }> {
  const { settings, opts, client } = ctx;
  const listFile = await writeRestoreList(loaded.toc, settings.historySchema, dir);
  const drops = await extraObjects(client, loaded.toc, settings.historySchema);
  if (drops.length > 0)
    opts.say(
      `Dropping ${drops.length} object(s) created after the dump: ${drops.map((d) => d.split(' IF EXISTS ')[1]!.replace(' CASCADE;', '')).join(', ')}`,
    );
  const t0 = Date.now();
  const problem = await applyArchive({
    pgRestore: settings.pgRestore,
    file: loaded.source.file,
    listFile,
    drops,
    target: ctx.target,
    signal: opts.signal,
  });
  const reached = await readCurrentRevisions(client, ctx.versionTable);
  const at = reached.join(', ') || 'base';
  let message: string | undefined;
  if (opts.signal?.aborted)
    message = 'restore interrupted (signal): its transaction rolled back, the database is unchanged';
  else if (problem?.missingPsql)
    message = `${problem.missingPsql} was not found: install the PostgreSQL client tools (apt-get install postgresql-client); nothing was changed`;
  else if (problem?.failure)
    message = `restore failed and was rolled back, the database is unchanged (at ${at}): ${ctx.scrub(problem.failure)}`;
  if (message) {
    await updateRun(client, settings.historySchema, runId, {
      outcome: opts.signal?.aborted ? 'interrupted' : 'failed',
      finishedAt: new Date(),
      reachedRevisions: reached,
      error: message,
    });
    throw Object.assign(new FailedError(message), { recorded: true });
  }
  return { reached, ms: Date.now() - t0 };
}

export async function restoreDump(opts: RestoreOptions): Promise<RestoreResult> {
  const { settings, say } = opts;
  if (!settings.databaseUrl)
    throw new ConfigError('restore needs DATABASE_URL: the database to restore into');
  const target = parseDatabaseUrl(settings.databaseUrl);
  const scrub = (s: string) => redact(s, target.password ? [target.password] : []);
  if (opts.yes) requireDumpTarget(settings, 'restore');
  const steps = new RecoverySteps(opts.progress ?? say);
  const client = await steps.run('connect', () =>
    connect(target, {
      connectTimeoutMs: settings.connectTimeoutMs,
      applicationName: 'migration-gate restore',
    }),
  );
  const versionTable = { table: settings.versionTable, schema: settings.versionTableSchema };
  const ctx: Ctx = { opts, settings, target, client, steps, scrub, versionTable };
  const dir = await mkdtemp(join(tmpdir(), 'mg-restore-'));
  let loaded: Loaded | undefined;
  let lock: GateLock | undefined;
  let runId = 0;
  try {
    loaded = await steps.run('load', () => loadStep(ctx));
    const l = loaded;
    await steps.run('plan', async () => restorePlanLines(l.plan).forEach((line) => say(line)));
    if (!opts.yes) {
      say('Nothing was changed. Re-run with --yes to restore.');
      return { applied: false, fromRevisions: l.current, reachedRevisions: l.current };
    }
    ({ runId, lock } = await steps.run('lock', () => lockStep(ctx, l)));
    const safety = await steps.run('dump', () => dumpBeforeRestore(ctx, l, runId));
    const { reached, ms } = await steps.run('restore', () => restoreStep(ctx, l, runId, dir));
    await steps.run('record', () =>
      updateRun(client, settings.historySchema, runId, {
        outcome: 'restored',
        finishedAt: new Date(),
        reachedRevisions: reached,
        upgradeMs: ms,
      }),
    );
    say(restoredLine(ctx, l, reached, ms, safety));
    return {
      applied: true,
      fromRevisions: l.current,
      reachedRevisions: reached,
      safetyDump: safety,
      runId,
      source: sourceDumpRecord(l.source),
    };
  } catch (err) {
    const recorded = (err as { recorded?: boolean }).recorded === true;
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
    await loaded?.source.cleanup();
  }
}

/** dump: the state about to be replaced, so the restore itself can be undone. */
async function dumpBeforeRestore(ctx: Ctx, loaded: Loaded, runId: number): Promise<RunDump> {
  const safety = await safetyDumpBefore({
    settings: ctx.settings,
    render: ctx.opts.render,
    target: ctx.target,
    client: ctx.client,
    current: loaded.current,
    next: loaded.current,
    say: ctx.opts.say,
    signal: ctx.opts.signal,
    madeBy: 'restore',
    runId,
  });
  await updateRun(ctx.client, ctx.settings.historySchema, runId, { dump: safety });
  return safety;
}

function restoredLine(ctx: Ctx, loaded: Loaded, reached: string[], ms: number, safety: RunDump): string {
  const stored = loaded.source.stored;
  const p = stored ? provenanceOf(stored) : undefined;
  const origin = p?.purpose ? ` (${p.purpose})` : '';
  return `Restored ${stored ? stored.id : loaded.source.description}${origin} into ${describeTarget(ctx.target)} in ${(ms / 1000).toFixed(1)}s. The database is now at revision ${reached.join(', ') || 'base'} (was ${loaded.current.join(', ') || 'base'}); the state before the restore is in safety dump ${safety.id}.`;
}
