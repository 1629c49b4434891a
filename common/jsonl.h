/* jsonl.h - streaming line reader (plain, gzip, zstd) and shard writer
 *
 * The reader never loads a whole file: it decompresses into a fixed
 * buffer and hands out one line at a time. The compression is detected
 * from the file's magic bytes (gzip 1f 8b, zstd 28 b5 2f fd), not its
 * name. The writer writes to "PATH.tmp" and renames it to PATH on commit
 * after fsync, so a crash never leaves a half-written file under the
 * final name.
 */
#ifndef NH_JSONL_H
#define NH_JSONL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "strbuf.h"

enum nh_compression { NH_COMP_NONE, NH_COMP_GZIP, NH_COMP_ZSTD };

struct nh_reader;

/* Open path for reading; *out is owned by the caller (nh_reader_close).
 * Fails with NH_EIO (and err) when the file cannot be opened. */
int nh_reader_open(struct nh_reader **out, const char *path,
                   struct nh_error *err);

/* Lines longer than max bytes are reported as NH_ETOOBIG (default 64 MiB). */
void nh_reader_set_max_line(struct nh_reader *r, size_t max);

/* Next line without its '\n' (a trailing '\r' is kept). Returns 1 and
 * sets *line and *len (valid until the next call on r), 0 at end of input.
 * A line over the limit returns NH_ETOOBIG with *line and *len holding its
 * first max bytes; the rest of it is skipped and reading can go on.
 * NH_EIO or NH_EFORMAT (corrupt compressed data) end the stream. */
int nh_reader_line(struct nh_reader *r, const char **line, size_t *len,
                   struct nh_error *err);

/* Append all remaining (decompressed) content to out, up to max bytes:
 * NH_ETOOBIG past that. For one-document files (.txt, .html). */
int nh_reader_all(struct nh_reader *r, struct strbuf *out, size_t max,
                  struct nh_error *err);

enum nh_compression nh_reader_compression(const struct nh_reader *r);
uint64_t nh_reader_lineno(const struct nh_reader *r);    /* lines returned */
uint64_t nh_reader_raw_bytes(const struct nh_reader *r); /* read from disk */
void nh_reader_close(struct nh_reader *r);

struct nh_writer;

/* Create path.tmp for writing; zstd_level 0 writes plain bytes, 1..19
 * zstd. *out is owned by the caller until commit or abort. */
int nh_writer_open(struct nh_writer **out, const char *path, int zstd_level,
                   struct nh_error *err);
int nh_writer_write(struct nh_writer *w, const void *data, size_t len,
                    struct nh_error *err);
/* Start the disk writes of w's data as it is written (every 8 MiB), so
 * that the fsync at commit has little left to wait for. For large files
 * that will be committed with fsync. */
void nh_writer_write_behind(struct nh_writer *w);

/* Uncompressed bytes written so far. */
uint64_t nh_writer_bytes(const struct nh_writer *w);
/* Flush, fsync, rename path.tmp to path, free w. On failure the temp file
 * is removed and w freed all the same. */
int nh_writer_commit(struct nh_writer *w, struct nh_error *err);

/* Commit without fsync: the rename is still atomic for other processes
 * and survives a kill, but after a power loss the file may be shorter
 * than written. For scratch files whose size the caller records and
 * checks (nh-clean's work files); they are often deleted before the
 * kernel writes them back, so they never cost disk bandwidth. */
int nh_writer_commit_nosync(struct nh_writer *w, struct nh_error *err);
/* Remove path.tmp and free w. */
void nh_writer_abort(struct nh_writer *w);

/* fsync the directory holding path, so a rename in it is durable. */
int nh_sync_parent_dir(const char *path);

#endif
