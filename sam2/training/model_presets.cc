#include "sam2/training/model_presets.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace sam2::training {
namespace {

// Everything the official SAM 2.1 configs share, for a model of hidden
// dimension d_model (256 officially) at `image_size`.
modeling::SAM2BaseOptions CommonSam21Options(int64_t image_size) {
  modeling::SAM2BaseOptions o;
  modeling::FpnNeckOptions& neck = o.image_encoder.neck;
  o.image_encoder.scalp = 1;
  neck.position_encoding.num_pos_feats = 256;
  neck.position_encoding.normalize = true;
  neck.position_encoding.temperature = 10000;
  neck.d_model = 256;
  neck.fpn_top_down_levels = std::vector<int64_t>{2, 3};
  neck.fpn_interp_model = "nearest";

  // MemoryAttentionOptions / MemoryEncoderOptions default to the official
  // values; RoPE's grid follows the resolution (stride 16).
  const int64_t grid = image_size / 16;
  o.memory_attention.layer.self_attention.rope.feat_sizes = {grid, grid};
  o.memory_attention.layer.cross_attention.rope.feat_sizes = {grid, grid};

  o.num_maskmem = 7;
  o.image_size = image_size;
  o.sigmoid_scale_for_mem_enc = 20.0;
  o.sigmoid_bias_for_mem_enc = -10.0;
  o.use_mask_input_as_output_without_sam = true;
  o.directly_add_no_mem_embed = true;
  o.no_obj_embed_spatial = true;
  o.use_high_res_features_in_sam = true;
  o.multimask_output_in_sam = true;
  o.iou_prediction_use_sigmoid = true;
  o.use_obj_ptrs_in_encoder = true;
  o.add_tpos_enc_to_obj_ptrs = true;
  o.proj_tpos_enc_in_obj_ptrs = true;
  o.use_signed_tpos_enc_to_obj_ptrs = true;
  o.only_obj_ptrs_in_the_past_for_eval = true;
  o.pred_obj_scores = true;
  o.pred_obj_scores_mlp = true;
  o.fixed_no_obj_ptr = true;
  o.multimask_output_for_tracking = true;
  o.use_multimask_token_for_obj_ptr = true;
  o.multimask_min_pt_num = 0;
  o.multimask_max_pt_num = 1;
  o.use_mlp_for_obj_ptr_proj = true;
  o.compile_image_encoder = false;
  return o;
}

// The prompt simulation of the MOSE fine-tuning config.
void SetMoseTrainingKnobs(SAM2TrainOptions& o) {
  o.prob_to_use_pt_input_for_train = 0.5;
  o.prob_to_use_pt_input_for_eval = 0.0;
  o.prob_to_use_box_input_for_train = 0.5;
  o.prob_to_use_box_input_for_eval = 0.0;
  o.prob_to_sample_from_gt_for_train = 0.1;
  o.num_frames_to_correct_for_train = 2;
  o.num_frames_to_correct_for_eval = 1;
  o.rand_frames_to_correct_for_train = true;
  o.add_all_frames_to_correct_as_cond = true;
  o.num_init_cond_frames_for_train = 2;
  o.rand_init_cond_frames_for_train = true;
  o.num_correction_pt_per_frame = 7;
  o.use_act_ckpt_iterative_pt_sampling = false;
  o.num_init_cond_frames_for_eval = 1;
  o.forward_backbone_per_frame_for_eval = true;
}

}  // namespace

absl::StatusOr<modeling::SAM2BaseOptions> Sam21ModelOptions(
    const std::string& size, int64_t image_size) {
  modeling::SAM2BaseOptions o = CommonSam21Options(image_size);
  modeling::HieraOptions& trunk = o.image_encoder.trunk;
  std::vector<int64_t>& channels = o.image_encoder.neck.backbone_channel_list;
  if (size == "t" || size == "s") {
    trunk.embed_dim = 96;
    trunk.num_heads = 1;
    trunk.stages = size == "t" ? std::vector<int64_t>{1, 2, 7, 2}
                               : std::vector<int64_t>{1, 2, 11, 2};
    trunk.global_att_blocks = size == "t" ? std::vector<int64_t>{5, 7, 9}
                                          : std::vector<int64_t>{7, 10, 13};
    trunk.window_pos_embed_bkg_spatial_size = {7, 7};
    channels = {768, 384, 192, 96};
  } else if (size == "b+") {
    // Hiera's defaults otherwise.
    trunk.embed_dim = 112;
    trunk.num_heads = 2;
    channels = {896, 448, 224, 112};
  } else if (size == "l") {
    trunk.embed_dim = 144;
    trunk.num_heads = 2;
    trunk.stages = {2, 6, 36, 4};
    trunk.global_att_blocks = {23, 33, 43};
    trunk.window_pos_embed_bkg_spatial_size = {7, 7};
    trunk.window_spec = {8, 4, 16, 8};
    channels = {1152, 576, 288, 144};
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown SAM 2.1 model size \"", size, "\" (t, s, b+ or l)"));
  }
  return o;
}

absl::StatusOr<SAM2TrainOptions> Sam21MoseTrainOptions(const std::string& size,
                                                       int64_t image_size) {
  absl::StatusOr<modeling::SAM2BaseOptions> base =
      Sam21ModelOptions(size, image_size);
  if (!base.ok()) return base.status();
  SAM2TrainOptions o;
  o.base = *base;
  o.base.image_encoder.trunk.drop_path_rate = 0.1;
  SetMoseTrainingKnobs(o);
  return o;
}

MultiStepMultiMasksAndIousOptions MoseLossOptions() {
  MultiStepMultiMasksAndIousOptions o;
  o.weight_mask = 20;
  o.weight_dice = 1;
  o.weight_iou = 1;
  o.weight_class = 1;
  o.supervise_all_iou = true;
  o.iou_use_l1_loss = true;
  o.pred_obj_scores = true;
  o.focal_gamma_obj_score = 0.0;
  o.focal_alpha_obj_score = -1.0;
  return o;
}

SAM2TrainOptions ParitySmallOptions() {
  SAM2TrainOptions o;
  o.base = CommonSam21Options(/*image_size=*/256);
  modeling::SAM2BaseOptions& b = o.base;
  modeling::HieraOptions& trunk = b.image_encoder.trunk;
  trunk.embed_dim = 16;
  trunk.num_heads = 1;
  trunk.stages = {1, 1, 3, 1};
  trunk.global_att_blocks = {3};
  trunk.window_spec = {8, 4, 14, 7};
  trunk.window_pos_embed_bkg_spatial_size = {7, 7};
  trunk.drop_path_rate = 0.1;
  b.image_encoder.neck.position_encoding.num_pos_feats = 64;
  b.image_encoder.neck.d_model = 64;
  b.image_encoder.neck.backbone_channel_list = {128, 64, 32, 16};

  modeling::MemoryAttentionOptions& ma = b.memory_attention;
  ma.d_model = 64;
  ma.num_layers = 2;
  ma.layer.d_model = 64;
  ma.layer.dim_feedforward = 256;
  ma.layer.self_attention.rope.embedding_dim = 64;
  ma.layer.cross_attention.rope.embedding_dim = 64;
  ma.layer.cross_attention.rope.kv_in_dim = 32;

  modeling::MemoryEncoderOptions& me = b.memory_encoder;
  me.out_dim = 32;
  me.in_dim = 64;
  me.position_encoding.num_pos_feats = 32;
  me.mask_downsampler.embed_dim = 64;
  me.fuser.layer.dim = 64;

  SetMoseTrainingKnobs(o);
  return o;
}

}  // namespace sam2::training
