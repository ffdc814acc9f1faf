"""Every limit the server enforces, in one place, with what happens at it.

Values that mirror a Redis default say so; Redis behaviour at the limit is
copied so that clients see the same thing from this server as from Redis.
"""

#: Largest bulk string a client may send (Redis `proto-max-bulk-len`, 512 MB).
#: A `$<len>` header above it gets `-ERR Protocol error: invalid bulk length`
#: and the connection is closed after that reply, before any payload is read.
PROTO_MAX_BULK_LEN = 512 * 1024 * 1024

#: Largest element count of a request (Redis: INT_MAX). A `*<count>` header
#: above it gets `-ERR Protocol error: invalid multibulk length` and a close.
#: Arguments are accumulated as they arrive, never preallocated, so a huge
#: count alone costs nothing; QUERY_BUFFER_LIMIT bounds what is accumulated.
PROTO_MAX_MULTIBULK_LEN = 2**31 - 1

#: Longest inline command line and longest `*`/`$` header line (Redis
#: PROTO_INLINE_MAX_SIZE, 64 KB). Past it without a newline: `-ERR Protocol
#: error: too big inline request` (or `too big mbulk/bulk count string`) and
#: a close, so a client cannot grow the buffer by never sending a newline.
PROTO_INLINE_MAX_SIZE = 64 * 1024

#: Before AUTH succeeds (only with --requirepass) a request may have at most
#: this many elements and bulks of at most UNAUTH_MAX_BULK_LEN bytes, as in
#: Redis 7; above: `Protocol error: unauthenticated multibulk/bulk length`
#: and a close. Keeps an unauthenticated stranger from making us buffer much.
UNAUTH_MAX_MULTIBULK_LEN = 10
UNAUTH_MAX_BULK_LEN = 16384

#: Bytes a single incomplete request may hold in memory (received payload
#: plus arguments already parsed), like Redis `client-query-buffer-limit`
#: (1 GB). Past it the connection is closed without a reply, as Redis does.
QUERY_BUFFER_LIMIT = 1024 * 1024 * 1024

#: Bytes of replies queued for a client that is not reading them. Redis
#: leaves normal clients unlimited and cuts pub/sub clients at 32 MB; here
#: one limit applies to every client: past it the client is disconnected.
#: Request/response clients rarely get near it because reading from a client
#: is paused while its transport is above WRITE_HIGH_WATER (backpressure);
#: a subscriber that never reads while others publish is the usual victim.
OUTPUT_BUFFER_LIMIT = 32 * 1024 * 1024

#: Transport write-buffer watermarks. Above HIGH we stop reading the client's
#: requests (so it cannot make us produce more replies); below LOW we resume.
WRITE_HIGH_WATER = 1024 * 1024
WRITE_LOW_WATER = 256 * 1024

#: Requests parsed but not yet run (the client is blocked in BLPOP, or its
#: replies are delayed by a fault). Above it reading is paused until drained.
PENDING_REQUESTS_HIGH = 10_000

#: Number of logical databases (Redis `databases`, 16). SELECT of an index
#: outside [0, DATABASES) gets `-ERR DB index is out of range`.
DATABASES = 16

#: Active expiry (Redis activeExpireCycle, simplified): every
#: EXPIRE_SWEEP_INTERVAL seconds sample up to EXPIRE_SWEEP_SAMPLE keys with a
#: TTL per database, delete the expired ones, and repeat while more than a
#: quarter of a sample was expired and EXPIRE_SWEEP_BUDGET seconds remain.
#: Keeps memory from filling with keys nobody reads; reads expire lazily.
EXPIRE_SWEEP_INTERVAL = 0.1
EXPIRE_SWEEP_SAMPLE = 20
EXPIRE_SWEEP_BUDGET = 0.025

#: SCAN cursors kept open per server (a cursor holds a snapshot of key
#: names). Older cursors are forgotten; using one returns an empty page with
#: cursor 0, so an abandoned iteration cannot leak memory.
SCAN_CURSORS_MAX = 1024

#: Collections up to this size are returned whole by HSCAN/SSCAN/ZSCAN with
#: cursor 0, as Redis does for its compact encodings (128 entries).
SCAN_SMALL_COLLECTION = 128

#: Longest wait BLPOP & co. accept in seconds before Redis-like "timeout is
#: out of range" (asyncio timers beyond this are pointless for a test server).
BLOCK_TIMEOUT_MAX = 10 * 365 * 24 * 3600
