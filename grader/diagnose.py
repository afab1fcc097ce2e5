"""Name the likely bug behind a wrong attention result.

Each classic mistake is modelled as a *variant* of the float64 oracle (top-left
causal mask, lse in base 2, the wrong kv head, strides or the batch stride ignored,
the tail block of keys dropped, zero-padded tail keys left unmasked, ...). When the
student's output agrees with a variant under the same tolerance, the hint names that
mistake. The rows the error lives in name the others: exactly the rows past the last
full Q block (the tail block of queries dropped), every row's out but no lse (an
uninitialised accumulator), a NaN on a fully masked row, errors once keys span
several blocks.
"""

from __future__ import annotations

import math

import torch

from grader import oracle
from grader.inputs import AttentionCase
from grader.manifest import Tolerance
from grader.tolerance import Mismatch, allowed_error

LOG2E = 1.0 / math.log(2.0)
EXP_OVERFLOW = 88.0  # exp(x) is inf in float32 beyond about 88.7

HINTS = {
    "top_left": "the causal mask looks top-left aligned (key j visible iff j <= i); the course aligns it "
                "bottom-right, as FlashAttention 2: query i sees key j iff j <= i + Nk - Nq",
    "causal_ignored": "the result matches attention without the causal mask: causal=True was ignored",
    "causal_always": "the result matches causal attention although causal=False",
    "scale_ignored": "the result matches softmax_scale = 1/sqrt(D): the softmax_scale argument was ignored",
    "scale_missing": "the result matches softmax_scale = 1: scores were not scaled "
                     "(softmax_scale=None means 1/sqrt(D))",
    "lse_base2": "lse looks like a base-2 logsumexp (lse * log2(e)); the contract wants the natural log: "
                 "divide by log2(e) (or multiply by ln 2) before storing",
    "lse_no_max": "lse looks like log(l) without the running max: lse = m + log(l)",
    "gqa_modulo": "query head h reads kv head h % Hkv; grouped-query attention maps it to h // (Hq // Hkv)",
    "strides": "the result matches the inputs read as if contiguous: the kernel ignores the strides of "
               "a transposed view (use q.stride(), or index the tensor, never raw offsets)",
    "batch_stride": "the result matches batch b read at offset b * H * stride(1): the kernel ignores the "
                    "batch stride (right only for contiguous tensors); offset by b * q.stride(0) + "
                    "h * q.stride(1), and the same with k's and v's own strides",
    "tail_keys": "the last partial block of keys is dropped: with Nk={n_k} and block_n={block}, keys "
                 "from {start} on are ignored (loop to ceil(Nk / block_n) and mask the tail)",
    "tail_keys_unmasked": "the keys past Nk={n_k} in the last key block (padded to {padded} keys, as with "
                          "BLOCK_N={block}) score 0 instead of -inf: loading them with other=0 is not "
                          "enough, the boundary mask must also set the scores of key columns >= Nk to -inf",
    "tail_queries": "rows from {start} on are wrong: the last partial block of queries (Nq={n_q}, "
                    "block_m={block}) is dropped or not masked; loop to ceil(Nq / block_m)",
    "o_uninitialised": "lse is right but out has NaN on rows that see keys: the output accumulator O started "
                       "uninitialised (torch.empty holds garbage; the grader fills fresh memory with NaN, and "
                       "0 * NaN is NaN) or was never written; start O at zeros",
    "masked_row_nan": "NaN on a row with no visible key (causal with Nq > Nk): guard exp(-inf - (-inf)) and "
                      "0/0 so such rows give out = 0 and lse = -inf",
    "masked_row_value": "a row with no visible key (causal with Nq > Nk) must give out = 0 and lse = -inf",
    "overflow": "this row's largest scaled score is {row_max:.0f}, and exp(x) overflows float32 past 88: "
                "subtract the row's (running) max before exponentiating",
    "nan": "NaN where the oracle is finite: an output element never written (the grader fills fresh "
           "memory with NaN), an uninitialised O/l/m buffer, or inf - inf in the rescale",
    "accumulator": "out misses by at most {percent:.1f}% of its row's size while lse is right: "
                   "that is rounding, not a logic bug; the usual cause is O (or P V) accumulated in 16 bits "
                   "(a {dtype} accumulator loses ~{ulp:.0e} of |O| at every step): keep every accumulator in "
                   "float32 (mma.sync with .f32 accumulators, tl.float32 in Triton) and round once, when storing out",
    "rescale": "the error appears once the keys span several blocks (Nk={n_k}{blocks}): check the online "
               "rescale, acc and l must be multiplied by exp(m_old - m_new) whenever the running max grows, "
               "and the final division by l",
}

# A kernel does not tell us its block sizes: these are tried, largest first. Exercises
# without blocks (naive attention) try none, so no block bug is named for them.
KERNEL_BLOCKS = (128, 64, 32, 16)


def _blocks(given: int | None, guesses: tuple[int, ...]) -> tuple[int, ...]:
    return (given,) if given else guesses


def _matches(got: torch.Tensor, variant: torch.Tensor, expected: torch.Tensor, baseline, dtype, tol) -> bool:
    if got.shape != variant.shape:
        return False
    got, variant = got.double(), variant.double()
    same_nonfinite = torch.equal(torch.isfinite(got), torch.isfinite(variant))
    if not same_nonfinite:
        return False
    finite = torch.isfinite(variant)
    if not bool(finite.any()):
        return True
    allowed = allowed_error(expected, baseline, dtype, tol).expand_as(got)
    return bool(((got - variant).abs() <= allowed)[finite].all())


def _variants(case: AttentionCase, q, k, v, guesses: tuple[int, ...]):
    """(hint key, format fields, (out, lse)) for each modelled mistake that differs here."""
    scale = 1.0 / math.sqrt(case.head_dim) if case.softmax_scale is None else case.softmax_scale
    n_q, n_k = case.n_q, case.n_k
    mask = oracle.visible_keys(n_q, n_k, case.causal)

    def run(scale_=scale, visible=mask, kv_head_of=None, tensors=(q, k, v)):
        return oracle.masked_attention(*tensors, scale_, visible, kv_head_of)

    if case.causal and n_q != n_k:
        yield "top_left", {}, run(visible=oracle.visible_keys(n_q, n_k, True, offset=0))
    if case.causal:
        yield "causal_ignored", {}, run(visible=None)
    else:
        yield "causal_always", {}, run(visible=oracle.visible_keys(n_q, n_k, True))
    if case.softmax_scale is not None:
        yield "scale_ignored", {}, run(scale_=1.0 / math.sqrt(case.head_dim))
    else:
        yield "scale_missing", {}, run(scale_=1.0)
    if case.heads_q != case.heads_kv and case.heads_kv > 1:
        yield "gqa_modulo", {}, run(kv_head_of=torch.arange(case.heads_q) % case.heads_kv)
    if case.transposed:
        misread = tuple(t.transpose(1, 2).reshape(t.shape) for t in (q, k, v))
        yield "strides", {}, run(tensors=misread)
        if case.batch > 1:
            yield "batch_stride", {}, run(tensors=tuple(_batch_as_heads(t) for t in (q, k, v)))
    dropped_from: dict[int, list[int]] = {}  # first ignored key -> the block sizes that drop from there
    for block in _blocks(case.block_n, guesses):
        dropped_from.setdefault((n_k // block) * block, []).append(block)
    for start, blocks in dropped_from.items():
        if start < n_k:
            keep = torch.arange(n_k) < start
            visible = keep.expand(n_q, n_k) if mask is None else mask & keep
            yield "tail_keys", {"n_k": n_k, "block": _either(blocks), "start": start}, run(visible=visible)
    if not case.block_n and not case.causal:  # a kernel's hidden BLOCK_N; causal masks the padding anyway
        padded_to: dict[int, list[int]] = {}
        for block in guesses:
            padded_to.setdefault(-(-n_k // block) * block, []).append(block)
        for padded, blocks in padded_to.items():
            if padded > n_k:
                k_pad, v_pad = (torch.nn.functional.pad(t, (0, 0, 0, padded - n_k)) for t in (k, v))
                yield "tail_keys_unmasked", {"n_k": n_k, "padded": padded, "block": _either(blocks)}, \
                    run(tensors=(q, k_pad, v_pad))


def _either(blocks: list[int]) -> str:
    """'16', or '16 or 32' where several block sizes give the same result."""
    return " or ".join(str(b) for b in sorted(blocks))


def _batch_as_heads(t: torch.Tensor) -> torch.Tensor:
    """``t`` as read by a kernel that offsets batch b, head h by ``(b * H + h) * stride(1)``."""
    return torch.as_strided(t, t.shape, (t.shape[1] * t.stride(1), *t.stride()[1:]), t.storage_offset())


def attention_hint(case: AttentionCase, inputs, got_out, got_lse, mismatch: Mismatch, expected, baseline,
                   tol: Tolerance, block_guesses: tuple[int, ...] = ()) -> str:
    """The most likely bug, or '' when none of the models fits. ``block_guesses``: the
    block sizes to try when the case passes none (a kernel's own, KERNEL_BLOCKS)."""
    exp_out, exp_lse = expected
    base_out, base_lse = baseline
    q, k, v = inputs  # the case's tensors, as the student received them
    masked_rows = torch.isneginf(exp_lse)
    if mismatch.kind in ("type", "shape", "dtype", "device"):
        return ""  # the message says what is wrong; value models would only guess
    tensors = isinstance(got_out, torch.Tensor) and isinstance(got_lse, torch.Tensor) \
        and got_out.shape == exp_out.shape and got_lse.shape == exp_lse.shape
    if tensors and mismatch.kind == "nan" and _matches(got_lse, exp_lse, exp_lse, base_lse, case.dtype, tol) \
            and bool(torch.isnan(got_out)[~masked_rows].any()):
        return HINTS["o_uninitialised"]
    if mismatch.kind == "nan" and mismatch.index is not None:
        row = mismatch.index[:3]
        if bool(masked_rows[row]):
            return HINTS["masked_row_nan"]
    if tensors:
        if _matches(got_out, exp_out, exp_out, base_out, case.dtype, tol):
            for key, variant in (("lse_base2", exp_lse * LOG2E), ("lse_no_max", None)):
                if variant is None:
                    scores_max = _row_max(case, q, k)
                    variant = exp_lse - scores_max
                if _matches(got_lse, variant, exp_lse, base_lse, case.dtype, tol):
                    return HINTS[key]
        both, out_only = [], []  # models that explain out and lse; models that explain out
        for key, fields, (var_out, var_lse) in _variants(case, q, k, v, block_guesses):
            out_fits = _matches(got_out, var_out, exp_out, base_out, case.dtype, tol)
            lse_fits = _matches(got_lse, var_lse, exp_lse, base_lse, case.dtype, tol)
            out_shows = not _matches(var_out, exp_out, exp_out, base_out, case.dtype, tol)
            lse_shows = not _matches(var_lse, exp_lse, exp_lse, base_lse, case.dtype, tol)
            if out_fits and lse_fits and (out_shows or lse_shows):  # with Nk = 1 only lse may show a bug
                both.append(HINTS[key].format(**fields))
            elif out_fits and out_shows:
                out_only.append(HINTS[key].format(**fields))
        fitting = (both or out_only) + _tail_queries(case, got_out, got_lse, expected, baseline, tol, block_guesses)
        if fitting:  # on a tiny case two models can coincide (Nk = 1: top-left = no mask): name both
            return "; or: ".join(fitting)
    if mismatch.kind in ("error", "inf", "constant") and bool(masked_rows.any()) and isinstance(got_lse, torch.Tensor):
        if got_lse.shape == exp_lse.shape and not bool(torch.isneginf(got_lse[masked_rows]).all()):
            return HINTS["masked_row_value"]
    if mismatch.kind in ("nan", "inf") and mismatch.index is not None:
        row_max = _row_max(case, q, k)[mismatch.index[:3]]
        if bool(torch.isfinite(row_max)) and float(row_max) > EXP_OVERFLOW:
            return HINTS["overflow"].format(row_max=float(row_max))
    if mismatch.kind == "nan":
        return HINTS["nan"]
    if tensors and mismatch.kind == "error":
        hint = _accumulator_hint(case, got_out, got_lse, expected, baseline, tol)
        if hint:
            return hint
    return _rescale_hint(case, got_out, exp_out, block_guesses)


# A logic bug (a forgotten rescale, a dropped block) misses by a good part of |out|; a
# 16-bit accumulator by a few ulps of 16 bits per step: ~0.5-2% of |out| over thousands
# of keys (tests/test_level3_edge_cases.py emulates both).
ROUNDING_ONLY = 0.05


def _accumulator_hint(case: AttentionCase, got_out, got_lse, expected, baseline, tol: Tolerance) -> str:
    """The 16-bit accumulator: out wrong by little, relative to each row's size, and
    lse right (l, a sum of positive terms, is kept in float32 or misses by less)."""
    if case.dtype not in ("float16", "bfloat16"):
        return ""
    exp_out, exp_lse = expected
    if not _matches(got_lse, exp_lse, exp_lse, baseline[1], case.dtype, tol):
        return ""
    diff = (got_out.double() - exp_out).abs()
    visible = torch.isfinite(exp_lse)
    if not bool(torch.isfinite(diff).all()) or not bool(visible.any()):
        return ""
    size = exp_out.abs().amax(dim=-1).clamp_min(1e-3)  # each row's largest |out|
    relative = float((diff.amax(dim=-1) / size)[visible].max())
    if relative > ROUNDING_ONLY:
        return ""
    ulp = {"float16": 2.0**-11, "bfloat16": 2.0**-8}[case.dtype]
    return HINTS["accumulator"].format(percent=100 * relative, dtype=case.dtype, ulp=ulp)


def _bad_rows(got: torch.Tensor, expected: torch.Tensor, baseline, dtype: str, tol: Tolerance) -> torch.Tensor:
    """[Nq] bool: the query rows where ``got`` (out or lse) is wrong in some batch and head."""
    allowed = allowed_error(expected, baseline, dtype, tol).expand_as(expected)
    got = got.double()
    diff = torch.where(torch.isfinite(expected) & torch.isfinite(got), (got - expected).abs(), torch.zeros_like(got))
    bad = (diff > allowed) | (torch.isnan(got) != torch.isnan(expected)) \
        | (torch.isfinite(got) != torch.isfinite(expected)) | (torch.isinf(got) & (got != expected))
    if bad.dim() == 4:  # out: any element of the row
        bad = bad.any(dim=-1)
    return bad.any(dim=0).any(dim=0)


def _tail_queries(case: AttentionCase, got_out, got_lse, expected, baseline, tol: Tolerance,
                  guesses: tuple[int, ...]) -> list[str]:
    """The hint when exactly the rows past the last full Q block are wrong. When every
    row is (Nq < block_m), only if they look never written: out 0 or NaN, lse wrong too."""
    bad_out = _bad_rows(got_out, expected[0], baseline[0], case.dtype, tol)
    bad_lse = _bad_rows(got_lse, expected[1], baseline[1], case.dtype, tol)
    unwritten = bool(((got_out == 0) | torch.isnan(got_out)).all()) and bool(bad_lse.all())
    starts: dict[int, list[int]] = {}  # first row of the ragged last Q block -> the block sizes giving it
    for block in _blocks(case.block_m, guesses):
        starts.setdefault((case.n_q // block) * block, []).append(block)
    for start, blocks in starts.items():
        if start < case.n_q and bool(bad_out[start:].all()) and not bool(bad_out[:start].any()) \
                and (start > 0 or unwritten):
            return [HINTS["tail_queries"].format(start=start, n_q=case.n_q, block=_either(blocks))]
    return []


def _row_max(case: AttentionCase, q, k) -> torch.Tensor:
    scale = 1.0 / math.sqrt(case.head_dim) if case.softmax_scale is None else case.softmax_scale
    group = case.heads_q // case.heads_kv
    scores = scale * (q.double() @ k.double().repeat_interleave(group, dim=1).transpose(-1, -2))
    mask = oracle.visible_keys(case.n_q, case.n_k, case.causal)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.amax(dim=-1)


def _rescale_hint(case: AttentionCase, got_out, exp_out, guesses: tuple[int, ...]) -> str:
    """Wrong where the keys span several blocks: the online rescale."""
    blocks = _blocks(case.block_n, guesses)
    if not isinstance(got_out, torch.Tensor) or got_out.shape != exp_out.shape or not blocks:
        return ""
    if case.n_k > min(blocks):
        where = f", block_n={case.block_n}" if case.block_n else ""
        return HINTS["rescale"].format(n_k=case.n_k, blocks=where)
    return ""


# ----------------------------------------------------------------------------- Level 4: paged decode

PAGED_HINTS = {
    "lse_axes": "lse looks laid out [b, s_q, h_q], out's order; the contract's lse is [b, h_q, s_q] (FlashMLA's "
                "order): transpose it before returning",
    "pool_order": "the result matches the pages read in pool order (sequence i taking the pages right after "
                  "sequence i-1's), not through the block table: token t of sequence i lives in page "
                  "block_table[i, t // block_size], slot t % block_size, and the pages are shuffled",
    "consecutive_pages": "the result matches pages block_table[i, 0], block_table[i, 0] + 1, ...: only the first "
                         "entry of the row was read. A sequence's pages are not consecutive in the pool; page p "
                         "is block_table[i, p]",
    "scale_dv": "the result matches softmax_scale = head_dim_v ** -0.5; the default is d ** -0.5 with d the full "
                "q/k dim ({d}, not the {dv} channels of V)",
    "scale_missing": "the result matches softmax_scale = 1: scores were not scaled (softmax_scale=None means "
                     "d ** -0.5)",
    "scale_ignored": "the result matches softmax_scale = d ** -0.5: the softmax_scale argument was ignored",
    "top_left": "the causal mask looks top-left aligned (query t sees keys j <= t); the s_q queries are the last "
                "s_q tokens of the sequence, so query t sees key j iff j < L - (s_q - 1 - t)",
    "causal_ignored": "the result matches attention without the causal mask: with s_q > 1, causal=True hides "
                      "from query t the keys j >= L - (s_q - 1 - t)",
    "causal_always": "the result matches causal attention although causal=False",
    "gqa_modulo": "query head h reads kv head h % h_kv; the heads are grouped: h // (h_q // h_kv)",
    "nan_past_length": "NaN where the oracle is finite: the cache slots past each length and the unused pages "
                       "hold NaN here (in a real cache they hold whatever was there). 0 * NaN is NaN, so a 0/1 "
                       "mask multiplied in does not remove them: exclude those keys by selection (torch.where, "
                       "masked_fill, -inf scores and zeroed values, or masked loads with other=0)",
    "empty_row_nan": "NaN on a row with no visible key (cache_seqlens[{b}] = {length}{why}): such a row gives "
                     "out = 0 and lse = -inf; guard exp(-inf - (-inf)) and 0 / 0",
    "empty_row_value": "a row with no visible key (L = 0, or causal with fewer than s_q - t visible keys) gives "
                       "out = 0 and lse = -inf",
    "overflow": "this row's logsumexp is {lse:.0f}, and exp(x) overflows float32 past 88: subtract the row's "
                "(running) max before exponentiating, and merge split results with weights exp(lse_split - "
                "lse_max), the Level 1 merge, never exp(lse_split) itself",
    "garbage_table": "block_table entries past the first ceil(L / block_size) of a row are leftovers of the "
                     "allocator (here random int32, most of them out of range): never use one as a page index. "
                     "Read only the used entries (or replace the others before indexing / mask the loads)",
}


def _lse_row(index: tuple[int, ...], output: str) -> tuple[int, int, int]:
    """The (b, h, t) of an lse element for an index into out [b, t, h, e] or lse [b, h, t]."""
    return index[:3] if output == "lse" else (index[0], index[2], index[1])


def _row_table(case, first_page_only: bool) -> torch.Tensor:
    """A block table that models a wrong page walk: the pages in pool order, one sequence
    after another, or (``first_page_only``) consecutive pages from the row's first entry,
    which may leave the pool (the caller checks)."""
    ids = case.page_ids()
    columns = max(max(case.pages, default=0) + case.extra_columns, 1)
    table = torch.zeros(case.batch, columns, dtype=torch.int32)
    start = 0
    for i, row in enumerate(ids):
        first = row[0] if (first_page_only and row) else start
        table[i, :len(row)] = first + torch.arange(len(row), dtype=torch.int32)
        start += len(row)
    return table


def _paged_variants(case, inputs):
    """(hint key, format fields, (out, lse)) for each modelled Level 4 mistake that can differ here."""
    q, k_cache, table, lengths = inputs
    num_blocks = k_cache.shape[0]

    def run(table_=table, scale=case.softmax_scale, causal=case.causal, kv_head_of=None, causal_offset=None):
        return oracle.paged_mla(q, k_cache, table_, lengths, case.head_dim_v, scale, causal,
                                kv_head_of=kv_head_of, causal_offset=causal_offset)

    if case.shuffled and any(case.pages):
        yield "pool_order", {}, run(table_=_row_table(case, first_page_only=False))
        consecutive = _row_table(case, first_page_only=True)
        if all(int(consecutive[i, :n].max()) < num_blocks for i, n in enumerate(case.pages) if n > 1):
            yield "consecutive_pages", {}, run(table_=consecutive)
    if case.softmax_scale is None:
        if case.head_dim_v != case.head_dim:
            yield "scale_dv", {"d": case.head_dim, "dv": case.head_dim_v}, run(scale=case.head_dim_v**-0.5)
        yield "scale_missing", {}, run(scale=1.0)
    else:
        yield "scale_ignored", {}, run(scale=None)
    if case.causal:  # (with s_q = 1 bottom-right causal hides nothing; top-left still would)
        yield "top_left", {}, run(causal_offset=0)
        yield "causal_ignored", {}, run(causal=False)
    elif case.s_q > 1:
        yield "causal_always", {}, run(causal=True)
    if case.heads_kv > 1 and case.heads_q > case.heads_kv:
        yield "gqa_modulo", {}, run(kv_head_of=torch.arange(case.heads_q) % case.heads_kv)


def paged_hint(case, inputs, got_out, got_lse, mismatch: Mismatch, expected, baseline, tol: Tolerance) -> str:
    """The likely bug behind a wrong Level 4 decode (``case`` a grader.inputs.PagedCase)."""
    exp_out, exp_lse = expected
    base_out, base_lse = baseline
    lse_shape = (case.batch, case.heads_q, case.s_q)
    if mismatch.output == "lse" and mismatch.kind == "shape" and isinstance(got_lse, torch.Tensor) \
            and tuple(got_lse.shape) == (case.batch, case.s_q, case.heads_q):
        return PAGED_HINTS["lse_axes"]
    if mismatch.kind in ("type", "shape", "dtype", "device"):
        return ""
    empty = torch.isneginf(exp_lse)  # rows with no visible key
    tensors = isinstance(got_out, torch.Tensor) and isinstance(got_lse, torch.Tensor) \
        and got_out.shape == exp_out.shape and tuple(got_lse.shape) == lse_shape
    if tensors:
        out_right = _matches(got_out, exp_out, exp_out, base_out, case.dtype, tol)
        if out_right and case.s_q == case.heads_q > 1 \
                and _matches(got_lse.transpose(1, 2), exp_lse, exp_lse, base_lse, case.dtype, tol):
            return PAGED_HINTS["lse_axes"]
        both, out_only = [], []
        for key, fields, (var_out, var_lse) in _paged_variants(case, inputs):
            if bool((torch.isnan(var_out) & ~torch.isnan(exp_out)).any()):
                continue  # the model read a NaN page: it would "explain" any NaN, so it explains nothing
            out_fits = _matches(got_out, var_out, exp_out, base_out, case.dtype, tol)
            lse_fits = _matches(got_lse, var_lse, exp_lse, base_lse, case.dtype, tol)
            out_shows = not _matches(var_out, exp_out, exp_out, base_out, case.dtype, tol)
            lse_shows = not _matches(var_lse, exp_lse, exp_lse, base_lse, case.dtype, tol)
            if out_fits and lse_fits and (out_shows or lse_shows):
                both.append(PAGED_HINTS[key].format(**fields))
            elif out_fits and out_shows:
                out_only.append(PAGED_HINTS[key].format(**fields))
        if both or out_only:
            return "; or: ".join(both or out_only)
    if mismatch.kind in ("nan", "inf") and mismatch.index is not None:
        row = _lse_row(mismatch.index, mismatch.output)
        broken = ((~torch.isfinite(got_out)).any(dim=-1).transpose(1, 2) | torch.isnan(got_lse)
                  | torch.isposinf(got_lse)) & ~empty if tensors else torch.zeros_like(empty)
        if bool(broken.any()) and bool((exp_lse[broken] > EXP_OVERFLOW).all()):  # only rows of large lse break
            return PAGED_HINTS["overflow"].format(lse=float(exp_lse[broken].min()))
        if mismatch.kind == "nan" and case.nan_fill and (bool(broken.any()) or not bool(empty[row])):
            return PAGED_HINTS["nan_past_length"]  # NaN on rows that see keys: the cache's NaN got in
        if bool(empty[row]) and mismatch.kind == "nan":
            length = case.lengths[row[0]]
            why = "" if length == 0 else f", query {row[2]} of s_q = {case.s_q} under causal"
            return PAGED_HINTS["empty_row_nan"].format(b=row[0], length=length, why=why)
        if not bool(empty[row]) and float(exp_lse[row]) > EXP_OVERFLOW:
            return PAGED_HINTS["overflow"].format(lse=float(exp_lse[row]))
    if tensors and bool(empty.any()) and not bool(torch.isneginf(got_lse[empty]).all()):
        return PAGED_HINTS["empty_row_value"]
    if mismatch.kind == "nan":
        return HINTS["nan"]
    return ""
