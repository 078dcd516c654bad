// Stops the cluster started by global-setup and removes its directory.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export default async function globalTeardown() {
  const infoFile = process.env.MIGRATION_GATE_TEST_PG;
  if (!infoFile || !existsSync(infoFile)) return;
  const info = JSON.parse(readFileSync(infoFile, 'utf8'));
  const pgCtl = join(info.binDir, 'pg_ctl');
  const args = ['-D', info.dataDir, '-m', 'immediate', '-w', 'stop'];
  try {
    if (info.runAsPostgres)
      execFileSync('runuser', ['-u', 'postgres', '--', pgCtl, ...args], { stdio: 'ignore' });
    else execFileSync(pgCtl, args, { stdio: 'ignore' });
  } catch {
    // Already stopped (or never started): removing the directory is all that is left.
  }
  rmSync(info.dir, { recursive: true, force: true });
  rmSync(infoFile, { force: true });
}
