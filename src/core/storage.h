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
      : data_(data), nbytes_(nbytes), device_(device), release_(std::move(release)), writable_(writable) {}
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() {
    if (release_) release_(data_);
  }
  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  bool writable() const { return writable_; }

 private:
  void* data_;
  size_t nbytes_;
  Device device_;
  std::function<void(void*)> release_;
  bool writable_;
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
