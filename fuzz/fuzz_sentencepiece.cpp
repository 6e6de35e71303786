// libFuzzer: a sentencepiece tokenizer.model (protobuf ModelProto: pieces, trainer/normalizer specs) loaded as
// transformers' slow->fast conversion does, then encode/decode.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"
#include "text/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("ia-fuzz-sp-" + std::to_string(getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  {
    std::ofstream out(dir / "tokenizer.model", std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    ia::text::Tokenizer tok = ia::text::Tokenizer::from_dir(dir);
    ia::text::Encoding e = tok.encode("Hello world, na\xC3\xAFve \xE4\xBD\xA0\xE5\xA5\xBD 123");
    (void)tok.decode(e.ids);
  } catch (const ia::Error&) {
  }
  return 0;
}
