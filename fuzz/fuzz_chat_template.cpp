// libFuzzer: Jinja chat templates (parse + render against a fixed conversation). Input: the template text.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "text/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const nlohmann::ordered_json context = nlohmann::ordered_json::parse(R"({
    "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi <b>there</b>"},
                 {"role": "assistant", "content": "Hello!", "tool_calls": [{"name": "f", "arguments": {"x": 1}}]},
                 {"role": "user", "content": [{"type": "text", "text": "and"}, {"type": "image"}]}],
    "bos_token": "<s>", "eos_token": "</s>", "add_generation_prompt": true, "tools": [{"name": "f"}]})");
  try {
    ia::text::ChatTemplate t(std::string(reinterpret_cast<const char*>(data), size));
    (void)t.render(context);
  } catch (const ia::Error&) {
  }
  return 0;
}
