#include "sam2/checkpoint/state_dict.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sam2::checkpoint {
namespace {

// Matches a '[...]' set at pattern[p]; sets `end` past it. Returns -1 if
// the bracket is not closed (then '[' is a literal, as in Python).
int MatchSet(const std::string& pattern, size_t p, char c, size_t* end) {
  size_t i = p + 1;
  bool negate = false;
  if (i < pattern.size() && pattern[i] == '!') {
    negate = true;
    ++i;
  }
  bool matched = false;
  bool first = true;
  while (i < pattern.size() && (pattern[i] != ']' || first)) {
    first = false;
    if (i + 2 < pattern.size() && pattern[i + 1] == '-' &&
        pattern[i + 2] != ']') {
      if (pattern[i] <= c && c <= pattern[i + 2]) matched = true;
      i += 3;
    } else {
      if (pattern[i] == c) matched = true;
      ++i;
    }
  }
  if (i >= pattern.size()) return -1;
  *end = i + 1;
  return matched != negate ? 1 : 0;
}

bool FnmatchFrom(const std::string& s, size_t si, const std::string& p,
                 size_t pi) {
  while (pi < p.size()) {
    const char pc = p[pi];
    if (pc == '*') {
      while (pi < p.size() && p[pi] == '*') ++pi;
      if (pi == p.size()) return true;
      for (size_t k = si; k <= s.size(); ++k) {
        if (FnmatchFrom(s, k, p, pi)) return true;
      }
      return false;
    }
    if (si >= s.size()) return false;
    if (pc == '?') {
      ++si;
      ++pi;
      continue;
    }
    if (pc == '[') {
      size_t end = 0;
      const int m = MatchSet(p, pi, s[si], &end);
      if (m >= 0) {
        if (m == 0) return false;
        ++si;
        pi = end;
        continue;
      }
    }
    if (pc != s[si]) return false;
    ++si;
    ++pi;
  }
  return si == s.size();
}

}  // namespace

bool Fnmatch(const std::string& name, const std::string& pattern) {
  return FnmatchFrom(name, 0, pattern, 0);
}

bool MatchesAny(const std::string& name,
                const std::vector<std::string>& patterns) {
  for (const std::string& p : patterns) {
    if (Fnmatch(name, p)) return true;
  }
  return false;
}

TensorDict ModelStateDict(const torch::nn::Module& model) {
  TensorDict out;
  for (const auto& item : model.named_parameters(/*recurse=*/true)) {
    out.emplace_back(item.key(), item.value().detach());
  }
  for (const auto& item : model.named_buffers(/*recurse=*/true)) {
    out.emplace_back(item.key(), item.value().detach());
  }
  return out;
}

namespace {

// The keys of `keys` that the patterns match; a pattern that matches none of
// them is an error, as the reference's unix_pattern_to_parameter_names
// asserts.
absl::StatusOr<std::set<std::string>> KeysMatchedByPatterns(
    const std::vector<std::string>& patterns,
    const std::vector<std::string>& keys, const std::string& what) {
  std::set<std::string> matched;
  std::vector<std::string> unused;
  for (const std::string& pattern : patterns) {
    bool any = false;
    for (const std::string& key : keys) {
      if (Fnmatch(key, pattern)) {
        matched.insert(key);
        any = true;
      }
    }
    if (!any) unused.push_back(absl::StrCat("\"", pattern, "\""));
  }
  if (!unused.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " pattern", unused.size() > 1 ? "s " : " ",
        absl::StrJoin(unused, ", "), " match", unused.size() > 1 ? "" : "es",
        " none of the ", keys.size(), " ",
        what == "ignore_missing_keys" ? "missing" : "unexpected",
        " keys: remove ", unused.size() > 1 ? "them" : "it",
        " or fix the pattern"));
  }
  return matched;
}

std::vector<std::string> Without(const std::vector<std::string>& keys,
                                 const std::set<std::string>& ignored) {
  std::vector<std::string> kept;
  for (const std::string& key : keys) {
    if (!ignored.count(key)) kept.push_back(key);
  }
  return kept;
}

}  // namespace

absl::StatusOr<LoadReport> LoadStateDictIntoModel(torch::nn::Module& model,
                                                  const TensorDict& state_dict,
                                                  const LoadOptions& options,
                                                  const std::string& source) {
  std::map<std::string, at::Tensor> file(state_dict.begin(), state_dict.end());
  std::vector<std::string> missing, unexpected, wrong_shapes;
  std::vector<std::pair<at::Tensor, at::Tensor>> copies;
  std::set<std::string> model_keys;
  for (const auto& [name, target] : ModelStateDict(model)) {
    model_keys.insert(name);
    auto it = file.find(name);
    if (it == file.end()) {
      missing.push_back(name);
      continue;
    }
    if (it->second.sizes() != target.sizes()) {
      wrong_shapes.push_back(
          absl::StrCat(name, ": file ", c10::str(it->second.sizes()),
                       " vs model ", c10::str(target.sizes())));
      continue;
    }
    copies.emplace_back(target, it->second);
  }
  for (const auto& [name, tensor] : state_dict) {
    if (!model_keys.count(name)) unexpected.push_back(name);
  }
  // As the reference's check_load_state_dict_errors: the ignore patterns are
  // matched against the missing (resp. unexpected) keys, and each must match
  // at least one of them.
  if (!options.ignore_missing_keys.empty()) {
    auto ignored = KeysMatchedByPatterns(options.ignore_missing_keys, missing,
                                         "ignore_missing_keys");
    if (!ignored.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": ", ignored.status().message()));
    }
    missing = Without(missing, *ignored);
  }
  if (!options.ignore_unexpected_keys.empty()) {
    auto ignored = KeysMatchedByPatterns(options.ignore_unexpected_keys,
                                         unexpected, "ignore_unexpected_keys");
    if (!ignored.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": ", ignored.status().message()));
    }
    unexpected = Without(unexpected, *ignored);
  }
  LoadReport report{missing, unexpected};
  // Unexpected keys are an error whatever `strict` says; `strict` governs
  // missing keys only.
  const bool key_mismatch =
      !report.unexpected.empty() || (options.strict && !report.missing.empty());
  if (key_mismatch || !wrong_shapes.empty()) {
    std::string message =
        absl::StrCat("state_dict of ", source, " does not fit the model:");
    if (!report.missing.empty()) {
      absl::StrAppend(&message, "\n  missing keys (", report.missing.size(),
                      "): ", absl::StrJoin(report.missing, ", "));
    }
    if (!report.unexpected.empty()) {
      absl::StrAppend(&message, "\n  unexpected keys (",
                      report.unexpected.size(),
                      "): ", absl::StrJoin(report.unexpected, ", "));
    }
    if (!wrong_shapes.empty()) {
      absl::StrAppend(&message, "\n  wrong shapes (", wrong_shapes.size(),
                      "): ", absl::StrJoin(wrong_shapes, "; "));
    }
    absl::StrAppend(&message,
                    "\n(unexpected keys are an error even with strict: "
                    "false, as in the reference; ignore_missing_keys / "
                    "ignore_unexpected_keys take fnmatch patterns; a "
                    "different model size needs another model_preset)");
    return absl::InvalidArgumentError(message);
  }
  c10::NoGradGuard no_grad;
  for (auto& [target, value] : copies) target.copy_(value);
  return report;
}

}  // namespace sam2::checkpoint
