/**
 * The Python parser: tree-sitter-python compiled to WASM, loaded once per process.
 * Loading is async; after `initPythonParser()` parsing is synchronous (`parsePython`) or in slices
 * that yield to the event loop (`parsePythonSliced`), so SIGTERM is honoured during a long parse.
 */
import { createRequire } from 'node:module';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Language, Parser, type Node, type Tree } from 'web-tree-sitter';

const require = createRequire(import.meta.url);
let parser: Parser | undefined;
/** A second parser for sliced parses: a suspended parse keeps its state in its parser, so a
 * synchronous parsePython() meanwhile (env.py advice, tests) must not run on the same one. */
let slicedParser: Parser | undefined;
let loading: Promise<Parser> | undefined;

export async function initPythonParser(): Promise<void> {
  if (parser) return;
  loading ??= (async () => {
    await Parser.init();
    const language = await Language.load(require.resolve('tree-sitter-python/tree-sitter-python.wasm'));
    const p = new Parser();
    p.setLanguage(language);
    const s = new Parser();
    s.setLanguage(language);
    slicedParser = s;
    parser = p;
    return p;
  })();
  await loading;
}

export function parsePython(source: string): Tree {
  if (!parser) throw new Error('initPythonParser() must be awaited before parsePython()');
  const tree = parser.parse(source);
  if (!tree) throw new Error('tree-sitter returned no tree');
  return tree;
}

export interface SlicedParseOptions {
  /** Checked between slices: when aborted, the parse stops and `onAbort` is thrown. */
  signal?: AbortSignal;
  /** Builds the error thrown when the signal fires. */
  onAbort?: () => Error;
  /** Stop after this much parse time (ms, the slices' sum): resolves `undefined` instead of a tree. */
  budgetMs?: number;
  /** Length of one slice before yielding to the event loop (ms). */
  sliceMs?: number;
}

/**
 * Parses in slices: tree-sitter calls the progress callback every few hundred steps; returning true
 * suspends the parse, and the next parse() call on the same parser with the same text resumes it.
 * Between slices the event loop runs (signal handlers, timers). Returns undefined when the budget
 * is spent (the caller reports the file as too costly to analyse).
 */
export async function parsePythonSliced(
  source: string,
  opts: SlicedParseOptions = {},
): Promise<Tree | undefined> {
  if (!slicedParser) throw new Error('initPythonParser() must be awaited before parsePythonSliced()');
  const p = slicedParser;
  const sliceMs = opts.sliceMs ?? 50;
  let spent = 0;
  try {
    for (;;) {
      if (opts.signal?.aborted) throw opts.onAbort?.() ?? new Error('parse interrupted');
      const start = performance.now();
      const tree = p.parse(source, null, { progressCallback: () => performance.now() - start > sliceMs });
      spent += performance.now() - start;
      if (tree) return tree;
      if (opts.budgetMs !== undefined && spent >= opts.budgetMs) return undefined;
      await yieldToLoop();
    }
  } finally {
    // A suspended parse would otherwise be resumed by the next, unrelated parse() call.
    p.reset();
  }
}

/** First syntax error in a tree (an ERROR or MISSING node), as a 1-based line and a short text. */
export function firstSyntaxError(root: Node): { line: number; text: string } | undefined {
  if (!root.hasError) return undefined;
  const stack: Node[] = [root];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (node.isError || node.isMissing) {
      const text = node.isMissing
        ? `missing ${node.type}`
        : `unexpected ${JSON.stringify(node.text.slice(0, 40))}`;
      return { line: node.startPosition.row + 1, text };
    }
    if (node.hasError) {
      for (let i = node.childCount - 1; i >= 0; i--) {
        const child = node.child(i);
        if (child) stack.push(child);
      }
    }
  }
  return { line: root.startPosition.row + 1, text: 'syntax error' };
}

/** CPython's tokenizer refuses more than 200 nested brackets ("too many nested parentheses"). */
export const PYTHON_MAX_NESTING = 200;

/** Node types that open a bracket: (), [] or {}. */
const BRACKETED = new Set([
  'argument_list',
  'dictionary',
  'dictionary_comprehension',
  'generator_expression',
  'list',
  'list_comprehension',
  'list_pattern',
  'parameters',
  'parenthesized_expression',
  'set',
  'set_comprehension',
  'subscript',
  'tuple',
  'tuple_pattern',
]);

/**
 * The first line where brackets nest deeper than Python allows, found with a cursor (no recursion:
 * the recursive walkers are what overflowed the stack on such a file).
 */
export function deepNestingLine(root: Node, limit = PYTHON_MAX_NESTING): number | undefined {
  const cursor = root.walk();
  try {
    let brackets = 0;
    const opened: boolean[] = [];
    for (;;) {
      const isBracket = BRACKETED.has(cursor.nodeType);
      if (isBracket && ++brackets > limit) return cursor.startPosition.row + 1;
      opened.push(isBracket);
      if (cursor.gotoFirstChild()) continue;
      for (;;) {
        if (opened.pop()) brackets--;
        if (cursor.gotoNextSibling()) break;
        if (!cursor.gotoParent()) return undefined;
      }
    }
  } finally {
    cursor.delete();
  }
}

/**
 * The value of the most common literal without visiting its children: no prefix letter (so not an
 * f-string, bytes or raw string) and no backslash (so no escape or line continuation). Its value is
 * then exactly the text between its quotes (one or three, as the parser delimited the token). Any
 * other literal, or a token without its closing quotes (a file cut at the size cap), returns
 * undefined and takes the full path.
 */
export function plainLiteral(text: string): string | undefined {
  const q = text[0];
  if ((q !== '"' && q !== "'") || text.includes('\\')) return undefined;
  const n = text[1] === q && text[2] === q ? 3 : 1;
  if (text.length < 2 * n) return undefined;
  for (let i = 1; i <= n; i++) if (text[text.length - i] !== q) return undefined;
  return text.slice(n, text.length - n);
}
