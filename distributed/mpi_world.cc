#include "distributed/mpi_world.h"

#include <ATen/ATen.h>
#include <mpi.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

extern char** environ;

namespace sam2::distributed {
namespace {

int IntOr(const std::map<std::string, std::string>& env, const char* name,
          int fallback) {
  auto it = env.find(name);
  int value = 0;
  if (it == env.end() || !absl::SimpleAtoi(it->second, &value)) return fallback;
  return value;
}

// MPI counts are ints: larger buffers go in pieces of at most 1 GiB.
constexpr int64_t kMaxChunkBytes = int64_t{1} << 30;
// All-reduce chunks: each rank holds world_size copies of one chunk at a time.
constexpr int64_t kChunkBytes = int64_t{16} << 20;

[[noreturn]] void AbortOnMpiError(int code, const char* what, int rank) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  std::fprintf(stderr, "rank %d: %s failed: %.*s\n", rank, what, length, text);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::abort();
}

// Ends this process when one blocking collective has waited longer than the
// timeout: a peer rank is gone (killed, crashed outside MPI's sight) or
// stuck. Exiting non-zero makes mpirun (and srun --kill-on-bad-exit) end the
// other ranks; ranks still waiting elsewhere time out the same way.
//
// With a trace directory (SetTraceDirectory, the run's log dir), each rank
// keeps <dir>/collectives/rank<R>.progress current (the sequence number of the
// collective it is in or last left, refreshed every second), and on a timeout
// writes its last collectives (sequence number, op, bytes, start and end
// times) to rank<R>.trace and names the ranks whose progress shows they never
// arrived at the collective it waits in.
class CollectiveWatchdog {
 public:
  explicit CollectiveWatchdog(int rank, int size)
      : rank_(rank), size_(size), start_(Clock::now()) {
    thread_ = std::thread([this] { Watch(); });
  }
  ~CollectiveWatchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void SetTimeout(double seconds) {
    std::lock_guard<std::mutex> lock(mu_);
    timeout_s_ = seconds;
    cv_.notify_all();
  }
  void SetTraceDirectory(const std::string& dir) {
    std::lock_guard<std::mutex> lock(mu_);
    trace_dir_ = dir.empty() ? "" : dir + "/collectives";
    if (!trace_dir_.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(trace_dir_, ec);
    }
  }
  void Enter(const char* what, int64_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    ++seq_;
    what_ = what;
    since_ = Clock::now();
    Record& r = ring_[seq_ % ring_.size()];
    r = {seq_, what, bytes, Seconds(since_), -1};
  }
  void Leave() {
    std::lock_guard<std::mutex> lock(mu_);
    what_ = nullptr;
    ring_[seq_ % ring_.size()].end_s = Seconds(Clock::now());
  }

 private:
  using Clock = std::chrono::steady_clock;
  struct Record {
    int64_t seq = 0;
    const char* op = nullptr;
    int64_t bytes = 0;
    double start_s = 0, end_s = -1;  // since this rank started; -1: running
  };

  double Seconds(Clock::time_point t) const {
    return std::chrono::duration<double>(t - start_).count();
  }

  // <seq> <in|out> <unix time>: what a peer reads to see how far we got.
  void WriteProgress() {
    if (trace_dir_.empty()) return;
    const std::string path =
        absl::StrCat(trace_dir_, "/rank", rank_, ".progress");
    const std::string temp = path + ".tmp";
    {
      std::ofstream out(temp, std::ios::trunc);
      out << seq_ << " " << (what_ != nullptr ? "in" : "out") << " "
          << std::time(nullptr) << "\n";
    }
    std::rename(temp.c_str(), path.c_str());
  }

  std::string WriteTrace() {
    if (trace_dir_.empty()) return "";
    const std::string path = absl::StrCat(trace_dir_, "/rank", rank_, ".trace");
    std::ofstream out(path, std::ios::trunc);
    out << "# rank " << rank_ << " of " << size_
        << ": the last collectives (seconds since the rank started)\n"
        << "# seq op bytes start_s end_s\n";
    for (size_t k = 0; k < ring_.size(); ++k) {
      const Record& r = ring_[(seq_ + 1 + k) % ring_.size()];
      if (r.op == nullptr) continue;
      out << r.seq << " " << r.op << " " << r.bytes << " "
          << absl::StrFormat("%.3f", r.start_s) << " "
          << (r.end_s < 0 ? std::string("waiting")
                          : absl::StrFormat("%.3f", r.end_s))
          << "\n";
    }
    return path;
  }

  // The peers whose progress file shows they have not entered collective
  // `seq` (or cannot be read).
  std::string MissingRanks() const {
    if (trace_dir_.empty()) return "";
    std::vector<std::string> missing;
    const long now = static_cast<long>(std::time(nullptr));
    for (int r = 0; r < size_; ++r) {
      if (r == rank_) continue;
      std::ifstream in(absl::StrCat(trace_dir_, "/rank", r, ".progress"));
      int64_t seq = -1;
      std::string state;
      long when = 0;
      if (!(in >> seq >> state >> when)) {
        missing.push_back(absl::StrCat(r, " (no progress file)"));
      } else if (seq < seq_) {
        missing.push_back(absl::StrCat(r, " (last at #", seq, ", ", state,
                                       ", updated ", now - when, " s ago)"));
      }
    }
    return missing.empty()
               ? "every rank reached it (a rank may be stuck inside)"
               : absl::StrCat("ranks that did not arrive: ",
                              absl::StrJoin(missing, ", "));
  }

  void Watch() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      // Checks a few times per timeout (at least once a second).
      const double period =
          timeout_s_ > 0 ? std::min(1.0, timeout_s_ / 4) : 1.0;
      cv_.wait_for(lock, std::chrono::duration<double>(period));
      if (stop_) break;
      WriteProgress();
      if (what_ == nullptr || timeout_s_ <= 0) continue;
      const double waited =
          std::chrono::duration<double>(Clock::now() - since_).count();
      if (waited > timeout_s_) {
        const std::string trace = WriteTrace();
        const std::string message = absl::StrFormat(
            "rank %d: %s #%d has waited %.0f s for the other ranks (timeout "
            "%.0f s, distributed.timeout_mins): a rank is gone or stuck; %s%s; "
            "ending this rank\n",
            rank_, what_, seq_, waited, timeout_s_, MissingRanks(),
            trace.empty() ? "" : absl::StrCat("; trace: ", trace));
        std::fwrite(message.data(), 1, message.size(), stderr);
        std::fflush(nullptr);
        std::_Exit(1);
      }
    }
  }

  const int rank_, size_;
  const Clock::time_point start_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  double timeout_s_ = 0;
  std::string trace_dir_;
  int64_t seq_ = 0;
  const char* what_ = nullptr;
  Clock::time_point since_;
  std::array<Record, 64> ring_;
  std::thread thread_;
};

class MpiCollectives final : public Collectives {
 public:
  MpiCollectives(int rank, int size, int local_rank, int nodes)
      : rank_(rank),
        size_(size),
        local_rank_(local_rank),
        nodes_(nodes),
        watchdog_(rank, size) {}
  ~MpiCollectives() override { MPI_Finalize(); }

  void SetTimeoutSeconds(double seconds) override {
    watchdog_.SetTimeout(seconds);
  }
  void SetTraceDirectory(const std::string& dir) override {
    watchdog_.SetTraceDirectory(dir);
  }

  [[noreturn]] void Abort(int exit_code) override {
    std::fflush(nullptr);
    MPI_Abort(MPI_COMM_WORLD, exit_code);
    std::_Exit(exit_code);
  }

  int rank() const override { return rank_; }
  int world_size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  int num_nodes() const override { return nodes_; }
  std::string transport() const override { return "MPI"; }

  void AllReduceSum(std::vector<at::Tensor>& tensors) override {
    for (at::Tensor& t : tensors) AllReduceSumOne(t);
  }

  void Broadcast(at::Tensor& tensor, int root) override {
    at::Tensor buffer = tensor.contiguous();
    char* bytes = static_cast<char*>(buffer.data_ptr());
    const int64_t total = buffer.numel() * buffer.element_size();
    for (int64_t offset = 0; offset < total; offset += kMaxChunkBytes) {
      const int count =
          static_cast<int>(std::min(kMaxChunkBytes, total - offset));
      Blocking("MPI_Bcast", count, [&] {
        return MPI_Bcast(bytes + offset, count, MPI_BYTE, root, MPI_COMM_WORLD);
      });
    }
    if (!buffer.is_same(tensor)) tensor.copy_(buffer);
  }

  void Barrier() override {
    Blocking("MPI_Barrier", 0, [] { return MPI_Barrier(MPI_COMM_WORLD); });
  }

 private:
  // Runs one blocking MPI call under the watchdog and checks its result.
  template <typename Call>
  void Blocking(const char* what, int64_t bytes, Call call) {
    watchdog_.Enter(what, bytes);
    const int code = call();
    watchdog_.Leave();
    if (code != MPI_SUCCESS) AbortOnMpiError(code, what, rank_);
  }

  // Every rank's copy of `tensor`, gathered chunk by chunk and summed in
  // the canonical order into `tensor` (scratch: world_size x one chunk).
  void AllReduceSumOne(at::Tensor& tensor) {
    if (tensor.numel() == 0) return;
    TORCH_CHECK(tensor.device().is_cpu(),
                "MPI collectives take CPU tensors, not ", tensor.device());
    const at::Tensor mine = tensor.contiguous().view({-1});
    at::Tensor sum = at::empty_like(mine);
    const int64_t element = mine.element_size();
    const int64_t per_chunk = std::max<int64_t>(1, kChunkBytes / element);
    for (int64_t first = 0; first < mine.numel(); first += per_chunk) {
      const int64_t n = std::min(per_chunk, mine.numel() - first);
      at::Tensor gathered = at::empty({size_, n}, mine.options());
      Blocking("MPI_Allgather", n * element, [&] {
        return MPI_Allgather(mine.slice(0, first, first + n).data_ptr(),
                             static_cast<int>(n * element), MPI_BYTE,
                             gathered.data_ptr(), static_cast<int>(n * element),
                             MPI_BYTE, MPI_COMM_WORLD);
      });
      SumInCanonicalOrder(size_, [&](int into, int from) {
        at::Tensor out = gathered[into];
        // Booleans: "sum" is a logical OR (any rank true).
        if (out.scalar_type() == at::kBool) {
          out.logical_or_(gathered[from]);
        } else {
          out.add_(gathered[from]);
        }
      });
      sum.slice(0, first, first + n).copy_(gathered[0]);
    }
    tensor.copy_(sum.view(tensor.sizes()));
  }

  int rank_, size_, local_rank_, nodes_;
  CollectiveWatchdog watchdog_;
};

}  // namespace

std::map<std::string, std::string> CurrentEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (eq != nullptr) env[std::string(*e, eq - *e)] = std::string(eq + 1);
  }
  return env;
}

bool StartedByMpiLauncher(const std::map<std::string, std::string>& env) {
  return env.count("OMPI_COMM_WORLD_SIZE") || env.count("PMIX_RANK") ||
         env.count("PMI_RANK");
}

LauncherRanks LauncherRanksFromEnvironment(
    const std::map<std::string, std::string>& env) {
  LauncherRanks r;
  r.rank = IntOr(env, "OMPI_COMM_WORLD_RANK", IntOr(env, "SLURM_PROCID", -1));
  r.size = IntOr(env, "OMPI_COMM_WORLD_SIZE", IntOr(env, "SLURM_NTASKS", -1));
  r.local_rank =
      IntOr(env, "OMPI_COMM_WORLD_LOCAL_RANK", IntOr(env, "SLURM_LOCALID", -1));
  return r;
}

absl::Status CheckAgainstLauncher(int rank, int size, int local_rank,
                                  const LauncherRanks& launcher) {
  auto differs = [](int mpi, int env) { return env >= 0 && env != mpi; };
  if (differs(rank, launcher.rank) || differs(size, launcher.size) ||
      differs(local_rank, launcher.local_rank)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "MPI says rank ", rank, " of ", size, " (local rank ", local_rank,
        ") but the launcher's environment says rank ", launcher.rank, " of ",
        launcher.size, " (local rank ", launcher.local_rank,
        "): were the processes started by a different launcher than the one "
        "whose variables are set?"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Collectives>> InitWorld() {
  const std::map<std::string, std::string> env = CurrentEnvironment();
  if (!StartedByMpiLauncher(env)) return MakeSingleProcessCollectives();
  int provided = 0;
  if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) !=
      MPI_SUCCESS) {
    return absl::UnavailableError("MPI_Init_thread failed");
  }
  // Errors come back as codes (checked, reported with the rank) instead of
  // MPI's default of aborting without a word about which call failed.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  int rank = 0, size = 1, local_rank = 0, local_size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL,
                      &node);
  MPI_Comm_rank(node, &local_rank);
  MPI_Comm_size(node, &local_size);
  MPI_Comm_free(&node);
  // Nodes: the ranks that are local rank 0.
  int leader = local_rank == 0 ? 1 : 0, nodes = 1;
  MPI_Allreduce(&leader, &nodes, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  auto world = std::make_unique<MpiCollectives>(rank, size, local_rank, nodes);
  if (absl::Status s = CheckAgainstLauncher(rank, size, local_rank,
                                            LauncherRanksFromEnvironment(env));
      !s.ok()) {
    return absl::Status(s.code(),
                        absl::StrCat("rank ", rank, ": ", s.message()));
  }
  return std::unique_ptr<Collectives>(std::move(world));
}

}  // namespace sam2::distributed
