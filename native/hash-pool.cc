// The hash pool: a scan's candidates read and hashed on threads of the addon's own (README
// "Performance"). Each batch is what src/scan/hash-job.ts encodes for a hashing worker; a thread
// does per file what src/scan/hash-file.ts does, in the same order and with the same verdicts
// (open without following a link and without blocking, check the identity the catalog expects,
// read with one running SHA-256 whose copy at PREFIX_BYTES is the prefix digest, read the last
// SUFFIX_BYTES by position for a file past WHOLE_READ_MAX, check the byte count and the identity
// again, close), large files streamed through one buffer. The finished batch comes back to
// JavaScript through a thread-safe function, one call per batch.
//
// Against the Node worker threads it replaces (still the fallback: HASHALL_NATIVE=0, or a
// binary without this pool): no V8 isolate per worker to start, compile and collect, no message
// to clone, no JavaScript per file or per chunk. The threads make no N-API call and touch no
// JavaScript value; close() (or the object's finalizer, or the environment's teardown) stops and
// joins them, a large file's read stopping between two chunks.
#include <napi.h>

#include "identity.h"
#include "threads.h"

#include <openssl/evp.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace {

// Statuses as src/scan/hash-job.ts HashStatus.
constexpr uint8_t S_OK = 0, S_CHANGED = 1, S_ERROR = 2;
// Which call failed, for an S_ERROR (named in JS as Node names its syscalls).
constexpr uint8_t SYS_OPEN = 1, SYS_FSTAT = 2, SYS_READ = 3;
// src/fs/reach.ts SHORT_PATH_LIMIT: longer paths are opened in hops of directories below it.
constexpr size_t SHORT_PATH_LIMIT = 3072;
// One read's size: as hash-file.ts's buffer.
constexpr size_t CHUNK = 1 << 20;

// What src/scan/hash-job.ts fixes, given at construction so that it stays the one source.
struct Sizes {
  uint64_t prefixBytes;
  uint64_t suffixBytes;
  uint64_t wholeReadMax;
};

// A batch as JavaScript sent it, and its results, filled in by one thread.
struct Batch {
  uint32_t id = 0;
  bool full = false;
  std::string paths;
  std::vector<uint32_t> ends;
  std::vector<int64_t> meta; // inode, size, mtime ns, ctime ns per job
  std::vector<uint8_t> status, syscall, hasSuffix, hasSha256;
  std::vector<int32_t> err;
  std::vector<double> bytesRead;
  std::vector<uint8_t> prefix, suffix, sha256;
  bool digestFailed = false;

  void sizeResults() {
    const size_t n = ends.size();
    status.assign(n, S_OK);
    syscall.assign(n, 0);
    hasSuffix.assign(n, 0);
    hasSha256.assign(n, 0);
    err.assign(n, 0);
    bytesRead.assign(n, 0);
    prefix.assign(n * 32, 0);
    suffix.assign(n * 32, 0);
    sha256.assign(n * 32, 0);
  }
};

class Sha256 {
public:
  Sha256() : ctx_(EVP_MD_CTX_new()), copy_(EVP_MD_CTX_new()) {}
  ~Sha256() {
    EVP_MD_CTX_free(ctx_);
    EVP_MD_CTX_free(copy_);
  }
  Sha256(const Sha256 &) = delete;
  Sha256 &operator=(const Sha256 &) = delete;

  bool init() { return ctx_ && copy_ && EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) == 1; }
  bool update(const uint8_t *p, size_t n) { return EVP_DigestUpdate(ctx_, p, n) == 1; }
  // The digest so far, the running one going on.
  bool peek(uint8_t *out) { return EVP_MD_CTX_copy_ex(copy_, ctx_) == 1 && final(copy_, out); }
  bool finish(uint8_t *out) { return final(ctx_, out); }
  // The digest of `n` bytes alone (a suffix), with the second context.
  bool once(const uint8_t *p, size_t n, uint8_t *out) {
    return EVP_DigestInit_ex(copy_, EVP_sha256(), nullptr) == 1 &&
           EVP_DigestUpdate(copy_, p, n) == 1 && final(copy_, out);
  }

private:
  static bool final(EVP_MD_CTX *c, uint8_t *out) {
    unsigned int n = 0;
    return EVP_DigestFinal_ex(c, out, &n) == 1 && n == 32;
  }
  EVP_MD_CTX *ctx_;
  EVP_MD_CTX *copy_;
};

// open(path) for a path of any length: one past SHORT_PATH_LIMIT is reached through its
// directories in hops below it, as src/fs/reach.ts does (each hop opened relative to the last).
int openAny(const std::string &path, int flags) {
  if (path.size() < SHORT_PATH_LIMIT) return open(path.c_str(), flags);
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) {
    errno = ENAMETOOLONG;
    return -1;
  }
  const int dirFlags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
  int fd = -1;
  size_t start = 0;
  while (start < slash) {
    size_t end = std::min(slash, start + SHORT_PATH_LIMIT);
    if (end < slash) {
      end = path.rfind('/', end);
      if (end == std::string::npos || end <= start) {
        if (fd >= 0) close(fd);
        errno = ENAMETOOLONG;
        return -1;
      }
    }
    std::string chunk = path.substr(start, end - start);
    if (fd >= 0 && chunk[0] == '/') chunk.erase(0, 1);
    const int next = fd < 0 ? open(chunk.c_str(), dirFlags) : openat(fd, chunk.c_str(), dirFlags);
    const int e = errno;
    if (fd >= 0) close(fd);
    if (next < 0) {
      errno = e;
      return -1;
    }
    fd = next;
    start = end;
  }
  const int out = openat(fd, path.c_str() + slash + 1, flags);
  const int e = errno;
  close(fd);
  errno = e;
  return out;
}

// Reads from the file's offset until `limit` bytes or its end, feeding `f` each chunk. Returns
// 0, the errno of the read that failed, or -1 when stopped.
template <typename F>
int readOn(int fd, std::vector<uint8_t> &buf, uint64_t limit, uint64_t *got,
           const std::atomic<bool> &stop, F f) {
  while (*got < limit) {
    if (stop.load(std::memory_order_relaxed)) return -1;
    const size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), limit - *got));
    const ssize_t n = read(fd, buf.data(), want);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return 0;
    if (!f(buf.data(), static_cast<size_t>(n))) return -2;
    *got += static_cast<uint64_t>(n);
  }
  return 0;
}

// Hashes job i of `b` (hash-file.ts hashFile, step for step). Returns false when stopped.
bool hashOne(Batch &b, size_t i, const Sizes &z, std::vector<uint8_t> &buf, Sha256 &sha,
             const std::atomic<bool> &stop) {
  const uint32_t from = i == 0 ? 0 : b.ends[i - 1];
  const std::string path = b.paths.substr(from, b.ends[i] - from);
  const Identity want{b.meta[i * 4], b.meta[i * 4 + 1], b.meta[i * 4 + 2], b.meta[i * 4 + 3]};
  auto fail = [&](uint8_t sys, int e) {
    b.status[i] = S_ERROR;
    b.syscall[i] = sys;
    b.err[i] = e;
  };
  // A NUL inside a name cannot occur in a listed path; C would open a prefix of it.
  if (path.find('\0') != std::string::npos || want.size < 0) {
    fail(SYS_OPEN, EINVAL);
    return true;
  }
  // hash-file.ts's flags (O_NONBLOCK: a FIFO swapped in cannot hang the read), O_CLOEXEC, and
  // O_NOATIME where the kernel permits it (owner or CAP_FOWNER; EPERM otherwise).
  const int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
  int fd = openAny(path, flags | O_NOATIME);
  if (fd < 0 && errno == EPERM) fd = openAny(path, flags);
  if (fd < 0) {
    const int e = errno;
    if (e == ENOENT || e == ELOOP || e == ENOTDIR) b.status[i] = S_CHANGED;
    else fail(SYS_OPEN, e);
    return true;
  }
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  struct stat st;
  if (fstat(fd, &st) != 0) {
    fail(SYS_FSTAT, errno);
    return true;
  }
  if (!sameIdentity(st, want)) {
    b.status[i] = S_CHANGED;
    return true;
  }
  const uint64_t size = static_cast<uint64_t>(want.size);
  const bool whole = b.full || size <= z.wholeReadMax;
  // One past the size for a whole read: a file that grew reads as changed.
  const uint64_t limit = whole ? size + 1 : z.prefixBytes;
  uint8_t *prefixOut = &b.prefix[i * 32];
  bool prefixTaken = false;
  bool ok = sha.init();
  uint64_t got = 0;
  const int r = readOn(fd, buf, limit, &got, stop, [&](const uint8_t *p, size_t n) {
    if (!prefixTaken && got + n >= z.prefixBytes) {
      const size_t head = static_cast<size_t>(z.prefixBytes - got);
      ok = ok && sha.update(p, head);
      if (!whole) return true; // limit is prefixBytes: this was the last chunk
      ok = ok && sha.peek(prefixOut);
      prefixTaken = true;
      if (head < n) ok = ok && sha.update(p + head, n - head);
    } else {
      ok = ok && sha.update(p, n);
    }
    return ok;
  });
  b.bytesRead[i] = static_cast<double>(got);
  if (r == -1) return false;
  if (!ok || r == -2) {
    b.digestFailed = true;
    return true;
  }
  if (r != 0) {
    fail(SYS_READ, r);
    return true;
  }
  const uint64_t expected = whole ? size : std::min(size, z.prefixBytes);
  if (got != expected) {
    b.status[i] = S_CHANGED;
    return true;
  }
  if (size > z.wholeReadMax) {
    // The end, by position (a network filesystem may return fewer bytes than asked: read on).
    size_t n = 0;
    const size_t want = static_cast<size_t>(z.suffixBytes);
    const off_t at = static_cast<off_t>(size - z.suffixBytes);
    while (n < want) {
      const ssize_t k = pread(fd, buf.data() + n, want - n, at + static_cast<off_t>(n));
      if (k < 0) {
        if (errno == EINTR) continue;
        fail(SYS_READ, errno);
        return true;
      }
      if (k == 0) break;
      n += static_cast<size_t>(k);
    }
    if (!whole) b.bytesRead[i] += static_cast<double>(n);
    if (n != want) {
      b.status[i] = S_CHANGED;
      return true;
    }
    if (!sha.once(buf.data(), n, &b.suffix[i * 32])) {
      b.digestFailed = true;
      return true;
    }
    b.hasSuffix[i] = 1;
  }
  // Checked after every read: the digests describe the identity the catalog expects.
  if (fstat(fd, &st) != 0) {
    fail(SYS_FSTAT, errno);
    return true;
  }
  if (!sameIdentity(st, want)) {
    b.status[i] = S_CHANGED;
    b.hasSuffix[i] = 0;
    return true;
  }
  if (!whole) {
    if (!sha.finish(prefixOut)) b.digestFailed = true;
    return true;
  }
  uint8_t *full = &b.sha256[i * 32];
  if (!sha.finish(full)) {
    b.digestFailed = true;
    return true;
  }
  if (!prefixTaken) std::memcpy(prefixOut, full, 32);
  b.hasSha256[i] = 1;
  return true;
}

// What the threads, the thread-safe function and JavaScript share; owned jointly by the pool
// object, each thread, the environment's cleanup hook and the thread-safe function.
struct State {
  Sizes sizes{};
  int nice = 0;
  std::mutex m;
  std::condition_variable work;
  std::condition_variable started; // the constructor waits for every thread's start
  size_t running = 0;
  std::deque<std::unique_ptr<Batch>> batches;
  std::atomic<bool> stopping{false};
  std::vector<pthread_t> threads;
  bool joined = false;
  napi_threadsafe_function tsfn = nullptr;
  // Batches sent and not yet returned to JavaScript: the event loop is kept alive while any
  // is out. Touched on the environment's thread only.
  uint32_t out = 0;

  // Stops the threads and waits for each to finish the file it reads (or its chunk). Only
  // ever called on the environment's thread; idempotent.
  void stop() {
    {
      std::lock_guard<std::mutex> lock(m);
      stopping = true;
      batches.clear();
    }
    work.notify_all();
    if (joined) return;
    joined = true;
    for (pthread_t t : threads) pthread_join(t, nullptr);
    threads.clear();
  }
};

// Lowers the calling thread's priority by `by` nice steps, at most to 19 (src/fs/process.ts
// lowerThreadPriority: hashing yields to the walk where every CPU is busy).
void lowerPriority(int by) {
  if (by <= 0) return;
  const id_t tid = static_cast<id_t>(syscall(SYS_gettid));
  errno = 0;
  const int now = getpriority(PRIO_PROCESS, tid);
  if (now == -1 && errno != 0) return;
  setpriority(PRIO_PROCESS, tid, std::min(19, now + by));
}

void *threadMain(void *arg) {
  std::unique_ptr<std::shared_ptr<State>> own(static_cast<std::shared_ptr<State> *>(arg));
  State &s = **own;
  lowerPriority(s.nice);
  std::vector<uint8_t> buf(CHUNK);
  Sha256 sha;
  std::unique_lock<std::mutex> lock(s.m);
  s.running++;
  s.started.notify_all();
  for (;;) {
    s.work.wait(lock, [&s] { return s.stopping || !s.batches.empty(); });
    if (s.stopping) return nullptr;
    std::unique_ptr<Batch> b = std::move(s.batches.front());
    s.batches.pop_front();
    lock.unlock();
    b->sizeResults();
    bool stopped = false;
    for (size_t i = 0; i < b->ends.size() && !stopped; i++)
      stopped = !hashOne(*b, i, s.sizes, buf, sha, s.stopping);
    if (!stopped) {
      Batch *done = b.release();
      // napi_closing: the environment is going away; nobody waits for the batch any more.
      if (napi_call_threadsafe_function(s.tsfn, done, napi_tsfn_nonblocking) != napi_ok)
        delete done;
    }
    lock.lock();
  }
}

template <typename A, typename T> A typed(Napi::Env env, const std::vector<T> &v) {
  A a = A::New(env, v.size());
  if (!v.empty()) std::memcpy(a.Data(), v.data(), v.size() * sizeof(T));
  return a;
}

// On the environment's thread: a finished batch to the pool's callback, as
// { batchId, status, syscall, errno, bytesRead, prefix, suffix, hasSuffix, sha256, hasSha256 },
// or { batchId, error } when OpenSSL failed.
void callJs(napi_env raw, napi_value jsCallback, void *context, void *data) {
  std::unique_ptr<Batch> b(static_cast<Batch *>(data));
  auto &s = **static_cast<std::shared_ptr<State> *>(context);
  if (raw == nullptr) return; // the environment is being torn down
  Napi::Env env(raw);
  if (s.out > 0 && --s.out == 0) napi_unref_threadsafe_function(raw, s.tsfn);
  Napi::HandleScope scope(env);
  Napi::Object r = Napi::Object::New(env);
  r.Set("batchId", Napi::Number::New(env, b->id));
  if (b->digestFailed) {
    r.Set("error", Napi::String::New(env, "hashall: OpenSSL's SHA-256 failed"));
  } else {
    r.Set("status", typed<Napi::Uint8Array>(env, b->status));
    r.Set("syscall", typed<Napi::Uint8Array>(env, b->syscall));
    r.Set("errno", typed<Napi::Int32Array>(env, b->err));
    r.Set("bytesRead", typed<Napi::Float64Array>(env, b->bytesRead));
    r.Set("prefix", typed<Napi::Uint8Array>(env, b->prefix));
    r.Set("suffix", typed<Napi::Uint8Array>(env, b->suffix));
    r.Set("hasSuffix", typed<Napi::Uint8Array>(env, b->hasSuffix));
    r.Set("sha256", typed<Napi::Uint8Array>(env, b->sha256));
    r.Set("hasSha256", typed<Napi::Uint8Array>(env, b->hasSha256));
  }
  Napi::Function(env, jsCallback).Call({r});
}

void finalizeTsfn(napi_env, void *data, void *) {
  delete static_cast<std::shared_ptr<State> *>(data);
}

class HashPool : public Napi::ObjectWrap<HashPool> {
public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "HashPool",
                       {
                           InstanceMethod<&HashPool::Add>("add"),
                           InstanceMethod<&HashPool::Close>("close"),
                           InstanceAccessor<&HashPool::Threads>("threads"),
                       });
  }

  // new HashPool({ threads, nice, prefixBytes, suffixBytes, wholeReadMax }, onBatch): `threads`
  // may come out fewer (none when the system would start none: the caller then uses workers).
  HashPool(const Napi::CallbackInfo &info) : Napi::ObjectWrap<HashPool>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) {
      Napi::TypeError::New(env, "new HashPool({ threads, nice, prefixBytes, suffixBytes, "
                                "wholeReadMax }, onBatch)")
          .ThrowAsJavaScriptException();
      return;
    }
    Napi::Object o = info[0].As<Napi::Object>();
    auto num = [&](const char *k) { return o.Get(k).As<Napi::Number>().Int64Value(); };
    state_ = std::make_shared<State>();
    State &s = *state_;
    s.sizes = {static_cast<uint64_t>(num("prefixBytes")), static_cast<uint64_t>(num("suffixBytes")),
               static_cast<uint64_t>(num("wholeReadMax"))};
    s.nice = static_cast<int>(num("nice"));
    if (s.sizes.suffixBytes > CHUNK || s.sizes.prefixBytes == 0) {
      Napi::RangeError::New(env, "HashPool: sizes out of range").ThrowAsJavaScriptException();
      return;
    }
    auto *ctx = new std::shared_ptr<State>(state_);
    if (napi_create_threadsafe_function(env, info[1], nullptr,
                                        Napi::String::New(env, "hashall-hash-pool"), 0, 1, ctx,
                                        finalizeTsfn, ctx, callJs, &s.tsfn) != napi_ok) {
      delete ctx;
      Napi::Error::New(env, "HashPool: no thread-safe function").ThrowAsJavaScriptException();
      return;
    }
    // Idle, it keeps nothing alive; add() refs it while batches are out.
    napi_unref_threadsafe_function(env, s.tsfn);
    int want = static_cast<int>(num("threads"));
    want = std::max(0, std::min(want, 64));
    s.threads = startThreads(want, state_, threadMain);
    {
      // Microseconds: each thread has its priority lowered before the pool is used (and a test
      // reading the threads' nice values sees them all).
      std::unique_lock<std::mutex> lock(s.m);
      s.started.wait(lock, [&s] { return s.running == s.threads.size(); });
    }
    teardown_.arm(env, state_);
  }

  // As ListPool's: the finalizer stops the threads but leaves the cleanup hook registered
  // (removing a hook at the environment's teardown aborted Node 24, issue 11).
  ~HashPool() override {
    if (state_) state_->stop();
  }

private:
  std::shared_ptr<State> state_;
  StopAtTeardown<State> teardown_;
  bool released_ = false;

  Napi::Value Threads(const Napi::CallbackInfo &info) {
    return Napi::Number::New(info.Env(), state_ ? static_cast<double>(state_->threads.size()) : 0);
  }

  // add(batchId: number, full: boolean, paths: Uint8Array, pathEnds: Uint32Array,
  //     meta: BigInt64Array): queues a batch (copied); onBatch gets its results.
  Napi::Value Add(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (info.Length() < 5 || !info[0].IsNumber() || !info[2].IsTypedArray() ||
        !info[3].IsTypedArray() || !info[4].IsTypedArray()) {
      Napi::TypeError::New(env, "add(batchId, full, paths, pathEnds, meta)")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    State &s = *state_;
    if (s.threads.empty() || s.joined || released_) {
      Napi::Error::New(env, "HashPool: no thread to hash with (closed?)")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    auto paths = info[2].As<Napi::Uint8Array>();
    auto ends = info[3].As<Napi::Uint32Array>();
    auto meta = info[4].As<Napi::BigInt64Array>();
    const size_t n = ends.ElementLength();
    if (meta.ElementLength() != n * 4 || (n > 0 && ends[n - 1] > paths.ElementLength())) {
      Napi::TypeError::New(env, "HashPool.add: arrays of different lengths")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    for (size_t i = 1; i < n; i++) {
      if (ends[i] < ends[i - 1]) {
        Napi::TypeError::New(env, "HashPool.add: path ends out of order")
            .ThrowAsJavaScriptException();
        return env.Undefined();
      }
    }
    auto b = std::make_unique<Batch>();
    b->id = info[0].As<Napi::Number>().Uint32Value();
    b->full = info[1].ToBoolean().Value();
    b->paths.assign(reinterpret_cast<const char *>(paths.Data()), paths.ElementLength());
    b->ends.assign(ends.Data(), ends.Data() + n);
    b->meta.assign(meta.Data(), meta.Data() + n * 4);
    if (s.out++ == 0) napi_ref_threadsafe_function(env, s.tsfn);
    {
      std::lock_guard<std::mutex> lock(s.m);
      s.batches.push_back(std::move(b));
    }
    s.work.notify_one();
    return env.Undefined();
  }

  // Stops and joins the threads (a large file's read stops between two chunks); batches not
  // returned yet never are.
  Napi::Value Close(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!state_) return env.Undefined();
    state_->stop();
    if (!released_ && state_->tsfn != nullptr) {
      released_ = true;
      napi_release_threadsafe_function(state_->tsfn, napi_tsfn_abort);
    }
    teardown_.disarm(env);
    return env.Undefined();
  }
};

} // namespace

void InitHashPool(Napi::Env env, Napi::Object exports) {
  exports.Set("HashPool", HashPool::Define(env));
}
