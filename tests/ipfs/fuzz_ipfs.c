/* fuzz_ipfs.c - fuzz driver for every parser of outside bytes in src/ipfs.
 *
 * With clang, compiling this file with -fsanitize=fuzzer,address,undefined
 * -DAGORA_LIBFUZZER -Isrc together with the sources of src/ipfs and src/core
 * (link -lcrypto -lsodium -ljansson -lm) gives a libFuzzer binary. Built normally (CTest ipfs.fuzz_parsers) it runs
 * its own loop instead: seeds of valid CIDs, dag-pb nodes, UnixFS data and
 * CARs, mutated by a seeded PRNG (bit flips, byte sets, truncations, splices,
 * varint-shaped bytes) for a fixed number of rounds, under ASan+UBSan. Each
 * input must either fail with an AG_E* code or decode into something that
 * re-encodes and decodes again.
 */
#include "core/common.h"

#include "core/encoding.h"
#include "ipfs/car.h"
#include "ipfs/dagpb.h"

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n);

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz invariant broken: %s\n", what);
        abort();
    }
}

static void fuzz_cid(const uint8_t *p, size_t n)
{
    struct cid c, d;
    char s[CID_MAX_STR], str[600];
    size_t used;

    if (cid_from_bytes(&c, p, n, &used, NULL) == 0) {
        check(used <= n, "cid used");
        check(cid_format(&c, s, sizeof(s)) == 0, "cid format");
        check(cid_parse(&d, s, NULL) == 0 && cid_equal(&c, &d), "cid text round trip");
    }
    n = MIN(n, sizeof(str) - 1);
    memcpy(str, p, n);
    str[n] = '\0';
    if (cid_parse(&c, str, NULL) == 0)
        check(cid_format(&c, s, sizeof(s)) == 0, "parsed cid formats");
}

static void fuzz_dagpb(const uint8_t *p, size_t n)
{
    struct pb_node node, again;
    struct unixfs u;
    struct buf b;

    if (unixfs_decode(&u, p, n, NULL) == 0) {
        buf_init(&b, PB_MAX_BLOCK);
        check(unixfs_encode(&u, &b) == 0, "unixfs re-encodes");
        unixfs_release(&u);
        buf_release(&b);
    }
    if (pb_node_decode(&node, p, n, NULL) != 0)
        return;
    buf_init(&b, PB_MAX_BLOCK * 2);
    check(pb_node_encode(&node, &b) == 0, "dag-pb re-encodes");
    check(pb_node_decode(&again, (const uint8_t *)b.p, b.n, NULL) == 0, "dag-pb decodes again");
    check(again.nlinks == node.nlinks, "same links");
    pb_node_release(&again);
    pb_node_release(&node);
    buf_release(&b);
}

static void fuzz_car(const uint8_t *p, size_t n)
{
    struct car_reader r;
    struct buf blk;
    struct cid c;
    FILE *f;
    int rc, blocks = 0;

    if (!n)
        return;
    f = fmemopen((void *)p, n, "rb");
    if (!f)
        return;
    buf_init(&blk, CAR_MAX_SECTION);
    rc = car_reader_open(&r, f, NULL);
    while (rc == 0 && blocks++ < 10000) {
        buf_reset(&blk);
        rc = car_reader_next(&r, &c, &blk, NULL);
        if (rc == 1) {
            (void)cid_verify(&c, blk.p, blk.n);
            rc = 0;
        }
    }
    buf_release(&blk);
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
    if (n > PB_MAX_BLOCK)
        return 0;
    fuzz_cid(p, n);
    fuzz_dagpb(p, n);
    fuzz_car(p, n);
    return 0;
}

#ifndef AGORA_LIBFUZZER
int main(int argc, char **argv);

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Builds the seeds: real encodings of each format. */
static void seeds(struct buf *s, size_t *ends, size_t *nseeds)
{
    struct cid c;
    struct pb_link l[3];
    struct pb_node node = {0};
    struct unixfs u = {.type = UNIXFS_FILE, .has_filesize = true, .filesize = 30};
    uint64_t sizes[3] = {10, 10, 10};
    struct buf ub;
    uint8_t cb[CID_MAX_BYTES];

    *nseeds = 0;
    cid_hash(&c, 1, MC_RAW, "seed", 4);
    buf_add(s, cb, cid_to_bytes(&c, cb));
    ends[(*nseeds)++] = s->n;
    cid_hash(&c, 0, MC_DAG_PB, "seed", 4);
    buf_add(s, cb, cid_to_bytes(&c, cb));
    ends[(*nseeds)++] = s->n;
    buf_adds(s, "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354");
    ends[(*nseeds)++] = s->n;
    memset(l, 0, sizeof(l));
    for (int i = 0; i < 3; i++) {
        cid_hash(&l[i].cid, 1, MC_RAW, &i, sizeof(i));
        l[i].has_name = l[i].has_tsize = true;
        l[i].name = (const uint8_t *)"";
        l[i].tsize = 10;
    }
    buf_init(&ub, 4096);
    u.blocksizes = sizes;
    u.nblocksizes = 3;
    unixfs_encode(&u, &ub);
    buf_add(s, ub.p, ub.n);
    ends[(*nseeds)++] = s->n;
    node.links = l;
    node.nlinks = 3;
    node.has_data = true;
    node.data = (const uint8_t *)ub.p;
    node.data_len = ub.n;
    pb_node_encode(&node, s);
    ends[(*nseeds)++] = s->n;
    car_write_header(s, &l[0].cid, 1);
    car_write_section(s, &l[0].cid, (const uint8_t *)&(int){0}, sizeof(int));
    car_write_section(s, &l[1].cid, (const uint8_t *)&(int){1}, sizeof(int));
    ends[(*nseeds)++] = s->n;
    buf_release(&ub);
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 200000;
    struct buf s, m;
    size_t ends[16], nseeds;

    buf_init(&s, 1 << 20);
    buf_init(&m, 1 << 20);
    seeds(&s, ends, &nseeds);
    for (long r = 0; r < rounds; r++) {
        size_t k = next() % nseeds, from = k ? ends[k - 1] : 0, n = ends[k] - from;
        buf_reset(&m);
        buf_add(&m, s.p + from, n);
        for (int edits = 1 + (int)(next() % 4); edits > 0 && m.n; edits--) {
            size_t at = next() % m.n;
            switch (next() % 6) {
            case 0: m.p[at] ^= (char)(1 << (next() % 8)); break;
            case 1: m.p[at] = (char)next(); break;
            case 2: m.n = at; break;                                /* truncate */
            case 3: m.p[at] = (char)(0x80 | next()); break;         /* varint continuation */
            case 4: m.p[at] = (char)"\x08\x0a\x12\x18\x20\xff\x00"[next() % 7]; break;
            default: {                                             /* splice another seed */
                size_t j = next() % nseeds, jf = j ? ends[j - 1] : 0;
                size_t take = MIN(ends[j] - jf, (size_t)(next() % 64));
                m.n = at;
                buf_add(&m, s.p + jf, take);
            }
            }
        }
        LLVMFuzzerTestOneInput((const uint8_t *)m.p, m.n);
    }
    printf("%ld fuzz rounds over %zu seeds: no crash, invariants held\n", rounds, nseeds);
    buf_release(&s);
    buf_release(&m);
    return 0;
}
#endif
