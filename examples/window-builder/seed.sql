-- "Production data" for the demo: apply after `alembic upgrade 1a2b3c4d5e6f` (the base schema).
-- Re-runnable: existing rows (same id) are left alone.
BEGIN;

INSERT INTO users (id, email, name, created_at) VALUES
  (1,  'ana.moreau@studio-moreau.fr',       'Ana Moreau',        '2023-03-14 09:12:00+00'),
  (2,  'jonas.becker@passivbau-becker.de',  'Jonas Becker',      '2023-03-20 15:40:00+00'),
  (3,  'priya.raman@greenframe.co.uk',      'Priya Raman',       '2023-04-02 11:05:00+00'),
  (4,  'liam.oconnor@oconnor-arch.ie',      'Liam O''Connor',    '2023-05-18 08:30:00+00'),
  (5,  'sofia.lindqvist@nordhus.se',        'Sofia Lindqvist',   '2023-06-01 13:22:00+00'),
  (6,  'mateo.garcia@casapasiva.es',        'Mateo García',      '2023-07-09 10:47:00+00'),
  (7,  'emma.dubois@atelier-dubois.be',     'Emma Dubois',       '2023-08-23 16:03:00+00'),
  (8,  'noah.williams@ph-consult.us',       'Noah Williams',     '2023-10-11 19:15:00+00'),
  (9,  'yuki.tanaka@tanaka-sekkei.jp',      'Yuki Tanaka',       '2024-01-08 02:51:00+00'),
  (10, 'olivia.brown@brownbuilds.ca',       NULL,                '2024-02-27 21:34:00+00'),
  (11, 'lukas.novak@energo-projekt.cz',     'Lukáš Novák',       '2024-04-15 07:58:00+00'),
  (12, 'chloe.martin@martin-renov.fr',      'Chloé Martin',      '2024-06-30 12:10:00+00')
ON CONFLICT (id) DO NOTHING;

INSERT INTO projects (id, owner_id, name, created_at) VALUES
  (1,  1,  'Maison Moreau – EnerPHit retrofit',        '2023-03-15 10:00:00+00'),
  (2,  1,  'Rue des Lilas townhouses',                  '2023-09-04 14:20:00+00'),
  (3,  2,  'Kita Sonnenhof (passive house school)',     '2023-03-21 09:00:00+00'),
  (4,  2,  'Mehrfamilienhaus Lindenstraße 12',          '2023-11-12 16:45:00+00'),
  (5,  3,  'Hackney terrace deep retrofit',             '2023-04-03 08:30:00+00'),
  (6,  3,  'Bristol co-housing, block B',               '2024-02-19 13:15:00+00'),
  (7,  4,  'Galway coastal cottage',                    '2023-05-19 11:11:00+00'),
  (8,  5,  'Nordhus timber villa',                      '2023-06-02 09:45:00+00'),
  (9,  5,  'Uppsala student housing',                   '2024-03-08 10:30:00+00'),
  (10, 6,  'Casa Pasiva Segovia',                       '2023-07-10 12:00:00+00'),
  (11, 7,  'Atelier Dubois office extension',           '2023-08-24 15:30:00+00'),
  (12, 8,  'Portland duplex (PHIUS)',                   '2023-10-12 17:00:00+00'),
  (13, 8,  'Vermont farmhouse retrofit',                '2024-05-21 14:40:00+00'),
  (14, 9,  'Kamakura row house',                        '2024-01-09 03:20:00+00'),
  (15, 10, 'Toronto laneway suite',                     '2024-02-28 22:05:00+00'),
  (16, 11, 'Brno panel block renovation',               '2024-04-16 08:25:00+00'),
  (17, 12, 'Lyon loft conversion',                      '2024-07-01 09:50:00+00'),
  (18, 12, 'Annecy chalet',                             '2024-08-14 11:35:00+00')
ON CONFLICT (id) DO NOTHING;

-- Explicit ids above do not advance the serial sequences (DO, so psql prints nothing).
DO $$
BEGIN
  PERFORM setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users));
  PERFORM setval(pg_get_serial_sequence('projects', 'id'), (SELECT max(id) FROM projects));
END
$$;

COMMIT;
