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
#   make dist                 the release artifacts in target/dist: a relocatable
#                             tarball, a .deb and a wheel, built with cargo-zigbuild for
#                             glibc 2.17 and later (see the README's "Install")
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
STRIP ?= strip
# The target triple without zigbuild's glibc version, as cargo names its folder.
TRIPLE := $(shell echo '$(TARGET)' | sed 's/\.2\.[0-9]*$$//')
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

.PHONY: all build build-cli install install-files uninstall wheel dist

all: build

# The library records its SONAME (libfbup.so.MAJOR), and the dynamic loader looks
# for that name at run time: cargo leaves only libfbup.so, so the link is made here.
build:
	$(CARGO_BUILD) --release --lib $(TARGET_FLAG)
	ln -sf libfbup.so "$(BUILD_DIR)/libfbup.so.$(MAJOR)"

# The fbup command, installed with the library when it is there.
build-cli:
	$(CARGO_BUILD) --release -p fbup-cli --bin fbup $(TARGET_FLAG)

install: build build-cli install-files

install-files:
	install -d "$(DESTDIR)$(LIBDIR)" "$(DESTDIR)$(INCLUDEDIR)" "$(DESTDIR)$(PKGCONFIGDIR)"
	install -m 0755 "$(BUILD_DIR)/libfbup.so" "$(DESTDIR)$(LIBDIR)/libfbup.so.$(VERSION)"
	ln -sf "libfbup.so.$(VERSION)" "$(DESTDIR)$(LIBDIR)/libfbup.so.$(MAJOR)"
	ln -sf "libfbup.so.$(MAJOR)" "$(DESTDIR)$(LIBDIR)/libfbup.so"
	install -m 0644 "$(BUILD_DIR)/libfbup.a" "$(DESTDIR)$(LIBDIR)/libfbup.a"
	# The archive carries the debug info of Rust's standard library (36 MB in all);
	# what a program links of it needs none (24 MB without it).
	$(STRIP) --strip-debug "$(DESTDIR)$(LIBDIR)/libfbup.a"
	install -m 0644 include/fbup.h "$(DESTDIR)$(INCLUDEDIR)/fbup.h"
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    fbup.pc.in > "$(DESTDIR)$(PKGCONFIGDIR)/fbup.pc"
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

# The release artifacts, for glibc 2.17 and later (RHEL 7, Amazon Linux 2, Debian 11,
# Ubuntu 20.04 and newer), built with cargo-zigbuild (zig from the `ziglang` Python
# package or on PATH) and packaged with cargo-deb, into target/dist:
#   fbup-VERSION-x86_64-linux-gnu.tar.gz   relocatable: its fbup.pc finds its own folder
#   fbup_VERSION-1_amd64.deb               the same files under /usr
#   fbup-VERSION-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
DIST_TARGET ?= x86_64-unknown-linux-gnu.2.17
DIST_ARCH ?= x86_64-linux-gnu
DIST_DIR := target/dist
DIST_NAME := fbup-$(VERSION)-$(DIST_ARCH)
DIST_STAGE := $(DIST_DIR)/$(DIST_NAME)
DEB_STAGE := $(DIST_DIR)/deb-$(DIST_ARCH)

dist:
	$(MAKE) build build-cli CARGO_BUILD="$(CARGO) zigbuild" TARGET=$(DIST_TARGET)
	rm -rf "$(DIST_STAGE)" "$(DEB_STAGE)" "$(DIST_DIR)"/fbup-*.whl && mkdir -p "$(DIST_DIR)"
	$(MAKE) install-files TARGET=$(DIST_TARGET) DESTDIR="$(abspath $(DIST_STAGE))" \
	    PREFIX= BINDIR=/bin LIBDIR=/lib INCLUDEDIR=/include MANDIR=/share/man
	# fbup.pc names its prefix from where it is: the tree works wherever it is unpacked.
	sed -e 's|@PREFIX@|$${pcfiledir}/../..|' -e 's|@LIBDIR@|$${prefix}/lib|' \
	    -e 's|@INCLUDEDIR@|$${prefix}/include|' -e 's|@VERSION@|$(VERSION)|' \
	    fbup.pc.in > "$(DIST_STAGE)/lib/pkgconfig/fbup.pc"
	cp README.md LICENSE-MIT LICENSE-APACHE "$(DIST_STAGE)/"
	tar -C "$(DIST_DIR)" --owner=0 --group=0 --numeric-owner --sort=name \
	    -czf "$(DIST_DIR)/$(DIST_NAME).tar.gz" "$(DIST_NAME)"
	# The .deb's own files: the .pc for /usr and the man pages compressed, as Debian has them.
	mkdir -p "$(DEB_STAGE)/man1"
	sed -e 's|@PREFIX@|/usr|' -e 's|@LIBDIR@|/usr/lib/$(DIST_ARCH)|' \
	    -e 's|@INCLUDEDIR@|/usr/include|' -e 's|@VERSION@|$(VERSION)|' \
	    fbup.pc.in > "$(DEB_STAGE)/fbup.pc"
	for page in "$(DIST_STAGE)"/share/man/man1/*.1; do \
	    gzip -9n < "$$page" > "$(DEB_STAGE)/man1/$$(basename "$$page").gz"; done
	$(CARGO) deb -p fbup --no-build --no-strip --target $(TRIPLE_OF_DIST) \
	    --output "$(DIST_DIR)/" --variant $(DIST_ARCH)
	$(MAKE) wheel TARGET=$(DIST_TARGET) CARGO_BUILD="$(CARGO) zigbuild"
	cp target/wheels/fbup-$(VERSION)-*.whl "$(DIST_DIR)/"
	@ls -l "$(DIST_DIR)"/*.tar.gz "$(DIST_DIR)"/*.deb "$(DIST_DIR)"/*.whl

TRIPLE_OF_DIST := $(shell echo '$(DIST_TARGET)' | sed 's/\.2\.[0-9]*$$//')
