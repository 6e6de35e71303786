// HF checkpoint access: a model's tensors across one or many safetensors files (sharded via
// model.safetensors.index.json), and a candle-style WeightLoader that walks HF tensor names, checks every
// shape, and reports missing and unused tensors by name.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace ia {

class Checkpoint {
 public:
  // A model directory (model.safetensors, model.safetensors.index.json, or another *.safetensors weights
  // file such as diffusion_pytorch_model.safetensors) or a single .safetensors file.
  static std::shared_ptr<Checkpoint> open(const std::string& path);
  static std::string find_weights_file(const std::string& dir);  // the file open() would use

  bool has(const std::string& name) const { return where_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const;
  Tensor get(const std::string& name) const;  // zero-copy view
  std::vector<std::string> names() const;
  const std::vector<std::shared_ptr<SafetensorsFile>>& files() const { return files_; }
  size_t total_bytes() const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, size_t> where_;  // tensor name -> file index
};

// Shared bookkeeping for one model load.
struct LoadReport {
  std::set<std::string> used;
  std::vector<std::string> missing;                        // expected by the model, absent from the checkpoint
  std::vector<std::string> mismatched;                     // present with the wrong shape (message per tensor)
  std::vector<std::string> unexpected(const Checkpoint& ckpt) const;  // in the checkpoint, never used
  int64_t matmul_converted = 0;      // matmul weights stored in WeightLoader::matmul_dtype (converted or quantized)
  bool keep_synthesized = false;     // synthetic loaders: remember what was made (to write a checkpoint)
  std::set<std::string> linear_weights;  // names loaded as linear-layer weights (make-checkpoint --dtype int8)
  NamedTensors synthesized;
};

// A `--dtype` value: the dtype linear-layer weights are kept in, and for W8A8 (int8 weights) activations quantized
// to int8 per row at run time as well (ops::linear_w8a8).
struct WeightFormat {
  DType dtype = DType::F32;
  bool int8_activations = false;
  std::string name() const;  // "f32", "f16", "bf16", "int8", "w8a8"
};

class WeightLoader {
 public:
  // strict: after construction the model calls finish(), which throws listing every missing/mismatched tensor.
  // lenient (for `info`): missing tensors become zeros and are only recorded.
  WeightLoader(std::shared_ptr<Checkpoint> ckpt, Device device = Device::cpu(), bool strict = true);
  // No checkpoint: every tensor is synthesized deterministically from (seed, name): >=2-D N(0, 1/fan_in),
  // 1-D norm weights 1 + 0.1 N(0,1), other 1-D 0.05 N(0,1) -- the conformance cases' init. For tiny-model tests.
  static WeightLoader synthetic(uint64_t seed, Device device = Device::cpu());
  bool is_synthetic() const { return synthetic_; }

  WeightLoader pp(const std::string& sub) const;  // push a name component
  WeightLoader pp(int64_t index) const { return pp(std::to_string(index)); }
  // Resolves HF's base_model_prefix: returns pp(prefix) if the checkpoint stores tensors under it
  // (e.g. "bert." in a BertForMaskedLM file), else this loader (a bare BertModel file).
  WeightLoader base(const std::string& base_model_prefix) const;
  bool checkpoint_has_prefix(const std::string& prefix) const;

  bool has(const std::string& name) const;
  // The tensor `prefix.name` as f32 on the loader's device, shape-checked (zero-copy for f32 on CPU).
  Tensor get(const std::string& name, const Shape& expected) const;
  Tensor get_optional(const std::string& name, const Shape& expected) const;  // undefined if absent
  // As get(), but keeps f16/bf16 storage (for large matmul weights that kernels consume directly); with a
  // matmul_dtype of F32/F16/BF16 the weight is converted to it instead (I8: kept as stored, layers quantize it).
  Tensor get_native(const std::string& name, const Shape& expected) const;
  // A linear weight stored as int8 rows with per-row scales: `name` i8 [out, in] beside `name`_scale (float, [out]
  // or [out, 1]; compressed-tensors' channel-wise int layout, as make-checkpoint --dtype int8 writes). Returns
  // {W_q, scale f32 [out]} on the loader's device, or nullopt when `name` is absent or not stored as int8.
  std::optional<std::pair<Tensor, Tensor>> get_int8(const std::string& name, const Shape& expected) const;
  // Load-time format of the matmul weights that models read through get_native (`--dtype`); nullopt: as stored.
  void set_weight_format(std::optional<WeightFormat> f) { format_ = f; }
  std::optional<WeightFormat> weight_format() const { return format_; }
  std::optional<DType> matmul_dtype() const { return format_ ? std::optional<DType>(format_->dtype) : std::nullopt; }

  std::string full_name(const std::string& name) const { return prefix_.empty() ? name : prefix_ + "." + name; }
  const std::string& prefix() const { return prefix_; }
  const Checkpoint& checkpoint() const { return *ckpt_; }
  std::shared_ptr<Checkpoint> checkpoint_ptr() const { return ckpt_; }
  Device device() const { return device_; }
  LoadReport& report() const { return *report_; }
  bool strict() const { return strict_; }
  void finish() const;  // strict mode: throws NotFound/Format naming every missing or mismatched tensor

 private:
  Tensor fetch(const std::string& name, const Shape& expected, bool optional, bool native) const;
  Tensor to_matmul_dtype(const Tensor& t) const;
  std::shared_ptr<Checkpoint> ckpt_;
  std::string prefix_;
  Device device_;
  bool strict_;
  bool synthetic_ = false;
  uint64_t seed_ = 0;
  std::optional<WeightFormat> format_;
  std::shared_ptr<LoadReport> report_;
};

}  // namespace ia
