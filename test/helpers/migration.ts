/** Builds MigrationScripts for classifier tests from Python source (through the real migration parser). */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseMigrationSource } from '../../src/alembic/scripts.js';
import { extractBody } from '../../src/classify/extract.js';
import type { MigrationScript } from '../../src/types.js';

export const CLASSIFY_FIXTURES = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../fixtures/classify',
);

export function scriptFromSource(source: string, file = 'versions/test.py'): MigrationScript {
  return parseMigrationSource(source, `/project/${file}`, file, { body: extractBody });
}

const indent = (body: string): string =>
  body
    .trim()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');

/**
 * A whole migration file around an upgrade() body. Line numbers: the body's first line is line 9
 * (plus the number of lines in `pre`).
 */
export function migration(
  upgrade: string,
  opts: { rev?: string; down?: string | null; pre?: string; downgrade?: string } = {},
): string {
  const pre = opts.pre ? `${opts.pre.trim()}\n` : '';
  const down = opts.down ? JSON.stringify(opts.down) : 'None';
  return `"""test migration"""
from alembic import op
import sqlalchemy as sa
${pre}
revision = ${JSON.stringify(opts.rev ?? 'a1')}
down_revision = ${down}

def upgrade():
${indent(upgrade)}


def downgrade():
${indent(opts.downgrade ?? 'pass')}
`;
}

export function scriptFromUpgrade(
  upgrade: string,
  opts: Parameters<typeof migration>[1] = {},
): MigrationScript {
  return scriptFromSource(migration(upgrade, opts), `versions/${opts.rev ?? 'a1'}.py`);
}

export function fixtureNames(): string[] {
  return readdirSync(CLASSIFY_FIXTURES)
    .filter((f) => f.endsWith('.py'))
    .sort();
}

export function fixtureScript(name: string): MigrationScript {
  return scriptFromSource(readFileSync(path.join(CLASSIFY_FIXTURES, name), 'utf8'), `versions/${name}`);
}
