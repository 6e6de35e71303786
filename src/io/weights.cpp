#include "io/weights.h"

#include <filesystem>
#include <cmath>
#include <fstream>
#include <random>
#include <nlohmann/json.hpp>

#include "io/safe_path.h"

namespace fs = std::filesystem;

namespace ia {

std::string Checkpoint::find_weights_file(const std::string& dir) {
  for (const char* name : {"model.safetensors.index.json", "model.safetensors",
                           "diffusion_pytorch_model.safetensors.index.json", "diffusion_pytorch_model.safetensors"}) {
    fs::path p = fs::path(dir) / name;
    if (fs::exists(p)) return p.string();
  }
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".safetensors") found.push_back(e.path().string());
  if (found.size() == 1) return found[0];
  if (fs::exists(fs::path(dir) / "pytorch_model.bin"))
    fail(ErrorKind::Unsupported, "{}: only pytorch_model.bin (pickle) weights found; convert to safetensors", dir);
  fail(ErrorKind::NotFound, "{}: no model.safetensors or model.safetensors.index.json", dir);
}

std::shared_ptr<Checkpoint> Checkpoint::open(const std::string& path) {
  auto c = std::make_shared<Checkpoint>();
  std::string file = fs::is_directory(path) ? find_weights_file(path) : path;
  c->path_ = file;
  if (file.size() > 11 && file.substr(file.size() - 11) == ".index.json") {
    std::ifstream in(file);
    IA_CHECK(in.good(), ErrorKind::Io, "{}: cannot open", file);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    check_json_depth(text, file);
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    IA_CHECK(!j.is_discarded() && j.is_object() && j.contains("weight_map") && j["weight_map"].is_object(),
             ErrorKind::Format, "{}: expected a JSON object with a 'weight_map' object", file);
    std::map<std::string, size_t> shard_index;
    const fs::path dir = fs::path(file).parent_path();
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      IA_CHECK(it->is_string(), ErrorKind::Format, "{}: weight_map['{}'] must be a file name", file, it.key());
      const std::string shard = it->get<std::string>();
      const fs::path shard_path = checked_join(dir, shard, fmt::format("{}: weight_map['{}']", file, it.key()));
      auto s = shard_index.find(shard);
      if (s == shard_index.end()) {
        c->files_.push_back(SafetensorsFile::open(shard_path.string()));
        s = shard_index.emplace(shard, c->files_.size() - 1).first;
      }
      IA_CHECK(c->files_[s->second]->find(it.key()) != nullptr, ErrorKind::Format,
               "{}: tensor '{}' is mapped to {} but that shard does not contain it", file, it.key(), shard);
      c->where_[it.key()] = s->second;
    }
  } else {
    c->files_.push_back(SafetensorsFile::open(file));
    for (const auto& t : c->files_[0]->tensors()) c->where_[t.name] = 0;
  }
  return c;
}

const TensorInfo& Checkpoint::info(const std::string& name) const {
  auto it = where_.find(name);
  IA_CHECK(it != where_.end(), ErrorKind::NotFound, "{}: no tensor named '{}'", path_, name);
  return *files_[it->second]->find(name);
}

Tensor Checkpoint::get(const std::string& name) const {
  auto it = where_.find(name);
  IA_CHECK(it != where_.end(), ErrorKind::NotFound, "{}: no tensor named '{}'", path_, name);
  return files_[it->second]->tensor(name);
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  for (const auto& [n, _] : where_) out.push_back(n);
  return out;
}

size_t Checkpoint::total_bytes() const {
  size_t n = 0;
  for (const auto& [name, fi] : where_) {
    const TensorInfo* t = files_[fi]->find(name);
    n += t->end - t->begin;
  }
  return n;
}

std::vector<std::string> LoadReport::unexpected(const Checkpoint& ckpt) const {
  std::vector<std::string> out;
  for (const auto& n : ckpt.names())
    if (!used.count(n)) out.push_back(n);
  return out;
}

WeightLoader::WeightLoader(std::shared_ptr<Checkpoint> ckpt, Device device, bool strict)
    : ckpt_(std::move(ckpt)), device_(device), strict_(strict), report_(std::make_shared<LoadReport>()) {}

WeightLoader WeightLoader::synthetic(uint64_t seed, Device device) {
  WeightLoader w(std::make_shared<Checkpoint>(), device, false);
  w.synthetic_ = true;
  w.seed_ = seed;
  return w;
}

namespace {
Tensor synthesize(uint64_t seed, const std::string& name, const Shape& shape) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  std::mt19937_64 rng(h);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Tensor t = Tensor::empty(shape, DType::F32);
  float* p = t.data<float>();
  const int64_t n = t.numel();
  const bool is_norm = shape.size() == 1 && (name.find("norm") != std::string::npos ||
                                             name.find("LayerNorm") != std::string::npos ||
                                             name.find("ln") != std::string::npos) &&
                       name.size() >= 6 && name.compare(name.size() - 6, 6, "weight") == 0;
  const bool is_variance = name.size() >= 11 && name.compare(name.size() - 11, 11, "running_var") == 0;
  if (is_variance) {  // batch-norm variances must be positive
    for (int64_t i = 0; i < n; ++i) p[i] = 1.0f + 0.1f * std::fabs(normal(rng));
  } else if (shape.size() >= 2) {
    int64_t fan_in = 1;
    for (size_t i = 1; i < shape.size(); ++i) fan_in *= shape[i];
    const float sd = 1.0f / std::sqrt(static_cast<float>(std::max<int64_t>(fan_in, 1)));
    for (int64_t i = 0; i < n; ++i) p[i] = sd * normal(rng);
  } else if (is_norm) {
    for (int64_t i = 0; i < n; ++i) p[i] = 1.0f + 0.1f * normal(rng);
  } else {
    for (int64_t i = 0; i < n; ++i) p[i] = 0.05f * normal(rng);
  }
  return t;
}
}  // namespace

WeightLoader WeightLoader::pp(const std::string& sub) const {
  WeightLoader w = *this;
  w.prefix_ = full_name(sub);
  return w;
}

bool WeightLoader::checkpoint_has_prefix(const std::string& prefix) const {
  if (synthetic_) return false;
  const std::string p = full_name(prefix) + ".";
  for (const auto& n : ckpt_->names())
    if (n.compare(0, p.size(), p) == 0) return true;
  return false;
}

WeightLoader WeightLoader::base(const std::string& base_model_prefix) const {
  return checkpoint_has_prefix(base_model_prefix) ? pp(base_model_prefix) : *this;
}

bool WeightLoader::has(const std::string& name) const { return synthetic_ || ckpt_->has(full_name(name)); }

std::string WeightFormat::name() const {
  if (dtype == DType::I8) return int8_activations ? "w8a8" : "int8";
  return dtype_name(dtype);
}

Tensor WeightLoader::to_matmul_dtype(const Tensor& t) const {
  if (!format_ || format_->dtype == DType::I8 || t.ndim() != 2) return t;
  ++report_->matmul_converted;
  return t.dtype() == format_->dtype ? t : t.to(format_->dtype);
}

Tensor WeightLoader::fetch(const std::string& name, const Shape& expected, bool optional, bool native) const {
  const std::string full = full_name(name);
  if (synthetic_) {
    report_->used.insert(full);
    Tensor t = synthesize(seed_, full, expected);
    if (report_->keep_synthesized) report_->synthesized.emplace_back(full, t);
    if (native) t = to_matmul_dtype(t);
    return t.to(device_);
  }
  if (!ckpt_->has(full)) {
    if (optional) return Tensor();
    report_->missing.push_back(full);
    if (strict_) finish();
    return Tensor::zeros(expected, DType::F32, device_);
  }
  const TensorInfo& info = ckpt_->info(full);
  report_->used.insert(full);
  if (info.shape != expected) {
    std::string msg = fmt::format("{}: tensor '{}' has shape {}, the config implies {}", ckpt_->path(), full,
                                  shape_str(info.shape), shape_str(expected));
    report_->mismatched.push_back(msg);
    if (strict_) fail(ErrorKind::Format, "{}", msg);
    return Tensor::zeros(expected, DType::F32, device_);
  }
  IA_CHECK(dtype_is_float(info.dtype), ErrorKind::Unsupported, "{}: tensor '{}' has dtype {}; expected a float type",
           ckpt_->path(), full, dtype_name(info.dtype));
  Tensor t = ckpt_->get(full);
  if (!native || (t.dtype() != DType::F16 && t.dtype() != DType::BF16)) t = t.to(DType::F32);
  if (native) t = to_matmul_dtype(t);
  return t.to(device_);
}

Tensor WeightLoader::get(const std::string& name, const Shape& expected) const {
  return fetch(name, expected, false, false);
}

Tensor WeightLoader::get_optional(const std::string& name, const Shape& expected) const {
  return fetch(name, expected, true, false);
}

Tensor WeightLoader::get_native(const std::string& name, const Shape& expected) const {
  return fetch(name, expected, false, true);
}

std::optional<std::pair<Tensor, Tensor>> WeightLoader::get_int8(const std::string& name, const Shape& expected) const {
  const std::string full = full_name(name);
  if (synthetic_ || !ckpt_->has(full) || ckpt_->info(full).dtype != DType::I8) return std::nullopt;
  report_->used.insert(full);
  const TensorInfo& info = ckpt_->info(full);
  IA_CHECK(info.shape == expected && expected.size() == 2, ErrorKind::Format,
           "{}: int8 tensor '{}' has shape {}, the config implies {}", ckpt_->path(), full, shape_str(info.shape),
           shape_str(expected));
  const std::string sname = full + "_scale";
  IA_CHECK(ckpt_->has(sname), ErrorKind::Format, "{}: int8 tensor '{}' has no per-row scales '{}'", ckpt_->path(),
           full, sname);
  const TensorInfo& si = ckpt_->info(sname);
  const int64_t out = expected[0];
  IA_CHECK(dtype_is_float(si.dtype) && (si.shape == Shape{out} || si.shape == Shape{out, 1}), ErrorKind::Format,
           "{}: '{}' is {} {}; expected float [{}] or [{}, 1] (one scale per output row)", ckpt_->path(), sname,
           dtype_name(si.dtype), shape_str(si.shape), out, out);
  report_->used.insert(sname);
  Tensor scale = ckpt_->get(sname).to(DType::F32).contiguous().view({out});
  return std::make_pair(ckpt_->get(full).to(device_), scale.to(device_));
}

void WeightLoader::finish() const {
  if (!strict_) return;
  if (!report_->mismatched.empty()) fail(ErrorKind::Format, "{}", report_->mismatched.front());
  if (!report_->missing.empty())
    fail(ErrorKind::NotFound, "{}: missing tensor{} {}", ckpt_->path(), report_->missing.size() > 1 ? "s" : "",
         fmt::join(report_->missing, ", "));
}

}  // namespace ia
