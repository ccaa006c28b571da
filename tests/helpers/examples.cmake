# examples/: programs that use only libwanctl's public API
# (include/wanctl/*.h), built by `make check` so they keep compiling, and
# run by a ctest against a fixture in a scratch folder.
add_executable(deploy_rollback ${CMAKE_SOURCE_DIR}/examples/deploy_rollback.c)
target_compile_options(deploy_rollback PRIVATE ${WAN_WARNINGS})
target_include_directories(deploy_rollback BEFORE PRIVATE ${CMAKE_SOURCE_DIR}/include)
target_link_libraries(deploy_rollback PRIVATE wanctl_static)
set_target_properties(deploy_rollback PROPERTIES
	RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/examples)
add_test(NAME examples/deploy_rollback
	COMMAND bash ${CMAKE_SOURCE_DIR}/tests/helpers/t_example_deploy_rollback.sh)
set_tests_properties(examples/deploy_rollback PROPERTIES
	ENVIRONMENT "WANCTL=${CMAKE_BINARY_DIR}/wanctl;WANCTL_SRC=${CMAKE_SOURCE_DIR};WANCTL_BUILD=${CMAKE_BINARY_DIR};WANCTL_NO_FSYNC=1;WANCTL_SHARED=${CMAKE_SOURCE_DIR}/../shared"
	TIMEOUT 300)
