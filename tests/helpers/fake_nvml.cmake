# libfake_nvml.so: NVML's ABI with values from the environment
# (tests/helpers/fake_nvml.c). Tests load it through WANCTL_NVML_LIB.
add_library(fake_nvml SHARED ${CMAKE_SOURCE_DIR}/tests/helpers/fake_nvml.c)
target_compile_options(fake_nvml PRIVATE ${WAN_WARNINGS})
set_target_properties(fake_nvml PROPERTIES
	LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests
	C_VISIBILITY_PRESET hidden)
set(WAN_FAKE_NVML ${CMAKE_BINARY_DIR}/tests/libfake_nvml.so)
# Unit tests that exercise wan_nvml_query() find it by this definition.
foreach(t test_sysinfo test_nvml test_validate)
	if(TARGET ${t})
		add_dependencies(${t} fake_nvml)
		target_compile_definitions(${t} PRIVATE WAN_FAKE_NVML="${WAN_FAKE_NVML}")
	endif()
endforeach()
# The CLI tests find it as $WANCTL_BUILD/tests/libfake_nvml.so.
