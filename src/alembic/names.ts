/**
 * Header values written as names imported from the app (`branch_labels = (cli.CONTRACT_BRANCH,)`):
 * looked up in the project's own modules, never executed. A module is searched on the paths Alembic
 * puts on sys.path for env.py (`prepend_sys_path`, the project directory, the script location's
 * parent); only a module-level `NAME = "literal"` (or a name it imports from another project module,
 * a few hops deep) counts. Anything else stays unresolved and the caller decides.
 */
import { access } from 'node:fs/promises';
import path from 'node:path';
import type { AlembicProject } from './config.js';
import { parsePython } from './python.js';
import { readSource } from './read.js';

export interface NameRef {
  /** As written in the migration, e.g. `cli.CONTRACT_BRANCH`. */
  text: string;
  /** Through the file's imports, e.g. `app.cli.CONTRACT_BRANCH`. */
  qualified: string;
}

/** Module-level facts of a project module: literal string constants and imported names. */
interface ModuleFacts {
  constants: Map<string, string>;
  imports: Map<string, string>;
}

const MAX_HOPS = 4;

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

function searchRoots(project: AlembicProject): string[] {
  const roots = [...(project.sysPath ?? []), project.projectDir, path.dirname(project.scriptLocation)];
  return [...new Set(roots)];
}

/** The file of a dotted module inside the project, if there is one. */
async function moduleFile(project: AlembicProject, dotted: string): Promise<string | undefined> {
  const parts = dotted.split('.');
  if (parts.some((p) => p === '' || p.startsWith('.'))) return undefined;
  for (const root of searchRoots(project)) {
    const base = path.join(root, ...parts);
    for (const candidate of [`${base}.py`, path.join(base, '__init__.py')]) {
      if (await exists(candidate)) return candidate;
    }
  }
  return undefined;
}

/** Reads a string literal node's value when it is a plain, non-formatted str without escapes. */
function plainString(node: import('web-tree-sitter').Node): string | undefined {
  if (node.type !== 'string') return undefined;
  const start = node.children.find((c) => c.type === 'string_start')?.text ?? '';
  if (/[bfBF]/.test(start)) return undefined;
  let out = '';
  for (const c of node.children) {
    if (c.type === 'interpolation') return undefined;
    if (c.type === 'string_content') {
      if (c.children.some((e) => e.type === 'escape_sequence')) return undefined;
      out += c.text;
    }
  }
  return out;
}

async function readModule(file: string, rel: string): Promise<ModuleFacts | undefined> {
  let text: string;
  try {
    const src = await readSource(file, rel);
    if (src.truncated) return undefined;
    text = src.text;
  } catch {
    return undefined; // an unreadable app module only leaves the name unresolved
  }
  const tree = parsePython(text);
  try {
    const constants = new Map<string, string>();
    const imports = new Map<string, string>();
    for (const stmt of tree.rootNode.namedChildren) {
      if (stmt.hasError) continue;
      if (stmt.type === 'expression_statement') {
        const a = stmt.namedChildren[0];
        const left = a?.type === 'assignment' ? a.childForFieldName('left') : null;
        const right = a?.type === 'assignment' ? a.childForFieldName('right') : null;
        if (left?.type === 'identifier' && right) {
          const v = plainString(right);
          if (v !== undefined) constants.set(left.text, v);
          else constants.delete(left.text);
        }
      } else if (stmt.type === 'import_from_statement') {
        const from = stmt.childForFieldName('module_name')?.text ?? '';
        if (from.startsWith('.')) continue;
        for (const name of stmt.childrenForFieldName('name')) {
          const full = name.type === 'aliased_import' ? name.childForFieldName('name')?.text : name.text;
          const local = name.type === 'aliased_import' ? name.childForFieldName('alias')?.text : name.text;
          if (full && local) imports.set(local, `${from}.${full}`);
        }
      }
    }
    return { constants, imports };
  } finally {
    tree.delete();
  }
}

/** Resolves each distinct qualified name once; a missing entry means "not resolvable". */
export async function resolveHeaderNames(
  refs: readonly NameRef[],
  project: AlembicProject,
): Promise<Map<string, string>> {
  const modules = new Map<string, Promise<ModuleFacts | undefined>>();
  const facts = (dotted: string) => {
    let p = modules.get(dotted);
    if (!p) {
      p = moduleFile(project, dotted).then((file) =>
        file ? readModule(file, path.relative(project.projectDir, file)) : undefined,
      );
      modules.set(dotted, p);
    }
    return p;
  };
  const resolve = async (qualified: string, hops: number): Promise<string | undefined> => {
    if (hops > MAX_HOPS) return undefined;
    const parts = qualified.split('.');
    // `app.cli.CONTRACT_BRANCH`: the longest module prefix that is a project module wins.
    for (let cut = parts.length - 1; cut >= 1; cut--) {
      const mod = await facts(parts.slice(0, cut).join('.'));
      if (!mod) continue;
      const [name, ...rest] = parts.slice(cut);
      if (rest.length === 0 && mod.constants.has(name!)) return mod.constants.get(name!);
      const imported = mod.imports.get(name!);
      if (imported) return resolve([imported, ...rest].join('.'), hops + 1);
      return undefined;
    }
    return undefined;
  };
  const out = new Map<string, string>();
  for (const q of new Set(refs.map((r) => r.qualified))) {
    const v = await resolve(q, 0);
    if (v !== undefined) out.set(q, v);
  }
  return out;
}
