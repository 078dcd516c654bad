/** Shared data shapes between the parser, the graph, the classifier, the gate and the reports. */
import type { PackedBody } from './alembic/packed.js';
import type { Allow } from './classify/allow.js';
import type { Operation } from './classify/rule.js';

/** One Alembic migration file, as read by the Python parser. */
export interface MigrationScript {
  revision: string;
  /** Parents: [] for a root, one for a plain revision, several for a merge. */
  downRevisions: string[];
  branchLabels: string[];
  dependsOn: string[];
  /** Absolute path on disk. */
  path: string;
  /** Path relative to the project directory (where alembic.ini lives), for reports. */
  file: string;
  /** The module docstring's first line (Alembic's "message"), if any. */
  message?: string;
  /**
   * What the classifier needs from upgrade()/downgrade(), extracted while the file's tree was alive
   * (the tree itself is freed). Absent until loaded: only migrations that will be classified get it.
   */
  body?: MigrationBody;
  /** The same facts, serialized (a long history's load keeps them so; read them with bodyOf()). */
  packedBody?: PackedBody;
}

/** The classifier's facts of one migration file: operations, not syntax trees. */
export interface MigrationBody {
  /** upgrade()'s operations in source order; undefined when the file defines no upgrade(). */
  upgrade?: Operation[];
  downgrade?: Operation[];
  /** `# migration-gate: allow ...` annotations, and findings for malformed ones. */
  allows: Allow[];
  allowProblems: Finding[];
  /**
   * Set when only upgrade()'s operations were extracted (a migration replayed into the schema model,
   * not judged): no downgrade(), no allows. Such a body is never classified.
   */
  replayOnly?: true;
}

export type Category = 'data-loss' | 'breaking' | 'locking' | 'opaque' | 'graph' | 'review';
export type Severity = 'error' | 'warning' | 'info';
export type Verdict = 'additive' | 'destructive' | 'unknown';

export interface Finding {
  /** Rule id, kebab-case, e.g. `drop-column`. */
  rule: string;
  category: Category;
  /** 1-based line in the migration file (0 when not tied to a line). */
  line: number;
  /** What happens and why it is risky, naming the table/column. */
  message: string;
  /** The safer way to do it. */
  hint: string;
  severity: Severity;
  /** Table the finding is about, when known (the gate weighs locking findings by its size). */
  table?: string;
  /** Set when an allow annotation in the file covers this finding. */
  allowed?: { reason: string };
}

export interface ClassifiedMigration {
  revision: string;
  file: string;
  message?: string;
  verdict: Verdict;
  findings: Finding[];
  /** What downgrade() would drop or change: the rollback story, reported separately. */
  downgradeFindings: Finding[];
}

export type Decision = 'allow' | 'block' | 'noop';
