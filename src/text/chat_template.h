// A small Jinja2 engine for the chat templates in tokenizer_config.json, configured as transformers renders
// them (trim_blocks, lstrip_blocks, tojson, raise_exception). Constructs outside its subset fail with
// ErrorKind::Unsupported naming the construct and line, never silently.
#pragma once
#include <nlohmann/json.hpp>

#include <memory>
#include <string>

namespace ia::text {

// Bounds on what a (downloaded, untrusted) template may make the renderer do; past them render() throws
// InvalidArgument naming the limit.
inline constexpr size_t kMaxTemplateOutputBytes = size_t(16) << 20;  // rendered text, and any one string value
inline constexpr int64_t kMaxTemplateIterations = 1000000;          // loop iterations + range() items per render
inline constexpr size_t kMaxTemplateListItems = 1000000;            // items of any one list value
inline constexpr int kMaxTemplateNesting = 256;                      // expression nesting (parse and evaluation)

class ChatTemplate {
 public:
  explicit ChatTemplate(const std::string& source);
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  // `context` holds the template variables: messages, tools, add_generation_prompt, bos_token, ...
  std::string render(const nlohmann::ordered_json& context) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class Tokenizer;
struct ChatOptions {
  bool add_generation_prompt = false;
  nlohmann::ordered_json tools;  // null: no tools
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();  // e.g. {"enable_thinking": false}
  std::string template_name;   // for configs with several named templates; empty: "default"
  std::string source;          // non-empty: render this template instead (a processor's chat_template.json)
};
// transformers' apply_chat_template(tokenize=False): renders the tokenizer's chat template with its special
// tokens (bos_token, eos_token, ...) as variables.
std::string apply_chat_template(const Tokenizer& tok, const nlohmann::ordered_json& messages, const ChatOptions& opt = {});

}  // namespace ia::text
