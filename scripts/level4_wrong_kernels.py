"""Level 4's wrong Triton kernels: the reference solution with one bug each, made from
today's solution whenever they are needed, so they cannot drift from it.
tests/test_wrong_submissions_level4.py grades each (tests/conftest.py makes them) and
checks that the grader names its bug.

    python scripts/level4_wrong_kernels.py      # from the checkout: writes them under build/ to read
"""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUFFIX = ".py"
OUT = ROOT / "build" / "wrong_kernels" / "level4" / "mla_decode"
SOLUTION = (ROOT / "solutions/level4/mla_decode.py").read_text()
DOC_END = SOLUTION.index('"""', 3) + 3
BODY = SOLUTION[DOC_END:]

WRONG = {
    "combine_overflow": (
        ("The combine weighs each split by exp(lse_s) itself, without subtracting the max:\n"
         "exp overflows float32 once an lse passes 88, and inf / inf is NaN."),
        [('''        m_new = tl.maximum(m, lse_s)
        m_sub = tl.where(m_new == -float("inf"), 0.0, m_new)
        alpha = tl.exp(m - m_sub)
        w = tl.exp(lse_s - m_sub)''', '''        m_new = m
        alpha = 1.0
        w = tl.exp(lse_s)'''),
         ('''    tl.store(Lse + b * stride_lb + t * stride_lt + h * stride_lh, tl.where(empty, -float("inf"), m + tl.log(l_safe)))''',
          '''    tl.store(Lse + b * stride_lb + t * stride_lt + h * stride_lh, tl.where(empty, -float("inf"), tl.log(l_safe)))''')],
    ),
    "block_table_ignored": (
        ("The block table is ignored: sequence b's pages are taken to be pages\n"
         "b * max_blocks, b * max_blocks + 1, ... of the pool, in order."),
        [('''        page = tl.load(table_row + (start // block_size) * stride_tn)''',
          '''        page = table_row + start // block_size'''),
         ('''        table_row = BlockTable + b * stride_tb''', '''        table_row = (b * stride_tb).to(tl.int32)''')],
    ),
    "nan_leak": (
        ("The scores of the slots past the length are masked to -inf, but their V rows are\n"
         "loaded as they are: P is 0 there, and 0 * NaN is NaN."),
        [('''    if USE_TMA:
        tile = src.load([page, in_page, kv_head, col0]).reshape(BLOCK_N, BLOCK_D)
        if MASKED:
            tile = tl.where(tok_ok[:, None], tile, 0.0)
    else:''', '''    if USE_TMA:
        tile = src.load([page, in_page, kv_head, col0]).reshape(BLOCK_N, BLOCK_D)
    else:'''),
         ('''        if MASKED:
            if D == BLOCK_D:
                tile = tl.load(ptrs, mask=tok_ok[:, None], other=0.0)
            else:
                tile = tl.load(ptrs, mask=tok_ok[:, None] & (offs_d[None, :] < D), other=0.0)
        elif D == BLOCK_D:''', '''        if D == BLOCK_D:''')],
    ),
    "garbage_pages_read": (
        ("Every table entry up to max_blocks is looked up and its page loaded; the scores\n"
         "and V rows past the length are masked after the load. Entries past the used\n"
         "pages are garbage (any int32): the loads read outside the cache."),
        [('''    hi = tl.minimum(lo + blocks_per_split * block_size, seqlen)''',
          '''    hi = tl.minimum(lo + blocks_per_split * block_size, max_tokens)'''),
         ('''        if MASKED:
            if D == BLOCK_D:
                tile = tl.load(ptrs, mask=tok_ok[:, None], other=0.0)
            else:
                tile = tl.load(ptrs, mask=tok_ok[:, None] & (offs_d[None, :] < D), other=0.0)
        elif D == BLOCK_D:''', '''        if D == BLOCK_D:'''),
         ('''            tile = tl.load(ptrs, mask=offs_d[None, :] < D, other=0.0)
    return tile''', '''            tile = tl.load(ptrs, mask=offs_d[None, :] < D, other=0.0)
        if MASKED:
            tile = tl.where(tok_ok[:, None], tile, 0.0)
    return tile'''),
         ('''                      s_q, group, block_size, num_splits, blocks_per_split,
                      DV: tl.constexpr''', '''                      s_q, group, block_size, num_splits, blocks_per_split, max_tokens,
                      DV: tl.constexpr'''),
         ('''        s_q, group, block_size, num_splits, blocks_per_split,
        DV=head_dim_v''', '''        s_q, group, block_size, num_splits, blocks_per_split, max_blocks * block_size,
        DV=head_dim_v'''),
         ('''    use_tma = config.tma and k_cache.numel() > 0 and _use_tma(k_cache, interpret)''',
          '''    use_tma = False'''),
         ('''            n_full = tl.minimum(hi, seqlen - (s_q - 1))''', '''            n_full = tl.minimum(tl.minimum(hi, seqlen), seqlen - (s_q - 1))'''),
         ('''            n_full = hi
''', '''            n_full = tl.minimum(hi, seqlen)
''')],
    ),
    "top_left_causal": (
        ("Causal masking aligned to the top-left corner: query t sees keys j <= t, as if the\n"
         "new tokens came first, instead of j < L - (s_q - 1 - t)."),
        [('''            row_end = seqlen - (s_q - 1 - t)
            n_full = tl.minimum(hi, seqlen - (s_q - 1))''', '''            row_end = tl.minimum(t + 1, seqlen)
            n_full = tl.minimum(hi, 1)''')],
    ),
}

def wrong_kernel(stem: str) -> str:
    """The wrong kernel ``stem``, made from today's solution."""
    why, edits = WRONG[stem]
    body = BODY
    for old, new in edits:
        assert body.count(old) >= 1, (stem, old[:60])
        body = body.replace(old, new)
    return f'"""Wrong on purpose (a grader test): level4.mla_decode with one bug.\n\n{why}\n"""' + body


def write_all() -> Path:
    """Write every wrong kernel under OUT and return OUT."""
    OUT.mkdir(parents=True, exist_ok=True)
    for stem in WRONG:
        (OUT / f"{stem}{SUFFIX}").write_text(wrong_kernel(stem))
    return OUT


if __name__ == "__main__":
    print("wrote", ", ".join(WRONG), "under", write_all())
