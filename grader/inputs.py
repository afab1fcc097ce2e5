"""What the grader feeds student code: hypothesis strategies over *cases*, and the
tensors a case stands for.

A case is a small frozen record (shapes, dtype, flags, a data seed) that
hypothesis draws and shrinks; its tensors are made on demand from the seed on the
CPU, so the same case always means the same numbers, and a failure report can
print the case as the student's smallest reproducer. Values are random with a
per-example scale, some rows get large logits, never zeros.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from hypothesis import strategies as st

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
HOT_ROW_GAIN = 6.0  # a few query rows are scaled up to give large logits (softmax near one-hot)


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- attention


@dataclass(frozen=True)
class AttentionCase:
    batch: int
    heads_q: int
    heads_kv: int
    n_q: int
    n_k: int
    head_dim: int
    head_dim_v: int
    dtype: str
    causal: bool
    softmax_scale: float | None  # None: the default 1/sqrt(head_dim)
    transposed: bool  # inputs are [B, N, H, D] tensors viewed as [B, H, N, D]
    logit_scale: float  # typical |score| before the hot rows
    seed: int
    block_m: int | None = None  # passed to tiled PyTorch exercises
    block_n: int | None = None
    v_shift: float = 0.0  # added to v: outputs of size ~|shift| expose low-precision accumulation

    def describe(self) -> str:
        parts = [
            f"q[{self.batch},{self.heads_q},{self.n_q},{self.head_dim}]",
            f"k[{self.batch},{self.heads_kv},{self.n_k},{self.head_dim}]",
            f"v[..,{self.head_dim_v}]",
            self.dtype,
            f"causal={self.causal}",
        ]
        if self.softmax_scale is not None:
            parts.append(f"softmax_scale={self.softmax_scale:g}")
        if self.block_m is not None:
            parts.append(f"block_m={self.block_m} block_n={self.block_n}")
        if self.transposed:
            parts.append("transposed views")
        if self.v_shift:
            parts.append(f"v = randn + {self.v_shift:g}")
        parts.append(f"seed={self.seed}")
        return " ".join(parts)

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q, k, v on the CPU in ``dtype``, strided as the case says."""
        gen = _generator(self.seed)
        gain = self.logit_scale**0.5

        def make(heads: int, n: int, dim: int, scale: float, shift: float = 0.0) -> torch.Tensor:
            shape = (self.batch, n, heads, dim) if self.transposed else (self.batch, heads, n, dim)
            x = torch.randn(shape, generator=gen) * scale + shift
            return x.to(DTYPES[self.dtype])

        q = make(self.heads_q, self.n_q, self.head_dim, gain)
        k = make(self.heads_kv, self.n_k, self.head_dim, gain)
        v = make(self.heads_kv, self.n_k, self.head_dim_v, 1.0, self.v_shift)
        hot = torch.rand(self.n_q, generator=gen) < 0.125
        q_rows = q.transpose(1, 2) if self.transposed else q
        q_rows[:, :, hot] *= HOT_ROW_GAIN  # in place on the fresh buffer, before any view is handed out
        if self.transposed:
            q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        return q, k, v

    def kwargs(self) -> dict:
        kw = {"causal": self.causal, "softmax_scale": self.softmax_scale}
        if self.block_m is not None:
            kw.update(block_m=self.block_m, block_n=self.block_n)
        return kw


@dataclass(frozen=True)
class AttentionBounds:
    """What one exercise accepts, and how large the graded shapes may get."""

    dtypes: tuple[str, ...] = ("float32", "float16", "bfloat16")
    head_dims: tuple[int, ...] = (16, 40, 64)
    equal_head_dims: bool = False  # D == Dv required (Triton, CUDA)
    max_len: int = 160
    max_batch_heads: int = 6  # batch * heads_q, to keep CPU grading fast
    block_sizes: tuple[tuple[int, int], ...] = ()  # (block_m, block_n) choices; () = not passed


def _awkward_lengths(max_len: int, blocks: tuple[int, ...]) -> st.SearchStrategy[int]:
    """1, 7, 97, block size +- 1, plus anything in range; hypothesis shrinks towards 1."""
    special = {1, 2, 7, 97, 127, 129}
    for b in blocks:
        special |= {b - 1, b, b + 1, 2 * b + 1, 4 * b - 1}
    special = sorted(n for n in special if 1 <= n <= max_len)
    return st.one_of(st.sampled_from(special), st.integers(1, max_len))


@st.composite
def attention_cases(draw, bounds: AttentionBounds) -> AttentionCase:
    heads_kv = draw(st.sampled_from((1, 2)))
    group = draw(st.sampled_from((1, 2, 3)))
    heads_q = heads_kv * group
    batch = draw(st.integers(1, max(1, bounds.max_batch_heads // heads_q)))
    block_m = block_n = None
    if bounds.block_sizes:
        block_m, block_n = draw(st.sampled_from(bounds.block_sizes))
    blocks = tuple({b for pair in bounds.block_sizes for b in pair}) or (16, 32, 64)
    lengths = _awkward_lengths(bounds.max_len, blocks)
    n_q, n_k = draw(lengths), draw(lengths)
    head_dim = draw(st.sampled_from(bounds.head_dims))
    head_dim_v = head_dim if bounds.equal_head_dims else draw(st.sampled_from(bounds.head_dims))
    return AttentionCase(
        batch=batch,
        heads_q=heads_q,
        heads_kv=heads_kv,
        n_q=n_q,
        n_k=n_k,
        head_dim=head_dim,
        head_dim_v=head_dim_v,
        dtype=draw(st.sampled_from(bounds.dtypes)),
        causal=draw(st.booleans()),
        softmax_scale=draw(st.sampled_from((None, None, 0.3, 1.0))),
        transposed=draw(st.booleans()),
        logit_scale=draw(st.sampled_from((1.0, 0.25, 4.0))),
        seed=draw(st.integers(0, 2**31 - 1)),
        block_m=block_m,
        block_n=block_n,
    )


def structural_attention_cases(bounds: AttentionBounds, block: int = 64) -> list[AttentionCase]:
    """Shapes where no legitimate buffer reaches B*Hq*Nq*Nk/2 elements (spec, Level 2):
    Nq and Nk at least four blocks and more than four times max(D, Dv). A single
    head, so even a per-head Nq x Nk matrix is caught, with and without causal (a
    full-size causal mask, even a bool one, is caught there), and one with GQA."""
    dim = min(bounds.head_dims)
    n_q = max(4 * block, 4 * dim + 1) + 3
    n_k = n_q + 29
    dtype = bounds.dtypes[0]
    blocks = dict(block_m=block, block_n=block) if bounds.block_sizes else {}
    base = AttentionCase(1, 1, 1, n_q, n_k, dim, dim, dtype, False, None, False, 1.0, 1234, **blocks)
    return [base, dataclasses.replace(base, causal=True, seed=7),
            dataclasses.replace(base, batch=2, heads_q=4, heads_kv=2, causal=True, seed=99)]


def attention_batteries(bounds: AttentionBounds) -> list[AttentionCase]:
    """Two fixed cases that hold every hard condition at once, graded after the random
    draws: grouped heads (h // group, not h % Hkv), transposed views (a .view() of them
    raises), causal with Nq < Nk and with Nq > Nk (rows that see no key), lengths that
    end in a partial block, D != Dv where the exercise allows it, a given softmax_scale
    and scores past 88.7 (exp overflows float32 without the max). A seed probe found a
    submission that .view()s its inputs passing 2 of 5 seeds on random draws alone
    (hypothesis favours small shapes: one head, one row)."""
    big, small = max(bounds.head_dims), min(bounds.head_dims)
    group = 3 if 2 * 3 <= bounds.max_batch_heads else 2
    blocks = bounds.block_sizes or ((None, None),)  # (block_m, block_n) where the exercise takes them
    first_blocks, last_blocks = blocks[0], blocks[-1]
    grouped = AttentionCase(batch=1, heads_q=2 * group, heads_kv=2, n_q=37, n_k=70, head_dim=big,
                            head_dim_v=big if bounds.equal_head_dims else small, dtype=bounds.dtypes[-1], causal=True,
                            softmax_scale=None, transposed=True, logit_scale=4.0, seed=41,
                            block_m=first_blocks[0], block_n=first_blocks[1])
    unseen_rows = AttentionCase(batch=2, heads_q=2, heads_kv=1, n_q=45, n_k=19, head_dim=small, head_dim_v=small,
                                dtype=bounds.dtypes[0], causal=True, softmax_scale=1.0, transposed=True,
                                logit_scale=4.0, seed=42, block_m=last_blocks[0], block_n=last_blocks[1])
    return [grouped, unseen_rows]


# ----------------------------------------------------------------------------- softmax


@dataclass(frozen=True)
class SoftmaxCase:
    rows: int
    cols: int
    dtype: str
    block_size: int
    scale: float  # typical |logit|
    masked: bool  # some entries are -inf, on row 0 the whole first block (never a whole row)
    extreme: bool  # some logits near +-1e4
    seed: int

    def describe(self) -> str:
        flags = [f for f, on in (("with -inf entries", self.masked), ("logits near +-1e4", self.extreme)) if on]
        return f"x[{self.rows},{self.cols}] {self.dtype} block_size={self.block_size} " + " ".join(
            flags + [f"seed={self.seed}"]
        )

    def tensor(self) -> torch.Tensor:
        gen = _generator(self.seed)
        x = torch.randn(self.rows, self.cols, generator=gen) * self.scale
        if self.extreme:
            spike = torch.rand(self.rows, self.cols, generator=gen) < 0.05
            sign = torch.where(torch.rand(self.rows, self.cols, generator=gen) < 0.5, -1.0, 1.0)
            x = torch.where(spike, sign * 1e4, x)
        if self.masked:
            hole = torch.rand(self.rows, self.cols, generator=gen) < 0.3
            if self.cols > self.block_size:  # a whole block of -inf, the first, on the first row
                hole[0, : self.block_size] = True
                hole[0, self.block_size :] = False
            hole[:, torch.randint(self.cols, (1,), generator=gen)] = False  # keep a finite entry per row
            hole[0, -1] = False
            x = x.masked_fill(hole, float("-inf"))
        return x.to(DTYPES[self.dtype])


@st.composite
def softmax_cases(draw, dtypes=("float32", "float16", "bfloat16"), max_cols: int = 300) -> SoftmaxCase:
    block_size = draw(st.sampled_from((16, 32, 128)))
    return SoftmaxCase(
        rows=draw(st.integers(1, 8)),
        cols=draw(_awkward_lengths(max_cols, (block_size,))),
        dtype=draw(st.sampled_from(dtypes)),
        block_size=block_size,
        scale=draw(st.sampled_from((1.0, 5.0, 30.0))),
        masked=draw(st.booleans()),
        extreme=draw(st.booleans()),
        seed=draw(st.integers(0, 2**31 - 1)),
    )


# ----------------------------------------------------------------------------- merge


# Log-sum-exps as FlashMLA's split-KV combine sees them: a part's lse is about
# scale * (its largest score) + log(its key count), in the hundreds or thousands for
# long rows of large logits, of either sign. exp(lse) is inf in float32 past 88.7 and 0
# below -103, so only a merge that subtracts the max gets these right. The level comes
# first so that hypothesis shrinks towards small magnitudes.
LSE_LEVELS = (0.0, 300.0, -300.0, 3000.0, -3000.0)
LSE_SPREADS = (4.0, 0.5, 40.0)  # std of the rows about the level: both parts weigh, or one dominates


@dataclass(frozen=True)
class MergeCase:
    lead: tuple[int, ...]  # leading dims, e.g. (batch, heads)
    n: int
    dim_v: int
    dtype: str  # of the partial outputs o_a, o_b
    empty_a: float  # fraction of rows where part a is empty
    empty_b: float
    level: float  # typical lse (and running max m) of a row
    spread: float  # std of lse and m about the level, per row and part
    seed: int

    def describe(self) -> str:
        shape = ",".join(map(str, (*self.lead, self.n)))
        return (
            f"o[{shape},{self.dim_v}] {self.dtype} lse[{shape}] lse and m around {self.level:+g} "
            f"(std {self.spread:g}) empty rows: a {self.empty_a:.0%}, b {self.empty_b:.0%} seed={self.seed}"
        )

    def _levels(self, shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
        return self.level + self.spread * torch.randn(shape, generator=gen)

    def states(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Two partial attention states (o_a, lse_a, o_b, lse_b); empty rows get
        lse = -inf and arbitrary finite o."""
        gen = _generator(self.seed)
        shape = (*self.lead, self.n)

        def part(empty: float) -> tuple[torch.Tensor, torch.Tensor]:
            o = torch.randn(*shape, self.dim_v, generator=gen).to(DTYPES[self.dtype])
            lse = self._levels(shape, gen)
            lse = lse.masked_fill(torch.rand(shape, generator=gen) < empty, float("-inf"))
            return o, lse

        o_a, lse_a = part(self.empty_a)
        o_b, lse_b = part(self.empty_b)
        return o_a, lse_a, o_b, lse_b

    def stats(self) -> tuple[torch.Tensor, ...]:
        """Three softmax states (m, l) each, for associativity; empty rows are (-inf, 0)."""
        gen = _generator(self.seed + 1)
        shape = (*self.lead, self.n)
        out = []
        for empty in (self.empty_a, self.empty_b, (self.empty_a + self.empty_b) / 2):
            m = self._levels(shape, gen)
            l = torch.rand(shape, generator=gen) * 50 + 1
            hole = torch.rand(shape, generator=gen) < empty
            out += [m.masked_fill(hole, float("-inf")), l.masked_fill(hole, 0.0)]
        return tuple(out)


@st.composite
def merge_cases(draw, dtypes=("float32", "float16", "bfloat16")) -> MergeCase:
    return MergeCase(
        lead=tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2))),
        n=draw(st.integers(1, 40)),
        dim_v=draw(st.sampled_from((1, 8, 40))),
        dtype=draw(st.sampled_from(dtypes)),
        empty_a=draw(st.sampled_from((0.0, 0.3, 1.0))),
        empty_b=draw(st.sampled_from((0.0, 0.3, 1.0))),
        level=draw(st.sampled_from(LSE_LEVELS)),
        spread=draw(st.sampled_from(LSE_SPREADS)),
        seed=draw(st.integers(0, 2**31 - 1)),
    )


# ----------------------------------------------------------------------------- paged KV cache (Level 4)

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


@dataclass(frozen=True)
class PagedCase:
    """A decode step over a paged cache, built as FlashMLA's tests build one: pages
    handed out from a pool (shuffled or in order), NaN in every slot past a sequence's
    length and in every page no sequence uses, and block-table entries past the used
    pages that are leftovers: any int32, most of them out of range."""

    lengths: tuple[int, ...]  # cache_seqlens; the batch is its length
    s_q: int
    heads_q: int
    heads_kv: int
    head_dim: int
    head_dim_v: int
    block_size: int
    dtype: str
    causal: bool
    softmax_scale: float | None  # None: d ** -0.5
    logit_scale: float  # std of the scaled scores, before the hot rows
    shuffled: bool  # pages handed out in random order (else one after another)
    nan_fill: bool  # NaN past each length and in unused pages (else random values)
    garbage: bool  # table entries past the used pages: random int32 (else valid, unused pages)
    spare_pages: int  # pages of the pool no sequence uses
    extra_columns: int  # table columns past the longest sequence's pages
    seed: int
    num_splits: int | None = None  # passed to mla_decode when set
    q_strided: bool = False  # q is a [b, h_q, s_q, d] tensor seen as [b, s_q, h_q, d] (not contiguous)

    @property
    def batch(self) -> int:
        return len(self.lengths)

    @property
    def pages(self) -> tuple[int, ...]:
        return tuple(-(-n // self.block_size) for n in self.lengths)

    @property
    def scale(self) -> float:
        return self.head_dim**-0.5 if self.softmax_scale is None else self.softmax_scale

    def describe(self) -> str:
        parts = [f"q[{self.batch},{self.s_q},{self.heads_q},{self.head_dim}]",
                 f"k_cache[{sum(self.pages) + self.spare_pages},{self.block_size},{self.heads_kv},{self.head_dim}]",
                 f"head_dim_v={self.head_dim_v}", f"cache_seqlens={list(self.lengths)}", self.dtype,
                 f"causal={self.causal}"]
        if self.softmax_scale is not None:
            parts.append(f"softmax_scale={self.softmax_scale:g}")
        if self.num_splits is not None:
            parts.append(f"num_splits={self.num_splits}")
        parts.append("shuffled block table" if self.shuffled else "pages in order")
        if self.nan_fill:
            parts.append("NaN past each length and in unused pages")
        if self.garbage:
            parts.append("random int32 table entries past the used pages")
        if self.logit_scale != 1.0:
            parts.append(f"logit std {self.logit_scale:g}")
        if self.q_strided:
            parts.append("q a transposed view")
        parts.append(f"seed={self.seed}")
        return " ".join(parts)

    def page_ids(self) -> list[list[int]]:
        """The pool pages of each sequence, in order."""
        gen = _generator(self.seed + 1)
        total = sum(self.pages)
        pool = torch.randperm(total + self.spare_pages, generator=gen) if self.shuffled \
            else torch.arange(total + self.spare_pages)
        ids, start = [], 0
        for n in self.pages:
            ids.append([int(p) for p in pool[start:start + n]])
            start += n
        return ids

    def paged_inputs(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """q, k_cache, block_table, cache_seqlens on the CPU."""
        gen = _generator(self.seed)
        dtype = DTYPES[self.dtype]
        num_blocks = sum(self.pages) + self.spare_pages
        k_cache = torch.randn(num_blocks, self.block_size, self.heads_kv, self.head_dim, generator=gen)
        # scores have std logit_scale: scale * q.k with k ~ N(0, 1) has std gain * scale * sqrt(d)
        gain = self.logit_scale / (self.scale * self.head_dim**0.5)
        q = torch.randn(self.batch, self.s_q, self.heads_q, self.head_dim, generator=gen) * gain
        hot = torch.rand(self.batch, self.s_q, self.heads_q, generator=gen) < 0.125
        q[hot] *= HOT_ROW_GAIN
        if self.q_strided:  # the same values, stored head-major
            q = q.transpose(1, 2).contiguous().transpose(1, 2)
        ids = self.page_ids()
        columns = max(max(self.pages, default=0) + self.extra_columns, 1)
        used = {p for row in ids for p in row}
        unused = [p for p in range(num_blocks) if p not in used]
        if self.garbage:  # leftovers of an allocator: out of range either way, or pages of the pool
            table = torch.randint(INT32_MIN, INT32_MAX, (self.batch, columns), generator=gen, dtype=torch.int64)
            in_pool = torch.rand(self.batch, columns, generator=gen) < 0.25
            table = torch.where(in_pool, table.remainder(num_blocks), table)
        else:
            table = torch.tensor(unused, dtype=torch.int64)[torch.randint(len(unused), (self.batch, columns),
                                                                          generator=gen)]
        for i, row in enumerate(ids):
            table[i, :len(row)] = torch.tensor(row, dtype=torch.int64)
            tail = self.lengths[i] - (len(row) - 1) * self.block_size  # tokens in the last page
            if self.nan_fill and row:
                k_cache[row[-1], tail:] = float("nan")
        if self.nan_fill and unused:
            k_cache[unused] = float("nan")
        return (q.to(dtype), k_cache.to(dtype), table.to(torch.int32),
                torch.tensor(self.lengths, dtype=torch.int32))

    def kwargs(self) -> dict:
        kw = {"softmax_scale": self.softmax_scale, "causal": self.causal}
        if self.num_splits is not None:
            kw["num_splits"] = self.num_splits
        return kw


@dataclass(frozen=True)
class PagedBounds:
    """The paged cases one exercise is graded on, and how large they may get."""

    dtypes: tuple[str, ...] = ("float32", "float16", "bfloat16")
    dims: tuple[tuple[int, int], ...] = ((16, 16), (40, 24), (64, 64), (576, 512))  # (d, head_dim_v)
    block_sizes: tuple[int, ...] = (16, 32, 48, 64)
    groups: tuple[int, ...] = (1, 2, 3, 8, 16, 64, 128)  # h_q / h_kv
    max_heads_q: int = 128
    max_batch: int = 4
    max_len: int = 300
    max_work: int = 16 * 4 * 300  # h_q * s_q * max length: bounds the CPU time of one case
    logit_scales: tuple[float, ...] = (1.0, 0.25, 4.0, 30.0)


def _paged_lengths(batch: int, block_size: int, max_len: int) -> st.SearchStrategy[tuple[int, ...]]:
    """Each length is empty, one token, one either side of a page boundary, or long (past
    two pages), each kind about as likely (hypothesis alone would draw mostly tiny
    lengths); the kinds shrink in that order. Sometimes every sequence has the same length
    (FlashMLA's fixed-length runs)."""
    boundaries = sorted({n for n in (block_size - 1, block_size, block_size + 1, 2 * block_size,
                                     2 * block_size + 1) if n <= max_len})
    long_from = min(2 * block_size + 2, max_len)
    length = st.sampled_from(("empty", "one", "boundary", "long")).flatmap(lambda kind: {
        "empty": st.just(0), "one": st.just(1), "boundary": st.sampled_from(boundaries),
        "long": st.integers(long_from, max_len)}[kind])
    varied = st.lists(length, min_size=batch, max_size=batch).map(tuple)
    return st.one_of(varied, length.map(lambda n: (n,) * batch))


@st.composite
def paged_cases(draw, bounds: PagedBounds) -> PagedCase:
    """Every flag shrinks towards the clean input (in-order pages, no NaN, valid table
    entries, no causal mask), so a shrunk failure keeps only the conditions it needs;
    the checks add fixed batches that hold them all (hypothesis draws combinations by
    chance)."""
    head_dim, head_dim_v = draw(st.sampled_from(bounds.dims))
    heads_kv = draw(st.sampled_from((1, 2)))
    group = draw(st.sampled_from([g for g in bounds.groups if heads_kv * g <= bounds.max_heads_q]))
    s_q = draw(st.sampled_from((1, 2, 4)))
    block_size = draw(st.sampled_from(bounds.block_sizes))
    batch = draw(st.sampled_from(range(1, bounds.max_batch + 1)))  # as likely 4 as 1
    max_len = max(2 * block_size + 1, min(bounds.max_len, bounds.max_work // (heads_kv * group * s_q)))
    return PagedCase(
        lengths=draw(_paged_lengths(batch, block_size, max_len)),
        s_q=s_q,
        heads_q=heads_kv * group,
        heads_kv=heads_kv,
        head_dim=head_dim,
        head_dim_v=head_dim_v,
        block_size=block_size,
        dtype=draw(st.sampled_from(bounds.dtypes)),
        causal=draw(st.booleans()),
        softmax_scale=draw(st.sampled_from((None, None, 0.3))),
        logit_scale=draw(st.sampled_from(bounds.logit_scales)),
        shuffled=draw(st.booleans()),
        nan_fill=draw(st.booleans()),
        garbage=draw(st.booleans()),
        spare_pages=draw(st.integers(1, 3)),
        extra_columns=draw(st.integers(0, 2)),
        seed=draw(st.integers(0, 2**31 - 1)),
        q_strided=draw(st.booleans()),
    )
