#include "configs/loader.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "configs/defaults.h"

namespace sam2::config {
namespace {

namespace fs = std::filesystem;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using google::protobuf::TextFormat;

// Collects every parser error (not only the first) as "source:line:col: msg".
class CollectingErrors : public google::protobuf::io::ErrorCollector {
 public:
  CollectingErrors(std::string source, const std::string& text)
      : source_(std::move(source)), lines_(absl::StrSplit(text, '\n')) {}

  // Quotes the offending line with a caret, since protobuf's messages for
  // bad values ("Expected integer, got: ...") do not name the field.
  void AddError(int line, int column, const std::string& message) override {
    std::string error =
        absl::StrCat(source_, ":", line + 1, ":", column + 1, ": ", message);
    if (line >= 0 && line < static_cast<int>(lines_.size())) {
      absl::StrAppend(&error, "\n    ", lines_[line], "\n    ",
                      std::string(std::max(column, 0), ' '), "^");
    }
    errors_.push_back(std::move(error));
  }
  void AddWarning(int line, int column, const std::string& message) override {
    AddError(line, column, "warning: " + message);
  }
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::string source_;
  std::vector<std::string> lines_;
  std::vector<std::string> errors_;
};

void CollectLocations(const Message& message,
                      const TextFormat::ParseInfoTree* tree,
                      const std::string& prefix, const std::string& source,
                      FieldLocations* out) {
  const Reflection* reflection = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    const std::string path = prefix.empty()
                                 ? field->name()
                                 : absl::StrCat(prefix, ".", field->name());
    const int count =
        field->is_repeated() ? reflection->FieldSize(message, field) : 1;
    const int first_index = field->is_repeated() ? 0 : -1;
    TextFormat::ParseLocation location = tree->GetLocation(field, first_index);
    if (location.line >= 0) {
      (*out)[path] = absl::StrCat(source, ":", location.line + 1, ":",
                                  location.column + 1);
    }
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    for (int i = 0; i < count; ++i) {
      const int index = field->is_repeated() ? i : -1;
      const TextFormat::ParseInfoTree* nested =
          tree->GetTreeForNested(field, index);
      if (nested == nullptr) continue;
      const std::string element_path =
          field->is_repeated() ? absl::StrCat(path, "[", i, "]") : path;
      TextFormat::ParseLocation element_location =
          tree->GetLocation(field, index);
      if (element_location.line >= 0) {
        (*out)[element_path] =
            absl::StrCat(source, ":", element_location.line + 1, ":",
                         element_location.column + 1);
      }
      const Message& child =
          field->is_repeated()
              ? reflection->GetRepeatedMessage(message, field, i)
              : reflection->GetMessage(message, field);
      CollectLocations(child, nested, element_path, source, out);
    }
  }
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot open config file ", path));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) {
    return absl::DataLossError(absl::StrCat("error reading ", path));
  }
  return buffer.str();
}

std::string ExecutableRunfilesConfigs() {
  char buffer[4096];
  const ssize_t n = readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
  if (n <= 0) return "";
  buffer[n] = '\0';
  return absl::StrCat(buffer, ".runfiles/sam2_train_cpp/configs");
}

// Copies field `field` of `overlay` into `base`, replacing what was there.
void ReplaceField(const Message& overlay, const FieldDescriptor* field,
                  Message* base) {
  std::unique_ptr<Message> only(overlay.New());
  only->CopyFrom(overlay);
  const Reflection* reflection = only->GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(*only, &fields);
  for (const FieldDescriptor* other : fields) {
    if (other != field) reflection->ClearField(only.get(), other);
  }
  base->GetReflection()->ClearField(base, field);
  base->MergeFrom(*only);
}

void SetDefaultsRecursively(Message* message) {
  const Reflection* reflection = message->GetReflection();
  const google::protobuf::Descriptor* descriptor = message->GetDescriptor();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    if (field->containing_oneof() != nullptr) {
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
          reflection->HasField(*message, field)) {
        SetDefaultsRecursively(reflection->MutableMessage(message, field));
      }
      continue;
    }
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (field->is_repeated()) {
        for (int j = 0; j < reflection->FieldSize(*message, field); ++j) {
          SetDefaultsRecursively(
              reflection->MutableRepeatedMessage(message, field, j));
        }
      } else if (reflection->HasField(*message, field)) {
        SetDefaultsRecursively(reflection->MutableMessage(message, field));
      }
      continue;
    }
    if (field->is_repeated() || !field->has_default_value() ||
        reflection->HasField(*message, field)) {
      continue;
    }
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        reflection->SetInt32(message, field, field->default_value_int32());
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        reflection->SetInt64(message, field, field->default_value_int64());
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        reflection->SetUInt32(message, field, field->default_value_uint32());
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        reflection->SetUInt64(message, field, field->default_value_uint64());
        break;
      case FieldDescriptor::CPPTYPE_FLOAT:
        reflection->SetFloat(message, field, field->default_value_float());
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        reflection->SetDouble(message, field, field->default_value_double());
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        reflection->SetBool(message, field, field->default_value_bool());
        break;
      case FieldDescriptor::CPPTYPE_STRING:
        reflection->SetString(message, field, field->default_value_string());
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        reflection->SetEnum(message, field, field->default_value_enum());
        break;
      default:
        break;
    }
  }
}

// Fills an empty list with `values` (a table of configs/defaults.h).
template <typename Repeated, typename Values>
void FillIfEmpty(Repeated* list, const Values& values) {
  if (!list->empty()) return;
  for (const auto& v : values) list->Add(v);
}

void ResolveModelListDefaults(ModelConfig* model) {
  if (model->has_image_encoder() && model->image_encoder().has_trunk()) {
    HieraConfig* trunk = model->mutable_image_encoder()->mutable_trunk();
    FillIfEmpty(trunk->mutable_q_stride(), defaults::kHieraQStride);
    FillIfEmpty(trunk->mutable_stages(), defaults::kHieraStages);
    FillIfEmpty(trunk->mutable_window_pos_embed_bkg_spatial_size(),
                defaults::kHieraWindowPosEmbedBkgSpatialSize);
    FillIfEmpty(trunk->mutable_window_spec(), defaults::kHieraWindowSpec);
    FillIfEmpty(trunk->mutable_global_att_blocks(),
                defaults::kHieraGlobalAttBlocks);
  }
  if (model->has_memory_attention() && model->memory_attention().has_layer()) {
    MemoryAttentionLayerConfig* layer =
        model->mutable_memory_attention()->mutable_layer();
    if (layer->has_self_attention()) {
      FillIfEmpty(layer->mutable_self_attention()->mutable_feat_sizes(),
                  defaults::kRopeFeatSizes);
    }
    if (layer->has_cross_attention()) {
      FillIfEmpty(layer->mutable_cross_attention()->mutable_feat_sizes(),
                  defaults::kRopeFeatSizes);
    }
  }
}

void ResolveDataListDefaults(MixedDatasetConfig* mixed) {
  for (DatasetGroupConfig& group : *mixed->mutable_datasets()) {
    for (VOSDatasetConfig& dataset : *group.mutable_concat()) {
      for (TransformConfig& transform : *dataset.mutable_transforms()) {
        if (transform.has_normalize()) {
          NormalizeConfig* n = transform.mutable_normalize();
          FillIfEmpty(n->mutable_mean(), defaults::kNormalizeMean);
          FillIfEmpty(n->mutable_std(), defaults::kNormalizeStd);
        }
        if (transform.has_random_affine()) {
          FillIfEmpty(transform.mutable_random_affine()->mutable_image_mean(),
                      defaults::kRandomAffineImageMean);
        }
      }
    }
  }
}

// Where bundled files (configs/assets/...) can be found when a relative path
// does not exist under the working directory: the parents of the config
// search directories (the workspace, or the binary's runfiles).
std::vector<std::string>& BundleRoots() {
  static auto* roots = new std::vector<std::string>();
  return *roots;
}

std::string Absolute(const std::string& base, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  const fs::path under_base = (fs::path(base) / path).lexically_normal();
  std::error_code ec;
  if (fs::exists(under_base, ec)) return under_base.string();
  for (const std::string& root : BundleRoots()) {
    const fs::path candidate = (fs::path(root) / path).lexically_normal();
    if (fs::exists(candidate, ec)) return fs::absolute(candidate, ec).string();
  }
  return under_base.string();
}

template <typename Raw>
void AbsoluteDatasetPaths(const std::string& base, Raw* raw) {
  raw->set_img_folder(Absolute(base, raw->img_folder()));
  raw->set_gt_folder(Absolute(base, raw->gt_folder()));
  if (raw->has_file_list_txt()) {
    raw->set_file_list_txt(Absolute(base, raw->file_list_txt()));
  }
  if (raw->has_excluded_videos_list_txt()) {
    raw->set_excluded_videos_list_txt(
        Absolute(base, raw->excluded_videos_list_txt()));
  }
}

// Relative paths in a config mean "relative to where the user ran the
// command" (`bazel run` changes the directory but says where it was); a
// relative path that does not exist there but does in the project (the
// bundled configs/assets/...) is taken from the project.
void MakePathsAbsolute(Experiment* e) {
  std::string base;
  if (const char* dir = std::getenv("BUILD_WORKING_DIRECTORY"); dir && *dir) {
    base = dir;
  } else {
    std::error_code ec;
    base = fs::current_path(ec).string();
  }
  // Only the sections that exist: mutable_*() would create empty ones.
  std::vector<MixedDatasetConfig*> sections;
  if (e->data().has_train())
    sections.push_back(e->mutable_data()->mutable_train());
  if (e->data().has_val()) sections.push_back(e->mutable_data()->mutable_val());
  for (MixedDatasetConfig* mixed : sections) {
    for (DatasetGroupConfig& group : *mixed->mutable_datasets()) {
      for (VOSDatasetConfig& d : *group.mutable_concat()) {
        if (d.has_png()) AbsoluteDatasetPaths(base, d.mutable_png());
        if (d.has_sa1b()) AbsoluteDatasetPaths(base, d.mutable_sa1b());
        if (d.has_sav()) AbsoluteDatasetPaths(base, d.mutable_sav());
      }
    }
  }
  if (e->data().has_val_vos()) {
    VOSValidationConfig* vos = e->mutable_data()->mutable_val_vos();
    vos->set_img_folder(Absolute(base, vos->img_folder()));
    vos->set_gt_folder(Absolute(base, vos->gt_folder()));
    if (vos->has_file_list_txt()) {
      vos->set_file_list_txt(Absolute(base, vos->file_list_txt()));
    }
  }
  LauncherConfig* launcher = e->mutable_launcher();
  launcher->set_experiment_log_dir(
      Absolute(base, launcher->experiment_log_dir()));
  LoggingConfig* logging = e->mutable_logging();
  logging->set_log_dir(Absolute(base, logging->log_dir()));
  logging->set_tensorboard_dir(Absolute(base, logging->tensorboard_dir()));
  CheckpointConfig* checkpoint = e->mutable_checkpoint();
  checkpoint->set_save_dir(Absolute(base, checkpoint->save_dir()));
  if (checkpoint->has_resume_from()) {
    checkpoint->set_resume_from(Absolute(base, checkpoint->resume_from()));
  }
  if (checkpoint->has_model_weight_initializer()) {
    auto* init = checkpoint->mutable_model_weight_initializer();
    init->set_checkpoint_path(Absolute(base, init->checkpoint_path()));
  }
}

}  // namespace

std::vector<std::string> DefaultConfigSearchDirs() {
  std::vector<std::string> dirs;
  if (const char* dir = std::getenv("SAM2_CONFIG_DIR"); dir && *dir) {
    dirs.push_back(dir);
  }
  if (const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY"); ws && *ws) {
    dirs.push_back(absl::StrCat(ws, "/configs"));
  }
  if (const char* runfiles = std::getenv("RUNFILES_DIR");
      runfiles && *runfiles) {
    dirs.push_back(absl::StrCat(runfiles, "/sam2_train_cpp/configs"));
  }
  if (const char* srcdir = std::getenv("TEST_SRCDIR"); srcdir && *srcdir) {
    dirs.push_back(absl::StrCat(srcdir, "/sam2_train_cpp/configs"));
  }
  const std::string exe_runfiles = ExecutableRunfilesConfigs();
  if (!exe_runfiles.empty()) dirs.push_back(exe_runfiles);
  dirs.push_back("configs");
  return dirs;
}

absl::StatusOr<std::string> FindConfigFile(
    const std::string& name_or_path, const std::vector<std::string>& dirs) {
  if (name_or_path.empty()) {
    return absl::InvalidArgumentError(
        "no config given: pass --config=NAME (a file configs/NAME.pbtxt) or "
        "--config=path/to/file.pbtxt");
  }
  std::error_code ec;
  if (absl::StrContains(name_or_path, "/") ||
      absl::EndsWith(name_or_path, ".pbtxt")) {
    if (fs::is_regular_file(name_or_path, ec)) return name_or_path;
    if (absl::StrContains(name_or_path, "/")) {
      return absl::NotFoundError(
          absl::StrCat("config file ", name_or_path, " does not exist"));
    }
  }
  const std::string file_name = absl::EndsWith(name_or_path, ".pbtxt")
                                    ? name_or_path
                                    : name_or_path + ".pbtxt";
  for (const std::string& dir : dirs) {
    const std::string candidate = absl::StrCat(dir, "/", file_name);
    if (fs::is_regular_file(candidate, ec)) return candidate;
  }
  std::vector<std::string> available;
  for (const std::string& dir : dirs) {
    if (!fs::is_directory(dir, ec)) continue;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (entry.path().extension() == ".pbtxt") {
        available.push_back(entry.path().stem().string());
      }
    }
    if (!available.empty()) break;
  }
  return absl::NotFoundError(absl::StrCat(
      "no config named '", name_or_path, "' (looked for ", file_name, " in ",
      absl::StrJoin(dirs, ", "), ")",
      available.empty()
          ? ""
          : absl::StrCat("; available: ", absl::StrJoin(available, ", "))));
}

absl::Status ParseTextInto(const std::string& text,
                           const std::string& source_name, Message* message,
                           FieldLocations* locations,
                           const std::string& path_prefix) {
  CollectingErrors errors(source_name, text);
  TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  TextFormat::ParseInfoTree tree;
  parser.WriteLocationsTo(&tree);
  if (!parser.ParseFromString(text, message) || !errors.errors().empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(errors.errors(), "\n"));
  }
  if (locations != nullptr) {
    CollectLocations(*message, &tree, path_prefix, source_name, locations);
  }
  return absl::OkStatus();
}

void OverlayMerge(const Message& overlay, Message* base) {
  const Reflection* reflection = overlay.GetReflection();
  const Reflection* base_reflection = base->GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(overlay, &fields);
  for (const FieldDescriptor* field : fields) {
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
      ReplaceField(overlay, field, base);
      continue;
    }
    if (!field->is_repeated()) {
      // For a oneof, MutableMessage clears whichever other member was set.
      OverlayMerge(reflection->GetMessage(overlay, field),
                   base_reflection->MutableMessage(base, field));
      continue;
    }
    const int overlay_size = reflection->FieldSize(overlay, field);
    for (int i = 0; i < overlay_size; ++i) {
      const Message& element =
          reflection->GetRepeatedMessage(overlay, field, i);
      if (i < base_reflection->FieldSize(*base, field)) {
        OverlayMerge(element,
                     base_reflection->MutableRepeatedMessage(base, field, i));
      } else {
        base_reflection->AddMessage(base, field)->CopyFrom(element);
      }
    }
  }
}

absl::StatusOr<ModelConfig> LoadModelPreset(
    const std::string& name, const std::vector<std::string>& dirs,
    FieldLocations* locations) {
  std::vector<std::string> model_dirs;
  for (const std::string& dir : dirs) model_dirs.push_back(dir + "/models");
  absl::StatusOr<std::string> path = FindConfigFile(name, model_dirs);
  if (!path.ok()) {
    return absl::NotFoundError(
        absl::StrCat("model_preset: ", path.status().message()));
  }
  absl::StatusOr<std::string> text = ReadFile(*path);
  if (!text.ok()) return text.status();
  ModelConfig model;
  absl::Status parsed = ParseTextInto(*text, *path, &model, locations, "model");
  if (!parsed.ok()) return parsed;
  return model;
}

absl::StatusOr<LoadedExperiment> LoadExperiment(const LoadRequest& request) {
  const std::vector<std::string> dirs = request.search_dirs.empty()
                                            ? DefaultConfigSearchDirs()
                                            : request.search_dirs;
  absl::StatusOr<std::string> path = FindConfigFile(request.config, dirs);
  if (!path.ok()) return path.status();
  absl::StatusOr<std::string> text = ReadFile(*path);
  if (!text.ok()) return text.status();

  LoadedExperiment loaded;
  loaded.path = *path;
  loaded.name = fs::path(*path).stem().string();
  FieldLocations file_locations;
  absl::Status parsed =
      ParseTextInto(*text, *path, &loaded.experiment, &file_locations);
  if (!parsed.ok()) return parsed;

  FieldLocations override_locations;
  for (size_t i = 0; i < request.overrides.size(); ++i) {
    Experiment overlay;
    const std::string source = absl::StrCat("--set #", i + 1);
    absl::Status status = ParseTextInto(request.overrides[i], source, &overlay,
                                        &override_locations);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(status.message(),
                       "\n(the override was: ", request.overrides[i], ")"));
    }
    OverlayMerge(overlay, &loaded.experiment);
  }

  FieldLocations preset_locations;
  if (loaded.experiment.has_model_preset()) {
    absl::StatusOr<ModelConfig> preset = LoadModelPreset(
        loaded.experiment.model_preset(), dirs, &preset_locations);
    if (!preset.ok()) {
      const auto where = file_locations.find("model_preset");
      const std::string prefix =
          where == file_locations.end() ? std::string() : where->second + ": ";
      return absl::Status(preset.status().code(),
                          prefix + std::string(preset.status().message()));
    }
    OverlayMerge(loaded.experiment.model(), &*preset);
    *loaded.experiment.mutable_model() = std::move(*preset);
  }
  // Later sources win: preset < experiment file < overrides.
  loaded.locations = std::move(preset_locations);
  for (auto& [key, value] : file_locations) loaded.locations[key] = value;
  for (auto& [key, value] : override_locations) loaded.locations[key] = value;

  ResolveDefaults(loaded.name, &loaded.experiment);
  BundleRoots().clear();
  for (const std::string& dir : dirs) {
    BundleRoots().push_back(fs::path(dir).parent_path().string());
  }
  MakePathsAbsolute(&loaded.experiment);
  return loaded;
}

void ResolveDefaults(const std::string& config_name, Experiment* experiment) {
  for (auto* message : std::initializer_list<Message*>{
           experiment->mutable_trainer(), experiment->mutable_logging(),
           experiment->mutable_checkpoint(), experiment->mutable_launcher(),
           experiment->mutable_distributed(), experiment->mutable_loss(),
           experiment->mutable_optim()}) {
    (void)message;  // Creating them makes their defaults visible.
  }
  SetDefaultsRecursively(experiment);
  if (experiment->has_model()) {
    ResolveModelListDefaults(experiment->mutable_model());
  }
  for (MixedDatasetConfig* mixed :
       {experiment->mutable_data()->mutable_train(),
        experiment->mutable_data()->mutable_val()}) {
    ResolveDataListDefaults(mixed);
  }
  if (experiment->data().train().datasets().empty()) {
    experiment->mutable_data()->clear_train();
  }
  if (experiment->data().val().datasets().empty()) {
    experiment->mutable_data()->clear_val();
  }
  if (experiment->checkpoint().has_model_weight_initializer()) {
    auto* init =
        experiment->mutable_checkpoint()->mutable_model_weight_initializer();
    if (init->ckpt_state_dict_keys().empty()) {
      for (std::string_view key : defaults::kCkptStateDictKeys) {
        init->add_ckpt_state_dict_keys(std::string(key));
      }
    }
  }
  LauncherConfig* launcher = experiment->mutable_launcher();
  if (!launcher->has_experiment_log_dir()) {
    launcher->set_experiment_log_dir(absl::StrCat("./sam2_logs/", config_name));
  }
  const std::string& root = launcher->experiment_log_dir();
  if (!experiment->logging().has_log_dir()) {
    experiment->mutable_logging()->set_log_dir(root + "/logs");
  }
  if (!experiment->logging().has_tensorboard_dir()) {
    experiment->mutable_logging()->set_tensorboard_dir(root + "/tensorboard");
  }
  if (!experiment->checkpoint().has_save_dir()) {
    experiment->mutable_checkpoint()->set_save_dir(root + "/checkpoints");
  }
}

std::string ToText(const Message& message) {
  std::string out;
  TextFormat::Printer printer;
  printer.SetUseShortRepeatedPrimitives(true);
  printer.PrintToString(message, &out);
  return out;
}

std::vector<std::string> ExtractRepeatedFlag(const std::string& name, int* argc,
                                             char** argv) {
  std::vector<std::string> values;
  const std::string with_value = "--" + name + "=";
  const std::string bare = "--" + name;
  int out = 1;
  for (int i = 1; i < *argc; ++i) {
    const std::string arg = argv[i];
    if (absl::StartsWith(arg, with_value)) {
      values.push_back(arg.substr(with_value.size()));
    } else if (arg == bare && i + 1 < *argc) {
      values.push_back(argv[++i]);
    } else {
      argv[out++] = argv[i];
    }
  }
  *argc = out;
  return values;
}

}  // namespace sam2::config
