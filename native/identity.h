// The identity a file must still have when it is read for a hash (src/scan/hash-file.ts
// sameIdentity), shared by the workers' batch read (native/read.cc) and the hashing threads
// (native/hash-pool.cc).
#pragma once

#include <sys/stat.h>

#include <cstdint>

struct Identity {
  int64_t ino, size, mtimeNs, ctimeNs;
};

// sec * 1e9 + nsec as Node's bigint stats compute it, or false when it does not fit in int64
// (then it cannot equal an expected value, which is an int64).
inline bool toNs(int64_t sec, int64_t nsec, int64_t *ns) {
  int64_t s;
  if (__builtin_mul_overflow(sec, int64_t{1000000000}, &s)) return false;
  return !__builtin_add_overflow(s, nsec, ns);
}

// A regular file with the inode, size, mtime and ctime expected.
inline bool sameIdentity(const struct stat &st, const Identity &want) {
  int64_t m, c;
  return S_ISREG(st.st_mode) && static_cast<int64_t>(st.st_ino) == want.ino &&
         static_cast<int64_t>(st.st_size) == want.size &&
         toNs(st.st_mtim.tv_sec, st.st_mtim.tv_nsec, &m) && m == want.mtimeNs &&
         toNs(st.st_ctim.tv_sec, st.st_ctim.tv_nsec, &c) && c == want.ctimeNs;
}
