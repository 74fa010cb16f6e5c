#include "distributed/nccl_collectives.h"

#include <ATen/ATen.h>
#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace sam2::distributed {
namespace {

using Clock = std::chrono::steady_clock;

// A collective's completion event, held by its Pending handle and by the
// watchdog; whichever lets go last destroys it.
using Event = std::shared_ptr<std::remove_pointer_t<cudaEvent_t>>;

// cudaEventQuery / cudaStreamQuery without their side effect: a "not ready"
// answer is also left as the thread's last CUDA error, which LibTorch's next
// kernel-launch check (cudaGetLastError) would report as a failure.
cudaError_t Ready(cudaError_t query) {
  if (query == cudaErrorNotReady) (void)cudaGetLastError();
  return query;
}

// NCCL's element type for `type`, and the reduction that is this project's
// "sum" for it (booleans: a logical OR, as the MPI world does).
bool NcclTypeOf(at::ScalarType type, ncclDataType_t* nccl, ncclRedOp_t* op) {
  *op = ncclSum;
  switch (type) {
    case at::kFloat:
      *nccl = ncclFloat32;
      return true;
    case at::kDouble:
      *nccl = ncclFloat64;
      return true;
    case at::kHalf:
      *nccl = ncclFloat16;
      return true;
    case at::kBFloat16:
      *nccl = ncclBfloat16;
      return true;
    case at::kLong:
      *nccl = ncclInt64;
      return true;
    case at::kInt:
      *nccl = ncclInt32;
      return true;
    case at::kByte:
      *nccl = ncclUint8;
      return true;
    case at::kBool:
      // One byte of 0 or 1 per element: the maximum over ranks is the OR.
      *nccl = ncclUint8;
      *op = ncclMax;
      return true;
    default:
      return false;
  }
}

std::string LastNcclError(ncclComm_t comm) {
  const char* text = ncclGetLastError(comm);
  return text != nullptr && text[0] != '\0' ? std::string(text)
                                            : std::string("no details");
}

class NcclCollectives final : public Collectives {
 public:
  explicit NcclCollectives(std::unique_ptr<Collectives> host)
      : host_(std::move(host)), device_(host_->local_rank()) {}
  ~NcclCollectives() override;

  // Selects the GPU, creates the stream and joins the NCCL communicator
  // (collective over `host_`: every rank calls it).
  absl::Status Init();

  int rank() const override { return host_->rank(); }
  int world_size() const override { return host_->world_size(); }
  int local_rank() const override { return host_->local_rank(); }
  int num_nodes() const override { return host_->num_nodes(); }
  std::string transport() const override {
    return host_->transport() + " + NCCL";
  }

  void AllReduceSum(std::vector<at::Tensor>& tensors) override {
    StartAllReduceSum(tensors)->Wait();
  }
  // CUDA tensors' sums only wait for their event (see Pending).
  bool asynchronous() const override { return true; }
  std::unique_ptr<Pending> StartAllReduceSum(
      std::vector<at::Tensor> tensors) override;
  void Broadcast(at::Tensor& tensor, int root) override;
  void Barrier() override;
  [[noreturn]] void Abort(int exit_code) override {
    host_->Abort(exit_code);
    std::_Exit(exit_code);  // Not reached: the host's Abort does not return.
  }
  void SetTraceDirectory(const std::string& dir) override {
    host_->SetTraceDirectory(dir);
  }
  void SetTimeoutSeconds(double seconds) override {
    timeout_s_.store(seconds);
    host_->SetTimeoutSeconds(seconds);
    watchdog_cv_.notify_all();
  }

  // LibTorch's later work (on the default stream) waits for `done`.
  void DefaultStreamWaitsFor(cudaEvent_t done) {
    UseDevice();
    CheckCuda(cudaStreamWaitEvent(cudaStreamLegacy, done, 0),
              "cudaStreamWaitEvent");
  }

 private:
  // "rank R (local rank L, N CUDA devices)", the start of every message.
  std::string Where() const {
    return absl::StrCat("rank ", rank(), " (local rank ", local_rank(), ", ",
                        device_count_, " CUDA device(s))");
  }

  absl::Status SetUpDevice();
  // Non-OK on every rank when `local` is not OK on some rank, so that no
  // rank goes on to wait in NCCL for one that has given up.
  absl::Status Agree(absl::Status local, const char* step);

  void UseDevice() { CheckCuda(cudaSetDevice(device_), "cudaSetDevice"); }
  void CheckCuda(cudaError_t code, const char* what) {
    if (code != cudaSuccess) {
      Fail(absl::StrCat("rank ", rank(), ": ", what,
                        " failed: ", cudaGetErrorString(code)),
           /*on_main_thread=*/true);
    }
  }
  void CheckNccl(ncclResult_t code, const char* what) {
    if (code != ncclSuccess) {
      Fail(absl::StrCat("rank ", rank(), ": ", what, " failed: ",
                        ncclGetErrorString(code), ": ", LastNcclError(comm_)),
           /*on_main_thread=*/true);
    }
  }

  // Runs `enqueue` (the NCCL calls of one collective) as one NCCL group on
  // stream_, ordered after the default stream's work so far; returns the
  // collective's completion event, which the watchdog follows.
  template <typename Enqueue>
  Event Launch(const char* what, Enqueue enqueue);

  // An asynchronous NCCL error or a collective that has waited past the
  // timeout: the message to end the process with; empty when all is well.
  std::string Problem(const char* what, Clock::time_point since);
  // Polls until stream_ is idle; the problem, if any, comes back as a status.
  absl::Status WaitForStream(const char* what);

  void Watch();
  void StopWatchdog();

  // Prints `message`, aborts the communicator and ends the process (through
  // the host world when on the thread that may call it).
  [[noreturn]] void Fail(const std::string& message, bool on_main_thread);

  // Declared first: destroyed last, after the communicator (MPI_Finalize
  // must come after NCCL is done with its peers).
  std::unique_ptr<Collectives> host_;
  const int device_;
  int device_count_ = 0;
  cudaStream_t stream_ = nullptr;
  // Recorded on the default stream before each collective.
  cudaEvent_t ready_ = nullptr;
  ncclComm_t comm_ = nullptr;
  // The communicator may be broken (failed initialisation on some rank):
  // abort it instead of destroying it, which could wait for peers.
  bool abort_comm_ = false;
  std::atomic<double> timeout_s_{0};

  // Taken before mu_ by whoever fails first; held until the process ends.
  std::mutex fail_mu_;
  // Guards in_flight_, stop_ and the watchdog's use of comm_.
  std::mutex mu_;
  std::condition_variable watchdog_cv_;
  struct InFlight {
    Event done;
    const char* what;
    Clock::time_point since;
  };
  std::deque<InFlight> in_flight_;
  bool stop_ = false;
  std::thread watchdog_;
};

// The tensors of a started all-reduce, kept alive (and unread) until the
// default stream has been told to wait for it.
class NcclPending final : public Collectives::Pending {
 public:
  NcclPending(NcclCollectives* owner, Event done,
              std::vector<at::Tensor> tensors, std::vector<at::Tensor> buffers)
      : owner_(owner),
        done_(std::move(done)),
        tensors_(std::move(tensors)),
        buffers_(std::move(buffers)) {}
  // A handle dropped without Wait() still orders the default stream after
  // the collective: the tensors' memory may be reused only after it.
  ~NcclPending() override { Wait(); }

  void Wait() override {
    if (owner_ == nullptr) return;
    if (done_ != nullptr) owner_->DefaultStreamWaitsFor(done_.get());
    // Non-contiguous tensors were reduced in a contiguous copy; copying back
    // runs on the default stream, after the collective.
    for (size_t i = 0; i < tensors_.size(); ++i) {
      if (!buffers_[i].is_same(tensors_[i])) tensors_[i].copy_(buffers_[i]);
    }
    tensors_.clear();
    buffers_.clear();
    done_.reset();
    owner_ = nullptr;
  }

 private:
  NcclCollectives* owner_;
  Event done_;
  std::vector<at::Tensor> tensors_;
  std::vector<at::Tensor> buffers_;
};

NcclCollectives::~NcclCollectives() {
  StopWatchdog();
  if (comm_ != nullptr) {
    absl::Status idle =
        abort_comm_ ? absl::AbortedError("") : WaitForStream("shutdown");
    if (idle.ok()) {
      const ncclResult_t code = ncclCommDestroy(comm_);
      if (code != ncclSuccess) {
        std::fprintf(stderr, "rank %d: ncclCommDestroy failed: %s\n", rank(),
                     ncclGetErrorString(code));
      }
    } else {
      if (!idle.message().empty()) {
        std::fprintf(stderr, "%s\n", std::string(idle.message()).c_str());
      }
      ncclCommAbort(comm_);
    }
    comm_ = nullptr;
  }
  if (ready_ != nullptr) cudaEventDestroy(ready_);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

absl::Status NcclCollectives::SetUpDevice() {
  const cudaError_t count_code = cudaGetDeviceCount(&device_count_);
  if (count_code != cudaSuccess) {
    (void)cudaGetLastError();
    device_count_ = 0;
    return absl::FailedPreconditionError(
        absl::StrCat(Where(), ": no usable CUDA device: cudaGetDeviceCount: ",
                     cudaGetErrorString(count_code)));
  }
  if (device_count_ == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(Where(), ": no CUDA device on this node"));
  }
  if (device_ < 0 || device_ >= device_count_) {
    return absl::FailedPreconditionError(
        absl::StrCat(Where(), ": no GPU for local rank ", device_,
                     ": start at most one rank per CUDA device on each node"));
  }
  if (const cudaError_t code = cudaSetDevice(device_); code != cudaSuccess) {
    return absl::InternalError(
        absl::StrCat(Where(), ": cudaSetDevice(", device_,
                     ") failed: ", cudaGetErrorString(code)));
  }
  // Non-blocking: NCCL's stream never synchronises implicitly with the
  // legacy default stream; the order is only what the events say.
  if (const cudaError_t code =
          cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking);
      code != cudaSuccess) {
    stream_ = nullptr;
    return absl::InternalError(absl::StrCat(
        Where(),
        ": cudaStreamCreateWithFlags failed: ", cudaGetErrorString(code)));
  }
  if (const cudaError_t code =
          cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming);
      code != cudaSuccess) {
    ready_ = nullptr;
    return absl::InternalError(absl::StrCat(
        Where(),
        ": cudaEventCreateWithFlags failed: ", cudaGetErrorString(code)));
  }
  return absl::OkStatus();
}

absl::Status NcclCollectives::Agree(absl::Status local, const char* step) {
  at::Tensor failed =
      at::full({1}, local.ok() ? 0 : 1, at::TensorOptions().dtype(at::kInt));
  std::vector<at::Tensor> tensors = {failed};
  host_->AllReduceSum(tensors);
  const int failures = failed.item<int>();
  if (!local.ok()) return local;
  if (failures > 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(Where(), ": ", failures, " other rank(s) could not ", step,
                     " (their messages say why); NCCL is not started"));
  }
  return absl::OkStatus();
}

absl::Status NcclCollectives::Init() {
  absl::Status local = SetUpDevice();
  ncclUniqueId id;
  std::memset(&id, 0, sizeof(id));
  if (local.ok() && rank() == 0) {
    if (const ncclResult_t code = ncclGetUniqueId(&id); code != ncclSuccess) {
      local = absl::InternalError(absl::StrCat(
          Where(), ": ncclGetUniqueId failed: ", ncclGetErrorString(code), ": ",
          LastNcclError(nullptr)));
    }
  }
  if (absl::Status s = Agree(local, "set up their GPU"); !s.ok()) return s;

  at::Tensor id_bytes = at::empty({NCCL_UNIQUE_ID_BYTES}, at::kByte);
  std::memcpy(id_bytes.data_ptr(), id.internal, NCCL_UNIQUE_ID_BYTES);
  host_->Broadcast(id_bytes, 0);
  std::memcpy(id.internal, id_bytes.data_ptr(), NCCL_UNIQUE_ID_BYTES);

  ncclComm_t comm = nullptr;
  if (const ncclResult_t code =
          ncclCommInitRank(&comm, world_size(), id, rank());
      code != ncclSuccess) {
    local = absl::InternalError(absl::StrCat(
        Where(), ": ncclCommInitRank(", world_size(), " ranks) failed: ",
        ncclGetErrorString(code), ": ", LastNcclError(nullptr)));
  } else {
    comm_ = comm;
  }
  if (absl::Status s = Agree(local, "join the NCCL communicator"); !s.ok()) {
    abort_comm_ = true;
    return s;
  }
  watchdog_ = std::thread([this] { Watch(); });
  return absl::OkStatus();
}

template <typename Enqueue>
Event NcclCollectives::Launch(const char* what, Enqueue enqueue) {
  // What LibTorch enqueued so far (e.g. the kernels that wrote the tensors)
  // comes before the collective.
  CheckCuda(cudaEventRecord(ready_, cudaStreamLegacy), "cudaEventRecord");
  CheckCuda(cudaStreamWaitEvent(stream_, ready_, 0), "cudaStreamWaitEvent");
  CheckNccl(ncclGroupStart(), "ncclGroupStart");
  enqueue();
  CheckNccl(ncclGroupEnd(), "ncclGroupEnd");
  cudaEvent_t raw = nullptr;
  CheckCuda(cudaEventCreateWithFlags(&raw, cudaEventDisableTiming),
            "cudaEventCreateWithFlags");
  Event done(raw, [](cudaEvent_t e) { cudaEventDestroy(e); });
  CheckCuda(cudaEventRecord(done.get(), stream_), "cudaEventRecord");
  {
    std::lock_guard<std::mutex> lock(mu_);
    in_flight_.push_back({done, what, Clock::now()});
  }
  return done;
}

std::unique_ptr<Collectives::Pending> NcclCollectives::StartAllReduceSum(
    std::vector<at::Tensor> tensors) {
  // Everything is checked before anything is enqueued, so that a rejected
  // call leaves no NCCL group half open.
  std::vector<at::Tensor> cpu, cuda;
  std::vector<ncclDataType_t> types;
  std::vector<ncclRedOp_t> ops;
  for (const at::Tensor& t : tensors) {
    if (t.device().is_cpu()) {
      cpu.push_back(t);
      continue;
    }
    TORCH_CHECK(t.device().is_cuda(),
                "NCCL collectives take CUDA or CPU tensors, not ", t.device());
    TORCH_CHECK(t.device().index() == device_, "rank ", rank(),
                " runs its NCCL collectives on cuda:", device_, ", not on ",
                t.device());
    ncclDataType_t type;
    ncclRedOp_t op;
    TORCH_CHECK(NcclTypeOf(t.scalar_type(), &type, &op),
                "NCCL all-reduce does not take ", t.scalar_type(), " tensors");
    if (t.numel() == 0) continue;
    cuda.push_back(t);
    types.push_back(type);
    ops.push_back(op);
  }
  Event done;
  std::vector<at::Tensor> buffers;
  if (!cuda.empty()) {
    UseDevice();
    // Copies of non-contiguous tensors, made on the default stream before
    // the collective's ready event.
    for (const at::Tensor& t : cuda) buffers.push_back(t.contiguous());
    done = Launch("all-reduce", [&] {
      for (size_t i = 0; i < buffers.size(); ++i) {
        void* data = buffers[i].data_ptr();
        CheckNccl(ncclAllReduce(data, data, buffers[i].numel(), types[i],
                                ops[i], comm_, stream_),
                  "ncclAllReduce");
      }
    });
  }
  // The CPU sums run (blocking) while the GPU does the CUDA ones.
  if (!cpu.empty()) host_->AllReduceSum(cpu);
  return std::make_unique<NcclPending>(this, std::move(done), std::move(cuda),
                                       std::move(buffers));
}

void NcclCollectives::Broadcast(at::Tensor& tensor, int root) {
  if (tensor.device().is_cpu()) {
    host_->Broadcast(tensor, root);
    return;
  }
  TORCH_CHECK(tensor.device().is_cuda(),
              "NCCL collectives take CUDA or CPU tensors, not ",
              tensor.device());
  TORCH_CHECK(tensor.device().index() == device_, "rank ", rank(),
              " runs its NCCL collectives on cuda:", device_, ", not on ",
              tensor.device());
  TORCH_CHECK(root >= 0 && root < world_size(), "broadcast from rank ", root,
              " of ", world_size());
  if (tensor.numel() == 0) return;
  UseDevice();
  at::Tensor buffer = tensor.contiguous();
  // As bytes: every dtype, bit for bit.
  const size_t bytes = buffer.numel() * buffer.element_size();
  Event done = Launch("broadcast", [&] {
    void* data = buffer.data_ptr();
    CheckNccl(ncclBroadcast(data, data, bytes, ncclUint8, root, comm_, stream_),
              "ncclBroadcast");
  });
  DefaultStreamWaitsFor(done.get());
  if (!buffer.is_same(tensor)) tensor.copy_(buffer);
}

void NcclCollectives::Barrier() {
  // Every collective this rank started has completed (on every rank it
  // involved) before the host barrier.
  if (absl::Status s = WaitForStream("barrier"); !s.ok()) {
    Fail(std::string(s.message()), /*on_main_thread=*/true);
  }
  host_->Barrier();
}

std::string NcclCollectives::Problem(const char* what,
                                     Clock::time_point since) {
  ncclResult_t async = ncclSuccess;
  const ncclResult_t code = ncclCommGetAsyncError(comm_, &async);
  if (code != ncclSuccess) {
    return absl::StrCat("rank ", rank(), ": ncclCommGetAsyncError failed: ",
                        ncclGetErrorString(code));
  }
  if (async != ncclSuccess && async != ncclInProgress) {
    return absl::StrCat("rank ", rank(), ": NCCL ", what,
                        " failed: ", ncclGetErrorString(async), ": ",
                        LastNcclError(comm_), "; ending this rank");
  }
  const double timeout = timeout_s_.load();
  const double waited =
      std::chrono::duration<double>(Clock::now() - since).count();
  if (timeout > 0 && waited > timeout) {
    return absl::StrFormat(
        "rank %d: NCCL %s has waited %.0f s for the other ranks (timeout "
        "%.0f s, distributed.timeout_mins): a rank is gone or stuck; ending "
        "this rank",
        rank(), what, waited, timeout);
  }
  return "";
}

absl::Status NcclCollectives::WaitForStream(const char* what) {
  if (comm_ == nullptr || stream_ == nullptr) return absl::OkStatus();
  if (const cudaError_t code = cudaSetDevice(device_); code != cudaSuccess) {
    return absl::InternalError(absl::StrCat(
        "rank ", rank(), ": cudaSetDevice failed: ", cudaGetErrorString(code)));
  }
  const Clock::time_point since = Clock::now();
  for (int polls = 0;; ++polls) {
    const cudaError_t code = Ready(cudaStreamQuery(stream_));
    if (code == cudaSuccess) return absl::OkStatus();
    if (code != cudaErrorNotReady) {
      return absl::InternalError(
          absl::StrCat("rank ", rank(), ": NCCL ", what,
                       ": cudaStreamQuery failed: ", cudaGetErrorString(code)));
    }
    if (std::string problem = Problem(what, since); !problem.empty()) {
      return absl::DeadlineExceededError(problem);
    }
    // Short collectives finish within microseconds; long waits cost little.
    if (polls < 100) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
}

void NcclCollectives::Watch() {
  // Events and streams belong to this device's context.
  (void)cudaSetDevice(device_);
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    const double timeout = timeout_s_.load();
    // A few checks per timeout, at least one a second.
    const double period = timeout > 0 ? std::min(1.0, timeout / 4) : 1.0;
    watchdog_cv_.wait_for(lock, std::chrono::duration<double>(period));
    if (stop_) break;
    std::string problem;
    // The stream runs the collectives in order: the oldest unfinished one
    // is the one that waits.
    while (!in_flight_.empty()) {
      const cudaError_t code =
          Ready(cudaEventQuery(in_flight_.front().done.get()));
      if (code == cudaErrorNotReady) break;
      if (code != cudaSuccess) {
        problem =
            absl::StrCat("rank ", rank(), ": NCCL ", in_flight_.front().what,
                         ": cudaEventQuery failed: ", cudaGetErrorString(code),
                         "; ending this rank");
        break;
      }
      in_flight_.pop_front();
    }
    if (problem.empty() && !in_flight_.empty()) {
      problem = Problem(in_flight_.front().what, in_flight_.front().since);
    }
    if (!problem.empty()) {
      // Fail takes mu_ itself (after fail_mu_, the order every failing
      // thread uses).
      lock.unlock();
      Fail(problem, /*on_main_thread=*/false);
    }
  }
}

void NcclCollectives::StopWatchdog() {
  if (!watchdog_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  watchdog_cv_.notify_all();
  watchdog_.join();
}

void NcclCollectives::Fail(const std::string& message, bool on_main_thread) {
  // The first failure ends the process; any later one waits here for that.
  std::lock_guard<std::mutex> failing(fail_mu_);
  std::fprintf(stderr, "%s\n", message.c_str());
  std::fflush(nullptr);
  // ncclCommAbort and the launcher's abort should return promptly; should
  // either hang, this rank still ends.
  std::thread([] {
    std::this_thread::sleep_for(std::chrono::seconds(30));
    std::_Exit(1);
  }).detach();
  {
    // The watchdog does not touch the communicator meanwhile.
    std::lock_guard<std::mutex> lock(mu_);
    if (comm_ != nullptr) ncclCommAbort(comm_);
    comm_ = nullptr;
  }
  // Only the thread that makes the host world's calls may abort through it
  // (MPI_THREAD_FUNNELED); elsewhere, exiting non-zero makes the launcher
  // end the other ranks.
  if (on_main_thread) host_->Abort(1);
  std::_Exit(1);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Collectives>> WithNccl(
    std::unique_ptr<Collectives> host) {
  if (host == nullptr) return absl::InvalidArgumentError("no host world");
  auto nccl = std::make_unique<NcclCollectives>(std::move(host));
  if (absl::Status s = nccl->Init(); !s.ok()) return s;
  return std::unique_ptr<Collectives>(std::move(nccl));
}

}  // namespace sam2::distributed
