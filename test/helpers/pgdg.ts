/**
 * A fixture PGDG repository, built in the test from this machine's own Debian client packages
 * (downloaded by scripts/setup.sh into .cache/pgdg-debs) and signed with a key generated here.
 * Served over loopback HTTP; each scenario is a directory under one root (`/<scenario>/dists/...`).
 */
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  writeFileSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import * as openpgp from 'openpgp';
import { repoRoot } from './project.js';

export const debCache = process.env.MIGRATION_GATE_TEST_DEBS ?? path.join(repoRoot, '.cache/pgdg-debs');

export interface LocalDeb {
  file: string;
  name: string;
  version: string;
  arch: string;
}

/** postgresql-client-15 and libpq5 from the cache; a clear failure when setup.sh has not fetched them. */
export function localDebs(): LocalDeb[] {
  const files = existsSync(debCache) ? readdirSync(debCache).filter((f) => f.endsWith('.deb')) : [];
  const debs = files.map((f) => {
    const [name, version, arch] = path.basename(f, '.deb').split('_') as [string, string, string];
    return { file: path.join(debCache, f), name, version: decodeURIComponent(version), arch };
  });
  for (const want of ['postgresql-client-15', 'libpq5']) {
    if (!debs.some((d) => d.name === want)) {
      throw new Error(
        `${want}_*.deb is missing from ${debCache}: run scripts/setup.sh (it runs apt-get download postgresql-client-15 libpq5 there)`,
      );
    }
  }
  return debs.filter((d) => ['postgresql-client-15', 'libpq5'].includes(d.name));
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

export interface SigningKey {
  privateKey: openpgp.PrivateKey;
  publicArmored: string;
}

export async function makeKey(name: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: 'ecc',
    userIDs: [{ name, email: 'repo@example.test' }],
    format: 'armored',
  });
  return { privateKey: await openpgp.readPrivateKey({ armoredKey: privateKey }), publicArmored: publicKey };
}

/** dists/<suite>/main/binary-<arch>/Packages(.gz) for the files under pool/, and a signed InRelease. */
export async function writeIndex(dir: string, suite: string, arch: string, key: SigningKey): Promise<void> {
  const pool = path.join(dir, 'pool/main');
  const stanzas: string[] = [];
  for (const f of readdirSync(pool, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.deb'))) {
    const data = readFileSync(path.join(pool, f));
    const [name, version] = path.basename(f, '.deb').split('_') as [string, string];
    stanzas.push(
      [
        `Package: ${name}`,
        `Version: ${decodeURIComponent(version)}`,
        `Architecture: ${arch}`,
        `Filename: pool/main/${f}`,
        `Size: ${data.length}`,
        `SHA256: ${sha(data)}`,
        'Description: fixture',
        ' built from this machine’s own Debian package',
      ].join('\n'),
    );
  }
  const rel = `main/binary-${arch}`;
  mkdirSync(path.join(dir, 'dists', suite, rel), { recursive: true });
  const packages = Buffer.from(stanzas.join('\n\n') + '\n');
  const gz = zlib.gzipSync(packages);
  writeFileSync(path.join(dir, 'dists', suite, rel, 'Packages'), packages);
  writeFileSync(path.join(dir, 'dists', suite, rel, 'Packages.gz'), gz);
  const release = [
    'Origin: fixture',
    `Suite: ${suite}`,
    `Codename: ${suite}`,
    `Architectures: ${arch}`,
    'Components: main',
    `Date: ${new Date().toUTCString()}`,
    'SHA256:',
    ` ${sha(packages)} ${packages.length} ${rel}/Packages`,
    ` ${sha(gz)} ${gz.length} ${rel}/Packages.gz`,
  ].join('\n');
  const signed = await openpgp.sign({
    message: await openpgp.createCleartextMessage({ text: release + '\n' }),
    signingKeys: key.privateKey,
  });
  writeFileSync(path.join(dir, 'dists', suite, 'InRelease'), signed);
}

export async function buildRepo(dir: string, suite: string, arch: string, key: SigningKey): Promise<void> {
  for (const d of localDebs()) {
    const sub = path.join(dir, 'pool/main/p', d.name);
    mkdirSync(sub, { recursive: true });
    copyFileSync(d.file, path.join(sub, path.basename(d.file)));
  }
  await writeIndex(dir, suite, arch, key);
}

export function copyRepo(from: string, to: string): void {
  cpSync(from, to, { recursive: true });
}

export interface StaticServer {
  url: string;
  requests: string[];
  close(): Promise<void>;
}

/** Serves files under `root` on 127.0.0.1. */
export async function serveDir(root: string): Promise<StaticServer> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const rel = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    requests.push(rel);
    const file = path.join(root, path.normalize(rel));
    if (!file.startsWith(root) || !existsSync(file)) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
