// libFuzzer: Hub responses: the revision listing JSON, then model-file selection over the listed names with the
// input also served as the *.safetensors.index.json (weight_map) the selection reads.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "io/hub.h"
#include "io/safe_path.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> files = {"config.json", "model.safetensors.index.json", "model-00001.safetensors"};
  try {
    ia::RepoListing l = ia::parse_repo_listing(body, "https://hub.fuzz/api/models/x/revision/main");
    files.insert(files.end(), l.files.begin(), l.files.end());
  } catch (const ia::Error&) {
  }
  try {
    std::string note;
    for (const auto& f : ia::select_model_files(files, [&](const std::string&) { return body; }, &note))
      (void)ia::is_safe_relative_path(f);
  } catch (const ia::Error&) {
  }
  for (const auto& f : files) (void)ia::hub_glob_match("*.safetensors", f);
  return 0;
}
