#include "hardware/memory_estimate.h"

#include <gtest/gtest.h>

namespace ia {
namespace {

TEST(MemoryEstimate, EncoderShapes) {
  // bert-base: hidden 768, 12 layers, 12 heads, MLP 3072.
  ModelConfig cfg(nlohmann::json{{"hidden_size", 768},
                                 {"num_hidden_layers", 12},
                                 {"num_attention_heads", 12},
                                 {"intermediate_size", 3072}},
                  "bert.json");
  WorkloadShape s;
  s.batch = 2;
  s.seq_len = 128;
  MemoryEstimate m = estimate_memory(cfg, 440u << 20, s);
  EXPECT_EQ(m.weights, 440u << 20);
  EXPECT_EQ(m.activations, 2ull * 128 * (6 * 768 + 2 * 3072) * 4 + 2ull * 2 * 12 * 128 * 128 * 4);
  EXPECT_EQ(m.kv_cache, 0u);
  EXPECT_EQ(m.total(), m.weights + m.activations);
  EXPECT_NE(m.str().find("weights 440 MiB"), std::string::npos) << m.str();
}

TEST(MemoryEstimate, DecoderKvCacheUsesKvHeadsAndNestedTextConfig) {
  ModelConfig cfg(nlohmann::json{{"model_type", "llava"},
                                 {"text_config",
                                  {{"hidden_size", 4096},
                                   {"num_hidden_layers", 32},
                                   {"num_attention_heads", 32},
                                   {"num_key_value_heads", 8},
                                   {"intermediate_size", 14336}}}},
                  "llava.json");
  WorkloadShape s;
  s.batch = 1;
  s.seq_len = 1000;
  s.new_tokens = 24;
  MemoryEstimate m = estimate_memory(cfg, 0, s);
  EXPECT_EQ(m.kv_cache, 2ull * 32 * 1 * 8 * 128 * 1024 * 4);
  EXPECT_GT(m.activations, 0u);
}

TEST(MemoryEstimate, Gpt2Aliases) {
  ModelConfig cfg(nlohmann::json{{"n_embd", 64}, {"n_layer", 2}, {"n_head", 4}}, "gpt2.json");
  WorkloadShape s;
  s.seq_len = 10;
  s.new_tokens = 6;
  MemoryEstimate m = estimate_memory(cfg, 0, s);
  EXPECT_EQ(m.kv_cache, 2ull * 2 * 1 * 4 * 16 * 16 * 4);  // kv heads default to heads, head_dim = 64 / 4
  EXPECT_EQ(m.activations, 10ull * (6 * 64 + 2 * 256) * 4 + 2ull * 4 * 10 * 16 * 4);
}

}  // namespace
}  // namespace ia
