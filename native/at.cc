// The executor's file operations relative to open directory fds (src/fs/at-ops.ts): the real
// *at() calls Node does not have. Every call is synchronous and returns an int: >= 0 on
// success (an fd, or 0), -errno on failure (the JS side builds Node's error from it: cheaper
// than throwing here, and one shape for every call). A name is one path component: a name with
// a '/' (or empty) is refused with EINVAL, so that nothing here can walk further than the
// directory fd it is given. Nothing follows a symlink: opens carry O_NOFOLLOW, fstatat
// AT_SYMLINK_NOFOLLOW, linkat no AT_SYMLINK_FOLLOW; the one path walk (openDirPath) is
// openat2(RESOLVE_NO_SYMLINKS), and where the kernel lacks it the JS side walks component by
// component with openDirAt.
#include <napi.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

namespace {

constexpr int DIR_FLAGS = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

// A Buffer argument as a NUL-terminated name; false when it is not a single component.
bool component(const Napi::Value &v, std::string &out) {
  if (!v.IsBuffer()) return false;
  auto b = v.As<Napi::Buffer<char>>();
  out.assign(b.Data(), b.Length());
  return !out.empty() && out.find('/') == std::string::npos && out.find('\0') == std::string::npos;
}

bool path(const Napi::Value &v, std::string &out) {
  if (!v.IsBuffer()) return false;
  auto b = v.As<Napi::Buffer<char>>();
  out.assign(b.Data(), b.Length());
  return !out.empty() && out[0] == '/' && out.find('\0') == std::string::npos;
}

int fdArg(const Napi::Value &v) { return v.IsNumber() ? v.As<Napi::Number>().Int32Value() : -1; }

Napi::Value result(Napi::Env env, int r) { return Napi::Number::New(env, r < 0 ? -errno : r); }
Napi::Value einval(Napi::Env env) { return Napi::Number::New(env, -EINVAL); }

// openDirPath(abs: Buffer) -> fd | -errno: the directory `abs` names, opened in one call with
// no symlink followed anywhere on the way (ENOSYS/EPERM where openat2 is missing or filtered:
// the caller walks component by component instead).
Napi::Value OpenDirPath(const Napi::CallbackInfo &info) {
  std::string p;
  if (!path(info[0], p)) return einval(info.Env());
#ifdef SYS_openat2
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = DIR_FLAGS;
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  long fd = syscall(SYS_openat2, AT_FDCWD, p.c_str(), &how, sizeof how);
  return result(info.Env(), static_cast<int>(fd));
#else
  return Napi::Number::New(info.Env(), -ENOSYS);
#endif
}

// openDirAt(dirfd, name) -> fd | -errno: the subdirectory `name`, never through a symlink.
Napi::Value OpenDirAt(const Napi::CallbackInfo &info) {
  std::string n;
  if (!component(info[1], n)) return einval(info.Env());
  return result(info.Env(), openat(fdArg(info[0]), n.c_str(), DIR_FLAGS));
}

// openAt(dirfd, name, flags, mode) -> fd | -errno. O_NOFOLLOW and O_CLOEXEC are always added.
Napi::Value OpenAt(const Napi::CallbackInfo &info) {
  std::string n;
  if (!component(info[1], n) || !info[2].IsNumber() || !info[3].IsNumber())
    return einval(info.Env());
  int flags = info[2].As<Napi::Number>().Int32Value() | O_NOFOLLOW | O_CLOEXEC;
  mode_t mode = static_cast<mode_t>(info[3].As<Napi::Number>().Uint32Value());
  return result(info.Env(), openat(fdArg(info[0]), n.c_str(), flags, mode));
}

// The 14 stat fields lstatAt and fstat fill (src/fs/at-stats.ts decodes them).
void fillStat(Napi::BigInt64Array &out, const struct stat &st) {
  auto ns = [](const struct timespec &t) {
    return static_cast<int64_t>(t.tv_sec) * 1000000000LL + static_cast<int64_t>(t.tv_nsec);
  };
  out[0] = static_cast<int64_t>(st.st_dev);
  out[1] = static_cast<int64_t>(st.st_ino);
  out[2] = static_cast<int64_t>(st.st_mode);
  out[3] = static_cast<int64_t>(st.st_nlink);
  out[4] = static_cast<int64_t>(st.st_uid);
  out[5] = static_cast<int64_t>(st.st_gid);
  out[6] = static_cast<int64_t>(st.st_rdev);
  out[7] = static_cast<int64_t>(st.st_size);
  out[8] = static_cast<int64_t>(st.st_blksize);
  out[9] = static_cast<int64_t>(st.st_blocks);
  out[10] = ns(st.st_atim);
  out[11] = ns(st.st_mtim);
  out[12] = ns(st.st_ctim);
  out[13] = 0;
}

bool statOut(const Napi::Value &v) {
  if (!v.IsTypedArray()) return false;
  auto ta = v.As<Napi::TypedArray>();
  return ta.TypedArrayType() == napi_bigint64_array && ta.ElementLength() >= 14;
}

// fstat(fd, out: BigInt64Array(14)) -> 0 | -errno: lstatAt's fields for an open file (Node's
// fstatSync builds four Date objects per call, a tenth of execute's main-thread time).
Napi::Value Fstat(const Napi::CallbackInfo &info) {
  if (!statOut(info[1])) return einval(info.Env());
  auto out = info[1].As<Napi::BigInt64Array>();
  struct stat st;
  if (fstat(fdArg(info[0]), &st) != 0) return Napi::Number::New(info.Env(), -errno);
  fillStat(out, st);
  return Napi::Number::New(info.Env(), 0);
}

// pread until `want` bytes are in `buf` or the file ends: the count read, or -errno.
ssize_t readFull(int fd, char *buf, size_t want, off_t pos) {
  size_t got = 0;
  while (got < want) {
    ssize_t n = pread(fd, buf + got, want - got, pos + static_cast<off_t>(got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(got);
}

// compare(fdA, fdB, size, bufA, bufB) -> 1 equal | 0 different | -errno: the first `size`
// bytes of two open files, read through the two buffers in chunks of their length. Either
// file ending before `size` is a difference. Bytes past `size` are not read: the caller's
// fstat after the comparison proves both still have exactly `size` bytes and an unchanged
// mtime (src/conductor/execute/verify.ts). One call per action instead of a readSync per
// chunk and file, an EOF probe per file and Buffer.compare.
Napi::Value Compare(const Napi::CallbackInfo &info) {
  auto env = info.Env();
  if (!info[2].IsNumber() || !info[3].IsBuffer() || !info[4].IsBuffer()) return einval(env);
  int fa = fdArg(info[0]), fb = fdArg(info[1]);
  double sized = info[2].As<Napi::Number>().DoubleValue();
  auto ba = info[3].As<Napi::Buffer<char>>();
  auto bb = info[4].As<Napi::Buffer<char>>();
  size_t chunk = ba.Length() < bb.Length() ? ba.Length() : bb.Length();
  if (sized < 0 || chunk == 0) return einval(env);
  off_t size = static_cast<off_t>(sized);
  for (off_t pos = 0; pos < size;) {
    size_t want = static_cast<size_t>(size - pos) < chunk ? static_cast<size_t>(size - pos) : chunk;
    ssize_t a = readFull(fa, ba.Data(), want, pos);
    if (a < 0) return Napi::Number::New(env, static_cast<double>(a));
    if (static_cast<size_t>(a) != want) return Napi::Number::New(env, 0);
    ssize_t b = readFull(fb, bb.Data(), want, pos);
    if (b < 0) return Napi::Number::New(env, static_cast<double>(b));
    if (static_cast<size_t>(b) != want) return Napi::Number::New(env, 0);
    if (memcmp(ba.Data(), bb.Data(), want) != 0) return Napi::Number::New(env, 0);
    pos += static_cast<off_t>(want);
  }
  return Napi::Number::New(env, 1);
}

// lstatAt(dirfd, name, out: BigInt64Array(14)) -> 0 | -errno. Fields: dev, ino, mode, nlink,
// uid, gid, rdev, size, blksize, blocks, atime_ns, mtime_ns, ctime_ns, birthtime_ns (0: statx
// is not used; nothing in the executor reads it).
Napi::Value LstatAt(const Napi::CallbackInfo &info) {
  std::string n;
  if (!component(info[1], n) || !statOut(info[2])) return einval(info.Env());
  auto out = info[2].As<Napi::BigInt64Array>();
  struct stat st;
  if (fstatat(fdArg(info[0]), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    return Napi::Number::New(info.Env(), -errno);
  fillStat(out, st);
  return Napi::Number::New(info.Env(), 0);
}

// linkAt(fromDirfd, fromName, toDirfd, toName) -> 0 | -errno (never follows a symlink).
Napi::Value LinkAt(const Napi::CallbackInfo &info) {
  std::string a, b;
  if (!component(info[1], a) || !component(info[3], b)) return einval(info.Env());
  return result(info.Env(), linkat(fdArg(info[0]), a.c_str(), fdArg(info[2]), b.c_str(), 0));
}

// renameAt(fromDirfd, fromName, toDirfd, toName) -> 0 | -errno.
Napi::Value RenameAt(const Napi::CallbackInfo &info) {
  std::string a, b;
  if (!component(info[1], a) || !component(info[3], b)) return einval(info.Env());
  return result(info.Env(), renameat(fdArg(info[0]), a.c_str(), fdArg(info[2]), b.c_str()));
}

// unlinkAt(dirfd, name, removeDir: 0|1) -> 0 | -errno.
Napi::Value UnlinkAt(const Napi::CallbackInfo &info) {
  std::string n;
  if (!component(info[1], n) || !info[2].IsNumber()) return einval(info.Env());
  int flags = info[2].As<Napi::Number>().Int32Value() != 0 ? AT_REMOVEDIR : 0;
  return result(info.Env(), unlinkat(fdArg(info[0]), n.c_str(), flags));
}

// mkdirAt(dirfd, name, mode) -> 0 | -errno.
Napi::Value MkdirAt(const Napi::CallbackInfo &info) {
  std::string n;
  if (!component(info[1], n) || !info[2].IsNumber()) return einval(info.Env());
  mode_t mode = static_cast<mode_t>(info[2].As<Napi::Number>().Uint32Value());
  return result(info.Env(), mkdirat(fdArg(info[0]), n.c_str(), mode));
}

} // namespace

// Registered by walk.cc's module init, as an `at` object: an addon without it (built before
// it) leaves the executor on the JS path (src/fs/at-ops.ts).
void InitAt(Napi::Env env, Napi::Object exports) {
  auto at = Napi::Object::New(env);
  at.Set("version", Napi::Number::New(env, 1));
  at.Set("openDirPath", Napi::Function::New(env, OpenDirPath));
  at.Set("openDirAt", Napi::Function::New(env, OpenDirAt));
  at.Set("openAt", Napi::Function::New(env, OpenAt));
  at.Set("lstatAt", Napi::Function::New(env, LstatAt));
  at.Set("linkAt", Napi::Function::New(env, LinkAt));
  at.Set("renameAt", Napi::Function::New(env, RenameAt));
  at.Set("unlinkAt", Napi::Function::New(env, UnlinkAt));
  at.Set("mkdirAt", Napi::Function::New(env, MkdirAt));
  at.Set("fstat", Napi::Function::New(env, Fstat));
  at.Set("compare", Napi::Function::New(env, Compare));
  exports.Set("at", at);
}
