/**
 * `rollback`: `alembic downgrade` to where the database was before the last successful `run`.
 * A downgrade is a migration too: the downgrade() of an additive migration drops the tables it
 * created, with whatever rows they hold now. So the path is classified with the same rules, the
 * affected tables are counted, and a destructive downgrade needs the same override as an upgrade.
 */
import path from 'node:path';
import pg from 'pg';
import { failureLine, runAlembic } from '../alembic/runner.js';
import { classifyMigrations, initClassifier, verdictOf } from '../classify/index.js';
import type { RenderEnv, Settings } from '../config/settings.js';
import { serverVersion, tableSizes } from '../db/catalog.js';
import { connect, describeTarget, parseDatabaseUrl, redact } from '../db/connect.js';
import { ensureHistory, lastMigrated, startRun, updateRun, type RunDump } from '../db/history.js';
import { acquireGateLock, type GateLock } from '../db/lock.js';
import { alembicAppName } from '../db/sessions.js';
import { readCurrentRevisions } from '../db/version.js';
import { BlockedError, ConfigError, FailedError } from '../errors.js';
import { loadProject } from '../gate/project.js';
import { settleEarlierRuns } from '../gate/settle.js';
import type { ClassifiedMigration } from '../types.js';
import { failedRun, requireDumpTarget, safetyDumpBefore, type Say } from './common.js';

export interface RollbackOptions {
  settings: Settings;
  render: RenderEnv;
  cwd: string;
  yes: boolean;
  say: Say;
  signal?: AbortSignal;
}

export interface AffectedTable {
  table: string;
  rows: number | null;
  exact: boolean;
}

export interface RollbackPlan {
  /** The run being undone. */
  runId: number;
  current: string[];
  /** Where the downgrade goes (the run's fromRevisions). */
  to: string[];
  /** Migrations whose downgrade() runs, in the order Alembic runs them (newest first). */
  undone: ClassifiedMigration[];
  destructive: string[];
  affected: AffectedTable[];
  /** Destructive revisions the override does not name. */
  notAllowed: string[];
}

export interface RollbackResult {
  applied: boolean;
  plan?: RollbackPlan;
  reachedRevisions?: string[];
  safetyDump?: RunDump;
}

const EXACT_COUNT_MAX_BYTES = 64 * 1024 * 1024;

async function countTables(client: pg.Client, tables: string[]): Promise<AffectedTable[]> {
  const sizes = await tableSizes(client, tables);
  const out: AffectedTable[] = [];
  for (const table of tables) {
    const size = sizes.get(table);
    if (!size) {
      out.push({ table, rows: null, exact: false });
      continue;
    }
    if (size.bytes < EXACT_COUNT_MAX_BYTES) {
      const dot = table.indexOf('.');
      const q =
        dot > 0
          ? `${pg.escapeIdentifier(table.slice(0, dot))}.${pg.escapeIdentifier(table.slice(dot + 1))}`
          : pg.escapeIdentifier(table);
      const res = await client.query<{ n: string }>(`SELECT count(*)::int8 AS n FROM ${q}`).catch(() => null);
      if (res) {
        out.push({ table, rows: Number(res.rows[0]!.n), exact: true });
        continue;
      }
    }
    out.push({ table, rows: size.rows, exact: false });
  }
  return out;
}

export async function rollback(opts: RollbackOptions): Promise<RollbackResult> {
  const { settings, say } = opts;
  if (!settings.databaseUrl) throw new ConfigError('rollback needs DATABASE_URL: the database to roll back');
  const target = parseDatabaseUrl(settings.databaseUrl);
  const scrub = (s: string) => redact(s, target.password ? [target.password] : []);
  if (opts.yes) requireDumpTarget(settings, 'rollback');
  const iniPath = path.resolve(opts.cwd, settings.alembicConfig);
  const loaded = await loadProject(iniPath);
  const client = await connect(target, {
    connectTimeoutMs: settings.connectTimeoutMs,
    applicationName: 'migration-gate rollback',
  });
  const versionOpts = { table: settings.versionTable, schema: settings.versionTableSchema };
  let lock: GateLock | undefined;
  let runId = 0;
  let recorded = false;
  try {
    const last = await lastMigrated(client, settings.historySchema);
    if (!last) {
      throw new ConfigError(
        `no successful \`migration-gate run\` is recorded in ${settings.historySchema}.runs on ${describeTarget(target)}: there is no "before" revision to go back to; downgrade by hand with alembic downgrade <rev>`,
      );
    }
    const current = await readCurrentRevisions(client, versionOpts);
    const to = last.fromRevisions;
    if (current.join(',') === [...to].sort().join(',')) {
      say(
        `The database is already at ${to.join(', ') || 'base'}, where it was before run #${last.id}: nothing to roll back.`,
      );
      return { applied: false };
    }
    const unknown = loaded.graph.unknown([...current, ...to]);
    if (unknown.length > 0) {
      throw new ConfigError(
        `revision ${unknown.join(', ')} is not in the migration files here: run rollback from the code that applied run #${last.id}`,
      );
    }
    if (to.length > 1) {
      throw new ConfigError(
        `run #${last.id} started from several heads (${to.join(', ')}): downgrading to a branch point is not automated; use alembic downgrade by hand`,
      );
    }
    const notBelow = to.filter((t) => !current.some((c) => loaded.graph.isAncestor(t, c)));
    if (notBelow.length > 0) {
      throw new ConfigError(
        `the database is at ${current.join(', ') || 'base'}, which is not a descendant of ${to.join(', ')} (the revision before run #${last.id}): someone migrated it since; downgrade by hand`,
      );
    }
    if (last.reachedRevisions && last.reachedRevisions.join(',') !== current.join(',')) {
      say(
        `Note: run #${last.id} left the database at ${last.reachedRevisions.join(', ')}; it is now at ${current.join(', ')}. The rollback undoes everything above ${to.join(', ') || 'base'}.`,
      );
    }

    const scripts = loaded.graph.pending(to, current).reverse();
    await initClassifier();
    const server = await serverVersion(client);
    await loaded.loadBodies(scripts);
    const undone = classifyMigrations(scripts, { serverVersionNum: server.num });
    const destructive = undone
      .filter((m) => verdictOf(m.downgradeFindings) !== 'additive')
      .map((m) => m.revision);
    const tables = [
      ...new Set(
        undone.flatMap((m) => m.downgradeFindings.filter((f) => f.table && !f.allowed).map((f) => f.table!)),
      ),
    ];
    const affected = await countTables(client, tables);
    const allowAll = settings.allow.some((a) => a.toLowerCase() === 'all');
    const notAllowed = allowAll ? [] : destructive.filter((r) => !settings.allow.includes(r));
    const plan: RollbackPlan = { runId: last.id, current, to, undone, destructive, affected, notAllowed };
    const spec = to[0] ?? 'base';

    say(
      `Rollback plan: alembic downgrade ${spec} on ${describeTarget(target)}, undoing run #${last.id} (${(last.finishedAt ?? last.startedAt).toISOString()}).`,
    );
    say(`  from ${current.join(', ') || 'base'} to ${spec}; ${undone.length} downgrade(s), newest first:`);
    const rowsOf = (t: string) => {
      const a = affected.find((x) => x.table === t);
      if (!a || a.rows === null) return '';
      return ` [${t}: ${a.exact ? '' : '~'}${a.rows} row${a.rows === 1 ? '' : 's'} now]`;
    };
    for (const m of undone) {
      const kind = destructive.includes(m.revision) ? 'DESTRUCTIVE' : 'safe';
      say(`  ${m.revision}${m.message ? ` ${m.message}` : ''} (${m.file}): downgrade is ${kind}`);
      for (const f of m.downgradeFindings) {
        say(
          `    - ${f.rule}: ${f.message}${f.table ? rowsOf(f.table) : ''}${f.allowed ? ` (allowed in the file: ${f.allowed.reason})` : ''}`,
        );
      }
    }
    if (destructive.length > 0) {
      if (notAllowed.length > 0) {
        say(
          `  Blocked without an override: set MIGRATION_GATE_ALLOW=${notAllowed.join(',')} and MIGRATION_GATE_ALLOW_REASON="why losing this data is fine" to proceed.`,
        );
      } else {
        say(
          `  Destructive downgrade allowed by MIGRATION_GATE_ALLOW (reason: ${settings.allowReason ?? ''}).`,
        );
      }
    }
    say('  A safety dump of the current state is taken first; the rollback is recorded in history.');
    if (!opts.yes) {
      say('Nothing was changed. Re-run with --yes to roll back.');
      return { applied: false, plan };
    }

    await ensureHistory(client, settings.historySchema);
    runId = await startRun(client, settings.historySchema, {
      command: 'rollback',
      service: opts.render.service ?? null,
      serviceId: opts.render.serviceId ?? null,
      commit: opts.render.commit ?? null,
      fromRevisions: current,
      toRevisions: to,
      pending: undone,
    });
    if (notAllowed.length > 0) {
      const msg = `the downgrade of ${notAllowed.join(', ')} is destructive (${affected.map((a) => `${a.table}: ${a.rows ?? '?'} rows`).join(', ') || 'see the plan above'}) and MIGRATION_GATE_ALLOW does not name it`;
      recorded = true;
      await updateRun(client, settings.historySchema, runId, {
        outcome: 'blocked',
        decision: 'block',
        finishedAt: new Date(),
        reachedRevisions: current,
        error: msg,
      });
      throw new BlockedError(
        `${msg}: set MIGRATION_GATE_ALLOW=${notAllowed.join(',')} with MIGRATION_GATE_ALLOW_REASON, or restore a safety dump instead (migration-gate restore --dump latest)`,
      );
    }
    if (destructive.length > 0) {
      await updateRun(client, settings.historySchema, runId, {
        override: {
          revisions: settings.allow,
          reason: settings.allowReason ?? '',
          all: allowAll,
          unused: settings.allow.filter((a) => a.toLowerCase() !== 'all' && !destructive.includes(a)),
        },
      });
    }
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
      next: to,
      say,
      signal: opts.signal,
    });
    await updateRun(client, settings.historySchema, runId, { dump: safety, decision: 'allow' });

    const t0 = Date.now();
    say(`Running alembic downgrade ${spec}.`);
    const res = await runAlembic(['downgrade', spec], {
      command: settings.alembic,
      iniPath,
      cwd: opts.cwd,
      // The app's env.py reads DATABASE_URL as the app has it: passed through unchanged, as in run.
      env: { DATABASE_URL: settings.databaseUrl, PGAPPNAME: alembicAppName('rollback', runId) },
      lockTimeout: settings.lockTimeout,
      statementTimeout: settings.statementTimeout,
      serverVersionNum: server.num,
      signal: opts.signal,
      onLine: (line) => say(`alembic: ${scrub(line)}`),
    }).done;
    const reached = await readCurrentRevisions(client, versionOpts);
    const upgradeMs = Date.now() - t0;
    if (res.exitCode !== 0) {
      const msg = opts.signal?.aborted
        ? `rollback interrupted (signal) during alembic downgrade; the database is at ${reached.join(', ') || 'base'}`
        : `alembic downgrade ${spec} failed (exit ${res.exitCode}): ${scrub(failureLine(res.tail))}; the database is at ${reached.join(', ') || 'base'}`;
      recorded = true;
      await updateRun(client, settings.historySchema, runId, {
        outcome: opts.signal?.aborted ? 'interrupted' : 'failed',
        finishedAt: new Date(),
        reachedRevisions: reached,
        upgradeMs,
        error: msg,
      });
      throw new FailedError(`${msg}. The state before the rollback is in safety dump ${safety.id}.`);
    }
    recorded = true;
    await updateRun(client, settings.historySchema, runId, {
      outcome: 'rolled-back',
      finishedAt: new Date(),
      reachedRevisions: reached,
      upgradeMs,
    });
    say(
      `Rolled back ${current.join(', ') || 'base'} -> ${reached.join(', ') || 'base'} in ${(upgradeMs / 1000).toFixed(1)}s; safety dump ${safety.id}.`,
    );
    return { applied: true, plan, reachedRevisions: reached, safetyDump: safety };
  } catch (err) {
    throw await failedRun({
      client,
      schema: settings.historySchema,
      runId,
      recorded,
      command: 'rollback',
      err,
      signal: opts.signal,
      scrub,
    });
  } finally {
    await lock?.release();
    await client.end().catch(() => undefined);
  }
}
