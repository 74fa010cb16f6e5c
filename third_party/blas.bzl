"""Link options that make a binary prefer OpenBLAS's OpenMP build.

Where Debian's libopenblas0-openmp is installed, a binary linked with these
loads it in place of the libblas.so.3 alternative (OpenBLAS's pthreads build
by default): it runs matrix products on LibTorch's own OpenMP threads instead
of a second thread pool competing for the same cores (measured on 2 cores:
parity-small CPU training step 1.0 s -> 0.76 s, b+ at 256 px 13.0 s -> 10.2 s).
An RPATH (not RUNPATH) is what also applies to LibTorch's own lookup of
libblas.so.3; where the directory is missing the alternative is used.
"""

PREFER_OPENMP_OPENBLAS = [
    "-Wl,--disable-new-dtags",
    "-Wl,-rpath,/usr/lib/x86_64-linux-gnu/openblas-openmp",
]
