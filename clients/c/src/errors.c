/* Names for library errors and protocol error codes. */
#include "sluice.h"

const char *sluice_strerror(int err) {
    switch (err) {
    case SLUICE_OK: return "success";
    case SLUICE_ERR_ARG: return "invalid argument";
    case SLUICE_ERR_NOMEM: return "out of memory";
    case SLUICE_ERR_CONNECT: return "cannot connect to the sluiced socket";
    case SLUICE_ERR_TIMEOUT: return "timed out";
    case SLUICE_ERR_DISCONNECTED: return "not connected to sluiced (connection lost)";
    case SLUICE_ERR_PROTOCOL: return "sluiced sent a reply that cannot be decoded";
    case SLUICE_ERR_FAILED: return "sluiced failed the call";
    case SLUICE_ERR_REENTRANT: return "a waiting call cannot be made from a callback";
    case SLUICE_ERR_TOO_MANY_CALLS: return "too many unfinished calls on this client";
    default: return "unknown libsluice error";
    }
}

const char *sluice_code_name(int code) {
    static const char *const names[] = {
        "ERROR_UNSPECIFIED", "INVALID_REQUEST", "FRAME_TOO_LARGE", "DUPLICATE_REF",
        "UNKNOWN_REF", "UNKNOWN_TOPIC", "UNKNOWN_PARTITION", "RECORD_TOO_LARGE",
        "NOT_AUTHORIZED", "RETRIES_EXHAUSTED", "KAFKA_ERROR", "TIMEOUT", "SHUTTING_DOWN",
        "DELIVERY_TIMEOUT", "SPOOL_UNAVAILABLE",
    };
    if (code < 0 || code >= (int)(sizeof names / sizeof names[0])) return "UNKNOWN_CODE";
    return names[code];
}
