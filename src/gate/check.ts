/**
 * `check`: read the project, find what is pending between two points of the graph, classify it and
 * decide, without a database (CI on every pull request). `run` reuses `analyse` with live facts.
 */
import path from 'node:path';
import {
  catalogTable,
  classifyMigrations,
  envPyAdvice,
  initClassifier,
  tablesTouched,
  type CatalogFacts,
  type CatalogTable,
} from '../classify/index.js';
import {
  buildReport,
  revisionBaseline,
  type Baseline,
  type CheckReport,
  type Problem,
} from '../report/model.js';
import type { ClassifiedMigration, Finding, MigrationScript } from '../types.js';
import {
  decide,
  tableKey,
  type DecideInput,
  type DecisionResult,
  type Policy,
  type TableSize,
} from './decide.js';
import type { LoadedProject } from './project.js';

export interface AnalyseInput {
  loaded: LoadedProject;
  current: string[];
  targets: string[];
  /** Restrict the classification to these scripts (e.g. files added since a git ref). */
  only?: MigrationScript[];
  /**
   * Migrations already applied below the pending ones, in order, replayed into the schema model.
   * Default: every ancestor of `current` (what the database at `current` has run).
   */
  applied?: MigrationScript[];
  /** The live catalog's facts about the tables the pending operations name (run): the truth for them. */
  catalog?: (tables: string[]) => Promise<Map<string, CatalogFacts>>;
  /** `set` (default): the scripts are one pending set; `each`: each judged against its parent alone. */
  scope?: 'set' | 'each';
  /** What the report says the migrations were judged against (default: the set pending from `current`). */
  baseline?: Baseline;
  policy: Policy;
  serverVersionNum?: number;
  /** Looked up after classification, for the tables locking findings name (run only). */
  tableSizes?: (tables: string[]) => Promise<Map<string, TableSize>>;
  appliedByGate?: DecideInput['appliedByGate'];
}

export interface Analysis {
  pending: ClassifiedMigration[];
  result: DecisionResult;
  report: CheckReport;
}

function toProblem(f: Finding, file?: string): Problem {
  return {
    rule: f.rule,
    message: f.message,
    hint: f.hint,
    file,
    line: f.line || undefined,
    severity: f.severity,
  };
}

/** What to judge and what to replay below it. */
function selectScripts(
  input: AnalyseInput,
  unknownCurrent: string[],
): { scripts: MigrationScript[]; applied: MigrationScript[] } {
  const { graph, graphProblems } = input.loaded;
  const graphOk = unknownCurrent.length === 0 && graphProblems.length === 0;
  if (input.only) return { scripts: input.only, applied: input.applied ?? [] };
  if (!graphOk) return { scripts: [], applied: [] };
  const applied = input.applied ?? (input.current.length > 0 ? graph.pending([], input.current) : []);
  return { scripts: graph.pending(input.current, input.targets), applied };
}

/**
 * Classifies. Without a database, against the schema model replayed from the applied history. With a
 * catalog port (run), the live catalog describes every table the pending operations name: it is the
 * truth there, and the history below need not be read at all (a table the database does not have and
 * the pending set does not create makes the migration fail anyway).
 */
async function classifyStep(
  input: AnalyseInput,
  scripts: MigrationScript[],
  appliedBelow: MigrationScript[],
): Promise<ClassifiedMigration[]> {
  await initClassifier();
  const applied = input.catalog ? [] : appliedBelow;
  // The facts of the migrations replayed and judged (no-ops for what the load already extracted).
  await input.loaded.loadBodies(applied, 'replay');
  await input.loaded.loadBodies(scripts, 'full');
  let catalog: Map<string, CatalogTable> | undefined;
  if (input.catalog) {
    const touched = tablesTouched(scripts);
    const facts = touched.length > 0 ? await input.catalog(touched) : new Map<string, CatalogFacts>();
    catalog = new Map([...facts].map(([name, f]): [string, CatalogTable] => [name, catalogTable(f)]));
  }
  return classifyMigrations(scripts, {
    serverVersionNum: input.serverVersionNum,
    scope: input.scope,
    applied,
    catalog,
  });
}

export async function analyse(input: AnalyseInput): Promise<Analysis> {
  const { loaded } = input;
  const unknownCurrent = loaded.graph.unknown(input.current);
  const { scripts, applied } = selectScripts(input, unknownCurrent);
  const pending = await classifyStep(input, scripts, applied);
  const problems: Problem[] = [...loaded.graphProblems.map((f) => toProblem(f)), ...loaded.warnings];
  if (loaded.envPy) {
    for (const f of envPyAdvice(loaded.envPy.source, loaded.envPy.file, pending))
      problems.push(toProblem(f, loaded.envPy.file));
  }
  let tableSizes: Map<string, TableSize> | undefined;
  if (input.tableSizes) {
    const tables = new Set<string>();
    for (const m of pending)
      for (const f of m.findings) if (f.category === 'locking' && f.table) tables.add(f.table);
    const sizes = tables.size > 0 ? await input.tableSizes([...tables]) : new Map<string, TableSize>();
    tableSizes = new Map([...sizes].map(([name, size]) => [tableKey(name), size]));
  }
  const result = decide({
    current: input.current,
    heads: input.targets,
    unknownCurrent,
    appliedByGate: input.appliedByGate,
    pending,
    graphProblems: loaded.graphProblems,
    tableSizes,
    policy: input.policy,
  });
  const report = buildReport(
    input.current,
    input.targets,
    pending,
    result,
    problems,
    input.baseline ?? revisionBaseline(input.current),
  );
  return { pending, result, report };
}

export interface CheckOptions {
  loaded: LoadedProject;
  from?: string;
  to?: string;
  sinceRef?: string;
  policy: Policy;
  serverVersionNum?: number;
}

/** Every migration up to `targets`, in the order Alembic applies them (load order when the graph is broken). */
function inOrder(loaded: LoadedProject, targets: string[]): MigrationScript[] {
  return loaded.graphProblems.length === 0 ? loaded.graph.pending([], targets) : [...loaded.graph.scripts];
}

const PARENT_BASELINE: Baseline = {
  mode: 'parent',
  text: 'each migration against its parent, with data in every table it does not create itself (pass --since-ref REF to judge a branch as one deploy, --from REV for the set pending from a revision)',
};

/** `--since-ref`: the files added since REF are pending together on top of everything else. */
async function sinceRefSet(
  opts: CheckOptions,
  targets: string[],
): Promise<{ only: MigrationScript[]; applied: MigrationScript[]; baseline: Baseline; current: string[] }> {
  // Loaded only for --since-ref: git runs through execa (~44 ms and ~20 MB to load), which no other
  // mode of check needs.
  const { migrationFilesAddedSince } = await import('../alembic/git.js');
  const added = new Set(
    (await migrationFilesAddedSince(opts.sinceRef!, opts.loaded.project)).map((f) => path.resolve(f)),
  );
  const ordered = inOrder(opts.loaded, targets);
  const only = ordered.filter((s) => added.has(path.resolve(s.path)));
  const below = ordered.filter((s) => !added.has(path.resolve(s.path)));
  const applied = below.length;
  const text =
    applied === 0
      ? `base: ${opts.sinceRef} has no migrations, so the ${only.length} added since it are one deploy on an empty database and every table they create counts as new`
      : `${opts.sinceRef} as deployed: its ${applied} migration(s) are applied with data in their tables; the ${only.length} added since are one deploy, so a table created among them counts as new for the rest of them`;
  // The deploy starts where REF's migrations end: their heads, not `base` (the report's "from").
  const parents = new Set(below.flatMap((s) => s.downRevisions));
  const current = below.map((s) => s.revision).filter((r) => !parents.has(r));
  return { only, applied: below, baseline: { mode: 'since-ref', text }, current };
}

/**
 * Three baselines. No flags: each migration against its parent (a PR lint that never calls a drop
 * harmless because the whole history looks new from `base`). `--since-ref`: the branch as one deploy.
 * `--from [--to]`: the explicit pending set, as `run` computes it.
 */
export async function runCheck(opts: CheckOptions): Promise<Analysis> {
  const { graph } = opts.loaded;
  const current = graph.resolve(opts.from ?? 'base');
  const targets = graph.resolve(opts.to ?? 'heads');
  const common = {
    loaded: opts.loaded,
    current,
    targets,
    policy: opts.policy,
    serverVersionNum: opts.serverVersionNum,
  };
  if (opts.sinceRef) {
    const analysis = await analyse({ ...common, ...(await sinceRefSet(opts, targets)) });
    if (analysis.result.decision === 'noop') {
      // There is no database here: what is empty is the branch, not a pending set.
      const summary = `Nothing to judge: no migration file was added since ${opts.sinceRef}.`;
      analysis.result.summary = summary;
      analysis.report.summary = summary;
    }
    return analysis;
  }
  if (opts.from === undefined) {
    return analyse({
      ...common,
      only: inOrder(opts.loaded, targets),
      scope: 'each',
      baseline: PARENT_BASELINE,
    });
  }
  return analyse(common);
}
