#include "io/model_source.h"

#include <cstdlib>
#include <filesystem>

#include "core/error.h"
#include "io/hub.h"
#include "io/ipfs.h"

namespace ia {

namespace fs = std::filesystem;

ModelLocation parse_model_location(const std::string& spec) {
  IA_CHECK(!spec.empty(), ErrorKind::InvalidArgument, "empty model argument");
  ModelLocation m;
  if (spec.rfind("ipfs://", 0) == 0 || spec.rfind("/ipfs/", 0) == 0) {
    m.kind = ModelLocation::Kind::Ipfs;
    m.cid = spec.substr(spec[0] == '/' ? 6 : 7);
    while (!m.cid.empty() && m.cid.back() == '/') m.cid.pop_back();
    ipfs::Cid::parse(m.cid);  // validates
    return m;
  }
  bool hub_prefix = spec.rfind("hf://", 0) == 0;
  std::string rest = hub_prefix ? spec.substr(5) : spec;
  std::error_code ec;
  if (!hub_prefix && fs::exists(spec, ec)) {
    m.kind = ModelLocation::Kind::Local;
    m.path = spec;
    return m;
  }
  bool looks_local = !hub_prefix && (spec[0] == '/' || spec[0] == '.' || spec[0] == '~' ||
                                     spec.find("//") != std::string::npos || spec.back() == '/');
  IA_CHECK(!looks_local, ErrorKind::NotFound, "model path {} does not exist", spec);
  auto ref = RepoRef::parse(rest);
  IA_CHECK(ref.has_value(), ErrorKind::InvalidArgument,
           "'{}' is neither an existing path, a Hugging Face repo id (org/name[@revision]), nor ipfs://<cid>", spec);
  m.kind = ModelLocation::Kind::Hub;
  m.repo = ref->repo;
  m.revision = ref->revision;
  return m;
}

std::string resolve_model(const std::string& spec, const ModelSourceOptions& opts) {
  ModelLocation m = parse_model_location(spec);
  switch (m.kind) {
    case ModelLocation::Kind::Local:
      return m.path;
    case ModelLocation::Kind::Hub: {
      HubOptions ho = HubOptions::from_env();
      if (opts.offline) ho.offline = *opts.offline;
      if (opts.progress) ho.progress = *opts.progress;
      HubClient hub(ho);
      return hub.snapshot_download(m.repo, opts.revision.empty() ? m.revision : opts.revision, opts.include);
    }
    case ModelLocation::Kind::Ipfs: {
      ipfs::GatewayOptions go = ipfs::GatewayOptions::from_env();
      if (opts.offline) go.offline = *opts.offline;
      if (opts.progress) go.progress = *opts.progress;
      return ipfs::fetch(m.cid, go);
    }
  }
  fail(ErrorKind::InvalidArgument, "unhandled model argument {}", spec);
}

}  // namespace ia
