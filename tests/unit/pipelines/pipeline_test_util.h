// Helpers for the `run <task>` CLI tests: tiny random-weight checkpoints written by `make-checkpoint` next to
// a real tokenizer from tests/data/tokenizers, and running the CLI with its stdout/stderr and exit code.
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace ia_test {

namespace fs = std::filesystem;

inline fs::path scratch_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("ia-pipelines-test-" + std::to_string(getpid())) / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

struct CliResult {
  int rc = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Runs `ipfs-accelerate <args>` (args are passed to the shell as written).
inline CliResult run_cli(const std::string& args, const std::string& stdin_text = "") {
  static int n = 0;
  const fs::path dir = fs::temp_directory_path() / ("ia-pipelines-cli-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string tag = std::to_string(n++);
  const fs::path in = dir / ("in" + tag), out = dir / ("out" + tag), err = dir / ("err" + tag);
  std::ofstream(in) << stdin_text;
  const std::string cmd = std::string(IA_CLI_PATH) + " " + args + " < " + in.string() + " > " + out.string() +
                          " 2> " + err.string();
  const int rc = std::system(cmd.c_str());
  CliResult r;
  r.rc = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

inline nlohmann::json run_json(const std::string& args, const std::string& stdin_text = "") {
  CliResult r = run_cli(args + " --json", stdin_text);
  EXPECT_EQ(r.rc, 0) << args << "\nstderr: " << r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON: " << r.out;
  return j;
}

// Writes `config` to dir/config.json, fills it with random weights for `hf_class` and copies the files of
// tests/data/<data_subdir> (a tokenizer or a preprocessor config) next to it.
inline fs::path make_model(const std::string& name, const nlohmann::json& config, const std::string& hf_class,
                           const std::vector<std::string>& data_subdirs) {
  const fs::path dir = scratch_dir(name);
  std::ofstream(dir / "config.json") << config.dump(2);
  const std::string cmd = std::string(IA_CLI_PATH) + " make-checkpoint " + (dir / "config.json").string() +
                          " -o " + dir.string() + " --class " + hf_class + " --seed 7 > /dev/null 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  for (const auto& sub : data_subdirs)
    for (const auto& f : fs::directory_iterator(fs::path(IA_TEST_DATA_DIR) / sub))
      if (f.is_regular_file()) fs::copy_file(f.path(), dir / f.path().filename(), fs::copy_options::overwrite_existing);
  return dir;
}

inline const char* kBertTokenizer = "tokenizers/google-bert__bert-base-uncased";
inline const char* kRobertaTokenizer = "tokenizers/FacebookAI__roberta-base";

// A 2-layer BERT config of width 32 for the bert-base-uncased vocabulary.
inline nlohmann::json tiny_bert(nlohmann::json extra = nlohmann::json::object()) {
  nlohmann::json c = {{"model_type", "bert"},          {"vocab_size", 30522},       {"hidden_size", 32},
                      {"num_hidden_layers", 2},        {"num_attention_heads", 2},  {"intermediate_size", 37},
                      {"max_position_embeddings", 64}, {"type_vocab_size", 2},      {"hidden_act", "gelu"},
                      {"layer_norm_eps", 1e-12},       {"pad_token_id", 0}};
  for (auto it = extra.begin(); it != extra.end(); ++it) c[it.key()] = it.value();
  return c;
}

inline nlohmann::json tiny_roberta(nlohmann::json extra = nlohmann::json::object()) {
  nlohmann::json c = {{"model_type", "roberta"},       {"vocab_size", 50265},       {"hidden_size", 32},
                      {"num_hidden_layers", 2},        {"num_attention_heads", 2},  {"intermediate_size", 37},
                      {"max_position_embeddings", 66}, {"type_vocab_size", 1},      {"hidden_act", "gelu"},
                      {"layer_norm_eps", 1e-5},        {"pad_token_id", 1},         {"bos_token_id", 0},
                      {"eos_token_id", 2}};
  for (auto it = extra.begin(); it != extra.end(); ++it) c[it.key()] = it.value();
  return c;
}

}  // namespace ia_test
