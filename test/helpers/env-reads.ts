/**
 * Which environment variables a source tree reads, found with the TypeScript compiler's parser (not
 * a text search): `process.env.X`, `env.X`, `opts.env.X`, `env['X']`, `const { X } = env`, and
 * `env[name]` where `name` walks a literal list (`for (const name of ['A', 'B'])`). An access whose
 * name cannot be resolved is reported as such, so a new kind of read fails loudly instead of being
 * missed. Writes (`env.X = ...`, building a child's environment) are not reads.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

export interface EnvRead {
  name: string;
  file: string;
  line: number;
}

export interface EnvScan {
  reads: EnvRead[];
  /** `file:line: text` of each access whose name the scan could not work out. */
  unresolved: string[];
}

/** `process.env`, `env`, `opts.env`, `this.env`: anything whose last name is `env`. */
function isEnvObject(node: ts.Expression): boolean {
  const e = ts.isNonNullExpression(node) ? node.expression : node;
  if (ts.isIdentifier(e)) return e.text === 'env';
  if (ts.isPropertyAccessExpression(e)) return e.name.text === 'env';
  return false;
}

function isWrite(node: ts.Node): boolean {
  const parent = node.parent;
  return (
    ts.isBinaryExpression(parent) &&
    parent.left === node &&
    parent.operatorToken.kind >= ts.SyntaxKind.FirstAssignment &&
    parent.operatorToken.kind <= ts.SyntaxKind.LastAssignment
  );
}

/** String literals an identifier can hold: a `for (const x of [...literals])` loop variable. */
function literalValuesOf(id: ts.Identifier): string[] | undefined {
  let scope: ts.Node | undefined = id.parent;
  while (scope) {
    if (ts.isForOfStatement(scope) && ts.isVariableDeclarationList(scope.initializer)) {
      const decl = scope.initializer.declarations[0];
      if (decl && ts.isIdentifier(decl.name) && decl.name.text === id.text) {
        const list = scope.expression;
        if (ts.isArrayLiteralExpression(list) && list.elements.every(ts.isStringLiteralLike))
          return list.elements.map((e) => (e as ts.StringLiteralLike).text);
        return undefined;
      }
    }
    scope = scope.parent;
  }
  return undefined;
}

export function scanEnvReads(
  files: string[],
  rootDir: string,
  /** Computed accesses known to read from a list that is checked elsewhere (e.g. the SETTINGS table). */
  isListedByConstruction: (key: ts.Expression) => boolean = () => false,
): EnvScan {
  const reads: EnvRead[] = [];
  const unresolved: string[] = [];
  for (const file of files) {
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const rel = path.relative(rootDir, file);
    const at = (n: ts.Node) => source.getLineAndCharacterOfPosition(n.getStart(source)).line + 1;
    const add = (name: string, n: ts.Node) => reads.push({ name, file: rel, line: at(n) });
    const visit = (node: ts.Node): void => {
      if (ts.isPropertyAccessExpression(node) && isEnvObject(node.expression) && !isWrite(node)) {
        add(node.name.text, node);
      } else if (ts.isElementAccessExpression(node) && isEnvObject(node.expression) && !isWrite(node)) {
        const key = node.argumentExpression;
        const values = ts.isStringLiteralLike(key)
          ? [key.text]
          : ts.isIdentifier(key)
            ? literalValuesOf(key)
            : undefined;
        if (values) for (const v of values) add(v, node);
        else if (!isListedByConstruction(key)) unresolved.push(`${rel}:${at(node)}: ${node.getText(source)}`);
      } else if (
        ts.isVariableDeclaration(node) &&
        ts.isObjectBindingPattern(node.name) &&
        node.initializer &&
        isEnvObject(node.initializer)
      ) {
        for (const el of node.name.elements) {
          const name = el.propertyName ?? el.name;
          if (ts.isIdentifier(name)) add(name.text, el);
          else unresolved.push(`${rel}:${at(el)}: ${el.getText(source)}`);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return { reads, unresolved };
}

/** Every .ts file under `dir`, skipping the folders named in `exclude` (paths relative to `dir`). */
export function tsFilesUnder(dir: string, exclude: string[] = []): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, entry.name);
      if (exclude.includes(path.relative(dir, full))) continue;
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(full);
    }
  };
  walk(dir);
  return out;
}
