// libFuzzer: tokenizer.json -> pipeline build (normalizer, pre-tokenizer, model, post-processor, decoder), then
// encode/decode of fixed texts and of the input itself.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "text/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string content(reinterpret_cast<const char*>(data), size);
  try {
    ia::text::Tokenizer tok = ia::text::Tokenizer::from_json_string(content, "fuzz/tokenizer.json");
    for (const std::string& text : {std::string("Hello world! It's 2024, na\xC3\xAFve caf\xC3\xA9 \xE4\xBD\xA0\xE5\xA5\xBD  <s>[CLS]"),
                                    std::string("\xFF\xFE broken \xC3"), content.substr(0, 256)}) {
      ia::text::Encoding e = tok.encode(text);
      (void)tok.decode(e.ids, false);
      (void)tok.decode(e.ids, true);
    }
    (void)tok.encode_pair("a b", "c d");
    (void)tok.vocab_size();
  } catch (const ia::Error&) {
  }
  return 0;
}
