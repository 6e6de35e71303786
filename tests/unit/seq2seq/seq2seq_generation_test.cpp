// Seq2seq generation invariants on tiny synthetic models of every encoder-decoder variant: greedy generation with
// the KV cache equals greedy recomputation of the whole decoder sequence without reuse, and a padded batch row
// generates exactly what the row alone generates.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "models/layers.h"
#include "models/model.h"
#include "models/seq2seq/seq2seq.h"

namespace ia {
namespace {

using nlohmann::json;

struct Variant {
  std::string name, hf_class;
  json config;
};

json t5_config(const std::string& type, const std::string& ff, bool tied) {
  return {{"model_type", type}, {"vocab_size", 61},  {"d_model", 24}, {"d_kv", 8},  {"d_ff", 40},
          {"num_heads", 3},     {"num_layers", 2},   {"num_decoder_layers", 3},    {"feed_forward_proj", ff},
          {"relative_attention_num_buckets", 8},     {"relative_attention_max_distance", 12},
          {"tie_word_embeddings", tied},             {"pad_token_id", 0},          {"decoder_start_token_id", 0}};
}

json bart_config(const std::string& type, const std::string& act, bool scale) {
  return {{"model_type", type},          {"vocab_size", 59},          {"d_model", 24},
          {"encoder_layers", 2},         {"decoder_layers", 2},       {"encoder_attention_heads", 3},
          {"decoder_attention_heads", 2}, {"encoder_ffn_dim", 40},    {"decoder_ffn_dim", 36},
          {"max_position_embeddings", 40}, {"pad_token_id", 1},       {"decoder_start_token_id", 2},
          {"activation_function", act},  {"scale_embedding", scale}};
}

std::vector<Variant> variants() {
  return {
      {"t5_gated_untied", "T5ForConditionalGeneration", t5_config("t5", "gated-gelu", false)},
      {"t5_relu_tied", "T5ForConditionalGeneration", t5_config("t5", "relu", true)},
      {"umt5", "UMT5ForConditionalGeneration", t5_config("umt5", "gated-gelu", false)},
      {"bart", "BartForConditionalGeneration", bart_config("bart", "gelu", false)},
      {"mbart", "MBartForConditionalGeneration", bart_config("mbart", "gelu", true)},
      {"marian", "MarianMTModel", bart_config("marian", "swish", true)},
      {"pegasus", "PegasusForConditionalGeneration", bart_config("pegasus", "relu", true)},
      {"blenderbot_small", "BlenderbotSmallForConditionalGeneration", bart_config("blenderbot-small", "gelu", true)},
      {"m2m_100", "M2M100ForConditionalGeneration", bart_config("m2m_100", "relu", true)},
  };
}

std::unique_ptr<Model> build(const Variant& v) {
  return build_model(ModelConfig(v.config, "test:" + v.name), WeightLoader::synthetic(11), v.hf_class);
}

const Tensor& output(const NamedTensors& out, const std::string& name) {
  for (const auto& [n, t] : out)
    if (n == name) return t;
  throw std::runtime_error("no output " + name);
}

Tensor i64(const std::vector<int64_t>& v, const Shape& s) { return Tensor::from_vector<int64_t>(v, s); }

// Batch of 2: row 0 has 9 tokens, row 1 has 6 real tokens and 3 (right) padding.
struct Batch {
  Tensor ids, mask;
};
Batch batch(int64_t pad, int64_t vocab) {
  std::vector<int64_t> ids, mask;
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t s = 0; s < 9; ++s) {
      const bool real = b == 0 || s < 6;
      ids.push_back(real ? 3 + (b * 17 + s * 7) % (vocab - 3) : pad);
      mask.push_back(real);
    }
  return {i64(ids, {2, 9}), i64(mask, {2, 9})};
}

constexpr int64_t kNew = 7;

TEST(Seq2SeqGeneration, CacheMatchesGreedyRecompute) {
  for (const Variant& v : variants()) {
    SCOPED_TRACE(v.name);
    auto m = build(v);
    ASSERT_TRUE(m->can_generate());
    const int64_t V = m->config().dim("vocab_size"), pad = m->config().dim_or("pad_token_id", 0);
    const int64_t start = m->config().dim_or("decoder_start_token_id", 0, 0);
    Batch in = batch(pad, V);
    GenerationRequest req;
    req.max_new_tokens = kNew;
    req.pad_token_id = pad;
    req.return_logits = true;
    const NamedTensors gen = m->generate({{"input_ids", in.ids}, {"attention_mask", in.mask}}, req);
    const auto ids = output(gen, "generated_ids").to_vector<int64_t>();
    const auto logits = output(gen, "generated_logits").to_vector<float>();
    ASSERT_EQ(output(gen, "generated_ids").shape(), (Shape{2, 1 + kNew}));
    ASSERT_EQ(output(gen, "generated_logits").shape(), (Shape{2, kNew, V}));

    // Recompute: every step runs the encoder and the whole decoder prefix from scratch.
    std::vector<std::vector<int64_t>> seq(2, std::vector<int64_t>{start});
    for (int64_t step = 0; step < kNew; ++step) {
      std::vector<int64_t> flat;
      for (const auto& s : seq) flat.insert(flat.end(), s.begin(), s.end());
      const int64_t L = static_cast<int64_t>(seq[0].size());
      const NamedTensors f = m->forward(
          {{"input_ids", in.ids}, {"attention_mask", in.mask}, {"decoder_input_ids", i64(flat, {2, L})}}, {});
      const Tensor last = output(f, "logits").slice(1, L - 1, L).contiguous();
      const auto lv = last.to_vector<float>();
      for (int64_t b = 0; b < 2; ++b) {
        int64_t best = 0;
        for (int64_t j = 0; j < V; ++j) {
          EXPECT_NEAR(lv[b * V + j], logits[(b * kNew + step) * V + j], 1e-4) << "row " << b << " step " << step;
          if (lv[b * V + j] > lv[b * V + best]) best = j;
        }
        seq[b].push_back(best);
      }
    }
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t i = 0; i <= kNew; ++i) EXPECT_EQ(ids[b * (1 + kNew) + i], seq[b][i]) << "row " << b << " pos " << i;
  }
}

TEST(Seq2SeqGeneration, PaddedRowMatchesRowAlone) {
  for (const Variant& v : variants()) {
    SCOPED_TRACE(v.name);
    auto m = build(v);
    const int64_t V = m->config().dim("vocab_size"), pad = m->config().dim_or("pad_token_id", 0);
    Batch in = batch(pad, V);
    GenerationRequest req;
    req.max_new_tokens = kNew;
    req.pad_token_id = pad;
    req.return_logits = true;
    const NamedTensors both = m->generate({{"input_ids", in.ids}, {"attention_mask", in.mask}}, req);
    const Tensor row_ids = in.ids.slice(0, 1, 2).slice(1, 0, 6).contiguous();
    const NamedTensors alone =
        m->generate({{"input_ids", row_ids}, {"attention_mask", layers::full_i64({1, 6}, 1)}}, req);
    const auto ids_both = output(both, "generated_ids").slice(0, 1, 2).contiguous().to_vector<int64_t>();
    EXPECT_EQ(ids_both, output(alone, "generated_ids").to_vector<int64_t>());
    const auto lb = output(both, "generated_logits").slice(0, 1, 2).contiguous().to_vector<float>();
    const auto la = output(alone, "generated_logits").to_vector<float>();
    ASSERT_EQ(lb.size(), la.size());
    for (size_t i = 0; i < lb.size(); ++i) ASSERT_NEAR(lb[i], la[i], 1e-4) << "logit " << i;
  }
}

TEST(Seq2SeqGeneration, EosFinishesRowsAndPads) {
  const Variant v{"bart", "BartForConditionalGeneration", bart_config("bart", "gelu", false)};
  auto m = build(v);
  Batch in = batch(1, 59);
  GenerationRequest req;
  req.max_new_tokens = kNew;
  req.pad_token_id = 1;
  req.return_logits = true;
  const NamedTensors free_run = m->generate({{"input_ids", in.ids}, {"attention_mask", in.mask}}, req);
  const auto ids = output(free_run, "generated_ids").to_vector<int64_t>();
  // Use row 0's second new token as EOS: row 0 stops there, the other row stops at its own first occurrence.
  const int64_t eos = ids[2];
  req.eos_token_ids = {eos};
  const NamedTensors stopped = m->generate({{"input_ids", in.ids}, {"attention_mask", in.mask}}, req);
  const Tensor& sid = output(stopped, "generated_ids");
  const auto s = sid.to_vector<int64_t>();
  const int64_t L = sid.dim(1);
  ASSERT_GE(L, 3);
  ASSERT_LE(L, 1 + kNew);
  EXPECT_EQ(output(stopped, "generated_logits").dim(1), L - 1);
  for (int64_t b = 0; b < 2; ++b) {
    bool finished = false;
    for (int64_t i = 1; i < L; ++i) {
      if (finished) EXPECT_EQ(s[b * L + i], 1) << "row " << b << " pos " << i;
      else EXPECT_EQ(s[b * L + i], ids[b * (1 + kNew) + i]) << "row " << b << " pos " << i;
      finished = finished || s[b * L + i] == eos;
    }
  }
}

TEST(LogitsProcessors, NgramBans) {
  using generation::ngram_banned_tokens;
  // Encoder trigrams (5, 6, 7) and (5, 6, 9): after decoder "... 5 6", 7 and 9 are banned.
  EXPECT_EQ(ngram_banned_tokens({5, 6, 7, 1, 5, 6, 9}, {0, 5, 6}, 3), (std::vector<int64_t>{7, 9}));
  EXPECT_TRUE(ngram_banned_tokens({5, 6, 7}, {0, 6}, 3).empty());
  EXPECT_TRUE(ngram_banned_tokens({5, 6, 7}, {6}, 3).empty());  // prefix shorter than n - 1
  // Self n-grams: "3 4" already followed by 8.
  const std::vector<int64_t> dec{0, 3, 4, 8, 3, 4};
  EXPECT_EQ(ngram_banned_tokens(dec, dec, 3), (std::vector<int64_t>{8}));
  // n = 1 bans every source token.
  EXPECT_EQ(ngram_banned_tokens({2, 3}, {0}, 1), (std::vector<int64_t>{2, 3}));
}

TEST(LogitsProcessors, ForcedAndBadWords) {
  generation::LogitsProcessors r;
  r.forced_bos_token_id = 4;
  r.forced_eos_token_ids = {2};
  r.bad_words_ids = {{7}, {3, 5}};
  r.min_length = 3;
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> s(8, 1.0f);
  r.apply(s, {0}, {}, {2}, 6);  // first step: forced BOS
  EXPECT_EQ(s, (std::vector<float>{-inf, -inf, -inf, -inf, 0.0f, -inf, -inf, -inf}));
  s.assign(8, 1.0f);
  r.apply(s, {0, 4, 3}, {}, {2}, 6);  // bad words 7 and (3, 5); eos allowed at length 3
  EXPECT_EQ(s, (std::vector<float>{1, 1, 1, 1, 1, -inf, 1, -inf}));
  s.assign(8, 1.0f);
  r.apply(s, {0, 4}, {}, {2}, 6);  // below min_length: eos banned
  EXPECT_EQ(s[2], -inf);
  s.assign(8, 1.0f);
  r.apply(s, {0, 4, 1, 1, 1}, {}, {2}, 6);  // last step: forced EOS
  EXPECT_EQ(s, (std::vector<float>{-inf, -inf, 0.0f, -inf, -inf, -inf, -inf, -inf}));
}

}  // namespace
}  // namespace ia
