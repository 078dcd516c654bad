/** Small readers shared by the rules: Alembic argument values, Column() details, PostgreSQL AST nodes. */
import type { AlembicOp, Operation, RuleContext, Value } from './rule.js';
import { parseSql } from './sql.js';

export type Json = Record<string, unknown>;

export function isNewTable(ctx: RuleContext, table: string | undefined): boolean {
  return table !== undefined && ctx.newTables.has(table.toLowerCase());
}

export function isOp(op: Operation, ...names: string[]): op is AlembicOp {
  return op.kind === 'op' && names.includes(op.name);
}

export function str(v: Value | undefined): string | undefined {
  return v?.kind === 'str' ? v.value : undefined;
}

/**
 * An object name as written: a literal, or wrapped in `op.f("ix_name")` / `conv("...")` (which only
 * mark it as final). undefined when it is computed at run time.
 */
export function nameOf(v: Value | undefined): string | undefined {
  if (v?.kind === 'str') return v.value;
  if (v?.kind === 'call' && (v.fn === 'f' || v.fn === 'conv') && v.args.length === 1) return str(v.args[0]);
  return undefined;
}

export function isTrue(v: Value | undefined): boolean {
  return v?.kind === 'bool' && v.value;
}

/** Python-ish rendering of a value for messages: `sa.String(50)`, `"x"`. */
export function show(v: Value | undefined): string {
  if (!v) return '?';
  switch (v.kind) {
    case 'str':
      return JSON.stringify(v.value);
    case 'num':
      return String(v.value);
    case 'bool':
      return v.value ? 'True' : 'False';
    case 'none':
      return 'None';
    case 'name':
      return v.name;
    case 'list':
      return `[${v.items.map(show).join(', ')}]`;
    case 'call':
      return `${v.callee}(${[...v.args.map(show), ...Object.entries(v.kwargs).map(([k, x]) => `${k}=${show(x)}`)].join(', ')})`;
    case 'dynamic':
      return v.text;
  }
}

/** Table name for messages: the literal one, or a placeholder saying it is not known. */
export function tableLabel(table: string | undefined): string {
  return table ?? '<table known only at run time>';
}

export interface ColumnInfo {
  name?: string;
  type?: Value;
  nullable?: boolean;
  primaryKey: boolean;
  serverDefault?: Value;
  foreignKeys: string[];
  /** `sa.Identity(...)` or `sa.Computed(...)` among the arguments: values filled in for every row. */
  generated?: 'identity' | 'computed';
}

/** What an `sa.Column("name", sa.Type, ..., nullable=False, server_default=...)` says. */
export function columnInfo(v: Value | undefined): ColumnInfo | undefined {
  if (v?.kind !== 'call' || v.fn !== 'Column') return undefined;
  const info: ColumnInfo = { primaryKey: isTrue(v.kwargs.primary_key), foreignKeys: [] };
  for (const a of v.args) {
    if (a.kind === 'str' && info.name === undefined) info.name = a.value;
    else if (a.kind === 'call' && a.fn === 'ForeignKey')
      info.foreignKeys.push(str(a.args[0]) ?? show(a.args[0]));
    else if (a.kind === 'call' && (a.fn === 'Identity' || a.fn === 'Computed'))
      info.generated = a.fn === 'Identity' ? 'identity' : 'computed';
    else if ((a.kind === 'call' || a.kind === 'name') && info.type === undefined) info.type = a;
  }
  info.name ??= str(v.kwargs.name);
  info.type ??= v.kwargs.type_;
  const n = v.kwargs.nullable;
  if (n?.kind === 'bool') info.nullable = n.value;
  if (v.kwargs.server_default && v.kwargs.server_default.kind !== 'none')
    info.serverDefault = v.kwargs.server_default;
  return info;
}

/**
 * Built-ins known not to be volatile (IMMUTABLE or STABLE: evaluated once for ADD COLUMN ... DEFAULT,
 * so PostgreSQL 11+ stores the value in the catalog instead of rewriting the table). Anything else
 * may be volatile: CREATE FUNCTION defaults to VOLATILE, and gen_random_uuid(), random(),
 * clock_timestamp() and nextval() are. Allow-listing: a function is cheap only when it is known.
 */
const NON_VOLATILE = new Set([
  'now',
  'transaction_timestamp',
  'statement_timestamp',
  'current_date',
  'current_setting',
  'date_trunc',
  'make_date',
  'make_time',
  'make_timestamp',
  'make_timestamptz',
  'make_interval',
  'to_timestamp',
  'to_date',
  'to_char',
  'timezone',
  'lower',
  'upper',
  'length',
  'concat',
  'concat_ws',
  'substr',
  'substring',
  'replace',
  'trim',
  'btrim',
  'ltrim',
  'rtrim',
  'md5',
  'abs',
  'round',
  'floor',
  'ceil',
  'greatest',
  'least',
  'json_build_object',
  'jsonb_build_object',
  'json_build_array',
  'jsonb_build_array',
  'to_json',
  'to_jsonb',
  'array_length',
  'cardinality',
]);

/** Aggregates and catalog readers a SELECT may call without changing anything. */
const READ_ONLY = new Set([
  ...NON_VOLATILE,
  'count',
  'sum',
  'min',
  'max',
  'avg',
  'bool_and',
  'bool_or',
  'array_agg',
  'string_agg',
  'json_agg',
  'jsonb_agg',
  'exists',
  'to_regclass',
  'to_regtype',
  'version',
  'current_database',
  'current_schema',
  'pg_relation_size',
  'pg_total_relation_size',
  'format',
  'coalesce',
  'nullif',
]);

/** Names of the functions called anywhere in a libpg-query AST. */
export function funcNames(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) {
    for (const n of node) funcNames(n, out);
  } else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node as Json)) {
      if (k === 'FuncCall') {
        const names = ((v as Json).funcname as Json[] | undefined)?.map(
          (n) => (n.String as Json)?.sval as string,
        );
        if (names?.length) out.push(names[names.length - 1]!.toLowerCase());
      }
      funcNames(v, out);
    }
  }
  return out;
}

/** The first function a SQL default expression calls that is not known to be non-volatile. */
export function volatileInSqlExpr(expr: unknown): string | undefined {
  return funcNames(expr).find((f) => !NON_VOLATILE.has(f));
}

/** The first function a SELECT calls that is not a known read-only built-in (it may change data). */
export function sideEffectCall(select: unknown): string | undefined {
  return funcNames(select).find((f) => !READ_ONLY.has(f));
}

/** The volatile function in an Alembic server_default (`sa.text("gen_random_uuid()")`, `sa.func.random()`). */
export function volatileInServerDefault(v: Value): string | undefined {
  if (v.kind === 'call' && v.fn === 'text' && v.args[0]?.kind === 'str') {
    const parsed = parseSql(`SELECT ${v.args[0].value}`);
    return parsed.ok ? volatileInSqlExpr(parsed.statements[0]?.node) : undefined;
  }
  if (v.kind === 'call' && v.callee.includes('func.')) {
    const fn = v.fn.toLowerCase();
    if (!NON_VOLATILE.has(fn)) return fn;
    return v.args.map((a) => volatileInServerDefault(a)).find(Boolean);
  }
  return undefined;
}

/** Row-writing statements in a statement: itself and its data-modifying CTEs (`WITH d AS (DELETE ...)`). */
export function writesOf(type: string, node: Json): Array<{ type: string; node: Json }> {
  const out: Array<{ type: string; node: Json }> = [];
  if (type === 'DeleteStmt' || type === 'UpdateStmt' || type === 'InsertStmt') out.push({ type, node });
  const ctes = ((node.withClause as Json | undefined)?.ctes as Json[] | undefined) ?? [];
  for (const c of ctes) {
    const q = (c.CommonTableExpr as Json | undefined)?.ctequery as Json | undefined;
    const [t] = Object.keys(q ?? {});
    if (q && t) out.push(...writesOf(t, q[t] as Json));
  }
  return out;
}

/** PostgreSQL 11 stores a non-volatile ADD COLUMN default in the catalog instead of rewriting the table. */
export function fastDefaults(ctx: RuleContext): boolean {
  return ctx.serverVersionNum === undefined || ctx.serverVersionNum >= 110000;
}

// ---------------------------------------------------------------- PostgreSQL AST

export function relName(rangeVar: unknown): string | undefined {
  const r = rangeVar as Json | undefined;
  return typeof r?.relname === 'string' ? r.relname : undefined;
}

/** A name from libpg-query nodes (String, List, TypeName, ObjectWithArgs, or a list of them) as `public.users`. */
export function nameList(node: unknown): string {
  if (Array.isArray(node)) return node.map(nameList).join('.');
  const n = node as Json | undefined;
  if (!n || typeof n !== 'object') return '?';
  if (n.String) return String((n.String as Json).sval);
  if (n.List) return nameList((n.List as Json).items ?? []);
  if (n.TypeName) return nameList((n.TypeName as Json).names ?? []);
  if (n.ObjectWithArgs) return nameList((n.ObjectWithArgs as Json).objname ?? []);
  if (n.names) return nameList(n.names);
  return '?';
}

/** The last segment of a possibly schema-qualified name, the part newTables holds. */
export function baseName(name: string): string {
  return name.split('.').pop() ?? name;
}

export interface AlterCmd {
  subtype: string;
  name?: string;
  def?: Json;
}

export function alterCmds(node: Json): AlterCmd[] {
  return ((node.cmds as Json[] | undefined) ?? []).map((c) => c.AlterTableCmd as AlterCmd);
}

export function constraintsOf(columnDef: Json | undefined): Json[] {
  return ((columnDef?.constraints as Json[] | undefined) ?? []).map((c) => c.Constraint as Json);
}

/** Constraints an ALTER TABLE adds: `ADD CONSTRAINT ...` and those declared on `ADD COLUMN ...`. */
export function addedConstraints(alterTable: Json): Json[] {
  return alterCmds(alterTable).flatMap((c) =>
    c.subtype === 'AT_AddConstraint'
      ? [c.def?.Constraint as Json]
      : c.subtype === 'AT_AddColumn'
        ? constraintsOf(c.def?.ColumnDef as Json)
        : [],
  );
}

/** Type name of a ColumnDef/TypeCast typeName, without pg_catalog, with its modifiers (`varchar(20)`). */
export function typeNameText(typeName: Json | undefined): string {
  if (!typeName) return '?';
  const names = ((typeName.names as Json[] | undefined) ?? [])
    .map((n) => (n.String as Json)?.sval as string)
    .filter((n) => n !== 'pg_catalog');
  const mods = ((typeName.typmods as Json[] | undefined) ?? []).map(
    (m) => ((((m.A_Const as Json)?.ival as Json)?.ival as number | undefined) ?? '?') as number | string,
  );
  return `${names.join('.')}${mods.length ? `(${mods.join(',')})` : ''}`;
}

// ---------------------------------------------------------------- alembic-postgresql-enum

export interface EnumColumnRef {
  schema?: string;
  table: string;
  column: string;
}

/** What an `op.sync_enum_values(...)` call says, as far as its arguments are literal. */
export interface SyncEnumCall {
  schema?: string;
  name?: string;
  /** undefined: not a literal list of strings. */
  newValues?: string[];
  /** undefined: not literal; [] when the call names none. */
  columns?: EnumColumnRef[];
  /** (old, new) pairs; undefined: not literal. */
  renames?: Array<[string, string]>;
  /** downgrade()'s matching call: the values it restores (the set before this upgrade). */
  restores?: string[];
  /**
   * alembic-autogenerate-enums' older form `(schema, name, old_values, new_values)`: the arguments
   * are not the ones this reading assumes.
   */
  otherForm: boolean;
}

function strings(v: Value | undefined): string[] | undefined {
  if (v?.kind !== 'list') return undefined;
  const out: string[] = [];
  for (const i of v.items) {
    if (i.kind !== 'str') return undefined;
    out.push(i.value);
  }
  return out;
}

/** `TableReference(table_schema=..., table_name=..., column_name=...)` or a `("table", "column")` tuple. */
function columnRef(v: Value): EnumColumnRef | undefined {
  if (v.kind === 'call' && v.fn === 'TableReference') {
    const table = str(v.kwargs.table_name);
    const column = str(v.kwargs.column_name);
    return table && column ? { schema: str(v.kwargs.table_schema), table, column } : undefined;
  }
  const pair = strings(v);
  return pair?.length === 2 ? { table: pair[0]!, column: pair[1]! } : undefined;
}

export function syncEnumCall(op: AlembicOp): SyncEnumCall {
  const p = op.params;
  const name = str(p.enum_name ?? p.name);
  const positional3 = p.new_values;
  const otherForm =
    p.old_values !== undefined ||
    (p.affected_columns?.kind === 'list' &&
      p.affected_columns.items.length > 0 &&
      strings(p.affected_columns) !== undefined);
  const cols = p.affected_columns;
  let columns: EnumColumnRef[] | undefined;
  if (cols === undefined || cols.kind === 'none') columns = [];
  else if (cols.kind === 'list') {
    const refs = cols.items.map(columnRef);
    columns = refs.every((r) => r !== undefined) ? (refs as EnumColumnRef[]) : undefined;
  }
  const ren = p.enum_values_to_rename;
  let renames: Array<[string, string]> | undefined = [];
  if (ren !== undefined && ren.kind !== 'none') {
    const pairs = ren.kind === 'list' ? ren.items.map(strings) : [undefined];
    renames = pairs.every((x) => x?.length === 2) ? (pairs as Array<[string, string]>) : undefined;
  }
  return {
    schema: str(p.enum_schema ?? p.schema),
    name,
    newValues: strings(positional3),
    columns,
    renames,
    restores: strings(op.restores),
    otherForm,
  };
}
