/* hrw.c - rendezvous hashing (see hrw.h). The score is the splitmix64 finaliser of the key
 * combined with the member hash: cheap, and well spread even for keys and members that
 * differ in one bit. */
#include "core/hrw.h"

#include <string.h>
#include <xxhash.h>

uint64_t pg_hrw_member_hash(const char *name)
{
    return XXH3_64bits(name, strlen(name));
}

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t pg_hrw_score(uint64_t key, uint64_t member)
{
    return mix64(key ^ mix64(member + 0x9e3779b97f4a7c15ULL));
}

size_t pg_hrw_pick(uint64_t key, const uint64_t *members, size_t n)
{
    size_t best = 0;
    uint64_t best_score = pg_hrw_score(key, members[0]);
    for (size_t i = 1; i < n; i++) {
        uint64_t s = pg_hrw_score(key, members[i]);
        if (s > best_score || (s == best_score && members[i] > members[best])) {
            best = i;
            best_score = s;
        }
    }
    return best;
}
