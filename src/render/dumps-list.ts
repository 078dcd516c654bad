/**
 * `dumps` with the Render API configured: Render's own exports of the database (kept 7 days by
 * Render), beside the dumps in the dump target. A copy the gate made of an export is in the target
 * under the usual name, marked `render-export` (a .dir.tar.gz: tar -xzf, then pg_restore --format=directory).
 */
import type { Settings } from '../config/settings.js';
import { parseDatabaseUrl } from '../db/connect.js';
import { renderTarget } from './dump-method.js';

export async function listRenderExports(
  settings: Settings,
  out: (line: string) => void,
  now = Date.now(),
): Promise<boolean> {
  let host: string | undefined;
  try {
    host = settings.databaseUrl ? parseDatabaseUrl(settings.databaseUrl).host : undefined;
  } catch {
    host = undefined;
  }
  const target = renderTarget(settings, host);
  if (!target) return false;
  const exports = await target.api.listExports(target.postgresId);
  if (exports.length === 0) {
    out(`No Render exports of ${target.postgresId} (Render keeps them 7 days).`);
    return true;
  }
  out(`Render exports of ${target.postgresId} (kept by Render for 7 days; newest first):`);
  for (const e of [...exports].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt))) {
    const hours = (now - Date.parse(e.createdAt)) / 3_600_000;
    out(
      `  ${e.id}  ${e.createdAt}  ${hours < 48 ? `${hours.toFixed(1)}h` : `${Math.round(hours / 24)}d`} ago  ${e.url ? 'ready' : 'in progress'}`,
    );
  }
  return true;
}
