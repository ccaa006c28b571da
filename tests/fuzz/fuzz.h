#ifndef WAN_TESTS_FUZZ_H
#define WAN_TESTS_FUZZ_H
/* libFuzzer entry point, shared by the fuzz targets and the replay main. */
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
