// The generative tasks end to end through the CLI (`run <task> ... --json`) on tiny random models saved with
// real tokenizers (tests/data/tokenizers): text-generation (plain, beam search, chat template, return_full_text),
// text2text-generation, summarization and translation (T5 task_specific_params prefixes), each checked against
// the engine called directly on the same ids, plus the error for a task the model does not serve.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "generation/beam_generate.h"
#include "generation/generate.h"
#include "io/safetensors.h"
#include "models/causal_lm.h"
#include "models/model.h"
#include "text/tokenizer.h"

namespace fs = std::filesystem;
using namespace ia;
using nlohmann::json;

namespace {

fs::path tokenizer_dir(const std::string& name) { return fs::path(IA_TEST_DATA_DIR) / "tokenizers" / name; }

// A model directory: config.json, random weights as the model asks for them, the tokenizer's files.
fs::path make_model(const std::string& name, json config, const std::string& hf_class, const std::string& tok) {
  const fs::path dir = fs::temp_directory_path() / ("ia_genpipe_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  config["architectures"] = {hf_class};
  WeightLoader w = WeightLoader::synthetic(5);
  w.report().keep_synthesized = true;
  build_model(ModelConfig(config, (dir / "config.json").string()), w, hf_class);
  save_safetensors((dir / "model.safetensors").string(), w.report().synthesized);
  std::ofstream(dir / "config.json") << config.dump(2);
  for (const auto& e : fs::directory_iterator(tokenizer_dir(tok))) fs::copy_file(e.path(), dir / e.path().filename());
  return dir;
}

// Runs the CLI, returns (exit code, stdout).
std::pair<int, std::string> cli(const std::string& args) {
  const std::string cmd = std::string(IA_CLI_PATH) + " " + args + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (p && fgets(buf, sizeof buf, p)) out += buf;
  const int rc = p ? pclose(p) : -1;
  return {rc, out};
}

json conformance_config(const std::string& name) {
  std::ifstream in(fs::path(IA_TEST_DATA_DIR) / "conformance" / name / "config.json");
  return json::parse(in);
}

json gpt2_config(int64_t vocab) {
  json c = conformance_config("gpt2");
  c["vocab_size"] = vocab;
  c["n_embd"] = 16;
  c["n_head"] = 2;
  c["bos_token_id"] = 50256;
  c["eos_token_id"] = 50256;
  c.erase("pad_token_id");
  return c;
}

std::vector<uint32_t> u32(const std::vector<int64_t>& v) { return {v.begin(), v.end()}; }

TEST(GenerationPipelines, TextGenerationGreedyBeamAndChat) {
  const auto tokdir = tokenizer_dir("openai-community__gpt2");
  const text::Tokenizer tok = text::Tokenizer::from_dir(tokdir);
  const int64_t V = static_cast<int64_t>(tok.vocab_size());
  const fs::path dir = make_model("gpt2", gpt2_config(V), "GPT2LMHeadModel", "openai-community__gpt2");
  const std::string prompt = "The quick brown fox";

  auto [rc, out] = cli("run text-generation " + dir.string() + " \"" + prompt + "\" --max-new-tokens 6 --json");
  ASSERT_EQ(rc, 0) << out;
  json j = json::parse(out);
  ASSERT_TRUE(j.is_array() && j.size() == 1 && j[0].contains("generated_text")) << out;
  // The engine on the same ids: greedy, 6 new tokens (EOS 50256 never wins on this model or stops it early).
  auto model = load_model(dir.string());
  auto* lm = dynamic_cast<CausalLM*>(model.get());
  ASSERT_TRUE(lm);
  std::vector<int64_t> ids;
  for (uint32_t t : tok.encode(prompt, true).ids) ids.push_back(t);
  generation::GenerationSettings s;
  s.max_new_tokens = 6;
  s.eos_token_ids = {50256};
  s.pad_token_id = 50256;
  const auto r = generation::generate(*lm, Tensor::from_vector(ids, {1, (int64_t)ids.size()}), Tensor(), s);
  const std::string full = tok.decode(u32(r.ids.to_vector<int64_t>()), true);
  const std::string cont = full.substr(tok.decode(u32(ids), true).size());
  EXPECT_EQ(j[0]["generated_text"], prompt + cont);

  std::tie(rc, out) =
      cli("run text-generation " + dir.string() + " \"" + prompt + "\" --max-new-tokens 6 --param return_full_text=false --json");
  ASSERT_EQ(rc, 0);
  EXPECT_EQ(json::parse(out)[0]["generated_text"], cont);

  // Beam search: two sequences, the first equal to the engine's best.
  std::tie(rc, out) = cli("run text-generation " + dir.string() + " \"" + prompt +
                          "\" --max-new-tokens 5 --num-beams 3 --num-return-sequences 2 --json");
  ASSERT_EQ(rc, 0) << out;
  j = json::parse(out);
  ASSERT_EQ(j.size(), 2u);
  generation::BeamSearchSettings bs;
  bs.num_beams = 3;
  bs.num_return_sequences = 2;
  bs.max_length = static_cast<int64_t>(ids.size()) + 5;
  bs.eos_token_ids = {50256};
  bs.pad_token_id = 50256;
  const auto br = generation::generate_beams(*lm, Tensor::from_vector(ids, {1, (int64_t)ids.size()}), Tensor(), bs);
  for (int i = 0; i < 2; ++i) {
    const std::string t = tok.decode(u32(br.sequences[i]), true);
    EXPECT_EQ(j[i]["generated_text"], prompt + t.substr(tok.decode(u32(ids), true).size()));
  }

  // A chat through the tokenizer's chat template: the messages come back with the assistant's reply.
  std::ofstream(dir / "tokenizer_config.json")
      << json{{"chat_template",
               "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
               "{% if add_generation_prompt %}assistant:{% endif %}"}}
             .dump();
  const fs::path chat = dir / "chat.jsonl";
  std::ofstream(chat) << R"([{"role": "user", "content": "Hi there"}])" << "\n";
  std::tie(rc, out) = cli("run text-generation " + dir.string() + " --input-file " + chat.string() +
                          " --max-new-tokens 4 --json");
  ASSERT_EQ(rc, 0) << out;
  j = json::parse(out);
  ASSERT_TRUE(j[0]["generated_text"].is_array()) << out;
  ASSERT_EQ(j[0]["generated_text"].size(), 2u);
  EXPECT_EQ(j[0]["generated_text"][0]["content"], "Hi there");
  EXPECT_EQ(j[0]["generated_text"][1]["role"], "assistant");

  // A decoder-only model does not do summarization: the error lists what it does.
  std::tie(rc, out) = cli("run summarization " + dir.string() + " hello --json");
  EXPECT_NE(rc, 0);
  fs::remove_all(dir);
}

json t5_config(int64_t vocab) {
  json c = conformance_config("t5");
  c["vocab_size"] = vocab;
  c["d_model"] = 16;
  c["d_kv"] = 8;
  c["d_ff"] = 32;
  c["num_heads"] = 2;
  c["task_specific_params"] = {
      {"summarization", {{"prefix", "summarize: "}, {"num_beams", 2}, {"max_length", 8}, {"early_stopping", true}}},
      {"translation_en_to_de", {{"prefix", "translate English to German: "}, {"max_length", 6}}}};
  return c;
}

TEST(GenerationPipelines, Text2TextSummarizationTranslation) {
  const auto tokdir = tokenizer_dir("google-t5__t5-small");
  const text::Tokenizer tok = text::Tokenizer::from_dir(tokdir);
  const int64_t V = static_cast<int64_t>(tok.vocab_size());
  const fs::path dir = make_model("t5", t5_config(V), "T5ForConditionalGeneration", "google-t5__t5-small");
  auto model = load_model(dir.string());
  const std::string text = "studies have shown that owning a dog is good for you";
  auto direct = [&](const std::string& input, int64_t beams, int64_t new_tokens, bool early) {
    std::vector<int64_t> ids;
    for (uint32_t t : tok.encode(input, true).ids) ids.push_back(t);
    generation::BeamRequest req;
    req.base.max_new_tokens = new_tokens;
    req.base.eos_token_ids = {1};
    req.num_beams = beams;
    req.early_stopping = early ? generation::EarlyStopping::True : generation::EarlyStopping::False;
    const auto out = generation::generate_beams(
        *model, {{"input_ids", Tensor::from_vector(ids, {1, (int64_t)ids.size()})}}, req);
    const auto row = out[0].second.select(0, 0).contiguous().to_vector<int64_t>();
    return tok.decode(u32(row), true);
  };

  auto [rc, out] = cli("run summarization " + dir.string() + " \"" + text + "\" --json");
  ASSERT_EQ(rc, 0) << out;
  json j = json::parse(out);
  ASSERT_TRUE(j[0].contains("summary_text")) << out;
  EXPECT_EQ(j[0]["summary_text"], direct("summarize: " + text, 2, 7, true));  // max_length 8 = start + 7

  std::tie(rc, out) = cli("run translation_en_to_de " + dir.string() + " \"" + text + "\" --json");
  ASSERT_EQ(rc, 0) << out;
  j = json::parse(out);
  ASSERT_TRUE(j[0].contains("translation_text")) << out;
  EXPECT_EQ(j[0]["translation_text"], direct("translate English to German: " + text, 1, 5, false));
  // Plain "translation" on T5 takes the first translation_* entry, as transformers' pipeline() does.
  std::tie(rc, out) = cli("run translation " + dir.string() + " \"" + text + "\" --json");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_EQ(json::parse(out)[0]["translation_text"], j[0]["translation_text"]);

  std::tie(rc, out) = cli("run text2text-generation " + dir.string() + " \"" + text +
                          "\" --max-new-tokens 4 --num-beams 2 --num-return-sequences 2 --json");
  ASSERT_EQ(rc, 0) << out;
  j = json::parse(out);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["generated_text"], direct(text, 2, 4, false));
  std::tie(rc, out) = cli("run text-generation " + dir.string() + " hello --json");
  EXPECT_NE(rc, 0);
  fs::remove_all(dir);
}

}  // namespace
