# How a fabric joins the build.  Each fabrics/<name>/CMakeLists.txt looks
# for its dependency and calls fsc_fabric() once; the top-level
# CMakeLists.txt adds every such folder and generates the registry from what
# was decided here.  Nothing outside the fabric's folder changes when a
# fabric is added.

# fsc_fabric_option(NAME DOC): the cache variable FSC_WITH_<NAME>,
# AUTO|ON|OFF.  AUTO builds the fabric when its dependency is found; ON
# makes a missing dependency a configuration error with a hint; OFF leaves
# it out.
function(fsc_fabric_option NAME DOC)
  set(FSC_WITH_${NAME} AUTO CACHE STRING "${DOC} (AUTO|ON|OFF)")
  set_property(CACHE FSC_WITH_${NAME} PROPERTY STRINGS AUTO ON OFF)
  if(NOT FSC_WITH_${NAME} MATCHES "^(AUTO|ON|OFF)$")
    message(FATAL_ERROR "FSC_WITH_${NAME}=${FSC_WITH_${NAME}}: expected AUTO, ON or OFF")
  endif()
endfunction()

# fsc_c_string(OUT TEXT): TEXT as the inside of a C string literal.
function(fsc_c_string OUT TEXT)
  string(REPLACE "\\" "\\\\" TEXT "${TEXT}")
  string(REPLACE "\"" "\\\"" TEXT "${TEXT}")
  string(REPLACE "\n" " " TEXT "${TEXT}")
  set(${OUT} "${TEXT}" PARENT_SCOPE)
endfunction()

# fsc_fabric_absent(NAME REASON): record that fabric NAME is not built.
# The reason is free text: semicolons, quotes and backslashes are kept as
# they are (it is stored as a string property, never as a CMake list).
function(fsc_fabric_absent NAME REASON)
  fsc_c_string(_c "${REASON}")
  set_property(GLOBAL APPEND_STRING PROPERTY FSC_REGISTRY_ABSENT "\t{\"${NAME}\", \"${_c}\"},\n")
  set_property(GLOBAL APPEND_STRING PROPERTY FSC_ABSENT_SUMMARY "  absent: ${NAME}: ${REASON}\n")
endfunction()

# fsc_fabric(NAME <name> DOC <text> FOUND <bool> HINT <text>
#            SOURCES <files...> [LIBS <targets...>] [INCLUDES <dirs...>])
#
# Decides whether fabric <name> is built.  When it is, its sources join the
# engine library `fsc`, its libraries are linked (PUBLIC, so tests and
# benchmarks get them too), FSC_HAVE_<NAME> is defined for C and set for
# CMake, and `fsc_fabric_<name>` (its ops table) enters the registry.
# Otherwise the reason (the HINT when the dependency is missing) is what
# `fabscope list` and the configuration summary show.
function(fsc_fabric)
  cmake_parse_arguments(PARSE_ARGV 0 A "" "NAME;DOC;FOUND;HINT" "SOURCES;LIBS;INCLUDES")
  if("${A_NAME}" STREQUAL "" OR "${A_SOURCES}" STREQUAL "")
    message(FATAL_ERROR "fsc_fabric: NAME and SOURCES are required")
  endif()
  string(TOUPPER "${A_NAME}" _up)
  fsc_fabric_option(${_up} "${A_DOC}")
  set(_built OFF)
  set(_missing "")
  foreach(s ${A_SOURCES})
    if(NOT EXISTS "${CMAKE_CURRENT_SOURCE_DIR}/${s}")
      set(_missing "${s}")
    endif()
  endforeach()
  if(FSC_WITH_${_up} STREQUAL "OFF")
    fsc_fabric_absent(${A_NAME} "not built: FSC_WITH_${_up}=OFF")
  elseif(NOT A_FOUND)
    if(FSC_WITH_${_up} STREQUAL "ON")
      message(FATAL_ERROR "FSC_WITH_${_up}=ON but its dependency was not found: ${A_HINT}")
    endif()
    fsc_fabric_absent(${A_NAME} "not built: ${A_HINT}")
  elseif(_missing)
    fsc_fabric_absent(${A_NAME} "not built: fabrics/${A_NAME}/${_missing} is not in this source tree")
  else()
    set(_built ON)
    target_sources(fsc PRIVATE ${A_SOURCES})
    if(A_LIBS)
      target_link_libraries(fsc PUBLIC ${A_LIBS})
    endif()
    if(A_INCLUDES)
      target_include_directories(fsc PUBLIC ${A_INCLUDES})
    endif()
    target_compile_definitions(fsc PUBLIC FSC_HAVE_${_up}=1)
    set_property(GLOBAL APPEND PROPERTY FSC_FABRICS_BUILT ${A_NAME})
  endif()
  set(FSC_HAVE_${_up} ${_built} CACHE INTERNAL "fabric ${A_NAME} is built")
  add_feature_info(fabric-${A_NAME} FSC_HAVE_${_up} "${A_HINT}")
endfunction()
