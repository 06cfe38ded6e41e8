//! `topk`/`bottomk`: per step and group a bounded heap with Go's `container/heap` moves and
//! 2.42's NaN rule (NaN is the worst value for both), then Go's final sort, so that ties come
//! out in the order Prometheus gives for small vectors.

use crate::engine::EvalError;
use crate::engine::aggregate::k_param;
use crate::engine::columns::{ABSENT, StepVec, is_absent};

/// A heap ordered by `less` over `(value, series)` entries, moving elements as Go's
/// `container/heap` does.
struct GoHeap {
    items: Vec<(f64, usize)>,
    bottom: bool,
}

impl GoHeap {
    /// `vectorByValueHeap.Less` (topk) or `vectorByReverseValueHeap.Less` (bottomk).
    fn less(&self, i: usize, j: usize) -> bool {
        let (a, b) = (self.items[i].0, self.items[j].0);
        if a.is_nan() {
            return true;
        }
        if self.bottom { a > b } else { a < b }
    }

    fn up(&mut self, mut j: usize) {
        while j > 0 {
            let i = (j - 1) / 2;
            if !self.less(j, i) {
                break;
            }
            self.items.swap(i, j);
            j = i;
        }
    }

    fn down(&mut self, i0: usize, n: usize) {
        let mut i = i0;
        loop {
            let j1 = 2 * i + 1;
            if j1 >= n {
                break;
            }
            let mut j = j1;
            let j2 = j1 + 1;
            if j2 < n && self.less(j2, j1) {
                j = j2;
            }
            if !self.less(j, i) {
                break;
            }
            self.items.swap(i, j);
            i = j;
        }
    }

    fn push(&mut self, x: (f64, usize)) {
        self.items.push(x);
        let last = self.items.len() - 1;
        self.up(last);
    }

    fn pop(&mut self) {
        let n = self.items.len() - 1;
        self.items.swap(0, n);
        self.down(0, n);
        self.items.pop();
    }

    /// `sort.Sort(sort.Reverse(heap))`, as the insertion sort Go uses for short slices.
    fn sort_reverse(&mut self) {
        for i in 1..self.items.len() {
            let mut j = i;
            while j > 0 && self.less(j - 1, j) {
                self.items.swap(j, j - 1);
                j -= 1;
            }
        }
    }
}

/// `topk(k, v)` (or `bottomk`), `groups[i]` the group of series `i`, `k` per step.
pub(crate) fn eval(
    v: StepVec,
    groups: &[usize],
    k: &[f64],
    bottom: bool,
) -> Result<StepVec, EvalError> {
    let n = v.n;
    let n_groups = groups.iter().max().map_or(0, |g| g + 1);
    let mut selected = vec![ABSENT; v.vals.len()];
    // For a one-step query the output order is the groups' order, each group sorted.
    let mut order: Vec<usize> = Vec::new();
    let mut heaps: Vec<Option<GoHeap>> = Vec::new();
    let mut group_order: Vec<usize> = Vec::new();
    for step in 0..n {
        let kk = k_param(k[step])?;
        if kk < 1 {
            continue;
        }
        heaps.clear();
        heaps.resize_with(n_groups, || None);
        group_order.clear();
        for (i, &g) in groups.iter().enumerate() {
            let x = v.vals[i * n + step];
            if is_absent(x) {
                continue;
            }
            let Some(h) = heaps[g].as_mut() else {
                heaps[g] = Some(GoHeap {
                    items: vec![(x, i)],
                    bottom,
                });
                group_order.push(g);
                continue;
            };
            let top = h.items[0].0;
            let better = if bottom { top > x } else { top < x };
            if (h.items.len() as i64) < kk || better || top.is_nan() {
                if h.items.len() as i64 == kk {
                    if kk == 1 {
                        h.items[0] = (x, i);
                        continue;
                    }
                    h.pop();
                }
                h.push((x, i));
            }
        }
        for &g in &group_order {
            if let Some(h) = heaps[g].as_mut() {
                if h.items.len() > 1 {
                    h.sort_reverse();
                }
                for &(x, i) in &h.items {
                    selected[i * n + step] = x;
                    if n == 1 {
                        order.push(i);
                    }
                }
            }
        }
    }
    let mut out = StepVec::new(n);
    out.name_dropped = v.name_dropped;
    if n == 1 {
        for i in order {
            out.labels.push(v.labels[i].clone());
            out.vals.push(selected[i]);
        }
        return Ok(out);
    }
    for (i, l) in v.labels.into_iter().enumerate() {
        out.push(l, &selected[i * n..(i + 1) * n]);
    }
    Ok(out)
}
