// The post-processing of each task, free of models and tokenizers so unit tests can check it against
// hand-computed values: transformers' pipelines' postprocess() steps re-expressed in C++.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "io/config.h"

namespace ia::pipelines {

// ---- fill-mask
struct Candidate {
  double score = 0;
  uint32_t token = 0;
};
// softmax(logits) restricted to `targets` when non-empty, best `top_k` first (ties: lower token id first).
std::vector<Candidate> top_tokens(const std::vector<float>& logits, int64_t top_k,
                                  const std::vector<uint32_t>& targets);

// ---- text-classification
enum class ClassificationFunction { Softmax, Sigmoid, None };
// function_to_apply by name ("softmax" | "sigmoid" | "none"), else transformers' default for the config:
// sigmoid for problem_type multi_label_classification or num_labels == 1, else softmax.
ClassificationFunction classification_function(const ModelConfig& config, const std::string& requested);
// The scores for one row: {"label", "score"} of the best label when top_k is unset (transformers' legacy
// default), else up to top_k (0 = all) {"label", "score"} objects, best first.
nlohmann::json classify(const std::vector<float>& logits, const ModelConfig& config, ClassificationFunction f,
                        std::optional<int64_t> top_k);

// ---- token-classification
enum class Aggregation { None, Simple, First, Average, Max };
Aggregation aggregation_from_name(const std::string& name);  // InvalidArgument for unknown names
struct PreEntity {
  std::string word;            // the token (or the input text for an unknown token)
  std::vector<double> scores;  // softmax over labels
  int64_t start = 0, end = 0;  // character offsets into the input
  int64_t index = 0;           // token position in the encoded row
  bool is_subword = false;
};
// aggregate + group_entities + the ignore_labels filter. `tokens_to_string` joins tokens as the tokenizer's
// convert_tokens_to_string does.
nlohmann::json aggregate_entities(const std::vector<PreEntity>& pre, Aggregation strategy, const ModelConfig& config,
                                  const std::vector<std::string>& ignore_labels,
                                  const std::function<std::string(const std::vector<std::string>&)>& tokens_to_string);
// The "B-"/"I-" prefix and the entity tag of a label (a label without a prefix counts as "I").
std::pair<char, std::string> entity_tag(const std::string& label);

// ---- question-answering
struct Span {
  int64_t start = 0, end = 0;  // token indexes, inclusive
  double score = 0;
};
// select_starts_ends: softmax over the tokens allowed by `allowed` (context tokens plus CLS), the null score
// start[0]*end[0] (when handle_impossible_answer; folded into *min_null_score), then the top_k spans with
// start <= end < start + max_answer_len, both ends allowed.
std::vector<Span> best_spans(const std::vector<float>& start_logits, const std::vector<float>& end_logits,
                             const std::vector<uint8_t>& allowed, int64_t top_k, int64_t max_answer_len,
                             bool handle_impossible_answer, double* min_null_score);

// ---- zero-shot-classification
// Scores of the candidate labels for one sequence from each (sequence, hypothesis) row's NLI logits:
// multi_label: softmax over [contradiction, entailment] per label; else softmax of entailment logits across
// labels. contradiction_id -1 is the last class. Returns the scores in label order.
std::vector<double> zero_shot_scores(const std::vector<std::vector<float>>& nli_logits, int64_t entailment_id,
                                     int64_t contradiction_id, bool multi_label);

}  // namespace ia::pipelines
