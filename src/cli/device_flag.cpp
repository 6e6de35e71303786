#include "cli/device_flag.h"

#include "hardware/select.h"

namespace ia::cli {

DeviceChoice resolve_device_flag(const std::string& flag, bool allow_fallback) {
  SelectionRequest req;
  req.device = flag;
  req.allow_fallback = allow_fallback;
  DeviceDecision d = select_device(req);
  return {d.used, d.summary(), d.to_json()};
}

}  // namespace ia::cli
