// scan-model: the essential work of hashall's first scan + analyze, in C, with no Node.js, no
// JavaScript and no message passing, to measure what a native redesign could reach on a machine
// (bench/NOTES.md, "A native model of the first scan"). It is a model, not a scanner: no
// identity checks, no exclusions, no mounts, no crash safety, no incremental anything.
//
// What it does, phase by phase (each timed, wall and CPU):
//   walk    one thread, depth first: open each directory, readdir, fstatat(AT_SYMLINK_NOFOLLOW)
//           each entry; regular files are kept (path, inode, size, times, mode, ids, blocks);
//   hash    two threads, as hashall reads: every inode whose size another inode shares (size >
//           0) is read once; up to 64 KiB whole (its SHA-256 is its prefix and full digest),
//           larger ones their first and last 4 KiB; larger inodes that share size, prefix and
//           suffix with another are then read whole (SHA-256, 1 MiB reads); with --hash-all
//           (hashall's `scan --hash all`), every non-empty inode is read whole instead;
//   insert  one thread: every directory and file row, with their digests, into the catalog
//           file hashall made (its schema, triggers and foreign keys), in one transaction, its
//           five deferred indexes dropped first and built after, as hashall's first scan does;
//   analyze the duplicate groups per device and content with two or more inodes, and the bytes
//           a hardlink dedupe frees, in one GROUP BY over the hashed rows.
//
// Two other arrangements of the same work, to see whether overlapping it would pay:
//   --overlap   the reads on their two threads while this thread inserts the directory rows and
//               the rows of the files that are not read; the read files' rows once read;
//   --pipeline  as a native scanner would: the walk inserts every row as it lists (no digests)
//               and hands an inode to the reading threads as soon as another inode of its size
//               turns up; then the whole reads, the digests written by row id, the indexes.
//
// Build and run (needs libsqlite3-dev and libssl-dev):
//   cc -O2 -pthread -o /tmp/scan-model bench/scan-model/scan-model.c -lsqlite3 -lcrypto
//   mkdir -p /tmp/empty && hashall scan /tmp/empty --catalog /tmp/model.db
//   /tmp/scan-model bench/.cache/trees/files100000-mb2048-seed1 /tmp/model.db  [--overlap|--pipeline]
// The catalog must be new: a scan of an empty directory on the tree's filesystem makes one with
// the device's row and scan 1.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MODEL "scan-model"
#include "model-common.h"

enum { PREFIX = 4096, SUFFIX = 4096, WHOLE_MAX = 65536, CHUNK = 1 << 20 };

typedef struct {
  int dir;      // index into dirs
  char *name;
  ino_t ino;
  off_t size;
  int64_t mtime, ctime;
  mode_t mode;
  uid_t uid;
  gid_t gid;
  int64_t blocks;
  nlink_t nlink;
  int inode;    // index of the first file with this inode (the one that is read)
  sqlite3_int64 rowid; // --pipeline: its row, inserted during the walk
  unsigned char prefix[32], suffix[32], sha[32];
  char has_prefix, has_suffix, has_sha;
} File;

typedef struct {
  char *path;   // absolute
  int parent;   // -1 for the root
  sqlite3_int64 id;
} Dir;

static File *files;
static size_t nfiles, capfiles;
static Dir *dirs;
static size_t ndirs, capdirs;


static int addDir(const char *path, int parent) {
  if (ndirs == capdirs) dirs = realloc(dirs, (capdirs = capdirs ? capdirs * 2 : 1024) * sizeof(Dir));
  dirs[ndirs] = (Dir){strdup(path), parent, 0};
  return (int)ndirs++;
}

// A file's fields from its directory's listing.
static void fillFile(File *f, int dir, const char *name, const struct stat *st) {
  memset(f, 0, sizeof *f);
  f->dir = dir;
  f->name = strdup(name);
  f->ino = st->st_ino;
  f->size = st->st_size;
  f->mtime = st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
  f->ctime = st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec;
  f->mode = st->st_mode;
  f->uid = st->st_uid;
  f->gid = st->st_gid;
  f->blocks = st->st_blocks;
  f->nlink = st->st_nlink;
}

static int fixedFiles;  // --pipeline: files[] is never reallocated (readers hold pointers)

// The walk: breadth first (dirs[] is the queue), from the root (added unless dirs[] has it),
// calling dirAdded / fileAdded (when given) for each directory and regular file it adds.
static void walkTree(const char *root, void (*dirAdded)(int dir), void (*fileAdded)(size_t file)) {
  if (ndirs == 0) addDir(root, -1);
  for (size_t d = 0; d < ndirs; d++) {
    int fd = open(dirs[d].path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) die(dirs[d].path, strerror(errno));
    DIR *dh = fdopendir(fd);
    struct dirent *e;
    while ((e = readdir(dh))) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      struct stat st;
      if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", dirs[d].path, e->d_name);
        int nd = addDir(p, (int)d);
        if (dirAdded) dirAdded(nd);
      } else if (S_ISREG(st.st_mode)) {
        if (nfiles == capfiles) {
          if (fixedFiles) die(root, "too many files for --pipeline");
          files = realloc(files, (capfiles = capfiles ? capfiles * 2 : 65536) * sizeof(File));
        }
        fillFile(&files[nfiles], (int)d, e->d_name, &st);
        nfiles++;
        if (fileAdded) fileAdded(nfiles - 1);
      }
    }
    closedir(dh);
  }
}

static void walk(const char *root) { walkTree(root, NULL, NULL); }

// Reading jobs: indexes of files (the first path of each inode), handed out to two threads.
static int *jobs;
static size_t njobs;
static atomic_size_t next_job;
static int whole_pass;  // 0: prefix (or whole up to WHOLE_MAX) pass; 1: whole reads
static int hash_all;    // --hash all
static atomic_llong bytes_read;

static void pathOf(const File *f, char *out) {
  snprintf(out, PATH_MAX, "%s/%s", dirs[f->dir].path, f->name);
}

static int openFile(const File *f) {
  char p[PATH_MAX];
  pathOf(f, p);
  return open(p, O_RDONLY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC);
}

// One read as hashall's first pass makes it: up to WHOLE_MAX whole (its SHA-256 is its prefix and
// full digest), larger files their first and last 4 KiB.
static void readFirstPass(File *f, unsigned char *buf) {
  int fd = openFile(f);
  if (fd < 0) return;
  long long got = 0;
  if (f->size <= WHOLE_MAX) {
    ssize_t n = read(fd, buf, (size_t)f->size);
    if (n == f->size) {
      SHA256(buf, (size_t)n, f->sha);
      SHA256(buf, n < PREFIX ? (size_t)n : PREFIX, f->prefix);
      f->has_sha = f->has_prefix = 1;
      got = n;
    }
  } else {
    ssize_t n = pread(fd, buf, PREFIX, 0), m = pread(fd, buf + PREFIX, SUFFIX, f->size - SUFFIX);
    if (n == PREFIX && m == SUFFIX) {
      SHA256(buf, PREFIX, f->prefix);
      SHA256(buf + PREFIX, SUFFIX, f->suffix);
      f->has_prefix = f->has_suffix = 1;
      got = n + m;
    }
  }
  atomic_fetch_add(&bytes_read, got);
  close(fd);
}

// One inode read whole (SHA-256, 1 MiB reads); with --hash all, its prefix digest too.
static void readWhole(File *f, unsigned char *buf) {
  int fd = openFile(f);
  if (fd < 0) return;
  long long got = 0;
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  EVP_DigestInit_ex(c, EVP_sha256(), NULL);
  ssize_t n;
  while ((n = read(fd, buf, CHUNK)) > 0) {
    if (got == 0 && !f->has_prefix) {  // --hash all: the prefix digest from the first chunk
      SHA256(buf, n < PREFIX ? (size_t)n : PREFIX, f->prefix);
      f->has_prefix = 1;
    }
    EVP_DigestUpdate(c, buf, (size_t)n);
    got += n;
  }
  EVP_DigestFinal_ex(c, f->sha, NULL);
  EVP_MD_CTX_free(c);
  f->has_sha = got == f->size;
  atomic_fetch_add(&bytes_read, got);
  close(fd);
}

static void *reader(void *arg) {
  (void)arg;
  unsigned char *buf = malloc(CHUNK);
  for (;;) {
    size_t j = atomic_fetch_add(&next_job, 1);
    if (j >= njobs) break;
    if (whole_pass) readWhole(&files[jobs[j]], buf);
    else readFirstPass(&files[jobs[j]], buf);
  }
  free(buf);
  return NULL;
}

static void runReaders(void) {
  pthread_t t[2];
  atomic_store(&next_job, 0);
  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, reader, NULL);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
}

static int bySizeIno(const void *a, const void *b) {
  const File *x = &files[*(const int *)a], *y = &files[*(const int *)b];
  if (x->size != y->size) return x->size < y->size ? -1 : 1;
  return x->ino < y->ino ? -1 : x->ino > y->ino;
}
static int bySizeDigests(const void *a, const void *b) {
  const File *x = &files[*(const int *)a], *y = &files[*(const int *)b];
  if (x->size != y->size) return x->size < y->size ? -1 : 1;
  int c = memcmp(x->prefix, y->prefix, 32);
  return c ? c : memcmp(x->suffix, y->suffix, 32);
}

// Pass 2 over the first `read` jobs: the larger inodes sharing size, prefix and suffix with
// another, read whole.
static void wholeReads(size_t read) {
  size_t nlarge = 0;
  for (size_t j = 0; j < read; j++)
    if (files[jobs[j]].size > WHOLE_MAX && files[jobs[j]].has_suffix) jobs[nlarge++] = jobs[j];
  qsort(jobs, nlarge, sizeof(int), bySizeDigests);
  size_t nwhole = 0;
  for (size_t i = 0; i < nlarge;) {
    size_t k = i;
    while (k < nlarge && !bySizeDigests(&jobs[i], &jobs[k])) k++;
    if (k - i > 1)
      for (size_t m = i; m < k; m++) jobs[nwhole++] = jobs[m];
    i = k;
  }
  njobs = nwhole;
  whole_pass = 1;
  runReaders();
}

static void hashCandidates(void) {
  // One index per inode (the first path found), sorted by size.
  int *order = malloc(nfiles * sizeof(int));
  for (size_t i = 0; i < nfiles; i++) order[i] = (int)i;
  qsort(order, nfiles, sizeof(int), bySizeIno);
  int *inodes = malloc(nfiles * sizeof(int));
  size_t ninodes = 0;
  for (size_t i = 0; i < nfiles; i++) {
    File *f = &files[order[i]];
    if (ninodes && files[inodes[ninodes - 1]].ino == f->ino && files[inodes[ninodes - 1]].size == f->size)
      f->inode = inodes[ninodes - 1];
    else
      f->inode = inodes[ninodes++] = order[i];
  }
  jobs = malloc(ninodes * sizeof(int));
  njobs = 0;
  if (hash_all) {  // `scan --hash all`: every non-empty inode read whole, once
    for (size_t i = 0; i < ninodes; i++)
      if (files[inodes[i]].size > 0) jobs[njobs++] = inodes[i];
    whole_pass = 1;
    runReaders();
    goto share;
  }
  // Pass 1: inodes whose size another inode shares.
  for (size_t i = 0; i < ninodes;) {
    size_t k = i;
    while (k < ninodes && files[inodes[k]].size == files[inodes[i]].size) k++;
    if (k - i > 1 && files[inodes[i]].size > 0)
      for (size_t m = i; m < k; m++) jobs[njobs++] = inodes[m];
    i = k;
  }
  whole_pass = 0;
  runReaders();
  wholeReads(njobs);
share:
  // Every path takes its inode's digests.
  for (size_t i = 0; i < nfiles; i++) {
    File *f = &files[i], *r = &files[f->inode];
    if (f != r) {
      memcpy(f->prefix, r->prefix, 32), f->has_prefix = r->has_prefix;
      memcpy(f->suffix, r->suffix, 32), f->has_suffix = r->has_suffix;
      memcpy(f->sha, r->sha, 32), f->has_sha = r->has_sha;
    }
  }
  free(order);
  free(inodes);
}


// The id of the directory row for an absolute path, made with its ancestors when missing.
static sqlite3_int64 dirRow(sqlite3_stmt *sel, sqlite3_stmt *ins, const char *path, sqlite3_int64 parent) {
  const char *p = path[0] ? path : "/";
  sqlite3_bind_blob(sel, 1, p, (int)strlen(p), SQLITE_STATIC);
  sqlite3_int64 id = 0;
  if (sqlite3_step(sel) == SQLITE_ROW) id = sqlite3_column_int64(sel, 0);
  sqlite3_reset(sel);
  if (id) return id;
  if (parent) sqlite3_bind_int64(ins, 1, parent); else sqlite3_bind_null(ins, 1);
  sqlite3_bind_blob(ins, 2, p, (int)strlen(p), SQLITE_STATIC);
  step(ins);
  return sqlite3_last_insert_rowid(db);
}

// Which files need reading (their inode's size is shared with another inode, and not 0): what
// --overlap inserts only once they are read; the others' rows go in while they are.
static char *isCandidate;

static void markCandidates(void) {
  int *order = malloc(nfiles * sizeof(int));
  for (size_t i = 0; i < nfiles; i++) order[i] = (int)i;
  qsort(order, nfiles, sizeof(int), bySizeIno);
  isCandidate = calloc(nfiles, 1);
  for (size_t i = 0; i < nfiles;) {
    size_t k = i, inodes = 0;
    for (; k < nfiles && files[order[k]].size == files[order[i]].size; k++)
      if (k == i || files[order[k]].ino != files[order[k - 1]].ino) inodes++;
    if (inodes > 1 && files[order[i]].size > 0)
      for (size_t m = i; m < k; m++) isCandidate[order[m]] = 1;
    i = k;
  }
  free(order);
}

static char *createIdx[5];
static int nIdx;
static sqlite3_stmt *insFile;

// Open the catalog, drop the deferred indexes, insert every directory row: in one transaction
// that finishRows commits.
static void beginRowsFor(const char *catalog, size_t dirsNow);
static void beginRows(const char *catalog) { beginRowsFor(catalog, ndirs); }

// As beginRows, the directory rows of dirs[0, dirsNow) only (the others are the caller's).
static void beginRowsFor(const char *catalog, size_t dirsNow) {
  if (sqlite3_open(catalog, &db) != SQLITE_OK) die(catalog, sqlite3_errmsg(db));
  exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
       "PRAGMA cache_size = -16384;");
  // The five indexes hashall's first scan defers, kept to be built again after the rows.
  sqlite3_stmt *q = prep("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'files'"
                         " AND name IN ('files_inode', 'files_active_size', 'files_unhashed',"
                         " 'files_prefix_only', 'files_hashed')");
  char drop[512] = "";
  nIdx = 0;
  while (sqlite3_step(q) == SQLITE_ROW && nIdx < 5) {
    createIdx[nIdx++] = strdup((const char *)sqlite3_column_text(q, 1));
    strcat(drop, "DROP INDEX "), strcat(drop, (const char *)sqlite3_column_text(q, 0)), strcat(drop, ";");
  }
  sqlite3_finalize(q);
  exec("BEGIN");
  exec(drop);
  sqlite3_stmt *sel = prep("SELECT id FROM dirs WHERE device_id = 1 AND path = ?");
  sqlite3_stmt *insd = prep("INSERT INTO dirs (device_id, parent_id, path, status, last_listed_scan)"
                            " VALUES (1, ?, ?, 'active', 1)");
  // The root's ancestors, then every directory (parents come first in dirs[]).
  char anc[PATH_MAX];
  sqlite3_int64 parent = dirRow(sel, insd, "", 0);
  for (const char *s = dirs[0].path + 1;; s++) {
    if (*s == '/' || *s == 0) {
      snprintf(anc, sizeof anc, "%.*s", (int)(s - dirs[0].path), dirs[0].path);
      if (*s == 0) break;
      parent = dirRow(sel, insd, anc, parent);
    }
  }
  dirs[0].id = dirRow(sel, insd, dirs[0].path, parent);
  for (size_t d = 1; d < dirsNow; d++) dirs[d].id = dirRow(sel, insd, dirs[d].path, dirs[dirs[d].parent].id);
  sqlite3_finalize(sel);
  sqlite3_finalize(insd);
  insFile = prep(
      "INSERT INTO files (device_id, dir_id, name, inode, nlink, size, mtime_ns, ctime_ns, mode, uid,"
      " gid, blocks, prefix_hash, suffix_hash, sha256, status, first_seen_scan, changed_scan)"
      " VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', 1, 1)");
}

// One file's row; its digests only when `digests` (else they are not looked at: another thread
// may be writing them).
static void insertFile(const File *f, int digests) {
  sqlite3_bind_int64(insFile, 1, dirs[f->dir].id);
  sqlite3_bind_blob(insFile, 2, f->name, (int)strlen(f->name), SQLITE_STATIC);
  sqlite3_bind_int64(insFile, 3, (sqlite3_int64)f->ino);
  sqlite3_bind_int64(insFile, 4, (sqlite3_int64)f->nlink);
  sqlite3_bind_int64(insFile, 5, f->size);
  sqlite3_bind_int64(insFile, 6, f->mtime);
  sqlite3_bind_int64(insFile, 7, f->ctime);
  sqlite3_bind_int64(insFile, 8, f->mode);
  sqlite3_bind_int64(insFile, 9, f->uid);
  sqlite3_bind_int64(insFile, 10, f->gid);
  sqlite3_bind_int64(insFile, 11, f->blocks);
  if (digests && f->has_prefix) sqlite3_bind_blob(insFile, 12, f->prefix, 32, SQLITE_STATIC); else sqlite3_bind_null(insFile, 12);
  if (digests && f->has_suffix) sqlite3_bind_blob(insFile, 13, f->suffix, 32, SQLITE_STATIC); else sqlite3_bind_null(insFile, 13);
  if (digests && f->has_sha) sqlite3_bind_blob(insFile, 14, f->sha, 32, SQLITE_STATIC); else sqlite3_bind_null(insFile, 14);
  step(insFile);
}

// The rows of the files with isCandidate[i] == want (every file when want < 0); a file that is
// not a candidate has no digests (it was not read), so none of its digest fields is looked at.
static void fileRows(int want) {
  for (size_t i = 0; i < nfiles; i++) {
    if (want >= 0 && isCandidate[i] != want) continue;
    insertFile(&files[i], want != 0);
  }
}

// The deferred indexes built again, and the commit.
static void finishRows(void) {
  for (int i = 0; i < nIdx; i++) exec(createIdx[i]);
  exec("COMMIT");
  sqlite3_finalize(insFile);
}

static void insertRows(const char *catalog) {
  beginRows(catalog);
  fileRows(-1);
  finishRows();
}

static void *hashThread(void *arg) {
  (void)arg;
  hashCandidates();
  return NULL;
}

// --overlap: the reads (two threads) while this thread inserts the directories and the rows of
// the files that are not read; the read files' rows once their digests are known.
static void overlapped(const char *catalog) {
  markCandidates();
  pthread_t h;
  pthread_create(&h, NULL, hashThread, NULL);
  beginRows(catalog);
  fileRows(0);
  double w = now();
  pthread_join(h, NULL);
  printf("  (rows of unread files done; waited %.3f s for the reads)\n", now() - w);
  fileRows(1);
  finishRows();
}

static void analyze(void) {
  sqlite3_stmt *s = prep(
      "SELECT count(*), coalesce(sum(size * (n - 1)), 0) FROM ("
      " SELECT size, count(DISTINCT inode) AS n FROM files"
      " WHERE status = 'active' AND sha256 IS NOT NULL AND size > 0"
      " GROUP BY device_id, sha256, size HAVING count(DISTINCT inode) > 1)");
  if (sqlite3_step(s) != SQLITE_ROW) die("analyze", sqlite3_errmsg(db));
  printf("analyze: %lld groups, %lld bytes a hardlink dedupe frees\n", sqlite3_column_int64(s, 0),
         sqlite3_column_int64(s, 1));
  sqlite3_finalize(s);
  sqlite3_close(db);
}

// --pipeline: what a native scanner would do to overlap everything. The walk inserts each
// directory's and file's row as it lists them (no digests yet), and hands an inode to the two
// reading threads as soon as another inode of its size turns up (hashall's walk-hasher does the
// same); once the walk is done and those reads drained, the larger inodes that share size,
// prefix and suffix are read whole; then every read inode's paths get their digests (UPDATE by
// row id), the deferred indexes are built and the transaction commits.
enum { MAX_FILES = 1 << 21, MAX_DIRS = 1 << 18, TABLE = 1 << 22 };
static pthread_mutex_t qmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t qcv = PTHREAD_COND_INITIALIZER;
static size_t qlen, qnext;
static int qclosed;

static void enqueue(int file) {
  pthread_mutex_lock(&qmu);
  jobs[qlen++] = file;
  pthread_cond_signal(&qcv);
  pthread_mutex_unlock(&qmu);
}

static void *queueReader(void *arg) {
  (void)arg;
  unsigned char *buf = malloc(CHUNK);
  for (;;) {
    pthread_mutex_lock(&qmu);
    while (qnext == qlen && !qclosed) pthread_cond_wait(&qcv, &qmu);
    if (qnext == qlen) {
      pthread_mutex_unlock(&qmu);
      break;
    }
    int j = jobs[qnext++];
    pthread_mutex_unlock(&qmu);
    readFirstPass(&files[j], buf);
  }
  free(buf);
  return NULL;
}

// Open-addressing tables: inode -> its first file; size -> its first inode's file, or -2 once
// a second inode of that size has been queued.
static int64_t *inoKey, *sizeKey;
static int *inoVal, *sizeVal;
static size_t slot(int64_t *keys, int64_t k) {
  size_t h = (size_t)(k * 0x9E3779B97F4A7C15ULL) & (TABLE - 1);
  while (keys[h] != -1 && keys[h] != k) h = (h + 1) & (TABLE - 1);
  return h;
}

static sqlite3_stmt *insDir;

// --pipeline's walk: each directory's row as it is found (its parent's id is known: the parent
// was listed first).
static void pipelineDir(int nd) {
  sqlite3_bind_int64(insDir, 1, dirs[dirs[nd].parent].id);
  sqlite3_bind_blob(insDir, 2, dirs[nd].path, (int)strlen(dirs[nd].path), SQLITE_STATIC);
  step(insDir);
  dirs[nd].id = sqlite3_last_insert_rowid(db);
}

// --pipeline's walk: the file's row (no digests yet), and its inode queued for reading once
// another inode of its size is found.
static void pipelineFile(size_t i) {
  File *f = &files[i];
  size_t hi = slot(inoKey, (int64_t)f->ino);
  if (inoKey[hi] != -1) {
    f->inode = inoVal[hi];  // another path of a known inode: read once
  } else {
    inoKey[hi] = (int64_t)f->ino, inoVal[hi] = (int)i, f->inode = (int)i;
    if (f->size > 0) {
      size_t hs = slot(sizeKey, f->size);
      if (sizeKey[hs] == -1) sizeKey[hs] = f->size, sizeVal[hs] = (int)i;
      else {
        if (sizeVal[hs] >= 0) enqueue(sizeVal[hs]), sizeVal[hs] = -2;
        enqueue((int)i);
      }
    }
  }
  insertFile(f, 0);
  f->rowid = sqlite3_last_insert_rowid(db);
}

static void pipelined(const char *root, const char *catalog) {
  files = malloc(MAX_FILES * sizeof(File));
  capfiles = MAX_FILES;
  fixedFiles = 1;
  dirs = malloc(MAX_DIRS * sizeof(Dir));
  capdirs = MAX_DIRS;
  jobs = malloc(MAX_FILES * sizeof(int));
  inoKey = malloc(TABLE * sizeof(int64_t)), sizeKey = malloc(TABLE * sizeof(int64_t));
  inoVal = malloc(TABLE * sizeof(int)), sizeVal = malloc(TABLE * sizeof(int));
  memset(inoKey, 0xff, TABLE * sizeof(int64_t)), memset(sizeKey, 0xff, TABLE * sizeof(int64_t));
  pthread_t t[2];
  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, queueReader, NULL);
  double t0 = now();

  // The catalog: indexes dropped, the root's ancestors, all in one transaction.
  addDir(root, -1);
  beginRowsFor(catalog, 1);
  insDir = prep("INSERT INTO dirs (device_id, parent_id, path, status, last_listed_scan)"
                " VALUES (1, ?, ?, 'active', 1)");
  walkTree(root, pipelineDir, pipelineFile);
  sqlite3_finalize(insDir);
  double tWalk = now() - t0;
  pthread_mutex_lock(&qmu);
  qclosed = 1;
  pthread_cond_broadcast(&qcv);
  pthread_mutex_unlock(&qmu);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  double tReads = now() - t0;
  wholeReads(qlen);
  double tWhole = now() - t0;
  // Every path of a read inode: its digests.
  sqlite3_stmt *upd = prep("UPDATE files SET prefix_hash = ?, suffix_hash = ?, sha256 = ? WHERE id = ?");
  size_t updated = 0;
  for (size_t i = 0; i < nfiles; i++) {
    File *f = &files[i], *r = &files[f->inode];
    if (!r->has_prefix) continue;
    sqlite3_bind_blob(upd, 1, r->prefix, 32, SQLITE_STATIC);
    if (r->has_suffix) sqlite3_bind_blob(upd, 2, r->suffix, 32, SQLITE_STATIC); else sqlite3_bind_null(upd, 2);
    if (r->has_sha) sqlite3_bind_blob(upd, 3, r->sha, 32, SQLITE_STATIC); else sqlite3_bind_null(upd, 3);
    sqlite3_bind_int64(upd, 4, f->rowid);
    step(upd);
    updated++;
  }
  sqlite3_finalize(upd);
  double tUpd = now() - t0;
  finishRows();
  printf("  walk + rows %.3f s; first-pass reads drained at %.3f s; whole reads at %.3f s;"
         " %zu digest updates at %.3f s; indexes + commit at %.3f s\n",
         tWalk, tReads, tWhole, updated, tUpd, now() - t0);
}

int main(int argc, char **argv) {
  hash_all = argc == 4 && !strcmp(argv[3], "--hash-all");
  int overlap = argc == 4 && !strcmp(argv[3], "--overlap");
  int pipeline = argc == 4 && !strcmp(argv[3], "--pipeline");
  if (argc != 3 && !hash_all && !overlap && !pipeline)
    die("usage", "scan-model ROOT CATALOG [--hash-all | --overlap | --pipeline]");
  char root[PATH_MAX];
  if (!realpath(argv[1], root)) die(argv[1], strerror(errno));
  double t0 = now(), c0 = cpu(), t, c;
#define PHASE(name, call)                                                                  \
  t = now(), c = cpu();                                                                    \
  call;                                                                                    \
  printf("%-8s %6.3f s wall %6.3f s CPU\n", name, now() - t, cpu() - c);
  if (pipeline) {
    PHASE("pipeline", pipelined(root, argv[2]));
    PHASE("analyze", analyze());
    printf("total    %6.3f s wall %6.3f s CPU; %zu files, %zu directories, %lld bytes read\n", now() - t0,
           cpu() - c0, nfiles, ndirs, (long long)atomic_load(&bytes_read));
    return 0;
  }
  PHASE("walk", walk(root));
  if (overlap) {
    PHASE("hash+insert", overlapped(argv[2]));
  } else {
    PHASE("hash", hashCandidates());
    PHASE("insert", insertRows(argv[2]));
  }
  PHASE("analyze", analyze());
  printf("total    %6.3f s wall %6.3f s CPU; %zu files, %zu directories, %lld bytes read\n", now() - t0,
         cpu() - c0, nfiles, ndirs, (long long)atomic_load(&bytes_read));
  return 0;
}
