/**
 * Reads Alembic migration files with tree-sitter-python: the revision header (module-level
 * `revision`, `down_revision`, `branch_labels`, `depends_on`, typed or not), the docstring message
 * and, when asked, the facts the classifier needs from `upgrade()` / `downgrade()`. Each file is
 * parsed once and its tree freed before the next: memory holds facts, not trees. Never executes or
 * regex-parses Python.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Node } from 'web-tree-sitter';
import { hasBody, packBody } from './packed.js';
import { ConfigError, FailedError } from '../errors.js';
import type { MigrationBody, MigrationScript } from '../types.js';
import type { AlembicProject } from './config.js';
import {
  deepNestingLine,
  firstSyntaxError,
  initPythonParser,
  parsePython,
  parsePythonSliced,
  plainLiteral,
  PYTHON_MAX_NESTING,
} from './python.js';
import { MAX_ANALYSED_BYTES, readSource, type SourceFile } from './read.js';
import { resolveHeaderNames, type NameRef } from './names.js';
import { parseWorker } from './parse-pool.js';
import { LOAD_CHUNK, startSharedLoad, useLoadThreads } from './load-pool.js';
import { scanModule, type ModuleScan, type TopAssignment, type TopStatement } from './module-scan.js';

type HeaderName = 'revision' | 'down_revision' | 'branch_labels' | 'depends_on';

/** A Python literal we understand: None, a str, a tuple/list of those, or a (dotted) name to resolve. */
type Literal =
  | { kind: 'none' }
  | { kind: 'str'; value: string }
  | { kind: 'seq'; items: Literal[] }
  | { kind: 'name'; name: string };

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
  const plain = plainLiteral(node.text);
  if (plain !== undefined) return plain;
  // One pass over the children, each type read once (a type read is a call into the WASM parser).
  let raw = false;
  let out = '';
  for (const child of node.children) {
    const type = child.type;
    if (type === 'string_start') {
      // The prefix letters (r, b, f, u) precede the quotes.
      const prefix = child.text.replace(/['"]/g, '').toLowerCase();
      if (prefix.includes('b')) return undefined;
      raw = prefix.includes('r');
      continue;
    }
    if (type === 'interpolation') return undefined;
    if (type !== 'string_content') continue;
    const text = child.text;
    if (raw) {
      out += text;
      continue;
    }
    // Text between escape_sequence children is literal; escapes are decoded.
    const at = child.startIndex;
    let pos = at;
    for (const part of child.children) {
      if (part.type !== 'escape_sequence') continue;
      out += text.slice(pos - at, part.startIndex - at);
      out += decodeEscape(part.text);
      pos = part.endIndex;
    }
    out += text.slice(pos - at);
  }
  return out;
}

/** `a.b.c` for identifier/attribute chains, else undefined. */
function dottedName(node: Node): string | undefined {
  const type = node.type;
  if (type === 'identifier') return node.text;
  if (type !== 'attribute') return undefined;
  const obj = node.childForFieldName('object');
  const attr = node.childForFieldName('attribute');
  const left = obj ? dottedName(obj) : undefined;
  return left && attr ? `${left}.${attr.text}` : undefined;
}

/** `type` when the caller has read it already (each read is a call into the WASM parser). */
function literal(node: Node, type = node.type): Literal | undefined {
  switch (type) {
    case 'none':
      return { kind: 'none' };
    case 'identifier':
    case 'attribute': {
      const name = dottedName(node);
      return name ? { kind: 'name', name } : undefined;
    }
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
  /** The value's node type. */
  type: string;
  line: number;
}

/** Module-level `name = value` / `name: T = value` / `a = b = value` assignments, by name (a later one wins). */
function moduleAssignments(assignments: readonly TopAssignment[]): Map<string, Assigned> {
  const found = new Map<string, Assigned>();
  for (const a of assignments) {
    // The statement's first child only, as written by hand or by Alembic's template.
    if (!a.first || a.broken) continue;
    // `a = b = value` nests assignments on the right; every left side gets the innermost value.
    // The names assigned (identifier targets only); the scan read the statement's own target.
    const targets: string[] = [];
    if (a.leftName !== undefined) targets.push(a.leftName);
    let cur = a.right;
    let type = a.rightType;
    if (!cur || type === undefined) continue; // bare annotation `revision: str` assigns nothing
    while (type === 'assignment') {
      const left: Node | null = cur.childForFieldName('left');
      if (left?.type === 'identifier') targets.push(left.text);
      const right: Node | null = cur.childForFieldName('right');
      if (!right) break;
      cur = right;
      type = right.type;
    }
    if (type === 'assignment') continue;
    for (const target of targets) found.set(target, { node: cur, type, line: cur.startPosition.row + 1 });
  }
  return found;
}

/** Module-level imports: local name -> dotted module path (`cli` -> `app.cli`, `X` -> `app.cli.X`). */
function moduleImports(statements: readonly TopStatement[]): Map<string, string> {
  const imports = new Map<string, string>();
  for (const { node: stmt, type } of statements) {
    if (type === 'import_statement') {
      for (const name of stmt.childrenForFieldName('name')) {
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
      const from = stmt.childForFieldName('module_name')?.text ?? '';
      for (const name of stmt.childrenForFieldName('name')) {
        const aliased = name.type === 'aliased_import';
        const full = aliased ? name.childForFieldName('name')?.text : name.text;
        const local = aliased ? name.childForFieldName('alias')?.text : full;
        if (full && local) imports.set(local, `${from}.${full}`);
      }
    }
  }
  return imports;
}

function moduleDocstring(statements: readonly TopStatement[]): string | undefined {
  const first = statements.find((s) => s.type !== 'comment');
  if (!first || first.type !== 'expression_statement' || first.node.namedChildCount !== 1) return undefined;
  const expr = first.node.namedChildren[0]!;
  const type = expr.type;
  if (type !== 'string' && type !== 'concatenated_string') return undefined;
  const lit = literal(expr, type);
  return lit?.kind === 'str' ? lit.value : undefined;
}

/** Extracts the classifier's facts from a module while its tree is alive (injected: src/classify). */
export type BodyExtractor = (root: Node, scan: ModuleScan) => MigrationBody;

export interface ScriptOptions {
  /** Extract the classifier's facts too (absent: the header only, for the graph). */
  body?: BodyExtractor;
  /** The text is a prefix of the file: a syntax error at its cut is expected, use what parsed. */
  partial?: boolean;
  /** Keep the body serialized (`packedBody`). */
  pack?: boolean;
}

/** A header value written as a name imported from another module: resolved after all files are read. */
export interface HeaderRef extends NameRef {
  header: 'down_revision' | 'branch_labels' | 'depends_on';
  line: number;
}

const SYNTAX_HINT = 'fix the migration file so Alembic can import it';

function headerError(relFile: string, a: Assigned, name: HeaderName): ConfigError {
  const shape =
    name === 'revision' ? 'a literal non-empty string' : 'None, a string, or a tuple/list of strings';
  return new ConfigError(
    `${relFile}:${a.line}: ${name} must be ${shape}, got ${JSON.stringify(a.node.text.slice(0, 60))}; migration-gate reads migrations without running them`,
  );
}

/** Header ids: literals, same-file constants, or names imported from elsewhere (returned as refs). */
function headerIds(
  name: Exclude<HeaderName, 'revision'>,
  relFile: string,
  assigned: Map<string, Assigned>,
  imports: () => Map<string, string>,
  refs: HeaderRef[],
): string[] {
  const a = assigned.get(name);
  if (!a) return [];
  const lit = literal(a.node, a.type);
  if (!lit) throw headerError(relFile, a, name);
  const items = lit.kind === 'seq' ? lit.items : [lit];
  if (lit.kind === 'none') return [];
  const out: string[] = [];
  const add = (v: string) => {
    if (v !== '' && !out.includes(v)) out.push(v);
  };
  for (const item of items) {
    if (item.kind === 'str') {
      add(item.value);
    } else if (item.kind === 'name') {
      const local = constantOf(item.name, assigned);
      if (local !== undefined) {
        add(local);
        continue;
      }
      const first = item.name.split('.')[0]!;
      const from = imports().get(first);
      if (!from) throw headerError(relFile, a, name);
      refs.push({
        header: name,
        line: a.line,
        text: item.name,
        qualified: [from, ...item.name.split('.').slice(1)].join('.'),
      });
    } else {
      throw headerError(relFile, a, name);
    }
  }
  // An exact-size copy: an array grown by push keeps room for 16 more, times every script of the history.
  return out.slice();
}

/** A module-level `NAME = "literal"` of this file. */
function constantOf(name: string, assigned: Map<string, Assigned>): string | undefined {
  if (name.includes('.')) return undefined;
  const a = assigned.get(name);
  const lit = a ? literal(a.node, a.type) : undefined;
  return lit?.kind === 'str' ? lit.value : undefined;
}

/** A string that does not share memory with the text it was cut from. */
function ownCopy(text: string | undefined): string | undefined {
  return text === undefined ? undefined : Buffer.from(text, 'utf8').toString('utf8');
}

/** Header and (optionally) body facts of a parsed module. Throws ConfigError naming `file:line`. */
export function scriptFromTree(
  root: Node,
  absPath: string,
  relFile: string,
  opts: ScriptOptions = {},
): { script: MigrationScript; refs: HeaderRef[] } {
  const syntax = opts.partial ? undefined : firstSyntaxError(root);
  if (syntax) {
    throw new ConfigError(`${relFile}:${syntax.line}: Python syntax error (${syntax.text}); ${SYNTAX_HINT}`);
  }
  const scan = scanModule(root);
  const assigned = moduleAssignments(scan.assignments);
  const rev = assigned.get('revision');
  if (!rev) {
    throw new ConfigError(
      `${relFile}:1: no module-level 'revision = "..."' assignment; every Alembic migration needs a literal revision id`,
    );
  }
  const revLit = literal(rev.node, rev.type);
  const revision =
    revLit?.kind === 'str'
      ? revLit.value
      : revLit?.kind === 'name'
        ? constantOf(revLit.name, assigned)
        : undefined;
  if (!revision) throw headerError(relFile, rev, 'revision');

  // Read only when a header names something not defined in this file (rare): most files never need it.
  let importsRead: Map<string, string> | undefined;
  const imports = () => (importsRead ??= moduleImports(scan.statements));
  const refs: HeaderRef[] = [];
  const doc = moduleDocstring(scan.statements);
  // A copy, not a slice: a slice of the source would keep the whole file's text alive with the script.
  const message = ownCopy(doc?.trim().split('\n')[0]?.trim());
  const script: MigrationScript = {
    revision,
    downRevisions: headerIds('down_revision', relFile, assigned, imports, refs),
    branchLabels: headerIds('branch_labels', relFile, assigned, imports, refs),
    dependsOn: headerIds('depends_on', relFile, assigned, imports, refs),
    path: absPath,
    file: relFile,
  };
  if (message) script.message = message;
  if (opts.body) {
    const body = opts.body(root, scan);
    if (opts.pack) script.packedBody = packBody(body);
    else script.body = body;
  }
  return { script, refs };
}

/** True for the error V8 throws when recursion exhausts the stack. */
function isStackOverflow(err: unknown): boolean {
  return err instanceof RangeError && /call stack/i.test(err.message);
}

/**
 * Runs `fn` on a tree; a stack overflow in the (recursive) walkers becomes the file error Python
 * itself would give for such nesting, with the line, instead of an internal error.
 */
function withNestingGuard<T>(root: Node, relFile: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (!isStackOverflow(err)) throw err;
    const line = deepNestingLine(root);
    const where = line === undefined ? `${relFile}:1` : `${relFile}:${line}`;
    throw new ConfigError(
      `${where}: Python syntax error (too many nested parentheses: brackets nest deeper than the ${PYTHON_MAX_NESTING} levels Python accepts); ${SYNTAX_HINT}`,
      [],
      { cause: err },
    );
  }
}

/** Parses one migration file's source. Pure: no I/O. Throws ConfigError naming `file:line`. */
export function parseMigrationSource(
  source: string,
  absPath: string,
  relFile: string,
  opts: ScriptOptions = {},
): MigrationScript {
  const tree = parsePython(source);
  try {
    const { script, refs } = withNestingGuard(tree.rootNode, relFile, () =>
      scriptFromTree(tree.rootNode, absPath, relFile, opts),
    );
    if (refs.length > 0) {
      const r = refs[0]!;
      throw new ConfigError(`${relFile}:${r.line}: ${r.header} names ${r.text}, defined outside this file`);
    }
    return script;
  } finally {
    tree.delete();
  }
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

/** A problem worth a warning that does not stop the load (an unresolved branch label name). */
export interface LoadWarning {
  file: string;
  line: number;
  message: string;
  hint: string;
}

export interface LoadOptions {
  /** Aborted on SIGTERM/SIGINT: reading stops between files and between parse slices. */
  signal?: AbortSignal;
  /** Extract the classifier's facts of every file while its tree is alive (check's lint mode). */
  body?: BodyExtractor;
  /** Keep those facts serialized (`packedBody`, see packed.ts): a long history's load stays small. */
  pack?: boolean;
  /** Files above this are not analysed (default MAX_ANALYSED_BYTES). */
  maxBytes?: number;
  /** Parse time one file may take before it is reported as too costly to analyse (ms). */
  parseBudgetMs?: number;
  onWarning?: (w: LoadWarning) => void;
  /** Read a long history in two threads when the machine has the CPUs (load-pool.ts). */
  threads?: boolean;
  /**
   * `body` by name, for the load worker, which imports the classifier's extractor itself. Without it
   * a load that extracts facts stays in one thread.
   */
  workerBody?: 'full' | 'replay';
  /** Told, once every file is read, how: in how many threads, and how many files the worker read. */
  onRead?: (info: { files: number; threads: 1 | 2; workerFiles: number }) => void;
}

/** A file's parse may take this long (ms of parser time) before it is "unknown: too costly". */
export const PARSE_BUDGET_MS = 20_000;
/**
 * Files below this parse in one synchronous call on the main thread (milliseconds, a few hundred at
 * worst); larger ones in the parse worker, which SIGTERM or the budget can stop at once.
 */
const SLICE_THRESHOLD = 16 * 1024;
/** Yield to the event loop after this much work between files (ms). */
const YIELD_EVERY_MS = 50;

function interrupted(signal: AbortSignal, done: number, total: number, file?: string): FailedError {
  const why = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? 'a signal');
  const where = file
    ? `while parsing ${file}`
    : `while reading the migration files (${done} of ${total} read)`;
  return new FailedError(`interrupted: received ${why} ${where}; nothing was changed, re-run when ready`);
}

const mb = (bytes: number): string => `${(bytes / (1024 * 1024)).toFixed(1)} MB`;

/** The body of a migration whose file is not analysed: one opaque operation that blocks. */
function unanalysedBody(detail: string): MigrationBody {
  return {
    upgrade: [{ kind: 'opaque', reason: 'too-large', detail, text: '', line: 0, autocommit: false }],
    downgrade: [],
    allows: [],
    allowProblems: [],
  };
}

/** What one parse of one file yields (plain data: it crosses from the parse worker by structured clone). */
export type ParsedFile = { script: MigrationScript; refs: HeaderRef[] };

/** What parseFileText extracts for a load with these options. */
function scriptOptionsFor(opts: LoadOptions): ScriptOptions {
  return opts.body ? { body: opts.body, pack: opts.pack } : {};
}

/** A file parsed in one synchronous call (in full, below the slice threshold); others take parseLarge. */
export function isSmallSource(src: SourceFile): boolean {
  return !src.truncated && src.text.length < SLICE_THRESHOLD;
}

/**
 * Parses a file's text synchronously: header (and body facts when asked), tree freed. The one
 * place a migration's tree lives; used in-process for small files and inside the parse worker.
 */
export function parseFileText(text: string, abs: string, rel: string, opts: ScriptOptions): ParsedFile {
  const tree = parsePython(text);
  try {
    return withNestingGuard(tree.rootNode, rel, () => scriptFromTree(tree.rootNode, abs, rel, opts));
  } finally {
    tree.delete();
  }
}

/** The first 64 KB of a text, cut at a line boundary: where the revision header is. */
function headerPrefix(text: string): string {
  if (text.length <= 64 * 1024) return text;
  const cut = text.lastIndexOf('\n', 64 * 1024);
  return text.slice(0, cut < 0 ? 64 * 1024 : cut + 1);
}

/**
 * Parses a large file in a way that can be stopped at once: in the parse worker (terminated on
 * SIGTERM or when the budget is spent), or, when the worker is not available (running from the
 * TypeScript sources), in slices that yield to the event loop.
 */
async function parseLarge(
  text: string,
  f: { abs: string; rel: string },
  scriptOpts: { body: boolean; partial?: boolean },
  opts: LoadOptions,
): Promise<ParsedFile | 'over-budget'> {
  const budgetMs = opts.parseBudgetMs ?? PARSE_BUDGET_MS;
  const onAbort = () => interrupted(opts.signal!, 0, 1, f.rel);
  const pool = parseWorker();
  if (pool) {
    return pool.parse(
      { text, abs: f.abs, rel: f.rel, ...scriptOpts },
      { signal: opts.signal, budgetMs, onAbort },
    );
  }
  const tree = await parsePythonSliced(text, { signal: opts.signal, budgetMs, onAbort });
  if (!tree) return 'over-budget';
  try {
    const so: ScriptOptions = { partial: scriptOpts.partial === true };
    if (scriptOpts.body && opts.body) so.body = opts.body;
    return withNestingGuard(tree.rootNode, f.rel, () => scriptFromTree(tree.rootNode, f.abs, f.rel, so));
  } finally {
    tree.delete();
  }
}

/** The revision header of a file whose whole text is not analysed; its body blocks as unknown. */
async function headerOnly(
  text: string,
  f: { abs: string; rel: string },
  opts: LoadOptions,
  why: string,
): Promise<ParsedFile> {
  const parsed = await parseLarge(headerPrefix(text), f, { body: false, partial: true }, opts);
  if (parsed === 'over-budget') {
    throw new ConfigError(
      `${f.rel}:1: ${why}, and even its first 64 KB could not be parsed within ${((opts.parseBudgetMs ?? PARSE_BUDGET_MS) / 1000).toFixed(0)} s; split the migration into smaller files`,
    );
  }
  parsed.script.body = unanalysedBody(why);
  return parsed;
}

/** One file, read: parsed once, header (and body facts if asked) extracted, tree freed. */
async function scriptOfFile(
  src: SourceFile,
  f: { abs: string; rel: string },
  opts: LoadOptions,
): Promise<ParsedFile> {
  if (src.truncated) {
    const max = opts.maxBytes ?? MAX_ANALYSED_BYTES;
    return headerOnly(
      src.text,
      f,
      opts,
      `the file is ${mb(src.bytes)}, above the ${mb(max)} migration-gate analyses`,
    );
  }
  if (isSmallSource(src)) {
    return parseFileText(src.text, f.abs, f.rel, scriptOptionsFor(opts));
  }
  const parsed = await parseLarge(src.text, f, { body: opts.body !== undefined }, opts);
  if (parsed !== 'over-budget') return parsed;
  const budget = opts.parseBudgetMs ?? PARSE_BUDGET_MS;
  return headerOnly(
    src.text,
    f,
    opts,
    `parsing the file (${mb(src.bytes)}) took over ${(budget / 1000).toFixed(0)} s`,
  );
}

/**
 * `abs` relative to `dir`. Under `dir` it is a slice of `abs` (V8 keeps a slice as a view of the
 * longer string): a 30,000-file history then holds each path once, not twice.
 */
function relativeTo(dir: string, abs: string): string {
  const prefix = dir.endsWith(path.sep) ? dir : dir + path.sep;
  if (abs.startsWith(prefix) && abs.length > prefix.length) return abs.slice(prefix.length);
  return path.relative(dir, abs) || abs;
}

/** Every migration file of the project, in Alembic's load order (version locations in order, sorted names). */
async function migrationFiles(project: AlembicProject): Promise<Array<{ abs: string; rel: string }>> {
  const seen = new Set<string>();
  const files: Array<{ abs: string; rel: string }> = [];
  for (const dir of project.versionLocations) {
    for (const abs of await listPyFiles(dir, project.recursive === true)) {
      if (seen.has(abs)) continue; // Alembic ignores a file reached twice through overlapping locations
      seen.add(abs);
      files.push({ abs, rel: relativeTo(project.projectDir, abs) });
    }
  }
  return files;
}

/**
 * Reads files one at a time (see read.ts) and handles each in order; yields to the event loop every
 * few tens of ms so a signal stops the work promptly.
 */
async function eachFile(
  files: Array<{ abs: string; rel: string }>,
  opts: LoadOptions,
  handle: (src: SourceFile, f: { abs: string; rel: string }) => Promise<void>,
): Promise<void> {
  const signal = opts.signal;
  const maxBytes = opts.maxBytes ?? MAX_ANALYSED_BYTES;
  let lastYield = performance.now();
  for (let i = 0; i < files.length; i++) {
    if (signal?.aborted) throw interrupted(signal, i, files.length);
    const f = files[i]!;
    await handle(await readSource(f.abs, f.rel, maxBytes), f);
    if (performance.now() - lastYield > YIELD_EVERY_MS) {
      await yieldToLoop();
      lastYield = performance.now();
      if (signal?.aborted) throw interrupted(signal, i + 1, files.length);
    }
  }
}

/**
 * Reads and parses every migration file of the project, in Alembic's load order (version
 * locations in configured order, sorted file names). The order matters: Alembic uses it to break
 * ties when it orders branches. Without `opts.body`, only headers are kept; `loadBodies` adds the
 * classifier's facts for the migrations that will be classified.
 */
export async function loadMigrations(
  project: AlembicProject,
  opts: LoadOptions = {},
): Promise<MigrationScript[]> {
  await initPythonParser();
  const files = await migrationFiles(project);
  const shared =
    opts.threads === true && (!opts.body || opts.workerBody !== undefined) && useLoadThreads(files.length);
  let parsed: ParsedFile[] = [];
  let workerFiles = 0;
  if (shared) {
    ({ parsed, workerFiles } = await readShared(files, opts));
  } else {
    await eachFile(files, opts, async (src, f) => {
      parsed.push(await scriptOfFile(src, f, opts));
    });
  }
  opts.onRead?.({ files: files.length, threads: shared ? 2 : 1, workerFiles });
  const scripts: MigrationScript[] = [];
  const refs: Array<{ script: MigrationScript; refs: HeaderRef[] }> = [];
  for (const r of parsed) {
    // The parse worker (large files) hands back an unpacked body.
    if (opts.pack && r.script.body) {
      r.script.packedBody = packBody(r.script.body);
      delete r.script.body;
    }
    scripts.push(r.script);
    if (r.refs.length > 0) refs.push(r);
  }
  parsed = [];
  if (refs.length > 0) await applyHeaderRefs(refs, project, opts);
  return scripts;
}

/** Resolves with `p`, or rejects with `onAbort()` as soon as the signal fires. */
function unlessAborted<T>(p: Promise<T>, signal: AbortSignal | undefined, onAbort: () => Error): Promise<T> {
  if (!signal) return p;
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(onAbort());
    if (signal.aborted) return abort();
    signal.addEventListener('abort', abort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}

/**
 * Two threads read the files (load-pool.ts): each takes the next chunk in order. Then, in file order,
 * this thread reads what is left (large files, whatever the worker did not send back) with the
 * one-thread code, and meets the first error in file order where a one-thread load would: an error
 * in a chunk only stops new claims, so every file before it is read by someone.
 */
async function readShared(
  files: Array<{ abs: string; rel: string }>,
  opts: LoadOptions,
): Promise<{ parsed: ParsedFile[]; workerFiles: number }> {
  const maxBytes = opts.maxBytes ?? MAX_ANALYSED_BYTES;
  const signal = opts.signal;
  const slots: Array<ParsedFile | undefined> = new Array<ParsedFile | undefined>(files.length);
  let read = 0;
  const load = startSharedLoad(
    { files, body: opts.body ? opts.workerBody : undefined, pack: opts.pack === true, maxBytes },
    (i, p) => {
      slots[i] = p;
      read++;
    },
  );
  const so = scriptOptionsFor(opts);
  let failedAt: number | undefined;
  let failure: unknown;
  try {
    for (let start = load.claim(); start !== undefined; start = load.claim()) {
      if (signal?.aborted) throw interrupted(signal, read, files.length);
      const end = Math.min(start + LOAD_CHUNK, files.length);
      for (let i = start; i < end && failedAt === undefined; i++) {
        const f = files[i]!;
        try {
          const src = await readSource(f.abs, f.rel, maxBytes);
          if (!isSmallSource(src)) continue; // read below, with the parse budget
          slots[i] = parseFileText(src.text, f.abs, f.rel, so);
          read++;
        } catch (err) {
          failedAt = i;
          failure = err;
          load.stop();
        }
      }
      // Lets the worker's chunks in, and a signal.
      await yieldToLoop();
    }
    await unlessAborted(load.finished, signal, () => interrupted(signal!, read, files.length));
    const workerFiles = load.workerFiles();
    const parsed: ParsedFile[] = [];
    for (let i = 0; i < files.length; i++) {
      if (i === failedAt) throw failure;
      let r = slots[i];
      if (!r) {
        if (signal?.aborted) throw interrupted(signal, i, files.length);
        const f = files[i]!;
        r = await scriptOfFile(await readSource(f.abs, f.rel, maxBytes), f, opts);
      }
      parsed.push(r);
    }
    return { parsed, workerFiles };
  } finally {
    await load.terminate();
  }
}

/** Resolves header names imported from the project's own modules; branch labels may stay opaque. */
async function applyHeaderRefs(
  items: Array<{ script: MigrationScript; refs: HeaderRef[] }>,
  project: AlembicProject,
  opts: LoadOptions,
): Promise<void> {
  const values = await resolveHeaderNames(
    items.flatMap((i) => i.refs),
    project,
  );
  for (const { script, refs } of items) {
    for (const ref of refs) {
      const value = values.get(ref.qualified);
      const list =
        ref.header === 'down_revision'
          ? script.downRevisions
          : ref.header === 'depends_on'
            ? script.dependsOn
            : script.branchLabels;
      if (value !== undefined) {
        if (!list.includes(value)) list.push(value);
        continue;
      }
      if (ref.header !== 'branch_labels') {
        throw new ConfigError(
          `${script.file}:${ref.line}: ${ref.header} names ${ref.text} (${ref.qualified}), which migration-gate cannot resolve to a string in the project's own modules; write the revision id as a literal string`,
        );
      }
      // A branch label only names a branch: the graph does not need it, so keep the history usable.
      opts.onWarning?.({
        file: script.file,
        line: ref.line,
        message: `branch_labels names ${ref.text} (${ref.qualified}), which migration-gate cannot resolve to a string in the project's own modules, so the label is left out: \`${ref.text}@head\` cannot be used as a --from/--to target`,
        hint: 'Define the constant as a literal string in a module inside the project (on prepend_sys_path or next to the migrations), or write the label literally.',
      });
    }
  }
}

/**
 * Adds the classifier's facts (`body`) to the scripts that lack them: each file read and parsed
 * again, once, its facts extracted and its tree freed. Only the migrations that will be classified
 * pay for this (the pending set), not the whole history. `need: 'replay'` accepts a replay-only body.
 */
export async function loadBodies(
  scripts: readonly MigrationScript[],
  body: BodyExtractor,
  opts: Omit<LoadOptions, 'body'> & { need?: 'full' | 'replay' } = {},
): Promise<void> {
  // A replay-only body (upgrade()'s operations) serves a replay, not a judgement.
  const missing = scripts.filter((s) => !hasBody(s, opts.need ?? 'full'));
  if (missing.length === 0) return;
  await initPythonParser();
  const byPath = new Map(missing.map((s) => [s.path, s]));
  await eachFile(
    missing.map((s) => ({ abs: s.path, rel: s.file })),
    opts,
    async (src, f) => {
      const { script } = await scriptOfFile(src, f, { ...opts, body });
      const target = byPath.get(f.abs)!;
      if (script.revision !== target.revision) {
        throw new ConfigError(
          `${f.rel}: its revision changed from ${target.revision} to ${script.revision} while migration-gate was reading it; re-run once the files stop changing`,
        );
      }
      target.body = script.body;
      delete target.packedBody;
    },
  );
}
