//! A size-classed slab of byte buffers for one shard's open chunks: slots of 16, 32, ... 160
//! bytes in pages of 512 slots, named by class and a `u32` slot number, with a free list per
//! class. A series' open chunk moves up a class as it fills and back to the smallest when it is
//! sealed, so the bytes held follow the data instead of its maximum, without a heap allocation
//! (and its 16-byte malloc header) per series. Freed slots are reused by the next series that
//! needs that size; pages are never returned.

/// Bytes between one class's slot size and the next.
pub(crate) const CLASS_STEP: usize = 16;
/// Number of classes: slots of `CLASS_STEP * (c + 1)` bytes for `c` in `0..CLASSES`.
pub(crate) const CLASSES: usize = 10;
/// The largest slot.
pub(crate) const MAX_SLOT_BYTES: usize = CLASS_STEP * CLASSES;
/// Slots per page (a power of two: a slot number splits into page and index by shift and mask).
const PAGE_SLOTS_BITS: u32 = 9;
const PAGE_SLOTS: usize = 1 << PAGE_SLOTS_BITS;

/// The slot size of class `c`.
#[inline]
pub(crate) const fn class_bytes(c: u8) -> usize {
    CLASS_STEP * (c as usize + 1)
}

/// The smallest class holding `bytes` (`None` above [`MAX_SLOT_BYTES`]).
#[inline]
pub(crate) fn class_for(bytes: usize) -> Option<u8> {
    let c = bytes.max(1).div_ceil(CLASS_STEP) - 1;
    (c < CLASSES).then_some(c as u8)
}

/// The slots of one size.
#[derive(Debug, Default)]
struct Class {
    pages: Vec<Box<[u8]>>,
    /// Slots handed out at least once (the next fresh slot).
    next: u32,
    free: Vec<u32>,
}

/// Byte buffers of [`CLASSES`] sizes.
#[derive(Debug, Default)]
pub(crate) struct Slab {
    classes: [Class; CLASSES],
}

impl Slab {
    /// A zeroed slot of class `c`.
    pub(crate) fn alloc(&mut self, c: u8) -> u32 {
        let size = class_bytes(c);
        let class = &mut self.classes[c as usize];
        if let Some(slot) = class.free.pop() {
            self.get_mut(c, slot).fill(0);
            return slot;
        }
        let slot = class.next;
        if slot as usize >= class.pages.len() * PAGE_SLOTS {
            class
                .pages
                .push(vec![0u8; size * PAGE_SLOTS].into_boxed_slice());
        }
        class.next += 1;
        slot
    }

    /// Gives slot `slot` of class `c` back for reuse.
    pub(crate) fn free(&mut self, c: u8, slot: u32) {
        self.classes[c as usize].free.push(slot);
    }

    /// The bytes of slot `slot` of class `c`.
    #[inline]
    pub(crate) fn get(&self, c: u8, slot: u32) -> &[u8] {
        let size = class_bytes(c);
        let page = &self.classes[c as usize].pages[(slot >> PAGE_SLOTS_BITS) as usize];
        let at = (slot as usize & (PAGE_SLOTS - 1)) * size;
        &page[at..at + size]
    }

    /// The bytes of slot `slot` of class `c`, writable.
    #[inline]
    pub(crate) fn get_mut(&mut self, c: u8, slot: u32) -> &mut [u8] {
        let size = class_bytes(c);
        let page = &mut self.classes[c as usize].pages[(slot >> PAGE_SLOTS_BITS) as usize];
        let at = (slot as usize & (PAGE_SLOTS - 1)) * size;
        &mut page[at..at + size]
    }

    /// Moves the first `len` bytes of slot `slot` of class `from` into a new zeroed slot of
    /// class `to` (`len` must fit), frees the old slot and returns the new one.
    pub(crate) fn move_to(&mut self, from: u8, slot: u32, to: u8, len: usize) -> u32 {
        let new = self.alloc(to);
        let mut tmp = [0u8; MAX_SLOT_BYTES];
        tmp[..len].copy_from_slice(&self.get(from, slot)[..len]);
        self.get_mut(to, new)[..len].copy_from_slice(&tmp[..len]);
        self.free(from, slot);
        new
    }

    /// Bytes held: pages (used and free slots) and free lists.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.classes
            .iter()
            .map(|c| c.pages.iter().map(|p| p.len()).sum::<usize>() + c.free.capacity() * 4)
            .sum()
    }

    /// Slots ever handed out fresh (the high-water mark of slots in use, summed over classes).
    #[cfg(test)]
    pub(crate) fn slots_created(&self) -> usize {
        self.classes.iter().map(|c| c.next as usize).sum()
    }

    /// Bytes of the slots in use.
    #[cfg(test)]
    pub(crate) fn used_bytes(&self) -> usize {
        (0..CLASSES as u8)
            .map(|c| {
                let class = &self.classes[c as usize];
                (class.next as usize - class.free.len()) * class_bytes(c)
            })
            .sum()
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

    #[test]
    fn slots_are_zeroed_distinct_and_reused() {
        let mut s = Slab::default();
        let slots: Vec<u32> = (0..(PAGE_SLOTS + 3)).map(|_| s.alloc(1)).collect();
        for (k, &slot) in slots.iter().enumerate() {
            s.get_mut(1, slot).fill(k as u8);
        }
        for (k, &slot) in slots.iter().enumerate() {
            assert!(s.get(1, slot).iter().all(|&b| b == k as u8), "slot {slot}");
        }
        assert_eq!(s.used_bytes(), slots.len() * 32);
        let pages = s.heap_bytes();
        // A move keeps the bytes and frees the old slot, which the next alloc reuses zeroed.
        let moved = s.move_to(1, slots[5], 3, 20);
        assert_eq!(&s.get(3, moved)[..20], &[5u8; 20]);
        assert!(s.get(3, moved)[20..].iter().all(|&b| b == 0));
        let again = s.alloc(1);
        assert_eq!(again, slots[5]);
        assert!(s.get(1, again).iter().all(|&b| b == 0));
        let grown = s.heap_bytes() - pages;
        assert!(
            (64 * PAGE_SLOTS..64 * PAGE_SLOTS + 64).contains(&grown),
            "one page of class 3 (and a free list): {grown}"
        );
    }
}
