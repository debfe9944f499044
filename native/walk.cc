// hashall's native directory listing (bench/NOTES.md): one call lists a directory with
// getdents64 and stats its entries with statx relative to the directory's own fd, never following
// a symlink, and returns everything as ONE packed buffer: listDir on the calling thread, the list
// pool (native/list-pool.cc) on threads of its own ahead of the walk. The layout is decoded by
// src/fs/native-list.ts; change both together (and LAYOUT_VERSION).
#include <napi.h>

#include "listing.h"

#include <openssl/evp.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {

// 2: listDir lists on the calling thread; 3: the header carries the listing's fingerprint.
constexpr uint32_t LAYOUT_VERSION = 3;
constexpr size_t HEADER_SIZE = 64;
// Header bytes 32..63: SHA-256 of the whole buffer with these bytes zeroed (the fingerprint).
constexpr size_t FINGERPRINT_AT = 32;
constexpr size_t RECORD_SIZE = 104;
// Header flags (offset 28).
constexpr uint32_t H_CHANGED = 1; // the opened directory is not the one expected

// Record flags.
constexpr uint8_t F_STATTED = 1;    // the stat fields hold this entry's statx
constexpr uint8_t F_STAT_ERROR = 2; // statx failed: errno holds why
constexpr uint8_t F_MTIME_WIDE = 4; // mtime in ns does not fit in int64: use sec + nsec
constexpr uint8_t F_CTIME_WIDE = 8;

// An entry's name as a slice of the listing's name arena (one buffer for every name, reused
// across calls: a std::string per name was a malloc per entry on a million-file rescan).
struct Entry {
  uint32_t off;
  uint16_t len;
  unsigned char dtype;
};

struct linux_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

template <typename T> void put(std::vector<uint8_t> &out, size_t at, T v) {
  std::memcpy(out.data() + at, &v, sizeof v);
}

// Nanoseconds since the epoch as Node computes them (sec * 1e9 + nsec), or false on overflow.
bool toNs(int64_t sec, uint32_t nsec, int64_t *ns) {
  int64_t s;
  if (__builtin_mul_overflow(sec, int64_t{1000000000}, &s)) return false;
  return !__builtin_add_overflow(s, int64_t{nsec}, ns);
}

// st_dev as libuv reports it (makedev of statx's major/minor), so that it compares equal to
// what fs.lstat returned for the same directory.
uint64_t devOf(const struct statx &sx) { return makedev(sx.stx_dev_major, sx.stx_dev_minor); }

int statAt(int dirfd, const char *name, struct statx *sx) {
  // AT_NO_AUTOMOUNT: lstat's behaviour; an automount point is reported, not triggered.
  return statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_STATX_SYNC_AS_STAT,
               STATX_BASIC_STATS, sx);
}

// SHA-256 for the fingerprint, looked up once: with EVP_sha256(), OpenSSL 3 fetches the
// algorithm again (name map look-ups under locks) on every EVP_Digest call, a listing each.
const EVP_MD *sha256() {
#if OPENSSL_VERSION_MAJOR >= 3
  static const EVP_MD *md = [] {
    const EVP_MD *fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return fetched != nullptr ? fetched : EVP_sha256();
  }();
  return md;
#else
  return EVP_sha256();
#endif
}

} // namespace

// Open the directory (never through a symlink), check it is the one its parent listed, read
// its names and stat what the walk needs. Thread-safe: the list pool's threads call it too.
void listInto(const std::string &path, uint64_t dev, uint64_t ino, Listing &r) {
  // O_NOFOLLOW: a directory swapped for a symlink is refused (ELOOP), never walked through.
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return r.fail(errno, "open");
  struct statx self;
  if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT, STATX_BASIC_STATS, &self) != 0) {
    int e = errno;
    close(fd);
    return r.fail(e, "fstat");
  }
  r.out.assign(HEADER_SIZE, 0);
  put<uint64_t>(r.out, 8, devOf(self));
  put<uint64_t>(r.out, 16, self.stx_ino);
  put<uint32_t>(r.out, 24, HEADER_SIZE);
  if (devOf(self) != dev || self.stx_ino != ino) {
    // Not the directory its parent listed (replaced or moved): not listed.
    close(fd);
    put<uint32_t>(r.out, 0, LAYOUT_VERSION);
    put<uint32_t>(r.out, 28, H_CHANGED);
    return;
  }
  // First the names, then sorted by bytes (strcmp order, as Node's readdir returns them:
  // libuv's scandir sorts), so that the walk visits and reports entries in the same order
  // either way; then one statx per entry that needs it. The getdents buffer, the entries and
  // the name arena are the thread's own, reused by every call (no allocation per directory
  // once they have grown).
  thread_local std::vector<char> buf(64 * 1024);
  thread_local std::vector<Entry> entries;
  thread_local std::string arena;
  entries.clear();
  arena.clear();
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buf.data(), buf.size());
    if (n < 0) {
      int e = errno;
      close(fd);
      return r.fail(e, "scandir");
    }
    if (n == 0) break;
    for (long off = 0; off < n;) {
      auto *d = reinterpret_cast<linux_dirent64 *>(buf.data() + off);
      off += d->d_reclen;
      const char *name = d->d_name;
      if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
      size_t len = std::strlen(name);
      entries.push_back(Entry{static_cast<uint32_t>(arena.size()), static_cast<uint16_t>(len),
                              d->d_type});
      // NUL-terminated in the arena, for statx.
      arena.append(name, len + 1);
    }
  }
  const char *names = arena.data();
  std::sort(entries.begin(), entries.end(), [names](const Entry &a, const Entry &b) {
    int c = std::memcmp(names + a.off, names + b.off, std::min(a.len, b.len));
    return c != 0 ? c < 0 : a.len < b.len;
  });
  uint32_t count = static_cast<uint32_t>(entries.size());
  r.out.resize(HEADER_SIZE + size_t{count} * RECORD_SIZE, 0);
  uint32_t nameOff = 0;
  uint32_t statted = 0;
  bool denied = false;
  for (uint32_t i = 0; i < count; i++) {
    const Entry &e = entries[i];
    const char *name = names + e.off;
    size_t at = HEADER_SIZE + size_t{i} * RECORD_SIZE;
    put<uint32_t>(r.out, at + 0, nameOff);
    put<uint16_t>(r.out, at + 4, e.len);
    put<uint8_t>(r.out, at + 6, e.dtype);
    nameOff += e.len;
    // Only what the walk looks at is stat()ed (regular files, directories, and entries
    // whose type the filesystem did not say); symlinks, FIFOs, sockets and devices are
    // classified by their d_type, as the JS walk does.
    if (e.dtype != DT_REG && e.dtype != DT_DIR && e.dtype != DT_UNKNOWN) continue;
    struct statx sx;
    statted++;
    if (statAt(fd, name, &sx) != 0) {
      if (errno == EACCES) denied = true;
      put<uint8_t>(r.out, at + 7, F_STAT_ERROR);
      put<int32_t>(r.out, at + 8, errno);
      continue;
    }
    uint8_t flags = F_STATTED;
    int64_t mns = 0, cns = 0;
    if (!toNs(sx.stx_mtime.tv_sec, sx.stx_mtime.tv_nsec, &mns)) flags |= F_MTIME_WIDE;
    if (!toNs(sx.stx_ctime.tv_sec, sx.stx_ctime.tv_nsec, &cns)) flags |= F_CTIME_WIDE;
    put<uint8_t>(r.out, at + 7, flags);
    put<uint32_t>(r.out, at + 12, sx.stx_mode);
    put<uint64_t>(r.out, at + 16, sx.stx_ino);
    put<uint64_t>(r.out, at + 24, devOf(sx));
    put<uint64_t>(r.out, at + 32, sx.stx_nlink);
    put<uint32_t>(r.out, at + 40, sx.stx_uid);
    put<uint32_t>(r.out, at + 44, sx.stx_gid);
    put<uint64_t>(r.out, at + 48, sx.stx_size);
    put<uint64_t>(r.out, at + 56, sx.stx_blocks);
    put<int64_t>(r.out, at + 64, mns);
    put<int64_t>(r.out, at + 72, cns);
    put<int64_t>(r.out, at + 80, sx.stx_mtime.tv_sec);
    put<uint32_t>(r.out, at + 88, sx.stx_mtime.tv_nsec);
    put<uint32_t>(r.out, at + 92, sx.stx_ctime.tv_nsec);
    put<int64_t>(r.out, at + 96, sx.stx_ctime.tv_sec);
  }
  // The entries were stat()ed relative to the directory, which needs search (x) permission on
  // it: without it (a directory others may list but not traverse) the directory is reported
  // unreadable as a whole, as the JS walk does when it cannot enter it, not entry by entry.
  // A stat that succeeded proves the permission; otherwise (nothing to stat, or a stat denied)
  // a probe that needs it decides, two system calls only there.
  if (statted == 0 || denied) {
    int probe = openat(fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (probe < 0) {
      int e = errno;
      close(fd);
      return r.fail(e, "chdir");
    }
    close(probe);
  }
  close(fd);
  put<uint32_t>(r.out, 0, LAYOUT_VERSION);
  put<uint32_t>(r.out, 4, count);
  size_t namesAt = r.out.size();
  put<uint32_t>(r.out, 24, static_cast<uint32_t>(namesAt));
  r.out.resize(namesAt + nameOff);
  for (uint32_t i = 0; i < count; i++) {
    std::memcpy(r.out.data() + namesAt, names + entries[i].off, entries[i].len);
    namesAt += entries[i].len;
  }
  // The fingerprint: everything a rescan compares (names, d_type, and each stat()ed entry's
  // inode, dev, size, times in ns, mode, nlink, uid, gid, blocks, or its stat error) and the
  // directory's own dev and inode, in one digest. The catalog skips the directory's rows when
  // the digest it stored after its last merge is this one (src/catalog/listing-merge.ts).
  unsigned int n = 0;
  if (EVP_Digest(r.out.data(), r.out.size(), r.out.data() + FINGERPRINT_AT, &n, sha256(),
                 nullptr) != 1 ||
      n != 32) {
    // No fingerprint (all zero): the catalog then compares the rows, as without one.
    std::memset(r.out.data() + FINGERPRINT_AT, 0, 32);
  }
}

// A listing's error as Node's (errno, syscall); src/fs/native-list.ts names the code.
Napi::Object listingError(Napi::Env env, const Listing &r) {
  Napi::Object err =
      Napi::Error::New(env, std::string(std::strerror(r.errno_)) + ", " + r.syscall_).Value();
  err.Set("errno", Napi::Number::New(env, -r.errno_));
  err.Set("syscall", Napi::String::New(env, r.syscall_));
  return err;
}

bool pathArg(Napi::Env env, const Napi::Value &v, std::string *out) {
  auto path = v.As<Napi::Buffer<char>>();
  out->assign(path.Data(), path.Length());
  if (out->find('\0') == std::string::npos && out->size() < PATH_MAX) return true;
  Napi::Error err = Napi::Error::New(env, "ENAMETOOLONG: path not reachable, open");
  err.Set("code", Napi::String::New(env, "ENAMETOOLONG"));
  err.ThrowAsJavaScriptException();
  return false;
}

namespace {

// listDir(path: Buffer, dev: bigint, ino: bigint): Buffer, on the calling thread. A directory's
// getdents and statx take microseconds with a warm cache, less than a trip through libuv's
// thread pool and back (measured in bench/NOTES.md), so the walk calls it directly.
Napi::Value ListDir(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsBuffer() || !info[1].IsBigInt() || !info[2].IsBigInt()) {
    Napi::TypeError::New(env, "listDir(path: Buffer, dev: bigint, ino: bigint)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  bool lossless;
  uint64_t dev = static_cast<uint64_t>(info[1].As<Napi::BigInt>().Int64Value(&lossless));
  uint64_t ino = static_cast<uint64_t>(info[2].As<Napi::BigInt>().Int64Value(&lossless));
  std::string p;
  if (!pathArg(env, info[0], &p)) return env.Undefined();
  // The thread's own listing buffer, reused (its contents are copied into the JS Buffer).
  thread_local Listing r;
  r.out.clear();
  r.errno_ = 0;
  r.syscall_ = "";
  listInto(p, dev, ino, r);
  if (r.errno_ != 0) {
    Napi::Error(env, listingError(env, r)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Buffer<uint8_t>::Copy(env, r.out.data(), r.out.size());
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("listDir", Napi::Function::New(env, ListDir));
  exports.Set("layoutVersion", Napi::Number::New(env, LAYOUT_VERSION));
  return exports;
}

} // namespace

// native/read.cc: the hashing workers' batch read.
Napi::Value ReadFiles(const Napi::CallbackInfo &info);
// native/at.cc: the executor's *at() calls.
void InitAt(Napi::Env env, Napi::Object exports);
// native/list-pool.cc: listings on threads of their own, ahead of the walk.
void InitListPool(Napi::Env env, Napi::Object exports);
// native/hash-pool.cc: candidates read and hashed on threads of their own.
void InitHashPool(Napi::Env env, Napi::Object exports);

namespace {
Napi::Object InitAll(Napi::Env env, Napi::Object exports) {
  Init(env, exports);
  exports.Set("readFiles", Napi::Function::New(env, ReadFiles));
  // 2: readFiles reads suffixes (read.cc); a binary without this reads none.
  exports.Set("readFilesVersion", Napi::Number::New(env, 2));
  InitAt(env, exports);
  InitListPool(env, exports);
  InitHashPool(env, exports);
  return exports;
}
} // namespace

NODE_API_MODULE(hashall_native, InitAll)
