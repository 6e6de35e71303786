// libFuzzer: config.json loading (non-finite tokens, nesting bound) and the typed accessors models use.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "io/config.h"

namespace {

template <class F>
void guarded(F&& f) {
  try {
    f();
  } catch (const ia::Error&) {
  }
}

void exercise(const ia::ModelConfig& c, int depth) {
  (void)c.model_type();
  (void)c.architectures();
  for (const char* k : {"hidden_size", "num_hidden_layers", "vocab_size", "num_attention_heads", "model_type", "x"}) {
    guarded([&] { (void)c.dim(k); });
    guarded([&] { (void)c.dim_or(k, 1, 0, 1 << 20); });
    guarded([&] { (void)c.number(k); });
    guarded([&] { (void)c.number_or(k, 0.5); });
    guarded([&] { (void)c.flag_or(k, false); });
    guarded([&] { (void)c.str(k); });
    guarded([&] { (void)c.str_or(k, "d"); });
  }
  if (depth < 3)
    for (const char* k : {"text_config", "vision_config", "encoder", "x"})
      guarded([&] { exercise(c.sub(k), depth + 1); });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const int fd = memfd_create("config.json", 0);
  static const std::string path = "/proc/self/fd/" + std::to_string(fd);
  if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) return 0;
  guarded([&] { exercise(ia::ModelConfig::load(path), 0); });
  return 0;
}
