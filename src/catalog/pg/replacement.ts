/**
 * The catalog rows after replacements on PostgreSQL, a batch per statement (the semantics of
 * ../replacement.ts and ../clones.ts, which SQLite applies row by row): the replaced targets'
 * rows, the clones' rows, the inodes our own operations changed (conductor_inode_state and
 * their rows' link counts and ctimes). Callers run these inside one transaction.
 */
import type { BigIntStats } from 'node:fs';
import type pg from 'pg';
import { baseName, parentOf } from '../../paths.js';
import type { InodeChange } from '../execution.js';
import type { Replacement } from '../replacement.js';

/**
 * Targets that became links of their source inodes: each row takes the source's identity and
 * hashes (same content), the source row read once per inode before any row changes. The row is
 * found by the plan's `targetFileId` (its name checked) or else by its path.
 */
export async function pgRecordReplacements(
  client: pg.Client,
  list: readonly Omit<Replacement, 'sources'>[],
): Promise<void> {
  if (list.length === 0) return;
  await client.query(
    `WITH r AS (
       SELECT * FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[],
                            $7::bytea[], $8::bytea[])
         AS r(dev, src_inode, nlink, mtime_ns, ctime_ns, file_id, name, parent)
     ), src AS (
       SELECT DISTINCT ON (k.dev, k.src_inode) k.dev, k.src_inode,
              f.prefix_hash, f.sha256, f.mode, f.uid, f.gid
         FROM (SELECT DISTINCT dev, src_inode FROM r) k
         JOIN files f ON f.device_id = k.dev AND f.inode = k.src_inode
                     AND f.status = 'active' AND f.sha256 IS NOT NULL
        ORDER BY k.dev, k.src_inode, f.id
     ), t AS (
       SELECT r.*, coalesce(
                (SELECT f.id FROM files f WHERE f.id = r.file_id AND f.device_id = r.dev AND f.name = r.name),
                (SELECT f.id FROM dirs d JOIN files f ON f.dir_id = d.id AND f.name = r.name
                  WHERE d.device_id = r.dev AND d.path = r.parent)) AS target
         FROM r
     )
     UPDATE files f SET inode = t.src_inode, nlink = t.nlink, mtime_ns = t.mtime_ns, ctime_ns = t.ctime_ns,
            prefix_hash = coalesce(s.prefix_hash, f.prefix_hash), sha256 = coalesce(s.sha256, f.sha256),
            mode = coalesce(s.mode, f.mode), uid = coalesce(s.uid, f.uid), gid = coalesce(s.gid, f.gid)
       FROM t LEFT JOIN src s ON s.dev = t.dev AND s.src_inode = t.src_inode
      WHERE f.id = t.target`,
    [
      list.map((r) => r.deviceId),
      list.map((r) => r.sourceInode),
      list.map((r) => r.st.nlink),
      list.map((r) => r.st.mtimeNs),
      list.map((r) => r.st.ctimeNs),
      list.map((r) => r.targetFileId ?? null),
      list.map((r) => Buffer.from(baseName(r.targetPath))),
      list.map((r) => Buffer.from(parentOf(r.targetPath))),
    ],
  );
}

/** Target paths that are now clones: each row takes its clone's identity and metadata. */
export async function pgRecordClones(
  client: pg.Client,
  list: readonly {
    readonly deviceId: number;
    readonly targetPath: Buffer;
    readonly st: BigIntStats;
  }[],
): Promise<void> {
  if (list.length === 0) return;
  const st = (f: (s: BigIntStats) => bigint) => list.map((c) => f(c.st));
  await client.query(
    `UPDATE files f SET inode = c.ino, nlink = c.nlink, size = c.size, mtime_ns = c.mtime_ns,
            ctime_ns = c.ctime_ns, mode = c.mode, uid = c.uid, gid = c.gid, blocks = c.blocks
       FROM unnest($1::int8[], $2::bytea[], $3::bytea[], $4::int8[], $5::int8[], $6::int8[], $7::int8[],
                   $8::int8[], $9::int8[], $10::int8[], $11::int8[], $12::int8[])
            AS c(dev, parent, name, ino, nlink, size, mtime_ns, ctime_ns, mode, uid, gid, blocks)
       JOIN dirs d ON d.device_id = c.dev AND d.path = c.parent
      WHERE f.dir_id = d.id AND f.name = c.name`,
    [
      list.map((c) => c.deviceId),
      list.map((c) => Buffer.from(parentOf(c.targetPath))),
      list.map((c) => Buffer.from(baseName(c.targetPath))),
      st((s) => BigInt.asIntN(64, s.ino)),
      st((s) => s.nlink),
      st((s) => s.size),
      st((s) => s.mtimeNs),
      st((s) => s.ctimeNs),
      st((s) => s.mode),
      st((s) => s.uid),
      st((s) => s.gid),
      st((s) => s.blocks),
    ],
  );
}

/**
 * Inodes our links, renames and unlinks changed: a resumed run must recognise our ctimes
 * (conductor_inode_state), and their active rows take the link counts and ctimes. The last
 * change of an inode in the batch wins, as SQLite's one-by-one writes.
 */
export async function pgRecordInodeChanges(
  client: pg.Client,
  planId: number,
  inodes: readonly InodeChange[],
): Promise<void> {
  if (inodes.length === 0) return;
  const last = new Map<string, InodeChange>();
  for (const d of inodes) last.set(`${d.deviceId}:${d.inode}`, d);
  const list = [...last.values()];
  const params = [
    list.map((d) => d.deviceId),
    list.map((d) => d.inode),
    list.map((d) => d.ctimeNs),
    list.map((d) => d.nlink),
  ];
  await client.query(
    `INSERT INTO conductor_inode_state (plan_id, device_id, inode, ctime_ns, nlink)
     SELECT $5, * FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::int8[])
     ON CONFLICT (plan_id, device_id, inode) DO UPDATE SET ctime_ns = excluded.ctime_ns, nlink = excluded.nlink`,
    [...params, planId],
  );
  await client.query(
    `UPDATE files f SET nlink = u.nlink, ctime_ns = u.ctime_ns
       FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::int8[]) AS u(dev, ino, ctime_ns, nlink)
      WHERE f.device_id = u.dev AND f.inode = u.ino AND f.status = 'active'`,
    params,
  );
}

/** The ctimes our operations left on these inodes during the plan's execution, by `device:inode`. */
export async function pgOwnCtimes(
  client: pg.Client,
  planId: number,
  inodes: readonly { readonly deviceId: number; readonly inode: bigint }[],
): Promise<Map<string, bigint>> {
  const found = new Map<string, bigint>();
  if (inodes.length === 0) return found;
  const r = await client.query<{ dev: string; ino: string; ctime: string }>(
    `SELECT s.device_id AS dev, s.inode AS ino, s.ctime_ns AS ctime
       FROM unnest($2::int8[], $3::int8[]) AS u(dev, ino)
       JOIN conductor_inode_state s ON s.plan_id = $1 AND s.device_id = u.dev AND s.inode = u.ino`,
    [planId, inodes.map((i) => i.deviceId), inodes.map((i) => i.inode)],
  );
  for (const row of r.rows) found.set(`${row.dev}:${row.ino}`, BigInt(row.ctime));
  return found;
}

/** The inode the catalog records at each path (active rows), in order; undefined: none. */
export async function pgCatalogInodes(
  client: pg.Client,
  paths: readonly { readonly deviceId: number; readonly path: Buffer }[],
): Promise<(bigint | undefined)[]> {
  if (paths.length === 0) return [];
  const r = await client.query<{ n: string; inode: string | null }>(
    `SELECT p.n, f.inode
       FROM unnest($1::int8[], $2::bytea[], $3::bytea[]) WITH ORDINALITY AS p(dev, parent, name, n)
       LEFT JOIN dirs d ON d.device_id = p.dev AND d.path = p.parent
       LEFT JOIN files f ON f.dir_id = d.id AND f.name = p.name AND f.status = 'active'
      ORDER BY p.n`,
    [
      paths.map((p) => p.deviceId),
      paths.map((p) => Buffer.from(parentOf(p.path))),
      paths.map((p) => Buffer.from(baseName(p.path))),
    ],
  );
  return r.rows.map((row) => (row.inode === null ? undefined : BigInt(row.inode)));
}
