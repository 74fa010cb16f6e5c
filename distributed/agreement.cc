#include "distributed/agreement.h"

#include <ATen/ATen.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace sam2::distributed {
namespace {

// Rank `root`'s `text` on every rank.
std::string BroadcastString(Collectives& world, const std::string& text,
                            int root = 0) {
  at::Tensor size = at::full({1}, static_cast<int64_t>(text.size()), at::kLong);
  world.Broadcast(size, root);
  at::Tensor bytes = at::empty({size.item<int64_t>()}, at::kByte);
  if (world.rank() == root && !text.empty()) {
    std::memcpy(bytes.data_ptr(), text.data(), text.size());
  }
  world.Broadcast(bytes, root);
  return std::string(static_cast<const char*>(bytes.data_ptr()),
                     static_cast<size_t>(bytes.numel()));
}

std::string Shorten(std::string s) {
  constexpr size_t kMax = 120;
  if (s.size() > kMax) s = s.substr(0, kMax) + "...";
  return s;
}

// Where `mine` departs from `theirs`, line by line.
std::string FirstDifference(const std::string& mine, const std::string& theirs,
                            int rank) {
  const std::vector<std::string> a = absl::StrSplit(mine, '\n');
  const std::vector<std::string> b = absl::StrSplit(theirs, '\n');
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    const std::string x = i < a.size() ? a[i] : "<end>";
    const std::string y = i < b.size() ? b[i] : "<end>";
    if (x != y) {
      return absl::StrCat(
          a.size() > 1 || b.size() > 1 ? absl::StrCat("line ", i + 1, ": ")
                                       : "",
          "rank 0 has '", Shorten(y), "', rank ", rank, " '", Shorten(x), "'");
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
        "the ranks run different programs (", bad_count.item<int32_t>(),
        " rank(s) compare a different number of start-up items than rank "
        "0): are all ranks the same build?"));
  }
  // differs[i][r]: rank r's item i differs from rank 0's.
  const int ranks = world.world_size();
  at::Tensor differs = at::zeros({n, ranks}, at::kInt);
  std::vector<std::string> details(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const AgreementItem& item = items[static_cast<size_t>(i)];
    const std::string what0 = BroadcastString(world, item.what);
    const std::string value0 = BroadcastString(world, item.value);
    if (what0 != item.what || value0 != item.value) {
      differs[i][world.rank()] = 1;
      details[static_cast<size_t>(i)] =
          what0 != item.what
              ? "a different item"
              : FirstDifference(item.value, value0, world.rank());
    }
  }
  {
    std::vector<at::Tensor> t = {differs};
    world.AllReduceSum(t);
  }
  std::vector<std::string> summary;
  for (int64_t i = 0; i < n; ++i) {
    const at::Tensor row = differs[i];
    const int64_t count = row.sum().item<int64_t>();
    if (count == 0) continue;
    // The first differing rank tells every rank where it differs, so that
    // whichever rank's message is printed first says it.
    const int first = static_cast<int>(row.argmax().item<int64_t>());
    const std::string detail =
        BroadcastString(world, details[static_cast<size_t>(i)], first);
    summary.push_back(absl::StrCat(items[static_cast<size_t>(i)].what, " (",
                                   count, " rank(s) differ from rank 0; ",
                                   detail, ")"));
  }
  if (summary.empty()) return absl::OkStatus();
  std::string message = absl::StrCat("the ranks disagree before training on ",
                                     absl::StrJoin(summary, ", "));
  absl::StrAppend(&message,
                  ": start every rank with the same config, build and "
                  "checkpoint directory");
  return absl::FailedPreconditionError(message);
}

}  // namespace sam2::distributed
