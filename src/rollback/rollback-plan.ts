/**
 * What `rollback` would do, decided before anything changes: which downgrades run, which of them are
 * destructive, how many rows the tables they drop hold now, and what the plan says about the way back
 * (a downgrade reverses the schema, not the data; the pre-deploy dump is named by its id).
 */
import pg from 'pg';
import { classifyMigrations, initClassifier, verdictOf } from '../classify/index.js';
import type { Settings } from '../config/settings.js';
import { tableSizes } from '../db/catalog.js';
import type { RunRecord } from '../db/history.js';
import type { LoadedProject } from '../gate/project.js';
import type { ClassifiedMigration } from '../types.js';

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
  /** The safety dump the undone run took before its upgrade (null: it took none). */
  preDeployDumpId: string | null;
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

export async function buildRollbackPlan(args: {
  client: pg.Client;
  loaded: LoadedProject;
  last: RunRecord;
  current: string[];
  settings: Settings;
  serverVersionNum: number;
}): Promise<RollbackPlan> {
  const { last, current, settings } = args;
  const to = last.fromRevisions;
  const scripts = args.loaded.graph.pending(to, current).reverse();
  await initClassifier();
  await args.loaded.loadBodies(scripts);
  const undone = classifyMigrations(scripts, { serverVersionNum: args.serverVersionNum });
  const destructive = undone
    .filter((m) => verdictOf(m.downgradeFindings) !== 'additive')
    .map((m) => m.revision);
  const tables = [
    ...new Set(
      undone.flatMap((m) => m.downgradeFindings.filter((f) => f.table && !f.allowed).map((f) => f.table!)),
    ),
  ];
  const affected = await countTables(args.client, tables);
  const allowAll = settings.allow.some((a) => a.toLowerCase() === 'all');
  const notAllowed = allowAll ? [] : destructive.filter((r) => !settings.allow.includes(r));
  return {
    runId: last.id,
    current,
    to,
    undone,
    destructive,
    affected,
    notAllowed,
    preDeployDumpId: last.dump?.id ?? null,
  };
}

export const downgradeSpec = (plan: RollbackPlan): string => plan.to[0] ?? 'base';

/** The command that puts back the state before the undone deploy, or why there is none. */
export function restoreHint(plan: RollbackPlan): string {
  return plan.preDeployDumpId
    ? `migration-gate restore --dump ${plan.preDeployDumpId} --yes`
    : `(none: run #${plan.runId} took no safety dump)`;
}

/** Said in the plan: the downgrade is not the way back for data. */
export function dataWarning(plan: RollbackPlan): string {
  const restore = plan.preDeployDumpId
    ? `restore the dump run #${plan.runId} took before its upgrade: ${restoreHint(plan)}`
    : `run #${plan.runId} took no safety dump (MIGRATION_GATE_DUMP_POLICY=never), so there is no pre-deploy dump to restore`;
  return `Data the upgrade deleted or rewrote does NOT come back with a downgrade (downgrade() only reverses the schema). To get the pre-deploy data back instead, ${restore}.`;
}

/** Said in the result, in other words than the plan (no sentence twice in one output). */
export function dataReminder(plan: RollbackPlan): string {
  return plan.preDeployDumpId
    ? `Rows the upgrade deleted or rewrote are still as the upgrade left them; the state before run #${plan.runId} is in dump ${plan.preDeployDumpId}: ${restoreHint(plan)}`
    : `Rows the upgrade deleted or rewrote are still as the upgrade left them, and run #${plan.runId} took no dump to restore them from.`;
}

type DowngradeFinding = RollbackPlan['undone'][number]['downgradeFindings'][number];

/**
 * A downgrade that drops a table usually drops its indexes first; "queries fall back to scans" is
 * noise next to "every row is deleted". Those index drops are counted on the table's line instead.
 */
function foldIndexDrops(findings: DowngradeFinding[]): {
  shown: DowngradeFinding[];
  indexesOf: Map<string, number>;
} {
  const dropped = new Set(findings.filter((f) => f.rule === 'drop-table' && f.table).map((f) => f.table!));
  const indexesOf = new Map<string, number>();
  const shown = findings.filter((f) => {
    if (f.rule !== 'drop-index' || !f.table || !dropped.has(f.table) || f.allowed) return true;
    indexesOf.set(f.table, (indexesOf.get(f.table) ?? 0) + 1);
    return false;
  });
  return { shown, indexesOf };
}

/** The plan, one line each (printed with or without --yes). */
export function rollbackPlanLines(
  plan: RollbackPlan,
  last: RunRecord,
  where: string,
  settings: Settings,
): string[] {
  const spec = downgradeSpec(plan);
  const lines = [
    `Rollback plan: alembic downgrade ${spec} on ${where}, undoing run #${last.id} (${(last.finishedAt ?? last.startedAt).toISOString()}).`,
    `  from ${plan.current.join(', ') || 'base'} to ${spec}; ${plan.undone.length} downgrade(s), newest first:`,
  ];
  const rowsOf = (t: string) => {
    const a = plan.affected.find((x) => x.table === t);
    if (!a || a.rows === null) return '';
    return ` [${t}: ${a.exact ? '' : '~'}${a.rows} row${a.rows === 1 ? '' : 's'} now]`;
  };
  for (const m of plan.undone) {
    const kind = plan.destructive.includes(m.revision) ? 'DESTRUCTIVE' : 'safe';
    lines.push(`  ${m.revision}${m.message ? ` ${m.message}` : ''} (${m.file}): downgrade is ${kind}`);
    const { shown, indexesOf } = foldIndexDrops(m.downgradeFindings);
    for (const f of shown) {
      const indexes = f.rule === 'drop-table' && f.table ? (indexesOf.get(f.table) ?? 0) : 0;
      const with_ = indexes
        ? `; ${indexes === 1 ? 'an index' : `${indexes} indexes`} on it ${indexes === 1 ? 'is' : 'are'} dropped first`
        : '';
      lines.push(
        `    - ${f.rule}: ${f.message}${with_}${f.table ? rowsOf(f.table) : ''}${f.allowed ? ` (allowed in the file: ${f.allowed.reason})` : ''}`,
      );
    }
  }
  if (plan.destructive.length > 0) {
    lines.push(
      plan.notAllowed.length > 0
        ? `  Blocked without an override: set MIGRATION_GATE_ALLOW=${plan.notAllowed.join(',')} and MIGRATION_GATE_ALLOW_REASON="why losing this data is fine" to proceed.`
        : `  Destructive downgrade allowed by MIGRATION_GATE_ALLOW (reason: ${settings.allowReason ?? ''}).`,
    );
  }
  lines.push(`  ${dataWarning(plan)}`);
  lines.push('  A safety dump of the current state is taken first; the rollback is recorded in history.');
  return lines;
}

/** The one-line cause of a blocked rollback (history row) and the error's next steps. */
export function blockedText(plan: RollbackPlan): { cause: string; message: string } {
  const rows =
    plan.affected.map((a) => `${a.table}: ${a.rows ?? '?'} rows`).join(', ') || 'see the plan above';
  const cause = `the downgrade of ${plan.notAllowed.join(', ')} is destructive (${rows}) and MIGRATION_GATE_ALLOW does not name it`;
  const instead = plan.preDeployDumpId
    ? `or restore the pre-deploy dump instead (${restoreHint(plan)})`
    : `(run #${plan.runId} took no safety dump to restore instead)`;
  return {
    cause,
    message: `${cause}: set MIGRATION_GATE_ALLOW=${plan.notAllowed.join(',')} with MIGRATION_GATE_ALLOW_REASON, ${instead}`,
  };
}
