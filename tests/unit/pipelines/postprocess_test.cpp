// Pipeline post-processing against hand-computed values: softmax scores and top-k (fill-mask,
// text-classification), entity aggregation and grouping (token-classification), span search
// (question-answering), NLI label scores (zero-shot), offsets and stride windows.
#include <gtest/gtest.h>

#include <cmath>

#include "pipelines/postprocess.h"
#include "pipelines/text_model.h"

using namespace ia::pipelines;
using nlohmann::json;

namespace {

ia::ModelConfig config(json j) { return ia::ModelConfig(std::move(j), "test/config.json"); }

// WordPiece's convert_tokens_to_string.
std::string wordpiece(const std::vector<std::string>& toks) {
  std::string s;
  for (const auto& t : toks) s += t.rfind("##", 0) == 0 ? t.substr(2) : (s.empty() ? "" : " ") + t;
  return s;
}

}  // namespace

TEST(PipelinePostprocess, FillMaskTopTokens) {
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  auto c = top_tokens({1.0f, 2.0f, 3.0f}, 2, {});
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].token, 2u);
  EXPECT_NEAR(c[0].score, std::exp(3.0) / z, 1e-9);
  EXPECT_EQ(c[1].token, 1u);
  EXPECT_NEAR(c[1].score, std::exp(2.0) / z, 1e-9);
  // Targets keep the full-vocabulary probabilities; top_k larger than the targets gives all of them.
  c = top_tokens({1.0f, 2.0f, 3.0f}, 5, {0, 1});
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].token, 1u);
  EXPECT_NEAR(c[1].score, std::exp(1.0) / z, 1e-9);
}

TEST(PipelinePostprocess, TextClassificationFunctions) {
  auto two = config({{"id2label", {{"0", "NEG"}, {"1", "POS"}}}});
  EXPECT_EQ(classification_function(two, ""), ClassificationFunction::Softmax);
  EXPECT_EQ(classification_function(config({{"num_labels", 1}}), ""), ClassificationFunction::Sigmoid);
  EXPECT_EQ(classification_function(config({{"problem_type", "multi_label_classification"}}), ""),
            ClassificationFunction::Sigmoid);
  EXPECT_EQ(classification_function(two, "NONE"), ClassificationFunction::None);
  EXPECT_THROW(classification_function(two, "relu"), ia::Error);

  // softmax([0, ln 3]) = [0.25, 0.75].
  json best = classify({0.0f, static_cast<float>(std::log(3.0))}, two, ClassificationFunction::Softmax, std::nullopt);
  EXPECT_EQ(best["label"], "POS");
  EXPECT_NEAR(best["score"].get<double>(), 0.75, 1e-6);
  json all = classify({0.0f, static_cast<float>(std::log(3.0))}, two, ClassificationFunction::Softmax, 0);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1]["label"], "NEG");
  EXPECT_NEAR(all[1]["score"].get<double>(), 0.25, 1e-6);
  // sigmoid(0) = 0.5, sigmoid(2) = 0.8808; no id2label -> LABEL_i.
  json sig = classify({0.0f, 2.0f}, config(json::object()), ClassificationFunction::Sigmoid, 1);
  ASSERT_EQ(sig.size(), 1u);
  EXPECT_EQ(sig[0]["label"], "LABEL_1");
  EXPECT_NEAR(sig[0]["score"].get<double>(), 1.0 / (1.0 + std::exp(-2.0)), 1e-9);
  json raw = classify({-1.5f, 2.0f}, two, ClassificationFunction::None, 0);
  EXPECT_NEAR(raw[1]["score"].get<double>(), -1.5, 1e-9);
}

TEST(PipelinePostprocess, EntityTags) {
  EXPECT_EQ(entity_tag("B-LOC"), std::make_pair('B', std::string("LOC")));
  EXPECT_EQ(entity_tag("I-PER"), std::make_pair('I', std::string("PER")));
  EXPECT_EQ(entity_tag("MISC"), std::make_pair('I', std::string("MISC")));
  EXPECT_EQ(aggregation_from_name("Average"), Aggregation::Average);
  EXPECT_THROW(aggregation_from_name("mean"), ia::Error);
}

TEST(PipelinePostprocess, TokenClassificationAggregation) {
  // Labels O, B-LOC, I-LOC, B-PER over "new york is big" tokenized new | york | is | bi | ##g.
  auto cfg = config({{"id2label", {{"0", "O"}, {"1", "B-LOC"}, {"2", "I-LOC"}, {"3", "B-PER"}}}});
  std::vector<PreEntity> pre = {
      {"new", {0.1, 0.7, 0.1, 0.1}, 0, 3, 1, false},    {"york", {0.2, 0.1, 0.6, 0.1}, 4, 8, 2, false},
      {"is", {0.9, 0.0, 0.05, 0.05}, 9, 11, 3, false},  {"bi", {0.1, 0.1, 0.3, 0.5}, 12, 14, 4, false},
      {"##g", {0.1, 0.1, 0.7, 0.1}, 14, 15, 5, true},
  };
  const std::vector<std::string> ignore{"O"};

  json none = aggregate_entities(pre, Aggregation::None, cfg, ignore, wordpiece);
  ASSERT_EQ(none.size(), 4u);  // "is" is O
  EXPECT_EQ(none[0], json({{"entity", "B-LOC"}, {"score", 0.7}, {"index", 1}, {"word", "new"}, {"start", 0}, {"end", 3}}));
  EXPECT_EQ(none[3]["word"], "##g");
  EXPECT_EQ(none[3]["entity"], "I-LOC");

  // simple: B-LOC + I-LOC merge; B-PER then I-LOC stay apart (different tags).
  json simple = aggregate_entities(pre, Aggregation::Simple, cfg, ignore, wordpiece);
  ASSERT_EQ(simple.size(), 3u);
  EXPECT_EQ(simple[0]["entity_group"], "LOC");
  EXPECT_EQ(simple[0]["word"], "new york");
  EXPECT_NEAR(simple[0]["score"].get<double>(), (0.7 + 0.6) / 2, 1e-12);
  EXPECT_EQ(simple[0]["start"], 0);
  EXPECT_EQ(simple[0]["end"], 8);
  EXPECT_EQ(simple[1]["entity_group"], "PER");
  EXPECT_EQ(simple[2]["entity_group"], "LOC");
  EXPECT_EQ(simple[2]["word"], "g");

  // first: the word "big" takes its first token's label (B-PER, 0.5).
  json first = aggregate_entities(pre, Aggregation::First, cfg, ignore, wordpiece);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[1], json({{"entity_group", "PER"}, {"score", 0.5}, {"word", "big"}, {"start", 12}, {"end", 15}}));

  // average: big's rows average to [0.1, 0.1, 0.5, 0.3] -> I-LOC 0.5; its own group, since the O word "is"
  // between it and "new york" breaks the run (grouping happens before the O filter).
  json avg = aggregate_entities(pre, Aggregation::Average, cfg, ignore, wordpiece);
  ASSERT_EQ(avg.size(), 2u);
  EXPECT_EQ(avg[1]["entity_group"], "LOC");
  EXPECT_EQ(avg[1]["word"], "big");
  EXPECT_NEAR(avg[1]["score"].get<double>(), 0.5, 1e-12);

  // max: the token with the highest single score (##g, 0.7 for I-LOC) decides.
  json mx = aggregate_entities(pre, Aggregation::Max, cfg, ignore, wordpiece);
  ASSERT_EQ(mx.size(), 2u);
  EXPECT_EQ(mx[1]["entity_group"], "LOC");
  EXPECT_NEAR(mx[1]["score"].get<double>(), 0.7, 1e-12);

  // Without ignore_labels the O word is reported too.
  json keep = aggregate_entities(pre, Aggregation::First, cfg, {}, wordpiece);
  ASSERT_EQ(keep.size(), 3u);
  EXPECT_EQ(keep[1]["entity_group"], "O");
}

TEST(PipelinePostprocess, QuestionAnsweringSpans) {
  // Token 0 is CLS (allowed, then zeroed), token 1 the question (masked), 2..4 the context.
  const std::vector<float> start{0, 5, 1, 3, -1}, end{0, 5, 0, 1, 4};
  const std::vector<uint8_t> allowed{1, 0, 1, 1, 1};
  const double zs = 1 + std::exp(1.0) + std::exp(3.0) + std::exp(-1.0), ze = 1 + 1 + std::exp(1.0) + std::exp(4.0);
  const double s2 = std::exp(1.0) / zs, s3 = std::exp(3.0) / zs, e3 = std::exp(1.0) / ze, e4 = std::exp(4.0) / ze;
  double null = 1e6;
  auto spans = best_spans(start, end, allowed, 3, 3, true, &null);
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_EQ(spans[0].start, 3);
  EXPECT_EQ(spans[0].end, 4);
  EXPECT_NEAR(spans[0].score, s3 * e4, 1e-9);
  EXPECT_EQ(spans[1].start, 2);
  EXPECT_EQ(spans[1].end, 4);
  EXPECT_NEAR(spans[1].score, s2 * e4, 1e-9);
  EXPECT_EQ(spans[2].start, 3);
  EXPECT_EQ(spans[2].end, 3);
  EXPECT_NEAR(spans[2].score, s3 * e3, 1e-9);
  EXPECT_NEAR(null, (1 / zs) * (1 / ze), 1e-12);  // start[0] * end[0] before zeroing
  // max_answer_len 2 drops the 3-token span (2, 4).
  spans = best_spans(start, end, allowed, 2, 2, false, nullptr);
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[1].start, 3);
  EXPECT_EQ(spans[1].end, 3);
}

TEST(PipelinePostprocess, ZeroShotScores) {
  // [contradiction, neutral, entailment] logits for two labels.
  const std::vector<std::vector<float>> l{{0, 0, 1}, {0, 0, 0}};
  auto single = zero_shot_scores(l, 2, 0, false);
  EXPECT_NEAR(single[0], std::exp(1.0) / (std::exp(1.0) + 1), 1e-9);
  EXPECT_NEAR(single[1], 1 / (std::exp(1.0) + 1), 1e-9);
  auto multi = zero_shot_scores(l, 2, 0, true);
  EXPECT_NEAR(multi[0], std::exp(1.0) / (std::exp(1.0) + 1), 1e-9);
  EXPECT_NEAR(multi[1], 0.5, 1e-9);
  // entailment id 0: the contradiction class is the last one (-1).
  auto last = zero_shot_scores({{2, 0, 1}}, 0, -1, true);
  EXPECT_NEAR(last[0], std::exp(2.0) / (std::exp(2.0) + std::exp(1.0)), 1e-9);
}

TEST(PipelinePostprocess, CharOffsetsAndStrideWindows) {
  // "aé b": bytes a | é é | ' ' | b -> characters 0 1 1 2 3, end 4.
  EXPECT_EQ(char_index_of_bytes("a\xc3\xa9 b"), (std::vector<int64_t>{0, 1, 1, 2, 3, 4}));
  EXPECT_EQ(char_count("a\xc3\xa9 b"), 4);

  ia::text::Encoding e;
  const std::vector<int32_t> seq{-1, 0, -1, 1, 1, 1, 1, 1, 1, -1};
  for (size_t i = 0; i < seq.size(); ++i) {
    e.ids.push_back(static_cast<uint32_t>(100 + i));
    e.type_ids.push_back(seq[i] == 1);
    e.tokens.push_back("t" + std::to_string(i));
    e.offsets.push_back({0, 0});
    e.special_tokens_mask.push_back(seq[i] < 0);
    e.attention_mask.push_back(1);
    e.sequence_ids.push_back(seq[i]);
    e.word_ids.push_back(seq[i] < 0 ? -1 : static_cast<int32_t>(i));
  }
  // 7 tokens per window: 4 around the context leave 3 context tokens, overlapping by 1 -> 3 windows.
  auto w = stride_windows(e, 1, 7, 1, "test");
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0].ids, (std::vector<uint32_t>{100, 101, 102, 103, 104, 105, 109}));
  EXPECT_EQ(w[1].ids, (std::vector<uint32_t>{100, 101, 102, 105, 106, 107, 109}));
  EXPECT_EQ(w[2].ids, (std::vector<uint32_t>{100, 101, 102, 107, 108, 109}));
  EXPECT_EQ(stride_windows(e, 1, 64, 1, "test").size(), 1u);
  EXPECT_THROW(stride_windows(e, 1, 4, 0, "test"), ia::Error);  // no room for the context
  EXPECT_THROW(stride_windows(e, 1, 7, 3, "test"), ia::Error);  // stride >= room
}
