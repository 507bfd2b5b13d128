/* hrw.h - rendezvous (highest-random-weight) hashing: which of a set of named members
 * owns a key.
 *
 * Every member gets a score per key, score = mix(key, hash(member name)); the member with
 * the highest score owns the key. All replicas that see the same member set compute the
 * same owner without talking to each other, and a membership change moves only the keys
 * whose owner joined or left (about 1/N of them). Pure functions, no state, any thread. */
#ifndef PG_CORE_HRW_H
#define PG_CORE_HRW_H

#include <stddef.h>
#include <stdint.h>

/* The hash of a member's name (NUL-terminated; its identity, e.g. "10.0.0.5:4100"). */
uint64_t pg_hrw_member_hash(const char *name);

/* The score of member (its pg_hrw_member_hash) for key. */
uint64_t pg_hrw_score(uint64_t key, uint64_t member);

/* The index in members[0..n) of key's owner: the highest score, ties to the larger member
 * hash, then to the lower index. n must be > 0. */
size_t pg_hrw_pick(uint64_t key, const uint64_t *members, size_t n);

#endif
