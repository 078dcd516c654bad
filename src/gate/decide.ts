/**
 * The decision, as a pure function: no database, no files, no clock. `check` and `run` both call it;
 * `run` adds what only a live database knows (table sizes, the gate's own history).
 */
import type { ClassifiedMigration, Decision, Finding } from '../types.js';

export interface TableSize {
  /** Estimated rows; null when the table was never analysed (then estimated from its size). */
  rows: number | null;
  bytes: number;
}

/** Rows to weigh a locking finding by: the planner's estimate, else ~100 bytes a row. */
function estimatedRows(size: TableSize): number {
  return size.rows ?? Math.round(size.bytes / 100);
}

export interface Policy {
  /** Revisions named in MIGRATION_GATE_ALLOW (`all` allows everything). */
  allow: string[];
  allowReason?: string;
  /** Locking findings on tables with more estimated rows than this block; smaller ones warn. */
  lockingBlockRows: number;
  codeRollback: 'allow' | 'block';
  /** IS_PULL_REQUEST=true and MIGRATION_GATE_PREVIEW_POLICY=block: overrides are ignored. */
  ignoreOverride?: boolean;
}

export interface DecideInput {
  /** Revisions in the database (empty = base). */
  current: string[];
  /** The code's heads (the target). */
  heads: string[];
  /** Current revisions the code does not know. */
  unknownCurrent: string[];
  /**
   * For each unknown current revision that the gate's own history shows a later deploy applied:
   * when (ISO) and by which commit. Present only for those revisions.
   */
  appliedByGate?: Record<string, { at: string; commit?: string | null }>;
  pending: ClassifiedMigration[];
  /** Graph-wide problems (e.g. several heads) as findings; they block and cannot be overridden. */
  graphProblems: Finding[];
  /** Estimated sizes of existing tables, when a database is at hand (lower-case names). */
  tableSizes?: Map<string, TableSize>;
  policy: Policy;
}

export interface PendingDecision {
  revision: string;
  file: string;
  verdict: ClassifiedMigration['verdict'];
  /** Why this migration needs an override; empty when it may run as is. */
  blockers: string[];
  /** True when it was blocked and the override names it (or is `all`). */
  overridden: boolean;
}

export type Outcome = 'noop' | 'migrate' | 'blocked' | 'code-rollback';

export interface DecisionResult {
  decision: Decision;
  outcome: Outcome;
  /** One line: what happened and why. */
  summary: string;
  /** What the operator does next (override command, merge heads, ...). */
  nextSteps: string[];
  perMigration: PendingDecision[];
  /** Problems that block whatever the override says. */
  hardBlocks: string[];
  warnings: string[];
  override: { revisions: string[]; reason: string; all: boolean; unused: string[] } | null;
}

const BLOCKING_CATEGORIES = new Set(['data-loss', 'breaking']);

export function tableKey(name: string): string {
  const bare = name.replace(/"/g, '').toLowerCase();
  return bare.startsWith('public.') ? bare.slice('public.'.length) : bare;
}

function fmtRows(n: number): string {
  return n >= 1_000_000
    ? `${(n / 1_000_000).toFixed(1)}M`
    : n >= 1000
      ? `${(n / 1000).toFixed(0)}k`
      : String(n);
}

/** Why one migration must not run without an override (empty: it may run). Also its warnings. */
function blockersFor(m: ClassifiedMigration, input: DecideInput): { blockers: string[]; warnings: string[] } {
  const blockers: string[] = [];
  const warnings: string[] = [];
  for (const f of m.findings) {
    if (f.allowed) continue;
    const where = `${m.file}:${f.line}`;
    if (BLOCKING_CATEGORIES.has(f.category)) {
      blockers.push(`${f.rule} (${where}): ${f.message}`);
    } else if (f.category === 'opaque') {
      blockers.push(`${f.rule} (${where}): ${f.message}`);
    } else if (f.category === 'locking') {
      const size = f.table && input.tableSizes ? input.tableSizes.get(tableKey(f.table)) : undefined;
      if (size && estimatedRows(size) > input.policy.lockingBlockRows) {
        blockers.push(
          `${f.rule} (${where}): ${f.message} — ${f.table} has about ${fmtRows(estimatedRows(size))} rows, above MIGRATION_GATE_LOCKING_BLOCK_ROWS=${input.policy.lockingBlockRows}`,
        );
      } else {
        const sizeText = size
          ? ` (${f.table}: about ${fmtRows(estimatedRows(size))} rows, under the threshold)`
          : '';
        warnings.push(`${m.revision} ${f.rule} (${where}): ${f.message}${sizeText}`);
      }
    } else if (f.severity !== 'info') {
      warnings.push(`${m.revision} ${f.rule} (${where}): ${f.message}`);
    }
  }
  // A verdict the findings above did not explain (defensive: unknown must never slip through).
  if (blockers.length === 0 && m.verdict !== 'additive') {
    blockers.push(`verdict ${m.verdict}: the analysis could not prove this migration additive`);
  }
  return { blockers, warnings };
}

/** Blocks, next steps, or (code rollback allowed) a finished result when the database is ahead of the code. */
function unknownCurrent(
  input: DecideInput,
  blocked: boolean,
): { done?: DecisionResult; hardBlocks: string[]; nextSteps: string[] } {
  const hardBlocks: string[] = [];
  const nextSteps: string[] = [];
  if (input.unknownCurrent.length === 0) return { hardBlocks, nextSteps };
  const applied = input.unknownCurrent.filter((r) => input.appliedByGate?.[r]);
  const unexplained = input.unknownCurrent.filter((r) => !input.appliedByGate?.[r]);
  if (unexplained.length > 0) {
    hardBlocks.push(
      `the database is at revision ${unexplained.join(', ')}, which is not in this code's migrations and no gate run applied it`,
    );
    nextSteps.push(
      'Find where that revision came from (a migration file deleted or not merged, or a manual `alembic stamp`); restore the file or stamp the database to a known revision with `alembic stamp <rev>`.',
    );
    return { hardBlocks, nextSteps };
  }
  if (blocked) return { hardBlocks, nextSteps };
  const by = applied.map((r) => {
    const a = input.appliedByGate![r]!;
    return `${r} (applied ${a.at}${a.commit ? ` by commit ${a.commit.slice(0, 12)}` : ''})`;
  });
  if (input.policy.codeRollback === 'allow') {
    const done: DecisionResult = {
      decision: 'noop',
      outcome: 'code-rollback',
      summary: `Code rollback: the database is at ${by.join(', ')}, newer than this code; a later deploy migrated it. Nothing was run.`,
      nextSteps: [
        'The older code must cope with the newer schema (additive changes usually do). To take the schema back too, run `migration-gate rollback --yes`.',
      ],
      perMigration: [],
      hardBlocks: [],
      warnings: [],
      override: null,
    };
    return { done, hardBlocks, nextSteps };
  }
  hardBlocks.push(
    `code rollback: the database is at ${by.join(', ')}, which this code does not know (MIGRATION_GATE_CODE_ROLLBACK=block)`,
  );
  nextSteps.push(
    'Deploy the newer code again, or roll the schema back with `migration-gate rollback --yes`, or set MIGRATION_GATE_CODE_ROLLBACK=allow.',
  );
  return { hardBlocks, nextSteps };
}

interface OverrideView {
  override: DecisionResult['override'];
  all: boolean;
  named: string[];
  warnings: string[];
}

/** The override, checked against what is actually pending so a stale flag never allows a later migration. */
function overrideOf(input: DecideInput): OverrideView {
  const { policy } = input;
  const warnings: string[] = [];
  const pendingIds = new Set(input.pending.map((m) => m.revision));
  const all = policy.allow.some((a) => a.toLowerCase() === 'all');
  const named = policy.allow.filter((a) => a.toLowerCase() !== 'all');
  const unused = named.filter((r) => !pendingIds.has(r));
  const override =
    policy.allow.length > 0 ? { revisions: named, reason: policy.allowReason ?? '', all, unused } : null;
  if (unused.length > 0) {
    warnings.push(
      `MIGRATION_GATE_ALLOW names ${unused.join(', ')}, which ${unused.length > 1 ? 'are' : 'is'} not pending: remove ${unused.length > 1 ? 'them' : 'it'} from the flag so it cannot allow anything by accident`,
    );
  }
  if (all && !policy.ignoreOverride) {
    warnings.push(
      `MIGRATION_GATE_ALLOW=all: every pending migration is allowed, destructive or not (reason: ${policy.allowReason ?? 'none'}). Unset it after this deploy.`,
    );
  }
  if (policy.ignoreOverride && policy.allow.length > 0) {
    warnings.push(
      'This is a preview environment (IS_PULL_REQUEST=true) with MIGRATION_GATE_PREVIEW_POLICY=block: the override is ignored.',
    );
  }
  return { override, all, named, warnings };
}

/** Blocked: what needs an override and what blocks outright, in one summary. */
function blockedSummary(stillBlocked: PendingDecision[], hardBlocks: string[]): string {
  const parts: string[] = [];
  if (stillBlocked.length > 0) {
    parts.push(
      `${stillBlocked.length} migration${stillBlocked.length > 1 ? 's' : ''} need${stillBlocked.length > 1 ? '' : 's'} an override (${stillBlocked.map((p) => `${p.revision} ${p.verdict}`).join(', ')})`,
    );
  }
  parts.push(...hardBlocks);
  return `Blocked: ${parts.join('; ')}. Nothing was run.`;
}

/** What `decision` says when nothing blocks: noop, or allow (with who allowed what). */
function openSummary(input: DecideInput, overridden: string[]): string {
  if (input.pending.length === 0) {
    return `Nothing pending: the database is at ${input.current.join(', ') || 'base'}, the code's head${input.heads.length > 1 ? 's' : ''}.`;
  }
  const n = input.pending.length;
  return (
    `Allowed: ${n} pending migration${n > 1 ? 's' : ''} (${input.pending.map((m) => m.revision).join(', ')})` +
    (overridden.length > 0
      ? `; ${overridden.join(', ')} by override (reason: ${input.policy.allowReason ?? ''})`
      : ', all additive') +
    '.'
  );
}

/** Pure: the gate's decision on the pending set, with every reason and next step in words. */
export function decide(input: DecideInput): DecisionResult {
  const { policy } = input;
  const graphBlocks = input.graphProblems.map((p) => p.message);
  const behind = unknownCurrent(input, graphBlocks.length > 0);
  if (behind.done) return behind.done;
  const hardBlocks = [...graphBlocks, ...behind.hardBlocks];
  const nextSteps = [...behind.nextSteps];
  const { override, all, named, warnings } = overrideOf(input);

  const perMigration: PendingDecision[] = input.pending.map((m) => {
    const { blockers, warnings: w } = blockersFor(m, input);
    warnings.push(...w);
    const overridden = blockers.length > 0 && !policy.ignoreOverride && (all || named.includes(m.revision));
    return { revision: m.revision, file: m.file, verdict: m.verdict, blockers, overridden };
  });
  const stillBlocked = perMigration.filter((p) => p.blockers.length > 0 && !p.overridden);
  const common = { perMigration, hardBlocks, warnings, override };

  if (hardBlocks.length > 0 || stillBlocked.length > 0) {
    if (stillBlocked.length > 0) {
      const ids = stillBlocked.map((p) => p.revision).join(',');
      nextSteps.push(
        policy.ignoreOverride
          ? 'Preview environments do not accept overrides here; apply this migration through a normal deploy.'
          : `If you have checked that it is safe, deploy again with MIGRATION_GATE_ALLOW=${ids} and MIGRATION_GATE_ALLOW_REASON="<why it is safe>"; otherwise change the migration (see each finding's hint).`,
      );
    }
    return {
      decision: 'block',
      outcome: 'blocked',
      summary: blockedSummary(stillBlocked, hardBlocks),
      nextSteps,
      ...common,
    };
  }
  const overridden = perMigration.filter((p) => p.overridden).map((p) => p.revision);
  const noop = input.pending.length === 0;
  return {
    decision: noop ? 'noop' : 'allow',
    outcome: noop ? 'noop' : 'migrate',
    summary: openSummary(input, overridden),
    nextSteps: noop ? [] : nextSteps,
    ...common,
  };
}
