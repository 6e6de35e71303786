// `ipfs-accelerate hardware`: what every backend detected on this machine (available, devices, memory,
// capabilities, why not, executor in this build), the device priority, and what --device would choose.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <iostream>

#include "backends/registry.h"
#include "cli/command.h"
#include "core/error.h"
#include "hardware/hardware.h"
#include "hardware/select.h"

namespace {

using ia::hw::format_bytes;

struct Args {
  std::string device = "auto";
  bool no_fallback = false;
  std::string memory;  // "30GiB", "512M", "1073741824"
  std::vector<std::string> ops;
};

uint64_t parse_size(const std::string& s) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  IA_CHECK(used > 0 && v >= 0 && std::isfinite(v), ia::ErrorKind::InvalidArgument,
           "--memory '{}': expected a size such as 1073741824, 512MiB or 30G", s);
  std::string unit = s.substr(used);
  if (unit.size() > 1 && (unit.back() == 'B' || unit.back() == 'b')) unit.pop_back();
  if (unit.size() > 1 && unit.back() == 'i') unit.pop_back();
  double mul = 1;
  if (unit == "" || unit == "B") mul = 1;
  else if (unit == "K" || unit == "k") mul = 1024.0;
  else if (unit == "M") mul = 1024.0 * 1024;
  else if (unit == "G") mul = 1024.0 * 1024 * 1024;
  else if (unit == "T") mul = 1024.0 * 1024 * 1024 * 1024;
  else ia::fail(ia::ErrorKind::InvalidArgument, "--memory '{}': unknown unit '{}' (B, K, M, G, T; KiB etc.)", s, unit);
  return uint64_t(v * mul);
}

std::string json_scalar(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    std::vector<std::string> parts;
    for (const auto& e : v) parts.push_back(json_scalar(e));
    return fmt::format("{}", fmt::join(parts, " "));
  }
  return v.dump();
}

std::string caps_str(const nlohmann::json& caps) {
  std::vector<std::string> parts;
  for (auto it = caps.begin(); it != caps.end(); ++it) parts.push_back(it.key() + "=" + json_scalar(it.value()));
  return fmt::format("{}", fmt::join(parts, ", "));
}

std::string memory_cell(const ia::hw::BackendReport& r) {
  uint64_t free_b = 0, total_b = 0;
  for (const auto& d : r.devices) {
    free_b += d.free_memory;
    total_b += d.total_memory;
  }
  if (total_b == 0) return "-";
  return free_b ? fmt::format("{} / {}", format_bytes(free_b), format_bytes(total_b)) : format_bytes(total_b);
}

void print_cpu_details(const ia::hw::BackendReport& r) {
  const auto& c = r.capabilities;
  fmt::print("cpu:      {} ({}), {} socket(s), {} physical / {} logical cores, {} NUMA node(s)\n",
             c.value("model", std::string("?")), c.value("vendor", std::string("?")), c.value("sockets", 0),
             c.value("physical_cores", 0), c.value("logical_cores", 0), c.value("numa_nodes", 0));
  fmt::print("          ISA: {}\n", json_scalar(c.value("isa", nlohmann::json::array())));
  std::vector<std::string> caches;
  for (auto it = c["caches"].begin(); it != c["caches"].end(); ++it)
    caches.push_back(it.key() + " " + format_bytes(it.value().get<uint64_t>()));
  fmt::print("          caches (per core, L3 shared): {}\n", caches.empty() ? "unknown" : fmt::format("{}", fmt::join(caches, ", ")));
  if (!r.devices.empty())
    fmt::print("          RAM: {} available of {}{}\n", format_bytes(r.devices[0].free_memory),
               format_bytes(r.devices[0].total_memory), c.contains("cgroup_memory_limit") ? " (cgroup limit)" : "");
  fmt::print("          build requires: {}\n", json_scalar(c.value("build_requires", nlohmann::json::array())));
}

void print_text(const std::vector<ia::BackendStatus>& statuses, const ia::DevicePriority& prio) {
  fmt::print("{:<9} {:<10} {:<27} {:<8} {}\n", "BACKEND", "AVAILABLE", "EXECUTOR", "DEVICES", "MEMORY (free / total)");
  for (const auto& s : statuses)
    fmt::print("{:<9} {:<10} {:<27} {:<8} {}\n", ia::device_type_name(s.report.type), s.report.available ? "yes" : "no",
               s.executor_summary(), s.report.devices.size(), memory_cell(s.report));
  fmt::print("\n");
  for (const auto& s : statuses) {
    const auto& r = s.report;
    const std::string name = ia::device_type_name(r.type);
    if (r.type == ia::DeviceType::CPU) {
      print_cpu_details(r);
    } else {
      std::string head = r.available ? "available" : "not available: " + r.why_not;
      if (!r.version.empty()) head += fmt::format(" [version {}]", r.version);
      fmt::print("{:<9} {}\n", name + ":", head);
      if (!r.capabilities.empty()) fmt::print("          {}\n", caps_str(r.capabilities));
      for (const auto& d : r.devices) {
        std::string mem = d.total_memory ? format_bytes(d.total_memory) : "memory unknown";
        if (d.free_memory) mem = format_bytes(d.free_memory) + " free of " + mem;
        fmt::print("          [{}] {}: {}{}{}\n", d.index, d.name.empty() ? "?" : d.name, mem,
                   d.capabilities.empty() ? "" : ", ", caps_str(d.capabilities));
      }
    }
    if (!s.has_executor) fmt::print("          executor: no executor in this build\n");
    for (const auto& n : r.notes) fmt::print("          note: {}\n", n);
  }
  fmt::print("\ndevice priority ({}): {}\n", prio.source, ia::priority_str(prio.order));
}

void run(const Args& a) {
  const bool json = ia::cli::globals().json;
  const auto& statuses = ia::backend_statuses();
  const ia::DevicePriority prio = ia::device_priority();
  ia::SelectionRequest req;
  req.device = a.device;
  req.allow_fallback = !a.no_fallback;
  req.ops = a.ops;
  req.memory_bytes = a.memory.empty() ? 0 : parse_size(a.memory);
  nlohmann::json selection;
  std::string selection_error;
  try {
    selection = ia::select_device(req, statuses, prio.order).to_json();
  } catch (const ia::Error& e) {
    selection_error = e.what();
    selection = {{"requested", a.device}, {"error", selection_error}};
  }
  if (json) {
    const auto env = ia::hw::ProbeEnv::from_environment();
    nlohmann::json j;
    j["backends"] = nlohmann::json::array();
    for (const auto& s : statuses) j["backends"].push_back(s.to_json());
    j["priority"] = {{"order", nlohmann::json::array()}, {"source", prio.source}};
    for (auto t : prio.order) j["priority"]["order"].push_back(ia::device_type_name(t));
    j["selection"] = selection;
    j["probe"] = {{"lib_dirs", env.lib_dirs},       {"system_search", env.system_search},
                  {"sysfs_root", env.sysfs_root},   {"devfs_root", env.devfs_root},
                  {"procfs_root", env.procfs_root}, {"timeout_ms", env.timeout_ms},
                  {"isolate", env.isolate}};
    if (req.memory_bytes) j["selection"]["memory_bytes"] = req.memory_bytes;
    std::cout << j.dump(2) << "\n";
  } else {
    print_text(statuses, prio);
    if (selection_error.empty()) {
      // The reason's head (the skipped list follows it, printed one per line here).
      const std::string reason = selection["reason"].get<std::string>();
      fmt::print("--device {} -> {}{}\n  why: {}\n", a.device, selection["used"].get<std::string>(),
                 selection["fell_back"].get<bool>() ? " (fell back)" : "", reason.substr(0, reason.find("; skipped: ")));
      for (const auto& s : selection["skipped"]) fmt::print("  skipped {}\n", s.get<std::string>());
    }
  }
  if (!selection_error.empty()) {
    fmt::print(stderr, "error: {}\n", selection_error);
    ia::cli::set_exit_code(1);
  }
}

void setup(CLI::App& app) {
  auto args = std::make_shared<Args>();
  auto* c = app.add_subcommand("hardware", "Detect CPU, CUDA, ROCm, MPS, OpenVINO and QNN; show what --device picks");
  c->add_option("--device", args->device, "auto | cpu | cuda[:N] | rocm[:N] | mps | openvino | qnn")
      ->capture_default_str();
  c->add_flag("--no-fallback", args->no_fallback, "fail instead of falling back when --device cannot be used");
  c->add_option("--memory", args->memory, "memory the workload needs (e.g. 30GiB), checked against free memory");
  c->add_option("--ops", args->ops, "ops the workload needs (default: every op of this build)")->delimiter(',');
  c->add_flag("--json", ia::cli::globals().json, "machine-readable report");
  c->callback([args] { run(*args); });
}

}  // namespace

IA_REGISTER_COMMAND(hardware, 90, setup)
