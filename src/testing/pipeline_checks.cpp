// The suite's "pipeline" check: the entry's transformers task run once through `ipfs-accelerate run`'s code
// (pipelines::run_task) on real inputs -- a real tokenizer and a real image from tests/data -- over the tiny
// random checkpoint written to a scratch directory, and the output checked for transformers' structure.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "pipelines/pipeline.h"
#include "testing/model_test.h"

using nlohmann::json;

namespace ia::suite {
namespace fs = std::filesystem;

namespace {

bool is_prob(const json& v) { return v.is_number() && v.get<double>() >= 0.0 && v.get<double>() <= 1.0 + 1e-9; }
bool is_int(const json& v) { return v.is_number_integer(); }

// A checkpoint directory holding `config` with deterministic random weights for config.architectures[0].
class ScratchModel {
 public:
  ScratchModel(const json& config, const std::string& name) {
    dir_ = fs::temp_directory_path() / ("ia-pipeline-check-" + std::to_string(getpid()) + "-" + name);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    WeightLoader w = WeightLoader::synthetic(7);
    w.report().keep_synthesized = true;
    const std::string cls = config["architectures"][0].get<std::string>();
    build_model(ModelConfig(config, (dir_ / "config.json").string()), w, cls);
    NamedTensors tensors(w.report().synthesized.begin(), w.report().synthesized.end());
    save_safetensors((dir_ / "model.safetensors").string(), tensors, {{"format", "pt"}});
    std::ofstream(dir_ / "config.json") << config.dump(2);
  }
  ~ScratchModel() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void copy_from(const fs::path& src) const {
    for (const auto& f : fs::directory_iterator(src))
      if (f.is_regular_file()) fs::copy_file(f.path(), dir_ / f.path().filename(), fs::copy_options::overwrite_existing);
  }
  void write(const std::string& file, const json& j) const { std::ofstream(dir_ / file) << j.dump(2); }
  std::string dir() const { return dir_.string(); }

 private:
  fs::path dir_;
};

// tests/data next to the conformance cases the suite was given.
fs::path data_dir(const TestOptions& o) {
  if (o.conformance_dir.empty()) return {};
  return fs::path(o.conformance_dir).parent_path();
}

// The registered task for the entry, or nullptr.
const pipelines::TaskSpec* entry_task(const CatalogEntry& e, const json& config) {
  const pipelines::TaskSpec* t = pipelines::find_task(e.task);
  if (!t || !t->accepts) return nullptr;
  return t->accepts(ModelConfig(config, e.id), e.architecture) ? t : nullptr;
}

std::string check_fill_mask(const json& r) {
  if (!r.is_array() || r.empty()) return "fill-mask: expected a list of candidates, got " + r.dump().substr(0, 200);
  double prev = 2.0;
  for (const auto& c : r) {
    if (!c.is_object() || !is_prob(c.value("score", json())) || !is_int(c.value("token", json())) ||
        !c.value("token_str", json()).is_string() || !c.value("sequence", json()).is_string())
      return "fill-mask: candidate lacks score/token/token_str/sequence: " + c.dump().substr(0, 200);
    if (c["score"].get<double>() > prev) return "fill-mask: candidates are not sorted by score";
    prev = c["score"].get<double>();
  }
  return "";
}

std::string check_label_score(const json& r, const std::string& task) {
  if (!r.is_object() || !r.value("label", json()).is_string() || !is_prob(r.value("score", json())))
    return task + ": expected {label, score}, got " + r.dump().substr(0, 200);
  return "";
}

std::string check_label_list(const json& r, const std::string& task) {
  if (!r.is_array() || r.empty()) return task + ": expected a list of {label, score}, got " + r.dump().substr(0, 200);
  for (const auto& x : r)
    if (std::string m = check_label_score(x, task); !m.empty()) return m;
  for (size_t i = 1; i < r.size(); ++i)
    if (r[i]["score"].get<double>() > r[i - 1]["score"].get<double>()) return task + ": labels are not sorted by score";
  return "";
}

std::string check_entities(const json& r, const std::string& text) {
  if (!r.is_array()) return "token-classification: expected a list of entities, got " + r.dump().substr(0, 200);
  for (const auto& e : r) {
    if (!e.is_object() || !e.value("entity", json()).is_string() || !is_prob(e.value("score", json())) ||
        !is_int(e.value("index", json())) || !e.value("word", json()).is_string() || !is_int(e.value("start", json())) ||
        !is_int(e.value("end", json())))
      return "token-classification: entity lacks entity/score/index/word/start/end: " + e.dump().substr(0, 200);
    if (e["start"].get<int64_t>() > e["end"].get<int64_t>() || e["end"].get<size_t>() > text.size())
      return "token-classification: bad offsets " + e.dump();
  }
  return "";
}

std::string check_answer(const json& r, const std::string& context) {
  if (!r.is_object() || !is_prob(r.value("score", json())) || !is_int(r.value("start", json())) ||
      !is_int(r.value("end", json())) || !r.value("answer", json()).is_string())
    return "question-answering: expected {score, start, end, answer}, got " + r.dump().substr(0, 200);
  const size_t s = r["start"].get<size_t>(), e = r["end"].get<size_t>();
  if (s > e || e > context.size() || context.substr(s, e - s) != r["answer"].get<std::string>())
    return "question-answering: answer is not context[start:end]: " + r.dump();
  return "";
}

std::string check_features(const json& r, int64_t hidden) {
  if (r.is_array() && r.size() == 1 && r[0].is_array() && !r[0].empty() && r[0][0].is_number())
    return "";  // a pooled output [1, hidden] (DPR)
  if (!r.is_array() || r.size() != 1 || !r[0].is_array() || r[0].empty() || !r[0][0].is_array())
    return "features: expected a [1, tokens, hidden] nested list";
  for (const auto& tok : r[0])
    if (!tok.is_array() || (hidden > 0 && static_cast<int64_t>(tok.size()) != hidden))
      return "features: a token vector has " + std::to_string(tok.size()) + " values, hidden size is " +
             std::to_string(hidden);
  return "";
}

}  // namespace

std::vector<ModelTest::NamedCheck> EncoderOnlyModelTest::family_checks(const TestOptions& o) const {
  return {{"pipeline", [this, &o] { return pipeline_check(o); }}};
}
std::vector<ModelTest::NamedCheck> VisionModelTest::family_checks(const TestOptions& o) const {
  return {{"pipeline", [this, &o] { return pipeline_check(o); }}};
}
std::vector<ModelTest::NamedCheck> MultimodalModelTest::family_checks(const TestOptions& o) const {
  return {{"pipeline", [this, &o] { return pipeline_check(o); }}};
}

std::string EncoderOnlyModelTest::pipeline_check(const TestOptions& o) const {
  const fs::path tok = data_dir(o) / "tokenizers" / "google-bert__bert-base-uncased";
  if (!fs::is_directory(tok)) return "skipped: no tokenizer at " + tok.string();
  json c = config_;
  c["vocab_size"] = std::max<int64_t>(c.value("vocab_size", int64_t(0)), 30522);  // the tokenizer's ids
  const pipelines::TaskSpec* t = entry_task(entry_, c);
  if (!t) return "skipped: task " + entry_.task + " has no pipeline for " + entry_.architecture;
  ScratchModel m(c, "enc");
  m.copy_from(tok);
  pipelines::RunContext ctx;
  ctx.model_dir = m.dir();
  const std::string text = "my name is wolfgang and i live in berlin.";
  json in = text;
  if (t->task == "fill-mask") in = "paris is the [MASK] of france.";
  if (t->task == "question-answering") in = {{"question", "where do i live?"}, {"context", text}};
  if (t->task == "zero-shot-classification") ctx.params["candidate_labels"] = {"travel", "cooking"};
  const json r = pipelines::run_task(t->task, ctx, {in})[0];
  if (t->task == "fill-mask") return check_fill_mask(r);
  if (t->task == "text-classification") return check_label_score(r, t->task);
  if (t->task == "token-classification") return check_entities(r, text);
  if (t->task == "question-answering") return check_answer(r, text);
  if (t->task == "feature-extraction") return check_features(r, width());
  if (t->task == "zero-shot-classification")
    return r.is_object() && r.contains("labels") && r["labels"].size() == 2 && r["scores"].size() == 2
               ? ""
               : "zero-shot-classification: expected {sequence, labels, scores}, got " + r.dump().substr(0, 200);
  return "skipped: no structure check for task " + t->task;
}

namespace {

json square_processor(int64_t size) {
  return {{"image_processor_type", "ViTImageProcessor"}, {"do_resize", true}, {"size", {{"height", size}, {"width", size}}},
          {"do_normalize", true}, {"image_mean", {0.5, 0.5, 0.5}}, {"image_std", {0.5, 0.5, 0.5}}, {"resample", 2}};
}

int64_t tiny_image_size(const json& c) {
  for (const json* x : {&c, c.contains("vision_config") ? &c["vision_config"] : &c})
    if (x->contains("image_size")) {
      const json& v = (*x)["image_size"];
      if (v.is_number_integer()) return v.get<int64_t>();
      if (v.is_array() && !v.empty() && v[0].is_number_integer()) return v[0].get<int64_t>();
    }
  return 32;
}

}  // namespace

std::string VisionModelTest::pipeline_check(const TestOptions& o) const {
  const fs::path image = data_dir(o) / "images" / "australia.jpg";
  if (!fs::exists(image)) return "skipped: no image at " + image.string();
  const pipelines::TaskSpec* t = entry_task(entry_, config_);
  if (!t) return "skipped: task " + entry_.task + " has no pipeline for " + entry_.architecture;
  ScratchModel m(config_, "vision");
  m.write("preprocessor_config.json", square_processor(tiny_image_size(config_)));
  pipelines::RunContext ctx;
  ctx.model_dir = m.dir();
  const json r = pipelines::run_task(t->task, ctx, {image.string()})[0];
  if (t->task == "image-classification") return check_label_list(r, t->task);
  if (t->task == "image-feature-extraction")
    return r.is_array() && r.size() == 1 && r[0].is_array() && !r[0].empty()
               ? ""
               : "image-feature-extraction: expected a nested list with a batch dimension of 1";
  if (t->task == "image-segmentation") {
    if (!r.is_array() || r.empty()) return "image-segmentation: expected a list of segments";
    for (const auto& s : r)
      if (!s.is_object() || !s.contains("score") || !s["score"].is_null() || !s.value("label", json()).is_string() ||
          !s.contains("mask"))
        return "image-segmentation: segment lacks score (null)/label/mask: " + s.dump().substr(0, 200);
    return "";
  }
  return "skipped: no structure check for task " + t->task;
}

std::string MultimodalModelTest::pipeline_check(const TestOptions& o) const {
  if (!dual_encoder()) return "skipped: no pipeline check for generative multimodal models";
  const fs::path tok = data_dir(o) / "tokenizers" / "openai__clip-vit-base-patch32";
  const fs::path image = data_dir(o) / "images" / "australia.jpg";
  if (!fs::is_directory(tok) || !fs::exists(image)) return "skipped: no CLIP tokenizer or image under tests/data";
  json c = config_;
  if (c.contains("text_config")) {
    c["text_config"]["vocab_size"] = std::max<int64_t>(c["text_config"].value("vocab_size", int64_t(0)), 49408);
    c["text_config"]["max_position_embeddings"] =
        std::max<int64_t>(c["text_config"].value("max_position_embeddings", int64_t(0)), 64);
  }
  const pipelines::TaskSpec* t = entry_task(entry_, c);
  if (!t) return "skipped: task " + entry_.task + " has no pipeline for " + entry_.architecture;
  ScratchModel m(c, "dual");
  m.copy_from(tok);
  m.write("preprocessor_config.json", square_processor(tiny_image_size(c)));
  pipelines::RunContext ctx;
  ctx.model_dir = m.dir();
  ctx.params["candidate_labels"] = {"a beach", "a city", "a forest"};
  const json r = pipelines::run_task(t->task, ctx, {image.string()})[0];
  if (std::string msg = check_label_list(r, t->task); !msg.empty()) return msg;
  return r.size() == 3 ? "" : "zero-shot-image-classification: expected one score per candidate label";
}

}  // namespace ia::suite
