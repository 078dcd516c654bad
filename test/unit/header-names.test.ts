/**
 * Issue 11 §4: headers written as names. A branch label imported from the app's own modules
 * (prepend_sys_path) is resolved without running Python; one from outside the project stays out of
 * the graph with a warning instead of refusing the whole history; a same-file constant works too.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAlembicConfig } from '../../src/alembic/config.js';
import { loadMigrations, type LoadWarning } from '../../src/alembic/scripts.js';
import { RevisionGraph } from '../../src/alembic/graph.js';

const ini = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../fixtures/header-names/alembic.ini',
);

test('labels from the project are resolved; a label from outside is left out with a warning', async () => {
  const project = await loadAlembicConfig(ini);
  const warnings: LoadWarning[] = [];
  const scripts = await loadMigrations(project, { onWarning: (w) => warnings.push(w) });
  const by = new Map(scripts.map((s) => [s.revision, s]));
  expect(by.get('a1')!.branchLabels).toEqual(['contract']);
  expect(by.get('b1')!.branchLabels).toEqual(['expand']); // app.cli re-exports it from app.branches
  expect(by.get('c1')!.branchLabels).toEqual([]);
  expect(by.get('c1')!.downRevisions).toEqual(['b1']); // a same-file constant
  expect(warnings).toEqual([
    expect.objectContaining({
      file: 'migrations/versions/c1_unresolved_label.py',
      line: 10,
      message: expect.stringContaining(
        'branch_labels names PLUGIN_BRANCH (someplugin.labels.PLUGIN_BRANCH), which migration-gate cannot resolve',
      ),
    }),
  ]);
  const graph = RevisionGraph.build(scripts);
  expect(graph.resolve('contract@head')).toEqual(['c1']);
  expect(graph.heads).toEqual(['c1']);
});
