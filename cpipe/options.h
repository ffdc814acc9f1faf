// options.h: a client's options as the bridge hands them to the engine, in
// one call (cp_open). Shared by bridge.c and main.go's cgo preamble, so both
// sides name the same fields; plain C types only. Python's description of
// the same options is cpipe._config.EngineConfig, which bridge.c reads by
// attribute name.
#ifndef CPIPE_OPTIONS_H
#define CPIPE_OPTIONS_H

#include <stdint.h>

// The limits bridge.c checks before filling the struct. CP_MAX_SIZE is
// cpipe._options.MAX_POOL_SIZE; CP_MAX_SECONDS is the longest timeout a Go
// duration (int64 nanoseconds) holds.
#define CP_MAX_SIZE 10000
#define CP_MAX_QUEUED ((int64_t)1 << 62)
#define CP_MAX_SECONDS 9223372036.0

// Pointers are borrowed for the cp_open call only; strings are not
// NUL-terminated (their length is given).
struct cp_options {
    const char *host;        // host_len bytes; ignored when unix_path is set
    int64_t host_len;
    int port;                // 1..65535
    const char *unix_path;   // NULL: TCP to host:port; else unix_len bytes
    int64_t unix_len;
    double connect_timeout;  // seconds for one dial; 0: no limit
    double socket_timeout;   // seconds a read or write may wait; 0: no limit
    const char *init;        // RESP commands replayed after every connect (AUTH, SELECT, ...)
    int64_t init_len;        // bytes in init
    int ninit;               // commands in init
    int size;                // shared connections, 1..CP_MAX_SIZE
    int autopipeline;        // callers share connections and their writes are coalesced
    int64_t max_queued;      // commands accepted but unanswered per connection; 0: the engine's default
    int connect_once;        // a connection that was up and is lost is never replaced
    int protocol;            // 2: RESP2; 3: HELLO 3 on connect, RESP2 if the server refuses it
    uint64_t resolver;       // 0, or a Sentinel target (cp_sentinel_target) naming the server instead of host/port
    const char *tls;         // NULL: plaintext; else tls_len bytes of JSON, engine.TLSSettings (cpipe/_tls.py)
    int64_t tls_len;
};

#endif
