#include "hardware/select.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <new>
#include <optional>
#include <set>

#include "core/error.h"
#include "hardware/probe.h"

namespace ia {

DeviceRequest DeviceRequest::parse(const std::string& s) {
  DeviceRequest r;
  if (s == "auto") return r;
  try {
    r.device = Device::parse(s);
  } catch (const Error&) {
    fail(ErrorKind::InvalidArgument,
         "invalid --device '{}': expected auto, cpu, cuda[:N], rocm[:N], mps, openvino or qnn", s);
  }
  r.is_auto = false;
  r.has_index = s.find(':') != std::string::npos;
  return r;
}

std::string DeviceRequest::str() const {
  if (is_auto) return "auto";
  return has_index ? device.str() : device_type_name(device.type);
}

nlohmann::json DeviceDecision::to_json() const {
  return {{"requested", requested}, {"used", used.str()}, {"reason", reason}, {"fell_back", fell_back},
          {"skipped", skipped}};
}

std::string DeviceDecision::summary() const {
  return fmt::format("{} (requested {}{}): {}", used.str(), requested, fell_back ? ", fell back" : "", reason);
}

// ---- priority -------------------------------------------------------------------------------------------------

std::vector<DeviceType> default_device_priority() {
  return {DeviceType::CUDA, DeviceType::ROCm, DeviceType::MPS, DeviceType::OpenVINO, DeviceType::QNN, DeviceType::CPU};
}

std::vector<DeviceType> parse_device_priority(const std::string& csv) {
  std::vector<DeviceType> out;
  std::string token;
  auto flush = [&] {
    if (token.empty()) return;
    std::string name = token;
    token.clear();
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    std::optional<DeviceType> type;
    for (int i = 0; i < kNumDeviceTypes; ++i)
      if (name == device_type_name(DeviceType(i))) type = DeviceType(i);
    IA_CHECK(type.has_value(), ErrorKind::InvalidArgument,
             "device priority '{}': unknown backend '{}' (expected cpu, cuda, rocm, mps, openvino, qnn)", csv, name);
    IA_CHECK(std::find(out.begin(), out.end(), *type) == out.end(), ErrorKind::InvalidArgument,
             "device priority '{}': '{}' listed twice", csv, name);
    out.push_back(*type);
  };
  for (char c : csv) {
    if (c == ',' || c == '>' || std::isspace(static_cast<unsigned char>(c)))
      flush();
    else
      token += c;
  }
  flush();
  IA_CHECK(!out.empty(), ErrorKind::InvalidArgument, "device priority '{}': no backend listed", csv);
  return out;
}

std::string priority_str(const std::vector<DeviceType>& order) {
  std::vector<std::string> names;
  for (auto t : order) names.push_back(device_type_name(t));
  return fmt::format("{}", fmt::join(names, " > "));
}

namespace {

std::string hardware_config_path(bool* explicit_path) {
  *explicit_path = false;
  if (const char* p = std::getenv("IA_HARDWARE_CONFIG"); p && *p) {
    *explicit_path = true;
    return p;
  }
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) return std::string(x) + "/ipfs-accelerate/hardware.json";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.config/ipfs-accelerate/hardware.json";
  return "";
}

}  // namespace

DevicePriority device_priority() {
  if (const char* p = std::getenv("IA_DEVICE_PRIORITY"); p && *p) return {parse_device_priority(p), "IA_DEVICE_PRIORITY"};
  bool explicit_path = false;
  const std::string path = hardware_config_path(&explicit_path);
  if (!path.empty() && hw::path_exists(path)) {
    nlohmann::json j;
    try {
      std::ifstream f(path);
      j = nlohmann::json::parse(f);
    } catch (const std::exception& e) {
      fail(ErrorKind::Format, "hardware config {}: not valid JSON: {}", path, e.what());
    }
    if (j.contains("device_priority")) {
      const auto& v = j["device_priority"];
      std::string csv;
      if (v.is_string()) {
        csv = v.get<std::string>();
      } else if (v.is_array()) {
        for (const auto& e : v) {
          IA_CHECK(e.is_string(), ErrorKind::Format, "hardware config {}: device_priority entries must be strings", path);
          csv += e.get<std::string>() + ",";
        }
      } else {
        fail(ErrorKind::Format, "hardware config {}: device_priority must be a list of backend names", path);
      }
      try {
        return {parse_device_priority(csv), path};
      } catch (const Error& e) {
        fail(ErrorKind::Format, "hardware config {}: {}", path, e.what());
      }
    }
  } else {
    IA_CHECK(!explicit_path, ErrorKind::NotFound, "IA_HARDWARE_CONFIG={}: file not found", path);
  }
  return {default_device_priority(), "default"};
}

// ---- ranking --------------------------------------------------------------------------------------------------

namespace {

struct Evaluation {
  std::vector<std::pair<Device, std::string>> fits;  // device, note
  std::vector<uint64_t> room;                        // per fit: memory it has (for ordering)
  std::vector<std::string> rejects;
  bool executing = false;  // available and has an executor
};

const BackendStatus* find_status(const std::vector<BackendStatus>& backends, DeviceType t) {
  for (const auto& b : backends)
    if (b.report.type == t) return &b;
  return nullptr;
}

Evaluation evaluate(DeviceType type, std::optional<int> index, const SelectionRequest& req,
                    const std::vector<BackendStatus>& backends, const std::vector<std::string>& required_ops) {
  Evaluation e;
  const std::string name = device_type_name(type);
  const BackendStatus* st = find_status(backends, type);
  if (!st) {
    e.rejects.push_back(name + ": no backend registered in this build");
    return e;
  }
  const auto& rep = st->report;
  if (!rep.available) {
    e.rejects.push_back(fmt::format("{}: not available: {}{}", name, rep.why_not,
                                    st->has_executor ? "" : "; no executor in this build"));
    return e;
  }
  if (!st->has_executor) {
    e.rejects.push_back(fmt::format("{}: detected ({} device{}), no executor in this build", name, rep.devices.size(),
                                    rep.devices.size() == 1 ? "" : "s"));
    return e;
  }
  e.executing = true;
  std::vector<std::string> missing;
  for (const auto& op : ops_applicable_to(type, required_ops))
    if (!st->ops.count(op)) missing.push_back(op);
  if (!missing.empty()) {
    e.rejects.push_back(fmt::format("{}: no {} kernel for op{} {}", name, name, missing.size() == 1 ? "" : "s",
                                    fmt::join(missing, ", ")));
    return e;
  }
  std::vector<const hw::DeviceInfo*> devices;
  for (const auto& d : rep.devices)
    if (!index || d.index == *index) devices.push_back(&d);
  if (devices.empty()) {
    e.rejects.push_back(index ? fmt::format("{}:{}: no such device ({} detected)", name, *index, rep.devices.size())
                              : fmt::format("{}: no device reported", name));
    return e;
  }
  for (const auto* d : devices) {
    const Device dev{type, d->index};
    const std::string label = d->name.empty() ? dev.str() : fmt::format("{} ({})", dev.str(), d->name);
    const uint64_t room = d->free_memory ? d->free_memory : d->total_memory;
    const char* kind = d->free_memory ? "free" : "total";
    std::string note = label;
    if (req.memory_bytes > 0) {
      if (room == 0) {
        note += fmt::format(", needs {}; device memory unknown, not checked", hw::format_bytes(req.memory_bytes));
      } else {
        const auto usable = uint64_t(double(room) * kUsableMemoryFraction);
        if (req.memory_bytes > usable) {
          e.rejects.push_back(fmt::format("{}: needs {}, only {} usable ({:.0f}% of {} {})", label,
                                          hw::format_bytes(req.memory_bytes), hw::format_bytes(usable),
                                          kUsableMemoryFraction * 100, hw::format_bytes(room), kind));
          continue;
        }
        note += fmt::format(", needs {} of {} usable", hw::format_bytes(req.memory_bytes), hw::format_bytes(usable));
      }
    }
    e.fits.push_back({dev, note});
    e.room.push_back(room);
  }
  // Several devices of one backend: most memory first (stable: lower index on ties).
  std::vector<size_t> order(e.fits.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return e.room[a] > e.room[b]; });
  Evaluation sorted = e;
  for (size_t i = 0; i < order.size(); ++i) {
    sorted.fits[i] = e.fits[order[i]];
    sorted.room[i] = e.room[order[i]];
  }
  return sorted;
}

}  // namespace

DeviceRanking rank_devices(const SelectionRequest& req, const std::vector<BackendStatus>& backends,
                           const std::vector<DeviceType>& priority) {
  const DeviceRequest dr = DeviceRequest::parse(req.device);
  const std::vector<std::string> required = req.ops.empty() ? all_op_names() : req.ops;
  DeviceRanking out;
  auto add = [&](const Evaluation& e, bool backend_passed_over) {
    for (const auto& r : e.rejects)
      out.skipped.push_back({r, out.candidates.size(), backend_passed_over && e.fits.empty()});
    for (const auto& fit : e.fits) {
      const auto& dev = fit.first;  // a named copy: clang 14 cannot capture a structured binding
      const bool dup = std::any_of(out.candidates.begin(), out.candidates.end(),
                                   [&](const DeviceRanking::Candidate& c) { return c.device == dev; });
      if (!dup) out.candidates.push_back({dev, fit.second});
    }
  };
  if (!dr.is_auto) {
    const Evaluation e = evaluate(dr.device.type, dr.has_index ? std::optional<int>(dr.device.index) : std::nullopt,
                                  req, backends, required);
    out.request_unusable = e.fits.empty();
    add(e, false);
    if (!req.allow_fallback) return out;
  }
  for (DeviceType t : priority) {
    Evaluation e = evaluate(t, std::nullopt, req, backends, required);
    if (!dr.is_auto && t == dr.device.type) {
      e.rejects.clear();  // already explained by the request's own evaluation; other devices remain fallbacks
    }
    add(e, e.executing);
  }
  return out;
}

namespace {

DeviceDecision make_decision(const SelectionRequest& req, const std::vector<DeviceType>& priority,
                             const DeviceRanking& rk, size_t k, const std::vector<std::string>& failures) {
  const DeviceRequest dr = DeviceRequest::parse(req.device);
  DeviceDecision d;
  d.requested = req.device;
  d.used = rk.candidates[k].device;
  bool passed_over = false;
  for (const auto& s : rk.skipped)
    if (s.before <= k) {
      d.skipped.push_back(s.reason);
      passed_over = passed_over || s.executing;
    }
  d.skipped.insert(d.skipped.end(), failures.begin(), failures.end());
  const std::string& note = rk.candidates[k].note;
  const std::string ops = req.ops.empty() ? std::string("every op of this build")
                                          : fmt::format("the {} op{} needed", req.ops.size(), req.ops.size() == 1 ? "" : "s");
  std::string head;
  if (!dr.is_auto && !rk.request_unusable && k == 0) {
    head = fmt::format("{} as requested", note);
  } else if (!dr.is_auto) {
    d.fell_back = true;
    head = fmt::format("requested {} could not be used; fell back to {} along priority order {}", dr.str(), note,
                       priority_str(priority));
  } else {
    d.fell_back = passed_over || k > 0;
    head = fmt::format("auto chose {}: first in priority order {} that is available and has kernels for {}", note,
                       priority_str(priority), ops);
  }
  d.reason = d.skipped.empty() ? head : fmt::format("{}; skipped: {}", head, fmt::join(d.skipped, "; "));
  return d;
}

std::string describe(const SelectionRequest& req) {
  return req.what.empty() ? std::string("this workload") : req.what;
}

}  // namespace

DeviceDecision select_device(const SelectionRequest& req, const std::vector<BackendStatus>& backends,
                             const std::vector<DeviceType>& priority) {
  const DeviceRanking rk = rank_devices(req, backends, priority);
  std::vector<std::string> reasons;
  for (const auto& s : rk.skipped) reasons.push_back(s.reason);
  if (!req.allow_fallback && rk.request_unusable)
    fail(ErrorKind::Unsupported, "--device {} cannot run {} and --no-fallback is set: {}", req.device, describe(req),
         fmt::join(reasons, "; "));
  if (rk.candidates.empty())
    fail(ErrorKind::Unsupported, "no device can run {} (--device {}, priority {}): {}", describe(req), req.device,
         priority_str(priority), fmt::join(reasons, "; "));
  DeviceDecision d = make_decision(req, priority, rk, 0, {});
  if (d.fell_back && !req.allow_fallback)
    fail(ErrorKind::Unsupported, "--no-fallback is set and {} would fall back: {}", describe(req), d.reason);
  return d;
}

DeviceDecision select_device(const SelectionRequest& req) {
  return select_device(req, backend_statuses(), device_priority().order);
}

DeviceDecision load_with_fallback(const SelectionRequest& req, const std::function<void(const Device&)>& load,
                                  const std::vector<BackendStatus>& backends, const std::vector<DeviceType>& priority) {
  select_device(req, backends, priority);  // throws the selection errors (nothing usable, --no-fallback)
  const DeviceRanking rk = rank_devices(req, backends, priority);
  std::vector<std::string> failures;
  const size_t tries = req.allow_fallback ? rk.candidates.size() : 1;
  for (size_t k = 0; k < tries; ++k) {
    const Device dev = rk.candidates[k].device;
    const char* stage = "init";
    ErrorKind kind = ErrorKind::Backend;
    std::string what;
    try {
      if (auto init = executor_init(dev.type)) init(dev.index);
      stage = "load";
      load(dev);
      return make_decision(req, priority, rk, k, failures);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::Backend && e.kind() != ErrorKind::OutOfMemory && e.kind() != ErrorKind::Unsupported)
        throw;
      kind = e.kind();
      what = e.what();
    } catch (const std::bad_alloc&) {
      kind = ErrorKind::OutOfMemory;
      what = "out of host memory (std::bad_alloc)";
    }
    failures.push_back(fmt::format("{}: {} failed: {}", dev.str(), stage, what));
    if (!req.allow_fallback)
      fail(kind, "{} failed at {} and --no-fallback is set: {}", dev.str(), stage, what);
  }
  fail(ErrorKind::Backend, "every candidate device failed for {}: {}", describe(req), fmt::join(failures, "; "));
}

DeviceDecision load_with_fallback(const SelectionRequest& req, const std::function<void(const Device&)>& load) {
  return load_with_fallback(req, load, backend_statuses(), device_priority().order);
}

}  // namespace ia
