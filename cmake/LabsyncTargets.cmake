# labsync_add_module(<name> SOURCES ... [PUBLIC_LIBS ...] [PRIVATE_LIBS ...])
# Creates the static library labsync_<name> with alias labsync::<name>; public headers live in
# <name>/include/labsync/<name>/ and private sources in <name>/src/.
function(labsync_add_module name)
  cmake_parse_arguments(arg "" "" "SOURCES;PUBLIC_LIBS;PRIVATE_LIBS" ${ARGN})
  add_library(labsync_${name} STATIC ${arg_SOURCES})
  add_library(labsync::${name} ALIAS labsync_${name})
  set_target_properties(labsync_${name} PROPERTIES EXPORT_NAME ${name} OUTPUT_NAME labsync_${name})
  target_include_directories(labsync_${name}
    PUBLIC $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:include>
    PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(labsync_${name} PUBLIC ${arg_PUBLIC_LIBS} PRIVATE ${arg_PRIVATE_LIBS}
                                               $<BUILD_INTERFACE:labsync_warnings>)
  set_property(GLOBAL APPEND PROPERTY LABSYNC_MODULES labsync_${name})
  install(DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/include/ DESTINATION include)
endfunction()

# labsync::labsync links every module that exists.
function(labsync_finalize_umbrella)
  get_property(modules GLOBAL PROPERTY LABSYNC_MODULES)
  add_library(labsync_labsync INTERFACE)
  add_library(labsync::labsync ALIAS labsync_labsync)
  set_target_properties(labsync_labsync PROPERTIES EXPORT_NAME labsync)
  target_link_libraries(labsync_labsync INTERFACE ${modules})
  set(LABSYNC_ALL_MODULES ${modules} PARENT_SCOPE)
endfunction()
