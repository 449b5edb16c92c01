"""Would a run-length fusion be cheaper than ``fuse_instances``? A measurement prototype.

A program, not a test (and not part of the library). It fuses all the candidates of
one image at once as their members' horizontal runs: every worker's run boundaries,
merged into one sorted event list, give each candidate's vote count per segment, the
fused segments, the contested pixels (highest share, then the smaller candidate
index), the renumbering in raster order and the painted uint8 label image. Majority
case only: every weight 1, a candidate kept by strict majority of the workers, at most
4 workers and fewer than 256 candidates. Two variants: "candidate-major" (events
grouped by candidate with a radix sort) and "position sweep" (one pass in position
order, tracking each worker's active candidate).

What it measures, on the ``dense50`` and ``default`` settings of ``speed.py``
(synthetic lines of ``speed_methods.make_cases``, seed 0, PNG row filters none):

- exactness, on every image: the painted labels equal ``decide(ev).labels`` (same
  dtype), the areas and instance order equal ``fuse_instances``', each kept
  candidate's member intersections equal ``FusedInstance.inters``, and the
  leave-one-out counts of ``loo_runs`` equal ``scoring._counted_loo``. It prints the
  number of mismatches of each (all 0 at ``f556063``) and exits with 1 when any is
  not 0;
- time: per image, the fastest of ``--reps`` calls, then the median over the images, of
  ``fuse_instances`` (votes, keep, fuse, member IoUs, contested pixels, painting) and
  of each variant with and without the member intersections, as ratios in one table;
  then the pieces of the current code that a run-length design would replace.

Conclusion (quoted in RESULTS.md, "Where the time goes"): exact, but no cheaper. With
the member intersections that ``fuse_instances`` also computes, the candidate-major
variant runs at 0.92x ``fuse_instances``' speed at 50 instances (3.42 against 3.13 ms)
and 0.54x at 0 to 10; the position sweep is slower still. About 24,000 fused segments
and 47,000 run boundaries per dense image cost about as much per numpy pass as the
boxes' pixels, and the prototype needs about 60 passes. Not worth a redesign for the
speed target.

    python benchmarks/run_fusion_prototype.py           # 60 dense50 + 100 default images, ~30 s
    python benchmarks/run_fusion_prototype.py --setting dense50 --images 20
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from gtconsensus.answers import read_answers
from gtconsensus.consensus import decide, gather
from gtconsensus.fusion import fuse_instances, gather_candidate, weighted_votes
from gtconsensus.matching import instance_stats
from gtconsensus.scoring import _counted_loo, score_against_fusion, score_leave_one_out

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import SETTINGS, _pool
from speed_methods import ATTRIBUTE, make_cases

# The settings the prototype handles (at most 4 workers), and their default image counts.
IMAGES = {"dense50": 60, "default": 100}

# ----------------------------------------------------------------------------------------
# The prototype
# ----------------------------------------------------------------------------------------


def prepare(ev, stats):
    """Per image, once: each worker's runs tagged with their candidate (what a real
    implementation would keep in the evidence instead of / beside the cropped masks).

    Returns (per_worker, support, n_workers, shape); per_worker[w] = (starts, stops, cand)
    in raster order (as instance_stats gives them). Not timed: gather() already computes
    instance_stats (the runs) and the clusters; only the (worker, label) -> candidate
    table is new, and a real implementation would build it inside gather.
    """
    n = len(stats)
    cands = ev.candidates
    lut = [np.full(s.n_instances + 1, -1, dtype=np.int64) for s in stats]
    support = np.zeros(len(cands), dtype=np.int64)
    for i, c in enumerate(cands):
        support[i] = len(c.members)
        for w, k in c.members:
            lut[w][k] = i
    per_worker = [
        (s.runs.starts.astype(np.int64), s.runs.stops.astype(np.int64), lut[w][s.runs.labels])
        for w, s in enumerate(stats)
    ]
    return per_worker, support, n, ev.shape


_POPCOUNT = np.array([bin(i).count("1") for i in range(16)], np.int32)


def events(per_worker, support, n_workers, size):
    """The image's run boundary events, merged into position order (the weight-free
    part, which a real implementation would build once in gather(), in place of
    cropping the candidates' masks).

    key = (((pos * 2 + is_start) * 4 + worker) << 8) | cand: unsigned 32-bit when it
    fits (2 * size + 2 < 2**22, i.e. up to ~2 MP), else int64. Each worker's
    interleaved start/stop events are already sorted; the concatenation of n_workers
    sorted blocks is merged by timsort (np.sort kind="stable") in about O(n log n_workers).
    Runs of candidates that cannot be kept (support * 2 <= n_workers) are dropped.
    """
    assert n_workers <= 4
    assert len(support) < 256
    dtype = np.uint32 if 2 * size + 2 < (1 << 22) else np.int64
    keep_cand = support * 2 > n_workers
    blocks = []
    for w, (s0, s1, c) in enumerate(per_worker):
        sel = np.flatnonzero((c >= 0) & keep_cand[np.maximum(c, 0)])
        tag = (w << 8) | c[sel]
        e = np.empty(2 * len(sel), dtype)
        e[0::2] = (((s0[sel] * 2 + 1) << 10) | tag).astype(dtype)
        e[1::2] = (((s1[sel] * 2) << 10) | tag).astype(dtype)
        blocks.append(e)
    return np.sort(np.concatenate(blocks), kind="stable")


def run_fusion(per_worker, support, n_workers, shape, want_ious=False, merged=None):
    """Fuse every candidate from its members' runs; paint the consensus.

    Returns ((labels (H, W) uint8, areas (K,), order (K,) = candidate index of labels
    1..K), inters): when ``want_ious`` the (C, n_workers) member intersections with
    each kept candidate's fused shape before contested pixels, else None.

    ``merged``: the merged events of :func:`events` when already built (else built here).
    numpy calls per image: fixed (independent of the number of candidates); work
    proportional to the number of runs, plus one np.repeat over the image to paint.
    """
    height, width = shape
    size = height * width
    n_c = len(support)
    W = n_workers
    need = -(-support // 2)  # ceil(support / 2): counted votes for half the members
    P = events(per_worker, support, n_workers, size) if merged is None else merged
    cand_p = (P & 255).astype(np.uint8)
    # -- 1. votes per candidate: stable radix sort by candidate -> (cand, pos) -------
    perm = np.argsort(cand_p, kind="stable")
    Q = P[perm]
    cand_q = cand_p[perm]
    pb_q = (Q >> 10).astype(np.int64)  # pos * 2 + is_start
    pos_q = pb_q >> 1
    if want_ious:
        # cumsum of +-2**worker: the bitmask of the members active on each segment
        # (a worker's runs never overlap); the vote count is its popcount
        bit = (1 << ((Q >> 8) & 3)).astype(np.int16)
        active = np.cumsum(np.where(pb_q & 1, bit, -bit), dtype=np.int16)
        count = _POPCOUNT[active]
    else:
        count = np.cumsum(((pb_q & 1) * 2 - 1).astype(np.int32), dtype=np.int32)
    # segment i = [pos_q[i], pos_q[i+1]) with count[i] members; non-empty; same
    # candidate is implied (count is 0 after a candidate's last event, below need >= 1)
    ok = (count[:-1] >= need[cand_q[:-1]]) & (pos_q[1:] > pos_q[:-1])
    idx = np.flatnonzero(ok)
    inters = None
    if want_ious:
        seglen = (pos_q[idx + 1] - pos_q[idx]).astype(np.float64)
        cw = cand_q[idx].astype(np.int64) * W
        on = active[idx]
        inters = np.zeros(n_c * W, np.float64)
        for w in range(W):
            inters += np.bincount(cw + w, weights=seglen * ((on >> w) & 1), minlength=n_c * W)
        inters = inters.reshape(n_c, W).astype(np.int64)
    # fused segments back in position order without a sort: mark their start event's
    # place in P (P is sorted by position)
    at = perm[idx]
    mark = np.zeros(len(P), bool)
    mark[at] = True
    slot = np.zeros(len(P), np.int32)
    slot[at] = np.arange(len(idx), dtype=np.int32)
    sel = idx[slot[np.flatnonzero(mark)]]  # fused segments in position order
    f_c = cand_q[sel].astype(np.int64)
    f_start = pos_q[sel]
    f_stop = pos_q[sel + 1]
    f_cnt = count[sel].astype(np.int64)
    # -- 2. contested pixels: one sweep over the fused segments by position -----------
    m = len(f_start)
    hit = np.zeros(m, bool)
    if m:
        reach = np.maximum.accumulate(f_stop)
        hit[1:] = f_start[1:] < reach[:-1]  # overlaps some earlier segment
    if hit.any():
        out_c, out_start, out_stop = _settle(f_c, f_start, f_stop, f_cnt, hit, support)
    else:
        out_c, out_start, out_stop = f_c, f_start, f_stop
    # -- 3. renumber, paint ---------------------------------------------------------
    return _paint(out_c, out_start, out_stop, n_c, shape), inters


def _paint(out_c, out_start, out_stop, n_c, shape):
    """Renumber the candidates in raster order of their first surviving pixel and
    paint the disjoint, position-sorted owned segments. Returns (image, areas, order)."""
    height, width = shape
    size = height * width
    k = len(out_start)
    first_seg = np.full(n_c, k, np.int64)
    np.minimum.at(first_seg, out_c, np.arange(k))
    alive = np.flatnonzero(first_seg < k)
    order = alive[np.argsort(first_seg[alive], kind="stable")]  # candidates by first pixel
    new = np.zeros(n_c, np.int64)
    new[order] = np.arange(1, len(order) + 1)
    lab = new[out_c]
    lengths = out_stop - out_start
    areas = np.bincount(lab, weights=lengths, minlength=len(order) + 1)[1:].astype(np.int64)
    image = np.zeros(size, np.uint8)
    if k:
        lo, hi = int(out_start[0]), int(out_stop[-1])  # paint the foreground span only
        vals = np.zeros(2 * k - 1, np.uint8)
        vals[0::2] = lab
        lens = np.empty(2 * k - 1, np.int64)
        lens[0::2] = lengths
        lens[1::2] = out_start[1:] - out_stop[:-1]
        image[lo:hi] = np.repeat(vals, lens)
    return image.reshape(height, width), areas, order


@functools.cache
def _priority_table(max_support):
    """rank[count, support]: the order of the float64 shares count / support (as
    _Canvas compares them), as small integers (equal floats, equal rank)."""
    cnt, sup = np.meshgrid(np.arange(max_support + 1), np.arange(max_support + 1), indexing="ij")
    share = cnt / np.maximum(sup, 1).astype(np.float64)
    _, rank = np.unique(share.ravel(), return_inverse=True)
    return rank.reshape(share.shape)


def _settle(f_c, f_start, f_stop, f_cnt, hit, support):
    """Contested pixels: per elementary interval of the overlapping groups, the
    candidate with the highest share wins, ties to the smaller candidate index.

    Inputs are the fused segments in position order; ``hit`` marks those overlapping
    an earlier one. Returns the disjoint owned segments in position order.
    """
    g_id = np.cumsum(~hit) - 1  # a group = a non-hit opener and its chain of hits
    contested_groups = np.zeros(int(g_id[-1]) + 1, bool)
    contested_groups[g_id[hit]] = True
    ingroup = contested_groups[g_id]
    gi = np.flatnonzero(ingroup)
    gs, ge, gc, gn = f_start[gi], f_stop[gi], f_c[gi], f_cnt[gi]
    n_g = len(gi)
    # elementary intervals: rank of every boundary among the distinct boundaries
    both = np.concatenate([gs, ge])
    o = np.argsort(both, kind="stable")  # gs sorted, ge nearly: timsort merges
    sb = both[o]
    new = np.ones(len(sb), bool)
    new[1:] = sb[1:] != sb[:-1]
    bounds = sb[new]
    rk = np.empty(len(sb), np.int64)
    rk[o] = np.cumsum(new) - 1
    i0, i1 = rk[:n_g], rk[n_g:]
    reps = i1 - i0
    seg = np.repeat(np.arange(n_g), reps)
    elem = np.repeat(i0 - np.cumsum(reps) + reps, reps) + np.arange(int(reps.sum()))
    # priority = share rank, then the smaller candidate: one integer, maximum per interval
    rank = _priority_table(int(support.max(initial=1)))
    prio = rank[gn[seg], support[gc[seg]]] * 256 + (255 - gc[seg])
    best = np.full(len(bounds) - 1, -1, np.int64)
    np.maximum.at(best, elem, prio)
    won = np.flatnonzero(best >= 0)  # gaps between groups are not covered
    # splice: each free segment is one piece; a group's opener carries its won
    # intervals (in position order); its other segments carry none
    g_of_elem = np.zeros(len(bounds) - 1, np.int64)
    g_of_elem[elem] = g_id[gi][seg]
    won_g = g_of_elem[won]
    per_group = np.bincount(won_g, minlength=len(contested_groups))
    pieces = np.where(ingroup, 0, 1)
    openers = np.flatnonzero(ingroup & ~hit)
    pieces[openers] = per_group[g_id[openers]]
    ends = np.cumsum(pieces)
    total = int(ends[-1])
    out_c = np.empty(total, np.int64)
    out_start = np.empty(total, np.int64)
    out_stop = np.empty(total, np.int64)
    free = np.flatnonzero(~ingroup)
    at = ends[free] - 1
    out_c[at], out_start[at], out_stop[at] = f_c[free], f_start[free], f_stop[free]
    # won intervals: base of its group's opener + rank within the group
    first_of_group = np.zeros(len(contested_groups), np.int64)
    first_of_group[g_id[openers]] = ends[openers] - pieces[openers]
    grp_start = np.searchsorted(won_g, won_g)  # won_g is sorted: first won of the group
    at = first_of_group[won_g] + np.arange(len(won)) - grp_start
    out_c[at] = 255 - (best[won] & 255)
    out_start[at], out_stop[at] = bounds[won], bounds[won + 1]
    return out_c, out_start, out_stop


def run_fusion_sweep(per_worker, support, n_workers, shape, want_ious=False):
    """Same result as :func:`run_fusion`, by ONE sweep in position order.

    At any pixel each worker has at most one run (its instances are disjoint), so the
    state of an elementary interval (between two consecutive run boundaries of any
    worker) is the tuple of the workers' active candidates. A candidate's vote count
    there is the number of workers whose active candidate it is; it is fused there
    when that count reaches ceil(support / 2); the pixel goes to the fused candidate
    with the highest share (then the smaller index). O(n_workers^2) vectorised passes
    over the ~2R events, no sort but the timsort merge of the workers' sorted events.
    """
    n_c = len(support)
    W = n_workers
    assert n_c < 255
    keep_cand = support * 2 > W  # strict majority of n workers (weights 1)
    need = -(-support // 2)
    # -- events: key = ((pos * W + w) << 9) | payload, payload = cand + 1 at a start,
    #    0 at a stop (a stop sorts before a start at one position of one worker)
    blocks = []
    for w, (s0, s1, c) in enumerate(per_worker):
        sel = np.flatnonzero((c >= 0) & keep_cand[np.maximum(c, 0)])
        e = np.empty(2 * len(sel), np.int64)
        e[0::2] = ((s0[sel] * W + w) << 9) | (c[sel] + 1)
        e[1::2] = (s1[sel] * W + w) << 9
        blocks.append(e)
    P = np.sort(np.concatenate(blocks), kind="stable")  # merge of W sorted blocks
    pw = P >> 9
    pos = pw // W
    wk = pw - pos * W
    val = (P & 511).astype(np.int16) - 1  # active candidate after the event, -1 none
    # elementary intervals: event i to i + 1 when the position advances
    iv = np.flatnonzero(pos[1:] > pos[:-1])
    ar = np.arange(len(P))
    active = []
    for w in range(W):
        last = np.maximum.accumulate(np.where(wk == w, ar, -1))[iv]
        a = val[np.maximum(last, 0)]
        a[last < 0] = -1
        active.append(a)
    rank = _priority_table(int(support.max(initial=1)))
    sup1 = np.append(support, 1)  # index -1 -> a harmless entry
    need1 = np.append(need, 1 << 30)
    best = np.full(len(iv), -1, np.int64)
    fused_w = []
    for w in range(W):
        a = active[w]
        cnt = np.zeros(len(iv), np.int64)
        for v in range(W):
            cnt += active[v] == a
        fused = (a >= 0) & (cnt >= need1[a])
        share_rank = rank[np.minimum(cnt, rank.shape[0] - 1), sup1[a]]
        prio = np.where(fused, share_rank * 256 + (255 - a), -1)
        np.maximum(best, prio, out=best)
        fused_w.append(fused)
    starts_iv, stops_iv = pos[iv], pos[iv + 1]
    inters = None
    if want_ious:
        length = stops_iv - starts_iv
        inters = np.zeros(n_c * W, np.float64)
        for w in range(W):
            f = fused_w[w]
            inters += np.bincount(
                active[w][f].astype(np.int64) * W + w, weights=length[f], minlength=n_c * W
            )
        inters = inters.reshape(n_c, W).astype(np.int64)
    won = np.flatnonzero(best >= 0)
    out_c = 255 - (best[won] & 255)
    out_start, out_stop = starts_iv[won], stops_iv[won]
    return _paint(out_c, out_start, out_stop, n_c, shape), inters


def loo_runs(per_worker, support, n_workers, shape, merged=None):
    """Leave-one-out quantities of every member, from the runs (counted votes, every
    weight 1): for member w of candidate c (support s), against the others' fusion
    (threshold t = ceil((s - 1) / 2) of the s - 1 others):

        inter = |own & counts >= t + 1|,  c_t = |counts >= t|,  held = |own & counts >= t|
        union = area + c_t - held,        kept = c_t - held + inter > 0

    as scoring._counted_loo. Returns (inter, union, kept), each (C, n_workers) (zeros
    where w is not a member or s < 2). Unlike run_fusion, every candidate's runs are
    used (not only the kept ones).
    """
    height, width = shape
    size = height * width
    n_c = len(support)
    W = n_workers
    P = merged
    if P is None:
        P = events(per_worker, np.full(n_c, W, np.int64), n_workers, size)  # keep all
    cand_p = (P & 255).astype(np.uint8)
    perm = np.argsort(cand_p, kind="stable")
    Q = P[perm]
    cand_q = cand_p[perm].astype(np.int64)
    pb_q = (Q >> 10).astype(np.int64)
    delta = ((pb_q & 1) * 2 - 1).astype(np.int32)
    count = np.cumsum(delta, dtype=np.int32)
    pos_q = pb_q >> 1
    idx = np.flatnonzero((count[:-1] > 0) & (pos_q[1:] > pos_q[:-1]))
    c = cand_q[idx]
    cnt = count[idx]
    seglen = (pos_q[idx + 1] - pos_q[idx]).astype(np.float64)
    t = -(-(support - 1) // 2)  # others' threshold
    tc = t[c]
    reach = cnt >= tc
    c_t = np.bincount(c, weights=seglen * reach, minlength=n_c)
    above = seglen * (cnt >= tc + 1)
    held_len = seglen * reach
    wk_q = ((Q >> 8) & 3).astype(np.int8)
    inter = np.zeros((W, n_c))
    held = np.zeros((W, n_c))
    area = np.zeros((W, n_c))
    for w in range(W):
        active = np.cumsum(np.where(wk_q == w, delta, 0), dtype=np.int32)[idx]
        inter[w] = np.bincount(c, weights=above * active, minlength=n_c)
        held[w] = np.bincount(c, weights=held_len * active, minlength=n_c)
        area[w] = np.bincount(c, weights=seglen * active, minlength=n_c)
    union = area + c_t - held
    kept = (c_t - held + inter) > 0
    return inter.T.astype(np.int64), union.T.astype(np.int64), kept.T


# ----------------------------------------------------------------------------------------
# Cases and measurement
# ----------------------------------------------------------------------------------------


def load(name, n, size=None):
    """``n`` cases of setting ``name`` (at ``size`` = (width, height) when given):
    (evidence, each worker's instance stats, the annotations in gather's order)."""
    s = SETTINGS[name]
    if size is not None:
        s = replace(s, width=size[0], height=size[1])
    cases = make_cases(
        0, n, workers=s.workers, height=s.height, width=s.width,
        instances=s.instances, pool=_pool(s.workers), filters="none",
    )  # fmt: skip
    out = []
    for case in cases:
        raws = json.loads(case.line)[ATTRIBUTE]["annotationsFromAllWorkers"]
        ann = sorted(read_answers(raws).annotations, key=lambda a: a.worker_id)  # gather's
        ev = gather(ann)
        stats = [instance_stats(a.labels, len(a.classes)) for a in ann]
        out.append((ev, stats, ann))
    return out


IMPLS = {"candidate-major": run_fusion, "position sweep": run_fusion_sweep}


def verify(cases):
    """Per implementation: images whose label image / areas / instance order differ from
    decide() / fuse_instances(), and kept candidates whose member intersections with the
    fused shape differ from FusedInstance.inters; under "loo_runs", the (image, candidate)
    pairs whose leave-one-out counts differ from scoring._counted_loo."""
    bad = {name: [] for name in IMPLS}
    inter_bad = dict.fromkeys(IMPLS, 0)
    inter_bad["loo_runs"] = loo_bad = []
    for i, (ev, stats, _) in enumerate(cases):
        args = prepare(ev, stats)
        ref = decide(ev)
        fr = fuse_instances(ev.candidates, shape=ev.shape, weights=[1.0] * len(stats))
        assert np.array_equal(ref.labels, fr.labels)
        for name, impl in IMPLS.items():
            (image, areas, order), inters = impl(*args, want_ious=True)
            ok = np.array_equal(image, ref.labels) and image.dtype == ref.labels.dtype
            ok = ok and np.array_equal(areas, fr.stats.areas[1:])
            ok = ok and [f.candidate for f in fr.instances] == order.tolist()
            if not ok:
                bad[name].append(i)
            for f in fr.kept.values():
                mine = tuple(int(inters[f.candidate, w]) for w, _ in f.members)
                if mine != f.inters:
                    inter_bad[name] += 1
        inter, union, kept = loo_runs(*args)
        for c, cand in enumerate(ev.candidates):
            if len(cand.members) < 2:
                continue
            counts, sup = weighted_votes(cand, [1.0] * len(stats))
            mine = [(int(inter[c, w]), int(union[c, w]), bool(kept[c, w])) for w, _ in cand.members]
            if mine != _counted_loo(cand, counts, sup - 1):
                loo_bad.append((i, c))
    return bad, inter_bad


def timeit(fn: Callable[[], object], reps: int) -> float:
    """Fastest of ``reps`` back-to-back calls (after one warm-up call): the machine
    is shared, the minimum is the least noisy estimate of the cost."""
    fn()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure(cases, reps):
    """Median over the images of each image's fastest of ``reps`` calls."""
    t = {"fuse_instances": []}
    for name in IMPLS:
        t[name] = []
        t[name + " +inters"] = []
    for ev, stats, _ in cases:
        args = prepare(ev, stats)
        w = [1.0] * len(stats)
        fuse = functools.partial(fuse_instances, ev.candidates, shape=ev.shape, weights=w)
        t["fuse_instances"].append(timeit(fuse, reps))
        for name, impl in IMPLS.items():
            t[name].append(timeit(functools.partial(impl, *args), reps))
            t[name + " +inters"].append(
                timeit(functools.partial(impl, *args, want_ious=True), reps)
            )
    return {k: statistics.median(v) for k, v in t.items()}


def _crop_all(labels, stats, classes, members):
    """The candidates' cropped masks, as gather() builds them."""
    return [gather_candidate(labels, stats, classes, m) for m in members]


def _votes_all(candidates, weights):
    return [weighted_votes(c, weights) for c in candidates]


def context(cases, reps):
    """Median per image, ms: the work the run representation would replace.

    current: crop the candidates' masks (gather_candidate, inside gather), the votes,
    fuse_instances, score_leave_one_out and score_against_fusion as decide() runs them,
    and decide() whole. runs: build the merged events (would replace the crop, inside
    gather), run_fusion with member intersections (-> member IoUs, which also give
    score_against_fusion), loo_runs (the leave-one-out pixel counts; the per-candidate
    Python tally that turns them into Agreements is not included, it is the same loop
    in both designs).
    """
    keys = (
        "crop masks", "votes", "fuse_instances", "score_leave_one_out",
        "score_against_fusion", "decide", "events", "run_fusion+inters", "loo_runs",
    )  # fmt: skip
    t = {k: [] for k in keys}
    partial = functools.partial
    for ev, stats, ann in cases:
        labels = [a.labels for a in ann]
        classes = [a.classes for a in ann]
        members = [c.members for c in ev.candidates]
        n = len(stats)
        w = [1.0] * n
        t["crop masks"].append(timeit(partial(_crop_all, labels, stats, classes, members), reps))
        t["votes"].append(timeit(partial(_votes_all, ev.candidates, w), reps))
        votes = _votes_all(ev.candidates, w)
        fuse = partial(fuse_instances, ev.candidates, shape=ev.shape, weights=w, votes=votes)
        t["fuse_instances"].append(timeit(fuse, reps))
        fr = fuse()
        t["score_leave_one_out"].append(timeit(partial(
            score_leave_one_out, ev.candidates, weights=w, threshold=0.5, votes=votes, fusion=fr
        ), reps))  # fmt: skip
        t["score_against_fusion"].append(timeit(partial(
            score_against_fusion, ev.candidates, fr, n_workers=n, threshold=0.5
        ), reps))  # fmt: skip
        t["decide"].append(timeit(partial(decide, ev), reps))
        pw, sup, _, shape = prepare(ev, stats)
        size = shape[0] * shape[1]
        t["events"].append(timeit(partial(events, pw, sup, n, size), reps))
        merged = events(pw, sup, n, size)
        t["run_fusion+inters"].append(timeit(
            partial(run_fusion, pw, sup, n, shape, want_ious=True, merged=merged), reps
        ))  # fmt: skip
        t["loo_runs"].append(timeit(partial(loo_runs, pw, sup, n, shape), reps))
    return {k: statistics.median(v) * 1e3 for k, v in t.items()}


def describe(cases):
    cands = [len(ev.candidates) for ev, _, _ in cases]
    runs = [sum(len(s.runs.starts) for s in st) for _, st, _ in cases]
    return statistics.median(cands), statistics.median(runs)


def _size(text: str) -> tuple[int, int]:
    width, height = (int(part) for part in text.lower().split("x"))
    return width, height


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Prints the mismatch counts, then the timing tables (markdown).",
    )
    parser.add_argument(
        "--setting", action="append", choices=list(IMAGES),
        help="setting to run (repeatable; default: dense50, then default)",
    )  # fmt: skip
    parser.add_argument(
        "--images", type=int,
        help="images per setting (default: 60 for dense50, 100 for default; 0 skips it)",
    )  # fmt: skip
    parser.add_argument("--reps", type=int, default=5, help="timed calls per image (5)")
    parser.add_argument(
        "--size", type=_size, metavar="WxH", help="image size (default: the setting's 1280x960)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Verify and time the prototype; 0 when every check matched, else 1."""
    a = _parser().parse_args(argv)
    names = a.setting or list(IMAGES)
    rows, ctx = [], []
    failed = False
    for name in names:
        n = IMAGES[name] if a.images is None else a.images
        if not n:
            continue
        t0 = time.perf_counter()
        cases = load(name, n, a.size)
        bad, inter_bad = verify(cases)
        failed = failed or any(bad.values()) or any(inter_bad.values())
        print(f"{name}: loo_runs: (inter, union, kept) mismatches vs scoring._counted_loo: "
              f"{len(inter_bad['loo_runs'])}", flush=True)  # fmt: skip
        for impl in IMPLS:
            print(f"{name}: {impl}: {n} images; label image/areas/order mismatches: "
                  f"{len(bad[impl])} {bad[impl][:10]}; member-intersection mismatches: "
                  f"{inter_bad[impl]}", flush=True)  # fmt: skip
        print(f"  ({time.perf_counter() - t0:.1f}s to build and verify)", flush=True)
        rows.append((name, n, *describe(cases), measure(cases, a.reps)))
        ctx.append((name, context(cases, a.reps)))
    if not rows:
        return 1 if failed else 0
    print()
    print("median ms per image (same process, back to back)")
    print()
    cols = ["fuse_instances"] + [k for k in rows[0][4] if k != "fuse_instances"]
    print("| setting | images | candidates | worker runs | " + " | ".join(cols) + " |")
    print("|---|---|---|---|" + "---|" * len(cols))
    for name, n, nc, nr, t in rows:
        ref = t["fuse_instances"]
        cells = [f"{ref * 1e3:.3f}"] + [f"{t[k] * 1e3:.3f} ({ref / t[k]:.2f}x)" for k in cols[1:]]
        print(f"| {name} | {n} | {nc:.0f} | {nr:.0f} | " + " | ".join(cells) + " |")
    print()
    print("context: median ms per image of the pieces (fastest of --reps calls each)")
    print()
    keys = list(ctx[0][1])
    print("| setting | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for name, t in ctx:
        print(f"| {name} | " + " | ".join(f"{t[k]:.3f}" for k in keys) + " |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
