/**
 * Reads Alembic migration files with tree-sitter-python: the revision header (module-level
 * `revision`, `down_revision`, `branch_labels`, `depends_on`, typed or not), the docstring message
 * and the `upgrade()` / `downgrade()` function nodes. Never executes or regex-parses Python.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Node } from 'web-tree-sitter';
import { ConfigError } from '../errors.js';
import type { MigrationScript } from '../types.js';
import type { AlembicProject } from './config.js';
import { firstSyntaxError, initPythonParser, parsePython } from './python.js';

const HEADER_NAMES = ['revision', 'down_revision', 'branch_labels', 'depends_on'] as const;
type HeaderName = (typeof HEADER_NAMES)[number];

/** A Python literal we understand: None, a str, or a tuple/list of those. */
type Literal = { kind: 'none' } | { kind: 'str'; value: string } | { kind: 'seq'; items: Literal[] };

const SIMPLE_ESCAPES: Record<string, string> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};

function decodeEscape(seq: string): string {
  const body = seq.slice(1);
  if (body in SIMPLE_ESCAPES) return SIMPLE_ESCAPES[body]!;
  if (body.startsWith('\n') || body.startsWith('\r')) return ''; // line continuation inside the literal
  const hex = /^(?:x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8}))$/.exec(body);
  if (hex) return String.fromCodePoint(parseInt(hex[1] ?? hex[2] ?? hex[3]!, 16));
  if (/^[0-7]{1,3}$/.test(body)) return String.fromCodePoint(parseInt(body, 8));
  return seq; // unknown escapes stay as written, as in Python
}

/** Value of a `string` node, or undefined when it is not a plain str literal (f-string with fields, bytes). */
function stringValue(node: Node): string | undefined {
  const start = node.children.find((c) => c.type === 'string_start');
  const prefix = (start?.text ?? '').replace(/['"]/g, '').toLowerCase();
  if (prefix.includes('b')) return undefined;
  const raw = prefix.includes('r');
  let out = '';
  for (const child of node.children) {
    if (child.type === 'interpolation') return undefined;
    if (child.type !== 'string_content') continue;
    if (raw) {
      out += child.text;
      continue;
    }
    // Text between escape_sequence children is literal; escapes are decoded.
    let pos = child.startIndex;
    for (const part of child.children) {
      if (part.type !== 'escape_sequence') continue;
      out += child.text.slice(pos - child.startIndex, part.startIndex - child.startIndex);
      out += decodeEscape(part.text);
      pos = part.endIndex;
    }
    out += child.text.slice(pos - child.startIndex);
  }
  return out;
}

function literal(node: Node): Literal | undefined {
  switch (node.type) {
    case 'none':
      return { kind: 'none' };
    case 'string': {
      const value = stringValue(node);
      return value === undefined ? undefined : { kind: 'str', value };
    }
    case 'concatenated_string': {
      let value = '';
      for (const part of node.namedChildren) {
        if (part.type !== 'string') continue;
        const v = stringValue(part);
        if (v === undefined) return undefined;
        value += v;
      }
      return { kind: 'str', value };
    }
    case 'parenthesized_expression': {
      const inner = node.namedChildren.filter((c) => c.type !== 'comment');
      return inner.length === 1 ? literal(inner[0]!) : undefined;
    }
    case 'tuple':
    case 'list': {
      const items: Literal[] = [];
      for (const child of node.namedChildren) {
        if (child.type === 'comment') continue;
        const item = literal(child);
        if (!item) return undefined;
        items.push(item);
      }
      return { kind: 'seq', items };
    }
    default:
      return undefined;
  }
}

interface Assigned {
  node: Node;
  line: number;
}

/** Module-level `name = value` / `name: T = value` / `a = b = value` assignments to the header names. */
function headerAssignments(root: Node): Map<HeaderName, Assigned> {
  const found = new Map<HeaderName, Assigned>();
  for (const stmt of root.namedChildren) {
    if (stmt.type !== 'expression_statement') continue;
    const assign = stmt.namedChildren[0];
    if (!assign || assign.type !== 'assignment') continue;
    // `a = b = value` nests assignments on the right; every left side gets the innermost value.
    const targets: Node[] = [];
    let cur: Node = assign;
    while (cur.type === 'assignment') {
      const left = cur.childForFieldName('left');
      if (left) targets.push(left);
      const right = cur.childForFieldName('right');
      if (!right) break; // bare annotation `revision: str` assigns nothing
      cur = right;
    }
    if (cur.type === 'assignment') continue;
    for (const target of targets) {
      if (target.type !== 'identifier') continue;
      const name = target.text as HeaderName;
      if (HEADER_NAMES.includes(name)) found.set(name, { node: cur, line: cur.startPosition.row + 1 });
    }
  }
  return found;
}

function moduleDocstring(root: Node): string | undefined {
  const first = root.namedChildren.find((c) => c.type !== 'comment');
  if (!first || first.type !== 'expression_statement' || first.namedChildCount !== 1) return undefined;
  const expr = first.namedChildren[0]!;
  if (expr.type !== 'string' && expr.type !== 'concatenated_string') return undefined;
  const lit = literal(expr);
  return lit?.kind === 'str' ? lit.value : undefined;
}

function moduleFunctions(root: Node): Map<string, Node> {
  const fns = new Map<string, Node>();
  for (const stmt of root.namedChildren) {
    const def = stmt.type === 'decorated_definition' ? stmt.childForFieldName('definition') : stmt;
    if (!def || def.type !== 'function_definition') continue;
    const name = def.childForFieldName('name')?.text;
    if (name) fns.set(name, def); // a later def wins, as in Python
  }
  return fns;
}

/** Parses one migration file's source. Pure: no I/O. Throws ConfigError naming `file:line`. */
export function parseMigrationSource(source: string, absPath: string, relFile: string): MigrationScript {
  const tree = parsePython(source);
  const root = tree.rootNode;
  const syntax = firstSyntaxError(root);
  if (syntax) {
    throw new ConfigError(
      `${relFile}:${syntax.line}: Python syntax error (${syntax.text}); fix the migration file so Alembic can import it`,
    );
  }
  const headers = headerAssignments(root);

  const rev = headers.get('revision');
  if (!rev) {
    throw new ConfigError(
      `${relFile}:1: no module-level 'revision = "..."' assignment; every Alembic migration needs a literal revision id`,
    );
  }
  const revLit = literal(rev.node);
  if (revLit?.kind !== 'str' || revLit.value === '') {
    throw new ConfigError(
      `${relFile}:${rev.line}: revision must be a literal non-empty string, got ${JSON.stringify(rev.node.text.slice(0, 60))}; migration-gate reads migrations without running them`,
    );
  }

  const ids = (name: HeaderName): string[] => {
    const a = headers.get(name);
    if (!a) return [];
    const lit = literal(a.node);
    const bad = (): never => {
      throw new ConfigError(
        `${relFile}:${a.line}: ${name} must be None, a string, or a tuple/list of strings, got ${JSON.stringify(a.node.text.slice(0, 60))}; migration-gate reads migrations without running them`,
      );
    };
    if (!lit) return bad();
    if (lit.kind === 'none') return [];
    if (lit.kind === 'str') return lit.value === '' ? [] : [lit.value];
    const out: string[] = [];
    for (const item of lit.items) {
      if (item.kind !== 'str') return bad();
      if (!out.includes(item.value)) out.push(item.value);
    }
    return out;
  };

  const fns = moduleFunctions(root);
  const doc = moduleDocstring(root);
  const message = doc?.trim().split('\n')[0]?.trim();
  const script: MigrationScript = {
    revision: revLit.value,
    downRevisions: ids('down_revision'),
    branchLabels: ids('branch_labels'),
    dependsOn: ids('depends_on'),
    path: absPath,
    file: relFile,
    source,
    root,
  };
  if (message) script.message = message;
  const upgrade = fns.get('upgrade');
  const downgrade = fns.get('downgrade');
  if (upgrade) script.upgrade = upgrade;
  if (downgrade) script.downgrade = downgrade;
  return script;
}

/** Alembic loads `*.py` except `__init__*` (and we also skip dot files: editor lock files). */
function isMigrationFileName(name: string): boolean {
  return name.endsWith('.py') && !name.startsWith('.') && !name.startsWith('__init__');
}

/** Files of one version location in Alembic's order: sorted names, then sub-directories sorted, depth first. */
async function listPyFiles(dir: string, recursive: boolean): Promise<string[]> {
  const out: string[] = [];
  const stack: string[] = [dir];
  while (stack.length > 0) {
    const current = stack.pop()!;
    let entries;
    try {
      entries = await readdir(current, { withFileTypes: true });
    } catch (err) {
      // Alembic silently skips version locations that do not exist.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && current === dir) return [];
      throw new ConfigError(`cannot read version directory ${current}: ${(err as Error).message}`, [], {
        cause: err,
      });
    }
    const files = entries
      .filter((e) => !e.isDirectory() && isMigrationFileName(e.name))
      .map((e) => e.name)
      .sort(byCodePoint);
    for (const f of files) out.push(path.join(current, f));
    if (recursive) {
      const dirs = entries
        .filter((e) => e.isDirectory() && !e.name.endsWith('__pycache__'))
        .map((e) => e.name)
        .sort(byCodePoint);
      for (let i = dirs.length - 1; i >= 0; i--) stack.push(path.join(current, dirs[i]!));
    }
  }
  return out;
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Reads and parses every migration file of the project, in Alembic's load order (version
 * locations in configured order, sorted file names). The order matters: Alembic uses it to break
 * ties when it orders branches.
 */
export async function loadMigrations(project: AlembicProject): Promise<MigrationScript[]> {
  await initPythonParser();
  const seen = new Set<string>();
  const files: Array<{ abs: string; rel: string }> = [];
  for (const dir of project.versionLocations) {
    for (const abs of await listPyFiles(dir, project.recursive === true)) {
      if (seen.has(abs)) continue; // Alembic ignores a file reached twice through overlapping locations
      seen.add(abs);
      files.push({ abs, rel: path.relative(project.projectDir, abs) || abs });
    }
  }
  // Read concurrently (one at a time leaves the CPU idle on large histories), parse in load order.
  const sources = await Promise.all(
    files.map(({ abs, rel }) =>
      readFile(abs, 'utf8').catch((err: unknown) => {
        const code = (err as NodeJS.ErrnoException).code ?? String(err);
        throw new ConfigError(
          `${rel}: cannot read migration file (${code}); fix the file or its permissions`,
          [],
          {
            cause: err,
          },
        );
      }),
    ),
  );
  const scripts = files.map(({ abs, rel }, i) => parseMigrationSource(sources[i]!, abs, rel));
  return scripts;
}
