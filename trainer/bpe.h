/* bpe.h - byte-level BPE tokenizer: pre-tokenization, training, encoding
 *
 * The trainer's own tokenizer (docs/TRAINER.md, "Tokenizer"). Ids 0..255
 * are the 256 byte values, so any byte string encodes (byte fallback) and
 * decode(encode(x)) == x for every x, valid UTF-8 or not. Then come the
 * special tokens (256 is always <|endoftext|>), then one id per merge in
 * the order training learned them: a merge's id is its rank.
 *
 * Pre-tokenization cuts text into pieces that merges never cross
 * (bpe_pretok_next); it does not rely on spaces, so Chinese is cut into
 * runs of CJK characters, not words.
 *
 * Training: bpe_trainer_new, bpe_trainer_add for each document (counts
 * pieces), bpe_trainer_finish (the merges), bpe_trainer_free. The result
 * does not depend on the order of the documents; ties between equally
 * frequent pairs go to the pair with the smaller ids.
 *
 * A struct bpe is owned by the caller (bpe_free). bpe_encode keeps a
 * cache inside it, so one struct bpe is not to be shared between threads.
 */
#ifndef NH_BPE_H
#define NH_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "hash.h"
#include "strbuf.h"

#define BPE_VERSION 1
#define BPE_MAGIC "nh-bpe"
#define BPE_EOT_NAME "<|endoftext|>"
#define BPE_EOT_ID 256u
#define BPE_MIN_VOCAB 257u       /* the bytes and <|endoftext|> */
#define BPE_MAX_VOCAB (1u << 22) /* ids fit easily in 32 bits */
#define BPE_MAX_SPECIALS 64u
#define BPE_MAX_SPECIAL_LEN 64u
#define BPE_CJK_RUN_MAX 32  /* code points per CJK piece */
#define BPE_RUN_MAX 64      /* code points per letter/punct piece */
#define BPE_DIGIT_RUN_MAX 3 /* digits per piece */

/* Length in bytes of the first piece of s (len > 0); always >= 1. */
size_t bpe_pretok_next(const char *s, size_t len);

/* A growable array of token ids; release with bpe_ids_release. */
struct bpe_ids {
    uint32_t *v;
    size_t n, alloc;
};

#define BPE_IDS_INIT                                                           \
    {                                                                          \
        NULL, 0, 0                                                             \
    }

int bpe_ids_push(struct bpe_ids *ids, uint32_t id);
void bpe_ids_release(struct bpe_ids *ids);

struct bpe;
struct bpe_trainer;

struct bpe_train_opts {
    uint32_t vocab;              /* total ids wanted, specials included */
    const char *const *specials; /* extra specials after <|endoftext|> */
    size_t nspecials;
    uint64_t min_count; /* stop when the best pair is rarer; 2 */
    void (*progress)(uint32_t merges, uint32_t total, void *arg);
    void *progress_arg;
};

int bpe_trainer_new(struct bpe_trainer **out);
/* Count the pieces of one document (any bytes). NH_ENOMEM. */
int bpe_trainer_add(struct bpe_trainer *t, const char *text, size_t len);
/* Distinct pieces and total bytes counted so far. */
uint64_t bpe_trainer_pieces(const struct bpe_trainer *t);
uint64_t bpe_trainer_bytes(const struct bpe_trainer *t);
/* Learn merges until o->vocab ids or no pair reaches o->min_count (the
 * vocabulary is then smaller: see bpe_vocab). *out is the caller's.
 * NH_EINVAL for a bad vocab size or special name, NH_ENOMEM. */
int bpe_trainer_finish(struct bpe_trainer *t, const struct bpe_train_opts *o,
                       struct bpe **out, struct nh_error *err);
void bpe_trainer_free(struct bpe_trainer *t);

/* The tokenizer file: text lines, a version and a checksum checked on
 * load (docs/TRAINER.md). bpe_save writes PATH.tmp then renames. */
int bpe_save(const struct bpe *b, const char *path, struct nh_error *err);
int bpe_serialize(const struct bpe *b, struct strbuf *out);
/* NH_EIO, NH_ECORRUPT (bad magic, version, checksum or content). */
int bpe_load(struct bpe **out, const char *path, struct nh_error *err);
int bpe_parse(struct bpe **out, const char *data, size_t len,
              struct nh_error *err);
void bpe_free(struct bpe *b);

uint32_t bpe_vocab(const struct bpe *b);
uint32_t bpe_nspecials(const struct bpe *b); /* <|endoftext|> included */
uint32_t bpe_nmerges(const struct bpe *b);
/* XXH3-128 of the serialized tokenizer: names it in token manifests. */
struct nh_h128 bpe_hash(const struct bpe *b);
/* Id of a special token by name, or -1. */
long bpe_special_id(const struct bpe *b, const char *name);
/* Bytes of token id (not NUL-terminated), NULL if id >= vocab. */
const char *bpe_token_bytes(const struct bpe *b, uint32_t id, size_t *len);

/* Append the ids of s to out. With BPE_ALLOW_SPECIAL, the exact name of a
 * special token in s encodes as that token; without it (documents), it
 * is plain text. NH_ENOMEM. */
#define BPE_ALLOW_SPECIAL 1
int bpe_encode(struct bpe *b, const char *s, size_t len, int flags,
               struct bpe_ids *out);

/* Append the bytes of ids to out; NH_EINVAL (and err) for an id out of
 * range. */
int bpe_decode(const struct bpe *b, const uint32_t *ids, size_t n,
               struct strbuf *out, struct nh_error *err);

#endif
