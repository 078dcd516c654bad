/**
 * `check`: read the project, find what is pending between two points of the graph, classify it and
 * decide, without a database (CI on every pull request). `run` reuses `analyse` with live facts.
 */
import path from 'node:path';
import { migrationFilesAddedSince } from '../alembic/git.js';
import { classifyMigrations, envPyAdvice, initClassifier } from '../classify/index.js';
import { buildReport, type CheckReport, type Problem } from '../report/model.js';
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

export async function analyse(input: AnalyseInput): Promise<Analysis> {
  const { loaded } = input;
  const unknownCurrent = loaded.graph.unknown(input.current);
  let scripts: MigrationScript[] = [];
  if (input.only) {
    scripts = input.only;
  } else if (unknownCurrent.length === 0 && loaded.graphProblems.length === 0) {
    scripts = loaded.graph.pending(input.current, input.targets);
  }
  await initClassifier();
  const pending = classifyMigrations(scripts, { serverVersionNum: input.serverVersionNum });
  const problems: Problem[] = loaded.graphProblems.map((f) => toProblem(f));
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
  const report = buildReport(input.current, input.targets, pending, result, problems);
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

export async function runCheck(opts: CheckOptions): Promise<Analysis> {
  const { graph, project } = opts.loaded;
  const current = graph.resolve(opts.from ?? 'base');
  const targets = graph.resolve(opts.to ?? 'heads');
  let only: MigrationScript[] | undefined;
  if (opts.sinceRef) {
    const added = new Set(
      (await migrationFilesAddedSince(opts.sinceRef, project)).map((f) => path.resolve(f)),
    );
    // Keep Alembic's application order: walk the whole pending set from base and keep the new files.
    const ordered = opts.loaded.graphProblems.length === 0 ? graph.pending([], targets) : [...graph.scripts];
    only = ordered.filter((s) => added.has(path.resolve(s.path)));
  }
  return analyse({
    loaded: opts.loaded,
    current,
    targets,
    only,
    policy: opts.policy,
    serverVersionNum: opts.serverVersionNum,
  });
}
