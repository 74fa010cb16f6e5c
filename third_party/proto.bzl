"""cc_proto: C++ code from .proto files with Debian's system protoc.

Bazel's native proto rules want @com_google_protobuf from the network; this
macro runs /usr/bin/protoc (protobuf-compiler) instead, whose generated code
matches the system libprotobuf it links against.
"""

def cc_proto(name, srcs, deps = [], visibility = None):
    """Generates <src>.pb.{h,cc} for each .proto in srcs and a cc_library `name`."""
    hdrs = [s[:-len(".proto")] + ".pb.h" for s in srcs]
    ccs = [s[:-len(".proto")] + ".pb.cc" for s in srcs]
    native.genrule(
        name = name + "_protoc",
        srcs = srcs + [d + "_srcs" for d in deps],
        outs = hdrs + ccs,
        cmd = " ".join([
            "/usr/bin/protoc",
            "--proto_path=.",
            "--proto_path=$(GENDIR)",
            "--cpp_out=$(GENDIR)",
        ] + ["$(location %s)" % s for s in srcs]),
    )
    native.filegroup(
        name = name + "_srcs",
        srcs = srcs,
        visibility = visibility,
    )
    native.cc_library(
        name = name,
        srcs = ccs,
        hdrs = hdrs,
        deps = deps + ["//third_party:protobuf"],
        visibility = visibility,
    )
