#include "util/error.h"

#include <cstring>

namespace vireo {

Error Error::from_errno(const std::string& what) { return from_errno(what, errno); }

Error Error::from_errno(const std::string& what, int err) {
  return Error(what + ": " + std::strerror(err), err);
}

Error Error::context(const std::string& outer) const {
  return Error(outer + ": " + message_, errno_);
}

}  // namespace vireo
