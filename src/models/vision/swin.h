// Shifted-window helpers shared by Swin (HF modeling_swin.py) and Swin V2 (modeling_swinv2.py): padding,
// cyclic shifts, window partition/reverse, the shifted-window attention mask, patch merging and the
// windowed attention call.
#pragma once
#include "models/vision/common.h"

namespace ia::swin {

// x [B, H, W, C] zero-padded at the bottom/right to [B, H + pad_h, W + pad_w, C].
Tensor pad_bottom_right(const Tensor& x, int64_t pad_h, int64_t pad_w);
// torch.roll(x, shifts=(shift, shift), dims=(1, 2)) for x [B, H, W, C].
Tensor roll_hw(const Tensor& x, int64_t shift);
// [B, H, W, C] -> [B * nW, ws*ws, C] and back (HF window_partition / window_reverse).
Tensor window_partition(const Tensor& x, int64_t ws);
Tensor window_reverse(const Tensor& windows, int64_t ws, int64_t B, int64_t H, int64_t W);
// HF get_attn_mask for a padded H x W map: [nW, ws*ws, ws*ws] with `value` where regions differ, else 0.
Tensor shifted_window_mask(int64_t H, int64_t W, int64_t ws, int64_t shift, float value);
// Relative position index [(ws*ws)^2] (i64) into a (2*ws-1)^2 table.
Tensor relative_position_index(int64_t ws);
// The 2x2 neighbourhood concat of patch merging: x [B, H*W, C] at (H, W) -> [B, ceil(H/2)*ceil(W/2), 4C].
Tensor merge_patches(const Tensor& x, int64_t H, int64_t W);
// Attention over windows: q/k/v [B*nW, heads, N, d]; bias [1 or nW, heads, N, N] is shared by every image.
Tensor window_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& bias, float scale,
                        int64_t num_windows);

}  // namespace ia::swin
