// Turns a --device flag (auto | cpu | cuda[:N] | rocm[:N] | mps | openvino | qnn) into a device through the
// hardware layer's select_device(), keeping the decision (requested, used, reason) for the run's record.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "core/dtype.h"

namespace ia::cli {

struct DeviceChoice {
  Device device;
  std::string reason;       // one line: why this device
  nlohmann::json decision;  // DeviceDecision::to_json(): requested, used, reason, fell_back, skipped
};

// allow_fallback = false: an explicit device that cannot run here is an error (what --no-fallback and the test
// runner's per-backend columns need); "auto" always picks among executing backends.
DeviceChoice resolve_device_flag(const std::string& flag, bool allow_fallback = false);

}  // namespace ia::cli
