// Turns a --device flag (auto | cpu | cuda[:N] | rocm[:N] | mps | openvino | qnn) into a device plus the
// reason it was chosen; "auto" picks the first backend with an executor by priority.
#pragma once
#include <string>

#include "core/dtype.h"

namespace ia::cli {

struct DeviceChoice {
  Device device;
  std::string reason;
};

DeviceChoice resolve_device_flag(const std::string& flag);

}  // namespace ia::cli
