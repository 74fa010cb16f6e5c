// The world of ranks from MPI, when a launcher (mpirun, srun --mpi=pmix)
// started this process; one process otherwise.
//
// The float sums are deterministic and bitwise identical on every rank: each
// rank gathers every rank's tensor (MPI_Allgather of the raw bytes) and adds
// them in the canonical pairwise order of SumInCanonicalOrder (collectives.h)
// over ranks 0..W-1, whatever MPI's reduction algorithm or the number of
// nodes. It works in 16 MiB chunks; the cost is W times the tensor's bytes
// received per rank (instead of ~2(W-1)/W for a ring all-reduce) and W chunks
// of scratch: fine for host values and CPU gradients at a few ranks; CUDA
// gradients go through NCCL.
//
// Every blocking call runs under a watchdog: one that waits longer than the
// timeout (SetTimeoutSeconds) ends the process with a message naming the rank
// and the call, so a job whose peer is gone never waits forever.
#ifndef SAM2_DISTRIBUTED_MPI_WORLD_H_
#define SAM2_DISTRIBUTED_MPI_WORLD_H_

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "distributed/collectives.h"

namespace sam2::distributed {

// Whether the environment says that an MPI launcher started this process
// (OMPI_COMM_WORLD_SIZE, PMIX_RANK or PMI_RANK is set). Decided before
// MPI_Init, so that a plain single-process run never initialises MPI.
bool StartedByMpiLauncher(const std::map<std::string, std::string>& env);
std::map<std::string, std::string> CurrentEnvironment();

// The launcher's view of (rank, size, local rank), from Open MPI's or
// SLURM's variables where they are set; -1 where not.
struct LauncherRanks {
  int rank = -1;
  int size = -1;
  int local_rank = -1;
};
LauncherRanks LauncherRanksFromEnvironment(
    const std::map<std::string, std::string>& env);

// InvalidArgument naming both values when MPI's (rank, size, local rank)
// disagree with the launcher's.
absl::Status CheckAgainstLauncher(int rank, int size, int local_rank,
                                  const LauncherRanks& launcher);

// Under a launcher: MPI is initialised (finalised when the returned object
// is destroyed) and the collectives run over MPI_COMM_WORLD; the local rank
// comes from MPI_Comm_split_type(MPI_COMM_TYPE_SHARED). Without one: the
// single-process world.
absl::StatusOr<std::unique_ptr<Collectives>> InitWorld();

}  // namespace sam2::distributed

#endif  // SAM2_DISTRIBUTED_MPI_WORLD_H_
