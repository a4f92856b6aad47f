import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import pg from 'pg';
import { openStore } from '../../../src/storage/open-store.js';
import { PostgresStore } from '../../../src/storage/postgres/postgres-store.js';
import { SqliteStore } from '../../../src/storage/sqlite/sqlite-store.js';
import { latestPostgresSchemaVersion } from '../../../src/storage/postgres/postgres-migrations.js';
import { createDatabase, postgresUrl, tempDir } from '../../helpers/backends.js';

test('openStore opens SQLite for a path', async () => {
  const dir = tempDir();
  try {
    const store = await openStore(join(dir.path, 'v.db'));
    assert.ok(store instanceof SqliteStore);
    assert.equal(store.kind, 'sqlite');
    await store.close();
  } finally {
    dir.remove();
  }
});

test('openStore rejects other URLs', async () => {
  await assert.rejects(openStore('mysql://127.0.0.1/vellum'), {
    name: 'TypeError',
    message: /unsupported store URL scheme in "mysql:\/\/": use a file path or a postgres:\/\/ URL/,
  });
  await assert.rejects(openStore(''), TypeError);
});

test('PostgresStore checks its options', async () => {
  await assert.rejects(PostgresStore.open({ url: '/var/lib/vellum.db' }), {
    name: 'TypeError',
    message: /needs a postgres:\/\/ or postgresql:\/\/ URL, got "\/var\/lib\/vellum.db"/,
  });
  await assert.rejects(
    PostgresStore.open({ url: 'postgres://vellum@127.0.0.1:1/x', poolSize: 1 }),
    { name: 'RangeError', message: /poolSize must be an integer of at least 2, got 1/ },
  );
});

const skip =
  postgresUrl === undefined
    ? 'VELLUM_TEST_POSTGRES_URL is not set; .ci/run starts a server and sets it'
    : undefined;

describe('openStore on PostgreSQL', { skip }, () => {
  test('postgres URLs open PostgreSQL', async () => {
    const database = await createDatabase();
    try {
      for (const url of [database.url, database.url.replace(/^postgres:/, 'postgresql:')]) {
        const store = await openStore(url, { poolSize: 2, statementTimeoutMs: 5_000 });
        assert.ok(store instanceof PostgresStore);
        assert.equal(store.singleWriter, false);
        assert.equal(await store.schemaVersion(), latestPostgresSchemaVersion);
        await store.close();
      }
    } finally {
      await database.drop();
    }
  });

  test('newer schema is rejected', async () => {
    const database = await createDatabase();
    try {
      await (await openStore(database.url)).close();
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      await client.query('INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)');
      await client.end();
      await assert.rejects(
        openStore(database.url),
        new RegExp(
          `schema is version 99, newer than this Vellum \\(${latestPostgresSchemaVersion}\\); upgrade Vellum`,
        ),
      );
    } finally {
      await database.drop();
    }
  });
});
