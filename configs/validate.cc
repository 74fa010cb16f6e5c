// Semantic validation of a resolved experiment: everything a run would
// otherwise discover only after minutes of start-up (or never: a wrong RoPE
// size silently trains a different model).
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "configs/choices.h"
#include "configs/loader.h"

namespace sam2::config {
namespace {

struct Problem {
  std::string path;
  std::string message;
};

class Checker {
 public:
  explicit Checker(const FieldLocations& locations) : locations_(locations) {}

  void Fail(const std::string& path, const std::string& message) {
    problems_.push_back({path, message});
  }
  void Require(bool ok, const std::string& path, const std::string& message) {
    if (!ok) Fail(path, message);
  }
  void Positive(int64_t value, const std::string& path) {
    Require(value > 0, path, absl::StrCat("must be > 0, got ", value));
  }
  void Probability(double value, const std::string& path) {
    Require(
        value >= 0.0 && value <= 1.0, path,
        absl::StrCat("is a probability and must be in [0, 1], got ", value));
  }
  // A string choice: parsed by the same parser the builders use
  // (configs/choices.h), so that what validates also builds.
  template <typename E>
  void Choice(const std::string& value, const std::string& path,
              const std::string& note = "") {
    absl::StatusOr<E> parsed = ParseChoice<E>(value);
    if (!parsed.ok()) {
      Fail(path, absl::StrCat(parsed.status().message(), note));
    }
  }
  void ExistingPath(const std::string& value, const std::string& path,
                    bool directory) {
    std::error_code ec;
    const bool exists = directory ? std::filesystem::is_directory(value, ec)
                                  : std::filesystem::is_regular_file(value, ec);
    Require(exists, path,
            absl::StrCat(directory ? "directory " : "file ", value,
                         " does not exist"));
  }

  absl::Status Result() const {
    if (problems_.empty()) return absl::OkStatus();
    std::vector<std::string> lines;
    for (const Problem& p : problems_) {
      lines.push_back(absl::StrCat(Where(p.path), p.path, ": ", p.message));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid config (", problems_.size(), " problem",
        problems_.size() == 1 ? "" : "s", "):\n", absl::StrJoin(lines, "\n")));
  }

 private:
  // The location of the field, or of its closest ancestor that was written
  // in a file, or nothing if it comes from the defaults.
  std::string Where(std::string path) const {
    while (!path.empty()) {
      auto it = locations_.find(path);
      if (it != locations_.end()) return it->second + ": ";
      const size_t cut = path.find_last_of(".[");
      if (cut == std::string::npos) break;
      path = path.substr(0, cut);
    }
    return "";
  }

  const FieldLocations& locations_;
  std::vector<Problem> problems_;
};

std::string Join(const google::protobuf::RepeatedField<int32_t>& values) {
  return absl::StrCat("[", absl::StrJoin(values, ", "), "]");
}

void CheckTrunk(const HieraConfig& trunk, const std::string& p, Checker& c) {
  c.Positive(trunk.embed_dim(), p + ".embed_dim");
  c.Positive(trunk.num_heads(), p + ".num_heads");
  c.Require(!trunk.stages().empty(), p + ".stages", "must not be empty");
  int total_blocks = 0;
  for (int s : trunk.stages()) {
    c.Require(s > 0, p + ".stages", "every stage needs at least one block");
    total_blocks += s;
  }
  c.Require(
      trunk.window_spec_size() == trunk.stages_size(), p + ".window_spec",
      absl::StrCat("needs one window size per stage (", trunk.stages_size(),
                   "), got ", trunk.window_spec_size()));
  c.Require(trunk.q_pool() >= 0 && trunk.q_pool() < trunk.stages_size(),
            p + ".q_pool",
            absl::StrCat("must be in [0, number of stages - 1 = ",
                         trunk.stages_size() - 1, "], got ", trunk.q_pool()));
  c.Require(trunk.q_stride_size() == 2, p + ".q_stride",
            "must have two values [h, w]");
  c.Require(trunk.window_pos_embed_bkg_spatial_size_size() == 2,
            p + ".window_pos_embed_bkg_spatial_size",
            "must have two values [h, w]");
  for (int b : trunk.global_att_blocks()) {
    c.Require(b >= 0 && b < total_blocks, p + ".global_att_blocks",
              absl::StrCat("block ", b, " does not exist (the trunk has ",
                           total_blocks, " blocks)"));
  }
  c.Require(trunk.drop_path_rate() >= 0 && trunk.drop_path_rate() < 1,
            p + ".drop_path_rate", "must be in [0, 1)");
}

void CheckImageEncoder(const ModelConfig& model, Checker& c) {
  const std::string p = "model.image_encoder";
  if (!model.has_image_encoder() || !model.image_encoder().has_trunk() ||
      !model.image_encoder().has_neck()) {
    c.Fail(p,
           "needs a trunk { ... } and a neck { ... } (or name a "
           "model_preset such as \"sam2.1_hiera_b+\")");
    return;
  }
  const HieraConfig& trunk = model.image_encoder().trunk();
  const FpnNeckConfig& neck = model.image_encoder().neck();
  CheckTrunk(trunk, p + ".trunk", c);
  // The neck consumes the trunk's stages from the deepest to the first.
  std::vector<int> expected;
  double dim = trunk.embed_dim();
  for (int i = 0; i < trunk.stages_size(); ++i) {
    expected.insert(expected.begin(), static_cast<int>(dim));
    dim *= trunk.dim_mul();
  }
  const std::vector<int> actual(neck.backbone_channel_list().begin(),
                                neck.backbone_channel_list().end());
  c.Require(
      actual == expected, p + ".neck.backbone_channel_list",
      absl::StrCat("is ", Join(neck.backbone_channel_list()),
                   " but the trunk (embed_dim ", trunk.embed_dim(),
                   ", dim_mul ", trunk.dim_mul(), ", ", trunk.stages_size(),
                   " stages) produces [", absl::StrJoin(expected, ", "), "]"));
  c.Positive(neck.d_model(), p + ".neck.d_model");
  c.Choice<FpnInterpMode>(neck.fpn_interp_model(),
                          p + ".neck.fpn_interp_model");
  c.Choice<FpnFuseType>(neck.fuse_type(), p + ".neck.fuse_type");
  for (int level : neck.fpn_top_down_levels()) {
    c.Require(level >= 0 && level < neck.backbone_channel_list_size(),
              p + ".neck.fpn_top_down_levels",
              absl::StrCat("level ", level, " does not exist"));
  }
  c.Require(model.image_encoder().scalp() >= 0 &&
                model.image_encoder().scalp() < trunk.stages_size(),
            p + ".scalp", "must be in [0, number of stages)");
  if (neck.has_position_encoding()) {
    c.Require(neck.position_encoding().num_pos_feats() == neck.d_model(),
              p + ".neck.position_encoding.num_pos_feats",
              absl::StrCat("must equal neck.d_model (", neck.d_model(), ")"));
  }
}

void CheckRope(const RoPEAttentionConfig& rope, const ModelConfig& model,
               const std::string& p, Checker& c) {
  c.Positive(rope.embedding_dim(), p + ".embedding_dim");
  c.Positive(rope.num_heads(), p + ".num_heads");
  c.Require(
      rope.num_heads() > 0 && rope.embedding_dim() % rope.num_heads() == 0,
      p + ".num_heads", "must divide embedding_dim");
  const int side = model.backbone_stride() > 0
                       ? model.image_size() / model.backbone_stride()
                       : 0;
  const bool matches = rope.feat_sizes_size() == 2 &&
                       rope.feat_sizes(0) == side && rope.feat_sizes(1) == side;
  c.Require(matches, p + ".feat_sizes",
            absl::StrCat("is ", Join(rope.feat_sizes()),
                         " but must equal model.image_size / "
                         "model.backbone_stride = ",
                         model.image_size(), " / ", model.backbone_stride(),
                         " in both dimensions: set feat_sizes: [", side, ", ",
                         side, "]"));
  c.Probability(rope.dropout(), p + ".dropout");
}

void CheckMemory(const ModelConfig& model, Checker& c) {
  if (!model.has_memory_attention() || !model.memory_attention().has_layer() ||
      !model.memory_attention().layer().has_self_attention() ||
      !model.memory_attention().layer().has_cross_attention()) {
    c.Fail("model.memory_attention",
           "needs layer { self_attention { ... } cross_attention { ... } }");
    return;
  }
  const MemoryAttentionConfig& attention = model.memory_attention();
  const MemoryAttentionLayerConfig& layer = attention.layer();
  const std::string p = "model.memory_attention";
  c.Positive(attention.num_layers(), p + ".num_layers");
  CheckRope(layer.self_attention(), model, p + ".layer.self_attention", c);
  CheckRope(layer.cross_attention(), model, p + ".layer.cross_attention", c);
  c.Choice<Activation>(layer.activation(), p + ".layer.activation");
  c.Probability(layer.dropout(), p + ".layer.dropout");
  const int neck_dim = model.image_encoder().neck().d_model();
  c.Require(attention.d_model() == neck_dim, p + ".d_model",
            absl::StrCat("must equal the neck's d_model (", neck_dim, ")"));
  c.Require(layer.d_model() == attention.d_model(), p + ".layer.d_model",
            absl::StrCat("must equal memory_attention.d_model (",
                         attention.d_model(), ")"));
  if (!model.has_memory_encoder()) {
    c.Fail("model.memory_encoder", "is required");
    return;
  }
  const MemoryEncoderConfig& encoder = model.memory_encoder();
  c.Positive(encoder.out_dim(), "model.memory_encoder.out_dim");
  c.Require(encoder.in_dim() == attention.d_model(),
            "model.memory_encoder.in_dim",
            absl::StrCat("must equal memory_attention.d_model (",
                         attention.d_model(), ")"));
  const int kv_dim = layer.cross_attention().has_kv_in_dim()
                         ? layer.cross_attention().kv_in_dim()
                         : layer.cross_attention().embedding_dim();
  c.Require(
      kv_dim == encoder.out_dim(), p + ".layer.cross_attention.kv_in_dim",
      absl::StrCat("is ", kv_dim, " but must equal memory_encoder.out_dim (",
                   encoder.out_dim(), "): memories are the keys"));
  if (encoder.has_fuser() && encoder.fuser().has_layer()) {
    c.Require(encoder.fuser().layer().dim() == encoder.in_dim(),
              "model.memory_encoder.fuser.layer.dim",
              absl::StrCat("must equal memory_encoder.in_dim (",
                           encoder.in_dim(), ")"));
  }
}

void CheckModel(const Experiment& e, Checker& c) {
  if (!e.has_model()) {
    c.Fail("model",
           "is missing: set model_preset (e.g. \"sam2.1_hiera_b+\") "
           "or a model { ... } block");
    return;
  }
  const ModelConfig& m = e.model();
  c.Positive(m.image_size(), "model.image_size");
  c.Positive(m.backbone_stride(), "model.backbone_stride");
  if (m.backbone_stride() > 0) {
    c.Require(m.image_size() % m.backbone_stride() == 0, "model.image_size",
              absl::StrCat("must be a multiple of backbone_stride (",
                           m.backbone_stride(), ")"));
  }
  c.Positive(m.num_maskmem(), "model.num_maskmem");
  CheckImageEncoder(m, c);
  CheckMemory(m, c);
  c.Probability(m.prob_to_use_pt_input_for_train(),
                "model.prob_to_use_pt_input_for_train");
  c.Probability(m.prob_to_use_pt_input_for_eval(),
                "model.prob_to_use_pt_input_for_eval");
  c.Probability(m.prob_to_use_box_input_for_train(),
                "model.prob_to_use_box_input_for_train");
  c.Probability(m.prob_to_use_box_input_for_eval(),
                "model.prob_to_use_box_input_for_eval");
  c.Probability(m.prob_to_sample_from_gt_for_train(),
                "model.prob_to_sample_from_gt_for_train");
  c.Positive(m.num_init_cond_frames_for_train(),
             "model.num_init_cond_frames_for_train");
  c.Positive(m.num_init_cond_frames_for_eval(),
             "model.num_init_cond_frames_for_eval");
  // With point prompts, correction clicks go to every initial conditioning
  // frame, so there must be at least as many frames to correct.
  if (m.prob_to_use_pt_input_for_train() > 0 ||
      m.prob_to_use_pt_input_for_eval() > 0) {
    c.Require(m.num_frames_to_correct_for_train() >=
                  m.num_init_cond_frames_for_train(),
              "model.num_frames_to_correct_for_train",
              absl::StrCat("is ", m.num_frames_to_correct_for_train(),
                           " but must be >= num_init_cond_frames_for_train (",
                           m.num_init_cond_frames_for_train(), ")"));
    c.Require(
        m.num_frames_to_correct_for_eval() >= m.num_init_cond_frames_for_eval(),
        "model.num_frames_to_correct_for_eval",
        absl::StrCat("is ", m.num_frames_to_correct_for_eval(),
                     " but must be >= num_init_cond_frames_for_eval (",
                     m.num_init_cond_frames_for_eval(), ")"));
  }
  c.Require(m.num_correction_pt_per_frame() >= 0,
            "model.num_correction_pt_per_frame", "must be >= 0");
  c.Choice<PointSampling>(m.pt_sampling_for_eval(),
                          "model.pt_sampling_for_eval");
  c.Require(m.multimask_min_pt_num() <= m.multimask_max_pt_num(),
            "model.multimask_min_pt_num", "must be <= multimask_max_pt_num");
}

// Our loader runs the geometric and colour transforms on 8-bit frames and
// Normalize on the float frames that to_tensor makes (torchvision accepts
// either for most), so the order is checked here rather than at the first
// sample.
void CheckTransformOrder(const VOSDatasetConfig& d, const std::string& p,
                         Checker& c) {
  int to_tensor_index = -1;
  for (int i = 0; i < d.transforms_size(); ++i) {
    const TransformConfig& t = d.transforms(i);
    const std::string tp = absl::StrCat(p, ".transforms[", i, "]");
    const bool after_to_tensor = to_tensor_index >= 0;
    switch (t.kind_case()) {
      case TransformConfig::kToTensor:
        c.Require(!after_to_tensor, tp + ".to_tensor",
                  absl::StrCat("repeats transforms[", to_tensor_index,
                               "].to_tensor: keep one"));
        if (!after_to_tensor) to_tensor_index = i;
        break;
      case TransformConfig::kNormalize:
        c.Require(after_to_tensor, tp + ".normalize",
                  "needs a to_tensor transform before it");
        break;
      case TransformConfig::kRandomAffine:
      case TransformConfig::kRandomResize:
      case TransformConfig::kColorJitter:
      case TransformConfig::kRandomGrayscale:
      case TransformConfig::kRandomMosaicVideo:
        c.Require(!after_to_tensor, tp,
                  absl::StrCat("must come before transforms[", to_tensor_index,
                               "].to_tensor (it works on 8-bit frames)"));
        break;
      default:
        break;
    }
  }
}

void CheckTransforms(const VOSDatasetConfig& d, const std::string& p,
                     Checker& c) {
  CheckTransformOrder(d, p, c);
  for (int i = 0; i < d.transforms_size(); ++i) {
    const TransformConfig& t = d.transforms(i);
    const std::string tp = absl::StrCat(p, ".transforms[", i, "]");
    switch (t.kind_case()) {
      case TransformConfig::KIND_NOT_SET:
        c.Fail(tp, "names no transform");
        break;
      case TransformConfig::kRandomResize:
        c.Require(!t.random_resize().sizes().empty(),
                  tp + ".random_resize.sizes", "must list at least one size");
        for (int s : t.random_resize().sizes()) {
          c.Positive(s, tp + ".random_resize.sizes");
        }
        break;
      case TransformConfig::kRandomHorizontalFlip:
        c.Probability(t.random_horizontal_flip().p(),
                      tp + ".random_horizontal_flip.p");
        break;
      case TransformConfig::kRandomGrayscale:
        c.Probability(t.random_grayscale().p(), tp + ".random_grayscale.p");
        break;
      case TransformConfig::kColorJitter:
        c.Require(t.color_jitter().hue() >= 0 && t.color_jitter().hue() <= 0.5,
                  tp + ".color_jitter.hue", "must be in [0, 0.5]");
        break;
      case TransformConfig::kNormalize:
        c.Require(
            t.normalize().mean_size() == 3 && t.normalize().std_size() == 3,
            tp + ".normalize", "needs 3 means and 3 stds");
        for (float s : t.normalize().std()) {
          c.Require(s > 0, tp + ".normalize.std", "must be > 0");
        }
        break;
      case TransformConfig::kRandomAffine: {
        const RandomAffineConfig& a = t.random_affine();
        c.Require(a.scale_size() == 0 || a.scale_size() == 2,
                  tp + ".random_affine.scale", "must be empty or [min, max]");
        c.Require(a.translate_size() == 0 || a.translate_size() == 2,
                  tp + ".random_affine.translate", "must be empty or [dx, dy]");
        c.Require(a.shear_size() <= 4, tp + ".random_affine.shear",
                  "takes at most 4 values");
        c.Choice<ImageInterpolation>(
            a.image_interpolation(), tp + ".random_affine.image_interpolation",
            " (the reference's RandomAffine implements bicubic and bilinear "
            "only)");
        break;
      }
      case TransformConfig::kRandomMosaicVideo:
        c.Probability(t.random_mosaic_video().prob(),
                      tp + ".random_mosaic_video.prob");
        break;
      case TransformConfig::kToTensor:
        break;
    }
  }
}

void CheckRawDataset(const VOSDatasetConfig& d, const std::string& p,
                     const ValidationOptions& options, Checker& c) {
  auto folders = [&](const std::string& img, const std::string& gt,
                     const std::string& file_list, const std::string& rp) {
    c.Require(!img.empty(), rp + ".img_folder",
              "is not set: edit the config or pass --set with the dataset's "
              "image folder");
    c.Require(!gt.empty(), rp + ".gt_folder",
              "is not set: edit the config or pass --set with the dataset's "
              "annotation folder");
    if (!options.check_paths) return;
    if (!img.empty()) c.ExistingPath(img, rp + ".img_folder", true);
    if (!gt.empty()) c.ExistingPath(gt, rp + ".gt_folder", true);
    if (!file_list.empty())
      c.ExistingPath(file_list, rp + ".file_list_txt", false);
  };
  switch (d.raw_case()) {
    case VOSDatasetConfig::kPng:
      folders(d.png().img_folder(), d.png().gt_folder(),
              d.png().file_list_txt(), p + ".png");
      c.Positive(d.png().sample_rate(), p + ".png.sample_rate");
      break;
    case VOSDatasetConfig::kSa1B:
      folders(d.sa1b().img_folder(), d.sa1b().gt_folder(),
              d.sa1b().file_list_txt(), p + ".sa1b");
      break;
    case VOSDatasetConfig::kSav:
      folders(d.sav().img_folder(), d.sav().gt_folder(),
              d.sav().file_list_txt(), p + ".sav");
      c.Positive(d.sav().ann_every(), p + ".sav.ann_every");
      break;
    case VOSDatasetConfig::RAW_NOT_SET:
      c.Fail(p,
             "needs a raw dataset: png { ... }, sa1b { ... } or sav { ... }");
      break;
  }
}

void CheckMixed(const MixedDatasetConfig& mixed, const std::string& p,
                const ValidationOptions& options, Checker& c) {
  c.Require(!mixed.datasets().empty(), p + ".datasets",
            "must name at least one dataset");
  c.Positive(mixed.phases_per_epoch(), p + ".phases_per_epoch");
  c.Require(mixed.num_workers() >= 0, p + ".num_workers", "must be >= 0");
  c.Positive(mixed.prefetch_batches(), p + ".prefetch_batches");
  for (int g = 0; g < mixed.datasets_size(); ++g) {
    const DatasetGroupConfig& group = mixed.datasets(g);
    const std::string gp = absl::StrCat(p, ".datasets[", g, "]");
    c.Positive(group.batch_size(), gp + ".batch_size");
    c.Require(!group.concat().empty(), gp + ".concat",
              "must list at least one VOS dataset");
    if (group.has_prob()) {
      c.Require(group.prob() > 0, gp + ".prob", "must be > 0");
    }
    for (int i = 0; i < group.concat_size(); ++i) {
      const VOSDatasetConfig& d = group.concat(i);
      const std::string dp = absl::StrCat(gp, ".concat[", i, "]");
      CheckRawDataset(d, dp, options, c);
      CheckTransforms(d, dp, c);
      c.Require(d.multiplier() > 0, dp + ".multiplier", "must be > 0");
      if (d.has_random_uniform_sampler()) {
        c.Positive(d.random_uniform_sampler().num_frames(),
                   dp + ".random_uniform_sampler.num_frames");
        c.Positive(d.random_uniform_sampler().max_num_objects(),
                   dp + ".random_uniform_sampler.max_num_objects");
        c.Probability(d.random_uniform_sampler().reverse_time_prob(),
                      dp + ".random_uniform_sampler.reverse_time_prob");
      } else if (!d.has_eval_sampler()) {
        c.Fail(dp,
               "needs a sampler: random_uniform_sampler { ... } or "
               "eval_sampler { }");
      }
    }
  }
}

void CheckScheduler(const SchedulerConfig& s, const std::string& p,
                    Checker& c) {
  switch (s.kind_case()) {
    case SchedulerConfig::KIND_NOT_SET:
      c.Fail(p,
             "names no scheduler (constant, cosine, linear, multi_step, "
             "step, composite, exponential, polynomial_decay or "
             "step_with_fixed_gamma)");
      break;
    case SchedulerConfig::kConstant:
      c.Require(s.constant().has_value(), p + ".constant.value", "is required");
      break;
    case SchedulerConfig::kCosine:
      c.Require(s.cosine().has_start_value() && s.cosine().has_end_value(),
                p + ".cosine", "needs start_value and end_value");
      break;
    case SchedulerConfig::kLinear:
      c.Require(s.linear().has_start_value() && s.linear().has_end_value(),
                p + ".linear", "needs start_value and end_value");
      break;
    case SchedulerConfig::kMultiStep: {
      const auto& m = s.multi_step();
      c.Require(!m.values().empty(), p + ".multi_step.values",
                "must not be empty");
      if (!m.milestones().empty()) {
        c.Require(m.milestones_size() == m.values_size() - 1,
                  p + ".multi_step.milestones",
                  "needs one milestone fewer than values");
      } else {
        c.Require(m.num_updates() > 0, p + ".multi_step.num_updates",
                  "is required when milestones are not given");
      }
      break;
    }
    case SchedulerConfig::kStep:
      c.Require(s.step().num_updates() > 0 && !s.step().values().empty(),
                p + ".step", "needs num_updates > 0 and values");
      break;
    case SchedulerConfig::kExponential:
      c.Require(
          s.exponential().has_start_value() && s.exponential().has_decay(),
          p + ".exponential", "needs start_value and decay");
      break;
    case SchedulerConfig::kPolynomialDecay:
      c.Require(s.polynomial_decay().has_base_value() &&
                    s.polynomial_decay().has_power(),
                p + ".polynomial_decay", "needs base_value and power");
      break;
    case SchedulerConfig::kStepWithFixedGamma: {
      // fvcore's own checks.
      const auto& g = s.step_with_fixed_gamma();
      c.Require(g.base_value() > 0 && g.gamma() > 0,
                p + ".step_with_fixed_gamma",
                "needs base_value > 0 and gamma > 0");
      c.Require(g.num_decays() > 0 && g.num_updates() > 0,
                p + ".step_with_fixed_gamma",
                "needs num_decays > 0 and num_updates > 0");
      break;
    }
    case SchedulerConfig::kComposite: {
      const auto& comp = s.composite();
      c.Require(comp.schedulers_size() == comp.lengths_size() &&
                    comp.schedulers_size() > 0,
                p + ".composite", "needs one length per scheduler");
      double total = 0;
      for (double l : comp.lengths()) total += l;
      c.Require(std::abs(total - 1.0) < 1e-3, p + ".composite.lengths",
                absl::StrCat("must sum to 1, sum to ", total));
      for (const std::string& mode : comp.interval_scaling()) {
        c.Choice<IntervalScaling>(mode, p + ".composite.interval_scaling");
      }
      for (int i = 0; i < comp.schedulers_size(); ++i) {
        CheckScheduler(comp.schedulers(i),
                       absl::StrCat(p, ".composite.schedulers[", i, "]"), c);
      }
      break;
    }
  }
}

void CheckOptionList(
    const google::protobuf::RepeatedPtrField<ParamOptionConfig>& options,
    const std::string& p, Checker& c) {
  c.Require(!options.empty(), p, "needs at least one entry (the default)");
  int defaults = 0;
  for (int i = 0; i < options.size(); ++i) {
    const ParamOptionConfig& o = options.Get(i);
    const std::string op = absl::StrCat(p, "[", i, "]");
    if (o.param_names().empty() && o.module_cls_names().empty()) ++defaults;
    if (!o.has_scheduler()) {
      c.Fail(op + ".scheduler", "is required");
    } else {
      CheckScheduler(o.scheduler(), op + ".scheduler", c);
    }
  }
  c.Require(defaults <= 1, p,
            "has more than one default entry (no param_names and no "
            "module_cls_names)");
}

void CheckValVos(const VOSValidationConfig& v,
                 const ValidationOptions& options, Checker& c) {
  const std::string p = "data.val_vos";
  c.Require(!v.img_folder().empty(), p + ".img_folder",
            "is not set: name the folder of the validation videos' frames "
            "(<video>/<frame>.jpg)");
  c.Require(!v.gt_folder().empty(), p + ".gt_folder",
            "is not set: name the folder of their annotations "
            "(<video>/<frame>.png, palettised object ids)");
  c.Require(v.max_videos() >= 0, p + ".max_videos", "must be >= 0 (0: all)");
  c.Require(v.num_pictures() >= 0, p + ".num_pictures",
            "must be >= 0 (0: none)");
  c.Positive(v.picture_max_frames(), p + ".picture_max_frames");
  if (!options.check_paths) return;
  if (!v.img_folder().empty()) {
    c.ExistingPath(v.img_folder(), p + ".img_folder", true);
  }
  if (!v.gt_folder().empty()) {
    c.ExistingPath(v.gt_folder(), p + ".gt_folder", true);
  }
  if (v.has_file_list_txt()) {
    c.ExistingPath(v.file_list_txt(), p + ".file_list_txt", false);
  }
}

void CheckOptim(const Experiment& e, Checker& c) {
  const OptimConfig& o = e.optim();
  c.Choice<Optimizer>(o.optimizer(), "optim.optimizer");
  CheckOptionList(o.lr(), "optim.lr", c);
  if (!o.weight_decay().empty()) {
    CheckOptionList(o.weight_decay(), "optim.weight_decay", c);
  }
  if (o.has_layer_decay()) {
    c.Require(o.layer_decay().layer_decay_value() > 0 &&
                  o.layer_decay().layer_decay_value() <= 1,
              "optim.layer_decay.layer_decay_value", "must be in (0, 1]");
    if (o.layer_decay().has_layer_decay_min()) {
      c.Require(o.layer_decay().layer_decay_min() >= 0 &&
                    o.layer_decay().layer_decay_min() <= 1,
                "optim.layer_decay.layer_decay_min", "must be in [0, 1]");
    }
  }
  if (o.has_clip_max_norm()) {
    c.Require(o.clip_max_norm() > 0, "optim.clip_max_norm", "must be > 0");
  }
  c.Positive(o.gradient_accumulation_steps(),
             "optim.gradient_accumulation_steps");
  c.Choice<AmpDtype>(o.amp_dtype(), "optim.amp_dtype");
  c.Require(o.beta1() >= 0 && o.beta1() < 1, "optim.beta1",
            "must be in [0, 1)");
  c.Require(o.beta2() >= 0 && o.beta2() < 1, "optim.beta2",
            "must be in [0, 1)");
  c.Require(o.eps() > 0, "optim.eps", "must be > 0");
}

}  // namespace

absl::Status ValidateExperiment(const LoadedExperiment& loaded,
                                const ValidationOptions& options) {
  const Experiment& e = loaded.experiment;
  Checker c(loaded.locations);
  CheckModel(e, c);
  const TrainerConfig& t = e.trainer();
  const absl::StatusOr<TrainerMode> mode = ParseChoice<TrainerMode>(t.mode());
  if (!mode.ok()) c.Fail("trainer.mode", std::string(mode.status().message()));
  c.Choice<Accelerator>(t.accelerator(), "trainer.accelerator");
  c.Positive(t.max_epochs(), "trainer.max_epochs");
  c.Positive(t.val_epoch_freq(), "trainer.val_epoch_freq");
  c.Positive(t.max_consecutive_nonfinite_losses(),
             "trainer.max_consecutive_nonfinite_losses");
  c.Require(t.num_threads() >= 0, "trainer.num_threads", "must be >= 0");
  c.Require(t.blas_threads() >= 0, "trainer.blas_threads", "must be >= 0");
  c.Positive(e.logging().log_freq(), "logging.log_freq");
  c.Require(e.checkpoint().save_freq() >= 0, "checkpoint.save_freq",
            "must be >= 0 (0: only the last checkpoint)");
  c.Require(e.checkpoint().save_every_steps() >= 0,
            "checkpoint.save_every_steps", "must be >= 0");
  c.Positive(e.launcher().num_nodes(), "launcher.num_nodes");
  c.Positive(e.launcher().gpus_per_node(), "launcher.gpus_per_node");
  if (e.distributed().has_backend()) {
    c.Choice<DistributedBackend>(e.distributed().backend(),
                                 "distributed.backend");
  }
  if (e.distributed().has_comms_dtype()) {
    c.Choice<AmpDtype>(e.distributed().comms_dtype(),
                       "distributed.comms_dtype");
  }
  c.Require(e.distributed().timeout_mins() >= 0, "distributed.timeout_mins",
            "must be >= 0 (0: no timeout)");
  c.Require(e.distributed().startup_timeout_mins() >= 0,
            "distributed.startup_timeout_mins", "must be >= 0 (0: no timeout)");
  c.Require(t.exit_after_minutes() >= 0, "trainer.exit_after_minutes",
            "must be >= 0 (0: never)");
  // An unknown mode is reported above; the data checks then stop.
  const bool trains = mode.ok() && *mode != TrainerMode::kVal;
  const bool validates = mode.ok() && *mode != TrainerMode::kTrainOnly;
  if (options.require_train_data && trains) {
    if (!e.data().has_train()) {
      c.Fail("data.train", "is required for trainer.mode \"" + t.mode() + "\"");
    } else {
      CheckMixed(e.data().train(), "data.train", options, c);
    }
    CheckOptim(e, c);
  }
  // As the reference, mode "train" without a val dataset trains and skips
  // validation; mode "val" has nothing to do without one.
  if (options.require_train_data && validates) {
    if (e.data().has_val()) {
      CheckMixed(e.data().val(), "data.val", options, c);
    } else if (*mode == TrainerMode::kVal && !e.data().has_val_vos()) {
      c.Fail("data.val", "(or data.val_vos) is required for trainer.mode \"" +
                             t.mode() + "\"");
    }
    if (e.data().has_val_vos()) CheckValVos(e.data().val_vos(), options, c);
  }
  const auto& init = e.checkpoint().model_weight_initializer();
  if (e.checkpoint().has_model_weight_initializer()) {
    c.Require(!init.checkpoint_path().empty(),
              "checkpoint.model_weight_initializer.checkpoint_path",
              "is not set: name the checkpoint to start from (e.g. "
              "sam2.1_hiera_base_plus.pt) or remove model_weight_initializer");
    if (options.check_paths && !init.checkpoint_path().empty()) {
      c.ExistingPath(init.checkpoint_path(),
                     "checkpoint.model_weight_initializer.checkpoint_path",
                     false);
    }
  }
  return c.Result();
}

}  // namespace sam2::config
