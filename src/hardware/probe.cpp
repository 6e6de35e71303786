#include "hardware/probe.h"

#include <dlfcn.h>
#include <fcntl.h>
#if defined(__linux__)
#include <link.h>
#endif
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace ia::hw {

namespace fs = std::filesystem;

DynamicLibrary::~DynamicLibrary() {
  if (handle_) dlclose(handle_);
}

void* DynamicLibrary::symbol(const char* name) const { return handle_ ? dlsym(handle_, name) : nullptr; }

std::string describe_search(const ProbeEnv& env, const std::vector<std::string>& extra_dirs) {
  std::vector<std::string> searched;
  for (const auto* dirs : {&env.lib_dirs, &extra_dirs})
    for (const auto& d : *dirs)
      if (!d.empty()) searched.push_back(d);
  if (env.system_search) searched.push_back("system loader path");
  return searched.empty() ? std::string("nothing") : fmt::format("{}", fmt::join(searched, ", "));
}

std::optional<DynamicLibrary> DynamicLibrary::open(const ProbeEnv& env, const std::vector<std::string>& names,
                                                   const std::vector<std::string>& extra_dirs, std::string* error) {
  // RTLD_NODELETE: drivers register exit handlers; unloading them mid-process is a classic crash.
  constexpr int kFlags = RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE;
  std::vector<std::string> dirs = env.lib_dirs;
  dirs.insert(dirs.end(), extra_dirs.begin(), extra_dirs.end());
  std::vector<std::string> broken;  // files that exist but failed to load
  for (const auto& name : names) {
    for (const auto& dir : dirs) {
      if (dir.empty()) continue;
      const std::string path = dir + "/" + name;
      if (!path_exists(path)) continue;
      dlerror();
      if (void* h = dlopen(path.c_str(), kFlags)) return DynamicLibrary(h, path);
      const char* why = dlerror();
      broken.push_back(fmt::format("{} ({})", path, why ? why : "unknown dlopen error"));
    }
  }
  if (env.system_search) {
    for (const auto& name : names) {
      dlerror();
      void* h = dlopen(name.c_str(), kFlags);
      if (!h) {
        const char* why = dlerror();
        // "cannot open shared object file" is plain absence; anything else means a broken install.
        if (why && !std::strstr(why, "cannot open shared object file")) broken.push_back(why);
        continue;
      }
      std::string path = name;
#if defined(__linux__)
      struct link_map* lm = nullptr;
      if (dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 && lm && lm->l_name && lm->l_name[0]) path = lm->l_name;
#endif
      return DynamicLibrary(h, path);
    }
  }
  if (error) {
    std::string what;
    for (size_t i = 0; i < names.size(); ++i) what += (i ? " / " : "") + names[i];
    if (!broken.empty()) {
      *error = fmt::format("{} failed to load: {}", what, fmt::join(broken, "; "));
    } else {
      *error = fmt::format("{} not found (searched: {})", what, describe_search(env, extra_dirs));
    }
  }
  return std::nullopt;
}

namespace {

bool write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += size_t(n);
  }
  return true;
}

BackendReport probe_in_process(DeviceType type, const std::function<BackendReport()>& probe) {
  try {
    return probe();
  } catch (const std::exception& e) {
    return BackendReport::unavailable(type, std::string("probe failed: ") + e.what());
  }
}

}  // namespace

BackendReport run_probe(DeviceType type, const ProbeEnv& env, const std::function<BackendReport()>& probe) {
  if (!env.isolate) return probe_in_process(type, probe);
  int fds[2];
  if (pipe(fds) != 0 || fcntl(fds[0], F_SETFD, FD_CLOEXEC) != 0 || fcntl(fds[1], F_SETFD, FD_CLOEXEC) != 0) {
    BackendReport r = probe_in_process(type, probe);
    r.notes.push_back(fmt::format("probe ran in-process (pipe: {})", std::strerror(errno)));
    return r;
  }
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    BackendReport r = probe_in_process(type, probe);
    r.notes.push_back(fmt::format("probe ran in-process (fork: {})", std::strerror(errno)));
    return r;
  }
  if (pid == 0) {  // child: probe, send the report, leave without running exit handlers
    ::close(fds[0]);
    const std::string out = probe_in_process(type, probe).to_json().dump();
    _exit(write_all(fds[1], out) ? 0 : 3);
  }
  ::close(fds[1]);
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + std::chrono::milliseconds(env.timeout_ms);
  std::string data;
  bool timed_out = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int rc = poll(&p, 1, int(left));
    if (rc < 0 && errno == EINTR) continue;
    if (rc == 0) continue;  // re-check the deadline
    char buf[4096];
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the child is done (or died)
    data.append(buf, size_t(n));
  }
  ::close(fds[0]);
  int status = 0;
  if (timed_out) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return BackendReport::unavailable(type, fmt::format("probe timed out after {} ms (runtime did not answer; "
                                                        "IA_PROBE_TIMEOUT_MS raises the limit)",
                                                        env.timeout_ms));
  }
  // EOF came; the child exits right after writing. Bound the wait anyway.
  const auto reap_deadline = clock::now() + std::chrono::milliseconds(1000);
  pid_t w = 0;
  while ((w = waitpid(pid, &status, WNOHANG)) == 0 && clock::now() < reap_deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (w == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  if (w > 0 && WIFSIGNALED(status))
    return BackendReport::unavailable(type, fmt::format("probe crashed: signal {} ({}) inside the vendor library",
                                                        WTERMSIG(status), strsignal(WTERMSIG(status))));
  try {
    return BackendReport::from_json(nlohmann::json::parse(data));
  } catch (const std::exception&) {
    const int code = (w > 0 && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
    return BackendReport::unavailable(
        type, fmt::format("probe exited (status {}) without a report; a vendor library ended the process", code));
  }
}

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::nullopt;
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) return std::nullopt;
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\0'))
    s.pop_back();
  return s;
}

std::optional<int64_t> read_int(const std::string& path) {
  auto s = read_text(path);
  if (!s || s->empty()) return std::nullopt;
  try {
    size_t used = 0;
    const long long v = std::stoll(*s, &used, 0);
    if (used != s->size()) return std::nullopt;
    return int64_t(v);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

bool path_exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

std::vector<std::string> list_dir(const std::string& path) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec))
    out.push_back(it->path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace ia::hw
