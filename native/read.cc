// hashall's native read path (bench/NOTES.md): one synchronous call reads a batch of small
// files (or the prefixes of larger ones) for a hashing worker thread, which already runs off the
// main thread. Per file it does what src/scan/hash-file.ts does, in the same order and with the
// same verdicts: open without following a link and without blocking, check the identity the
// catalog expects, read up to a limit, check the byte count and the identity again, close. The
// SHA-256 digests are made here with the OpenSSL that Node itself links and exports (EVP_DigestUpdate,
// the implementation behind node:crypto), written straight into the worker's result arrays.
#include <napi.h>

#include "identity.h"

#include <openssl/evp.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {

// Statuses as src/scan/hash-job.ts HashStatus; SKIPPED: not asked for (limit 0), left to JS.
constexpr uint8_t S_OK = 0, S_CHANGED = 1, S_ERROR = 2, S_SKIPPED = 3;
// Which call failed, for an S_ERROR (named in JS as Node names its syscalls).
constexpr uint8_t SYS_OPEN = 1, SYS_FSTAT = 2, SYS_READ = 3;

struct Result {
  uint8_t status = S_SKIPPED;
  uint8_t syscall = 0;
  int32_t err = 0;
  uint32_t bytesRead = 0;
};

// Reads up to `limit` bytes into `buf`, resized to what was read: from the file's offset, or
// from `at` when at >= 0. Returns 0, or the errno of the read that failed.
int readInto(int fd, std::vector<uint8_t> &buf, uint32_t limit, int64_t at) {
  buf.resize(limit);
  uint32_t got = 0;
  int err = 0;
  while (got < limit) {
    ssize_t n = at >= 0 ? pread(fd, buf.data() + got, limit - got, at + got)
                        : read(fd, buf.data() + got, limit - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    if (n == 0) break;
    got += static_cast<uint32_t>(n);
  }
  buf.resize(got);
  return err;
}

// Reads one file into `out` and, when suffixAt >= 0, the suffixBytes from that offset into
// `tail` (hash-file.ts: a prefix read of a file past WHOLE_READ_MAX).
Result readOne(const char *path, const Identity &want, uint32_t limit, uint32_t expected,
               int64_t suffixAt, uint32_t suffixBytes, std::vector<uint8_t> &out,
               std::vector<uint8_t> &tail) {
  Result r;
  // The flags of hash-file.ts (O_NONBLOCK: a FIFO swapped in cannot hang the read), plus
  // O_CLOEXEC, and O_NOATIME where the kernel permits it (owner or CAP_FOWNER): reading for a
  // hash should not dirty every inode's atime. EPERM means not permitted: open as JS does.
  const int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
  int fd = open(path, flags | O_NOATIME);
  if (fd < 0 && errno == EPERM) fd = open(path, flags);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT || e == ELOOP || e == ENOTDIR) {
      r.status = S_CHANGED;
    } else {
      r.status = S_ERROR;
      r.err = e;
      r.syscall = SYS_OPEN;
    }
    return r;
  }
  struct stat st;
  auto fail = [&](uint8_t sys, int err) {
    r.status = S_ERROR;
    r.err = err;
    r.syscall = sys;
  };
  if (fstat(fd, &st) != 0) {
    fail(SYS_FSTAT, errno);
  } else if (!sameIdentity(st, want)) {
    r.status = S_CHANGED;
  } else {
    int err = readInto(fd, out, limit, -1);
    r.bytesRead = static_cast<uint32_t>(out.size());
    bool complete = err == 0 && out.size() == expected;
    if (complete && suffixAt >= 0) {
      // The end, by position, as hash-file.ts reads it.
      err = readInto(fd, tail, suffixBytes, suffixAt);
      r.bytesRead += static_cast<uint32_t>(tail.size());
      complete = err == 0 && tail.size() == suffixBytes;
    }
    if (err != 0) {
      fail(SYS_READ, err);
    } else if (!complete) {
      r.status = S_CHANGED;
    } else if (fstat(fd, &st) != 0) {
      fail(SYS_FSTAT, errno);
    } else {
      r.status = sameIdentity(st, want) ? S_OK : S_CHANGED;
    }
  }
  close(fd);
  return r;
}

} // namespace

namespace {

// The two digests of one file read: the prefix's (its first prefixBytes bytes) and, when the
// file was read whole, the whole file's. One pass: the prefix is a copy of the running digest
// taken where the prefix ends (a file no longer than the prefix has one digest, used twice),
// so no byte is hashed twice. Two contexts made once per batch: EVP_Digest allocates and frees
// one per call, which on ~100,000 small files cost as much as hashing their prefixes again.
class Digests {
 public:
  Digests() : ctx_(EVP_MD_CTX_new()), copy_(EVP_MD_CTX_new()) {}
  ~Digests() {
    EVP_MD_CTX_free(ctx_);
    EVP_MD_CTX_free(copy_);
  }
  Digests(const Digests &) = delete;
  Digests &operator=(const Digests &) = delete;

  // The digest of `len` bytes (a suffix).
  bool digest(const uint8_t *data, size_t len, uint8_t *out) {
    return ctx_ && EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) == 1 &&
           EVP_DigestUpdate(ctx_, data, len) == 1 && final(ctx_, out);
  }

  bool hash(const uint8_t *data, size_t len, size_t prefixBytes, bool whole, uint8_t *prefix,
            uint8_t *full) {
    if (!ctx_ || !copy_) return false;
    const size_t head = std::min(len, prefixBytes);
    if (EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1 ||
        EVP_DigestUpdate(ctx_, data, head) != 1)
      return false;
    if (!whole) return final(ctx_, prefix);
    if (len == head) return final(ctx_, prefix) && (std::memcpy(full, prefix, 32), true);
    return EVP_MD_CTX_copy_ex(copy_, ctx_) == 1 && final(copy_, prefix) &&
           EVP_DigestUpdate(ctx_, data + head, len - head) == 1 && final(ctx_, full);
  }

 private:
  static bool final(EVP_MD_CTX *c, uint8_t *digest) {
    unsigned int n = 0;
    return EVP_DigestFinal_ex(c, digest, &n) == 1 && n == 32;
  }
  EVP_MD_CTX *ctx_;
  EVP_MD_CTX *copy_;
};

template <typename T> T field(const Napi::Object &o, const char *name) {
  return o.Get(name).As<T>();
}

} // namespace

// readFiles({ paths, pathEnds, meta, limits, expected, whole, prefixBytes, prefix, sha256,
//             suffixAt, suffixBytes, suffix })
//   -> { status: Uint8Array, syscall: Uint8Array, errno: Int32Array, bytesRead: Uint32Array }
// Job i reads at most limits[i] bytes and must read exactly expected[i]; limits[i] == 0 skips
// it. A job read OK gets the digest of its first prefixBytes bytes in prefix[32i..], and when
// whole[i], the digest of all it read in sha256[32i..] (both arrays are the caller's). When
// suffixAt[i] >= 0 it also reads suffixBytes from that offset, all of them or it changed, and
// gets their digest in suffix[32i..]. (READ_FILES_VERSION 2: a binary without it has none of
// the three suffix fields, and the caller leaves such jobs to node:fs.)
Napi::Value ReadFiles(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "readFiles({ paths, pathEnds, meta, limits, expected, whole, "
                              "prefixBytes, prefix, sha256 })")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object a = info[0].As<Napi::Object>();
  auto paths = field<Napi::Uint8Array>(a, "paths");
  auto ends = field<Napi::Uint32Array>(a, "pathEnds");
  auto meta = field<Napi::BigInt64Array>(a, "meta");
  auto limits = field<Napi::Uint32Array>(a, "limits");
  auto expected = field<Napi::Uint32Array>(a, "expected");
  auto whole = field<Napi::Uint8Array>(a, "whole");
  auto prefixOut = field<Napi::Uint8Array>(a, "prefix");
  auto fullOut = field<Napi::Uint8Array>(a, "sha256");
  const uint32_t prefixBytes = field<Napi::Number>(a, "prefixBytes").Uint32Value();
  auto suffixAt = field<Napi::Float64Array>(a, "suffixAt");
  auto suffixOut = field<Napi::Uint8Array>(a, "suffix");
  const uint32_t suffixBytes = field<Napi::Number>(a, "suffixBytes").Uint32Value();
  const size_t n = ends.ElementLength();
  if (meta.ElementLength() != n * 4 || limits.ElementLength() != n ||
      expected.ElementLength() != n || whole.ElementLength() != n ||
      prefixOut.ElementLength() != n * 32 || fullOut.ElementLength() != n * 32 ||
      suffixAt.ElementLength() != n || suffixOut.ElementLength() != n * 32) {
    Napi::TypeError::New(env, "readFiles: arrays of different lengths")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto status = Napi::Uint8Array::New(env, n);
  auto syscalls = Napi::Uint8Array::New(env, n);
  auto errnos = Napi::Int32Array::New(env, n);
  auto bytesRead = Napi::Uint32Array::New(env, n);
  std::vector<uint8_t> data, tail;
  Digests digests;
  std::string path;
  uint32_t start = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t end = ends[i];
    path.assign(reinterpret_cast<const char *>(paths.Data()) + start, end - start);
    start = end;
    Result r;
    // A NUL inside a name cannot occur in a listed path; if it did, C would open a prefix of
    // it, so leave it to the JS path, which refuses it.
    if (limits[i] != 0 && path.find('\0') == std::string::npos) {
      Identity want{meta[i * 4], meta[i * 4 + 1], meta[i * 4 + 2], meta[i * 4 + 3]};
      const int64_t at = suffixAt[i] >= 0 ? static_cast<int64_t>(suffixAt[i]) : -1;
      r = readOne(path.c_str(), want, limits[i], expected[i], at, suffixBytes, data, tail);
      if (r.status == S_OK) {
        if (!digests.hash(data.data(), data.size(), prefixBytes, whole[i] != 0,
                          prefixOut.Data() + i * 32, fullOut.Data() + i * 32) ||
            (at >= 0 && !digests.digest(tail.data(), tail.size(), suffixOut.Data() + i * 32))) {
          Napi::Error::New(env, "hashall: OpenSSL's SHA-256 failed").ThrowAsJavaScriptException();
          return env.Undefined();
        }
      }
    }
    status[i] = r.status;
    syscalls[i] = r.syscall;
    errnos[i] = r.err;
    bytesRead[i] = r.bytesRead;
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("status", status);
  out.Set("syscall", syscalls);
  out.Set("errno", errnos);
  out.Set("bytesRead", bytesRead);
  return out;
}
