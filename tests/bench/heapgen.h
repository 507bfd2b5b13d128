/* heapgen.h - deterministic generator of a realistic Go heap profile (benchmarks, tests).
 *
 * Builds the pprof of a live Go service's /debug/pprof/allocs: sample types
 * alloc_objects/count, alloc_space/bytes, inuse_objects/count, inuse_space/bytes; period
 * space/bytes (524288); mappings; locations with addresses and line info; Go-like function
 * names and file paths; n_stacks distinct stacks min_depth..max_depth frames deep over at
 * most n_functions functions, sharing common roots (net/http, gRPC, worker pools,
 * runtime.main) and hot call paths; a tenth of the samples carry Go's numeric `bytes` label.
 *
 * The profile is a pure function of (params, epoch) computed with a self-contained PRNG
 * (splitmix64), so every machine produces the same bytes. `epoch` is the scrape number:
 * alloc_* are cumulative and never decrease with epoch (about 30 % of the stacks allocate
 * more at each epoch), inuse_* fluctuate and are mostly non-zero.
 *
 * The default (3000 stacks, 4000 functions, depth 8..32) is about 550 KB encoded; the
 * exact sizes are in tests/bench/README.md. Owner: the benchmark (tests/bench). */
#ifndef PG_HEAPGEN_H
#define PG_HEAPGEN_H

#include <stddef.h>
#include <stdint.h>

struct pg_heapgen_params {
    uint32_t seed;
    size_t n_stacks, n_functions;
    int min_depth, max_depth;
};

/* Fills p with the default shape: seed 1, 3000 stacks, 4000 functions, depth 8..32. */
void pg_heapgen_default(struct pg_heapgen_params *p);

/* Uncompressed pprof bytes of the heap profile at scrape number `epoch` (values cumulative,
 * non-decreasing in epoch for alloc_*). The caller frees *pb. Returns 0, or -1 on bad
 * parameters (n_stacks or n_functions 0, n_functions < 64, depths out of 1..256 or
 * min > max) or when out of memory. Depths below what the root frames need (6) are raised
 * to 6. Cost grows with epoch (the cumulative sums are recomputed): about O(n_stacks x
 * epoch). */
int pg_heapgen_profile(const struct pg_heapgen_params *p, unsigned epoch, uint8_t **pb,
                       size_t *len);

/* Gzips in[0..len) at zlib `level` (0..9) into a malloc'd *out (caller frees). 0 or -1. */
int pg_heapgen_gzip(const uint8_t *in, size_t len, int level, uint8_t **out, size_t *out_len);

#endif
