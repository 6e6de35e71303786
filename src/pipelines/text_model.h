// What the text tasks share: a model with its tokenizer loaded from one directory, HF-style encoding (the
// model's maximum length, truncation strategies, batches padded to the longest row) and one forward pass per
// batch with the inputs the model takes (input_ids, attention_mask, token_type_ids).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/model.h"
#include "pipelines/pipeline.h"
#include "text/tokenizer.h"

namespace ia::pipelines {

// transformers' truncation argument: None (an over-long input is an InvalidArgument naming the limit),
// LongestFirst (truncation=True), OnlyFirst / OnlySecond for pairs; Unlimited: neither truncated nor checked
// (the caller cuts the encoding into stride windows).
enum class Truncation { None, LongestFirst, OnlyFirst, OnlySecond, Unlimited };

struct TextModel {
  std::string dir;
  std::unique_ptr<Model> model;
  std::unique_ptr<text::Tokenizer> tokenizer;
  // Tokens the model accepts: tokenizer_config model_max_length capped by the position table
  // (max_position_embeddings, less RoBERTa-style padding offsets); 0 when the model has no such limit.
  int64_t max_length = 0;
  bool right_padding = true;                // tokenizer_config padding_side
  std::optional<uint32_t> pad_id;           // tokenizer pad_token, else config pad_token_id
  bool uses_token_types = false;            // config type_vocab_size >= 2 (the tokenizer returns token_type_ids)
  std::string continuing_subword_prefix;    // tokenizer.json model.continuing_subword_prefix ("##"), "" if none

  // Loads the tokenizer and the model (hf_class: "" = config.architectures[0]) from ctx.model_dir.
  static TextModel load(const RunContext& ctx, const std::string& hf_class = "");

  // Encodes one text (or a pair) with special tokens. `task` names the task in errors.
  text::Encoding encode(const std::string& task, const std::string& text, const std::string* pair,
                        Truncation truncation) const;
  // Token id of a special token from tokenizer_config (e.g. config().mask_token), else of the first added
  // special token spelled as one of `fallbacks`.
  std::optional<uint32_t> special_id(const std::optional<std::string>& configured,
                                     const std::vector<std::string>& fallbacks) const;
  // input_ids / attention_mask (/ token_type_ids) for rows padded to the longest (or to pad_to when longer).
  TensorMap batch_inputs(const std::vector<const text::Encoding*>& rows, size_t pad_to = 0) const;
  // Forward pass over rows padded to the longest; returns the model's outputs.
  NamedTensors forward(const std::vector<const text::Encoding*>& rows) const;
  // Runs `rows` in batches of ctx.batch_size and returns, per row, the named output on the host: per_token
  // outputs ([B, S, ...]) cut to the row's own tokens ([len, ...]), pooled ones ([B, ...]) as [...].
  std::vector<Tensor> forward_rows(const RunContext& ctx, const std::vector<const text::Encoding*>& rows,
                                   const std::string& output, bool per_token) const;
  // As forward_rows for several outputs of the same passes: result[row][k] is outputs[k].
  std::vector<std::vector<Tensor>> forward_rows(const RunContext& ctx, const std::vector<const text::Encoding*>& rows,
                                                const std::vector<std::string>& outputs, bool per_token) const;
};

// HF's return_overflowing_tokens with a stride, for sequence `seq` of an encoding made without truncation:
// windows of at most max_length tokens over that sequence's tokens, each overlapping the previous one by
// `stride` of them, every window keeping the tokens around the sequence (special tokens, the other input).
// InvalidArgument when the tokens around it leave no room or stride does not fit.
std::vector<text::Encoding> stride_windows(const text::Encoding& full, int32_t seq, int64_t max_length,
                                           int64_t stride, const std::string& task);
// Number of Unicode code points in UTF-8 `s` (Python len()).
int64_t char_count(const std::string& s);

// Zero-shot candidate labels: the input's "candidate_labels", else the candidate_labels parameter; a string
// is split at commas; labels are stripped and empty ones dropped (InvalidArgument when none is left).
std::vector<std::string> candidate_labels(const RunContext& ctx, const nlohmann::json& input, const std::string& task);
// hypothesis_template.format(label): the label replaces "{}" (InvalidArgument when the template has none).
std::string format_hypothesis(const std::string& tmpl, const std::string& label, const std::string& task);

// The text of an input: a JSON string, or an object's `key` field (InvalidArgument naming the task otherwise).
std::string input_text(const std::string& task, const nlohmann::json& input, const std::string& key);
// Character (code point) index of each byte offset in UTF-8 `s`: HF reports offsets in Python str indices.
std::vector<int64_t> char_index_of_bytes(const std::string& s);
// Host f32 copy of an output tensor.
std::vector<float> host_floats(const Tensor& t);
// Numerically stable softmax / logistic sigmoid of logits, as transformers' pipelines compute them (numpy).
std::vector<double> softmax(const std::vector<float>& logits);
std::vector<double> sigmoid(const std::vector<float>& logits);
// config.json id2label[i], or "LABEL_i" when absent (transformers' default).
std::string id2label(const ModelConfig& config, int64_t i);
// "last_hidden_state" for a base model (class ...Model), else the "base.last_hidden_state" a head model
// returns for its backbone.
std::string hidden_state_output(const Model& model);
// The output tensor `name` of a forward pass; Unsupported naming the outputs there are when it is absent.
const Tensor& output_named(const NamedTensors& out, const std::string& name, const std::string& task);

}  // namespace ia::pipelines
