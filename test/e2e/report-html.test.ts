/**
 * The HTML report in a real browser (Debian's Chromium through playwright-core), opened from
 * file:// with every other request aborted: the summary shows the plan's figures, the SVG
 * charts draw bars in proportion, headers sort, the filter box and the type select filter,
 * hostile names stay text, and a screenshot shows the chart's bars pixel by pixel.
 *
 * Skipped with the reason when Chromium is not installed, unless HASHALL_REQUIRE_CHROMIUM=1
 * (CI), where a missing browser is a failure.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { displayPath } from '../../src/paths.js';
import { hashall } from '../helpers/cli.js';
import { pathBytes } from '../helpers/csv.js';
import { mktree, removeTree, tempDir } from '../helpers/fs.js';
import { countColour, decodePng, distinctColours } from '../helpers/png.js';
import { writeReportTree } from '../helpers/report-tree.js';

const CHROMIUM = process.env.HASHALL_CHROMIUM ?? '/usr/bin/chromium';
/** The bars' fill (--bar in the page's CSS). */
const BAR_RGB: [number, number, number] = [0x2f, 0x6f, 0xeb];

type Action = Record<string, unknown> & {
  id: number;
  type: string;
  bytes: number;
  source: string;
  target: string;
};
interface ReportJson {
  id: number;
  status: string;
  opportunities: number;
  bytes_saveable: number;
  action_count: number;
  counts: Record<string, number>;
  skip_reasons: Record<string, number>;
  devices: { alias: string; bytes_saveable: number }[];
  top_groups: { bytes_saveable: number }[];
  actions: Action[];
}

let unavailable: string | undefined;
function requireChromium(ctx: { skip: (note?: string) => void }): void {
  if (!unavailable) return;
  if (process.env.HASHALL_REQUIRE_CHROMIUM === '1')
    throw new Error(`the Chromium tests are required: ${unavailable}`);
  console.warn(`skipping: ${unavailable}`);
  ctx.skip(unavailable);
}

function ok<T>(args: string[], cat: string): T {
  const r = hashall([...args, '--catalog', cat, '--json']);
  if (r.code !== 0) throw new Error(`hashall ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.json<T>();
}

/** Poll (from here: the page's CSP forbids the eval that waitForFunction needs). */
async function until(cond: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const num = (s: string | null) => Number((s ?? '').replace(/[^\d]/g, ''));

describe('the HTML report in Chromium', () => {
  let dir: string;
  let html: string;
  let rep: ReportJson;
  let browser: Browser | undefined;
  let page: Page;
  const requests: string[] = [];
  const aborted: string[] = [];
  const problems: string[] = [];

  beforeAll(async () => {
    dir = tempDir();
    const tree = join(dir, 'tree');
    const cat = join(dir, 'c.db');
    writeReportTree(join(tree, 'hand'));
    mktree(join(tree, 'gen'), ['--files', '600', '--total-mb', '8', '--seed', '5']);
    ok(['scan', tree], cat);
    const plan = ok<{ id: number }>(['conductor', 'plan', 'Browser <check>'], cat);
    const r = hashall([
      'conductor',
      'report',
      String(plan.id),
      '--format',
      'json',
      '--out',
      '-',
      '--catalog',
      cat,
    ]);
    expect(r.code).toBe(0);
    rep = r.json<ReportJson>();
    html = join(dir, 'plan.html');
    expect(
      hashall(['conductor', 'report', String(plan.id), '--out', html, '--catalog', cat]).code,
    ).toBe(0);

    if (!existsSync(CHROMIUM)) {
      unavailable = `${CHROMIUM} is not installed (apt-get install chromium)`;
      return;
    }
    let chromium: typeof import('playwright-core').chromium;
    try {
      ({ chromium } = await import('playwright-core'));
    } catch (err) {
      unavailable = `playwright-core cannot be loaded: ${(err as Error).message}`;
      return;
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    // Only the page itself may be read; anything else is aborted and remembered.
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith('file://')) return route.continue();
      aborted.push(url);
      return route.abort();
    });
    page = await context.newPage();
    page.on('request', (req) => requests.push(req.url()));
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console: ${m.text()}`);
    });
    page.on('dialog', (d) => {
      problems.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
    await page.goto(pathToFileURL(html).href);
    await page.waitForSelector('html[data-ready="1"]');
  });

  afterAll(async () => {
    await browser?.close();
    removeTree(dir);
  });

  it('opens offline: the page is the only request, nothing is aborted, no errors', (ctx) => {
    requireChromium(ctx);
    expect(requests).toEqual([pathToFileURL(html).href]);
    expect(aborted).toEqual([]);
    expect(problems).toEqual([]);
  });

  it("shows the plan's figures in its summary", async (ctx) => {
    requireChromium(ctx);
    expect(await page.textContent('#sum-id')).toBe(String(rep.id));
    expect(await page.textContent('#sum-status')).toBe(rep.status);
    expect(num(await page.textContent('#sum-actions'))).toBe(rep.action_count);
    expect(num(await page.textContent('#sum-opportunities'))).toBe(rep.opportunities);
    const saveable = await page.textContent('#sum-bytes-saveable');
    expect(saveable).toContain(`(${rep.bytes_saveable.toLocaleString('en-US')} bytes)`);
    expect(await page.getAttribute('#sum-bytes-saveable', 'data-v')).toBe(
      String(rep.bytes_saveable),
    );
    expect(await page.textContent('#sum-devices')).toContain(rep.devices[0]!.alias);
    const table = async (id: string) =>
      Object.fromEntries(
        await page
          .locator(`#${id} tbody tr[data-key]`)
          .evaluateAll((rows) =>
            rows.map((r) => [r.getAttribute('data-key'), r.querySelector('td.num')?.textContent]),
          ),
      ) as Record<string, string>;
    const byType = await table('counts-by-type');
    expect(Object.fromEntries(Object.entries(byType).map(([k, v]) => [k, num(v)]))).toEqual(
      rep.counts,
    );
    const reasons = await table('counts-by-reason');
    expect(Object.fromEntries(Object.entries(reasons).map(([k, v]) => [k, num(v)]))).toEqual(
      rep.skip_reasons,
    );
    expect(await page.title()).toBe(`hashall plan #${rep.id}: Browser <check>`);
  });

  it('draws the charts as SVG bars in proportion to the savings', async (ctx) => {
    requireChromium(ctx);
    const devBars = page.locator('#chart-devices rect.bar');
    expect(await devBars.count()).toBe(rep.devices.length);
    const bars = page.locator('#chart-groups rect.bar');
    expect(await bars.count()).toBe(rep.top_groups.length);
    expect(rep.top_groups.length).toBe(20);
    const widths: number[] = [];
    for (let i = 0; i < rep.top_groups.length; i++) {
      const box = await bars.nth(i).boundingBox();
      expect(box && box.width > 0 && box.height > 0).toBe(true);
      widths.push(box!.width);
    }
    const max = widths[0]!;
    rep.top_groups.forEach((g, i) => {
      const expected = Math.max(1, (g.bytes_saveable / rep.top_groups[0]!.bytes_saveable) * max);
      expect(Math.abs(widths[i]! - expected), `bar ${i}`).toBeLessThanOrEqual(1.5);
    });
  });

  it('sorts by a column when its header is clicked, and back when clicked again', async (ctx) => {
    requireChromium(ctx);
    const header = page.locator('#actions-table thead th', { hasText: 'Bytes saved' });
    const column = () =>
      page
        .locator('#actions-table tbody tr')
        .evaluateAll((rows) => rows.map((r) => Number(r.children[5]!.getAttribute('data-v'))));
    expect(rep.action_count).toBeLessThan(1000); // one page: every row is on screen
    await header.click();
    expect(await header.getAttribute('aria-sort')).toBe('ascending');
    const up = await column();
    expect(up).toHaveLength(rep.action_count);
    expect(up).toEqual([...up].sort((a, b) => a - b));
    expect(up[0]).toBe(0);
    await header.click();
    expect(await header.getAttribute('aria-sort')).toBe('descending');
    const down = await column();
    expect(down).toEqual([...up].sort((a, b) => b - a));
    expect(down[0]).toBe(Math.max(...rep.actions.map((a) => a.bytes)));
    // A text column: the targets in code-unit order, as displayed.
    const target = page.locator('#actions-table thead th', { hasText: 'Target' });
    await target.click();
    const shown = await page
      .locator('#actions-table tbody tr')
      .evaluateAll((rows) => rows.map((r) => r.children[8]!.textContent ?? ''));
    const expected = rep.actions
      .map((a) => displayPath(pathBytes(a, 'target')))
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    expect(shown).toEqual(expected);
  });

  it('the filter box and the type select keep only the matching rows', async (ctx) => {
    requireChromium(ctx);
    const visibleIds = () =>
      page
        .locator('#actions-table tbody tr')
        .evaluateAll((rows) => rows.map((r) => Number(r.children[0]!.getAttribute('data-v'))));
    const term = 'comma "q"';
    await page.fill('#filter', term);
    await until(
      async () => (await page.getAttribute('#shown', 'data-v')) !== String(rep.action_count),
    );
    const expected = rep.actions
      .filter((a) => `${a.source} ${a.target}`.includes(term))
      .map((a) => a.id)
      .sort((a, b) => a - b);
    expect(expected.length).toBeGreaterThan(0);
    expect((await visibleIds()).sort((a, b) => a - b)).toEqual(expected);
    expect(await page.textContent('#shown')).toBe(
      `${expected.length} of ${rep.action_count.toLocaleString('en-US')} rows match`,
    );
    await page.fill('#filter', '');
    await until(
      async () => (await page.getAttribute('#shown', 'data-v')) === String(rep.action_count),
    );
    await page.selectOption('#type-filter', 'SKIP');
    const skips = rep.actions.filter((a) => a.type === 'SKIP').map((a) => a.id);
    expect((await visibleIds()).sort((a, b) => a - b)).toEqual(skips.sort((a, b) => a - b));
    expect(skips.length).toBe(rep.counts.SKIP);
    await page.selectOption('#type-filter', '');
    expect(await visibleIds()).toHaveLength(rep.action_count);
  });

  it('shows a page of rows at a time, with a button for more, sorting and filtering the whole list', async (ctx) => {
    requireChromium(ctx);
    const paged = await page.context().newPage();
    try {
      paged.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      await paged.goto(`${pathToFileURL(html).href}#rows=50`);
      await paged.waitForSelector('html[data-ready="1"]');
      const rows = paged.locator('#actions-table tbody tr');
      expect(await rows.count()).toBe(50);
      expect(await paged.textContent('#shown')).toBe(
        `Showing 50 of ${rep.action_count.toLocaleString('en-US')} rows`,
      );
      expect(await paged.isVisible('#more')).toBe(true);
      await paged.click('#more');
      expect(await rows.count()).toBe(100);
      // Sorting orders every row, not only the ones on screen.
      const bytes = paged.locator('#actions-table thead th', { hasText: 'Bytes saved' });
      await bytes.click();
      await bytes.click();
      const first = await rows.first().locator('td').nth(5).getAttribute('data-v');
      expect(Number(first)).toBe(Math.max(...rep.actions.map((a) => a.bytes)));
      expect(await rows.count()).toBe(50);
      await paged.selectOption('#type-filter', 'SKIP');
      expect(await rows.count()).toBe(Math.min(50, rep.counts.SKIP!));
      expect(await paged.isVisible('#more')).toBe(rep.counts.SKIP! > 50);
    } finally {
      await paged.close();
    }
    expect(problems).toEqual([]);
  });

  it('hostile names are shown as text, never as markup', async (ctx) => {
    requireChromium(ctx);
    expect(await page.locator('img, iframe, object, embed').count()).toBe(0);
    const paths = await page
      .locator('#actions-table td.path')
      .evaluateAll((cells) => cells.map((c) => c.textContent));
    expect(paths.some((p) => p?.endsWith('/dup/<img src=x onerror=alert(1)>&amp;.bin'))).toBe(true);
    expect(paths.some((p) => p?.endsWith('/dup/new\\nline,comma "q".bin'))).toBe(true);
    expect(paths.some((p) => p?.endsWith('/dup/caf\ufffd.bin'))).toBe(true);
    expect(problems).toEqual([]);
  });

  it('a screenshot shows the page and the chart bars, pixel by pixel', async (ctx) => {
    requireChromium(ctx);
    const full = await page.screenshot({ path: join(dir, 'report.png'), fullPage: false });
    expect(readFileSync(join(dir, 'report.png')).equals(full)).toBe(true);
    expect(full.length).toBeGreaterThan(50_000);
    const img = decodePng(full);
    expect(img.width).toBe(1280);
    expect(img.height).toBe(900);
    expect(distinctColours(img)).toBeGreaterThan(100);
    // The top-groups chart alone: the bar colour covers (almost exactly) the bars' area.
    await page.mouse.move(0, 0); // no bar under the pointer (hover changes its colour)
    const chart = page.locator('#chart-groups');
    const shot = decodePng(await chart.screenshot());
    const areas = await page.locator('#chart-groups rect.bar').evaluateAll((rs) =>
      rs.map((r) => {
        const b = r.getBoundingClientRect();
        return Math.round(b.width) * Math.round(b.height);
      }),
    );
    const expected = areas.reduce((s, a) => s + a, 0);
    const painted = countColour(shot, BAR_RGB);
    expect(painted).toBeGreaterThan(expected * 0.85);
    expect(painted).toBeLessThan(expected * 1.05);
    // …and the rest of the chart is not that colour: the page background dominates.
    expect(painted).toBeLessThan(shot.width * shot.height * 0.5);
  });
});
