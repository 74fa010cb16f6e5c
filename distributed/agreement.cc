#include "distributed/agreement.h"

#include <ATen/ATen.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace sam2::distributed {
namespace {

// Rank 0's `text` on every rank.
std::string BroadcastString(Collectives& world, const std::string& text) {
  at::Tensor size = at::full({1}, static_cast<int64_t>(text.size()), at::kLong);
  world.Broadcast(size, 0);
  at::Tensor bytes = at::empty({size.item<int64_t>()}, at::kByte);
  if (world.rank() == 0 && !text.empty()) {
    std::memcpy(bytes.data_ptr(), text.data(), text.size());
  }
  world.Broadcast(bytes, 0);
  return std::string(static_cast<const char*>(bytes.data_ptr()),
                     static_cast<size_t>(bytes.numel()));
}

std::string Shorten(std::string s) {
  constexpr size_t kMax = 120;
  if (s.size() > kMax) s = s.substr(0, kMax) + "...";
  return s;
}

// Where `mine` departs from `theirs`, line by line.
std::string FirstDifference(const std::string& mine,
                            const std::string& theirs) {
  const std::vector<std::string> a = absl::StrSplit(mine, '\n');
  const std::vector<std::string> b = absl::StrSplit(theirs, '\n');
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    const std::string x = i < a.size() ? a[i] : "<end>";
    const std::string y = i < b.size() ? b[i] : "<end>";
    if (x != y) {
      return absl::StrCat(
          a.size() > 1 || b.size() > 1 ? absl::StrCat("line ", i + 1, ": ")
                                       : "",
          "rank 0 has '", Shorten(y), "', this rank '", Shorten(x), "'");
    }
  }
  return "same text";
}

}  // namespace

absl::Status AgreeAcrossRanks(Collectives& world,
                              const std::vector<AgreementItem>& items) {
  if (world.world_size() == 1) return absl::OkStatus();
  const int64_t n = static_cast<int64_t>(items.size());
  // The number of items first: a rank with a different list would
  // otherwise mismatch the broadcasts below.
  at::Tensor count = at::full({1}, n, at::kLong);
  world.Broadcast(count, 0);
  const bool same_count = count.item<int64_t>() == n;
  at::Tensor bad_count = at::full({1}, same_count ? 0 : 1, at::kInt);
  {
    std::vector<at::Tensor> t = {bad_count};
    world.AllReduceSum(t);
  }
  if (bad_count.item<int32_t>() > 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "rank ", world.rank(), ": the ranks run different programs (",
        bad_count.item<int32_t>(),
        " rank(s) compare a different number of start-up items than rank "
        "0): are all ranks the same build?"));
  }
  at::Tensor differs = at::zeros({n}, at::kInt);
  std::vector<std::string> details;
  for (int64_t i = 0; i < n; ++i) {
    const AgreementItem& item = items[static_cast<size_t>(i)];
    const std::string what0 = BroadcastString(world, item.what);
    const std::string value0 = BroadcastString(world, item.value);
    if (what0 != item.what || value0 != item.value) {
      differs[i] = 1;
      details.push_back(absl::StrCat(item.what, " (",
                                     what0 != item.what
                                         ? "a different item"
                                         : FirstDifference(item.value, value0),
                                     ")"));
    }
  }
  {
    std::vector<at::Tensor> t = {differs};
    world.AllReduceSum(t);
  }
  std::vector<std::string> summary;
  for (int64_t i = 0; i < n; ++i) {
    const int32_t ranks = differs[i].item<int32_t>();
    if (ranks > 0) {
      summary.push_back(absl::StrCat(items[static_cast<size_t>(i)].what, " (",
                                     ranks, " rank(s) differ from rank 0)"));
    }
  }
  if (summary.empty()) return absl::OkStatus();
  std::string message = absl::StrCat("rank ", world.rank(),
                                     ": the ranks disagree before "
                                     "training on ",
                                     absl::StrJoin(summary, ", "));
  if (!details.empty()) {
    absl::StrAppend(&message, "; this rank differs in ",
                    absl::StrJoin(details, "; "));
  }
  absl::StrAppend(&message,
                  ": start every rank with the same config, build and "
                  "checkpoint directory");
  return absl::FailedPreconditionError(message);
}

}  // namespace sam2::distributed
