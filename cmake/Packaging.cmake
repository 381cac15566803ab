# CPack configuration: Debian package "edge-agent".
#
# Included from the root CMakeLists.txt after the edge-agent target exists:
#   include(cmake/Packaging.cmake)
# Then, in a build tree:
#   cmake --build build && (cd build && cpack -G DEB)      -> build/edge-agent_<ver>_<arch>.deb
#
# Package contents (component "edge-agent", the component edge-agent/CMakeLists.txt installs the
# binary with; other components, e.g. cloud-hub, are not packaged):
#   /usr/bin/edge-agent
#   /etc/edgesync/edge-agent.yaml               conffile (local edits survive upgrades)
#   /lib/systemd/system/edge-agent.service      hardened unit, runs as user edgesync
#   /usr/share/doc/edge-agent/README.deploy.md
# postinst creates the system user/group edgesync, /var/lib/edgesync (0750) and
# /etc/edgesync/secrets (0750 root:edgesync); prerm stops the unit on removal; postrm --purge
# deletes the buffer.
#
# Architecture: the dpkg architecture of the *target* compiler (EDGESYNC_DEB_ARCH from the cross
# toolchain files, else `dpkg-architecture -t <triple>`, else a mapping of `<cxx> -dumpmachine`).
# Depends: dpkg-shlibdeps (CPACK_DEBIAN_PACKAGE_SHLIBDEPS), native and cross builds alike; a fixed
# Debian 12 list below when dpkg-shlibdeps is not installed (package dpkg-dev).

if(NOT TARGET edge-agent)
  message(WARNING "Packaging.cmake: no edge-agent target; DEB packaging disabled")
  return()
endif()

set(_es_pkg_dir "${PROJECT_SOURCE_DIR}/edge-agent/packaging")

# ---- install rules (component "edge-agent"; repeating the binary rule is harmless) -----------
install(TARGETS edge-agent RUNTIME DESTINATION bin COMPONENT edge-agent)
install(FILES "${_es_pkg_dir}/edge-agent.yaml" DESTINATION /etc/edgesync
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ COMPONENT edge-agent)
install(FILES "${_es_pkg_dir}/edge-agent.service" DESTINATION /lib/systemd/system
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ COMPONENT edge-agent)
if(EXISTS "${PROJECT_SOURCE_DIR}/docs/deploy.md")
  install(FILES "${PROJECT_SOURCE_DIR}/docs/deploy.md" DESTINATION share/doc/edge-agent
          RENAME README.deploy.md COMPONENT edge-agent)
endif()

# ---- target dpkg architecture ------------------------------------------------------------------
if(NOT EDGESYNC_DEB_ARCH)
  execute_process(COMMAND ${CMAKE_CXX_COMPILER} -dumpmachine
                  OUTPUT_VARIABLE _es_triple OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  find_program(_ES_DPKG_ARCHITECTURE dpkg-architecture)
  if(_ES_DPKG_ARCHITECTURE AND _es_triple)
    execute_process(COMMAND ${_ES_DPKG_ARCHITECTURE} -t${_es_triple} -qDEB_HOST_ARCH
                    OUTPUT_VARIABLE EDGESYNC_DEB_ARCH OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  endif()
  if(NOT EDGESYNC_DEB_ARCH)
    if(_es_triple MATCHES "^x86_64")
      set(EDGESYNC_DEB_ARCH amd64)
    elseif(_es_triple MATCHES "^aarch64")
      set(EDGESYNC_DEB_ARCH arm64)
    elseif(_es_triple MATCHES "^arm.*gnueabihf$")
      set(EDGESYNC_DEB_ARCH armhf)
    elseif(_es_triple MATCHES "^(i[3-6]86)")
      set(EDGESYNC_DEB_ARCH i386)
    elseif(_es_triple MATCHES "^riscv64")
      set(EDGESYNC_DEB_ARCH riscv64)
    else()
      message(WARNING "Packaging.cmake: unknown compiler triple '${_es_triple}'; set EDGESYNC_DEB_ARCH")
    endif()
  endif()
endif()

# ---- dependencies --------------------------------------------------------------------------------
find_program(_ES_DPKG_SHLIBDEPS dpkg-shlibdeps)
# dpkg-shlibdeps also resolves foreign-arch (cross) binaries through the multiarch dpkg database
# (checked for arm64: it reads the ELF's machine and finds the :arm64 packages' shlibs/symbols).
if(NOT DEFINED EDGESYNC_DEB_SHLIBDEPS)
  if(_ES_DPKG_SHLIBDEPS)
    set(EDGESYNC_DEB_SHLIBDEPS ON)
  else()
    set(EDGESYNC_DEB_SHLIBDEPS OFF)
  endif()
endif()
set(EDGESYNC_DEB_SHLIBDEPS ${EDGESYNC_DEB_SHLIBDEPS} CACHE BOOL "compute .deb Depends with dpkg-shlibdeps")
# Debian 12 runtime libraries of edge-agent, as dpkg-shlibdeps computed them on 2026-11-25; used only
# when dpkg-shlibdeps is missing (or EDGESYNC_DEB_SHLIBDEPS=OFF). Keep in sync when linking changes.
set(EDGESYNC_DEB_FIXED_DEPENDS
    "libabsl20220623, libc6 (>= 2.34), libcivetweb1 (>= 1.15+dfsg), libfmt9 (>= 9.1.0+ds1), libgcc-s1 (>= 4.5), libgrpc++1.51 (>= 1.51.1), libgrpc29 (>= 1.51.1), libpaho-mqtt1.3 (>= 1.3.0), libpaho-mqttpp3-1 (>= 1.2.0), libprometheus-cpp-core1.0 (>= 1.0.1), libprotobuf32 (>= 3.21.12), libspdlog1.10-fmt9, libsqlite3-0 (>= 3.20.0), libstdc++6 (>= 12), libyaml-cpp0.7 (>= 0.7.0)"
    CACHE STRING "Depends of the edge-agent .deb when dpkg-shlibdeps is not used")

# ---- maintainer scripts and conffiles -----------------------------------------------------------
set(_es_ctrl_dir "${CMAKE_CURRENT_BINARY_DIR}/deb-control")
file(MAKE_DIRECTORY "${_es_ctrl_dir}")
file(WRITE "${_es_ctrl_dir}/conffiles" "/etc/edgesync/edge-agent.yaml\n")
foreach(_s postinst prerm postrm)
  # copy to get 0755 independent of the checkout's file mode
  file(COPY "${_es_pkg_dir}/${_s}" DESTINATION "${_es_ctrl_dir}"
       FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
endforeach()

# ---- CPack ----------------------------------------------------------------------------------------
set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "edgesync")
set(CPACK_PACKAGE_VENDOR "edgesync")
set(CPACK_PACKAGE_CONTACT "edgesync maintainers <ops@edgesync.invalid>")
if(PROJECT_VERSION)
  set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
else()
  set(CPACK_PACKAGE_VERSION "0.1.0")
endif()
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_STRIP_FILES ON)                 # uses CMAKE_STRIP (the cross strip in cross builds)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL edge-agent)
set(CPACK_COMPONENTS_GROUPING IGNORE)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)   # <name>_<version>-<release>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_RELEASE "1")
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE "${EDGESYNC_DEB_ARCH}")
set(CPACK_DEBIAN_PACKAGE_SECTION "net")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)

set(CPACK_DEBIAN_EDGE-AGENT_PACKAGE_NAME "edge-agent")
set(CPACK_DEBIAN_EDGE-AGENT_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_EDGE-AGENT_PACKAGE_ARCHITECTURE "${EDGESYNC_DEB_ARCH}")
# CPack indents the continuation lines itself.
set(CPACK_DEBIAN_EDGE-AGENT_DESCRIPTION "edgesync edge agent: MQTT to a durable buffer to the cloud hub
Subscribes to the local MQTT broker, stores every record in a SQLite buffer
with a per-agent sequence number, and streams batches over gRPC to the
edgesync cloud hub, deleting records only after the hub acknowledged their
delivery to Kafka (at-least-once).")
set(CPACK_COMPONENT_EDGE-AGENT_DESCRIPTION "${CPACK_DEBIAN_EDGE-AGENT_DESCRIPTION}")
set(CPACK_DEBIAN_EDGE-AGENT_PACKAGE_SHLIBDEPS ${EDGESYNC_DEB_SHLIBDEPS})
if(NOT EDGESYNC_DEB_SHLIBDEPS)
  set(CPACK_DEBIAN_EDGE-AGENT_PACKAGE_DEPENDS "${EDGESYNC_DEB_FIXED_DEPENDS}")
endif()
# useradd/groupadd (passwd) are Priority: required in Debian; mosquitto is what the default config talks to.
set(CPACK_DEBIAN_EDGE-AGENT_PACKAGE_RECOMMENDS "mosquitto")
set(CPACK_DEBIAN_EDGE-AGENT_PACKAGE_CONTROL_EXTRA
    "${_es_ctrl_dir}/conffiles;${_es_ctrl_dir}/postinst;${_es_ctrl_dir}/prerm;${_es_ctrl_dir}/postrm")

include(CPack)
cpack_add_component(edge-agent DISPLAY_NAME "edge-agent" REQUIRED)
message(STATUS "Packaging: edge-agent .deb arch=${EDGESYNC_DEB_ARCH} shlibdeps=${EDGESYNC_DEB_SHLIBDEPS}")
