//! The `/federate` hot path: turns the latest sample of each selected series into text-format
//! lines, in one reused buffer, without allocating per series.
//!
//! Output rules are Prometheus 2.42's `web/federate.go`: one `# TYPE <name> untyped` line per run
//! of equal metric names, the series' own labels in name order (`__name__` and empty values
//! skipped), then the external labels the series lacks, sorted by name, then value and timestamp.

use bytes::Bytes;
use fedstore_storage::SymbolLabels;
use fedstore_storage::{LabelsRef, LatestSink, METRIC_NAME_LABEL};
use fedstore_storage::{NAME_SYMBOL, SymbolId, SymbolTable};

use super::encode::{Checksum, SegmentEncoder, encode_fragment};
pub use super::encode::{Encoding, GZIP_LEVEL};

use super::options::FamilyMetadata;
/// Re-exported where the federate stream and benches have always found it; the type is
/// configuration and lives in [`crate::config`].
pub use crate::config::ExternalLabels;
use crate::exposition::float::{write_float, write_i64};
use crate::exposition::write::{write_help_line, write_label_pair, write_type_line};

/// Raw text is handed to the encoder (or sent) once it reaches this size. Each identity piece
/// becomes one socket write and one wake-up of the reader: 120 KiB pieces made a full
/// federate of 1M series 9-15% faster than 64 KiB ones (docs/benchmarks.md, "Larger
/// pieces"); the buffer, with [`TEXT_CAPACITY`]'s margin, stays under glibc's 128 KiB mmap
/// threshold, so it comes from the heap rather than fresh pages.
const FLUSH_BYTES: usize = 120 * 1024;
/// Room for a full text buffer plus the line that crosses [`FLUSH_BYTES`] (most lines are
/// far shorter than 4 KiB; longer ones just grow the buffer).
const TEXT_CAPACITY: usize = FLUSH_BYTES + 4096;
/// Compressed output is sent once it reaches this size.
const SEND_BYTES: usize = 32 * 1024;
/// Series with more labels than this take the generic path (`LabelsRef::for_each`).
const MAX_FAST_LABELS: usize = 32;
/// Slots of the rendered-label-pair cache ([`PairCache`]); a power of two.
const PAIR_SLOTS: usize = 1024;
/// Initial capacity of the pair cache's text: the pairs of a few thousand series of typical
/// data without regrowing it.
const PAIR_TEXT_INITIAL: usize = 16 * 1024;
/// The pair cache's text is dropped (and every slot with it) once it would grow past this.
const PAIR_TEXT_MAX: usize = 128 * 1024;

/// What a segment renderer hands to the response, in order.
#[derive(Debug)]
pub enum Piece {
    /// The `# TYPE` line of the segment's first emitted family, encoded on its own (stored
    /// deflate blocks when compressing, see [`encode_fragment`]): the response drops it when
    /// the previous segment ended with the same family.
    First {
        /// Metric name of that family.
        name: String,
        /// The encoded `# TYPE` line.
        bytes: Bytes,
        /// Checksum of the line, for the body's trailer.
        check: Checksum,
    },
    /// Encoded body bytes.
    Chunk(Bytes),
    /// The segment is complete; `last_name` is the family it ended with (None: it emitted nothing).
    End {
        /// Metric name of the last emitted series.
        last_name: Option<String>,
        /// Checksum of the segment's text after its `First` line.
        check: Checksum,
    },
}

/// Renders one segment of a selection; `send` delivers pieces and returns `false` once the
/// client is gone, which stops the walk.
pub struct Renderer<'a, S: FnMut(Piece) -> bool> {
    ext: &'a ExternalLabels,
    /// `metadata=true`: real types and help by metric name; `None`: `untyped`, no HELP.
    meta: Option<&'a FamilyMetadata>,
    enc: Encoding,
    text: Vec<u8>,
    out: SegmentEncoder,
    ext_used: Vec<bool>,
    /// `ext_first[b]`: some external label name starts with byte `b`.
    ext_first: [bool; 256],
    last_name: String,
    /// Symbol id of `last_name` when the fast path set it, `None` after the generic path.
    last_name_id: Option<SymbolId>,
    started: bool,
    fast: FastState,
    /// Identity text is kept whole in `text` (see [`Renderer::collect_into`]), never sent.
    collect: bool,
    send: S,
    alive: bool,
}

/// What the fast path (`Renderer::sample_symbols`) remembers of the previous series.
///
/// In federation order consecutive series share their name and most leading labels, so each
/// series re-renders only the labels after the common prefix of symbol ids; the rest of its
/// text is one copy of `line`. Measured on the 1M-series bench: see docs/benchmarks.md.
struct FastState {
    /// Address of the symbol table the ids below refer to (ids of another table mean nothing).
    table: usize,
    /// `ids[..n]`: the previous series' `(name, value)` ids; `n == 0`: nothing cached.
    ids: [(SymbolId, SymbolId); MAX_FAST_LABELS],
    n: usize,
    /// `ends[j]`: length of `line` once pair `j` is rendered.
    ends: [usize; MAX_FAST_LABELS],
    /// `name{l1="v1",...` of the previous series: no external labels, no closing brace.
    line: Vec<u8>,
    /// Label names (`suffix_names[..suffix_n]`) that `suffix` was built for.
    suffix_names: [SymbolId; MAX_FAST_LABELS],
    suffix_n: Option<usize>,
    /// The external labels those names lack, then `}` (or nothing for a bare name).
    suffix: Vec<u8>,
    /// The last timestamp written and its text as ` <ts>\n` (most series of a scrape share it).
    ts: Option<i64>,
    ts_text: Vec<u8>,
    /// Rendered label pairs by symbol ids.
    pairs: PairCache,
}

/// Rendered `,name="escaped value"` text of recently written label pairs, by `(name, value)`
/// symbol ids, direct-mapped: a pair that changes between consecutive series (a device, a
/// mode, an instance) has usually been written a few series earlier, and one copy of its text
/// replaces two name lookups, an escape scan and five small appends. Slots hold ranges of
/// `text`; a miss renders the pair into `text` first. Profile and figures: docs/benchmarks.md
/// (small federates).
struct PairCache {
    /// `(name id, value id)` packed as `name << 32 | value`, `start`, `end` of the pair's text;
    /// `end == 0`: empty slot (a cached text is never empty: it starts with `,`).
    slots: Vec<(u64, u32, u32)>,
    text: Vec<u8>,
}

impl PairCache {
    fn new() -> Self {
        PairCache {
            slots: Vec::new(),
            text: Vec::new(),
        }
    }

    fn clear(&mut self) {
        self.slots.clear();
        self.text.clear();
    }

    /// Appends `sep` then `name="escaped value"` of the pair to `out`. Returns `false`
    /// (nothing written) for an empty value, which the fast path does not render.
    #[inline]
    fn write(
        &mut self,
        out: &mut Vec<u8>,
        sep: u8,
        (name, value): (SymbolId, SymbolId),
        sl: &SymbolLabels<'_>,
    ) -> bool {
        if self.slots.is_empty() {
            // Allocated on first use: renderers that never take the fast path pay nothing.
            self.slots = vec![(0, 0, 0); PAIR_SLOTS];
            self.text.reserve(PAIR_TEXT_INITIAL);
        }
        let key = (u64::from(name.0) << 32) | u64::from(value.0);
        let slot = (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - PAIR_SLOTS.trailing_zeros()))
            as usize;
        let (k, start, end) = self.slots[slot];
        let (start, end) = if k == key && end != 0 {
            (start as usize, end as usize)
        } else {
            let v = sl.resolve(value);
            if v.is_empty() {
                return false;
            }
            if self.text.len() >= PAIR_TEXT_MAX {
                self.text.clear();
                self.slots.fill((0, 0, 0));
            }
            let start = self.text.len();
            write_label_pair(&mut self.text, b',', sl.resolve(name), v);
            let end = self.text.len();
            // Both fit in u32: the text is cleared before it passes PAIR_TEXT_MAX, and one
            // pair's text is bounded by two symbols, far below 4 GiB.
            match (u32::try_from(start), u32::try_from(end)) {
                (Ok(s), Ok(e)) => self.slots[slot] = (key, s, e),
                _ => self.slots[slot] = (0, 0, 0),
            }
            (start, end)
        };
        out.push(sep);
        out.extend_from_slice(&self.text[start + 1..end]);
        true
    }
}

impl FastState {
    fn new() -> Self {
        FastState {
            table: 0,
            ids: [(NAME_SYMBOL, NAME_SYMBOL); MAX_FAST_LABELS],
            n: 0,
            ends: [0; MAX_FAST_LABELS],
            line: Vec::with_capacity(512),
            suffix_names: [NAME_SYMBOL; MAX_FAST_LABELS],
            suffix_n: None,
            suffix: Vec::with_capacity(128),
            ts: None,
            ts_text: Vec::with_capacity(24),
            pairs: PairCache::new(),
        }
    }

    /// Forgets everything keyed by symbol ids.
    fn reset(&mut self, table: usize) {
        self.table = table;
        self.n = 0;
        self.suffix_n = None;
        self.pairs.clear();
    }
}

impl<'a, S: FnMut(Piece) -> bool> Renderer<'a, S> {
    /// A renderer for one segment.
    pub fn new(ext: &'a ExternalLabels, enc: Encoding, send: S) -> Self {
        Renderer {
            ext,
            meta: None,
            enc,
            // Allocated at the first series (`sample`), unless `collect_into` hands one in:
            // the inline path would otherwise allocate and free 68 KiB per request for
            // nothing, a free large enough to make glibc consolidate its free lists.
            text: Vec::new(),
            out: SegmentEncoder::new(enc),
            ext_used: vec![false; ext.pairs().len()],
            ext_first: {
                let mut first = [false; 256];
                for (n, _) in ext.pairs() {
                    if let Some(&b) = n.as_bytes().first() {
                        first[usize::from(b)] = true;
                    }
                }
                first
            },
            last_name: String::new(),
            last_name_id: None,
            started: false,
            fast: FastState::new(),
            collect: false,
            send,
            alive: true,
        }
    }

    /// Writes each family's real `# TYPE` (and `# HELP`, when there is help) from `meta`
    /// instead of Prometheus's `untyped`; names `meta` lacks stay `untyped`.
    pub fn with_metadata(mut self, meta: Option<&'a FamilyMetadata>) -> Self {
        self.meta = meta;
        self
    }

    /// Flushes nothing and sends nothing: the identity text of every series is appended to
    /// `buf` (after what it already holds), returned by [`Renderer::into_text`]. For the inline
    /// path, which answers with one buffer: rendering straight into it saves copying the
    /// answer out of 64 KiB chunks (10% of a small federate's instructions, see
    /// docs/benchmarks.md). The bytes are those of the identity pieces, in order.
    pub fn collect_into(mut self, buf: Vec<u8>) -> Self {
        debug_assert!(self.enc == Encoding::Identity && !self.started);
        if self.enc == Encoding::Identity && !self.started {
            self.text = buf;
            self.collect = true;
        }
        self
    }

    /// The collected text (see [`Renderer::collect_into`]); `None` for a renderer that sends
    /// pieces instead.
    pub fn into_text(self) -> Option<Vec<u8>> {
        self.collect.then_some(self.text)
    }

    /// Whether the client is still reading.
    pub fn is_alive(&self) -> bool {
        self.alive
    }

    /// Flushes what is buffered and reports the end of the segment.
    pub fn finish(mut self) {
        if !self.alive {
            return;
        }
        self.flush_text();
        let (rest, check) = self.out.finish();
        if !rest.is_empty() && !(self.send)(Piece::Chunk(Bytes::from(rest))) {
            return;
        }
        let last_name = self.started.then(|| std::mem::take(&mut self.last_name));
        (self.send)(Piece::End { last_name, check });
    }

    fn flush_text(&mut self) {
        if self.collect {
            return;
        }
        if self.enc == Encoding::Identity {
            // Hand the buffer itself to the response instead of copying it.
            if !self.text.is_empty() {
                let full = std::mem::replace(&mut self.text, Vec::with_capacity(TEXT_CAPACITY));
                self.alive = (self.send)(Piece::Chunk(Bytes::from(full)));
            }
            return;
        }
        self.out.write(&self.text);
        self.text.clear();
        let pending = self.out.pending();
        if pending.len() >= SEND_BYTES {
            self.alive = (self.send)(Piece::Chunk(Bytes::from(std::mem::take(pending))));
        }
    }

    fn start_family(&mut self, name: &str) {
        self.last_name.clear();
        self.last_name.push_str(name);
        if self.started || self.collect {
            // Collected text needs no separate first line: nothing drops it.
            self.started = true;
            write_family_header(&mut self.text, name, self.meta);
            return;
        }
        self.started = true;
        let mut line = Vec::with_capacity(name.len() + 16);
        write_family_header(&mut line, name, self.meta);
        let (bytes, check) = encode_fragment(self.enc, &line);
        self.alive = (self.send)(Piece::First {
            name: name.to_owned(),
            bytes: Bytes::from(bytes),
            check,
        });
    }
}

/// A family's header lines: `# TYPE name untyped` as Prometheus, or with metadata the
/// family's `# HELP` (if any) and real `# TYPE`.
fn write_family_header(buf: &mut Vec<u8>, name: &str, meta: Option<&FamilyMetadata>) {
    match meta.and_then(|m| m.get(name)) {
        None => write_type_line(buf, name, "untyped"),
        Some(info) => {
            if !info.help.is_empty() {
                write_help_line(buf, name, &info.help);
            }
            write_type_line(buf, name, info.kind);
        }
    }
}

impl<S: FnMut(Piece) -> bool> LatestSink for Renderer<'_, S> {
    fn sample(&mut self, labels: &dyn LabelsRef, t_ms: i64, v: f64) -> bool {
        if self.text.capacity() == 0 {
            self.text.reserve_exact(TEXT_CAPACITY);
        }
        match labels.as_symbols() {
            Some(sl) => self.sample_symbols(sl, t_ms, v),
            None => self.sample_generic(labels, t_ms, v),
        }
    }
}

impl<S: FnMut(Piece) -> bool> Renderer<'_, S> {
    /// The fast path for the head's label sets: see [`FastState`]. Falls back to
    /// [`Self::sample_generic`] for what it does not handle (a label name sorting before
    /// `__name__`, no name, an empty value, more than [`MAX_FAST_LABELS`] labels).
    fn sample_symbols(&mut self, sl: SymbolLabels<'_>, t_ms: i64, v: f64) -> bool {
        let mut cur = [(NAME_SYMBOL, NAME_SYMBOL); MAX_FAST_LABELS];
        let mut n = 0;
        for pair in sl.id_pairs() {
            if n == MAX_FAST_LABELS {
                return self.sample_generic(&sl, t_ms, v);
            }
            cur[n] = pair;
            n += 1;
        }
        if n == 0 || cur[0].0 != NAME_SYMBOL {
            return self.sample_generic(&sl, t_ms, v);
        }
        let table = std::ptr::from_ref::<SymbolTable>(sl.symbol_table()) as usize;
        if table != self.fast.table {
            self.fast.reset(table);
        }
        let name_id = cur[0].1;
        if self.last_name_id != Some(name_id) || !self.started {
            let name = sl.resolve(name_id);
            if name.is_empty() {
                return true; // nameless, as in sample_generic
            }
            if !self.started || name != self.last_name {
                self.start_family(name);
                if !self.alive {
                    return false;
                }
            }
            self.last_name_id = Some(name_id);
        }

        let fast = &mut self.fast;
        let keep = fast.ids[..fast.n]
            .iter()
            .zip(&cur[..n])
            .take_while(|(a, b)| a == b)
            .count();
        fast.line
            .truncate(if keep == 0 { 0 } else { fast.ends[keep - 1] });
        fast.n = 0; // until the line is complete again
        for (j, &pair) in cur.iter().enumerate().take(n).skip(keep) {
            if j == 0 {
                fast.line.extend_from_slice(sl.resolve(pair.1).as_bytes());
            } else {
                let sep = if j == 1 { b'{' } else { b',' };
                if !fast.pairs.write(&mut fast.line, sep, pair, &sl) {
                    return self.sample_generic(&sl, t_ms, v);
                }
            }
            fast.ends[j] = fast.line.len();
            fast.ids[j] = pair;
        }
        fast.n = n;

        let names_match = fast.suffix_n == Some(n)
            && fast.suffix_names[..n]
                .iter()
                .zip(&cur[..n])
                .all(|(a, b)| *a == b.0);
        if !names_match {
            build_suffix(&mut fast.suffix, self.ext, &sl, &cur[..n]);
            for (dst, src) in fast.suffix_names.iter_mut().zip(&cur[..n]) {
                *dst = src.0;
            }
            fast.suffix_n = Some(n);
        }
        if fast.ts != Some(t_ms) {
            fast.ts_text.clear();
            fast.ts_text.push(b' ');
            write_i64(&mut fast.ts_text, t_ms);
            fast.ts_text.push(b'\n');
            fast.ts = Some(t_ms);
        }

        // One reservation for the whole line (the value takes at most 24 bytes).
        let text = &mut self.text;
        text.reserve(fast.line.len() + fast.suffix.len() + fast.ts_text.len() + 24);
        text.extend_from_slice(&fast.line);
        text.extend_from_slice(&fast.suffix);
        write_float(text, v);
        text.extend_from_slice(&fast.ts_text);
        if self.text.len() >= FLUSH_BYTES {
            self.flush_text();
        }
        self.alive
    }

    /// The generic path: any [`LabelsRef`], label by label.
    fn sample_generic(&mut self, labels: &dyn LabelsRef, t_ms: i64, v: f64) -> bool {
        // The fast path's caches do not describe what this writes.
        self.fast.n = 0;
        self.last_name_id = None;
        let name = labels.metric_name();
        if name.is_empty() {
            // Prometheus: "Ignoring nameless metric during federation".
            return true;
        }
        if !self.started || name != self.last_name {
            self.start_family(name);
            if !self.alive {
                return false;
            }
        }
        let text = &mut self.text;
        let ext = self.ext.pairs();
        let used = &mut self.ext_used;
        used.fill(false);
        text.extend_from_slice(name.as_bytes());
        let mut sep = b'{';
        let ext_first = &self.ext_first;
        labels.for_each(&mut |n, val| {
            if n == METRIC_NAME_LABEL || val.is_empty() {
                return;
            }
            write_label_pair(text, sep, n, val);
            sep = b',';
            // Most label names cannot be external ones: a first-byte test skips the compare.
            if n.as_bytes()
                .first()
                .is_some_and(|&b| ext_first[usize::from(b)])
                && let Some(i) = ext.iter().position(|(en, _)| en == n)
            {
                used[i] = true;
            }
        });
        for (i, (n, val)) in ext.iter().enumerate() {
            if !used[i] {
                write_label_pair(text, sep, n, val);
                sep = b',';
            }
        }
        if sep == b',' {
            text.push(b'}');
        }
        text.push(b' ');
        write_float(text, v);
        text.push(b' ');
        write_i64(text, t_ms);
        text.push(b'\n');
        if self.text.len() >= FLUSH_BYTES {
            self.flush_text();
        }
        self.alive
    }
}

/// Builds the text after a fast-path series' own labels: the external labels whose names
/// `pairs` lacks (in name order, as the generic path writes them), then `}` when anything
/// was written inside braces, then the space before the value. `pairs[0]` is the `__name__`
/// pair.
fn build_suffix(
    out: &mut Vec<u8>,
    ext: &ExternalLabels,
    sl: &SymbolLabels<'_>,
    pairs: &[(SymbolId, SymbolId)],
) {
    out.clear();
    let mut braces = pairs.len() > 1;
    for (en, ev) in ext.pairs() {
        if pairs[1..].iter().any(|&(n, _)| sl.resolve(n) == en) {
            continue;
        }
        write_label_pair(out, if braces { b',' } else { b'{' }, en, ev);
        braces = true;
    }
    if braces {
        out.push(b'}');
    }
    out.push(b' ');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A label set for tests, already sorted.
    struct TestLabels(Vec<(&'static str, &'static str)>);

    impl LabelsRef for TestLabels {
        fn metric_name(&self) -> &str {
            self.0
                .iter()
                .find(|(n, _)| *n == "__name__")
                .map_or("", |(_, v)| v)
        }
        fn for_each(&self, f: &mut dyn FnMut(&str, &str)) {
            for (n, v) in &self.0 {
                f(n, v);
            }
        }
    }

    /// A series as (labels, timestamp, value).
    type Series = (Vec<(&'static str, &'static str)>, i64, f64);

    fn render(ext: &[(&str, &str)], series: &[Series]) -> String {
        let ext = ext_labels(ext);
        let mut pieces = Vec::new();
        let mut r = Renderer::new(&ext, Encoding::Identity, |p| {
            pieces.push(p);
            true
        });
        for (labels, t, v) in series {
            assert!(r.sample(&TestLabels(labels.clone()), *t, *v));
        }
        r.finish();
        text_of(pieces)
    }

    /// Hides a label set's symbol ids, forcing the generic path.
    struct Generic<'a>(&'a dyn LabelsRef);

    impl LabelsRef for Generic<'_> {
        fn metric_name(&self) -> &str {
            self.0.metric_name()
        }
        fn for_each(&self, f: &mut dyn FnMut(&str, &str)) {
            self.0.for_each(f)
        }
    }

    /// Feeds a renderer through [`Generic`].
    struct GenericSink<'r, S: FnMut(Piece) -> bool>(Renderer<'r, S>);

    impl<S: FnMut(Piece) -> bool> LatestSink for GenericSink<'_, S> {
        fn sample(&mut self, labels: &dyn LabelsRef, t_ms: i64, v: f64) -> bool {
            self.0.sample(&Generic(labels), t_ms, v)
        }
    }

    fn ext_labels(ext: &[(&str, &str)]) -> ExternalLabels {
        let ext: Vec<(String, String)> = ext
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        ExternalLabels::new(&ext)
    }

    /// Concatenates the pieces of one segment.
    fn text_of(pieces: Vec<Piece>) -> String {
        let mut out = String::new();
        for p in pieces {
            match p {
                Piece::First { bytes, .. } | Piece::Chunk(bytes) => {
                    out.push_str(std::str::from_utf8(&bytes).unwrap())
                }
                Piece::End { .. } => {}
            }
        }
        out
    }

    /// Loads `series` into a head and renders every series with a name, through the fast
    /// path (`generic == false`) or the generic one.
    fn render_head(ext: &[(&str, &str)], series: &[Series], generic: bool) -> String {
        let dir = tempfile::tempdir().unwrap();
        let head = fedstore_storage::Head::open(
            &dir.path().join("head"),
            fedstore_storage::HeadOptions {
                shards: 4,
                ..Default::default()
            },
        )
        .unwrap();
        let mut app = head.appender();
        for (labels, t, v) in series {
            let l = fedstore_storage::Labels::from_pairs(labels.iter().copied());
            app.append(&l, *t, *v).unwrap();
        }
        app.commit().unwrap();
        let sel = head.select(&[fedstore_promql::parse_selector(r#"{__name__=~".+"}"#).unwrap()]);
        let ext = ext_labels(ext);
        let mut pieces = Vec::new();
        let r = Renderer::new(&ext, Encoding::Identity, |p| {
            pieces.push(p);
            true
        });
        if generic {
            let mut g = GenericSink(r);
            assert!(head.latest(&sel.refs, i64::MIN + 1, i64::MAX, &mut g));
            g.0.finish();
        } else {
            let mut r = r;
            assert!(head.latest(&sel.refs, i64::MIN + 1, i64::MAX, &mut r));
            r.finish();
        }
        text_of(pieces)
    }

    #[test]
    fn prometheus_federate_cases() {
        // Cases from Prometheus 2.42 web/federate_test.go and verified runs.
        let m1 = vec![
            ("__name__", "test_metric1"),
            ("foo", "bar"),
            ("instance", "i"),
        ];
        let bare = vec![("__name__", "test_metric_without_labels")];
        let esc = vec![
            ("__name__", "fmt_test"),
            ("e", "a\\b\"c\nd"),
            ("instance", "h:1"),
            ("job", "t"),
        ];
        type Case = (
            &'static str,
            Vec<(&'static str, &'static str)>,
            Vec<Series>,
            &'static str,
        );
        let cases: Vec<Case> = vec![
            (
                "no external labels",
                vec![],
                vec![(m1.clone(), 6000000, 10000.0)],
                "# TYPE test_metric1 untyped\ntest_metric1{foo=\"bar\",instance=\"i\"} 10000 6000000\n",
            ),
            (
                "instance=\"\" added",
                vec![],
                vec![(bare.clone(), 6000000, 1001.0)],
                "# TYPE test_metric_without_labels untyped\ntest_metric_without_labels{instance=\"\"} 1001 6000000\n",
            ),
            (
                "external labels appended, series wins",
                vec![("foo", "baz"), ("zone", "ie")],
                vec![(m1.clone(), 1, 1.0), (bare.clone(), 2, -0.0)],
                "# TYPE test_metric1 untyped\ntest_metric1{foo=\"bar\",instance=\"i\",zone=\"ie\"} 1 1\n# TYPE test_metric_without_labels untyped\ntest_metric_without_labels{foo=\"baz\",instance=\"\",zone=\"ie\"} 0 2\n",
            ),
            (
                "instance is an external label",
                vec![("instance", "baz")],
                vec![(m1.clone(), 1, 1.0), (bare.clone(), 2, f64::NAN)],
                "# TYPE test_metric1 untyped\ntest_metric1{foo=\"bar\",instance=\"i\"} 1 1\n# TYPE test_metric_without_labels untyped\ntest_metric_without_labels{instance=\"baz\"} NaN 2\n",
            ),
            (
                "escaping",
                vec![("foo", "baz"), ("zone", "ie")],
                vec![(esc, 5, f64::INFINITY)],
                "# TYPE fmt_test untyped\nfmt_test{e=\"a\\\\b\\\"c\\nd\",instance=\"h:1\",job=\"t\",foo=\"baz\",zone=\"ie\"} +Inf 5\n",
            ),
            (
                "one TYPE line per family run",
                vec![],
                vec![
                    (m1.clone(), 1, 1.0),
                    (
                        vec![
                            ("__name__", "test_metric1"),
                            ("foo", "boo"),
                            ("instance", "i"),
                        ],
                        1,
                        2.0,
                    ),
                ],
                "# TYPE test_metric1 untyped\ntest_metric1{foo=\"bar\",instance=\"i\"} 1 1\ntest_metric1{foo=\"boo\",instance=\"i\"} 2 1\n",
            ),
            (
                "nameless series skipped",
                vec![],
                vec![(vec![("job", "x")], 1, 1.0)],
                "",
            ),
        ];
        for (name, ext, series, want) in cases {
            assert_eq!(render(&ext, &series), want, "case {name}, labels by string");
            assert_eq!(
                render_head(&ext, &series, false),
                want,
                "case {name}, head fast path"
            );
            assert_eq!(
                render_head(&ext, &series, true),
                want,
                "case {name}, head generic path"
            );
        }
    }

    /// A collecting renderer appends exactly the bytes the identity pieces carry, across
    /// flush boundaries and family changes, after what its buffer already held.
    #[test]
    fn collected_text_equals_sent_pieces() {
        let names = ["a_metric", "b_metric", "c_metric"];
        let mut series: Vec<Series> = Vec::new();
        for (k, name) in names.iter().enumerate() {
            for i in 0..1500 {
                let inst: &'static str = format!("host-{i:04}:9100").leak();
                let v = [1.0, 2.5, 1e-9, 123456789.25][i % 4];
                series.push((
                    vec![("__name__", name), ("instance", inst)],
                    1000 + k as i64,
                    v,
                ));
            }
        }
        let want = render_head(&[("zone", "eu")], &series, false);
        assert!(want.len() > 2 * FLUSH_BYTES, "too short to cross flushes");

        let dir = tempfile::tempdir().unwrap();
        let head = fedstore_storage::Head::open(
            &dir.path().join("head"),
            fedstore_storage::HeadOptions::default(),
        )
        .unwrap();
        let mut app = head.appender();
        for (labels, t, v) in &series {
            let l = fedstore_storage::Labels::from_pairs(labels.iter().copied());
            app.append(&l, *t, *v).unwrap();
        }
        app.commit().unwrap();
        let sel = head.select(&[fedstore_promql::parse_selector(r#"{__name__=~".+"}"#).unwrap()]);
        let ext = ext_labels(&[("zone", "eu")]);
        let mut sent = 0;
        let mut r = Renderer::new(&ext, Encoding::Identity, |_| {
            sent += 1;
            true
        })
        .collect_into(b"pre".to_vec());
        assert!(head.latest(&sel.refs, i64::MIN + 1, i64::MAX, &mut r));
        let text = r.into_text().expect("collecting renderer");
        assert_eq!(sent, 0, "a collecting renderer sends nothing");
        assert_eq!(&text[..3], b"pre");
        assert_eq!(std::str::from_utf8(&text[3..]).unwrap(), want);
    }

    /// The fast path must write exactly what the generic path writes, whatever the label
    /// shapes: shared prefixes, escapes, names sorting before `__name__`, external label names
    /// among the series' own, more labels than the fast path holds.
    #[test]
    fn fast_path_matches_generic_path() {
        const NAMES: [&str; 5] = ["up", "a_metric", "node_x_total", "zzz", "job:x:sum"];
        const LABELS: [&str; 8] = ["Alpha", "instance", "job", "mode", "zone", "b", "foo", "c"];
        const VALUES: [&str; 9] = [
            "0",
            "host-1:9100",
            "a\\b",
            "q\"uote",
            "new\nline",
            "ünï",
            "idle",
            "a-very-long-value-that-is-longer-than-sixty-four-bytes-to-take-the-slow-scan",
            "x",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut series: Vec<Series> = Vec::new();
        for i in 0..600 {
            let mut labels = vec![("__name__", NAMES[next(NAMES.len())])];
            for &l in &LABELS {
                if next(3) > 0 {
                    labels.push((l, VALUES[next(VALUES.len())]));
                }
            }
            if i % 97 == 0 {
                // More labels than MAX_FAST_LABELS.
                let many: Vec<&'static str> =
                    (0..40).map(|k| &*format!("l{k:02}").leak()).collect();
                labels.extend(many.into_iter().map(|n| (n, "v")));
            }
            let v = [1.0, -0.0, 1.5e-7, f64::NAN, 123456789.0][next(5)];
            series.push((labels, 1000 + next(3) as i64, v));
        }
        let ext_cases: [&[(&str, &str)]; 4] = [
            &[],
            &[("zone", "eu")],
            &[("foo", "b\"z"), ("instance", "me"), ("zone", "ie")],
            &[("A", "1"), ("zz", "2")],
        ];
        for ext in ext_cases {
            let fast = render_head(ext, &series, false);
            let generic = render_head(ext, &series, true);
            assert!(fast.lines().count() > 300, "ext {ext:?}: too few lines");
            if let Some((i, (f, g))) = fast
                .lines()
                .zip(generic.lines())
                .enumerate()
                .find(|(_, (f, g))| f != g)
            {
                panic!("ext {ext:?}: line {i} differs\n fast:    {f}\n generic: {g}");
            }
            assert_eq!(fast, generic, "ext {ext:?}");
        }
    }
}
