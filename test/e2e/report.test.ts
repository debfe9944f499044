/**
 * `conductor report` on real trees: JSON and CSV carry exactly the plan's actions (checked
 * against show-plan, the catalog and the files on disk, hostile names included), the output
 * file is replaced atomically, errors are one line, and the HTML page is self-contained.
 * The page's behaviour in a browser is tested in report-html.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashall } from '../helpers/cli.js';
import { readCatalog } from '../helpers/catalog.js';
import { csvObjects, pathBytes } from '../helpers/csv.js';
import {
  mktree,
  mountTmpfs,
  removeTree,
  requireMounts,
  tempDir,
  unmountAll,
} from '../helpers/fs.js';
import { HOSTILE_NAMES, bpath, writeReportTree } from '../helpers/report-tree.js';

interface PlanJson {
  id: number;
  opportunities: number;
  bytes_saveable: number;
  actions: Record<string, number>;
  skip_reasons: Record<string, number>;
}
type Action = Record<string, unknown> & {
  id: number;
  type: string;
  source: string;
  target: string;
  bytes: number;
  status: string;
  device: string;
  source_inode: number;
  target_inode: number;
};
interface ReportJson {
  id: number;
  name: string;
  status: string;
  counts: Record<string, number>;
  by_status: Record<string, number>;
  skip_reasons: Record<string, number>;
  action_count: number;
  bytes_saveable: number;
  bytes_freed: number;
  opportunities: number;
  devices: { alias: string; bytes_saveable: number; actions: number; hardlinks: number }[];
  top_groups: { group: number; bytes_saveable: number }[];
  actions: Action[];
  [k: string]: unknown;
}

const CSV_HEADER = [
  'id',
  'type',
  'status',
  'group',
  'device',
  'source_device',
  'source',
  'source_b64',
  'target',
  'target_b64',
  'bytes',
  'size',
  'sha256',
  'reason',
  'error',
  'keep_rule',
  'metadata_changes',
  'undo_status',
  'source_inode',
  'target_inode',
  'host',
  'source_host',
];

function ok<T>(args: string[], cat: string): T {
  const r = hashall([...args, '--catalog', cat, '--json']);
  if (r.code !== 0) throw new Error(`hashall ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.json<T>();
}

function report(cat: string, id: number, ...args: string[]) {
  return hashall(['conductor', 'report', String(id), '--catalog', cat, ...args]);
}

function reportJson(cat: string, id: number): ReportJson {
  const r = report(cat, id, '--format', 'json', '--out', '-');
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.json<ReportJson>();
}

/** The action rows a report page carries (its script's JSON). */
function embeddedRows(html: string): unknown[][] {
  const m = /<script type="application\/json" id="actions-data">([\s\S]*?)<\/script>/.exec(html);
  if (!m) throw new Error('no embedded action rows');
  return JSON.parse(m[1]!) as unknown[][];
}

function pick(o: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => k in o).map((k) => [k, o[k]]));
}

describe('conductor report: JSON and CSV', () => {
  let dir: string;
  let tree: string;
  let cat: string;
  let plan: PlanJson;
  let rep: ReportJson;

  beforeAll(() => {
    dir = tempDir();
    tree = join(dir, 'tree');
    cat = join(dir, 'c.db');
    writeReportTree(join(tree, 'hand'));
    mktree(join(tree, 'gen'), ['--files', '600', '--total-mb', '8', '--seed', '5']);
    ok(['scan', tree], cat);
    plan = ok<PlanJson>(['conductor', 'plan', 'Report <test> & "quotes"'], cat);
    rep = reportJson(cat, plan.id);
  });
  afterAll(() => removeTree(dir));

  it('JSON has show-plan --limit 0 exactly: its header keys and every action with its fields', () => {
    const show = ok<ReportJson>(['conductor', 'show-plan', String(plan.id), '--limit', '0'], cat);
    // Every header key show-plan gives, with its value.
    const headerKeys = Object.keys(show).filter((k) => k !== 'actions');
    expect(headerKeys).toEqual(expect.arrayContaining(['id', 'status', 'options', 'counts']));
    for (const k of headerKeys) expect(rep[k], k).toEqual(show[k]);
    expect(rep.name).toBe('Report <test> & "quotes"');
    expect(rep.action_count).toBe(show.actions.length);
    expect(rep.actions).toHaveLength(show.actions.length);
    // Execution order: by id.
    const ids = rep.actions.map((a) => a.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    const byId = new Map(rep.actions.map((a) => [a.id, a]));
    // …and every field of every action, with its value (the report adds a few more).
    for (const s of show.actions) expect(pick(byId.get(s.id)!, Object.keys(s))).toEqual(s);
    // The summary agrees with the plan and with the rows.
    expect(rep.counts).toEqual(plan.actions);
    expect(rep.skip_reasons).toEqual(plan.skip_reasons);
    expect(rep.counts.SKIP).toBeGreaterThan(0);
    expect(rep.counts.NOOP).toBeGreaterThan(0);
    expect(rep.actions.reduce((s, a) => s + a.bytes, 0)).toBe(plan.bytes_saveable);
    expect(rep.devices.reduce((s, d) => s + d.bytes_saveable, 0)).toBe(plan.bytes_saveable);
    expect(rep.top_groups.length).toBe(20);
    const tops = rep.top_groups.map((g) => g.bytes_saveable);
    expect(tops).toEqual([...tops].sort((a, b) => b - a));
    expect(rep.by_status).toEqual({
      pending: rep.counts.HARDLINK! + rep.counts.NOOP!,
      skipped: rep.counts.SKIP,
    });
  });

  it('JSON rows are the catalog rows, and their paths name the planned files on disk, byte for byte', () => {
    const rows = readCatalog(cat, (db) =>
      db
        .prepare(
          `SELECT id, action_type, target_path, source_path, target_inode, source_inode, bytes_to_save
             FROM conductor_actions WHERE plan_id = ? ORDER BY id`,
        )
        .all(plan.id),
    ) as {
      id: number;
      action_type: string;
      target_path: Buffer;
      source_path: Buffer;
      target_inode: number;
      source_inode: number;
      bytes_to_save: number;
    }[];
    expect(rep.actions.map((a) => a.id)).toEqual(rows.map((r) => r.id));
    rows.forEach((r, i) => {
      const a = rep.actions[i]!;
      expect(a.type).toBe(r.action_type);
      expect(a.bytes).toBe(r.bytes_to_save);
      expect(a.target_inode).toBe(r.target_inode);
      expect(a.source_inode).toBe(r.source_inode);
      const target = pathBytes(a, 'target');
      const source = pathBytes(a, 'source');
      // The absolute path ends with the path inside the filesystem, and is that very file.
      expect(target.subarray(target.length - r.target_path.length).equals(r.target_path)).toBe(
        true,
      );
      expect(source.subarray(source.length - r.source_path.length).equals(r.source_path)).toBe(
        true,
      );
      expect(lstatSync(target).ino).toBe(r.target_inode);
      expect(lstatSync(source).ino).toBe(r.source_inode);
    });
    // Every hostile name is in the report, exactly.
    const named = new Set(
      rep.actions
        .flatMap((a) => [pathBytes(a, 'target'), pathBytes(a, 'source')])
        .map((b) => b.toString('latin1')),
    );
    for (const name of HOSTILE_NAMES)
      expect(
        named.has(bpath(join(tree, 'hand'), 'dup', name).toString('latin1')),
        String(name),
      ).toBe(true);
    // Exactly the non-UTF-8 one needed base64.
    const b64 = rep.actions.filter((a) => a.target_b64 !== undefined || a.source_b64 !== undefined);
    expect(b64.length).toBeGreaterThan(0);
    expect(b64.every((a) => /caf\ufffd/.test(`${a.source} ${a.target}`))).toBe(true);
  });

  it('CSV is strict RFC 4180 and holds exactly the JSON rows', () => {
    const out = join(dir, 'plan.csv');
    const r = report(cat, plan.id, '--format', 'csv', '--out', out);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const text = readFileSync(out, 'utf8');
    expect(text.endsWith('\r\n')).toBe(true);
    // The name with a newline, a comma and quotes is one quoted field.
    expect(text).toContain('new\nline,comma ""q"".bin"');
    const { header, rows } = csvObjects(text);
    expect(header).toEqual(CSV_HEADER);
    expect(rows).toHaveLength(rep.actions.length);
    rows.forEach((row, i) => {
      const a = rep.actions[i]!;
      const expected = Object.fromEntries(
        CSV_HEADER.map((k) => [k, a[k] === undefined || a[k] === null ? '' : String(a[k])]),
      );
      expect(row).toEqual(expected);
      expect(pathBytes(row, 'target').equals(pathBytes(a, 'target'))).toBe(true);
      expect(pathBytes(row, 'source').equals(pathBytes(a, 'source'))).toBe(true);
    });
    // And to standard output, the same bytes.
    const std = report(cat, plan.id, '--format', 'csv', '--out', '-');
    expect(std.code).toBe(0);
    expect(std.stdout).toBe(text);
  });

  it('--out FILE replaces the file atomically, private, and says what it wrote', () => {
    const out = join(dir, 'out', 'plan.json');
    spawnSync('mkdir', ['-p', join(dir, 'out')]);
    writeFileSync(out, 'old content');
    const r = report(cat, plan.id, '--out', out); // format from the extension
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(
        `^ok Report of plan #${plan.id} \\(json, [\\d,]+ actions?, .*\\) written to ${out}\\n$`,
      ),
    );
    const doc = JSON.parse(readFileSync(out, 'utf8')) as ReportJson;
    expect({ ...doc, generated_at: null }).toEqual({ ...rep, generated_at: null });
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(dir, 'out'))).toEqual(['plan.json']);
    // A failing run leaves the old file as it was, and no temporary file.
    writeFileSync(out, 'old content');
    const bad = report(cat, 9999, '--out', out);
    expect(bad.code).toBe(2);
    expect(readFileSync(out, 'utf8')).toBe('old content');
    expect(readdirSync(join(dir, 'out'))).toEqual(['plan.json']);
    const j = report(cat, plan.id, '--out', out, '--json');
    expect(j.code).toBe(0);
    expect(j.json()).toMatchObject({
      plan_id: plan.id,
      format: 'json',
      out,
      actions: rep.actions.length,
      truncated: false,
    });
  });

  it('errors are one line with exit 2, naming the path and the errno', () => {
    const cases: [string[], RegExp][] = [
      [
        ['conductor', 'report', '9999', '--out', '-', '--format', 'json'],
        /^hashall: error: no plan with id 9999; /,
      ],
      [
        ['conductor', 'report', String(plan.id), '--out', '-', '--format', 'xml'],
        /use one of: json, csv, html/,
      ],
      [
        ['conductor', 'report', String(plan.id), '--out', '-', '--format', 'html'],
        /^hashall: error: an HTML report .* give it a file name/,
      ],
      [
        ['conductor', 'report', String(plan.id), '--format', 'json'],
        /required option '--out <file>'/,
      ],
      [['conductor', 'report', 'x', '--out', '-'], /plan id is a positive whole number/],
      [
        ['conductor', 'report', String(plan.id), '--out', join(dir, 'r.txt')],
        /^hashall: error: give --format json\|csv\|html/,
      ],
      [
        ['conductor', 'report', String(plan.id), '--out', join(dir, 'missing', 'r.json')],
        new RegExp(
          `^hashall: error: cannot write ${join(dir, 'missing', 'r.json')}: ENOENT \\(no such file or directory\\)$`,
        ),
      ],
      [
        ['conductor', 'report', String(plan.id), '--out', join(dir, 'c.db', 'r.json')],
        /^hashall: error: cannot write .*c\.db\/r\.json: ENOTDIR \(not a directory\)$/,
      ],
      [
        ['conductor', 'report', String(plan.id), '--format', 'json', '--out', cat],
        /^hashall: error: --out .*c\.db is the catalog; give another file name$/,
      ],
      [
        ['conductor', 'report', String(plan.id), '--format', 'csv', '--out', dir],
        /^hashall: error: cannot write .*: it is a directory; give a file name$/,
      ],
    ];
    for (const [args, re] of cases) {
      const r = hashall([...args, '--catalog', cat]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trimEnd().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr.trimEnd()).toMatch(re);
    }
    expect(existsSync(join(dir, 'missing'))).toBe(false);
  });

  it('the HTML page is one self-contained file with everything escaped', () => {
    const out = join(dir, 'plan.html');
    const r = report(cat, plan.id, '--out', out);
    expect(r.code).toBe(0);
    const html = readFileSync(out, 'utf8');
    // Nothing to fetch: no external URL, no element that loads anything.
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<(link|img|iframe|object|embed|base|audio|video|source)\b/i);
    expect(html).not.toMatch(/<script\b[^>]*\bsrc\s*=/i);
    expect(html).toContain("default-src 'none'");
    // The plan name is text, not markup; the rows travel as JSON that cannot end its script.
    expect(html).toContain('Plan #' + plan.id + ': Report &lt;test&gt; &amp; &quot;quotes&quot;');
    expect(html).not.toContain('<img src=x');
    expect(html).toContain('\\u003cimg src=x onerror=alert(1)\\u003e\\u0026amp;.bin');
    const rows = embeddedRows(html);
    expect(rows).toHaveLength(rep.actions.length);
    const targets = rows.map((x) => x[8] as string);
    for (const end of [
      '/dup/<img src=x onerror=alert(1)>&amp;.bin',
      '/dup/new\\nline,comma "q".bin',
      '/dup/cr\\r\\nlf.bin',
      '/dup/caf\ufffd.bin',
    ])
      expect(
        targets.some((t) => t.endsWith(end)) || rows.some((x) => (x[7] as string).endsWith(end)),
        end,
      ).toBe(true);
    expect(new Set(rows.map((x) => x[0]))).toEqual(new Set(rep.actions.map((a) => a.id)));
    expect(html).not.toContain('id="truncated"');
  });

  it('--max-rows caps the page at the top actions and says so', () => {
    const out = join(dir, 'capped.html');
    const r = report(cat, plan.id, '--out', out, '--max-rows', '10', '--json');
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({
      actions: 10,
      truncated: true,
      action_count: rep.actions.length,
    });
    const html = readFileSync(out, 'utf8');
    expect(html).toMatch(
      new RegExp(
        `id="truncated" data-v="10">This page shows the first 10 of ${rep.actions.length.toLocaleString('en-US')} actions`,
      ),
    );
    const shown = embeddedRows(html).map((x) => x[0]);
    const top = [...rep.actions]
      .filter((a) => a.type === 'HARDLINK')
      .sort((a, b) => b.bytes - a.bytes || (b.size as number) - (a.size as number) || a.id - b.id)
      .slice(0, 10)
      .map((a) => a.id);
    expect(shown).toEqual(top);
  });

  it('follows the plan through execution: statuses and freed bytes', () => {
    const e = ok<{ bytes_saved: number; failed: number; executed: number }>(
      ['conductor', 'execute', String(plan.id), '--force'],
      cat,
    );
    expect(e.failed).toBe(0);
    const after = reportJson(cat, plan.id);
    expect(after.status).toBe('executed');
    expect(after.bytes_freed).toBe(e.bytes_saved);
    expect(after.bytes_freed).toBe(plan.bytes_saveable);
    expect(after.by_status.executed).toBe(e.executed);
    expect(after.actions.filter((a) => a.status === 'executed')).toHaveLength(e.executed);
  });
});

describe('conductor report: savings per device', () => {
  let dir: string;
  afterAll(() => {
    unmountAll();
    removeTree(dir);
  });

  it('splits actions and savings by filesystem, each device summing its own rows', (ctx) => {
    requireMounts(ctx);
    dir = tempDir();
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    mountTmpfs(a, 16);
    mountTmpfs(b, 16);
    writeReportTree(a);
    mktree(join(b, 'gen'), ['--files', '200', '--total-mb', '4', '--seed', '9']);
    const cat = join(dir, 'c.db');
    ok(['scan', a, b], cat);
    const plan = ok<PlanJson>(['conductor', 'plan', 'two devices', '--cross-device'], cat);
    const rep = reportJson(cat, plan.id);
    expect(rep.devices).toHaveLength(2);
    for (const d of rep.devices) {
      const mine = rep.actions.filter((x) => x.device === d.alias);
      expect(d.actions).toBe(mine.length);
      expect(d.hardlinks).toBe(mine.filter((x) => x.type === 'HARDLINK').length);
      expect(d.bytes_saveable).toBe(mine.reduce((s, x) => s + x.bytes, 0));
      expect(d.bytes_saveable).toBeGreaterThan(0);
    }
    const out = join(dir, 'p.html');
    expect(report(cat, plan.id, '--out', out).code).toBe(0);
    const svg = /<svg id="chart-devices"[\s\S]*?<\/svg>/.exec(readFileSync(out, 'utf8'))![0];
    expect(svg.match(/<rect class="bar"/g)).toHaveLength(2);
  });
});
