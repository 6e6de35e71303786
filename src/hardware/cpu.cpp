// CPU detector: /proc/cpuinfo (vendor, model, ISA flags), sysfs (topology, caches, NUMA), /proc/meminfo and the
// cgroup memory limit. The CPU backend is always built; it is unavailable only if this CPU lacks the ISA the
// build was compiled for.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "backends/registry.h"
#include "hardware/hardware.h"
#include "hardware/probe.h"

namespace ia::hw {

namespace {

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

// One "key : value" map per processor block of /proc/cpuinfo.
std::vector<std::map<std::string, std::string>> parse_cpuinfo(const std::string& text) {
  std::vector<std::map<std::string, std::string>> blocks(1);
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (trim(line).empty()) {
      if (!blocks.back().empty()) blocks.emplace_back();
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    blocks.back()[trim(line.substr(0, colon))] = trim(line.substr(colon + 1));
  }
  if (blocks.back().empty()) blocks.pop_back();
  return blocks;
}

// "0-3,8,10-11" -> {0,1,2,3,8,10,11}
std::vector<int> parse_cpu_list(const std::string& s) {
  std::vector<int> out;
  std::istringstream in(s);
  std::string part;
  while (std::getline(in, part, ',')) {
    part = trim(part);
    if (part.empty()) continue;
    try {
      const size_t dash = part.find('-');
      const int a = std::stoi(part.substr(0, dash));
      const int b = dash == std::string::npos ? a : std::stoi(part.substr(dash + 1));
      for (int i = a; i <= b && i - a < 65536; ++i) out.push_back(i);
    } catch (const std::exception&) {
      return {};
    }
  }
  return out;
}

// "48K" / "32768K" / "2M" -> bytes
uint64_t parse_cache_size(const std::string& s) {
  if (s.empty()) return 0;
  try {
    size_t used = 0;
    uint64_t v = std::stoull(s, &used);
    const char unit = used < s.size() ? s[used] : 'B';
    if (unit == 'K') v <<= 10;
    if (unit == 'M') v <<= 20;
    if (unit == 'G') v <<= 30;
    return v;
  } catch (const std::exception&) {
    return 0;
  }
}

std::map<std::string, uint64_t> parse_meminfo(const std::string& text) {
  std::map<std::string, uint64_t> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::istringstream v(line.substr(colon + 1));
    uint64_t n = 0;
    std::string unit;
    if (!(v >> n)) continue;
    v >> unit;
    out[line.substr(0, colon)] = unit == "kB" ? n * 1024 : n;
  }
  return out;
}

// The ISA extensions worth reporting, as spelled in /proc/cpuinfo flags (x86) and Features (Arm).
const std::vector<std::pair<std::string, std::string>>& isa_flags() {
  static const std::vector<std::pair<std::string, std::string>> flags = {
      {"sse4_2", "sse4.2"},         {"avx", "avx"},
      {"avx2", "avx2"},             {"fma", "fma"},
      {"f16c", "f16c"},             {"avx512f", "avx512f"},
      {"avx512cd", "avx512cd"},     {"avx512bw", "avx512bw"},
      {"avx512dq", "avx512dq"},     {"avx512vl", "avx512vl"},
      {"avx512ifma", "avx512ifma"}, {"avx512vbmi", "avx512vbmi"},
      {"avx512_vnni", "avx512_vnni"}, {"avx512_bf16", "avx512_bf16"},
      {"avx512_fp16", "avx512_fp16"}, {"avx_vnni", "avx_vnni"},
      {"amx_tile", "amx_tile"},     {"amx_bf16", "amx_bf16"},
      {"amx_int8", "amx_int8"},     {"asimd", "neon"},
      {"asimdhp", "neon_fp16"},     {"asimddp", "neon_dotprod"},
      {"i8mm", "i8mm"},             {"bf16", "bf16"},
      {"sve", "sve"},               {"sve2", "sve2"},
      {"sme", "sme"},
  };
  return flags;
}

// The ISA this binary was compiled to require (from the compiler's predefined macros).
std::vector<std::string> build_required_isa() {
  std::vector<std::string> req;
#if defined(__AVX2__)
  req.push_back("avx2");
#endif
#if defined(__FMA__)
  req.push_back("fma");
#endif
#if defined(__F16C__)
  req.push_back("f16c");
#endif
#if defined(__AVX512F__)
  req.push_back("avx512f");
#endif
  return req;
}

}  // namespace

BackendReport detect_cpu(const ProbeEnv& env) {
  BackendReport r;
  r.type = DeviceType::CPU;
  const std::string cpu_dir = env.sysfs_root + "/devices/system/cpu";

  const auto cpuinfo_text = read_text(env.procfs_root + "/cpuinfo");
  const auto blocks = parse_cpuinfo(cpuinfo_text.value_or(""));
  std::map<std::string, std::string> first;
  for (const auto& b : blocks)
    if (b.count("processor")) {
      first = b;
      break;
    }
  if (first.empty() && !blocks.empty()) first = blocks.front();
  // Arm kernels print a trailing block (Hardware, Serial) without "processor".
  std::string vendor = first.count("vendor_id") ? first["vendor_id"] : "";
  std::string model = first.count("model name") ? first["model name"] : "";
  if (vendor.empty() && first.count("CPU implementer")) vendor = "arm implementer " + first["CPU implementer"];
  if (model.empty() && first.count("CPU part")) model = "part " + first["CPU part"];
  for (const auto& b : blocks)
    if (model.empty() && b.count("Hardware")) model = b.at("Hardware");
  std::set<std::string> flags;
  {
    std::istringstream in(first.count("flags") ? first["flags"] : first.count("Features") ? first["Features"] : "");
    std::string f;
    while (in >> f) flags.insert(f);
  }

  // Logical CPUs: sysfs online list, else cpuinfo processor count, else what the C++ runtime sees.
  std::vector<int> online = parse_cpu_list(read_text(cpu_dir + "/online").value_or(""));
  int logical = int(online.size());
  if (logical == 0)
    for (const auto& b : blocks) logical += b.count("processor") ? 1 : 0;
  if (logical == 0) logical = int(std::thread::hardware_concurrency());
  if (online.empty())
    for (int i = 0; i < logical; ++i) online.push_back(i);

  // Physical cores and sockets: unique (package, core) pairs from sysfs topology, else cpuinfo.
  std::set<std::pair<int64_t, int64_t>> cores;
  std::set<int64_t> packages;
  for (int cpu : online) {
    const std::string t = fmt::format("{}/cpu{}/topology/", cpu_dir, cpu);
    auto pkg = read_int(t + "physical_package_id");
    auto core = read_int(t + "core_id");
    if (!pkg || !core) {
      cores.clear();
      packages.clear();
      break;
    }
    cores.insert({*pkg, *core});
    packages.insert(*pkg);
  }
  if (cores.empty())
    for (const auto& b : blocks)
      if (b.count("physical id") && b.count("core id")) {
        try {
          cores.insert({std::stoll(b.at("physical id")), std::stoll(b.at("core id"))});
          packages.insert(std::stoll(b.at("physical id")));
        } catch (const std::exception&) {
        }
      }
  const int physical = cores.empty() ? logical : int(cores.size());

  // Caches as seen by the first online CPU (per-core L1/L2, shared L3).
  nlohmann::json caches = nlohmann::json::object();
  const std::string cache_dir = fmt::format("{}/cpu{}/cache", cpu_dir, online.empty() ? 0 : online.front());
  for (const auto& idx : list_dir(cache_dir)) {
    if (idx.rfind("index", 0) != 0) continue;
    auto level = read_int(cache_dir + "/" + idx + "/level");
    auto type = read_text(cache_dir + "/" + idx + "/type");
    const uint64_t size = parse_cache_size(read_text(cache_dir + "/" + idx + "/size").value_or(""));
    if (!level || !type || size == 0) continue;
    std::string key = fmt::format("L{}", *level);
    if (*type == "Data") key += "d";
    if (*type == "Instruction") key += "i";
    caches[key] = size;
  }

  // Memory: meminfo, capped by a cgroup v2 limit when one is set (containers).
  const auto mem = parse_meminfo(read_text(env.procfs_root + "/meminfo").value_or(""));
  uint64_t total = mem.count("MemTotal") ? mem.at("MemTotal") : 0;
  uint64_t avail = mem.count("MemAvailable") ? mem.at("MemAvailable") : (mem.count("MemFree") ? mem.at("MemFree") : 0);
  if (auto limit = read_int(env.sysfs_root + "/fs/cgroup/memory.max"); limit && *limit > 0 &&
                                                                      (total == 0 || uint64_t(*limit) < total)) {
    const uint64_t used = uint64_t(read_int(env.sysfs_root + "/fs/cgroup/memory.current").value_or(0));
    const uint64_t lim = uint64_t(*limit);
    r.capabilities["cgroup_memory_limit"] = lim;
    total = lim;
    avail = std::min(avail, used < lim ? lim - used : 0);
  }

  int numa = 0;
  for (const auto& n : list_dir(env.sysfs_root + "/devices/system/node"))
    if (n.size() > 4 && n.rfind("node", 0) == 0 && std::isdigit(static_cast<unsigned char>(n[4]))) ++numa;

  std::vector<std::string> isa;
  for (const auto& [flag, name] : isa_flags())
    if (flags.count(flag)) isa.push_back(name);

  r.capabilities["vendor"] = vendor;
  r.capabilities["model"] = model;
  r.capabilities["sockets"] = packages.empty() ? 1 : int(packages.size());
  r.capabilities["physical_cores"] = physical;
  r.capabilities["logical_cores"] = logical;
  r.capabilities["isa"] = isa;
  r.capabilities["caches"] = caches;
  r.capabilities["numa_nodes"] = numa == 0 ? 1 : numa;
  if (!cpuinfo_text) r.notes.push_back(fmt::format("{}/cpuinfo unreadable: vendor, model and ISA unknown", env.procfs_root));

  DeviceInfo d;
  d.index = 0;
  d.name = model.empty() ? "cpu" : model;
  d.total_memory = total;
  d.free_memory = avail;
  r.devices.push_back(d);

  // A binary built for x86-64-v3 would fault on an older CPU; say so instead of running.
  std::vector<std::string> missing;
  if (cpuinfo_text && !flags.empty())
    for (const auto& f : build_required_isa())
      if (!flags.count(f)) missing.push_back(f);
  r.capabilities["build_requires"] = build_required_isa();
  r.available = missing.empty();
  if (!r.available)
    r.why_not = fmt::format("this build requires {} but the CPU lacks {} (rebuild with -DIA_NATIVE_X86_64_V3=OFF)",
                            fmt::join(build_required_isa(), ", "), fmt::join(missing, ", "));
  return r;
}

}  // namespace ia::hw

IA_REGISTER_BACKEND(cpu, ::ia::DeviceType::CPU, ::ia::hw::detect_cpu)
