/**
 * PEP 263 as read.ts applies it: a coding declaration counts on line 1, or on line 2 when line 1 is a
 * comment or blank; anything else on line 1 ends the search. Decoders are reused between files, so
 * one file's encoding or error must not leak into the next.
 */
import { decodeSource } from '../../src/alembic/read.js';
import { ConfigError } from '../../src/errors.js';

const latin1 = (s: string) => Buffer.from(s, 'latin1');
const utf8 = (s: string) => Buffer.from(s, 'utf8');

test('a declaration on line 2 counts after a comment line (shebang) or a blank line, LF or CRLF', () => {
  expect(
    decodeSource(latin1('#!/usr/bin/env python\n# -*- coding: latin-1 -*-\nx = "caf\xe9"\n'), 'a.py'),
  ).toContain('café');
  expect(decodeSource(latin1('\n# coding=latin-1\nx = "caf\xe9"\n'), 'b.py')).toContain('café');
  expect(decodeSource(latin1('  \t\r\n# coding: latin-1\r\nx = "caf\xe9"\r\n'), 'c.py')).toContain('café');
});

test('a declaration after a docstring or code on line 1 is not one: the file is UTF-8, and invalid', () => {
  const bytes = latin1('"""doc"""\n# -*- coding: latin-1 -*-\nx = "caf\xe9"\n');
  expect(() => decodeSource(bytes, 'd.py')).toThrow(ConfigError);
  expect(() => decodeSource(bytes, 'd.py')).toThrow(/^d\.py:3: not valid UTF-8 \(byte 0xe9 at offset \d+\)/);
  const code = latin1('import os  # coding: latin-1\nx = "caf\xe9"\n');
  expect(() => decodeSource(code, 'e.py')).toThrow(/^e\.py:2: not valid UTF-8/);
});

test('reused decoders: files of different encodings in a row each decode as declared', () => {
  const a = decodeSource(utf8('x = "naïve"\n'), 'a.py');
  const b = decodeSource(latin1('# coding: cp1252\nx = "\x80"\n'), 'b.py');
  expect(() => decodeSource(latin1('x = "\xff"\n'), 'c.py')).toThrow(/^c\.py:1: not valid UTF-8/);
  const d = decodeSource(utf8('x = "日本"\n'), 'd.py');
  expect([a, b, d]).toEqual(['x = "naïve"\n', '# coding: cp1252\nx = "€"\n', 'x = "日本"\n']);
});

test('an encoding nobody can decode is named, with what to do', () => {
  expect(() => decodeSource(utf8('# coding: klingon-8\nx = 1\n'), 'k.py')).toThrow(
    'k.py:1: declares the source encoding "klingon-8", which migration-gate cannot decode; save the file as UTF-8 and remove the coding line',
  );
});
