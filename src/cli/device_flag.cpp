#include "cli/device_flag.h"

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
  return {d, "requested"};
}

}  // namespace ia::cli
