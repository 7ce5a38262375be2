/* The parameter layout's internals shared by gpt_layout.c (presets, layout, init) and
 * gpt.c (the passes): which tensor each index of the layout is. */
#ifndef CLTRAIN_GPT_LAYOUT_H
#define CLTRAIN_GPT_LAYOUT_H

#define LAYOUT_ALIGN 64 /* elements: 256 bytes of f32, one q8 block */

/* What each tensor is: wte, wpe, the twelve of a block (index P_LAYER0 +
 * P_PER_LAYER·l + kind), then ln_f. */
enum { P_WTE = 0, P_WPE, P_LAYER0 };
enum {
    L_LN1_W = 0, L_LN1_B, L_QKV_W, L_QKV_B, L_ATTPROJ_W, L_ATTPROJ_B,
    L_LN2_W, L_LN2_B, L_FC_W, L_FC_B, L_FCPROJ_W, L_FCPROJ_B,
    P_PER_LAYER,
    K_WTE = P_PER_LAYER, K_WPE, K_LNF_W, K_LNF_B, /* kinds outside the blocks */
};

#endif
