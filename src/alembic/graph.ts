/**
 * The Alembic revision graph, rebuilt from parsed migration files (no Python executed).
 *
 * Semantics follow alembic.script.revision.RevisionMap (1.x):
 * - edges: `down_revision` (versioned parents) plus `depends_on` (dependencies, which may name a
 *   revision id or a branch label);
 * - `heads` are revisions no `down_revision` points at (a depends_on does not make a child);
 *   `realHeads` also treats depends_on as a child (Alembic's "_real_heads", what `heads` resolves to);
 * - the order of `pending()` is a port of RevisionMap._topological_sort, which breaks ties by the
 *   order files were loaded (version locations in order, sorted file names), then reversed,
 *   as `alembic upgrade` does.
 * Everything is iterative over integer indices: no recursion, so long chains cannot overflow.
 */
import path from 'node:path';
import { BlockedError, ConfigError } from '../errors.js';
import type { MigrationScript } from '../types.js';

/**
 * Above this many revisions the bitset closure (n^2/8 bytes, ~2 MB at the limit) gives way to walked
 * ancestor sets. Measured on 10,000 revisions (build + history + two pending sets): the closure takes
 * 12.5 MB and 70-87 ms; the walk 38-50 ms on an Alembic-like history (a merge every 25, or 100
 * parallel branches), 291 ms on a random DAG with up to 60 open branches at once. `check --from` on
 * the 10,000-file bench history: 1.86-2.02 s and 152-166 MB with the closure, 1.77-1.84 s and
 * 148-154 MB without.
 */
const CLOSURE_LIMIT = 4_000;

/** Ancestor-or-self membership of a current head in the topological walk. */
interface AncestorView {
  has(i: number): boolean;
  /** The view for `to` after a plain step from `from` to its only parent `to`. */
  stepDown(from: number, to: number): AncestorView;
}

export interface RevisionGraphOptions {
  /** Where the migrations live, for messages (e.g. `migrations/versions`). Defaults to their directories. */
  where?: string;
  /** Revision count above which ancestor sets are walked instead of precomputed (tests lower it). */
  closureLimit?: number;
}

/** A max-heap of revision indexes ordered by their topological position (newest first). */
class PositionHeap {
  private readonly items: number[] = [];
  constructor(private readonly pos: Int32Array) {}

  get size(): number {
    return this.items.length;
  }

  peek(): number {
    return this.items[0]!;
  }

  push(rev: number): void {
    const a = this.items;
    a.push(rev);
    let k = a.length - 1;
    while (k > 0) {
      const up = (k - 1) >> 1;
      if (this.pos[a[up]!]! >= this.pos[rev]!) break;
      a[k] = a[up]!;
      k = up;
    }
    a[k] = rev;
  }

  pop(): number {
    const a = this.items;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length === 0) return top;
    let k = 0;
    for (;;) {
      const l = 2 * k + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const c = r < a.length && this.pos[a[r]!]! > this.pos[a[l]!]! ? r : l;
      if (this.pos[a[c]!]! <= this.pos[last]!) break;
      a[k] = a[c]!;
      k = c;
    }
    a[k] = last;
    return top;
  }
}

export class RevisionGraph {
  /** All scripts in load order. */
  readonly scripts: readonly MigrationScript[];
  /** Revisions no down_revision points at, in load order (`alembic heads`). */
  readonly heads: string[];
  /** Heads that are also not a depends_on target of anything (what Alembic's `heads` spec resolves to). */
  readonly realHeads: string[];
  /** Revisions without a down_revision, in load order. */
  readonly bases: string[];
  /** Revisions with more than one down_revision. */
  readonly mergePoints: string[];
  /** Revisions that more than one revision names as down_revision. */
  readonly branchPoints: string[];
  /** Where the migrations live, for messages. */
  readonly where: string;

  private readonly closureLimit: number;
  private readonly index: Map<string, number>;
  /** Branch label -> index of the revision that declares it. */
  private readonly labels: Map<string, number>;
  /** Versioned parents (down_revision). */
  private readonly parents: number[][];
  /** down_revision + depends_on, deduplicated: the edges that decide ancestry. */
  private readonly allDown: number[][];
  /** down_revision + the depends_on not already implied by an ancestor's depends_on (Alembic's "normalized"). */
  private readonly normDown: number[][];
  private readonly hasNormDeps: boolean[];
  /** Indices parents-first (Kahn order), from the cycle check. */
  private topoOrder: number[] = [];
  /** Ancestor-or-self bitsets, one row of `words` per revision; built on first use, small graphs only. */
  private closure: Uint32Array | undefined;
  /** topoOrder inverted (built on first use, large graphs only). */
  private position: Int32Array | undefined;
  private words = 0;

  private constructor(scripts: MigrationScript[], where: string, closureLimit: number) {
    this.scripts = scripts;
    this.where = where;
    this.closureLimit = closureLimit;
    const n = scripts.length;
    this.index = new Map();
    for (let i = 0; i < n; i++) {
      const s = scripts[i]!;
      const prev = this.index.get(s.revision);
      if (prev !== undefined) {
        throw new ConfigError(
          `duplicate revision id '${s.revision}' in ${scripts[prev]!.file} and ${s.file}; Alembic would silently use only one of them: give one file a new revision id and point its child's down_revision at it`,
        );
      }
      this.index.set(s.revision, i);
    }

    this.labels = new Map();
    for (let i = 0; i < n; i++) {
      const s = scripts[i]!;
      for (const label of s.branchLabels) {
        const owner = this.labels.get(label);
        if (owner !== undefined || this.index.has(label)) {
          const other = owner !== undefined ? scripts[owner]! : scripts[this.index.get(label)!]!;
          throw new ConfigError(
            `${s.file}: branch label '${label}' of revision ${s.revision} is already used by revision ${other.revision} (${other.file}); branch labels must be unique and differ from revision ids`,
          );
        }
        this.labels.set(label, i);
      }
    }

    this.parents = [];
    this.allDown = [];
    const deps: number[][] = [];
    for (let i = 0; i < n; i++) {
      const s = scripts[i]!;
      const ps: number[] = [];
      for (const down of s.downRevisions) {
        if (down === s.revision) {
          throw new ConfigError(
            `${s.file}: revision ${s.revision} names itself as down_revision (a cycle); set down_revision to the previous revision`,
          );
        }
        const p = this.index.get(down);
        if (p === undefined) {
          throw new ConfigError(
            `${s.file}: down_revision '${down}' of revision ${s.revision} is not a revision in ${where}; restore the missing migration file or fix down_revision`,
          );
        }
        if (!ps.includes(p)) ps.push(p);
      }
      const ds: number[] = [];
      for (const dep of s.dependsOn) {
        const d = this.index.get(dep) ?? this.labels.get(dep);
        if (d === undefined) {
          throw new ConfigError(
            `${s.file}: depends_on '${dep}' of revision ${s.revision} is neither a revision nor a branch label in ${where}; restore the missing migration file or fix depends_on`,
          );
        }
        if (d === i) {
          throw new ConfigError(
            `${s.file}: revision ${s.revision} depends_on itself (a cycle); remove it from depends_on`,
          );
        }
        if (!ds.includes(d)) ds.push(d);
      }
      this.parents.push(ps);
      deps.push(ds);
      const all = [...ps];
      for (const d of ds) if (!all.includes(d)) all.push(d);
      this.allDown.push(all);
    }

    this.checkAcyclic();

    // Alembic drops a dependency when an ancestor (through down_revision) already depends on it.
    this.normDown = [];
    this.hasNormDeps = [];
    const dependents = new Map<number, number[]>();
    for (let i = 0; i < n; i++)
      for (const d of deps[i]!) dependents.set(d, [...(dependents.get(d) ?? []), i]);
    for (let i = 0; i < n; i++) {
      const ds = deps[i]!;
      const normDeps = ds.length > 0 ? this.uninheritedDeps(i, deps, dependents) : ds;
      const nd = [...this.parents[i]!];
      for (const d of normDeps) if (!nd.includes(d)) nd.push(d);
      this.normDown.push(nd);
      this.hasNormDeps.push(normDeps.length > 0);
    }

    const versionedChildren = new Array<number>(n).fill(0);
    const anyChild = new Array<boolean>(n).fill(false);
    for (let i = 0; i < n; i++) {
      for (const p of this.parents[i]!) versionedChildren[p]!++;
      for (const p of this.allDown[i]!) anyChild[p] = true;
    }
    this.heads = [];
    this.realHeads = [];
    this.bases = [];
    this.mergePoints = [];
    this.branchPoints = [];
    for (let i = 0; i < n; i++) {
      const rev = scripts[i]!.revision;
      if (versionedChildren[i] === 0) this.heads.push(rev);
      if (!anyChild[i]) this.realHeads.push(rev);
      if (this.parents[i]!.length === 0) this.bases.push(rev);
      if (this.parents[i]!.length > 1) this.mergePoints.push(rev);
      if (versionedChildren[i]! > 1) this.branchPoints.push(rev);
    }
  }

  /** Builds and validates the graph. Throws ConfigError for duplicates, dangling references and cycles. */
  static build(scripts: MigrationScript[], options: RevisionGraphOptions = {}): RevisionGraph {
    const where = options.where ?? describeDirs(scripts);
    return new RevisionGraph(scripts, where, options.closureLimit ?? CLOSURE_LIMIT);
  }

  get size(): number {
    return this.scripts.length;
  }

  get(rev: string): MigrationScript | undefined {
    const i = this.index.get(rev);
    return i === undefined ? undefined : this.scripts[i];
  }

  has(rev: string): boolean {
    return this.index.has(rev);
  }

  /** Current revisions (e.g. from alembic_version) that no migration file defines. */
  unknown(current: string[]): string[] {
    return current.filter((rev) => !this.index.has(rev));
  }

  /** Strict ancestors of `rev` (through down_revision and depends_on), in load order. */
  ancestors(rev: string): string[] {
    const i = this.mustIndex(rev);
    const seen = this.walkMarks([i], this.allDown);
    seen[i] = 0;
    const out: string[] = [];
    for (let k = 0; k < seen.length; k++) if (seen[k]) out.push(this.scripts[k]!.revision);
    return out;
  }

  /** True when `a` is a strict ancestor of `b` (through down_revision and depends_on). */
  isAncestor(a: string, b: string): boolean {
    const ia = this.mustIndex(a);
    const ib = this.mustIndex(b);
    if (ia === ib) return false;
    return this.walkMarks([ib], this.allDown)[ia] === 1;
  }

  /**
   * Resolves a revision spec as Alembic does: `base`, `head`, `heads`, a full id, a unique id
   * prefix, a branch label (the revision that declares it), `label@head`, `label@heads`, `label@rev`.
   */
  resolve(spec: string): string[] {
    const at = spec.indexOf('@');
    if (at >= 0) return this.resolveOnBranch(spec.slice(0, at), spec.slice(at + 1), spec);
    if (spec === 'base') return [];
    if (spec === 'heads') return [...this.realHeads];
    if (spec === 'head') return this.singleHead(this.heads, 'head');
    return [this.scripts[this.identify(spec)]!.revision];
  }

  /**
   * The migrations to apply to go from `current` (revisions the database is at) to `targets`:
   * every ancestor-or-self of a target not already an ancestor-or-self of a current revision,
   * in the order `alembic upgrade` applies them.
   */
  pending(current: string[], targets: string[]): MigrationScript[] {
    const cur = current.map((r) => this.mustIndex(r, 'current'));
    const tgt = targets.map((r) => this.mustIndex(r, 'target'));
    const required = this.walkMarks(tgt, this.allDown);
    const done = this.walkMarks(cur, this.allDown);
    const todo = new Uint8Array(this.scripts.length);
    for (let i = 0; i < todo.length; i++) if (required[i] && !done[i]) todo[i] = 1;
    return this.topologicalNewestFirst(tgt, todo)
      .reverse()
      .map((i) => this.scripts[i]!);
  }

  /** Every revision, newest first, in the order `alembic history` prints them. */
  history(): MigrationScript[] {
    const todo = new Uint8Array(this.scripts.length).fill(1);
    const heads = this.realHeads.map((r) => this.index.get(r)!);
    return this.topologicalNewestFirst(heads, todo).map((i) => this.scripts[i]!);
  }

  // ---------------------------------------------------------------------------------------------

  /**
   * Port of RevisionMap._topological_sort: walks down from the heads, always continuing the current
   * branch unless another head still needs the candidate (then that head goes first). Output is
   * newest first; ties are broken by load order, exactly as Alembic's ordered revision map does.
   */
  private topologicalNewestFirst(heads: number[], todoIn: Uint8Array): number[] {
    const todo = todoIn.slice();
    const currentHeads = [...new Set(heads.filter((h) => todo[h]))].sort((a, b) => a - b);
    const ancestorsByIdx = currentHeads.map((h) => this.ancestorView(h));
    const output: number[] = [];
    let idx = 0;
    while (currentHeads.length > 0) {
      const candidate = currentHeads[idx]!;
      let blockedBy = -1;
      for (let j = 0; j < ancestorsByIdx.length; j++) {
        if (j !== idx && ancestorsByIdx[j]!.has(candidate)) {
          blockedBy = j;
          break;
        }
      }
      if (blockedBy >= 0) {
        // Another head depends on this candidate: that head has to be walked first.
        idx = blockedBy;
        continue;
      }
      if (todo[candidate]) {
        output.push(candidate);
        todo[candidate] = 0;
      }
      const toAdd = this.normDown[candidate]!.filter((r) => todo[r] && !currentHeads.includes(r));
      if (toAdd.length === 0) {
        currentHeads.splice(idx, 1);
        ancestorsByIdx.splice(idx, 1);
        idx = Math.max(idx - 1, 0);
      } else if (!this.hasNormDeps[candidate] && this.parents[candidate]!.length === 1) {
        // Plain step down a line.
        currentHeads[idx] = toAdd[0]!;
        ancestorsByIdx[idx] = ancestorsByIdx[idx]!.stepDown(candidate, toAdd[0]!);
      } else {
        currentHeads[idx] = toAdd[0]!;
        ancestorsByIdx[idx] = this.ancestorView(toAdd[0]!);
        for (const extra of toAdd.slice(1)) {
          currentHeads.push(extra);
          ancestorsByIdx.push(this.ancestorView(extra));
        }
      }
    }
    return output;
  }

  /**
   * Ancestor-or-self membership of one revision. Up to `closureLimit` revisions this is a row of a
   * precomputed bitset closure (O(1) per head change); beyond that, a Set built by walking.
   */
  private ancestorView(start: number): AncestorView {
    if (this.scripts.length > this.closureLimit) return this.exploringView(start);
    return {
      has: (i) => {
        if (!this.closure) this.buildClosure();
        return (this.closure![start * this.words + (i >>> 5)]! & (1 << (i & 31))) !== 0;
      },
      stepDown: (_from, to) => this.ancestorView(to),
    };
  }

  /**
   * Ancestor-or-self membership found by walking down from `start` only as far as the questions
   * need. Ancestors sit before their descendants in the topological order, so every ancestor of
   * `start` at or after position p is found by expanding the discovered revisions from the newest
   * down to p (a heap keyed by position). The walk asks about revisions near its frontier, so a view
   * explores the few revisions between its head and the frontier, not the whole history below it:
   * a 30,000-revision history with a merge every 25 revisions spent seconds building full sets.
   */
  private exploringView(start: number): AncestorView {
    const pos = this.topoPosition();
    const found = new Set<number>([start]);
    const frontier = new PositionHeap(pos);
    frontier.push(start);
    const view: AncestorView = {
      has: (i) => {
        const p = pos[i]!;
        while (frontier.size > 0 && pos[frontier.peek()]! >= p) {
          for (const parent of this.allDown[frontier.pop()]!) {
            if (!found.has(parent)) {
              found.add(parent);
              frontier.push(parent);
            }
          }
        }
        return found.has(i);
      },
      stepDown: (from) => {
        // A plain step: `from` has one parent, so the rest of what was found stays an ancestor.
        found.delete(from);
        return view;
      },
    };
    return view;
  }

  /**
   * The depends_on of `i` that no ancestor of `i` (through down_revision) already declares. Only the
   * other revisions that declare one of the same dependencies can matter, and usually there are
   * none: then nothing is walked. Otherwise the walk down from `i` stops below the oldest of them
   * (ancestors sit before descendants in the topological order): one walk of the whole history per
   * dependent revision made a large history with many depends_on quadratic.
   */
  private uninheritedDeps(i: number, deps: number[][], dependents: Map<number, number[]>): number[] {
    const ds = deps[i]!;
    const others = new Set<number>();
    for (const d of ds) for (const a of dependents.get(d) ?? []) if (a !== i) others.add(a);
    if (others.size === 0) return ds;
    const pos = this.topoPosition();
    let floor = Infinity;
    for (const a of others) floor = Math.min(floor, pos[a]!);
    const inherited = new Set<number>();
    const seen = new Set<number>([i]);
    const stack = [...this.parents[i]!];
    while (stack.length > 0) {
      const a = stack.pop()!;
      if (seen.has(a) || pos[a]! < floor) continue;
      seen.add(a);
      if (others.has(a)) for (const d of deps[a]!) inherited.add(d);
      stack.push(...this.parents[a]!);
    }
    return ds.filter((d) => !inherited.has(d));
  }

  /** Each revision's index in the topological order (parents first). */
  private topoPosition(): Int32Array {
    if (!this.position) {
      const pos = new Int32Array(this.scripts.length);
      this.topoOrder.forEach((rev, k) => (pos[rev] = k));
      this.position = pos;
    }
    return this.position;
  }

  private buildClosure(): void {
    const n = this.scripts.length;
    const words = (this.words = Math.max(1, Math.ceil(n / 32)));
    const bits = new Uint32Array(n * words);
    for (const i of this.topoOrder) {
      const row = i * words;
      bits[row + (i >>> 5)]! |= 1 << (i & 31);
      for (const p of this.allDown[i]!) {
        const prow = p * words;
        for (let w = 0; w < words; w++) bits[row + w]! |= bits[prow + w]!;
      }
    }
    this.closure = bits;
  }

  /** Marks (1) every ancestor-or-self of the starts, following `edges`. */
  private walkMarks(starts: number[], edges: number[][]): Uint8Array {
    const seen = new Uint8Array(this.scripts.length);
    const stack: number[] = [];
    for (const s of starts) {
      if (!seen[s]) {
        seen[s] = 1;
        stack.push(s);
      }
    }
    while (stack.length > 0) {
      const i = stack.pop()!;
      for (const p of edges[i]!) {
        if (!seen[p]) {
          seen[p] = 1;
          stack.push(p);
        }
      }
    }
    return seen;
  }

  /** Kahn's algorithm over down_revision + depends_on; what is left over sits on or behind a cycle. */
  private checkAcyclic(): void {
    const n = this.scripts.length;
    const childCount = new Array<number>(n).fill(0);
    const children: number[][] = Array.from({ length: n }, () => []);
    for (let i = 0; i < n; i++) {
      for (const p of this.allDown[i]!) children[p]!.push(i);
      childCount[i] = this.allDown[i]!.length;
    }
    const queue: number[] = [];
    for (let i = 0; i < n; i++) if (childCount[i] === 0) queue.push(i);
    const order: number[] = [];
    while (queue.length > 0) {
      const i = queue.pop()!;
      order.push(i);
      for (const c of children[i]!) if (--childCount[c]! === 0) queue.push(c);
    }
    if (order.length === n) {
      this.topoOrder = order;
      return;
    }
    // Follow unresolved parents from any leftover node until one repeats: that loop is a cycle.
    const left = (i: number): boolean => childCount[i]! > 0;
    let cur = childCount.findIndex((c) => c > 0);
    const pos = new Map<number, number>();
    const trail: number[] = [];
    while (!pos.has(cur)) {
      pos.set(cur, trail.length);
      trail.push(cur);
      cur = this.allDown[cur]!.find(left)!;
    }
    const cycle = trail.slice(pos.get(cur)!);
    const revs = cycle.map((i) => this.scripts[i]!.revision);
    const first = this.scripts[cycle[0]!]!;
    throw new ConfigError(
      `${first.file}: revision cycle ${[...revs, revs[0]].join(' -> ')} (through down_revision/depends_on); a migration cannot come after itself: fix the down_revision of one of ${revs.join(', ')}`,
      cycle.map((i) => `${this.scripts[i]!.revision}: ${this.scripts[i]!.file}`),
    );
  }

  private mustIndex(rev: string, role?: 'current' | 'target'): number {
    const i = this.index.get(rev);
    if (i !== undefined) return i;
    if (role === 'current') {
      throw new ConfigError(
        `the database is at revision '${rev}', which is not in ${this.where}; deploy the code that contains that migration, or fix the version table`,
      );
    }
    throw new ConfigError(
      `unknown revision '${rev}': not in ${this.where}; check the id (alembic history lists them)`,
    );
  }

  /** A full id, a unique id prefix, or a branch label -> index. */
  private identify(spec: string): number {
    const exact = this.index.get(spec);
    if (exact !== undefined) return exact;
    const label = this.labels.get(spec);
    if (label !== undefined) return label;
    const matches: number[] = [];
    for (let i = 0; i < this.scripts.length; i++)
      if (this.scripts[i]!.revision.startsWith(spec)) matches.push(i);
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) {
      const names = matches.map((i) => this.scripts[i]!.revision);
      throw new ConfigError(
        `ambiguous revision '${spec}': it is a prefix of ${names.length} revisions (${names.slice(0, 5).join(', ')}${names.length > 5 ? ', ...' : ''}); give more characters`,
      );
    }
    if (/[+-]\d+$/.test(spec)) {
      throw new ConfigError(
        `relative revision '${spec}' is not supported; name the target revision (or head/heads) explicitly`,
      );
    }
    throw new ConfigError(
      `unknown revision '${spec}': not in ${this.where}; use a revision id (or a unique prefix), a branch label, head, heads or base`,
    );
  }

  private singleHead(heads: string[], spec: string): string[] {
    if (heads.length > 1) {
      throw new BlockedError(
        `'${spec}' is ambiguous: there are ${heads.length} heads (${heads.join(', ')}); add a merge migration with 'alembic merge heads' (or target 'heads')`,
      );
    }
    return [...heads];
  }

  /** `label@head`, `label@heads`, `label@rev`, as RevisionMap._resolve_revision_number does. */
  private resolveOnBranch(label: string, rest: string, spec: string): string[] {
    const branch = this.labels.get(label) ?? this.index.get(label);
    if (branch === undefined) {
      throw new ConfigError(
        `unknown branch '${label}' in '${spec}': no revision in ${this.where} declares branch_labels = '${label}'; check the label`,
      );
    }
    const inLineage = (rev: number): boolean => this.sharesLineage(rev, branch);
    if (rest === 'head' || rest === 'heads') {
      const heads = this.heads.filter((h) => inLineage(this.index.get(h)!));
      return rest === 'head' ? this.singleHead(heads, spec) : heads;
    }
    if (rest === 'base') return [];
    const i = this.identify(rest);
    if (!inLineage(i)) {
      throw new ConfigError(
        `revision ${this.scripts[i]!.revision} is not on branch '${label}'; pick a revision of that branch`,
      );
    }
    return [this.scripts[i]!.revision];
  }

  /** Alembic's _shares_lineage without dependencies: one is an ancestor-or-self of the other via down_revision. */
  private sharesLineage(a: number, b: number): boolean {
    return this.walkMarks([a], this.parents)[b] === 1 || this.walkMarks([b], this.parents)[a] === 1;
  }
}

function describeDirs(scripts: MigrationScript[]): string {
  const dirs = [...new Set(scripts.map((s) => path.dirname(s.file)))];
  if (dirs.length === 0) return 'the migration files (there are none)';
  return dirs.join(', ');
}
