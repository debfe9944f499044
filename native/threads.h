// Starting and stopping a pool's threads (native/list-pool.cc, native/hash-pool.cc): each thread
// holds its own reference to the pool's state, so that the state outlives every thread, none
// takes a signal (SIGINT and the rest stay with Node's own thread), and the environment's
// teardown stops them if nothing did before.
#pragma once

#include <napi.h>
#include <pthread.h>
#include <signal.h>

#include <memory>
#include <vector>

// Starts up to `want` threads running `main`, whose argument is a new std::shared_ptr<S> to
// `state` that `main` takes over (and deletes). Fewer start where the system refuses more
// (EAGAIN): the caller works with those started.
template <typename S>
std::vector<pthread_t> startThreads(int want, const std::shared_ptr<S> &state,
                                    void *(*main)(void *)) {
  std::vector<pthread_t> started;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  for (int i = 0; i < want; i++) {
    auto *arg = new std::shared_ptr<S>(state);
    pthread_t t;
    if (pthread_create(&t, nullptr, main, arg) != 0) {
      delete arg;
      break;
    }
    started.push_back(t);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return started;
}

// Stops a pool's threads (S::stop(), idempotent) when the environment is torn down, if nothing
// stopped them before. The hook holds its own reference to the state. A pool's finalizer may
// run during the teardown, when removing a hook aborted Node 24 (issue 11): so only close(),
// called from JavaScript while the environment is alive, removes it; otherwise the hook frees
// its reference when it runs.
template <typename S> class StopAtTeardown {
public:
  void arm(napi_env env, const std::shared_ptr<S> &state) {
    arg_ = new std::shared_ptr<S>(state);
    if (napi_add_env_cleanup_hook(env, run, arg_) != napi_ok) {
      delete arg_;
      arg_ = nullptr;
    }
  }
  // From close() only (see above).
  void disarm(napi_env env) {
    if (arg_ == nullptr) return;
    napi_remove_env_cleanup_hook(env, run, arg_);
    delete arg_;
    arg_ = nullptr;
  }

private:
  static void run(void *arg) {
    std::unique_ptr<std::shared_ptr<S>> own(static_cast<std::shared_ptr<S> *>(arg));
    (*own)->stop();
  }
  std::shared_ptr<S> *arg_ = nullptr;
};
