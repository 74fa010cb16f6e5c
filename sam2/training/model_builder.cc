#include "sam2/training/model_builder.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "configs/choices.h"
#include "sam2/training/runtime/autocast.h"

namespace sam2::training {
namespace {

modeling::PositionEmbeddingSineOptions SineOptions(
    const config::PositionEmbeddingSineConfig& c) {
  modeling::PositionEmbeddingSineOptions o(c.num_pos_feats());
  o.temperature = c.temperature();
  o.normalize = c.normalize();
  if (c.has_scale()) o.scale = c.scale();
  return o;
}

// The config's string choices -> the network's enums. Parsed here with the
// validator's parsers (configs/choices.h); the network keeps its own enums
// because sam2/modeling does not depend on configs/.
absl::StatusOr<modeling::FpnInterpMode> InterpMode(const std::string& name) {
  SAM2_ASSIGN_OR_RETURN_CONTEXT(
      const config::FpnInterpMode mode,
      config::ParseChoice<config::FpnInterpMode>(name),
      "model.image_encoder.neck.fpn_interp_model");
  switch (mode) {
    case config::FpnInterpMode::kNearest:
      return modeling::FpnInterpMode::kNearest;
    case config::FpnInterpMode::kNearestExact:
      return modeling::FpnInterpMode::kNearestExact;
    case config::FpnInterpMode::kBilinear:
      return modeling::FpnInterpMode::kBilinear;
    case config::FpnInterpMode::kBicubic:
      return modeling::FpnInterpMode::kBicubic;
  }
  return absl::InternalError("unhandled FpnInterpMode");
}

absl::StatusOr<modeling::FpnFuseType> FuseType(const std::string& name) {
  SAM2_ASSIGN_OR_RETURN_CONTEXT(const config::FpnFuseType type,
                                config::ParseChoice<config::FpnFuseType>(name),
                                "model.image_encoder.neck.fuse_type");
  switch (type) {
    case config::FpnFuseType::kSum:
      return modeling::FpnFuseType::kSum;
    case config::FpnFuseType::kAvg:
      return modeling::FpnFuseType::kAvg;
  }
  return absl::InternalError("unhandled FpnFuseType");
}

absl::StatusOr<modeling::Activation> LayerActivation(const std::string& name) {
  SAM2_ASSIGN_OR_RETURN_CONTEXT(const config::Activation activation,
                                config::ParseChoice<config::Activation>(name),
                                "model.memory_attention.layer.activation");
  switch (activation) {
    case config::Activation::kRelu:
      return modeling::Activation::kRelu;
    case config::Activation::kGelu:
      return modeling::Activation::kGelu;
    case config::Activation::kGlu:
      return modeling::Activation::kGlu;
  }
  return absl::InternalError("unhandled Activation");
}

absl::StatusOr<PointSamplingMethod> EvalPointSampling(const std::string& name) {
  SAM2_ASSIGN_OR_RETURN_CONTEXT(
      const config::PointSampling sampling,
      config::ParseChoice<config::PointSampling>(name),
      "model.pt_sampling_for_eval");
  switch (sampling) {
    case config::PointSampling::kCenter:
      return PointSamplingMethod::kCenter;
    case config::PointSampling::kUniform:
      return PointSamplingMethod::kUniform;
  }
  return absl::InternalError("unhandled PointSampling");
}

std::vector<int64_t> Ints(const google::protobuf::RepeatedField<int32_t>& v) {
  return std::vector<int64_t>(v.begin(), v.end());
}

absl::StatusOr<modeling::MemoryAttentionAttentionOptions> RopeOptions(
    const config::RoPEAttentionConfig& c, const std::string& path) {
  if (c.feat_sizes_size() != 2) {
    return absl::InvalidArgumentError(path + ".feat_sizes: needs 2 values");
  }
  modeling::MemoryAttentionAttentionOptions o;
  o.use_rope = true;
  o.rope.embedding_dim = c.embedding_dim();
  o.rope.num_heads = c.num_heads();
  o.rope.downsample_rate = c.downsample_rate();
  o.rope.dropout = c.dropout();
  if (c.has_kv_in_dim()) o.rope.kv_in_dim = c.kv_in_dim();
  o.rope.rope_theta = c.rope_theta();
  o.rope.rope_k_repeat = c.rope_k_repeat();
  o.rope.feat_sizes = {c.feat_sizes(0), c.feat_sizes(1)};
  return o;
}

}  // namespace

absl::StatusOr<SAM2TrainOptions> ModelOptionsFromConfig(
    const config::ModelConfig& c) {
  SAM2TrainOptions o;
  modeling::SAM2BaseOptions& b = o.base;

  // Image encoder.
  const config::HieraConfig& t = c.image_encoder().trunk();
  modeling::HieraOptions& trunk = b.image_encoder.trunk;
  trunk.embed_dim = t.embed_dim();
  trunk.num_heads = t.num_heads();
  trunk.drop_path_rate = t.drop_path_rate();
  trunk.q_pool = t.q_pool();
  if (t.q_stride_size() == 2) trunk.q_stride = {t.q_stride(0), t.q_stride(1)};
  trunk.stages = Ints(t.stages());
  trunk.dim_mul = t.dim_mul();
  trunk.head_mul = t.head_mul();
  if (t.window_pos_embed_bkg_spatial_size_size() == 2) {
    trunk.window_pos_embed_bkg_spatial_size = {
        t.window_pos_embed_bkg_spatial_size(0),
        t.window_pos_embed_bkg_spatial_size(1)};
  }
  trunk.window_spec = Ints(t.window_spec());
  trunk.global_att_blocks = Ints(t.global_att_blocks());
  trunk.return_interm_layers = t.return_interm_layers();
  const config::FpnNeckConfig& n = c.image_encoder().neck();
  modeling::FpnNeckOptions& neck = b.image_encoder.neck;
  neck.position_encoding = SineOptions(n.position_encoding());
  neck.d_model = n.d_model();
  neck.backbone_channel_list = Ints(n.backbone_channel_list());
  neck.kernel_size = n.kernel_size();
  neck.stride = n.stride();
  neck.padding = n.padding();
  SAM2_ASSIGN_OR_RETURN(neck.fpn_interp_model,
                        InterpMode(n.fpn_interp_model()));
  SAM2_ASSIGN_OR_RETURN(neck.fuse_type, FuseType(n.fuse_type()));
  if (!n.fpn_top_down_levels().empty()) {
    neck.fpn_top_down_levels = Ints(n.fpn_top_down_levels());
  }
  b.image_encoder.scalp = c.image_encoder().scalp();

  // Memory attention.
  const config::MemoryAttentionConfig& ma = c.memory_attention();
  b.memory_attention.d_model = ma.d_model();
  b.memory_attention.pos_enc_at_input = ma.pos_enc_at_input();
  b.memory_attention.num_layers = ma.num_layers();
  b.memory_attention.batch_first = ma.batch_first();
  modeling::MemoryAttentionLayerOptions& layer = b.memory_attention.layer;
  SAM2_ASSIGN_OR_RETURN(layer.activation,
                        LayerActivation(ma.layer().activation()));
  layer.d_model = ma.layer().d_model();
  layer.dim_feedforward = ma.layer().dim_feedforward();
  layer.dropout = ma.layer().dropout();
  layer.pos_enc_at_attn = ma.layer().pos_enc_at_attn();
  layer.pos_enc_at_cross_attn_keys = ma.layer().pos_enc_at_cross_attn_keys();
  layer.pos_enc_at_cross_attn_queries =
      ma.layer().pos_enc_at_cross_attn_queries();
  auto self_attention =
      RopeOptions(ma.layer().self_attention(),
                  "model.memory_attention.layer.self_attention");
  if (!self_attention.ok()) return self_attention.status();
  layer.self_attention = *self_attention;
  auto cross_attention =
      RopeOptions(ma.layer().cross_attention(),
                  "model.memory_attention.layer.cross_attention");
  if (!cross_attention.ok()) return cross_attention.status();
  layer.cross_attention = *cross_attention;

  // Memory encoder.
  const config::MemoryEncoderConfig& me = c.memory_encoder();
  b.memory_encoder.out_dim = me.out_dim();
  b.memory_encoder.in_dim = me.in_dim();
  b.memory_encoder.position_encoding = SineOptions(me.position_encoding());
  modeling::MaskDownSamplerOptions& down = b.memory_encoder.mask_downsampler;
  // Unset embed_dim: the memory encoder's in_dim (the reference's configs
  // leave the class default, 256, which equals in_dim there).
  down.embed_dim = me.mask_downsampler().has_embed_dim()
                       ? me.mask_downsampler().embed_dim()
                       : me.in_dim();
  down.kernel_size = me.mask_downsampler().kernel_size();
  down.stride = me.mask_downsampler().stride();
  down.padding = me.mask_downsampler().padding();
  down.total_stride = me.mask_downsampler().total_stride();
  modeling::FuserOptions& fuser = b.memory_encoder.fuser;
  fuser.num_layers = me.fuser().num_layers();
  fuser.input_projection = me.fuser().input_projection();
  fuser.layer.dim = me.fuser().layer().dim();
  fuser.layer.kernel_size = me.fuser().layer().kernel_size();
  fuser.layer.padding = me.fuser().layer().padding();
  fuser.layer.drop_path = me.fuser().layer().drop_path();
  fuser.layer.layer_scale_init_value =
      me.fuser().layer().layer_scale_init_value();
  fuser.layer.use_dwconv = me.fuser().layer().use_dwconv();

  // SAM2Base.
  b.num_maskmem = c.num_maskmem();
  b.image_size = c.image_size();
  b.backbone_stride = c.backbone_stride();
  b.sigmoid_scale_for_mem_enc = c.sigmoid_scale_for_mem_enc();
  b.sigmoid_bias_for_mem_enc = c.sigmoid_bias_for_mem_enc();
  b.binarize_mask_from_pts_for_mem_enc = c.binarize_mask_from_pts_for_mem_enc();
  b.use_mask_input_as_output_without_sam =
      c.use_mask_input_as_output_without_sam();
  b.max_cond_frames_in_attn = c.max_cond_frames_in_attn();
  b.directly_add_no_mem_embed = c.directly_add_no_mem_embed();
  b.use_high_res_features_in_sam = c.use_high_res_features_in_sam();
  b.multimask_output_in_sam = c.multimask_output_in_sam();
  b.multimask_min_pt_num = c.multimask_min_pt_num();
  b.multimask_max_pt_num = c.multimask_max_pt_num();
  b.multimask_output_for_tracking = c.multimask_output_for_tracking();
  b.use_multimask_token_for_obj_ptr = c.use_multimask_token_for_obj_ptr();
  b.iou_prediction_use_sigmoid = c.iou_prediction_use_sigmoid();
  b.memory_temporal_stride_for_eval = c.memory_temporal_stride_for_eval();
  b.non_overlap_masks_for_mem_enc = c.non_overlap_masks_for_mem_enc();
  b.use_obj_ptrs_in_encoder = c.use_obj_ptrs_in_encoder();
  b.max_obj_ptrs_in_encoder = c.max_obj_ptrs_in_encoder();
  b.add_tpos_enc_to_obj_ptrs = c.add_tpos_enc_to_obj_ptrs();
  b.proj_tpos_enc_in_obj_ptrs = c.proj_tpos_enc_in_obj_ptrs();
  b.use_signed_tpos_enc_to_obj_ptrs = c.use_signed_tpos_enc_to_obj_ptrs();
  b.only_obj_ptrs_in_the_past_for_eval = c.only_obj_ptrs_in_the_past_for_eval();
  b.pred_obj_scores = c.pred_obj_scores();
  b.pred_obj_scores_mlp = c.pred_obj_scores_mlp();
  b.fixed_no_obj_ptr = c.fixed_no_obj_ptr();
  b.soft_no_obj_ptr = c.soft_no_obj_ptr();
  b.use_mlp_for_obj_ptr_proj = c.use_mlp_for_obj_ptr_proj();
  b.no_obj_embed_spatial = c.no_obj_embed_spatial();
  if (c.has_sam_heads()) {
    modeling::MaskDecoderExtraArgs extra;
    extra.dynamic_multimask_via_stability =
        c.sam_heads().dynamic_multimask_via_stability();
    extra.dynamic_multimask_stability_delta =
        c.sam_heads().dynamic_multimask_stability_delta();
    extra.dynamic_multimask_stability_thresh =
        c.sam_heads().dynamic_multimask_stability_thresh();
    b.sam_mask_decoder_extra_args = extra;
  }

  // SAM2Train.
  o.prob_to_use_pt_input_for_train = c.prob_to_use_pt_input_for_train();
  o.prob_to_use_pt_input_for_eval = c.prob_to_use_pt_input_for_eval();
  o.prob_to_use_box_input_for_train = c.prob_to_use_box_input_for_train();
  o.prob_to_use_box_input_for_eval = c.prob_to_use_box_input_for_eval();
  o.num_frames_to_correct_for_train = c.num_frames_to_correct_for_train();
  o.num_frames_to_correct_for_eval = c.num_frames_to_correct_for_eval();
  o.rand_frames_to_correct_for_train = c.rand_frames_to_correct_for_train();
  o.rand_frames_to_correct_for_eval = c.rand_frames_to_correct_for_eval();
  o.num_init_cond_frames_for_train = c.num_init_cond_frames_for_train();
  o.num_init_cond_frames_for_eval = c.num_init_cond_frames_for_eval();
  o.rand_init_cond_frames_for_train = c.rand_init_cond_frames_for_train();
  o.rand_init_cond_frames_for_eval = c.rand_init_cond_frames_for_eval();
  o.add_all_frames_to_correct_as_cond = c.add_all_frames_to_correct_as_cond();
  o.num_correction_pt_per_frame = c.num_correction_pt_per_frame();
  SAM2_ASSIGN_OR_RETURN(o.pt_sampling_for_eval,
                        EvalPointSampling(c.pt_sampling_for_eval()));
  o.prob_to_sample_from_gt_for_train = c.prob_to_sample_from_gt_for_train();
  o.use_act_ckpt_iterative_pt_sampling = c.use_act_ckpt_iterative_pt_sampling();
  o.forward_backbone_per_frame_for_eval =
      c.forward_backbone_per_frame_for_eval();
  o.freeze_image_encoder = c.freeze_image_encoder();
  return o;
}

MultiStepMultiMasksAndIousOptions LossOptionsFromConfig(
    const config::LossConfig& c) {
  MultiStepMultiMasksAndIousOptions o;
  o.weight_mask = c.weight_loss_mask();
  o.weight_dice = c.weight_loss_dice();
  o.weight_iou = c.weight_loss_iou();
  o.weight_class = c.weight_loss_class();
  o.focal_alpha = c.focal_alpha();
  o.focal_gamma = c.focal_gamma();
  o.supervise_all_iou = c.supervise_all_iou();
  o.iou_use_l1_loss = c.iou_use_l1_loss();
  o.pred_obj_scores = c.pred_obj_scores();
  o.focal_gamma_obj_score = c.focal_gamma_obj_score();
  o.focal_alpha_obj_score = c.focal_alpha_obj_score();
  return o;
}

Sam2TrainTask::Sam2TrainTask(SAM2Train model,
                             MultiStepMultiMasksAndIousOptions loss,
                             TaskDeviceOptions device)
    : model_(std::move(model)), loss_(loss), device_(device) {}

absl::StatusOr<LossDict> Sam2TrainTask::Forward(
    const data::BatchedVideoDatapoint& host_batch) {
  // On the CPU To() returns the same tensors. (The loader does not pin its
  // batches yet, so a copy to a GPU does not overlap with compute.)
  const data::BatchedVideoDatapoint batch =
      host_batch.To(device_.device, /*non_blocking=*/true);
  TrackingInput input;
  input.img_batch = batch.img_batch;
  input.obj_to_frame_idx = batch.obj_to_frame_idx;
  input.masks = batch.masks;
  // The reference's trainer wraps the forward pass and the loss (not the
  // backward pass) in autocast.
  AutocastScope autocast(device_.autocast, device_.device.type(),
                         device_.autocast_dtype);
  const std::vector<modeling::FrameOutput> outputs = model_->forward(input);
  MultiStepMultiMasksAndIous loss(loss_);
  return loss.Compute(ToLossInputs(outputs), batch.masks, num_objects_);
}

}  // namespace sam2::training
