"""NCCL for --config=cuda: from NCCL_HOME, else CUDA_HOME, else /usr/local/cuda.

The repository always exists so that `bazel query //...` works on CPU-only
machines; its library target is only linked by --config=cuda builds.
"""

_BUILD = """
package(default_visibility = ["//visibility:public"])

cc_library(
    name = "nccl",
    hdrs = glob(["include/**/*.h"], allow_empty = True),
    includes = ["include"],
    linkopts = {linkopts},
)

# The CUDA runtime's headers come from CUDA_HOME (NCCL_HOME may be elsewhere).
cc_library(
    name = "cudart",
    hdrs = glob(["cuda_include/**/*.h"], allow_empty = True),
    includes = ["cuda_include"],
    linkopts = {cudart_linkopts},
)
"""

def _find_lib_dir(ctx, root):
    for sub in ["lib64", "lib", "targets/x86_64-linux/lib"]:
        if ctx.path(root + "/" + sub + "/libnccl.so").exists:
            return root + "/" + sub
    return root + "/lib64"

def _nccl_repository_impl(ctx):
    env = ctx.os.environ
    cuda = env.get("CUDA_HOME", "/usr/local/cuda")
    nccl = env.get("NCCL_HOME", cuda)
    if ctx.path(nccl + "/include").exists:
        ctx.symlink(nccl + "/include", "include")
    else:
        ctx.file("include/.empty", "")
    if ctx.path(cuda + "/include").exists:
        ctx.symlink(cuda + "/include", "cuda_include")
    else:
        ctx.file("cuda_include/.empty", "")
    lib = _find_lib_dir(ctx, nccl)
    cuda_lib = cuda + "/lib64"
    ctx.file("BUILD.bazel", _BUILD.format(
        linkopts = repr(["-L" + lib, "-Wl,-rpath," + lib, "-lnccl"]),
        cudart_linkopts = repr(["-L" + cuda_lib, "-Wl,-rpath," + cuda_lib, "-lcudart"]),
    ))
    ctx.file("WORKSPACE", "workspace(name = \"nccl\")\n")

nccl_repository = repository_rule(
    implementation = _nccl_repository_impl,
    environ = ["NCCL_HOME", "CUDA_HOME"],
    local = True,
)
