//! `topk`/`bottomk`: per step and group a bounded heap with Go's `container/heap` moves and
//! 2.42's NaN rule (NaN is the worst value for both), then Go's final sort, so that ties come
//! out in the order Prometheus gives for small vectors.

use std::collections::HashMap;

use fedstore_storage::Labels;

use crate::engine::EvalError;
use crate::engine::aggregate::{GroupIds, k_param};
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

    /// Removes the root; returns its series.
    fn pop(&mut self) -> usize {
        let n = self.items.len() - 1;
        self.items.swap(0, n);
        self.down(0, n);
        self.items.pop().map_or(0, |(_, i)| i)
    }

    /// Offers `(x, i)` with 2.42's rule (a heap of `kk`, NaN the worst value); returns
    /// whether it entered and which series it pushed out.
    fn offer(&mut self, item: (f64, usize), kk: i64) -> (bool, Option<usize>) {
        let top = self.items[0].0;
        let better = if self.bottom {
            top > item.0
        } else {
            top < item.0
        };
        if (self.items.len() as i64) < kk || better || top.is_nan() {
            let mut out = None;
            if self.items.len() as i64 == kk {
                if kk == 1 {
                    out = Some(self.items[0].1);
                    self.items[0] = item;
                    return (true, out);
                }
                out = Some(self.pop());
            }
            self.push(item);
            return (true, out);
        }
        (false, None)
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

/// `topk(k, v)` (or `bottomk`) folded series by series in input order, as 2.42's loop over
/// the input vector: per group and step a heap of the k best, and the label sets of only the
/// series some heap holds (a label set is dropped when its series leaves its last heap), so
/// `topk(5, <1M series>)` holds a few label sets, not a million.
pub(crate) struct TopkFolder {
    /// The parameter as a count per step; 0 for steps that take nothing (k < 1 or invalid).
    kk: Vec<i64>,
    /// The first step's invalid parameter, reported by [`TopkFolder::finish`], after the
    /// input, as 2.42 reports an input error first.
    bad_k: Option<EvalError>,
    bottom: bool,
    groups: GroupIds,
    /// `heaps[g * n + step]`.
    heaps: Vec<Option<GoHeap>>,
    /// One-step queries answer groups in the order their first value came.
    group_order: Vec<usize>,
    /// Series index -> (label set, number of heaps holding the series).
    held: HashMap<usize, (Labels, u32)>,
    /// Index of the next input series.
    next: usize,
    present: Vec<usize>,
    name_dropped: bool,
}

impl TopkFolder {
    /// An empty fold with parameter `k` per step (`grouping` sorted).
    pub fn new(k: Vec<f64>, bottom: bool, without: bool, grouping: Vec<String>) -> TopkFolder {
        let mut bad_k = None;
        let kk = k
            .iter()
            .map(|&x| {
                k_param(x).unwrap_or_else(|e| {
                    bad_k.get_or_insert(e);
                    0
                })
            })
            .collect();
        TopkFolder {
            present: vec![0; k.len()],
            kk,
            bad_k,
            bottom,
            groups: GroupIds::new(without, grouping),
            heaps: Vec::new(),
            group_order: Vec::new(),
            held: HashMap::new(),
            next: 0,
            name_dropped: false,
        }
    }

    /// Input values per step so far, for the sample accounting.
    pub fn present(&self) -> &[usize] {
        &self.present
    }

    /// Adds the series of `v`, in order.
    pub fn add(&mut self, v: &StepVec) {
        let n = self.kk.len();
        self.name_dropped = v.name_dropped;
        for (i, l) in v.labels.iter().enumerate() {
            let idx = self.next + i;
            let (g, new) = self.groups.of(v, i);
            if new {
                self.heaps.resize_with((g + 1) * n, || None);
            }
            for (step, &x) in v.col(i).iter().enumerate() {
                if is_absent(x) {
                    continue;
                }
                self.present[step] += 1;
                let kk = self.kk[step];
                if kk < 1 {
                    continue;
                }
                let slot = &mut self.heaps[g * n + step];
                let entered = match slot.as_mut() {
                    None => {
                        *slot = Some(GoHeap {
                            items: vec![(x, idx)],
                            bottom: self.bottom,
                        });
                        if n == 1 {
                            self.group_order.push(g);
                        }
                        true
                    }
                    Some(h) => {
                        let (entered, evicted) = h.offer((x, idx), kk);
                        if let Some(e) = evicted {
                            release(&mut self.held, e);
                        }
                        entered
                    }
                };
                if entered {
                    self.held.entry(idx).or_insert_with(|| (l.clone(), 0)).1 += 1;
                }
            }
        }
        self.next += v.labels.len();
    }

    /// The selected series: for one step, group by group (each sorted as 2.42's final
    /// sort); over several steps, in input order with each step's selected values.
    pub fn finish(mut self) -> Result<StepVec, EvalError> {
        if let Some(e) = self.bad_k {
            return Err(e);
        }
        let n = self.kk.len();
        let mut out = StepVec::new(n);
        out.name_dropped = self.name_dropped;
        if n == 1 {
            for &g in &self.group_order {
                if let Some(h) = self.heaps[g].as_mut() {
                    if h.items.len() > 1 {
                        h.sort_reverse();
                    }
                    for &(x, i) in &h.items {
                        if let Some((l, _)) = self.held.get(&i) {
                            out.labels.push(l.clone());
                            out.vals.push(x);
                        }
                    }
                }
            }
            return Ok(out);
        }
        let mut picked: Vec<(usize, usize, f64)> = Vec::new();
        for (slot, h) in self.heaps.iter().enumerate() {
            if let Some(h) = h {
                picked.extend(h.items.iter().map(|&(x, i)| (i, slot % n, x)));
            }
        }
        picked.sort_unstable_by_key(|&(i, step, _)| (i, step));
        let mut col = vec![ABSENT; n];
        let mut rest = picked.as_slice();
        while let Some(&(i, _, _)) = rest.first() {
            let len = rest.iter().take_while(|p| p.0 == i).count();
            col.fill(ABSENT);
            for &(_, step, x) in &rest[..len] {
                col[step] = x;
            }
            if let Some((l, _)) = self.held.remove(&i) {
                out.push(l, &col);
            }
            rest = &rest[len..];
        }
        Ok(out)
    }
}

/// One heap fewer holds series `i`; its label set goes when none does.
fn release(held: &mut HashMap<usize, (Labels, u32)>, i: usize) {
    if let Some(e) = held.get_mut(&i) {
        e.1 -= 1;
        if e.1 == 0 {
            held.remove(&i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(i: usize) -> Labels {
        Labels::from_pairs([
            ("__name__".to_owned(), "m".to_owned()),
            ("i".to_owned(), i.to_string()),
            ("g".to_owned(), (i % 2).to_string()),
        ])
    }

    /// Rising values make every series enter its heap once: only the survivors' label sets
    /// may stay held.
    #[test]
    fn holds_only_the_label_sets_its_heaps_hold() {
        let mut f = TopkFolder::new(vec![3.0, 3.0], false, false, vec!["g".to_owned()]);
        for batch in 0..10 {
            let mut v = StepVec::new(2);
            for i in batch * 1000..(batch + 1) * 1000 {
                v.push(series(i), &[i as f64, -(i as f64)]);
            }
            f.add(&v);
            // Two groups x two steps x three, shared by the rising step's winners.
            assert!(f.held.len() <= 12, "held {}", f.held.len());
        }
        assert_eq!(f.present(), &[10_000, 10_000]);
        let out = f.finish().unwrap();
        // Step 0: 9994..9999 (three per group); step 1: 0..5 (the least negative).
        let got: Vec<String> = out.labels.iter().map(|l| l.get("i").to_owned()).collect();
        assert_eq!(
            got,
            [
                "0", "1", "2", "3", "4", "5", "9994", "9995", "9996", "9997", "9998", "9999"
            ]
        );
        assert!(is_absent(out.vals[0]) && out.vals[1] == 0.0);
        assert!(out.vals[22] == 9999.0 && is_absent(out.vals[23]));
    }

    #[test]
    fn a_bad_parameter_is_reported_after_the_input() {
        let mut f = TopkFolder::new(vec![f64::INFINITY], false, false, Vec::new());
        let mut v = StepVec::new(1);
        v.push(series(1), &[1.0]);
        f.add(&v);
        assert!(f.finish().is_err());
    }
}
