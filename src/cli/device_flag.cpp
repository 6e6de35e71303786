#include "cli/device_flag.h"

#include "backends/registry.h"
#include "core/dispatch.h"
#include "core/error.h"

namespace ia::cli {

namespace {
bool has_executor(DeviceType t) {
  for (auto* op : all_op_tables())
    if (op->has(t)) return true;
  return false;
}
}  // namespace

DeviceChoice resolve_device_flag(const std::string& flag) {
  if (flag == "auto") return {Device::cpu(), "auto: cpu (no other backend with an executor in this build)"};
  Device d = Device::parse(flag);
  IA_CHECK(has_executor(d.type), ErrorKind::Unsupported, "device {}: no executor in this build", d.str());
  // A backend's init hook fails with "<device>: not available (<reason>)" when this machine cannot run it.
  if (auto init = executor_init(d.type)) init(d.index);
  return {d, "requested"};
}

}  // namespace ia::cli
