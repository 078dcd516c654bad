/**
 * Header values written as names imported from the app (`branch_labels = (cli.CONTRACT_BRANCH,)`):
 * looked up in the project's own modules, never executed. A module is searched on the paths Alembic
 * puts on sys.path for env.py (`prepend_sys_path`, the project directory, the script location's
 * parent); only a module-level `NAME = "literal"` (or a name it imports from another project module,
 * a few hops deep) counts. Anything else stays unresolved and the caller decides.
 */
import { access } from 'node:fs/promises';
import path from 'node:path';
import { extractHelperCall } from '../classify/extract.js';
import type { HelperCall, OpaqueOp, Operation } from '../classify/rule.js';
import type { MigrationScript } from '../types.js';
import type { AlembicProject } from './config.js';
import type { Tree } from 'web-tree-sitter';
import { bodyOf, hasHelperCalls, packBody } from './packed.js';
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

// ---------------------------------------------------------------- helpers imported from the app

/** How deep helpers calling helpers of other project modules are followed. */
const MAX_HELPER_DEPTH = 3;
/** Distinct project modules read per call of followProjectHelpers (each once, at most 2 MiB). */
const MAX_HELPER_MODULES = 64;
/** Helper calls expanded per migration (one calling a helper in a long loop); the rest stay external-call stops. */
const MAX_HELPER_CALLS = 500;

interface HelperModule {
  file: string;
  /** Parsed once per followProjectHelpers call, freed at its end. */
  tree: Tree;
}

/**
 * Calls of functions imported from the project's own modules (`from myapp.migrations_util import
 * drop_legacy; drop_legacy(op)`) are replaced by the operations those functions perform, walked
 * with the call's arguments like a helper of the migration file. A function the gate cannot find
 * in a project file (a package outside the project, a class, a name built at run time) keeps its
 * external-call stop. Bounded: each module is read once, helpers of helpers a few levels deep.
 */
export async function followProjectHelpers(
  scripts: readonly MigrationScript[],
  project: AlembicProject,
): Promise<void> {
  const modules = new Map<string, Promise<HelperModule | undefined>>();
  const load = (dotted: string): Promise<HelperModule | undefined> => {
    let p = modules.get(dotted);
    if (!p) {
      p =
        modules.size >= MAX_HELPER_MODULES
          ? Promise.resolve(undefined)
          : moduleFile(project, dotted).then(async (file) => {
              if (!file) return undefined;
              try {
                const src = await readSource(file, path.relative(project.projectDir, file));
                return src.truncated ? undefined : { file, tree: parsePython(src.text) };
              } catch {
                return undefined; // unreadable: the call stays an external-call stop
              }
            });
      modules.set(dotted, p);
    }
    return p;
  };
  try {
    await expandAll(scripts, load);
  } finally {
    for (const p of modules.values()) (await p)?.tree.delete();
  }
}

async function expandAll(
  scripts: readonly MigrationScript[],
  load: (dotted: string) => Promise<HelperModule | undefined>,
): Promise<void> {
  for (const script of scripts) {
    let budget = MAX_HELPER_CALLS;
    // Packed facts (a long history) are unpacked only when they call an imported function.
    const packed = !script.body && script.packedBody?.helpers === true;
    const body = script.body ?? (packed ? bodyOf(script) : undefined);
    if (!body || !hasHelperCalls(body)) continue;
    for (const phase of ['upgrade', 'downgrade'] as const) {
      const ops = body[phase];
      if (!ops) continue;
      const out: Operation[] = [];
      for (const op of ops) {
        if (budget > 0 && op.kind === 'opaque' && op.helper) {
          budget--;
          out.push(...(await expandHelper(op, op.helper, load, 0)));
        } else {
          out.push(op);
        }
      }
      body[phase] = out;
    }
    if (packed) script.packedBody = packBody(body);
  }
}

/** The operations one helper call performs, its own project helpers followed; [op] when it cannot be read. */
async function expandHelper(
  op: OpaqueOp,
  helper: HelperCall,
  load: (dotted: string) => Promise<HelperModule | undefined>,
  depth: number,
): Promise<Operation[]> {
  if (depth >= MAX_HELPER_DEPTH || (helper.via ?? []).includes(helper.qualified)) return [op];
  const found = await findHelper(helper.qualified, load);
  if (!found) return [op];
  const result = extractHelperCall(found.module.tree.rootNode, found.name, helper, op);
  if (!result || !('ops' in result)) return [op];
  const out: Operation[] = [];
  // What the helper does is reported on the migration's line of the call: say where it came from.
  const chain = [...(helper.via ?? []), helper.qualified].reverse().map((q) => `${q}()`);
  const where = `inside ${chain[0]}${chain.length > 1 ? `, called from ${chain.slice(1).join(', called from ')}` : ''}`;
  for (const inner of result.ops) {
    if (inner.kind !== 'opaque') {
      out.push({ ...inner, via: where });
      continue;
    }
    const placed: OpaqueOp = { ...inner, detail: `${inner.detail} (${where})` };
    if (inner.helper) out.push(...(await expandHelper(placed, inner.helper, load, depth + 1)));
    else out.push(placed);
  }
  return out;
}

/** The project module and function name behind `pkg.mod.fn`, through re-exports (`from .impl import fn` excluded). */
async function findHelper(
  qualified: string,
  load: (dotted: string) => Promise<HelperModule | undefined>,
): Promise<{ module: HelperModule; name: string } | undefined> {
  for (let hops = 0; hops <= MAX_HOPS; hops++) {
    const parts = qualified.split('.');
    let next: string | undefined;
    for (let cut = parts.length - 1; cut >= 1; cut--) {
      const module = await load(parts.slice(0, cut).join('.'));
      if (!module) continue;
      const rest = parts.slice(cut);
      // `mod.Class.method` and other attribute paths are not followed.
      if (rest.length !== 1) return undefined;
      const reexport = moduleReexport(module, rest[0]!);
      if (reexport === undefined) return { module, name: rest[0]! };
      next = reexport;
      break;
    }
    if (next === undefined) return undefined;
    qualified = next;
  }
  return undefined;
}

/** Where a module imports `name` from, when it does not define it (undefined: defined here, or unknown). */
function moduleReexport(module: HelperModule, name: string): string | undefined {
  const root = module.tree.rootNode;
  for (const stmt of root.namedChildren) {
    const def = stmt.type === 'decorated_definition' ? stmt.childForFieldName('definition') : stmt;
    if (def?.type === 'function_definition' && def.childForFieldName('name')?.text === name) return undefined;
  }
  for (const stmt of root.namedChildren) {
    if (stmt.type !== 'import_from_statement') continue;
    const from = stmt.childForFieldName('module_name')?.text ?? '';
    if (from.startsWith('.')) continue;
    for (const n of stmt.childrenForFieldName('name')) {
      const full = n.type === 'aliased_import' ? n.childForFieldName('name')?.text : n.text;
      const local = n.type === 'aliased_import' ? n.childForFieldName('alias')?.text : n.text;
      if (local === name && full) return `${from}.${full}`;
    }
  }
  return undefined;
}
