// The one boundary where LibTorch's exceptions become absl::Status.
//
// LibTorch reports shape mismatches, out-of-memory and bad arguments by
// throwing c10::Error (and std::exception subclasses from the standard
// library). Code that calls into LibTorch on behalf of a user's data or
// config (a training step, a checkpoint load, an inference pass) runs it
// through CallCatchingTorchErrors, so that the failure travels up as a Status
// naming what was being done and every job ends with
// "<job>: <context>: <what went wrong>" and an exit code instead of an
// uncaught exception.
#ifndef SAM2_BASE_TORCH_ERRORS_H_
#define SAM2_BASE_TORCH_ERRORS_H_

#include <exception>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sam2::base {

// The Status for an exception thrown under `context`: ResourceExhausted for
// out-of-memory (c10::OutOfMemoryError, std::bad_alloc), InvalidArgument for
// c10's argument and index errors, Internal otherwise; the message is
// "<context>: <LibTorch's message without its C++ backtrace>".
absl::Status StatusFromException(const std::exception& e,
                                 absl::string_view context);
// For `catch (...)`: an exception that is not a std::exception.
absl::Status StatusFromUnknownException(absl::string_view context);

namespace internal {
template <typename T>
struct IsStatusOr : std::false_type {};
template <typename T>
struct IsStatusOr<absl::StatusOr<T>> : std::true_type {};
}  // namespace internal

// Calls fn() and returns its result; an exception becomes a Status. fn may
// return void (-> absl::Status), absl::Status, absl::StatusOr<T> or a plain
// value T (-> absl::StatusOr<T>).
template <typename Fn>
auto CallCatchingTorchErrors(absl::string_view context, Fn&& fn) {
  using R = std::invoke_result_t<Fn>;
  using Out = std::conditional_t<
      std::is_void_v<R> || std::is_same_v<R, absl::Status>, absl::Status,
      std::conditional_t<internal::IsStatusOr<R>::value, R, absl::StatusOr<R>>>;
  try {
    if constexpr (std::is_void_v<R>) {
      std::forward<Fn>(fn)();
      return Out(absl::OkStatus());
    } else {
      return Out(std::forward<Fn>(fn)());
    }
  } catch (const std::exception& e) {
    return Out(StatusFromException(e, context));
  } catch (...) {
    return Out(StatusFromUnknownException(context));
  }
}

}  // namespace sam2::base

#endif  // SAM2_BASE_TORCH_ERRORS_H_
