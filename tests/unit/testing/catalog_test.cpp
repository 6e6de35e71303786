#include "testing/catalog.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "models/model.h"

using nlohmann::json;
using namespace ia::suite;

namespace {

const Catalog& catalog() {
  static Catalog c = Catalog::load(std::string(IA_SOURCE_DIR) + "/catalog");
  return c;
}

}  // namespace

TEST(Catalog, HasOverThreeHundredUniqueEntriesInEveryFamily) {
  const auto& c = catalog();
  EXPECT_GE(c.entries().size(), 300u);
  std::set<std::string> ids;
  std::map<std::string, int> per_family;
  for (const auto& e : c.entries()) {
    EXPECT_TRUE(ids.insert(e.id).second) << e.id;
    EXPECT_NE(e.id.find('/'), std::string::npos) << e.id << ": HF ids are org/name";
    EXPECT_FALSE(e.task.empty()) << e.id;
    EXPECT_GT(e.params, 0) << e.id;
    ++per_family[e.family];
  }
  for (const auto& f : ia::all_families()) EXPECT_GT(per_family[f], 0) << f;
  EXPECT_GE(per_family["diffusion"], 8);
  EXPECT_GE(per_family["mixture-of-experts"], 5);
  EXPECT_GE(per_family["state-space"], 5);
  EXPECT_GE(per_family["rag"], 3);
}

TEST(Catalog, TinyConfigKeepsShapeFeaturesAndShrinksSizes) {
  const auto* bert = catalog().find("google-bert/bert-base-uncased");
  ASSERT_NE(bert, nullptr);
  json t = make_tiny_config(*bert);
  EXPECT_EQ(t["model_type"], "bert");
  EXPECT_EQ(t["architectures"][0], "BertForMaskedLM");
  EXPECT_EQ(t["hidden_size"], 32);
  EXPECT_EQ(t["num_attention_heads"], 4);
  EXPECT_EQ(t["num_hidden_layers"], 2);
  EXPECT_EQ(t["intermediate_size"], 128);  // 4x width kept
  EXPECT_EQ(t["vocab_size"], 256);
  EXPECT_EQ(t["hidden_act"], "gelu");

  const auto* roberta = catalog().find("FacebookAI/roberta-base");
  ASSERT_NE(roberta, nullptr);
  EXPECT_EQ(make_tiny_config(*roberta)["max_position_embeddings"], 66);  // 514 = 512 + 2 offset kept

  const auto* llama3 = catalog().find("meta-llama/Llama-3.1-8B-Instruct");
  ASSERT_NE(llama3, nullptr);
  json l = make_tiny_config(*llama3);
  EXPECT_EQ(l["num_attention_heads"].get<int>() / l["num_key_value_heads"].get<int>(), 4);  // GQA ratio 32/8
  EXPECT_EQ(l["rope_scaling"]["rope_type"], "llama3");
  EXPECT_EQ(l["hidden_act"], "silu");
  EXPECT_EQ(l["tie_word_embeddings"], false);

  const auto* mistral = catalog().find("mistralai/Mistral-7B-v0.1");
  ASSERT_NE(mistral, nullptr);
  EXPECT_EQ(make_tiny_config(*mistral)["sliding_window"], 4);  // smaller than the test sequences

  for (const auto& e : catalog().entries()) {
    json c = make_tiny_config(e);
    EXPECT_EQ(c["model_type"], e.model_type) << e.id;
    if (c.contains("vocab_size")) {
      EXPECT_LE(c["vocab_size"].get<int64_t>(), 256) << e.id;
      if (c.contains("pad_token_id") && c["pad_token_id"].is_number_integer())
        EXPECT_LT(c["pad_token_id"].get<int64_t>(), c["vocab_size"].get<int64_t>()) << e.id;
    }
  }
}

TEST(Catalog, ClassifiesAndFillsTheTemplateFromAnHfConfig) {
  json bert = {{"model_type", "bert"}, {"architectures", {"BertForSequenceClassification"}}, {"hidden_size", 768},
               {"num_hidden_layers", 12}, {"num_attention_heads", 12}, {"intermediate_size", 3072},
               {"vocab_size", 30522}, {"hidden_dropout_prob", 0.1}, {"id2label", {{"0", "NEG"}, {"1", "POS"}}},
               {"transformers_version", "4.40.0"}};
  CatalogEntry e = entry_from_hf_config("someone/bert-sentiment", bert, &catalog());
  EXPECT_EQ(e.family, "encoder-only");
  EXPECT_EQ(e.task, "text-classification");
  EXPECT_EQ(e.config["num_labels"], 2);
  EXPECT_FALSE(e.config.contains("hidden_dropout_prob"));
  EXPECT_FALSE(e.config.contains("transformers_version"));
  EXPECT_GT(e.params, 80000000);

  EXPECT_EQ(classify_family({{"model_type", "llama"}, {"architectures", {"LlamaForCausalLM"}}}, &catalog()),
            "decoder-only");
  EXPECT_EQ(classify_family({{"model_type", "brand_new_moe"}, {"architectures", {"BrandNewMoeForCausalLM"}},
                             {"num_local_experts", 8}}),
            "mixture-of-experts");
  EXPECT_EQ(classify_family({{"model_type", "new_vit"}, {"architectures", {"NewViTForImageClassification"}},
                             {"image_size", 224}}),
            "vision");
  EXPECT_EQ(classify_family({{"model_type", "new_asr"}, {"architectures", {"NewAsrForCTC"}}}), "speech");
  EXPECT_EQ(classify_family({{"_class_name", "UNet2DConditionModel"}}), "diffusion");
  CatalogEntry unet = entry_from_hf_config("org/sd", {{"_class_name", "UNet2DConditionModel"}, {"in_channels", 4}});
  EXPECT_EQ(unet.model_type, "unet_2d_condition");
  EXPECT_EQ(unet.family, "diffusion");
}
