// execute-model: the essential work of hashall's `conductor execute --force` of a hardlink plan,
// in C, with no Node.js and no JavaScript, to measure what a native executor could
// reach (bench/NOTES.md, "A native model of the first scan"). A model, not an executor: it
// assumes the plan's filesystem is mounted at / (its paths are the absolute paths), and stops
// at the first surprise instead of recovering.
//
// Per HARDLINK action, as DESIGN §4 asks (hashall's own executor does more checks than these),
// on one thread but for the closes:
//   check   open both parent directories, fstatat both files (no symlink followed): regular
//           files on one device with the inodes the plan recorded; open both, compare every
//           byte (1 MiB reads), fstat both again;
//   journal per batch of 256 checked actions, every intent in one transaction, committed
//           before any of them is touched;
//   link    linkat the source to a temporary name in the target's directory, fstatat the
//           target again, renameat the temporary name over it, fstatat it: the source's inode;
//           the target's descriptor, held since the check, is closed on a second thread;
//   record  per 2,048 applied actions, one transaction: each action's status, the replaced
//           path's row (its new inode, nlink and times), the source inode's other rows (nlink),
//           and the journal rows removed.
//
// `--threads 2 [--ahead N]`: the catalog's work (intents and records) on a writer thread of
// its own, beside the checks and links: the arrangement a native executor would use. The
// checking thread checks up to N batches ahead (holding their descriptors; default 1, that is
// none ahead), hands the writer each batch's intents and waits until they are committed before
// it touches that batch. MODEL_NO_CHECKPOINT=1 turns SQLite's checkpoints off for the run (the
// WAL grows): the bound of what checkpoints on a thread of their own could give.
//
// Build and run on a fresh copy, scanned and planned by hashall (needs libsqlite3-dev):
//   cc -O2 -pthread -o /tmp/execute-model bench/scan-model/execute-model.c -lsqlite3
//   cp -a bench/.cache/trees/files100000-mb2048-seed1 /tmp/copy
//   hashall scan /tmp/copy --catalog /tmp/x.db && hashall conductor plan p --catalog /tmp/x.db
//   /tmp/execute-model /tmp/x.db 1                        (or: 1 --threads 2 --ahead 4)
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MODEL "execute-model"
#include "model-common.h"

enum { BATCH = 256, RECORD_EVERY = 2048, CHUNK = 1 << 20 };

typedef struct {
  sqlite3_int64 id, targetFileId;
  char *source, *target;  // absolute
  int64_t sourceIno, targetIno;
  char temp[PATH_MAX];
  int targetFd;           // held from the check until after the rename (see closer)
  struct stat after;      // the target once replaced
} Action;

static unsigned char *bufA, *bufB;


// The directory part and the name of a path (split in place: '/' replaced by 0 in a copy).
static int openParent(const char *path, const char **name) {
  const char *slash = strrchr(path, '/');
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
  *name = slash + 1;
  int fd = open(dir[0] ? dir : "/", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) die(dir, strerror(errno));
  return fd;
}

static void check(Action *a) {
  const char *sn, *tn;
  int sd = openParent(a->source, &sn), td = openParent(a->target, &tn);
  struct stat ss, ts;
  if (fstatat(sd, sn, &ss, AT_SYMLINK_NOFOLLOW) || fstatat(td, tn, &ts, AT_SYMLINK_NOFOLLOW))
    die(a->target, "gone");
  if (!S_ISREG(ss.st_mode) || !S_ISREG(ts.st_mode) || ss.st_dev != ts.st_dev ||
      (int64_t)ss.st_ino != a->sourceIno || (int64_t)ts.st_ino != a->targetIno || ss.st_size != ts.st_size)
    die(a->target, "not what the plan recorded");
  int s = openat(sd, sn, O_RDONLY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC);
  int t = openat(td, tn, O_RDONLY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC);
  if (s < 0 || t < 0) die(a->target, strerror(errno));
  for (;;) {
    ssize_t n = read(s, bufA, CHUNK), m = read(t, bufB, CHUNK);
    if (n != m || n < 0) die(a->target, "sizes differ");
    if (n == 0) break;
    if (memcmp(bufA, bufB, (size_t)n)) die(a->target, "bytes differ");
  }
  struct stat s2, t2;
  if (fstat(s, &s2) || fstat(t, &t2) || s2.st_ino != ss.st_ino || t2.st_ino != ts.st_ino)
    die(a->target, "changed");
  close(s), close(sd), close(td);
  a->targetFd = t;
  snprintf(a->temp, sizeof a->temp, "%.*s.hashall-tmp-model-%lld", (int)(tn - a->target), a->target,
           (long long)a->id);
}

static void apply(Action *a) {
  const char *sn, *tn;
  int sd = openParent(a->source, &sn), td = openParent(a->target, &tn);
  const char *temp = strrchr(a->temp, '/') + 1;
  if (linkat(sd, sn, td, temp, 0)) die(a->temp, strerror(errno));
  struct stat ts;
  if (fstatat(td, tn, &ts, AT_SYMLINK_NOFOLLOW) || (int64_t)ts.st_ino != a->targetIno)
    die(a->target, "changed before the rename");
  if (renameat(td, temp, td, tn)) die(a->target, strerror(errno));
  if (fstatat(td, tn, &a->after, AT_SYMLINK_NOFOLLOW) || (int64_t)a->after.st_ino != a->sourceIno)
    die(a->target, "not the source after the rename");
  close(sd), close(td);
}

// The replaced targets' last descriptors are closed on a second thread, a batch at a time, as
// hashall's executor does (fs/close-throttle.ts): the close that drops an unlinked inode's last
// reference frees its blocks, which would otherwise be the linking thread's work.
typedef struct {
  Action *from, *to;
} CloseJob;
static void *closer(void *arg) {
  CloseJob *j = arg;
  for (Action *a = j->from; a < j->to; a++) close(a->targetFd);
  return NULL;
}

static Action *acts;
static size_t nActs;
static sqlite3_int64 plan;
static sqlite3_stmt *intentStmt, *statusStmt, *rowStmt, *linksStmt, *doneStmt;

// Every intent of acts[b, e) in one transaction, committed before any of them is touched.
static void journal(size_t b, size_t e) {
  exec("BEGIN");
  for (size_t i = b; i < e; i++) {
    Action *a = &acts[i];
    sqlite3_bind_int64(intentStmt, 1, a->id);
    sqlite3_bind_int64(intentStmt, 2, plan);
    sqlite3_bind_blob(intentStmt, 3, a->source, (int)strlen(a->source), SQLITE_STATIC);
    sqlite3_bind_blob(intentStmt, 4, a->target, (int)strlen(a->target), SQLITE_STATIC);
    sqlite3_bind_blob(intentStmt, 5, a->temp, (int)strlen(a->temp), SQLITE_STATIC);
    sqlite3_bind_int64(intentStmt, 6, (sqlite3_int64)time(NULL));
    step(intentStmt);
  }
  exec("COMMIT");
}

// The outcomes of acts[b, e) in one transaction.
static void record(size_t b, size_t e) {
  exec("BEGIN");
  for (size_t i = b; i < e; i++) {
    Action *a = &acts[i];
    int64_t mt = a->after.st_mtim.tv_sec * 1000000000LL + a->after.st_mtim.tv_nsec;
    int64_t ct = a->after.st_ctim.tv_sec * 1000000000LL + a->after.st_ctim.tv_nsec;
    sqlite3_bind_int64(statusStmt, 1, (sqlite3_int64)time(NULL));
    sqlite3_bind_int64(statusStmt, 2, a->id);
    step(statusStmt);
    sqlite3_bind_int64(rowStmt, 1, (sqlite3_int64)a->after.st_ino);
    sqlite3_bind_int64(rowStmt, 2, (sqlite3_int64)a->after.st_nlink);
    sqlite3_bind_int64(rowStmt, 3, mt);
    sqlite3_bind_int64(rowStmt, 4, ct);
    sqlite3_bind_int64(rowStmt, 5, a->targetFileId);
    step(rowStmt);
    sqlite3_bind_int64(linksStmt, 1, (sqlite3_int64)a->after.st_nlink);
    sqlite3_bind_int64(linksStmt, 2, ct);
    sqlite3_bind_int64(linksStmt, 3, a->targetFileId);
    sqlite3_bind_int64(linksStmt, 4, (sqlite3_int64)a->after.st_ino);
    step(linksStmt);
    sqlite3_bind_int64(doneStmt, 1, a->id);
    step(doneStmt);
  }
  exec("COMMIT");
}

// --threads 2: the catalog's work on a writer thread of its own, beside the checks and links.
// The checking thread hands the writer each batch's intents and waits until they are committed
// before it touches that batch; meanwhile it checks up to AHEAD batches further (holding their
// descriptors). It hands the writer each applied batch, which records every RECORD_EVERY
// actions in one transaction; intents go before outcomes in the writer's queue.
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t toWriter = PTHREAD_COND_INITIALIZER, toChecker = PTHREAD_COND_INITIALIZER;
static size_t intentsAsked, intentsDone; // acts[0, intentsDone) journaled
static size_t appliedUpTo;               // acts[0, appliedUpTo) applied, to record
static int finished;
static double stalled;                   // the checking thread waiting for intents
static double writerJournal, writerRecord; // the writer's time in each

// Run work(b, e) with the lock released, adding its wall time to *spent.
static void unlocked(void (*work)(size_t, size_t), size_t b, size_t e, double *spent) {
  pthread_mutex_unlock(&mu);
  double w0 = now();
  work(b, e);
  *spent += now() - w0;
  pthread_mutex_lock(&mu);
}

static void *writer(void *arg) {
  (void)arg;
  size_t recorded = 0;
  pthread_mutex_lock(&mu);
  for (;;) {
    if (intentsAsked > intentsDone) {
      size_t e = intentsAsked;
      unlocked(journal, intentsDone, e, &writerJournal);
      intentsDone = e;
      pthread_cond_broadcast(&toChecker);
    } else if (appliedUpTo - recorded >= RECORD_EVERY || (finished && appliedUpTo > recorded)) {
      size_t e = appliedUpTo;
      unlocked(record, recorded, e, &writerRecord);
      recorded = e;
    } else if (finished) {
      break;
    } else {
      pthread_cond_wait(&toWriter, &mu);
    }
  }
  pthread_mutex_unlock(&mu);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 3) die("usage", "execute-model CATALOG PLAN_ID [--threads 2 [--ahead N]]");
  plan = atoll(argv[2]);
  int threads = argc >= 5 && !strcmp(argv[3], "--threads") ? atoi(argv[4]) : 1;
  size_t ahead = argc >= 7 && !strcmp(argv[5], "--ahead") ? (size_t)atoi(argv[6]) : 1;
  if (sqlite3_open(argv[1], &db) != SQLITE_OK) die(argv[1], sqlite3_errmsg(db));
  exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
       "PRAGMA cache_size = -16384;");
  // MODEL_NO_CHECKPOINT=1: no checkpoint during the run (the WAL grows; the bound of what
  // checkpoints on a thread of their own, as hashall runs them, could give).
  if (getenv("MODEL_NO_CHECKPOINT")) exec("PRAGMA wal_autocheckpoint = 0;");
  bufA = malloc(CHUNK), bufB = malloc(CHUNK);
  double t0 = now(), c0 = cpu();

  sqlite3_stmt *q = prep("SELECT id, source_path, target_path, source_inode, target_inode,"
                         " coalesce(target_file_id, 0) FROM conductor_actions"
                         " WHERE plan_id = ? AND action_type = 'HARDLINK' AND status = 'pending' ORDER BY id");
  sqlite3_bind_int64(q, 1, plan);
  size_t n = 0, cap = 1024;
  acts = malloc(cap * sizeof(Action));
  while (sqlite3_step(q) == SQLITE_ROW) {
    if (n == cap) acts = realloc(acts, (cap *= 2) * sizeof(Action));
    Action *a = &acts[n++];
    a->id = sqlite3_column_int64(q, 0);
    a->source = strndup(sqlite3_column_blob(q, 1), (size_t)sqlite3_column_bytes(q, 1));
    a->target = strndup(sqlite3_column_blob(q, 2), (size_t)sqlite3_column_bytes(q, 2));
    a->sourceIno = sqlite3_column_int64(q, 3);
    a->targetIno = sqlite3_column_int64(q, 4);
    a->targetFileId = sqlite3_column_int64(q, 5);
  }
  sqlite3_finalize(q);
  nActs = n;

  intentStmt = prep("INSERT INTO conductor_journal (action_id, plan_id, source_abs, target_abs,"
                    " temp_abs, started_at) VALUES (?, ?, ?, ?, ?, ?)");
  statusStmt = prep("UPDATE conductor_actions SET status = 'executed', executed_at = ? WHERE id = ?");
  rowStmt = prep("UPDATE files SET inode = ?, nlink = ?, mtime_ns = ?, ctime_ns = ? WHERE id = ?");
  linksStmt = prep("UPDATE files SET nlink = ?, ctime_ns = ?"
                   " WHERE device_id = (SELECT device_id FROM files WHERE id = ?) AND inode = ?"
                   " AND status = 'active'");
  doneStmt = prep("DELETE FROM conductor_journal WHERE action_id = ?");
  double tCheck = 0, tJournal = 0, tLink = 0, tRecord = 0, t;
  double cCheck = 0, cJournal = 0, cLink = 0, cRecord = 0, c;
  pthread_t closingThread;
  CloseJob closeJob;
  int closing = 0;
  // Apply acts[b, e) (journaled), their targets' descriptors closed on the closing thread.
#define APPLY(b, e)                                                                          \
  do {                                                                                       \
    for (size_t i_ = (b); i_ < (e); i_++) apply(&acts[i_]);                                  \
    if (closing) pthread_join(closingThread, NULL);                                          \
    closeJob = (CloseJob){&acts[b], &acts[e]};                                               \
    pthread_create(&closingThread, NULL, closer, &closeJob);                                 \
    closing = 1;                                                                             \
  } while (0)
  if (threads == 2) {
    pthread_t w;
    pthread_create(&w, NULL, writer, NULL);
    size_t checked = 0, applied = 0; // acts[0, checked) checked, [0, applied) applied
    while (applied < n) {
      // Check ahead while fewer than `ahead` batches wait for their intents.
      if (checked < n && checked - applied < ahead * BATCH) {
        size_t b = checked, e = b + BATCH < n ? b + BATCH : n;
        for (size_t i = b; i < e; i++) check(&acts[i]);
        checked = e;
        pthread_mutex_lock(&mu);
        intentsAsked = e;
        pthread_cond_signal(&toWriter);
        pthread_mutex_unlock(&mu);
        continue;
      }
      size_t b = applied, e = b + BATCH < n ? b + BATCH : n;
      double w0 = now();
      pthread_mutex_lock(&mu);
      while (intentsDone < e) pthread_cond_wait(&toChecker, &mu);
      pthread_mutex_unlock(&mu);
      stalled += now() - w0;
      APPLY(b, e);
      applied = e;
      pthread_mutex_lock(&mu);
      appliedUpTo = e;
      if (applied == n) finished = 1;
      pthread_cond_signal(&toWriter);
      pthread_mutex_unlock(&mu);
    }
    pthread_join(w, NULL);
    if (closing) pthread_join(closingThread, NULL);
    printf("two threads (ahead %zu batches): the checking thread waited %.3f s for intents; the writer"
           " journaled %.3f s, recorded %.3f s\n", ahead, stalled, writerJournal, writerRecord);
    printf("total %.3f s wall %.3f s CPU; %zu actions\n", now() - t0, cpu() - c0, n);
    sqlite3_close(db);
    return 0;
  }
  size_t recorded = 0;
  for (size_t b = 0; b < n; b += BATCH) {
    size_t e = b + BATCH < n ? b + BATCH : n;
    t = now(), c = cpu();
    for (size_t i = b; i < e; i++) check(&acts[i]);
    tCheck += now() - t, cCheck += cpu() - c, t = now(), c = cpu();
    journal(b, e);
    tJournal += now() - t, cJournal += cpu() - c, t = now(), c = cpu();
    APPLY(b, e);
    tLink += now() - t, cLink += cpu() - c;
    if (e - recorded >= RECORD_EVERY || e == n) {
      t = now(), c = cpu();
      record(recorded, e);
      recorded = e;
      tRecord += now() - t, cRecord += cpu() - c;
    }
  }
  if (closing) pthread_join(closingThread, NULL);
  printf("check   %6.3f s wall %6.3f s CPU\njournal %6.3f s wall %6.3f s CPU\n", tCheck, cCheck, tJournal, cJournal);
  printf("link    %6.3f s wall %6.3f s CPU\nrecord  %6.3f s wall %6.3f s CPU\n", tLink, cLink, tRecord, cRecord);
  printf("total %.3f s wall %.3f s CPU; %zu actions\n", now() - t0, cpu() - c0, n);
  sqlite3_close(db);
  return 0;
}
