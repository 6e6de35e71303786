// safetensors reading (mmap, zero-copy, fully validated header) and writing.
#pragma once
#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace ia {

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  size_t begin = 0;  // byte offsets inside the data section
  size_t end = 0;
};

class SafetensorsFile {
 public:
  static constexpr size_t kMaxHeaderBytes = 100u << 20;  // 100 MiB, as the reference implementation

  // Maps and validates: header size bound, JSON object, known dtypes, shape x dtype == byte length,
  // offsets inside the data section, no overlap, no gap, no trailing bytes.
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);

  const std::string& path() const { return file_->path(); }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(const std::string& name) const;
  Tensor tensor(const std::string& name) const;  // zero-copy view into the map; throws NotFound
  const nlohmann::json& metadata() const { return metadata_; }
  size_t file_size() const { return file_->size(); }

 private:
  std::shared_ptr<MappedFile> file_;
  size_t data_start_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> index_;
  nlohmann::json metadata_;
};

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// Writes tensors (any device/layout; stored contiguous) in safetensors format.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Reads every tensor of a file into host memory (copies; for small files such as inputs/expected outputs).
NamedTensors load_safetensors(const std::string& path);

}  // namespace ia
