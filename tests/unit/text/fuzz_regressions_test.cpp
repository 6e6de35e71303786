// Inputs the fuzzers (fuzz/, scripts/fuzz.sh) found crashing, kept in tests/data/fuzz/<target>/: each must now
// fail with an ia::Error (or succeed), never escape as another exception or crash. Plus the minimal cases.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "core/error.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"
#include "vision/image_io.h"

namespace fs = std::filesystem;

namespace {

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Runs `parse` on every file of tests/data/fuzz/<target>; returns how many there were.
size_t replay(const std::string& target, const std::function<void(const std::string&)>& parse) {
  size_t n = 0;
  const fs::path dir = fs::path(IA_TEST_DATA_DIR) / "fuzz" / target;
  if (!fs::is_directory(dir)) return 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    ++n;
    try {
      parse(read_all(e.path()));
    } catch (const ia::Error&) {
    } catch (const std::exception& ex) {
      ADD_FAILURE() << e.path() << " escaped as " << typeid(ex).name() << ": " << ex.what();
    }
  }
  return n;
}

}  // namespace

TEST(FuzzRegressions, ChatTemplateCrashInputs) {
  const nlohmann::ordered_json ctx = {{"messages", nlohmann::ordered_json::array()}, {"eos_token", "</s>"}};
  EXPECT_GE(replay("chat_template", [&](const std::string& s) { ia::text::ChatTemplate(s).render(ctx); }), 1u);
}

TEST(FuzzRegressions, ChatTemplateIntegerLiterals) {
  const nlohmann::ordered_json ctx = nlohmann::ordered_json::object();
  EXPECT_EQ(ia::text::ChatTemplate("{{ 1_000 + 1 }}").render(ctx), "1001");
  EXPECT_EQ(ia::text::ChatTemplate("{{ 9223372036854775807 }}").render(ctx), "9223372036854775807");
  try {
    ia::text::ChatTemplate("{{ 99999999999999999999 }}");
    FAIL() << "a literal beyond 64 bits was accepted";
  } catch (const ia::Error& e) {
    EXPECT_EQ(e.kind(), ia::ErrorKind::Unsupported);
    EXPECT_NE(std::string(e.what()).find("integer literal 99999999999999999999 does not fit in 64 bits"),
              std::string::npos)
        << e.what();
  }
}

TEST(FuzzRegressions, TokenizerNumbersThatAreNotNumbers) {
  const std::string base = R"({"model": {"type": "WordLevel", "vocab": {"a": 0, "[CLS]": 1}, "unk_token": "a"},
    "post_processor": {"type": "TemplateProcessing", "single": "[CLS] $A:99999999999", "pair": "$A $B:1",
                       "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [1], "tokens": ["[CLS]"]}}}})";
  try {
    ia::text::Tokenizer::from_json_string(base, "t.json").encode("a");
    FAIL() << "a type id beyond 32 bits was accepted";
  } catch (const ia::Error& e) {
    EXPECT_NE(std::string(e.what()).find("type id '99999999999' is not a 32-bit number"), std::string::npos)
        << e.what();
  }
}

TEST(FuzzRegressions, ImageDimensionsWhoseProductOverflows) {
  // A PNG header of 3781885952 x 3764387840: w * h overflowed int64 in the bomb check (UBSan in fuzz_image).
  EXPECT_GE(replay("image",
                   [](const std::string& s) {
                     try {
                       ia::vision::decode_image(reinterpret_cast<const uint8_t*>(s.data()), s.size(), "crash.png");
                       ADD_FAILURE() << "an image of more than 2^64 pixels decoded";
                     } catch (const ia::Error& e) {
                       EXPECT_EQ(e.kind(), ia::ErrorKind::OutOfMemory) << e.what();
                       EXPECT_NE(std::string(e.what()).find("image of 3781885952x3764387840 = "), std::string::npos)
                           << e.what();
                       EXPECT_NE(std::string(e.what()).find("exceeds the limit"), std::string::npos) << e.what();
                     }
                   }),
            1u);
}
