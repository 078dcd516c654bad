import {
  alterCmds,
  isNewTable,
  isOp,
  relName,
  show,
  str,
  tableLabel,
  typeNameText,
  type Json,
} from '../facts.js';
import type { Rule, RuleContext, RuleHit, Value } from '../rule.js';
import { parseSql } from '../sql.js';

type Kind = 'varchar' | 'text' | 'numeric' | 'other';
type TypeFacts = { kind: Kind; args: (number | undefined)[]; collation?: string };
const KINDS: Record<string, Kind> = {
  string: 'varchar',
  varchar: 'varchar',
  unicode: 'varchar',
  text: 'text',
  unicodetext: 'text',
  numeric: 'numeric',
  decimal: 'numeric',
};

/**
 * A type as the schema model or the live catalog spells it (`character varying(50)`,
 * `numeric(10,2)`, `text`), read by PostgreSQL's own parser as the target of a cast. Anything
 * it does not read as one plain type stays unknown.
 */
export function describeTypeText(text: string | undefined): TypeFacts | undefined {
  if (!text) return undefined;
  // An op-written type without arguments (`sa.Text()`) is not SQL; without the parentheses it is.
  const sqlText = text.endsWith('()') ? text.slice(0, -2) : text;
  const parsed = parseSql(`SELECT NULL::${sqlText}`);
  if (!parsed.ok || parsed.statements.length !== 1) return undefined;
  const target = (parsed.statements[0]!.node.targetList as Json[] | undefined) ?? [];
  const val =
    target.length === 1 ? ((target[0]!.ResTarget as Json | undefined)?.val as Json | undefined) : undefined;
  const typeName = (val?.TypeCast as Json | undefined)?.typeName as Json | undefined;
  if (!typeName) return undefined;
  if (typeName.arrayBounds) return { kind: 'other', args: [] };
  const names = ((typeName.names as Json[] | undefined) ?? [])
    .map((n) => String((n.String as Json | undefined)?.sval ?? ''))
    .filter((n) => n !== 'pg_catalog');
  const mods = ((typeName.typmods as Json[] | undefined) ?? []).map(
    (m) => ((m.A_Const as Json | undefined)?.ival as Json | undefined)?.ival as number | undefined,
  );
  // The model spells types written as op arguments the way the migration did (`sa.String(50)`).
  const plain = names.length === 1 || (names.length === 2 && SA_PREFIXES.has(names[0]!));
  const kind = plain ? (KINDS[names[names.length - 1]!.toLowerCase()] ?? 'other') : 'other';
  return { kind, args: kind === 'varchar' ? [mods[0]] : [mods[0], mods[1]] };
}

const SA_PREFIXES = new Set(['sa', 'sqlalchemy', 'types', 'postgresql']);

function describe(v: Value | undefined): TypeFacts | undefined {
  if (!v) return undefined;
  const name = v.kind === 'call' ? v.fn : v.kind === 'name' ? (v.name.split('.').pop() ?? '') : undefined;
  if (name === undefined) return undefined;
  const kind = KINDS[name.toLowerCase()] ?? 'other';
  const num = (x: Value | undefined) => (x?.kind === 'num' ? x.value : undefined);
  const args =
    v.kind === 'call'
      ? kind === 'varchar'
        ? [num(v.args[0] ?? v.kwargs.length)]
        : [num(v.args[0] ?? v.kwargs.precision), num(v.args[1] ?? v.kwargs.scale)]
      : [];
  const collation = v.kind === 'call' ? v.kwargs.collation : undefined;
  return { kind, args, ...(collation ? { collation: show(collation) } : {}) };
}

/** Changes PostgreSQL makes without a rewrite and without losing data. */
export function isSafeTypeChange(from: Value | undefined, to: Value | undefined): boolean {
  if (from && show(from) === show(to)) return true;
  return isSafeChange(describe(from), describe(to));
}

/** Binary-coercible changes: PostgreSQL keeps the table's (and its indexes') files. */
export function isSafeChange(a: TypeFacts | undefined, b: TypeFacts | undefined): boolean {
  if (!a || !b) return false;
  // A new collation changes how an index on the column orders: PostgreSQL rebuilds it.
  if ((a.collation ?? '') !== (b.collation ?? '')) return false;
  if (a.kind === 'varchar' && b.kind === 'text') return true;
  if (a.kind === 'text' && b.kind === 'text') return true;
  if (a.kind === 'text' && b.kind === 'varchar') return b.args[0] === undefined;
  if (a.kind === 'varchar' && b.kind === 'varchar') {
    const [n] = a.args;
    const [m] = b.args;
    return m === undefined || (n !== undefined && m >= n);
  }
  if (a.kind === 'numeric' && b.kind === 'numeric') {
    const [p, s] = a.args;
    const [p2, s2] = b.args;
    if (p2 === undefined) return true;
    return p !== undefined && p2 >= p && (s ?? 0) === (s2 ?? 0);
  }
  return false;
}

const HINT =
  'Add a new column of the new type, backfill it in batches, switch the code over, then drop the old column in a later release. If the change is binary-compatible (varchar(n) -> varchar(m > n) or text), pass existing_type= so migration-gate can see that, or allow it with a reason.';

export const alterColumnType: Rule = {
  id: 'alter-column-type',
  category: 'data-loss',
  severity: 'error',
  summary: 'Changes a column type in a way that rewrites the table or can lose data.',
  check(op, ctx) {
    if (isOp(op, 'alter_column') && op.params.type_ && op.params.type_.kind !== 'none') {
      if (isNewTable(ctx, op.table)) return [];
      const column = str(op.params.column_name);
      const given = op.params.existing_type;
      const known = given ? undefined : ctx.model.column(op.table, column)?.type;
      const to = op.params.type_;
      // postgresql_using= recomputes every row whatever the types are.
      const using = op.params.postgresql_using !== undefined;
      if (
        !using &&
        (given ? isSafeTypeChange(given, to) : isSafeChange(describeTypeText(known), describe(to)))
      )
        return [];
      const col = `${tableLabel(op.table)}.${column ?? '?'}`;
      const from = given ? show(given) : known;
      const a = given ? describe(given) : describeTypeText(known);
      const b = describe(to);
      // Same type, other collation: the heap stays, but every index on the column is rebuilt.
      const collationOnly = !using && a && b && isSafeChange({ ...a, collation: b.collation }, b);
      const why = collationOnly
        ? `${from} -> ${show(to)} changes the collation: PostgreSQL keeps the table's rows but rewrites every index on the column under an ACCESS EXCLUSIVE lock, and unique indexes can fail on values the new collation treats as equal`
        : from
          ? `${from} -> ${show(to)}${using ? ' with postgresql_using= (every row is recomputed)' : ''} rewrites the table under an ACCESS EXCLUSIVE lock, and values that do not fit the new type fail or lose precision`
          : `the old type is not given (existing_type=), so this may rewrite the table under an ACCESS EXCLUSIVE lock and lose data that does not fit ${show(to)}`;
      return [{ table: op.table, message: `change type of ${col}: ${why}`, hint: HINT }];
    }
    if (op.kind === 'sql' && op.stmt.type === 'AlterTableStmt') {
      const table = relName(op.stmt.node.relation);
      if (isNewTable(ctx, table)) return [];
      return alterCmds(op.stmt.node)
        .filter((c) => c.subtype === 'AT_AlterColumnType')
        .map((c) => {
          const def = (c.def?.ColumnDef ?? {}) as Record<string, unknown>;
          const to = typeNameText(def.typeName as Record<string, unknown> | undefined);
          const using = def.raw_default ? ' with USING (every row is recomputed)' : '';
          return sqlHit(ctx, table, c.name, to, using, Boolean(def.collClause));
        })
        .filter((h): h is RuleHit => h !== undefined);
    }
    return [];
  },
};

function sqlHit(
  ctx: RuleContext,
  table: string | undefined,
  column: string | undefined,
  to: string,
  using: string,
  collation: boolean,
): RuleHit | undefined {
  const from = ctx.model.column(table, column)?.type;
  if (!using && !collation && isSafeChange(describeTypeText(from), describeTypeText(to))) return undefined;
  return {
    table,
    message: `change type of ${tableLabel(table)}.${column ?? '?'}${from ? ` from ${from}` : ''} to ${to}${using}: unless the change is binary-compatible PostgreSQL rewrites the table under an ACCESS EXCLUSIVE lock, and values that do not convert fail or lose precision`,
    hint: HINT,
  };
}
export default alterColumnType;
