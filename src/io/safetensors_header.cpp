#include "io/safetensors_header.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "core/error.h"
#include "io/safe_path.h"

namespace ia {

SafetensorsHeader parse_safetensors_header(const uint8_t* data, size_t size, const std::string& path) {
  SafetensorsHeader f;
  IA_CHECK(size >= 8, ErrorKind::Format, "{}: truncated safetensors file ({} bytes, need at least 8)", path, size);
  uint64_t n = 0;
  std::memcpy(&n, data, 8);
  IA_CHECK(n <= SafetensorsFile::kMaxHeaderBytes, ErrorKind::Format, "{}: header length {} exceeds the {} byte limit",
           path, n, SafetensorsFile::kMaxHeaderBytes);
  IA_CHECK(n <= size - 8, ErrorKind::Format, "{}: header length {} larger than the file ({} bytes)", path, n, size);
  IA_CHECK(n >= 2 && data[8] == '{', ErrorKind::Format, "{}: header is not a JSON object", path);
  const char* hdr = reinterpret_cast<const char*>(data + 8);
  check_json_depth(std::string_view(hdr, n), path + ": header");
  nlohmann::json j = nlohmann::json::parse(hdr, hdr + n, nullptr, false);
  IA_CHECK(!j.is_discarded() && j.is_object(), ErrorKind::Format, "{}: header is not valid JSON", path);
  f.data_start = 8 + n;
  const size_t data_size = size - f.data_start;

  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") {
      IA_CHECK(it->is_object(), ErrorKind::Format, "{}: __metadata__ must be an object", path);
      f.metadata = *it;
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
    // numel < 2^62 but numel * dtype_size can still wrap (an F32 shape of [2^62] is 2^64 bytes = 0 mod 2^64).
    const uint64_t dsize = dtype_size(info.dtype);
    IA_CHECK(numel <= UINT64_MAX / dsize, ErrorKind::Format, "{}: tensor '{}': shape {} x {} overflows the byte size",
             path, name, fmt::format("[{}]", fmt::join(info.shape, ", ")), dt);
    const uint64_t want = numel * dsize;
    IA_CHECK(want == info.end - info.begin, ErrorKind::Format,
             "{}: tensor '{}': shape {} x {} needs {} bytes but data_offsets span {}", path, name,
             fmt::format("[{}]", fmt::join(info.shape, ", ")), dt, want, info.end - info.begin);
    f.tensors.push_back(std::move(info));
  }
  std::vector<const TensorInfo*> sorted;
  for (const auto& t : f.tensors) sorted.push_back(&t);
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
  return f;
}

}  // namespace ia
