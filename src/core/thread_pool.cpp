#include "core/thread_pool.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

// OpenMP (libgomp, which FAISS and oneDNN bring) runs oneDNN's threads. Weak, so a binary without OpenMP links.
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

class ThreadPool {
 public:
  explicit ThreadPool(int n) { resize(n); }
  ~ThreadPool() { stop(); }

  int size() const { return size_.load(); }

  // Waits for a run in progress (run_mutex_), so callers on other threads never see a half-built pool.
  void resize(int n) {
    std::lock_guard<std::mutex> lock(run_mutex_);
    stop();
    stopping_ = false;
    for (int i = 1; i < n; ++i) workers_.emplace_back([this, i] { loop(i); });
    size_.store(static_cast<int>(workers_.size()) + 1);
  }

  // Runs task(0 .. nchunks-1) on the workers and the calling thread. The first exception a chunk throws is
  // rethrown here once every thread has left the task (the rest of the chunks are skipped), so `task` and what
  // it refers to outlive every use.
  void run(int nchunks, const std::function<void(int)>& task) {
    std::unique_lock<std::mutex> lock(run_mutex_);
    {
      std::lock_guard<std::mutex> g(m_);
      task_ = &task;
      nchunks_ = nchunks;
      next_.store(0);
      error_ = nullptr;
      pending_ = static_cast<int>(workers_.size());
      ++generation_;
    }
    cv_.notify_all();
    work();
    std::unique_lock<std::mutex> g(m_);
    done_cv_.wait(g, [this] { return pending_ == 0; });
    task_ = nullptr;
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }

 private:
  void work() {
    in_parallel_region = true;
    for (int c = next_.fetch_add(1); c < nchunks_; c = next_.fetch_add(1)) {
      try {
        (*task_)(c);
      } catch (...) {
        std::lock_guard<std::mutex> g(m_);
        if (!error_) error_ = std::current_exception();
        next_.store(nchunks_);  // no new chunks
      }
    }
    in_parallel_region = false;
  }

  void loop(int) {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> g(m_);
        cv_.wait(g, [&] { return stopping_ || generation_ != seen; });
        if (stopping_) return;
        seen = generation_;
      }
      work();
      std::lock_guard<std::mutex> g(m_);
      if (--pending_ == 0) done_cv_.notify_one();
    }
  }

  void stop() {
    {
      std::lock_guard<std::mutex> g(m_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  std::vector<std::thread> workers_;
  std::mutex m_, run_mutex_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int)>* task_ = nullptr;
  int nchunks_ = 0;
  std::atomic<int> next_{0};
  int pending_ = 0;
  std::exception_ptr error_;  // the first chunk's exception of the current run (guarded by m_)
  std::atomic<int> size_{1};
  uint64_t generation_ = 0;
  bool stopping_ = false;
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
    openblas_set_num_threads(configured_threads);
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
  openblas_set_num_threads(n);
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
