/**
 * The steps that exercise the migrations on the scratch copy: upgrade (one revision at a time, with
 * its time, the locks it held and the tables it changed), smoke (the operator's command) and
 * roundtrip (downgrade, compare the schema, upgrade again).
 */
import { execa } from 'execa';
import { failureLine, runAlembic } from '../alembic/runner.js';
import type { MigrationScript } from '../types.js';
import { checkAborted, seconds, tailPush, type RehearsalContext } from './context.js';
import type { MigrationRehearsal, RoundtripResult, SmokeResult } from './model.js';
import { snapshotTables, startLockSampler, tableChanges, type TableStat } from './probe.js';
import { dumpSchema, schemaDiff } from './schema.js';

/** application_name of the migration's session (PGAPPNAME), so the lock sampler finds it. */
export const REHEARSAL_APP_NAME = 'migration-gate rehearsal';

/** The statement SQLAlchemy quotes in its error (`[SQL: ...]`, possibly over several lines). */
export function failingStatement(lines: string[]): string | undefined {
  for (let i = lines.length - 1; i >= 0; i--) {
    const at = lines[i]!.indexOf('[SQL: ');
    if (at < 0) continue;
    const parts: string[] = [];
    for (let j = i; j < lines.length; j++) {
      const text = j === i ? lines[j]!.slice(at + '[SQL: '.length) : lines[j]!;
      const end = text.trimEnd().endsWith(']');
      parts.push(end ? text.trimEnd().slice(0, -1) : text);
      if (end) break;
    }
    return parts.join('\n').trim();
  }
  return undefined;
}

/** Alembic against the scratch database; its output is logged (scrubbed) and its tail kept. */
async function alembic(ctx: RehearsalContext, args: string[], output: string[]) {
  const running = runAlembic(args, {
    command: ctx.settings.alembic,
    iniPath: ctx.iniPath,
    cwd: ctx.opts.cwd,
    env: { DATABASE_URL: ctx.scratch!.target.sqlalchemyUrl, PGAPPNAME: REHEARSAL_APP_NAME },
    statementTimeout: ctx.settings.statementTimeout,
    signal: ctx.signal,
    onLine: (line) => {
      tailPush(output, ctx.scrub(line));
      ctx.log(`alembic: ${ctx.scrub(line)}`);
    },
  });
  const res = await running.done;
  checkAborted(ctx);
  return res;
}

function excluded(ctx: RehearsalContext): { schemas: string[]; tables: string[] } {
  const { settings } = ctx;
  const versionTable = settings.versionTableSchema
    ? `${settings.versionTableSchema}.${settings.versionTable}`
    : settings.versionTable;
  return { schemas: [settings.historySchema], tables: [versionTable] };
}

/** The schema before the upgrade, for the roundtrip to compare with (only when --roundtrip). */
export function schemaBefore(ctx: RehearsalContext): Promise<string> {
  return dumpSchema(ctx.scratch!.target, {
    pgDump: ctx.settings.pgDump,
    excludeSchemas: excluded(ctx).schemas,
    signal: ctx.signal,
  });
}

/** Each pending revision on its own, until one fails. The list ends with the failed one, if any. */
export async function upgradeStep(
  ctx: RehearsalContext,
  pending: MigrationScript[],
): Promise<MigrationRehearsal[]> {
  const exclude = excluded(ctx);
  const migrations: MigrationRehearsal[] = [];
  let snapshot = await snapshotTables(ctx.client!, exclude.schemas);
  for (const script of pending) {
    const { entry, after } = await upgradeOne(ctx, script, snapshot, exclude);
    migrations.push(entry);
    snapshot = after;
    if (!entry.ok) break;
    ctx.log(`${script.revision} applied in ${seconds(entry.durationMs)}.`);
  }
  return migrations;
}

async function upgradeOne(
  ctx: RehearsalContext,
  script: MigrationScript,
  before: Map<number, TableStat>,
  exclude: { schemas: string[]; tables: string[] },
): Promise<{ entry: MigrationRehearsal; after: Map<number, TableStat> }> {
  ctx.log(
    `Rehearsing ${script.revision}${script.message ? ` (${script.message})` : ''}: alembic upgrade ${script.revision}.`,
  );
  const client = ctx.client!;
  const sampler = startLockSampler(client, REHEARSAL_APP_NAME, exclude.tables, ctx.opts.sampleMs ?? 50);
  const output: string[] = [];
  const t0 = Date.now();
  let res: Awaited<ReturnType<typeof alembic>>;
  let locks;
  try {
    res = await alembic(ctx, ['upgrade', script.revision], output);
  } finally {
    locks = await sampler.stop();
  }
  const durationMs = Date.now() - t0;
  const after = await snapshotTables(client, exclude.schemas);
  const entry: MigrationRehearsal = {
    revision: script.revision,
    file: script.file,
    ...(script.message ? { message: script.message } : {}),
    ok: res.exitCode === 0,
    durationMs,
    locks,
    tables: tableChanges(
      before,
      after,
      locks.map((l) => l.relation),
      exclude.tables,
    ),
  };
  if (res.exitCode !== 0) {
    const statement = failingStatement(output);
    entry.error = {
      message: ctx.scrub(failureLine(res.tail)),
      ...(statement ? { statement: ctx.scrub(statement) } : {}),
      output: output.slice(-30),
    };
  }
  return { entry, after };
}

/** The operator's own command line, run by a shell on purpose, with DATABASE_URL at the copy. */
export async function smokeStep(ctx: RehearsalContext, command: string): Promise<SmokeResult> {
  ctx.log(`Smoke test: sh -c ${JSON.stringify(command)} with DATABASE_URL pointing at the scratch database.`);
  const output: string[] = [];
  const t0 = Date.now();
  const child = execa('sh', ['-c', command], {
    cwd: ctx.opts.cwd,
    env: { DATABASE_URL: ctx.scratch!.target.sqlalchemyUrl },
    extendEnv: true,
    reject: false,
    stdin: 'ignore',
    all: true,
    buffer: false,
    cancelSignal: ctx.signal,
    forceKillAfterDelay: 5000,
  });
  let partial = '';
  child.all?.on('data', (chunk: Buffer) => {
    partial += chunk.toString('utf8');
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) {
      tailPush(output, ctx.scrub(l), 40);
      ctx.log(`smoke: ${ctx.scrub(l)}`);
    }
  });
  const r = await child;
  if (partial) tailPush(output, ctx.scrub(partial), 40);
  checkAborted(ctx);
  const exitCode = r.exitCode ?? 128;
  return { command, exitCode, passed: exitCode === 0, durationMs: Date.now() - t0, output };
}

/** Downgrade to where the copy started, compare the schema with `startSchema`, upgrade again. */
export async function roundtripStep(
  ctx: RehearsalContext,
  from: string[],
  startSchema: string,
): Promise<RoundtripResult> {
  if (from.length > 1) {
    return {
      passed: true,
      downgradeTo: from.join(', '),
      downgradeMs: 0,
      reupgradeMs: 0,
      diff: [],
      error: 'skipped: the dump is at several heads; downgrade to a merge point is not automated',
    };
  }
  const to = from[0] ?? 'base';
  ctx.log(`Roundtrip: alembic downgrade ${to}.`);
  const out: string[] = [];
  const t0 = Date.now();
  const down = await alembic(ctx, ['downgrade', to], out);
  const downgradeMs = Date.now() - t0;
  if (down.exitCode !== 0) {
    const statement = failingStatement(out);
    return {
      passed: false,
      downgradeTo: to,
      downgradeMs,
      reupgradeMs: 0,
      diff: [],
      error: `${ctx.scrub(failureLine(down.tail))}${statement ? ` (statement: ${ctx.scrub(statement)})` : ''}`,
    };
  }
  const diff = schemaDiff(startSchema, await schemaBefore(ctx));
  const head = ctx.heads.length === 1 ? ctx.heads[0]! : 'heads';
  ctx.log(`Roundtrip: alembic upgrade ${head} again.`);
  const t1 = Date.now();
  const up = await alembic(ctx, ['upgrade', head], out);
  const reupgradeMs = Date.now() - t1;
  if (up.exitCode !== 0) {
    return {
      passed: false,
      downgradeTo: to,
      downgradeMs,
      reupgradeMs,
      diff,
      error: `the upgrade after the downgrade failed: ${ctx.scrub(failureLine(up.tail))}`,
    };
  }
  return { passed: diff.length === 0, downgradeTo: to, downgradeMs, reupgradeMs, diff };
}
