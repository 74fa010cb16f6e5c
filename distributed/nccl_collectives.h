// Collectives for CUDA tensors over NCCL, one GPU per rank, on top of a host
// world (MPI, or the single process) that bootstraps NCCL and keeps doing
// the CPU tensors, barriers and aborts. Built only under --config=cuda.
//
// Streams. This file sees LibTorch only through ATen's device-independent
// headers (Debian's CPU LibTorch has no c10/cuda), so it cannot ask LibTorch
// for its current stream. It assumes that LibTorch's work on the GPU runs on
// the legacy default stream (cudaStreamLegacy), which is LibTorch's default
// unless code switches streams (c10::cuda::setCurrentStream, CUDAStreamGuard):
// nothing in the calling thread may do so around these collectives. NCCL runs
// on a stream of its own (non-blocking, so it never synchronises implicitly
// with the default stream); each collective waits for an event recorded on
// the default stream (all LibTorch work enqueued before it, e.g. the kernels
// that produced a gradient), and the default stream waits for the
// collective's completion event before any later LibTorch work. A CUDA
// collective never blocks the host, except in Barrier() (CPU tensors go
// through the host world, which blocks as it does).
//
// Not thread-safe: one thread makes the collective calls, as for the host
// world (MPI_THREAD_FUNNELED).
//
// Memory. LibTorch's caching allocator reuses a freed block for new work on
// the default stream; because the default stream always waits for the
// collective's completion before the tensors can be dropped (the Pending
// handle holds them until Wait()), NCCL never writes memory that has been
// handed out again.
//
// No rank waits forever. A watchdog thread follows every collective in
// flight: when NCCL reports an asynchronous error (ncclCommGetAsyncError),
// or one collective has not completed after the timeout (SetTimeoutSeconds;
// counted from the call that enqueued it, so it includes the GPU work queued
// before it, which the timeout must allow for), it prints which rank and which
// collective, aborts the communicator (ncclCommAbort) and ends the process,
// which makes the launcher end the other ranks. This also covers the host
// blocking inside LibTorch (e.g. in .item()) on a GPU stream that waits for a
// collective that never completes.
//
// Only NCCL's initialisation (ncclCommInitRank) is not watched: a rank whose
// peers never arrive waits there (in practice the launcher ends the job when
// the peer's process exits).
#ifndef SAM2_DISTRIBUTED_NCCL_COLLECTIVES_H_
#define SAM2_DISTRIBUTED_NCCL_COLLECTIVES_H_

#include <memory>

#include "absl/status/statusor.h"
#include "distributed/collectives.h"

namespace sam2::distributed {

// The collectives of `host`'s world with CUDA tensors going through NCCL:
//  - rank, world size, local rank and nodes are `host`'s;
//  - AllReduceSum / StartAllReduceSum: CUDA tensors (on this rank's device,
//    dtypes float, double, half, bfloat16, int64, int32, uint8, bool) by
//    ncclAllReduce, grouped into one NCCL launch per call; bool sums are a
//    logical OR; CPU tensors by `host`. Unlike the MPI world, the float sums
//    follow NCCL's reduction order (fast, not world-size independent).
//    StartAllReduceSum returns at once; its handle's Wait() only makes the
//    default stream wait for the collective, so an all-reduce started during
//    the backward pass overlaps the rest of it. The handle must not outlive
//    the returned object.
//  - Broadcast: CUDA tensors by ncclBroadcast, CPU tensors by `host`;
//  - Barrier: waits (host side) until this rank's collectives have
//    completed, then `host`'s barrier;
//  - Abort, SetTimeoutSeconds: `host`'s (the timeout also bounds the NCCL
//    collectives, see above).
//
// Sets the calling thread's CUDA device to `host->local_rank()`; the
// collectives must be called from a thread with that device current (they
// set it again). Rank 0 creates the NCCL id, `host` broadcasts it, and every
// rank joins the communicator. A rank that cannot (no such device, a CUDA or
// NCCL error) returns a status naming its rank, local rank and device count
// and NCCL's message; the other ranks learn of it through `host` and return
// an error too instead of waiting for it.
absl::StatusOr<std::unique_ptr<Collectives>> WithNccl(
    std::unique_ptr<Collectives> host);

}  // namespace sam2::distributed

#endif  // SAM2_DISTRIBUTED_NCCL_COLLECTIVES_H_
