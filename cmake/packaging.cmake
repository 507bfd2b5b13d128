# packaging.cmake - install() rules. Included by the top CMakeLists.txt. Paths follow
# GNUInstallDirs, so the prefix decides them:
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
# The packaging files themselves are in packaging/.
include(GNUInstallDirs)

set(PG_SYSTEMD_UNIT_DIR "lib/systemd/system" CACHE STRING
    "systemd unit directory, relative to the prefix or absolute")

# Absolute paths written into the config, the unit and the man page.
set(PG_BINARY "${CMAKE_INSTALL_FULL_BINDIR}/profgate")
set(PG_CONFIG_DIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}/profgate")
set(PG_CONFIG_FILE "${PG_CONFIG_DIR}/profgate.yml")
set(PG_DEFAULTS_FILE "${CMAKE_INSTALL_FULL_SYSCONFDIR}/default/profgate")
set(PG_STATE_DIR "${CMAKE_INSTALL_FULL_LOCALSTATEDIR}/lib/profgate")
set(PG_DOC_DIR "${CMAKE_INSTALL_FULL_DOCDIR}")

set(pkg ${CMAKE_BINARY_DIR}/packaging)
foreach(f profgate.yml profgate.default profgate.service)
  configure_file(${CMAKE_SOURCE_DIR}/packaging/${f}.in ${pkg}/${f} @ONLY)
endforeach()

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
