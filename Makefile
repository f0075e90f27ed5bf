# Builds and installs libfbup like any C library:
#   make                      cargo build --release, then the libfbup.so.MAJOR link
#                             beside target/release/libfbup.so, so that programs linked
#                             with -Ltarget/release -lfbup run with
#                             LD_LIBRARY_PATH=target/release
#   make install PREFIX=/usr/local [DESTDIR=...]
#   make uninstall PREFIX=/usr/local
# installs libfbup.so.VERSION (SONAME libfbup.so.MAJOR) with its two links,
# libfbup.a (its debug info stripped), include/fbup.h, lib/pkgconfig/fbup.pc, the fbup
# command when it was built (bin/fbup) and its man pages (share/man/man1).
#   make wheel                the Python binding as a wheel that bundles libfbup.so,
#                             in target/wheels (pip install it; no variable needed)
#   make dist [TARGETS=...]   the release artifacts in target/dist, built with
#                             cargo-zigbuild: for glibc 2.17 and later on x86_64 and
#                             aarch64 a relocatable tarball, a .deb and a wheel each; for
#                             musl a tarball with a static CLI and libfbup.a (see the
#                             README's "Install")
#
# The build takes the cargo command and the target as variables:
#   make CARGO_BUILD="cargo zigbuild" TARGET=x86_64-unknown-linux-gnu.2.17

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
MANDIR ?= $(PREFIX)/share/man
CARGO ?= cargo
# The command that builds (`cargo build`, `cargo zigbuild`) and the target it builds
# for: empty for this machine, else a Rust target triple (zigbuild takes a glibc
# version after it: x86_64-unknown-linux-gnu.2.17).
CARGO_BUILD ?= $(CARGO) build
TARGET ?=
# The strip for the target's machine: this machine's knows no other (and leaves files
# it cannot read as they are).
STRIP ?= $(if $(findstring aarch64,$(TARGET)),aarch64-linux-gnu-strip,strip)
# The target triple without zigbuild's glibc version, as cargo names its folder.
TRIPLE := $(shell echo '$(TARGET)' | sed 's/\.2\.[0-9]*$$//')
# What a program linked to libfbup.a needs besides it (rustc --print native-static-libs;
# gcc_s comes with every cc link on glibc, and musl's archive wants an unwinder).
LIBS_PRIVATE ?= $(if $(findstring musl,$(TRIPLE)),-lunwind -lc,-lutil -lrt -lpthread -lm -ldl -lc)
# Where the built libraries are; `install-files` installs from there without building.
BUILD_DIR ?= $(if $(TARGET),target/$(TRIPLE)/release,target/release)
TARGET_FLAG := $(if $(TARGET),--target $(TARGET),)

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR := $(word 1,$(subst ., ,$(VERSION)))
# The man pages `fbup man --dir` writes, and the fbup that writes them: the one built for
# this machine's target (a cross-built one may not run here).
MAN_PAGES := fbup fbup-upload fbup-resume fbup-offset fbup-sessions fbup-probe \
	fbup-completions fbup-man fbup-emulate fbup-demo
MAN_FROM ?= "$(BUILD_DIR)/fbup"

.PHONY: all build build-cli install install-files uninstall wheel dist dist-one dist-deb dist-wheel pc

all: build

# The library records its SONAME (libfbup.so.MAJOR), and the dynamic loader looks
# for that name at run time: cargo leaves only libfbup.so, so the link is made here.
# Rust's musl targets link statically and build no libfbup.so (cargo says it drops the
# cdylib crate type): there, only libfbup.a is built and installed.
build:
	$(CARGO_BUILD) --release --lib $(TARGET_FLAG)
	if [ -f "$(BUILD_DIR)/libfbup.so" ]; then \
	    ln -sf libfbup.so "$(BUILD_DIR)/libfbup.so.$(MAJOR)"; fi

# The fbup command, installed with the library when it is there.
build-cli:
	$(CARGO_BUILD) --release -p fbup-cli --bin fbup $(TARGET_FLAG)

install: build build-cli install-files

install-files:
	install -d "$(DESTDIR)$(LIBDIR)" "$(DESTDIR)$(INCLUDEDIR)" "$(DESTDIR)$(PKGCONFIGDIR)"
	if [ -f "$(BUILD_DIR)/libfbup.so" ]; then \
	    install -m 0755 "$(BUILD_DIR)/libfbup.so" "$(DESTDIR)$(LIBDIR)/libfbup.so.$(VERSION)" && \
	    ln -sf "libfbup.so.$(VERSION)" "$(DESTDIR)$(LIBDIR)/libfbup.so.$(MAJOR)" && \
	    ln -sf "libfbup.so.$(MAJOR)" "$(DESTDIR)$(LIBDIR)/libfbup.so"; fi
	install -m 0644 "$(BUILD_DIR)/libfbup.a" "$(DESTDIR)$(LIBDIR)/libfbup.a"
	# The archive carries the debug info of Rust's standard library (36 MB in all);
	# what a program links of it needs none (24 MB without it).
	$(STRIP) --strip-debug "$(DESTDIR)$(LIBDIR)/libfbup.a"
	install -m 0644 include/fbup.h "$(DESTDIR)$(INCLUDEDIR)/fbup.h"
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    -e 's|@LIBS_PRIVATE@|$(LIBS_PRIVATE)|' fbup.pc.in > "$(DESTDIR)$(PKGCONFIGDIR)/fbup.pc"
	# The command and its man pages, from the build when the command was built.
	if [ -x "$(BUILD_DIR)/fbup" ]; then \
	    install -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(MANDIR)/man1" && \
	    install -m 0755 "$(BUILD_DIR)/fbup" "$(DESTDIR)$(BINDIR)/fbup" && \
	    $(MAN_FROM) man --dir "$(DESTDIR)$(MANDIR)/man1" >/dev/null; \
	fi

uninstall:
	rm -f "$(DESTDIR)$(LIBDIR)/libfbup.so.$(VERSION)" "$(DESTDIR)$(LIBDIR)/libfbup.so.$(MAJOR)" \
	      "$(DESTDIR)$(LIBDIR)/libfbup.so" "$(DESTDIR)$(LIBDIR)/libfbup.a" \
	      "$(DESTDIR)$(INCLUDEDIR)/fbup.h" "$(DESTDIR)$(PKGCONFIGDIR)/fbup.pc" \
	      "$(DESTDIR)$(BINDIR)/fbup" $(addprefix "$(DESTDIR)$(MANDIR)/man1/,$(addsuffix .1",$(MAN_PAGES)))

# The Python binding with libfbup.so inside (stripped, tagged manylinux_2_N for the
# glibc it needs), built straight from bindings/python: its setup.py keeps the build's
# scratch out of the tree. `pip install target/wheels/fbup-*.whl` then works with no
# variable.
PYTHON ?= python3
wheel: build
	mkdir -p target/wheels
	rm -f target/wheels/fbup-*.whl
	FBUP_BUNDLE="$(abspath $(BUILD_DIR))/libfbup.so" STRIP="$(STRIP)" \
	    $(PYTHON) -m pip wheel --no-deps --quiet -w target/wheels bindings/python
	@ls target/wheels/fbup-*.whl

# The release artifacts, into target/dist, built with cargo-zigbuild (zig from the
# `ziglang` Python package or on PATH) and packaged with cargo-deb. TARGETS names which
# (all three by default):
#   x86_64-linux-gnu    glibc 2.17 and later (RHEL 7, Amazon Linux 2, Debian 11, Ubuntu
#   aarch64-linux-gnu   20.04 and newer):
#                         fbup-VERSION-ARCH.tar.gz   relocatable: its fbup.pc finds its
#                                                    own folder
#                         fbup_VERSION-1_DEBARCH.deb the same files under /usr
#                         fbup-VERSION-py3-none-manylinux_2_17_A.manylinux2014_A.whl
#   x86_64-linux-musl   any x86_64 Linux, Alpine included: fbup-VERSION-ARCH.tar.gz with
#                       a statically linked CLI and libfbup.a (no libfbup.so: Rust's musl
#                       target links statically)
# The man pages come from the fbup built for this machine (`cargo run`), since a
# cross-built one may not run here.
TARGETS ?= x86_64-linux-gnu aarch64-linux-gnu x86_64-linux-musl
DIST_DIR := target/dist
ZIG_TARGET_x86_64-linux-gnu := x86_64-unknown-linux-gnu.2.17
ZIG_TARGET_aarch64-linux-gnu := aarch64-unknown-linux-gnu.2.17
ZIG_TARGET_x86_64-linux-musl := x86_64-unknown-linux-musl
DEB_ARCH_x86_64-linux-gnu := amd64
DEB_ARCH_aarch64-linux-gnu := arm64

dist:
	@for arch in $(TARGETS); do \
	    case " x86_64-linux-gnu aarch64-linux-gnu x86_64-linux-musl " in \
	        *" $$arch "*) ;; \
	        *) echo "make dist: TARGETS names $$arch; the release targets are" \
	                "x86_64-linux-gnu aarch64-linux-gnu x86_64-linux-musl" >&2; exit 2;; \
	    esac; done
	for arch in $(TARGETS); do $(MAKE) --no-print-directory dist-one DIST_ARCH=$$arch || exit 1; done
	@ls -l $(foreach a,$(TARGETS),"$(DIST_DIR)/fbup-$(VERSION)-$(a).tar.gz")

# One release target's artifacts (DIST_ARCH, one of TARGETS' names).
DIST_ARCH ?= x86_64-linux-gnu
DIST_TARGET := $(ZIG_TARGET_$(DIST_ARCH))
DIST_TRIPLE := $(shell echo '$(DIST_TARGET)' | sed 's/\.2\.[0-9]*$$//')
DEB_ARCH := $(DEB_ARCH_$(DIST_ARCH))
DIST_NAME := fbup-$(VERSION)-$(DIST_ARCH)
DIST_STAGE := $(DIST_DIR)/$(DIST_NAME)
DEB_STAGE := $(DIST_DIR)/deb-$(DIST_ARCH)
WHEEL_ARCH := $(word 1,$(subst -, ,$(DIST_ARCH)))

dist-one:
	$(MAKE) build build-cli CARGO_BUILD="$(CARGO) zigbuild" TARGET=$(DIST_TARGET)
	rm -rf "$(DIST_STAGE)" "$(DEB_STAGE)" "$(DIST_DIR)/$(DIST_NAME).tar.gz" && mkdir -p "$(DIST_DIR)"
	$(MAKE) install-files TARGET=$(DIST_TARGET) DESTDIR="$(abspath $(DIST_STAGE))" \
	    PREFIX= BINDIR=/bin LIBDIR=/lib INCLUDEDIR=/include MANDIR=/share/man \
	    MAN_FROM="$(CARGO) run --quiet -p fbup-cli --bin fbup --"
	# fbup.pc names its prefix from where it is: the tree works wherever it is unpacked.
	$(MAKE) --no-print-directory pc TARGET=$(DIST_TARGET) PC_OUT="$(DIST_STAGE)/lib/pkgconfig/fbup.pc" \
	    PC_PREFIX='$$$${pcfiledir}/../..' PC_LIBDIR='$$$${prefix}/lib' \
	    PC_INCLUDEDIR='$$$${prefix}/include'
	cp README.md LICENSE-MIT LICENSE-APACHE "$(DIST_STAGE)/"
	tar -C "$(DIST_DIR)" --owner=0 --group=0 --numeric-owner --sort=name \
	    -czf "$(DIST_DIR)/$(DIST_NAME).tar.gz" "$(DIST_NAME)"
	if [ -n "$(DEB_ARCH)" ]; then $(MAKE) --no-print-directory dist-deb dist-wheel; fi

# The .deb's own files (the .pc for /usr, the man pages compressed, as Debian has them),
# then the package, from the tarball's tree.
dist-deb:
	rm -f "$(DIST_DIR)"/fbup_$(VERSION)-1_$(DEB_ARCH).deb && mkdir -p "$(DEB_STAGE)/man1"
	$(MAKE) --no-print-directory pc TARGET=$(DIST_TARGET) PC_OUT="$(DEB_STAGE)/fbup.pc" \
	    PC_PREFIX=/usr PC_LIBDIR=/usr/lib/$(DIST_ARCH) PC_INCLUDEDIR=/usr/include
	for page in "$(DIST_STAGE)"/share/man/man1/*.1; do \
	    gzip -9n < "$$page" > "$(DEB_STAGE)/man1/$$(basename "$$page").gz"; done
	$(CARGO) deb -p fbup --no-build --no-strip --target $(DIST_TRIPLE) \
	    --output "$(DIST_DIR)/" --variant $(DIST_ARCH)

# The wheel, with the target's library inside (tagged for its architecture).
dist-wheel:
	rm -f "$(DIST_DIR)"/fbup-$(VERSION)-*_$(WHEEL_ARCH).whl
	$(MAKE) --no-print-directory wheel TARGET=$(DIST_TARGET) CARGO_BUILD="$(CARGO) zigbuild"
	cp target/wheels/fbup-$(VERSION)-*.whl "$(DIST_DIR)/"

# A fbup.pc for the target, its folders named by PC_PREFIX, PC_LIBDIR, PC_INCLUDEDIR.
pc:
	mkdir -p "$(dir $(PC_OUT))"
	sed -e 's|@PREFIX@|$(PC_PREFIX)|' -e 's|@LIBDIR@|$(PC_LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(PC_INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@LIBS_PRIVATE@|$(LIBS_PRIVATE)|' fbup.pc.in > "$(PC_OUT)"
