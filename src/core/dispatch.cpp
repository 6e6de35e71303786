#include "core/dispatch.h"

namespace ia {

std::vector<OpTableBase*>& all_op_tables() {
  static std::vector<OpTableBase*> tables;
  return tables;
}

OpTableBase::OpTableBase(const char* name) : name_(name) { all_op_tables().push_back(this); }

}  // namespace ia
