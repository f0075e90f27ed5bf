"""Builds the fbup wheel: the ctypes binding with libfbup.so.0 inside, tagged for the
oldest glibc the library runs on (manylinux_2_N), the library stripped.

The library is the file named by FBUP_BUNDLE (what `make wheel` passes), else the one
cargo builds from the repository this folder is in (`pip install ./bindings/python`
from a checkout). The build's scratch (build/, the egg-info) goes to a temporary
folder, never into the source tree.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools before 70.1
    from wheel.bdist_wheel import bdist_wheel

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SCRATCH = tempfile.mkdtemp(prefix="fbup-wheel-")


def library():
    """The path of the libfbup.so to bundle, built with cargo when none is named."""
    named = os.environ.get("FBUP_BUNDLE")
    if named:
        if not os.path.isfile(named):
            sys.exit(f"fbup: FBUP_BUNDLE names {named}, which is not a file")
        return named
    if not os.path.isfile(os.path.join(REPO, "Cargo.toml")):
        sys.exit("fbup: this source folder is not inside the fbup repository, so libfbup "
                 "cannot be built here; build the wheel with `make wheel` in the repository, "
                 "or set FBUP_BUNDLE to a libfbup.so")
    cargo = shutil.which("cargo")
    if cargo is None:
        sys.exit("fbup: building libfbup needs cargo (Rust), which is not on PATH; run "
                 "`make wheel` in the repository on a machine that has it, then "
                 "`pip install target/wheels/fbup-*.whl`")
    subprocess.check_call([cargo, "build", "--release", "--lib", "--quiet"], cwd=REPO)
    return os.path.join(REPO, "target", "release", "libfbup.so")


# ELF e_machine values and the names wheel tags give them.
MACHINES = {0x3E: "x86_64", 0xB7: "aarch64"}


def elf_machine(path, image):
    """The architecture a library was built for, from its ELF header (a library built
    for another machine is tagged for that machine, not this one)."""
    if image[:4] != b"\x7fELF" or len(image) < 20 or image[5] != 1:
        sys.exit(f"fbup: {path} is not a little-endian ELF file")
    machine = int.from_bytes(image[18:20], "little")
    if machine not in MACHINES:
        sys.exit(f"fbup: {path} is built for ELF machine {machine:#x}, which the wheel "
                 f"does not know (it knows {', '.join(MACHINES.values())})")
    return MACHINES[machine]


def manylinux_tag(path):
    """manylinux_2_N_ARCH for the newest GLIBC_2.N symbol version the library needs;
    for glibc 2.17, also its older name manylinux2014_ARCH, which pips before 20.3 know."""
    with open(path, "rb") as f:
        image = f.read()
    needs = [int(m) for m in re.findall(rb"GLIBC_2\.([0-9]+)", image)]
    if not needs:
        sys.exit(f"fbup: {path} names no glibc symbol version; is it a Linux library?")
    arch = elf_machine(path, image)
    tag = f"manylinux_2_{max(needs)}_{arch}"
    if max(needs) <= 17:
        tag = f"manylinux_2_17_{arch}.manylinux2014_{arch}"
    return tag


class BundleLibrary(build_py):
    """Copies libfbup into the package being built (not into the source tree), stripped
    of its symbol tables when `strip` is there."""

    def run(self):
        super().run()
        source = library()
        target = os.path.join(self.build_lib, "fbup", "libfbup.so.0")
        shutil.copyfile(source, target)
        os.chmod(target, 0o755)
        strip = shutil.which(os.environ.get("STRIP", "strip"))
        if strip:
            subprocess.check_call([strip, "--strip-unneeded", target])
        self.distribution.bundled_tag = manylinux_tag(target)


class PlatformWheel(bdist_wheel):
    def finalize_options(self):
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self):
        # The binding is plain ctypes: any Python 3; the platform is the library's.
        tag = getattr(self.distribution, "bundled_tag", None)
        if tag is None:
            _, _, tag = super().get_tag()
        return "py3", "none", tag


class BinaryDistribution(Distribution):
    """A distribution with a native library inside: its files go to platlib."""

    def has_ext_modules(self):
        return True


setup(
    distclass=BinaryDistribution,
    cmdclass={"build_py": BundleLibrary, "bdist_wheel": PlatformWheel},
    options={
        "build": {"build_base": os.path.join(SCRATCH, "build")},
        "egg_info": {"egg_base": SCRATCH},
    },
)
