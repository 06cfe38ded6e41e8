//! One shard's section of a head snapshot: its label sets, latest-sample records and open
//! chunks, written as they are and restored at the same local indexes, so refs keep their
//! meaning (format: docs/format/snapshot.md, "Section kind 1").

use super::{HASH, RECORD_WORDS, SPAN, ShardData};
use crate::head::snapshot::{Reader, put_u16, put_u32, put_u64};

impl ShardData {
    /// Appends this shard's section payload (after the shard index) to `out`; returns the
    /// number of series written.
    pub(crate) fn write_snapshot(&self, out: &mut Vec<u8>) -> u64 {
        let n = self.len();
        put_u32(out, n as u32);
        put_u32(out, self.name_sets.len() as u32);
        for set in &self.name_sets {
            put_u32(out, set.len() as u32);
            for &id in set.iter() {
                put_u32(out, id);
            }
        }
        put_u64(out, self.label_data.len() as u64);
        out.extend_from_slice(&self.label_data);
        for &w in &self.series.as_slice()[..n * RECORD_WORDS] {
            put_u64(out, w);
        }
        for i in 0..n {
            match self.history.parts(i) {
                None => out.push(0),
                Some((newest_sealed, num, open)) => {
                    out.push(1);
                    put_u64(out, newest_sealed);
                    put_u16(out, num);
                    put_u16(out, open.len() as u16);
                    out.extend_from_slice(open);
                }
            }
        }
        n as u64
    }

    /// Fills this empty shard from a section payload written by [`ShardData::write_snapshot`].
    /// `symbols` is the number of symbols restored: every id must be below it. `Err` says
    /// what is inconsistent (the snapshot is then not used).
    pub(crate) fn restore_snapshot(
        &mut self,
        r: &mut Reader<'_>,
        symbols: u32,
    ) -> Result<(), String> {
        if self.len() != 0 {
            return Err("shard not empty".to_owned());
        }
        let n = r.u32()? as usize;
        let sets = r.u32()? as usize;
        for set in 0..sets {
            let len = r.u32()? as usize;
            let names = (0..len)
                .map(|_| r.u32().and_then(|id| check_symbol(id, symbols)))
                .collect::<Result<Box<[u32]>, String>>()?;
            self.name_set_ids.insert(names.clone(), set as u32);
            self.name_sets.push(names);
        }
        let label_len = r.u64()? as usize;
        self.label_data = r.bytes(label_len)?.to_vec();
        let mut words = Vec::with_capacity(n * RECORD_WORDS);
        for _ in 0..n * RECORD_WORDS {
            words.push(r.u64()?);
        }
        for rec in words.chunks_exact(RECORD_WORDS) {
            let span = rec[SPAN];
            let (start, set) = ((span & 0xffff_ffff) as usize, (span >> 32) as usize);
            let names = self.name_sets.get(set).ok_or("name set out of range")?;
            check_values(&self.label_data, start, names.len(), symbols)?;
        }
        self.series
            .extend_from_slice(&words)
            .map_err(|e| e.to_string())?;
        self.history.reserve(n);
        for _ in 0..n {
            match r.u8()? {
                0 => self.history.push(),
                1 => {
                    let newest_sealed = r.u64()?;
                    let num = r.u16()?;
                    let len = r.u16()? as usize;
                    self.history
                        .push_restored(newest_sealed, r.bytes(len)?, num, &self.chunks);
                }
                t => return Err(format!("history tag {t}")),
            }
        }
        let series = self.series.as_slice();
        self.map
            .reserve(n, |&j| series[j as usize * RECORD_WORDS + HASH]);
        for i in 0..n {
            let hash = series[i * RECORD_WORDS + HASH];
            self.map.insert_unique(hash, i as u32, |&j| {
                series[j as usize * RECORD_WORDS + HASH]
            });
        }
        Ok(())
    }
}

fn check_symbol(id: u32, symbols: u32) -> Result<u32, String> {
    if id < symbols {
        Ok(id)
    } else {
        Err(format!("symbol {id} out of range ({symbols} symbols)"))
    }
}

/// Checks that `count` varint symbol ids start at `start` in `data`, each below `symbols`.
fn check_values(data: &[u8], start: usize, count: usize, symbols: u32) -> Result<(), String> {
    let mut at = start;
    for _ in 0..count {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let b = *data.get(at).ok_or("label values out of range")?;
            at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 28 {
                return Err("label value id too long".to_owned());
            }
        }
        check_symbol(v as u32, symbols)?;
    }
    Ok(())
}
