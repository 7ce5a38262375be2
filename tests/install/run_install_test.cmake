# The install_consumer test, run with cmake -P. Installs the build tree BUILD_DIR into
# a scratch prefix under WORK_DIR, then builds and runs tests/install/main.c against it
# twice: through find_package(clt) and through pkg-config. Also runs the installed
# clt-info, which must find libclt through its RPATH.
#
# Inputs (-D): BUILD_DIR CONSUMER_DIR WORK_DIR LIBDIR BINDIR C_COMPILER SANITIZE
cmake_minimum_required(VERSION 3.16)

# Runs a command; stops the test with its output when it fails.
function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install test: ${what} failed (${rc})\n${out}\n${err}")
  endif()
  message(STATUS "install test: ${what}: ok")
  set(STEP_OUTPUT "${out}" PARENT_SCOPE)
endfunction()

set(prefix ${WORK_DIR}/prefix)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

# A sanitized libclt needs sanitized programs around it (the ASan runtime must load
# first), so the consumer is built with the same flags as the library.
set(flags "")
if(SANITIZE)
  set(flags "-fsanitize=address,undefined -fno-omit-frame-pointer")
endif()

run_step("cmake --install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})

foreach(f include/clt/clt.h ${LIBDIR}/cmake/clt/cltConfig.cmake
          ${LIBDIR}/pkgconfig/clt.pc ${BINDIR}/clt-info)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "install test: ${f} was not installed")
  endif()
endforeach()

run_step("installed clt-info --json" ${prefix}/${BINDIR}/clt-info --json)

# 1. CMake: find_package(clt CONFIG REQUIRED) and clt::clt.
run_step("configure the consumer with find_package(clt)"
  ${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/cmake-consumer
  -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_C_COMPILER=${C_COMPILER}
  "-DCMAKE_C_FLAGS=${flags}" "-DCMAKE_EXE_LINKER_FLAGS=${flags}")
run_step("build the consumer with find_package(clt)"
  ${CMAKE_COMMAND} --build ${WORK_DIR}/cmake-consumer)
run_step("run the find_package(clt) consumer" ${WORK_DIR}/cmake-consumer/clt_consumer)

# 2. pkg-config: the flags clt.pc gives, and nothing else.
find_program(PKG_CONFIG_EXECUTABLE NAMES pkg-config pkgconf)
if(NOT PKG_CONFIG_EXECUTABLE)
  message(FATAL_ERROR "install test: pkg-config not found")
endif()
set(ENV{PKG_CONFIG_PATH} ${prefix}/${LIBDIR}/pkgconfig)
run_step("pkg-config --cflags --libs clt" ${PKG_CONFIG_EXECUTABLE} --cflags --libs clt)
string(STRIP "${STEP_OUTPUT}" pc_flags)
separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
separate_arguments(san_flags UNIX_COMMAND "${flags}")
run_step("build the consumer with pkg-config"
  ${C_COMPILER} -std=c11 ${san_flags} ${CONSUMER_DIR}/main.c ${pc_flags}
  -o ${WORK_DIR}/pkgconfig-consumer)
set(ENV{LD_LIBRARY_PATH} ${prefix}/${LIBDIR})
run_step("run the pkg-config consumer" ${WORK_DIR}/pkgconfig-consumer)
