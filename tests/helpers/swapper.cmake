# swapper: the directory-for-symlink racer of tests/crash/t_swap.sh.
add_executable(swapper ${CMAKE_SOURCE_DIR}/tests/helpers/swapper.c)
target_compile_options(swapper PRIVATE ${WAN_WARNINGS})
set_target_properties(swapper PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
