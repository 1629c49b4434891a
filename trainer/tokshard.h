/* tokshard.h - token shards: the trainer's input, one per data shard
 *
 * `nh-train tokenize` turns each JSONL shard of a dataset version into a
 * token shard: a fixed 64-byte header then the tokens, little-endian,
 * 16-bit when the vocabulary has at most 65,536 ids, else 32-bit. Each
 * document's tokens are followed by the end-of-text id. A directory of
 * shards has a manifest.json naming the tokenizer (by hash) and the
 * source shards (by path, size and XXH3-128), which links the tokens to
 * the data version. docs/TRAINER.md, "Token shards", is the exact format.
 *
 * Header (all integers little-endian):
 *   0  char[8] magic "NHTOKENS"      32  u64 token count
 *   8  u32 version (1)               40  u64 document count
 *  12  u32 header size (64)          48  u64 XXH3-64 of the payload
 *  16  u32 vocabulary size           56  u64 tokenizer hash (low 64 bits
 *  20  u32 token width (2 or 4)              of its XXH3-128)
 *  24  u32 end-of-text id
 *  28  u32 flags (0)
 *
 * Writers write PATH.tmp and rename it on commit after fsync, so a shard
 * under its final name is always complete.
 */
#ifndef NH_TOKSHARD_H
#define NH_TOKSHARD_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define TOKSHARD_MAGIC "NHTOKENS"
#define TOKSHARD_VERSION 1
#define TOKSHARD_HEADER 64

struct tokshard_info {
    uint32_t version, vocab, width, eot;
    uint64_t tokens, documents, payload_hash, tokenizer_hash;
};

/* 2 for vocabularies up to 65,536 ids, else 4. */
uint32_t tokshard_width(uint32_t vocab);

struct tokshard_writer;

/* Start PATH.tmp; *out is the caller's until commit or abort. */
int tokshard_writer_open(struct tokshard_writer **out, const char *path,
                         uint32_t vocab, uint32_t eot, uint64_t tok_hash,
                         struct nh_error *err);
/* Append one document: ids then the end-of-text id. NH_EINVAL for an id
 * >= vocab, NH_EIO. */
int tokshard_writer_doc(struct tokshard_writer *w, const uint32_t *ids,
                        size_t n, struct nh_error *err);
/* Header, fsync, rename; w is freed either way. *info (may be NULL) gets
 * the header written. */
int tokshard_writer_commit(struct tokshard_writer *w,
                           struct tokshard_info *info, struct nh_error *err);
void tokshard_writer_abort(struct tokshard_writer *w);

/* Reading: the file is mapped; tokens are read by index. */
struct tokshard;

/* Open and check the header and the file size; with verify, also the
 * payload checksum. NH_EIO, NH_ECORRUPT. *out is the caller's
 * (tokshard_close). */
int tokshard_open(struct tokshard **out, const char *path, int verify,
                  struct nh_error *err);
const struct tokshard_info *tokshard_info(const struct tokshard *s);
/* Copy tokens [start, start + n) to out; NH_EINVAL past the end. */
int tokshard_read(const struct tokshard *s, uint64_t start, size_t n,
                  uint32_t *out);
void tokshard_close(struct tokshard *s);

/* A directory written by `nh-train tokenize`: DIR/manifest.json and its
 * shards, read as one sequence of tokens (shards in manifest order). Open
 * checks the manifest (format, counts) against every shard's header and
 * the shards against each other (vocabulary, width, tokenizer); with
 * verify, every payload checksum too. NH_EIO, NH_ECORRUPT, NH_ENOMEM;
 * *out is the caller's (tokdir_close). */
struct tokdir;

int tokdir_open(struct tokdir **out, const char *dir, int verify,
                struct nh_error *err);
uint64_t tokdir_tokens(const struct tokdir *d);
uint64_t tokdir_documents(const struct tokdir *d);
uint32_t tokdir_vocab(const struct tokdir *d);
size_t tokdir_nshards(const struct tokdir *d);
const struct tokshard *tokdir_shard(const struct tokdir *d, size_t i);
/* Copy tokens [start, start + n) of the whole sequence (across shard
 * boundaries) to out; NH_EINVAL past the end. */
int tokdir_read(const struct tokdir *d, uint64_t start, size_t n,
                uint32_t *out);
void tokdir_close(struct tokdir *d);

#endif
