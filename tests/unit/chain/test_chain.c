/* test_chain.c - the chain index in the store (events, rollback, licences, wallets, nonces) and
 * manifests. */
#include "core/common.h"
#include "chain/chain.h"
#include "test.h"

static struct store *open_db(void)
{
    char path[512];
    struct store *s = NULL;
    snprintf(path, sizeof(path), "%s/agora.db", test_tmpdir());
    if (store_open(path, &s, NULL))
        return NULL;
    return s;
}

static int64_t add_user(struct store *s, const char *name)
{
    char email[64];
    int64_t id = 0;
    snprintf(email, sizeof(email), "%s@example.org", name);
    store_user_insert(s, name, email, "!", "user", 1, &id, NULL);
    return id;
}

#define BUYER  "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
#define SELLER "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
#define SLUG   "0x1111111111111111111111111111111111111111111111111111111111111111"

static struct chain_event_row ev(int64_t block, int64_t li, const char *tx, const char *contract,
                                 const char *name, const char *model, const char *acct,
                                 const char *args)
{
    return (struct chain_event_row){.block_number = block,
                                    .log_index = li,
                                    .block_hash = "0xb",
                                    .tx_hash = tx,
                                    .contract = contract,
                                    .name = name,
                                    .model_id = model,
                                    .account = acct,
                                    .args = args};
}

TEST(index_apply_dedup_rollback)
{
    struct store *s = open_db();
    struct chain_cursor c;
    struct chain_event_row evs[3];
    int64_t bn[2] = {5, 7}, n = 0, removed = 0;
    const char *bh[2] = {"0xaa", "0xbb"};
    json_t *blocks = NULL;
    int ins = 0;

    ASSERT(s);
    ASSERT_EQ(store_chain_cursor_get(s, &c, NULL), AG_ENOTFOUND);
    ASSERT_OK(store_chain_cursor_init(s, 31337, 3, NULL));
    ASSERT_OK(store_chain_cursor_init(s, 31337, 3, NULL));
    ASSERT_EQ(store_chain_cursor_init(s, 1, 3, NULL), AG_ECONFLICT);
    evs[0] = ev(5, 0, "0x01", "ModelRegistry", "ModelRegistered", "1", SELLER,
                "{\"modelId\":\"1\",\"slugHash\":\"" SLUG "\"}");
    evs[1] = ev(5, 1, "0x01", "ModelRegistry", "Transfer", "1", SELLER, "{\"tokenId\":\"1\"}");
    evs[2] = ev(7, 0, "0x02", "Marketplace", "PriceSet", "1", SELLER, "{\"price\":\"500\"}");
    ASSERT_OK(store_chain_apply(s, evs, 3, bn, bh, 2, 8, &ins, NULL));
    ASSERT_EQ(ins, 3);
    /* the same range again (a crash before the cursor moved): nothing twice */
    ASSERT_OK(store_chain_apply(s, evs, 3, bn, bh, 2, 8, &ins, NULL));
    ASSERT_EQ(ins, 0);
    ASSERT_OK(store_chain_event_count(s, &n, NULL));
    ASSERT_EQ(n, 3);
    ASSERT_OK(store_chain_cursor_get(s, &c, NULL));
    ASSERT_EQ(c.next_block, 8);
    ASSERT_EQ(c.start_block, 3);
    ASSERT_OK(store_chain_blocks(s, 100, 10, &blocks, NULL));
    ASSERT_EQ(json_array_size(blocks), 2);
    ASSERT_EQ(json_integer_value(json_object_get(json_array_get(blocks, 0), "number")), 7);
    json_decref(blocks);

    ASSERT_OK(store_chain_rollback(s, 6, &removed, NULL));
    ASSERT_EQ(removed, 1);
    ASSERT_OK(store_chain_cursor_get(s, &c, NULL));
    ASSERT_EQ(c.next_block, 7);
    ASSERT_OK(store_chain_blocks(s, 100, 10, &blocks, NULL));
    ASSERT_EQ(json_array_size(blocks), 1);
    json_decref(blocks);
    store_close(s);
}

TEST(model_owner_price_and_licences)
{
    struct store *s = open_db();
    struct chain_event_row evs[6];
    int64_t bn[1] = {9};
    const char *bh[1] = {"0x9"};
    int64_t buyer = add_user(s, "buyer"), other = add_user(s, "other");
    json_t *m = NULL, *lic = NULL;
    bool has = true;

    ASSERT(s && buyer > 0 && other > 0);
    ASSERT_OK(store_chain_cursor_init(s, 31337, 1, NULL));
    evs[0] = ev(2, 0, "0x01", "ModelRegistry", "ModelRegistered", "1", SELLER,
                "{\"modelId\":\"1\",\"slugHash\":\"" SLUG "\"}");
    evs[1] = ev(2, 1, "0x01", "ModelRegistry", "Transfer", "1", SELLER, "{\"tokenId\":\"1\"}");
    evs[2] = ev(3, 0, "0x02", "Marketplace", "PriceSet", "1", SELLER, "{\"price\":\"500\"}");
    evs[3] = ev(4, 0, "0x03", "Marketplace", "LicensePurchased", "1", BUYER,
                "{\"purchaseId\":\"1\",\"price\":\"500\"}");
    evs[4] = ev(5, 0, "0x04", "Marketplace", "LicensePurchased", "1", SELLER,
                "{\"purchaseId\":\"2\",\"price\":\"500\"}");
    evs[5] =
        ev(6, 0, "0x05", "Marketplace", "PurchaseRefunded", "1", SELLER, "{\"purchaseId\":\"2\"}");
    ASSERT_OK(store_chain_apply(s, evs, 6, bn, bh, 1, 10, NULL, NULL));

    ASSERT_OK(store_chain_model(s, SLUG, &m, NULL));
    ASSERT_STR_EQ(json_string_value(json_object_get(m, "token_id")), "1");
    ASSERT_STR_EQ(json_string_value(json_object_get(m, "owner")), SELLER);
    ASSERT_STR_EQ(json_string_value(json_object_get(m, "price")), "500");
    json_decref(m);
    ASSERT_EQ(store_chain_model(s, "0x22", &m, NULL), AG_ENOTFOUND);

    /* not linked yet: no licence */
    ASSERT_OK(store_chain_has_licence(s, "1", buyer, &has, NULL));
    ASSERT(!has);
    ASSERT_OK(store_wallet_link(s, buyer, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", 5, NULL));
    ASSERT_OK(store_wallet_link(s, buyer, BUYER, 6, NULL));
    ASSERT_EQ(store_wallet_link(s, other, BUYER, 7, NULL), AG_EEXISTS);
    ASSERT_OK(store_chain_has_licence(s, "1", buyer, &has, NULL));
    ASSERT(has);
    ASSERT_OK(store_chain_has_licence(s, "2", buyer, &has, NULL));
    ASSERT(!has);
    /* the refunded purchase gives no licence */
    ASSERT_OK(store_chain_address_licensed(s, "1", SELLER, &has, NULL));
    ASSERT(!has);
    ASSERT_OK(store_chain_licences(s, buyer, &lic, NULL));
    ASSERT_EQ(json_array_size(lic), 1);
    json_decref(lic);

    /* a transfer to a new owner clears the price until they set one */
    evs[0] = ev(11, 0, "0x06", "ModelRegistry", "Transfer", "1", BUYER, "{\"tokenId\":\"1\"}");
    ASSERT_OK(store_chain_apply(s, evs, 1, bn, bh, 0, 12, NULL, NULL));
    ASSERT_OK(store_chain_model(s, SLUG, &m, NULL));
    ASSERT_STR_EQ(json_string_value(json_object_get(m, "owner")), BUYER);
    ASSERT_STR_EQ(json_string_value(json_object_get(m, "price")), "0");
    json_decref(m);
    store_close(s);
}

TEST(siwe_nonce_single_use_and_lease)
{
    struct store *s = open_db();
    bool held = false;

    ASSERT(s);
    ASSERT_OK(store_siwe_nonce_put(s, "abcdef123456", 100, NULL));
    ASSERT_EQ(store_siwe_nonce_take(s, "abcdef123456", 101, NULL), AG_ENOTFOUND); /* expired */
    ASSERT_OK(store_siwe_nonce_put(s, "abcdef654321", 100, NULL));
    ASSERT_OK(store_siwe_nonce_take(s, "abcdef654321", 50, NULL));
    ASSERT_EQ(store_siwe_nonce_take(s, "abcdef654321", 50, NULL), AG_ENOTFOUND); /* used */

    ASSERT_OK(store_chain_cursor_init(s, 31337, 0, NULL));
    ASSERT_OK(store_chain_lease(s, "node-a", 1000, 30, &held, NULL));
    ASSERT(held);
    ASSERT_OK(store_chain_lease(s, "node-b", 1010, 30, &held, NULL));
    ASSERT(!held);
    ASSERT_OK(store_chain_lease(s, "node-b", 1031, 30, &held, NULL)); /* expired: taken over */
    ASSERT(held);
    store_chain_lease_drop(s, "node-b");
    ASSERT_OK(store_chain_lease(s, "node-a", 1032, 30, &held, NULL));
    ASSERT(held);
    store_close(s);
}

TEST(slug_hash_is_keccak_of_owner_slug)
{
    char h[67];
    /* keccak256("alice/bert") computed with ethers.id("alice/bert") */
    chain_slug_hash("alice", "bert", h);
    ASSERT_EQ(strlen(h), 66);
    ASSERT_STR_EQ(h, "0xf72da3553352671345bd8120acdbc933abcfed41589b505a192247450203a9a4");
}

TEST(manifest_errors)
{
    struct chain_manifest m;
    struct ag_err e = {0};
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/none.json", test_tmpdir());
    ASSERT_EQ(chain_manifest_load(path, &m, &e), AG_ENOTFOUND);
    snprintf(path, sizeof(path), "%s/bad.json", test_tmpdir());
    f = fopen(path, "w");
    ASSERT(f);
    fputs("{\"chainId\": 31337, \"block\": 1, \"contracts\": {\"AgoraToken\": {\"address\": "
          "\"0x12\"}}}",
          f);
    fclose(f);
    ASSERT_EQ(chain_manifest_load(path, &m, &e), AG_EINVAL);
    f = fopen(path, "w");
    ASSERT(f);
    fputs("not json", f);
    fclose(f);
    ASSERT(chain_manifest_load(path, &m, &e) < 0);
}
