// The model test hierarchy: `ModelTest` runs the checks every model gets (loads and runs, output names and shapes,
// finite, deterministic, batch/padding invariance, cached decoding, greedy generation, cross-backend agreement,
// HF golden cases); one subclass per family knows how to build that family's inputs and what HF outputs to expect.
#pragma once
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "models/model.h"
#include "testing/catalog.h"

namespace ia::suite {

struct CheckResult {
  std::string name;
  std::string status;  // "passed", "failed", "skipped", "unsupported"
  std::string message; // numbers for a failure, reason for a skip
  double ms = 0.0;
  nlohmann::json to_json() const;
  static CheckResult from_json(const nlohmann::json& j);
};

// `test --bench`: after a test passes, its model's forward on the test inputs (and, for generating models, greedy
// generation) is timed: `warmup` untimed runs, then `reps` timed ones (0: no benchmark).
struct BenchSettings {
  int reps = 0;
  int warmup = 2;
  int64_t new_tokens = 16;  // generated per row by the "generate" scenario
};

// One benchmark result, with the fields llama-bench / optimum-benchmark report (model and backend are the test's).
struct BenchResult {
  std::string scenario;  // "forward" (one forward of the test's batch) or "generate" (greedy, new_tokens per row)
  std::string dtype;     // what the model computes in
  int64_t batch = 0, seq = 0, new_tokens = 0;
  int threads = 0, warmup = 0, reps = 0;
  double p50_ms = 0, p90_ms = 0, mean_ms = 0, stddev_ms = 0, min_ms = 0;
  double throughput = 0;       // `unit` per second at p50
  std::string unit;            // "tokens" (text in / generated) or "items" (images, audio clips, latents)
  int64_t peak_memory_kb = 0;  // peak RSS of the test process after the benchmark
  nlohmann::json to_json() const;
  static BenchResult from_json(const nlohmann::json& j);
};

struct TestOptions {
  Device device = Device::cpu();
  std::vector<Device> reference_devices;  // other executing backends to compare with (cross-backend check)
  std::string conformance_dir;            // HF golden cases (tests/data/conformance); empty: skipped
  std::string weights = "tiny";           // tiny: synthesized config + WeightLoader::synthetic; hub: HF cache
  std::string hub_dir;                    // --weights hub: the model directory
  uint64_t seed = 0;
  int64_t max_new_tokens = 4;
  BenchSettings bench;
};

struct TestOutcome {
  std::string status;  // "passed", "failed", "unsupported"
  std::string message; // first failing check and its numbers, or what is unsupported
  std::vector<CheckResult> checks;
  std::vector<BenchResult> benchmarks;  // `test --bench`, when the test passed
  nlohmann::json to_json() const;
};

// One row of a test batch: `id` seeds its content (so a row alone equals the same row in a batch), `length` is its
// real length; shorter rows are padded to the longest.
struct Row {
  int64_t id = 0;
  int64_t length = 0;
};

struct ExpectedOutput {
  std::string name;
  std::vector<int64_t> shape;  // -1: any size
};

// The cross_backend check's limit on NMSE = sum (a - b)^2 / sum b^2 between a backend's whole-model outputs
// and the CPU's, by the dtype the outputs are computed in. llama.cpp's test-backend-ops allows 1e-7 per op
// in fp32 (5e-4 for matmul-heavy ops in half precision); a tiny model chains some tens of ops whose rounding
// errors add up, so fp32 gets 1e-6 (TF32 must be off) and bf16/f16 1e-3.
double agreement_nmse_limit(DType dtype);

// NMSE = sum (a - ref)^2 / sum ref^2 (sum (a - ref)^2 when ref is all zeros); the sizes must match.
double nmse(const std::vector<float>& a, const std::vector<float>& ref);

// The cross_backend judgement of one output: "" when `a` (the backend under test) agrees with `ref` (the same
// output on `ref_backend`, the CPU) within agreement_nmse_limit(dtype), else "<name>: NMSE <x> vs <ref_backend>
// (> <limit>)" or the size mismatch. NaN never agrees.
std::string agreement_error(const std::string& name, const std::string& ref_backend, const std::vector<float>& a,
                            const std::vector<float>& ref, DType dtype);

// The greedy_generation judgement. `ids` [B, T] ends with the N generated tokens, `logits` [B, N, V] are the
// logits generate() returned for them, and `recompute` [B, Tf, V] the logits of one independent uncached forward
// over the prompt and generated tokens, whose position offset + t predicts generated token t. "" when every
// generated token is the recompute's argmax (a token whose recomputed logit is within 1e-5 of the logit scale
// of the maximum counts as a tie: the cached and uncached sums may order equal-valued tokens differently) and
// generate()'s logits equal the recompute's within 1e-4 of the scale (max |recomputed logit|, at least 1);
// else which row, step and numbers fail. A row whose generated tokens end in pad_token_id from some step > 0 on
// was finished by the model (BLIP at sep_token_id): its argmax is checked up to that padded tail.
std::string greedy_generation_error(const Tensor& ids, const Tensor& logits, const Tensor& recompute, int64_t offset,
                                    int64_t pad_token_id);

class ModelTest {
 public:
  using NamedCheck = std::pair<std::string, std::function<std::string()>>;
  explicit ModelTest(const CatalogEntry& entry);
  virtual ~ModelTest() = default;
  // The test class for the entry's family.
  static std::unique_ptr<ModelTest> create(const CatalogEntry& entry);
  virtual const char* class_name() const = 0;

  const CatalogEntry& entry() const { return entry_; }
  // Empty when the engine implements the entry's model_type and architecture, else "unsupported: <type>/<class>".
  std::string unsupported_reason() const;
  // Runs every applicable check on o.device.
  TestOutcome run(const TestOptions& o);

 protected:
  virtual TensorMap make_inputs(const std::vector<Row>& rows) const = 0;
  // Real lengths of the rows of the padding check (equal lengths: batch invariance only).
  virtual std::vector<Row> batch_rows() const { return {{1, 12}, {2, 8}}; }
  virtual std::vector<ExpectedOutput> expected_outputs(const std::vector<Row>& rows) const { return {}; }
  // Outputs that mix batch rows by definition (contrastive logits): excluded from the invariance check.
  virtual bool batch_coupled(const std::string& output) const { return false; }
  // Why HF itself gives a padded row different outputs from the row alone ("" = it does not): the
  // padding_invariance check is then reported as skipped with this reason.
  virtual std::string padding_variance() const { return ""; }
  // Generation: the prompt inputs, and the forward inputs that recompute the logits of generated ids.
  virtual TensorMap prompt_inputs(const std::vector<Row>& rows) const { return make_inputs(rows); }
  virtual TensorMap recompute_inputs(const TensorMap& prompt, const Tensor& generated_ids) const;
  virtual GenerationRequest generation_request() const;
  // Index of the first recomputed logit that corresponds to generated_logits[:, 0].
  virtual int64_t recompute_offset(const TensorMap& prompt) const;
  // Checks only this family has, run after the common ones: (name, fn) with fn returning "" on success,
  // "skipped: <why>", or the failure message (an Unsupported error marks the check unsupported).
  virtual std::vector<NamedCheck> family_checks(const TestOptions& o) const { return {}; }

  // Helpers for subclasses.
  const nlohmann::json& cfg() const { return config_; }
  const nlohmann::json& text_cfg() const;  // text_config / decoder / the config itself
  int64_t width() const;
  int64_t vocab() const;
  int64_t num_labels() const;
  Tensor token_ids(const std::vector<Row>& rows, int64_t pad_id, bool left_pad = false) const;
  Tensor attention_mask(const std::vector<Row>& rows, bool left_pad = false) const;
  Tensor random_floats(const std::vector<Row>& rows, const Shape& per_row, uint64_t salt) const;
  int64_t pad_id() const;
  std::string suffix() const;  // architecture without its model prefix ("ForMaskedLM", "Model", ...)

  CatalogEntry entry_;
  nlohmann::json config_;

 private:
  std::unique_ptr<Model> build(Device device, const TestOptions& o) const;
  // The benchmarks of a passed test (o.bench.reps > 0); `outputs` are the forward check's outputs of `inputs`.
  std::vector<BenchResult> benchmark(Model& model, const TensorMap& inputs, const NamedTensors& outputs,
                                     const TestOptions& o) const;
};

// token ids with padding, attention mask and token types; base, MLM and classification heads
class EncoderOnlyModelTest : public ModelTest {
 public:
  using ModelTest::ModelTest;
  const char* class_name() const override { return "EncoderOnlyModelTest"; }

 protected:
  TensorMap make_inputs(const std::vector<Row>& rows) const override;
  std::vector<ExpectedOutput> expected_outputs(const std::vector<Row>& rows) const override;
  std::vector<NamedCheck> family_checks(const TestOptions& o) const override;
  // The entry's transformers task run once through the `run` pipelines on real inputs (tokenizer / image from
  // tests/data) over the tiny checkpoint: "" when the output has transformers' structure, else the failure,
  // or "skipped: ..." (src/testing/pipeline_checks.cpp).
  std::string pipeline_check(const TestOptions& o) const;
};

// causal LM: right-padded prompts, logits [B, S, V], cached decoding and greedy generation
class DecoderOnlyModelTest : public ModelTest {
 public:
  using ModelTest::ModelTest;
  const char* class_name() const override { return "DecoderOnlyModelTest"; }

 protected:
  TensorMap make_inputs(const std::vector<Row>& rows) const override;
  std::vector<ExpectedOutput> expected_outputs(const std::vector<Row>& rows) const override;
};

// seq2seq: padded encoder input, decoder ids from decoder_start_token_id
class EncoderDecoderModelTest : public ModelTest {
 public:
  using ModelTest::ModelTest;
  const char* class_name() const override { return "EncoderDecoderModelTest"; }

 protected:
  TensorMap make_inputs(const std::vector<Row>& rows) const override;
  std::vector<ExpectedOutput> expected_outputs(const std::vector<Row>& rows) const override;
  TensorMap recompute_inputs(const TensorMap& prompt, const Tensor& generated_ids) const override;
  int64_t recompute_offset(const TensorMap&) const override { return 0; }
};

// pixel_values [B, C, H, W] (video: [B, T, C, H, W]); batch invariance
class VisionModelTest : public ModelTest {
 public:
  using ModelTest::ModelTest;
  const char* class_name() const override { return "VisionModelTest"; }

 protected:
  TensorMap make_inputs(const std::vector<Row>& rows) const override;
  std::vector<ExpectedOutput> expected_outputs(const std::vector<Row>& rows) const override;
  std::vector<Row> batch_rows() const override { return {{1, 1}, {2, 1}}; }
  std::vector<NamedCheck> family_checks(const TestOptions& o) const override;  // "pipeline"
  std::string pipeline_check(const TestOptions& o) const;
};

// pixel_values plus token ids: dual encoders (contrastive logits), captioning decoders
class VisionTextModelTest : public ModelTest {
 public:
  using ModelTest::ModelTest;
  const char* class_name() const override { return "VisionTextModelTest"; }

 protected:
  TensorMap make_inputs(const std::vector<Row>& rows) const override;
  std::vector<ExpectedOutput> expected_outputs(const std::vector<Row>& rows) const override;
  std::vector<Row> batch_rows() const override { return {{1, 8}, {2, 8}}; }
  bool batch_coupled(const std::string& output) const override;
  TensorMap recompute_inputs(const TensorMap& prompt, const Tensor& generated_ids) const override;
  int64_t recompute_offset(const TensorMap& prompt) const override;
};

// raw audio (input_values) or log-mel features (input_features), with a decoder for seq2seq ASR
class SpeechModelTest : public ModelTest {
 public:
  using ModelTest::ModelTest;
  const char* class_name() const override { return "SpeechModelTest"; }

 protected:
  TensorMap make_inputs(const std::vector<Row>& rows) const override;
  std::vector<ExpectedOutput> expected_outputs(const std::vector<Row>& rows) const override;
  std::vector<Row> batch_rows() const override;
  bool batch_coupled(const std::string& output) const override;
  std::string padding_variance() const override;
  TensorMap recompute_inputs(const TensorMap& prompt, const Tensor& generated_ids) const override;
  int64_t recompute_offset(const TensorMap&) const override { return 0; }
};

// image tokens spliced into the prompt plus pixel_values (generative VLMs); CLIP-style dual encoders: pixel_values
// plus token ids, contrastive logits_per_image / logits_per_text
class MultimodalModelTest : public ModelTest {
 public:
  using ModelTest::ModelTest;
  const char* class_name() const override { return "MultimodalModelTest"; }

 protected:
  TensorMap make_inputs(const std::vector<Row>& rows) const override;
  std::vector<ExpectedOutput> expected_outputs(const std::vector<Row>& rows) const override;
  std::vector<Row> batch_rows() const override;
  bool batch_coupled(const std::string& output) const override;
  std::vector<NamedCheck> family_checks(const TestOptions& o) const override;  // "pipeline"
  std::string pipeline_check(const TestOptions& o) const;
  // An image-text dual encoder (CLIPModel, SiglipModel, ...): a "...Model" class with both towers.
  bool dual_encoder() const;
  // The config's image placeholder id (-1: none) and how many placeholders one image expands to.
  int64_t image_token() const;
  int64_t image_tokens() const;
  // Text rows lengthened by the image placeholders that precede their text.
  std::vector<Row> with_image_tokens(std::vector<Row> rows) const;
};

// denoiser step: latents + timestep + text conditioning -> predicted noise of the latent shape
class DiffusionModelTest : public ModelTest {
 public:
  using ModelTest::ModelTest;
  const char* class_name() const override { return "DiffusionModelTest"; }

 protected:
  TensorMap make_inputs(const std::vector<Row>& rows) const override;
  std::vector<ExpectedOutput> expected_outputs(const std::vector<Row>& rows) const override;
  std::vector<Row> batch_rows() const override { return {{1, 1}, {2, 1}}; }
  // "pipeline": a tiny random diffusers directory around the entry's UNet, run end to end twice (2 steps):
  // finite latents, identical images for one seed, image size = sample_size x VAE scale factor.
  std::vector<NamedCheck> family_checks(const TestOptions& o) const override;
};

// routed experts inside a causal LM (or a switch seq2seq): the decoder checks with expert routing
class MoEModelTest : public ModelTest {
 public:
  using ModelTest::ModelTest;
  const char* class_name() const override { return "MoEModelTest"; }

 protected:
  TensorMap make_inputs(const std::vector<Row>& rows) const override;
  std::vector<ExpectedOutput> expected_outputs(const std::vector<Row>& rows) const override;
  TensorMap recompute_inputs(const TensorMap& prompt, const Tensor& generated_ids) const override;
  int64_t recompute_offset(const TensorMap& prompt) const override;
};

// recurrent/SSM causal LM: recurrent decoding must equal the full scan
class StateSpaceModelTest : public ModelTest {
 public:
  using ModelTest::ModelTest;
  const char* class_name() const override { return "StateSpaceModelTest"; }

 protected:
  // HF runs state-space models without padding: rows of equal length, checked for batch invariance.
  std::vector<Row> batch_rows() const override { return {{1, 12}, {2, 12}}; }
  TensorMap make_inputs(const std::vector<Row>& rows) const override;
  std::vector<ExpectedOutput> expected_outputs(const std::vector<Row>& rows) const override;
};

// retrieval-augmented seq2seq: question ids plus a retrieved corpus (context ids, doc scores)
class RAGModelTest : public ModelTest {
 public:
  using ModelTest::ModelTest;
  const char* class_name() const override { return "RAGModelTest"; }

 protected:
  TensorMap make_inputs(const std::vector<Row>& rows) const override;
  std::vector<ExpectedOutput> expected_outputs(const std::vector<Row>& rows) const override;
  std::vector<Row> batch_rows() const override { return {{1, 8}, {2, 8}}; }
  TensorMap recompute_inputs(const TensorMap& prompt, const Tensor& generated_ids) const override;
  int64_t recompute_offset(const TensorMap&) const override { return 0; }
};

}  // namespace ia::suite
