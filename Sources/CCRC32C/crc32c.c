// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), as Kafka's RecordBatch v2 uses.
// The hot path is the SSE4.2 `crc32` instruction, 8 bytes a step; machines without it
// (or other architectures) use a slicing-by-8 table.
#include "crc32c.h"
#include <pthread.h>
#include <string.h>

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void build_table(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = table[0][n];
        for (int k = 1; k < 8; k++) {
            c = table[0][c & 0xff] ^ (c >> 8);
            table[k][n] = c;
        }
    }
}

uint32_t sluice_crc32c_portable(uint32_t crc, const void *data, size_t len) {
    // Built once, race-free, on first use of the portable path.
    pthread_once(&table_once, build_table);
    const uint8_t *p = (const uint8_t *)data;
    crc = ~crc;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= crc; // little-endian hosts only; big-endian falls to the bytewise loop below
        crc = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^ table[5][(w >> 16) & 0xff] ^
              table[4][(w >> 24) & 0xff] ^ table[3][(w >> 32) & 0xff] ^
              table[2][(w >> 40) & 0xff] ^ table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
        p += 8;
        len -= 8;
    }
#endif
    while (len--) crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

#if defined(__x86_64__)
#include <cpuid.h>
__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const void *data, size_t len) {
    const uint8_t *p = (const uint8_t *)data;
    uint64_t c = ~crc;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
        p += 8;
        len -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (len--) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return ~c32;
}

static int has_sse42(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    return (c & bit_SSE4_2) != 0;
}
#endif

// 0 = not probed yet, 1 = hardware, 2 = portable.
static int mode = 0;

static int probe(void) {
    int m = __atomic_load_n(&mode, __ATOMIC_RELAXED);
    if (m) return m;
#if defined(__x86_64__)
    m = has_sse42() ? 1 : 2;
#else
    m = 2;
#endif
    __atomic_store_n(&mode, m, __ATOMIC_RELAXED);
    return m;
}

int sluice_crc32c_hardware(void) { return probe() == 1; }

uint32_t sluice_crc32c(uint32_t crc, const void *data, size_t len) {
#if defined(__x86_64__)
    if (probe() == 1) return crc32c_sse42(crc, data, len);
#endif
    return sluice_crc32c_portable(crc, data, len);
}
