add_executable(mkfixture ${CMAKE_SOURCE_DIR}/tests/helpers/mkfixture.c)
target_link_libraries(mkfixture PRIVATE wanctl_static)
set_target_properties(mkfixture PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
