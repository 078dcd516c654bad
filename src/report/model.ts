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

export interface CheckReport {
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
): CheckReport {
  return {
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
