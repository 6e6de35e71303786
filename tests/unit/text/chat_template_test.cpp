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

namespace ia::text::testing {

namespace {
// The message of the error `render` throws ("" if none).
std::string render_error(const std::string& src) {
  try {
    ChatTemplate(src).render(OJ::object());
  } catch (const ia::Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(ChatTemplate, UntrustedTemplatesAreBounded) {
  // range(a, b, 0): Python raises ValueError; before the fix a > b looped forever.
  EXPECT_NE(render_error("{% for i in range(5, 0, 0) %}x{% endfor %}").find("must not be zero"), std::string::npos);
  EXPECT_NE(render_error("{{ range(1, 2, 0) }}").find("must not be zero"), std::string::npos);
  // Huge ranges and loops are refused before allocating.
  EXPECT_NE(render_error("{% for i in range(9223372036854775807) %}{% endfor %}").find("range() of more than"),
            std::string::npos);
  EXPECT_NE(render_error("{% for i in range(-9223372036854775807, 9223372036854775807, 3) %}{% endfor %}")
                .find("range() of more than"),
            std::string::npos);
  EXPECT_NE(render_error("{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(2) %}{% endfor %}"
                         "{% endfor %}{% endfor %}")
                .find("loop iterations"),
            std::string::npos);
  // String repetition and doubling concatenation stop at the byte limit.
  EXPECT_NE(render_error("{{ 'ab' * 9223372036854775807 }}").find("string repetition"), std::string::npos);
  EXPECT_NE(render_error("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
                         "{% endfor %}{{ ns.s }}")
                .find("byte limit"),
            std::string::npos);
  EXPECT_NE(render_error("{% for i in range(200000) %}{{ 'x' * 100 }}{% endfor %}")
                .find("rendered output exceeds"),
            std::string::npos);
  // Deep nesting is an error, not a stack overflow.
  EXPECT_NE(render_error("{{ " + std::string(100000, '(') + "1" + std::string(100000, ')') + " }}").find("nested deeper"),
            std::string::npos);
  EXPECT_NE(render_error("{{ " + std::string(100000, '-') + "1 }}").find("nested deeper"), std::string::npos);
  std::string chain = "{{ 'a'";
  for (int i = 0; i < 100000; ++i) chain += " ~ 'a'";
  EXPECT_NE(render_error(chain + " }}").find("nested deeper"), std::string::npos);
  // Within the limits, the Python results.
  EXPECT_EQ(ChatTemplate("{{ range(10, 0, -3) | list }}").render(OJ::object()), "[10, 7, 4, 1]");
  EXPECT_EQ(ChatTemplate("{{ range(0, 10, 4) | list }}|{{ range(3, 1) | list }}").render(OJ::object()), "[0, 4, 8]|[]");
  EXPECT_EQ(ChatTemplate("{{ 'ab' * 3 }}{{ 'x' * -1 }}").render(OJ::object()), "ababab");
}

}  // namespace ia::text::testing
