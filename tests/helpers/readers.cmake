# readers: the production reader loop of tests/cli/t_readers.sh.
add_executable(readers ${CMAKE_SOURCE_DIR}/tests/helpers/readers.c)
target_compile_options(readers PRIVATE ${WAN_WARNINGS})
set_target_properties(readers PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
