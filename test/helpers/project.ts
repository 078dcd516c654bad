/** Builds throwaway Alembic projects for integration tests from the example app's env.py. */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const exampleDir = path.join(repoRoot, 'examples/window-builder');

export interface Revision {
  id: string;
  down: string | null | string[];
  upgrade: string;
  downgrade?: string;
}

export function migrationSource(r: Revision): string {
  const down =
    r.down === null
      ? 'None'
      : Array.isArray(r.down)
        ? `(${r.down.map((d) => `'${d}'`).join(', ')})`
        : `'${r.down}'`;
  const indent = (body: string) =>
    body
      .trim()
      .split('\n')
      .map((l) => '    ' + l)
      .join('\n');
  return `"""revision ${r.id}"""
from alembic import op
import sqlalchemy as sa

revision = '${r.id}'
down_revision = ${down}
branch_labels = None
depends_on = None


def upgrade():
${indent(r.upgrade)}


def downgrade():
${indent(r.downgrade ?? 'pass')}
`;
}

export interface TempProject {
  dir: string;
  ini: string;
  versions: string;
  write(r: Revision): string;
  remove(id: string): void;
  cleanup(): void;
}

/** A project with the example's alembic.ini and env.py and the given revisions. */
export function tempProject(revisions: Revision[] = [], opts: { withExample?: string[] } = {}): TempProject {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mg-project-'));
  cpSync(path.join(exampleDir, 'alembic.ini'), path.join(dir, 'alembic.ini'));
  mkdirSync(path.join(dir, 'migrations/versions'), { recursive: true });
  cpSync(path.join(exampleDir, 'migrations/env.py'), path.join(dir, 'migrations/env.py'));
  cpSync(path.join(exampleDir, 'migrations/script.py.mako'), path.join(dir, 'migrations/script.py.mako'));
  const versions = path.join(dir, 'migrations/versions');
  for (const f of opts.withExample ?? [])
    cpSync(path.join(exampleDir, 'migrations/versions', f), path.join(versions, f));
  const files = new Map<string, string>();
  const project: TempProject = {
    dir,
    ini: path.join(dir, 'alembic.ini'),
    versions,
    write(r) {
      const file = path.join(versions, `${r.id}_test.py`);
      writeFileSync(file, migrationSource(r));
      files.set(r.id, file);
      return file;
    },
    remove(id) {
      const f = files.get(id);
      if (f) rmSync(f);
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
  for (const r of revisions) project.write(r);
  return project;
}

export const EXAMPLE_BASE = '1a2b3c4d5e6f_base_schema.py';
export const EXAMPLE_ADDITIVE = 'fd4af8236c7d_window_builder.py';
export const EXAMPLE_DESTRUCTIVE = '7c1e2d9a0b3f_drop_user_name_require_grid_rows.py';

const rehearseFixtures = path.join(repoRoot, 'test/fixtures/rehearse');

/** A rehearsal fixture: the shared `items` base migration plus one scenario's migrations. */
export function rehearseProject(scenario: string): TempProject {
  const project = tempProject();
  for (const dir of ['base', scenario]) {
    for (const f of readdirSync(path.join(rehearseFixtures, dir)).filter((n) => n.endsWith('.py'))) {
      cpSync(path.join(rehearseFixtures, dir, f), path.join(project.versions, f));
    }
  }
  return project;
}
