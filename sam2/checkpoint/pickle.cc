#include "sam2/checkpoint/pickle.h"

#include <ATen/ATen.h>

#include <cstring>
#include <map>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace sam2::checkpoint {
namespace {

// Storage classes of torch.save and their element types.
const std::map<std::string, at::ScalarType>& StorageTypes() {
  static const auto* types = new std::map<std::string, at::ScalarType>{
      {"torch.FloatStorage", at::kFloat},
      {"torch.DoubleStorage", at::kDouble},
      {"torch.HalfStorage", at::kHalf},
      {"torch.BFloat16Storage", at::kBFloat16},
      {"torch.LongStorage", at::kLong},
      {"torch.IntStorage", at::kInt},
      {"torch.ShortStorage", at::kShort},
      {"torch.CharStorage", at::kChar},
      {"torch.ByteStorage", at::kByte},
      {"torch.BoolStorage", at::kBool},
  };
  return *types;
}

const char* kOrderedDict = "collections.OrderedDict";
const char* kRebuildTensorV2 = "torch._utils._rebuild_tensor_v2";
const char* kRebuildTensor = "torch._utils._rebuild_tensor";
const char* kRebuildParameter = "torch._utils._rebuild_parameter";
const char* kRebuildParameterWithState =
    "torch._utils._rebuild_parameter_with_state";

bool IsAllowedGlobal(const std::string& name) {
  return name == kOrderedDict || name == kRebuildTensorV2 ||
         name == kRebuildTensor || name == kRebuildParameter ||
         name == kRebuildParameterWithState || StorageTypes().count(name) > 0;
}

class Unpickler {
 public:
  Unpickler(const std::string& data, const StorageLoader& load_storage,
            const std::string& source)
      : data_(data), load_storage_(load_storage), source_(source) {}

  absl::StatusOr<Value> Run() {
    while (true) {
      if (pos_ >= data_.size()) return Error("unexpected end of pickle data");
      const uint8_t op = static_cast<uint8_t>(data_[pos_++]);
      if (op == '.') {
        if (stack_.size() != 1)
          return Error("malformed pickle (stack at STOP)");
        return stack_.back();
      }
      if (absl::Status s = Step(op); !s.ok()) return s;
    }
  }

 private:
  absl::Status Error(const std::string& message) const {
    return absl::DataLossError(
        absl::StrCat(message, " at byte ", pos_, " of ", source_));
  }

  absl::Status Need(size_t n) const {
    if (pos_ + n > data_.size()) return Error("truncated pickle data");
    return absl::OkStatus();
  }

  uint64_t ReadUint(int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) {
      v |= static_cast<uint64_t>(static_cast<uint8_t>(data_[pos_ + i]))
           << (8 * i);
    }
    pos_ += bytes;
    return v;
  }

  absl::StatusOr<Value> Pop() {
    if (stack_.empty()) return Error("malformed pickle (empty stack)");
    Value v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }

  absl::StatusOr<Value::Items> PopToMark() {
    if (marks_.empty()) return Error("malformed pickle (no mark)");
    const size_t mark = marks_.back();
    marks_.pop_back();
    if (mark > stack_.size()) return Error("malformed pickle (bad mark)");
    Value::Items items(std::make_move_iterator(stack_.begin() + mark),
                       std::make_move_iterator(stack_.end()));
    stack_.resize(mark);
    return items;
  }

  absl::StatusOr<std::string> ReadLine() {
    const size_t end = data_.find('\n', pos_);
    if (end == std::string::npos) return Error("truncated GLOBAL");
    std::string line = data_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return line;
  }

  absl::Status PushString(size_t length_bytes) {
    if (absl::Status s = Need(length_bytes); !s.ok()) return s;
    const uint64_t n = ReadUint(static_cast<int>(length_bytes));
    if (absl::Status s = Need(n); !s.ok()) return s;
    stack_.push_back(Value::String(data_.substr(pos_, n)));
    pos_ += n;
    return absl::OkStatus();
  }

  absl::Status Global(const std::string& module, const std::string& name) {
    const std::string full = module + "." + name;
    if (!IsAllowedGlobal(full)) {
      return absl::UnimplementedError(absl::StrCat(
          "unsupported pickle global '", full, "' in ", source_,
          " (only tensors, storages and OrderedDicts can be read)"));
    }
    stack_.push_back(Value::Global(module, name));
    return absl::OkStatus();
  }

  absl::StatusOr<at::Tensor> Rebuild(const Value::Items& args, bool v2) {
    if (args.size() < 4 || args[0].kind() != Value::Kind::kStorage ||
        !args[2].is_sequence() || !args[3].is_sequence()) {
      return Error("malformed tensor record");
    }
    const Value& storage = args[0];
    absl::StatusOr<at::Tensor> data = load_storage_(
        storage.as_string(), storage.storage_dtype(), storage.storage_numel());
    if (!data.ok()) return data.status();
    std::vector<int64_t> size, stride;
    for (const Value& v : args[2].items()) size.push_back(v.as_int());
    for (const Value& v : args[3].items()) stride.push_back(v.as_int());
    if (size.size() != stride.size())
      return Error("tensor size/stride mismatch");
    const int64_t offset = args[1].as_int();
    int64_t extent = offset;
    bool empty = false;
    for (size_t i = 0; i < size.size(); ++i) {
      if (size[i] == 0) empty = true;
      extent += (size[i] - 1) * stride[i];
    }
    if (!empty && (offset < 0 || extent >= data->numel())) {
      return Error(absl::StrCat("tensor view reaches past its storage '",
                                storage.as_string(), "'"));
    }
    (void)v2;
    return data->as_strided(size, stride, offset);
  }

  absl::StatusOr<Value> Call(const Value& callable, const Value& args) {
    if (callable.kind() != Value::Kind::kGlobal) {
      return Error("REDUCE on something that is not a class or function");
    }
    const std::string& name = callable.global_name();
    if (!args.is_sequence()) return Error("REDUCE arguments are not a tuple");
    const Value::Items& a = args.items();
    if (name == kOrderedDict) {
      Value dict = Value::OrderedDict();
      if (!a.empty() && a[0].is_sequence()) {
        for (const Value& pair : a[0].items()) {
          if (!pair.is_sequence() || pair.items().size() != 2) {
            return Error("malformed OrderedDict items");
          }
          dict.mutable_entries().emplace_back(pair.items()[0], pair.items()[1]);
        }
      }
      return dict;
    }
    if (name == kRebuildTensorV2 || name == kRebuildTensor) {
      absl::StatusOr<at::Tensor> t = Rebuild(a, name == kRebuildTensorV2);
      if (!t.ok()) return t.status();
      return Value::Tensor(*t);
    }
    if (name == kRebuildParameter || name == kRebuildParameterWithState) {
      if (a.empty() || a[0].kind() != Value::Kind::kTensor) {
        return Error("malformed parameter record");
      }
      return a[0];
    }
    return absl::UnimplementedError(
        absl::StrCat("unsupported call of '", name, "' in ", source_));
  }

  absl::Status PersistentLoad(const Value& pid) {
    if (!pid.is_sequence() || pid.items().size() < 5 ||
        pid.items()[0].as_string() != "storage" ||
        pid.items()[1].kind() != Value::Kind::kGlobal) {
      return Error("unsupported persistent id (not a torch storage)");
    }
    const Value::Items& p = pid.items();
    auto type = StorageTypes().find(p[1].global_name());
    if (type == StorageTypes().end()) {
      return absl::UnimplementedError(absl::StrCat(
          "unsupported storage type '", p[1].global_name(), "' in ", source_));
    }
    stack_.push_back(
        Value::Storage(p[2].as_string(), type->second, p[4].as_int()));
    return absl::OkStatus();
  }

  absl::Status Step(uint8_t op) {
    switch (op) {
      case 0x80:  // PROTO
        if (absl::Status s = Need(1); !s.ok()) return s;
        ++pos_;
        return absl::OkStatus();
      case 0x95:  // FRAME
        if (absl::Status s = Need(8); !s.ok()) return s;
        pos_ += 8;
        return absl::OkStatus();
      case '}':
        stack_.push_back(Value::Dict());
        return absl::OkStatus();
      case ']':
        stack_.push_back(Value::List());
        return absl::OkStatus();
      case ')':
        stack_.push_back(Value::Tuple());
        return absl::OkStatus();
      case '(':
        marks_.push_back(stack_.size());
        return absl::OkStatus();
      case 'N':
        stack_.push_back(Value::None());
        return absl::OkStatus();
      case 0x88:
        stack_.push_back(Value::Bool(true));
        return absl::OkStatus();
      case 0x89:
        stack_.push_back(Value::Bool(false));
        return absl::OkStatus();
      case 'K':
        if (absl::Status s = Need(1); !s.ok()) return s;
        stack_.push_back(Value::Int(static_cast<int64_t>(ReadUint(1))));
        return absl::OkStatus();
      case 'M':
        if (absl::Status s = Need(2); !s.ok()) return s;
        stack_.push_back(Value::Int(static_cast<int64_t>(ReadUint(2))));
        return absl::OkStatus();
      case 'J':
        if (absl::Status s = Need(4); !s.ok()) return s;
        stack_.push_back(Value::Int(static_cast<int32_t>(ReadUint(4))));
        return absl::OkStatus();
      case 0x8a: {  // LONG1
        if (absl::Status s = Need(1); !s.ok()) return s;
        const int n = static_cast<int>(ReadUint(1));
        if (n > 8) return Error("integer too large");
        if (absl::Status s = Need(n); !s.ok()) return s;
        uint64_t v = n == 0 ? 0 : ReadUint(n);
        if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~0ULL << (8 * n);
        stack_.push_back(Value::Int(static_cast<int64_t>(v)));
        return absl::OkStatus();
      }
      case 'G': {  // BINFLOAT, big-endian
        if (absl::Status s = Need(8); !s.ok()) return s;
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) {
          bits = (bits << 8) | static_cast<uint8_t>(data_[pos_ + i]);
        }
        pos_ += 8;
        double d;
        std::memcpy(&d, &bits, 8);
        stack_.push_back(Value::Double(d));
        return absl::OkStatus();
      }
      case 'X':  // BINUNICODE
      case 'T':  // BINSTRING
      case 'B':  // BINBYTES
        return PushString(4);
      case 0x8c:  // SHORT_BINUNICODE
      case 'U':   // SHORT_BINSTRING
      case 'C':   // SHORT_BINBYTES
        return PushString(1);
      case 0x8d:  // BINUNICODE8
        return PushString(8);
      case 'c': {
        absl::StatusOr<std::string> module = ReadLine();
        if (!module.ok()) return module.status();
        absl::StatusOr<std::string> name = ReadLine();
        if (!name.ok()) return name.status();
        return Global(*module, *name);
      }
      case 0x93: {  // STACK_GLOBAL
        absl::StatusOr<Value> name = Pop();
        if (!name.ok()) return name.status();
        absl::StatusOr<Value> module = Pop();
        if (!module.ok()) return module.status();
        return Global(module->as_string(), name->as_string());
      }
      case 'q':
      case 'r':
      case 0x94: {  // BINPUT, LONG_BINPUT, MEMOIZE
        uint64_t index = memo_.size();
        if (op != 0x94) {
          const int n = op == 'q' ? 1 : 4;
          if (absl::Status s = Need(n); !s.ok()) return s;
          index = ReadUint(n);
        }
        if (stack_.empty()) return Error("malformed pickle (memo of nothing)");
        memo_[index] = stack_.back();
        return absl::OkStatus();
      }
      case 'h':
      case 'j': {  // BINGET, LONG_BINGET
        const int n = op == 'h' ? 1 : 4;
        if (absl::Status s = Need(n); !s.ok()) return s;
        auto it = memo_.find(ReadUint(n));
        if (it == memo_.end()) return Error("malformed pickle (bad memo get)");
        stack_.push_back(it->second);
        return absl::OkStatus();
      }
      case 't': {
        absl::StatusOr<Value::Items> items = PopToMark();
        if (!items.ok()) return items.status();
        stack_.push_back(Value::Tuple(std::move(*items)));
        return absl::OkStatus();
      }
      case 0x85:
      case 0x86:
      case 0x87: {
        const size_t n = op - 0x84;
        if (stack_.size() < n) return Error("malformed pickle (short tuple)");
        Value::Items items(stack_.end() - n, stack_.end());
        stack_.resize(stack_.size() - n);
        stack_.push_back(Value::Tuple(std::move(items)));
        return absl::OkStatus();
      }
      case 'Q': {
        absl::StatusOr<Value> pid = Pop();
        if (!pid.ok()) return pid.status();
        return PersistentLoad(*pid);
      }
      case 'R':
      case 0x81: {  // REDUCE, NEWOBJ
        absl::StatusOr<Value> args = Pop();
        if (!args.ok()) return args.status();
        absl::StatusOr<Value> callable = Pop();
        if (!callable.ok()) return callable.status();
        absl::StatusOr<Value> result = Call(*callable, *args);
        if (!result.ok()) return result.status();
        stack_.push_back(std::move(*result));
        return absl::OkStatus();
      }
      case 's': {
        if (stack_.size() < 3) return Error("malformed pickle (SETITEM)");
        Value value = std::move(stack_.back());
        stack_.pop_back();
        Value key = std::move(stack_.back());
        stack_.pop_back();
        if (!stack_.back().is_dict()) return Error("SETITEM on a non-dict");
        stack_.back().mutable_entries().emplace_back(std::move(key),
                                                     std::move(value));
        return absl::OkStatus();
      }
      case 'u': {
        absl::StatusOr<Value::Items> items = PopToMark();
        if (!items.ok()) return items.status();
        if (stack_.empty() || !stack_.back().is_dict() || items->size() % 2) {
          return Error("malformed pickle (SETITEMS)");
        }
        for (size_t i = 0; i < items->size(); i += 2) {
          stack_.back().mutable_entries().emplace_back((*items)[i],
                                                       (*items)[i + 1]);
        }
        return absl::OkStatus();
      }
      case 'a': {
        absl::StatusOr<Value> v = Pop();
        if (!v.ok()) return v.status();
        if (stack_.empty() || stack_.back().kind() != Value::Kind::kList) {
          return Error("APPEND on a non-list");
        }
        stack_.back().mutable_items().push_back(std::move(*v));
        return absl::OkStatus();
      }
      case 'e': {
        absl::StatusOr<Value::Items> items = PopToMark();
        if (!items.ok()) return items.status();
        if (stack_.empty() || stack_.back().kind() != Value::Kind::kList) {
          return Error("APPENDS on a non-list");
        }
        for (Value& v : *items) stack_.back().mutable_items().push_back(v);
        return absl::OkStatus();
      }
      case 'b': {  // BUILD: object state. OrderedDict's is the state_dict's
                   // _metadata (module versions), which we do not need.
        absl::StatusOr<Value> state = Pop();
        if (!state.ok()) return state.status();
        if (stack_.empty()) return Error("BUILD on nothing");
        const Value::Kind k = stack_.back().kind();
        if (k != Value::Kind::kOrderedDict && k != Value::Kind::kTensor &&
            k != Value::Kind::kDict) {
          return absl::UnimplementedError(
              absl::StrCat("unsupported BUILD of a ", stack_.back().KindName(),
                           " in ", source_));
        }
        return absl::OkStatus();
      }
      default:
        return absl::UnimplementedError(absl::StrFormat(
            "unsupported pickle opcode 0x%02x ('%c') at byte %d of %s", op,
            (op >= 32 && op < 127) ? op : '?', pos_ - 1, source_));
    }
  }

  const std::string& data_;
  const StorageLoader& load_storage_;
  const std::string& source_;
  size_t pos_ = 0;
  std::vector<Value> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Value> memo_;
};

// ---------------------------------------------------------------- pickler ----

const char* StorageTypeName(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat:
      return "FloatStorage";
    case at::kDouble:
      return "DoubleStorage";
    case at::kHalf:
      return "HalfStorage";
    case at::kBFloat16:
      return "BFloat16Storage";
    case at::kLong:
      return "LongStorage";
    case at::kInt:
      return "IntStorage";
    case at::kShort:
      return "ShortStorage";
    case at::kChar:
      return "CharStorage";
    case at::kByte:
      return "ByteStorage";
    case at::kBool:
      return "BoolStorage";
    default:
      return nullptr;
  }
}

class Pickler {
 public:
  explicit Pickler(std::vector<StorageRecord>* storages)
      : storages_(storages) {}

  absl::StatusOr<std::string> Run(const Value& value) {
    out_.push_back(static_cast<char>(0x80));
    out_.push_back(2);
    if (absl::Status s = Put(value); !s.ok()) return s;
    out_.push_back('.');
    return std::move(out_);
  }

 private:
  void Op(char op) { out_.push_back(op); }
  void Global(const std::string& module, const std::string& name) {
    out_ += 'c' + module + '\n' + name + '\n';
  }
  void Uint(uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i)
      out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void String(const std::string& s) {
    Op('X');
    Uint(s.size(), 4);
    out_ += s;
  }
  void Int(int64_t v) {
    if (v >= 0 && v < 256) {
      Op('K');
      Uint(v, 1);
    } else if (v >= 0 && v < 65536) {
      Op('M');
      Uint(v, 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      Op('J');
      Uint(static_cast<uint32_t>(static_cast<int32_t>(v)), 4);
    } else {
      out_.push_back(static_cast<char>(0x8a));
      out_.push_back(8);
      Uint(static_cast<uint64_t>(v), 8);
    }
  }
  void Double(double d) {
    Op('G');
    uint64_t bits;
    std::memcpy(&bits, &d, 8);
    for (int i = 7; i >= 0; --i)
      out_.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
  }
  void IntTuple(at::IntArrayRef values) {
    Op('(');
    for (int64_t v : values) Int(v);
    Op('t');
  }

  absl::Status Tensor(const at::Tensor& tensor) {
    const at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
    const char* storage_type = StorageTypeName(t.scalar_type());
    if (storage_type == nullptr) {
      return absl::UnimplementedError(absl::StrCat(
          "cannot save tensors of type ", c10::toString(t.scalar_type())));
    }
    const std::string key = std::to_string(storages_->size());
    storages_->push_back({key, t.reshape({-1})});
    Global("torch._utils", "_rebuild_tensor_v2");
    Op('(');
    // Persistent id: ('storage', storage class, key, location, numel).
    Op('(');
    String("storage");
    Global("torch", storage_type);
    String(key);
    String("cpu");
    Int(t.numel());
    Op('t');
    Op('Q');
    Int(0);  // storage offset
    IntTuple(t.sizes());
    IntTuple(t.strides());
    out_.push_back(static_cast<char>(0x89));  // requires_grad False
    Global("collections", "OrderedDict");     // backward hooks
    Op(')');
    Op('R');
    Op('t');
    Op('R');
    return absl::OkStatus();
  }

  absl::Status Put(const Value& v) {
    switch (v.kind()) {
      case Value::Kind::kNone:
        Op('N');
        return absl::OkStatus();
      case Value::Kind::kBool:
        out_.push_back(static_cast<char>(v.as_bool() ? 0x88 : 0x89));
        return absl::OkStatus();
      case Value::Kind::kInt:
        Int(v.as_int());
        return absl::OkStatus();
      case Value::Kind::kDouble:
        Double(v.as_double());
        return absl::OkStatus();
      case Value::Kind::kString:
        String(v.as_string());
        return absl::OkStatus();
      case Value::Kind::kTensor:
        return Tensor(v.as_tensor());
      case Value::Kind::kList:
        Op(']');
        if (!v.items().empty()) {
          Op('(');
          for (const Value& item : v.items()) {
            if (absl::Status s = Put(item); !s.ok()) return s;
          }
          Op('e');
        }
        return absl::OkStatus();
      case Value::Kind::kTuple:
        Op('(');
        for (const Value& item : v.items()) {
          if (absl::Status s = Put(item); !s.ok()) return s;
        }
        Op('t');
        return absl::OkStatus();
      case Value::Kind::kDict:
      case Value::Kind::kOrderedDict:
        if (v.kind() == Value::Kind::kOrderedDict) {
          Global("collections", "OrderedDict");
          Op(')');
          Op('R');
        } else {
          Op('}');
        }
        if (!v.entries().empty()) {
          Op('(');
          for (const auto& [key, value] : v.entries()) {
            if (absl::Status s = Put(key); !s.ok()) return s;
            if (absl::Status s = Put(value); !s.ok()) return s;
          }
          Op('u');
        }
        return absl::OkStatus();
      case Value::Kind::kGlobal:
      case Value::Kind::kStorage:
        return absl::InvalidArgumentError(
            absl::StrCat("cannot save a ", v.KindName()));
    }
    return absl::InternalError("unknown value kind");
  }

  std::vector<StorageRecord>* storages_;
  std::string out_;
};

}  // namespace

Value Value::Bool(bool v) {
  Value out;
  out.kind_ = Kind::kBool;
  out.int_ = v;
  return out;
}
Value Value::Int(int64_t v) {
  Value out;
  out.kind_ = Kind::kInt;
  out.int_ = v;
  return out;
}
Value Value::Double(double v) {
  Value out;
  out.kind_ = Kind::kDouble;
  out.double_ = v;
  return out;
}
Value Value::String(std::string v) {
  Value out;
  out.kind_ = Kind::kString;
  out.string_ = std::move(v);
  return out;
}
Value Value::Tensor(at::Tensor v) {
  Value out;
  out.kind_ = Kind::kTensor;
  out.tensor_ = std::move(v);
  return out;
}
Value Value::List(Items items) {
  Value out;
  out.kind_ = Kind::kList;
  out.items_ = std::make_shared<Items>(std::move(items));
  return out;
}
Value Value::Tuple(Items items) {
  Value out = List(std::move(items));
  out.kind_ = Kind::kTuple;
  return out;
}
Value Value::Dict(Entries entries) {
  Value out;
  out.kind_ = Kind::kDict;
  out.entries_ = std::make_shared<Entries>(std::move(entries));
  return out;
}
Value Value::OrderedDict(Entries entries) {
  Value out = Dict(std::move(entries));
  out.kind_ = Kind::kOrderedDict;
  return out;
}
Value Value::Global(std::string module, std::string name) {
  Value out;
  out.kind_ = Kind::kGlobal;
  out.string_ = module + "." + name;
  return out;
}
Value Value::Storage(std::string key, at::ScalarType dtype, int64_t numel) {
  Value out;
  out.kind_ = Kind::kStorage;
  out.string_ = std::move(key);
  out.dtype_ = dtype;
  out.int_ = numel;
  return out;
}

const Value* Value::Find(const std::string& key) const {
  if (!is_dict()) return nullptr;
  for (const auto& [k, v] : *entries_) {
    if (k.kind() == Kind::kString && k.as_string() == key) return &v;
  }
  return nullptr;
}

void Value::Set(const std::string& key, Value value) {
  for (auto& [k, v] : *entries_) {
    if (k.kind() == Kind::kString && k.as_string() == key) {
      v = std::move(value);
      return;
    }
  }
  entries_->emplace_back(String(key), std::move(value));
}

std::string Value::KindName() const {
  switch (kind_) {
    case Kind::kNone:
      return "None";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kDouble:
      return "float";
    case Kind::kString:
      return "str";
    case Kind::kTensor:
      return "tensor";
    case Kind::kList:
      return "list";
    case Kind::kTuple:
      return "tuple";
    case Kind::kDict:
      return "dict";
    case Kind::kOrderedDict:
      return "OrderedDict";
    case Kind::kGlobal:
      return "global " + string_;
    case Kind::kStorage:
      return "storage";
  }
  return "?";
}

absl::StatusOr<Value> Unpickle(const std::string& data,
                               const StorageLoader& load_storage,
                               const std::string& source) {
  return Unpickler(data, load_storage, source).Run();
}

absl::StatusOr<std::string> Pickle(const Value& value,
                                   std::vector<StorageRecord>* storages) {
  return Pickler(storages).Run(value);
}

}  // namespace sam2::checkpoint
