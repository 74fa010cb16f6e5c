// preprocess_sa1b: SA-1B's tar shards checked, filtered and laid out for
// training, as an MPI batch job.
//
//   bazel run //jobs:preprocess_sa1b -- --input=/data/sa1b_tars \
//       --output_dir=/data/sa1b [--val_fraction=0.01]
//   mpirun -np 16 bazel-bin/jobs/preprocess_sa1b ...   (shards split)
#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "configs/cli.h"
#include "data/codecs/file_io.h"
#include "data/convert/sa1b_shard.h"
#include "distributed/mpi_world.h"
#include "distributed/work_split.h"

namespace {

using namespace sam2;
namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kUsage[] =
    R"(usage: preprocess_sa1b --input=DIR --output_dir=DIR [flags]

Reads SA-1B's shards as they are distributed (<input>/sa_*.tar, read as
streams: nothing is unpacked first), or, without tars, the unpacked folder
<input> itself. Every image/JSON pair is checked (the JPEG decodes, sizes
agree, every RLE covers height x width, areas and boxes match the masks);
the filters SA1BRawDataset applies (--mask_area_frac_thresh,
--uncertain_iou) are applied here so that training reads less. Writes
<output_dir>/sa_<n>.jpg and .json (the layout sa1b { img_folder gt_folder }
reads), train_list.txt and val_list.txt (a fixed split by name), and
manifest.json (per shard: images, annotations kept and dropped, bytes,
errors, a CRC32 of its content).

A shard is one unit: its pairs are written into a temporary folder and moved
into place when the shard is complete, with a marker in <output_dir>/.done/;
a rerun or a requeued job skips finished shards, and an interrupted shard
leaves nothing behind. Under mpirun/srun the ranks split the shards,
balanced by size; rank 0 writes the lists and the manifest. The exit code is
1 if any shard failed or any pair or annotation was bad.)";

const std::vector<config::FlagSpec>& JobFlags() {
  static const auto* flags = new std::vector<config::FlagSpec>{
      {"input", "DIR", "the sa_*.tar shards, or an unpacked folder", ""},
      {"output_dir", "DIR", "where the pairs, lists and manifest go", ""},
      {"val_fraction", "F", "fraction of images listed in val_list.txt", "0"},
      {"mask_area_frac_thresh", "F",
       "drop masks covering at least this fraction of the image (> 1: none)",
       "1.1"},
      {"uncertain_iou", "F",
       "drop masks whose uncertain_iou is below this (< 0: none)", "-1"},
      {"max_side", "N",
       "downsize images whose longer side exceeds N, masks with them (0: "
       "keep the images as they are; see README: what it changes in "
       "training)",
       "0"},
  };
  return *flags;
}

struct Unit {
  std::string path, name;
  uintmax_t bytes = 0;
};

// This rank's shards (distributed/work_split.h).
std::vector<Unit> MyUnits(const std::vector<Unit>& all, int rank, int ranks) {
  std::vector<distributed::WorkUnit> units;
  for (const Unit& u : all) units.push_back({u.name, u.bytes});
  std::vector<Unit> mine;
  for (size_t i : distributed::MyShareOfWork(units, rank, ranks)) {
    mine.push_back(all[i]);
  }
  return mine;
}

// A fixed split: FNV-1a of the name, mixed (SplitMix64's finaliser: FNV's
// high bits barely change between "sa_1" and "sa_2"), mapped to [0, 1).
bool InVal(const std::string& name, double fraction) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ULL;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return static_cast<double>(h >> 11) / 9007199254740992.0 < fraction;
}

json ReportJson(const data::Sa1bShardReport& r) {
  return {{"shard", r.shard},
          {"images", r.images},
          {"images_dropped", r.images_dropped},
          {"annotations_kept", r.annotations_kept},
          {"annotations_dropped", r.annotations_dropped},
          {"bytes", r.bytes},
          {"content_crc32", r.content_crc32},
          {"errors", r.errors},
          {"names", r.names}};
}

// Processes one shard into a temporary folder, moves its files into place
// and writes its marker.
absl::StatusOr<data::Sa1bShardReport> RunUnit(
    const Unit& u, const std::string& out,
    const data::Sa1bFilterOptions& filters) {
  const fs::path temp = fs::path(out) / absl::StrCat(".partial-", u.name);
  std::error_code ec;
  fs::remove_all(temp, ec);
  absl::StatusOr<data::Sa1bShardReport> report =
      data::ProcessSa1bShard(u.path, temp.string(), filters);
  if (!report.ok()) {
    fs::remove_all(temp, ec);
    return report.status();
  }
  for (const auto& e : fs::directory_iterator(temp, ec)) {
    fs::rename(e.path(), fs::path(out) / e.path().filename(), ec);
    if (ec) {
      return absl::InternalError(
          absl::StrCat("cannot move ", e.path().string(), ": ", ec.message()));
    }
  }
  fs::remove_all(temp, ec);
  const std::string marker =
      (fs::path(out) / ".done" / (u.name + ".json")).string();
  std::ofstream(marker + ".tmp") << ReportJson(*report).dump();
  fs::rename(marker + ".tmp", marker, ec);
  return report;
}

}  // namespace

int main(int argc, char** argv) {
  int exit_code = 0;
  std::optional<config::CommandLine> cl = config::ParseJobCommandLine(
      "preprocess_sa1b", kUsage, argc, argv, JobFlags(),
      /*allow_positional=*/false, &exit_code);
  if (!cl) return exit_code;
  const std::string input = cl->Get("input"), out = cl->Get("output_dir");
  double val_fraction = 0;
  data::Sa1bFilterOptions filters;
  try {
    val_fraction = std::stod(cl->Get("val_fraction"));
    filters.mask_area_frac_thresh = std::stod(cl->Get("mask_area_frac_thresh"));
    filters.uncertain_iou = std::stod(cl->Get("uncertain_iou"));
    filters.max_side = std::stoi(cl->Get("max_side"));
  } catch (const std::exception&) {
    std::fprintf(stderr, "preprocess_sa1b: a numeric flag is not a number\n");
    return 2;
  }
  if (input.empty() || out.empty() || val_fraction < 0 || val_fraction > 1) {
    std::fprintf(stderr,
                 "preprocess_sa1b: --input and --output_dir are required, "
                 "--val_fraction in [0, 1] (see --help)\n");
    return 2;
  }
  auto created = distributed::InitWorld();
  if (!created.ok()) {
    std::fprintf(stderr, "preprocess_sa1b: %s\n",
                 std::string(created.status().message()).c_str());
    return 1;
  }
  distributed::Collectives& world = **created;
  std::error_code ec;
  std::vector<Unit> all;
  for (const auto& e : fs::directory_iterator(input, ec)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file() && absl::StartsWith(name, "sa_") &&
        name.find(".tar") != std::string::npos) {
      all.push_back({e.path().string(), name, e.file_size(ec)});
    }
  }
  if (ec) {
    std::fprintf(stderr, "preprocess_sa1b: cannot list %s: %s\n", input.c_str(),
                 ec.message().c_str());
    return 1;
  }
  if (all.empty()) {  // an unpacked folder: one unit
    all.push_back({input, fs::path(input).filename().string(), 0});
  }
  fs::create_directories(fs::path(out) / ".done", ec);
  const std::string who =
      world.world_size() > 1 ? absl::StrCat("rank ", world.rank(), ": ") : "";
  const std::vector<Unit> mine = MyUnits(all, world.rank(), world.world_size());
  int64_t done = 0, skipped = 0, failed = 0, bad = 0, bytes = 0;
  double decode_seconds = 0;
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < mine.size(); ++i) {
    const Unit& u = mine[i];
    if (fs::exists(fs::path(out) / ".done" / (u.name + ".json"), ec)) {
      ++skipped;
      continue;
    }
    absl::StatusOr<data::Sa1bShardReport> r = RunUnit(u, out, filters);
    if (!r.ok()) {
      ++failed;
      std::fprintf(stderr, "%spreprocess_sa1b: %s\n", who.c_str(),
                   std::string(r.status().message()).c_str());
      continue;
    }
    ++done;
    bad += static_cast<int64_t>(r->errors.size());
    bytes += r->bytes;
    decode_seconds += r->jpeg_decode_seconds;
    for (const std::string& e : r->errors) {
      std::fprintf(stderr, "%spreprocess_sa1b: %s\n", who.c_str(), e.c_str());
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    std::printf(
        "%s[%zu/%zu] %s: %lld images, %lld annotations kept, %lld dropped | "
        "%.2f shards/s, %.1f MB/s | ETA %.0f s\n",
        who.c_str(), i + 1, mine.size(), u.name.c_str(),
        static_cast<long long>(r->images),
        static_cast<long long>(r->annotations_kept),
        static_cast<long long>(r->annotations_dropped),
        (done + failed) / std::max(seconds, 1e-9),
        bytes / 1e6 / std::max(seconds, 1e-9),
        seconds / static_cast<double>(done + failed) *
            static_cast<double>(mine.size() - i - 1));
    std::fflush(stdout);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  at::Tensor counts =
      at::tensor({done, skipped, failed, bad, bytes}, at::kLong);
  at::Tensor times = at::tensor({seconds, decode_seconds}, at::kDouble);
  std::vector<at::Tensor> sums = {counts, times};
  world.AllReduceSum(sums);
  world.Barrier();
  if (world.is_main()) {
    // Lists and manifest from every finished shard's marker.
    json manifest = json::array();
    std::vector<std::string> train, val;
    std::vector<fs::path> markers;
    for (const auto& e : fs::directory_iterator(fs::path(out) / ".done", ec)) {
      if (e.path().extension() == ".json") markers.push_back(e.path());
    }
    std::sort(markers.begin(), markers.end());
    for (const fs::path& m : markers) {
      json r = json::parse(*data::ReadFileToString(m.string()));
      for (const auto& name : r["names"]) {
        (InVal(name.get<std::string>(), val_fraction) ? val : train)
            .push_back(name.get<std::string>());
      }
      r.erase("names");
      manifest.push_back(r);
    }
    std::sort(train.begin(), train.end());
    std::sort(val.begin(), val.end());
    auto write_list = [&](const char* file, const std::vector<std::string>& v) {
      std::ofstream f(fs::path(out) / file);
      for (const std::string& n : v) f << n << "\n";
    };
    write_list("train_list.txt", train);
    write_list("val_list.txt", val);
    std::ofstream(fs::path(out) / "manifest.json") << manifest.dump(1);
    const double busy = times[0].item<double>();
    std::printf(
        "preprocess_sa1b: %zu shards: %lld done, %lld already done, %lld "
        "failed; %lld problems; %zu train + %zu val images listed; %.1f MB/s "
        "per rank, JPEG decoding %.0f%% of the time (the codec limit: the job "
        "runs at %.0f%% of decode-only speed)\n",
        all.size(), static_cast<long long>(counts[0].item<int64_t>()),
        static_cast<long long>(counts[1].item<int64_t>()),
        static_cast<long long>(counts[2].item<int64_t>()),
        static_cast<long long>(counts[3].item<int64_t>()), train.size(),
        val.size(), counts[4].item<int64_t>() / 1e6 / std::max(busy, 1e-9),
        100.0 * times[1].item<double>() / std::max(busy, 1e-9),
        100.0 * times[1].item<double>() / std::max(busy, 1e-9));
  }
  return counts[2].item<int64_t>() + counts[3].item<int64_t>() > 0 ? 1 : 0;
}
