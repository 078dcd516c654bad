/**
 * `run`: the pre-deploy gate. Connect, lock, read where the database is, classify what is pending,
 * decide, take a verified safety dump, run `alembic upgrade`, check where the database ended up, and
 * record every step in the history table. Every failure is recorded and rethrown as a typed error.
 */
import path from 'node:path';
import type pg from 'pg';
import type { RenderEnv, Settings } from '../config/settings.js';
import { invalidIndexes, poolerReason, serverVersion, tableSizes } from '../db/catalog.js';
import { connect, describeTarget, parseDatabaseUrl, redact, type DbTarget } from '../db/connect.js';
import {
  ensureHistory,
  getRun,
  runThatReached,
  startRun,
  updateRun,
  type RunDump,
  type RunOutcome,
  type RunPatch,
} from '../db/history.js';
import { acquireGateLock, type GateLock } from '../db/lock.js';
import { readCurrentRevisions } from '../db/version.js';
import { ConfigError, FailedError, GateError } from '../errors.js';
import type { Logger } from '../log.js';
import type { CheckReport } from '../report/model.js';
import type { Policy } from './decide.js';
import { loadProject } from './project.js';

export interface RunOptions {
  settings: Settings;
  render: RenderEnv;
  logger: Logger;
  /** Where ALEMBIC_CONFIG is resolved from and alembic runs. */
  cwd: string;
  /** Aborted on SIGTERM/SIGINT: the running child gets the signal, the run is recorded as interrupted. */
  signal?: AbortSignal;
  /** Called with the classification report before anything runs (the CLI prints it). */
  onReport?: (report: CheckReport) => void;
  now?: () => Date;
}

export interface RunResult {
  outcome: RunOutcome;
  runId: number;
  summary: string;
  nextSteps: string[];
  report?: CheckReport;
  dump?: RunDump;
}

function policyFrom(settings: Settings, render: RenderEnv): Policy {
  return {
    allow: settings.allow,
    allowReason: settings.allowReason,
    lockingBlockRows: settings.lockingBlockRows,
    codeRollback: settings.codeRollback,
    ignoreOverride: render.isPullRequest === true && settings.previewPolicy === 'block',
  };
}

/** A dump is about to be taken: the target must exist and, on Render, outlive the pre-deploy instance. */
function dumpSettingsCheck(settings: Settings, render: RenderEnv): void {
  const problems: string[] = [];
  if (settings.dumpPolicy !== 'never' && !settings.dumpTarget) {
    problems.push(
      'MIGRATION_GATE_DUMP_TARGET is not set: the gate takes a safety dump before migrating; set it to s3://bucket/prefix (or file:///dir for local runs), or set MIGRATION_GATE_DUMP_POLICY=never to accept migrating without one',
    );
  }
  if (
    render.onRender &&
    settings.dumpPolicy !== 'never' &&
    settings.dumpTarget?.startsWith('file:') &&
    !settings.acceptEphemeralDump
  ) {
    problems.push(
      'MIGRATION_GATE_DUMP_TARGET is a local directory, but on Render the pre-deploy command runs on an instance whose disk is discarded when it ends: the dump would be gone seconds later. Use an S3-compatible bucket (s3://bucket/prefix with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, and MIGRATION_GATE_S3_ENDPOINT for R2/B2/MinIO), or set MIGRATION_GATE_ACCEPT_EPHEMERAL_DUMP=true to accept the risk',
    );
  }
  if (problems.length > 0) {
    throw new ConfigError(
      `${problems.length} configuration problem${problems.length > 1 ? 's' : ''}: fix the settings below and re-run`,
      problems.map((p) => `- ${p}`),
    );
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

export async function runGate(opts: RunOptions): Promise<RunResult> {
  const { settings, render, logger } = opts;
  const now = opts.now ?? (() => new Date());
  const started = now();
  const schema = settings.historySchema;
  const target: DbTarget = parseDatabaseUrl(settings.databaseUrl!);
  const secrets = target.password ? [target.password] : [];
  const scrub = (s: string) => redact(s, secrets);
  if (render.isPullRequest && settings.previewPolicy === 'skip') {
    logger.info(
      'Preview environment (IS_PULL_REQUEST=true) and MIGRATION_GATE_PREVIEW_POLICY=skip: the gate does nothing here.',
    );
    return { outcome: 'noop', runId: 0, summary: 'Skipped: preview environment.', nextSteps: [] };
  }

  const client = await connect(target, {
    connectTimeoutMs: settings.connectTimeoutMs,
    applicationName: 'migration-gate run',
  });
  let runId = 0;
  let lock: GateLock | undefined;
  const record = async (patch: RunPatch) => {
    if (!runId) return;
    try {
      await updateRun(client, schema, runId, patch);
    } catch (err) {
      logger.error(
        `could not write the run record: ${scrub(err instanceof Error ? err.message : String(err))}`,
      );
    }
  };
  const finish = async (outcome: RunOutcome, patch: RunPatch = {}) => {
    const end = now();
    await record({ ...patch, outcome, finishedAt: end, durationMs: end.getTime() - started.getTime() });
  };
  try {
    await ensureHistory(client, schema);
    runId = await startRun(client, schema, {
      command: 'run',
      service: render.service ?? null,
      serviceId: render.serviceId ?? null,
      commit: render.commit ?? null,
      isPullRequest: render.isPullRequest ?? null,
    });
    logger.info(`Connected to ${describeTarget(target)} as ${target.user}; run #${runId}.`);

    lock = await acquireGateLock(client, { waitMs: settings.lockWaitMs, signal: opts.signal });
    const current = await readCurrentRevisions(client, {
      table: settings.versionTable,
      schema: settings.versionTableSchema,
    });
    const loaded = await loadProject(path.resolve(opts.cwd, settings.alembicConfig));
    // What `alembic upgrade heads` targets (heads that are only a depends_on of another are not targets).
    const heads = loaded.graph.resolve('heads');
    const revisions = { fromRevisions: current, toRevisions: heads };

    // Nothing pending and nothing odd: the path every deploy takes. No dump, no Python.
    if (
      loaded.graphProblems.length === 0 &&
      loaded.graph.unknown(current).length === 0 &&
      loaded.graph.pending(current, heads).length === 0 &&
      settings.dumpPolicy !== 'always'
    ) {
      const summary = `Nothing pending: the database is at ${current.join(', ') || 'base'}, the code's head. Nothing was run.`;
      if (settings.allow.length > 0) {
        logger.warn(
          `MIGRATION_GATE_ALLOW is set (${settings.allow.join(', ')}) but nothing is pending: remove it so it cannot allow a later migration by accident.`,
        );
      }
      logger.info(summary);
      await finish('noop', { ...revisions, decision: 'noop', reachedRevisions: current });
      return { outcome: 'noop', runId, summary, nextSteps: [] };
    }
    await record(revisions);

    // Loaded only past the no-op path: that path runs on every deploy and should start fast.
    const [{ analyse }, { takeVerifiedSafetyDump }, { runAlembic, failureLine }] = await Promise.all([
      import('./check.js'),
      import('./safety-dump.js'),
      import('../alembic/runner.js'),
    ]);
    const server = await serverVersion(client);
    const appliedByGate: Record<string, { at: string; commit?: string | null }> = {};
    for (const rev of loaded.graph.unknown(current)) {
      const run = await runThatReached(client, schema, rev);
      if (run)
        appliedByGate[rev] = { at: (run.finishedAt ?? run.startedAt).toISOString(), commit: run.commit };
    }
    const analysis = await analyse({
      loaded,
      current,
      targets: heads,
      policy: policyFrom(settings, render),
      serverVersionNum: server.num,
      tableSizes: (tables) => tableSizes(client, tables),
      appliedByGate,
    });
    const { result, report } = analysis;
    opts.onReport?.(report);
    for (const w of result.warnings) logger.warn(w);
    const decisionPatch: RunPatch = {
      decision: result.decision,
      pending: analysis.pending,
      override: result.override,
      warnings: result.warnings,
    };

    if (result.outcome === 'blocked') {
      // The CLI prints the summary and next steps; the log keeps one line for the record.
      logger.error(result.summary);
      await finish('blocked', { ...decisionPatch, reachedRevisions: current, error: result.summary });
      return { outcome: 'blocked', runId, summary: result.summary, nextSteps: result.nextSteps, report };
    }
    if (result.outcome === 'code-rollback') {
      logger.warn(result.summary);
      await finish('code-rollback', { ...decisionPatch, reachedRevisions: current });
      return {
        outcome: 'code-rollback',
        runId,
        summary: result.summary,
        nextSteps: result.nextSteps,
        report,
      };
    }
    logger.info(result.summary);

    // Optional precondition: the same upgrade on a scratch copy first; a failure blocks before production is touched.
    if (settings.rehearseBeforeRun && result.outcome === 'migrate') {
      const { rehearseBeforeRun } = await import('../rehearse/rehearse.js');
      const rehearsal = await rehearseBeforeRun({ settings, cwd: opts.cwd, logger, signal: opts.signal });
      if (!rehearsal.passed) {
        logger.error(rehearsal.summary);
        await finish('blocked', { ...decisionPatch, reachedRevisions: current, error: rehearsal.summary });
        return {
          outcome: 'blocked',
          runId,
          summary: rehearsal.summary,
          nextSteps: rehearsal.nextSteps,
          report,
        };
      }
      logger.info(rehearsal.summary);
    }

    // Safety dump: nothing runs without a verified one (unless the policy says never, recorded).
    let dump: RunDump | undefined;
    if (settings.dumpPolicy === 'never') {
      logger.warn('MIGRATION_GATE_DUMP_POLICY=never: migrating WITHOUT a safety dump (recorded in history).');
      await record({ ...decisionPatch, dumpPolicy: 'never' });
    } else {
      await record({ ...decisionPatch, dumpPolicy: settings.dumpPolicy });
      // Checked only now: a deploy with nothing to migrate needs no dump target.
      dumpSettingsCheck(settings, render);
      dump = await takeVerifiedSafetyDump({
        settings,
        render,
        target,
        server,
        current,
        next: heads,
        info: (line) => logger.info(line),
        warn: (line) => logger.warn(line),
        scrub,
        signal: opts.signal,
        now: opts.now,
      });
      await record({ dump });
    }
    if (result.outcome === 'noop') {
      await finish('noop', { reachedRevisions: current });
      return { outcome: 'noop', runId, summary: result.summary, nextSteps: [], report, dump };
    }

    const pooler = poolerReason(target);
    if (pooler) {
      logger.warn(
        `DATABASE_URL looks like a connection pooler (${pooler}): in transaction mode it defeats lock_timeout/statement_timeout and advisory locks; point the gate at the direct database URL.`,
      );
    }

    // The upgrade, retried on lock_timeout (its transaction rolled back, so a retry is safe).
    const upgradeStart = Date.now();
    const targetSpec = heads.length === 1 ? heads[0]! : 'heads';
    // libpq reads PGAPPNAME: it tags alembic's session so an interrupted run can stop its statement.
    const alembicAppName = `migration-gate alembic run ${runId}`;
    let attempt = 0;
    for (;;) {
      attempt++;
      logger.info(
        `Running alembic upgrade ${targetSpec} (attempt ${attempt}, lock_timeout=${settings.lockTimeout}, statement_timeout=${settings.statementTimeout}).`,
      );
      const running = runAlembic(['upgrade', targetSpec], {
        command: settings.alembic,
        iniPath: path.resolve(opts.cwd, settings.alembicConfig),
        cwd: opts.cwd,
        // The app's env.py reads DATABASE_URL as the app itself has it: pass it through unchanged.
        env: { DATABASE_URL: settings.databaseUrl, PGAPPNAME: alembicAppName },
        lockTimeout: settings.lockTimeout,
        statementTimeout: settings.statementTimeout,
        signal: opts.signal,
        onLine: (line) => logger.info(`alembic: ${scrub(line)}`),
      });
      const res = await running.done;
      if (res.exitCode === 0) break;
      const reached = await readCurrentRevisions(client, {
        table: settings.versionTable,
        schema: settings.versionTableSchema,
      });
      if (opts.signal?.aborted) {
        // Killing alembic does not stop its backend: a long statement would keep running and holding
        // locks until it next talks to the client. Stop it now.
        const stopped = await client
          .query(
            'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()',
            [alembicAppName],
          )
          .then((r) => r.rowCount ?? 0)
          .catch(() => 0);
        if (stopped > 0)
          logger.warn(`Stopped ${stopped} database session(s) the interrupted migration left running.`);
        const msg = `interrupted: the deploy was cancelled (signal) during alembic upgrade; the database is at ${reached.join(', ') || 'base'}`;
        await finish('interrupted', {
          reachedRevisions: reached,
          upgradeMs: Date.now() - upgradeStart,
          error: msg,
        });
        throw new FailedError(
          `${msg}. Check it with \`alembic current\`; the next deploy continues from there.`,
        );
      }
      if (res.lockTimeout && attempt <= settings.lockRetries) {
        const wait = settings.retryBackoffMs * 2 ** (attempt - 1);
        logger.warn(
          `The migration gave up waiting for a lock (lock_timeout=${settings.lockTimeout}); its transaction rolled back. Retrying in ${Math.round(wait / 1000)}s (${attempt}/${settings.lockRetries}).`,
        );
        await sleep(wait, opts.signal);
        continue;
      }
      const cause = scrub(failureLine(res.tail));
      const details: string[] = [];
      for (const idx of await invalidIndexes(client).catch(() => [])) {
        details.push(
          `INVALID index ${idx.schema}.${idx.name} on ${idx.table} was left by an interrupted CREATE INDEX CONCURRENTLY: drop it with ${idx.fix}`,
        );
      }
      const why = res.lockTimeout
        ? `it waited longer than lock_timeout=${settings.lockTimeout} for a lock ${attempt} time(s); find the blocking session in pg_stat_activity or deploy at a quieter time`
        : 'see the alembic output above';
      const msg = `alembic upgrade failed (exit ${res.exitCode}): ${cause}; the database is at ${reached.join(', ') || 'base'}`;
      await finish('failed', {
        reachedRevisions: reached,
        upgradeMs: Date.now() - upgradeStart,
        error: msg,
        warnings: [...result.warnings, ...details],
      });
      throw new FailedError(
        `${msg}. Cause: ${why}. The safety dump is ${dump ? dump.location : 'not taken'}.`,
        details,
      );
    }
    const upgradeMs = Date.now() - upgradeStart;

    const reached = await readCurrentRevisions(client, {
      table: settings.versionTable,
      schema: settings.versionTableSchema,
    });
    const expected = [...heads].sort();
    if (reached.join(',') !== expected.join(',')) {
      const msg = `alembic upgrade exited 0 but the database is at ${reached.join(', ') || 'base'}, not the code's head ${expected.join(', ')}`;
      await finish('failed', { reachedRevisions: reached, upgradeMs, error: msg });
      throw new FailedError(
        `${msg}: check env.py (does it read DATABASE_URL? the same version table?) and run \`alembic current\`.`,
      );
    }
    const summary = `Migrated ${current.join(', ') || 'base'} -> ${reached.join(', ')} in ${(upgradeMs / 1000).toFixed(1)}s${dump ? `; safety dump ${dump.location} (${dump.bytes} bytes, sha256 ${dump.sha256.slice(0, 12)}…)` : ''}.`;
    await finish('migrated', { reachedRevisions: reached, upgradeMs });
    return { outcome: 'migrated', runId, summary, nextSteps: [], report, dump };
  } catch (err) {
    if (runId) {
      const interrupted = opts.signal?.aborted === true;
      const message =
        err instanceof GateError ? err.message : err instanceof Error ? err.message : String(err);
      // finish() may already have recorded this failure; re-recording the same outcome is harmless.
      const reached = await readCurrentRevisions(client, {
        table: settings.versionTable,
        schema: settings.versionTableSchema,
      }).catch(() => null);
      const outcome: RunOutcome =
        err instanceof GateError && err.kind === 'blocked'
          ? 'blocked'
          : interrupted
            ? 'interrupted'
            : 'failed';
      await finish(outcome, { error: scrub(message), ...(reached ? { reachedRevisions: reached } : {}) });
    }
    if (err instanceof GateError) throw err;
    throw new FailedError(
      `the gate failed unexpectedly: ${scrub(err instanceof Error ? err.message : String(err))}`,
      [],
      { cause: err },
    );
  } finally {
    await lock?.release();
    if (runId) await notify(opts, client, runId, secrets);
    await client.end().catch(() => undefined);
  }
}

/** Webhook and Pushgateway at the end of a run. They never change the outcome or the exit code. */
async function notify(opts: RunOptions, client: pg.Client, runId: number, secrets: string[]): Promise<void> {
  const { settings, logger } = opts;
  if (!settings.webhookUrl && !settings.pushgatewayUrl) return;
  const run = await getRun(client, settings.historySchema, runId).catch(() => null);
  if (!run) return;
  if (settings.webhookUrl) {
    const { notifyWebhook } = await import('../notify/webhook.js');
    const res = await notifyWebhook(run, {
      url: settings.webhookUrl,
      format: settings.webhookFormat,
      events: settings.webhookEvents as Array<'blocked' | 'failed' | 'succeeded'>,
      statusUrl: settings.statusUrl,
      secrets,
    });
    if (res.error)
      logger.warn(
        `Webhook not delivered after ${res.attempts} attempt(s): ${res.error}. The run itself is unaffected.`,
      );
  }
  if (settings.pushgatewayUrl) {
    const { pushRunMetrics } = await import('../notify/pushgateway.js');
    const res = await pushRunMetrics(run, { url: settings.pushgatewayUrl, job: 'migration_gate' });
    if (res.error) logger.warn(`Pushgateway push failed: ${res.error}. The run itself is unaffected.`);
  }
}
