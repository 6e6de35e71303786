#include "backends/registry.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <mutex>

#include "core/dispatch.h"

namespace ia {

namespace {

struct Registry {
  std::mutex mu;
  std::map<DeviceType, BackendEntry> entries;
};
Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

void register_backend(DeviceType type, BackendDetector detect) {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto& e = r.entries[type];
  e.type = type;
  e.detect = std::move(detect);
}

void register_executor_init(DeviceType type, ExecutorInit init) {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto& e = r.entries[type];
  e.type = type;
  e.init = std::move(init);
}

std::vector<BackendEntry> registered_backends() {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  std::vector<BackendEntry> out;
  for (const auto& [type, e] : r.entries)
    if (e.detect) out.push_back(e);
  return out;
}

ExecutorInit executor_init(DeviceType type) {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.entries.find(type);
  return it == r.entries.end() ? ExecutorInit() : it->second.init;
}

std::vector<std::string> all_op_names() {
  std::vector<std::string> out;
  for (const OpTableBase* t : all_op_tables()) out.push_back(t->name());
  return out;
}

std::set<std::string> ops_with_kernel(DeviceType type) {
  std::set<std::string> out;
  for (const OpTableBase* t : all_op_tables())
    if (t->has(type)) out.insert(t->name());
  return out;
}

std::vector<std::string> ops_applicable_to(DeviceType type, const std::vector<std::string>& ops) {
  std::vector<std::string> out;
  for (const auto& op : ops)
    if (type != DeviceType::CPU || (op != "to_host" && op != "from_host")) out.push_back(op);
  return out;
}

std::string BackendStatus::executor_summary() const {
  if (!has_executor) return "no executor in this build";
  if (ops.size() == total_ops) return fmt::format("yes ({}/{} ops)", ops.size(), total_ops);
  return fmt::format("partial ({}/{} ops)", ops.size(), total_ops);
}

nlohmann::json BackendStatus::to_json() const {
  nlohmann::json j = report.to_json();
  j["executor"] = has_executor;
  j["executor_summary"] = executor_summary();
  j["ops_with_kernel"] = ops;
  j["ops_total"] = total_ops;
  return j;
}

std::vector<BackendStatus> detect_backends(const hw::ProbeEnv& env) {
  const std::vector<std::string> all = all_op_names();
  std::vector<BackendStatus> out;
  for (const auto& e : registered_backends()) {
    BackendStatus s;
    s.report = e.detect(env);
    s.report.type = e.type;
    const auto applicable = ops_applicable_to(e.type, all);
    const auto with_kernel = ops_with_kernel(e.type);
    s.has_executor = !with_kernel.empty();
    for (const auto& op : applicable)
      if (with_kernel.count(op)) s.ops.insert(op);
    s.total_ops = applicable.size();
    out.push_back(std::move(s));
  }
  return out;
}

const std::vector<BackendStatus>& backend_statuses() {
  static const std::vector<BackendStatus> statuses = detect_backends(hw::ProbeEnv::from_environment());
  return statuses;
}

}  // namespace ia
