// `run fill-mask` / `run text-classification` end to end on tiny random BERT/RoBERTa checkpoints with real
// tokenizers: output shaped like transformers', scores equal to the softmax of the model's own logits
// (computed here in-process), batching invariance, and the bad-input errors.
#include <gtest/gtest.h>

#include <cmath>

#include "models/model.h"
#include "pipeline_test_util.h"
#include "pipelines/text_model.h"
#include "text/tokenizer.h"

using namespace ia_test;
using nlohmann::json;

namespace {

// The model's logits for `text` ([S, V] or [L]) computed in-process, without the pipeline code.
std::vector<float> logits_of(const fs::path& dir, const std::string& text, int64_t row = -1) {
  auto model = ia::load_model(dir.string());
  auto tok = ia::text::Tokenizer::from_dir(dir);
  auto e = tok.encode(text);
  const int64_t S = static_cast<int64_t>(e.ids.size());
  std::vector<int64_t> ids(e.ids.begin(), e.ids.end());
  ia::TensorMap in{{"input_ids", ia::Tensor::from_vector<int64_t>(ids, {1, S})}};
  ia::Tensor l;
  for (auto& [n, t] : model->forward(in, {}))
    if (n == "logits") l = t;
  l = l.select(0, 0);
  if (row >= 0) l = l.select(0, row);
  return l.contiguous().to_vector<float>();
}

std::vector<double> softmax_of(const std::vector<float>& v) { return ia::pipelines::softmax(v); }

const fs::path& bert_mlm() {
  static fs::path p = make_model("bert-mlm", tiny_bert(), "BertForMaskedLM", {kBertTokenizer});
  return p;
}

const fs::path& bert_cls() {
  static fs::path p = make_model(
      "bert-cls", tiny_bert({{"id2label", {{"0", "NEGATIVE"}, {"1", "POSITIVE"}}}, {"label2id", {{"NEGATIVE", 0}, {"POSITIVE", 1}}}}),
      "BertForSequenceClassification", {kBertTokenizer});
  return p;
}

}  // namespace

TEST(PipelineFillMask, TopKMatchesSoftmaxOfModelLogits) {
  const std::string text = "paris is the [MASK] of france.";
  json j = run_json("run fill-mask " + bert_mlm().string() + " \"" + text + "\"");
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 5u);  // transformers' default top_k
  // [CLS] paris is the [MASK] ...: the mask is token 4.
  const auto probs = softmax_of(logits_of(bert_mlm(), text, 4));
  std::vector<size_t> order(probs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::partial_sort(order.begin(), order.begin() + 5, order.end(), [&](size_t a, size_t b) { return probs[a] > probs[b]; });
  auto tok = ia::text::Tokenizer::from_dir(bert_mlm());
  for (size_t k = 0; k < 5; ++k) {
    const json& p = j[k];
    ASSERT_TRUE(p.contains("score") && p.contains("token") && p.contains("token_str") && p.contains("sequence"));
    EXPECT_EQ(p["token"].get<size_t>(), order[k]);
    EXPECT_NEAR(p["score"].get<double>(), probs[order[k]], 1e-6);
    const std::string token_str = tok.decode({static_cast<uint32_t>(order[k])});
    EXPECT_EQ(p["token_str"], token_str);
    // The sequence is the input ids with the mask replaced, decoded without special tokens (single mask).
    auto ids = tok.encode(text).ids;
    ids[4] = static_cast<uint32_t>(order[k]);
    EXPECT_EQ(p["sequence"], tok.decode(ids, true));
  }
}

TEST(PipelineFillMask, TargetsRestrictAndClipTopK) {
  json j = run_json("run fill-mask " + bert_mlm().string() + " \"the [MASK] sat.\" --param 'targets=[\"cat\",\"dog\"]'");
  ASSERT_EQ(j.size(), 2u);
  auto tok = ia::text::Tokenizer::from_dir(bert_mlm());
  const auto probs = softmax_of(logits_of(bert_mlm(), "the [MASK] sat.", 2));
  const uint32_t cat = *tok.token_to_id("cat"), dog = *tok.token_to_id("dog");
  const uint32_t first = probs[cat] >= probs[dog] ? cat : dog;
  EXPECT_EQ(j[0]["token"].get<uint32_t>(), first);
  EXPECT_NEAR(j[0]["score"].get<double>() + j[1]["score"].get<double>(), probs[cat] + probs[dog], 1e-6);
}

TEST(PipelineFillMask, TwoMasksGiveOneListPerMask) {
  json j = run_json("run fill-mask " + bert_mlm().string() + " \"[MASK] is [MASK].\" --top-k 3");
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2u);
  for (const auto& per_mask : j) {
    ASSERT_EQ(per_mask.size(), 3u);
    // With several masks transformers keeps special tokens in the decoded sequence.
    EXPECT_NE(per_mask[0]["sequence"].get<std::string>().find("[CLS]"), std::string::npos);
  }
}

TEST(PipelineFillMask, BatchedEqualsOneByOne) {
  const std::string inputs = "\"a [MASK].\"\n\"the quick brown fox jumps over the lazy [MASK] today.\"\n";
  json one = run_json("run fill-mask " + bert_mlm().string() + " --input-file - --batch-size 1", inputs);
  json two = run_json("run fill-mask " + bert_mlm().string() + " --input-file - --batch-size 2", inputs);
  ASSERT_EQ(one.size(), 2u);
  ASSERT_EQ(two.size(), 2u);
  for (size_t i = 0; i < 2; ++i)
    for (size_t k = 0; k < 5; ++k) {
      EXPECT_EQ(one[i][k]["token"], two[i][k]["token"]);
      EXPECT_NEAR(one[i][k]["score"].get<double>(), two[i][k]["score"].get<double>(), 1e-5);
    }
}

TEST(PipelineFillMask, BadInputsAreClearErrors) {
  CliResult r = run_cli("run fill-mask " + bert_mlm().string() + " \"no mask here\"");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("no mask_token ([MASK]) found"), std::string::npos) << r.err;
  r = run_cli("run fill-mask " + bert_mlm().string() + " \"\"");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("empty input"), std::string::npos) << r.err;
  r = run_cli("run text-classification " + bert_mlm().string() + " hello");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("this model supports: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("fill-mask"), std::string::npos) << r.err;
  // 1 MB of text: the model takes 64 positions; without truncation the error names the limit.
  const fs::path big = scratch_dir("big") / "big.txt";
  std::string text;
  while (text.size() < (1u << 20)) text += "the cat sat on the mat ";
  std::ofstream(big) << "\"" << text << "[MASK]\"\n";
  r = run_cli("run fill-mask " + bert_mlm().string() + " --input-file " + big.string());
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("accepts at most 64"), std::string::npos) << r.err.substr(0, 300);
}

TEST(PipelineTextClassification, LegacyBestLabelAndTopK) {
  const std::string text = "i love this movie";
  json best = run_json("run text-classification " + bert_cls().string() + " \"" + text + "\"");
  const auto probs = softmax_of(logits_of(bert_cls(), text));
  ASSERT_EQ(probs.size(), 2u);
  ASSERT_TRUE(best.is_object());
  EXPECT_EQ(best["label"], probs[1] > probs[0] ? "POSITIVE" : "NEGATIVE");
  EXPECT_NEAR(best["score"].get<double>(), std::max(probs[0], probs[1]), 1e-6);
  json all = run_json("run sentiment-analysis " + bert_cls().string() + " \"" + text + "\" --top-k 2");
  ASSERT_EQ(all.size(), 2u);
  EXPECT_GE(all[0]["score"].get<double>(), all[1]["score"].get<double>());
  EXPECT_NEAR(all[0]["score"].get<double>() + all[1]["score"].get<double>(), 1.0, 1e-6);
  json raw = run_json("run text-classification " + bert_cls().string() + " \"" + text +
                      "\" --param top_k=null --param function_to_apply=none");
  const auto logits = logits_of(bert_cls(), text);
  ASSERT_EQ(raw.size(), 2u);
  for (const auto& r : raw)
    EXPECT_NEAR(r["score"].get<double>(), logits[r["label"] == "NEGATIVE" ? 0 : 1], 1e-5);
}

TEST(PipelineTextClassification, SigmoidForOneLabelAndMultiLabel) {
  const fs::path one = make_model("bert-reg", tiny_bert({{"num_labels", 1}}), "BertForSequenceClassification",
                                  {kBertTokenizer});
  json j = run_json("run text-classification " + one.string() + " hello");
  const double logit = logits_of(one, "hello")[0];
  EXPECT_EQ(j["label"], "LABEL_0");
  EXPECT_NEAR(j["score"].get<double>(), 1.0 / (1.0 + std::exp(-logit)), 1e-6);
  const fs::path multi = make_model(
      "bert-multi", tiny_bert({{"problem_type", "multi_label_classification"},
                               {"id2label", {{"0", "a"}, {"1", "b"}, {"2", "c"}}}}),
      "BertForSequenceClassification", {kBertTokenizer});
  json m = run_json("run text-classification " + multi.string() + " hello --param top_k=null");
  ASSERT_EQ(m.size(), 3u);
  const auto l = logits_of(multi, "hello");
  for (const auto& r : m) {
    const size_t i = static_cast<size_t>(r["label"].get<std::string>()[0] - 'a');
    EXPECT_NEAR(r["score"].get<double>(), 1.0 / (1.0 + std::exp(-l[i])), 1e-6);
  }
}

TEST(PipelineTextClassification, RobertaPairsBatchingAndTruncation) {
  const fs::path dir = make_model("roberta-cls", tiny_roberta(), "RobertaForSequenceClassification", {kRobertaTokenizer});
  const std::string inputs =
      "{\"text\": \"A man is eating.\", \"text_pair\": \"Someone eats.\"}\n\"short\"\n\"a somewhat longer second input\"\n";
  json one = run_json("run text-classification " + dir.string() + " --input-file - --top-k 2", inputs);
  json three = run_json("run text-classification " + dir.string() + " --input-file - --top-k 2 --batch-size 3", inputs);
  ASSERT_EQ(one.size(), 3u);
  for (size_t i = 0; i < 3; ++i)
    for (size_t k = 0; k < 2; ++k) {
      EXPECT_EQ(one[i][k]["label"], three[i][k]["label"]);
      EXPECT_NEAR(one[i][k]["score"].get<double>(), three[i][k]["score"].get<double>(), 1e-5);
    }
  // RoBERTa: 66 positions less the padding offset -> 64 tokens; truncation=true cuts a long input there.
  std::string text;
  for (int i = 0; i < 200; ++i) text += "word ";
  CliResult r = run_cli("run text-classification " + dir.string() + " \"" + text + "\"");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("accepts at most 64"), std::string::npos) << r.err;
  json t = run_json("run text-classification " + dir.string() + " \"" + text + "\" --param truncation=true");
  EXPECT_TRUE(t.contains("label"));
}
