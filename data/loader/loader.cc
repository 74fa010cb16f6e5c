#include "data/loader/loader.h"

#include <glog/logging.h>

#include <exception>

#include "absl/strings/str_cat.h"

namespace sam2::data {
namespace {

absl::Status Annotate(const absl::Status& s, int64_t epoch, int64_t batch) {
  return absl::Status(s.code(), absl::StrCat("epoch ", epoch, " batch ", batch,
                                             ": ", s.message()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<DataLoader>> DataLoader::Create(
    std::vector<DatasetGroup> groups, LoaderOptions options) {
  if (options.num_workers < 0) {
    return absl::InvalidArgumentError("num_workers must be >= 0");
  }
  if (options.prefetch_batches < 1) {
    return absl::InvalidArgumentError("prefetch_batches must be >= 1");
  }
  std::vector<MixedGroup> plan_groups;
  for (size_t g = 0; g < groups.size(); ++g) {
    if (!groups[g].dataset) {
      return absl::InvalidArgumentError(
          absl::StrCat("dataset group ", g, " has no dataset"));
    }
    MixedGroup mg;
    mg.size = groups[g].dataset->size();
    mg.batch_size = groups[g].batch_size;
    if (groups[g].repeat_factor_wrapper) {
      mg.repeat_factors = groups[g].dataset->repeat_factors();
    }
    plan_groups.push_back(std::move(mg));
  }
  if (options.num_shards < 1 || options.shards_here < 1 ||
      options.first_shard < 0 ||
      options.first_shard + options.shards_here > options.num_shards) {
    return absl::InvalidArgumentError(absl::StrCat(
        "shards ", options.first_shard, "..",
        options.first_shard + options.shards_here - 1, " are not among the ",
        options.num_shards, " shards of the epoch"));
  }
  MixedPlanOptions p;
  p.phases_per_epoch = options.phases_per_epoch;
  p.shuffle = options.shuffle;
  p.drop_last = options.drop_last;
  p.rank = options.first_shard;
  p.world_size = options.num_shards;
  p.shuffle_seed = options.shuffle_seed;
  p.repeat_factor_seed = options.repeat_factor_seed;
  p.mixing_seed = options.mixing_seed;
  p.dataset_prob = options.dataset_prob;
  // Validates everything the plan needs (ranks, batch sizes, probabilities).
  if (absl::StatusOr<std::vector<double>> probs =
          MixingProbabilities(plan_groups, p);
      !probs.ok()) {
    return probs.status();
  }
  return std::unique_ptr<DataLoader>(new DataLoader(
      std::move(groups), std::move(options), std::move(plan_groups), p));
}

DataLoader::DataLoader(std::vector<DatasetGroup> groups, LoaderOptions options,
                       std::vector<MixedGroup> plan_groups,
                       MixedPlanOptions plan_options)
    : groups_(std::move(groups)),
      options_(std::move(options)),
      plan_groups_(std::move(plan_groups)),
      plan_options_(std::move(plan_options)) {
  if (options_.buffer_pool_bytes > 0) {
    pool_ = std::make_unique<TensorBufferPool>(options_.buffer_pool_bytes);
  }
  warn_ = options_.on_warning;
  if (!warn_) {
    warn_ = [](const std::string& message) { LOG(WARNING) << message; };
  }
  for (int i = 0; i < options_.num_workers; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

DataLoader::~DataLoader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

absl::StatusOr<std::vector<PlannedBatch>> DataLoader::Plan(
    int64_t epoch) const {
  const int here = options_.shards_here;
  std::vector<std::vector<PlannedBatch>> shards;
  for (int k = 0; k < here; ++k) {
    MixedPlanOptions shard = plan_options_;
    shard.rank = options_.first_shard + k;
    absl::StatusOr<std::vector<PlannedBatch>> plan =
        PlanEpoch(plan_groups_, shard, epoch);
    if (!plan.ok()) return plan.status();
    shards.push_back(std::move(*plan));
  }
  if (here == 1) return std::move(shards[0]);
  // Every shard has the same number of batches (PlanEpoch pads as
  // DistributedSampler does).
  std::vector<PlannedBatch> interleaved;
  interleaved.reserve(shards[0].size() * here);
  for (size_t b = 0; b < shards[0].size(); ++b) {
    for (int k = 0; k < here; ++k) {
      CHECK_EQ(shards[k].size(), shards[0].size());
      interleaved.push_back(std::move(shards[k][b]));
    }
  }
  return interleaved;
}

absl::StatusOr<int64_t> DataLoader::NumBatches(int64_t epoch) const {
  absl::StatusOr<std::vector<PlannedBatch>> plan = Plan(epoch);
  if (!plan.ok()) return plan.status();
  return static_cast<int64_t>(plan->size());
}

absl::Status DataLoader::StartEpoch(int64_t epoch, int64_t start_batch) {
  if (epoch < 0) return absl::InvalidArgumentError("negative epoch");
  absl::StatusOr<std::vector<PlannedBatch>> plan = Plan(epoch);
  if (!plan.ok()) return plan.status();
  if (start_batch < 0 || start_batch > static_cast<int64_t>(plan->size())) {
    return absl::OutOfRangeError(absl::StrCat("batch ", start_batch,
                                              " not in epoch ", epoch, " of ",
                                              plan->size(), " batches"));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++generation_;
    plan_ = std::make_shared<const std::vector<PlannedBatch>>(std::move(*plan));
    epoch_ = epoch;
    next_schedule_ = next_deliver_ = start_batch;
    ready_.clear();
  }
  cv_.notify_all();
  return absl::OkStatus();
}

int64_t DataLoader::num_batches() const {
  std::lock_guard<std::mutex> lock(mu_);
  return plan_ ? static_cast<int64_t>(plan_->size()) : 0;
}

LoaderPosition DataLoader::position() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {epoch_, next_deliver_};
}

bool DataLoader::WorkAvailable() const {
  return plan_ && next_schedule_ < static_cast<int64_t>(plan_->size()) &&
         next_schedule_ < next_deliver_ + options_.prefetch_batches;
}

void DataLoader::WorkerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stop_ || WorkAvailable(); });
    if (stop_) return;
    const int64_t index = next_schedule_++;
    const std::shared_ptr<const std::vector<PlannedBatch>> plan = plan_;
    const int64_t epoch = epoch_;
    const uint64_t generation = generation_;
    lock.unlock();
    absl::StatusOr<BatchedVideoDatapoint> batch =
        BuildBatch(epoch, index, (*plan)[index], generation);
    lock.lock();
    if (generation == generation_) {
      ready_.emplace(index, std::move(batch));
      cv_.notify_all();
    }
  }
}

absl::StatusOr<std::optional<BatchedVideoDatapoint>> DataLoader::Next() {
  std::unique_lock<std::mutex> lock(mu_);
  if (!plan_) {
    return absl::FailedPreconditionError("DataLoader::Next before StartEpoch");
  }
  if (next_deliver_ >= static_cast<int64_t>(plan_->size())) {
    return std::optional<BatchedVideoDatapoint>();
  }
  absl::StatusOr<BatchedVideoDatapoint> batch;
  if (workers_.empty()) {
    const int64_t index = next_deliver_++;
    const std::shared_ptr<const std::vector<PlannedBatch>> plan = plan_;
    const int64_t epoch = epoch_;
    const uint64_t generation = generation_;
    lock.unlock();
    batch = BuildBatch(epoch, index, (*plan)[index], generation);
  } else {
    cv_.wait(lock, [this] { return stop_ || ready_.count(next_deliver_) > 0; });
    if (stop_) return absl::CancelledError("DataLoader is shutting down");
    auto node = ready_.extract(next_deliver_);
    ++next_deliver_;
    lock.unlock();
    cv_.notify_all();  // room for one more batch
    batch = std::move(node.mapped());
  }
  if (!batch.ok()) return batch.status();
  return std::optional<BatchedVideoDatapoint>(std::move(*batch));
}

absl::StatusOr<BatchedVideoDatapoint> DataLoader::LoadBatch(
    int64_t epoch, int64_t batch_index) const {
  absl::StatusOr<std::vector<PlannedBatch>> plan = Plan(epoch);
  if (!plan.ok()) return plan.status();
  if (batch_index < 0 || batch_index >= static_cast<int64_t>(plan->size())) {
    return absl::OutOfRangeError(absl::StrCat("batch ", batch_index,
                                              " not in epoch ", epoch, " of ",
                                              plan->size(), " batches"));
  }
  return BuildBatch(epoch, batch_index, (*plan)[batch_index], generation_);
}

absl::StatusOr<BatchedVideoDatapoint> DataLoader::BuildBatch(
    int64_t epoch, int64_t batch_index, const PlannedBatch& batch,
    uint64_t generation) const {
  try {
    const DatasetGroup& group = groups_[batch.group];
    const int64_t shard =
        options_.first_shard + batch_index % options_.shards_here;
    const int64_t shard_batch = batch_index / options_.shards_here;
    std::vector<VideoDatapoint> samples;
    samples.reserve(batch.indices.size());
    for (size_t j = 0; j < batch.indices.size(); ++j) {
      // Abandon work nobody will take (shutdown, or a new StartEpoch).
      if (stopping_ || generation != generation_) {
        return absl::CancelledError("batch abandoned");
      }
      SampleContext ctx(SeedFrom({options_.seed, static_cast<uint64_t>(epoch),
                                  static_cast<uint64_t>(shard),
                                  static_cast<uint64_t>(shard_batch), j}),
                        warn_, &stats_);
      absl::StatusOr<VideoDatapoint> sample =
          group.dataset->Get(batch.indices[j], ctx);
      if (!sample.ok()) return Annotate(sample.status(), epoch, batch_index);
      samples.push_back(std::move(*sample));
      ++stats_.samples_loaded;
    }
    absl::StatusOr<BatchedVideoDatapoint> collated =
        Collate(samples, options_.dict_key, pool_.get());
    if (!collated.ok()) return Annotate(collated.status(), epoch, batch_index);
    ++stats_.batches_loaded;
    return collated;
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("epoch ", epoch, " batch ", batch_index, ": ", e.what()));
  } catch (...) {
    return absl::InternalError(absl::StrCat(
        "epoch ", epoch, " batch ", batch_index, ": unknown exception"));
  }
}

}  // namespace sam2::data
