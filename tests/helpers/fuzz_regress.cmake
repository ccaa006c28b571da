# Replays every fuzz target's seeds, minimised corpus and past crashers in
# normal builds
# (SQLite's fuzzcheck): one executable per tests/fuzz/fuzz_<name>.c linked
# with tests/fuzz/replay.c, one ctest fuzz/<name>. Inputs:
# tests/corpus/<name>/, tests/fuzz/corpus/<name>/, tests/fuzz/corpus-min/<name>/,
# tests/fuzz/regress/<name>/
# (+ tests/corpus/safetensors/{accept,reject} for the safetensors targets).
file(GLOB WAN_FUZZ_TARGETS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_*.c)
foreach(src ${WAN_FUZZ_TARGETS})
	get_filename_component(fname ${src} NAME_WE)
	string(REGEX REPLACE "^fuzz_" "" name ${fname})
	add_executable(fuzz_replay_${name} ${CMAKE_SOURCE_DIR}/tests/fuzz/replay.c ${src})
	target_compile_options(fuzz_replay_${name} PRIVATE ${WAN_WARNINGS})
	target_include_directories(fuzz_replay_${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests/fuzz)
	target_link_libraries(fuzz_replay_${name} PRIVATE wanctl_static)
	set_target_properties(fuzz_replay_${name} PROPERTIES
		RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
	set(dirs ${CMAKE_SOURCE_DIR}/tests/corpus/${name}
		${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/${name}
		${CMAKE_SOURCE_DIR}/tests/fuzz/corpus-min/${name}
		${CMAKE_SOURCE_DIR}/tests/fuzz/regress/${name})
	if(name STREQUAL "st_header")
		list(APPEND dirs ${CMAKE_SOURCE_DIR}/tests/corpus/safetensors/accept
			${CMAKE_SOURCE_DIR}/tests/corpus/safetensors/reject)
	endif()
	add_test(NAME fuzz/${name} COMMAND fuzz_replay_${name} ${dirs})
	set_tests_properties(fuzz/${name} PROPERTIES TIMEOUT 300
		ENVIRONMENT "WANCTL_NO_FSYNC=1")
endforeach()
