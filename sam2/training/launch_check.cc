#include "sam2/training/launch_check.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sam2::training {
namespace {

bool IsShellSafe(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') ||
                    std::string("_-./=:,+@%").find(c) != std::string::npos;
    if (!ok) return false;
  }
  return true;
}

std::string Plural(int64_t n, const char* word) {
  return absl::StrCat(n, " ", word, n == 1 ? "" : "s");
}

// How to keep the recipe's slots per step (ranks x accumulation) on
// `ranks` ranks, when it divides.
std::string KeepGlobalBatchAdvice(int64_t slots, int64_t ranks) {
  if (ranks <= 0) return "";
  if (slots % ranks != 0) {
    return absl::StrCat(" (", slots,
                        " micro-batch slots per step do not divide over ",
                        ranks, " ranks: the global batch would change)");
  }
  return absl::StrCat(
      "; to keep the recipe's global batch on ", Plural(ranks, "rank"),
      ", also set optim { gradient_accumulation_steps: ", slots / ranks, " }");
}

}  // namespace

std::string ShellQuote(const std::vector<std::string>& args) {
  std::vector<std::string> quoted;
  for (const std::string& a : args) {
    if (IsShellSafe(a)) {
      quoted.push_back(a);
      continue;
    }
    std::string q = "'";
    for (char c : a) {
      if (c == '\'') {
        q += "'\\''";
      } else {
        q += c;
      }
    }
    quoted.push_back(q + "'");
  }
  return absl::StrJoin(quoted, " ");
}

absl::Status CheckWorldMatchesLauncher(
    const config::Experiment& e, const RunningWorld& world,
    const std::vector<std::string>& command) {
  const int64_t nodes = e.launcher().num_nodes();
  const int64_t per_node = e.launcher().gpus_per_node();
  const int64_t wanted = nodes * per_node;
  const int64_t accumulation = e.optim().gradient_accumulation_steps();
  const int64_t slots = wanted * accumulation;
  if (world.world_size == wanted && world.num_nodes == nodes) {
    return absl::OkStatus();
  }
  const std::string asked = absl::StrCat(
      "the config asks for launcher { num_nodes: ", nodes,
      " gpus_per_node: ", per_node, " } = ", Plural(wanted, "rank"), " (x ",
      accumulation, " accumulation = ", slots, " micro-batch slots per step)");
  if (!world.under_launcher) {
    const std::string cmd = ShellQuote(command);
    const std::string start =
        nodes == 1 ? absl::StrCat("mpirun -np ", wanted, " ", cmd,
                                  "\n(under SLURM: srun --mpi=pmix --nodes=1 "
                                  "--ntasks-per-node=",
                                  per_node, " ", cmd, ")")
                   : absl::StrCat("srun --mpi=pmix --nodes=", nodes,
                                  " --ntasks-per-node=", per_node, " ", cmd);
    return absl::FailedPreconditionError(absl::StrCat(
        asked, ", but this process was started alone. Start the ranks with\n  ",
        start,
        "\nor keep the recipe's global batch in this one process with "
        "--set='launcher { num_nodes: 1 gpus_per_node: 1 } optim { "
        "gradient_accumulation_steps: ",
        slots, " }' (on N GPUs: gpus_per_node: N and ", slots,
        " / N accumulation steps)"));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      asked, ", but ", Plural(world.world_size, "rank"), " on ",
      Plural(world.num_nodes, "node"),
      " are running. Start the job with the config's world, or say which "
      "world this is: --set='launcher { num_nodes: ",
      world.num_nodes,
      " gpus_per_node: ", world.world_size / std::max(1, world.num_nodes),
      " }'", KeepGlobalBatchAdvice(slots, world.world_size)));
}

}  // namespace sam2::training
