// One directory's listing (native/walk.cc), shared by listDir on the calling thread and the list
// pool's threads (native/list-pool.cc).
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

// One directory's packed listing (layout: src/fs/native-list.ts), or the system error that
// stopped it.
struct Listing {
  std::vector<uint8_t> out;
  int errno_ = 0;
  const char *syscall_ = "";
  void fail(int e, const char *sys) {
    errno_ = e;
    syscall_ = sys;
  }
};

// Lists `path` into `r` (r.out must be empty and r.errno_ 0). Makes no N-API call: safe on any
// thread.
void listInto(const std::string &path, uint64_t dev, uint64_t ino, Listing &r);

// The error a failed listing throws in JavaScript (errno negative, as Node's, and syscall).
Napi::Object listingError(Napi::Env env, const Listing &r);

// A directory path argument (a Buffer) as a string the kernel takes whole: false, with an
// ENAMETOOLONG error thrown, for one at or beyond PATH_MAX or holding a NUL (src/fs/reach.ts
// reaches those through an open parent).
bool pathArg(Napi::Env env, const Napi::Value &v, std::string *out);
