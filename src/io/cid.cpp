#include "io/cid.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace ia::ipfs {

namespace fs = std::filesystem;

// ---- varints and multibase ----

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(char(uint8_t(v) | 0x80));
    v >>= 7;
  }
  out.push_back(char(v));
}

uint64_t read_varint(std::string_view data, size_t& pos) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    IA_CHECK(pos < data.size(), ErrorKind::Format, "truncated varint at byte {} of {}", pos, data.size());
    uint8_t b = uint8_t(data[pos++]);
    v |= uint64_t(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  fail(ErrorKind::Format, "varint longer than 64 bits at byte {}", pos);
}

static const char* kBase32 = "abcdefghijklmnopqrstuvwxyz234567";

std::string base32_lower(std::string_view bytes) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 5) {
      out.push_back(kBase32[(acc >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kBase32[(acc << (5 - bits)) & 31]);
  return out;
}

std::string base32_decode(std::string_view text) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : text) {
    char c = char(std::tolower(static_cast<unsigned char>(ch)));
    const char* p = std::strchr(kBase32, c);
    IA_CHECK(c != 0 && p != nullptr, ErrorKind::InvalidArgument, "'{}' is not a base32 character in '{}'", ch, text);
    acc = (acc << 5) | uint32_t(p - kBase32);
    bits += 5;
    if (bits >= 8) {
      out.push_back(char((acc >> (bits - 8)) & 0xff));
      bits -= 8;
    }
  }
  return out;
}

static std::string base58_decode(std::string_view text) {
  static const char* alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  std::vector<uint8_t> num;  // big-endian base-256
  for (char c : text) {
    const char* p = std::strchr(alphabet, c);
    IA_CHECK(c != 0 && p != nullptr, ErrorKind::InvalidArgument, "'{}' is not a base58 character in '{}'", c, text);
    int carry = int(p - alphabet);
    for (auto it = num.rbegin(); it != num.rend(); ++it) {
      carry += 58 * (*it);
      *it = uint8_t(carry & 0xff);
      carry >>= 8;
    }
    while (carry > 0) {
      num.insert(num.begin(), uint8_t(carry & 0xff));
      carry >>= 8;
    }
  }
  size_t zeros = 0;
  while (zeros < text.size() && text[zeros] == '1') ++zeros;
  return std::string(zeros, '\0') + std::string(num.begin(), num.end());
}

static std::string base58_encode(std::string_view bytes) {
  static const char* alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  std::vector<uint8_t> digits;  // little-endian base-58
  for (unsigned char c : bytes) {
    int carry = c;
    for (auto& d : digits) {
      carry += 256 * d;
      d = uint8_t(carry % 58);
      carry /= 58;
    }
    while (carry > 0) {
      digits.push_back(uint8_t(carry % 58));
      carry /= 58;
    }
  }
  std::string out;
  for (size_t i = 0; i < bytes.size() && bytes[i] == 0; ++i) out.push_back('1');
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) out.push_back(alphabet[*it]);
  return out;
}

// ---- CID ----

Cid Cid::of(Codec codec, std::string_view block) {
  Cid c;
  c.codec = codec;
  c.digest = sha256(block);
  return c;
}

static void read_multihash(std::string_view data, size_t& pos, Cid& c) {
  uint64_t code = read_varint(data, pos);
  uint64_t len = read_varint(data, pos);
  IA_CHECK(code == 0x12, ErrorKind::Unsupported, "CID uses multihash 0x{:x}; only sha2-256 (0x12) is supported", code);
  IA_CHECK(len == 32 && pos + 32 <= data.size(), ErrorKind::Format, "sha2-256 multihash with length {} (need 32)", len);
  std::memcpy(c.digest.data(), data.data() + pos, 32);
  pos += 32;
}

Cid Cid::read_binary(std::string_view data, size_t& pos) {
  Cid c;
  if (pos + 1 < data.size() && uint8_t(data[pos]) == 0x12 && uint8_t(data[pos + 1]) == 0x20) {
    c.version = 0;
    c.codec = Codec::DagPb;
    read_multihash(data, pos, c);
    return c;
  }
  c.version = read_varint(data, pos);
  IA_CHECK(c.version == 1, ErrorKind::Format, "CID version {} (expected 0 or 1)", c.version);
  uint64_t codec = read_varint(data, pos);
  IA_CHECK(codec == uint64_t(Codec::Raw) || codec == uint64_t(Codec::DagPb), ErrorKind::Unsupported,
           "CID codec 0x{:x}: only raw (0x55) and dag-pb (0x70) blocks are supported", codec);
  c.codec = Codec(codec);
  read_multihash(data, pos, c);
  return c;
}

Cid Cid::parse(std::string_view text) {
  IA_CHECK(!text.empty(), ErrorKind::InvalidArgument, "empty CID");
  std::string bin;
  if (text.size() == 46 && text.substr(0, 2) == "Qm") {
    bin = base58_decode(text);
  } else if (text[0] == 'b' || text[0] == 'B') {
    bin = base32_decode(text.substr(1));
  } else if (text[0] == 'z') {
    bin = base58_decode(text.substr(1));
  } else {
    fail(ErrorKind::InvalidArgument, "'{}' is not a CID (expected base32 'b...' CIDv1 or 'Qm...' CIDv0)", text);
  }
  size_t pos = 0;
  Cid c;
  try {
    c = read_binary(bin, pos);
  } catch (const Error& e) {
    fail(e.kind(), "'{}' is not a valid CID: {}", text, e.what());
  }
  IA_CHECK(pos == bin.size(), ErrorKind::InvalidArgument, "'{}' is not a valid CID: {} trailing bytes", text,
           bin.size() - pos);
  return c;
}

std::string Cid::binary() const {
  std::string out;
  if (version == 1) {
    put_varint(out, 1);
    put_varint(out, uint64_t(codec));
  }
  out.push_back(char(0x12));
  out.push_back(char(0x20));
  out.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  return out;
}

std::string Cid::to_string() const {
  if (version == 0) return base58_encode(binary());
  std::string out = "b";
  out += base32_lower(binary());
  return out;
}

// ---- protobuf (dag-pb, UnixFS) ----

namespace {

void put_tag(std::string& out, uint32_t field, uint32_t wire) { put_varint(out, (uint64_t(field) << 3) | wire); }
void put_bytes(std::string& out, uint32_t field, std::string_view b) {
  put_tag(out, field, 2);
  put_varint(out, b.size());
  out.append(b);
}
void put_uint(std::string& out, uint32_t field, uint64_t v) {
  put_tag(out, field, 0);
  put_varint(out, v);
}

// One protobuf field: number, wire type, and its value (varint or byte range).
struct PbField {
  uint32_t number;
  uint32_t wire;
  uint64_t value = 0;
  std::string_view bytes;
};

bool next_field(std::string_view data, size_t& pos, PbField& f, const char* what) {
  if (pos >= data.size()) return false;
  uint64_t tag = read_varint(data, pos);
  f.number = uint32_t(tag >> 3);
  f.wire = uint32_t(tag & 7);
  if (f.wire == 0) {
    f.value = read_varint(data, pos);
  } else if (f.wire == 2) {
    uint64_t len = read_varint(data, pos);
    IA_CHECK(len <= data.size() - pos, ErrorKind::Format, "{}: field {} length {} runs past the end", what, f.number,
             len);
    f.bytes = data.substr(pos, len);
    pos += len;
  } else {
    fail(ErrorKind::Format, "{}: unexpected protobuf wire type {} for field {}", what, f.wire, f.number);
  }
  return true;
}

}  // namespace

std::string encode_pb_node(const PbNode& node) {
  std::string out;
  for (const auto& l : node.links) {
    std::string link;
    put_bytes(link, 1, l.cid.binary());
    put_bytes(link, 2, l.name);
    put_uint(link, 3, l.tsize);
    put_bytes(out, 2, link);
  }
  if (node.has_data) put_bytes(out, 1, node.data);
  return out;
}

PbNode decode_pb_node(std::string_view block) {
  PbNode n;
  size_t pos = 0;
  PbField f;
  while (next_field(block, pos, f, "dag-pb node")) {
    if (f.number == 1 && f.wire == 2) {
      n.data = std::string(f.bytes);
      n.has_data = true;
    } else if (f.number == 2 && f.wire == 2) {
      PbLink l;
      size_t lp = 0;
      PbField lf;
      bool has_hash = false;
      while (next_field(f.bytes, lp, lf, "dag-pb link")) {
        if (lf.number == 1 && lf.wire == 2) {
          size_t cp = 0;
          l.cid = Cid::read_binary(lf.bytes, cp);
          has_hash = true;
        } else if (lf.number == 2 && lf.wire == 2) {
          l.name = std::string(lf.bytes);
        } else if (lf.number == 3 && lf.wire == 0) {
          l.tsize = lf.value;
        }
      }
      IA_CHECK(has_hash, ErrorKind::Format, "dag-pb link without a Hash");
      n.links.push_back(std::move(l));
    } else {
      fail(ErrorKind::Format, "dag-pb node: unexpected field {}", f.number);
    }
  }
  return n;
}

std::string encode_unixfs(const UnixFsData& d) {
  std::string out;
  put_uint(out, 1, uint64_t(d.type));
  if (!d.data.empty()) put_bytes(out, 2, d.data);
  if (d.has_filesize) put_uint(out, 3, d.filesize);
  for (uint64_t b : d.blocksizes) put_uint(out, 4, b);
  return out;
}

UnixFsData decode_unixfs(std::string_view bytes) {
  UnixFsData d;
  size_t pos = 0;
  PbField f;
  bool has_type = false;
  while (next_field(bytes, pos, f, "UnixFS data")) {
    if (f.number == 1 && f.wire == 0) {
      d.type = UnixFsType(f.value);
      has_type = true;
    } else if (f.number == 2 && f.wire == 2) {
      d.data = std::string(f.bytes);
    } else if (f.number == 3 && f.wire == 0) {
      d.filesize = f.value;
      d.has_filesize = true;
    } else if (f.number == 4 && f.wire == 0) {
      d.blocksizes.push_back(f.value);
    } else if (f.number == 4 && f.wire == 2) {  // packed encoding
      size_t p = 0;
      while (p < f.bytes.size()) d.blocksizes.push_back(read_varint(f.bytes, p));
    }
  }
  IA_CHECK(has_type, ErrorKind::Format, "UnixFS data without a Type");
  return d;
}

// ---- the importer ----

namespace {

// Builds the balanced DAG bottom-up: groups of kMaxLinks children become one parent, level by level.
class FileBuilder {
 public:
  explicit FileBuilder(const BlockSink& sink) : sink_(sink) {}

  void add_chunk(std::string_view chunk) {
    DagEntry leaf{Cid::of(Codec::Raw, chunk), chunk.size(), chunk.size()};
    if (sink_) sink_(leaf.cid, chunk);
    leaves_.push_back(leaf);
  }

  DagEntry finish() {
    if (leaves_.empty()) add_chunk({});
    if (leaves_.size() == 1) return leaves_[0];  // a single chunk is the file itself
    std::vector<DagEntry> level = std::move(leaves_);
    while (level.size() > 1) {
      std::vector<DagEntry> parents;
      for (size_t i = 0; i < level.size(); i += kMaxLinks) {
        size_t end = std::min(level.size(), i + kMaxLinks);
        parents.push_back(make_parent(level, i, end));
      }
      level = std::move(parents);
    }
    return level[0];
  }

 private:
  DagEntry make_parent(const std::vector<DagEntry>& kids, size_t begin, size_t end) {
    PbNode node;
    UnixFsData fsd;
    fsd.type = UnixFsType::File;
    fsd.has_filesize = true;
    uint64_t tsize = 0;
    for (size_t i = begin; i < end; ++i) {
      node.links.push_back({kids[i].cid, "", kids[i].tsize});
      fsd.filesize += kids[i].size;
      fsd.blocksizes.push_back(kids[i].size);
      tsize += kids[i].tsize;
    }
    node.data = encode_unixfs(fsd);
    node.has_data = true;
    std::string block = encode_pb_node(node);
    DagEntry e{Cid::of(Codec::DagPb, block), fsd.filesize, tsize + block.size()};
    if (sink_) sink_(e.cid, block);
    return e;
  }

  const BlockSink& sink_;
  std::vector<DagEntry> leaves_;
};

}  // namespace

DagEntry add_bytes(std::string_view bytes, const BlockSink& sink) {
  FileBuilder b(sink);
  for (size_t off = 0; off < bytes.size(); off += kChunkSize) b.add_chunk(bytes.substr(off, kChunkSize));
  return b.finish();
}

DagEntry add_file(const std::string& path, const BlockSink& sink) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  IA_CHECK(fd >= 0, ErrorKind::Io, "cannot open {}: {}", path, std::strerror(errno));
  FileBuilder b(sink);
  std::string chunk(kChunkSize, '\0');
  for (;;) {
    size_t got = 0;
    while (got < kChunkSize) {  // fixed-size chunks: fill each completely before hashing
      ssize_t r = ::read(fd, chunk.data() + got, kChunkSize - got);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        int e = errno;
        ::close(fd);
        fail(ErrorKind::Io, "cannot read {}: {}", path, std::strerror(e));
      }
      if (r == 0) break;
      got += size_t(r);
    }
    if (got > 0) b.add_chunk(std::string_view(chunk.data(), got));
    if (got < kChunkSize) break;
  }
  ::close(fd);
  return b.finish();
}

DagEntry add_directory(const std::string& path, const BlockSink& sink) {
  std::vector<std::pair<std::string, fs::path>> entries;
  std::error_code ec;
  for (const auto& de : fs::directory_iterator(path, ec)) {
    std::string name = de.path().filename().string();
    if (!name.empty() && name[0] == '.') continue;
    entries.emplace_back(name, de.path());
  }
  IA_CHECK(!ec, ErrorKind::Io, "cannot list directory {}: {}", path, ec.message());
  std::sort(entries.begin(), entries.end());
  PbNode node;
  uint64_t size = 0, tsize = 0;
  for (const auto& [name, p] : entries) {
    DagEntry child = add_path(p.string(), sink);
    node.links.push_back({child.cid, name, child.tsize});
    size += child.size;
    tsize += child.tsize;
  }
  UnixFsData fsd;
  fsd.type = UnixFsType::Directory;
  node.data = encode_unixfs(fsd);
  node.has_data = true;
  std::string block = encode_pb_node(node);
  DagEntry e{Cid::of(Codec::DagPb, block), size, tsize + block.size()};
  if (sink) sink(e.cid, block);
  return e;
}

DagEntry add_path(const std::string& path, const BlockSink& sink) {
  std::error_code ec;
  auto st = fs::status(path, ec);  // follows symlinks (HF snapshots are symlinks into blobs/)
  IA_CHECK(!ec && fs::exists(st), ErrorKind::NotFound, "{} does not exist", path);
  if (fs::is_directory(st)) return add_directory(path, sink);
  IA_CHECK(fs::is_regular_file(st), ErrorKind::Unsupported, "{} is neither a regular file nor a directory", path);
  return add_file(path, sink);
}

// ---- CARv1 ----

std::string car_header(const std::vector<Cid>& roots) {
  // dag-cbor {"roots": [CID...], "version": 1}; keys in dag-cbor order (shorter first).
  std::string h;
  h.push_back(char(0xa2));
  h.push_back(char(0x65));
  h += "roots";
  IA_CHECK(roots.size() < 24, ErrorKind::InvalidArgument, "CAR with {} roots", roots.size());
  h.push_back(char(0x80 + roots.size()));
  for (const auto& r : roots) {
    std::string b(1, '\0');
    b += r.binary();
    h.push_back(char(0xd8));
    h.push_back(char(0x2a));
    h.push_back(char(0x58));
    h.push_back(char(b.size()));
    h += b;
  }
  h.push_back(char(0x67));
  h += "version";
  h.push_back(char(0x01));
  std::string out;
  put_varint(out, h.size());
  return out + h;
}

std::string car_section(const Cid& cid, std::string_view block) {
  std::string c = cid.binary();
  std::string out;
  put_varint(out, c.size() + block.size());
  out += c;
  out.append(block);
  return out;
}

namespace {

// Just enough dag-cbor to read a CARv1 header.
struct Cbor {
  std::string_view d;
  size_t pos = 0;
  std::string source;

  uint8_t byte() {
    IA_CHECK(pos < d.size(), ErrorKind::Format, "{}: truncated CAR header", source);
    return uint8_t(d[pos++]);
  }
  uint64_t arg(uint8_t info) {
    if (info < 24) return info;
    int n = info == 24 ? 1 : info == 25 ? 2 : info == 26 ? 4 : info == 27 ? 8 : 0;
    IA_CHECK(n > 0, ErrorKind::Format, "{}: unsupported CBOR length in CAR header", source);
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 8) | byte();
    return v;
  }
  std::string_view take(uint64_t n) {
    IA_CHECK(n <= d.size() - pos, ErrorKind::Format, "{}: truncated CAR header", source);
    auto s = d.substr(pos, n);
    pos += n;
    return s;
  }
};

}  // namespace

CarFile read_car(std::string_view bytes, const std::string& source) {
  CarFile car;
  size_t pos = 0;
  uint64_t hlen = read_varint(bytes, pos);
  IA_CHECK(hlen <= bytes.size() - pos, ErrorKind::Format, "{}: CAR header length {} past the end", source, hlen);
  Cbor c{bytes.substr(pos, hlen), 0, source};
  pos += hlen;
  uint8_t m = c.byte();
  IA_CHECK((m >> 5) == 5, ErrorKind::Format, "{}: CAR header is not a CBOR map", source);
  uint64_t nkeys = c.arg(m & 31);
  uint64_t version = 0;
  for (uint64_t k = 0; k < nkeys; ++k) {
    uint8_t kb = c.byte();
    IA_CHECK((kb >> 5) == 3, ErrorKind::Format, "{}: CAR header key is not a string", source);
    std::string key(c.take(c.arg(kb & 31)));
    uint8_t vb = c.byte();
    if (key == "version") {
      version = c.arg(vb & 31);
    } else if (key == "roots") {
      IA_CHECK((vb >> 5) == 4, ErrorKind::Format, "{}: CAR roots is not an array", source);
      uint64_t n = c.arg(vb & 31);
      for (uint64_t i = 0; i < n; ++i) {
        uint8_t t = c.byte();
        IA_CHECK((t >> 5) == 6 && c.arg(t & 31) == 42, ErrorKind::Format, "{}: CAR root is not a CID", source);
        uint8_t bb = c.byte();
        IA_CHECK((bb >> 5) == 2, ErrorKind::Format, "{}: CAR root CID is not bytes", source);
        std::string_view b = c.take(c.arg(bb & 31));
        IA_CHECK(!b.empty() && b[0] == 0, ErrorKind::Format, "{}: CAR root CID lacks the identity prefix", source);
        size_t cp = 1;
        car.roots.push_back(Cid::read_binary(b, cp));
      }
    } else {
      fail(ErrorKind::Format, "{}: unexpected CAR header key '{}'", source, key);
    }
  }
  IA_CHECK(version == 1, ErrorKind::Unsupported, "{}: CAR version {} (only CARv1 is supported)", source, version);
  while (pos < bytes.size()) {
    uint64_t len = read_varint(bytes, pos);
    IA_CHECK(len <= bytes.size() - pos, ErrorKind::Format, "{}: CAR section of {} bytes runs past the end", source,
             len);
    std::string_view sec = bytes.substr(pos, len);
    pos += len;
    size_t cp = 0;
    Cid cid = Cid::read_binary(sec, cp);
    std::string_view block = sec.substr(cp);
    IA_CHECK(cid.verifies(block), ErrorKind::Format,
             "{}: block {} failed verification: its bytes hash to sha2-256 {} -- the data was tampered with or "
             "corrupted in transit",
             source, cid.to_string(), to_hex(sha256(block)));
    car.blocks.emplace(cid, std::string(block));
  }
  return car;
}

}  // namespace ia::ipfs
