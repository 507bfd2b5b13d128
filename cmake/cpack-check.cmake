# cpack-check.cmake - CPACK_PROJECT_CONFIG_FILE: refuses to package a build that is not a
# package build (scripts/package-deb.sh configures one): the prefix must be /usr, as the
# paths in the config, the unit and the maintainer scripts were filled in for it, and no
# sanitizer or fuzzing instrumentation may be in the binary.
if(NOT CPACK_PACKAGING_INSTALL_PREFIX STREQUAL "/usr")
  message(FATAL_ERROR "profgate: package a build configured with -DCMAKE_INSTALL_PREFIX=/usr "
                      "(this one has ${CPACK_PACKAGING_INSTALL_PREFIX}); use scripts/package-deb.sh")
endif()
if(CPACK_PG_INSTRUMENTED)
  message(FATAL_ERROR "profgate: this build has sanitizers or fuzzing instrumentation; "
                      "use scripts/package-deb.sh")
endif()
