/** What `check` (and the decision part of `run`) reports, whatever the output format. */
import type { DecisionResult } from '../gate/decide.js';
import type { ClassifiedMigration, Decision, Finding } from '../types.js';

export interface Problem {
  rule: string;
  message: string;
  hint?: string;
  file?: string;
  line?: number;
  severity: Finding['severity'];
}

export interface PendingReport extends ClassifiedMigration {
  /** Why it needs an override (empty when it may run). */
  blockers: string[];
  overridden: boolean;
}

/** What the pending migrations were judged against: one line in every report format. */
export interface Baseline {
  /**
   * `parent`: each migration against its parent, with data in it (plain `check`);
   * `since-ref`: the files added since a git ref as one deploy on top of the rest;
   * `revision`: the set pending from a revision (`--from`, and `run` from the database's revision).
   */
  mode: 'parent' | 'since-ref' | 'revision';
  /** One sentence for people: what counts as applied and what counts as new. */
  text: string;
}

export interface CheckReport {
  baseline: Baseline;
  from: string[];
  to: string[];
  pending: PendingReport[];
  decision: Decision;
  summary: string;
  nextSteps: string[];
  warnings: string[];
  problems: Problem[];
}

export function buildReport(
  from: string[],
  to: string[],
  pending: ClassifiedMigration[],
  result: DecisionResult,
  problems: Problem[],
  baseline: Baseline = revisionBaseline(from),
): CheckReport {
  return {
    baseline,
    from,
    to,
    pending: pending.map((m, i) => ({
      ...m,
      blockers: result.perMigration[i]?.blockers ?? [],
      overridden: result.perMigration[i]?.overridden ?? false,
    })),
    decision: result.decision,
    summary: result.summary,
    nextSteps: result.nextSteps,
    warnings: result.warnings,
    problems,
  };
}

/** The baseline of a pending set that starts at `from` (the database's revision, or `--from`). */
export function revisionBaseline(from: string[]): Baseline {
  return {
    mode: 'revision',
    text:
      from.length > 0
        ? `the database at ${from.join(', ')}: the migrations up to it are applied with data in their tables; tables created in the pending set count as new for the rest of the set`
        : 'base (an empty database): every table is created in the pending set and counts as new for the rest of it',
  };
}
