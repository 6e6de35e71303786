// RAG end to end on tiny random models with real tokenizers (BERT's for the DPR encoders, RoBERTa's BPE for the
// BART generator): `rag index` over a small corpus, FAISS retrieval (exact, HNSW, IVF with every cell probed)
// equal to brute-force inner products, `run rag` deterministic, retrieving the brute-force best documents with
// their scores, RAG-token with one document equal to the generator alone on RagRetriever's context string, and
// RAG-sequence scores present.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "generation/beam_generate.h"
#include "io/safetensors.h"
#include "models/model.h"
#include "rag/document_index.h"
#include "text/tokenizer.h"

namespace fs = std::filesystem;
using namespace ia;
using nlohmann::json;

namespace {

fs::path data(const std::string& rel) { return fs::path(IA_TEST_DATA_DIR) / rel; }

json read_json(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

void make_model(const fs::path& dir, json config, const std::string& cls, const std::string& tok, uint64_t seed) {
  fs::create_directories(dir);
  config["architectures"] = {cls};
  WeightLoader w = WeightLoader::synthetic(seed);
  w.report().keep_synthesized = true;
  build_model(ModelConfig(config, (dir / "config.json").string()), w, cls);
  save_safetensors((dir / "model.safetensors").string(), w.report().synthesized);
  std::ofstream(dir / "config.json") << config.dump(2);
  for (const auto& e : fs::directory_iterator(data("tokenizers/" + tok))) fs::copy_file(e.path(), dir / e.path().filename());
}

std::pair<int, std::string> cli(const std::string& args) {
  const std::string cmd = std::string(IA_CLI_PATH) + " " + args + " 2>/dev/null";  // faiss warns on stderr
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (p && fgets(buf, sizeof buf, p)) out += buf;
  return {p ? pclose(p) : -1, out};
}

class RagTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("ia_rag_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    const int64_t bert_vocab = text::Tokenizer::from_dir(data("tokenizers/google-bert__bert-base-uncased")).vocab_size();
    const int64_t bpe_vocab = text::Tokenizer::from_dir(data("tokenizers/FacebookAI__roberta-base")).vocab_size();
    json dpr = read_json(data("conformance/dpr/config.json"));
    dpr["vocab_size"] = bert_vocab;
    dpr["hidden_size"] = 16;
    dpr["intermediate_size"] = 32;
    dpr["num_attention_heads"] = 2;
    make_model(root_ / "ctx", dpr, "DPRContextEncoder", "google-bert__bert-base-uncased", 21);
    make_model(root_ / "rag" / "question_encoder", dpr, "DPRQuestionEncoder", "google-bert__bert-base-uncased", 22);
    json bart = read_json(data("conformance/bart/config.json"));
    bart["vocab_size"] = bpe_vocab;
    bart["d_model"] = 16;
    bart["encoder_attention_heads"] = 2;
    bart["decoder_attention_heads"] = 2;
    bart["encoder_ffn_dim"] = 32;
    bart["decoder_ffn_dim"] = 32;
    bart["max_position_embeddings"] = 128;
    make_model(root_ / "rag" / "generator", bart, "BartForConditionalGeneration", "FacebookAI__roberta-base", 23);
    std::ofstream(root_ / "rag" / "config.json")
        << json{{"model_type", "rag"}, {"architectures", {"RagTokenForGeneration"}}, {"n_docs", 3},
                {"title_sep", " / "}, {"doc_sep", " // "}, {"max_combined_length", 100}}
               .dump(2);
    std::ofstream corpus(root_ / "corpus.jsonl");
    const std::vector<std::pair<std::string, std::string>> docs = {
        {"Paris", "Paris is the capital and largest city of France."},
        {"Berlin", "Berlin is the capital of Germany and its largest city."},
        {"\"Rome\"", "Rome is the capital city of Italy."},
        {"Nile", "The Nile is a major river in northeastern Africa."},
        {"Amazon", "The Amazon river in South America is the largest river by discharge."},
        {"Everest", "Mount Everest is the highest mountain above sea level."},
        {"Python", "Python is a high-level programming language."},
        {"C++", "C++ is a general-purpose programming language created by Bjarne Stroustrup."},
        {"Photosynthesis", "Plants convert light energy into chemical energy by photosynthesis."},
        {"Moon", "The Moon is the only natural satellite of the Earth."},
        {"Jupiter", "Jupiter is the largest planet in the Solar System."},
        {"Tea", "Tea is an aromatic beverage prepared by pouring hot water over leaves."}};
    for (const auto& [t, x] : docs) corpus << json{{"title", t}, {"text", x}}.dump() << "\n";
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }
  static fs::path root_;
};
fs::path RagTest::root_;

const std::vector<std::string> kQuestions = {"what is the capital of france", "which river is the longest",
                                             "who created c++", "what is the largest planet"};

TEST_F(RagTest, FaissIndexesEqualBruteForce) {
  for (const std::string type : {"flat", "hnsw", "ivf"}) {
    SCOPED_TRACE(type);
    const fs::path idx = root_ / ("index_" + type);
    auto [rc, out] = cli("rag index " + (root_ / "ctx").string() + " " + (root_ / "corpus.jsonl").string() + " -o " +
                         idx.string() + " --type " + type + (type == "ivf" ? " --nlist 3 --nprobe 3" : "") + " --json");
    ASSERT_EQ(rc, 0) << out;
    EXPECT_EQ(json::parse(out)["passages"], 12);
    const auto index = rag::DocumentIndex::load(idx.string());
    ASSERT_EQ(index.size(), 12);
    auto qenc = load_model((root_ / "rag" / "question_encoder").string());
    const auto qtok = text::Tokenizer::from_dir(root_ / "rag" / "question_encoder");
    for (const auto& question : kQuestions) {
      const auto q = rag::encode_question(*qenc, qtok, question);
      const auto got = index.search(q, 5), want = index.brute_force(q, 5);
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].id, want[i].id) << question << " rank " << i;
        EXPECT_NEAR(got[i].score, want[i].score, 1e-4);
      }
    }
  }
  // The embeddings the index stores are the context encoder's pooler_output of (title, text).
  const auto index = rag::DocumentIndex::load((root_ / "index_flat").string());
  auto cenc = load_model((root_ / "ctx").string());
  const auto ctok = text::Tokenizer::from_dir(root_ / "ctx");
  const auto e = rag::encode_passages(*cenc, ctok, {index.passage(4)});
  for (int64_t j = 0; j < index.dim(); ++j) EXPECT_FLOAT_EQ(e[j], index.embedding(4)[j]);
  // `rag search` agrees with --exact.
  auto [rc1, a] = cli("rag search " + (root_ / "rag" / "question_encoder").string() + " \"who created c++\" --index " +
                      (root_ / "index_flat").string() + " --json");
  auto [rc2, b] = cli("rag search " + (root_ / "rag" / "question_encoder").string() + " \"who created c++\" --index " +
                      (root_ / "index_flat").string() + " --exact --json");
  ASSERT_EQ(rc1, 0) << a;
  ASSERT_EQ(rc2, 0) << b;
  auto ja = json::parse(a), jb = json::parse(b);
  ASSERT_EQ(ja.size(), jb.size());
  for (size_t i = 0; i < ja.size(); ++i) EXPECT_EQ(ja[i]["id"], jb[i]["id"]);
}

TEST_F(RagTest, RunRagRetrievesAndGeneratesDeterministically) {
  const fs::path idx = root_ / "index_run";
  ASSERT_EQ(cli("rag index " + (root_ / "ctx").string() + " " + (root_ / "corpus.jsonl").string() + " -o " + idx.string())
                .first,
            0);
  const std::string run = "run rag " + (root_ / "rag").string() + " --index " + idx.string() +
                          " \"what is the capital of france\" --max-new-tokens 6 --json";
  auto [rc, out] = cli(run);
  ASSERT_EQ(rc, 0) << out;
  auto [rc2, out2] = cli(run);
  ASSERT_EQ(rc2, 0);
  EXPECT_EQ(out, out2);
  const json j = json::parse(out);
  ASSERT_TRUE(j.is_array() && j.size() == 1) << out;
  ASSERT_TRUE(j[0].contains("generated_text"));
  // Retrieval: the brute-force top 3 by inner product.
  const auto index = rag::DocumentIndex::load(idx.string());
  auto qenc = load_model((root_ / "rag" / "question_encoder").string());
  const auto q = rag::encode_question(*qenc, text::Tokenizer::from_dir(root_ / "rag" / "question_encoder"),
                                      "what is the capital of france");
  const auto want = index.brute_force(q, 3);
  ASSERT_EQ(j[0]["retrieved_doc_ids"].size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(j[0]["retrieved_doc_ids"][i], want[i].id);
    EXPECT_NEAR(j[0]["doc_scores"][i].get<double>(), want[i].score, 1e-4);
  }

  // One document: the marginal over documents is that document's distribution, so RAG-token greedy equals the
  // generator alone on RagRetriever's context string "title / text // question".
  auto [rc3, one] = cli(run + " --param n_docs=1");
  ASSERT_EQ(rc3, 0) << one;
  const auto& p = index.passage(want[0].id);
  std::string title = p.title;
  if (!title.empty() && title.front() == '"') title.erase(0, 1);
  if (!title.empty() && title.back() == '"') title.pop_back();
  const auto gtok = text::Tokenizer::from_dir(root_ / "rag" / "generator");
  const auto enc = gtok.encode(title + " / " + p.text + " // what is the capital of france", true);
  std::vector<int64_t> ids(enc.ids.begin(), enc.ids.end());
  auto gen = load_model((root_ / "rag" / "generator").string());
  generation::BeamRequest req;
  req.num_beams = 1;
  req.base.max_new_tokens = 6;
  req.base.pad_token_id = 1;
  req.base.eos_token_ids = {2};
  req.base.decoder_start_token_id = 2;
  const auto g = generation::generate_beams(*gen, {{"input_ids", Tensor::from_vector(ids, {1, (int64_t)ids.size()})}}, req);
  const auto row = g[0].second.to_vector<int64_t>();
  EXPECT_EQ(json::parse(one)[0]["generated_text"], gtok.decode(std::vector<uint32_t>(row.begin(), row.end()), true));

  // Beam search over the marginal, and RAG-sequence.
  auto [rc4, beams] = cli(run + " --num-beams 2 --num-return-sequences 2");
  ASSERT_EQ(rc4, 0) << beams;
  EXPECT_EQ(json::parse(beams).size(), 2u);
  std::ofstream(root_ / "rag" / "config.json")
      << json{{"model_type", "rag"}, {"architectures", {"RagSequenceForGeneration"}}, {"n_docs", 3},
              {"title_sep", " / "}, {"doc_sep", " // "}, {"max_combined_length", 100}}
             .dump(2);
  auto [rc5, seq] = cli(run + " --num-beams 2");
  ASSERT_EQ(rc5, 0) << seq;
  const json js = json::parse(seq);
  ASSERT_TRUE(js[0].contains("score"));
  EXPECT_TRUE(std::isfinite(js[0]["score"].get<double>()));
  EXPECT_EQ(cli(run + " --num-beams 2").second, seq);
  // No --index: a clear error.
  EXPECT_NE(cli("run rag " + (root_ / "rag").string() + " question --json").first, 0);
}

}  // namespace
