/* ftc.h - a supervised linear text classifier in the manner of fastText
 *
 * The model of Joulin et al. 2017, "Bag of Tricks for Efficient Text
 * Classification": the tokens of a text (words split on white space and
 * punctuation, ASCII lowercased; every CJK character its own token), word
 * n-grams and optional character n-grams hashed into buckets, the average
 * of their embedding rows as the hidden vector, a softmax (or hierarchical
 * softmax over a Huffman tree of the label counts) over the labels, SGD
 * with a linearly decaying learning rate on several threads. Used by the
 * `nh-clean classifier` command and the `classify` stage; docs/CLASSIFIER.md
 * has the details and the file format.
 *
 * Ownership: ftc_train and ftc_load hand the caller a model (ftc_free).
 * A model is read-only after that and may be shared by threads; each
 * thread that predicts needs its own scratch (ftc_scratch_free).
 */
#ifndef NH_FTC_H
#define NH_FTC_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct ftc_model;   /* opaque; read-only after load/train, shared by threads */
struct ftc_scratch; /* per thread */

/* Defaults = fastText's supervised defaults: lr 0.1, dim 100, epoch 5,
 * minCount 1, wordNgrams 1, bucket 2000000 (0 when there are neither word
 * n-grams nor character n-grams, as in fastText), loss softmax, threads =
 * cores; minn/maxn (character n-grams of each word, 0 = off) and seed. */
struct ftc_opts {
    int epoch, dim, word_ngrams, min_count, bucket, threads, minn, maxn;
    double lr;
    enum { FTC_SOFTMAX, FTC_HS } loss;
    unsigned long long seed;
};
void ftc_opts_default(struct ftc_opts *o);

/* Train from a LABELED file (plain, .gz or .zst): fastText format lines
 * "__label__A [__label__B] text" (label tokens may stand anywhere on the
 * line), or JSONL objects with "label" or "labels" (a string or an array of
 * strings, with or without the "__label__" prefix) and "text". Lines without a
 * label are skipped (ftc_train_ex counts them); no labeled line at all is
 * NH_EFORMAT. Bad options are NH_EINVAL. */
int ftc_train(const struct ftc_opts *o, const char *path,
              struct ftc_model **out, struct nh_error *err);

/* What a training run saw; progress (may be NULL) is called now and then
 * from the first training thread with the fraction done and the recent
 * average loss. */
struct ftc_train_info {
    void (*progress)(double done, double loss, void *arg);
    void *progress_arg;
    /* filled by ftc_train_ex */
    uint64_t lines, examples, tokens, skipped;
    uint64_t first_skipped; /* line number of the first skipped line */
    char skip_reason[128];  /* why it was skipped */
    int words, labels, threads;
    double seconds, loss;
};
int ftc_train_ex(const struct ftc_opts *o, const char *path,
                 struct ftc_model **out, struct ftc_train_info *info,
                 struct nh_error *err);

/* atomic: written to PATH.tmp and renamed (no fsync, like fastText) */
int ftc_save(const struct ftc_model *m, const char *path, struct nh_error *err);
/* checks magic, version, sizes and a checksum: NH_ECORRUPT with a clear
 * message on a bad file, NH_EIO when it cannot be read */
int ftc_load(struct ftc_model **out, const char *path, struct nh_error *err);
void ftc_free(struct ftc_model *m);

struct ftc_scratch *ftc_scratch_new(const struct ftc_model *m);
void ftc_scratch_free(struct ftc_scratch *s);

struct ftc_pred {
    int label;
    double prob;
};
/* The top k labels of text (UTF-8, any length, may contain newlines), most
 * probable first (ties: lower label number first); *n = min(k, labels).
 * 0 or NH_ENOMEM. Deterministic; s must belong to the calling thread and
 * have been made for m. */
int ftc_predict(const struct ftc_model *m, struct ftc_scratch *s,
                const char *text, size_t len, int k, struct ftc_pred *out,
                int *n);
int ftc_nlabels(const struct ftc_model *m);
/* without the "__label__" prefix; NULL when label is out of range */
const char *ftc_label(const struct ftc_model *m, int label);
/* the label's number, or -1 */
int ftc_label_find(const struct ftc_model *m, const char *name, size_t len);
/* the options the model was trained with; words in its dictionary */
const struct ftc_opts *ftc_model_opts(const struct ftc_model *m);
int ftc_nwords(const struct ftc_model *m);

/* Reading a LABELED file one example at a time (what ftc_train reads and
 * `classifier test` scores). */
struct ftc_reader;
int ftc_reader_open(struct ftc_reader **out, const char *path,
                    struct nh_error *err);
/* Next labeled example: 1, 0 at the end, or a negative code (read error).
 * labels[i] (NUL-terminated, prefix removed) and text are valid until the
 * next call. Lines without a label are skipped and counted. */
int ftc_reader_next(struct ftc_reader *r, const char *const **labels,
                    int *nlabels, const char **text, size_t *len,
                    struct nh_error *err);
/* lines read, lines skipped, first skipped line number and why */
void ftc_reader_counts(const struct ftc_reader *r, uint64_t *lines,
                       uint64_t *skipped, uint64_t *first_skipped,
                       const char **reason);
void ftc_reader_close(struct ftc_reader *r);

/* `nh-clean classifier ...` (pipeline/cli-classifier.c); argv[0] is
 * "classifier". Returns the exit status. */
int cmd_classifier(int argc, char **argv);

#endif
