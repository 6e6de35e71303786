// Per-op, per-device kernel tables (CTranslate2-style split). An op front-end in src/ops/ declares its
// table; each backend registers its kernel from its own file. Missing kernels are reported, never faked.
#pragma once
#include <array>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"

namespace ia {

class OpTableBase {
 public:
  explicit OpTableBase(const char* name);
  virtual ~OpTableBase() = default;
  const char* name() const { return name_; }
  virtual bool has(DeviceType d) const = 0;

 private:
  const char* name_;
};

// Every op table, in registration order (for backend-op tests and `hardware` reports).
std::vector<OpTableBase*>& all_op_tables();

template <typename Fn>
class OpTable : public OpTableBase {
 public:
  explicit OpTable(const char* name) : OpTableBase(name) {}
  void set(DeviceType d, Fn f) { table_[static_cast<int>(d)] = f; }
  bool has(DeviceType d) const override { return table_[static_cast<int>(d)] != nullptr; }
  Fn get(DeviceType d) const {
    Fn f = table_[static_cast<int>(d)];
    IA_CHECK(f != nullptr, ErrorKind::Unsupported, "op '{}' has no {} kernel in this build", name(),
             device_type_name(d));
    return f;
  }

 private:
  std::array<Fn, kNumDeviceTypes> table_{};
};

}  // namespace ia

// Declares `ia::kernels::NAME()` returning the op's table (function-local static: safe across TUs).
#define IA_DECLARE_OP(NAME, SIGNATURE)              \
  namespace ia::kernels {                           \
  using NAME##_fn = SIGNATURE;                      \
  ::ia::OpTable<NAME##_fn>& NAME();                 \
  }

#define IA_DEFINE_OP(NAME)                                  \
  namespace ia::kernels {                                   \
  ::ia::OpTable<NAME##_fn>& NAME() {                        \
    static ::ia::OpTable<NAME##_fn> table(#NAME);           \
    return table;                                           \
  }                                                         \
  }

#define IA_REGISTER_KERNEL(NAME, DEVICE, FN)                                               \
  namespace {                                                                              \
  const bool ia_kernel_registered_##NAME = (::ia::kernels::NAME().set(DEVICE, FN), true); \
  }
