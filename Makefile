# Builds and installs libfbup like any C library:
#   make                      cargo build --release, then the libfbup.so.MAJOR link
#                             beside target/release/libfbup.so, so that programs linked
#                             with -Ltarget/release -lfbup run with
#                             LD_LIBRARY_PATH=target/release
#   make install PREFIX=/usr/local [DESTDIR=...]
#   make uninstall PREFIX=/usr/local
# installs libfbup.so.VERSION (SONAME libfbup.so.MAJOR) with its two links,
# libfbup.a (its debug info stripped), include/fbup.h and lib/pkgconfig/fbup.pc.
#   make wheel                the Python binding as a wheel that bundles libfbup.so,
#                             in target/wheels (pip install it; no variable needed)

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
CARGO ?= cargo
STRIP ?= strip
# Where the built libraries are; `install-files` installs from there without building.
BUILD_DIR ?= target/release

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR := $(word 1,$(subst ., ,$(VERSION)))

.PHONY: all build install install-files uninstall wheel

all: build

# The library records its SONAME (libfbup.so.MAJOR), and the dynamic loader looks
# for that name at run time: cargo leaves only libfbup.so, so the link is made here.
build:
	$(CARGO) build --release --lib
	ln -sf libfbup.so "$(BUILD_DIR)/libfbup.so.$(MAJOR)"

install: build install-files

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

uninstall:
	rm -f "$(DESTDIR)$(LIBDIR)/libfbup.so.$(VERSION)" "$(DESTDIR)$(LIBDIR)/libfbup.so.$(MAJOR)" \
	      "$(DESTDIR)$(LIBDIR)/libfbup.so" "$(DESTDIR)$(LIBDIR)/libfbup.a" \
	      "$(DESTDIR)$(INCLUDEDIR)/fbup.h" "$(DESTDIR)$(PKGCONFIGDIR)/fbup.pc"

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
