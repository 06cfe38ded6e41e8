//! A size-classed, compacting slab of byte buffers for one shard's open chunks: slots of 16,
//! 32, ... 160 bytes, named by class and a `u32` slot number, in 16 KiB pages. A series' open
//! chunk moves up a class as it fills and back to the smallest when it is sealed, so the bytes
//! held follow the data instead of its maximum, without a heap allocation (and its malloc
//! header) per series.
//!
//! Each class stays dense: freeing a slot moves the class's last slot into the hole (the
//! caller re-points that slot's owner), and a class's pages beyond its use (plus one spare)
//! are freed. Scrapes move series through the classes in step (every series of a target gets
//! a sample at the same time), so a class may hold all series at one moment and none the
//! next; holes would keep each class at its high-water mark.

/// Bytes between one class's slot size and the next.
pub(crate) const CLASS_STEP: usize = 16;
/// Number of classes: slots of `CLASS_STEP * (c + 1)` bytes for `c` in `0..CLASSES`.
pub(crate) const CLASSES: usize = 10;
/// The largest slot.
pub(crate) const MAX_SLOT_BYTES: usize = CLASS_STEP * CLASSES;
/// Bytes per page, the same for every class, so a page one class frees can serve another.
pub(crate) const PAGE_BYTES: usize = 16 << 10;

/// The slot size of class `c`.
#[inline]
pub(crate) const fn class_bytes(c: u8) -> usize {
    CLASS_STEP * (c as usize + 1)
}

/// Slots per page of class `c`.
#[inline]
const fn page_slots(c: u8) -> usize {
    PAGE_BYTES / class_bytes(c)
}

/// The smallest class holding `bytes` (`None` above [`MAX_SLOT_BYTES`]).
#[inline]
pub(crate) fn class_for(bytes: usize) -> Option<u8> {
    let c = bytes.max(1).div_ceil(CLASS_STEP) - 1;
    (c < CLASSES).then_some(c as u8)
}

/// The slots of one size: slot `k` is owned by `owners[k]`, for every `k < owners.len()`.
#[derive(Debug, Default)]
struct Class {
    pages: Vec<Box<[u8]>>,
    owners: Vec<u32>,
}

/// Byte buffers of [`CLASSES`] sizes.
#[derive(Debug, Default)]
pub(crate) struct Slab {
    classes: [Class; CLASSES],
}

/// A slot that moved when another was freed: its owner now finds its bytes at `slot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Moved {
    pub(crate) owner: u32,
    pub(crate) slot: u32,
}

impl Slab {
    /// A zeroed slot of class `c` for `owner` (the series' local index).
    pub(crate) fn alloc(&mut self, c: u8, owner: u32) -> u32 {
        let class = &mut self.classes[c as usize];
        let slot = class.owners.len();
        if slot >= class.pages.len() * page_slots(c) {
            class.pages.push(vec![0u8; PAGE_BYTES].into_boxed_slice());
        }
        class.owners.push(owner);
        let slot = slot as u32;
        self.get_mut(c, slot).fill(0);
        slot
    }

    /// Frees slot `slot` of class `c`. The class's last slot moves into it; its owner is
    /// returned for the caller to re-point (`None` when `slot` was the last).
    pub(crate) fn free(&mut self, c: u8, slot: u32) -> Option<Moved> {
        let size = class_bytes(c);
        let per_page = page_slots(c);
        let class = &mut self.classes[c as usize];
        let last = class.owners.len() - 1;
        let moved = (slot as usize != last).then(|| {
            let (lp, li) = (last / per_page, last % per_page * size);
            let (sp, si) = (slot as usize / per_page, slot as usize % per_page * size);
            let mut tmp = [0u8; MAX_SLOT_BYTES];
            tmp[..size].copy_from_slice(&class.pages[lp][li..li + size]);
            class.pages[sp][si..si + size].copy_from_slice(&tmp[..size]);
            class.owners[slot as usize] = class.owners[last];
            Moved {
                owner: class.owners[last],
                slot,
            }
        });
        class.owners.pop();
        // Keep one spare page so a class at a page boundary does not free and allocate
        // a page on every move.
        while class.pages.len() >= 2 && class.owners.len() <= (class.pages.len() - 2) * per_page {
            class.pages.pop();
        }
        moved
    }

    /// The bytes of slot `slot` of class `c`.
    #[inline]
    pub(crate) fn get(&self, c: u8, slot: u32) -> &[u8] {
        let size = class_bytes(c);
        let per_page = page_slots(c);
        let page = &self.classes[c as usize].pages[slot as usize / per_page];
        let at = slot as usize % per_page * size;
        &page[at..at + size]
    }

    /// The bytes of slot `slot` of class `c`, writable.
    #[inline]
    pub(crate) fn get_mut(&mut self, c: u8, slot: u32) -> &mut [u8] {
        let size = class_bytes(c);
        let per_page = page_slots(c);
        let page = &mut self.classes[c as usize].pages[slot as usize / per_page];
        let at = slot as usize % per_page * size;
        &mut page[at..at + size]
    }

    /// Moves the first `len` bytes of slot `slot` of class `from` into a new zeroed slot of
    /// class `to` (`len` must fit) for the same owner and frees the old slot; returns the new
    /// slot and the slot the free moved, if any.
    pub(crate) fn move_to(
        &mut self,
        from: u8,
        slot: u32,
        to: u8,
        len: usize,
    ) -> (u32, Option<Moved>) {
        let owner = self.classes[from as usize].owners[slot as usize];
        let new = self.alloc(to, owner);
        let mut tmp = [0u8; MAX_SLOT_BYTES];
        tmp[..len].copy_from_slice(&self.get(from, slot)[..len]);
        self.get_mut(to, new)[..len].copy_from_slice(&tmp[..len]);
        (new, self.free(from, slot))
    }

    /// Bytes held: pages and owner lists.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.classes
            .iter()
            .map(|c| c.pages.len() * PAGE_BYTES + c.owners.capacity() * 4)
            .sum()
    }

    /// Bytes of the slots in use.
    #[cfg(test)]
    pub(crate) fn used_bytes(&self) -> usize {
        (0..CLASSES as u8)
            .map(|c| self.classes[c as usize].owners.len() * class_bytes(c))
            .sum()
    }

    /// Pages held by all classes.
    #[cfg(test)]
    pub(crate) fn pages(&self) -> usize {
        self.classes.iter().map(|c| c.pages.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_cover_sizes() {
        let cases = [
            (0, Some(0)),
            (1, Some(0)),
            (16, Some(0)),
            (17, Some(1)),
            (147, Some(9)),
            (160, Some(9)),
            (161, None),
        ];
        for (bytes, want) in cases {
            assert_eq!(class_for(bytes), want, "{bytes} bytes");
            if let Some(c) = want {
                assert!(class_bytes(c) >= bytes);
            }
        }
    }

    /// Slots hold their bytes across frees of others (the last slot moving into each hole),
    /// new slots are zeroed, and pages follow the slots in use.
    #[test]
    fn slots_stay_dense_and_pages_follow_use() {
        let mut s = Slab::default();
        let c = 1u8;
        let n = page_slots(c) * 3 + 5;
        // owner k's slot, filled with byte k.
        let mut slot_of: Vec<u32> = (0..n as u32).map(|k| s.alloc(c, k)).collect();
        for (k, &slot) in slot_of.iter().enumerate() {
            s.get_mut(c, slot).fill(k as u8);
        }
        assert_eq!(s.pages(), 4);
        // Free every owner but one in ten, in a scattered order.
        let mut freed = vec![false; n];
        for k in (0..n).rev().filter(|k| k % 10 != 0) {
            if let Some(m) = s.free(c, slot_of[k]) {
                assert!(!freed[m.owner as usize], "a freed owner moved");
                slot_of[m.owner as usize] = m.slot;
            }
            freed[k] = true;
        }
        let live: Vec<usize> = (0..n).filter(|k| !freed[*k]).collect();
        assert_eq!(s.used_bytes(), live.len() * 32);
        for &k in &live {
            assert!(
                s.get(c, slot_of[k]).iter().all(|&b| b == k as u8),
                "owner {k}"
            );
        }
        assert_eq!(
            s.pages(),
            2,
            "{} slots in use: one page and a spare",
            live.len()
        );
        // A move keeps the bytes and gives a zeroed tail; a new slot is zeroed.
        let k = live[3];
        let (new, _) = s.move_to(c, slot_of[k], 3, 20);
        assert_eq!(&s.get(3, new)[..20], &[k as u8; 20]);
        assert!(s.get(3, new)[20..].iter().all(|&b| b == 0));
        let again = s.alloc(c, 9999);
        assert!(s.get(c, again).iter().all(|&b| b == 0));
    }
}
