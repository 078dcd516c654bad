/**
 * The classifier's data model: what the extractor produces from upgrade()/downgrade() (Operation),
 * and the typed Rule interface every file in rules/ implements.
 */
import type { Category, Severity } from '../types.js';
import type { SchemaModel } from './model.js';
import type { SqlStatement } from './sql.js';

/** A Python expression evaluated as far as it is literal. */
export type Value =
  | { kind: 'str'; value: string }
  | { kind: 'num'; value: number }
  | { kind: 'bool'; value: boolean }
  | { kind: 'none' }
  /** A call such as `sa.Column("id", sa.Integer)`: `callee` as written, `fn` its last name segment. */
  | { kind: 'call'; callee: string; fn: string; args: Value[]; kwargs: Record<string, Value> }
  | { kind: 'list'; items: Value[] }
  /** A dotted name that is not a call, e.g. `sa.Integer`, `postgresql.UUID`. */
  | { kind: 'name'; name: string }
  /** Not literal: an f-string, a formatted or concatenated string, an unknown variable. */
  | { kind: 'dynamic'; text: string; why: string };

interface OpBase {
  /** 1-based line of the call or statement. */
  line: number;
  /** Inside `with op.get_context().autocommit_block():` (no surrounding transaction). */
  autocommit: boolean;
  /**
   * Done by a helper of the app's own modules that the migration calls on `line`, e.g. `inside
   * myapp.util.drop_legacy()`: findings say so, since the line itself shows only the call.
   */
  via?: string;
}

/** An `op.<name>(...)` or `batch_op.<name>(...)` call, arguments bound to Alembic's parameter names. */
export interface AlembicOp extends OpBase {
  kind: 'op';
  name: string;
  /** Parameters by Alembic's names (`table_name`, `column_name`, `columns`, ...), plus every keyword argument. */
  params: Record<string, Value>;
  /** Positional arguments past the named ones (e.g. the columns of create_table). */
  rest: Value[];
  /** The table it acts on, when literal (for batch ops: the batch_alter_table table). */
  table?: string;
  /** Came from `with op.batch_alter_table(...)`. */
  batch: boolean;
  /**
   * op.sync_enum_values in upgrade(): the values downgrade()'s call for the same enum sets back,
   * which are the values before this migration when no earlier migration tells.
   */
  restores?: Value;
}

/** One statement of raw SQL run through op.execute / connection.execute / exec_driver_sql. */
export interface SqlOp extends OpBase {
  kind: 'sql';
  stmt: SqlStatement;
  /**
   * How many statements the same SQL string holds. PostgreSQL runs a multi-statement string as one
   * implicit transaction, even inside autocommit_block().
   */
  statements?: number;
}

/** SQLAlchemy Core / ORM data changes: sa.update(t), t.delete(), session.query(X).delete(), bulk_insert... */
export interface DataOp extends OpBase {
  kind: 'data';
  action: 'update' | 'delete' | 'insert';
  table?: string;
  /** Source text, for messages. */
  text: string;
}

/** A SQLAlchemy schema object's own .drop(bind): `sa.Enum(name="x").drop(bind)`, `t.drop(bind)`. */
export interface ObjectDropOp extends OpBase {
  kind: 'object-drop';
  object: 'table' | 'type' | 'sequence' | 'index' | 'object';
  name?: string;
  text: string;
}

/** What a call hands a helper: its value as far as literal, and whether it is op or a handle on the database. */
export interface HelperArg {
  value: Value;
  handle?: 'op' | 'connection' | 'engine' | 'dbapi' | 'cursor' | 'session';
}

/** A call of a function imported from another module, kept so the project's own modules can be followed. */
export interface HelperCall {
  /** Through the file's imports: `myapp.migrations_util.drop_legacy`. */
  qualified: string;
  args: HelperArg[];
  kwargs: Record<string, HelperArg>;
  /** Helpers already followed to get here (outermost first): a recursion guard. */
  via?: string[];
}

/** Something the extractor cannot see through. */
export interface OpaqueOp extends OpBase {
  kind: 'opaque';
  /** `too-large`: the file was not analysed at all (above the size cap, or too costly to parse). */
  reason: 'dynamic-sql' | 'external-call' | 'unparsable-sql' | 'unknown-operation' | 'too-large';
  /** What it is, for the message (source text, the parser's message, ...). */
  detail: string;
  /** Why it is a stop, when the rule's generic reason would be vague (e.g. a call on the connection). */
  why?: string;
  /** What to do instead, when more precise than the rule's generic hint. */
  hint?: string;
  /** external-call of an imported function: what is needed to follow it into the project's own module. */
  helper?: HelperCall;
  text: string;
}

export type Operation = AlembicOp | SqlOp | DataOp | ObjectDropOp | OpaqueOp;

export interface RuleContext {
  /** Tables created earlier in this migration or earlier in the pending set (lower-cased). */
  newTables: ReadonlySet<string>;
  /** PostgreSQL server_version_num; absent means "assume a modern server". */
  serverVersionNum?: number;
  phase: 'upgrade' | 'downgrade';
  /**
   * The schema as of this operation: the migration's parent (replayed from the history, the live
   * catalog where `run` has it) plus the earlier operations of the same migration. Read only.
   */
  model: SchemaModel;
}

export interface RuleHit {
  message: string;
  hint: string;
  table?: string;
  /** Overrides the rule's default severity (e.g. info instead of warning). */
  severity?: Severity;
}

export interface Rule {
  /** Kebab-case id, used in findings, allow annotations and docs/rules/<id>.md. */
  id: string;
  category: Category;
  severity: Severity;
  /** One line: what the rule catches. */
  summary: string;
  check(op: Operation, ctx: RuleContext): RuleHit[];
}

/** Path of a rule's documentation, relative to the package root (reports link it). */
export function ruleDocPath(id: string): string {
  return `docs/rules/${id}.md`;
}
