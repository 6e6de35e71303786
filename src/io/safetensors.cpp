#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <fstream>

#include "io/safetensors_header.h"

namespace ia {

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  auto f = std::make_shared<SafetensorsFile>();
  f->file_ = MappedFile::open(path);
  SafetensorsHeader h = parse_safetensors_header(f->file_->data(), f->file_->size(), path);
  f->tensors_ = std::move(h.tensors);
  f->metadata_ = std::move(h.metadata);
  f->data_start_ = h.data_start;
  for (size_t i = 0; i < f->tensors_.size(); ++i) f->index_[f->tensors_[i].name] = i;
  return f;
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

Tensor SafetensorsFile::tensor(const std::string& name) const {
  const TensorInfo* info = find(name);
  IA_CHECK(info != nullptr, ErrorKind::NotFound, "{}: no tensor named '{}'", path(), name);
  const size_t nbytes = info->end - info->begin;
  auto st = mapped_storage(file_, data_start_ + info->begin, nbytes);
  Tensor t(st, 0, info->shape, info->dtype);
  // Unaligned data (legal in safetensors) is copied so kernels can assume natural alignment.
  if (reinterpret_cast<uintptr_t>(t.raw_data()) % dtype_size(info->dtype) != 0) {
    Tensor c = Tensor::empty(info->shape, info->dtype);
    std::memcpy(c.raw_data(), t.raw_data(), nbytes);
    return c;
  }
  return t;
}

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json hdr = nlohmann::ordered_json::object();
  if (!metadata.empty()) hdr["__metadata__"] = metadata;
  std::vector<Tensor> host;
  size_t off = 0;
  for (const auto& [name, t] : tensors) {
    Tensor h = t.to(Device::cpu()).contiguous();
    nlohmann::ordered_json e;
    e["dtype"] = dtype_safetensors_name(h.dtype());
    e["shape"] = h.shape();
    e["data_offsets"] = {off, off + h.nbytes()};
    off += h.nbytes();
    hdr[name] = e;
    host.push_back(h);
  }
  std::string s = hdr.dump();
  while ((s.size() + 8) % 8 != 0) s.push_back(' ');
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  IA_CHECK(out.good(), ErrorKind::Io, "{}: cannot open for writing", path);
  const uint64_t n = s.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out.write(s.data(), static_cast<std::streamsize>(s.size()));
  for (const Tensor& h : host) out.write(static_cast<const char*>(h.raw_data()), static_cast<std::streamsize>(h.nbytes()));
  IA_CHECK(out.good(), ErrorKind::Io, "{}: write failed", path);
}

NamedTensors load_safetensors(const std::string& path) {
  auto f = SafetensorsFile::open(path);
  NamedTensors out;
  for (const auto& info : f->tensors()) out.emplace_back(info.name, f->tensor(info.name).clone());
  return out;
}

}  // namespace ia
