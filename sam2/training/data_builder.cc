#include "sam2/training/data_builder.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "configs/choices.h"
#include "data/datasets/sample_source.h"
#include "data/datasets/vos_dataset.h"
#include "data/datasets/vos_raw_dataset.h"
#include "data/sampling/vos_sampler.h"

namespace sam2::training {
namespace {

using config::TransformConfig;
using config::VOSDatasetConfig;

absl::Status Prefixed(const absl::Status& s, const std::string& path) {
  return absl::Status(s.code(), absl::StrCat(path, ": ", s.message()));
}

template <typename T>
std::vector<std::string> Excluded(const T& raw) {
  if (raw.excluded_videos_list_txt().empty()) return {};
  return {raw.excluded_videos_list_txt()};
}

absl::StatusOr<std::shared_ptr<const data::VosRawDataset>> BuildRaw(
    const VOSDatasetConfig& d, const std::string& path) {
  switch (d.raw_case()) {
    case VOSDatasetConfig::kPng: {
      data::PngRawDatasetOptions o;
      o.img_folder = d.png().img_folder();
      o.gt_folder = d.png().gt_folder();
      o.file_list_txt = d.png().file_list_txt();
      o.excluded_videos_list_txts = Excluded(d.png());
      o.sample_rate = d.png().sample_rate();
      o.is_palette = d.png().is_palette();
      o.single_object_mode = d.png().single_object_mode();
      o.truncate_video = d.png().truncate_video();
      o.frames_sampling_mult = d.png().frames_sampling_mult();
      auto raw = data::PngRawDataset::Create(o);
      if (!raw.ok()) return Prefixed(raw.status(), path + ".png");
      return std::shared_ptr<const data::VosRawDataset>(std::move(*raw));
    }
    case VOSDatasetConfig::kSa1B: {
      data::Sa1bRawDatasetOptions o;
      o.img_folder = d.sa1b().img_folder();
      o.gt_folder = d.sa1b().gt_folder();
      o.file_list_txt = d.sa1b().file_list_txt();
      o.excluded_videos_list_txts = Excluded(d.sa1b());
      o.num_frames = d.sa1b().num_frames();
      o.mask_area_frac_thresh = d.sa1b().mask_area_frac_thresh();
      o.uncertain_iou = d.sa1b().uncertain_iou();
      auto raw = data::Sa1bRawDataset::Create(o);
      if (!raw.ok()) return Prefixed(raw.status(), path + ".sa1b");
      return std::shared_ptr<const data::VosRawDataset>(std::move(*raw));
    }
    case VOSDatasetConfig::kSav: {
      data::JsonRawDatasetOptions o;
      o.img_folder = d.sav().img_folder();
      o.gt_folder = d.sav().gt_folder();
      o.file_list_txt = d.sav().file_list_txt();
      o.excluded_videos_list_txts = Excluded(d.sav());
      o.sample_rate = d.sav().sample_rate();
      o.rm_unannotated = d.sav().rm_unannotated();
      o.ann_every = d.sav().ann_every();
      o.frames_fps = d.sav().frames_fps();
      auto raw = data::JsonRawDataset::Create(o);
      if (!raw.ok()) return Prefixed(raw.status(), path + ".sav");
      return std::shared_ptr<const data::VosRawDataset>(std::move(*raw));
    }
    case VOSDatasetConfig::RAW_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(path + ": no raw dataset");
}

// The config's string at the boundary: the reference raises
// NotImplementedError for anything but "bicubic" / "bilinear".
// The config's parsed choice onto the data pipeline's own enum (data/ does
// not depend on configs/).
absl::StatusOr<data::ImageInterpolation> ImageInterpolationOf(
    const std::string& name) {
  SAM2_ASSIGN_OR_RETURN(const config::ImageInterpolation choice,
                        config::ParseChoice<config::ImageInterpolation>(name));
  switch (choice) {
    case config::ImageInterpolation::kBicubic:
      return data::ImageInterpolation::kBicubic;
    case config::ImageInterpolation::kBilinear:
      return data::ImageInterpolation::kBilinear;
  }
  return absl::InternalError("unhandled image interpolation");
}

absl::StatusOr<std::unique_ptr<data::Transform>> BuildOne(
    const TransformConfig& t, const std::string& path) {
  using Ptr = std::unique_ptr<data::Transform>;
  auto wrap = [&](auto created) -> absl::StatusOr<Ptr> {
    if (!created.ok()) return Prefixed(created.status(), path);
    return Ptr(std::move(*created));
  };
  switch (t.kind_case()) {
    case TransformConfig::kRandomHorizontalFlip:
      return Ptr(std::make_unique<data::RandomHorizontalFlip>(
          t.random_horizontal_flip().consistent_transform(),
          t.random_horizontal_flip().p()));
    case TransformConfig::kRandomAffine: {
      const auto& a = t.random_affine();
      data::RandomAffineOptions o;
      o.degrees = {a.degrees()};
      o.consistent_transform = a.consistent_transform();
      if (a.scale_size() == 2) o.scale = data::Range{a.scale(0), a.scale(1)};
      if (a.translate_size() == 2) {
        o.translate = std::array<double, 2>{a.translate(0), a.translate(1)};
      }
      o.shear.assign(a.shear().begin(), a.shear().end());
      if (a.image_mean_size() == 3) {
        o.image_mean = {static_cast<uint8_t>(a.image_mean(0)),
                        static_cast<uint8_t>(a.image_mean(1)),
                        static_cast<uint8_t>(a.image_mean(2))};
      }
      o.log_warning = a.log_warning();
      o.num_tentatives = a.num_tentatives();
      SAM2_ASSIGN_OR_RETURN_CONTEXT(
          o.image_interpolation, ImageInterpolationOf(a.image_interpolation()),
          path + ".random_affine.image_interpolation");
      return wrap(data::RandomAffine::Create(o));
    }
    case TransformConfig::kRandomResize: {
      const auto& r = t.random_resize();
      std::optional<int> max_size;
      if (r.has_max_size()) max_size = r.max_size();
      return wrap(data::RandomResize::Create(
          std::vector<int>(r.sizes().begin(), r.sizes().end()),
          r.consistent_transform(), max_size, r.square()));
    }
    case TransformConfig::kColorJitter: {
      const auto& c = t.color_jitter();
      std::optional<double> hue;
      if (c.has_hue()) hue = c.hue();
      return wrap(data::ColorJitter::FromScalars(c.consistent_transform(),
                                                 c.brightness(), c.contrast(),
                                                 c.saturation(), hue));
    }
    case TransformConfig::kRandomGrayscale:
      return Ptr(std::make_unique<data::RandomGrayscale>(
          t.random_grayscale().consistent_transform(),
          t.random_grayscale().p()));
    case TransformConfig::kToTensor:
      return Ptr(std::make_unique<data::ToTensor>());
    case TransformConfig::kNormalize: {
      const auto& n = t.normalize();
      if (n.mean_size() != 3 || n.std_size() != 3) {
        return absl::InvalidArgumentError(path + ": needs 3 means and stds");
      }
      return Ptr(std::make_unique<data::Normalize>(
          std::array<float, 3>{n.mean(0), n.mean(1), n.mean(2)},
          std::array<float, 3>{n.std(0), n.std(1), n.std(2)}));
    }
    case TransformConfig::kRandomMosaicVideo: {
      const auto& m = t.random_mosaic_video();
      return wrap(data::RandomMosaicVideo::Create(
          m.prob(), m.grid_h(), m.grid_w(), m.use_random_hflip()));
    }
    case TransformConfig::KIND_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(path + ": no transform");
}

}  // namespace

absl::StatusOr<std::shared_ptr<const data::VosRawDataset>> BuildRawDataset(
    const config::VOSDatasetConfig& config, const std::string& path) {
  return BuildRaw(config, path);
}

absl::StatusOr<std::unique_ptr<data::Transform>> BuildTransforms(
    const google::protobuf::RepeatedPtrField<TransformConfig>& configs,
    const std::string& path) {
  std::vector<std::unique_ptr<data::Transform>> transforms;
  for (int i = 0; i < configs.size(); ++i) {
    auto t = BuildOne(configs.Get(i), absl::StrCat(path, "[", i, "]"));
    if (!t.ok()) return t.status();
    transforms.push_back(std::move(*t));
  }
  return std::unique_ptr<data::Transform>(
      std::make_unique<data::Compose>(std::move(transforms)));
}

absl::StatusOr<std::unique_ptr<data::DataLoader>> BuildDataLoader(
    const config::MixedDatasetConfig& config, const DataBuildContext& context,
    const std::string& path) {
  std::vector<data::DatasetGroup> groups;
  std::vector<double> probs;
  bool any_prob = false;
  for (int g = 0; g < config.datasets_size(); ++g) {
    const config::DatasetGroupConfig& group = config.datasets(g);
    const std::string gp = absl::StrCat(path, ".datasets[", g, "]");
    std::vector<std::shared_ptr<const data::SampleSource>> parts;
    for (int i = 0; i < group.concat_size(); ++i) {
      const VOSDatasetConfig& d = group.concat(i);
      const std::string dp = absl::StrCat(gp, ".concat[", i, "]");
      auto raw = BuildRaw(d, dp);
      if (!raw.ok()) return raw.status();
      std::shared_ptr<const data::VosSampler> sampler;
      if (d.has_random_uniform_sampler()) {
        const auto& s = d.random_uniform_sampler();
        sampler = std::make_shared<data::RandomUniformSampler>(
            s.num_frames(), s.max_num_objects(), s.reverse_time_prob());
      } else {
        sampler =
            std::make_shared<data::EvalSampler>(d.eval_sampler().sort_frames());
      }
      auto transforms = BuildTransforms(d.transforms(), dp + ".transforms");
      if (!transforms.ok()) return transforms.status();
      data::VosDatasetOptions options;
      options.training = d.training();
      options.multiplier = d.multiplier();
      options.always_target = d.always_target();
      options.target_segments_available = d.target_segments_available();
      options.max_retries = config.max_bad_sample_retries();
      parts.push_back(std::make_shared<data::VosDataset>(
          std::move(*raw), std::move(sampler),
          std::shared_ptr<const data::Transform>(std::move(*transforms)),
          options));
    }
    std::shared_ptr<const data::SampleSource> dataset =
        parts.size() == 1
            ? parts[0]
            : std::make_shared<data::ConcatDataset>(std::move(parts));
    groups.push_back({dataset, group.batch_size(), true});
    probs.push_back(group.has_prob() ? group.prob() : 0.0);
    any_prob = any_prob || group.has_prob();
  }
  data::LoaderOptions options;
  options.num_workers = config.num_workers();
  options.prefetch_batches = config.prefetch_batches();
  options.seed = context.seed;
  options.num_shards = context.num_shards;
  options.first_shard = context.first_shard;
  options.shards_here = context.shards_here;
  options.shuffle = config.shuffle();
  options.drop_last = config.drop_last();
  options.phases_per_epoch = config.phases_per_epoch();
  if (any_prob) options.dataset_prob = probs;
  options.dict_key = config.dict_key();
  options.shuffle_seed = context.seed;
  options.repeat_factor_seed = context.seed;
  options.on_warning = context.on_warning;
  auto loader = data::DataLoader::Create(std::move(groups), options);
  if (!loader.ok()) return Prefixed(loader.status(), path);
  return std::move(*loader);
}

std::vector<std::pair<std::string, double>> LoaderBatchSource::Counters()
    const {
  const data::DataStats& s = loader_->stats();
  return {{"bad_samples_skipped", static_cast<double>(s.bad_samples_skipped)},
          {"affine_skipped", static_cast<double>(s.affine_skipped)},
          {"samples_loaded", static_cast<double>(s.samples_loaded)}};
}

}  // namespace sam2::training
