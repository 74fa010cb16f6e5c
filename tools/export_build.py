#!/usr/bin/env python3
"""Exports Bazel's build of a binary as a self-contained ninja build.

For machines that have a compiler, ninja, LibTorch (and CUDA) but no Bazel
and no network (the GPU machines the project is lent): the compile and link
commands of TARGET come from Bazel's action graph (`bazel aquery`), the
sources and the generated files (protobuf) are copied, the headers of the
external repositories are copied with their symlinks resolved, and with
--pack the Debian libraries the binary links (absl, protobuf, glog, gflags,
png, turbojpeg, OpenCV, Open MPI, tcmalloc, ...) and their headers travel
too. LibTorch, CUDA and the compiler are parameters of the exported build:

  tools/export_build.py --out=/tmp/sam2-export [--pack] [--cuda] [TARGET ...]
  cd /tmp/sam2-export && ./configure.sh [--libtorch=DIR] [--cuda_home=DIR] \
      [--cxx=g++] [--cxx11_abi=0|1] && ninja
  ./bazel-out/k8-opt/bin/jobs/train --config=demo

Without --libtorch the build uses Debian's LibTorch (headers in
/usr/include, libraries on the system path), as the Bazel build does.
--cuda exports the CUDA build's graph (--config=cuda without a CUDA LibTorch
here: the graph only, nothing is compiled); build it with --libtorch pointing
at a CUDA LibTorch, e.g. a PyTorch 2.x installation's torch/ folder.
"""

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BAZEL_FLAGS = ["--disk_cache=" + os.path.expanduser("~/.cache/sam2-bazel-disk")]
CUDA_FLAGS = ["--define=sam2_cuda=true", "--copt=-DSAM2_WITH_CUDA=1"]
# Libraries that belong to the machine the build runs on, not to the export.
SYSTEM_LIBS = re.compile(
    r"^lib(c|m|dl|rt|pthread|stdc\+\+|gcc_s|util|resolv|z)\.so|^ld-linux")
TORCH_LIBS = re.compile(r"^-l(torch|torch_cpu|torch_cuda|c10|c10_cuda)$")
CUDA_LIBS = re.compile(r"^-l(cudart|nccl)$")
# System headers the project includes, for --pack (under /usr/include).
PACKED_HEADERS = ["absl", "google/protobuf", "glog", "gflags", "nlohmann",
                  "png.h", "pngconf.h", "pnglibconf.h", "turbojpeg.h",
                  "zlib.h", "zconf.h"]


def run(cmd, **kw):
    return subprocess.run(cmd, cwd=REPO, check=True, text=True,
                          capture_output=True, **kw).stdout


def aquery(expr, extra):
    out = run(["bazel", "aquery"] + BAZEL_FLAGS + extra +
              ["--include_param_files", "--output=jsonproto", expr])
    return json.loads(out).get("actions", [])


def arg_after(args, flag):
    return args[args.index(flag) + 1]


def rewrite(arg):
    """Paths into Bazel's external repositories become export paths."""
    if arg.startswith("external/libtorch/include"):
        return "$libtorch_include" + arg[len("external/libtorch/include"):]
    # CUDA's and NCCL's headers come from the machine's CUDA.
    for prefix in ("external/nccl/cuda_include", "external/nccl/include"):
        if arg.startswith(prefix):
            return "$cuda_include" + arg[len(prefix):]
    if arg.startswith("bazel-out/k8-opt/bin/external/"):
        return None  # empty in Bazel's tree too
    return arg


def compile_command(args):
    out = []
    skip = False
    for i, a in enumerate(args[1:]):
        if skip:
            skip = False
            continue
        if a in ("-MD",):
            continue
        if a == "-MF":  # ninja writes its own depfile
            skip = True
            continue
        if a in ("-isystem", "-iquote", "-I"):
            path = rewrite(args[i + 2])
            skip = True
            if path is not None:
                out += [a, path]
            continue
        out.append(rewrite(a) or a)
    return out


def copy_tree_resolved(src, dst):
    if os.path.isdir(src):
        shutil.copytree(src, dst, symlinks=False, dirs_exist_ok=True)
    elif os.path.exists(src):
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(src, dst)


def shared_library(name):
    """The file of -l<name> as the system linker finds it."""
    for pattern in ("lib%s.so", "lib%s.a"):
        path = subprocess.run(["gcc", "-print-file-name=" + pattern % name],
                              capture_output=True, text=True).stdout.strip()
        if os.path.isabs(path) and os.path.exists(path):
            return os.path.realpath(path)
    return None


# BLAS and LAPACK as OpenCV's core needs them (it never calls them here): the
# small reference builds instead of the machine's OpenBLAS (36 MB).
REFERENCE_BLAS = {
    "libblas.so.3": "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3",
    "liblapack.so.3": "/usr/lib/x86_64-linux-gnu/lapack/liblapack.so.3",
}
# Not needed at run time by the job (X11 and GL come with OpenCV's core).
UNPACKED = re.compile(r"^lib(openblas|torch|c10|cud|nccl|nv|X|xcb|GL|bsd|md)")


def soname(path):
    out = subprocess.run(["objdump", "-p", path], capture_output=True,
                         text=True).stdout
    m = re.search(r"SONAME\s+(\S+)", out)
    return m.group(1) if m else os.path.basename(path)


def ldd_closure(paths):
    """{soname: file} of `paths` and the libraries they need, transitively."""
    seen = {}
    todo = [(soname(p), p) for p in paths]
    while todo:
        name, p = todo.pop()
        if name in seen or UNPACKED.match(name) or SYSTEM_LIBS.match(name):
            continue
        p = REFERENCE_BLAS.get(name, p)
        seen[name] = os.path.realpath(p)
        out = subprocess.run(["ldd", seen[name]], capture_output=True,
                             text=True).stdout
        for line in out.splitlines():
            m = re.match(r"\s*(\S+) => (\S+)", line)
            if m:
                todo.append((m.group(1), m.group(2)))
    return seen


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("targets", nargs="*", metavar="TARGET",
                        help="binaries to export (default: //jobs:train)")
    parser.add_argument("--out", required=True, help="export folder (replaced)")
    parser.add_argument("--pack", action="store_true",
                        help="also copy the Debian libraries and headers")
    parser.add_argument("--cuda", action="store_true",
                        help="export the CUDA build's graph (--config=cuda)")
    opts = parser.parse_args()
    extra = CUDA_FLAGS if opts.cuda else []
    out_dir = os.path.abspath(opts.out)
    if os.path.exists(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(out_dir)

    targets = opts.targets or ["//jobs:train"]
    all_deps = " + ".join("deps(%s)" % t for t in targets)
    # Generated sources (protobuf) must exist; only they are built here.
    gen = run(["bazel", "query", "kind('generated file', %s) "
               "except deps(@libtorch//:torch)" % all_deps]).split()
    gen = [g for g in gen if g.startswith("//")]
    if gen:
        run(["bazel", "build"] + BAZEL_FLAGS + extra + gen)
    link_actions = []
    for target in targets:
        links = [a for a in aquery("mnemonic('CppLink', %s)" % target, extra)]
        if len(links) != 1:
            sys.exit("export_build: expected one link action for %s" % target)
        link_actions.append(links[0]["arguments"])
    objects = {a for args in link_actions for a in args if a.endswith(".o")}
    compiles = {}
    for a in aquery("mnemonic('CppCompile', %s)" % all_deps, extra):
        obj = arg_after(a["arguments"], "-o")
        if obj in objects:
            compiles[obj] = a  # the binaries share most objects
    compiles = list(compiles.values())

    # Sources: the repository's tracked files that the compiles need, and the
    # generated ones from bazel-bin.
    for rel in run(["git", "ls-files"]).split():
        top = rel.split("/")[0]
        source = rel.endswith((".h", ".cc", ".inc")) and "testdata" not in rel
        if (top in ("base", "configs", "data", "distributed", "sam2", "jobs",
                    "eval", "third_party") and source) or (top == "configs" and "_test" not in rel):
            copy_tree_resolved(os.path.join(REPO, rel), os.path.join(out_dir, rel))
    bin_dir = os.path.join(REPO, "bazel-bin")
    for root, _, files in os.walk(bin_dir, followlinks=False):
        rel_root = os.path.relpath(root, bin_dir)
        if rel_root.startswith(("external", "_", ".")) or ".runfiles" in rel_root:
            continue
        for f in files:
            if f.endswith((".pb.h", ".pb.cc")):
                copy_tree_resolved(os.path.join(root, f),
                                   os.path.join(out_dir, "bazel-out/k8-opt/bin",
                                                rel_root, f))
    base = run(["bazel", "info", "output_base"]).strip()
    copy_tree_resolved(os.path.join(base, "external/openmpi/include"),
                       os.path.join(out_dir, "external/openmpi/include"))
    # OpenCV: the modules the project uses (core, imgproc).
    cv = os.path.join(base, "external/opencv/opencv2")
    for entry in os.listdir(cv):
        if entry.startswith(("core", "imgproc", "opencv_modules", "cvconfig")):
            copy_tree_resolved(os.path.join(cv, entry),
                               os.path.join(out_dir, "external/opencv/opencv2", entry))

    # The links: torch and CUDA libraries become parameters.
    links = []  # (binary, arguments)
    libs = []
    for link_args in link_actions:
        link = []
        for a in link_args[1:]:
            if a.startswith(("@", "-Wl,@")):
                continue  # the params file; its arguments are in the list too
            if TORCH_LIBS.match(a) or a.startswith("-L") and ("libtorch" in a or "cuda" in a):
                continue
            if CUDA_LIBS.match(a):
                continue
            if a.startswith("-Wl,-rpath,") and ("libtorch" in a or "cuda" in a):
                continue
            if a.startswith("-l") and a[2:] not in libs:
                libs.append(a[2:])
            link.append(a)
        links.append((arg_after(link_args, "-o"), link))
    packed = []
    if opts.pack:
        lib_dir = os.path.join(out_dir, "lib")
        os.makedirs(lib_dir)
        found = [p for p in (shared_library(n) for n in libs) if p]
        closure = ldd_closure([p for p in found if ".so" in p])
        for name, p in closure.items():
            shutil.copy2(p, os.path.join(lib_dir, name))  # as the loader asks
            packed.append(name)
        # Link names (libfoo.so) for the linker.
        for n in libs:
            p = shared_library(n)
            name = soname(p) if p and ".so" in p else None
            if name in closure and not os.path.exists(
                    os.path.join(lib_dir, "lib%s.so" % n)):
                os.symlink(name, os.path.join(lib_dir, "lib%s.so" % n))
        for h in PACKED_HEADERS:
            copy_tree_resolved(os.path.join("/usr/include", h),
                               os.path.join(out_dir, "include", h))

    write_ninja(out_dir, compiles, links, opts)
    size = subprocess.run(["du", "-sh", out_dir], capture_output=True,
                          text=True).stdout.split()[0]
    print("export_build: %s: %d compiles, %d links (%s), %d packed libraries, %s"
          % (out_dir, len(compiles), len(links),
             ", ".join(b for b, _ in links), len(packed), size))


def write_ninja(out_dir, compiles, links, opts):
    lines = [
        "# Exported from Bazel by tools/export_build.py; ./configure.sh writes",
        "# config.ninja (compiler, LibTorch, CUDA).",
        "include config.ninja",
        "rule cxx",
        "  command = $cxx -MMD -MF $out.d $abi_flags $args $extra_cflags -c $in -o $out",
        "  depfile = $out.d",
        "  deps = gcc",
        "  description = CXX $in",
        "rule link",
        "  command = $cxx $args $torch_libs $cuda_libs $pack_libs $extra_ldflags",
        "  description = LINK $out",
        "",
    ]
    for a in compiles:
        args = a["arguments"]
        src = arg_after(args, "-c")
        obj = arg_after(args, "-o")
        flags = compile_command(args)
        # Drop -c SRC -o OBJ (the rule adds them).
        cleaned = []
        i = 0
        while i < len(flags):
            if flags[i] in ("-c", "-o"):
                i += 2
                continue
            cleaned.append(flags[i])
            i += 1
        if opts.pack:
            cleaned += ["-isystem", "include"]
        lines.append("build %s: cxx %s" % (obj, src))
        lines.append("  args = %s" % " ".join(shlex.quote(c).replace("$", "$$")
                                            .replace("$$libtorch_include", "$libtorch_include")
                                            .replace("$$cuda_include", "$cuda_include")
                                            for c in cleaned))
    for binary, link in links:
        objs = [a for a in link if a.endswith(".o")]
        lines.append("build %s: link %s" % (binary, " ".join(objs)))
        lines.append("  args = %s" % " ".join(shlex.quote(a).replace("$", "$$")
                                            for a in link))
    lines.append("default %s" % " ".join(b for b, _ in links))
    with open(os.path.join(out_dir, "build.ninja"), "w") as f:
        f.write("\n".join(lines) + "\n")
    configure = CONFIGURE.replace("@PACK@", "1" if opts.pack else "0")
    path = os.path.join(out_dir, "configure.sh")
    with open(path, "w") as f:
        f.write(configure)
    os.chmod(path, 0o755)


CONFIGURE = r'''#!/usr/bin/env bash
# Writes config.ninja for this exported build:
#   ./configure.sh [--libtorch=DIR] [--cuda_home=DIR] [--cxx=g++] [--cxx11_abi=0|1]
# --libtorch: a LibTorch folder (include/, lib/), e.g. a PyTorch 2.x
#   installation's torch/ (python -c 'import torch,os; print(os.path.dirname(torch.__file__))').
#   Unset: Debian's LibTorch. --cxx11_abi: match LibTorch's _GLIBCXX_USE_CXX11_ABI
#   (torch.compiled_with_cxx11_abi()); the packed Debian libraries use 1.
set -euo pipefail
cd "$(dirname "$0")"
libtorch="" cuda_home="" cxx="g++" abi=""
for a in "$@"; do
  case "$a" in
    --libtorch=*) libtorch="${a#*=}" ;;
    --cuda_home=*) cuda_home="${a#*=}" ;;
    --cxx=*) cxx="${a#*=}" ;;
    --cxx11_abi=*) abi="-D_GLIBCXX_USE_CXX11_ABI=${a#*=}" ;;
    *) echo "configure.sh: unknown option $a" >&2; exit 2 ;;
  esac
done
pack=@PACK@
{
  echo "cxx = $cxx"
  echo "abi_flags = $abi"
  if [[ -n $libtorch ]]; then
    echo "libtorch_include = $libtorch/include"
    torch="-L$libtorch/lib -Wl,-rpath,$libtorch/lib -Wl,--no-as-needed"
    for l in torch_cuda c10_cuda; do [[ -e $libtorch/lib/lib$l.so ]] && torch="$torch -l$l"; done
    echo "torch_libs = $torch -ltorch -ltorch_cpu -lc10 -Wl,--as-needed"
    echo "extra_cflags = -DSAM2_LIBTORCH_CUSTOM=1"
  else
    mkdir -p debian_libtorch/include
    for d in ATen c10 caffe2 torch; do ln -sfn /usr/include/$d debian_libtorch/include/$d; done
    echo "libtorch_include = debian_libtorch/include"
    echo "torch_libs = -ltorch -ltorch_cpu -lc10"
    echo "extra_cflags ="
  fi
  if [[ -n $cuda_home ]]; then
    echo "cuda_include = $cuda_home/include"
    echo "cuda_libs = -L$cuda_home/lib64 -L$cuda_home/lib -Wl,-rpath,$cuda_home/lib64 -Wl,-rpath,$cuda_home/lib -lcudart -lnccl"
  else
    echo "cuda_include = /usr/local/cuda/include"
    echo "cuda_libs ="
  fi
  if [[ $pack == 1 ]]; then
    echo "pack_libs = -L$PWD/lib -Wl,-rpath,$PWD/lib"
  else
    echo "pack_libs ="
  fi
  echo "extra_ldflags ="
} > config.ninja
echo "configure.sh: wrote config.ninja; now run ninja"
'''

if __name__ == "__main__":
    main()
