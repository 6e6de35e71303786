// Raw memory behind tensors: host allocations, read-only mmaps of checkpoint files, and device buffers.
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "core/dtype.h"

namespace ia {

class Storage {
 public:
  Storage(void* data, size_t nbytes, Device device, std::function<void(void*)> release, bool writable = true)
      : data_(data), nbytes_(nbytes), device_(device), release_(std::move(release)), writable_(writable),
        constant_(!writable) {}
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() {
    if (release_) release_(data_);
  }
  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  bool writable() const { return writable_; }
  // Constant: the contents never change while the storage lives (read-only maps; a layer's weights once loaded),
  // so backends may keep derived forms of it (packed GEMM weights) keyed by its identity.
  bool constant() const { return constant_; }
  void mark_constant() { constant_ = true; }
  // For read-only maps: drops the whole pages of [offset, offset+n) from this process' resident set (they are
  // read back from the page cache if touched again). No-op for other storages.
  void drop_resident(size_t offset, size_t n) const;

 private:
  void* data_;
  size_t nbytes_;
  Device device_;
  std::function<void(void*)> release_;
  bool writable_;
  bool constant_;
};

// Allocates `nbytes` on `device` through that device's registered allocator.
std::shared_ptr<Storage> allocate_storage(Device device, size_t nbytes);

// Device allocators register themselves here (CPU in core, others in their backend).
using AllocatorFn = std::shared_ptr<Storage> (*)(int device_index, size_t nbytes);
void register_allocator(DeviceType type, AllocatorFn fn);

// A read-only memory map of a whole file. Tensors viewing it keep it alive.
class MappedFile {
 public:
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Storage aliasing [offset, offset+nbytes) of a mapped file (zero-copy, not writable).
std::shared_ptr<Storage> mapped_storage(std::shared_ptr<MappedFile> file, size_t offset, size_t nbytes);

}  // namespace ia
