/**
 * One safety dump (takeSafetyDump: pg_dump -Fc teed into the target and two pg_restore readers) of
 * DATABASE_URL to MIGRATION_GATE_DUMP_TARGET, in its own process so the benchmark can measure the
 * peak RSS of exactly this. Prints one JSON line with the result. Started by bench.ts (`s3` section).
 */
import { parseDatabaseUrl } from '../src/db/connect.js';
import { takeSafetyDump } from '../src/db/dump.js';
import { openDumpTarget } from '../src/storage/index.js';
import { dumpObjectName } from '../src/storage/naming.js';

const url = process.env.DATABASE_URL;
const where = process.env.MIGRATION_GATE_DUMP_TARGET;
if (!url || !where) {
  console.error('s3-dump: set DATABASE_URL and MIGRATION_GATE_DUMP_TARGET');
  process.exit(3);
}
const createdAt = new Date();
const meta = { service: 'bench', fromRevisions: ['bench'], toRevisions: ['bench'], createdAt };
const started = Date.now();
try {
  const result = await takeSafetyDump({
    target: parseDatabaseUrl(url),
    sink: await openDumpTarget(where),
    name: dumpObjectName(meta),
    meta,
  });
  console.log(JSON.stringify({ ...result, wallMs: Date.now() - started }));
} catch (err) {
  console.error(`s3-dump: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
