#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/linear.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "base/testing/temp_dir.h"
#include "sam2/checkpoint/pickle.h"
#include "sam2/checkpoint/state_dict.h"
#include "sam2/checkpoint/torch_file.h"
#include "sam2/checkpoint/zip_archive.h"

namespace sam2::checkpoint {
namespace {

using ::testing::HasSubstr;

std::string Runfile(const std::string& path) {
  return std::string(std::getenv("TEST_SRCDIR")) + "/sam2_train_cpp/" + path;
}
std::string Temp(const std::string& name) {
  return ::sam2::testutil::TempPath(name);
}
std::string Read(const std::string& path) {
  return ::sam2::testutil::ReadFileOrFail(path);
}
void Write(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}
std::string Message(const absl::Status& s) { return std::string(s.message()); }

const char kModel[] = "tests/testdata/parity/parity_small_model.pt";
const char kIo[] = "tests/testdata/parity/parity_small_io.pt";

const at::Tensor* Find(const TensorDict& d, const std::string& name) {
  for (const auto& [k, v] : d) {
    if (k == name) return &v;
  }
  return nullptr;
}

TEST(ReadTest, OfficialFormatStateDict) {
  absl::StatusOr<TensorDict> sd = LoadStateDict(Runfile(kModel));
  ASSERT_TRUE(sd.ok()) << sd.status();
  EXPECT_EQ(sd->size(), 347u);
  EXPECT_EQ(sd->front().first, "maskmem_tpos_enc");
  EXPECT_EQ(sd->back().first, "obj_ptr_tpos_proj.bias");
  int64_t elements = 0;
  for (const auto& [k, v] : *sd) elements += v.numel();
  // 1,497,234 parameters + 64 elements of the prompt encoder's buffer.
  EXPECT_EQ(elements, 1497298);
  // Values checked against torch.load of the same file.
  const at::Tensor* pos = Find(*sd, "image_encoder.trunk.pos_embed");
  ASSERT_NE(pos, nullptr);
  EXPECT_EQ(pos->sizes(), at::IntArrayRef({1, 16, 7, 7}));
  EXPECT_FLOAT_EQ(pos->flatten()[0].item<float>(), -0.00034553257864899933f);
  EXPECT_FLOAT_EQ(pos->flatten()[-1].item<float>(), -0.05162717029452324f);
  EXPECT_NEAR(pos->to(at::kDouble).sum().item<double>(), 0.651672665755541,
              1e-6);
  const at::Tensor* iou = Find(*sd, "sam_mask_decoder.iou_token.weight");
  ASSERT_NE(iou, nullptr);
  EXPECT_NEAR(iou->to(at::kDouble).sum().item<double>(), 1.5821951831239858,
              1e-6);
}

// Written by PyTorch: views of one storage (with offsets and strides), a
// bfloat16 tensor and a Parameter.
TEST(ReadTest, SharedStorageViewsFromPyTorch) {
  absl::StatusOr<TensorDict> d =
      LoadTensorDict(Runfile("sam2/checkpoint/testdata/shared_views.pt"));
  ASSERT_TRUE(d.ok()) << d.status();
  const at::Tensor base = at::arange(12, at::kFloat).reshape({3, 4});
  EXPECT_TRUE(at::equal(*Find(*d, "base"), base));
  EXPECT_TRUE(at::equal(*Find(*d, "row"), base[1]));
  EXPECT_TRUE(at::equal(*Find(*d, "col"), base.select(1, 2)));
  EXPECT_TRUE(at::equal(*Find(*d, "transposed"), base.t()));
  EXPECT_EQ(Find(*d, "col")->stride(0), 4);
  // Views share the loaded storage, as in PyTorch.
  EXPECT_EQ(Find(*d, "row")->storage().unsafeGetStorageImpl(),
            Find(*d, "base")->storage().unsafeGetStorageImpl());
  const at::Tensor bf16 = *Find(*d, "bf16");
  EXPECT_EQ(bf16.scalar_type(), at::kBFloat16);
  EXPECT_FLOAT_EQ(bf16[1].item<float>(), -2.25f);
  EXPECT_TRUE(at::equal(*Find(*d, "param"), at::ones({2})));
}

TEST(ReadTest, PlainDictOfTensorsWithManyDtypes) {
  absl::StatusOr<TensorDict> io = LoadTensorDict(Runfile(kIo));
  ASSERT_TRUE(io.ok()) << io.status();
  EXPECT_EQ(io->size(), 780u);
  const at::Tensor* img = Find(*io, "input.img_batch");
  ASSERT_NE(img, nullptr);
  EXPECT_EQ(img->sizes(), at::IntArrayRef({4, 1, 3, 256, 256}));
  EXPECT_EQ(Find(*io, "input.masks")->scalar_type(), at::kBool);
  EXPECT_EQ(Find(*io, "input.obj_to_frame_idx")->scalar_type(), at::kInt);
}

// What torch.optim's state_dict and the reference trainer's checkpoint
// pickle: int-keyed dicts, Python ints of every width, floats, tuples, bools,
// None, nested dicts and lists.
TEST(ReadTest, PythonValuesOfOptimizerState) {
  absl::StatusOr<Value> v =
      LoadTorchFile(Runfile("sam2/checkpoint/testdata/python_values.pt"));
  ASSERT_TRUE(v.ok()) << v.status();
  const Value& state = *v->Find("state");
  ASSERT_EQ(state.entries().size(), 2u);
  EXPECT_EQ(state.entries()[0].first.kind(), Value::Kind::kInt);
  EXPECT_EQ(state.entries()[0].first.as_int(), 0);
  EXPECT_EQ(state.entries()[1].first.as_int(), 7);
  const Value& first = state.entries()[0].second;
  EXPECT_EQ(first.Find("step")->as_tensor().item<double>(), 2.0);
  EXPECT_TRUE(
      at::equal(first.Find("exp_avg")->as_tensor(), at::arange(3, at::kFloat)));
  EXPECT_EQ(state.entries()[1].second.Find("step")->as_int(), 5);

  const Value& group = v->Find("param_groups")->items().at(0);
  EXPECT_EQ(group.Find("lr")->as_double(), 1.5e-06);
  EXPECT_EQ(group.Find("eps")->as_double(), 1e-08);
  const Value& betas = *group.Find("betas");
  ASSERT_EQ(betas.kind(), Value::Kind::kTuple);
  EXPECT_EQ(betas.items().at(1).as_double(), 0.999);
  EXPECT_EQ(group.Find("amsgrad")->kind(), Value::Kind::kBool);
  EXPECT_FALSE(group.Find("amsgrad")->as_bool());
  EXPECT_TRUE(group.Find("foreach")->is_none());
  ASSERT_EQ(group.Find("params")->items().size(), 2u);
  EXPECT_EQ(group.Find("params")->items()[1].as_int(), 7);

  EXPECT_EQ(v->Find("epoch")->as_int(), 3);
  EXPECT_EQ(v->Find("big")->as_int(), int64_t{1} << 40);
  EXPECT_EQ(v->Find("neg")->as_int(), -129);
  EXPECT_EQ(v->Find("time_elapsed")->kind(), Value::Kind::kDouble);
  EXPECT_EQ(v->Find("time_elapsed")->as_double(), 12.25);
  EXPECT_EQ(v->Find("steps")->Find("train")->as_int(), 70000);
  EXPECT_TRUE(v->Find("best_meter_values")->is_dict());
  EXPECT_TRUE(v->Find("best_meter_values")->entries().empty());
}

TEST(ReadTest, MissingKeyPathListsKeys) {
  absl::StatusOr<TensorDict> sd = LoadStateDict(Runfile(kModel), {"state"});
  ASSERT_FALSE(sd.ok());
  EXPECT_THAT(Message(sd.status()),
              HasSubstr("has no key 'state' (keys: model)"));
}

TEST(RoundTripTest, EveryDtypeViewsAndNestedValues) {
  at::manual_seed(0);
  const at::Tensor base = at::randn({5, 6});
  TensorDict tensors = {
      {"float", base},
      {"transposed", base.t()},
      {"sliced", base.slice(0, 2, 4).slice(1, 1, 5)},
      {"double", at::randn({3}, at::kDouble)},
      {"bfloat16", base.to(at::kBFloat16)},
      {"half", base.to(at::kHalf)},
      {"long",
       at::arange(-5, 5, at::kLong) * static_cast<int64_t>(1000000000000)},
      {"int", at::arange(7, at::kInt)},
      {"uint8", at::arange(250, 256).to(at::kByte)},
      {"int8", at::arange(-3, 3).to(at::kChar)},
      {"bool", base > 0},
      {"scalar", at::scalar_tensor(3.5)},
      {"empty", at::empty({0, 4})},
  };
  Value top = Value::Dict();
  top.Set("model", ToOrderedDict(tensors));
  Value misc = Value::Dict();
  misc.Set("epoch", Value::Int(-7));
  misc.Set("big", Value::Int(1LL << 40));
  misc.Set("lr", Value::Double(5e-6));
  misc.Set("name", Value::String("sam2 ünï"));
  misc.Set("flag", Value::Bool(true));
  misc.Set("nothing", Value::None());
  misc.Set("list", Value::List({Value::Int(1), Value::Tuple({Value::Int(2)})}));
  top.Set("misc", misc);
  const std::string path = Temp("roundtrip.pt");
  ASSERT_TRUE(SaveTorchFile(path, top).ok());

  absl::StatusOr<Value> back = LoadTorchFile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  absl::StatusOr<TensorDict> model =
      ToTensorDict(*back->Find("model"), "model");
  ASSERT_TRUE(model.ok());
  ASSERT_EQ(model->size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ((*model)[i].first, tensors[i].first);
    EXPECT_EQ((*model)[i].second.scalar_type(),
              tensors[i].second.scalar_type());
    EXPECT_TRUE(at::equal((*model)[i].second, tensors[i].second))
        << tensors[i].first;
  }
  const Value& m = *back->Find("misc");
  EXPECT_EQ(m.Find("epoch")->as_int(), -7);
  EXPECT_EQ(m.Find("big")->as_int(), 1LL << 40);
  EXPECT_EQ(m.Find("lr")->as_double(), 5e-6);
  EXPECT_EQ(m.Find("name")->as_string(), "sam2 ünï");
  EXPECT_TRUE(m.Find("flag")->as_bool());
  EXPECT_TRUE(m.Find("nothing")->is_none());
  EXPECT_EQ(m.Find("list")->items()[1].items()[0].as_int(), 2);
  EXPECT_EQ(back->Find("model")->kind(), Value::Kind::kOrderedDict);
}

TEST(RoundTripTest, RewritingTheFixtureIsBitExact) {
  absl::StatusOr<TensorDict> sd = LoadStateDict(Runfile(kModel));
  ASSERT_TRUE(sd.ok());
  const std::string path = Temp("resaved.pt");
  ASSERT_TRUE(SaveModelCheckpoint(path, *sd).ok());
  absl::StatusOr<TensorDict> again = LoadStateDict(path);
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(again->size(), sd->size());
  for (size_t i = 0; i < sd->size(); ++i) {
    EXPECT_EQ((*again)[i].first, (*sd)[i].first);
    EXPECT_TRUE(at::equal((*again)[i].second, (*sd)[i].second));
  }
}

TEST(CorruptionTest, TruncatedFile) {
  const std::string bytes = Read(Runfile(kModel));
  const std::string path = Temp("truncated.pt");
  Write(path, bytes.substr(0, bytes.size() / 2));
  absl::StatusOr<TensorDict> sd = LoadStateDict(path);
  ASSERT_FALSE(sd.ok());
  EXPECT_THAT(Message(sd.status()), HasSubstr(path));
}

TEST(CorruptionTest, FlippedDataByteFailsTheCrc) {
  std::string bytes = Read(Runfile(kModel));
  bytes[bytes.size() / 2] ^= 0x55;  // inside the tensor data
  const std::string path = Temp("flipped.pt");
  Write(path, bytes);
  absl::StatusOr<TensorDict> sd = LoadStateDict(path);
  ASSERT_FALSE(sd.ok());
  EXPECT_THAT(Message(sd.status()), HasSubstr("CRC mismatch"));
  EXPECT_THAT(Message(sd.status()), HasSubstr(path));
}

TEST(CorruptionTest, NotAZipFile) {
  const std::string path = Temp("text.pt");
  Write(path, "this is not a checkpoint, just some text in a file");
  absl::StatusOr<TensorDict> sd = LoadStateDict(path);
  ASSERT_FALSE(sd.ok());
  EXPECT_THAT(Message(sd.status()),
              HasSubstr("no zip end-of-central-directory record"));
  EXPECT_FALSE(LoadStateDict(Temp("does_not_exist.pt")).ok());
}

std::string ZipWithPickle(const std::string& name, const std::string& pickle) {
  const std::string path = Temp(name);
  absl::StatusOr<ZipWriter> zip = ZipWriter::Create(path);
  EXPECT_TRUE(zip.ok());
  EXPECT_TRUE(zip->Add("archive/data.pkl", pickle.data(), pickle.size()).ok());
  EXPECT_TRUE(zip->Close().ok());
  return path;
}

TEST(CorruptionTest, UnknownGlobalIsNamed) {
  // The classic malicious pickle: os.system("...").
  const std::string pickle =
      std::string("\x80\x02") + "cos\nsystem\nX\x04\x00\x00\x00echo\x85R.";
  absl::StatusOr<Value> v = LoadTorchFile(ZipWithPickle("evil.pt", pickle));
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(
      Message(v.status()),
      HasSubstr("unsupported pickle global 'os.system' in data.pkl of"));
}

TEST(CorruptionTest, UnknownOpcodeIsNamed) {
  const std::string pickle = std::string("\x80\x02") + "\xff.";
  absl::StatusOr<Value> v = LoadTorchFile(ZipWithPickle("opcode.pt", pickle));
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(Message(v.status()), HasSubstr("unsupported pickle opcode 0xff"));
}

TEST(CorruptionTest, CompressedRecordIsRefused) {
  const std::string path = Temp("compressed.pt");
  ASSERT_TRUE(SaveModelCheckpoint(path, {{"w", at::ones({2})}}).ok());
  std::string bytes = Read(path);
  // Mark every central-directory record as deflated (method 8).
  for (size_t i = 0; i + 4 <= bytes.size(); ++i) {
    if (bytes.compare(i, 4, "PK\x01\x02") == 0) bytes[i + 10] = 8;
  }
  Write(path, bytes);
  absl::StatusOr<TensorDict> sd = LoadStateDict(path);
  ASSERT_FALSE(sd.ok());
  EXPECT_THAT(Message(sd.status()), HasSubstr("is compressed"));
}

struct TinyImpl : torch::nn::Module {
  TinyImpl() {
    fc = register_module("fc", torch::nn::Linear(3, 2));
    stats = register_buffer("stats", at::zeros({4}));
  }
  torch::nn::Linear fc{nullptr};
  at::Tensor stats;
};

TEST(FnmatchTest, PythonSemantics) {
  EXPECT_TRUE(Fnmatch("image_encoder.trunk.pos_embed", "*pos_embed*"));
  EXPECT_TRUE(Fnmatch("image_encoder.neck.convs.0.conv.bias", "*bias*"));
  EXPECT_TRUE(Fnmatch("image_encoder.trunk", "image_encoder.*"));
  EXPECT_FALSE(Fnmatch("sam_mask_decoder.x", "image_encoder.*"));
  EXPECT_TRUE(Fnmatch("blocks.7.x", "blocks.[0-9].x"));
  EXPECT_FALSE(Fnmatch("blocks.7.x", "blocks.[!0-9].x"));
  EXPECT_TRUE(Fnmatch("a.b", "a?b"));
  EXPECT_TRUE(Fnmatch("[x", "[x"));
  EXPECT_TRUE(Fnmatch("", "*"));
  EXPECT_FALSE(Fnmatch("abc", "ab"));
}

TEST(LoadIntoModelTest, StrictSuccessAndMismatches) {
  TinyImpl model;
  TensorDict good = {{"fc.weight", at::full({2, 3}, 2.0)},
                     {"fc.bias", at::full({2}, 3.0)},
                     {"stats", at::arange(4, at::kFloat)}};
  ASSERT_TRUE(LoadStateDictIntoModel(model, good, {}, "good.pt").ok());
  EXPECT_TRUE(at::equal(model.fc->weight, at::full({2, 3}, 2.0)));
  EXPECT_TRUE(at::equal(model.stats, at::arange(4, at::kFloat)));

  TensorDict bad = {{"fc.weight", at::zeros({3, 3})},
                    {"extra.weight", at::zeros({1})},
                    {"stats", at::zeros({4})}};
  absl::StatusOr<LoadReport> r =
      LoadStateDictIntoModel(model, bad, {}, "bad.pt");
  ASSERT_FALSE(r.ok());
  const std::string m = Message(r.status());
  EXPECT_THAT(m, HasSubstr("missing keys (1): fc.bias"));
  EXPECT_THAT(m, HasSubstr("unexpected keys (1): extra.weight"));
  EXPECT_THAT(
      m, HasSubstr("wrong shapes (1): fc.weight: file [3, 3] vs model [2, 3]"));
  // Nothing was copied.
  EXPECT_TRUE(at::equal(model.stats, at::arange(4, at::kFloat)));

  LoadOptions lenient;
  lenient.ignore_missing_keys = {"fc.b*"};
  lenient.ignore_unexpected_keys = {"extra.*"};
  TensorDict partial = {{"fc.weight", at::ones({2, 3})},
                        {"extra.weight", at::zeros({1})},
                        {"stats", at::ones({4})}};
  absl::StatusOr<LoadReport> ok =
      LoadStateDictIntoModel(model, partial, lenient, "partial.pt");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_TRUE(ok->missing.empty());
  EXPECT_TRUE(at::equal(model.stats, at::ones({4})));

  LoadOptions not_strict;
  not_strict.strict = false;
  absl::StatusOr<LoadReport> loose = LoadStateDictIntoModel(
      model, {{"stats", at::zeros({4})}}, not_strict, "loose.pt");
  ASSERT_TRUE(loose.ok());
  EXPECT_EQ(loose->missing.size(), 2u);
}

TEST(LoadIntoModelTest, UnexpectedKeysAreErrorsEvenWhenNotStrict) {
  TinyImpl model;
  LoadOptions not_strict;
  not_strict.strict = false;
  absl::StatusOr<LoadReport> r = LoadStateDictIntoModel(
      model, {{"stats", at::ones({4})}, {"head.weight", at::zeros({1})}},
      not_strict, "extra.pt");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(Message(r.status()),
              HasSubstr("unexpected keys (1): head.weight"));
  EXPECT_TRUE(at::equal(model.stats, at::zeros({4})));  // nothing copied
}

TEST(LoadIntoModelTest, IgnorePatternThatMatchesNoKeyIsAnError) {
  TinyImpl model;
  TensorDict full = ModelStateDict(TinyImpl());
  LoadOptions typo;
  typo.ignore_missing_keys = {"fc.bais"};
  absl::StatusOr<LoadReport> r =
      LoadStateDictIntoModel(model, full, typo, "full.pt");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(Message(r.status()),
              HasSubstr("ignore_missing_keys pattern \"fc.bais\" matches "
                        "none of the 0 missing keys"));

  LoadOptions unexpected_typo;
  unexpected_typo.ignore_unexpected_keys = {"extra.*", "head.*"};
  full.emplace_back("extra.weight", at::zeros({1}));
  r = LoadStateDictIntoModel(model, full, unexpected_typo, "full.pt");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(Message(r.status()),
              HasSubstr("ignore_unexpected_keys pattern \"head.*\" matches "
                        "none of the 1 unexpected keys"));
  unexpected_typo.ignore_unexpected_keys = {"extra.*"};
  EXPECT_TRUE(
      LoadStateDictIntoModel(model, full, unexpected_typo, "full.pt").ok());
}

TEST(LoadIntoModelTest, ModelStateDictRoundTripsThroughAFile) {
  TinyImpl a, b;
  const std::string path = Temp("tiny.pt");
  ASSERT_TRUE(SaveModelCheckpoint(path, ModelStateDict(a)).ok());
  absl::StatusOr<TensorDict> sd = LoadStateDict(path);
  ASSERT_TRUE(sd.ok());
  ASSERT_TRUE(LoadStateDictIntoModel(b, *sd, {}, path).ok());
  EXPECT_TRUE(at::equal(a.fc->weight, b.fc->weight));
  EXPECT_TRUE(at::equal(a.fc->bias, b.fc->bias));
}

}  // namespace
}  // namespace sam2::checkpoint
