// The single error type of ipfs-accelerate: a category plus a message that names the file/tensor/field at fault.
#pragma once
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace ia {

enum class ErrorKind {
  InvalidArgument,  // caller passed something malformed
  Io,               // file system / network
  Format,           // a file's content violates its format
  Unsupported,      // valid input the engine does not implement
  OutOfMemory,      // an allocation was refused or would exceed a bound
  Backend,          // a device runtime reported an error
  NotFound,         // a named thing (file, tensor, model) does not exist
};

const char* error_kind_name(ErrorKind k);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

template <typename... Args>
[[noreturn]] void fail(ErrorKind kind, fmt::format_string<Args...> f, Args&&... args) {
  throw Error(kind, fmt::format(f, std::forward<Args>(args)...));
}

#define IA_CHECK(cond, kind, ...)          \
  do {                                     \
    if (!(cond)) ::ia::fail(kind, __VA_ARGS__); \
  } while (0)

}  // namespace ia
