/* test_dagpb.c - dag-pb and UnixFS codecs: known bytes, round trips, strictness. */
#include "test.h"

#include "ipfs/dagpb.h"

TEST(dagpb_empty_dir_bytes)
{
    static const uint8_t want[] = {0x0a, 0x02, 0x08, 0x01};
    struct unixfs u = {.type = UNIXFS_DIRECTORY};
    struct pb_node n = {0};
    struct buf ub, nb;

    buf_init(&ub, 1024);
    buf_init(&nb, 1024);
    ASSERT_OK(unixfs_encode(&u, &ub));
    n.data = (const uint8_t *)ub.p;
    n.data_len = ub.n;
    n.has_data = true;
    ASSERT_OK(pb_node_encode(&n, &nb));
    ASSERT_EQ(nb.n, sizeof(want));
    ASSERT(!memcmp(nb.p, want, sizeof(want)));
    buf_release(&ub);
    buf_release(&nb);
}

TEST(dagpb_links_before_data_roundtrip)
{
    struct pb_link links[2];
    struct pb_node n = {0}, d;
    struct unixfs u = {.type = UNIXFS_FILE, .has_filesize = true, .filesize = 300};
    struct unixfs du;
    uint64_t sizes[2] = {200, 100};
    struct buf ub, nb;

    memset(links, 0, sizeof(links));
    cid_hash(&links[0].cid, 1, MC_RAW, "a", 1);
    cid_hash(&links[1].cid, 0, MC_DAG_PB, "b", 1);
    links[0].has_name = links[1].has_name = true;
    links[0].name = (const uint8_t *)"";
    links[1].name = (const uint8_t *)"name";
    links[1].name_len = 4;
    links[0].has_tsize = true;
    links[0].tsize = 200;
    u.blocksizes = sizes;
    u.nblocksizes = 2;
    buf_init(&ub, 1024);
    buf_init(&nb, 4096);
    ASSERT_OK(unixfs_encode(&u, &ub));
    /* Type, filesize, then blocksizes one field each (not packed). */
    ASSERT_EQ((uint8_t)ub.p[0], 0x08);
    ASSERT_EQ((uint8_t)ub.p[2], 0x18);
    ASSERT_EQ((uint8_t)ub.p[5], 0x20);
    n.links = links;
    n.nlinks = 2;
    n.data = (const uint8_t *)ub.p;
    n.data_len = ub.n;
    n.has_data = true;
    ASSERT_OK(pb_node_encode(&n, &nb));
    ASSERT_EQ((uint8_t)nb.p[0], 0x12);    /* Links (field 2) come first */
    ASSERT_EQ((uint8_t)nb.p[nb.n - ub.n - 2], 0x0a); /* Data last */
    ASSERT_OK(pb_node_decode(&d, (const uint8_t *)nb.p, nb.n, NULL));
    ASSERT_EQ(d.nlinks, 2);
    ASSERT(cid_equal(&d.links[0].cid, &links[0].cid));
    ASSERT(cid_equal(&d.links[1].cid, &links[1].cid));
    ASSERT(d.links[0].has_name && d.links[0].name_len == 0);
    ASSERT(d.links[0].has_tsize && d.links[0].tsize == 200);
    ASSERT(!d.links[1].has_tsize);
    ASSERT_EQ(d.links[1].name_len, 4);
    ASSERT(!memcmp(d.links[1].name, "name", 4));
    ASSERT_OK(unixfs_decode(&du, d.data, d.data_len, NULL));
    ASSERT_EQ(du.type, UNIXFS_FILE);
    ASSERT_EQ(du.filesize, 300);
    ASSERT_EQ(du.nblocksizes, 2);
    ASSERT_EQ(du.blocksizes[0], 200);
    ASSERT_EQ(unixfs_file_size(&du), 300);
    unixfs_release(&du);
    pb_node_release(&d);
    buf_release(&ub);
    buf_release(&nb);
}

TEST(dagpb_rejects_malformed)
{
    static const struct {
        const char *why;
        uint8_t b[12];
        size_t n;
    } bad[] = {
        {"data before links", {0x0a, 0x00, 0x12, 0x00}, 4},
        {"duplicate data", {0x0a, 0x00, 0x0a, 0x00}, 4},
        {"unknown field", {0x1a, 0x00}, 2},
        {"varint wire type", {0x08, 0x01}, 2},
        {"length past end", {0x0a, 0x05, 0x01}, 3},
        {"huge length", {0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, 10},
        {"truncated tag", {0x8a}, 1},
        {"link without hash", {0x12, 0x02, 0x18, 0x01}, 4},
        {"link bad hash", {0x12, 0x04, 0x0a, 0x02, 0x12, 0x20}, 6},
        {"link name before hash", {0x12, 0x04, 0x12, 0x00, 0x0a, 0x00}, 6},
        {"link tsize wrong wire", {0x12, 0x02, 0x1a, 0x00}, 4},
        {"11-byte varint", {0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, 12},
    };
    struct ag_err e = {0};
    struct pb_node n;

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        if (pb_node_decode(&n, bad[i].b, bad[i].n, &e) == 0)
            test_fail(__FILE__, __LINE__, "accepted: %s", bad[i].why);
        ASSERT(e.msg[0]);
        ag_err_clear(&e);
    }
    ASSERT_OK(pb_node_decode(&n, (const uint8_t *)"", 0, NULL)); /* the empty node is valid */
    ASSERT_EQ(n.nlinks, 0);
}

TEST(unixfs_rejects_malformed)
{
    static const struct {
        uint8_t b[8];
        size_t n;
    } bad[] = {
        {{0x18, 0x01}, 2},             /* no Type */
        {{0x08, 0x09}, 2},             /* unknown type */
        {{0x08, 0x02, 0x12, 0x05}, 4}, /* Data past end */
        {{0x08, 0x02, 0x48, 0x01}, 4}, /* unknown field 9 */
        {{0x08, 0x02, 0x1a, 0x00}, 4}, /* filesize as bytes */
        {{0x08, 0x02, 0x42, 0x02, 0x15, 0x00}, 6}, /* truncated mtime nsecs */
    };
    struct unixfs u;

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        ASSERT(unixfs_decode(&u, bad[i].b, bad[i].n, NULL) != 0);
    /* Packed blocksizes are accepted too. */
    static const uint8_t packed[] = {0x08, 0x02, 0x22, 0x02, 0x05, 0x07};
    ASSERT_OK(unixfs_decode(&u, packed, sizeof(packed), NULL));
    ASSERT_EQ(u.nblocksizes, 2);
    ASSERT_EQ(u.blocksizes[1], 7);
    unixfs_release(&u);
}

TEST(dagpb_fuzz_mutations)
{
    /* Single-byte mutations and truncations of a real parent node never crash,
     * and what decodes re-encodes to a node that decodes again. */
    struct pb_link links[3];
    struct pb_node n = {0}, d, d2;
    struct buf nb, re;
    uint8_t m[512];

    memset(links, 0, sizeof(links));
    for (int i = 0; i < 3; i++) {
        cid_hash(&links[i].cid, 1, MC_RAW, &i, sizeof(i));
        links[i].has_name = links[i].has_tsize = true;
        links[i].name = (const uint8_t *)"";
        links[i].tsize = 262144;
    }
    n.links = links;
    n.nlinks = 3;
    n.has_data = true;
    n.data = (const uint8_t *)"\x08\x02\x18\x80\x80\x30";
    n.data_len = 6;
    buf_init(&nb, 4096);
    buf_init(&re, 4096);
    ASSERT_OK(pb_node_encode(&n, &nb));
    ASSERT(nb.n <= sizeof(m));
    for (size_t k = 0; k <= nb.n; k++) {
        if (pb_node_decode(&d, (const uint8_t *)nb.p, k, NULL) == 0)
            pb_node_release(&d);
    }
    for (size_t i = 0; i < nb.n; i++) {
        for (int v = 0; v < 256; v += 3) {
            memcpy(m, nb.p, nb.n);
            m[i] = (uint8_t)v;
            if (pb_node_decode(&d, m, nb.n, NULL) == 0) {
                buf_reset(&re);
                ASSERT_OK(pb_node_encode(&d, &re));
                ASSERT_OK(pb_node_decode(&d2, (const uint8_t *)re.p, re.n, NULL));
                ASSERT_EQ(d2.nlinks, d.nlinks);
                pb_node_release(&d2);
                pb_node_release(&d);
            }
        }
    }
    buf_release(&nb);
    buf_release(&re);
}
