// Download progress on a terminal: one bar per file in flight plus a total, redrawn in place on stderr
// (at most ~10 times a second). Silent when stderr is not a terminal or when disabled.
#pragma once
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace ia {

class DownloadProgress {
 public:
  // enabled: draw when stderr is a terminal; total_files/total_bytes may grow via add_file().
  explicit DownloadProgress(bool enabled);
  ~DownloadProgress();

  int add_file(const std::string& name, int64_t size);  // size < 0: unknown
  void set_size(int id, int64_t size);
  void advance(int id, int64_t bytes);  // bytes received
  void set_done(int id, int64_t bytes);  // restart the count (a resumed or restarted transfer)
  void finish(int id);
  bool enabled() const { return enabled_; }

 private:
  struct Item {
    std::string name;
    int64_t size = -1, done = 0;
    bool finished = false;
  };
  void draw_locked(bool force);
  std::mutex mu_;
  bool enabled_;
  std::vector<Item> items_;
  int lines_drawn_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace ia
