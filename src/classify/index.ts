/**
 * The classifier: what each pending migration's upgrade() does, as findings and a verdict.
 * Pure after initClassifier() (which loads the two WASM parsers).
 */
import type { Node } from 'web-tree-sitter';
import { bodyOf } from '../alembic/packed.js';
import { initPythonParser, parsePython } from '../alembic/python.js';
import type { ClassifiedMigration, Finding, MigrationScript, Verdict } from '../types.js';
import { applyAllows } from './allow.js';
import { dotted, evalValue, tableOf } from './extract.js';
import { baseName, isOp, relName, str } from './facts.js';
import { RULES } from './registry.js';
import { SchemaModel, type CatalogTable } from './model.js';
import type { Operation, RuleContext } from './rule.js';
import { initSqlParser } from './sql.js';

export { RULES, ruleById, ruleDocs } from './registry.js';
export { ruleDocPath, type Rule, type Operation } from './rule.js';
export { SchemaModel, catalogTable, type CatalogFacts, type CatalogTable } from './model.js';

export async function initClassifier(): Promise<void> {
  await Promise.all([initPythonParser(), initSqlParser()]);
}

export interface ClassifyOptions {
  /** PostgreSQL server_version_num (e.g. 150004); absent: assume a modern server. */
  serverVersionNum?: number;
  /**
   * `set` (default): the scripts are one pending set, so a table created by one is new (empty) for
   * the later ones. `each`: every migration is judged against its parent alone, with data in every
   * table it did not create itself (the lint mode of a plain `check`).
   */
  scope?: 'set' | 'each';
  /** Migrations applied before the first script, in order: replayed into the schema model, not judged. */
  applied?: MigrationScript[];
  /** The live catalog's view of some tables (run): it replaces the model's after the replay. */
  catalog?: Map<string, CatalogTable>;
}

/** Tables an operation creates (or renames a new table to), lower-cased. */
function createdTables(op: Operation, newTables: Set<string>): string[] {
  if (isOp(op, 'create_table') && op.table) return [op.table];
  if (isOp(op, 'rename_table') && op.table && newTables.has(op.table.toLowerCase())) {
    const to = str(op.params.new_table_name);
    return to ? [to] : [];
  }
  if (op.kind === 'sql') {
    const n = op.stmt.node;
    if (op.stmt.type === 'CreateStmt') return [relName(n.relation)].filter((t): t is string => !!t);
    if (op.stmt.type === 'CreateTableAsStmt') {
      return [relName((n.into as Record<string, unknown> | undefined)?.rel)].filter((t): t is string => !!t);
    }
    if (op.stmt.type === 'RenameStmt' && n.renameType === 'OBJECT_TABLE') {
      const from = relName(n.relation);
      if (from && newTables.has(from.toLowerCase())) return [String(n.newname)];
    }
  }
  return [];
}

/** Runs every rule over the operations in order, recording new tables as they appear. */
function findingsOf(ops: Operation[], ctx: RuleContext, newTables: Set<string>): Finding[] {
  const findings: Finding[] = [];
  for (const op of ops) {
    for (const rule of RULES) {
      for (const hit of rule.check(op, ctx)) {
        const f: Finding = {
          rule: rule.id,
          category: rule.category,
          severity: hit.severity ?? rule.severity,
          line: op.line,
          // A followed helper's operation: the migration's line shows only the call.
          message: op.via && op.kind !== 'opaque' ? `${hit.message} (${op.via})` : hit.message,
          hint: hit.hint,
        };
        if (hit.table !== undefined) f.table = hit.table;
        findings.push(f);
      }
    }
    for (const t of createdTables(op, newTables)) newTables.add(baseName(t).toLowerCase());
    // downgrade() is judged on the schema upgrade() leaves; it does not move the model.
    if (ctx.phase === 'upgrade') ctx.model.apply(op);
  }
  return findings;
}

export function verdictOf(findings: Finding[]): Verdict {
  const live = findings.filter((f) => !f.allowed);
  if (live.some((f) => f.category === 'data-loss' || f.category === 'breaking')) return 'destructive';
  if (live.some((f) => f.category === 'opaque')) return 'unknown';
  return 'additive';
}

function noUpgrade(): Finding {
  return {
    rule: 'unknown-operation',
    category: 'opaque',
    severity: 'error',
    line: 0,
    message: 'no module-level upgrade() function: migration-gate cannot tell what this migration does',
    hint: 'Define `def upgrade() -> None:` at module level, as Alembic expects.',
  };
}

function classifyOne(
  script: MigrationScript,
  newTables: Set<string>,
  model: SchemaModel,
  opts: ClassifyOptions,
): ClassifiedMigration {
  const body = bodyOf(script);
  if (!body || body.replayOnly)
    throw new Error(`${script.file}: classified before its full body was loaded (loadBodies)`);
  model.migration++;
  const base = { newTables, serverVersionNum: opts.serverVersionNum, model };
  const findings = body.upgrade
    ? findingsOf(body.upgrade, { ...base, phase: 'upgrade' }, newTables)
    : [noUpgrade()];
  // downgrade() runs on the database as upgrade() leaves it: its own new tables only.
  const downTables = new Set<string>();
  const downgradeFindings = body.downgrade
    ? findingsOf(
        body.downgrade,
        { newTables: downTables, serverVersionNum: opts.serverVersionNum, phase: 'downgrade', model },
        downTables,
      )
    : [];
  // applyAllows marks allows as used: copies, so classifying the same body twice gives the same result.
  const allows = body.allows.map((a) => ({ ...a }));
  const unused = applyAllows(allows, [findings, downgradeFindings]);
  findings.push(...body.allowProblems.map((f) => ({ ...f })), ...unused);
  const result: ClassifiedMigration = {
    revision: script.revision,
    file: script.file,
    verdict: verdictOf(findings),
    findings,
    downgradeFindings,
  };
  if (script.message !== undefined) result.message = script.message;
  return result;
}

/** Classifies the pending migrations, given in application order (earlier new tables count as new later). */
export function classifyMigrations(
  scripts: MigrationScript[],
  opts: ClassifyOptions = {},
): ClassifiedMigration[] {
  const model = replay(opts.applied ?? []);
  for (const [name, table] of opts.catalog ?? []) model.overlay(name, table);
  const shared = new Set<string>();
  return scripts.map((s) => classifyOne(s, opts.scope === 'each' ? new Set<string>() : shared, model, opts));
}

/** Every table the scripts' upgrade() operations name (as written), for the live catalog to describe. */
export function tablesTouched(scripts: MigrationScript[]): string[] {
  const out = new Set<string>();
  for (const s of scripts) {
    for (const op of bodyOf(s)?.upgrade ?? []) {
      const t =
        op.kind === 'op' || op.kind === 'data'
          ? op.table
          : op.kind === 'sql'
            ? relName(op.stmt.node.relation)
            : undefined;
      if (t) out.add(t);
    }
  }
  return [...out];
}

/** The schema model after the given migrations' upgrade() operations, in order. */
export function replay(scripts: MigrationScript[], model = new SchemaModel()): SchemaModel {
  for (const s of scripts) {
    model.migration++;
    const body = bodyOf(s);
    if (!body) throw new Error(`${s.file}: replayed before its body was loaded (loadBodies)`);
    for (const op of body.upgrade ?? []) model.apply(op);
  }
  return model;
}

/** `context.configure(...)` calls in env.py. */
function configureCalls(root: Node): Node[] {
  return root.descendantsOfType('call').filter((c) => {
    const name = dotted(c.childForFieldName('function'));
    return name !== undefined && name.split('.').pop() === 'configure';
  });
}

/**
 * env.py that runs all pending migrations in one transaction keeps every lock until the last one commits.
 * That matters once two or more pending migrations take strong locks (a later one's lock waits then
 * stack on the earlier one's): only then recommend transaction_per_migration=True. A stock env.py
 * with one such migration pending gets no advice, since committing per migration changes nothing there.
 */
export function envPyAdvice(
  envPySource: string,
  envPyFile: string,
  classified: ClassifiedMigration[],
): Finding[] {
  const locking = classified.filter((c) => c.findings.some((f) => f.category === 'locking' && !f.allowed));
  if (locking.length < 2) return [];
  const root = parsePython(envPySource).rootNode;
  const calls = configureCalls(root);
  const kw = (call: Node, name: string): Node | undefined =>
    call
      .childForFieldName('arguments')
      ?.namedChildren.find((a) => a.type === 'keyword_argument' && a.childForFieldName('name')?.text === name)
      ?.childForFieldName('value') ?? undefined;
  const online = calls.filter((c) => kw(c, 'connection'));
  const relevant = online.length > 0 ? online : calls;
  const perMigration = relevant.some((c) => {
    const v = kw(c, 'transaction_per_migration');
    if (!v) return false;
    const value = evalValue(v, undefined);
    return !(value.kind === 'bool' && !value.value) && value.kind !== 'none';
  });
  if (perMigration) return [];
  const count = locking.reduce(
    (n, c) => n + c.findings.filter((f) => f.category === 'locking' && !f.allowed).length,
    0,
  );
  const revs = locking.map((c) => c.revision).join(', ');
  return [
    {
      rule: 'transaction-per-migration',
      category: 'review',
      severity: classified.length > 1 ? 'warning' : 'info',
      line: relevant[0] ? relevant[0].startPosition.row + 1 : 0,
      message: `${envPyFile} runs all ${classified.length} pending migration(s) in one transaction (context.configure has no transaction_per_migration=True), so the locks behind ${count} locking finding(s) in ${revs} are held until the last migration commits`,
      hint: 'Pass transaction_per_migration=True to context.configure(...) in run_migrations_online(), so each migration commits and releases its locks before the next one starts.',
    },
  ];
}

// Re-exported for reports and tests that want a table name out of an Alembic argument.
export { tableOf };
