/* Text generation (sample.h). Without a key-value cache every token reruns the forward
 * pass over the window: simple, and fast enough for the models cltrain trains. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sample.h"

int sample_pick(const float *logits, int vocab, double temperature, int top_k, double u)
{
    /* the k-th largest logit is the cut: ids below it get no probability */
    int k = top_k > 0 && top_k < vocab ? top_k : vocab;
    double max = -INFINITY;
    for (int i = 0; i < vocab; i++)
        max = logits[i] > max ? logits[i] : max;
    double *p = malloc((size_t)vocab * sizeof *p);
    char *keep = calloc((size_t)vocab, 1);
    int pick = 0;
    if (!p || !keep)
        goto done;
    for (int taken = 0; taken < k; taken++) { /* k small or k = vocab: fine either way */
        int best = -1;
        for (int i = 0; i < vocab; i++)
            if (!keep[i] && (best < 0 || logits[i] > logits[best]))
                best = i;
        if (best < 0)
            break;
        keep[best] = 1;
    }
    double sum = 0.0;
    for (int i = 0; i < vocab; i++) {
        p[i] = keep[i] ? exp(((double)logits[i] - max) / temperature) : 0.0;
        sum += p[i];
    }
    double target = u * sum, acc = 0.0;
    pick = -1;
    for (int i = 0; i < vocab; i++) {
        if (!keep[i])
            continue;
        pick = i; /* the last kept id catches rounding at the top end */
        acc += p[i];
        if (target < acc)
            break;
    }
done:
    free(p);
    free(keep);
    return pick < 0 ? 0 : pick;
}

clt_status sample_generate(gpt_model *m, const struct sample_opts *opts, struct rng *rng,
                           FILE *out)
{
    const struct gpt_config *cfg = gpt_config_of(m);
    const char *prompt = opts->prompt && *opts->prompt ? opts->prompt : "\n";
    const size_t plen = strlen(prompt);
    const size_t cap = plen + (size_t)opts->tokens;
    int32_t *seq = malloc(cap * sizeof *seq);
    float *logits = malloc((size_t)cfg->vocab * sizeof *logits);
    clt_status s = CLT_ERR_OUT_OF_MEMORY;
    if (!seq || !logits)
        goto done;
    for (size_t i = 0; i < plen; i++)
        seq[i] = (unsigned char)prompt[i];
    fwrite(prompt, 1, plen, out);
    size_t n = plen;
    s = CLT_OK;
    for (int i = 0; i < opts->tokens && s == CLT_OK; i++) {
        const size_t window = n < (size_t)cfg->ctx ? n : (size_t)cfg->ctx;
        s = gpt_forward(m, seq + n - window, NULL, 1, (int)window, NULL);
        if (s == CLT_OK)
            s = gpt_logits_at(m, 0, (int)window - 1, logits);
        if (s != CLT_OK)
            break;
        const int tok = sample_pick(logits, cfg->vocab, opts->temperature, opts->top_k,
                                    rng_uniform(rng));
        seq[n++] = tok;
        fputc(tok, out);
        fflush(out);
    }
done:
    free(seq);
    free(logits);
    return s;
}
