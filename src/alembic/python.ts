/**
 * The Python parser: tree-sitter-python compiled to WASM, loaded once per process.
 * Loading is async; after `initPythonParser()` parsing is synchronous.
 */
import { createRequire } from 'node:module';
import { Language, Parser, type Node, type Tree } from 'web-tree-sitter';

const require = createRequire(import.meta.url);
let parser: Parser | undefined;
let loading: Promise<Parser> | undefined;

export async function initPythonParser(): Promise<void> {
  if (parser) return;
  loading ??= (async () => {
    await Parser.init();
    const language = await Language.load(require.resolve('tree-sitter-python/tree-sitter-python.wasm'));
    const p = new Parser();
    p.setLanguage(language);
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
