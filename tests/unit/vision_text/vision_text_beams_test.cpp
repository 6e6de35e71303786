// Beam search for the models whose text decoder is conditioned on an image (VisionEncoderDecoder, TrOCR, BLIP,
// LLaVA) on the HF-saved tiny checkpoints of tests/data/conformance: the cached search with the image features
// repeated per beam and the self-attention cache reordered equals the same search with every row recomputed by a
// full forward pass (pixel_values of the row's image, no cache), and every returned score is the sum of its
// tokens' log-probs / length ** length_penalty.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>

#include "generation/beam_generate.h"
#include "io/safetensors.h"
#include "models/layers.h"
#include "models/model.h"
#include "ops/ops.h"
#include "../generation/beam_test_util.h"

namespace ia {
namespace {

namespace fs = std::filesystem;
using generation::BeamModel;
using generation::BeamRequest;
using generation::BeamSearchSettings;
using generation::EarlyStopping;
using generation::LogitsProcessors;
using beam_test::flat;
using beam_test::log_softmax_d;

std::string case_dir(const std::string& name) { return (fs::path(IA_TEST_DATA_DIR) / "conformance" / name).string(); }

const Tensor& output(const NamedTensors& out, const std::string& name) {
  for (const auto& [n, t] : out)
    if (n == name) return t;
  throw std::runtime_error("no output " + name);
}

Tensor input(const std::string& name, const std::string& tensor) {
  return output(load_safetensors(case_dir(name) + "/inputs.safetensors"), tensor);
}



// The pixel_values of the images named by `image_of` (one per decoder row).
Tensor pick_images(const Tensor& px, const std::vector<int64_t>& image_of) {
  return ops::index_select(px, Tensor::from_vector(image_of, {static_cast<int64_t>(image_of.size())}));
}

// Next-token logits of decoder rows `seqs`, row i conditioned on image image_of[i], by one uncached forward.
using Recompute = std::function<std::vector<float>(Model&, const std::vector<std::vector<int64_t>>& seqs,
                                                   const std::vector<int64_t>& image_of)>;

std::vector<float> last_logits(const NamedTensors& out) {
  const Tensor& l = output(out, "logits");
  return l.slice(1, l.dim(1) - 1, l.dim(1)).contiguous().to_vector<float>();
}

struct Setup {
  std::string name;
  TensorMap gen;                 // generate inputs
  std::vector<int64_t> eos;      // empty: the second token greedy picks for row 1 (hypotheses of several lengths)
  Recompute recompute;
};

void check(const Setup& c) {
  SCOPED_TRACE(c.name);
  auto m = load_model(case_dir(c.name));
  const Tensor& px = c.gen.at("pixel_values");
  const int64_t B = px.dim(0), K = 3, N = 6;
  BeamRequest req;
  req.base.max_new_tokens = N;
  req.num_beams = K;
  req.num_return_sequences = 2;
  req.length_penalty = 0.7;
  req.processors = LogitsProcessors{};

  // The decoder prompt and EOS as the model's own greedy generate sets them up.
  GenerationRequest greedy;
  greedy.max_new_tokens = N;
  greedy.eos_token_ids = {-1};
  const Tensor g = output(m->generate(c.gen, greedy), "generated_ids");
  const int64_t L = g.dim(1), P = L - N;
  std::vector<std::vector<int64_t>> prompts;
  for (int64_t b = 0; b < B; ++b) {
    const auto row = g.select(0, b).contiguous().to_vector<int64_t>();
    prompts.emplace_back(row.begin(), row.begin() + P);
  }
  req.base.eos_token_ids = c.eos.empty() ? std::vector<int64_t>{g.to_vector<int64_t>()[L + P + 1]} : c.eos;
  const int64_t V = static_cast<int64_t>(c.recompute(*m, {prompts[0]}, {0}).size());

  for (auto es : {EarlyStopping::False, EarlyStopping::True, EarlyStopping::Never}) {
    SCOPED_TRACE("early_stopping " + to_string(es));
    req.early_stopping = es;
    const NamedTensors got = generation::generate_beams(*m, c.gen, req);
    const Tensor& ids = output(got, "generated_ids");
    const auto scores = output(got, "generated_sequences_scores").to_vector<float>();
    ASSERT_EQ(ids.dim(0), B * 2);

    BeamModel ref;
    ref.next_logits = [&](const std::vector<std::vector<int64_t>>& seqs) {
      std::vector<int64_t> image_of;
      for (size_t r = 0; r < seqs.size(); ++r) image_of.push_back(static_cast<int64_t>(r) / K);
      return c.recompute(*m, seqs, image_of);
    };
    BeamSearchSettings bs;
    bs.num_beams = K;
    bs.num_return_sequences = 2;
    bs.length_penalty = req.length_penalty;
    bs.early_stopping = es;
    bs.max_length = P + N;
    bs.eos_token_ids = req.base.eos_token_ids;
    bs.pad_token_id = m->model_type() == "blip" ? 0 : req.base.pad_token_id;
    const auto r = generation::beam_search(ref, prompts, V, bs);
    std::vector<int64_t> want;
    for (const auto& s : r.sequences) want.insert(want.end(), s.begin(), s.end());
    EXPECT_EQ(ids.to_vector<int64_t>(), want);
    ASSERT_EQ(scores.size(), r.sequence_scores.size());
    for (size_t i = 0; i < scores.size(); ++i) EXPECT_NEAR(scores[i], r.sequence_scores[i], 1e-5);

    const auto flat_ids = ids.to_vector<int64_t>();
    const int64_t W = ids.dim(1);
    for (int64_t i = 0; i < ids.dim(0); ++i) {
      const std::vector<int64_t> seq(flat_ids.begin() + i * W, flat_ids.begin() + (i + 1) * W);
      int64_t end = W;
      for (int64_t t = P; t < W; ++t)
        if (seq[t] == req.base.eos_token_ids[0]) {
          end = t + 1;
          break;
        }
      double sum = 0.0;
      for (int64_t t = P; t < end; ++t)
        sum += log_softmax_d(c.recompute(*m, {std::vector<int64_t>(seq.begin(), seq.begin() + t)}, {i / 2}))[seq[t]];
      EXPECT_NEAR(scores[i], sum / std::pow(double(end - P), req.length_penalty), 2e-4) << "sequence " << i;
    }
  }
}

std::vector<float> encoder_decoder_recompute(Model& m, const std::vector<std::vector<int64_t>>& seqs,
                                             const std::vector<int64_t>& image_of, const Tensor& px) {
  return last_logits(m.forward({{"pixel_values", pick_images(px, image_of)}, {"decoder_input_ids", flat(seqs)}}, {}));
}

TEST(VisionTextBeams, VisionEncoderDecoderCachedEqualsRecomputeAndScores) {
  const Tensor px = input("vision-encoder-decoder", "pixel_values");
  check({"vision-encoder-decoder", {{"pixel_values", px}}, {},
         [px](Model& m, const auto& seqs, const auto& img) { return encoder_decoder_recompute(m, seqs, img, px); }});
}

TEST(VisionTextBeams, TrocrCachedEqualsRecomputeAndScores) {
  const Tensor px = input("trocr", "pixel_values");
  check({"trocr", {{"pixel_values", px}}, {},
         [px](Model& m, const auto& seqs, const auto& img) { return encoder_decoder_recompute(m, seqs, img, px); }});
}

TEST(VisionTextBeams, BlipCachedEqualsRecomputeAndScores) {
  const Tensor px = input("blip", "pixel_values");
  const int64_t sep = load_model(case_dir("blip"))->config().sub("text_config").dim_or("sep_token_id", 102);
  check({"blip", {{"pixel_values", px}}, {sep}, [px](Model& m, const auto& seqs, const auto& img) {
           return last_logits(m.forward({{"pixel_values", pick_images(px, img)}, {"input_ids", flat(seqs)}}, {}));
         }});
}

TEST(VisionTextBeams, LlavaCachedEqualsRecomputeAndScores) {
  // Two images behind the same unpadded prompt (the golden's full-length row), so each batch row is conditioned
  // on its own image features.
  const Tensor ids = input("llava", "gen_input_ids"), mask = input("llava", "gen_attention_mask");
  const Tensor px = input("llava", "pixel_values");
  ASSERT_EQ(px.dim(0), 2);
  int64_t full = -1;
  for (int64_t b = 0; b < mask.dim(0) && full < 0; ++b) {
    const auto mv = mask.select(0, b).contiguous().to_vector<int64_t>();
    if (std::all_of(mv.begin(), mv.end(), [](int64_t v) { return v == 1; })) full = b;
  }
  ASSERT_GE(full, 0);
  const auto row = ids.select(0, full).contiguous().to_vector<int64_t>();
  const Tensor prompt = flat({row, row});
  check({"llava", {{"pixel_values", px}, {"input_ids", prompt}, {"attention_mask", layers::full_i64(prompt.shape(), 1)}},
         {}, [px](Model& m, const auto& seqs, const auto& img) {
           const Tensor s = flat(seqs);
           return last_logits(m.forward(
               {{"pixel_values", pick_images(px, img)}, {"input_ids", s}, {"attention_mask", layers::full_i64(s.shape(), 1)}},
               {}));
         }});
}

TEST(VisionTextBeams, OneBeamIsGreedyAndBadWidthsFail) {
  auto m = load_model(case_dir("vision-encoder-decoder"));
  const TensorMap in{{"pixel_values", input("vision-encoder-decoder", "pixel_values")}};
  BeamRequest req;
  req.base.max_new_tokens = 5;
  req.base.eos_token_ids = {-1};
  req.num_beams = 1;
  req.processors = LogitsProcessors{};
  GenerationRequest greedy = req.base;
  EXPECT_EQ(output(generation::generate_beams(*m, in, req), "generated_ids").to_vector<int64_t>(),
            output(m->generate(in, greedy), "generated_ids").to_vector<int64_t>());
  req.num_beams = 0;
  EXPECT_THROW(generation::generate_beams(*m, in, req), Error);
  req.num_beams = 2;
  req.num_return_sequences = 3;
  EXPECT_THROW(generation::generate_beams(*m, in, req), Error);
}

}  // namespace
}  // namespace ia
