#include "core/storage.h"

#include <fcntl.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "core/error.h"

namespace ia {

namespace {

std::array<AllocatorFn, kNumDeviceTypes>& allocators() {
  static std::array<AllocatorFn, kNumDeviceTypes> table{};
  return table;
}

constexpr size_t kMaxHostAllocation = size_t(1) << 40;  // 1 TiB: anything larger is a corrupt size

std::shared_ptr<Storage> cpu_allocate(int, size_t nbytes) {
  IA_CHECK(nbytes <= kMaxHostAllocation, ErrorKind::OutOfMemory, "refusing host allocation of {} bytes", nbytes);
  const size_t rounded = (std::max<size_t>(nbytes, 1) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded);
  IA_CHECK(p != nullptr, ErrorKind::OutOfMemory, "host allocation of {} bytes failed", nbytes);
  return std::make_shared<Storage>(p, nbytes, Device::cpu(), [](void* q) { std::free(q); });
}

// Activations of a few MiB are allocated and freed per op: glibc would serve them with fresh mmaps (or trim the
// heap after them), so every op would first-touch new pages. Keep blocks up to 64 MiB in the heap, and the heap
// (up to 512 MiB of free top) mapped, as allocators of ML runtimes do with their arenas.
bool tune_malloc() {
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  return true;
}

const bool cpu_allocator_registered = (tune_malloc(), register_allocator(DeviceType::CPU, cpu_allocate), true);

}  // namespace

void register_allocator(DeviceType type, AllocatorFn fn) { allocators()[static_cast<int>(type)] = fn; }

std::shared_ptr<Storage> allocate_storage(Device device, size_t nbytes) {
  (void)cpu_allocator_registered;
  AllocatorFn fn = allocators()[static_cast<int>(device.type)];
  IA_CHECK(fn != nullptr, ErrorKind::Unsupported, "no allocator for device {} in this build", device.str());
  return fn(device.index, nbytes);
}

void Storage::drop_resident(size_t offset, size_t n) const {
  if (writable_ || device_.type != DeviceType::CPU || offset >= nbytes_) return;
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t lo = reinterpret_cast<uintptr_t>(data_) + offset;
  const uintptr_t hi = lo + std::min(n, nbytes_ - offset);
  const uintptr_t a = (lo + page - 1) / page * page, b = hi / page * page;
  if (b > a) madvise(reinterpret_cast<void*>(a), b - a, MADV_DONTNEED);
}

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  IA_CHECK(fd >= 0, ErrorKind::Io, "{}: cannot open: {}", path, std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    fail(ErrorKind::Io, "{}: cannot stat: {}", path, std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(ErrorKind::Io, "{}: not a regular file", path);
  }
  auto f = std::shared_ptr<MappedFile>(new MappedFile());
  f->path_ = path;
  f->size_ = static_cast<size_t>(st.st_size);
  if (f->size_ > 0) {
    void* p = mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      fail(ErrorKind::Io, "{}: mmap failed: {}", path, std::strerror(e));
    }
    f->data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
  return f;
}

MappedFile::~MappedFile() {
  if (data_) munmap(const_cast<uint8_t*>(data_), size_);
}

std::shared_ptr<Storage> mapped_storage(std::shared_ptr<MappedFile> file, size_t offset, size_t nbytes) {
  IA_CHECK(offset + nbytes <= file->size(), ErrorKind::Format, "{}: range [{}, {}) beyond file size {}", file->path(),
           offset, offset + nbytes, file->size());
  void* p = const_cast<uint8_t*>(file->data() + offset);
  return std::make_shared<Storage>(p, nbytes, Device::cpu(), [file](void*) {}, false);
}

}  // namespace ia
