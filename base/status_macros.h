// Status propagation in the style of Abseil's internal status macros:
//
//   SAM2_RETURN_IF_ERROR(WriteFile(path));
//   SAM2_ASSIGN_OR_RETURN(Image image, DecodeJpeg(bytes));
//   SAM2_RETURN_IF_ERROR_CONTEXT(Load(path), "cannot resume from ", path);
//   SAM2_ASSIGN_OR_RETURN_CONTEXT(auto state, Read(path), path);
//
// The _CONTEXT forms keep the status code and prefix the message with the
// StrCat of their arguments and ": ", so that an error reaching the user reads
// "train: checkpoints/checkpoint.pt: truncated zip archive".
#ifndef SAM2_BASE_STATUS_MACROS_H_
#define SAM2_BASE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace sam2::base {

// `status` with "<context>: " before its message (same code; payloads are
// not carried over: the project uses none).
// OK stays OK; an empty context changes nothing.
absl::Status Annotate(const absl::Status& status, absl::string_view context);

namespace internal {
inline const absl::Status& AsStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& AsStatus(const absl::StatusOr<T>& s) {
  return s.status();
}
}  // namespace internal

}  // namespace sam2::base

#define SAM2_STATUS_MACROS_CONCAT_INNER_(x, y) x##y
#define SAM2_STATUS_MACROS_CONCAT_(x, y) SAM2_STATUS_MACROS_CONCAT_INNER_(x, y)
#define SAM2_STATUS_TEMP_ SAM2_STATUS_MACROS_CONCAT_(sam2_status_, __LINE__)

#define SAM2_RETURN_IF_ERROR(expr)                                 \
  do {                                                             \
    const ::absl::Status sam2_status_or_error_ =                   \
        ::sam2::base::internal::AsStatus((expr));                  \
    if (!sam2_status_or_error_.ok()) return sam2_status_or_error_; \
  } while (false)

#define SAM2_RETURN_IF_ERROR_CONTEXT(expr, ...)                   \
  do {                                                            \
    const ::absl::Status sam2_status_or_error_ =                  \
        ::sam2::base::internal::AsStatus((expr));                 \
    if (!sam2_status_or_error_.ok()) {                            \
      return ::sam2::base::Annotate(sam2_status_or_error_,        \
                                    ::absl::StrCat(__VA_ARGS__)); \
    }                                                             \
  } while (false)

#define SAM2_ASSIGN_OR_RETURN_IMPL_(temp, lhs, expr, annotate) \
  auto temp = (expr);                                          \
  if (!temp.ok()) return annotate(std::move(temp).status());   \
  lhs = std::move(temp).value()

#define SAM2_ASSIGN_OR_RETURN(lhs, expr) \
  SAM2_ASSIGN_OR_RETURN_IMPL_(SAM2_STATUS_TEMP_, lhs, expr, )

#define SAM2_ASSIGN_OR_RETURN_CONTEXT(lhs, expr, ...)                  \
  SAM2_ASSIGN_OR_RETURN_IMPL_(                                         \
      SAM2_STATUS_TEMP_, lhs, expr, [&](const ::absl::Status& s) {     \
        return ::sam2::base::Annotate(s, ::absl::StrCat(__VA_ARGS__)); \
      })

#endif  // SAM2_BASE_STATUS_MACROS_H_
