/* eth_bench.c - keccak256 throughput and secp256k1 sign/recover rates of agora_eth.
 * Prints one JSON object; bench/eth/run.sh puts it beside ethers' figures. */
#include "core/common.h"

#include "core/util.h"
#include "eth/keccak.h"
#include "eth/secp.h"

static double now_s(void)
{
    return (double)time_mono_us() / 1e6;
}

int main(void)
{
    size_t big = (size_t)16 << 20;
    uint8_t *buf = malloc(big), h[32], key[32];
    struct eth_sig sig;
    double t0, dt;
    int reps = 0, n = 0;
    if (!buf)
        return 1;
    for (size_t i = 0; i < big; i++)
        buf[i] = (uint8_t)(i * 31);
    /* bulk: hash 16 MiB buffers for at least a second */
    t0 = now_s();
    do {
        keccak256(buf, big, h);
        reps++;
        dt = now_s() - t0;
    } while (dt < 1.0);
    double mbs = (double)reps * (double)big / (1 << 20) / dt;
    /* small: 64-byte messages (addresses, topics, storage keys) */
    t0 = now_s();
    n = 0;
    do {
        for (int i = 0; i < 10000; i++) {
            keccak256(buf + (i & 255), 64, h);
            buf[i & 255] = h[0];
        }
        n += 10000;
        dt = now_s() - t0;
    } while (dt < 1.0);
    double small = n / dt;
    /* secp256k1 signing of distinct digests */
    secp_keygen(key);
    t0 = now_s();
    n = 0;
    do {
        for (int i = 0; i < 500; i++) {
            h[0] = (uint8_t)i;
            h[1] = (uint8_t)(n >> 8);
            secp_sign(key, h, &sig);
        }
        n += 500;
        dt = now_s() - t0;
    } while (dt < 1.0);
    double signs = n / dt;
    uint8_t addr[20];
    t0 = now_s();
    n = 0;
    do {
        for (int i = 0; i < 500; i++)
            secp_recover_address(h, &sig, addr);
        n += 500;
        dt = now_s() - t0;
    } while (dt < 1.0);
    double recovers = n / dt;
    printf("{\"keccak_mb_s\":%.1f,\"keccak64_per_s\":%.0f,\"sign_per_s\":%.0f,\"recover_per_s\":%."
           "0f}\n",
           mbs, small, signs, recovers);
    free(buf);
    return 0;
}
