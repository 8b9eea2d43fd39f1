/* abi.h - the Solidity contract ABI: types, encoding, decoding, selectors, events.
 *
 * Types are parsed from their text form ("uint256", "(address,bytes)[]",
 * "tuple(uint256 a, string b)[2]") into a `struct abi_type` tree, which the
 * caller frees with abi_type_free(). Functions, events and errors are parsed
 * from human-readable signatures into `struct abi_func`:
 *     "transfer(address to, uint256 amount) returns (bool)"
 *     "event Transfer(address indexed from, address indexed to, uint256 value)"
 *
 * Values are JSON (jansson), the same shapes ethers uses:
 *   uint<M>/int<M>  a JSON integer or a decimal / "0x" hex string ("-5" for int);
 *                   decoded as a decimal string.
 *   address         "0x" + 40 hex (a mixed-case one must carry a valid EIP-55
 *                   checksum); decoded in checksummed form.
 *   bool            true / false.
 *   bytes<M>, bytes "0x" hex (bytes<M> exactly M bytes).
 *   string          a JSON string (UTF-8).
 *   T[], T[k], tuple  a JSON array (a tuple also takes an object keyed by its
 *                   field names when all are named).
 * Encoders append to a `struct buf`; decoders return a new JSON reference.
 * Decoding is strict and bounded: every offset and length must lie inside
 * the data, padding must be zero, integers must be clean for their width,
 * and at most ABI_MAX_VALUES values are produced (no offset-aliasing bombs).
 */
#ifndef AGORA_ETH_ABI_H
#define AGORA_ETH_ABI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

#define ABI_MAX_TYPE_STR 4096
#define ABI_MAX_DEPTH    16
#define ABI_MAX_FIELDS   256
#define ABI_MAX_VALUES   100000
#define ABI_MAX_ENCODED  ((size_t)16 << 20)

enum abi_kind {
    ABI_UINT,
    ABI_INT,
    ABI_ADDRESS,
    ABI_BOOL,
    ABI_FIXED_BYTES, /* bytes1..bytes32 */
    ABI_BYTES,
    ABI_STRING,
    ABI_ARRAY,       /* T[] */
    ABI_FIXED_ARRAY, /* T[k] */
    ABI_TUPLE,
};

struct abi_type {
    enum abi_kind kind;
    unsigned size;         /* bits of (u)int<M>, bytes of bytes<M> */
    size_t len;            /* k of T[k] */
    struct abi_type *elem; /* arrays */
    size_t nfields;        /* tuples */
    struct abi_type **fields;
    char **names;  /* per field, NULL when unnamed */
    bool *indexed; /* per field: marked `indexed` (events) */
};

/* abi_type_parse() parses one type (names and `indexed` are allowed inside
 * tuples). Returns 0 or AG_EINVAL / AG_ENOMEM with the reason in `e`. */
int abi_type_parse(const char *s, struct abi_type **out, struct ag_err *e);
void abi_type_free(struct abi_type *t);
/* abi_type_canonical() appends the canonical form ("(uint256,bytes)[]"). */
int abi_type_canonical(const struct abi_type *t, struct buf *out);
bool abi_type_dynamic(const struct abi_type *t);

struct abi_func {
    char *name;
    struct abi_type *inputs;  /* always a tuple */
    struct abi_type *outputs; /* a tuple, or NULL without `returns (...)` */
};

/* abi_func_parse() reads "name(params)" with an optional leading "function ",
 * "event " or "error " and an optional " returns (params)". */
int abi_func_parse(const char *sig, struct abi_func *out, struct ag_err *e);
void abi_func_release(struct abi_func *f);
/* abi_func_canonical() appends "name(type,type...)". */
int abi_func_canonical(const struct abi_func *f, struct buf *out);
/* abi_func_selector() writes the first 4 bytes of keccak256 of the canonical
 * signature; abi_event_topic() all 32 bytes. */
int abi_func_selector(const struct abi_func *f, uint8_t out[4]);
int abi_event_topic(const struct abi_func *f, uint8_t out[32]);
/* abi_selector() parses `sig` and writes its selector in one step. */
int abi_selector(const char *sig, uint8_t out[4], struct ag_err *e);

/* abi_encode() appends the encoding of `value` as type `t`, as Solidity's
 * abi.encode(value) does: a tuple is encoded as a parameter list, any other
 * dynamic type as a one-element list (behind an offset). Returns 0 or AG_EINVAL naming the bad
 * value in `e`, AG_ENOMEM or AG_ETOOBIG. `value` is borrowed. */
int abi_encode(const struct abi_type *t, json_t *value, struct buf *out, struct ag_err *e);
/* abi_encode_call() appends selector || encoded arguments (`args` an array). */
int abi_encode_call(const struct abi_func *f, json_t *args, struct buf *out, struct ag_err *e);
/* abi_encode_call_sig() parses the signature then encodes the call. */
int abi_encode_call_sig(const char *sig, json_t *args, struct buf *out, struct ag_err *e);

/* abi_decode() decodes `n` bytes as type `t`, the inverse of abi_encode()
 * (trailing bytes are allowed, as Solidity allows them). Returns 0 with a new reference in *out, or
 * AG_EINVAL with the reason in `e`. */
int abi_decode(const struct abi_type *t, const uint8_t *p, size_t n, json_t **out,
               struct ag_err *e);

/* abi_event_decode() decodes a log of event `ev`: topics[0] must be its
 * topic, then one topic per indexed parameter; the rest come from `data`.
 * Indexed dynamic values (string, bytes, arrays, tuples) are only present as
 * their keccak256 hash, returned as "0x" hex. Returns a JSON array of the
 * parameters in declaration order. */
int abi_event_decode(const struct abi_func *ev, const uint8_t (*topics)[32], size_t ntopics,
                     const uint8_t *data, size_t n, json_t **out, struct ag_err *e);

/* abi_event_decode_log() decodes an eth_getLogs / receipt log object
 * ({"topics": [...], "data": "0x.."}) with abi_event_decode(). */
int abi_event_decode_log(const struct abi_func *ev, json_t *log, json_t **out, struct ag_err *e);

/* abi_revert_reason() explains revert data: Error(string) gives the string,
 * Panic(uint256) a description of the code, and an error among `errors`
 * (parsed custom error signatures, may be NULL) "Name(args as JSON)".
 * Unknown data is shown as hex. Appends the text to `out`; returns 0 or
 * AG_ENOMEM / AG_ETOOBIG. */
int abi_revert_reason(const uint8_t *p, size_t n, const struct abi_func *errors, size_t nerrors,
                      struct buf *out);

#endif
