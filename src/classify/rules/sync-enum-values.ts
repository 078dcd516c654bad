/**
 * alembic-postgresql-enum's op.sync_enum_values always replaces the type: it renames the old one,
 * creates the new one, moves every affected column with ALTER COLUMN ... TYPE new USING col::text::new
 * (a rewrite of the table under ACCESS EXCLUSIVE) and drops the old type, whatever the values change.
 */
import { isNewTable, isOp, syncEnumCall, type EnumColumnRef, type SyncEnumCall } from '../facts.js';
import type { Rule, RuleContext, RuleHit } from '../rule.js';

export const quoted = (values: string[]): string => values.map((v) => `'${v}'`).join(', ');

export function enumTypeLabel(call: SyncEnumCall): string {
  return call.schema && call.schema !== 'public' ? `${call.schema}.${call.name}` : (call.name ?? '?');
}

export interface EnumChange {
  added: string[];
  removed: string[];
  renamed: Array<[string, string]>;
}

/** The values before the call: the schema model's, else downgrade()'s matching call's. */
export function enumBefore(call: SyncEnumCall, ctx: RuleContext): string[] | undefined {
  return ctx.model.enumValues(call.name) ?? call.restores;
}

export function enumChange(before: string[], call: SyncEnumCall): EnumChange {
  const next = call.newValues ?? [];
  const renamed = (call.renames ?? []).filter(([from]) => before.includes(from));
  const renamedFrom = new Set(renamed.map(([from]) => from));
  const renamedTo = new Set(renamed.map(([, to]) => to));
  return {
    added: next.filter((v) => !before.includes(v) && !renamedTo.has(v)),
    removed: before.filter((v) => !next.includes(v) && !renamedFrom.has(v)),
    renamed,
  };
}

/** The call is read only when its arguments are literal (else unknown-operation stops it). */
export function readableSync(call: SyncEnumCall): boolean {
  return (
    !call.otherForm &&
    call.name !== undefined &&
    call.newValues !== undefined &&
    call.columns !== undefined &&
    call.renames !== undefined
  );
}

function why(change: EnumChange | undefined): string {
  if (!change) return 'the values it had before are not known, so the call is taken as this rewrite';
  const { added, removed, renamed } = change;
  if (removed.length === 0 && renamed.length === 0)
    return added.length > 0
      ? `even though it only adds ${quoted(added)}`
      : 'even though the values do not change';
  return `it also ${[
    removed.length > 0 ? `removes ${quoted(removed)}` : '',
    renamed.length > 0 ? `renames ${renamed.map(([a, b]) => `'${a}' to '${b}'`).join(', ')}` : '',
  ]
    .filter(Boolean)
    .join(' and ')}`;
}

function hint(type: string, change: EnumChange | undefined): string {
  if (change && change.removed.length === 0 && change.renamed.length === 0) {
    const adds = change.added.length > 0 ? change.added : ['<new value>'];
    return `To add values, run ${adds.map((v) => `\`ALTER TYPE ${type} ADD VALUE '${v}'\``).join(', ')} in op.execute inside \`with op.get_context().autocommit_block():\` instead: no rewrite and no table lock.`;
  }
  return `Removing or renaming values needs the rewrite: run it in a quiet window, or add the new values with \`ALTER TYPE ${type} ADD VALUE\` (inside autocommit_block) and keep the old ones in the type.`;
}

function byTable(columns: EnumColumnRef[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const c of columns) {
    const table = c.schema && c.schema !== 'public' ? `${c.schema}.${c.table}` : c.table;
    out.set(table, [...(out.get(table) ?? []), c.column]);
  }
  return out;
}

function typeSwapOnly(type: string, call: SyncEnumCall, ctx: RuleContext): RuleHit[] {
  const users = ctx.model.enumColumns(call.name!);
  // A column the call leaves on the old type makes its DROP TYPE fail: rejected-statement says so.
  if (users.length > 0) return [];
  if (ctx.model.enumValues(call.name) !== undefined) {
    return [
      {
        severity: 'info',
        message: `op.sync_enum_values replaces enum ${type} without moving any column (no column uses it in the schema the history builds): a type swap only, no table is rewritten`,
        hint: 'Nothing to do; if a column of this type exists outside the migrations, list it in affected_columns.',
      },
    ];
  }
  return [
    {
      message: `op.sync_enum_values replaces enum ${type} and names no affected columns: no table is rewritten, but migration-gate does not know the columns of this type (no earlier migration creates it), and if any column still uses it the DROP TYPE of the old type fails at deploy`,
      hint: `Check with \`SELECT attrelid::regclass, attname FROM pg_attribute WHERE atttypid = '${type}'::regtype\` and list every such column in affected_columns (autogenerate does).`,
    },
  ];
}

export const syncEnumValues: Rule = {
  id: 'sync-enum-values',
  category: 'locking',
  severity: 'warning',
  summary: 'op.sync_enum_values rewrites every affected table under ACCESS EXCLUSIVE, even to add a value.',
  check(op, ctx) {
    if (!isOp(op, 'sync_enum_values')) return [];
    const call = syncEnumCall(op);
    if (!readableSync(call)) return [];
    const type = enumTypeLabel(call);
    if (call.columns!.length === 0) return typeSwapOnly(type, call, ctx);
    const before = enumBefore(call, ctx);
    const change = before ? enumChange(before, call) : undefined;
    // A table created in the same pending set is empty: its rewrite is instant.
    const tables = [...byTable(call.columns!)].filter(([table]) => !isNewTable(ctx, table));
    return tables.map(([table, cols]) => ({
      table,
      message: `op.sync_enum_values on enum ${type} rewrites ${table}: it recreates the type and runs ${cols.map((c) => `ALTER TABLE ${table} ALTER COLUMN ${c} TYPE ${type} USING ${c}::text::${type}`).join('; ')}, which rewrites every row under an ACCESS EXCLUSIVE lock (reads and writes of ${table} wait until it is done); ${why(change)}`,
      hint: hint(type, change),
    }));
  },
};
export default syncEnumValues;
