// The engine's thread pool: every index exactly once for any size and grain, nested calls serial, callers on
// several threads at once, resizing while others run, and an exception from a chunk reaching the caller with the
// pool intact. scripts/tsan-pool.sh runs these under ThreadSanitizer.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/thread_pool.h"

namespace {

struct Threads {  // restores the pool size a test changes
  int saved = ia::num_threads();
  ~Threads() { ia::set_num_threads(saved); }
};

void expect_each_index_once(int64_t n, int64_t grain) {
  std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
  ia::parallel_for(0, n, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
  });
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "n " << n << " grain " << grain << " i " << i;
}

}  // namespace

TEST(ThreadPool, EveryIndexExactlyOnce) {
  Threads t;
  for (int threads : {1, 2, 3, 4}) {
    ia::set_num_threads(threads);
    EXPECT_EQ(ia::num_threads(), threads);
    for (int64_t n : {1, 2, 7, 64, 1000, 4097})
      for (int64_t grain : {0, 1, 3, 100, 10000}) expect_each_index_once(n, grain);
  }
  int calls = 0;
  ia::parallel_for(5, 5, 1, [&](int64_t, int64_t) { ++calls; });
  EXPECT_EQ(calls, 0);
}

TEST(ThreadPool, NestedCallsRunSeriallyAndCoverTheRange) {
  Threads t;
  ia::set_num_threads(3);
  std::atomic<int64_t> sum{0};
  ia::parallel_for(0, 12, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i)
      ia::parallel_for(0, 100, 1, [&](int64_t a, int64_t b) {
        for (int64_t j = a; j < b; ++j) sum.fetch_add(i * 100 + j);
      });
  });
  EXPECT_EQ(sum.load(), 1200 * 1199 / 2);
}

TEST(ThreadPool, CallersOnSeveralThreadsTakeTurns) {
  Threads t;
  ia::set_num_threads(2);
  std::vector<std::thread> callers;
  std::atomic<int> wrong{0};
  for (int c = 0; c < 4; ++c)
    callers.emplace_back([&, c] {
      for (int rep = 0; rep < 200; ++rep) {
        std::atomic<int64_t> sum{0};
        ia::parallel_for(0, 257 + c, 1, [&](int64_t lo, int64_t hi) {
          for (int64_t i = lo; i < hi; ++i) sum.fetch_add(i);
        });
        if (sum.load() != int64_t(257 + c) * (256 + c) / 2) wrong.fetch_add(1);
      }
    });
  for (auto& th : callers) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(ThreadPool, ResizingWhileOtherThreadsRunIsSafe) {
  Threads t;
  std::atomic<bool> done{false};
  std::atomic<int> wrong{0};
  std::thread caller([&] {
    while (!done.load()) {
      std::atomic<int64_t> sum{0};
      ia::parallel_for(0, 1000, 10, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) sum.fetch_add(i);
      });
      if (sum.load() != 999 * 1000 / 2) wrong.fetch_add(1);
    }
  });
  for (int i = 0; i < 40; ++i) ia::set_num_threads(1 + i % 4);
  done.store(true);
  caller.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(ThreadPool, AnExceptionFromAChunkReachesTheCallerAndThePoolStaysUsable) {
  Threads t;
  ia::set_num_threads(3);
  for (int rep = 0; rep < 20; ++rep) {
    std::atomic<int> ran{0};
    EXPECT_THROW(ia::parallel_for(0, 64, 1,
                                  [&](int64_t lo, int64_t) {
                                    ran.fetch_add(1);
                                    if (lo == 16 * (rep % 4)) throw std::runtime_error("chunk failed");
                                  }),
                 std::runtime_error);
    EXPECT_GE(ran.load(), 1);
  }
  // Afterwards: still parallel (the caller is not left marked as inside a parallel region) and correct.
  std::mutex m;
  std::set<std::thread::id> ids;
  for (int rep = 0; rep < 50 && ids.size() < 2; ++rep)
    ia::parallel_for(0, 64, 1, [&](int64_t, int64_t) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      std::lock_guard<std::mutex> g(m);
      ids.insert(std::this_thread::get_id());
    });
  EXPECT_GE(ids.size(), 2u) << "the pool no longer runs chunks on its workers after an exception";
  expect_each_index_once(1000, 1);
}
