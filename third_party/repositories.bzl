"""Repositories for system libraries installed from Debian's packages.

Bazel 4.2.3 asks the network for @rules_cc, @rules_java and
@remote_coverage_tools; we give it local stand-ins instead.
"""

load("//third_party:libtorch.bzl", "libtorch_repository")
load("//third_party:nccl.bzl", "nccl_repository")

def sam2_dependencies():
    # Stand-in whose cc/defs.bzl re-exports the native rules: Debian's
    # bazel-rules-cc is too new for Bazel 4.2.3.
    native.local_repository(
        name = "rules_cc",
        path = "third_party/rules_cc",
    )
    native.local_repository(
        name = "rules_java",
        path = "/usr/share/bazel/rules/java",
    )
    native.local_repository(
        name = "remote_coverage_tools",
        path = "third_party/remote_coverage_tools",
    )
    libtorch_repository(name = "libtorch")
    nccl_repository(name = "nccl")
    native.new_local_repository(
        name = "openmpi",
        path = "/usr/lib/x86_64-linux-gnu/openmpi",
        build_file = "//third_party:openmpi.BUILD",
    )
    native.new_local_repository(
        name = "opencv",
        path = "/usr/include/opencv4",
        build_file = "//third_party:opencv.BUILD",
    )
