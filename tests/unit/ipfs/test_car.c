/* test_car.c - CARv1 bytes against @ipld/car's, round trips and malformed archives. */
#include "test.h"

#include "core/encoding.h"
#include "ipfs/car.h"

/* What @ipld/car 5.4 writes for root bafkreifjj... holding "hello world\n". */
static const char ref_hex[] =
    "3aa265726f6f747381d82a58250001551220a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb"
    "85d299a192a4476776657273696f6e013001551220a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a"
    "1ec0fb85d299a192a44768656c6c6f20776f726c640a";

TEST(car_bytes_match_reference)
{
    struct cid c;
    struct buf out, ref;

    cid_hash(&c, 1, MC_RAW, "hello world\n", 12);
    buf_init(&out, 4096);
    buf_init(&ref, 4096);
    ASSERT_OK(hex_decode(&ref, ref_hex, strlen(ref_hex)));
    ASSERT_OK(car_write_header(&out, &c, 1));
    ASSERT_OK(car_write_section(&out, &c, (const uint8_t *)"hello world\n", 12));
    ASSERT_EQ(out.n, ref.n);
    ASSERT(!memcmp(out.p, ref.p, ref.n));
    buf_release(&out);
    buf_release(&ref);
}

TEST(car_read_reference)
{
    struct car_reader r;
    struct buf ref, blk;
    struct cid c;
    FILE *f;

    buf_init(&ref, 4096);
    buf_init(&blk, 4096);
    ASSERT_OK(hex_decode(&ref, ref_hex, strlen(ref_hex)));
    f = fmemopen(ref.p, ref.n, "rb");
    ASSERT_OK(car_reader_open(&r, f, NULL));
    ASSERT_EQ(r.nroots, 1);
    ASSERT_EQ(car_reader_next(&r, &c, &blk, NULL), 1);
    ASSERT(cid_equal(&c, &r.roots[0]));
    ASSERT_EQ(blk.n, 12);
    ASSERT_OK(cid_verify(&c, blk.p, blk.n));
    ASSERT_EQ(car_reader_next(&r, &c, &blk, NULL), 0);
    fclose(f);
    buf_release(&ref);
    buf_release(&blk);
}

TEST(car_truncations_and_mutations)
{
    /* Every truncation and single-byte change of a CAR is either read in full
     * or refused with an error: never a crash, never a block that does not
     * belong to its CID accepted by car_import's check. */
    struct buf ref, m, blk;
    struct car_reader r;
    struct cid c;
    FILE *f;
    int rc;

    buf_init(&ref, 4096);
    buf_init(&m, 4096);
    buf_init(&blk, CAR_MAX_SECTION);
    ASSERT_OK(hex_decode(&ref, ref_hex, strlen(ref_hex)));
    for (size_t k = 0; k < ref.n; k++) {
        f = fmemopen(ref.p, k ? k : 1, "rb");
        rc = k ? car_reader_open(&r, f, NULL) : AG_EINVAL;
        while (rc == 0) {
            buf_reset(&blk);
            rc = car_reader_next(&r, &c, &blk, NULL);
            rc = rc == 1 ? 0 : rc == 0 ? 1 : rc;
        }
        if (k < ref.n)
            ASSERT(rc < 0 || k == 59); /* a header-only prefix is a valid empty CAR */
        fclose(f);
    }
    for (size_t i = 0; i < ref.n; i++) {
        for (int v = 0; v < 256; v += 5) {
            buf_reset(&m);
            ASSERT_OK(buf_add(&m, ref.p, ref.n));
            m.p[i] = (char)v;
            f = fmemopen(m.p, m.n, "rb");
            rc = car_reader_open(&r, f, NULL);
            while (rc == 0) {
                buf_reset(&blk);
                rc = car_reader_next(&r, &c, &blk, NULL);
                if (rc == 1) {
                    (void)cid_verify(&c, blk.p, blk.n);
                    rc = 0;
                } else if (rc == 0) {
                    rc = 1;
                }
            }
            fclose(f);
        }
    }
    buf_release(&ref);
    buf_release(&m);
    buf_release(&blk);
}

TEST(car_header_rules)
{
    struct car_reader r;
    struct ag_err e = {0};
    /* {version: 2}: a CARv2 pragma. */
    static const uint8_t v2[] = {0xa1, 0x67, 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x02};
    /* {version: 1} without roots. */
    static const uint8_t noroots[] = {0xa1, 0x67, 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x01};
    /* {roots: [], version: 1}: allowed. */
    static const uint8_t empty[] = {0xa2, 0x65, 'r', 'o', 'o', 't', 's', 0x80,
                                    0x67, 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x01};
    /* indefinite-length map: not dag-cbor. */
    static const uint8_t indef[] = {0xbf, 0xff};
    /* roots array claiming 2^32 entries. */
    static const uint8_t huge[] = {0xa2, 0x65, 'r', 'o', 'o', 't', 's', 0x9a, 0xff, 0xff, 0xff, 0xff};

    ASSERT_EQ(car_parse_header(&r, v2, sizeof(v2), &e), AG_EUNPROCESSABLE);
    ASSERT(strstr(e.msg, "CARv2") != NULL);
    ASSERT_EQ(car_parse_header(&r, noroots, sizeof(noroots), NULL), AG_EINVAL);
    ASSERT_OK(car_parse_header(&r, empty, sizeof(empty), NULL));
    ASSERT_EQ(r.nroots, 0);
    ASSERT_EQ(car_parse_header(&r, indef, sizeof(indef), NULL), AG_EINVAL);
    ASSERT_EQ(car_parse_header(&r, huge, sizeof(huge), NULL), AG_ETOOBIG);
}

TEST(car_section_caps)
{
    /* A section claiming 1 GiB is refused before anything is allocated. */
    struct buf car, blk;
    struct car_reader r;
    struct cid c, root;
    uint8_t v[10];
    FILE *f;

    buf_init(&car, 4096);
    buf_init(&blk, CAR_MAX_SECTION);
    cid_hash(&root, 1, MC_RAW, "", 0);
    ASSERT_OK(car_write_header(&car, &root, 1));
    ASSERT_OK(buf_add(&car, v, varint_put(v, (uint64_t)1 << 30)));
    f = fmemopen(car.p, car.n, "rb");
    ASSERT_OK(car_reader_open(&r, f, NULL));
    ASSERT_EQ(car_reader_next(&r, &c, &blk, NULL), AG_ETOOBIG);
    fclose(f);
    buf_release(&car);
    buf_release(&blk);
}
