/**
 * One read of a module's top-level statements, shared by the revision header (scripts.ts) and the
 * classifier's extractor (classify/extract.ts). Every `node.type` is a call into the WASM parser,
 * and both used to scan the same statements several times each: on a 10,000-file history that was
 * about 300 type reads per file, most of them repeats. Here each statement's type is read once.
 */
import type { Node } from 'web-tree-sitter';

/** A module-level statement with its type. */
export interface TopStatement {
  node: Node;
  type: string;
  /** The function it defines (a `def`, decorated or not) and that function's name. */
  def?: { node: Node; name: string };
}

/** One `target = value` at module level (`a = b = v` is one, its right side the inner assignment). */
export interface TopAssignment {
  node: Node;
  left: Node | null;
  leftType: string | undefined;
  /** The name assigned when the left side is a plain identifier (read once: header and scope both need it). */
  leftName: string | undefined;
  /** Absent for a bare annotation (`revision: str`). */
  right: Node | null;
  rightType: string | undefined;
  /** Its statement has a syntax error inside. */
  broken: boolean;
  /** Index of its statement in `statements`. */
  stmt: number;
  /** The first assignment of its statement (`a = 1; b = 2` puts two in one statement's children). */
  first: boolean;
}

export interface ModuleScan {
  /** The module's named children in source order (comments included), each type read once. */
  statements: TopStatement[];
  /** The assignments of the module-level expression statements, in source order. */
  assignments: TopAssignment[];
  /** Module-level `def`s (decorated or not) by name; a later def wins, as in Python. */
  functions: Map<string, Node>;
}

/** The function a top-level statement defines, if it is a `def` (decorated or not). */
function definedFunction(s: TopStatement): Node | undefined {
  if (s.type === 'function_definition') return s.node;
  if (s.type !== 'decorated_definition') return undefined;
  const def = s.node.childForFieldName('definition');
  return def?.type === 'function_definition' ? def : undefined;
}

export function scanModule(root: Node): ModuleScan {
  const statements: TopStatement[] = root.namedChildren.map((node) => ({ node, type: node.type }));
  const functions = new Map<string, Node>();
  const assignments: TopAssignment[] = [];
  for (const [i, s] of statements.entries()) {
    if (s.type === 'expression_statement') {
      let first = true;
      let broken: boolean | undefined;
      for (const node of s.node.namedChildren) {
        if (node.type !== 'assignment') {
          first = false;
          continue;
        }
        const left = node.childForFieldName('left');
        const right = node.childForFieldName('right');
        const leftType = left?.type;
        broken ??= s.node.hasError;
        assignments.push({
          node,
          left,
          leftType,
          leftName: leftType === 'identifier' ? left!.text : undefined,
          right,
          rightType: right?.type,
          broken,
          stmt: i,
          first,
        });
        first = false;
      }
      continue;
    }
    const def = definedFunction(s);
    const name = def?.childForFieldName('name')?.text;
    if (def && name) {
      s.def = { node: def, name };
      functions.set(name, def);
    }
  }
  return { statements, functions, assignments };
}
