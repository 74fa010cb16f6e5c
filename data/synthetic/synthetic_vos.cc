#include "data/synthetic/synthetic_vos.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "data/codecs/file_io.h"
#include "data/codecs/jpeg.h"
#include "data/codecs/png.h"
#include "data/codecs/rle.h"
#include "data/codecs/rle_json.h"

namespace sam2::data {
namespace {

namespace fs = std::filesystem;

constexpr double kPi = 3.14159265358979323846;
// Scene streams: videos use their index, SA-1B images start here so that
// they are different scenes from the videos.
constexpr uint64_t kSa1bStream = 1 << 20;

// splitmix64: a tiny, portable generator (std:: distributions differ across
// standard libraries, and the data must be reproducible anywhere).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double Uniform(double lo, double hi) {
    return lo + (hi - lo) * static_cast<double>(Next() >> 11) * 0x1.0p-53;
  }
  int Int(int lo, int hi) {  // [lo, hi]
    return lo + static_cast<int>(Next() % static_cast<uint64_t>(hi - lo + 1));
  }

 private:
  uint64_t state_;
};

uint64_t Mix(uint64_t a, uint64_t b) {
  Rng rng(a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull));
  return rng.Next();
}

enum class Shape { kEllipse, kRectangle, kDiamond };

// One object's appearance and motion; positions are functions of
// tau = frame / (num_frames - 1) in [0, 1].
struct Track {
  Shape shape = Shape::kEllipse;
  double cx0 = 0, cy0 = 0, dx = 0, dy = 0;  // start and total displacement
  double rx = 1, ry = 1;
  double scale_delta = 0;  // scale goes 1 -> 1 + scale_delta
  double angle0 = 0, turn = 0;
  double stripe_period = 4, stripe_angle = 0;
  uint8_t color_a[3] = {0, 0, 0}, color_b[3] = {0, 0, 0};
  int z = 0;  // drawing order, higher on top
};

struct Scene {
  std::vector<Track> tracks;  // tracks[k] is object k + 1
  double bg_fx = 0, bg_fy = 0, bg_phase = 0;
  uint8_t bg_a[3] = {0, 0, 0}, bg_b[3] = {0, 0, 0};
  uint64_t noise_seed = 0;
};

void RandomColor(Rng* rng, uint8_t out[3], int lo, int hi) {
  for (int c = 0; c < 3; ++c) out[c] = static_cast<uint8_t>(rng->Int(lo, hi));
}

Scene MakeScene(const SyntheticVosOptions& options, uint64_t stream) {
  Rng rng(Mix(options.seed, stream));
  const double h = options.height, w = options.width;
  const double unit = std::min(h, w);
  Scene scene;
  scene.bg_fx = rng.Uniform(0.5, 3.0) * 2 * kPi / w;
  scene.bg_fy = rng.Uniform(0.5, 3.0) * 2 * kPi / h;
  scene.bg_phase = rng.Uniform(0, 2 * kPi);
  RandomColor(&rng, scene.bg_a, 20, 110);
  RandomColor(&rng, scene.bg_b, 60, 160);
  scene.noise_seed = rng.Next();

  for (int k = 0; k < options.num_objects; ++k) {
    Track t;
    t.shape = static_cast<Shape>(rng.Int(0, 2));
    const double r = unit * rng.Uniform(0.08, 0.17);
    t.rx = r * rng.Uniform(0.7, 1.3);
    t.ry = r * rng.Uniform(0.7, 1.3);
    t.scale_delta = rng.Uniform(-0.35, 0.5);
    t.angle0 = rng.Uniform(0, 2 * kPi);
    t.turn = rng.Uniform(-kPi / 2, kPi / 2);
    t.stripe_period = std::max(2.0, r * rng.Uniform(0.2, 0.5));
    t.stripe_angle = rng.Uniform(0, kPi);
    RandomColor(&rng, t.color_a, 150, 255);
    RandomColor(&rng, t.color_b, 0, 120);
    if (k == 0) {  // crosses the frame over object 2: occlusion mid-video
      t.cx0 = 0.15 * w;
      t.cy0 = 0.5 * h + rng.Uniform(-0.05, 0.05) * h;
      t.dx = 0.7 * w;
      t.dy = rng.Uniform(-0.1, 0.1) * h;
      t.z = 1000;
    } else if (k == 1) {  // sits near the centre, below object 1
      t.cx0 = 0.5 * w + rng.Uniform(-0.05, 0.05) * w;
      t.cy0 = 0.5 * h + rng.Uniform(-0.05, 0.05) * h;
      t.dx = rng.Uniform(-0.1, 0.1) * w;
      t.dy = rng.Uniform(-0.1, 0.1) * h;
      t.z = 0;
    } else if (k == 2) {  // leaves through the right edge before the end
      t.cx0 = 0.72 * w;
      t.cy0 = rng.Uniform(0.25, 0.75) * h;
      t.dx = 0.85 * w;
      t.dy = 0;
      t.scale_delta = std::min(t.scale_delta, 0.2);
      t.z = 1;
    } else {  // wanders; may leave or overlap others
      t.cx0 = rng.Uniform(0.15, 0.85) * w;
      t.cy0 = rng.Uniform(0.15, 0.85) * h;
      t.dx = rng.Uniform(-0.6, 0.6) * w;
      t.dy = rng.Uniform(-0.6, 0.6) * h;
      t.z = rng.Int(2, 999);
    }
    scene.tracks.push_back(t);
  }
  return scene;
}

uint8_t Clamp(double v) {
  return static_cast<uint8_t>(std::lround(std::min(255.0, std::max(0.0, v))));
}

SyntheticFrame Render(const SyntheticVosOptions& options, const Scene& scene,
                      double tau, uint64_t frame_key) {
  const int h = options.height, w = options.width;
  SyntheticFrame out{Image(h, w, 3), Image(h, w, 1)};
  // Background: two colours blended by a slanted wave, plus per-pixel noise.
  uint64_t noise = Mix(scene.noise_seed, frame_key);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const double a = 0.5 + 0.5 * std::sin(scene.bg_fx * x + scene.bg_fy * y +
                                            scene.bg_phase);
      noise = noise * 6364136223846793005ull + 1442695040888963407ull;
      const double grain = static_cast<int>((noise >> 59) & 15) - 7.5;
      for (int c = 0; c < 3; ++c) {
        out.rgb.at(y, x, c) =
            Clamp(scene.bg_a[c] * (1 - a) + scene.bg_b[c] * a + grain);
      }
    }
  }
  std::vector<int> order(scene.tracks.size());
  for (size_t k = 0; k < order.size(); ++k) order[k] = static_cast<int>(k);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return scene.tracks[a].z < scene.tracks[b].z;
  });
  for (int k : order) {
    const Track& t = scene.tracks[k];
    const double scale = 1 + t.scale_delta * tau;
    const double rx = t.rx * scale, ry = t.ry * scale;
    const double cx = t.cx0 + t.dx * tau, cy = t.cy0 + t.dy * tau;
    const double angle = t.angle0 + t.turn * tau;
    const double ca = std::cos(angle), sa = std::sin(angle);
    const double sc = std::cos(t.stripe_angle), ss = std::sin(t.stripe_angle);
    const double reach = std::hypot(rx, ry) + 1;
    const int y0 = std::max(0, static_cast<int>(std::floor(cy - reach)));
    const int y1 = std::min(h - 1, static_cast<int>(std::ceil(cy + reach)));
    const int x0 = std::max(0, static_cast<int>(std::floor(cx - reach)));
    const int x1 = std::min(w - 1, static_cast<int>(std::ceil(cx + reach)));
    for (int y = y0; y <= y1; ++y) {
      for (int x = x0; x <= x1; ++x) {
        // Pixel centre in the object's rotating frame, normalised radii.
        const double px = x + 0.5 - cx, py = y + 0.5 - cy;
        const double u = (ca * px + sa * py) / rx;
        const double v = (-sa * px + ca * py) / ry;
        double d;  // < 1 inside
        switch (t.shape) {
          case Shape::kEllipse:
            d = std::sqrt(u * u + v * v);
            break;
          case Shape::kRectangle:
            d = std::max(std::abs(u), std::abs(v));
            break;
          default:
            d = std::abs(u) + std::abs(v);
            break;
        }
        if (d >= 1) continue;
        // Stripes move with the object (texture in object coordinates).
        const double s =
            (sc * u * rx + ss * v * ry) / (t.stripe_period * scale);
        const uint8_t* color =
            (static_cast<int64_t>(std::floor(s)) & 1) ? t.color_a : t.color_b;
        const double shade = 1.0 - 0.35 * d;
        for (int c = 0; c < 3; ++c)
          out.rgb.at(y, x, c) = Clamp(color[c] * shade);
        out.labels.at(y, x) = static_cast<uint8_t>(k + 1);
      }
    }
  }
  return out;
}

double Tau(int frame, int num_frames) {
  return num_frames > 1 ? static_cast<double>(frame) / (num_frames - 1) : 0.0;
}

Mask ObjectMask(const Image& labels, int label) {
  Mask mask(labels.height, labels.width);
  for (size_t i = 0; i < mask.data.size(); ++i)
    mask.data[i] = labels.data[i] == label;
  return mask;
}

absl::Status MakeDirs(const std::string& dir) {
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat(dir, ": cannot create directory: ", error.message()));
  }
  return absl::OkStatus();
}

std::string Join(const std::string& a, const std::string& b) {
  return (fs::path(a) / b).string();
}

#define RETURN_IF_ERROR_SYN(expr)        \
  do {                                   \
    const absl::Status status_ = (expr); \
    if (!status_.ok()) return status_;   \
  } while (0)

absl::Status WriteDavisVideo(const SyntheticVosOptions& options, int video,
                             const std::string& root, const std::string& name) {
  const std::string frames_dir = Join(root, "JPEGImages/" + name);
  const std::string labels_dir = Join(root, "Annotations/" + name);
  const std::string objects_dir = Join(root, "Annotations_per_object/" + name);
  RETURN_IF_ERROR_SYN(MakeDirs(frames_dir));
  RETURN_IF_ERROR_SYN(MakeDirs(labels_dir));
  if (options.per_object_png) {
    for (int k = 0; k < options.num_objects; ++k) {
      RETURN_IF_ERROR_SYN(MakeDirs(Join(objects_dir, std::to_string(k))));
    }
  }
  const Scene scene = MakeScene(options, video);
  const PngPalette palette = DavisPalette();
  for (int f = 0; f < options.num_frames; ++f) {
    const SyntheticFrame frame =
        Render(options, scene, Tau(f, options.num_frames), f);
    const std::string file = absl::StrFormat("%05d", f);
    RETURN_IF_ERROR_SYN(WriteJpegFile(Join(frames_dir, file + ".jpg"),
                                      frame.rgb, options.jpeg_quality));
    RETURN_IF_ERROR_SYN(WritePalettePngFile(Join(labels_dir, file + ".png"),
                                            frame.labels, palette));
    if (!options.per_object_png) continue;
    for (int k = 0; k < options.num_objects; ++k) {
      Image gray(options.height, options.width, 1);
      bool visible = false;
      for (size_t i = 0; i < gray.data.size(); ++i) {
        if (frame.labels.data[i] == k + 1) {
          gray.data[i] = 255;
          visible = true;
        }
      }
      // Frames without the object have no file (the loader reads zeros).
      if (!visible) continue;
      RETURN_IF_ERROR_SYN(WritePngFile(
          Join(Join(objects_dir, std::to_string(k)), file + ".png"), gray));
    }
  }
  return absl::OkStatus();
}

std::string SizeBucket(double mean_area) {
  // COCO's small / medium / large thresholds.
  if (mean_area < 32 * 32) return "small";
  if (mean_area < 96 * 96) return "medium";
  return "large";
}

absl::Status WriteSavVideo(const SyntheticVosOptions& options, int video,
                           const std::string& frames_root,
                           const std::string& annotations_dir,
                           const std::string& name) {
  const std::string frames_dir = Join(frames_root, name);
  RETURN_IF_ERROR_SYN(MakeDirs(frames_dir));
  const Scene scene = MakeScene(options, video);
  const int k_objects = options.num_objects;
  const double resolution = static_cast<double>(options.height) * options.width;
  nlohmann::json masklets = nlohmann::json::array();
  std::vector<double> area_sum(k_objects, 0);
  std::vector<int> visible_count(k_objects, 0),
      visibility_changes(k_objects, 0);
  std::vector<int> first_appeared(k_objects, -1);
  std::vector<bool> was_visible(k_objects, false);
  int annotated = 0;
  for (int f = 0; f < options.num_frames; ++f) {
    const SyntheticFrame frame =
        Render(options, scene, Tau(f, options.num_frames), f);
    RETURN_IF_ERROR_SYN(
        WriteJpegFile(Join(frames_dir, absl::StrFormat("%05d.jpg", f)),
                      frame.rgb, options.jpeg_quality));
    if (f % options.sav_ann_every != 0) continue;
    nlohmann::json row = nlohmann::json::array();
    for (int k = 0; k < k_objects; ++k) {
      const Rle rle = EncodeMask(ObjectMask(frame.labels, k + 1));
      const int64_t area = RleArea(rle);
      const bool visible = area > 0;
      if (visible) {
        area_sum[k] += area;
        ++visible_count[k];
        if (first_appeared[k] < 0) first_appeared[k] = annotated;
      }
      if (annotated > 0 && visible != was_visible[k]) ++visibility_changes[k];
      was_visible[k] = visible;
      row.push_back(RleToJson(rle));
    }
    masklets.push_back(std::move(row));
    ++annotated;
  }
  // SA-V's schema (field names as in the released *_manual.json files).
  nlohmann::json json;
  json["video_id"] = name;
  json["video_duration"] = options.num_frames / 24.0;
  json["video_frame_count"] = static_cast<double>(options.num_frames);
  json["video_height"] = static_cast<double>(options.height);
  json["video_width"] = static_cast<double>(options.width);
  json["video_resolution"] = resolution;
  json["video_environment"] = "Synthetic";
  json["video_split"] = "train";
  json["masklet"] = std::move(masklets);
  std::vector<int> ids;
  std::vector<double> size_rel, size_abs, first;
  std::vector<std::string> buckets, types;
  std::vector<int> frame_counts, edited;
  for (int k = 0; k < k_objects; ++k) {
    const double mean =
        visible_count[k] > 0 ? area_sum[k] / visible_count[k] : 0.0;
    ids.push_back(k);
    size_abs.push_back(mean);
    size_rel.push_back(mean / resolution);
    buckets.push_back(SizeBucket(mean));
    first.push_back(first_appeared[k] < 0 ? 0.0 : first_appeared[k]);
    frame_counts.push_back(annotated);
    edited.push_back(visible_count[k]);
    types.push_back("manual");
  }
  json["masklet_id"] = ids;
  json["masklet_size_rel"] = size_rel;
  json["masklet_size_abs"] = size_abs;
  json["masklet_size_bucket"] = buckets;
  json["masklet_visibility_changes"] = visibility_changes;
  json["masklet_first_appeared_frame"] = first;
  json["masklet_frame_count"] = frame_counts;
  json["masklet_edited_frame_count"] = edited;
  json["masklet_type"] = types;
  json["masklet_stability_score"] =
      std::vector<std::nullptr_t>(k_objects, nullptr);
  json["masklet_num"] = k_objects;
  return WriteStringToFile(Join(annotations_dir, name + "_manual.json"),
                           json.dump());
}

nlohmann::json Sa1bAnnotation(const Rle& rle, int id, Rng* rng) {
  const RleBox box = RleToBbox(rle);
  nlohmann::json annotation;
  annotation["id"] = id;
  annotation["segmentation"] = RleToJson(rle);
  annotation["area"] = RleArea(rle);
  annotation["bbox"] = {box.x, box.y, box.width, box.height};
  annotation["predicted_iou"] = rng->Uniform(0.85, 1.0);
  annotation["stability_score"] = rng->Uniform(0.9, 1.0);
  annotation["crop_box"] = {0, 0, rle.width, rle.height};
  annotation["point_coords"] = {
      {box.x + box.width / 2.0, box.y + box.height / 2.0}};
  return annotation;
}

absl::Status WriteSa1bImage(const SyntheticVosOptions& options, int image_index,
                            const std::string& root, const std::string& name) {
  const Scene scene = MakeScene(options, kSa1bStream + image_index);
  const SyntheticFrame frame = Render(options, scene, 0.0, 0);
  RETURN_IF_ERROR_SYN(WriteJpegFile(Join(root, name + ".jpg"), frame.rgb,
                                    options.jpeg_quality));
  Rng rng(Mix(options.seed, kSa1bStream * 2 + image_index));
  nlohmann::json annotations = nlohmann::json::array();
  std::vector<Rle> visible;
  for (int k = 0; k < options.num_objects; ++k) {
    const Rle rle = EncodeMask(ObjectMask(frame.labels, k + 1));
    if (RleArea(rle) == 0) continue;  // SA-1B has no empty masks
    visible.push_back(rle);
    annotations.push_back(Sa1bAnnotation(rle, image_index * 1000 + k, &rng));
  }
  // SA-1B masks come at several granularities: add a "whole" mask covering
  // two parts when there are two.
  if (visible.size() >= 2) {
    absl::StatusOr<Rle> whole =
        MergeRles({visible[0], visible[1]}, false, name);
    if (!whole.ok()) return whole.status();
    annotations.push_back(
        Sa1bAnnotation(*whole, image_index * 1000 + 999, &rng));
  }
  nlohmann::json json;
  json["image"] = {{"image_id", image_index},
                   {"width", options.width},
                   {"height", options.height},
                   {"file_name", name + ".jpg"}};
  json["annotations"] = std::move(annotations);
  return WriteStringToFile(Join(root, name + ".json"), json.dump());
}

absl::Status WriteFileList(const std::string& path,
                           const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) absl::StrAppend(&text, name, "\n");
  return WriteStringToFile(path, text);
}

}  // namespace

absl::Status ValidateSyntheticVosOptions(const SyntheticVosOptions& o) {
  auto bad = [](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("synthetic VOS: ", what));
  };
  if (o.output_dir.empty()) return bad("output_dir is required");
  if (o.num_videos < 0) return bad("num_videos must be >= 0");
  if (o.num_frames < 1) return bad("num_frames must be >= 1");
  if (o.num_objects < 1 || o.num_objects > 255)
    return bad("num_objects must be in [1, 255]");
  if (o.height < 16 || o.height > 4096 || o.width < 16 || o.width > 4096) {
    return bad(
        absl::StrCat("size ", o.height, "x", o.width, " outside [16, 4096]"));
  }
  if (o.sav_ann_every < 1) return bad("sav_ann_every must be >= 1");
  if (o.jpeg_quality < 1 || o.jpeg_quality > 100)
    return bad("jpeg_quality must be in [1, 100]");
  return absl::OkStatus();
}

SyntheticFrame RenderSyntheticFrame(const SyntheticVosOptions& options,
                                    int video, int frame) {
  return Render(options, MakeScene(options, video),
                Tau(frame, options.num_frames), frame);
}

absl::Status WriteSyntheticVos(const SyntheticVosOptions& options) {
  RETURN_IF_ERROR_SYN(ValidateSyntheticVosOptions(options));
  if (options.davis) {
    const std::string root = Join(options.output_dir, "davis");
    std::vector<std::string> names;
    for (int v = 0; v < options.num_videos; ++v) {
      names.push_back(absl::StrFormat("synth_%04d", v + 1));
      RETURN_IF_ERROR_SYN(WriteDavisVideo(options, v, root, names.back()));
    }
    RETURN_IF_ERROR_SYN(MakeDirs(root));
    RETURN_IF_ERROR_SYN(WriteFileList(Join(root, "file_list.txt"), names));
  }
  if (options.sav) {
    const std::string root = Join(options.output_dir, "sav");
    const std::string frames_root = Join(root, "JPEGImages_24fps");
    const std::string annotations_dir = Join(root, "sav_train");
    RETURN_IF_ERROR_SYN(MakeDirs(frames_root));
    RETURN_IF_ERROR_SYN(MakeDirs(annotations_dir));
    std::vector<std::string> names;
    for (int v = 0; v < options.num_videos; ++v) {
      names.push_back(absl::StrFormat("sav_%06d", v + 1));
      RETURN_IF_ERROR_SYN(WriteSavVideo(options, v, frames_root,
                                        annotations_dir, names.back()));
    }
    RETURN_IF_ERROR_SYN(WriteFileList(Join(root, "file_list.txt"), names));
  }
  if (options.sa1b) {
    const std::string root = Join(options.output_dir, "sa1b");
    RETURN_IF_ERROR_SYN(MakeDirs(root));
    const int num_images =
        options.num_images < 0 ? options.num_videos : options.num_images;
    std::vector<std::string> names;
    for (int i = 0; i < num_images; ++i) {
      names.push_back(absl::StrCat("sa_", i + 1));
      RETURN_IF_ERROR_SYN(WriteSa1bImage(options, i + 1, root, names.back()));
    }
    RETURN_IF_ERROR_SYN(WriteFileList(Join(root, "file_list.txt"), names));
  }
  return absl::OkStatus();
}

}  // namespace sam2::data
