// Chat templates of real tokenizer_config.json files rendered like transformers (expected output made by
// Python jinja2 with transformers' settings: tests/data/tokenizers/chat_templates/make_expected.py).
#include "text/chat_template.h"

#include "core/error.h"

#include "tokenizer_test_util.h"

namespace ia::text::testing {
namespace {

using OJ = nlohmann::ordered_json;

OJ load_config(const std::string& tokenizer) {
  auto dir = data_dir() / "chat_templates";
  for (auto p : {dir / (tokenizer + ".tokenizer_config.json"), dir / (tokenizer + ".tokenizer_config.json.gz"),
                 data_dir() / tokenizer / "tokenizer_config.json"})
    if (std::filesystem::exists(p)) return OJ::parse(read_text_file(p));
  return OJ();
}

TEST(ChatTemplate, RendersRealTemplatesLikeTransformers) {
  OJ expected = OJ::parse(read_text_file(data_dir() / "chat_templates" / "expected.json"));
  size_t rendered = 0, errors = 0;
  for (auto& c : expected["cases"]) {
    std::string name = c["tokenizer"].get<std::string>();
    OJ cfg = load_config(name);
    ASSERT_FALSE(cfg.is_null()) << name;
    OJ conv = expected["conversations"][c["conversation"].get<size_t>()];
    OJ ctx = OJ::object();
    for (auto it = cfg.begin(); it != cfg.end(); ++it) {
      const std::string& k = it.key();
      if (k.size() > 6 && k.compare(k.size() - 6, 6, "_token") == 0 && k != "add_bos_token") {
        if (it.value().is_object()) ctx[k] = it.value()["content"];
        else ctx[k] = it.value();
      }
    }
    ctx["messages"] = conv["messages"];
    ctx["tools"] = conv.contains("tools") ? conv["tools"] : OJ();
    ctx["add_generation_prompt"] = c["add_generation_prompt"];
    if (c.contains("enable_thinking")) ctx["enable_thinking"] = c["enable_thinking"];
    SCOPED_TRACE(name + " conversation " + std::to_string(c["conversation"].get<int>()));
    ChatTemplate tmpl(cfg["chat_template"].get<std::string>());
    if (c.contains("rendered")) {
      EXPECT_EQ(tmpl.render(ctx), c["rendered"].get<std::string>());
      ++rendered;
    } else {
      EXPECT_THROW(tmpl.render(ctx), ia::Error) << "jinja2 failed with: " << c["error"].get<std::string>();
      ++errors;
    }
  }
  EXPECT_GE(rendered, 40u);
  EXPECT_GT(errors, 0u);
}

TEST(ChatTemplate, ApplyChatTemplateUsesTokenizerSpecialTokens) {
  IA_LOAD_OR_SKIP(tok, "microsoft__Phi-3-mini-4k-instruct");
  OJ messages = OJ::array({{{"role", "user"}, {"content", "Hi"}}});
  EXPECT_EQ(apply_chat_template(*tok, messages), "<|user|>\nHi<|end|>\n<|endoftext|>");
  ChatOptions opt;
  opt.add_generation_prompt = true;
  EXPECT_EQ(apply_chat_template(*tok, messages, opt), "<|user|>\nHi<|end|>\n<|assistant|>\n");
}

TEST(ChatTemplate, UnsupportedConstructsFailClearly) {
  try {
    ChatTemplate t("{% macro m() %}x{% endmacro %}");
    FAIL() << "macro accepted";
  } catch (const ia::Error& e) {
    EXPECT_EQ(e.kind(), ia::ErrorKind::Unsupported);
    EXPECT_NE(std::string(e.what()).find("macro"), std::string::npos) << e.what();
  }
  try {
    ChatTemplate t("{{ x | wordwrap }}");
    t.render(OJ{{"x", "a"}});
    FAIL() << "unknown filter accepted";
  } catch (const ia::Error& e) {
    EXPECT_NE(std::string(e.what()).find("filter 'wordwrap'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ChatTemplate("{% if x %}unclosed"), ia::Error);
  EXPECT_THROW(ChatTemplate("{{ raise_exception('boom') }}").render(OJ::object()), ia::Error);
}

TEST(ChatTemplate, WhitespaceControlAndScoping) {
  ChatTemplate t("a  {%- if true -%}  b  {%- endif %}\n  {% for x in [1,2] %}{{ x }}{% set y = x %}{% endfor %}[{{ y }}]");
  EXPECT_EQ(t.render(OJ::object()), "ab12[]");
  ChatTemplate ns("{% set n = namespace(v=0) %}{% for x in [3,4] %}{% set n.v = n.v + x %}{% endfor %}{{ n.v }}");
  EXPECT_EQ(ns.render(OJ::object()), "7");
  ChatTemplate sl("{{ 'abc'[::-1] }}{{ [1,2,3][1:] }}{{ {'a': 1} | tojson }}{{ 'x' if none else 'y' }}");
  EXPECT_EQ(sl.render(OJ::object()), "cba[2, 3]{\"a\": 1}y");
}

}  // namespace
}  // namespace ia::text::testing
