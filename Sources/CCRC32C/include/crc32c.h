#ifndef SLUICE_CRC32C_H
#define SLUICE_CRC32C_H
#include <stddef.h>
#include <stdint.h>

/// Extends a CRC32C (Castagnoli) over `len` bytes. Start with crc = 0.
/// Uses the SSE4.2 `crc32` instruction when the CPU has it, else a table.
uint32_t sluice_crc32c(uint32_t crc, const void *data, size_t len);

/// The portable table implementation, exposed so tests can compare both paths.
uint32_t sluice_crc32c_portable(uint32_t crc, const void *data, size_t len);

/// 1 when the hardware path is in use.
int sluice_crc32c_hardware(void);
#endif
