# CMake toolchain file: Debian 12 amd64 host -> Linux armhf (ARMv7-A, hard-float), e.g. Raspberry Pi
# 2/3/4 with a 32-bit OS, BeagleBone, i.MX6. Not for ARMv6 (Pi 1, Zero W): Debian's armhf baseline is
# ARMv7. Uses Debian multiarch: target libraries live in /usr/lib/arm-linux-gnueabihf (installed by
# scripts/install-cross-deps.sh armhf), no separate sysroot.
#
#   cmake -S . -B build-armhf -DCMAKE_TOOLCHAIN_FILE=cross/toolchain-armhf.cmake -DCMAKE_BUILD_TYPE=Release
#
# Code generators (protoc, grpc_cpp_plugin) are the host's /usr/bin ones.
# Tests run under qemu user-mode emulation through CMAKE_CROSSCOMPILING_EMULATOR (ctest and
# doctest_discover_tests use it); binfmt_misc is not needed.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7l)

set(EDGESYNC_CROSS_TRIPLE arm-linux-gnueabihf)
set(EDGESYNC_DEB_ARCH armhf)   # read by cmake/Packaging.cmake

set(CMAKE_C_COMPILER   ${EDGESYNC_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${EDGESYNC_CROSS_TRIPLE}-g++)
set(CMAKE_AR      /usr/bin/${EDGESYNC_CROSS_TRIPLE}-ar      CACHE FILEPATH "cross ar")
set(CMAKE_RANLIB  /usr/bin/${EDGESYNC_CROSS_TRIPLE}-ranlib  CACHE FILEPATH "cross ranlib")
set(CMAKE_STRIP   /usr/bin/${EDGESYNC_CROSS_TRIPLE}-strip   CACHE FILEPATH "cross strip")
set(CMAKE_OBJDUMP /usr/bin/${EDGESYNC_CROSS_TRIPLE}-objdump CACHE FILEPATH "cross objdump")

# Multiarch: find_library / find_package look in /usr/lib/arm-linux-gnueabihf (and its cmake/ dirs).
set(CMAKE_LIBRARY_ARCHITECTURE ${EDGESYNC_CROSS_TRIPLE})
set(PKG_CONFIG_EXECUTABLE /usr/bin/${EDGESYNC_CROSS_TRIPLE}-pkg-config CACHE FILEPATH "cross pkg-config")

# Host code generators.
set(Protobuf_PROTOC_EXECUTABLE /usr/bin/protoc CACHE FILEPATH "host protoc")
set(EDGESYNC_GRPC_CPP_PLUGIN /usr/bin/grpc_cpp_plugin CACHE FILEPATH "host grpc_cpp_plugin")

# Sysroot mode (scripts/install-cross-deps.sh falls back to it when the armhf multiarch indexes cannot
# be fetched, or EDGESYNC_CROSS_MODE=sysroot): the target's packages are unpacked in
# $EDGESYNC_CROSS_SYSROOT (default /opt/edgesync/sysroot-armhf) instead of being installed as :armhf.
# Used when that sysroot exists and the multiarch libraries do not (or EDGESYNC_CROSS_MODE=sysroot).
set(_es_sysroot "$ENV{EDGESYNC_CROSS_SYSROOT}")
if(_es_sysroot STREQUAL "")
  set(_es_sysroot /opt/edgesync/sysroot-armhf)
endif()
if(EXISTS "${_es_sysroot}/.edgesync-sysroot" AND
   ("$ENV{EDGESYNC_CROSS_MODE}" STREQUAL "sysroot" OR NOT EXISTS /usr/lib/${EDGESYNC_CROSS_TRIPLE}/libgrpc++.so))
  set(CMAKE_SYSROOT "${_es_sysroot}")
  set(EDGESYNC_CROSS_SYSROOT "${_es_sysroot}" CACHE INTERNAL "sysroot of the armhf cross build")
  set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
  set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
  set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
  # The host's pkg-config, pointed at the sysroot's .pc files (paths get the sysroot prefix).
  set(PKG_CONFIG_EXECUTABLE /usr/bin/pkg-config CACHE FILEPATH "pkg-config (sysroot)" FORCE)
  set(ENV{PKG_CONFIG_SYSROOT_DIR} "${_es_sysroot}")
  set(ENV{PKG_CONFIG_LIBDIR} "${_es_sysroot}/usr/lib/${EDGESYNC_CROSS_TRIPLE}/pkgconfig:${_es_sysroot}/usr/share/pkgconfig")
  set(ENV{PKG_CONFIG_PATH} "")
  set(ENV{EDGESYNC_QEMU_PREFIX} "${_es_sysroot}")   # loader and libraries for qemu
  # dpkg-shlibdeps resolves libraries through the dpkg database, which does not know the sysroot:
  # the .deb gets the fixed Debian 12 Depends list of cmake/Packaging.cmake.
  set(EDGESYNC_DEB_SHLIBDEPS OFF CACHE BOOL "compute .deb Depends with dpkg-shlibdeps (off: sysroot)" FORCE)
else()
  unset(EDGESYNC_CROSS_SYSROOT CACHE)
endif()

# Run target binaries (tests, doctest discovery) under qemu. The target's dynamic loader and libc
# come from libc6:armhf (/lib/ld-linux-armhf.so.3), so no -L prefix is needed; set
# EDGESYNC_QEMU_PREFIX (e.g. /usr/arm-linux-gnueabihf) to use the cross-toolchain's libc instead.
# In sysroot mode the prefix is the sysroot.
if(DEFINED ENV{EDGESYNC_QEMU_PREFIX} AND NOT "$ENV{EDGESYNC_QEMU_PREFIX}" STREQUAL "")
  set(CMAKE_CROSSCOMPILING_EMULATOR /usr/bin/qemu-arm-static;-L;$ENV{EDGESYNC_QEMU_PREFIX})
else()
  set(CMAKE_CROSSCOMPILING_EMULATOR /usr/bin/qemu-arm-static)
endif()

# Programs are searched on the host; libraries/headers/packages use the multiarch paths above.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
