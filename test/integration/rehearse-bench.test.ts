/** The rehearse benchmark runs both sequences on a real database and reports the ratio of medians. */
import path from 'node:path';
import { execa } from 'execa';
import { benchRehearse } from '../../bench/rehearse-bench.js';
import { alembicBin, createTestDatabase, serverUrl } from '../harness/pg.js';
import { rehearseProject } from '../helpers/project.js';

test('benchRehearse times rehearse against pg_dump; createdb; pg_restore -j 1; alembic upgrade head', async () => {
  const project = rehearseProject('pass');
  const dir = project.dir;
  const db = await createTestDatabase('bench_rehearse');
  try {
    await execa(alembicBin(), ['-c', path.join(dir, 'alembic.ini'), 'upgrade', 'a1b2c3d4e5f6'], {
      cwd: dir,
      env: { DATABASE_URL: db.url },
    });
    const lines: string[] = [];
    const res = await benchRehearse({
      databaseUrl: db.url,
      rehearsalUrl: serverUrl('postgres'),
      iniPath: path.join(dir, 'alembic.ini'),
      cwd: dir,
      alembic: alembicBin(),
      runs: 1,
      log: (l) => void lines.push(l),
    });
    expect(res.gateMs).toHaveLength(1);
    expect(res.manualMs).toHaveLength(1);
    expect(res.ratio).toBeCloseTo(res.medianGateMs / res.medianManualMs);
    expect(lines.at(-1)).toMatch(/^median: rehearse \d+\.\d\ds, manual .* ratio \d+\.\d\d$/);
  } finally {
    await db.drop();
    project.cleanup();
  }
});
