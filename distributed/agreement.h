// The start-up agreement of a multi-process job: every rank states what it is
// about to run (its resolved config, its parameter names and shapes, where it
// resumes, how many batches an epoch has) and the job stops on every rank when
// any rank differs from rank 0, with a message naming what differs, instead of
// training ranks that silently disagree (or deadlocking later).
#ifndef SAM2_DISTRIBUTED_AGREEMENT_H_
#define SAM2_DISTRIBUTED_AGREEMENT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "distributed/collectives.h"

namespace sam2::distributed {

struct AgreementItem {
  std::string what;   // e.g. "resolved config"
  std::string value;  // compared byte for byte with rank 0's
};

// Collective: every rank must call it with the same items in the same order
// (the `what`s are compared too). The caller names the rank. OK when every
// rank's values equal rank 0's; otherwise FailedPrecondition on every rank,
// naming each differing item and how many ranks differ; a differing rank also
// shows where its value departs from rank 0's (the first differing line of
// each).
absl::Status AgreeAcrossRanks(Collectives& world,
                              const std::vector<AgreementItem>& items);

}  // namespace sam2::distributed

#endif  // SAM2_DISTRIBUTED_AGREEMENT_H_
