#include "base/torch_errors.h"

#include <c10/util/Exception.h>

#include <new>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace sam2::base {
namespace {

std::string WithContext(absl::string_view context, absl::string_view message) {
  message = absl::StripTrailingAsciiWhitespace(message);
  if (context.empty()) return std::string(message);
  return absl::StrCat(context, ": ", message);
}

}  // namespace

absl::Status StatusFromException(const std::exception& e,
                                 absl::string_view context) {
  if (const auto* oom = dynamic_cast<const c10::OutOfMemoryError*>(&e)) {
    return absl::ResourceExhaustedError(WithContext(
        context,
        absl::StrCat("out of memory: ", oom->what_without_backtrace())));
  }
  if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr) {
    return absl::ResourceExhaustedError(
        WithContext(context, "out of memory (std::bad_alloc)"));
  }
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) {
    const bool bad_argument =
        dynamic_cast<const c10::IndexError*>(&e) != nullptr ||
        dynamic_cast<const c10::ValueError*>(&e) != nullptr ||
        dynamic_cast<const c10::TypeError*>(&e) != nullptr;
    const std::string message =
        WithContext(context, c10_error->what_without_backtrace());
    return bad_argument ? absl::InvalidArgumentError(message)
                        : absl::InternalError(message);
  }
  return absl::InternalError(WithContext(context, e.what()));
}

absl::Status StatusFromUnknownException(absl::string_view context) {
  return absl::InternalError(
      WithContext(context, "unknown exception (not a std::exception)"));
}

}  // namespace sam2::base
