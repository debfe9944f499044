/**
 * Execution logs of catalogs kept in one directory never collide (issue 12 §6.10): both wrote
 * `logs/conductor-plan-1-STAMP.log`, so two runs in the same second shared one file.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, hashall } from '../helpers/cli.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';

/** Run the CLI without waiting for it: several runs at once. */
function start(args: string[]): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, HASHALL_CATALOG: '' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout }));
  });
}

describe('execution logs of catalogs sharing a directory', () => {
  let dir: string;
  const names = ['alpha', 'beta', 'gamma'];
  beforeAll(() => {
    dir = tempDir('hashall-logs-');
    for (const name of names) {
      const tree = join(dir, `tree-${name}`);
      writeTree(tree, { 'a.bin': `${name} content`, 'b.bin': `${name} content` });
      const cat = join(dir, `${name}.db`);
      expect(hashall(['scan', tree, '--catalog', cat, '--quiet']).code).toBe(0);
      expect(hashall(['conductor', 'plan', name, '--catalog', cat, '--quiet']).code).toBe(0);
    }
  });
  afterAll(() => removeTree(dir));

  it('each run of plan 1, at the same moment, has a log of its own', async () => {
    const runs = await Promise.all(
      names.map((name) =>
        start([
          'conductor',
          'execute',
          '1',
          '--force',
          '--catalog',
          join(dir, `${name}.db`),
          '--json',
        ]),
      ),
    );
    // The same catalog again at once: two runs in the same second never share a file either.
    const again = hashall([
      'conductor',
      'execute',
      '1',
      '--force',
      '--catalog',
      join(dir, 'alpha.db'),
      '--json',
    ]);
    const logs = [...runs, { code: again.code, stdout: again.stdout }].map((r) => {
      expect(r.code).toBe(0);
      return (JSON.parse(r.stdout) as { log: string }).log;
    });
    expect(new Set(logs).size).toBe(4);
    expect(readdirSync(join(dir, 'logs'))).toHaveLength(4);
    for (const [i, name] of [...names, 'alpha'].entries()) {
      const text = readFileSync(logs[i]!, 'utf8');
      expect(text).toContain(`"${name}"`);
      for (const other of names.filter((n) => n !== name)) expect(text).not.toContain(`"${other}"`);
      // One run per log: its first line names the plan once.
      expect(text.match(/execute plan #1/g)).toHaveLength(1);
    }
  });
});
