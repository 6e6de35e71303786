// Size-class caching allocator behind the CUDA device allocator: freed blocks go to a per-class free list and
// are reused by later requests of the same class, so steady-state inference never calls cudaMalloc/cudaFree.
// Device-agnostic (raw allocation is injected) so it is unit-tested without a GPU.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

namespace ia::cuda {

class CachingAllocator {
 public:
  // raw_alloc returns nullptr when the device refuses; raw_free returns a block to the device.
  using RawAlloc = std::function<void*(size_t)>;
  using RawFree = std::function<void(void*)>;
  // Called before cached blocks are handed back to the device (lets the owner wait for queued work).
  using BeforeTrim = std::function<void()>;

  struct Stats {
    size_t in_use_bytes = 0;  // rounded sizes of live blocks
    size_t cached_bytes = 0;  // rounded sizes of blocks on free lists
    size_t peak_bytes = 0;    // max of in_use + cached
    uint64_t device_allocs = 0;
    uint64_t cache_hits = 0;
  };

  CachingAllocator(RawAlloc raw_alloc, RawFree raw_free, BeforeTrim before_trim = {})
      : raw_alloc_(std::move(raw_alloc)), raw_free_(std::move(raw_free)), before_trim_(std::move(before_trim)) {}
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // Small requests round up to 512 B, large ones (>= 1 MiB) to 2 MiB: activations repeat exact sizes layer after
  // layer, so exact-class reuse hits, and the waste on weights is at most 2 MiB per tensor.
  static size_t round_size(size_t n) {
    constexpr size_t kSmall = 512, kLarge = size_t(2) << 20, kLargeFrom = size_t(1) << 20;
    if (n == 0) n = 1;
    if (n < kLargeFrom) return (n + kSmall - 1) / kSmall * kSmall;
    return (n + kLarge - 1) / kLarge * kLarge;
  }

  // A block of at least n bytes, or nullptr when the device refuses even after the cache was released.
  void* allocate(size_t n, size_t* rounded_out = nullptr) {
    const size_t r = round_size(n);
    if (rounded_out) *rounded_out = r;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = free_.find(r);
    if (it != free_.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      stats_.cached_bytes -= r;
      stats_.in_use_bytes += r;
      ++stats_.cache_hits;
      sizes_[p] = r;
      return p;
    }
    void* p = raw_alloc_(r);
    if (!p && stats_.cached_bytes > 0) {
      release_cached_locked();
      p = raw_alloc_(r);
    }
    if (!p) return nullptr;
    ++stats_.device_allocs;
    stats_.in_use_bytes += r;
    stats_.peak_bytes = std::max(stats_.peak_bytes, stats_.in_use_bytes + stats_.cached_bytes);
    sizes_[p] = r;
    return p;
  }

  // Returns a block to its free list (never to the device).
  void deallocate(void* p) {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sizes_.find(p);
    if (it == sizes_.end()) return;
    const size_t r = it->second;
    sizes_.erase(it);
    free_[r].push_back(p);
    stats_.in_use_bytes -= r;
    stats_.cached_bytes += r;
  }

  // Hands every cached block back to the device.
  void release_cached() {
    std::lock_guard<std::mutex> lock(mu_);
    release_cached_locked();
  }

  Stats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  void release_cached_locked() {
    if (stats_.cached_bytes == 0) return;
    if (before_trim_) before_trim_();
    for (auto& [size, blocks] : free_)
      for (void* p : blocks) raw_free_(p);
    free_.clear();
    stats_.cached_bytes = 0;
  }

  RawAlloc raw_alloc_;
  RawFree raw_free_;
  BeforeTrim before_trim_;
  mutable std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_;
  std::map<void*, size_t> sizes_;
  Stats stats_;
};

}  // namespace ia::cuda
