// Loading, resolving and validating experiment configs (configs/*.pbtxt).
//
// Every job goes through this one path:
//   1. `--config=NAME` finds configs/NAME.pbtxt (or takes a path);
//   2. each `--set='trainer { max_epochs: 2 }'` is merged on top, in order;
//   3. the named model preset (configs/models/<model_preset>.pbtxt) is loaded
//      and the experiment's own `model { ... }` is merged on top of it;
//   4. the reference's defaults are written into the message so the printed
//      config is exactly what runs;
//   5. ValidateExperiment() checks it before any work starts.
//
// Merging: singular fields overwrite; lists of numbers or strings are replaced
// as a whole; lists of messages merge element by element (index i onto index
// i, extra elements appended).
#ifndef SAM2_CONFIGS_LOADER_H_
#define SAM2_CONFIGS_LOADER_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "configs/experiment.pb.h"

namespace sam2::config {

// Where each field of a loaded config was last set: field path (for example
// "data.train.datasets[0].batch_size") → "file:line:column".
using FieldLocations = std::map<std::string, std::string>;

struct LoadRequest {
  // A config name (looked up as <dir>/<name>.pbtxt in the search directories)
  // or a path to a .pbtxt file.
  std::string config;
  // Text-format Experiment fragments merged on top, in order.
  std::vector<std::string> overrides;
  // Where to look for configs; empty: DefaultConfigSearchDirs().
  std::vector<std::string> search_dirs;
};

struct LoadedExperiment {
  Experiment experiment;
  std::string name;  // file name without directory and .pbtxt
  std::string path;  // the file that was read
  FieldLocations locations;
};

// $SAM2_CONFIG_DIR, then $BUILD_WORKSPACE_DIRECTORY/configs (set by
// `bazel run`), then the configs/ directory in the binary's runfiles, then
// ./configs.
std::vector<std::string> DefaultConfigSearchDirs();

// Resolves a config name or path to an existing file.
absl::StatusOr<std::string> FindConfigFile(
    const std::string& name_or_path, const std::vector<std::string>& dirs);

// Loads configs/models/<name>.pbtxt from the search directories.
absl::StatusOr<ModelConfig> LoadModelPreset(
    const std::string& name, const std::vector<std::string>& dirs,
    FieldLocations* locations);

// Steps 1-4 above. Syntax errors, unknown fields and wrong types come back as
// InvalidArgument naming file:line:column.
absl::StatusOr<LoadedExperiment> LoadExperiment(const LoadRequest& request);

// Parses one text-format fragment into `message`; errors name `source_name`
// with line and column.
absl::Status ParseTextInto(const std::string& text,
                           const std::string& source_name,
                           google::protobuf::Message* message,
                           FieldLocations* locations = nullptr,
                           const std::string& path_prefix = "");

// Merges `overlay` onto `base` with the semantics described at the top.
void OverlayMerge(const google::protobuf::Message& overlay,
                  google::protobuf::Message* base);

// Writes the reference's defaults into every unset field that has one, and
// the default lists (Hiera stages, RoPE feat_sizes, ...) into empty lists.
// Derives the log, TensorBoard and checkpoint directories from
// launcher.experiment_log_dir (default ./sam2_logs/<name>).
void ResolveDefaults(const std::string& config_name, Experiment* experiment);

struct ValidationOptions {
  // Check that dataset folders, file lists and the initial checkpoint exist.
  bool check_paths = true;
  // Check the training data section (jobs that only need the model, such as
  // tools, turn this off).
  bool require_train_data = true;
};

// Semantic validation. All problems are reported at once, one per line, each
// naming the field (and where it was set, when known) and what to change.
absl::Status ValidateExperiment(const LoadedExperiment& loaded,
                                const ValidationOptions& options = {});

// The config in text format, as a run saves it.
std::string ToText(const google::protobuf::Message& message);

// Command-line helpers shared by every job: removes every `--NAME=VALUE` (or
// `--NAME VALUE`) from argv and returns the values in order. Used for the
// repeatable `--set`.
std::vector<std::string> ExtractRepeatedFlag(const std::string& name, int* argc,
                                             char** argv);

}  // namespace sam2::config

#endif  // SAM2_CONFIGS_LOADER_H_
