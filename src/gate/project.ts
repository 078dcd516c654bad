/** Loading an Alembic project: config, every migration file, the revision graph. Shared by check and run. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadAlembicConfig, type AlembicProject } from '../alembic/config.js';
import { followProjectHelpers } from '../alembic/names.js';
import { RevisionGraph } from '../alembic/graph.js';
import { loadBodies, loadMigrations, type LoadOptions, type LoadWarning } from '../alembic/scripts.js';
import { initSqlParser } from '../classify/sql.js';
import { extractBody, extractReplayBody } from '../classify/extract.js';
import type { Problem } from '../report/model.js';
import type { Finding, MigrationScript } from '../types.js';

export interface LoadedProject {
  project: AlembicProject;
  graph: RevisionGraph;
  /** Graph problems that block (several heads). */
  graphProblems: Finding[];
  /** Problems that do not block (a branch label name that could not be resolved). */
  warnings: Problem[];
  envPy?: { source: string; file: string };
  /**
   * Adds the classifier's facts to these scripts (read and parsed again, once, only those): the
   * history is loaded with headers only unless `bodies` asked for more. `replay`: upgrade()'s
   * operations are enough (the migrations below the judged ones); otherwise full bodies.
   */
  loadBodies(scripts: readonly MigrationScript[], need?: 'full' | 'replay'): Promise<void>;
}

export interface LoadProjectOptions {
  /** SIGTERM/SIGINT: reading and parsing stop within a slice, with an "interrupted" FailedError. */
  signal?: AbortSignal;
  /**
   * What to extract in the one parse of each file. `all`: full facts (check's lint mode judges every
   * migration). `replay`: upgrade()'s operations only (check --from / --since-ref replay the history
   * into the schema model and judge a few, whose full facts loadBodies reads). `pending` (default):
   * headers only (run: the live catalog replaces the replay).
   */
  bodies?: 'all' | 'replay' | 'pending';
  /** Read a long history in two threads (MIGRATION_GATE_LOAD_THREADS=auto; see alembic/load-pool.ts). */
  threads?: boolean;
  /** Told how the migration files were read (run logs it). */
  onRead?: LoadOptions['onRead'];
}

const toProblem = (w: LoadWarning): Problem => ({
  rule: 'unresolved-header-name',
  message: w.message,
  hint: w.hint,
  file: w.file,
  line: w.line,
  severity: 'warning',
});

export async function loadProject(iniPath: string, opts: LoadProjectOptions = {}): Promise<LoadedProject> {
  const project = await loadAlembicConfig(iniPath);
  const warnings: Problem[] = [];
  // Extraction parses SQL strings: the SQL parser must be ready before the first body.
  const body = opts.bodies === 'all' ? extractBody : opts.bodies === 'replay' ? extractReplayBody : undefined;
  if (body) await initSqlParser();
  const scripts = await loadMigrations(project, {
    signal: opts.signal,
    ...(body && { body, workerBody: opts.bodies === 'all' ? 'full' : 'replay', pack: true }),
    threads: opts.threads === true,
    ...(opts.onRead && { onRead: opts.onRead }),
    onWarning: (w) => warnings.push(toProblem(w)),
  });
  // Helpers imported from the app's own modules are read like the migration's own functions.
  if (body) await followProjectHelpers(scripts, project);
  const graph = RevisionGraph.build(scripts, {
    where: path.relative(process.cwd(), project.versionLocations[0] ?? project.scriptLocation) || '.',
  });
  const graphProblems: Finding[] = [];
  if (graph.heads.length > 1) {
    graphProblems.push({
      rule: 'multiple-heads',
      category: 'graph',
      severity: 'error',
      line: 0,
      message: `the migrations have ${graph.heads.length} heads (${graph.heads.join(', ')}): \`alembic upgrade head\` refuses to run and the order between the branches is undefined`,
      hint: `add a merge migration with \`alembic merge -m "merge heads" ${graph.heads.join(' ')}\` and commit it`,
    });
  }
  let envPy: LoadedProject['envPy'];
  const envPath = path.join(project.scriptLocation, 'env.py');
  try {
    envPy = { source: await readFile(envPath, 'utf8'), file: path.relative(project.projectDir, envPath) };
  } catch {
    envPy = undefined; // env.py is Alembic's business; its absence only costs us the transaction advice.
  }
  return {
    project,
    graph,
    graphProblems,
    warnings,
    envPy,
    loadBodies: async (wanted, need = 'full') => {
      await initSqlParser();
      await loadBodies(wanted, extractBody, { signal: opts.signal, need });
      await followProjectHelpers(wanted, project);
    },
  };
}
