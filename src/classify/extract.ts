/**
 * Walks upgrade()/downgrade() (tree-sitter nodes) and yields Operations in source order: op.* and
 * batch_op.* calls with evaluated arguments, raw SQL split into statements, SQLAlchemy Core/ORM data
 * changes, and opaque things (dynamic SQL, calls into other modules, unknown ops).
 * Helper functions defined in the same file are followed at their call sites.
 */
import type { Node } from 'web-tree-sitter';
import type { MigrationBody } from '../types.js';
import {
  scanModule,
  type ModuleScan,
  type TopAssignment,
  type TopStatement,
} from '../alembic/module-scan.js';
import { plainLiteral } from '../alembic/python.js';
import { readAllows } from './allow.js';
import type { AlembicOp, DataOp, HelperArg, HelperCall, OpaqueOp, Operation, Value } from './rule.js';
import { parseSql } from './sql.js';
import { bindMarkersToParams, type ParamStyle } from './sqlparams.js';

interface Scope {
  vars: Map<string, Binding>;
  parent?: Scope;
}
/** `value`: a helper's parameter bound to what the migration's call handed it (see extractHelperCall). */
type Binding =
  | { node: Node; scope: Scope }
  | { dynamic: string }
  | { fn: Node }
  | { value: Value; handle?: HelperArg['handle'] };

/** What the extractor needs to know about the whole file. */
export interface ModuleInfo {
  /** Local name -> what it was imported as (`sa` -> `sqlalchemy`, `backfill` -> `app.data.backfill`). */
  imports: Map<string, string>;
  scope: Scope;
}

interface Walk {
  mod: ModuleInfo;
  scope: Scope;
  /** Batch variables in scope -> their table (undefined when not literal). */
  batches: Map<string, string | undefined>;
  autocommit: boolean;
  /** Helper functions being followed (recursion guard). */
  stack: string[];
  out: Operation[];
  /** Shared by every nested walk of one function: an attribute assigned on a loaded ORM row. */
  orm: { rowWrite?: { text: string; line: number } };
  /** Inside a project module's helper: the helpers followed to get here. */
  via?: string[];
}

/** Modules whose functions are harmless to call or only build objects (types, columns, constructs). */
const SAFE_MODULES = new Set([
  '__future__',
  'alembic',
  'alembic_postgresql_enum',
  'alembic_utils',
  'base64',
  'bisect',
  'contextlib',
  'copy',
  'hashlib',
  'inflection',
  'operator',
  'pprint',
  'random',
  'secrets',
  'slugify',
  'unicodedata',
  'warnings',
  'zoneinfo',
  'collections',
  'dataclasses',
  'datetime',
  'decimal',
  'enum',
  'functools',
  'geoalchemy2',
  'itertools',
  'json',
  'logging',
  'math',
  'os',
  'pgvector',
  're',
  'sqlalchemy',
  'sqlalchemy_utils',
  'sqlmodel',
  'string',
  'sys',
  'textwrap',
  'time',
  'typing',
  'uuid',
]);

/** Alembic op parameters in order; batch ops take the same minus the table parameter. */
const SIGNATURES: Record<string, { params: string[]; table?: string }> = {
  create_table: { params: ['table_name'], table: 'table_name' },
  drop_table: { params: ['table_name'], table: 'table_name' },
  rename_table: { params: ['old_table_name', 'new_table_name'], table: 'old_table_name' },
  add_column: { params: ['table_name', 'column'], table: 'table_name' },
  drop_column: { params: ['table_name', 'column_name'], table: 'table_name' },
  alter_column: { params: ['table_name', 'column_name'], table: 'table_name' },
  create_index: { params: ['index_name', 'table_name', 'columns'], table: 'table_name' },
  drop_index: { params: ['index_name', 'table_name'], table: 'table_name' },
  create_foreign_key: {
    params: ['constraint_name', 'source_table', 'referent_table', 'local_cols', 'remote_cols'],
    table: 'source_table',
  },
  create_check_constraint: { params: ['constraint_name', 'table_name', 'condition'], table: 'table_name' },
  create_unique_constraint: { params: ['constraint_name', 'table_name', 'columns'], table: 'table_name' },
  create_primary_key: { params: ['constraint_name', 'table_name', 'columns'], table: 'table_name' },
  create_exclude_constraint: { params: ['constraint_name', 'table_name'], table: 'table_name' },
  drop_constraint: { params: ['constraint_name', 'table_name', 'type_'], table: 'table_name' },
  bulk_insert: { params: ['table', 'rows'], table: 'table' },
  create_table_comment: { params: ['table_name', 'comment'], table: 'table_name' },
  drop_table_comment: { params: ['table_name'], table: 'table_name' },
  create_sequence: { params: ['sequence'] },
  drop_sequence: { params: ['sequence'] },
  create_entity: { params: ['entity'] },
  replace_entity: { params: ['entity'] },
  drop_entity: { params: ['entity'] },
  // alembic-postgresql-enum
  sync_enum_values: {
    params: ['enum_schema', 'enum_name', 'new_values', 'affected_columns', 'enum_values_to_rename'],
  },
};
export const KNOWN_OPS: ReadonlySet<string> = new Set([...Object.keys(SIGNATURES), 'execute']);
/** op.* helpers that do nothing to the database by themselves. */
const NEUTRAL_OPS = new Set([
  'f',
  'get_bind',
  'get_context',
  'inline_literal',
  'batch_alter_table',
  'implementation_for',
]);

const line = (node: Node): number => node.startPosition.row + 1;
const short = (text: string): string => {
  const one = text.replace(/\s+/g, ' ').trim(); // whitespace folding for messages, not parsing
  return one.length > 80 ? `${one.slice(0, 77)}...` : one;
};

function lookup(scope: Scope | undefined, name: string): Binding | undefined {
  for (let s = scope; s; s = s.parent) {
    const b = s.vars.get(name);
    if (b) return b;
  }
  return undefined;
}

/** `a.b.c` for identifier/attribute chains, else undefined. */
export function dotted(node: Node | null): string | undefined {
  if (!node) return undefined;
  const type = node.type;
  if (type === 'identifier') return node.text;
  if (type === 'attribute') {
    const obj = dotted(node.childForFieldName('object'));
    const attr = node.childForFieldName('attribute');
    return obj && attr ? `${obj}.${attr.text}` : undefined;
  }
  return undefined;
}

function qualify(mod: ModuleInfo, name: string): string {
  const [first, ...rest] = name.split('.');
  const q = mod.imports.get(first!);
  return q ? [q, ...rest].join('.') : name;
}

function isExternal(mod: ModuleInfo, name: string): string | undefined {
  const first = name.split('.')[0]!;
  const q = mod.imports.get(first);
  if (q === undefined) return undefined;
  const top = q.split('.')[0]!;
  return SAFE_MODULES.has(top) ? undefined : qualify(mod, name);
}

function isOpName(mod: ModuleInfo, first: string): boolean {
  const q = mod.imports.get(first);
  return q === 'alembic.op' || (first === 'op' && q === undefined);
}

/**
 * Statements that hold other statements: an import can only sit in one of these (or at module
 * level), never inside an expression, so the walk skips every expression subtree (an op call's
 * arguments are most of a migration's nodes).
 */
const STATEMENT_CONTAINERS = new Set([
  'module',
  'block',
  'function_definition',
  'class_definition',
  'decorated_definition',
  'if_statement',
  'elif_clause',
  'else_clause',
  'try_statement',
  'except_clause',
  'except_group_clause',
  'finally_clause',
  'with_statement',
  'for_statement',
  'while_statement',
  'match_statement',
  'case_clause',
]);

function collectImports(statements: readonly TopStatement[], imports: Map<string, string>): void {
  // Each node's type is read once: a type read is a call into the WASM parser.
  const stack: TopStatement[] = [...statements];
  while (stack.length) {
    const { node, type } = stack.pop()!;
    if (type === 'import_statement') {
      for (const name of node.childrenForFieldName('name')) {
        if (name.type === 'aliased_import') {
          const alias = name.childForFieldName('alias')?.text;
          const full = name.childForFieldName('name')?.text;
          if (alias && full) imports.set(alias, full);
        } else {
          const first = name.text.split('.')[0]!;
          imports.set(first, first);
        }
      }
    } else if (type === 'import_from_statement') {
      const from = node.childForFieldName('module_name')?.text ?? '';
      for (const name of node.childrenForFieldName('name')) {
        if (name.type === 'aliased_import') {
          const alias = name.childForFieldName('alias')?.text;
          const full = name.childForFieldName('name')?.text;
          if (alias && full) imports.set(alias, `${from}.${full}`);
        } else {
          const full = name.text;
          imports.set(full, `${from}.${full}`);
        }
      }
    } else if (type === 'function_definition' || type === 'class_definition') {
      // Only the body holds statements (not the name, parameters or bases).
      const body = node.childForFieldName('body');
      if (body) stack.push({ node: body, type: 'block' });
    } else if (STATEMENT_CONTAINERS.has(type)) {
      for (const c of node.namedChildren) stack.push({ node: c, type: c.type });
    }
  }
}

/** Module-level imports, constants and functions; `scan` when the caller has read the module already. */
export function moduleInfo(root: Node, scan: ModuleScan = scanModule(root)): ModuleInfo {
  const imports = new Map<string, string>();
  collectImports(scan.statements, imports);
  const scope: Scope = { vars: new Map() };
  // Functions and constants bind in source order, so a later one of the same name wins.
  let next = 0;
  const assignments = scan.assignments;
  for (const [i, s] of scan.statements.entries()) {
    if (s.def) scope.vars.set(s.def.name, { fn: s.def.node });
    while (next < assignments.length && assignments[next]!.stmt === i) bindParts(assignments[next++]!, scope);
  }
  return { imports, scope };
}

function identifiersIn(node: Node): string[] {
  if (node.type === 'identifier') return [node.text];
  return node.namedChildren.flatMap(identifiersIn);
}

/** Leaf types that can hold no name. */
const NAMELESS = new Set(['integer', 'float', 'true', 'false', 'none', 'comment']);

/**
 * Whether `name` occurs as an identifier in `node`. Most right-hand sides at module level are
 * literals (the revision header): a string without a prefix letter cannot be an f-string, so its
 * children are not visited (each visit is a few calls into the WASM parser).
 */
function mentions(node: Node, name: string, type = node.type): boolean {
  if (type === 'identifier') return node.text === name;
  if (NAMELESS.has(type)) return false;
  if (type === 'string') {
    const first = node.text[0];
    if (first === '"' || first === "'") return false;
  }
  for (const c of node.namedChildren) if (mentions(c, name)) return true;
  return false;
}

function bindAssignment(node: Node, scope: Scope): void {
  const left = node.childForFieldName('left');
  const right = node.childForFieldName('right');
  const leftType = left?.type;
  bindParts(
    {
      left,
      leftName: leftType === 'identifier' ? left!.text : undefined,
      right,
      rightType: right?.type,
    },
    scope,
  );
}

/** Binds one assignment's target; what the module scan already read is not read again. */
function bindParts(a: Pick<TopAssignment, 'left' | 'leftName' | 'right' | 'rightType'>, scope: Scope): void {
  const { left, right, leftName } = a;
  if (!left) return;
  if (right && leftName !== undefined) {
    // `sql = sql + "..."` refers to itself: treat as built at run time rather than chase it.
    const selfRef = mentions(right, leftName, a.rightType);
    scope.vars.set(
      leftName,
      selfRef ? { dynamic: `${leftName} is built up step by step` } : { node: right, scope },
    );
  } else {
    for (const name of identifiersIn(left))
      scope.vars.set(name, { dynamic: `${name} is assigned at run time` });
  }
}

// ---------------------------------------------------------------- values

/**
 * An f-string whose every field is a plain name bound to a literal (a module constant, a loop
 * variable over a literal list) is folded to its text; anything else is built at run time.
 */
function foldFString(node: Node, scope: Scope | undefined, depth: number): Value {
  const dynamic: Value = {
    kind: 'dynamic',
    text: short(node.text),
    why: 'an f-string fills in values at run time',
  };
  let out = '';
  for (const c of node.namedChildren) {
    if (c.type === 'string_start' || c.type === 'string_end') continue;
    if (c.type === 'string_content') {
      // Doubled braces stand for one; escapes are rare in SQL f-strings: keep them as written.
      out += c.text.replaceAll('{{', '{').replaceAll('}}', '}');
      continue;
    }
    if (c.type !== 'interpolation') return dynamic;
    const expr = c.namedChildren[0];
    if (!expr || c.namedChildren.length !== 1 || expr.type !== 'identifier') return dynamic;
    const v = evalValue(expr, scope, depth + 1);
    if (v.kind === 'str') out += v.value;
    else if (v.kind === 'num') out += String(v.value);
    else return v.kind === 'dynamic' ? { ...dynamic, why: v.why } : dynamic;
  }
  return { kind: 'str', value: out };
}

function decodeString(node: Node, scope?: Scope, depth = 0): Value {
  const plain = plainLiteral(node.text);
  if (plain !== undefined) return { kind: 'str', value: plain };
  // The children's types, read once (each read is a call into the WASM parser).
  const parts = node.namedChildren.map((c) => ({ c, type: c.type }));
  const start = parts.find((p) => p.type === 'string_start')?.c.text ?? '"';
  // The literal's prefix letters (r, b, f, u) precede the quotes in string_start.
  const prefix = [...start]
    .filter((c) => c !== '"' && c !== "'")
    .join('')
    .toLowerCase();
  if (parts.some((p) => p.type === 'interpolation')) {
    return prefix.includes('r') || prefix.includes('b')
      ? { kind: 'dynamic', text: short(node.text), why: 'an f-string fills in values at run time' }
      : foldFString(node, scope, depth);
  }
  let raw = '';
  for (const { c, type } of parts) {
    if (type === 'string_content' || type === 'escape_sequence') raw += c.text;
  }
  if (prefix.includes('r')) return { kind: 'str', value: raw };
  let value = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c !== '\\' || i + 1 >= raw.length) {
      value += c;
      continue;
    }
    const n = raw[++i]!;
    const map: Record<string, string> = {
      n: '\n',
      t: '\t',
      r: '\r',
      '\\': '\\',
      "'": "'",
      '"': '"',
      '\n': '',
    };
    value += map[n] ?? `\\${n}`;
  }
  return { kind: 'str', value };
}

/** `type`: the node's type when the caller has read it already (each read is a call into WASM). */
export function evalValue(node: Node | null, scope: Scope | undefined, depth = 0, type?: string): Value {
  if (!node) return { kind: 'none' };
  if (depth > 20) return { kind: 'dynamic', text: short(node.text), why: 'too deeply indirect' };
  switch (type ?? node.type) {
    case 'string':
      return decodeString(node, scope, depth);
    case 'concatenated_string': {
      let s = '';
      for (const part of node.namedChildren) {
        const v = decodeString(part, scope, depth);
        if (v.kind !== 'str') return v;
        s += v.value;
      }
      return { kind: 'str', value: s };
    }
    case 'integer':
    case 'float':
      return { kind: 'num', value: Number(node.text.replaceAll('_', '')) };
    case 'true':
      return { kind: 'bool', value: true };
    case 'false':
      return { kind: 'bool', value: false };
    case 'none':
      return { kind: 'none' };
    case 'parenthesized_expression':
      return evalValue(node.namedChildren[0] ?? null, scope, depth + 1);
    case 'unary_operator': {
      const v = evalValue(node.childForFieldName('argument'), scope, depth + 1);
      return v.kind === 'num' && node.childForFieldName('operator')?.text === '-'
        ? { kind: 'num', value: -v.value }
        : v;
    }
    case 'identifier': {
      const b = lookup(scope, node.text);
      if (!b) return { kind: 'name', name: node.text };
      if ('dynamic' in b) return { kind: 'dynamic', text: node.text, why: b.dynamic };
      if ('fn' in b) return { kind: 'name', name: node.text };
      if ('value' in b) return b.value;
      return evalValue(b.node, b.scope, depth + 1);
    }
    case 'attribute': {
      const d = dotted(node);
      return d
        ? { kind: 'name', name: d }
        : { kind: 'dynamic', text: short(node.text), why: 'not a literal' };
    }
    case 'list':
    case 'tuple':
      return { kind: 'list', items: node.namedChildren.map((c) => evalValue(c, scope, depth + 1)) };
    case 'binary_operator': {
      const op = node.childForFieldName('operator')?.text;
      const l = evalValue(node.childForFieldName('left'), scope, depth + 1);
      const r = evalValue(node.childForFieldName('right'), scope, depth + 1);
      if (op === '+' && l.kind === 'str' && r.kind === 'str')
        return { kind: 'str', value: l.value + r.value };
      const why =
        op === '%'
          ? 'the string is %-formatted at run time'
          : op === '+'
            ? 'the string is concatenated from values known only at run time'
            : 'computed at run time';
      return { kind: 'dynamic', text: short(node.text), why };
    }
    case 'call': {
      const fnNode = node.childForFieldName('function');
      const name = dotted(fnNode);
      const callee = name ?? fnNode?.text ?? '';
      // A dotted name already says whether its last part is `.format` (`x.format`, not a bare `format`).
      const format =
        name !== undefined
          ? name.endsWith('.format')
          : fnNode?.type === 'attribute' && fnNode.childForFieldName('attribute')?.text === 'format';
      if (format) {
        return {
          kind: 'dynamic',
          text: short(node.text),
          why: 'the string is built with .format() at run time',
        };
      }
      const { positional, positionalTypes, keywords } = callArgs(node);
      const kwargs: Record<string, Value> = {};
      for (const [k, v] of keywords) kwargs[k] = evalValue(v, scope, depth + 1);
      return {
        kind: 'call',
        callee,
        fn: callee.split('.').pop() ?? callee,
        args: positional.map((p, i) => evalValue(p, scope, depth + 1, positionalTypes[i])),
        kwargs,
      };
    }
    default:
      return { kind: 'dynamic', text: short(node.text), why: 'not a literal' };
  }
}

/** A call's arguments; `positionalTypes[i]` is the type of `positional[i]`, read once here. */
function callArgs(call: Node): {
  positional: Node[];
  positionalTypes: string[];
  keywords: Map<string, Node>;
} {
  const positional: Node[] = [];
  const positionalTypes: string[] = [];
  const keywords = new Map<string, Node>();
  const args = call.childForFieldName('arguments');
  for (const a of args?.namedChildren ?? []) {
    const type = a.type;
    if (type === 'keyword_argument') {
      const name = a.childForFieldName('name')?.text;
      const value = a.childForFieldName('value');
      if (name && value) keywords.set(name, value);
    } else if (type !== 'comment' && type !== 'list_splat' && type !== 'dictionary_splat') {
      positional.push(a);
      positionalTypes.push(type);
    }
  }
  return { positional, positionalTypes, keywords };
}

/** A table name from `"users"`, `sa.table("users", ...)`, `sa.Table("users", meta, ...)`. */
export function tableOf(v: Value | undefined): string | undefined {
  if (!v) return undefined;
  if (v.kind === 'str') return v.value;
  if (v.kind === 'call' && (v.fn === 'table' || v.fn === 'Table')) return tableOf(v.args[0]);
  return undefined;
}

// ---------------------------------------------------------------- walking

/**
 * Everything the classifier needs from one migration module, as plain data, so the caller can free
 * the tree right after: upgrade()/downgrade() operations and the allow annotations.
 */
export function extractBody(root: Node, scan: ModuleScan = scanModule(root)): MigrationBody {
  const mod = moduleInfo(root, scan);
  const { allows, problems } = readAllows(root);
  const body: MigrationBody = { allows, allowProblems: problems };
  const upgrade = scan.functions.get('upgrade');
  const downgrade = scan.functions.get('downgrade');
  if (upgrade) body.upgrade = extractOperations(upgrade, mod, 'upgrade');
  if (downgrade) body.downgrade = extractOperations(downgrade, mod, 'downgrade');
  if (body.upgrade && body.downgrade) pairEnumSyncs(body.upgrade, body.downgrade);
  return body;
}

/**
 * An upgrade()'s op.sync_enum_values learns the values before it from downgrade()'s call for the
 * same enum (autogenerate writes both): the rules need the old set to tell additions from removals.
 */
function pairEnumSyncs(upgrade: Operation[], downgrade: Operation[]): void {
  const key = (op: AlembicOp): string | undefined => {
    const name = op.params.enum_name ?? op.params.name;
    return name?.kind === 'str' ? name.value.toLowerCase() : undefined;
  };
  const restores = new Map<string, Value>();
  for (const op of downgrade) {
    if (op.kind !== 'op' || op.name !== 'sync_enum_values') continue;
    const k = key(op);
    const values = op.params.new_values;
    // The first call in downgrade() for an enum is the one undoing upgrade()'s last.
    if (k && values && !restores.has(k)) restores.set(k, values);
  }
  for (const op of upgrade) {
    if (op.kind !== 'op' || op.name !== 'sync_enum_values') continue;
    const k = key(op);
    const values = k ? restores.get(k) : undefined;
    if (values) op.restores = values;
  }
}

/**
 * Only what replaying a migration into the schema model needs: upgrade()'s operations. A migration
 * below the pending set is never judged, so its downgrade() and allow annotations are not read (and
 * not held in memory for the whole history); loadBodies() reads a full body if one is judged after all.
 */
export function extractReplayBody(root: Node, scan: ModuleScan = scanModule(root)): MigrationBody {
  const body: MigrationBody = { allows: [], allowProblems: [], replayOnly: true };
  const upgrade = scan.functions.get('upgrade');
  if (upgrade) body.upgrade = extractOperations(upgrade, moduleInfo(root, scan), 'upgrade');
  return body;
}

/** Operations of one function body (upgrade or downgrade), helpers followed; `name` when known. */
export function extractOperations(fn: Node, mod: ModuleInfo, name?: string): Operation[] {
  const w: Walk = {
    mod,
    scope: { vars: new Map(), parent: mod.scope },
    batches: new Map(),
    autocommit: false,
    stack: [name ?? fn.childForFieldName('name')?.text ?? '?'],
    out: [],
    orm: {},
  };
  const body = fn.childForFieldName('body');
  if (body) visit(body, w);
  return w.out;
}

function visit(node: Node, w: Walk): void {
  switch (node.type) {
    case 'comment':
    case 'pass_statement':
    case 'import_statement':
    case 'import_from_statement':
    case 'class_definition':
    case 'string':
      return;
    case 'function_definition': {
      const name = node.childForFieldName('name')?.text;
      if (name) w.scope.vars.set(name, { fn: node });
      return;
    }
    case 'decorated_definition': {
      const def = node.childForFieldName('definition');
      if (def) visit(def, w);
      return;
    }
    case 'expression_statement':
      for (const c of node.namedChildren) {
        const type = c.type;
        if (type === 'assignment') {
          const right = c.childForFieldName('right');
          if (right) visitExpr(right, w);
          const left = c.childForFieldName('left');
          // `row.status = "x"` on an object loaded from the database: written at the next flush.
          if (left?.type === 'attribute' && left.childForFieldName('object')?.text !== 'self') {
            w.orm.rowWrite ??= { text: short(c.text), line: line(c) };
          }
          bindAssignment(c, w.scope);
        } else if (type === 'augmented_assignment') {
          const right = c.childForFieldName('right');
          if (right) visitExpr(right, w);
          for (const name of identifiersIn(c.childForFieldName('left')!)) {
            w.scope.vars.set(name, { dynamic: `${name} is built up step by step` });
          }
        } else if (type !== 'string') {
          visitExpr(c, w);
        }
      }
      return;
    case 'with_statement':
      visitWith(node, w);
      return;
    case 'for_statement': {
      const left = node.childForFieldName('left');
      const right = node.childForFieldName('right');
      if (right) visitExpr(right, w);
      const items = left?.type === 'identifier' && right ? literalItems(right, w.scope) : undefined;
      if (items && left) {
        // `for t in ["a", "b"]:` runs the body once per literal: walk it once per item.
        for (const item of items) {
          w.scope.vars.set(left.text, item);
          const b = node.childForFieldName('body');
          if (b) visit(b, w);
        }
        w.scope.vars.set(left.text, { dynamic: `${left.text} is a loop variable` });
        const alt = node.childForFieldName('alternative');
        if (alt) visit(alt, w);
        return;
      }
      for (const name of left ? identifiersIn(left) : []) {
        w.scope.vars.set(name, { dynamic: `${name} is a loop variable` });
      }
      for (const field of ['body', 'alternative']) {
        const b = node.childForFieldName(field);
        if (b) visit(b, w);
      }
      return;
    }
    case 'block':
    case 'module':
    case 'if_statement':
    case 'elif_clause':
    case 'else_clause':
    case 'while_statement':
    case 'try_statement':
    case 'except_clause':
    case 'finally_clause':
    case 'return_statement':
      for (const c of node.namedChildren) visit(c, w);
      return;
    default:
      visitExpr(node, w);
  }
}

/** The items of a literal list/tuple of strings or numbers (followed through names), at most 50. */
function literalItems(node: Node, scope: Scope, depth = 0): Binding[] | undefined {
  if (depth > 5) return undefined;
  if (node.type === 'identifier') {
    const b = lookup(scope, node.text);
    return b && 'node' in b ? literalItems(b.node, b.scope, depth + 1) : undefined;
  }
  if (node.type !== 'list' && node.type !== 'tuple') return undefined;
  const items = node.namedChildren.filter((c) => c.type !== 'comment');
  if (items.length === 0 || items.length > 50) return undefined;
  for (const item of items) {
    const v = evalValue(item, scope);
    if (v.kind !== 'str' && v.kind !== 'num') return undefined;
  }
  return items.map((item) => ({ node: item, scope }));
}

function visitWith(node: Node, w: Walk): void {
  const inner: Walk = { ...w, batches: new Map(w.batches) };
  const clause = node.namedChildren.find((c) => c.type === 'with_clause');
  for (const item of clause?.namedChildren ?? []) {
    if (item.type !== 'with_item') continue;
    let value = item.childForFieldName('value');
    let alias: string | undefined;
    if (value?.type === 'as_pattern') {
      alias = value.childForFieldName('alias')?.text ?? value.namedChildren[1]?.text;
      value = value.namedChildren[0] ?? null;
    }
    if (!value) continue;
    const fnNode = value.type === 'call' ? value.childForFieldName('function') : null;
    const d = dotted(fnNode);
    const attr = fnNode?.type === 'attribute' ? fnNode.childForFieldName('attribute')?.text : undefined;
    if (d && attr === 'batch_alter_table' && isOpName(w.mod, d.split('.')[0]!)) {
      const { positional, keywords } = callArgs(value);
      const tableNode = keywords.get('table_name') ?? positional[0] ?? null;
      const table = tableOf(evalValue(tableNode, w.scope));
      if (alias) inner.batches.set(alias, table);
    } else if (attr === 'autocommit_block') {
      inner.autocommit = true;
    } else {
      visitExpr(value, w);
      // `with conn.connection.cursor() as cur:` keeps the handle, so cur's calls are judged.
      const handle = dbHandle(value, w.scope, w) === 'cursor';
      if (alias)
        w.scope.vars.set(
          alias,
          handle ? { node: value, scope: w.scope } : { dynamic: `${alias} comes from a with statement` },
        );
    }
  }
  const body = node.childForFieldName('body');
  if (body) visit(body, inner);
}

function visitExpr(node: Node, w: Walk): void {
  const type = node.type;
  if (type === 'call') {
    if (handleCall(node, w)) return;
  } else if (type === 'lambda' || type === 'string' || NAMELESS.has(type) || type === 'identifier') {
    return;
  }
  for (const c of node.namedChildren) visitExpr(c, w);
}

function opaque(
  w: Walk,
  node: Node,
  reason: 'dynamic-sql' | 'external-call' | 'unparsable-sql' | 'unknown-operation',
  detail: string,
): void {
  const op: OpaqueOp = {
    kind: 'opaque',
    reason,
    detail,
    text: short(node.text),
    line: line(node),
    autocommit: w.autocommit,
  };
  w.out.push(op);
}

/** Returns true when the call was fully handled (its arguments need no further walking). */
function handleCall(call: Node, w: Walk): boolean {
  const fnNode = call.childForFieldName('function');
  if (!fnNode) return false;
  const fnType = fnNode.type;
  if (fnType === 'subscript') {
    opaque(w, call, 'external-call', 'a function chosen at run time');
    return true;
  }
  const name = dotted(fnNode);
  const attr = fnType === 'attribute' ? fnNode.childForFieldName('attribute')?.text : undefined;
  const parts = name?.split('.') ?? [];

  if (name && parts.length === 2 && isOpName(w.mod, parts[0]!)) {
    alembicCall(call, parts[1]!, undefined, w);
    return true;
  }
  if (name && parts.length === 2 && w.batches.has(parts[0]!)) {
    alembicCall(call, parts[1]!, { table: w.batches.get(parts[0]!) }, w);
    return true;
  }
  const obj = fnType === 'attribute' ? fnNode.childForFieldName('object') : null;
  // An ORM session (Session(bind=op.get_bind()), sessionmaker, the app's db.session) writes rows.
  if (attr && obj && isSession(obj, w.scope) && sessionCall(call, attr, w)) return true;
  if (name) {
    const ext = isExternal(w.mod, name);
    if (ext) {
      opaque(w, call, 'external-call', ext);
      // Kept so a function of the project's own modules can be followed (src/alembic/names.ts).
      (w.out[w.out.length - 1] as OpaqueOp).helper = helperCall(call, ext, w);
      return true;
    }
  }
  const handle = attr && obj ? dbHandle(obj, w.scope, w) : undefined;
  if (handle) return handleCallOn(call, attr!, handle, w);
  if (attr === 'execute' || attr === 'exec_driver_sql') {
    executeCall(call, attr === 'exec_driver_sql' ? 'driver' : undefined, w);
    return true;
  }
  if (attr === 'drop') {
    const obj = fnNode.childForFieldName('object');
    const v = evalValue(obj, w.scope);
    if (v.kind === 'call') {
      const kinds: Record<string, 'table' | 'type' | 'sequence' | 'index'> = {
        Enum: 'type',
        ENUM: 'type',
        Table: 'table',
        Sequence: 'sequence',
        Index: 'index',
      };
      const object = kinds[v.fn];
      if (object) {
        const nameValue = object === 'type' ? v.kwargs.name : v.args[0];
        w.out.push({
          kind: 'object-drop',
          object,
          name: nameValue?.kind === 'str' ? nameValue.value : undefined,
          text: short(call.text),
          line: line(call),
          autocommit: w.autocommit,
        });
        return true;
      }
    }
  }
  if (attr === 'update' || attr === 'delete') {
    // ORM: session.query(Model).filter(...).update({...}) runs at once (Core constructs only when executed).
    const obj = fnNode.childForFieldName('object');
    const model = obj?.type === 'call' ? queryModel(obj) : undefined;
    if (model) {
      w.out.push({
        kind: 'data',
        action: attr,
        table: model,
        text: short(call.text),
        line: line(call),
        autocommit: w.autocommit,
      });
      return true;
    }
  }
  if (fnType === 'identifier') {
    const b = lookup(w.scope, fnNode.text);
    if (b && 'fn' in b) {
      followHelper(b.fn, call, w);
      return true;
    }
  }
  const lambda = lambdaOf(fnNode, w.scope);
  if (lambda) {
    followLambda(lambda.node, lambda.scope, call, w);
    return true;
  }
  return handedDatabase(call, name, w);
}

/** The statement of an execute-like call, classified as SQL; `style` forced for driver-level calls. */
function executeCall(call: Node, style: ParamStyle | undefined, w: Walk): void {
  const { positional, keywords } = callArgs(call);
  const arg =
    positional[0] ?? keywords.get('statement') ?? keywords.get('sqltext') ?? keywords.get('operation');
  // Parameters passed with a plain string go to the DB-API driver: %s / %(name)s markers.
  const withParams = positional.length > 1 || keywords.has('parameters');
  if (arg) executeArg(arg, w, style ?? (withParams ? 'params' : 'text'), w.scope);
}

/**
 * What a name or expression holds of the migration's database: its SQLAlchemy connection
 * (op.get_bind(), op.get_context().bind, conn.execution_options(...)), the engine behind it, the raw
 * DB-API connection (conn.connection) or a DB-API cursor (conn.connection.cursor()).
 */
type DbHandle = 'connection' | 'engine' | 'dbapi' | 'cursor';

function dbHandle(node: Node | null, scope: Scope, w: Walk, depth = 0): DbHandle | undefined {
  if (!node || depth > 10) return undefined;
  if (node.type === 'parenthesized_expression')
    return dbHandle(node.namedChildren[0] ?? null, scope, w, depth + 1);
  if (node.type === 'identifier') {
    const b = lookup(scope, node.text);
    if (b && 'value' in b) return b.handle === 'session' || b.handle === 'op' ? undefined : b.handle;
    return b && 'node' in b ? dbHandle(b.node, b.scope, w, depth + 1) : undefined;
  }
  if (node.type === 'attribute') {
    const obj = node.childForFieldName('object');
    const attr = node.childForFieldName('attribute')?.text;
    if ((attr === 'bind' || attr === 'connection') && isOpCall(obj, 'get_context', w)) return 'connection';
    const inner = dbHandle(obj, scope, w, depth + 1);
    if (inner === 'connection' && attr === 'engine') return 'engine';
    if (inner === 'connection' && attr === 'connection') return 'dbapi';
    if (inner === 'dbapi' && (attr === 'dbapi_connection' || attr === 'driver_connection')) return 'dbapi';
    return undefined;
  }
  if (node.type !== 'call') return undefined;
  const fnNode = node.childForFieldName('function');
  if (isOpCall(node, 'get_bind', w)) return 'connection';
  if (fnNode?.type !== 'attribute') return undefined;
  const attr = fnNode.childForFieldName('attribute')?.text;
  const inner = dbHandle(fnNode.childForFieldName('object'), scope, w, depth + 1);
  if (inner === 'connection' && attr === 'execution_options') return 'connection';
  if (inner === 'dbapi' && attr === 'cursor') return 'cursor';
  return undefined;
}

/** `op.<name>(...)`. */
function isOpCall(node: Node | null, name: string, w: Walk): boolean {
  if (node?.type !== 'call') return false;
  const parts = dotted(node.childForFieldName('function'))?.split('.') ?? [];
  return parts.length === 2 && parts[1] === name && isOpName(w.mod, parts[0]!);
}

/** Calls on a handle that run the SQL they are given (classified like op.execute). */
const RUNS_SQL: Record<DbHandle, ReadonlySet<string>> = {
  connection: new Set(['execute', 'exec_driver_sql', 'scalar', 'scalars']),
  engine: new Set(),
  // psycopg 3 connections execute directly; psycopg2 only through a cursor.
  dbapi: new Set(['execute']),
  cursor: new Set(['execute', 'executemany']),
};

/** Calls that only read state, or hand back another handle whose own calls are judged. */
const HANDLE_READS: Record<DbHandle, ReadonlySet<string>> = {
  connection: new Set([
    'execution_options',
    'get_execution_options',
    'get_isolation_level',
    'in_transaction',
    'in_nested_transaction',
    'get_transaction',
    'get_nested_transaction',
    // A SAVEPOINT inside Alembic's transaction, released or rolled back with the block: it commits nothing.
    'begin_nested',
  ]),
  engine: new Set(),
  dbapi: new Set(['cursor']),
  cursor: new Set(['fetchone', 'fetchall', 'fetchmany', 'close', 'mogrify']),
};

const HANDLE_WHAT: Record<DbHandle, string> = {
  connection: "the migration's database connection",
  engine: "the engine behind the migration's connection",
  dbapi: "the migration's raw DB-API connection",
  cursor: "a DB-API cursor on the migration's connection",
};

/** A call on the connection, its engine, its DB-API connection or a cursor: SQL, a read, or a stop. */
function handleCallOn(call: Node, attr: string, handle: DbHandle, w: Walk): boolean {
  if (RUNS_SQL[handle].has(attr)) {
    const driver = handle !== 'connection' || attr === 'exec_driver_sql';
    executeCall(call, driver ? 'driver' : undefined, w);
    return true;
  }
  const args = call.childForFieldName('arguments')?.namedChildren ?? [];
  if (HANDLE_READS[handle].has(attr)) {
    for (const a of args) visitExpr(a, w);
    return true;
  }
  const transaction = ['commit', 'rollback', 'begin', 'close', 'detach', 'invalidate'].includes(attr);
  const known = [...RUNS_SQL[handle]].map((m) => `${m}()`);
  const why = transaction
    ? `${attr}() ends or replaces the transaction Alembic runs the migration in: what ran before it is committed (or undone) half-way, whatever the rest of the migration does, and alembic_version is not updated with it`
    : known.length > 0
      ? `migration-gate reads the SQL given to ${known.join(' and ')} there, but not what ${attr}() does to the database`
      : `what runs through it happens outside Alembic's transaction, where migration-gate cannot follow it`;
  w.out.push({
    kind: 'opaque',
    reason: 'unknown-operation',
    detail: `${short(call.text)} calls ${attr}() on ${HANDLE_WHAT[handle]}`,
    why,
    hint: transaction
      ? 'Remove it: Alembic begins and commits the transaction. For a statement that must run outside one, use `with op.get_context().autocommit_block():`.'
      : 'Run the SQL through op.execute("...") or conn.execute(sa.text("...")) with a literal statement so the gate can read it; if the call is reviewed and safe, add `# migration-gate: allow unknown-operation -- <reason>`.',
    text: short(call.text),
    line: line(call),
    autocommit: w.autocommit,
  });
  return true;
}

/** `f` (a name bound to a lambda, or a lambda written in place) when calling it runs a lambda. */
function lambdaOf(fnNode: Node, scope: Scope): { node: Node; scope: Scope } | undefined {
  let node: Node | null = fnNode;
  for (let depth = 0; node && depth < 10; depth++) {
    if (node.type === 'lambda') return { node, scope };
    if (node.type === 'parenthesized_expression') node = node.namedChildren[0] ?? null;
    else if (node.type === 'identifier') {
      const b = lookup(scope, node.text);
      if (!b || !('node' in b)) return undefined;
      node = b.node;
      scope = b.scope;
    } else return undefined;
  }
  return undefined;
}

const SESSION_FACTORIES = new Set(['Session', 'sessionmaker', 'scoped_session', 'create_session']);

/**
 * Calls that only read the schema, build a session (whose later calls are judged) or create what is
 * missing (ENUM(...).create(bind), metadata.create_all(bind)) when given the connection.
 */
const READS_WITH_BIND = new Set([
  ...SESSION_FACTORIES,
  'inspect',
  'MetaData',
  'Table',
  'reflect',
  'get_context',
  'create',
  'create_all',
]);

/**
 * Any other call handed `op`, one of its functions, the connection or a session (map(op.drop_table, ...),
 * getattr(op, name)(...), a lambda over op, json.dumps(conn)) can do anything to the database through
 * it: a stop, not a pass. Calls on literals and plain values stay harmless.
 */
function handedDatabase(call: Node, name: string | undefined, w: Walk): boolean {
  const fnNode = call.childForFieldName('function');
  const callee =
    name?.split('.').pop() ??
    (fnNode?.type === 'attribute' ? fnNode.childForFieldName('attribute')?.text : undefined);
  if (name === 'exec' || name === 'eval') {
    opaque(w, call, 'external-call', `${name}(), code chosen at run time`);
    return true;
  }
  if (callee && READS_WITH_BIND.has(callee)) return false;
  const args = call.childForFieldName('arguments')?.namedChildren ?? [];
  const what = args.map((a) => carriesDatabase(a, w.scope, w, 0)).find((x) => x !== undefined);
  if (!what) return false;
  opaque(w, call, 'external-call', `${name ?? 'a call'} handed ${what}`);
  return true;
}

function carriesDatabase(node: Node, scope: Scope, w: Walk, depth: number): string | undefined {
  if (depth > 6) return undefined;
  if (node.type === 'lambda') {
    // A lambda handed on runs later, where the gate cannot follow it: what its body reaches counts.
    const body = node.childForFieldName('body');
    const used = body ? opFunctionIn(body, w) : undefined;
    if (used) return `a lambda calling ${used}`;
  }
  if (node.type === 'identifier') {
    if (isOpName(w.mod, node.text)) return '`op`';
    const b = lookup(scope, node.text);
    if (b && 'node' in b) return carriesDatabase(b.node, b.scope, w, depth + 1);
    if (b && 'value' in b && b.handle)
      return b.handle === 'session' ? 'a session' : b.handle === 'op' ? '`op`' : HANDLE_WHAT[b.handle];
    if (b && 'fn' in b) {
      // A function of this file handed on (map(drop_one, names)) runs where the gate cannot follow it.
      const body = b.fn.childForFieldName('body');
      const used = body ? opFunctionIn(body, w) : undefined;
      return used ? `${node.text}(), which calls ${used}` : undefined;
    }
    return undefined;
  }
  if (node.type === 'call') {
    const f = dotted(node.childForFieldName('function'));
    const parts = f?.split('.') ?? [];
    if (parts.length === 2 && isOpName(w.mod, parts[0]!)) {
      // op.f("name") only spells a constraint name; op.get_bind() is the connection.
      return parts[1] === 'get_bind' ? 'the connection (op.get_bind())' : undefined;
    }
    // What an inspector or a reflected table returns is data, not a handle on the database.
    if (
      READS_WITH_BIND.has(parts[parts.length - 1] ?? '') &&
      !SESSION_FACTORIES.has(parts[parts.length - 1]!)
    )
      return undefined;
    if (isSession(node, scope)) return 'a session';
  } else if (isSession(node, scope)) return 'a session';
  if (node.type === 'attribute') {
    const parts = dotted(node)?.split('.') ?? [];
    if (parts.length === 2 && isOpName(w.mod, parts[0]!)) return `op.${parts[1]}`;
    // conn.connection / conn.engine reach the database; conn.dialect.name or conn.in_transaction is data.
    const handle = dbHandle(node, scope, w);
    if (handle) return HANDLE_WHAT[handle];
    if (dbHandle(node.childForFieldName('object'), scope, w)) return undefined;
  }
  if (node.type === 'call' && node.childForFieldName('function')?.type === 'attribute') {
    const handle = dbHandle(node, scope, w);
    if (handle) return HANDLE_WHAT[handle];
  }
  for (const c of node.namedChildren) {
    const found = carriesDatabase(c, scope, w, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** The first `op.<fn>` a lambda body uses, other than the name spellers op.f / op.inline_literal. */
function opFunctionIn(node: Node, w: Walk, depth = 0): string | undefined {
  if (depth > 30) return undefined;
  if (node.type === 'attribute') {
    const parts = dotted(node)?.split('.') ?? [];
    if (parts.length === 2 && isOpName(w.mod, parts[0]!) && parts[1] !== 'f' && parts[1] !== 'inline_literal')
      return `op.${parts[1]}`;
  }
  for (const c of node.namedChildren) {
    const found = opFunctionIn(c, w, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** `session`, `db.session`, or a name bound to Session(...) / sessionmaker(...)() / db.session. */
function isSession(node: Node, scope: Scope, depth = 0): boolean {
  if (depth > 5) return false;
  const d = dotted(node);
  if (d && /(^|\.)(db_)?session$/i.test(d)) return true;
  if (node.type === 'identifier') {
    const b = lookup(scope, node.text);
    if (b && 'value' in b) return b.handle === 'session';
    return b !== undefined && 'node' in b && isSession(b.node, b.scope, depth + 1);
  }
  if (node.type === 'call') {
    const f = node.childForFieldName('function');
    const callee = dotted(f)?.split('.').pop();
    if (callee && SESSION_FACTORIES.has(callee)) return true;
    // sessionmaker(bind=...)() calls the factory's result.
    return f?.type === 'call' ? isSession(f, scope, depth + 1) : false;
  }
  return false;
}

/** A call on an ORM session; true when handled. */
function sessionCall(call: Node, attr: string, w: Walk): boolean {
  const data = (action: 'delete' | 'update' | 'insert', text: string, at: Node, table?: string) =>
    w.out.push({ kind: 'data', action, table, text, line: line(at), autocommit: w.autocommit });
  const { positional } = callArgs(call);
  if (attr === 'delete' && positional.length === 1) {
    data('delete', short(call.text), call);
    return true;
  }
  if (attr === 'commit' || attr === 'flush') {
    // Attributes assigned on loaded rows are written back here: an UPDATE of existing rows.
    const write = w.orm.rowWrite;
    if (write) {
      data('update', `${write.text} (line ${write.line}), then session.${attr}()`, call);
      w.orm.rowWrite = undefined;
    }
    return true;
  }
  if (['add', 'add_all', 'merge', 'close', 'rollback', 'begin', 'expunge', 'refresh'].includes(attr)) {
    for (const p of positional) visitExpr(p, w);
    return true;
  }
  if (attr === 'query' || attr === 'get' || attr === 'scalars' || attr === 'scalar') return true;
  return false;
}

function followHelper(fn: Node, call: Node, w: Walk): void {
  const name = fn.childForFieldName('name')?.text ?? '?';
  visitArgs(call, w);
  if (w.stack.includes(name)) return;
  const scope: Scope = { vars: new Map(), parent: w.mod.scope };
  const batches = bindParams(fn.childForFieldName('parameters'), call, scope, `${name}()`, w);
  const body = fn.childForFieldName('body');
  if (body) visit(body, { ...w, scope, batches, stack: [...w.stack, name] });
}

/**
 * Calling a lambda runs its body with the call's arguments, in the scope it was written in
 * (`f = lambda t: op.drop_table(t); f("x")` drops x).
 */
function followLambda(lambda: Node, closure: Scope, call: Node, w: Walk): void {
  const key = `lambda@${line(lambda)}:${lambda.startPosition.column}`;
  visitArgs(call, w);
  if (w.stack.includes(key)) return;
  const scope: Scope = { vars: new Map(), parent: closure };
  const batches = bindParams(lambda.childForFieldName('parameters'), call, scope, 'the lambda', w);
  const body = lambda.childForFieldName('body');
  if (body)
    visitExpr(body, { ...w, scope, batches: new Map([...w.batches, ...batches]), stack: [...w.stack, key] });
}

/** What an imported function is handed, for following it into the project's module later. */
function helperCall(call: Node, qualified: string, w: Walk): HelperCall {
  const arg = (node: Node): HelperArg => {
    if (node.type === 'identifier' && isOpName(w.mod, node.text))
      return { value: { kind: 'name', name: 'op' }, handle: 'op' };
    const value = evalValue(node, w.scope);
    const handle = dbHandle(node, w.scope, w) ?? (isSession(node, w.scope) ? 'session' : undefined);
    return handle ? { value, handle } : { value };
  };
  const { positional, keywords } = callArgs(call);
  const kwargs: Record<string, HelperArg> = {};
  for (const [k, v] of keywords) kwargs[k] = arg(v);
  const via = w.via;
  return { qualified, args: positional.map(arg), kwargs, ...(via && { via }) };
}

/**
 * The operations a function of a project module performs when a migration calls it with `helper`'s
 * arguments: its body walked like a helper of the migration file, every operation placed on the
 * migration's line of the call. `reexport`: the module only imports that name from elsewhere.
 */
export function extractHelperCall(
  root: Node,
  name: string,
  helper: HelperCall,
  site: { line: number; autocommit: boolean },
): { ops: Operation[] } | { reexport: string } | undefined {
  const mod = moduleInfo(root);
  const b = mod.scope.vars.get(name);
  if (!b || !('fn' in b)) {
    const imported = mod.imports.get(name);
    return imported ? { reexport: imported } : undefined;
  }
  const imports = new Map(mod.imports);
  const scope: Scope = { vars: new Map(), parent: mod.scope };
  let i = 0;
  for (const p of b.fn.childForFieldName('parameters')?.namedChildren ?? []) {
    const pname =
      p.type === 'identifier' ? p.text : (p.childForFieldName('name')?.text ?? p.namedChildren[0]?.text);
    if (!pname) continue;
    if (p.type === 'list_splat_pattern' || p.type === 'dictionary_splat_pattern') {
      // What lands in *args / **kwargs is not tracked: anything built from it is run-time data.
      scope.vars.set(pname, { dynamic: `${pname} collects arguments of ${name}()` });
      continue;
    }
    const isDefault = p.type === 'default_parameter' || p.type === 'typed_default_parameter';
    const arg = helper.kwargs[pname] ?? helper.args[i++];
    const dflt = isDefault ? p.childForFieldName('value') : null;
    if (arg?.handle === 'op') imports.set(pname, 'alembic.op');
    if (arg) scope.vars.set(pname, { value: arg.value, ...(arg.handle && { handle: arg.handle }) });
    else if (dflt) scope.vars.set(pname, { node: dflt, scope: mod.scope });
    else scope.vars.set(pname, { dynamic: `${pname} is a parameter of ${name}()` });
  }
  const via = [...(helper.via ?? []), helper.qualified];
  const w: Walk = {
    mod: { imports, scope: mod.scope },
    scope,
    batches: new Map(),
    autocommit: site.autocommit,
    stack: [name],
    out: [],
    orm: {},
    via,
  };
  const body = b.fn.childForFieldName('body');
  if (body) visit(body, w);
  return {
    ops: w.out.map((op) => ({ ...op, line: site.line, autocommit: op.autocommit || site.autocommit })),
  };
}

/** Arguments are evaluated at the call site before the callee runs: `helper(op.drop_table("x"))`. */
function visitArgs(call: Node, w: Walk): void {
  for (const a of call.childForFieldName('arguments')?.namedChildren ?? []) {
    visitExpr(a.type === 'keyword_argument' ? (a.childForFieldName('value') ?? a) : a, w);
  }
}

/** Binds a function's or lambda's parameters to the call's arguments; returns the batch parameters. */
function bindParams(
  params: Node | null,
  call: Node,
  scope: Scope,
  owner: string,
  w: Walk,
): Map<string, string | undefined> {
  const batches = new Map<string, string | undefined>();
  const { positional, keywords } = callArgs(call);
  let i = 0;
  for (const p of params?.namedChildren ?? []) {
    const pname =
      p.type === 'identifier' ? p.text : (p.childForFieldName('name')?.text ?? p.namedChildren[0]?.text);
    if (!pname) continue;
    const isDefault = p.type === 'default_parameter' || p.type === 'typed_default_parameter';
    const arg = keywords.get(pname) ?? positional[i++] ?? (isDefault ? p.childForFieldName('value') : null);
    if (arg) {
      scope.vars.set(pname, { node: arg, scope: w.scope });
      if (arg.type === 'identifier' && w.batches.has(arg.text)) batches.set(pname, w.batches.get(arg.text));
    } else {
      scope.vars.set(pname, { dynamic: `${pname} is a parameter of ${owner}` });
    }
  }
  return batches;
}

function alembicCall(
  call: Node,
  name: string,
  batch: { table: string | undefined } | undefined,
  w: Walk,
): void {
  const { positional, positionalTypes, keywords } = callArgs(call);
  if (name === 'execute') {
    const arg = positional[0] ?? keywords.get('sqltext');
    if (arg) executeArg(arg, w, 'text', w.scope);
    return;
  }
  if (!batch && NEUTRAL_OPS.has(name)) {
    for (const p of positional) visitExpr(p, w);
    return;
  }
  const sig = SIGNATURES[name];
  if (!sig) {
    opaque(w, call, 'unknown-operation', `${batch ? 'batch_op' : 'op'}.${name}`);
    return;
  }
  const names = batch ? sig.params.filter((p) => p !== sig.table) : sig.params;
  const params: Record<string, Value> = {};
  names.forEach((p, i) => {
    if (positional[i]) params[p] = evalValue(positional[i]!, w.scope, 0, positionalTypes[i]);
  });
  for (const [k, v] of keywords) params[k] = evalValue(v, w.scope);
  const rest = positional
    .slice(names.length)
    .map((p, i) => evalValue(p, w.scope, 0, positionalTypes[names.length + i]));
  const table = batch ? batch.table : sig.table ? tableOf(params[sig.table]) : undefined;
  const op: AlembicOp = {
    kind: 'op',
    name,
    params,
    rest,
    table,
    batch: Boolean(batch),
    line: line(call),
    autocommit: w.autocommit,
  };
  w.out.push(op);
}

/** SQL, a data-change construct, or something opaque passed to an execute call. */
function executeArg(arg: Node, w: Walk, style: ParamStyle, scope: Scope, depth = 0): void {
  if (depth > 20) return opaque(w, arg, 'dynamic-sql', 'too deeply indirect');
  if (arg.type === 'identifier') {
    const b = lookup(scope, arg.text);
    if (!b) return opaque(w, arg, 'dynamic-sql', `${arg.text} is not a literal defined in this file`);
    if ('dynamic' in b) return opaque(w, arg, 'dynamic-sql', b.dynamic);
    if ('fn' in b) return opaque(w, arg, 'dynamic-sql', `${arg.text} is a function`);
    if ('value' in b) return executeValue(b.value, arg, w, style);
    return executeArgAt(b.node, arg, w, style, b.scope, depth);
  }
  return executeArgAt(arg, arg, w, style, scope, depth);
}

/** SQL a helper was handed as an argument: a literal string, or `sa.text("...")` of one. */
function executeValue(v: Value, site: Node, w: Walk, style: ParamStyle): void {
  if (v.kind === 'str') return sqlOps(v.value, site, w, style);
  if (v.kind === 'call' && v.fn === 'text' && v.args[0]?.kind === 'str')
    return sqlOps(v.args[0].value, site, w, 'text');
  if (v.kind === 'dynamic') return opaque(w, site, 'dynamic-sql', v.why);
  return opaque(
    w,
    site,
    'dynamic-sql',
    `${site.text} is not a literal SQL string where the migration calls it`,
  );
}

/** `node` is the expression to read; `site` is where it is executed (for the line number of non-SQL ops). */
function executeArgAt(node: Node, site: Node, w: Walk, style: ParamStyle, scope: Scope, depth: number): void {
  if (node.type === 'identifier') return executeArg(node, w, style, scope, depth + 1);
  if (node.type === 'parenthesized_expression' && node.namedChildren[0]) {
    return executeArgAt(node.namedChildren[0], site, w, style, scope, depth + 1);
  }
  if (node.type === 'call') {
    const fnNode = node.childForFieldName('function');
    const d = dotted(fnNode);
    const attr = fnNode?.type === 'attribute' ? fnNode.childForFieldName('attribute')?.text : undefined;
    const q = d ? qualify(w.mod, d) : undefined;
    if (q && q.split('.').pop() === 'text' && (q.startsWith('sqlalchemy') || d === 'sa.text')) {
      const first = callArgs(node).positional[0];
      return first ? executeArgAt(first, site, w, 'text', scope, depth + 1) : undefined;
    }
    if (attr && ['bindparams', 'execution_options', 'columns'].includes(attr)) {
      const obj = fnNode!.childForFieldName('object');
      if (obj) return executeArgAt(obj, site, w, style, scope, depth + 1);
    }
    const dml = dmlOf(node, scope, w);
    if (dml) {
      w.out.push({ ...dml, line: line(site), autocommit: w.autocommit });
      return;
    }
  }
  const v = evalValue(node, scope);
  if (v.kind === 'str') return sqlOps(v.value, node, w, style);
  if (v.kind === 'dynamic') return opaque(w, site, 'dynamic-sql', v.why);
  if (v.kind === 'call') {
    // A SQLAlchemy construct we do not model is an unknown operation; anything else computes the SQL at run time.
    if (qualify(w.mod, v.callee).startsWith('sqlalchemy')) {
      return opaque(w, site, 'unknown-operation', `executing ${v.callee}(...)`);
    }
    return opaque(w, site, 'dynamic-sql', `the statement comes from calling ${v.callee}() at run time`);
  }
  return opaque(w, site, 'dynamic-sql', 'the statement is not a literal SQL string');
}

function sqlOps(sql: string, node: Node, w: Walk, style: ParamStyle): void {
  const prepared = bindMarkersToParams(sql, style);
  const parsed = parseSql(prepared);
  if (!parsed.ok) return opaque(w, node, 'unparsable-sql', parsed.error);
  // The SQL starts on the string's first line; each statement is further down by the newlines before it.
  // Newlines are counted incrementally from the previous statement: counting from the start of the
  // string for every statement made a script of many statements quadratic (0.5 MB took 15 s).
  const firstLine = line(node);
  let cursor = 0;
  let counted = 0;
  let newlines = 0;
  for (const stmt of parsed.statements) {
    const at = prepared.indexOf(stmt.text, cursor);
    const offset = at < 0 ? cursor : at;
    for (; counted < offset; counted++) if (prepared.charCodeAt(counted) === 10) newlines++;
    cursor = offset + stmt.text.length;
    w.out.push({
      kind: 'sql',
      stmt,
      line: firstLine + newlines,
      autocommit: w.autocommit,
      statements: parsed.statements.length,
    });
  }
}

/**
 * A data change built with SQLAlchemy: `sa.update(t).where(...).values(...)`, `sa.delete(t)`, `t.update()`,
 * `t.delete()`, `sa.insert(t)`, `t.insert()`, `session.query(M).filter(...).update({...})`.
 */
function dmlOf(call: Node, scope: Scope, w: Walk): Omit<DataOp, 'line' | 'autocommit'> | undefined {
  const text = short(call.text);
  let node: Node | null = call;
  for (let depth = 0; node && depth < 30; depth++) {
    if (node.type === 'identifier') {
      const b = lookup(scope, node.text);
      if (!b || !('node' in b)) return undefined;
      scope = b.scope;
      node = b.node;
      continue;
    }
    if (node.type !== 'call') return undefined;
    const fnNode: Node | null = node.childForFieldName('function');
    if (!fnNode) return undefined;
    const d = dotted(fnNode);
    const q = d ? qualify(w.mod, d) : undefined;
    const last = (d ?? '').split('.').pop() as string;
    const action = last === 'update' || last === 'delete' || last === 'insert' ? last : undefined;
    if (action && q?.startsWith('sqlalchemy')) {
      const first = callArgs(node).positional[0];
      return {
        kind: 'data',
        action,
        table: tableOf(first ? evalValue(first, scope) : undefined) ?? first?.text,
        text,
      };
    }
    if (fnNode.type !== 'attribute') return undefined;
    const obj: Node = fnNode.childForFieldName('object')!;
    const attr = fnNode.childForFieldName('attribute')!.text;
    const verb = attr === 'update' || attr === 'delete' || attr === 'insert' ? attr : undefined;
    if (verb && (obj.type !== 'call' || tableOf(evalValue(obj, scope)) !== undefined)) {
      // t.update(): t is sa.table("x") / sa.Table("x", ...) or a model's __table__.
      const v = evalValue(obj, scope);
      return { kind: 'data', action: verb, table: tableOf(v) ?? obj.text, text };
    }
    if (verb && verb !== 'insert' && obj.type === 'call' && queryModel(obj)) {
      return { kind: 'data', action: verb, table: queryModel(obj), text };
    }
    node = obj;
  }
  return undefined;
}

/** The model of an ORM `x.query(Model)...` chain, if this is one. */
function queryModel(node: Node): string | undefined {
  let n: Node | null = node;
  while (n && n.type === 'call') {
    const fnNode = n.childForFieldName('function');
    if (fnNode?.type !== 'attribute') return undefined;
    if (fnNode.childForFieldName('attribute')?.text === 'query') {
      return callArgs(n).positional[0]?.text ?? '?';
    }
    n = fnNode.childForFieldName('object');
  }
  return undefined;
}
