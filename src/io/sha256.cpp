#include "io/sha256.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "core/error.h"

namespace ia {

Sha256::Sha256() { sha256_init(&ctx_); }

void Sha256::update(const void* data, size_t n) { sha256_update(&ctx_, n, static_cast<const uint8_t*>(data)); }

Sha256Digest Sha256::finish() {
  Sha256Digest out;
  sha256_digest(&ctx_, out.size(), out.data());
  return out;
}

Sha256Digest sha256(const void* data, size_t n) {
  Sha256 h;
  h.update(data, n);
  return h.finish();
}

std::string to_hex(const uint8_t* data, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string s(2 * n, '0');
  for (size_t i = 0; i < n; ++i) s[2 * i] = digits[data[i] >> 4], s[2 * i + 1] = digits[data[i] & 15];
  return s;
}

std::string sha256_file_hex(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  IA_CHECK(fd >= 0, ErrorKind::Io, "cannot open {} to hash it: {}", path, std::strerror(errno));
  Sha256 h;
  std::vector<uint8_t> buf(1 << 20);
  for (;;) {
    ssize_t r = ::read(fd, buf.data(), buf.size());
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      ::close(fd);
      fail(ErrorKind::Io, "cannot read {} to hash it: {}", path, std::strerror(e));
    }
    if (r == 0) break;
    h.update(buf.data(), size_t(r));
  }
  ::close(fd);
  return to_hex(h.finish());
}

}  // namespace ia
