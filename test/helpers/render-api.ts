/** Shared pieces for tests of the Render API features: a real export file and nock on Node 20. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

// nock 15's fetch interception (@mswjs/interceptors) uses Promise.withResolvers, which Node 20 lacks.
const P = Promise as unknown as { withResolvers?: () => unknown };
P.withResolvers ??= () => {
  let resolve!: (v: unknown) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
};

export const RENDER = 'https://api.render.com';
export const PG_ID = 'dpg-cq1abc2def3ghi4jkl5m';
export const API_KEY = 'rnd_TestKeyThatMustNeverLeak123';

/** A real export: pg_dump --format=directory of `url`, packed as Render packs it (.dir.tar.gz). */
export async function makeExportFile(url: string): Promise<{ file: string; bytes: Buffer }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mg-export-'));
  await execa('pg_dump', ['--format=directory', '--no-password', `--file=${path.join(dir, 'db.dir')}`, url]);
  const file = path.join(dir, '2026-12-03T07_00Z.dir.tar.gz');
  await execa('tar', ['-czf', file, '-C', dir, 'db.dir']);
  return { file, bytes: readFileSync(file) };
}

export interface Download {
  url: string;
  hits: () => number;
  /** Replace what the server sends. */
  serve: (body: Buffer) => void;
  close(): Promise<void>;
}

/** Serves one file on loopback, as the export's download URL would. */
export async function serveDownload(body: Buffer): Promise<Download> {
  let current = body;
  let hits = 0;
  const auth: string[] = [];
  const server = http.createServer((req, res) => {
    hits++;
    if (req.headers.authorization) auth.push(req.headers.authorization);
    res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': current.length }).end(current);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/exports/2026-12-03T07_00Z.dir.tar.gz?sig=abc`,
    hits: () => hits,
    serve: (b) => {
      current = b;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export function writeTemp(name: string, body: string | Buffer): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mg-tmp-'));
  const file = path.join(dir, name);
  writeFileSync(file, body);
  return file;
}
