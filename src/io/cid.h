// Content addressing as IPFS does it: CIDs (v1 base32, v0 base58 on input), dag-pb/UnixFS nodes, and the
// DAG that `ipfs add --cid-version 1` builds for a file or directory (kubo defaults: 256 KiB fixed-size
// chunks, raw leaves, balanced layout with at most 174 links per node, sha2-256), plus CARv1 read/write.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "io/sha256.h"

namespace ia::ipfs {

enum class Codec : uint64_t { Raw = 0x55, DagPb = 0x70 };

constexpr size_t kChunkSize = 256 * 1024;  // kubo's default chunker: size-262144
constexpr size_t kMaxLinks = 174;          // kubo's balanced layout: links per intermediate node

// A sha2-256 CID (the only hash this store makes or accepts).
struct Cid {
  uint64_t version = 1;
  Codec codec = Codec::Raw;
  Sha256Digest digest{};

  static Cid of(Codec codec, std::string_view block);  // CIDv1 of a block's bytes
  // "bafy..."/"bafk..." (v1, base32) or "Qm..." (v0, base58btc); throws InvalidArgument/Unsupported.
  static Cid parse(std::string_view text);
  // Binary form at data[pos], advancing pos (dag-pb links, CAR sections).
  static Cid read_binary(std::string_view data, size_t& pos);

  std::string binary() const;     // version varint, codec varint, multihash
  std::string to_string() const;  // v1: 'b' + base32; v0: base58btc
  bool verifies(std::string_view block) const { return sha256(block) == digest; }
  bool operator==(const Cid& o) const = default;
  bool operator<(const Cid& o) const { return binary() < o.binary(); }
};

// dag-pb (PBNode) and UnixFS (the Data field) as far as files and directories need them.
struct PbLink {
  Cid cid;
  std::string name;
  uint64_t tsize = 0;
};
struct PbNode {
  std::vector<PbLink> links;
  std::string data;
  bool has_data = false;
};
std::string encode_pb_node(const PbNode& node);
PbNode decode_pb_node(std::string_view block);  // Format error on malformed input

enum class UnixFsType : uint64_t { Raw = 0, Directory = 1, File = 2, Metadata = 3, Symlink = 4, HamtShard = 5 };
struct UnixFsData {
  UnixFsType type = UnixFsType::File;
  std::string data;
  uint64_t filesize = 0;
  bool has_filesize = false;
  std::vector<uint64_t> blocksizes;
};
std::string encode_unixfs(const UnixFsData& d);
UnixFsData decode_unixfs(std::string_view bytes);

// Receives every block of a DAG as it is built (children before parents).
using BlockSink = std::function<void(const Cid&, std::string_view block)>;

struct DagEntry {
  Cid cid;
  uint64_t size = 0;   // file bytes (a directory: sum of its files)
  uint64_t tsize = 0;  // cumulative block bytes, as a parent link's Tsize
};

// What `ipfs add --cid-version 1` gives for these bytes / this file / this directory. Directories: entries
// sorted by name, hidden entries (leading '.') skipped like kubo without --hidden, symlinks followed.
DagEntry add_bytes(std::string_view bytes, const BlockSink& sink = {});
DagEntry add_file(const std::string& path, const BlockSink& sink = {});
DagEntry add_directory(const std::string& path, const BlockSink& sink = {});
DagEntry add_path(const std::string& path, const BlockSink& sink = {});  // file or directory

// CARv1: a header naming the roots, then (cid, block) sections.
std::string car_header(const std::vector<Cid>& roots);
std::string car_section(const Cid& cid, std::string_view block);
struct CarFile {
  std::vector<Cid> roots;
  std::map<Cid, std::string> blocks;  // every block verified against its CID
};
// Parses a CARv1 and checks each block's hash; a mismatch is a Format error naming the CID and `source`.
CarFile read_car(std::string_view bytes, const std::string& source);

// Multibase/varint helpers (exposed for tests).
std::string base32_lower(std::string_view bytes);
std::string base32_decode(std::string_view text);  // RFC 4648 alphabet, lower or upper case, no padding
void put_varint(std::string& out, uint64_t v);
uint64_t read_varint(std::string_view data, size_t& pos);

}  // namespace ia::ipfs
