// libFuzzer: content addressing: CAR files (header, sections, per-block sha256 verification), dag-pb nodes,
// UnixFS data, CID text, and model manifests.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"
#include "io/cid.h"
#include "io/ipfs.h"

template <class F>
void guarded(F&& f) {
  try {
    f();
  } catch (const ia::Error&) {
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  guarded([&] {
    ia::ipfs::CarFile car = ia::ipfs::read_car(in, "fuzz.car");
    for (const auto& r : car.roots) (void)r.to_string();
  });
  guarded([&] {
    ia::ipfs::PbNode n = ia::ipfs::decode_pb_node(in);
    for (const auto& l : n.links) (void)l.cid.to_string();
    if (n.has_data) (void)ia::ipfs::decode_unixfs(n.data);
    (void)ia::ipfs::encode_pb_node(n);
  });
  guarded([&] { (void)ia::ipfs::decode_unixfs(in); });
  guarded([&] { (void)ia::ipfs::Cid::parse(in).to_string(); });
  guarded([&] { (void)ia::ipfs::base32_decode(in); });
  guarded([&] {
    size_t pos = 0;
    (void)ia::ipfs::Cid::read_binary(in, pos);
  });
  guarded([&] { (void)ia::ipfs::Manifest::parse(in, "fuzz.manifest.json").to_json(); });
  return 0;
}
