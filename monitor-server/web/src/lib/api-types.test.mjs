// api-types.ts is generated from docs/openapi.json (the document the
// server derives from its Rust types, kept current by a Rust test): this
// test generates it again and fails when the committed file differs, so
// the dashboard's types never drift from what the server answers.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const web = join(import.meta.dirname, '..', '..');

describe('api-types.ts', () => {
  it('is what openapi-typescript makes of docs/openapi.json', () => {
    const dir = mkdtempSync(join(tmpdir(), 'monitor-api-types-'));
    try {
      const out = join(dir, 'api-types.ts');
      execFileSync(
        process.execPath,
        [
          join(web, 'node_modules', 'openapi-typescript', 'bin', 'cli.js'),
          join(web, '..', '..', 'docs', 'openapi.json'),
          '--output',
          out,
        ],
        { stdio: 'pipe' },
      );
      const committed = readFileSync(join(web, 'src', 'lib', 'api-types.ts'), 'utf8');
      expect(
        readFileSync(out, 'utf8') === committed,
        'src/lib/api-types.ts is stale: run `npm run types` in monitor-server/web and commit it',
      ).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
