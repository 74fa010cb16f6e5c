// png_diff REF_DIR OURS_DIR: compares every PNG under REF_DIR with the file
// of the same relative path under OURS_DIR by decoded samples (palette
// indices for palette PNGs) and by the palette entries the pixels use, not
// by bytes (zlib settings differ between writers). Prints the number of
// files and differing pixels; exits 1 on any difference or missing file.
#include <cstdio>
#include <filesystem>
#include <string>

#include "data/codecs/png.h"

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  if (argc != 3) {
    std::fprintf(stderr, "usage: png_diff REF_DIR OURS_DIR\n");
    return 2;
  }
  const fs::path ref_root = argv[1], ours_root = argv[2];
  long files = 0, differing = 0;
  bool ok = true;
  for (const auto& entry : fs::recursive_directory_iterator(ref_root)) {
    if (entry.path().extension() != ".png") continue;
    // Lexically: fs::relative resolves symlinks, and in Bazel runfiles the
    // reference files are symlinks into the source tree, so it would name a
    // path that leads back to the reference file itself.
    const fs::path rel = entry.path().lexically_relative(ref_root);
    const std::string ours_path = (ours_root / rel).string();
    sam2::data::PngInfo ref_info, ours_info;
    auto ref = sam2::data::ReadPngFile(entry.path().string(), &ref_info);
    auto ours = sam2::data::ReadPngFile(ours_path, &ours_info);
    if (!ref.ok() || !ours.ok()) {
      std::fprintf(
          stderr, "png_diff: %s\n",
          std::string((!ref.ok() ? ref : ours).status().message()).c_str());
      ok = false;
      continue;
    }
    ++files;
    if (ref->size() != ours->size() || ref->channels != ours->channels ||
        ref_info.color_type != ours_info.color_type) {
      std::fprintf(stderr, "png_diff: %s: size or colour type differs\n",
                   ours_path.c_str());
      ok = false;
      continue;
    }
    long diff = 0;
    for (size_t i = 0; i < ref->data.size(); ++i) {
      const uint8_t v = ours->data[i];
      if (v != ref->data[i]) {
        ++diff;
      } else if (ref_info.color_type == sam2::data::PngColorType::kPalette &&
                 (v >= ours_info.palette.size() ||
                  v >= ref_info.palette.size() ||
                  ours_info.palette[v] != ref_info.palette[v])) {
        std::fprintf(stderr, "png_diff: %s: palette entry %d differs\n",
                     ours_path.c_str(), v);
        ok = false;
        break;
      }
    }
    if (diff > 0) {
      std::fprintf(stderr, "png_diff: %s: %ld pixels differ\n",
                   ours_path.c_str(), diff);
      differing += diff;
      ok = false;
    }
  }
  std::printf("%ld files, %ld differing pixels\n", files, differing);
  return ok && files > 0 ? 0 : 1;
}
