/**
 * The PGDG apt repository's index, checked the way apt checks it: `dists/<suite>/InRelease` is a
 * clearsigned file whose signature must verify against the trusted key; only its signed text is
 * read, and it lists the SHA256 of `main/binary-<arch>/Packages`, which in turn lists each package's
 * SHA256. Everything here is pure (text in, result out) except the signature check, which is async.
 */
import { createHash } from 'node:crypto';
import { FailedError } from '../errors.js';

export type Stanza = Record<string, string>;

/** Debian control format (deb822): stanzas separated by blank lines, `Field: value`, continuation lines indented. */
export function parseControl(text: string): Stanza[] {
  const out: Stanza[] = [];
  let cur: Stanza = {};
  let last: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') {
      if (Object.keys(cur).length > 0) out.push(cur);
      cur = {};
      last = undefined;
      continue;
    }
    if ((line.startsWith(' ') || line.startsWith('\t')) && last) {
      cur[last] += '\n' + line.trim();
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    last = line.slice(0, colon).trim();
    cur[last] = line.slice(colon + 1).trim();
  }
  if (Object.keys(cur).length > 0) out.push(cur);
  return out;
}

export interface IndexEntry {
  sha256: string;
  size: number;
}

/** The `SHA256:` list of a Release file: path -> hash and size. */
export function releaseHashes(release: Stanza): Map<string, IndexEntry> {
  const map = new Map<string, IndexEntry>();
  for (const line of (release.SHA256 ?? '').split('\n')) {
    const [sha256, size, file] = line.trim().split(/\s+/);
    if (sha256 && size && file && /^[0-9a-f]{64}$/i.test(sha256)) {
      map.set(file, { sha256: sha256.toLowerCase(), size: Number(size) });
    }
  }
  return map;
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Verify a clearsigned InRelease against the trusted armored key(s); returns the signed text only.
 * A wrong key, a broken signature or an unsigned file is refused.
 */
export async function verifyInRelease(
  inRelease: string,
  armoredKeys: string,
  source: string,
): Promise<string> {
  const openpgp = await import('openpgp');
  let keys;
  try {
    keys = await openpgp.readKeys({ armoredKeys });
  } catch (err) {
    throw new FailedError(
      `the trusted PGDG signing key could not be read (${err instanceof Error ? err.message : String(err)}): check MIGRATION_GATE_PGDG_KEY`,
    );
  }
  let message;
  try {
    message = await openpgp.readCleartextMessage({ cleartextMessage: inRelease });
  } catch {
    throw new FailedError(
      `${source} is not a signed InRelease file: the repository (or a proxy in between) served something else; nothing was installed`,
    );
  }
  try {
    const res = await openpgp.verify({ message, verificationKeys: keys, expectSigned: true });
    return res.data;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new FailedError(
      `${source} has no valid signature from the trusted PGDG key (${why}): the index may have been tampered with or the mirror is signed by another key; nothing was installed. Use the official repository or set MIGRATION_GATE_PGDG_KEY to your mirror's key`,
    );
  }
}

/** dpkg's version ordering (epoch:upstream-revision; `~` sorts before everything, even the end). */
export function compareDebVersions(a: string, b: string): number {
  const split = (v: string) => {
    const colon = v.indexOf(':');
    const epoch = colon >= 0 ? Number(v.slice(0, colon)) : 0;
    const rest = colon >= 0 ? v.slice(colon + 1) : v;
    const dash = rest.lastIndexOf('-');
    return {
      epoch,
      upstream: dash >= 0 ? rest.slice(0, dash) : rest,
      revision: dash >= 0 ? rest.slice(dash + 1) : '',
    };
  };
  const order = (c: string) =>
    c === '~' ? -1 : c === '' ? 0 : /[A-Za-z]/.test(c) ? c.charCodeAt(0) : c.charCodeAt(0) + 256;
  const part = (x: string, y: string): number => {
    let i = 0;
    let j = 0;
    while (i < x.length || j < y.length) {
      // Non-digit prefix, compared character by character.
      while ((i < x.length && !/\d/.test(x[i]!)) || (j < y.length && !/\d/.test(y[j]!))) {
        const cx = i < x.length && !/\d/.test(x[i]!) ? x[i]! : '';
        const cy = j < y.length && !/\d/.test(y[j]!) ? y[j]! : '';
        const d = order(cx) - order(cy);
        if (d !== 0) return d;
        if (cx) i++;
        if (cy) j++;
      }
      let nx = '';
      let ny = '';
      while (i < x.length && /\d/.test(x[i]!)) nx += x[i++];
      while (j < y.length && /\d/.test(y[j]!)) ny += y[j++];
      const d = Number(nx || 0) - Number(ny || 0);
      if (d !== 0) return d;
    }
    return 0;
  };
  const va = split(a);
  const vb = split(b);
  return va.epoch - vb.epoch || part(va.upstream, vb.upstream) || part(va.revision, vb.revision);
}

export interface PackageRef {
  name: string;
  version: string;
  filename: string;
  size: number;
  sha256: string;
}

/** The newest version of `name` for `arch` (or `all`) in a Packages file. */
export function pickPackage(stanzas: Stanza[], name: string, arch: string): PackageRef | undefined {
  let best: PackageRef | undefined;
  for (const s of stanzas) {
    if (s.Package !== name || (s.Architecture !== arch && s.Architecture !== 'all')) continue;
    if (!s.Version || !s.Filename || !s.SHA256 || !/^[0-9a-f]{64}$/i.test(s.SHA256)) continue;
    const ref = {
      name,
      version: s.Version,
      filename: s.Filename,
      size: Number(s.Size ?? NaN),
      sha256: s.SHA256.toLowerCase(),
    };
    if (!best || compareDebVersions(ref.version, best.version) > 0) best = ref;
  }
  return best;
}

/** Package filenames are relative paths under pool/: anything else could escape the repository or the stage dir. */
export function safePoolPath(filename: string): boolean {
  return (
    !filename.startsWith('/') && !filename.split('/').includes('..') && /^[A-Za-z0-9._+~/-]+$/.test(filename)
  );
}
