#ifndef WAN_UTIL_CRC32_H
#define WAN_UTIL_CRC32_H
/* CRC-32 (IEEE 802.3, as zip uses). Start with crc = 0. */
#include <stddef.h>
#include <stdint.h>

uint32_t wan_crc32(uint32_t crc, const void *data, size_t len);

#endif
