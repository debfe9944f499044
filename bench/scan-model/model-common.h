// What both models share: clocks, the one way they fail, and the catalog's statements.
// A model defines MODEL (its name, for its messages) before including this.
#ifndef MODEL_COMMON_H
#define MODEL_COMMON_H
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static sqlite3 *db;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}
static double cpu(void) {
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  return r.ru_utime.tv_sec + r.ru_stime.tv_sec + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}
static void die(const char *what, const char *detail) {
  fprintf(stderr, MODEL ": %s: %s\n", what, detail);
  exit(1);
}
static void exec(const char *sql) {
  char *err = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) die(sql, err);
}
static sqlite3_stmt *prep(const char *sql) {
  sqlite3_stmt *s;
  if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) die(sql, sqlite3_errmsg(db));
  return s;
}
static void step(sqlite3_stmt *s) {
  if (sqlite3_step(s) != SQLITE_DONE) die("step", sqlite3_errmsg(db));
  sqlite3_reset(s);
}
#endif
