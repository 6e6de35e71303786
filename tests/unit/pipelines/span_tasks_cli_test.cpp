// `run token-classification / question-answering / zero-shot-classification / feature-extraction /
// sentence-embeddings` end to end on tiny random BERT checkpoints with the real bert-base-uncased tokenizer:
// offsets point at the text, answers are context[start:end], long contexts go through stride windows, NLI
// scores equal the softmax of the pair logits, sentence embeddings equal pooled token features.
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>

#include "pipeline_test_util.h"

using namespace ia_test;
using nlohmann::json;

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

const fs::path& bert_ner() {
  static fs::path p = make_model(
      "bert-ner",
      tiny_bert({{"id2label", {{"0", "O"}, {"1", "B-PER"}, {"2", "I-PER"}, {"3", "B-LOC"}, {"4", "I-LOC"}}},
                 {"label2id", {{"O", 0}, {"B-PER", 1}, {"I-PER", 2}, {"B-LOC", 3}, {"I-LOC", 4}}}}),
      "BertForTokenClassification", {kBertTokenizer});
  return p;
}

const fs::path& bert_qa() {
  static fs::path p = make_model("bert-qa", tiny_bert(), "BertForQuestionAnswering", {kBertTokenizer});
  return p;
}

}  // namespace

TEST(PipelineTokenClassification, EntitiesPointAtTheText) {
  const std::string text = "My name is Wolfgang and I live in Berlin, near the Brandenburger Tor.";
  json none = run_json("run ner " + bert_ner().string() + " \"" + text + "\" --param 'ignore_labels=[]'");
  ASSERT_TRUE(none.is_array());
  ASSERT_GT(none.size(), 10u);  // every non-special token, nothing ignored
  for (const auto& e : none) {
    const int64_t s = e["start"], en = e["end"];
    std::string word = e["word"];
    if (word.rfind("##", 0) == 0) word = word.substr(2);
    EXPECT_EQ(lower(text.substr(s, en - s)), word) << e.dump();
    EXPECT_GT(e["score"].get<double>(), 0.2);  // the best of 5 labels
  }
  for (const char* strategy : {"simple", "first", "average", "max"}) {
    json g = run_json("run token-classification " + bert_ner().string() + " \"" + text +
                      "\" --aggregation-strategy " + strategy);
    ASSERT_TRUE(g.is_array()) << strategy;
    int64_t prev_end = -1;
    for (const auto& e : g) {
      ASSERT_TRUE(e.contains("entity_group") && e.contains("score") && e.contains("word") && e.contains("start") &&
                  e.contains("end")) << e.dump();
      EXPECT_NE(e["entity_group"], "O");
      EXPECT_FALSE(e.contains("index"));
      EXPECT_GE(e["start"].get<int64_t>(), prev_end);  // groups are disjoint and in order
      prev_end = e["end"];
      // A group that starts inside a word keeps the subword marker, as convert_tokens_to_string does.
      std::string word = e["word"];
      if (word.rfind("##", 0) == 0) word = word.substr(2);
      EXPECT_EQ(lower(text.substr(e["start"], e["end"].get<int64_t>() - e["start"].get<int64_t>())), word)
          << strategy << " " << e.dump();
    }
  }
  // Words aggregated with first/average/max never split a word: every group boundary is a word boundary.
  json first = run_json("run token-classification " + bert_ner().string() + " \"" + text +
                        "\" --aggregation-strategy first --param 'ignore_labels=[]'");
  for (const auto& e : first) {
    const size_t s = e["start"], en = e["end"];
    EXPECT_TRUE(s == 0 || !std::isalnum(static_cast<unsigned char>(text[s - 1])) ||
                !std::isalnum(static_cast<unsigned char>(text[s]))) << e.dump();
    EXPECT_TRUE(en == text.size() || !std::isalnum(static_cast<unsigned char>(text[en]))) << e.dump();
  }
  CliResult r = run_cli("run ner " + bert_ner().string() + " hello --aggregation-strategy mean");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("aggregation_strategy"), std::string::npos);
}

TEST(PipelineTokenClassification, LongTextTruncatedOrStrided) {
  std::string text;
  for (int i = 0; i < 60; ++i) text += "Paris and Berlin ";
  json cut = run_json("run ner " + bert_ner().string() + " \"" + text + "\" --param 'ignore_labels=[]'");
  EXPECT_LE(cut.size(), 62u);  // truncated at 64 tokens less [CLS] and [SEP]
  json all = run_json("run ner " + bert_ner().string() + " \"" + text +
                      "\" --aggregation-strategy first --param stride=8 --param 'ignore_labels=[]'");
  ASSERT_FALSE(all.empty());
  EXPECT_GT(all.back()["end"].get<size_t>(), text.size() - 10);  // windows reach the end of the text
  CliResult r = run_cli("run ner " + bert_ner().string() + " hello --param stride=8");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("aggregation_strategy"), std::string::npos) << r.err;
}

TEST(PipelineQuestionAnswering, AnswersAreContextSpans) {
  const std::string context = "The Eiffel Tower is in Paris. It was built in 1889 by the company of Gustave Eiffel.";
  json a = run_json("run question-answering " + bert_qa().string() +
                    " '{\"question\": \"When was it built?\", \"context\": \"" + context + "\"}'");
  ASSERT_TRUE(a.is_object());
  const int64_t s = a["start"], e = a["end"];
  EXPECT_EQ(context.substr(s, e - s), a["answer"]);
  EXPECT_GT(a["score"].get<double>(), 0.0);
  json top = run_json("run question-answering " + bert_qa().string() + " \"When was it built?\" --param 'context=" +
                      context + "' --top-k 3 --param max_answer_len=4");
  ASSERT_TRUE(top.is_array());
  ASSERT_EQ(top.size(), 3u);
  for (size_t i = 0; i < top.size(); ++i) {
    const int64_t ts = top[i]["start"], te = top[i]["end"];
    EXPECT_EQ(context.substr(ts, te - ts), top[i]["answer"]);
    if (i) EXPECT_GE(top[i - 1]["score"].get<double>(), top[i]["score"].get<double>());
  }
  json imp = run_json("run question-answering " + bert_qa().string() + " \"Who?\" --param 'context=" + context +
                      "' --top-k 50 --param handle_impossible_answer=true");
  bool null_answer = false;
  for (const auto& x : imp) null_answer = null_answer || (x["answer"] == "" && x["start"] == 0 && x["end"] == 0);
  EXPECT_TRUE(null_answer);
}

TEST(PipelineQuestionAnswering, LongContextWindowsAndBadInputs) {
  std::string context;
  for (int i = 0; i < 40; ++i) context += "Sentence number " + std::to_string(i) + " talks about things. ";
  json a = run_json("run question-answering " + bert_qa().string() + " \"Which sentence?\" --param 'context=" + context +
                    "' --param doc_stride=16 --top-k 5");
  ASSERT_TRUE(a.is_array());
  bool late = false;  // an answer from a window past the first 64 tokens
  for (const auto& x : a) {
    const int64_t s = x["start"], e = x["end"];
    EXPECT_EQ(context.substr(s, e - s), x["answer"]);
    late = late || s > 200;
  }
  EXPECT_TRUE(late) << a.dump();
  std::string question;
  for (int i = 0; i < 80; ++i) question += "why ";
  CliResult r = run_cli("run question-answering " + bert_qa().string() + " \"" + question + "\" --param context=short");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("leaving no room"), std::string::npos) << r.err;
  r = run_cli("run question-answering " + bert_qa().string() + " '{\"question\": \"x\"}'");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("\"context\""), std::string::npos) << r.err;
}

TEST(PipelineZeroShot, EntailmentSoftmaxOverPairLogits) {
  const fs::path d = make_model(
      "bert-nli",
      tiny_bert({{"id2label", {{"0", "contradiction"}, {"1", "neutral"}, {"2", "entailment"}}},
                 {"label2id", {{"contradiction", 0}, {"neutral", 1}, {"entailment", 2}}}}),
      "BertForSequenceClassification", {kBertTokenizer});
  const std::string seq = "one day I will see the world";
  json z = run_json("run zero-shot-classification " + d.string() + " \"" + seq + "\" --candidate-labels travel,cooking");
  ASSERT_EQ(z["sequence"], seq);
  ASSERT_EQ(z["labels"].size(), 2u);
  // The pair logits through text-classification with no function applied.
  std::vector<std::vector<double>> logits;
  for (const char* label : {"travel", "cooking"}) {
    json raw = run_json("run text-classification " + d.string() + " '{\"text\": \"" + seq +
                        "\", \"text_pair\": \"This example is " + label +
                        ".\"}' --param top_k=null --param function_to_apply=none");
    std::vector<double> l(3);
    for (const auto& x : raw)
      l[x["label"] == "contradiction" ? 0 : x["label"] == "neutral" ? 1 : 2] = x["score"].get<double>();
    logits.push_back(l);
  }
  const double et = std::exp(logits[0][2]), ec = std::exp(logits[1][2]);
  const double travel = z["labels"][0] == "travel" ? z["scores"][0].get<double>() : z["scores"][1].get<double>();
  EXPECT_NEAR(travel, et / (et + ec), 1e-5);
  json m = run_json("run zero-shot-classification " + d.string() + " \"" + seq +
                    "\" --candidate-labels travel,cooking --param multi_label=true");
  const double mt = m["labels"][0] == "travel" ? m["scores"][0].get<double>() : m["scores"][1].get<double>();
  EXPECT_NEAR(mt, std::exp(logits[0][2]) / (std::exp(logits[0][2]) + std::exp(logits[0][0])), 1e-5);
  // A sentiment head has no entailment label: zero-shot is not among its tasks.
  const fs::path s = make_model("bert-sent", tiny_bert(), "BertForSequenceClassification", {kBertTokenizer});
  CliResult r = run_cli("run zero-shot-classification " + s.string() + " hi --candidate-labels a");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("this model supports: feature-extraction, text-classification"), std::string::npos) << r.err;
}

TEST(PipelineFeatures, TokenFeaturesAndSentenceEmbeddings) {
  const fs::path d = make_model("bert-st", tiny_bert(), "BertModel", {kBertTokenizer});
  json f = run_json("run feature-extraction " + d.string() + " \"hello world\"");
  ASSERT_EQ(f.size(), 1u);
  ASSERT_EQ(f[0].size(), 4u);  // [CLS] hello world [SEP]
  ASSERT_EQ(f[0][0].size(), 32u);
  // sentence-transformers layout: mean pooling + Normalize.
  std::ofstream(d / "modules.json") << R"([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
 {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
 {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}])";
  fs::create_directories(d / "1_Pooling");
  std::ofstream(d / "1_Pooling" / "config.json")
      << R"({"word_embedding_dimension": 32, "pooling_mode_cls_token": false, "pooling_mode_mean_tokens": true, "pooling_mode_max_tokens": false})";
  std::ofstream(d / "sentence_bert_config.json") << R"({"max_seq_length": 16, "do_lower_case": false})";
  json e = run_json("run sentence-embeddings " + d.string() + " \"hello world\"");
  ASSERT_EQ(e.size(), 32u);
  std::vector<double> mean(32, 0.0);
  for (const auto& tok : f[0])
    for (size_t h = 0; h < 32; ++h) mean[h] += tok[h].get<double>() / 4.0;
  double n = 0;
  for (double x : mean) n += x * x;
  n = std::sqrt(n);
  for (size_t h = 0; h < 32; ++h) EXPECT_NEAR(e[h].get<double>(), mean[h] / n, 1e-5);
  // max_seq_length 16 truncates instead of failing.
  std::string text;
  for (int i = 0; i < 100; ++i) text += "word ";
  json t = run_json("run sentence-embeddings " + d.string() + " \"" + text + "\"");
  EXPECT_EQ(t.size(), 32u);
  CliResult r = run_cli("run feature-extraction " + d.string() + " \"" + text + "\"");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("accepts at most 64"), std::string::npos) << r.err;
}
