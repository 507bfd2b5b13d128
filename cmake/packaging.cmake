# packaging.cmake - install() rules and the Debian package (CPack DEB). Included by the top
# CMakeLists.txt. Paths follow GNUInstallDirs, so the prefix decides them:
#
#   prefix /usr (the package, the container)   /usr/local (the default)
#   /usr/bin/profgate                          /usr/local/bin/profgate
#   /etc/profgate/profgate.yml                 /usr/local/etc/profgate/profgate.yml
#   /etc/default/profgate                      /usr/local/etc/default/profgate
#   /var/lib/profgate (storage.path)           /usr/local/var/lib/profgate
#   /usr/lib/systemd/system/profgate.service   /usr/local/lib/systemd/system/...
#   /usr/share/man/man1/profgate.1.gz, /usr/share/doc/profgate/{README.md,docs,examples},
#   /usr/share/bash-completion/completions/profgate (and the same under /usr/local)
#
# The package: cmake -S . -B build-pkg -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr
# -DPG_TESTS=OFF && cmake --build build-pkg -j2 && (cd build-pkg && cpack -G DEB)
# (docs/install.md). The packaging files themselves are in packaging/.
include(GNUInstallDirs)

set(PG_SYSTEMD_UNIT_DIR "lib/systemd/system" CACHE STRING
    "systemd unit directory, relative to the prefix or absolute")
set(PG_PACKAGE_MAINTAINER "profgate maintainers <maintainers@profgate.invalid>" CACHE STRING
    "Maintainer field of the Debian package")

# Absolute paths written into the config, the unit, the maintainer scripts and the man page.
set(PG_BINARY "${CMAKE_INSTALL_FULL_BINDIR}/profgate")
set(PG_CONFIG_DIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}/profgate")
set(PG_CONFIG_FILE "${PG_CONFIG_DIR}/profgate.yml")
set(PG_DEFAULTS_FILE "${CMAKE_INSTALL_FULL_SYSCONFDIR}/default/profgate")
set(PG_STATE_DIR "${CMAKE_INSTALL_FULL_LOCALSTATEDIR}/lib/profgate")
set(PG_DOC_DIR "${CMAKE_INSTALL_FULL_DOCDIR}")

set(pkg ${CMAKE_BINARY_DIR}/packaging)
foreach(f profgate.yml profgate.default profgate.service deb/postinst deb/postrm)
  configure_file(${CMAKE_SOURCE_DIR}/packaging/${f}.in ${pkg}/${f} @ONLY)
endforeach()
configure_file(${CMAKE_SOURCE_DIR}/packaging/deb/prerm ${pkg}/deb/prerm COPYONLY)
file(WRITE ${pkg}/deb/conffiles "${PG_CONFIG_FILE}\n${PG_DEFAULTS_FILE}\n")

# The man page: docs/profgate.1.in (hand-written roff) with the version and paths filled in,
# gzip -9n (no name or time stamp: reproducible) as Debian installs man pages.
configure_file(${CMAKE_SOURCE_DIR}/docs/profgate.1.in ${pkg}/profgate.1 @ONLY)
add_custom_command(OUTPUT ${pkg}/profgate.1.gz
  COMMAND gzip -9nkf profgate.1
  DEPENDS ${pkg}/profgate.1 WORKING_DIRECTORY ${pkg} VERBATIM)
add_custom_target(pg_manpage ALL DEPENDS ${pkg}/profgate.1.gz)

install(TARGETS profgate RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${pkg}/profgate.yml DESTINATION ${PG_CONFIG_DIR})
install(FILES ${pkg}/profgate.default DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/default
        RENAME profgate)
install(FILES ${pkg}/profgate.service DESTINATION ${PG_SYSTEMD_UNIT_DIR})
install(FILES ${pkg}/profgate.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/profgate.bash-completion
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME profgate)
# docs keep the checkout's layout so that their relative links work
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs
        FILES_MATCHING PATTERN "*.md")
install(DIRECTORY ${CMAKE_SOURCE_DIR}/examples/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples
        FILES_MATCHING PATTERN "*.yml" PATTERN "*.json" PATTERN "demoapp" EXCLUDE)

# ---- Debian package ---------------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME profgate)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${PG_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "continuous-profiling collector for Go pprof endpoints")
set(CPACK_PACKAGE_DESCRIPTION
    "profgate reads a Prometheus-style scrape configuration, discovers targets
(static, file, HTTP, Kubernetes, Consul), relabels them as Prometheus does,
pulls Go /debug/pprof profiles on a schedule, keeps them in a durable SQLite
buffer and forwards them to Pyroscope-compatible backends. It also accepts
pushes from Pyroscope SDKs.")
# install exactly where the build was configured for (the paths above are baked in)
set(CPACK_PACKAGING_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}")
set(CPACK_STRIP_FILES TRUE)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# run-time libraries from dpkg-shlibdeps; adduser for postinst; CA certificates for https
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "ca-certificates")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${pkg}/deb/postinst ${pkg}/deb/prerm ${pkg}/deb/postrm ${pkg}/deb/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
# refuse a build that is not a package build (prefix, instrumentation)
set(CPACK_PROJECT_CONFIG_FILE ${CMAKE_SOURCE_DIR}/cmake/cpack-check.cmake)
if(PG_SANITIZE OR PG_SANITIZE_THREAD OR PG_FUZZ)
  set(CPACK_PG_INSTRUMENTED TRUE)
else()
  set(CPACK_PG_INSTRUMENTED FALSE)
endif()
include(CPack)
