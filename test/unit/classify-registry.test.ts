import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RULES, ruleById, ruleDocs } from '../../src/classify/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

test('rule ids are unique kebab-case and each lives in src/classify/rules/<id>.ts', () => {
  const ids = RULES.map((r) => r.id);
  expect(new Set(ids).size).toBe(ids.length);
  for (const id of ids) {
    expect(id).toMatch(/^[a-z]+(-[a-z]+)*$/);
    expect(existsSync(path.join(ROOT, 'src/classify/rules', `${id}.ts`))).toBe(true);
    expect(ruleById(id)!.id).toBe(id);
  }
  expect(ruleById('no-such-rule')).toBeUndefined();
});

test('every rule has docs with what, why, the safer way and an example', () => {
  for (const rule of RULES) {
    const doc = ruleDocs(rule.id)!;
    expect(doc).toBe(`docs/rules/${rule.id}.md`);
    const text = readFileSync(path.join(ROOT, doc), 'utf8');
    for (const heading of ['## What it catches', '## Why it is risky', '## The safer way', '## Example']) {
      expect(text).toContain(heading);
    }
  }
});

test('severities follow the categories', () => {
  for (const r of RULES) {
    if (r.category === 'locking') expect(r.severity).toBe('warning');
    // Review rules are advice: a warning, or a note (info) when nothing is wrong.
    if (r.category === 'review') expect(['warning', 'info']).toContain(r.severity);
    if (r.category === 'data-loss' || r.category === 'opaque') expect(r.severity).toBe('error');
  }
  expect(ruleById('create-index-concurrently-in-transaction')).toMatchObject({
    category: 'breaking',
    severity: 'error',
  });
});
