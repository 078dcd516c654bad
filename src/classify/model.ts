/**
 * A small schema model replayed from the history's operations: tables, columns (type, nullability),
 * constraints (with their validated state), indexes, partitioned tables. Rules read it as of the
 * operation they judge (the migration's parent plus the earlier operations of the same migration).
 *
 * Unknown stays unknown: a table the model never saw created is treated as existing and populated,
 * and a column it does not know has unknown nullability. It is built from the Operations the
 * extractor already returns, one cheap step per operation, so replaying a long history costs little.
 */
import {
  alterCmds,
  baseName,
  columnInfo,
  constraintsOf,
  isTrue,
  relName,
  show,
  str,
  typeNameText,
  type Json,
  nameList,
  nameOf,
  syncEnumCall,
} from './facts.js';
import type { AlembicOp, Operation, Value } from './rule.js';
import { parseSql } from './sql.js';

export type ConstraintKind = 'check' | 'foreign-key' | 'unique' | 'primary-key' | 'exclude' | 'other';

export interface ConstraintState {
  name?: string;
  kind: ConstraintKind;
  validated: boolean;
  columns: string[];
  /** For `CHECK (col IS NOT NULL)`: that column. */
  notNullOf?: string;
  /** Sequence number of the migration that added it (see SchemaModel.migration). */
  addedIn: number;
  /** Added inside autocommit_block() (committed at once, its lock released). */
  autocommit: boolean;
}

export interface ColumnState {
  type?: string;
  /** The enum type it is declared with (`sa.Enum(..., name="x")`), lower-cased. */
  enum?: string;
  /** undefined: not known (e.g. a column of a table the model only knows from a later ADD COLUMN). */
  nullable?: boolean;
}

export interface TableState {
  columns: Map<string, ColumnState>;
  constraints: ConstraintState[];
  partitioned: boolean;
}

/** What the live catalog says about one table (run only); it replaces the model's view of it. */
export interface CatalogTable {
  columns: Array<{ name: string; type: string; nullable: boolean }>;
  constraints: Array<{
    name: string;
    kind: ConstraintKind;
    validated: boolean;
    columns: string[];
    notNullOf?: string;
  }>;
  partitioned: boolean;
}

/** What the catalog query returns for one table (src/db/catalog.ts tableFacts), before interpretation. */
export interface CatalogFacts {
  columns: Array<{ name: string; type: string; nullable: boolean }>;
  /** contype as pg_constraint has it (c, f, u, p, x, t), and pg_get_constraintdef() text. */
  constraints: Array<{
    name: string;
    type: string;
    validated: boolean;
    columns: string[];
    definition: string;
  }>;
  partitioned: boolean;
}

const CONTYPE: Record<string, ConstraintKind> = {
  c: 'check',
  f: 'foreign-key',
  u: 'unique',
  p: 'primary-key',
  x: 'exclude',
};

/** The catalog's facts as the model holds them: a CHECK's definition is parsed for `col IS NOT NULL`. */
export function catalogTable(f: CatalogFacts): CatalogTable {
  return {
    columns: f.columns,
    partitioned: f.partitioned,
    constraints: f.constraints.map((k) => {
      const kind = CONTYPE[k.type] ?? 'other';
      let notNullOf: string | undefined;
      if (kind === 'check') {
        const parsed = parseSql(`ALTER TABLE t ADD CONSTRAINT c ${k.definition}`);
        const node = parsed.ok ? parsed.statements[0]?.node : undefined;
        const con = node ? (alterCmds(node)[0]?.def?.Constraint as Json | undefined) : undefined;
        notNullOf = notNullColumnOfExpr(con?.raw_expr);
      }
      return { name: k.name, kind, validated: k.validated, columns: k.columns, notNullOf };
    }),
  };
}

/** A name as the model keys it: the unqualified, unquoted, lower-cased name. */
export function modelKey(name: string): string {
  return baseName(name.replace(/"/g, '')).toLowerCase();
}

const lower = (s: string): string => s.toLowerCase();

/** `col IS NOT NULL` (SQL text or parsed expression) -> `col`. */
function notNullColumnOfExpr(expr: unknown): string | undefined {
  const test = (expr as Json | undefined)?.NullTest as Json | undefined;
  if (!test || test.nulltesttype !== 'IS_NOT_NULL') return undefined;
  const fields = ((test.arg as Json | undefined)?.ColumnRef as Json | undefined)?.fields as
    Json[] | undefined;
  const last = fields?.[fields.length - 1]?.String as Json | undefined;
  return typeof last?.sval === 'string' ? lower(last.sval) : undefined;
}

export function notNullColumnOfSql(condition: string): string | undefined {
  const parsed = parseSql(`SELECT ${condition}`);
  if (!parsed.ok || parsed.statements.length !== 1) return undefined;
  const target = ((parsed.statements[0]!.node.targetList as Json[] | undefined)?.[0]?.ResTarget ??
    {}) as Json;
  return notNullColumnOfExpr(target.val);
}

/** The text of a condition argument: a string, or `sa.text("...")`. */
function conditionText(v: Value | undefined): string | undefined {
  if (v?.kind === 'str') return v.value;
  if (v?.kind === 'call' && v.fn === 'text') return str(v.args[0]);
  return undefined;
}

function strList(v: Value | undefined): string[] {
  if (v?.kind === 'list') return v.items.flatMap((i) => (i.kind === 'str' ? [lower(i.value)] : []));
  return v?.kind === 'str' ? [lower(v.value)] : [];
}

function names(list: unknown): string[] {
  return ((list as Json[] | undefined) ?? []).map((n) => lower(String((n.String as Json)?.sval)));
}

const SQL_KIND: Record<string, ConstraintKind> = {
  CONSTR_CHECK: 'check',
  CONSTR_FOREIGN: 'foreign-key',
  CONSTR_UNIQUE: 'unique',
  CONSTR_PRIMARY: 'primary-key',
  CONSTR_EXCLUSION: 'exclude',
};

const SA_KIND: Record<string, ConstraintKind> = {
  CheckConstraint: 'check',
  ForeignKeyConstraint: 'foreign-key',
  UniqueConstraint: 'unique',
  PrimaryKeyConstraint: 'primary-key',
  ExcludeConstraint: 'exclude',
};

export class SchemaModel {
  readonly tables = new Map<string, TableState>();
  /** Index name -> its table and columns (expressions left out). */
  readonly indexes = new Map<string, { table: string; columns: string[] }>();
  /**
   * Enum types the history created, by unqualified lower-cased name -> their labels in order.
   * An enum missing here is one the model never saw created (its values are unknown).
   */
  readonly enums = new Map<string, string[]>();
  /** Sequence number of the migration being replayed (constraints remember where they came from). */
  migration = 0;

  enumValues(name: string | undefined): string[] | undefined {
    return name === undefined ? undefined : this.enums.get(modelKey(name));
  }

  /** Columns the model knows to be of an enum type, as `table.column`. */
  enumColumns(name: string): string[] {
    const key = modelKey(name);
    const out: string[] = [];
    for (const [table, t] of this.tables) {
      for (const [column, c] of t.columns) {
        if (c.enum === key || (c.type !== undefined && modelKey(c.type) === key))
          out.push(`${table}.${column}`);
      }
    }
    return out;
  }

  /** `sa.Enum("a", "b", name="x")` / `postgresql.ENUM(...)` as a column type: the type it creates. */
  private enumOfType(v: Value | undefined): string | undefined {
    if (v?.kind !== 'call' || (v.fn !== 'Enum' && v.fn !== 'ENUM')) return undefined;
    const name = str(v.kwargs.name);
    if (!name) return undefined;
    const key = modelKey(name);
    const labels = v.args.flatMap((a) => (a.kind === 'str' ? [a.value] : []));
    // create_table / add_column create the type with these labels unless it exists (create_type=False).
    if (labels.length > 0 && !this.enums.has(key)) this.enums.set(key, labels);
    return key;
  }

  table(name: string | undefined): TableState | undefined {
    return name === undefined ? undefined : this.tables.get(modelKey(name));
  }

  column(table: string | undefined, column: string | undefined): ColumnState | undefined {
    return column === undefined ? undefined : this.table(table)?.columns.get(lower(column));
  }

  /** A constraint by name on a table (or, when the table is unknown, on any table). */
  constraint(table: string | undefined, name: string | undefined): ConstraintState | undefined {
    if (!name) return undefined;
    const key = lower(name);
    const t = this.table(table);
    return t?.constraints.find((c) => c.name === key);
  }

  /** A validated `CHECK (col IS NOT NULL)` on the table. */
  notNullCheck(table: string | undefined, column: string | undefined): ConstraintState | undefined {
    if (!column) return undefined;
    return this.table(table)?.constraints.find((c) => c.validated && c.notNullOf === lower(column));
  }

  /** Replaces what the model says about a table with the live catalog's view (run only). */
  overlay(name: string, t: CatalogTable): void {
    this.tables.set(modelKey(name), {
      columns: new Map(t.columns.map((c) => [lower(c.name), { type: c.type, nullable: c.nullable }])),
      constraints: t.constraints.map((c) => ({ ...c, name: lower(c.name), addedIn: -1, autocommit: true })),
      partitioned: t.partitioned,
    });
  }

  apply(op: Operation): void {
    if (op.kind === 'op') this.applyOp(op);
    else if (op.kind === 'sql') this.applySql(op.stmt.type, op.stmt.node, op.autocommit);
    else if (op.kind === 'object-drop' && op.object === 'table' && op.name)
      this.tables.delete(modelKey(op.name));
  }

  // ------------------------------------------------------------------------------- Alembic ops

  private ensure(name: string): TableState {
    const key = modelKey(name);
    let t = this.tables.get(key);
    if (!t) {
      // Seen first through an ALTER: the table existed before the history the model saw.
      t = { columns: new Map(), constraints: [], partitioned: false };
      this.tables.set(key, t);
    }
    return t;
  }

  private addConstraint(table: string, c: Omit<ConstraintState, 'addedIn'>): void {
    const t = this.ensure(table);
    if (c.kind === 'primary-key') for (const col of c.columns) this.setNullable(t, col, false);
    t.constraints.push({ ...c, addedIn: this.migration });
  }

  private setNullable(t: TableState, column: string, nullable: boolean): void {
    const col = t.columns.get(column) ?? {};
    t.columns.set(column, { ...col, nullable });
  }

  private saConstraint(table: string, v: Value, autocommit: boolean): void {
    if (v.kind !== 'call' || !SA_KIND[v.fn]) return;
    const kind = SA_KIND[v.fn]!;
    const name = str(v.kwargs.name);
    const cond = kind === 'check' ? conditionText(v.args[0]) : undefined;
    const columns =
      kind === 'check'
        ? []
        : v.args.flatMap((a) => strList(a)).slice(0, kind === 'foreign-key' ? 1 : undefined);
    this.addConstraint(table, {
      name: name ? lower(name) : undefined,
      kind,
      validated: true,
      columns,
      notNullOf: cond ? notNullColumnOfSql(cond) : undefined,
      autocommit,
    });
  }

  private createTable(op: AlembicOp): void {
    const table = op.table!;
    const t: TableState = {
      columns: new Map(),
      constraints: [],
      partitioned: op.params.postgresql_partition_by !== undefined,
    };
    this.tables.set(modelKey(table), t);
    for (const v of op.rest) {
      const col = columnInfo(v);
      if (col?.name) {
        t.columns.set(lower(col.name), {
          type: col.type ? show(col.type) : undefined,
          enum: this.enumOfType(col.type),
          nullable: col.primaryKey ? false : (col.nullable ?? true),
        });
        if (col.primaryKey)
          this.addConstraint(table, {
            kind: 'primary-key',
            validated: true,
            columns: [lower(col.name)],
            autocommit: op.autocommit,
          });
      } else {
        this.saConstraint(table, v, op.autocommit);
      }
    }
  }

  private applyOp(op: AlembicOp): void {
    if (op.name === 'sync_enum_values') return this.syncEnum(op);
    const table = op.table;
    if (!table) return;
    const p = op.params;
    const name = nameOf(p.constraint_name);
    const validated = !isTrue(p.postgresql_not_valid);
    switch (op.name) {
      case 'create_table':
        return this.createTable(op);
      case 'drop_table':
        this.tables.delete(modelKey(table));
        return;
      case 'rename_table': {
        const to = str(p.new_table_name);
        const t = this.table(table);
        this.tables.delete(modelKey(table));
        if (to && t) this.tables.set(modelKey(to), t);
        return;
      }
      case 'add_column': {
        const col = columnInfo(p.column);
        if (!col?.name) return;
        this.ensure(table).columns.set(lower(col.name), {
          type: col.type ? show(col.type) : undefined,
          enum: this.enumOfType(col.type),
          nullable: col.primaryKey ? false : (col.nullable ?? true),
        });
        return;
      }
      case 'drop_column': {
        const c = str(p.column_name);
        if (c) this.ensure(table).columns.delete(lower(c));
        return;
      }
      case 'alter_column':
        return this.alterColumn(op);
      case 'create_index': {
        const ix = nameOf(p.index_name);
        if (ix) this.indexes.set(lower(ix), { table: modelKey(table), columns: strList(p.columns) });
        return;
      }
      case 'drop_index': {
        const ix = nameOf(p.index_name);
        if (ix) this.indexes.delete(lower(ix));
        return;
      }
      case 'create_check_constraint': {
        const cond = conditionText(p.condition);
        this.addConstraint(table, {
          name: name && lower(name),
          kind: 'check',
          validated,
          columns: [],
          notNullOf: cond ? notNullColumnOfSql(cond) : undefined,
          autocommit: op.autocommit,
        });
        return;
      }
      case 'create_foreign_key':
        this.addConstraint(table, {
          name: name && lower(name),
          kind: 'foreign-key',
          validated,
          columns: strList(p.local_cols),
          autocommit: op.autocommit,
        });
        return;
      case 'create_unique_constraint':
      case 'create_primary_key':
        this.addConstraint(table, {
          name: name && lower(name),
          kind: op.name === 'create_unique_constraint' ? 'unique' : 'primary-key',
          validated: true,
          columns: strList(p.columns),
          autocommit: op.autocommit,
        });
        return;
      case 'drop_constraint': {
        const t = this.table(table);
        if (t && name) t.constraints = t.constraints.filter((c) => c.name !== lower(name));
        return;
      }
    }
  }

  private syncEnum(op: AlembicOp): void {
    const call = syncEnumCall(op);
    if (!call.name || call.otherForm) return;
    const key = modelKey(call.name);
    // Values not literal: what the type holds afterwards is unknown.
    if (call.newValues) this.enums.set(key, call.newValues);
    else this.enums.delete(key);
    for (const ref of call.columns ?? []) {
      const t = this.ensure(ref.table);
      const c = lower(ref.column);
      t.columns.set(c, { ...(t.columns.get(c) ?? {}), enum: key });
    }
  }

  private alterColumn(op: AlembicOp): void {
    const c = str(op.params.column_name);
    if (!c || !op.table) return;
    const t = this.ensure(op.table);
    const key = lower(c);
    const col = { ...(t.columns.get(key) ?? {}) };
    const n = op.params.nullable;
    if (n?.kind === 'bool') col.nullable = n.value;
    if (op.params.type_ && op.params.type_.kind !== 'none') {
      col.type = show(op.params.type_);
      col.enum = this.enumOfType(op.params.type_);
    }
    const to = str(op.params.new_column_name);
    if (to) t.columns.delete(key);
    t.columns.set(to ? lower(to) : key, col);
  }

  // ------------------------------------------------------------------------------- raw SQL

  private sqlConstraint(table: string, k: Json, autocommit: boolean, column?: string): void {
    const kind = SQL_KIND[String(k.contype)];
    if (!kind) {
      if (k.contype === 'CONSTR_NOTNULL' && column) this.setNullable(this.ensure(table), column, false);
      return;
    }
    const columns = column ? [column] : kind === 'foreign-key' ? names(k.fk_attrs) : names(k.keys);
    this.addConstraint(table, {
      name: typeof k.conname === 'string' ? lower(k.conname) : undefined,
      kind,
      validated: !k.skip_validation,
      columns,
      notNullOf: kind === 'check' ? notNullColumnOfExpr(k.raw_expr) : undefined,
      autocommit,
    });
  }

  private sqlColumn(table: string, def: Json, autocommit: boolean): void {
    const column = lower(String(def.colname));
    this.ensure(table).columns.set(column, { type: typeNameText(def.typeName as Json), nullable: true });
    for (const k of constraintsOf(def)) this.sqlConstraint(table, k, autocommit, column);
  }

  private applySql(type: string, n: Json, autocommit: boolean): void {
    if (type === 'CreateStmt') {
      const table = relName(n.relation);
      if (!table) return;
      this.tables.set(modelKey(table), {
        columns: new Map(),
        constraints: [],
        partitioned: n.partspec !== undefined,
      });
      for (const e of (n.tableElts as Json[] | undefined) ?? []) {
        if (e.ColumnDef) this.sqlColumn(table, e.ColumnDef as Json, autocommit);
        else if (e.Constraint) this.sqlConstraint(table, e.Constraint as Json, autocommit);
      }
    } else if (type === 'CreateEnumStmt') {
      const labels = ((n.vals as Json[] | undefined) ?? []).map((v) => String((v.String as Json)?.sval));
      this.enums.set(modelKey(nameList(n.typeName)), labels);
    } else if (type === 'AlterEnumStmt') {
      this.alterEnumSql(n);
    } else if (type === 'DropStmt' && n.removeType === 'OBJECT_TYPE') {
      for (const o of (n.objects as Json[] | undefined) ?? []) this.enums.delete(modelKey(nameList(o)));
    } else if (type === 'AlterTableStmt' && n.objtype === 'OBJECT_TABLE') {
      const table = relName(n.relation);
      if (table) this.alterTableSql(table, n, autocommit);
    } else if (type === 'IndexStmt') {
      const table = relName(n.relation);
      if (table && typeof n.idxname === 'string') {
        const columns = ((n.indexParams as Json[] | undefined) ?? []).flatMap((e) => {
          const name = (e.IndexElem as Json | undefined)?.name;
          return typeof name === 'string' ? [lower(name)] : [];
        });
        this.indexes.set(lower(n.idxname), { table: modelKey(table), columns });
      }
    } else if (type === 'DropStmt' && n.removeType === 'OBJECT_TABLE') {
      for (const o of (n.objects as Json[] | undefined) ?? []) {
        const parts = names((o.List as Json | undefined)?.items);
        if (parts.length) this.tables.delete(modelKey(parts[parts.length - 1]!));
      }
    } else if (type === 'RenameStmt' && n.renameType === 'OBJECT_TABLE') {
      const from = relName(n.relation);
      const t = this.table(from);
      if (from) this.tables.delete(modelKey(from));
      if (t) this.tables.set(modelKey(String(n.newname)), t);
    } else if (type === 'RenameStmt' && n.renameType === 'OBJECT_COLUMN') {
      const t = this.table(relName(n.relation));
      const from = lower(String(n.subname));
      const col = t?.columns.get(from);
      if (t && col) {
        t.columns.delete(from);
        t.columns.set(lower(String(n.newname)), col);
      }
    }
  }

  private alterEnumSql(n: Json): void {
    const labels = this.enums.get(modelKey(nameList(n.typeName)));
    if (!labels) return;
    const value = String(n.newVal);
    if (n.oldVal !== undefined) {
      const at = labels.indexOf(String(n.oldVal));
      if (at >= 0) labels[at] = value;
    } else if (!labels.includes(value)) {
      const near = n.newValNeighbor === undefined ? -1 : labels.indexOf(String(n.newValNeighbor));
      if (near < 0) labels.push(value);
      // protobuf JSON leaves false out: no newValIsAfter means BEFORE the neighbour.
      else labels.splice(n.newValIsAfter === true ? near + 1 : near, 0, value);
    }
  }

  private alterTableSql(table: string, n: Json, autocommit: boolean): void {
    for (const c of alterCmds(n)) {
      const t = this.ensure(table);
      const col = c.name ? lower(c.name) : undefined;
      switch (c.subtype) {
        case 'AT_AddColumn':
          this.sqlColumn(table, c.def?.ColumnDef as Json, autocommit);
          break;
        case 'AT_DropColumn':
          if (col) t.columns.delete(col);
          break;
        case 'AT_SetNotNull':
        case 'AT_DropNotNull':
          if (col) this.setNullable(t, col, c.subtype === 'AT_DropNotNull');
          break;
        case 'AT_AlterColumnType':
          if (col)
            t.columns.set(col, {
              ...(t.columns.get(col) ?? {}),
              type: typeNameText((c.def?.ColumnDef as Json | undefined)?.typeName as Json),
            });
          break;
        case 'AT_AddConstraint':
          this.sqlConstraint(table, c.def?.Constraint as Json, autocommit);
          break;
        case 'AT_ValidateConstraint': {
          const k = col ? t.constraints.find((x) => x.name === col) : undefined;
          if (k) k.validated = true;
          break;
        }
        case 'AT_DropConstraint':
          if (col) t.constraints = t.constraints.filter((x) => x.name !== col);
          break;
      }
    }
  }
}
