// SHA-256 (FIPS 180-4): incremental hasher used to verify Hub LFS blobs and to hash IPFS blocks. Nettle's
// (Debian nettle-dev; it picks the x86 SHA extensions at run time): measured 1170-1190 MB/s against 960-1040 MB/s
// for the hand-written SHA-NI version it replaced (256 MiB, this 2-core machine); OpenSSL 3 is the same speed.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nettle/sha2.h>

namespace ia {

using Sha256Digest = std::array<uint8_t, 32>;

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t n);
  void update(std::string_view s) { update(s.data(), s.size()); }
  Sha256Digest finish();  // the hasher is spent afterwards

 private:
  sha256_ctx ctx_;
};

Sha256Digest sha256(const void* data, size_t n);
inline Sha256Digest sha256(std::string_view s) { return sha256(s.data(), s.size()); }
std::string to_hex(const uint8_t* data, size_t n);
inline std::string to_hex(const Sha256Digest& d) { return to_hex(d.data(), d.size()); }
// Hex SHA-256 of a file's content; throws Io naming the file.
std::string sha256_file_hex(const std::string& path);

}  // namespace ia
