// Outcome<T>: what a step of emulation produced: a value, an exception the guest must
// see (a fault is the architectural result, not an error), or an Error of the VMM side
// (e.g. guest memory that is not RAM) that stops the assist.
#pragma once

#include <utility>
#include <variant>

#include "arch/x86/emulator/exception.h"
#include "util/error.h"
#include "util/result.h"  // VIREO_CONCAT

namespace vireo::arch::x86::emu {

// The non-value part of an Outcome, to forward it to an Outcome of another type.
struct Failure {
  std::variant<Exception, Error> what;
};

// Used as Outcome<Done> where there is no value.
struct Done {};

template <class T>
class [[nodiscard]] Outcome {
 public:
  Outcome(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(implicit)
  Outcome(Exception e) : v_(std::in_place_index<1>, std::move(e)) {}  // NOLINT(implicit)
  Outcome(Error e) : v_(std::in_place_index<2>, std::move(e)) {}      // NOLINT(implicit)
  Outcome(Failure f) {                                                // NOLINT(implicit)
    if (auto* e = std::get_if<Exception>(&f.what))
      v_.template emplace<1>(std::move(*e));
    else
      v_.template emplace<2>(std::move(std::get<Error>(f.what)));
  }

  bool ok() const { return v_.index() == 0; }
  bool faulted() const { return v_.index() == 1; }
  bool failed() const { return v_.index() == 2; }

  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  const Exception& fault() const { return std::get<1>(v_); }
  const Error& error() const { return std::get<2>(v_); }

  // The exception or error, for an Outcome that is not ok().
  Failure failure() const {
    if (faulted()) return Failure{fault()};
    return Failure{error()};
  }

 private:
  std::variant<T, Exception, Error> v_;
};

}  // namespace vireo::arch::x86::emu

// Forwards a fault or error from an expression returning Outcome<...>.
#define VIREO_EMU_TRY(expr)                                        \
  do {                                                             \
    auto vireo_emu_try_ = (expr);                                  \
    if (!vireo_emu_try_.ok()) return vireo_emu_try_.failure();     \
  } while (0)

// VIREO_EMU_ASSIGN(auto x, expr): binds the value or forwards the fault/error.
#define VIREO_EMU_ASSIGN(lhs, expr)                                      \
  auto VIREO_CONCAT(vireo_emu_res_, __LINE__) = (expr);                  \
  if (!VIREO_CONCAT(vireo_emu_res_, __LINE__).ok())                      \
    return VIREO_CONCAT(vireo_emu_res_, __LINE__).failure();             \
  lhs = std::move(VIREO_CONCAT(vireo_emu_res_, __LINE__).value())
