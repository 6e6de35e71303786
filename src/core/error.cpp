#include "core/error.h"

namespace ia {

const char* error_kind_name(ErrorKind k) {
  switch (k) {
    case ErrorKind::InvalidArgument: return "invalid argument";
    case ErrorKind::Io: return "i/o error";
    case ErrorKind::Format: return "format error";
    case ErrorKind::Unsupported: return "unsupported";
    case ErrorKind::OutOfMemory: return "out of memory";
    case ErrorKind::Backend: return "backend error";
    case ErrorKind::NotFound: return "not found";
  }
  return "error";
}

}  // namespace ia
