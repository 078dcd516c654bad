import { RevisionGraph } from '../../src/alembic/graph.js';
import { initPythonParser } from '../../src/alembic/python.js';
import { parseMigrationSource } from '../../src/alembic/scripts.js';
import { BlockedError, ConfigError } from '../../src/errors.js';
import type { MigrationScript } from '../../src/types.js';

beforeAll(async () => {
  await initPythonParser();
});

type Spec = [rev: string, down?: string | string[] | null, extra?: { deps?: string[]; labels?: string[] }];

const py = (v: string | string[] | null | undefined): string =>
  v == null ? 'None' : typeof v === 'string' ? `'${v}'` : `(${v.map((x) => `'${x}'`).join(', ')},)`;

/** Real parsed scripts (through tree-sitter), one file per spec, in load order. */
function scripts(specs: Spec[]): MigrationScript[] {
  return specs.map(([rev, down, extra], i) =>
    parseMigrationSource(
      [
        `"""migration ${rev}"""`,
        `revision = '${rev}'`,
        `down_revision = ${py(down)}`,
        `branch_labels = ${py(extra?.labels ?? null)}`,
        `depends_on = ${py(extra?.deps ?? null)}`,
        'def upgrade():',
        '    pass',
      ].join('\n'),
      `/p/versions/${String(i).padStart(4, '0')}_${rev}.py`,
      `versions/${String(i).padStart(4, '0')}_${rev}.py`,
    ),
  );
}

/** Lightweight scripts for the big performance graphs (no parse: the graph only reads ids). */
function fake(rev: string, downs: string[], deps: string[] = []): MigrationScript {
  return {
    revision: rev,
    downRevisions: downs,
    dependsOn: deps,
    branchLabels: [],
    path: `/p/${rev}.py`,
    file: `${rev}.py`,
  };
}

const ids = (xs: MigrationScript[]): string[] => xs.map((s) => s.revision);

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

// base -> a -> {b1 -> b2, c1} -> m -> d   (c1 is loaded before b1: load order breaks ties)
const branchMerge: Spec[] = [
  ['base0001', null],
  ['aaaa0001', 'base0001'],
  ['cccc0001', 'aaaa0001'],
  ['bbbb0001', 'aaaa0001'],
  ['bbbb0002', 'bbbb0001'],
  ['merge001', ['bbbb0002', 'cccc0001']],
  ['dddd0001', 'merge001'],
];

describe('structure', () => {
  test('heads, bases, merge points, branch points', () => {
    const g = RevisionGraph.build(scripts(branchMerge));
    expect(g.heads).toEqual(['dddd0001']);
    expect(g.bases).toEqual(['base0001']);
    expect(g.mergePoints).toEqual(['merge001']);
    expect(g.branchPoints).toEqual(['aaaa0001']);
    expect(g.get('bbbb0001')?.downRevisions).toEqual(['aaaa0001']);
    expect(g.get('nope')).toBeUndefined();
    expect(g.size).toBe(7);
  });

  test('depends_on does not make a child: the dependency stays a head, but not a real head', () => {
    const g = RevisionGraph.build(
      scripts([
        ['lib00001', null, { labels: ['lib'] }],
        ['app00001', null],
        ['app00002', 'app00001', { deps: ['lib00001'] }],
      ]),
    );
    expect(g.heads).toEqual(['lib00001', 'app00002']);
    expect(g.realHeads).toEqual(['app00002']);
    expect(g.bases).toEqual(['lib00001', 'app00001']);
    expect(g.resolve('heads')).toEqual(['app00002']);
  });

  test('empty history', () => {
    const g = RevisionGraph.build([]);
    expect(g.heads).toEqual([]);
    expect(g.resolve('head')).toEqual([]);
    expect(g.pending([], [])).toEqual([]);
  });
});

describe('build errors', () => {
  test('duplicate revision id names both files', () => {
    const err = thrown(() =>
      RevisionGraph.build(
        scripts([
          ['aaaa0001', null],
          ['aaaa0001', null],
        ]),
      ),
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe(
      "duplicate revision id 'aaaa0001' in versions/0000_aaaa0001.py and versions/0001_aaaa0001.py; Alembic would silently use only one of them: give one file a new revision id and point its child's down_revision at it",
    );
  });

  test('missing down_revision names the file and the directory', () => {
    const err = thrown(() =>
      RevisionGraph.build(
        scripts([
          ['aaaa0001', null],
          ['bbbb0001', 'zzzz9999'],
        ]),
      ),
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe(
      "versions/0001_bbbb0001.py: down_revision 'zzzz9999' of revision bbbb0001 is not a revision in versions; restore the missing migration file or fix down_revision",
    );
  });

  test('missing depends_on', () => {
    const err = thrown(() =>
      RevisionGraph.build(scripts([['aaaa0001', null, { deps: ['ghost'] }]]), {
        where: 'migrations/versions',
      }),
    );
    expect(err.message).toBe(
      "versions/0000_aaaa0001.py: depends_on 'ghost' of revision aaaa0001 is neither a revision nor a branch label in migrations/versions; restore the missing migration file or fix depends_on",
    );
  });

  test('cycle names the revisions in it', () => {
    const err = thrown(() =>
      RevisionGraph.build(
        scripts([
          ['root0001', null],
          ['aaaa0001', 'cccc0001'],
          ['bbbb0001', 'aaaa0001'],
          ['cccc0001', 'bbbb0001'],
          ['tail0001', 'cccc0001'],
        ]),
      ),
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/^versions\/\d{4}_\w+\.py: revision cycle /);
    for (const r of ['aaaa0001', 'bbbb0001', 'cccc0001']) expect(err.message).toContain(r);
    expect(err.message).not.toContain('tail0001');
    expect(err.message).not.toContain('root0001');
    expect(err.message).toContain('a migration cannot come after itself');
  });

  test('cycle through depends_on, and self references', () => {
    const err = thrown(() =>
      RevisionGraph.build(
        scripts([
          ['aaaa0001', null, { deps: ['bbbb0001'] }],
          ['bbbb0001', 'aaaa0001'],
        ]),
      ),
    );
    expect(err.message).toContain('revision cycle');
    expect(thrown(() => RevisionGraph.build(scripts([['aaaa0001', 'aaaa0001']]))).message).toBe(
      'versions/0000_aaaa0001.py: revision aaaa0001 names itself as down_revision (a cycle); set down_revision to the previous revision',
    );
  });

  test('duplicate branch labels', () => {
    const err = thrown(() =>
      RevisionGraph.build(
        scripts([
          ['aaaa0001', null, { labels: ['x'] }],
          ['bbbb0001', null, { labels: ['x'] }],
        ]),
      ),
    );
    expect(err.message).toBe(
      "versions/0001_bbbb0001.py: branch label 'x' of revision bbbb0001 is already used by revision aaaa0001 (versions/0000_aaaa0001.py); branch labels must be unique and differ from revision ids",
    );
  });
});

describe('resolve', () => {
  const twoHeads: Spec[] = [
    ['base0001', null],
    ['left0001', 'base0001', { labels: ['left'] }],
    ['left0002', 'left0001'],
    ['rght0001', 'base0001', { labels: ['right'] }],
    ['abcd0001', 'base0001'],
    ['abcd0002', 'abcd0001'],
  ];

  test('base, heads, full ids, unique prefixes, labels', () => {
    const g = RevisionGraph.build(scripts(twoHeads));
    expect(g.resolve('base')).toEqual([]);
    expect(g.resolve('heads')).toEqual(['left0002', 'rght0001', 'abcd0002']);
    expect(g.resolve('left0002')).toEqual(['left0002']);
    expect(g.resolve('rg')).toEqual(['rght0001']);
    expect(g.resolve('left')).toEqual(['left0001']); // a label names the revision that declares it
    expect(g.resolve('left@head')).toEqual(['left0002']);
    expect(g.resolve('right@heads')).toEqual(['rght0001']);
    expect(g.resolve('left@left0002')).toEqual(['left0002']);
    expect(g.resolve('left@base')).toEqual([]);
  });

  test('head with several heads is blocked and says to merge', () => {
    const g = RevisionGraph.build(scripts(twoHeads));
    const err = thrown(() => g.resolve('head'));
    expect(err).toBeInstanceOf(BlockedError);
    expect(err.message).toBe(
      "'head' is ambiguous: there are 3 heads (left0002, rght0001, abcd0002); add a merge migration with 'alembic merge heads' (or target 'heads')",
    );
  });

  test('ambiguous prefix lists the matches; unknown ids and branches say where we looked', () => {
    const g = RevisionGraph.build(scripts(twoHeads), { where: 'migrations/versions' });
    expect(thrown(() => g.resolve('abcd')).message).toBe(
      "ambiguous revision 'abcd': it is a prefix of 2 revisions (abcd0001, abcd0002); give more characters",
    );
    const unknown = thrown(() => g.resolve('ffff'));
    expect(unknown).toBeInstanceOf(ConfigError);
    expect(unknown.message).toBe(
      "unknown revision 'ffff': not in migrations/versions; use a revision id (or a unique prefix), a branch label, head, heads or base",
    );
    expect(thrown(() => g.resolve('nobranch@head')).message).toBe(
      "unknown branch 'nobranch' in 'nobranch@head': no revision in migrations/versions declares branch_labels = 'nobranch'; check the label",
    );
    expect(thrown(() => g.resolve('left@rght0001')).message).toBe(
      "revision rght0001 is not on branch 'left'; pick a revision of that branch",
    );
    expect(thrown(() => g.resolve('+2')).message).toBe(
      "relative revision '+2' is not supported; name the target revision (or head/heads) explicitly",
    );
  });

  test('label@head with a branch that has two heads is blocked', () => {
    const g = RevisionGraph.build(
      scripts([
        ['base0001', null, { labels: ['main'] }],
        ['xxxx0001', 'base0001'],
        ['yyyy0001', 'base0001'],
      ]),
    );
    expect(thrown(() => g.resolve('main@head'))).toBeInstanceOf(BlockedError);
    expect(g.resolve('main@heads')).toEqual(['xxxx0001', 'yyyy0001']);
  });
});

describe('pending', () => {
  test('linear: everything after the current revision, oldest first', () => {
    const g = RevisionGraph.build(
      scripts([
        ['r1', null],
        ['r2', 'r1'],
        ['r3', 'r2'],
        ['r4', 'r3'],
      ]),
    );
    expect(ids(g.pending([], ['r4']))).toEqual(['r1', 'r2', 'r3', 'r4']);
    expect(ids(g.pending(['r2'], ['r4']))).toEqual(['r3', 'r4']);
    expect(ids(g.pending(['r4'], ['r4']))).toEqual([]);
    expect(ids(g.pending(['r4'], ['r2']))).toEqual([]);
  });

  test('branch and merge: Alembic order (the branch loaded first is walked last from the merge)', () => {
    const g = RevisionGraph.build(scripts(branchMerge));
    // Verified against `alembic upgrade base0001:heads --sql` for the same layout.
    expect(ids(g.pending(['base0001'], ['dddd0001']))).toEqual([
      'aaaa0001',
      'cccc0001',
      'bbbb0001',
      'bbbb0002',
      'merge001',
      'dddd0001',
    ]);
    expect(ids(g.history())).toEqual([
      'dddd0001',
      'merge001',
      'bbbb0002',
      'bbbb0001',
      'cccc0001',
      'aaaa0001',
      'base0001',
    ]);
  });

  test('merge with the database on both branches (several current revisions)', () => {
    const g = RevisionGraph.build(scripts(branchMerge));
    expect(ids(g.pending(['bbbb0001', 'cccc0001'], ['dddd0001']))).toEqual([
      'bbbb0002',
      'merge001',
      'dddd0001',
    ]);
    expect(ids(g.pending(['bbbb0002'], ['dddd0001']))).toEqual(['cccc0001', 'merge001', 'dddd0001']);
  });

  test('several targets (heads) and depends_on pulled in from another base', () => {
    const g = RevisionGraph.build(
      scripts([
        ['lib00001', null, { labels: ['lib'] }],
        ['lib00002', 'lib00001'],
        ['lib00003', 'lib00002'],
        ['app00001', null],
        ['app00002', 'app00001', { deps: ['lib00002'] }],
        ['app00003', 'app00002'],
      ]),
    );
    expect(ids(g.pending(['app00001'], ['app00003']))).toEqual([
      'lib00001',
      'lib00002',
      'app00002',
      'app00003',
    ]);
    // As `alembic upgrade app00001:heads --sql` prints it: the head loaded last is walked first.
    expect(ids(g.pending(['app00001'], g.resolve('heads')))).toEqual([
      'lib00001',
      'lib00002',
      'app00002',
      'app00003',
      'lib00003',
    ]);
    expect(ids(g.pending(['lib00003', 'app00001'], ['app00003']))).toEqual(['app00002', 'app00003']);
    // depends_on by branch label resolves to the revision that declares the label.
    const byLabel = RevisionGraph.build(
      scripts([
        ['lib00001', null, { labels: ['lib'] }],
        ['lib00002', 'lib00001'],
        ['app00001', null, { deps: ['lib'] }],
      ]),
    );
    expect(ids(byLabel.pending([], ['app00001']))).toEqual(['lib00001', 'app00001']);
  });

  test('unknown current revisions are reported, and pending refuses them', () => {
    const g = RevisionGraph.build(
      scripts([
        ['r1', null],
        ['r2', 'r1'],
      ]),
      { where: 'migrations/versions' },
    );
    expect(g.unknown(['r1', 'gone', 'r2', 'lost'])).toEqual(['gone', 'lost']);
    expect(thrown(() => g.pending(['gone'], ['r2'])).message).toBe(
      "the database is at revision 'gone', which is not in migrations/versions; deploy the code that contains that migration, or fix the version table",
    );
    expect(thrown(() => g.pending([], ['nope'])).message).toBe(
      "unknown revision 'nope': not in migrations/versions; check the id (alembic history lists them)",
    );
  });
});

describe('ancestry', () => {
  test('ancestors and isAncestor follow down_revision and depends_on', () => {
    const g = RevisionGraph.build(
      scripts([
        ...branchMerge,
        ['side0001', null],
        ['side0002', 'side0001'],
        ['tail0001', 'dddd0001', { deps: ['side0002'] }],
      ]),
    );
    expect(g.ancestors('merge001').sort()).toEqual([
      'aaaa0001',
      'base0001',
      'bbbb0001',
      'bbbb0002',
      'cccc0001',
    ]);
    expect(g.ancestors('base0001')).toEqual([]);
    expect(g.isAncestor('cccc0001', 'dddd0001')).toBe(true);
    expect(g.isAncestor('cccc0001', 'bbbb0002')).toBe(false);
    expect(g.isAncestor('dddd0001', 'dddd0001')).toBe(false);
    expect(g.isAncestor('side0001', 'tail0001')).toBe(true);
    expect(thrown(() => g.ancestors('nope'))).toBeInstanceOf(ConfigError);
  });
});

describe('performance', () => {
  /** A history with many branches and merges, all merged back: like the synthetic generator, in memory. */
  function bigHistory(n: number): MigrationScript[] {
    let seed = 42;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const out = [fake('r0', [])];
    const tips = ['r0'];
    while (out.length < n) {
      const rev = `r${out.length}`;
      const remaining = n - out.length;
      if (tips.length > 1 && (rand() < 0.15 || remaining <= tips.length)) {
        out.push(fake(rev, tips.splice(0, 2)));
        tips.push(rev);
      } else if (tips.length < 5 && rand() < 0.2 && remaining > 10) {
        const i = Math.floor(rand() * tips.length);
        out.push(fake(rev, [tips[i]!]), fake(`${rev}b`, [tips[i]!]));
        tips.splice(i, 1, rev, `${rev}b`);
      } else {
        const i = Math.floor(rand() * tips.length);
        const deps = out.length > 20 && rand() < 0.02 ? [out[Math.floor(rand() * out.length)]!.revision] : [];
        out.push(
          fake(
            rev,
            [tips[i]!],
            deps.filter((d) => d !== tips[i]),
          ),
        );
        tips[i] = rev;
      }
    }
    while (tips.length > 1) {
      const rev = `m${out.length}`;
      out.push(fake(rev, tips.splice(0, 2)));
      tips.push(rev);
    }
    return out;
  }

  // Speed is measured by `npm run bench`, not here: this checks the order on a large graph.
  test('2,000 revisions with branches and merges: build + pending + history in parent-first order', () => {
    const list = bigHistory(2000);
    const g = RevisionGraph.build(list);
    const all = g.pending([], g.resolve('head'));
    const fromMiddle = g.pending([all[1000]!.revision], g.resolve('heads'));
    expect(g.history()).toHaveLength(list.length);
    expect(g.heads).toHaveLength(1);
    expect(g.mergePoints.length).toBeGreaterThan(50);
    expect(all).toHaveLength(list.length);
    expect(fromMiddle.length).toBeGreaterThan(0);
    // Parents always come before children.
    const pos = new Map(all.map((s, i) => [s.revision, i]));
    for (const s of all)
      for (const p of [...s.downRevisions, ...s.dependsOn])
        expect(pos.get(p)!).toBeLessThan(pos.get(s.revision)!);
  });

  test('the walked ancestor sets used for very large histories give the same order as the bitset closure', () => {
    const list = bigHistory(1500);
    const closure = RevisionGraph.build(list);
    const walked = RevisionGraph.build(list, { closureLimit: 0 });
    expect(ids(walked.history())).toEqual(ids(closure.history()));
    const mid = ids(closure.history())[700]!;
    expect(ids(walked.pending([mid], walked.resolve('heads')))).toEqual(
      ids(closure.pending([mid], closure.resolve('heads'))),
    );
  });

  test('a 10,000-revision linear chain does not overflow the stack', () => {
    const list = Array.from({ length: 10_000 }, (_, i) => fake(`c${i}`, i === 0 ? [] : [`c${i - 1}`]));
    const g = RevisionGraph.build(list);
    expect(g.pending([], ['c9999'])).toHaveLength(10_000);
    expect(g.pending(['c5000'], g.resolve('head'))[0]!.revision).toBe('c5001');
    expect(g.history()[0]!.revision).toBe('c9999');
    expect(g.ancestors('c9999')).toHaveLength(9999);
    expect(g.isAncestor('c0', 'c9999')).toBe(true);
  });
});
