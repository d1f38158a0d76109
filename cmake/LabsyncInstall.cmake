# install() + exported labsyncConfig.cmake + labsync.pc, so embedders can use
# find_package(labsync) or pkg-config.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS ${LABSYNC_ALL_MODULES} labsync_labsync labsync_warnings EXPORT labsyncTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(EXPORT labsyncTargets NAMESPACE labsync:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/labsync)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/labsyncConfig.cmake.in
                              ${CMAKE_CURRENT_BINARY_DIR}/labsyncConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/labsync)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/labsyncConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/labsyncConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/labsyncConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/labsync)

# The prefix is found from the .pc file's own place (pkg-config's ${pcfiledir}), so the file is
# right after `cmake --install --prefix P` or a DESTDIR staging, not only in the configured prefix.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(LABSYNC_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH pc_to_prefix "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
  string(REGEX REPLACE "/$" "" pc_to_prefix "${pc_to_prefix}")
  set(LABSYNC_PC_PREFIX "\${pcfiledir}/${pc_to_prefix}")
endif()
set(LABSYNC_PC_LIBS "")
foreach(module IN LISTS LABSYNC_ALL_MODULES)
  string(PREPEND LABSYNC_PC_LIBS "-l${module} ")
endforeach()
# The compile definitions the CMake targets carry (e.g. BOOST_ASIO_SEPARATE_COMPILATION): a
# pkg-config consumer must compile the headers the same way.
set(LABSYNC_PC_DEFINES "")
foreach(module IN LISTS LABSYNC_ALL_MODULES)
  get_target_property(defs ${module} INTERFACE_COMPILE_DEFINITIONS)
  foreach(def IN LISTS defs)
    if(def AND NOT def MATCHES "\\$<")
      list(APPEND LABSYNC_PC_DEFINES "-D${def}")
    endif()
  endforeach()
endforeach()
list(REMOVE_DUPLICATES LABSYNC_PC_DEFINES)
list(JOIN LABSYNC_PC_DEFINES " " LABSYNC_PC_DEFINES)
configure_file(${CMAKE_CURRENT_LIST_DIR}/labsync.pc.in ${CMAKE_CURRENT_BINARY_DIR}/labsync.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/labsync.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
