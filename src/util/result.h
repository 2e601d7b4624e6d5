// Result<T>: a value or an Error (std::expected is C++23; we build as C++20).
#pragma once

#include <cassert>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include "util/error.h"

namespace vireo {

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(implicit)
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT(implicit)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { assert(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT(implicit)

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const { assert(!ok()); return *error_; }

 private:
  std::optional<Error> error_;
};

inline Result<void> ok() { return {}; }

}  // namespace vireo

// Propagates an error from an expression returning Result<...>.
#define VIREO_TRY(expr)                                   \
  do {                                                    \
    auto vireo_try_result_ = (expr);                      \
    if (!vireo_try_result_.ok()) return vireo_try_result_.error(); \
  } while (0)

#define VIREO_CONCAT_INNER(a, b) a##b
#define VIREO_CONCAT(a, b) VIREO_CONCAT_INNER(a, b)
// VIREO_ASSIGN_OR_RETURN(auto x, expr): binds the value or propagates the error.
#define VIREO_ASSIGN_OR_RETURN(lhs, expr)                              \
  auto VIREO_CONCAT(vireo_res_, __LINE__) = (expr);                    \
  if (!VIREO_CONCAT(vireo_res_, __LINE__).ok())                        \
    return VIREO_CONCAT(vireo_res_, __LINE__).error();                 \
  lhs = std::move(VIREO_CONCAT(vireo_res_, __LINE__)).value()
