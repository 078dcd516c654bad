/** Loading an Alembic project: config, every migration file, the revision graph. Shared by check and run. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadAlembicConfig, type AlembicProject } from '../alembic/config.js';
import { RevisionGraph } from '../alembic/graph.js';
import { loadMigrations } from '../alembic/scripts.js';
import type { Finding } from '../types.js';

export interface LoadedProject {
  project: AlembicProject;
  graph: RevisionGraph;
  /** Graph problems that block (several heads). */
  graphProblems: Finding[];
  envPy?: { source: string; file: string };
}

export async function loadProject(iniPath: string): Promise<LoadedProject> {
  const project = await loadAlembicConfig(iniPath);
  const scripts = await loadMigrations(project);
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
  return { project, graph, graphProblems, envPy };
}
