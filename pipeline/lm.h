/* lm.h - an interpolated modified Kneser-Ney n-gram language model
 *
 * Trains the estimator of Chen & Goodman (TR-10-98, section 3 and
 * 4.1.6) the way KenLM's lmplz does (Heafield et al. 2013): three
 * discounts per order from the counts of counts, continuation counts for
 * the lower orders, the unigrams interpolated with the uniform
 * distribution over the vocabulary (<unk> included). The model is kept in
 * backoff (ARPA) form: per n-gram the interpolated log10 probability and
 * the log10 backoff weight, so scoring is a backoff lookup in hash tables
 * keyed by XXH3 of the token ids. The perplexity stage and
 * `nh-clean lm` (cli-lm.c) use it; docs/LM.md has the details.
 *
 * Tokens (lm_tokenize): a document is CJK when it has at least as many
 * CJK characters (utf8.h cp_is_cjk) as runs of other non-space
 * characters; then every non-space character is a token (punctuation
 * too), otherwise each white-space separated run is a token, with ASCII
 * letters lowercased. Malformed UTF-8 bytes read as U+FFFD. Each document
 * is one sentence: <s> tokens </s> ("<s>" and "</s>" written in the text
 * read as <unk>).
 *
 * Ownership: lm_train and lm_load give the caller a model to free with
 * lm_free. A model is read-only after that and may be shared by threads,
 * each with its own lm_scratch (lm_scratch_free).
 */
#ifndef NH_LM_H
#define NH_LM_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define LM_MAX_ORDER 8

struct lm_model;   /* read-only after train/load; shared by threads */
struct lm_scratch; /* per thread */

struct lm_opts {
    int order;              /* 1..LM_MAX_ORDER; 0 means 5 */
    int threads;            /* accepted; training is single-threaded */
    size_t memory;          /* optional, advisory (not enforced) */
    const char *text_field; /* JSONL field holding the text; NULL "text" */
    int progress;           /* non-zero: progress on stderr */
};

/* Train on files: plain text (one document per line) or JSONL (a "text"
 * field) when the name contains ".jsonl"/".json" or else the first
 * line starts with '{'. Empty documents are skipped. */
int lm_train(const struct lm_opts *o, char *const *paths, size_t npaths,
             struct lm_model **out, struct nh_error *err);

/* Write the model in the ARPA format (atomic: PATH.tmp renamed). */
int lm_write_arpa(const struct lm_model *m, const char *path,
                  struct nh_error *err);

/* Binary model: magic "NHLM\0", a version, a checksum; written to
 * PATH.tmp and renamed. lm_load checks everything and refuses a bad or
 * truncated file with NH_ECORRUPT and a message naming it. */
int lm_save(const struct lm_model *m, const char *path, struct nh_error *err);
int lm_load(struct lm_model **out, const char *path, struct nh_error *err);
void lm_free(struct lm_model *m);

/* NULL when out of memory. m may be NULL for a scratch that only
 * tokenizes (lm_tokenize). */
struct lm_scratch *lm_scratch_new(const struct lm_model *m);
void lm_scratch_free(struct lm_scratch *s);

/* Score one document: sum of log10 p over its tokens and </s>, and the
 * count of those predictions (tokens + 1). Unknown tokens map to <unk>.
 * Perplexity = 10^(-logprob / n) (lm_perplexity). */
int lm_score(const struct lm_model *m, struct lm_scratch *s, const char *text,
             size_t len, double *log10prob, size_t *n);

static inline double
lm_perplexity(double log10prob, size_t n)
{
    return n ? pow(10.0, -log10prob / (double)n) : 0;
}

int lm_order(const struct lm_model *m);

/* The 30th and 60th percentiles (linear interpolation between closest
 * ranks, numpy's default) of the per-document perplexities of the files
 * (text or JSONL, as lm_train reads them): CCNet's head/middle/tail
 * cut-offs. NH_EINVAL when the files hold no document. */
int lm_percentiles(const struct lm_model *m, char *const *paths, size_t n,
                   double p30_p60[2], struct nh_error *err);

/* Documents of a file: plain text (one a line) or JSONL (text_field, NULL
 * for "text"), as lm_train reads them; path "-" is standard input. fn
 * gets each document with its id (JSONL: the "id" field, else the line
 * number; plain text: NULL); a non-zero return from fn stops the reading
 * and is returned (negative ones as errors). */
typedef int lm_doc_fn(void *arg, const char *id, const char *text, size_t len);
int lm_read_docs(const char *path, const char *text_field, lm_doc_fn *fn,
                 void *arg, struct nh_error *err);

/* `nh-clean lm train|score ...` (cli-lm.c); argv[0] is "lm". */
int lm_main(int argc, char **argv);

/* The q-quantile (0..1) of n sorted values, linear between ranks. */
double lm_quantile(const double *sorted, size_t n, double q);

/* ---- introspection, for tests and tools ---- */

/* Documents and tokens (without <s> and </s>) the model was trained on. */
void lm_train_stats(const struct lm_model *m, uint64_t *docs, uint64_t *tokens);

/* Vocabulary: ids 0 <unk>, 1 <s>, 2 </s>, then the training tokens. */
size_t lm_vocab_size(const struct lm_model *m);
const char *lm_vocab_word(const struct lm_model *m, uint32_t id);
/* Id of a token, 0 (<unk>) when not in the vocabulary. */
uint32_t lm_vocab_id(const struct lm_model *m, const char *tok, size_t len);

/* log10 p(word | ctx[0..nctx-1]) by backoff; ctx may start with <s>
 * (id 1); only the last order-1 ids are used. */
double lm_logprob_ids(const struct lm_model *m, const uint32_t *ctx,
                      size_t nctx, uint32_t word);

/* Number of n-grams of an order (1..lm_order) in the model. */
uint64_t lm_ngrams(const struct lm_model *m, int order);
/* Bytes the model holds in memory. */
size_t lm_memory(const struct lm_model *m);
/* The discounts D1, D2, D3+ of an order, as estimated. */
void lm_discounts(const struct lm_model *m, int order, double d[3]);

/* Split a document into tokens as training and scoring do; calls fn for
 * each token (bytes, valid until fn returns). Returns the token count,
 * or fn's non-zero return. */
typedef int lm_token_fn(void *arg, const char *tok, size_t len);
long lm_tokenize(struct lm_scratch *s, const char *text, size_t len,
                 lm_token_fn *fn, void *arg);

#endif
