#include "io/hub_progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>

namespace ia {

namespace {

std::string human(double bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  int u = 0;
  while (bytes >= 1000 && u < 4) bytes /= 1000, ++u;
  return u == 0 ? fmt::format("{:.0f} {}", bytes, units[u]) : fmt::format("{:.1f} {}", bytes, units[u]);
}

std::string bar(double frac, int width) {
  int full = std::clamp(int(frac * width + 0.5), 0, width);
  std::string s = "[";
  s.append(size_t(full), '#');
  s.append(size_t(width - full), '.');
  s += ']';
  return s;
}

int term_width() {
  winsize ws{};
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) return ws.ws_col;
  return 80;
}

}  // namespace

DownloadProgress::DownloadProgress(bool enabled)
    : enabled_(enabled && isatty(STDERR_FILENO)), start_(std::chrono::steady_clock::now()) {}

DownloadProgress::~DownloadProgress() {
  std::lock_guard<std::mutex> g(mu_);
  if (enabled_ && !items_.empty()) draw_locked(true);
}

int DownloadProgress::add_file(const std::string& name, int64_t size) {
  std::lock_guard<std::mutex> g(mu_);
  items_.push_back({name, size, 0, false});
  return int(items_.size()) - 1;
}

void DownloadProgress::set_size(int id, int64_t size) {
  std::lock_guard<std::mutex> g(mu_);
  items_[size_t(id)].size = size;
}

void DownloadProgress::advance(int id, int64_t bytes) {
  std::lock_guard<std::mutex> g(mu_);
  items_[size_t(id)].done += bytes;
  if (enabled_) draw_locked(false);
}

void DownloadProgress::set_done(int id, int64_t bytes) {
  std::lock_guard<std::mutex> g(mu_);
  items_[size_t(id)].done = bytes;
}

void DownloadProgress::finish(int id) {
  std::lock_guard<std::mutex> g(mu_);
  auto& it = items_[size_t(id)];
  it.finished = true;
  if (it.size < 0) it.size = it.done;
  if (enabled_) draw_locked(true);
}

void DownloadProgress::draw_locked(bool force) {
  auto now = std::chrono::steady_clock::now();
  if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  double secs = std::chrono::duration<double>(now - start_).count();
  int width = term_width() - 1;
  std::string out;
  for (int i = 0; i < lines_drawn_; ++i) out += "\x1b[1A";  // back to the first line we drew
  int lines = 0;
  int64_t total_size = 0, total_done = 0;
  size_t files_done = 0;
  bool total_known = true;
  auto line = [&](const std::string& s) {
    out += "\r\x1b[2K" + (int(s.size()) > width ? s.substr(0, size_t(width)) : s) + "\n";
    ++lines;
  };
  for (const auto& it : items_) {
    total_done += it.done;
    if (it.size < 0) total_known = false;
    else total_size += it.size;
    if (it.finished) {
      ++files_done;
      continue;
    }
    double frac = it.size > 0 ? double(it.done) / double(it.size) : 0.0;
    std::string name = it.name.size() > 32 ? "..." + it.name.substr(it.name.size() - 29) : it.name;
    line(fmt::format("{:<32} {} {:3.0f}% {}/{}", name, bar(frac, 24), 100 * frac, human(double(it.done)),
                     it.size >= 0 ? human(double(it.size)) : std::string("?")));
  }
  double tfrac = total_known && total_size > 0 ? double(total_done) / double(total_size) : 0.0;
  line(fmt::format("{:<32} {} {:3.0f}% {}/{} {}/s", fmt::format("total ({}/{} files)", files_done, items_.size()),
                   bar(tfrac, 24), 100 * tfrac, human(double(total_done)),
                   total_known ? human(double(total_size)) : std::string("?"),
                   human(secs > 0 ? double(total_done) / secs : 0.0)));
  for (int i = lines; i < lines_drawn_; ++i) out += "\r\x1b[2K\n";  // clear lines left over from before
  for (int i = lines; i < lines_drawn_; ++i) out += "\x1b[1A";
  lines_drawn_ = lines;
  std::fputs(out.c_str(), stderr);
  std::fflush(stderr);
}

}  // namespace ia
