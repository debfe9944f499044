// The list pool: directories listed on threads of the addon's own, ahead of the walk (README
// "Performance"). The walk adds every directory it will enter; the threads list them (the same
// listInto as listDir, so the same bytes and fingerprint) while the walk's thread compares the
// listings it already has with the catalog. The walk takes every finished listing in one call,
// waiting on a condition variable only when none is ready: no trip through libuv's thread pool
// and no wake-up per directory, which is what made the earlier attempts slower (README).
//
// The threads make no N-API call and touch no JavaScript value. close() (or the object's
// finalizer, or the environment's teardown, whichever comes first) stops and joins them.
#include <napi.h>

#include "listing.h"
#include "threads.h"

#include <pthread.h>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace {

struct Job {
  uint32_t token;
  std::string path;
  uint64_t dev;
  uint64_t ino;
};

struct Done {
  uint32_t token;
  Listing listing;
};

// What the threads and the walk's thread share; owned jointly by the pool object and the
// environment's cleanup hook, so that neither outliving the other leaves a dangling pointer.
struct State {
  std::mutex m;
  std::condition_variable work;  // a thread waits for a job (or for room, below)
  std::condition_variable ready; // take() waits for a listing
  std::deque<Job> jobs;
  std::vector<Done> done;
  size_t doneBytes = 0;
  size_t running = 0;
  // Finished listings not yet taken are held to this many bytes: past it the threads wait, so
  // a walk that stops taking (a slow catalog) does not fill memory with listings.
  size_t maxDoneBytes = 0;
  bool stopping = false;
  std::vector<pthread_t> threads;
  bool joined = false;

  bool mayStart() const { return !jobs.empty() && doneBytes < maxDoneBytes; }

  // Stops the threads and waits for each to finish the listing it is in (microseconds with a
  // warm cache). Only ever called on the environment's thread; idempotent.
  void stop() {
    {
      std::lock_guard<std::mutex> lock(m);
      stopping = true;
      jobs.clear();
    }
    work.notify_all();
    if (joined) return;
    joined = true;
    for (pthread_t t : threads) pthread_join(t, nullptr);
    threads.clear();
    std::lock_guard<std::mutex> lock(m);
    done.clear();
    doneBytes = 0;
  }
};

void *threadMain(void *arg) {
  // The thread's own reference: the state lives at least as long as the thread.
  std::unique_ptr<std::shared_ptr<State>> own(static_cast<std::shared_ptr<State> *>(arg));
  State &s = **own;
  std::unique_lock<std::mutex> lock(s.m);
  for (;;) {
    s.work.wait(lock, [&s] { return s.stopping || s.mayStart(); });
    if (s.stopping) return nullptr;
    Job job = std::move(s.jobs.front());
    s.jobs.pop_front();
    s.running++;
    lock.unlock();
    Done d{job.token, Listing{}};
    listInto(job.path, job.dev, job.ino, d.listing);
    lock.lock();
    s.running--;
    s.doneBytes += d.listing.out.size();
    s.done.push_back(std::move(d));
    s.ready.notify_one();
  }
}

class ListPool : public Napi::ObjectWrap<ListPool> {
public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ListPool",
                       {
                           InstanceMethod<&ListPool::Add>("add"),
                           InstanceMethod<&ListPool::Take>("take"),
                           InstanceMethod<&ListPool::Close>("close"),
                           InstanceAccessor<&ListPool::Threads>("threads"),
                       });
  }

  // new ListPool(threads: number, maxDoneBytes: number): `threads` may come out fewer (none
  // when the system would start none: the caller then lists on its own thread).
  ListPool(const Napi::CallbackInfo &info) : Napi::ObjectWrap<ListPool>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
      Napi::TypeError::New(env, "new ListPool(threads: number, maxDoneBytes: number)")
          .ThrowAsJavaScriptException();
      return;
    }
    int want = info[0].As<Napi::Number>().Int32Value();
    if (want < 0) want = 0;
    if (want > 64) want = 64;
    state_ = std::make_shared<State>();
    state_->maxDoneBytes = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
    state_->threads = startThreads(want, state_, threadMain);
    teardown_.arm(env, state_);
  }

  // The finalizer may run at the environment's teardown: it stops the threads but leaves the
  // cleanup hook registered (removing a hook then is what aborted Node 24, issue 11); the hook
  // frees its reference when it runs.
  ~ListPool() override {
    if (state_) state_->stop();
  }

private:
  std::shared_ptr<State> state_;
  StopAtTeardown<State> teardown_;

  Napi::Value Threads(const Napi::CallbackInfo &info) {
    return Napi::Number::New(info.Env(), state_ ? static_cast<double>(state_->threads.size()) : 0);
  }

  // add(token: number, path: Buffer, dev: bigint, ino: bigint): queues a directory (a path
  // below PATH_MAX, see src/fs/reach.ts) to be listed as listDir would.
  Napi::Value Add(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsBuffer() || !info[2].IsBigInt() ||
        !info[3].IsBigInt()) {
      Napi::TypeError::New(env, "add(token: number, path: Buffer, dev: bigint, ino: bigint)")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    std::string p;
    if (!pathArg(env, info[1], &p)) return env.Undefined();
    if (state_->threads.empty() || state_->joined) {
      Napi::Error::New(env, "ListPool: no thread to list with (closed?)")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    bool lossless;
    Job job{info[0].As<Napi::Number>().Uint32Value(), std::move(p),
            static_cast<uint64_t>(info[2].As<Napi::BigInt>().Int64Value(&lossless)),
            static_cast<uint64_t>(info[3].As<Napi::BigInt>().Int64Value(&lossless))};
    {
      std::lock_guard<std::mutex> lock(state_->m);
      state_->jobs.push_back(std::move(job));
    }
    state_->work.notify_one();
    return env.Undefined();
  }

  // take(wait: boolean): [token, Buffer | Error, token, Buffer | Error, …], every listing
  // finished so far, in the order they finished. With `wait`, waits for one when none is
  // finished and some are queued; [] when nothing is queued.
  Napi::Value Take(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    bool wait = info.Length() > 0 && info[0].ToBoolean().Value();
    std::vector<Done> got;
    bool freed;
    {
      std::unique_lock<std::mutex> lock(state_->m);
      if (wait && !state_->joined) {
        state_->ready.wait(lock, [this] {
          State &s = *state_;
          return !s.done.empty() || (s.jobs.empty() && s.running == 0);
        });
      }
      got.swap(state_->done);
      freed = state_->doneBytes >= state_->maxDoneBytes;
      state_->doneBytes = 0;
    }
    if (freed) state_->work.notify_all(); // the threads waiting for room may go on
    Napi::Array out = Napi::Array::New(env, got.size() * 2);
    uint32_t k = 0;
    for (Done &d : got) {
      out.Set(k++, Napi::Number::New(env, d.token));
      if (d.listing.errno_ != 0) {
        out.Set(k++, listingError(env, d.listing));
      } else {
        out.Set(k++, Napi::Buffer<uint8_t>::Copy(env, d.listing.out.data(), d.listing.out.size()));
      }
      std::vector<uint8_t>().swap(d.listing.out); // freed as soon as copied
    }
    return out;
  }

  Napi::Value Close(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (state_) state_->stop();
    teardown_.disarm(env);
    return env.Undefined();
  }
};

} // namespace

void InitListPool(Napi::Env env, Napi::Object exports) {
  exports.Set("ListPool", ListPool::Define(env));
}
