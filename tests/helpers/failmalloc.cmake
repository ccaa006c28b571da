# The allocation-failure shim is meaningless under ASan (which owns malloc).
if(NOT WAN_SANITIZE)
	add_library(failmalloc SHARED ${CMAKE_SOURCE_DIR}/tests/helpers/failmalloc.c)
	set_target_properties(failmalloc PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
	target_link_libraries(failmalloc PRIVATE ${CMAKE_DL_LIBS})
endif()
