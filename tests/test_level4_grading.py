"""Level 4 graded end to end on this machine: the reference solutions earn every point
that can be verified here (on a CPU the Triton kernel runs under Triton's
interpreter), and the stubs earn none, every check saying `not implemented`. Also the
pieces the checks stand on: the paged inputs (NaN and garbage exactly where FlashMLA's
tests put them), the float64 oracle against an independent gather, the scheduler's
property checkers on hand-made plans."""

from __future__ import annotations

import functools

import pytest
import torch

import grader
from grader import oracle
from grader.checks.level4 import (
    ScheduleCase,
    _cost_problem,
    _cover_problem,
    _empty_requests_problem,
    _order_problem,
)
from grader.inputs import PagedCase
from grader.manifest import load_manifest
from grader.results import NOT_IMPLEMENTED, NOT_VERIFIED, PASSED
from grader.runner import resolve_device

EXAMPLES = 4  # per property check: the solutions are right on any example; the point is that everything runs
MANIFEST = load_manifest()
MACHINE = resolve_device("auto")
LEVEL4 = {ex.id: ex for ex in MANIFEST.exercises if ex.level == "level4"}


@functools.cache
def graded(exercise: str, solutions: bool):
    # The stubs are graded without timing: a timing check only says its prerequisites failed.
    (result,) = grader.grade(exercise, solutions=solutions, examples=EXAMPLES, timing=solutions).exercises
    return result


def expected(exercise: str, status_here: str, timing: bool = True) -> dict[str, str]:
    return {spec.id: status_here if MACHINE.can_verify(spec.needs) and (timing or spec.max_ratio is None)
            else NOT_VERIFIED for spec in LEVEL4[exercise].checks}


@pytest.mark.parametrize("exercise", sorted(LEVEL4))
def test_solution_earns_every_point_this_machine_can_verify(exercise: str):
    result = graded(exercise, solutions=True)
    got = {c.name: c.status for c in result.checks}
    assert got == expected(exercise, PASSED), "\n".join(
        f"{c.name}: {c.message}" for c in result.checks if c.status != PASSED)
    verifiable = sum(spec.points for spec in LEVEL4[exercise].checks if MACHINE.can_verify(spec.needs))
    assert result.score == verifiable > 0


@pytest.mark.parametrize("exercise", sorted(LEVEL4))
def test_stub_earns_nothing_and_says_not_implemented(exercise: str):
    result = graded(exercise, solutions=False)
    assert {c.name: c.status for c in result.checks} == expected(exercise, NOT_IMPLEMENTED, timing=False)
    assert result.score == 0
    for check in result.checks:
        if check.status == NOT_IMPLEMENTED:
            assert "raises NotImplementedError" in check.message, check.message


# ----------------------------------------------------------------------------- the inputs

CASE = PagedCase(lengths=(0, 5, 33, 16), s_q=2, heads_q=4, heads_kv=2, head_dim=24, head_dim_v=16, block_size=16,
                 dtype="float32", causal=True, softmax_scale=None, logit_scale=1.0, shuffled=True, nan_fill=True,
                 garbage=True, spare_pages=2, extra_columns=2, seed=5)


def test_paged_inputs_put_nan_and_garbage_only_where_no_key_is_read():
    _, k_cache, table, lengths = CASE.paged_inputs()
    assert (table.dtype, lengths.dtype) == (torch.int32, torch.int32)
    assert k_cache.shape == (sum(CASE.pages) + CASE.spare_pages, 16, 2, 24)
    used_pages = set()
    for i, (length, pages) in enumerate(zip(CASE.lengths, CASE.pages)):
        row = [int(p) for p in table[i, :pages]]
        used_pages |= set(row)
        keys = oracle.paged_sequence_keys(k_cache, table, length, i)
        assert keys.shape[0] == length and not bool(keys.isnan().any())  # the real tokens are finite
        if pages:
            assert bool(k_cache[row[-1], length - (pages - 1) * 16:].isnan().all())  # NaN right after L
    assert len(used_pages) == sum(CASE.pages)  # no page shared
    unused = [p for p in range(k_cache.shape[0]) if p not in used_pages]
    assert unused and bool(k_cache[unused].isnan().all())
    tails = torch.cat([table[i, n:] for i, n in enumerate(CASE.pages)]).long()
    assert bool(((tails < 0) | (tails >= k_cache.shape[0])).any())  # garbage out of the pool


def test_unshuffled_inputs_hand_out_pages_in_order():
    ids = PagedCase(**{**CASE.__dict__, "shuffled": False}).page_ids()
    assert [p for row in ids for p in row] == list(range(sum(CASE.pages)))


def test_paged_oracle_matches_attention_on_the_gathered_keys():
    """The oracle against the spec's formula written out by hand for one sequence."""
    q, k_cache, table, lengths = CASE.paged_inputs()
    out, lse = oracle.paged_mla(q, k_cache, table, lengths, 16, causal=True)
    assert out.shape == (4, 2, 4, 16) and lse.shape == (4, 4, 2)
    assert bool(torch.isneginf(lse[0]).all()) and bool((out[0] == 0).all())  # L = 0
    i, length = 2, 33
    keys = torch.cat([k_cache[int(table[i, p])] for p in range(3)])[:length].double()  # [L, h_kv, d]
    for t in range(2):
        for h in range(4):
            seen = length - (2 - 1 - t)
            scores = (q[i, t, h].double() @ keys[:seen, h // 2].T) * 24 ** -0.5
            want = torch.softmax(scores, 0) @ keys[:seen, h // 2, :16]
            assert torch.allclose(out[i, t, h], want) and torch.isclose(lse[i, h, t], torch.logsumexp(scores, 0))


# ----------------------------------------------------------------------------- the scheduler's properties

EXAMPLE = ScheduleCase(lengths=(640, 0, 64, 1280), num_parts=3, block_size=64, fixed_cost=5)
VALID = [[(0, 0, 10), (1, 0, 0)], [(2, 0, 1), (3, 0, 11)], [(3, 11, 20)]]  # the stub's worked example


def test_the_stubs_worked_example_is_valid_and_its_budget_is_22():
    assert EXAMPLE.total_cost == 51 and EXAMPLE.budget == 22
    for problem in (_cover_problem, _order_problem, _cost_problem, _empty_requests_problem):
        assert problem(EXAMPLE, VALID) == ""


@pytest.mark.parametrize(("plan", "problem", "phrase"), [
    ([[(0, 0, 10), (1, 0, 0)], [(2, 0, 1), (3, 0, 11)], [(3, 12, 20)]], _cover_problem, "block 11 of request 3"),
    ([[(0, 0, 10), (1, 0, 0)], [(2, 0, 1), (3, 0, 12)], [(3, 11, 20)]], _cover_problem, "is in 2 pieces"),
    ([[(0, 0, 10), (1, 0, 0)], [(3, 0, 11), (2, 0, 1)], [(3, 11, 20)]], _order_problem, "increasing order"),
    ([[(0, 0, 10), (1, 0, 0), (2, 0, 1)], [(3, 0, 11)], [(3, 11, 20)]], _cost_problem, "part 0 costs 26"),
    ([[(0, 0, 10)], [(2, 0, 1), (3, 0, 11)], [(3, 11, 20)]], _empty_requests_problem, "appears in no piece"),
    ([[(0, 0, 10)], [(2, 0, 1), (1, 0, 0), (3, 0, 11)], [(3, 11, 20)]], _empty_requests_problem, "out of place"),
])
def test_each_property_names_what_breaks_it(plan, problem, phrase):
    assert phrase in problem(EXAMPLE, plan)


# ----------------------------------------------------------------------------- on a GPU


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_level4_solutions_full_marks_on_gpu_with_the_speed_check():
    """DeepSeek's shapes and the timing check run only here; the reference times itself at
    a ratio near 1 and the summary reports FlashMLA's GB/s."""
    report = grader.grade("level4", solutions=True, device="cuda", examples=10)
    by_check = {(e.id, c.name): c for e in report.exercises for c in e.checks}
    assert {key: c.message for key, c in by_check.items() if c.status != PASSED} == {}
    speed = by_check[("level4.mla_decode", "speed")]
    assert "GB/s" in speed.message and "TFLOP/s" in speed.message


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_timing_inputs_are_flashmla_style_and_the_answer_check_agrees_with_the_float64_oracle():
    from grader.child.measure import mla_inputs

    q, k_cache, table, lengths = mla_inputs(4, 2, 16, 300, 576, 64, torch.bfloat16, "cuda", seed=3, varied=True)
    assert table.dtype == lengths.dtype == torch.int32 and bool(torch.isnan(k_cache).any())
    fast = oracle.paged_mla(q, k_cache, table, lengths, 512, causal=True, dtype=torch.float32)[0]
    exact = oracle.paged_mla(q.cpu(), k_cache.cpu(), table.cpu(), lengths.cpu(), 512, causal=True)[0]
    assert float((fast.cpu().double() - exact).abs().max()) < 1e-4


def test_the_timed_call_and_its_answer_check_agree_on_a_small_decode_shape():
    """What the speed check sends (bench_inputs, bench_kwargs) run through the PyTorch
    reference gives what the parent's answer check expects (timing._expected)."""
    import dataclasses

    from grader.child.measure import bench_inputs, bench_kwargs, bench_work
    from grader.child.worker import load_module
    from grader.timing import _expected

    spec = next(c for c in LEVEL4["level4.mla_decode"].checks if c.id == "speed")
    shape = {**dataclasses.asdict(spec.bench), "batch": 3, "n": 100, "heads": 4}
    reference = load_module(MANIFEST.root / "solutions" / "level4" / "paged_kv.py", "paged_kv_for_timing")
    inputs = bench_inputs(shape, "cpu", seed=11)
    assert [t.shape[0] for t in inputs] == [3, 3 * 2, 3, 3]  # 100 tokens in pages of 64: 2 pages each
    out, _ = reference.mla_decode_reference(*inputs, **bench_kwargs(shape))
    assert float((out.float() - _expected(shape, "cpu", seed=11)).abs().max()) < 2e-2
    flops, nbytes = bench_work(shape)
    assert flops == 2 * 1 * 300 * 4 * (576 + 512) and nbytes == (300 * 576 + 3 * 4 * (576 + 512)) * 2
