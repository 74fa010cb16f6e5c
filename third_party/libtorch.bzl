"""LibTorch as a Bazel repository.

Default: Debian's libtorch-dev (CPU, headers under /usr/include, libraries on
the system path). With --repo_env=LIBTORCH_DIR=/path/to/libtorch (the layout of
PyTorch's LibTorch archives and of `torch.utils.cmake_prefix_path/../..`), that
LibTorch is used instead, CUDA libraries included when it has them.
"""

_BUILD = """
package(default_visibility = ["//visibility:public"])

cc_library(
    name = "torch",
    hdrs = glob(["include/**/*.h", "include/**/*.hpp", "include/**/*.cuh"], allow_empty = True),
    includes = ["include", "include/torch/csrc/api/include"],
    defines = {defines},
    linkopts = {linkopts},
)
"""

def _libtorch_repository_impl(ctx):
    libtorch_dir = ctx.os.environ.get("LIBTORCH_DIR", "")
    if libtorch_dir:
        if not ctx.path(libtorch_dir + "/include/torch").exists:
            fail("LIBTORCH_DIR=%s has no include/torch: point it at a LibTorch directory" % libtorch_dir)
        ctx.symlink(libtorch_dir + "/include", "include")
        lib = libtorch_dir + "/lib"
        linkopts = ["-L" + lib, "-Wl,-rpath," + lib, "-Wl,--no-as-needed"]
        for name in ["torch_cuda", "c10_cuda"]:
            if ctx.path(lib + "/lib%s.so" % name).exists:
                linkopts.append("-l" + name)
        linkopts += ["-ltorch", "-ltorch_cpu", "-lc10", "-Wl,--as-needed"]
        defines = ["SAM2_LIBTORCH_CUSTOM=1"]
    else:
        for d in ["ATen", "c10", "caffe2", "torch"]:
            ctx.symlink("/usr/include/" + d, "include/" + d)
        linkopts = ["-ltorch", "-ltorch_cpu", "-lc10"]
        defines = []
    ctx.file("BUILD.bazel", _BUILD.format(defines = repr(defines), linkopts = repr(linkopts)))
    ctx.file("WORKSPACE", "workspace(name = \"libtorch\")\n")

libtorch_repository = repository_rule(
    implementation = _libtorch_repository_impl,
    environ = ["LIBTORCH_DIR"],
    local = True,
)
