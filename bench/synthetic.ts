/**
 * A synthetic Alembic project for tests and the benchmark: a long history with branches, merges
 * (all merged back to one head), a few depends_on, typed and untyped headers, and realistic
 * upgrade()/downgrade() bodies. Deterministic for a given seed.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface GenerateOptions {
  /** Number of migration files (>= 1). */
  count: number;
  seed?: number;
  /** Written to alembic.ini as sqlalchemy.url (env.py prefers $DATABASE_URL). */
  url?: string;
}

export interface GeneratedRevision {
  revision: string;
  downRevisions: string[];
  dependsOn: string[];
  file: string;
  message: string;
}

export interface GeneratedHistory {
  iniPath: string;
  versionsDir: string;
  revisions: GeneratedRevision[];
  head: string;
}

/** mulberry32: small, fast, good enough for test data. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = [
  'user',
  'order',
  'invoice',
  'product',
  'account',
  'session',
  'event',
  'payment',
  'address',
  'tag',
];
const COLUMN_TYPES = ['sa.String(length=255)', 'sa.Integer()', 'sa.Boolean()', 'sa.DateTime()', 'sa.Text()'];

interface Table {
  name: string;
  columns: string[];
}

export async function generateHistory(dir: string, options: GenerateOptions): Promise<GeneratedHistory> {
  const count = Math.max(1, Math.floor(options.count));
  const rand = rng(options.seed ?? 1);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const usedIds = new Set<string>();
  const newId = (): string => {
    for (;;) {
      let id = '';
      for (let i = 0; i < 12; i++) id += '0123456789abcdef'[Math.floor(rand() * 16)];
      if (!usedIds.has(id)) {
        usedIds.add(id);
        return id;
      }
    }
  };

  const versionsDir = path.join(dir, 'migrations', 'versions');
  await mkdir(versionsDir, { recursive: true });

  const revisions: GeneratedRevision[] = [];
  const files: Array<{ name: string; text: string }> = [];
  const tables: Table[] = [];
  let tableSeq = 0;
  /** Open branch tips; all get merged back before the end. */
  let tips: string[] = [];

  const emit = (downs: string[], dependsOn: string[], kind: 'plain' | 'merge'): string => {
    const revision = newId();
    const n = revisions.length + 1;
    const { message, upgrade, downgrade } =
      kind === 'merge' ? mergeBody() : migrationBody(rand, pick, tables, () => `t${++tableSeq}`);
    const slug = message
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '_')
      .slice(0, 40)
      .replace(/_+$/, '');
    const name = `${revision}_${slug}.py`;
    const typed = rand() < 0.5;
    files.push({
      name,
      text: renderScript({ revision, downs, dependsOn, message, upgrade, downgrade, typed, n }),
    });
    revisions.push({ revision, downRevisions: downs, dependsOn, file: name, message });
    return revision;
  };

  tips = [emit([], [], 'plain')];
  while (revisions.length < count) {
    const remaining = count - revisions.length;
    const r = rand();
    if (tips.length > 1 && (remaining <= 1 || r < 0.12 || remaining <= tips.length)) {
      // Merge two or more open tips (all of them when we are about to run out).
      const k = remaining <= 1 ? tips.length : Math.min(tips.length, rand() < 0.8 ? 2 : 3);
      const chosen = tips.slice(0, k);
      tips = [...tips.slice(k), emit(chosen, [], 'merge')];
    } else if (tips.length < 4 && remaining > tips.length + 3 && r < 0.2) {
      // Branch point: two children of the same tip.
      const i = Math.floor(rand() * tips.length);
      const parent = tips[i]!;
      const a = emit([parent], [], 'plain');
      const b = emit([parent], [], 'plain');
      tips.splice(i, 1, a, b);
    } else {
      const i = Math.floor(rand() * tips.length);
      // Now and then depend on an older revision from anywhere in the history.
      const deps = revisions.length > 10 && rand() < 0.02 ? [pick(revisions).revision] : [];
      const deduped = deps.filter((d) => d !== tips[i]);
      tips[i] = emit([tips[i]!], deduped, 'plain');
    }
  }
  // count ran out with several tips only if count was tiny; fold them into the last revision's lineage.
  while (tips.length > 1) tips = [emit(tips.splice(0, 2), [], 'merge'), ...tips];

  // 64 files at a time: a 30,000-file history written at once runs out of file descriptors (EMFILE).
  for (let i = 0; i < files.length; i += 64) {
    await Promise.all(files.slice(i, i + 64).map((f) => writeFile(path.join(versionsDir, f.name), f.text)));
  }
  const iniPath = path.join(dir, 'alembic.ini');
  await writeFile(iniPath, iniText(options.url ?? 'postgresql://localhost/synthetic'));
  await writeFile(path.join(dir, 'migrations', 'env.py'), ENV_PY);
  await writeFile(path.join(dir, 'migrations', 'script.py.mako'), SCRIPT_MAKO);
  await writeFile(
    path.join(dir, 'migrations', 'README'),
    'Synthetic Alembic history generated by migration-gate.\n',
  );
  return { iniPath, versionsDir, revisions, head: tips[0]! };
}

function mergeBody(): { message: string; upgrade: string[]; downgrade: string[] } {
  return { message: 'merge heads', upgrade: ['pass'], downgrade: ['pass'] };
}

function migrationBody(
  rand: () => number,
  pick: <T>(xs: readonly T[]) => T,
  tables: Table[],
  nextTable: () => string,
): { message: string; upgrade: string[]; downgrade: string[] } {
  const r = rand();
  if (tables.length === 0 || r < 0.25) {
    const name = `${pick(WORDS)}_${nextTable()}`;
    const cols = ['name', 'status'].map((c) => `${c}_${Math.floor(rand() * 100)}`);
    tables.push({ name, columns: [...cols] });
    return {
      message: `create ${name} table`,
      upgrade: [
        'op.create_table(',
        `    ${q(name)},`,
        "    sa.Column('id', sa.Integer(), nullable=False),",
        ...cols.map((c) => `    sa.Column(${q(c)}, ${pick(COLUMN_TYPES)}, nullable=True),`),
        "    sa.Column('created_at', sa.DateTime(), server_default=sa.text('now()'), nullable=False),",
        "    sa.PrimaryKeyConstraint('id'),",
        ')',
      ],
      downgrade: [`op.drop_table(${q(name)})`],
    };
  }
  const t = pick(tables);
  if (r < 0.5) {
    const col = `${pick(WORDS)}_${Math.floor(rand() * 1000)}`;
    t.columns.push(col);
    return {
      message: `add ${col} to ${t.name}`,
      upgrade: [`op.add_column(${q(t.name)}, sa.Column(${q(col)}, ${pick(COLUMN_TYPES)}, nullable=True))`],
      downgrade: [`op.drop_column(${q(t.name)}, ${q(col)})`],
    };
  }
  if (r < 0.65) {
    const col = pick(t.columns);
    const ix = `ix_${t.name}_${col}`.slice(0, 60);
    return {
      message: `index ${t.name}.${col}`,
      upgrade: [`op.create_index(${q(ix)}, ${q(t.name)}, [${q(col)}], unique=False)`],
      downgrade: [`op.drop_index(${q(ix)}, table_name=${q(t.name)})`],
    };
  }
  if (r < 0.75) {
    const col = pick(t.columns);
    return {
      message: `backfill ${t.name}.${col}`,
      upgrade: [`op.execute("UPDATE ${t.name} SET ${col} = NULL WHERE id < 0")`],
      downgrade: ['pass'],
    };
  }
  if (r < 0.85) {
    const col = pick(t.columns);
    return {
      message: `tighten ${t.name}.${col}`,
      upgrade: [
        `with op.batch_alter_table(${q(t.name)}) as batch_op:`,
        `    batch_op.alter_column(${q(col)}, existing_type=sa.String(length=255), nullable=True)`,
      ],
      downgrade: [
        `with op.batch_alter_table(${q(t.name)}) as batch_op:`,
        `    batch_op.alter_column(${q(col)}, existing_type=sa.String(length=255), nullable=True)`,
      ],
    };
  }
  if (r < 0.93 && t.columns.length > 2) {
    const col = t.columns.pop()!;
    return {
      message: `drop ${col} from ${t.name}`,
      upgrade: [`op.drop_column(${q(t.name)}, ${q(col)})`],
      downgrade: [`op.add_column(${q(t.name)}, sa.Column(${q(col)}, sa.Text(), nullable=True))`],
    };
  }
  return {
    message: `analyze ${t.name}`,
    upgrade: [`op.execute(sa.text("ANALYZE ${t.name}"))`],
    downgrade: ['pass'],
  };
}

function q(s: string): string {
  return `'${s}'`;
}

function pyTuple(ids: string[]): string {
  if (ids.length === 0) return 'None';
  if (ids.length === 1) return q(ids[0]!);
  return `(${ids.map(q).join(', ')})`;
}

function renderScript(s: {
  revision: string;
  downs: string[];
  dependsOn: string[];
  message: string;
  upgrade: string[];
  downgrade: string[];
  typed: boolean;
  n: number;
}): string {
  const date = new Date(Date.UTC(2020, 0, 1) + s.n * 3_600_000).toISOString().replace('T', ' ').slice(0, 19);
  const header = s.typed
    ? [
        'from typing import Sequence, Union',
        '',
        'from alembic import op',
        'import sqlalchemy as sa',
        '',
        '',
        '# revision identifiers, used by Alembic.',
        `revision: str = ${q(s.revision)}`,
        `down_revision: Union[str, Sequence[str], None] = ${pyTuple(s.downs)}`,
        'branch_labels: Union[str, Sequence[str], None] = None',
        `depends_on: Union[str, Sequence[str], None] = ${pyTuple(s.dependsOn)}`,
      ]
    : [
        'from alembic import op',
        'import sqlalchemy as sa',
        '',
        '',
        '# revision identifiers, used by Alembic.',
        `revision = ${q(s.revision)}`,
        `down_revision = ${pyTuple(s.downs)}`,
        'branch_labels = None',
        `depends_on = ${pyTuple(s.dependsOn)}`,
      ];
  const arrow = s.typed ? ' -> None' : '';
  return [
    `"""${s.message}`,
    '',
    `Revision ID: ${s.revision}`,
    `Revises: ${s.downs.join(', ')}`,
    `Create Date: ${date}`,
    '',
    '"""',
    ...header,
    '',
    '',
    `def upgrade()${arrow}:`,
    ...s.upgrade.map((l) => `    ${l}`),
    '',
    '',
    `def downgrade()${arrow}:`,
    ...s.downgrade.map((l) => `    ${l}`),
    '',
  ].join('\n');
}

function iniText(url: string): string {
  return `# A generic, single database configuration (synthetic history).

[alembic]
script_location = %(here)s/migrations
prepend_sys_path = .
path_separator = os
sqlalchemy.url = ${url.replace(/%/g, '%%')}

[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console
qualname =

[logger_sqlalchemy]
level = WARNING
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = INFO
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %%(levelname)-5.5s [%%(name)s] %%(message)s
datefmt = %%H:%%M:%%S
`;
}

/** Alembic's generic env.py, reading $DATABASE_URL first so tests can point it at any database. */
export const ENV_PY = `import os
from logging.config import fileConfig

from sqlalchemy import engine_from_config
from sqlalchemy import pool

from alembic import context

config = context.config

if config.config_file_name is not None:
    fileConfig(config.config_file_name)

target_metadata = None

url = os.environ.get("DATABASE_URL") or config.get_main_option("sqlalchemy.url")


def run_migrations_offline() -> None:
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )

    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    section = config.get_section(config.config_ini_section, {})
    section["sqlalchemy.url"] = url
    connectable = engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)

    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)

        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
`;

/** Alembic's generic script.py.mako (1.x, typed headers). */
export const SCRIPT_MAKO = `"""\${message}

Revision ID: \${up_revision}
Revises: \${down_revision | comma,n}
Create Date: \${create_date}

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
\${imports if imports else ""}

# revision identifiers, used by Alembic.
revision: str = \${repr(up_revision)}
down_revision: Union[str, Sequence[str], None] = \${repr(down_revision)}
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    \${upgrades if upgrades else "pass"}


def downgrade() -> None:
    """Downgrade schema."""
    \${downgrades if downgrades else "pass"}
`;
