#include "core/thread_pool.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

// OpenMP (libgomp, which FAISS and oneDNN bring) runs the pool and oneDNN. Weak, so a binary without OpenMP
// links (its parallel_for then runs serially).
extern "C" void omp_set_num_threads(int) __attribute__((weak));

namespace ia {

int physical_core_count() {
  std::ifstream in("/proc/cpuinfo");
  std::set<std::pair<std::string, std::string>> cores;
  std::string line, phys = "0";
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
    std::string val = line.substr(std::min(line.size(), colon + 2));
    if (key == "physical id") phys = val;
    if (key == "core id") cores.insert({phys, val});
  }
  int n = static_cast<int>(cores.size());
  if (n <= 0) n = static_cast<int>(std::thread::hardware_concurrency());
  return std::max(1, n);
}

namespace {

thread_local bool in_parallel_region = false;

// The pool is OpenMP's team (libgomp, which oneDNN's kernels also run on), so the engine's kernels and oneDNN
// share one set of threads instead of two sets spinning against each other on the same cores.
class ThreadPool {
 public:
  explicit ThreadPool(int n) { resize(n); }

  int size() const { return size_.load(); }

  // Waits for a run in progress (run_mutex_).
  void resize(int n) {
    std::lock_guard<std::mutex> lock(run_mutex_);
    size_.store(std::max(1, n));
  }

  // Runs task(0 .. nchunks-1) on a team of up to size() threads, the calling thread included. The first exception
  // a chunk throws is rethrown here once every thread has left the task (the rest of the chunks are skipped).
  // One run at a time: callers on other threads wait.
  void run(int nchunks, const std::function<void(int)>& task) {
    std::lock_guard<std::mutex> lock(run_mutex_);
    std::atomic<int> next{0};
    std::mutex m;
    std::exception_ptr error;
    const int team = std::min(size_.load(), nchunks);
#pragma omp parallel num_threads(team)
    {
      in_parallel_region = true;
      for (int c = next.fetch_add(1); c < nchunks; c = next.fetch_add(1)) {
        try {
          task(c);
        } catch (...) {
          std::lock_guard<std::mutex> g(m);
          if (!error) error = std::current_exception();
          next.store(nchunks);  // no new chunks
        }
      }
      in_parallel_region = false;
    }
    if (error) std::rethrow_exception(error);
  }

 private:
  std::mutex run_mutex_;
  std::atomic<int> size_{1};
};

int default_threads() {
  if (const char* env = std::getenv("IA_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  return physical_core_count();
}

std::mutex pool_mutex;
int configured_threads = 0;

ThreadPool& pool() {
  static ThreadPool p([] {
    std::lock_guard<std::mutex> g(pool_mutex);
    if (configured_threads == 0) configured_threads = default_threads();
    openblas_set_num_threads(1);  // BLAS calls are split over the pool (backends/cpu/blas.h)
    if (omp_set_num_threads) omp_set_num_threads(configured_threads);
    return configured_threads;
  }());
  return p;
}

}  // namespace

int num_threads() { return pool().size(); }

void set_num_threads(int n) {
  n = std::max(1, n);
  {
    std::lock_guard<std::mutex> g(pool_mutex);
    configured_threads = n;
  }
  pool().resize(n);
  openblas_set_num_threads(1);
  if (omp_set_num_threads) omp_set_num_threads(n);
}

void parallel_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (end <= begin) return;
  const int64_t total = end - begin;
  grain = std::max<int64_t>(grain, 1);
  ThreadPool& p = pool();
  const int64_t max_chunks = std::min<int64_t>((total + grain - 1) / grain, int64_t(p.size()) * 4);
  if (in_parallel_region || p.size() == 1 || max_chunks <= 1) {
    fn(begin, end);
    return;
  }
  const int nchunks = static_cast<int>(max_chunks);
  const std::function<void(int)> task = [&](int c) {
    const int64_t lo = begin + total * c / nchunks;
    const int64_t hi = begin + total * (c + 1) / nchunks;
    if (lo < hi) fn(lo, hi);
  };
  p.run(nchunks, task);
}

}  // namespace ia
