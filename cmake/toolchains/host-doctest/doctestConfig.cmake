# SPDX-License-Identifier: MIT
# doctest for cross builds (see ../aarch64-linux-gnu.cmake): the host's doctest.h is plain C++, but
# its installed config exports /usr/include, which would shadow the target's C library headers.
# This config exposes only /usr/include/doctest, through a staged folder holding a link to it.
set(_yv9_doctest_src /usr/include/doctest)
if(NOT EXISTS ${_yv9_doctest_src}/doctest.h)
  set(doctest_FOUND FALSE)
  set(doctest_NOT_FOUND_MESSAGE "${_yv9_doctest_src}/doctest.h not found (apt-get install doctest-dev)")
  return()
endif()
set(_yv9_doctest_stage ${CMAKE_BINARY_DIR}/host-doctest-include)
if(NOT EXISTS ${_yv9_doctest_stage}/doctest/doctest.h)
  file(MAKE_DIRECTORY ${_yv9_doctest_stage})
  file(CREATE_LINK ${_yv9_doctest_src} ${_yv9_doctest_stage}/doctest SYMBOLIC)
endif()
if(NOT TARGET doctest::doctest)
  add_library(doctest::doctest INTERFACE IMPORTED)
  set_target_properties(doctest::doctest PROPERTIES INTERFACE_INCLUDE_DIRECTORIES ${_yv9_doctest_stage})
endif()
set(doctest_FOUND TRUE)
