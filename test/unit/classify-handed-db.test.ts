/** external-call: any call handed `op`, its functions, the connection or a session is a stop. */
import { classifyMigrations, initClassifier } from '../../src/classify/index.js';
import { scriptFromUpgrade } from '../helpers/migration.js';

beforeAll(initClassifier);

const judge = (body: string, pre = '') => {
  const [m] = classifyMigrations([scriptFromUpgrade(body, { pre })]);
  return { verdict: m!.verdict, messages: m!.findings.map((f) => f.message).join('\n') };
};

test.each([
  ['map over op.drop_table', 'list(map(op.drop_table, ["a", "b"]))', '', 'list handed op.drop_table'],
  ['getattr(op, ...)', 'getattr(op, "drop_table")("users")', '', 'getattr handed `op`'],
  [
    'functools.partial',
    'functools.partial(op.drop_table, "users")()',
    'import functools',
    'handed op.drop_table',
  ],
  [
    'a stdlib call given the bind',
    'json.dumps(op.get_bind())',
    'import json',
    'handed the connection (op.get_bind())',
  ],
  ['a method given op', 'x = Thing()\nx.run(op)', '', 'x.run handed `op`'],
  [
    'a name bound to the connection',
    'conn = op.get_bind()\nrunner(conn)',
    '',
    'runner handed the connection',
  ],
  [
    'a session',
    's = Session(bind=op.get_bind())\ncopy.copy(s)',
    'import copy\nfrom sqlalchemy.orm import Session',
    'copy.copy handed a session',
  ],
  ['exec()', 'exec("op.drop_table(\'users\')")', '', 'exec(), code chosen at run time'],
])('%s is a stop (unknown)', (_label, body, pre, text) => {
  const { verdict, messages } = judge(body, pre);
  expect(verdict).toBe('unknown');
  expect(messages).toContain(text);
  expect(messages).toContain('migration-gate cannot see what it does to the database');
});

test.each([
  ['pure calls on literals', 'x = len("abc")\nprint(max(1, 2))'],
  ['an inspector read', 'insp = sa.inspect(op.get_bind())\nprint(insp.get_table_names())'],
  ['ENUM(...).create(bind)', 'sa.Enum("a", "b", name="st").create(op.get_bind(), checkfirst=True)'],
  ['op.f() naming a constraint', 'print(op.f("ix_users_email"))'],
])('%s stays additive', (_label, body) => {
  expect(judge(body)).toEqual({ verdict: 'additive', messages: '' });
});
