#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <fstream>

namespace ia {

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  auto f = std::make_shared<SafetensorsFile>();
  f->file_ = MappedFile::open(path);
  const size_t size = f->file_->size();
  IA_CHECK(size >= 8, ErrorKind::Format, "{}: truncated safetensors file ({} bytes, need at least 8)", path, size);
  uint64_t n = 0;
  std::memcpy(&n, f->file_->data(), 8);
  IA_CHECK(n <= kMaxHeaderBytes, ErrorKind::Format, "{}: header length {} exceeds the {} byte limit", path, n,
           kMaxHeaderBytes);
  IA_CHECK(n <= size - 8, ErrorKind::Format, "{}: header length {} larger than the file ({} bytes)", path, n, size);
  IA_CHECK(n >= 2 && f->file_->data()[8] == '{', ErrorKind::Format, "{}: header is not a JSON object", path);
  const char* hdr = reinterpret_cast<const char*>(f->file_->data() + 8);
  nlohmann::json j = nlohmann::json::parse(hdr, hdr + n, nullptr, false);
  IA_CHECK(!j.is_discarded() && j.is_object(), ErrorKind::Format, "{}: header is not valid JSON", path);
  f->data_start_ = 8 + n;
  const size_t data_size = size - f->data_start_;

  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") {
      IA_CHECK(it->is_object(), ErrorKind::Format, "{}: __metadata__ must be an object", path);
      f->metadata_ = *it;
      continue;
    }
    const auto& e = *it;
    IA_CHECK(e.is_object() && e.contains("dtype") && e.contains("shape") && e.contains("data_offsets"),
             ErrorKind::Format, "{}: tensor '{}' needs dtype, shape and data_offsets", path, name);
    IA_CHECK(e["dtype"].is_string(), ErrorKind::Format, "{}: tensor '{}': dtype is not a string", path, name);
    TensorInfo info;
    info.name = name;
    const std::string dt = e["dtype"].get<std::string>();
    static const std::map<std::string, DType> known = {
        {"F32", DType::F32}, {"F16", DType::F16}, {"BF16", DType::BF16}, {"F64", DType::F64},
        {"I64", DType::I64}, {"I32", DType::I32}, {"I16", DType::I16},   {"I8", DType::I8},
        {"U8", DType::U8},   {"BOOL", DType::Bool}};
    auto kd = known.find(dt);
    IA_CHECK(kd != known.end(), ErrorKind::Format, "{}: tensor '{}': unknown dtype '{}'", path, name, dt);
    info.dtype = kd->second;
    IA_CHECK(e["shape"].is_array(), ErrorKind::Format, "{}: tensor '{}': shape is not an array", path, name);
    uint64_t numel = 1;
    for (const auto& d : e["shape"]) {
      IA_CHECK(d.is_number_unsigned() || (d.is_number_integer() && d.get<int64_t>() >= 0), ErrorKind::Format,
               "{}: tensor '{}': invalid dimension {}", path, name, d.dump());
      const uint64_t v = d.get<uint64_t>();
      IA_CHECK(v == 0 || numel <= (uint64_t(1) << 62) / v, ErrorKind::Format, "{}: tensor '{}': shape overflows",
               path, name);
      numel *= v;
      info.shape.push_back(static_cast<int64_t>(v));
    }
    const auto& off = e["data_offsets"];
    IA_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned(),
             ErrorKind::Format, "{}: tensor '{}': data_offsets must be two non-negative integers", path, name);
    info.begin = off[0].get<uint64_t>();
    info.end = off[1].get<uint64_t>();
    IA_CHECK(info.begin <= info.end, ErrorKind::Format, "{}: tensor '{}': data_offsets [{}, {}] reversed", path, name,
             info.begin, info.end);
    IA_CHECK(info.end <= data_size, ErrorKind::Format,
             "{}: tensor '{}': data_offsets [{}, {}] out of range (data section is {} bytes)", path, name, info.begin,
             info.end, data_size);
    const uint64_t want = numel * dtype_size(info.dtype);
    IA_CHECK(want == info.end - info.begin, ErrorKind::Format,
             "{}: tensor '{}': shape {} x {} needs {} bytes but data_offsets span {}", path, name,
             shape_str(info.shape), dt, want, info.end - info.begin);
    f->tensors_.push_back(std::move(info));
  }
  std::vector<const TensorInfo*> sorted;
  for (const auto& t : f->tensors_) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->begin < b->begin || (a->begin == b->begin && a->end < b->end); });
  size_t cursor = 0;
  for (const TensorInfo* t : sorted) {
    IA_CHECK(t->begin >= cursor, ErrorKind::Format, "{}: tensor '{}' overlaps the previous tensor (offset {} < {})",
             path, t->name, t->begin, cursor);
    IA_CHECK(t->begin == cursor, ErrorKind::Format, "{}: gap of {} bytes before tensor '{}'", path,
             t->begin - cursor, t->name);
    cursor = t->end;
  }
  IA_CHECK(cursor == data_size, ErrorKind::Format, "{}: {} trailing bytes after the last tensor", path,
           data_size - cursor);
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
